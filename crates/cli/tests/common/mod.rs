//! Helpers the end-to-end tests share: a fresh PostgreSQL schema per test, seeded random hashes.
#![allow(dead_code)] // each test file uses some of them

use std::sync::atomic::{AtomicU32, Ordering};

/// A connection URL to the server named by `SPOOR_TEST_DATABASE_URL` whose connections use a
/// fresh schema, so tests do not see each other's banks. `None` (with a notice) when no server
/// is given, unless `SPOOR_REQUIRE_POSTGRES=1` (as in the test command): then it panics.
pub fn postgres_url(prefix: &str) -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let Ok(base) = std::env::var("SPOOR_TEST_DATABASE_URL") else {
        if std::env::var("SPOOR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("SPOOR_TEST_DATABASE_URL is not set but SPOOR_REQUIRE_POSTGRES=1");
        }
        eprintln!("notice: PostgreSQL tests skipped: SPOOR_TEST_DATABASE_URL is not set");
        return None;
    };
    let schema = format!("{prefix}{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// `n` random PDQ hashes in hex, the same for the same seed.
pub fn hex_hashes(n: usize, seed: u64) -> Vec<String> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| format!("{:016x}{:016x}{:016x}{:016x}", next(), next(), next(), next()))
        .collect()
}

/// The first of [`hex_hashes`] for `seed`.
pub fn hex_hash(seed: u64) -> String {
    hex_hashes(1, seed).remove(0)
}

/// A 256×256 PNG of coloured blocks from a seed; `shift` brightens every pixel (a re-encoded
/// copy: same picture, other bytes, PDQ a few bits away at most).
pub fn picture(seed: u64, shift: u8) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let blocks: Vec<[u8; 3]> = (0..64)
        .map(|_| {
            let v = next();
            [v as u8, (v >> 8) as u8, (v >> 16) as u8]
        })
        .collect();
    let img = image::RgbImage::from_fn(256, 256, |px, py| {
        let b = blocks[(py / 32 * 8 + px / 32) as usize];
        image::Rgb(b.map(|c| c.saturating_add(shift)))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Mean squared difference of horizontally and vertically neighbouring grey values: the
/// picture's high-frequency energy.
pub fn energy(grey: &image::GrayImage) -> f64 {
    let (w, h) = grey.dimensions();
    let (mut sum, mut n) = (0f64, 0f64);
    for y in 0..h {
        for x in 0..w {
            let p = f64::from(grey.get_pixel(x, y)[0]);
            if x + 1 < w {
                sum += (p - f64::from(grey.get_pixel(x + 1, y)[0])).powi(2);
                n += 1.0;
            }
            if y + 1 < h {
                sum += (p - f64::from(grey.get_pixel(x, y + 1)[0])).powi(2);
                n += 1.0;
            }
        }
    }
    sum / n
}

/// Hamming distance of two PDQ hashes in hex.
pub fn distance(a: &str, b: &str) -> u32 {
    let (a, b) = (hex(a), hex(b));
    a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Hex text to bytes.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// `pdq` with its first `n` bits flipped.
pub fn flip(pdq: &str, n: usize) -> String {
    let mut b = hex(pdq);
    for i in 0..n {
        b[i / 8] ^= 0x80 >> (i % 8);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
