//! Exact Hamming-radius search over 256-bit hashes.
//!
//! [`PdqIndex::search`] returns every live entry within distance `r` of a query — the same set
//! a linear scan gives, for any `r` from 0 to 256 — each with its distance and id.
//!
//! # How
//!
//! Multi-index hashing (Norouzi, Punjani, Fleet): the 256 bits are cut into `m` chunks of
//! about `log2(n)` bits each, and each chunk has its own table from chunk value to entries.
//! If two hashes are within distance `r`, then by the pigeonhole principle at least one chunk
//! is within `⌊r/m⌋` of the query's chunk; a little sharper, with `r = m·t + s`, the first
//! `s + 1` chunks need threshold `t` and the others only `t − 1`. A query enumerates, for each
//! table, every chunk value within its threshold, collects the entries filed under them, and
//! checks each candidate's full distance. A candidate found in several tables is reported
//! only by the first table that can find it, so no set is needed to remove duplicates.
//!
//! Tables are sorted arrays, not hash maps: a direct index over the top 16 bits of the chunk
//! value, then the low bits (one byte at most) sorted within each bucket, then the entry slot.
//! That is 5 bytes per entry per table.
//!
//! # Live changes
//!
//! Inserts go to a small *delta* that queries scan linearly; removals set a tombstone bit.
//! Both are visible to the next query. When the delta grows past a fraction of the main part,
//! [`PdqIndex::insert`] folds it in (a rebuild of the tables, O(n log n), amortised over the
//! inserts that filled the delta).
//!
//! ```
//! use spoor_core::Hash256;
//! use spoor_index::PdqIndex;
//! let a: Hash256 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse().unwrap();
//! let mut b = a;
//! b.flip_bit(3);
//! let index = PdqIndex::build(vec![(a, 7), (Hash256::ZERO, 8)]);
//! let hits = index.search(&b, 31);
//! assert_eq!(hits.len(), 1);
//! assert_eq!((hits[0].id, hits[0].distance), (7, 1));
//! ```

use spoor_core::Hash256;

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// Hamming distance to the query.
    pub distance: u32,
    /// The entry's id, as given when it was added.
    pub id: u64,
}

/// Bit positions of one chunk: bits `start .. start + width` of the hash read as a 256-bit
/// big-endian string (position 0 is the most significant bit of the first hex digit).
#[derive(Clone, Copy, Debug)]
struct Chunk {
    start: u32,
    width: u32,
    mask: [u64; 4],
}

impl Chunk {
    fn new(start: u32, width: u32) -> Self {
        let mut mask = [0u64; 4];
        for p in start..start + width {
            mask[(p / 64) as usize] |= 1u64 << (63 - p % 64);
        }
        Chunk { start, width, mask }
    }

    /// The chunk's value, most significant bit first.
    #[inline]
    fn value(&self, h: &Hash256) -> u32 {
        let w = h.words();
        let hi = (u128::from(w[0]) << 64) | u128::from(w[1]);
        let lo = (u128::from(w[2]) << 64) | u128::from(w[3]);
        let end = self.start + self.width; // exclusive, 1..=256
        let v: u128 = if end <= 128 {
            hi >> (128 - end)
        } else if self.start >= 128 {
            lo >> (256 - end)
        } else {
            // Straddles the middle: the top part from `hi`, the rest from `lo`.
            let low_bits = end - 128;
            (hi << low_bits) | (lo >> (128 - low_bits))
        };
        (v & ((1u128 << self.width) - 1)) as u32
    }

    /// Distance between two hashes restricted to this chunk.
    #[inline]
    fn distance(&self, a: &Hash256, b: &Hash256) -> u32 {
        let (x, y) = (a.words(), b.words());
        (0..4).map(|i| ((x[i] ^ y[i]) & self.mask[i]).count_ones()).sum()
    }
}

/// One table: entries sorted by their chunk value.
#[derive(Clone, Debug, Default)]
struct Table {
    /// Bits of the chunk value resolved by `top`.
    top_bits: u32,
    /// Low bits stored in `low` (0..=8).
    low_bits: u32,
    /// `top[v]..top[v + 1]` is the range of entries whose chunk value has top bits `v`.
    top: Vec<u32>,
    /// The low bits of each entry's chunk value, sorted within each `top` range.
    low: Vec<u8>,
    /// The slot (position in the main arrays) of each entry.
    slots: Vec<u32>,
}

impl Table {
    fn build(chunk: &Chunk, hashes: &[Hash256]) -> Self {
        let top_bits = chunk.width.min(16);
        let low_bits = chunk.width - top_bits;
        assert!(low_bits <= 8, "chunks are at most 24 bits wide");
        let mut keyed: Vec<(u32, u32)> =
            hashes.iter().enumerate().map(|(slot, h)| (chunk.value(h), slot as u32)).collect();
        keyed.sort_unstable();
        let mut top = vec![0u32; (1usize << top_bits) + 1];
        for &(k, _) in &keyed {
            top[(k >> low_bits) as usize + 1] += 1;
        }
        for i in 1..top.len() {
            top[i] += top[i - 1];
        }
        let low_mask = (1u32 << low_bits) - 1;
        let low = if low_bits > 0 {
            keyed.iter().map(|&(k, _)| (k & low_mask) as u8).collect()
        } else {
            Vec::new()
        };
        let slots = keyed.into_iter().map(|(_, s)| s).collect();
        Table { top_bits, low_bits, top, low, slots }
    }

    /// The slots of entries whose chunk value is exactly `key`.
    #[inline]
    fn lookup(&self, key: u32) -> &[u32] {
        let t = (key >> self.low_bits) as usize;
        let (a, b) = (self.top[t] as usize, self.top[t + 1] as usize);
        if self.low_bits == 0 || a == b {
            return &self.slots[a..b];
        }
        let want = (key & ((1 << self.low_bits) - 1)) as u8;
        let lows = &self.low[a..b];
        let from = lows.partition_point(|&l| l < want);
        let to = from + lows[from..].partition_point(|&l| l == want);
        &self.slots[a + from..a + to]
    }

    fn heap_bytes(&self) -> usize {
        self.top.capacity() * 4 + self.low.capacity() + self.slots.capacity() * 4
    }
}

/// Calls `f` with every `width`-bit value within Hamming distance `t` of `key`.
fn for_each_neighbour(key: u32, width: u32, t: u32, f: &mut impl FnMut(u32)) {
    fn rec(key: u32, from: u32, width: u32, left: u32, f: &mut impl FnMut(u32)) {
        f(key);
        if left == 0 {
            return;
        }
        for b in from..width {
            rec(key ^ (1 << b), b + 1, width, left - 1, f);
        }
    }
    rec(key, 0, width, t.min(width), f);
}

/// Chooses the number of chunks for `n` entries: chunks of about `log2(n)` bits (at most 24).
fn chunk_count(n: usize) -> u32 {
    let bits = (n.max(2) as f64).log2().round().clamp(8.0, 24.0) as u32;
    256u32.div_ceil(bits)
}

/// Splits 256 bits into `m` chunks as equal as possible.
fn chunks(m: u32) -> Vec<Chunk> {
    let (base, extra) = (256 / m, 256 % m);
    let mut start = 0;
    (0..m)
        .map(|i| {
            let width = base + u32::from(i < extra);
            let c = Chunk::new(start, width);
            start += width;
            c
        })
        .collect()
}

/// The per-table thresholds for radius `r` over `m` chunks: with `r = m·t + s`, the first
/// `s + 1` tables need `t`, the rest `t − 1` (`None`: the table need not be probed).
fn thresholds(r: u32, m: u32) -> impl Iterator<Item = Option<u32>> {
    let (t, s) = (r / m, r % m);
    (0..m).map(move |i| if i <= s { Some(t) } else { t.checked_sub(1) })
}

/// A bitset of removed slots.
#[derive(Clone, Debug, Default)]
struct Tombstones {
    bits: Vec<u64>,
    count: usize,
}

impl Tombstones {
    fn is_dead(&self, slot: usize) -> bool {
        self.bits.get(slot / 64).is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }
    fn kill(&mut self, slot: usize) -> bool {
        if self.bits.len() <= slot / 64 {
            self.bits.resize(slot / 64 + 1, 0);
        }
        let w = &mut self.bits[slot / 64];
        let was = *w >> (slot % 64) & 1 == 1;
        *w |= 1 << (slot % 64);
        if !was {
            self.count += 1;
        }
        !was
    }
}

/// An exact Hamming-radius index of 256-bit hashes with `u64` ids.
#[derive(Clone, Debug, Default)]
pub struct PdqIndex {
    chunks: Vec<Chunk>,
    tables: Vec<Table>,
    /// Main part: hashes and ids by slot; `tables` index these.
    hashes: Vec<Hash256>,
    ids: Vec<u64>,
    dead: Tombstones,
    /// Entries added since the tables were built (slots `hashes.len()..`), scanned linearly.
    delta_hashes: Vec<Hash256>,
    delta_ids: Vec<u64>,
    delta_dead: Tombstones,
}

/// Statistics about an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Live entries.
    pub live: usize,
    /// Removed entries still occupying space until the next rebuild.
    pub removed: usize,
    /// Entries in the delta (added since the last rebuild).
    pub delta: usize,
    /// Number of chunks (tables).
    pub chunks: usize,
    /// Heap bytes used.
    pub heap_bytes: usize,
}

impl PdqIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index over `entries`.
    pub fn build(entries: Vec<(Hash256, u64)>) -> Self {
        let (hashes, ids): (Vec<Hash256>, Vec<u64>) = entries.into_iter().unzip();
        Self::from_parts(hashes, ids)
    }

    fn from_parts(hashes: Vec<Hash256>, ids: Vec<u64>) -> Self {
        let chunks = chunks(chunk_count(hashes.len()));
        let tables = chunks.iter().map(|c| Table::build(c, &hashes)).collect();
        PdqIndex { chunks, tables, hashes, ids, ..Self::default() }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.hashes.len() + self.delta_hashes.len() - self.dead.count - self.delta_dead.count
    }

    /// Whether there are no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an entry; it is found by the next search.
    pub fn insert(&mut self, hash: Hash256, id: u64) {
        self.delta_hashes.push(hash);
        self.delta_ids.push(id);
        if self.delta_hashes.len() > 4096.max(self.hashes.len() / 32) {
            self.rebuild();
        }
    }

    /// Removes the entry with this hash and id; returns whether one was live. It is not found
    /// by the next search.
    pub fn remove(&mut self, hash: &Hash256, id: u64) -> bool {
        let mut removed = false;
        for slot in self.exact_slots(hash) {
            if self.ids[slot] == id {
                removed |= self.dead.kill(slot);
            }
        }
        for (i, (h, &d)) in self.delta_hashes.iter().zip(&self.delta_ids).enumerate() {
            if d == id && h == hash {
                removed |= self.delta_dead.kill(i);
            }
        }
        removed
    }

    fn exact_slots(&self, hash: &Hash256) -> Vec<usize> {
        let Some((chunk, table)) = self.chunks.first().zip(self.tables.first()) else {
            return Vec::new();
        };
        table
            .lookup(chunk.value(hash))
            .iter()
            .map(|&s| s as usize)
            .filter(|&s| &self.hashes[s] == hash)
            .collect()
    }

    /// Folds the delta into the tables and drops removed entries.
    pub fn rebuild(&mut self) {
        let mut hashes = Vec::with_capacity(self.len());
        let mut ids = Vec::with_capacity(self.len());
        for (slot, (h, &id)) in self.hashes.iter().zip(&self.ids).enumerate() {
            if !self.dead.is_dead(slot) {
                hashes.push(*h);
                ids.push(id);
            }
        }
        for (slot, (h, &id)) in self.delta_hashes.iter().zip(&self.delta_ids).enumerate() {
            if !self.delta_dead.is_dead(slot) {
                hashes.push(*h);
                ids.push(id);
            }
        }
        *self = Self::from_parts(hashes, ids);
    }

    /// Every live entry within distance `radius` of `query`, sorted by distance then id.
    pub fn search(&self, query: &Hash256, radius: u32) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.search_into(query, radius, &mut hits);
        hits.sort_unstable();
        hits
    }

    /// Appends every live entry within distance `radius` of `query` to `hits`, unordered.
    pub fn search_into(&self, query: &Hash256, radius: u32, hits: &mut Vec<Hit>) {
        let m = self.chunks.len() as u32;
        if m > 0 {
            let limits: Vec<Option<u32>> = thresholds(radius, m).collect();
            for (i, ((chunk, table), limit)) in
                self.chunks.iter().zip(&self.tables).zip(&limits).enumerate()
            {
                let Some(t) = *limit else { continue };
                let q = chunk.value(query);
                for_each_neighbour(q, chunk.width, t, &mut |key| {
                    for &slot in table.lookup(key) {
                        let slot = slot as usize;
                        let h = &self.hashes[slot];
                        let d = h.distance(query);
                        if d > radius || self.dead.is_dead(slot) {
                            continue;
                        }
                        // Report it from the first table able to find it.
                        let earlier = self.chunks[..i]
                            .iter()
                            .zip(&limits)
                            .any(|(c, l)| l.is_some_and(|l| c.distance(h, query) <= l));
                        if !earlier {
                            hits.push(Hit { distance: d, id: self.ids[slot] });
                        }
                    }
                });
            }
        }
        for (slot, (h, &id)) in self.delta_hashes.iter().zip(&self.delta_ids).enumerate() {
            let d = h.distance(query);
            if d <= radius && !self.delta_dead.is_dead(slot) {
                hits.push(Hit { distance: d, id });
            }
        }
    }

    /// Sizes, for monitoring and benchmarks.
    pub fn stats(&self) -> Stats {
        let heap_bytes = self.hashes.capacity() * 32
            + self.ids.capacity() * 8
            + self.dead.bits.capacity() * 8
            + self.delta_hashes.capacity() * 32
            + self.delta_ids.capacity() * 8
            + self.delta_dead.bits.capacity() * 8
            + self.tables.iter().map(Table::heap_bytes).sum::<usize>();
        Stats {
            live: self.len(),
            removed: self.dead.count + self.delta_dead.count,
            delta: self.delta_hashes.len(),
            chunks: self.chunks.len(),
            heap_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(entries: &[(Hash256, u64)], q: &Hash256, r: u32) -> Vec<Hit> {
        let mut v: Vec<Hit> = entries
            .iter()
            .map(|(h, id)| Hit { distance: h.distance(q), id: *id })
            .filter(|h| h.distance <= r)
            .collect();
        v.sort_unstable();
        v
    }

    fn near(h: &Hash256, flips: &[usize]) -> Hash256 {
        let mut x = *h;
        for &b in flips {
            x.flip_bit(b % 256);
        }
        x
    }

    #[test]
    fn chunk_values_cover_every_bit_once() {
        for m in [8, 11, 12, 13, 16, 32] {
            let cs = chunks(m);
            assert_eq!(cs.iter().map(|c| c.width).sum::<u32>(), 256);
            for bit in 0..256 {
                let mut h = Hash256::ZERO;
                h.set_bit(bit);
                // Bit k is position 255 - k of the big-endian bit string.
                let owners: Vec<_> = cs.iter().filter(|c| c.value(&h) != 0).collect();
                assert_eq!(owners.len(), 1, "m={m} bit={bit}");
                let c = owners[0];
                assert_eq!(c.value(&h), 1 << (c.start + c.width - 1 - (255 - bit as u32)));
                assert_eq!(c.distance(&h, &Hash256::ZERO), 1);
            }
        }
    }

    #[test]
    fn thresholds_satisfy_pigeonhole() {
        for m in 1..40 {
            for r in 0..=256 {
                let sum: u32 = thresholds(r, m).map(|t| t.map_or(0, |t| t + 1)).sum();
                assert!(sum > r, "m={m} r={r}");
            }
        }
    }

    fn check(entries: Vec<(Hash256, u64)>, queries: &[Hash256]) {
        let index = PdqIndex::build(entries.clone());
        for q in queries {
            for r in [0, 1, 31, 32, 63, 64] {
                assert_eq!(index.search(q, r), brute(&entries, q, r), "r={r}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn equals_brute_force(
            seeds in prop::collection::vec(any::<[u64; 4]>(), 1..300),
            flips in prop::collection::vec(prop::collection::vec(0usize..256, 0..70), 1..12),
        ) {
            let entries: Vec<(Hash256, u64)> =
                seeds.iter().enumerate().map(|(i, w)| (Hash256::from_words(*w), i as u64)).collect();
            let queries: Vec<Hash256> = flips
                .iter()
                .enumerate()
                .map(|(i, f)| near(&entries[i % entries.len()].0, f))
                .collect();
            check(entries, &queries);
        }

        #[test]
        fn live_changes_equal_brute_force(
            seeds in prop::collection::vec(any::<[u64; 4]>(), 1..200),
            ops in prop::collection::vec((any::<bool>(), any::<[u64; 4]>(), 0usize..400, prop::collection::vec(0usize..256, 0..40)), 1..120),
        ) {
            let mut entries: Vec<(Hash256, u64)> =
                seeds.iter().enumerate().map(|(i, w)| (Hash256::from_words(*w), i as u64)).collect();
            let mut index = PdqIndex::build(entries.clone());
            let mut next_id = entries.len() as u64;
            for (insert, w, pick, flips) in ops {
                if insert || entries.is_empty() {
                    // New entries are often near an existing one, to exercise duplicates.
                    let h = if pick % 2 == 0 && !entries.is_empty() {
                        near(&entries[pick % entries.len()].0, &flips)
                    } else {
                        Hash256::from_words(w)
                    };
                    index.insert(h, next_id);
                    entries.push((h, next_id));
                    next_id += 1;
                } else {
                    let (h, id) = entries.swap_remove(pick % entries.len());
                    prop_assert!(index.remove(&h, id));
                    prop_assert!(!index.remove(&h, id));
                }
                let q = if entries.is_empty() { Hash256::from_words(w) } else { near(&entries[pick % entries.len()].0, &flips) };
                for r in [0, 1, 31, 32, 63, 64] {
                    prop_assert_eq!(index.search(&q, r), brute(&entries, &q, r));
                }
            }
            prop_assert_eq!(index.len(), entries.len());
            index.rebuild();
            prop_assert_eq!(index.stats().delta, 0);
            let q = Hash256::from_words([1, 2, 3, 4]);
            prop_assert_eq!(index.search(&q, 256), brute(&entries, &q, 256));
        }
    }

    #[test]
    fn large_index_equals_brute_force_at_pdq_threshold() {
        // 200k entries: tables with 16-bit tops and non-empty low bytes.
        let mut s = 0x9E3779B97F4A7C15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let entries: Vec<(Hash256, u64)> = (0..200_000u64)
            .map(|i| (Hash256::from_words([next(), next(), next(), next()]), i))
            .collect();
        let index = PdqIndex::build(entries.clone());
        assert!(index.stats().chunks >= 12);
        for i in 0..60 {
            let base = entries[(next() % 200_000) as usize].0;
            let flips: Vec<usize> = (0..(i % 41)).map(|_| (next() % 256) as usize).collect();
            let q = if i % 2 == 0 {
                near(&base, &flips)
            } else {
                Hash256::from_words([next(), next(), next(), next()])
            };
            for r in [0, 31, 32, 64] {
                assert_eq!(index.search(&q, r), brute(&entries, &q, r), "query {i} r={r}");
            }
        }
    }
}
