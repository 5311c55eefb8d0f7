//! What the store test files share: a fresh PostgreSQL schema per store, and seeded hashes.
#![allow(dead_code)] // each test file uses some of it

use std::sync::atomic::{AtomicU32, Ordering};

use spoor_core::Hash256;

/// A fresh schema on the server named by `SPOOR_TEST_DATABASE_URL`: a URL whose connections use
/// it, and its name. `None` (with a notice) without that variable; a panic when
/// `SPOOR_REQUIRE_POSTGRES=1` (as in the test command).
pub fn postgres_schema() -> Option<(String, String)> {
    static N: AtomicU32 = AtomicU32::new(0);
    let Ok(base) = std::env::var("SPOOR_TEST_DATABASE_URL") else {
        if std::env::var("SPOOR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("SPOOR_TEST_DATABASE_URL is not set but SPOOR_REQUIRE_POSTGRES=1: run scripts/test.sh, which starts a server");
        }
        eprintln!("notice: PostgreSQL tests skipped: SPOOR_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        return None;
    };
    // The test binary's name keeps schemas of different test files apart.
    let exe = std::env::current_exe().ok();
    let file = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .and_then(|s| s.split('-').next())
        .unwrap_or("t");
    let schema = format!("{file}{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let mut admin = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((format!("{base}{sep}options=-csearch_path%3D{schema}"), schema))
}

/// `n` random-looking hashes from `seed` (xorshift; the same for the same seed).
pub fn hashes(n: usize, seed: u64) -> Vec<Hash256> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n).map(|_| Hash256::from_words([next(), next(), next(), next()])).collect()
}
