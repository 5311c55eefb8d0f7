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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use spoor_bank::{Action, BankError, Category, Delta, Store};
use spoor_core::{vpdq, Hash256, SignalType};
use spoor_index::{PdqIndex, SharedIndex};

mod meta;
mod snapshot;

use meta::{IdMap, Kind, Meta, MetaTable};
pub use snapshot::{check_snapshot, SnapshotError, Start};

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
/// 2^17 of them. `None` when the value does not parse or the entry id is too large to number
/// its frames.
fn video_frames(id: i64, value: &[u8]) -> Option<Vec<Hash256>> {
    if !(0..=MAX_VIDEO_ID).contains(&id) {
        tracing::warn!(
            entry = id,
            "entry id too large to index its video frames; entry not matched"
        );
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let frames = vpdq::parse(text).ok()?;
    let mut v = vpdq::distinct_frames(&frames, 50);
    v.truncate(1 << vpdq::FRAME_BITS);
    Some(v)
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

/// Live entries of one bank, as the matcher holds them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BankCounts {
    /// The bank.
    pub bank: Arc<str>,
    /// Whether the bank is matching (not paused).
    pub enabled: bool,
    /// Live PDQ entries.
    pub pdq: u64,
    /// Live MD5, SHA-1 and SHA-256 entries.
    pub exact: u64,
    /// Live vPDQ entries.
    pub video: u64,
}

#[derive(Debug, Clone)]
struct BankInfo {
    name: Arc<str>,
    enabled: bool,
    radius: u32,
    review_required: bool,
    hma_enabled_ratio: f64,
}

/// What searches read besides the indexes. A live entry has metadata in `meta`; the structure
/// its kind names holds it (`exact` for digests, `videos` and the frame index for vPDQ, the PDQ
/// index for PDQ). `videos` holds an id exactly when `meta` holds it with the video kind.
#[derive(Default)]
struct State {
    banks: HashMap<i64, BankInfo>,
    meta: MetaTable,
    /// Exact signals: (type, value) → live entry ids.
    exact: HashMap<(SignalType, Box<[u8]>), Vec<i64>>,
    /// vPDQ entries: their distinct good-quality frames, as indexed.
    videos: IdMap<i64, Vec<Hash256>>,
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
    /// Times the follower panicked and was restarted.
    pub follower_restarts: u64,
    /// Heap bytes of the per-entry metadata table.
    pub meta_bytes: u64,
}

/// Changes read from the store at a time.
const BATCH: usize = 10_000;

/// The in-memory matching state of every bank, following a store.
///
/// Concurrency: searches take no lock that a batch of changes holds. Each change is applied on
/// its own, taking the state's write lock for the time of a few map operations; the PDQ and
/// frame indexes have their own short locks. The order of each change's steps makes a racing
/// search safe: an entry going live enters its index before its metadata says live, and an
/// entry going away stops being live before it leaves its index, and every match path drops
/// index hits whose metadata is not live with the right kind.
pub struct Matcher {
    store: Arc<dyn Store>,
    pdq: SharedIndex,
    /// Frames of vPDQ entries; id = entry id << 17 | frame number among the entry's frames.
    video_frames: SharedIndex,
    state: RwLock<State>,
    seq: AtomicI64,
    applied: AtomicU64,
    max_radius: AtomicU32,
    /// When the change log was last read successfully (by `load` or `catch_up`).
    last_read: Mutex<Instant>,
    /// Held by whoever applies changes or writes a snapshot (never by searches), with the
    /// change at `seq` once known, which a snapshot records to recognise its store.
    follow: Mutex<Option<snapshot::ChangeMark>>,
    restarts: AtomicU64,
    /// `applied` when the last snapshot was written or loaded.
    applied_at_snapshot: AtomicU64,
}

/// Largest entry id whose video frames can be numbered (`id << 17 | frame` fits 64 bits).
const MAX_VIDEO_ID: i64 = (1 << (64 - vpdq::FRAME_BITS)) - 1;

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
            if last.id <= after {
                break; // a store answering out of order: stop rather than loop
            }
            after = last.id;
            for r in rows {
                if !r.enabled {
                    continue;
                }
                let Some(kind) = kind_of(r.signal_type) else { continue };
                let Some(meta) = Meta::new(r.bank_id, r.category, kind) else {
                    tracing::warn!(
                        entry = r.id,
                        bank = r.bank_id,
                        "bank id out of range; entry not matched"
                    );
                    continue;
                };
                match kind {
                    Kind::Pdq => {
                        let (Ok(b), Ok(key)) =
                            (<[u8; 32]>::try_from(r.value.as_slice()), u64::try_from(r.id))
                        else {
                            continue;
                        };
                        pdq_entries.push((Hash256::from_bytes(b), key));
                    }
                    Kind::Video => {
                        let Some(frames) = video_frames(r.id, &r.value) else { continue };
                        for (i, h) in frames.iter().enumerate() {
                            video_entries.push((*h, vpdq::frame_id(r.id as u64, i)));
                        }
                        state.videos.insert(r.id, frames);
                    }
                    Kind::Exact => {
                        let ids = state
                            .exact
                            .entry((r.signal_type, r.value.into_boxed_slice()))
                            .or_default();
                        if !ids.contains(&r.id) {
                            ids.push(r.id);
                        }
                    }
                }
                if let Some(old) = state.meta.insert(r.id, meta) {
                    // Rows come by id, each once; a repeat would be a store fault. Keep the
                    // structures consistent with the table all the same.
                    tracing::warn!(entry = r.id, kind = ?old.kind(), "entry listed twice by the store");
                }
            }
        }
        let threads = threads();
        let matcher = Matcher::assemble(
            store,
            PdqIndex::build_parallel(pdq_entries, threads),
            PdqIndex::build_parallel(video_entries, threads),
            state,
            seq,
        );
        matcher.reload_banks()?;
        matcher.catch_up()?;
        tracing::info!(
            pdq = matcher.pdq.len(),
            seconds = started.elapsed().as_secs_f64(),
            "matcher loaded from the store"
        );
        Ok(matcher)
    }

    fn assemble(
        store: Arc<dyn Store>,
        pdq: PdqIndex,
        video_frames: PdqIndex,
        state: State,
        seq: i64,
    ) -> Self {
        Matcher {
            store,
            pdq: SharedIndex::new(pdq),
            video_frames: SharedIndex::new(video_frames),
            state: RwLock::new(state),
            seq: AtomicI64::new(seq),
            applied: AtomicU64::new(0),
            max_radius: AtomicU32::new(31),
            last_read: Mutex::new(Instant::now()),
            follow: Mutex::new(None),
            restarts: AtomicU64::new(0),
            applied_at_snapshot: AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Every change to the state is a few map operations that leave it consistent after
        // each one, so a lock poisoned by a panic elsewhere is still safe to use.
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
                    hma_enabled_ratio: b.hma_enabled_ratio,
                };
                (b.id, info)
            })
            .collect();
        self.write().banks = infos;
        self.max_radius.store(max, Ordering::Release);
        Ok(())
    }

    /// Applies every change since the last call, one at a time (searches go on between any
    /// two); returns how many. On an error the changes applied so far stay applied and
    /// [`Matcher::seq`] names the last of them, so the next call resumes after it.
    pub fn catch_up(&self) -> Result<usize, BankError> {
        let mut mark = self.follow.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0;
        loop {
            let since = self.seq();
            let deltas = self.store.deltas(since, BATCH)?;
            *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            let mut progressed = false;
            for d in &deltas {
                if d.seq <= self.seq() {
                    continue; // not after what is applied: a store fault, never applied twice
                }
                self.apply(d)?;
                *mark = Some(snapshot::ChangeMark::of(d));
                self.seq.store(d.seq, Ordering::Release);
                self.applied.fetch_add(1, Ordering::Relaxed);
                total += 1;
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let threads = threads();
        if self.pdq.wants_fold() {
            self.pdq.fold(threads);
        }
        if self.video_frames.wants_fold() {
            self.video_frames.fold(threads);
        }
        Ok(total)
    }

    /// Applies one change: a pure function of the change (the entry's bank, signal, enabled
    /// state and category as the change gives them), so applying it again changes nothing.
    fn apply(&self, d: &Delta) -> Result<(), BankError> {
        if matches!(d.action, Action::CreateBank | Action::UpdateBank) {
            return self.reload_banks();
        }
        let (Some(id), Some((t, v))) = (d.entry_id, d.signal.as_ref()) else {
            return Ok(());
        };
        let live = d.enabled && d.action != Action::Delete;
        self.set_entry(id, d.bank_id, *t, v, live, d.category);
        Ok(())
    }

    /// Makes entry `id` live with this signal, bank and category, or not live.
    fn set_entry(
        &self,
        id: i64,
        bank_id: i64,
        t: SignalType,
        v: &[u8],
        live: bool,
        category: Option<Category>,
    ) {
        let kind = kind_of(t);
        // What the entry becomes, with what its structure needs; `None`: not live.
        let target = match kind {
            Some(kind) if live => match Meta::new(bank_id, category, kind) {
                Some(meta) => Target::of(kind, id, v).map(|data| (meta, data)),
                None => {
                    tracing::warn!(
                        entry = id,
                        bank = bank_id,
                        "bank id out of range; entry not matched"
                    );
                    None
                }
            },
            _ => None,
        };
        let current = self.read().meta.get(id);
        let Some((meta, data)) = target else {
            // Not live first, then out of the indexes: a search still finding it drops it.
            let mut s = self.write();
            s.meta.remove(id);
            let frames = s.videos.remove(&id);
            if kind == Some(Kind::Exact) {
                remove_exact(&mut s.exact, t, v, id);
            }
            drop(s);
            if let Some(frames) = frames {
                for (i, h) in frames.iter().enumerate() {
                    self.video_frames.remove(h, vpdq::frame_id(id as u64, i));
                }
            }
            if kind == Some(Kind::Pdq) {
                // Also when it was not live: that removes what an interrupted earlier
                // application of this change may have left in the index.
                if let (Ok(b), Ok(key)) = (<[u8; 32]>::try_from(v), u64::try_from(id)) {
                    self.pdq.remove(&Hash256::from_bytes(b), key);
                }
            }
            return;
        };
        if current.map(Meta::kind) == Some(meta.kind()) {
            // Already live in its structure: only the bank or category may change.
            self.write().meta.insert(id, meta);
            return;
        }
        // Into the index first, then live: a search finding it before it is live drops it.
        match &data {
            Target::Pdq(h, key) => {
                self.pdq.insert(*h, *key);
            }
            Target::Video(frames) => {
                for (i, h) in frames.iter().enumerate() {
                    self.video_frames.insert(*h, vpdq::frame_id(id as u64, i));
                }
            }
            Target::Exact => {}
        }
        let mut s = self.write();
        let old_frames = match data {
            Target::Video(frames) => s.videos.insert(id, frames),
            Target::Exact => {
                let ids = s.exact.entry((t, Box::from(v))).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
                s.videos.remove(&id)
            }
            Target::Pdq(..) => s.videos.remove(&id),
        };
        s.meta.insert(id, meta);
        drop(s);
        // The entry was live as a video before (an id the store gave another signal): its
        // old frames leave the index. (An old digest or PDQ hash stays in its structure, where
        // the kind check of every match path ignores it.)
        if let Some(frames) = old_frames {
            for (i, h) in frames.iter().enumerate() {
                self.video_frames.remove(h, vpdq::frame_id(id as u64, i));
            }
        }
    }

    /// Follows the store in a background thread, polling every `interval`, until `stop` is set.
    /// The follower is supervised (see [`Matcher::follow_with`]).
    pub fn follow(
        self: &Arc<Self>,
        interval: Duration,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        self.follow_with(FollowOptions { interval, ..FollowOptions::default() }, stop)
    }

    /// Follows the store in a background thread until `stop` is set, as `options` say.
    ///
    /// Supervised: a panic while applying changes is caught, logged with its message, counted
    /// (metric `spoor_follower_restarts_total`, [`MatcherStats::follower_restarts`]), and
    /// following restarts after a back-off (`options.restart_backoff`, doubling up to
    /// [`MAX_RESTART_BACKOFF`]) from the last change applied. With `options.snapshot`, a
    /// snapshot is written every `every_changes` applied changes and when `stop` ends the
    /// thread (join it on shutdown).
    pub fn follow_with(
        self: &Arc<Self>,
        options: FollowOptions,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("spoor-follow".into())
            .spawn(move || me.supervise(&options, &stop))
            .expect("spawn the follower thread")
    }

    fn supervise(&self, options: &FollowOptions, stop: &AtomicBool) {
        // The series exists from the start (at 0), so that an alert on it can be set up.
        metrics::counter!("spoor_follower_restarts_total").increment(0);
        let mut failing = false;
        let mut backoff = options.restart_backoff;
        while !stop.load(Ordering::Relaxed) {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.catch_up())) {
                Ok(Ok(n)) => {
                    backoff = options.restart_backoff;
                    if failing {
                        tracing::info!(seq = self.seq(), "following the change log again");
                        failing = false;
                    }
                    if n > 0 {
                        tracing::debug!(changes = n, seq = self.seq(), "applied changes");
                    }
                    if let Some(policy) = &options.snapshot {
                        if self.snapshot_due(policy.every_changes) {
                            self.write_snapshot_logged(&policy.path);
                        }
                    }
                }
                Ok(Err(e)) => {
                    if !failing {
                        tracing::error!(error = %e, seq = self.seq(), "cannot read the change log; matching goes on with the state as of the last change applied, and the follower retries");
                        failing = true;
                    }
                }
                Err(panic) => {
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("spoor_follower_restarts_total").increment(1);
                    tracing::error!(
                        panic = panic_message(&*panic),
                        seq = self.seq(),
                        restart_in_ms = backoff.as_millis() as u64,
                        "the change-log follower panicked; it restarts from the last change applied (a bug: please report it with this log)"
                    );
                    sleep_unless(stop, backoff);
                    backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
                    continue;
                }
            }
            sleep_unless(stop, options.interval);
        }
        if let Some(policy) = &options.snapshot {
            if policy.on_shutdown {
                self.write_snapshot_logged(&policy.path);
            }
        }
    }

    fn write_snapshot_logged(&self, path: &Path) {
        let started = Instant::now();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write_snapshot(path)))
        {
            Ok(Ok(seq)) => tracing::info!(
                path = %path.display(),
                seq,
                seconds = started.elapsed().as_secs_f64(),
                "matcher snapshot written"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "cannot write the matcher snapshot; the next start loads from the store instead"),
            Err(panic) => tracing::error!(panic = panic_message(&*panic), "writing the matcher snapshot panicked; the next start loads from the store instead"),
        }
    }

    /// Whether at least `every_changes` changes were applied since the last snapshot was
    /// written or loaded (or since start).
    pub fn snapshot_due(&self, every_changes: u64) -> bool {
        let applied = self.applied.load(Ordering::Relaxed);
        applied.saturating_sub(self.applied_at_snapshot.load(Ordering::Relaxed)) >= every_changes
    }

    /// How long ago the change log was last read successfully: the most the state can lag
    /// behind the store (plus one poll interval). Grows while the store is unreachable.
    pub fn lag(&self) -> Duration {
        self.last_read.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// The radius a PDQ search runs at: the largest radius of the enabled banks (at most
    /// [`MAX_RADIUS`]); each hit is then filtered by its own bank's radius.
    pub fn search_radius(&self) -> u32 {
        self.max_radius.load(Ordering::Acquire)
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
            pdq_entries: s.meta.count(Kind::Pdq),
            exact_entries: s.meta.count(Kind::Exact),
            banks: s.banks.len() as u64,
            changes_applied: self.applied.load(Ordering::Relaxed),
            video_entries: s.meta.count(Kind::Video),
            follower_restarts: self.restarts.load(Ordering::Relaxed),
            meta_bytes: s.meta.heap_bytes() as u64,
        }
    }

    /// Live entries of each bank the matcher knows, by kind, by bank name: what it matches
    /// (entries enabled and present, in banks paused or not), read from memory.
    pub fn bank_counts(&self) -> Vec<BankCounts> {
        let s = self.read();
        let mut out: Vec<BankCounts> = s
            .banks
            .iter()
            .map(|(&id, b)| {
                let c = s.meta.bank_counts(id);
                BankCounts {
                    bank: b.name.clone(),
                    enabled: b.enabled,
                    pdq: c[Kind::Pdq as usize],
                    exact: c[Kind::Exact as usize],
                    video: c[Kind::Video as usize],
                }
            })
            .collect();
        out.sort_by(|a, b| a.bank.cmp(&b.bank));
        out
    }

    /// The share of lookups on HMA's routes that consult `bank` (HMA's `matching_enabled_ratio`,
    /// greater than 0 and at most 1), as the matcher holds it; 1 for a bank it does not know.
    pub fn hma_enabled_ratio(&self, bank: &str) -> f64 {
        let s = self.read();
        s.banks.values().find(|b| &*b.name == bank).map_or(1.0, |b| b.hma_enabled_ratio)
    }

    /// The live PDQ entries of one bank within `radius` of `hash` (at most [`MAX_RADIUS`]),
    /// nearest first, whether the bank is paused or not: how a curator finds an entry by a
    /// hash near it. Disabled and deleted entries are not in the index and are not found here.
    pub fn near_in_bank(&self, hash: &Hash256, bank: &str, radius: u32) -> Vec<(i64, u32)> {
        let mut hits = Vec::new();
        self.pdq.search_into(hash, radius.min(MAX_RADIUS), &mut hits);
        let state = self.read();
        let Some(bank_id) = state.banks.iter().find(|(_, b)| &*b.name == bank).map(|(&id, _)| id)
        else {
            return Vec::new();
        };
        let mut out: Vec<(i64, u32)> = hits
            .into_iter()
            .filter_map(|hit| {
                let id = i64::try_from(hit.id).ok()?;
                let meta = state.meta.get(id).filter(|m| m.kind() == Kind::Pdq)?;
                (meta.bank_id() == bank_id).then_some((id, hit.distance))
            })
            .collect();
        drop(state);
        out.sort_unstable();
        out.dedup_by_key(|x| x.0);
        out.sort_unstable_by_key(|&(id, d)| (d, id));
        out
    }

    /// Matches a PDQ hash: every live entry of an enabled bank within its bank's radius,
    /// nearest first, each entry once.
    pub fn match_pdq(&self, hash: &Hash256, scope: &Scope) -> Vec<Match> {
        let radius = self.max_radius.load(Ordering::Acquire);
        let mut hits = Vec::new();
        self.pdq.search_into(hash, radius, &mut hits);
        if hits.is_empty() {
            return Vec::new();
        }
        let state = self.read();
        let mut out: Vec<Match> = hits
            .into_iter()
            .filter_map(|hit| {
                let id = i64::try_from(hit.id).ok()?;
                let meta = state.meta.get(id).filter(|m| m.kind() == Kind::Pdq)?;
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
        drop(state);
        // Each entry once, at its smallest distance.
        out.sort_by_key(|m| (m.entry_id, m.distance));
        out.dedup_by_key(|m| m.entry_id);
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
                let entry_id = i64::try_from(entry).ok()?;
                let meta = state.meta.get(entry_id).filter(|m| m.kind() == Kind::Video)?;
                let bank = state.banks.get(&meta.bank_id())?;
                let total = state.videos.get(&entry_id)?.len();
                if !bank.enabled || !scope.allows(&bank.name) || total == 0 {
                    return None;
                }
                let query_match = query_found as f64 * 100.0 / query.len() as f64;
                let compared_match = entry_found.min(total) as f64 * 100.0 / total as f64;
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
                        let meta = state.meta.get(id).filter(|m| m.kind() == Kind::Exact)?;
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
                out.dedup_by_key(|m| m.entry_id);
                out
            }
            _ => Vec::new(),
        }
    }
}

/// What a live entry's structure needs.
enum Target {
    Pdq(Hash256, u64),
    Exact,
    Video(Vec<Hash256>),
}

impl Target {
    /// `None` when the value cannot be matched (a malformed value, an id out of range).
    fn of(kind: Kind, id: i64, v: &[u8]) -> Option<Self> {
        match kind {
            Kind::Pdq => {
                let b = <[u8; 32]>::try_from(v).ok()?;
                Some(Target::Pdq(Hash256::from_bytes(b), u64::try_from(id).ok()?))
            }
            Kind::Exact => Some(Target::Exact),
            Kind::Video => video_frames(id, v).map(Target::Video),
        }
    }
}

fn remove_exact(
    exact: &mut HashMap<(SignalType, Box<[u8]>), Vec<i64>>,
    t: SignalType,
    v: &[u8],
    id: i64,
) {
    let key = (t, Box::<[u8]>::from(v));
    if let Some(ids) = exact.get_mut(&key) {
        ids.retain(|&x| x != id);
        if ids.is_empty() {
            exact.remove(&key);
        }
    }
}

/// Where a signal type is matched from; `None`: not matched (yet).
fn kind_of(t: SignalType) -> Option<Kind> {
    match t {
        SignalType::Pdq => Some(Kind::Pdq),
        SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => Some(Kind::Exact),
        SignalType::Vpdq => Some(Kind::Video),
        _ => None,
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Longest wait before a panicked follower restarts.
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// How [`Matcher::follow_with`] follows.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Time between polls of the change log.
    pub interval: Duration,
    /// Wait before restarting after a panic (doubling after each one in a row, up to
    /// [`MAX_RESTART_BACKOFF`]).
    pub restart_backoff: Duration,
    /// When to write snapshots, if at all.
    pub snapshot: Option<SnapshotPolicy>,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            interval: Duration::from_millis(100),
            restart_backoff: Duration::from_secs(1),
            snapshot: None,
        }
    }
}

/// When the follower writes a matcher snapshot (see [`Matcher::write_snapshot`]).
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// The snapshot file.
    pub path: PathBuf,
    /// Write one after this many changes were applied since the last.
    pub every_changes: u64,
    /// Write one when the follower stops.
    pub on_shutdown: bool,
}

/// Sleeps for `d`, or until `stop` is set (checked every 20 ms).
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_bank::{Location, NewBank};

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

    /// A matcher over a store holding bank `A` (id returned), with no entries: changes are
    /// then applied by hand.
    fn empty() -> (tempfile::TempDir, Matcher, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            spoor_bank::open(&Location::DataDir(dir.path().into())).unwrap().into();
        let bank = store.create_bank(&NewBank { name: "A".into(), ..Default::default() }, "t");
        let m = Matcher::load(store).unwrap();
        (dir, m, bank.unwrap().id)
    }

    fn delta(
        seq: i64,
        action: Action,
        bank: i64,
        id: i64,
        signal: (SignalType, Vec<u8>),
        enabled: bool,
    ) -> Delta {
        Delta {
            seq,
            action,
            bank_id: bank,
            entry_id: Some(id),
            signal: Some(signal),
            enabled,
            category: Some(Category::National),
        }
    }

    fn pdq(k: u64) -> (SignalType, Vec<u8>) {
        (SignalType::Pdq, h(k).to_bytes().to_vec())
    }

    fn ids(m: &Matcher, k: u64) -> Vec<i64> {
        m.match_pdq(&h(k), &Scope::All).iter().map(|x| x.entry_id).collect()
    }

    /// Every change, applied once or twice, leaves the same state: what the change says.
    #[test]
    fn each_action_applied_once_or_twice_gives_the_state_it_describes() {
        for twice in [false, true] {
            let (_d, m, a) = empty();
            let apply = |d: Delta| {
                m.apply(&d).unwrap();
                if twice {
                    m.apply(&d).unwrap();
                }
            };
            let md5 = (SignalType::Md5, vec![7u8; 16]);
            apply(delta(1, Action::Add, a, 10, pdq(1), true));
            apply(delta(2, Action::Add, a, 11, md5.clone(), true));
            assert_eq!(ids(&m, 1), [10]);
            assert_eq!(m.match_signal(SignalType::Md5, &md5.1, &Scope::All).len(), 1);
            assert_eq!((m.stats().pdq_entries, m.stats().exact_entries), (1, 1));
            // An update changes the category only.
            let mut u = delta(3, Action::Update, a, 10, pdq(1), true);
            u.category = Some(Category::Baseline);
            apply(u);
            assert_eq!(m.match_pdq(&h(1), &Scope::All)[0].category, Some(Category::Baseline));
            assert_eq!(m.pdq.len(), 1, "an update does not index again");
            // Disable, enable, delete; a disable of what is not live changes nothing.
            apply(delta(4, Action::Disable, a, 10, pdq(1), false));
            apply(delta(5, Action::Disable, a, 11, md5.clone(), false));
            assert!(ids(&m, 1).is_empty());
            assert!(m.match_signal(SignalType::Md5, &md5.1, &Scope::All).is_empty());
            assert_eq!((m.stats().pdq_entries, m.stats().exact_entries), (0, 0));
            apply(delta(6, Action::Disable, a, 10, pdq(1), false));
            assert_eq!(m.stats().pdq_entries, 0, "no underflow");
            apply(delta(7, Action::Enable, a, 10, pdq(1), true));
            apply(delta(8, Action::Enable, a, 11, md5.clone(), true));
            assert_eq!(ids(&m, 1), [10]);
            assert_eq!(m.match_signal(SignalType::Md5, &md5.1, &Scope::All).len(), 1);
            apply(delta(9, Action::Delete, a, 10, pdq(1), false));
            apply(delta(10, Action::Delete, a, 11, md5.clone(), false));
            apply(delta(11, Action::Delete, a, 10, pdq(1), false));
            assert!(ids(&m, 1).is_empty());
            assert!(m.match_signal(SignalType::Md5, &md5.1, &Scope::All).is_empty());
            let s = m.stats();
            assert_eq!((s.pdq_entries, s.exact_entries, s.video_entries), (0, 0, 0));
            // Gone from every structure and from the metadata table.
            assert_eq!(m.pdq.len(), 0);
            assert!(m.read().exact.is_empty());
            assert_eq!(m.read().meta.len(), 0);
            assert_eq!(m.read().meta.get(10), None);
        }
    }

    #[test]
    fn near_in_bank_finds_live_pdq_entries_of_that_bank_only_paused_or_not() {
        let (_d, m, a) = empty();
        let b = m
            .store
            .create_bank(&NewBank { name: "B".into(), ..Default::default() }, "t")
            .unwrap()
            .id;
        m.catch_up().unwrap();
        let mut near = h(1);
        for bit in [3, 77, 200] {
            near.flip_bit(bit);
        }
        m.apply(&delta(10, Action::Add, a, 1, pdq(1), true)).unwrap();
        m.apply(&delta(11, Action::Add, a, 2, (SignalType::Pdq, near.to_bytes().to_vec()), true))
            .unwrap();
        m.apply(&delta(12, Action::Add, b, 3, pdq(1), true)).unwrap();
        m.apply(&delta(13, Action::Add, a, 4, (SignalType::Md5, vec![1u8; 16]), true)).unwrap();
        assert_eq!(m.near_in_bank(&h(1), "A", 31), [(1, 0), (2, 3)]);
        assert_eq!(m.near_in_bank(&h(1), "A", 2), [(1, 0)], "the radius holds");
        assert_eq!(m.near_in_bank(&h(1), "B", 31), [(3, 0)]);
        assert!(m.near_in_bank(&h(1), "C", 31).is_empty(), "no such bank");
        m.apply(&delta(14, Action::Disable, a, 1, pdq(1), false)).unwrap();
        assert_eq!(m.near_in_bank(&h(1), "A", 31), [(2, 3)], "disabled entries are not found");
        let counts = m.bank_counts();
        let names: Vec<&str> = counts.iter().map(|c| &*c.bank).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!((counts[0].pdq, counts[0].exact, counts[0].video), (1, 1, 0));
        assert_eq!((counts[1].pdq, counts[1].exact), (1, 0));
    }

    #[test]
    fn an_old_add_replayed_after_a_delete_is_undone_by_the_replayed_delete() {
        // The log replayed from an earlier point (a load that read the sequence number before
        // the scan): add, delete, add again of the same entry, each seen twice.
        let (_d, m, a) = empty();
        for _ in 0..2 {
            for (seq, action, enabled) in [
                (1, Action::Add, true),
                (2, Action::Disable, false),
                (3, Action::Enable, true),
                (4, Action::Delete, false),
            ] {
                m.apply(&delta(seq, action, a, 5, pdq(9), enabled)).unwrap();
            }
            assert!(ids(&m, 9).is_empty());
            assert_eq!(m.stats().pdq_entries, 0);
        }
        m.apply(&delta(5, Action::Add, a, 6, pdq(9), true)).unwrap();
        m.apply(&delta(5, Action::Add, a, 6, pdq(9), true)).unwrap();
        assert_eq!(ids(&m, 9), [6], "each entry once");
        assert_eq!(m.stats().pdq_entries, 1);
    }

    #[test]
    fn an_entry_in_the_index_is_not_returned_unless_its_metadata_says_live() {
        let (_d, m, a) = empty();
        // What a search sees halfway through an add (index first) or a disable (metadata
        // first): the index holds the entry, the metadata does not.
        m.pdq.insert(h(3), 30);
        assert!(ids(&m, 3).is_empty());
        // Metadata of another kind does not make a PDQ hit live either.
        m.apply(&delta(1, Action::Add, a, 30, (SignalType::Md5, vec![1; 16]), true)).unwrap();
        assert!(ids(&m, 3).is_empty());
        m.apply(&delta(2, Action::Add, a, 30, pdq(3), true)).unwrap();
        assert_eq!(ids(&m, 3), [30], "once, although indexed twice");
        assert!(m.match_signal(SignalType::Md5, &[1; 16], &Scope::All).is_empty());
        assert_eq!((m.stats().pdq_entries, m.stats().exact_entries), (1, 0));
        // Videos: frames in the index without metadata match nothing.
        let frames: Vec<vpdq::VpdqFrame> = (0..5)
            .map(|k| vpdq::VpdqFrame { hash: h(100 + k), quality: 90, timestamp: k as f64 })
            .collect();
        for (i, f) in frames.iter().enumerate() {
            m.video_frames.insert(f.hash, vpdq::frame_id(40, i));
        }
        assert!(m.match_vpdq(&frames, &VpdqThresholds::default(), &Scope::All).is_empty());
        let value = SignalType::Vpdq.parse(&vpdq::format(&frames)).unwrap();
        m.apply(&delta(3, Action::Add, a, 41, (SignalType::Vpdq, value.clone()), true)).unwrap();
        let got = m.match_vpdq(&frames, &VpdqThresholds::default(), &Scope::All);
        assert_eq!(got.iter().map(|v| v.entry_id).collect::<Vec<_>>(), [41]);
        m.apply(&delta(4, Action::Delete, a, 41, (SignalType::Vpdq, value), false)).unwrap();
        assert!(m.match_vpdq(&frames, &VpdqThresholds::default(), &Scope::All).is_empty());
        assert_eq!(m.stats().video_entries, 0);
        assert!(m.read().videos.is_empty());
    }

    #[test]
    fn sparse_huge_ids_cost_memory_by_entry_not_by_id() {
        let (_d, m, a) = empty();
        let base = 1i64 << 40;
        for k in 0..2000i64 {
            let id = base + k * (1 << 24);
            m.apply(&delta(k + 1, Action::Add, a, id, pdq(k as u64), true)).unwrap();
        }
        let s = m.stats();
        assert_eq!(s.pdq_entries, 2000);
        assert!(s.meta_bytes < 2000 * 64, "{} bytes of metadata", s.meta_bytes);
        assert_eq!(ids(&m, 1999), [base + 1999 * (1 << 24)]);
        // Ids past what a frame id can carry are refused for videos, not wrapped.
        let frames = [vpdq::VpdqFrame { hash: h(5), quality: 90, timestamp: 0.0 }];
        let value = SignalType::Vpdq.parse(&vpdq::format(&frames)).unwrap();
        m.apply(&delta(9000, Action::Add, a, MAX_VIDEO_ID + 1, (SignalType::Vpdq, value), true))
            .unwrap();
        assert_eq!(m.stats().video_entries, 0);
    }
}
