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
