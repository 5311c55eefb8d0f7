//! An index shared between threads: many searching, some changing it, none waiting long.

use crate::{Hit, PdqIndex, Stats};
use spoor_core::Hash256;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

#[derive(Clone, Copy, Debug)]
enum Change {
    Insert(Hash256, u64),
    Remove(Hash256, u64),
}

#[derive(Debug, Default)]
struct State {
    index: PdqIndex,
    /// Changes made while a fold is building its new index, to replay onto it.
    journal: Vec<Change>,
}

/// A [`PdqIndex`] for concurrent use.
///
/// Searches take a read lock; a change takes the write lock for the time of one delta append
/// or one tombstone, so it is visible to the very next search. Folding the delta into the
/// tables ([`SharedIndex::fold`]) builds the new tables *outside* the lock from a copy of the
/// live entries, then replays the changes made meanwhile and swaps the index in: readers wait
/// only for the replay and the swap, writers also for the copy.
#[derive(Debug, Default)]
pub struct SharedIndex {
    state: RwLock<State>,
    folding: AtomicBool,
    fold_lock: Mutex<()>,
}

impl SharedIndex {
    /// Shares `index`.
    pub fn new(index: PdqIndex) -> Self {
        SharedIndex { state: RwLock::new(State { index, journal: Vec::new() }), ..Self::default() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the index half-changed: every change is
        // a single push or bit set. So a poisoned lock is still safe to use.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every live entry within `radius` of `query`, sorted by distance then id.
    pub fn search(&self, query: &Hash256, radius: u32) -> Vec<Hit> {
        self.read().index.search(query, radius)
    }

    /// Appends every live entry within `radius` of `query` to `hits`, unordered.
    pub fn search_into(&self, query: &Hash256, radius: u32, hits: &mut Vec<Hit>) {
        self.read().index.search_into(query, radius, hits);
    }

    /// Adds an entry, visible to the next search. Returns whether a fold is due.
    pub fn insert(&self, hash: Hash256, id: u64) -> bool {
        let mut s = self.write();
        s.index.insert_unfolded(hash, id);
        if self.folding.load(Ordering::Acquire) {
            s.journal.push(Change::Insert(hash, id));
        }
        s.index.wants_fold()
    }

    /// Removes an entry; returns whether it was live. Not found by the next search.
    pub fn remove(&self, hash: &Hash256, id: u64) -> bool {
        let mut s = self.write();
        let removed = s.index.remove(hash, id);
        if removed && self.folding.load(Ordering::Acquire) {
            s.journal.push(Change::Remove(*hash, id));
        }
        removed
    }

    /// Whether a fold would speed searches up.
    pub fn wants_fold(&self) -> bool {
        self.read().index.wants_fold()
    }

    /// Folds the delta and the removals into new tables, built on `threads` threads while
    /// searches and changes go on.
    pub fn fold(&self, threads: usize) {
        let _one_at_a_time = self.fold_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.folding.store(true, Ordering::Release);
        let (copy, replay_from) = {
            let s = self.read();
            (s.index.live_entries(), s.journal.len())
        };
        let mut fresh = PdqIndex::from_parts_parallel(copy.0, copy.1, threads);
        let mut s = self.write();
        for change in &s.journal[replay_from..] {
            match *change {
                Change::Insert(h, id) => fresh.insert_unfolded(h, id),
                Change::Remove(h, id) => {
                    fresh.remove(&h, id);
                }
            }
        }
        s.index = fresh;
        s.journal.clear();
        self.folding.store(false, Ordering::Release);
    }

    /// Sizes, for monitoring.
    pub fn stats(&self) -> Stats {
        self.read().index.stats()
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.read().index.len()
    }

    /// Whether there are no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a snapshot (see [`PdqIndex::save`]) while searches go on.
    pub fn save(&self, out: impl std::io::Write, sequence: u64) -> std::io::Result<()> {
        self.read().index.save(out, sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn h(k: u64) -> Hash256 {
        let mut s = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        Hash256::from_words([next(), next(), next(), next()])
    }

    #[test]
    fn changes_are_visible_at_once_while_folds_and_searches_run() {
        let base: Vec<(Hash256, u64)> = (0..20_000).map(|i| (h(i), i)).collect();
        let shared = Arc::new(SharedIndex::new(PdqIndex::build(base)));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (shared, stop) = (shared.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // Base entries that are never removed are always found.
                        let k = (n * 7 + r) % 10_000;
                        let hits = shared.search(&h(k), 0);
                        assert!(hits.iter().any(|x| x.id == k), "base entry {k} lost");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let folder = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut folds = 0;
                while !stop.load(Ordering::Relaxed) {
                    shared.fold(1);
                    folds += 1;
                }
                folds
            })
        };
        // The writer: every change is visible to its very next search, folds or not.
        for i in 0..3000u64 {
            let id = 1_000_000 + i;
            shared.insert(h(id), id);
            assert!(shared.search(&h(id), 0).iter().any(|x| x.id == id), "insert {id} not visible");
            if i % 3 == 0 {
                let old = 10_000 + i; // base entries 10000.. may be removed
                assert!(shared.remove(&h(old), old));
                assert!(
                    !shared.search(&h(old), 0).iter().any(|x| x.id == old),
                    "remove {old} visible"
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
        let folds = folder.join().unwrap();
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert!(folds > 0);
        shared.fold(2);
        assert_eq!(shared.len(), 20_000 + 3000 - 1000);
        assert_eq!(shared.stats().delta, 0);
        // After all folds, every change is still in effect.
        for i in 0..3000u64 {
            assert_eq!(shared.search(&h(1_000_000 + i), 0).len(), 1);
            let old = 10_000 + i;
            assert_eq!(shared.search(&h(old), 0).len(), usize::from(i % 3 != 0));
        }
    }
}
