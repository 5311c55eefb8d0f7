//! Index and matcher snapshots: loading any bytes never panics, and what loads can be searched,
//! changed and folded. Each input is tried as it is and with its checksum made right, so that
//! the structural checks behind the checksum are explored too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoor_core::Hash256;
use spoor_index::PdqIndex;

fn resealed(data: &[u8]) -> Option<Vec<u8>> {
    let end = data.len().checked_sub(4)?;
    let mut v = data.to_vec();
    let crc = crc32fast::hash(&v[..end]);
    v[end..].copy_from_slice(&crc.to_le_bytes());
    Some(v)
}

fn exercise(bytes: &[u8]) {
    if let Ok((mut index, _)) = PdqIndex::load(bytes) {
        let q = Hash256::from_words([1, 2, 3, 4]);
        for r in [0, 1, 31] {
            let hits = index.search(&q, r);
            assert!(hits.iter().all(|h| h.distance <= r));
        }
        let _ = index.stats();
        index.insert(q, 7);
        assert!(index.search(&q, 0).iter().any(|h| h.id == 7));
        assert!(index.remove(&q, 7));
        index.rebuild();
        let _ = index.search(&q, 31);
    }
    let _ = spoor_matcher::check_snapshot(bytes);
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    if let Some(v) = resealed(data) {
        exercise(&v);
    }
});
