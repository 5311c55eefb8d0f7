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
//! Tables are sorted arrays, not hash maps: a direct index over the top bits of the chunk
//! value (about `log2(n) − 3` bits, so a bucket holds about 8 entries), then one `u32` per
//! entry packing the remaining low bits of its chunk value with its slot number. All values
//! within the threshold that share top bits are found in one scan of their bucket. That is a
//! little over 4 bytes per entry per table. Popcounts run on the CPU's `popcnt` instruction,
//! detected at run time, so a plain release build is fast.
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

mod shared;
mod snapshot;
pub use shared::SharedIndex;
pub use snapshot::SnapshotError;

/// The numbers of chunks (tables) an index may have: chunks of 8 to 32 bits, so that a chunk
/// value is a `u32` and a radius up to 256 leaves each table a threshold of at most 32.
pub const CHUNKS: std::ops::RangeInclusive<u32> = 8..=32;

/// A chunk count outside [`CHUNKS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} chunks is not possible: an index has 8 to 32 chunks (chunks of 8 to 32 bits)")]
pub struct ChunksError(pub u32);

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
///
/// The top bits of a chunk value index `top` directly; each entry then takes one `u32` in
/// `packed`: the remaining low bits of its chunk value above its slot number. A lookup is one
/// read of `top` and a short scan of adjacent `packed` words.
#[derive(Clone, Debug, Default)]
struct Table {
    /// Low bits of the chunk value kept in `packed` (the rest index `top`).
    low_bits: u32,
    /// Bits of the slot number in `packed`.
    slot_bits: u32,
    /// `top[v]..top[v + 1]` is the range of `packed` whose chunk values have top bits `v`.
    top: Vec<u32>,
    /// `low << slot_bits | slot`, sorted by chunk value.
    packed: Vec<u32>,
}

impl Table {
    fn build(chunk: &Chunk, hashes: &[Hash256]) -> Self {
        let n = hashes.len();
        let slot_bits = (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1);
        // About 8 entries per top bucket, so that a lookup scans one cache line or two
        // (measured: fewer top bits save memory, more save little time).
        // At least one top bit, and enough that the low bits and the slot number share a u32
        // (wide chunks of small indexes: `--chunks 8` gives 32-bit chunks).
        let log_n = usize::BITS - n.max(1).leading_zeros();
        let top_bits = log_n
            .saturating_sub(3)
            .max(chunk.width.saturating_sub(32u32.saturating_sub(slot_bits)))
            .clamp(1, chunk.width);
        let low_bits = chunk.width - top_bits;
        assert!(
            slot_bits < 32 && slot_bits + low_bits <= 32,
            "{n} entries: more than an index holds (at most 2^31)"
        );
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
        let mut packed = Vec::with_capacity(n);
        packed.extend(keyed.iter().map(|&(k, slot)| ((k & low_mask) << slot_bits) | slot));
        Table { low_bits, slot_bits, top, packed }
    }

    /// Appends the slots of entries whose chunk value is exactly `key`.
    #[inline]
    fn lookup_into(&self, key: u32, out: &mut Vec<u32>) {
        let low = key & ((1 << self.low_bits) - 1);
        self.scan_into(key >> self.low_bits, low, 0, out);
    }

    /// Appends the slots of entries whose chunk value has top bits `top` and low bits within
    /// distance `t` of `low`: one pass over one bucket instead of a lookup per low value.
    #[inline]
    fn scan_into(&self, top: u32, low: u32, t: u32, out: &mut Vec<u32>) {
        let (a, b) = (self.top[top as usize] as usize, self.top[top as usize + 1] as usize);
        let slot_mask = u32::MAX >> (32 - self.slot_bits);
        for &p in &self.packed[a..b] {
            if ((p >> self.slot_bits) ^ low).count_ones() <= t {
                out.push(p & slot_mask);
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.top.capacity() * 4 + self.packed.capacity() * 4
    }
}

/// Per-thread scratch space for searches.
#[derive(Default)]
struct Scratch {
    /// Probe keys: top-bits value << 8 | threshold left for the low bits.
    keys: Vec<u64>,
    slots: Vec<u32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Calls `f(value, distance)` with every `width`-bit value within Hamming distance `t` of `key`.
fn for_each_neighbour(key: u32, width: u32, t: u32, f: &mut impl FnMut(u32, u32)) {
    fn rec(key: u32, from: u32, width: u32, used: u32, left: u32, f: &mut impl FnMut(u32, u32)) {
        f(key, used);
        if left == 0 {
            return;
        }
        for b in from..width {
            rec(key ^ (1 << b), b + 1, width, used + 1, left - 1, f);
        }
    }
    rec(key, 0, width, 0, t.min(width), f);
}

/// Chooses the number of chunks for `n` entries (measured with `spoor bench index`).
///
/// Small indexes fit in cache, where candidates are cheap to check and probes are what
/// counts: 16 chunks of 16 bits, one flip each at radius 31. Large ones are bound by cache
/// misses on candidates: 11 chunks of 23–24 bits, so that few probes find anything.
fn chunk_count(n: usize) -> u32 {
    if n < 1 << 19 {
        16
    } else {
        11
    }
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
pub(crate) struct Tombstones {
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

/// Entry ids by slot, four bytes each while they all fit.
#[derive(Clone, Debug)]
enum Ids {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Narrow(Vec::new())
    }
}

impl Ids {
    fn from_vec(ids: Vec<u64>) -> Self {
        if ids.iter().all(|&id| id <= u64::from(u32::MAX)) {
            // A fresh allocation: collecting in place would keep the u64 buffer's size.
            let mut narrow = Vec::with_capacity(ids.len());
            narrow.extend(ids.iter().map(|&id| id as u32));
            Ids::Narrow(narrow)
        } else {
            Ids::Wide(ids)
        }
    }

    #[inline]
    fn get(&self, slot: usize) -> u64 {
        match self {
            Ids::Narrow(v) => u64::from(v[slot]),
            Ids::Wide(v) => v[slot],
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Ids::Narrow(v) => v.capacity() * 4,
            Ids::Wide(v) => v.capacity() * 8,
        }
    }
}

/// An exact Hamming-radius index of 256-bit hashes with `u64` ids.
#[derive(Clone, Debug, Default)]
pub struct PdqIndex {
    chunks: Vec<Chunk>,
    tables: Vec<Table>,
    /// Main part: hashes and ids by slot; `tables` index these.
    hashes: Vec<Hash256>,
    ids: Ids,
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

    /// Builds an index over `entries`, building tables on up to `threads` threads.
    pub fn build_parallel(entries: Vec<(Hash256, u64)>, threads: usize) -> Self {
        let (hashes, ids): (Vec<Hash256>, Vec<u64>) = entries.into_iter().unzip();
        Self::from_parts_parallel(hashes, ids, threads)
    }

    /// Builds an index with `chunks` tables ([`CHUNKS`]) instead of the automatic choice, for
    /// tuning and benchmarks.
    pub fn build_with_chunks(
        entries: Vec<(Hash256, u64)>,
        chunks: u32,
        threads: usize,
    ) -> Result<Self, ChunksError> {
        if !CHUNKS.contains(&chunks) {
            return Err(ChunksError(chunks));
        }
        let (hashes, ids): (Vec<Hash256>, Vec<u64>) = entries.into_iter().unzip();
        Ok(Self::build_chunked(hashes, ids, chunks, threads))
    }

    fn from_parts(hashes: Vec<Hash256>, ids: Vec<u64>) -> Self {
        Self::from_parts_parallel(hashes, ids, 1)
    }

    fn from_parts_parallel(hashes: Vec<Hash256>, ids: Vec<u64>, threads: usize) -> Self {
        let m = chunk_count(hashes.len());
        Self::build_chunked(hashes, ids, m, threads)
    }

    fn build_chunked(hashes: Vec<Hash256>, ids: Vec<u64>, m: u32, threads: usize) -> Self {
        let chunks = chunks(m);
        let threads = threads.clamp(1, chunks.len());
        let tables = if threads == 1 {
            chunks.iter().map(|c| Table::build(c, &hashes)).collect()
        } else {
            // Tables are independent: deal them out to the threads round-robin.
            let mut built: Vec<Option<Table>> = (0..chunks.len()).map(|_| None).collect();
            let hashes = &hashes;
            let chunks = &chunks;
            std::thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|w| {
                        s.spawn(move || {
                            (w..chunks.len())
                                .step_by(threads)
                                .map(|i| (i, Table::build(&chunks[i], hashes)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for w in workers {
                    for (i, t) in w.join().expect("table builder panicked") {
                        built[i] = Some(t);
                    }
                }
            });
            built.into_iter().map(|t| t.expect("every table built")).collect()
        };
        PdqIndex { chunks, tables, hashes, ids: Ids::from_vec(ids), ..Self::default() }
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
    /// Folds the delta in when it has grown past 1/32 of the main part (see
    /// [`SharedIndex`] for an index that folds without stopping readers).
    pub fn insert(&mut self, hash: Hash256, id: u64) {
        self.insert_unfolded(hash, id);
        if self.wants_fold() {
            self.rebuild();
        }
    }

    /// Adds an entry to the delta without ever folding it in.
    fn insert_unfolded(&mut self, hash: Hash256, id: u64) {
        self.delta_hashes.push(hash);
        self.delta_ids.push(id);
    }

    /// Whether the delta (or the removed entries) have grown enough that searches would be
    /// faster after a [`PdqIndex::rebuild`].
    pub fn wants_fold(&self) -> bool {
        let limit = 4096.max(self.hashes.len() / 32);
        self.delta_hashes.len() > limit || self.dead.count > limit.max(self.hashes.len() / 4)
    }

    /// Every live entry, main part then delta.
    fn live_entries(&self) -> (Vec<Hash256>, Vec<u64>) {
        let mut hashes = Vec::with_capacity(self.len());
        let mut ids = Vec::with_capacity(self.len());
        for (slot, h) in self.hashes.iter().enumerate() {
            if !self.dead.is_dead(slot) {
                hashes.push(*h);
                ids.push(self.ids.get(slot));
            }
        }
        for (slot, (h, &id)) in self.delta_hashes.iter().zip(&self.delta_ids).enumerate() {
            if !self.delta_dead.is_dead(slot) {
                hashes.push(*h);
                ids.push(id);
            }
        }
        (hashes, ids)
    }

    /// Removes the entry with this hash and id; returns whether one was live. It is not found
    /// by the next search.
    pub fn remove(&mut self, hash: &Hash256, id: u64) -> bool {
        let mut removed = false;
        for slot in self.exact_slots(hash) {
            if self.ids.get(slot) == id {
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
        let mut slots = Vec::new();
        table.lookup_into(chunk.value(hash), &mut slots);
        slots.into_iter().map(|s| s as usize).filter(|&s| &self.hashes[s] == hash).collect()
    }

    /// Folds the delta into the tables and drops removed entries.
    pub fn rebuild(&mut self) {
        let (hashes, ids) = self.live_entries();
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
        // No distance exceeds 256; larger radii would only overflow the probe thresholds.
        let radius = radius.min(256);
        let m = self.chunks.len() as u32;
        if m > 0 {
            SCRATCH.with(|s| self.search_tables_dispatch(query, radius, hits, &mut s.borrow_mut()));
        }
        for (slot, (h, &id)) in self.delta_hashes.iter().zip(&self.delta_ids).enumerate() {
            let d = h.distance(query);
            if d <= radius && !self.delta_dead.is_dead(slot) {
                hits.push(Hit { distance: d, id });
            }
        }
    }

    /// Runs the table search compiled for the best popcount this CPU has: a plain release
    /// build targets baseline x86-64, whose `count_ones` is a dozen instructions.
    fn search_tables_dispatch(
        &self,
        query: &Hash256,
        radius: u32,
        hits: &mut Vec<Hit>,
        scratch: &mut Scratch,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            #[allow(unsafe_code)]
            // SAFETY: `search_tables_popcnt` only requires that the CPU supports `popcnt`,
            // which was checked on the line above; it is otherwise an ordinary safe function.
            unsafe {
                return self.search_tables_popcnt(query, radius, hits, scratch);
            }
        }
        self.search_tables(query, radius, hits, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    #[allow(unsafe_code)]
    unsafe fn search_tables_popcnt(
        &self,
        query: &Hash256,
        radius: u32,
        hits: &mut Vec<Hit>,
        scratch: &mut Scratch,
    ) {
        self.search_tables(query, radius, hits, scratch)
    }

    #[inline(always)]
    fn search_tables(
        &self,
        query: &Hash256,
        radius: u32,
        hits: &mut Vec<Hit>,
        scratch: &mut Scratch,
    ) {
        let limits: Vec<Option<u32>> = thresholds(radius, self.chunks.len() as u32).collect();
        for (i, ((chunk, table), limit)) in
            self.chunks.iter().zip(&self.tables).zip(&limits).enumerate()
        {
            let Some(t) = *limit else { continue };
            // In phases, so that the memory reads of different probes overlap instead of
            // waiting on each other: all keys, then all table lookups, then all candidates.
            // Values within `t` of the query's chunk value: for each top-bits value within `t`
            // of the query's top bits, at distance `d`, one scan of its bucket for low bits
            // within `t - d`.
            let q = chunk.value(query);
            let (q_top, q_low) = (q >> table.low_bits, q & ((1 << table.low_bits) - 1));
            scratch.keys.clear();
            let top_width = chunk.width - table.low_bits;
            for_each_neighbour(q_top, top_width, t, &mut |k, d| {
                scratch.keys.push(u64::from(k) << 8 | u64::from(t - d))
            });
            scratch.slots.clear();
            for &k in &scratch.keys {
                table.scan_into((k >> 8) as u32, q_low, (k & 0xff) as u32, &mut scratch.slots);
            }
            for &slot in &scratch.slots {
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
                    hits.push(Hit { distance: d, id: self.ids.get(slot) });
                }
            }
        }
    }

    /// Sizes, for monitoring and benchmarks.
    pub fn stats(&self) -> Stats {
        let heap_bytes = self.hashes.capacity() * 32
            + self.ids.heap_bytes()
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
    fn every_chunk_count_equals_brute_force_at_every_size() {
        // Wide chunks of small indexes once overflowed the packed table words (`--chunks 8`).
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for n in [0usize, 1, 2, 1000, 5000] {
            let entries: Vec<(Hash256, u64)> = (0..n as u64)
                .map(|i| (Hash256::from_words([next(), next(), next(), next()]), i))
                .collect();
            for m in [8, 9, 11, 16, 31, 32] {
                let index = PdqIndex::build_with_chunks(entries.clone(), m, 2).unwrap();
                assert_eq!(index.stats().chunks, m as usize);
                for i in 0..8 {
                    let q = if n > 0 && i % 2 == 0 {
                        let flips: Vec<usize> =
                            (0..i * 5).map(|_| (next() % 256) as usize).collect();
                        near(&entries[(next() % n as u64) as usize].0, &flips)
                    } else {
                        Hash256::from_words([next(), next(), next(), next()])
                    };
                    for r in [0, 1, 31, 64] {
                        assert_eq!(
                            index.search(&q, r),
                            brute(&entries, &q, r),
                            "n={n} m={m} r={r}"
                        );
                    }
                }
            }
        }
        for m in [0, 1, 7, 33, 256, u32::MAX] {
            assert_eq!(
                PdqIndex::build_with_chunks(Vec::new(), m, 1).map(|_| ()),
                Err(ChunksError(m))
            );
        }
    }

    #[test]
    fn radii_beyond_256_find_everything() {
        let entries: Vec<(Hash256, u64)> =
            (0..300u64).map(|i| (Hash256::from_words([i, !i, i * 7, i << 9]), i)).collect();
        let index = PdqIndex::build(entries.clone());
        let q = Hash256::from_words([1, 2, 3, 4]);
        for r in [256, 257, 2048, u32::MAX] {
            assert_eq!(index.search(&q, r).len(), 300, "r={r}");
        }
        assert_eq!(index.search(&q, 256), brute(&entries, &q, 256));
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
