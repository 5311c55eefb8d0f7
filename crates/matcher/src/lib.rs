//! Matching: signals in, bank answers out. A [`Matcher`] loads every bank's signals from a
//! [`Store`] into memory (PDQ into the exact Hamming index, digests into hash maps), then follows
//! the store's change log, so an entry added, disabled or deleted through any path matches or
//! stops matching as soon as the follower has polled (every 100 ms by default).
//!
//! ```no_run
//! use std::sync::Arc;
//! use spoor_bank::Location;
//! use spoor_matcher::{Matcher, Scope};
//! let store = spoor_bank::open(&Location::DataDir("spoor-data".into())).unwrap();
//! let matcher = Arc::new(Matcher::load(store.into()).unwrap());
//! let h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse().unwrap();
//! for m in matcher.match_pdq(&h, &Scope::All) {
//!     println!("{} entry {} at distance {}", m.bank, m.entry_id, m.distance);
//! }
//! ```
//!
//! Invariants: the in-memory state is always the store's state as of some sequence number `N`
//! (every change ≤ `N` applied, none after); applying a change twice is harmless; a disabled or
//! paused bank's entries never appear in a result.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use spoor_bank::{Action, BankError, Category, Store};
use spoor_core::{vpdq, Hash256, SignalType};
use spoor_index::{PdqIndex, SharedIndex};

/// vPDQ matching thresholds (python-threatexchange's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqThresholds {
    /// Frames below this quality are ignored (query and banked).
    pub quality: u8,
    /// Two frames match within this distance (inclusive).
    pub distance: u32,
    /// Percent of the query's frames that must match.
    pub query_match: f64,
    /// Percent of the banked video's frames that must match.
    pub compared_match: f64,
}

impl Default for VpdqThresholds {
    fn default() -> Self {
        VpdqThresholds { quality: 50, distance: 31, query_match: 80.0, compared_match: 0.0 }
    }
}

/// Banked videos' frames: distinct hashes of quality ≥ 50 (the default threshold), at most
/// 2^17 of them.
fn video_frames(value: &[u8]) -> Option<Vec<Hash256>> {
    let text = std::str::from_utf8(value).ok()?;
    let frames = vpdq::parse(text).ok()?;
    let mut v = vpdq::distinct_frames(&frames, 50);
    v.truncate(1 << vpdq::FRAME_BITS);
    Some(v)
}

fn frame_id(entry: i64, frame: usize) -> u64 {
    vpdq::frame_id(entry as u64, frame)
}

/// Largest PDQ radius a bank may ask for: beyond it matches are noise, and searches slow down.
pub const MAX_RADIUS: u32 = 64;

/// One match of a query signal against a banked entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Match {
    /// The bank's name.
    pub bank: Arc<str>,
    /// The entry's id.
    pub entry_id: i64,
    /// Distance to the query (0 for exact signal types).
    pub distance: u32,
    /// The entry's classification.
    pub category: Option<Category>,
    /// Whether the bank asks for human review before action.
    pub review_required: bool,
}

/// Which banks a query may match.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every enabled bank.
    All,
    /// Only these (by name).
    Banks(HashSet<String>),
}

impl Scope {
    fn allows(&self, bank: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Banks(b) => b.contains(bank),
        }
    }
}

#[derive(Debug, Clone)]
struct BankInfo {
    name: Arc<str>,
    enabled: bool,
    radius: u32,
    review_required: bool,
}

/// Per entry: bank id (bits 0–27), category (28–29: 0 none, 1 baseline, 2 national,
/// 3 not_illegal), live in a matching structure (31).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Meta(u32);

const LIVE: u32 = 1 << 31;
const BANK_MASK: u32 = (1 << 28) - 1;

impl Meta {
    fn new(bank_id: i64, category: Option<Category>) -> Self {
        let c = match category {
            None => 0,
            Some(Category::Baseline) => 1,
            Some(Category::National) => 2,
            Some(Category::NotIllegal) => 3,
        };
        Meta((bank_id as u32 & BANK_MASK) | (c << 28))
    }
    fn bank_id(self) -> i64 {
        i64::from(self.0 & BANK_MASK)
    }
    fn category(self) -> Option<Category> {
        match (self.0 >> 28) & 3 {
            1 => Some(Category::Baseline),
            2 => Some(Category::National),
            3 => Some(Category::NotIllegal),
            _ => None,
        }
    }
    fn live(self) -> bool {
        self.0 & LIVE != 0
    }
}

/// Entry metadata by id: a dense vector for the store's dense ids, a map for any beyond.
#[derive(Default)]
struct MetaTable {
    dense: Vec<Meta>,
    sparse: HashMap<i64, Meta>,
}

const DENSE_LIMIT: i64 = 1 << 30;

impl MetaTable {
    fn get(&self, id: i64) -> Meta {
        if (0..DENSE_LIMIT).contains(&id) {
            self.dense.get(id as usize).copied().unwrap_or_default()
        } else {
            self.sparse.get(&id).copied().unwrap_or_default()
        }
    }
    fn set(&mut self, id: i64, m: Meta) {
        if (0..DENSE_LIMIT).contains(&id) {
            let i = id as usize;
            if i >= self.dense.len() {
                self.dense.resize(i + 1, Meta::default());
            }
            self.dense[i] = m;
        } else {
            self.sparse.insert(id, m);
        }
    }
}

/// One vPDQ match: how much of each video the other covers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoMatch {
    /// The bank.
    pub bank: Arc<str>,
    /// The entry.
    pub entry_id: i64,
    /// Percent of the query's frames near a frame of the entry.
    pub query_match: f64,
    /// Percent of the entry's frames near a frame of the query.
    pub compared_match: f64,
    /// The entry's category.
    pub category: Option<Category>,
    /// Whether the bank asks for review.
    pub review_required: bool,
}

#[derive(Default)]
struct State {
    banks: HashMap<i64, BankInfo>,
    meta: MetaTable,
    /// Exact signals: (type, value) → entry ids.
    exact: HashMap<(SignalType, Box<[u8]>), Vec<i64>>,
    live_pdq: u64,
    live_exact: u64,
    /// vPDQ entries: their distinct good-quality frames, as indexed.
    videos: HashMap<i64, Vec<Hash256>>,
}

/// Counts, for `/metrics` and logs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct MatcherStats {
    /// The store sequence number the state reflects.
    pub seq: i64,
    /// PDQ entries matching.
    pub pdq_entries: u64,
    /// MD5/SHA entries matching.
    pub exact_entries: u64,
    /// Banks known.
    pub banks: u64,
    /// Changes applied since start.
    pub changes_applied: u64,
    /// vPDQ entries matching.
    pub video_entries: u64,
}

/// The in-memory matching state of every bank, following a store.
pub struct Matcher {
    store: Arc<dyn Store>,
    pdq: SharedIndex,
    /// Frames of vPDQ entries; id = entry id << 17 | frame number among the entry's frames.
    video_frames: SharedIndex,
    state: RwLock<State>,
    seq: AtomicI64,
    applied: AtomicU64,
    max_radius: std::sync::atomic::AtomicU32,
    /// When the change log was last read successfully (by `load` or `catch_up`).
    last_read: std::sync::Mutex<Instant>,
}

impl Matcher {
    /// Loads every bank's signals from `store`, then everything changed meanwhile.
    pub fn load(store: Arc<dyn Store>) -> Result<Self, BankError> {
        let started = Instant::now();
        // The sequence number is read before the scan: a change committed during the scan is
        // then applied again by the first catch-up, which is harmless.
        let seq = store.last_seq()?;
        let mut state = State::default();
        let mut pdq_entries = Vec::new();
        let mut video_entries = Vec::new();
        let mut after = 0;
        loop {
            let rows = store.signals(after, 100_000)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for r in rows {
                let mut meta = Meta::new(r.bank_id, r.category);
                if r.enabled {
                    match r.signal_type {
                        SignalType::Pdq => {
                            if let Ok(b) = <[u8; 32]>::try_from(r.value.as_slice()) {
                                pdq_entries.push((Hash256::from_bytes(b), r.id as u64));
                                meta.0 |= LIVE;
                                state.live_pdq += 1;
                            }
                        }
                        SignalType::Vpdq => {
                            if let Some(frames) = video_frames(&r.value) {
                                for (i, h) in frames.iter().enumerate() {
                                    video_entries.push((*h, frame_id(r.id, i)));
                                }
                                state.videos.insert(r.id, frames);
                                meta.0 |= LIVE;
                            }
                        }
                        SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => {
                            state
                                .exact
                                .entry((r.signal_type, r.value.into_boxed_slice()))
                                .or_default()
                                .push(r.id);
                            meta.0 |= LIVE;
                            state.live_exact += 1;
                        }
                        _ => {}
                    }
                }
                state.meta.set(r.id, meta);
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let index = PdqIndex::build_parallel(pdq_entries, threads);
        let matcher = Matcher {
            store,
            pdq: SharedIndex::new(index),
            video_frames: SharedIndex::new(PdqIndex::build_parallel(video_entries, threads)),
            state: RwLock::new(state),
            seq: AtomicI64::new(seq),
            applied: AtomicU64::new(0),
            max_radius: std::sync::atomic::AtomicU32::new(31),
            last_read: std::sync::Mutex::new(Instant::now()),
        };
        matcher.reload_banks()?;
        matcher.catch_up()?;
        tracing::info!(
            pdq = matcher.pdq.len(),
            seconds = started.elapsed().as_secs_f64(),
            "matcher loaded"
        );
        Ok(matcher)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn reload_banks(&self) -> Result<(), BankError> {
        let banks = self.store.banks()?;
        let mut max = 0;
        let infos: HashMap<i64, BankInfo> = banks
            .into_iter()
            .map(|b| {
                let radius = b.pdq_radius.min(MAX_RADIUS);
                if b.enabled {
                    max = max.max(radius);
                }
                let info = BankInfo {
                    name: b.name.into(),
                    enabled: b.enabled,
                    radius,
                    review_required: b.review_required,
                };
                (b.id, info)
            })
            .collect();
        self.write().banks = infos;
        self.max_radius.store(max, Ordering::Relaxed);
        Ok(())
    }

    /// Applies every change since the last call; returns how many.
    pub fn catch_up(&self) -> Result<usize, BankError> {
        let mut total = 0;
        loop {
            let since = self.seq.load(Ordering::Acquire);
            let deltas = self.store.deltas(since, 10_000)?;
            *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            let Some(last) = deltas.last().map(|d| d.seq) else { break };
            let mut banks_changed = false;
            {
                let mut state = self.write();
                for d in &deltas {
                    if matches!(d.action, Action::CreateBank | Action::UpdateBank) {
                        banks_changed = true;
                        continue;
                    }
                    let (Some(id), Some((t, v))) = (d.entry_id, d.signal.as_ref()) else {
                        continue;
                    };
                    self.apply(&mut state, id, d.bank_id, *t, v, d.enabled, d.category);
                }
            }
            if banks_changed {
                self.reload_banks()?;
            }
            self.seq.store(last, Ordering::Release);
            self.applied.fetch_add(deltas.len() as u64, Ordering::Relaxed);
            total += deltas.len();
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.pdq.wants_fold() {
            self.pdq.fold(threads);
        }
        if self.video_frames.wants_fold() {
            self.video_frames.fold(threads);
        }
        Ok(total)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        state: &mut State,
        id: i64,
        bank_id: i64,
        t: SignalType,
        v: &[u8],
        enabled: bool,
        category: Option<Category>,
    ) {
        let old = state.meta.get(id);
        let mut meta = Meta::new(bank_id, category);
        match t {
            SignalType::Pdq => {
                let Ok(b) = <[u8; 32]>::try_from(v) else { return };
                let h = Hash256::from_bytes(b);
                if enabled && !old.live() {
                    self.pdq.insert(h, id as u64);
                    state.live_pdq += 1;
                } else if !enabled && old.live() {
                    self.pdq.remove(&h, id as u64);
                    state.live_pdq -= 1;
                }
            }
            SignalType::Vpdq => {
                if enabled && !old.live() {
                    let Some(frames) = video_frames(v) else { return };
                    for (i, h) in frames.iter().enumerate() {
                        self.video_frames.insert(*h, frame_id(id, i));
                    }
                    state.videos.insert(id, frames);
                } else if !enabled && old.live() {
                    if let Some(frames) = state.videos.remove(&id) {
                        for (i, h) in frames.iter().enumerate() {
                            self.video_frames.remove(h, frame_id(id, i));
                        }
                    }
                }
            }
            SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => {
                let key = (t, Box::<[u8]>::from(v));
                if enabled && !old.live() {
                    state.exact.entry(key).or_default().push(id);
                    state.live_exact += 1;
                } else if !enabled && old.live() {
                    if let Some(ids) = state.exact.get_mut(&key) {
                        ids.retain(|&x| x != id);
                        if ids.is_empty() {
                            state.exact.remove(&key);
                        }
                    }
                    state.live_exact -= 1;
                }
            }
            _ => return,
        }
        if enabled {
            meta.0 |= LIVE;
        }
        state.meta.set(id, meta);
    }

    /// Follows the store in a background thread, polling every `interval`, until `stop` is set.
    pub fn follow(
        self: &Arc<Self>,
        interval: Duration,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("spoor-follow".into())
            .spawn(move || {
                let mut failing = false;
                while !stop.load(Ordering::Relaxed) {
                    match me.catch_up() {
                        Ok(n) => {
                            if failing {
                                tracing::info!("following the change log again");
                                failing = false;
                            }
                            if n > 0 {
                                tracing::debug!(changes = n, seq = me.seq(), "applied changes");
                            }
                        }
                        Err(e) => {
                            if !failing {
                                tracing::error!(error = %e, "cannot read the change log; matching goes on with the state as of the last change applied");
                                failing = true;
                            }
                        }
                    }
                    std::thread::sleep(interval);
                }
            })
            .expect("spawn the follower thread")
    }

    /// How long ago the change log was last read successfully: the most the state can lag
    /// behind the store (plus one poll interval). Grows while the store is unreachable.
    pub fn lag(&self) -> Duration {
        self.last_read.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// The store sequence number the state reflects.
    pub fn seq(&self) -> i64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Counts.
    pub fn stats(&self) -> MatcherStats {
        let s = self.read();
        MatcherStats {
            seq: self.seq(),
            pdq_entries: s.live_pdq,
            exact_entries: s.live_exact,
            banks: s.banks.len() as u64,
            changes_applied: self.applied.load(Ordering::Relaxed),
            video_entries: s.videos.len() as u64,
        }
    }

    /// Matches a PDQ hash: every enabled entry within its bank's radius, nearest first.
    pub fn match_pdq(&self, hash: &Hash256, scope: &Scope) -> Vec<Match> {
        let radius = self.max_radius.load(Ordering::Relaxed);
        let mut hits = Vec::new();
        self.pdq.search_into(hash, radius, &mut hits);
        if hits.is_empty() {
            return Vec::new();
        }
        let state = self.read();
        let mut out: Vec<Match> = hits
            .into_iter()
            .filter_map(|hit| {
                let id = hit.id as i64;
                let meta = state.meta.get(id);
                let bank = state.banks.get(&meta.bank_id())?;
                (bank.enabled && hit.distance <= bank.radius && scope.allows(&bank.name)).then(
                    || Match {
                        bank: bank.name.clone(),
                        entry_id: id,
                        distance: hit.distance,
                        category: meta.category(),
                        review_required: bank.review_required,
                    },
                )
            })
            .collect();
        out.sort_by_key(|m| (m.distance, m.entry_id));
        out
    }

    /// Matches a video's vPDQ frames against every banked video, through the frame index: the
    /// query's distinct good frames are looked up within `thresholds.distance`, and each banked
    /// video that reaches both shares is a match (python-threatexchange's rules).
    pub fn match_vpdq(
        &self,
        frames: &[spoor_core::vpdq::VpdqFrame],
        thresholds: &VpdqThresholds,
        scope: &Scope,
    ) -> Vec<VideoMatch> {
        let query = vpdq::distinct_frames(frames, thresholds.quality);
        if query.is_empty() {
            return Vec::new();
        }
        let mut hits = Vec::new();
        let found = vpdq::frame_hits(&query, |q, ids| {
            hits.clear();
            self.video_frames.search_into(q, thresholds.distance, &mut hits);
            ids.extend(hits.iter().map(|h| h.id));
        });
        let state = self.read();
        let mut out: Vec<VideoMatch> = found
            .into_iter()
            .filter_map(|(entry, (query_found, entry_found))| {
                let entry_id = entry as i64;
                let meta = state.meta.get(entry_id);
                let bank = state.banks.get(&meta.bank_id())?;
                let total = state.videos.get(&entry_id)?.len();
                if !bank.enabled || !scope.allows(&bank.name) || total == 0 {
                    return None;
                }
                let query_match = query_found as f64 * 100.0 / query.len() as f64;
                let compared_match = entry_found as f64 * 100.0 / total as f64;
                (query_match >= thresholds.query_match
                    && compared_match >= thresholds.compared_match)
                    .then(|| VideoMatch {
                        bank: bank.name.clone(),
                        entry_id,
                        query_match,
                        compared_match,
                        category: meta.category(),
                        review_required: bank.review_required,
                    })
            })
            .collect();
        out.sort_by(|a, b| {
            b.query_match.total_cmp(&a.query_match).then(a.entry_id.cmp(&b.entry_id))
        });
        out
    }

    /// Matches any signal: PDQ by distance, digests exactly. Other types match nothing (yet).
    pub fn match_signal(&self, t: SignalType, value: &[u8], scope: &Scope) -> Vec<Match> {
        match t {
            SignalType::Pdq => match <[u8; 32]>::try_from(value) {
                Ok(b) => self.match_pdq(&Hash256::from_bytes(b), scope),
                Err(_) => Vec::new(),
            },
            SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => {
                let state = self.read();
                let Some(ids) = state.exact.get(&(t, Box::<[u8]>::from(value))) else {
                    return Vec::new();
                };
                let mut out: Vec<Match> = ids
                    .iter()
                    .filter_map(|&id| {
                        let meta = state.meta.get(id);
                        let bank = state.banks.get(&meta.bank_id())?;
                        (bank.enabled && scope.allows(&bank.name)).then(|| Match {
                            bank: bank.name.clone(),
                            entry_id: id,
                            distance: 0,
                            category: meta.category(),
                            review_required: bank.review_required,
                        })
                    })
                    .collect();
                out.sort_by_key(|m| m.entry_id);
                out
            }
            _ => Vec::new(),
        }
    }
}
