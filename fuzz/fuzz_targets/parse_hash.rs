//! Hex parsing: strict, never panics, and round-trips what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoor_core::{Hash256, Md5};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(h) = s.parse::<Hash256>() {
            assert_eq!(h.to_string(), s.to_ascii_lowercase());
        }
        if let Ok(h) = s.parse::<Md5>() {
            assert_eq!(h.to_string(), s.to_ascii_lowercase());
        }
    }
});
