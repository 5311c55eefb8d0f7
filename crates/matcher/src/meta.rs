//! Per-entry metadata of every live entry: bank, category and which structure holds it.
//!
//! Memory is proportional to the entries present, whatever their ids: ids that lie close
//! together share a page of 4096 slots (4 bytes each, one hash-map lookup to find the page),
//! ids that lie far apart sit in a plain hash map. A region moves into a page when it holds
//! [`PROMOTE`] entries and back out when it falls under [`DEMOTE`], so a page is never less
//! than 1/64 full and the two never thrash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use spoor_bank::Category;

/// Where a live entry is matched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The PDQ index.
    Pdq = 1,
    /// The digest maps (MD5, SHA-1, SHA-256).
    Exact = 2,
    /// The video frame index.
    Video = 3,
}

/// Largest bank id the table can hold (28 bits: banks are few, and ids are numbered from 1).
pub(crate) const MAX_BANK_ID: i64 = (1 << 28) - 1;

/// One live entry: bank id (bits 0–27), category (28–29: 0 none, 1 baseline, 2 national,
/// 3 not_illegal), kind (30–31, never 0, so a stored value is never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta(u32);

impl Meta {
    /// `None` when the bank id is out of range.
    pub(crate) fn new(bank_id: i64, category: Option<Category>, kind: Kind) -> Option<Self> {
        if !(0..=MAX_BANK_ID).contains(&bank_id) {
            return None;
        }
        let c: u32 = match category {
            None => 0,
            Some(Category::Baseline) => 1,
            Some(Category::National) => 2,
            Some(Category::NotIllegal) => 3,
        };
        Some(Meta(bank_id as u32 | c << 28 | (kind as u32) << 30))
    }

    /// Reads a stored value back (from a snapshot); `None` if it is not one `new` makes.
    pub(crate) fn from_bits(bits: u32) -> Option<Self> {
        (bits >> 30 != 0).then_some(Meta(bits))
    }

    pub(crate) fn bits(self) -> u32 {
        self.0
    }

    pub(crate) fn bank_id(self) -> i64 {
        i64::from(self.0 & MAX_BANK_ID as u32)
    }

    pub(crate) fn category(self) -> Option<Category> {
        match (self.0 >> 28) & 3 {
            1 => Some(Category::Baseline),
            2 => Some(Category::National),
            3 => Some(Category::NotIllegal),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> Kind {
        match self.0 >> 30 {
            1 => Kind::Pdq,
            2 => Kind::Exact,
            _ => Kind::Video,
        }
    }
}

/// A fast hasher for ids chosen by the store (not by users): one multiplication.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the high bits, which hashbrown uses for its tags, are well mixed.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 ^= self.0 >> 29;
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

/// A hash map keyed by ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
/// Entries of one page's range at which they move from the map into a page.
pub(crate) const PROMOTE: u32 = 256;
/// Entries of a page under which they move back into the map.
pub(crate) const DEMOTE: u32 = 64;

struct Page {
    slots: Box<[u32]>,
    count: u32,
}

/// Live entries' metadata by entry id, with per-kind counts that follow every insert and
/// removal (so they cannot drift from the table's content).
#[derive(Default)]
pub(crate) struct MetaTable {
    pages: IdMap<u64, Page>,
    sparse: IdMap<u64, Meta>,
    /// Entries in `sparse` per page number.
    sparse_per_page: IdMap<u64, u32>,
    counts: [u64; 4],
    /// Live entries per bank id and kind.
    per_bank: IdMap<i64, [u64; 4]>,
}

impl MetaTable {
    /// The live entry `id`'s metadata.
    pub(crate) fn get(&self, id: i64) -> Option<Meta> {
        let id = id as u64;
        match self.pages.get(&(id >> PAGE_BITS)) {
            Some(p) => {
                let bits = p.slots[(id as usize) & (PAGE - 1)];
                (bits != 0).then_some(Meta(bits))
            }
            None => self.sparse.get(&id).copied(),
        }
    }

    /// Sets `id`'s metadata; returns the previous one.
    pub(crate) fn insert(&mut self, id: i64, meta: Meta) -> Option<Meta> {
        let id = id as u64;
        let page = id >> PAGE_BITS;
        let old = match self.pages.get_mut(&page) {
            Some(p) => {
                let slot = &mut p.slots[(id as usize) & (PAGE - 1)];
                let old = std::mem::replace(slot, meta.0);
                if old == 0 {
                    p.count += 1;
                }
                (old != 0).then_some(Meta(old))
            }
            None => {
                let old = self.sparse.insert(id, meta);
                if old.is_none() {
                    let n = self.sparse_per_page.entry(page).or_default();
                    *n += 1;
                    if *n >= PROMOTE {
                        self.promote(page);
                    }
                }
                old
            }
        };
        if let Some(o) = old {
            self.uncount(o);
        }
        self.counts[meta.kind() as usize] += 1;
        self.per_bank.entry(meta.bank_id()).or_default()[meta.kind() as usize] += 1;
        old
    }

    fn uncount(&mut self, m: Meta) {
        self.counts[m.kind() as usize] -= 1;
        if let Some(c) = self.per_bank.get_mut(&m.bank_id()) {
            c[m.kind() as usize] -= 1;
            if c.iter().all(|&n| n == 0) {
                self.per_bank.remove(&m.bank_id());
            }
        }
    }

    /// Removes `id`; returns its metadata if it was there.
    pub(crate) fn remove(&mut self, id: i64) -> Option<Meta> {
        let id = id as u64;
        let page = id >> PAGE_BITS;
        let old = match self.pages.get_mut(&page) {
            Some(p) => {
                let old = std::mem::take(&mut p.slots[(id as usize) & (PAGE - 1)]);
                if old != 0 {
                    p.count -= 1;
                    if p.count < DEMOTE {
                        self.demote(page);
                    }
                }
                (old != 0).then_some(Meta(old))
            }
            None => {
                let old = self.sparse.remove(&id);
                if old.is_some() {
                    if let Some(n) = self.sparse_per_page.get_mut(&page) {
                        *n -= 1;
                        if *n == 0 {
                            self.sparse_per_page.remove(&page);
                        }
                    }
                }
                old
            }
        };
        if let Some(o) = old {
            self.uncount(o);
        }
        old
    }

    fn promote(&mut self, page: u64) {
        let mut p = Page { slots: vec![0u32; PAGE].into_boxed_slice(), count: 0 };
        let base = page << PAGE_BITS;
        for i in 0..PAGE as u64 {
            if let Some(m) = self.sparse.remove(&(base | i)) {
                p.slots[i as usize] = m.0;
                p.count += 1;
            }
        }
        self.sparse_per_page.remove(&page);
        self.pages.insert(page, p);
    }

    fn demote(&mut self, page: u64) {
        let Some(p) = self.pages.remove(&page) else { return };
        let base = page << PAGE_BITS;
        for (i, &bits) in p.slots.iter().enumerate() {
            if bits != 0 {
                self.sparse.insert(base | i as u64, Meta(bits));
            }
        }
        if p.count > 0 {
            self.sparse_per_page.insert(page, p.count);
        }
    }

    /// Live entries of a kind.
    pub(crate) fn count(&self, kind: Kind) -> u64 {
        self.counts[kind as usize]
    }

    /// Live entries of one bank, by kind (indexed by `Kind as usize`; slot 0 unused).
    pub(crate) fn bank_counts(&self, bank_id: i64) -> [u64; 4] {
        self.per_bank.get(&bank_id).copied().unwrap_or_default()
    }

    /// Live entries.
    pub(crate) fn len(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every live entry, in no particular order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(i64, Meta)) {
        for (&page, p) in &self.pages {
            for (i, &bits) in p.slots.iter().enumerate() {
                if bits != 0 {
                    f(((page << PAGE_BITS) | i as u64) as i64, Meta(bits));
                }
            }
        }
        for (&id, &m) in &self.sparse {
            f(id as i64, m);
        }
    }

    /// Approximate heap bytes (pages, and map slots at their key and value sizes).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pages.len() * (PAGE * 4 + 32)
            + self.pages.capacity() * 32
            + self.sparse.capacity() * 17
            + self.sparse_per_page.capacity() * 13
    }

    #[cfg(test)]
    fn pages(&self) -> usize {
        self.pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(bank: i64, kind: Kind) -> Meta {
        Meta::new(bank, Some(Category::National), kind).unwrap()
    }

    #[test]
    fn meta_round_trips_its_fields() {
        for (bank, cat, kind) in [
            (0, None, Kind::Pdq),
            (MAX_BANK_ID, Some(Category::NotIllegal), Kind::Video),
            (12345, Some(Category::Baseline), Kind::Exact),
        ] {
            let x = Meta::new(bank, cat, kind).unwrap();
            assert_eq!((x.bank_id(), x.category(), x.kind()), (bank, cat, kind));
            assert_eq!(Meta::from_bits(x.bits()), Some(x));
            assert_ne!(x.bits(), 0);
        }
        assert_eq!(Meta::new(MAX_BANK_ID + 1, None, Kind::Pdq), None);
        assert_eq!(Meta::new(-1, None, Kind::Pdq), None);
        assert_eq!(Meta::from_bits(0), None);
        assert_eq!(Meta::from_bits(5), None, "no kind");
    }

    #[test]
    fn far_apart_ids_near_2_pow_40_cost_no_pages() {
        let mut t = MetaTable::default();
        let base = 1i64 << 40;
        for k in 0..20_000i64 {
            assert_eq!(t.insert(base + k * 1_000_003, m(k, Kind::Pdq)), None);
        }
        assert_eq!(t.pages(), 0);
        assert_eq!(t.len(), 20_000);
        // A few dozen bytes per entry, not a table up to 2^40.
        assert!(t.heap_bytes() < 20_000 * 64, "{} bytes", t.heap_bytes());
        for k in 0..20_000i64 {
            assert_eq!(t.get(base + k * 1_000_003).map(Meta::bank_id), Some(k));
            assert_eq!(t.get(base + k * 1_000_003 + 1), None);
        }
    }

    #[test]
    fn dense_ids_fill_pages_and_deletes_give_memory_back() {
        let mut t = MetaTable::default();
        let base = (1i64 << 40) - 5000; // straddles page boundaries
        for k in 0..100_000i64 {
            t.insert(base + k, m(1, if k % 3 == 0 { Kind::Exact } else { Kind::Pdq }));
        }
        // 100,000 ids fill 25 or 26 pages: 4 bytes an entry and a little.
        assert!((25..=26).contains(&t.pages()), "{} pages", t.pages());
        assert_eq!(t.count(Kind::Exact), 33_334);
        assert_eq!(t.count(Kind::Pdq), 66_666);
        assert!(t.heap_bytes() < 100_000 * 6, "{} bytes", t.heap_bytes());
        // Delete all but every 100th: pages fall under 64 entries and go back to the map.
        for k in 0..100_000i64 {
            if k % 100 != 0 {
                assert!(t.remove(base + k).is_some());
            }
        }
        assert_eq!(t.pages(), 0);
        assert_eq!(t.len(), 1000);
        for k in 0..100_000i64 {
            assert_eq!(t.get(base + k).is_some(), k % 100 == 0, "{k}");
        }
        // Removing twice changes nothing; counts stay exact.
        assert_eq!(t.remove(base + 1), None);
        assert_eq!(t.count(Kind::Exact) + t.count(Kind::Pdq), 1000);
        let mut seen = 0;
        t.for_each(|id, _| {
            assert_eq!((id - base) % 100, 0);
            seen += 1;
        });
        assert_eq!(seen, 1000);
    }

    #[test]
    fn per_bank_counts_follow_inserts_moves_and_removals() {
        let mut t = MetaTable::default();
        for id in 0..1000 {
            t.insert(id, m(1 + id % 2, if id % 5 == 0 { Kind::Exact } else { Kind::Pdq }));
        }
        assert_eq!(
            t.bank_counts(1)[Kind::Pdq as usize] + t.bank_counts(1)[Kind::Exact as usize],
            500
        );
        assert_eq!(t.bank_counts(2)[Kind::Exact as usize], 100);
        // Moving an entry to another bank moves its count; removing takes it away.
        t.insert(0, m(3, Kind::Video));
        assert_eq!(t.bank_counts(3)[Kind::Video as usize], 1);
        assert_eq!(t.bank_counts(1)[Kind::Exact as usize], 99);
        for id in 0..1000 {
            t.remove(id);
        }
        assert_eq!(
            (t.bank_counts(1), t.bank_counts(2), t.bank_counts(3)),
            ([0; 4], [0; 4], [0; 4])
        );
        assert!(t.per_bank.is_empty(), "banks without live entries are forgotten");
    }

    #[test]
    fn replacing_an_entry_moves_its_count() {
        let mut t = MetaTable::default();
        assert_eq!(t.insert(7, m(1, Kind::Pdq)), None);
        assert_eq!(t.insert(7, m(1, Kind::Pdq)).map(Meta::kind), Some(Kind::Pdq));
        assert_eq!(t.count(Kind::Pdq), 1);
        t.insert(7, m(2, Kind::Video));
        assert_eq!((t.count(Kind::Pdq), t.count(Kind::Video)), (0, 1));
        assert_eq!(t.remove(7).map(Meta::bank_id), Some(2));
        assert_eq!(t.len(), 0);
    }
}
