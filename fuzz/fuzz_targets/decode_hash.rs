//! Any bytes through the decoder and PDQ: an error or a hash, never a panic, hang or huge
//! allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoor_media::{decode, Limits, Options};

fuzz_target!(|data: &[u8]| {
    let options = Options {
        limits: Limits { max_pixels: 4_000_000, max_file_bytes: 16 << 20 },
        exif_orient: data.first().is_some_and(|b| b & 1 == 1),
        jpeg_luma_only: data.first().is_some_and(|b| b & 2 == 2),
    };
    if let Ok(image) = decode(data, &options) {
        let p = spoor_hash::pdq::pdq(image.pixels());
        let d = spoor_hash::pdq::pdq_dihedral(image.pixels());
        assert!(p.quality <= 100 && d.quality <= 100);
        if !(image.width == 64 && image.height == 64) {
            assert_eq!(p.hash, d.hashes[0]);
        }
    }
});
