//! The matcher against a real store: loads, follows every kind of change, honours scopes.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_bank::{Category, Location, NewBank, NewEntry, Store};
use spoor_core::{Hash256, SignalType};
use spoor_matcher::{Matcher, Scope};

fn store(dir: &std::path::Path) -> Arc<dyn Store> {
    spoor_bank::open(&Location::DataDir(dir.to_path_buf())).unwrap().into()
}

fn hash(seed: u64) -> Hash256 {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    Hash256::from_words([next(), next(), next(), next()])
}

fn near(h: &Hash256, bits: usize) -> Hash256 {
    let mut n = *h;
    for k in 0..bits {
        n.flip_bit(k * 7);
    }
    n
}

fn create(s: &dyn Store, name: &str) {
    s.create_bank(&NewBank { name: name.into(), ..Default::default() }, "t").unwrap();
}

#[test]
fn loads_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    create(&*s, "B");
    let mut e = NewEntry::new(SignalType::Pdq, hash(1).to_bytes().to_vec());
    e.category = Some(Category::Baseline);
    let id1 = match s.add_entries("A", &[e], "t").unwrap()[0] {
        spoor_bank::Added::New(id) => id,
        _ => unreachable!(),
    };
    s.add_entries("B", &[NewEntry::new(SignalType::Md5, vec![9; 16])], "t").unwrap();

    let m = Matcher::load(s.clone()).unwrap();
    let got = m.match_pdq(&near(&hash(1), 10), &Scope::All);
    assert_eq!(got.len(), 1);
    assert_eq!((&*got[0].bank, got[0].entry_id, got[0].distance), ("A", id1, 10));
    assert_eq!(got[0].category, Some(Category::Baseline));
    assert!(m.match_pdq(&near(&hash(1), 32), &Scope::All).is_empty(), "beyond radius 31");
    assert_eq!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).len(), 1);
    let only_a = Scope::Banks(HashSet::from(["A".to_string()]));
    assert!(m.match_signal(SignalType::Md5, &[9; 16], &only_a).is_empty(), "scope");

    // Added later: found after a catch-up; the same hash in two banks matches twice.
    s.add_entries("B", &[NewEntry::new(SignalType::Pdq, hash(1).to_bytes().to_vec())], "t")
        .unwrap();
    assert_eq!(m.catch_up().unwrap(), 1);
    let got = m.match_pdq(&hash(1), &Scope::All);
    assert_eq!(got.iter().map(|g| &*g.bank).collect::<Vec<_>>(), ["A", "B"]);

    // Disabled, then enabled again; applying twice changes nothing.
    s.set_enabled("A", id1, false, "t", "stock photo").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);
    s.set_enabled("A", id1, true, "t", "reviewed").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 2);
    assert_eq!(m.stats().pdq_entries, 2);

    // A paused bank matches nothing; resumed, it matches again.
    s.set_bank_enabled("B", false, "t", "list under review").unwrap();
    m.catch_up().unwrap();
    assert!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).is_empty());
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);
    s.set_bank_enabled("B", true, "t", "reviewed").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).len(), 1);

    // Deleted.
    s.delete_entry("A", id1, "t", "court order").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);

    // A fresh matcher agrees with the one that followed.
    let fresh = Matcher::load(s.clone()).unwrap();
    assert_eq!(fresh.match_pdq(&hash(1), &Scope::All), m.match_pdq(&hash(1), &Scope::All));
    assert_eq!(fresh.stats().pdq_entries, m.stats().pdq_entries);
}

#[test]
fn a_follower_sees_changes_from_another_connection_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "LIVE");
    let m = Arc::new(Matcher::load(store(dir.path())).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let follower = m.follow(Duration::from_millis(50), stop.clone());
    for k in 0..20u64 {
        let h = hash(100 + k);
        s.add_entries("LIVE", &[NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec())], "t")
            .unwrap();
        let t = Instant::now();
        while m.match_pdq(&h, &Scope::All).is_empty() {
            assert!(t.elapsed() < Duration::from_secs(1), "not visible within 1 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    follower.join().unwrap();
}

#[test]
fn many_changes_fold_into_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "BIG");
    let m = Matcher::load(s.clone()).unwrap();
    let entries: Vec<NewEntry> = (0..20_000)
        .map(|k| NewEntry::new(SignalType::Pdq, hash(1000 + k).to_bytes().to_vec()))
        .collect();
    s.add_entries("BIG", &entries, "t").unwrap();
    assert_eq!(m.catch_up().unwrap(), 20_000);
    for k in (0..20_000).step_by(997) {
        assert_eq!(m.match_pdq(&near(&hash(1000 + k), 5), &Scope::All).len(), 1);
    }
}

#[test]
fn videos_match_through_the_frame_index() {
    use spoor_core::vpdq::{format, VpdqFrame};
    use spoor_matcher::VpdqThresholds;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "VIDEOS");
    let video = |seeds: std::ops::Range<u64>| -> Vec<VpdqFrame> {
        seeds.map(|k| VpdqFrame { hash: hash(k), quality: 90, timestamp: k as f64 }).collect()
    };
    let a = video(0..40);
    let b = video(1000..1030);
    let mut ids = Vec::new();
    for v in [&a, &b] {
        let value = SignalType::Vpdq.parse(&format(v)).unwrap();
        match s.add_entries("VIDEOS", &[NewEntry::new(SignalType::Vpdq, value)], "t").unwrap()[0] {
            spoor_bank::Added::New(id) => ids.push(id),
            _ => unreachable!(),
        }
    }
    let m = Matcher::load(s.clone()).unwrap();
    assert_eq!(m.stats().video_entries, 2);
    let t = VpdqThresholds::default();
    // The first half of video a, re-encoded (a few bits off each frame), as the query.
    let query: Vec<VpdqFrame> =
        a[..20].iter().map(|f| VpdqFrame { hash: near(&f.hash, 6), ..*f }).collect();
    let got = m.match_vpdq(&query, &t, &Scope::All);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].entry_id, got[0].query_match, got[0].compared_match), (ids[0], 100.0, 50.0));
    // Unrelated frames match nothing; low-quality frames are ignored.
    assert!(m.match_vpdq(&video(5000..5020), &t, &Scope::All).is_empty());
    let dark: Vec<VpdqFrame> = query.iter().map(|f| VpdqFrame { quality: 10, ..*f }).collect();
    assert!(m.match_vpdq(&dark, &t, &Scope::All).is_empty());
    // Disabled, then added later: the index follows.
    s.set_enabled("VIDEOS", ids[0], false, "t", "wrong video").unwrap();
    m.catch_up().unwrap();
    assert!(m.match_vpdq(&query, &t, &Scope::All).is_empty());
    let c = video(7000..7010);
    let value = SignalType::Vpdq.parse(&format(&c)).unwrap();
    s.add_entries("VIDEOS", &[NewEntry::new(SignalType::Vpdq, value)], "t").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_vpdq(&c, &t, &Scope::All).len(), 1);
}
