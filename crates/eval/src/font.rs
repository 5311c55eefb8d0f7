//! Captions drawn with a built-in 5×7 bitmap font (capital letters, digits, a few signs), so
//! the text overlay needs no font file and looks the same everywhere.

use crate::rng::Rng;
use image::{Rgb, RgbImage};

/// Each glyph: seven rows, the five low bits of each row from left (bit 4) to right (bit 0).
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04],
        '?' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
        _ => [0; 7],
    }
}

/// Captions chosen from by the seed: ordinary, harmless words.
const WORDS: &[&str] = &[
    "WHEN THE WEEKEND",
    "FINALLY ARRIVES",
    "MONDAY AGAIN",
    "LOOK AT THIS",
    "BEST DAY EVER",
    "NOT SURE IF",
    "ME IRL",
    "SO TRUE",
    "THAT FEELING",
    "GOOD MORNING",
    "HAPPY 2026",
    "WAIT FOR IT",
    "NO WAY!",
    "TOO REAL",
    "SEND HELP",
    "WHAT?",
];

/// Draws one line of text, centred on `cx`, its top at `top`, with glyph cells of `s` pixels:
/// the black outline first, then the white letters.
fn line(img: &mut RgbImage, text: &str, cx: i64, top: i64, s: i64) {
    let advance = 6 * s;
    let width = text.chars().count() as i64 * advance - s;
    let left = cx - width / 2;
    for (colour, grow) in [(Rgb([0u8, 0, 0]), s.max(2) / 2), (Rgb([255, 255, 255]), 0)] {
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c);
            let gx = left + i as i64 * advance;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits >> (4 - col) & 1 == 0 {
                        continue;
                    }
                    let x0 = gx + col * s - grow;
                    let y0 = top + r as i64 * s - grow;
                    fill(img, x0, y0, s + 2 * grow, s + 2 * grow, colour);
                }
            }
        }
    }
}

fn fill(img: &mut RgbImage, x0: i64, y0: i64, w: i64, h: i64, colour: Rgb<u8>) {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    for y in y0.max(0)..(y0 + h).min(ih) {
        for x in x0.max(0)..(x0 + w).min(iw) {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

/// A two-line caption in the style of a meme: large white letters with a black outline,
/// one line near the top and one near the bottom, each about a tenth of the height tall.
pub fn caption(img: &mut RgbImage, rng: &mut Rng) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let top_text = WORDS[rng.below(WORDS.len() as u32) as usize];
    let bottom_text = WORDS[rng.below(WORDS.len() as u32) as usize];
    for (text, at_top) in [(top_text, true), (bottom_text, false)] {
        let chars = text.chars().count() as i64;
        // Cells as large as a tenth of the height allows, narrower if the line would not fit.
        let by_height = h / 10 / 7;
        let by_width = (w * 9 / 10) / (6 * chars).max(1);
        let s = by_height.min(by_width).max(1);
        let margin = h / 30 + rng.below((h / 40).max(1) as u32) as i64;
        let top = if at_top { margin } else { h - margin - 7 * s };
        let jitter = rng.below((w / 20).max(1) as u32) as i64 - w / 40;
        line(img, text, w / 2 + jitter, top, s);
    }
}
