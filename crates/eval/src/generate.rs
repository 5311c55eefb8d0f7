//! Generated originals: benign pictures made from the seed (smooth noise, shapes, waves,
//! landscapes, mosaics), to enlarge the set the false-match figure is measured over beyond the
//! pictures a deployment has at hand. None is periodic or flat: such pictures are too weak
//! for PDQ and would only be skipped.

use crate::rng::Rng;
use image::{Rgb, RgbImage};

/// The kinds of generated picture, in the order they are made.
pub const KINDS: [&str; 5] = ["noise", "shapes", "waves", "scene", "mosaic"];

fn random_colour(rng: &mut Rng) -> Rgb<u8> {
    Rgb([rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8])
}

/// Draws `n` random discs and rectangles.
fn shapes(rng: &mut Rng, img: &mut RgbImage, n: u32) {
    let (w, h) = img.dimensions();
    for _ in 0..n {
        let c = random_colour(rng);
        let (cx, cy) = (rng.below(w) as i64, rng.below(h) as i64);
        let r = 6 + rng.below(w.min(h) / 4) as i64;
        let round = rng.below(2) == 0;
        for y in (cy - r).max(0)..(cy + r).min(i64::from(h)) {
            for x in (cx - r).max(0)..(cx + r).min(i64::from(w)) {
                if !round || (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                    img.put_pixel(x as u32, y as u32, c);
                }
            }
        }
    }
}

/// The `i`-th generated picture of `seed`: its name (`generated-00003-scene`) and pixels,
/// 256 to 639 pixels a side. The same `(seed, i)` always gives the same picture.
pub fn picture(seed: u64, i: u32) -> (String, RgbImage) {
    let mut rng = Rng::for_item(seed, &i.to_le_bytes());
    let kind = KINDS[(i as usize) % KINDS.len()];
    let w = 256 + rng.below(384);
    let h = 256 + rng.below(384);
    let (c1, mut c2, mut c3) =
        (random_colour(&mut rng), random_colour(&mut rng), random_colour(&mut rng));
    // Colours far enough apart in brightness for PDQ (which sees luma only) to find structure.
    let luma = |c: Rgb<u8>| {
        (299 * i32::from(c.0[0]) + 587 * i32::from(c.0[1]) + 114 * i32::from(c.0[2])) / 1000
    };
    let invert = |c: Rgb<u8>| Rgb([255 - c.0[0], 255 - c.0[1], 255 - c.0[2]]);
    if (luma(c1) - luma(c2)).abs() < 80 {
        c2 = invert(c1);
    }
    if (luma(c2) - luma(c3)).abs() < 80 {
        c3 = invert(c2);
    }
    let img = match kind {
        "noise" => noise(&mut rng, w, h, c1, c2),
        "shapes" => {
            let mut img = noise(&mut rng, w, h, c1, c2);
            let n = 8 + rng.below(16);
            shapes(&mut rng, &mut img, n);
            img
        }
        "waves" => {
            // Two crossing waves of random direction, period and phase; periods from 8 to 38 %
            // of the shorter side, so that they survive PDQ's downscaling to 64×64.
            let side = w.min(h) as f32;
            let mut wave = || {
                let angle = rng.unit() * std::f32::consts::TAU;
                let k = std::f32::consts::TAU / (side * (0.08 + rng.unit() * 0.3));
                (angle.cos() * k, angle.sin() * k, rng.unit() * std::f32::consts::TAU)
            };
            let (a, b) = (wave(), wave());
            RgbImage::from_fn(w, h, |x, y| {
                let (x, y) = (x as f32, y as f32);
                let t = (a.0 * x + a.1 * y + a.2).sin() + 0.6 * (b.0 * x + b.1 * y + b.2).sin();
                mix(c2, c3, (t / 3.2 + 0.5).clamp(0.0, 1.0))
            })
        }
        "scene" => {
            // A sky gradient over a noisy ground, a horizon at a random height, and a few
            // shapes standing on it.
            let ground = noise(&mut rng, w, h, c2, c3);
            let horizon = h / 3 + rng.below(h / 3);
            let mut img = RgbImage::from_fn(w, h, |x, y| {
                if y < horizon {
                    mix(c1, Rgb([255, 255, 255]), y as f32 / horizon as f32 * 0.8)
                } else {
                    *ground.get_pixel(x, y)
                }
            });
            let n = 3 + rng.below(6);
            shapes(&mut rng, &mut img, n);
            img
        }
        _ => {
            // Rectangles split at random, each its own colour.
            let mut img = RgbImage::new(w, h);
            let mut stack = vec![(0u32, 0u32, w, h, 0u32)];
            while let Some((x, y, rw, rh, depth)) = stack.pop() {
                if depth >= 7 || rw < 24 || rh < 24 || (depth > 2 && rng.below(4) == 0) {
                    let c = random_colour(&mut rng);
                    for yy in y..y + rh {
                        for xx in x..x + rw {
                            img.put_pixel(xx, yy, c);
                        }
                    }
                    continue;
                }
                if rw >= rh {
                    let cut = rw / 4 + rng.below(rw / 2);
                    stack.push((x, y, cut, rh, depth + 1));
                    stack.push((x + cut, y, rw - cut, rh, depth + 1));
                } else {
                    let cut = rh / 4 + rng.below(rh / 2);
                    stack.push((x, y, rw, cut, depth + 1));
                    stack.push((x, y + cut, rw, rh - cut, depth + 1));
                }
            }
            img
        }
    };
    (format!("generated-{i:05}-{kind}"), img)
}

fn mix(a: Rgb<u8>, b: Rgb<u8>, t: f32) -> Rgb<u8> {
    let m = |p: u8, q: u8| {
        (f32::from(p) * (1.0 - t) + f32::from(q) * t).round().clamp(0.0, 255.0) as u8
    };
    Rgb([m(a.0[0], b.0[0]), m(a.0[1], b.0[1]), m(a.0[2], b.0[2])])
}

/// Smooth value noise: random values on coarse grids of three sizes, bilinearly
/// interpolated and summed, mapped between two colours.
fn noise(rng: &mut Rng, w: u32, h: u32, a: Rgb<u8>, b: Rgb<u8>) -> RgbImage {
    let mut acc = vec![0f32; (w as usize) * (h as usize)];
    for (octave, amp) in [(48u32, 1.0f32), (16, 0.6), (5, 0.35)] {
        let gw = w / octave + 2;
        let gh = h / octave + 2;
        let grid: Vec<f32> = (0..gw * gh).map(|_| rng.unit()).collect();
        for y in 0..h {
            let fy = y as f32 / octave as f32;
            let (y0, ty) = (fy as u32, fy.fract());
            for x in 0..w {
                let fx = x as f32 / octave as f32;
                let (x0, tx) = (fx as u32, fx.fract());
                let g = |gx: u32, gy: u32| grid[(gy * gw + gx) as usize];
                let top = g(x0, y0) * (1.0 - tx) + g(x0 + 1, y0) * tx;
                let bottom = g(x0, y0 + 1) * (1.0 - tx) + g(x0 + 1, y0 + 1) * tx;
                acc[(y * w + x) as usize] += amp * (top * (1.0 - ty) + bottom * ty);
            }
        }
    }
    // Stretched to the full range between the two colours, so that the picture has the
    // contrast PDQ needs.
    let (lo, hi) = acc.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let span = (hi - lo).max(1e-6);
    RgbImage::from_fn(w, h, |x, y| mix(a, b, (acc[(y * w + x) as usize] - lo) / span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_fixed_by_seed_and_index() {
        for i in 0..5 {
            let (name, a) = picture(9, i);
            let (_, b) = picture(9, i);
            assert_eq!(a, b);
            assert!(name.ends_with(KINDS[i as usize]), "{name}");
            assert!((256..640).contains(&a.width()) && (256..640).contains(&a.height()));
        }
        assert_ne!(picture(9, 0).1, picture(10, 0).1);
    }
}
