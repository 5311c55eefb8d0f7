//! What the variants of a picture's hash cost beside PDQ itself, on a photo-sized picture
//! (1600×1000, textured): the eight turns and mirrors from one DCT (`--dihedral`) and from the
//! turned pixel grids (`--dihedral=exact`); `find_frame` on the picture unframed (the usual
//! case: one line per side is looked at) and `pdq_unframed` on it with a 10 % white frame (the
//! frame scanned, the inside hashed).
//!
//!     cargo run --release -p spoor-hash --example variant_cost

use std::time::Instant;

use spoor_hash::pdq::frame::{find_frame, pdq_unframed};
use spoor_hash::pdq::{pdq, pdq_dihedral_exact, pdq_with_dihedral, PixelLayout, Pixels};

fn picture(w: usize, h: usize, frame: usize) -> Vec<u8> {
    let mut s = 0x9e37_79b9u32;
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let inside = x >= frame && x < w - frame && y >= frame && y < h - frame;
            if inside {
                let base = ((x * 7 + y * 3) % 200) as u32;
                out.extend((0..3).map(|c| (base + ((s >> (c * 8)) & 0x37)) as u8));
            } else {
                out.extend([255, 255, 255]);
            }
        }
    }
    out
}

fn time(what: &str, n: u32, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    println!("{what:<44} {ms:>8.3} ms");
    ms
}

fn main() {
    let (w, h) = (1600, 1000);
    let plain = picture(w, h, 0);
    let framed = picture(w, h, 100);
    let p = Pixels::new(&plain, w, h, PixelLayout::Rgb8).unwrap();
    let f = Pixels::new(&framed, w, h, PixelLayout::Rgb8).unwrap();
    assert!(find_frame(p).is_none() && find_frame(f).is_some());
    let n = 30;
    let hash = time("pdq, 1600×1000", n, || {
        std::hint::black_box(pdq(p));
    });
    let dct = time("pdq + 8 turns from the DCT (--dihedral)", n, || {
        std::hint::black_box(pdq_with_dihedral(p));
    });
    let exact = time("8 turns of the pixel grid (--dihedral=exact)", n / 3, || {
        std::hint::black_box(pdq_dihedral_exact(p));
    });
    let look = time("find_frame, no frame", n, || {
        std::hint::black_box(find_frame(p));
    });
    let inner = time("pdq_unframed, 10 % frame (find + hash inside)", n, || {
        std::hint::black_box(pdq_unframed(f));
    });
    println!(
        "turns from the DCT cost {:.2} hashes, exact turns {:.2} hashes",
        dct / hash,
        exact / hash
    );
    println!(
        "looking for a frame costs {:.2} % of a hash; a framed picture costs {:.2} hashes more",
        100.0 * look / hash,
        inner / hash
    );
}
