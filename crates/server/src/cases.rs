//! Cases through the API: intake (`POST /v1/cases`: hash, match, decide how the case starts,
//! hold the content encrypted only when a person must look), reading, API decisions on
//! signals-only cases, the index of decided content ("never view twice") and the job that
//! deletes held content once its case is decided and the grace period has passed.
//!
//! How a case starts, in order: nothing matched and no user flag → no case, nothing stored;
//! the same content decided before (same SHA-256, or PDQ of quality ≥ 50 within
//! [`EARLIER_RADIUS`] of a decided case) → that decision, no media kept; a match of a
//! verified, baseline or national entry of an enabled bank that allows it, exactly or by PDQ
//! (quality ≥ 50) within the bank's `auto_confirm_distance`, with no matched bank asking for
//! review → confirmed as known material, no person views it, no media kept; the same SHA-256
//! as an open case → it follows that case and takes its decision when it is made, no media
//! kept; otherwise → the review queue of the bank of the nearest match that needs a person
//! (`main` for a user flag), the content held in the vault.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use spoor_bank::cases::{
    self, Case, CaseMatch, CaseMeta, CaseQuery, CaseReason, CaseSignals, CaseState, MediaKind,
    NewCase, NewDecision, Start,
};
use spoor_bank::model::{format_time, parse_time, Millis};
use spoor_bank::{Category, Role, Store};
use spoor_core::{Hash256, SignalType};
use spoor_index::{PdqIndex, SharedIndex};
use spoor_matcher::{Match, Scope};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, scope, Auth};
use crate::wire::{
    CaseForm, CaseList, CaseListQuery, CaseMatchOut, CaseMetaIn, CaseOut, CaseSignalsIn,
    CaseSignalsRequest, CaseSubmitResponse, DecisionIn, DecisionOut, NoInformIn, SignalIn,
};
use crate::AppState;

/// PDQ distance within which content counts as decided before.
pub const EARLIER_RADIUS: u32 = 8;
/// PDQ quality below which a hash decides nothing on its own (PDQ's convention).
pub const MIN_QUALITY: u8 = 50;

/// Keys that submit cases.
pub const SUBMIT: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher];
/// Keys that read cases: submitters see their own, the others every case.
pub const READ: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher, Role::Reviewer];
/// Keys that decide signals-only cases.
pub const DECIDE: &[Role] = &[Role::Admin, Role::Reviewer];

/// The PDQ hashes of decided cases, searchable: content near one of them takes its decision.
/// Filled from the store at start, by each decision made here, and by [`Decided::catch_up`]
/// (decisions of other replicas) every second.
pub struct Decided {
    index: SharedIndex,
    state: Mutex<DecidedState>,
}

#[derive(Default)]
struct DecidedState {
    ids: HashSet<i64>,
    cursor: (Millis, i64),
}

/// How far back each catch-up reads again: decisions of several replicas commit in an order
/// their times do not quite follow.
const CATCH_UP_OVERLAP_MS: Millis = 10_000;

impl Default for Decided {
    fn default() -> Self {
        Decided { index: SharedIndex::new(PdqIndex::new()), state: Mutex::default() }
    }
}

impl Decided {
    /// Adds a decided case's PDQ (once).
    pub fn add(&self, case_id: i64, pdq: [u8; 32]) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.ids.insert(case_id) {
            self.index.insert(Hash256::from_bytes(pdq), case_id as u64);
        }
    }

    /// Adds `case` when it is decided and has a PDQ (a case just made or decided here).
    pub fn note(&self, case: &Case) {
        if let (Some(pdq), false) = (case.signals.pdq, case.state.is_open()) {
            self.add(case.id, pdq);
        }
    }

    /// Reads the decisions made since the last read (a little before it, to be safe).
    pub fn catch_up(&self, store: &dyn Store) -> spoor_bank::Result<usize> {
        let (mut at, mut id) = {
            let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            (s.cursor.0.saturating_sub(CATCH_UP_OVERLAP_MS), 0)
        };
        let mut added = 0;
        loop {
            let page = store.decided_pdqs(at, id, 10_000)?;
            let Some(&(last_at, last_id, _)) = page.last() else { break };
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for (_, case_id, pdq) in &page {
                if s.ids.insert(*case_id) {
                    self.index.insert(Hash256::from_bytes(*pdq), *case_id as u64);
                    added += 1;
                }
            }
            s.cursor = s.cursor.max((last_at, last_id));
            drop(s);
            (at, id) = (last_at, last_id);
        }
        if self.index.wants_fold() {
            self.index.fold(1);
        }
        Ok(added)
    }

    /// The nearest decided case within [`EARLIER_RADIUS`] (the oldest among equals).
    pub fn near(&self, pdq: &Hash256) -> Option<i64> {
        self.index
            .search(pdq, EARLIER_RADIUS)
            .into_iter()
            .min_by_key(|h| (h.distance, h.id))
            .map(|h| h.id as i64)
    }

    /// Decided hashes held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// The content and signals of a submission.
struct Submission {
    meta: CaseMeta,
    bytes: Option<axum::body::Bytes>,
    signals: CaseSignals,
    media_kind: MediaKind,
    decode_error: Option<String>,
    /// A video's vPDQ and key frames.
    video: Option<crate::video::HashedVideo>,
}

/// `POST /v1/cases`: multipart (`file`, `meta`) or JSON (signals only).
///
/// A file is hashed: its digests always; PDQ when it is an image; vPDQ (one frame a second)
/// when its first bytes are those of a video (MP4/QuickTime, Matroska/WebM, AVI, …), matched
/// against the banks' videos (`vpdq` matches: never confirmed without a person) and a few of
/// its frames kept with it for review. A file that cannot be hashed so is matched by its
/// digests alone, and `decode_error` says why and what to do.
#[utoipa::path(post, path = "/v1/cases", tag = "cases", security(("api_key" = [])),
    request_body(content(
        (CaseForm = "multipart/form-data"),
        (CaseSignalsRequest = "application/json"))),
    responses((status = 200, description = "Nothing matched and nothing was flagged: no case, nothing stored", body = CaseSubmitResponse),
        (status = 201, description = "A case was made", body = CaseSubmitResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Neither multipart/form-data nor application/json", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit, or the key was stopped for probing", body = ErrorBody),
        (status = 503, description = "Too many uploads at once, keys stale, over the work budget, or the service holds no media key and the case needs review", body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    Auth(p): Auth,
    req: Request,
) -> Result<(StatusCode, Json<CaseSubmitResponse>), ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let sub = if ctype.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &()).await.map_err(|e| {
            ApiError::bad_request(format!("{}: send multipart/form-data", e.body_text()))
        })?;
        let (file, meta) = read_form(mp).await?;
        let meta = meta_from(&meta)?;
        match file {
            Some(bytes) => hash_file(&state, meta, bytes).await?,
            None => Submission {
                meta,
                bytes: None,
                signals: CaseSignals::default(),
                media_kind: MediaKind::None,
                decode_error: None,
                video: None,
            },
        }
    } else if ctype.starts_with("application/json") {
        let crate::routes::ApiJson(body) =
            crate::routes::ApiJson::<CaseSignalsRequest>::from_request(req, &()).await?;
        let meta = meta_from(&body.meta)?;
        Submission {
            meta,
            bytes: None,
            signals: signals_from(&body.signals)?,
            media_kind: MediaKind::None,
            decode_error: None,
            video: None,
        }
    } else {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media",
            message: "send multipart/form-data with `file` and `meta`, or JSON with `meta` and \
                      `signals`"
                .into(),
        });
    };
    intake(&state, &p, sub).await
}

async fn read_form(mut mp: Multipart) -> Result<(Option<axum::body::Bytes>, CaseMetaIn), ApiError> {
    let too_large =
        || ApiError::too_large("the upload is larger than the server accepts (--max-upload)");
    let (mut file, mut meta) = (None, None);
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "malformed multipart body: {}",
                    e.body_text()
                )))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let data = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read the field {name:?}: {}", e.body_text()))
            }
        })?;
        match name.as_str() {
            "file" if file.is_none() => file = Some(data),
            "meta" if meta.is_none() => {
                let m: CaseMetaIn = serde_json::from_slice(&data)
                    .map_err(|e| ApiError::bad_request(format!("meta: {e}")))?;
                meta = Some(m);
            }
            "file" | "meta" => {
                return Err(ApiError::bad_request(format!(
                    "more than one `{name}` field: send one file and one meta per case"
                )))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown multipart field {other:?}: send `file` and `meta`"
                )))
            }
        }
    }
    let meta = meta.ok_or_else(|| {
        ApiError::bad_request("no `meta` field: send the case's meta as JSON text in `meta`")
    })?;
    if file.as_ref().is_some_and(|f| f.is_empty()) {
        return Err(ApiError::bad_request("file: the uploaded file is empty"));
    }
    Ok((file, meta))
}

fn meta_from(m: &CaseMetaIn) -> Result<CaseMeta, ApiError> {
    let reason: CaseReason =
        m.reason.parse().map_err(|e| ApiError::bad_request(format!("meta.reason: {e}")))?;
    let uploaded_at = m
        .uploaded_at
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("meta.uploaded_at: {e}")))?;
    let meta = CaseMeta {
        reason: Some(reason),
        service: m.service.clone(),
        content_ref: m.content_ref.clone(),
        uploader_ref: m.uploader_ref.clone(),
        uploaded_at,
        upload_ip: m.upload_ip.clone(),
        publicly_available: m.publicly_available,
    };
    meta.validate().map_err(|e| ApiError::bad_request(format!("meta: {e}")))?;
    Ok(meta)
}

fn signals_from(given: &CaseSignalsIn) -> Result<CaseSignals, ApiError> {
    let list = [
        (SignalType::Pdq, &given.pdq),
        (SignalType::Md5, &given.md5),
        (SignalType::Sha1, &given.sha1),
        (SignalType::Sha256, &given.sha256),
    ];
    if list.iter().all(|(_, v)| v.is_none()) {
        return Err(ApiError::bad_request(
            "signals: empty: send at least one of pdq, md5, sha1, sha256",
        ));
    }
    let mut s = CaseSignals::default();
    for (t, value) in list {
        let Some(value) = value else { continue };
        let field = format!("signals.{t}");
        let v = t.parse(value).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))?;
        let bad = || ApiError::bad_request(format!("{field}: wrong length for {t}"));
        match t {
            SignalType::Pdq => s.pdq = Some(v.as_slice().try_into().map_err(|_| bad())?),
            SignalType::Md5 => s.md5 = Some(v.as_slice().try_into().map_err(|_| bad())?),
            SignalType::Sha1 => s.sha1 = Some(v.as_slice().try_into().map_err(|_| bad())?),
            _ => s.sha256 = Some(v.as_slice().try_into().map_err(|_| bad())?),
        }
    }
    Ok(s)
}

/// Hashes an uploaded file on the bounded pool: digests always; vPDQ (and key frames for
/// review) when its first bytes say it is a video and it decodes; PDQ when it decodes as an
/// image. A file that does not decode is a `file` with its digests and the reason.
async fn hash_file(
    state: &AppState,
    meta: CaseMeta,
    bytes: axum::body::Bytes,
) -> Result<Submission, ApiError> {
    let options = crate::routes::upload_options(state);
    let video_config = state.config.video.clone();
    let b = bytes.clone();
    let (signals, kind, err, video) = state
        .pool
        .run(move |budget| {
            let d = spoor_hash::digest::Digests::of(&b);
            let mut s = CaseSignals {
                md5: Some(d.md5.0),
                sha1: Some(d.sha1.0),
                sha256: Some(d.sha256.0),
                ..Default::default()
            };
            if crate::video::is_video(&b[..b.len().min(512)]) {
                let max_pixels = options.limits.max_pixels;
                return Ok(match crate::video::hash(&b, &video_config, max_pixels, budget)? {
                    Ok(video) => (s, MediaKind::Video, None, Some(video)),
                    Err(why) => (s, MediaKind::File, Some(why), None),
                });
            }
            match spoor_media::decode(&b, &options) {
                Ok(img) => {
                    let pdq = spoor_hash::pdq::pdq(img.pixels());
                    s.pdq = Some(pdq.hash.to_bytes());
                    s.pdq_quality = Some(pdq.quality.min(100) as u8);
                    Ok((s, MediaKind::Image, None, None))
                }
                Err(e) => Ok((s, MediaKind::File, Some(e.to_string()), None)),
            }
        })
        .await?;
    Ok(Submission { meta, bytes: Some(bytes), signals, media_kind: kind, decode_error: err, video })
}

/// A vPDQ match as a case keeps it: its distance is the share of the submitted video's frames
/// not found in the banked one, in whole percent rounded up (0: every frame found), so that
/// nearer is smaller, as for PDQ.
pub fn vpdq_distance(query_match: f64) -> u32 {
    (100.0 - query_match).clamp(0.0, 100.0).ceil() as u32
}

/// Matches a submission's signals (each counted as a lookup of `client`).
fn matches_of(
    state: &AppState,
    client: &std::sync::Arc<str>,
    s: &CaseSignals,
    vpdq: Option<&[spoor_core::vpdq::VpdqFrame]>,
    scope: &Scope,
) -> Vec<(SignalType, Match)> {
    let m = &state.matcher;
    let mut out = Vec::new();
    let mut tally = crate::usage::Tally::default();
    if let Some(frames) = vpdq {
        // The thresholds of the match routes (python-threatexchange's).
        let thresholds = spoor_matcher::VpdqThresholds::default();
        let found = m.match_vpdq(frames, &thresholds, scope);
        tally.lookup(SignalType::Vpdq, None, found.len());
        out.extend(found.into_iter().map(|v| {
            let hit = Match {
                bank: v.bank,
                entry_id: v.entry_id,
                distance: vpdq_distance(v.query_match),
                category: v.category,
                review_required: v.review_required,
            };
            (SignalType::Vpdq, hit)
        }));
    }
    if let Some(pdq) = s.pdq {
        let found = m.match_pdq(&Hash256::from_bytes(pdq), scope);
        tally.matched(SignalType::Pdq, &found);
        out.extend(found.into_iter().map(|x| (SignalType::Pdq, x)));
    }
    let digests: [(SignalType, Option<&[u8]>); 3] = [
        (SignalType::Md5, s.md5.as_ref().map(|v| &v[..])),
        (SignalType::Sha1, s.sha1.as_ref().map(|v| &v[..])),
        (SignalType::Sha256, s.sha256.as_ref().map(|v| &v[..])),
    ];
    for (t, v) in digests {
        if let Some(v) = v {
            let found = m.match_signal(t, v, scope);
            tally.matched(t, &found);
            out.extend(found.into_iter().map(|x| (t, x)));
        }
    }
    state.usage.add(client, tally);
    // One match per entry, the nearest.
    out.sort_by_key(|(_, x)| (x.entry_id, x.distance));
    out.dedup_by_key(|(_, x)| x.entry_id);
    out.sort_by_key(|(_, x)| (x.distance, x.entry_id));
    out
}

/// How a submission starts, from the store's banks and entries and the decided index.
fn start_of(
    store: &dyn Store,
    decided: &Decided,
    s: &Submission,
    matches: &[(SignalType, Match)],
) -> spoor_bank::Result<Start> {
    let good_pdq = s.signals.pdq.filter(|_| s.signals.pdq_quality.unwrap_or(0) >= MIN_QUALITY);
    if let Some(sha) = &s.signals.sha256 {
        if let Some(c) = store.decided_case_by_sha256(sha)? {
            return Ok(Start::Earlier(c.id));
        }
    }
    if let Some(pdq) = good_pdq {
        if let Some(id) = decided.near(&Hash256::from_bytes(pdq)) {
            return Ok(Start::Earlier(id));
        }
    }
    let banks: HashMap<String, spoor_bank::Bank> =
        store.banks()?.into_iter().map(|b| (b.name.clone(), b)).collect();
    let review = matches.iter().any(|(_, m)| banks.get(&*m.bank).is_none_or(|b| b.review_required));
    let mut best: Option<Category> = None;
    // The matches a person must look at: all of a bank that asks for review, and the others
    // that are not known material.
    let mut to_review: Vec<&Match> = Vec::new();
    for (t, m) in matches {
        let Some(bank) = banks.get(&*m.bank) else {
            to_review.push(m);
            continue;
        };
        if bank.review_required {
            to_review.push(m);
            continue;
        }
        let Some(category) = known_material(store, bank, *t, m, good_pdq.is_some())? else {
            to_review.push(m);
            continue;
        };
        // Baseline before national: the stricter classification decides.
        best = Some(match (best, category) {
            (Some(Category::Baseline), _) | (_, Category::Baseline) => Category::Baseline,
            _ => Category::National,
        });
    }
    if let (false, Some(category)) = (review, best) {
        return Ok(Start::AutoConfirm { category: Some(category) });
    }
    // The same content waiting for review already: follow that case, never queue it twice.
    if let Some(sha) = &s.signals.sha256 {
        if let Some(lead) = store.open_case_by_sha256(sha)? {
            return Ok(Start::Follow(lead));
        }
    }
    Ok(Start::Queue(review_queue(&banks, &to_review)))
}

/// The classification of `m` when it confirms the content as known material without review:
/// a verified, enabled baseline or national entry of an enabled bank that allows it, matched
/// exactly or by PDQ (of good quality) within the bank's `auto_confirm_distance`.
fn known_material(
    store: &dyn Store,
    bank: &spoor_bank::Bank,
    t: SignalType,
    m: &Match,
    good_pdq: bool,
) -> spoor_bank::Result<Option<Category>> {
    let Some(limit) = bank.auto_confirm_distance.filter(|_| bank.enabled) else { return Ok(None) };
    let close = match t {
        SignalType::Pdq => m.distance <= limit && good_pdq,
        // Frames of a video found near a banked video's are not known material on their own:
        // auto-confirmation is for exact digests and near PDQ; a person looks.
        SignalType::Vpdq => false,
        _ => true,
    };
    if !close {
        return Ok(None);
    }
    let entry = store.entry(&bank.name, m.entry_id)?;
    let known = matches!(entry.category, Some(Category::Baseline | Category::National));
    Ok(entry.category.filter(|_| entry.enabled && entry.verified_by.is_some() && known))
}

/// The queue of a case that needs review: the review queue of the bank of its nearest match
/// that needs review (equally near: the first bank by name); `main` when there is none (a user
/// flag) or that bank is gone.
fn review_queue(banks: &HashMap<String, spoor_bank::Bank>, to_review: &[&Match]) -> String {
    to_review
        .iter()
        .min_by(|a, b| (a.distance, &*a.bank).cmp(&(b.distance, &*b.bank)))
        .and_then(|m| banks.get(&*m.bank))
        .map_or_else(|| cases::MAIN_QUEUE.to_string(), |b| b.review_queue.clone())
}

/// Most cases one group commit writes (the default of `Config::intake_group`).
pub const MAX_GROUP: usize = 64;

/// One case waiting for the intake writer, and where its answer goes.
struct IntakeJob {
    new: NewCase,
    hold: Option<axum::body::Bytes>,
    /// A video's key frames, held next to `hold`.
    frames: Option<Vec<u8>>,
    reply: std::sync::mpsc::SyncSender<Result<Case, ApiError>>,
}

/// Writes new cases in groups. Submissions that arrive while a group is being written wait for
/// the next one, which takes them all: their content goes to the vault together
/// ([`spoor_case::Vault::put_all`]: files synced side by side, one directory sync) and their
/// cases to the store in one transaction ([`Store::create_cases`]: one commit), so a burst of
/// submissions costs a few syncs per group instead of three per case. A group whose
/// transaction fails is written again case by case, so one bad case fails alone; content whose
/// case was not written is deleted: nothing half-written.
pub struct IntakeWriter {
    jobs: Mutex<Option<std::sync::mpsc::SyncSender<IntakeJob>>>,
    group: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl IntakeWriter {
    /// Starts the writer's thread over `store` and `vault`. It ends when the writer is dropped.
    pub fn start(
        store: std::sync::Arc<dyn Store>,
        vault: Option<std::sync::Arc<spoor_case::Vault>>,
        effects: crate::reporting::Effector,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<IntakeJob>(4 * MAX_GROUP);
        let group = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(MAX_GROUP));
        let most = group.clone();
        let spawned = std::thread::Builder::new().name("spoor-intake".into()).spawn(move || {
            let notify = move |c: &Case| effects(c);
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                let most = most.load(std::sync::atomic::Ordering::Relaxed).max(1);
                while group.len() < most {
                    match rx.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                metrics::histogram!("spoor_case_intake_group_size").record(group.len() as f64);
                write_group(&*store, vault.as_deref(), &notify, group);
            }
        });
        match spawned {
            Ok(_) => IntakeWriter { jobs: Mutex::new(Some(tx)), group },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the case intake thread; cases cannot be made");
                IntakeWriter { jobs: Mutex::new(None), group }
            }
        }
    }

    /// Writes at most `n` cases a group (at least 1, at most [`MAX_GROUP`]).
    pub fn with_group(self, n: usize) -> Self {
        self.group.store(n.clamp(1, MAX_GROUP), std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Writes one case (holding `hold` in the vault, with a video's key `frames` next to it)
    /// with whatever else is waiting; blocks until it is written.
    pub(crate) fn write(
        &self,
        new: NewCase,
        hold: Option<axum::body::Bytes>,
        frames: Option<Vec<u8>>,
    ) -> Result<Case, ApiError> {
        let unavailable = || ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "the service is not taking cases now (its intake has stopped): try again \
                      later; the server log has the details"
                .into(),
        };
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let jobs = jobs.ok_or_else(unavailable)?;
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        jobs.send(IntakeJob { new, hold, frames, reply }).map_err(|_| unavailable())?;
        answer.recv().map_err(|_| unavailable())?
    }
}

fn media_unavailable() -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "the case's content could not be stored: try again; the server log has the \
                  details"
            .into(),
    }
}

fn write_group(
    store: &dyn Store,
    vault: Option<&spoor_case::Vault>,
    notify: cases::Notify<'_>,
    group: Vec<IntakeJob>,
) {
    // Content first: a case never names media that is not durably stored.
    let mut group = group;
    let held: Vec<usize> = (0..group.len()).filter(|&i| group[i].hold.is_some()).collect();
    if !held.is_empty() {
        let stored = match vault {
            Some(v) => {
                let items: Vec<(&[u8], Option<&[u8]>)> = held
                    .iter()
                    .map(|&i| {
                        (&group[i].hold.as_ref().expect("held")[..], group[i].frames.as_deref())
                    })
                    .collect();
                v.put_all_with_frames(&items).map_err(|e| {
                    tracing::error!(error = %e, "cannot store case media");
                    media_unavailable()
                })
            }
            None => Err(media_unavailable()),
        };
        match stored {
            Ok(ids) => {
                for (&i, id) in held.iter().zip(ids) {
                    group[i].frames = None;
                    let bytes = group[i].hold.take().expect("held").len() as u64;
                    group[i].new.media = Some(cases::CaseMedia { id: id.to_string(), bytes });
                }
            }
            Err(e) => {
                let mut rest = Vec::with_capacity(group.len());
                for job in group {
                    if job.hold.is_some() {
                        let _ = job.reply.send(Err(e.clone()));
                    } else {
                        rest.push(job);
                    }
                }
                group = rest;
            }
        }
    }
    if group.is_empty() {
        return;
    }
    let forget = |job: &IntakeJob| {
        if let (Some(m), Some(v)) = (&job.new.media, vault) {
            if let Ok(id) = m.id.parse() {
                let _ = v.delete(&id);
            }
        }
    };
    let news: Vec<NewCase> = group.iter().map(|j| j.new.clone()).collect();
    match store.create_cases_notifying(&news, notify) {
        Ok(made) => {
            for (job, case) in group.into_iter().zip(made) {
                let _ = job.reply.send(Ok(case));
            }
        }
        Err(e) if group.len() == 1 => {
            forget(&group[0]);
            let _ = group[0].reply.send(Err(e.into()));
        }
        Err(_) => {
            for job in group {
                match store.create_cases_notifying(std::slice::from_ref(&job.new), notify) {
                    Ok(mut made) => {
                        let _ = job.reply.send(Ok(made.remove(0)));
                    }
                    Err(e) => {
                        forget(&job);
                        let _ = job.reply.send(Err(e.into()));
                    }
                }
            }
        }
    }
}

/// When the case gauges were counted, and the open (queue, state) pairs they named.
pub type GaugesCounted = (std::time::Instant, Vec<(String, &'static str)>);

/// How often `/metrics` counts open cases and decided outcomes again from the store.
pub const CASE_GAUGES_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Sets the case gauges of `/metrics` from the store, at most every [`CASE_GAUGES_EVERY`]
/// (scrapes in between show the last count; one count at a time):
/// `spoor_cases_open{queue,state}`, `spoor_case_outcomes{bank,signal_type,band,outcome}` and
/// `spoor_case_false_positive_ratio{bank,signal_type,band}`, `spoor_reports{recipient,
/// state}`, and the complaint gauges ([`crate::complaining::set_gauges`]). A store error keeps the last values and is logged.
pub(crate) async fn refresh_gauges(state: &AppState) {
    let mut last = state.case_gauges.lock().await;
    if last.as_ref().is_some_and(|(t, _)| t.elapsed() < CASE_GAUGES_EVERY) {
        return;
    }
    let store = state.store.clone();
    let deadline = crate::complaining::deadline_ms(state.config.complaint_deadline);
    let counted = tokio::task::spawn_blocking(move || {
        Ok::<_, spoor_bank::BankError>((
            store.open_case_counts()?,
            store.case_outcomes(None, None)?,
            store.report_counts()?,
            store.complaint_counts(spoor_bank::model::now_ms().saturating_sub(deadline))?,
        ))
    })
    .await;
    match counted {
        Ok(Ok((open, outcomes, reports, complaints))) => {
            crate::complaining::set_gauges(&complaints, spoor_bank::model::now_ms());
            // Every state of every recipient, zeros included, so a dead letter can be alerted on.
            let mut recipients: Vec<String> = state.config.report_policy.recipients.clone();
            for (r, _, _) in &reports {
                if !recipients.contains(r) {
                    recipients.push(r.clone());
                }
            }
            for r in &recipients {
                for st in spoor_bank::ReportState::ALL {
                    let n = reports
                        .iter()
                        .find(|(rr, s, _)| rr == r && s == st)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!("spoor_reports", "recipient" => r.clone(), "state" => st.name())
                        .set(n as f64);
                }
            }
            let named: Vec<(String, &'static str)> =
                open.iter().map(|(q, st, _)| (q.clone(), st.name())).collect();
            if let Some((_, before)) = last.take() {
                for (queue, st) in before.into_iter().filter(|b| !named.contains(b)) {
                    metrics::gauge!("spoor_cases_open", "queue" => queue, "state" => st).set(0.0);
                }
            }
            *last = Some((std::time::Instant::now(), named));
            for (queue, st, n) in open {
                metrics::gauge!("spoor_cases_open", "queue" => queue, "state" => st.name())
                    .set(n as f64);
            }
            for o in outcomes {
                let labels = |outcome: &'static str| {
                    [
                        ("bank", o.bank.clone()),
                        ("signal_type", o.signal_type.name().to_string()),
                        ("band", o.band.clone()),
                        ("outcome", outcome.to_string()),
                    ]
                };
                for (outcome, n) in [
                    ("confirmed_reviewed", o.confirmed_reviewed),
                    ("confirmed_auto", o.confirmed_auto),
                    ("false_positive", o.false_positive),
                    ("false_positive_on_complaint", o.false_positive_on_complaint),
                ] {
                    metrics::gauge!("spoor_case_outcomes", &labels(outcome)).set(n as f64);
                }
                metrics::gauge!("spoor_case_false_positive_ratio", &labels("")[..3])
                    .set(o.false_positive_ratio());
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot count cases for /metrics"),
        Err(e) => tracing::warn!(error = %e, "cannot count cases for /metrics"),
    }
}

async fn intake(
    state: &AppState,
    p: &Principal,
    sub: Submission,
) -> Result<(StatusCode, Json<CaseSubmitResponse>), ApiError> {
    let scope = scope(p);
    let pdq_queries: Vec<Hash256> = sub.signals.pdq.map(Hash256::from_bytes).into_iter().collect();
    state.probes.observe(p, &pdq_queries)?;
    let vpdq = sub.video.as_ref().map(|v| &v.vpdq[..]);
    let matches = matches_of(state, &p.name, &sub.signals, vpdq, &scope);
    state.console.activity.record(matches.len() as u64);
    if matches.is_empty() && sub.meta.reason != Some(CaseReason::UserFlag) {
        metrics::counter!("spoor_case_submissions_total", "outcome" => "no_match").increment(1);
        let message = match &sub.decode_error {
            Some(e) => format!(
                "no match and no user flag: nothing was stored (the file is not an image or \
                 video Spoor decodes, so only its digests were matched: {e})"
            ),
            None => "no match and no user flag: nothing was stored".to_string(),
        };
        return Ok((
            StatusCode::OK,
            Json(CaseSubmitResponse {
                stored: false,
                case: None,
                message,
                decode_error: sub.decode_error,
            }),
        ));
    }
    let (st, actor, show) = (state.clone(), p.actor.to_string(), p.show_distance);
    let decode_error = sub.decode_error.clone();
    let case = blocking(move || {
        let start = start_of(&*st.store, &st.cases, &sub, &matches)?;
        let frames = sub.video.map(|v| v.key_frames);
        let hold = match (&start, sub.bytes) {
            (Start::Queue(_), Some(bytes)) => {
                if st.vault.is_none() {
                    return Err(ApiError {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        code: "unavailable",
                        message: "this case needs review and the service holds no media key to \
                                  keep its content encrypted: start spoor serve with \
                                  --media-key-file (made by `spoor keys media-keygen`)"
                            .into(),
                    });
                }
                Some(bytes)
            }
            // Confirmed without review (or to be, with its lead): held only when reports to
            // NCMEC send the file, until the report is taken (then purged after the grace).
            (Start::AutoConfirm { .. } | Start::Earlier(_) | Start::Follow(_), Some(bytes))
                if st.vault.is_some()
                    && st
                        .config
                        .report_policy
                        .recipients
                        .iter()
                        .any(|r| r == crate::reporting::NCMEC) =>
            {
                Some(bytes)
            }
            _ => None,
        };
        let new = NewCase {
            submitter: actor,
            meta: sub.meta,
            media_kind: sub.media_kind,
            media: None,
            signals: sub.signals,
            matches: matches
                .iter()
                .map(|(t, m)| CaseMatch {
                    bank: m.bank.to_string(),
                    entry_id: m.entry_id,
                    signal_type: *t,
                    distance: m.distance,
                })
                .collect(),
            start,
        };
        let frames = frames.filter(|_| hold.is_some());
        st.intake.write(new, hold, frames)
    })
    .await?;
    state.cases.note(&case);
    let outcome = match (case.resolution, case.state) {
        (Some(r), _) => r.name(),
        (None, CaseState::Following) => "following",
        (None, _) => "queued",
    };
    metrics::counter!("spoor_case_submissions_total", "outcome" => outcome).increment(1);
    let message = match (case.resolution, case.state) {
        (Some(cases::Resolution::Auto), _) => {
            "confirmed as known material by the matched bank's rules; no person viewed it".into()
        }
        (Some(cases::Resolution::Earlier), _) => {
            "the same content was decided before: its decision applies".into()
        }
        (None, CaseState::Following) => format!(
            "the same content is waiting for review as case {}: this case takes its decision \
             when it is made, and is not reviewed again",
            case.earlier_case.unwrap_or_default()
        ),
        _ => "queued for review".to_string(),
    };
    let message = match &decode_error {
        Some(e) => format!("{message} (only the file's digests were matched: {e})"),
        None => message,
    };
    Ok((
        StatusCode::CREATED,
        Json(CaseSubmitResponse {
            stored: true,
            case: Some(case_out(case, show)),
            message,
            decode_error,
        }),
    ))
}

/// A case as the API shows it.
pub fn case_out(c: Case, show_distance: bool) -> CaseOut {
    let hex = |b: &[u8]| spoor_audit::hex(b);
    let mut signals = Vec::new();
    for (t, v) in [
        ("pdq", c.signals.pdq.as_ref().map(|v| hex(v))),
        ("md5", c.signals.md5.as_ref().map(|v| hex(v))),
        ("sha1", c.signals.sha1.as_ref().map(|v| hex(v))),
        ("sha256", c.signals.sha256.as_ref().map(|v| hex(v))),
    ] {
        if let Some(value) = v {
            signals.push(SignalIn { signal_type: t.into(), value });
        }
    }
    let viewed = c.decisions.iter().any(|d| d.person.starts_with("user:"));
    CaseOut {
        id: c.id,
        created_at: format_time(c.created_at),
        submitter: c.submitter,
        meta: CaseMetaIn {
            reason: c.meta.reason.map_or("match", |r| r.name()).to_string(),
            service: c.meta.service,
            content_ref: c.meta.content_ref,
            uploader_ref: c.meta.uploader_ref,
            uploaded_at: c.meta.uploaded_at.map(format_time),
            upload_ip: c.meta.upload_ip,
            publicly_available: c.meta.publicly_available,
        },
        media_kind: c.media_kind.name().into(),
        media_held: c.media.is_some(),
        state: c.state.name().into(),
        queue: c.queue,
        resolution: c.resolution.map(|r| r.name().into()),
        earlier_case: c.earlier_case,
        category: c.category.map(|x| x.name().into()),
        industry_class: c.industry_class.map(|x| x.name().into()),
        annotations: c.annotations.iter().map(|a| a.name().into()).collect(),
        decided_at: c.decided_at.map(format_time),
        decided_by: c.decided_by,
        viewed_by_person: viewed,
        no_inform_until: c.no_inform.as_ref().map(|(t, _)| format_time(*t)),
        legal_hold: c.hold.as_ref().map(|h| crate::wire::LegalHoldOut {
            until: format_time(h.until),
            reason: h.reason.clone(),
            by: h.by.clone(),
        }),
        personal_data_erased_at: c.personal_purged_at.map(format_time),
        reversed: c.reversal.as_ref().map(|r| crate::wire::ReversalOut {
            at: format_time(r.at),
            by: r.by.clone(),
            complaint_id: r.complaint,
        }),
        signals,
        matches: c
            .matches
            .into_iter()
            .map(|m| CaseMatchOut {
                bank: m.bank,
                entry_id: m.entry_id,
                signal_type: m.signal_type.name().into(),
                distance: show_distance.then_some(m.distance),
            })
            .collect(),
        decisions: c
            .decisions
            .into_iter()
            .map(|d| DecisionOut {
                at: format_time(d.at),
                person: d.person,
                verdict: d.verdict.name().into(),
                category: d.category.map(|x| x.name().into()),
                industry_class: d.industry_class.map(|x| x.name().into()),
                annotations: d.annotations.iter().map(|a| a.name().into()).collect(),
                entry_id: d.entry_id,
                note: d.note,
            })
            .collect(),
    }
}

/// A case number from the path: a number that is no case's is a 404, as any missing case.
fn case_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "no case with id {text:?}: case numbers are whole numbers from 1"
        ))
    })
}

/// Matcher keys see the cases they submitted; reviewers, curators and admins every case.
fn own_only(p: &Principal) -> Option<String> {
    (p.role == Role::Matcher).then(|| p.actor.to_string())
}

/// Lists cases by number.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", security(("api_key" = [])), params(CaseListQuery),
    responses((status = 200, body = CaseList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<CaseListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CaseList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let case_state = q
        .state
        .as_deref()
        .map(str::parse::<CaseState>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("state: {e}")))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > cases::MAX_CASE_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: {limit}: ask for 1 to {} cases a page",
            cases::MAX_CASE_PAGE
        )));
    }
    let query = CaseQuery {
        state: case_state,
        submitter: own_only(&p),
        after: q.after.unwrap_or(0),
        limit,
    };
    let store = state.store.clone();
    let list = blocking(move || Ok(store.cases(&query)?)).await?;
    let next_after = (list.len() == limit).then(|| list.last().map(|c| c.id)).flatten();
    let show = p.show_distance;
    Ok(Json(CaseList { cases: list.into_iter().map(|c| case_out(c, show)).collect(), next_after }))
}

/// One case (never its media).
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<CaseOut>, ApiError> {
    let id = case_id(&id)?;
    let store = state.store.clone();
    let case = blocking(move || Ok(store.case(id)?)).await?;
    if own_only(&p).is_some_and(|me| me != case.submitter) {
        // Another submitter's case is not there for this key.
        return Err(spoor_bank::BankError::NoSuchCase(id).into());
    }
    Ok(Json(case_out(case, p.show_distance)))
}

/// Holds the notice of the user affected by a case until a time (an authority's "do not
/// inform" request; audited `case_no_inform`), or lifts the hold. Admin keys.
#[utoipa::path(post, path = "/v1/cases/{id}/do-not-inform", tag = "cases", request_body = NoInformIn,
    security(("api_key" = [])), params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn no_inform(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    crate::routes::ApiJson(body): crate::routes::ApiJson<NoInformIn>,
) -> Result<Json<CaseOut>, ApiError> {
    let id = case_id(&id)?;
    let until = body
        .until
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("until: {e}")))?;
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let case = blocking(move || {
        store.case(id)?; // an unknown case is 404 whatever the body says
        Ok(store.set_no_inform(id, until, &body.reason, &actor, spoor_bank::model::now_ms())?)
    })
    .await?;
    Ok(Json(case_out(case, p.show_distance)))
}

/// Decides a signals-only case (cases with content are decided in the console, where a
/// rendition is shown). Admin and reviewer keys.
#[utoipa::path(post, path = "/v1/cases/{id}/decision", tag = "cases", request_body = DecisionIn,
    security(("api_key" = [])), params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Decided already, held by a reviewer in the console, or a case with content", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    crate::routes::ApiJson(body): crate::routes::ApiJson<DecisionIn>,
) -> Result<Json<CaseOut>, ApiError> {
    let id = case_id(&id)?;
    let decision = decision_from(&body)?;
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let effects = crate::effects_of(&state.config);
    let case = blocking(move || {
        let case = store.case(id)?;
        if case.media_kind != MediaKind::None {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: format!(
                    "case {id} holds content: it is decided in the console, where a reviewer \
                     sees its rendition"
                ),
            });
        }
        let notify = move |c: &Case| effects(c);
        Ok(store.decide_case_notifying(
            id,
            &actor,
            &decision,
            spoor_bank::model::now_ms(),
            false,
            &notify,
        )?)
    })
    .await?;
    state.cases.note(&case);
    metrics::counter!("spoor_case_decisions_total", "verdict" => body.verdict.clone()).increment(1);
    Ok(Json(case_out(case, p.show_distance)))
}

fn decision_from(d: &DecisionIn) -> Result<NewDecision, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    Ok(NewDecision {
        verdict: Some(d.verdict.parse().map_err(|e| bad("verdict", e))?),
        category: d
            .category
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("category", e))?,
        industry_class: d
            .industry_class
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| bad("industry_class", e))?,
        annotations: d
            .annotations
            .iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| bad("annotations", e))?,
        entry_id: d.entry_id,
        note: d.note.clone(),
    })
}

/// Deletes the held content of cases decided more than `grace` ago; one audit record per run
/// that deleted anything. Returns how many were deleted.
pub fn purge_media(
    store: &dyn Store,
    vault: &spoor_case::Vault,
    grace_ms: Millis,
    now: Millis,
) -> spoor_bank::Result<usize> {
    let due = store.media_to_purge(now.saturating_sub(grace_ms), now, 1000)?;
    let mut purged = Vec::new();
    for (case_id, media_id) in due {
        match media_id.parse::<spoor_case::MediaId>() {
            Ok(m) => {
                if let Err(e) = vault.delete(&m) {
                    tracing::error!(error = %e, case_id, "cannot delete held case content; will retry");
                    continue;
                }
            }
            Err(_) => {
                tracing::warn!(case_id, "a case names media the vault cannot have; marked purged")
            }
        }
        store.media_purged(case_id, now)?;
        purged.push(case_id);
    }
    if !purged.is_empty() {
        let rec = spoor_audit::NewRecord::by("system:retention", "media_purge", "case", "decided")
            .with_details(serde_json::json!({"cases": purged, "grace_ms": grace_ms}));
        store.audit_append(&rec)?;
        metrics::counter!("spoor_case_media_purged_total").increment(purged.len() as u64);
    }
    Ok(purged.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_bank::cases::{CaseSignals, NewDecision, Verdict};

    fn held_case(
        store: &dyn Store,
        vault: &spoor_case::Vault,
        n: u8,
    ) -> (i64, spoor_case::MediaId) {
        let media = vault.put(&[n; 64]).unwrap();
        let case = store
            .create_case(&NewCase {
                submitter: "key:hoster".into(),
                meta: CaseMeta { reason: Some(CaseReason::UserFlag), ..Default::default() },
                media_kind: MediaKind::File,
                media: Some(cases::CaseMedia { id: media.to_string(), bytes: 64 }),
                signals: CaseSignals { sha256: Some([n; 32]), ..Default::default() },
                matches: vec![],
                start: Start::Queue(cases::MAIN_QUEUE.into()),
            })
            .unwrap();
        (case.id, media)
    }

    fn flagged(n: u8, matched: bool) -> NewCase {
        NewCase {
            submitter: "key:hoster".into(),
            meta: CaseMeta {
                reason: Some(if matched { CaseReason::UserFlag } else { CaseReason::Match }),
                ..Default::default()
            },
            media_kind: MediaKind::File,
            media: None,
            signals: CaseSignals { sha256: Some([n; 32]), ..Default::default() },
            matches: vec![],
            start: Start::Queue(cases::MAIN_QUEUE.into()),
        }
    }

    fn bank_in(name: &str, queue: &str) -> (String, spoor_bank::Bank) {
        let bank = spoor_bank::Bank {
            id: 0,
            name: name.into(),
            description: String::new(),
            owner: String::new(),
            created_at: 0,
            enabled: true,
            review_required: false,
            pdq_radius: 31,
            auto_confirm_distance: Some(10),
            four_eyes: false,
            review_queue: queue.into(),
            hma_enabled_ratio: 1.0,
        };
        (name.to_string(), bank)
    }

    fn hit(bank: &str, entry_id: i64, distance: u32) -> Match {
        Match { bank: bank.into(), entry_id, distance, category: None, review_required: false }
    }

    /// The nearest match needing review names the queue; equally near, the first bank by name;
    /// nothing (a user flag) or a bank gone since: `main`.
    #[test]
    fn a_case_goes_to_the_queue_of_its_nearest_match_needing_review() {
        let banks: HashMap<String, spoor_bank::Bank> =
            [bank_in("A", "team-a"), bank_in("B", "team-b"), bank_in("C", "main")].into();
        let (a20, b12, c12, gone) =
            (hit("A", 1, 20), hit("B", 2, 12), hit("C", 3, 12), hit("X", 4, 3));
        assert_eq!(review_queue(&banks, &[&a20, &b12]), "team-b");
        assert_eq!(review_queue(&banks, &[&c12, &a20, &b12]), "team-b", "B before C");
        assert_eq!(review_queue(&banks, &[&c12, &a20]), "main");
        assert_eq!(review_queue(&banks, &[]), cases::MAIN_QUEUE);
        assert_eq!(review_queue(&banks, &[&gone, &a20]), cases::MAIN_QUEUE);
    }

    /// How a case starts, through the store: known material alone is confirmed; next to a bank
    /// that asks for review, that bank's queue takes it even though the known material was
    /// nearer; otherwise the nearest unconfirmed match's bank's queue; a user flag: `main`.
    #[test]
    fn cases_start_in_the_queue_of_the_bank_that_needs_a_person() {
        let dir = tempfile::tempdir().unwrap();
        let store = spoor_bank::open(&spoor_bank::Location::DataDir(dir.path().join("d"))).unwrap();
        let mut ids = HashMap::new();
        for (name, queue, review, verified) in [
            ("KNOWN", "team-k", false, true),
            ("REVIEW", "team-r", true, false),
            ("NEAR", "team-n", false, false),
            ("ALSO", "team-a", false, false),
        ] {
            let new = spoor_bank::NewBank {
                name: name.into(),
                review_required: review,
                review_queue: Some(queue.into()),
                ..Default::default()
            };
            store.create_bank(&new, "key:a").unwrap();
            let mut e = spoor_bank::NewEntry::new(SignalType::Pdq, vec![ids.len() as u8; 32]);
            e.category = Some(Category::Baseline);
            e.verified_by = verified.then(|| "analyst".to_string());
            let added = store.add_entries(name, &[e], "key:a").unwrap();
            let spoor_bank::Added::New(id) = added[0] else { panic!("{added:?}") };
            ids.insert(name, id);
        }
        let sub = Submission {
            meta: CaseMeta { reason: Some(CaseReason::Match), ..Default::default() },
            bytes: None,
            signals: CaseSignals {
                pdq: Some([7; 32]),
                pdq_quality: Some(90),
                ..Default::default()
            },
            media_kind: MediaKind::Image,
            decode_error: None,
            video: None,
        };
        let start = |hits: &[Match]| {
            let with_type: Vec<(SignalType, Match)> =
                hits.iter().map(|m| (SignalType::Pdq, m.clone())).collect();
            start_of(&*store, &Decided::default(), &sub, &with_type).unwrap()
        };
        let known = hit("KNOWN", ids["KNOWN"], 2);
        assert!(matches!(start(std::slice::from_ref(&known)), Start::AutoConfirm { .. }));
        let review = hit("REVIEW", ids["REVIEW"], 20);
        assert_eq!(start(&[known.clone(), review.clone()]), Start::Queue("team-r".into()));
        let near = hit("NEAR", ids["NEAR"], 12);
        assert_eq!(start(&[review.clone(), near.clone()]), Start::Queue("team-n".into()));
        let also = hit("ALSO", ids["ALSO"], 12);
        assert_eq!(start(&[near.clone(), also, review]), Start::Queue("team-a".into()));
        // Known material too far for auto-confirmation needs a person like any other match.
        let far_known = hit("KNOWN", ids["KNOWN"], 11);
        assert_eq!(start(&[near, far_known]), Start::Queue("team-k".into()));
        assert_eq!(start(&[]), Start::Queue(cases::MAIN_QUEUE.into()));
        // A video matched by its frames is never known material on its own: a person looks.
        let by_frames = vec![(SignalType::Vpdq, Match { distance: 0, ..known })];
        assert_eq!(
            start_of(&*store, &Decided::default(), &sub, &by_frames).unwrap(),
            Start::Queue("team-k".into())
        );
    }

    /// A vPDQ match's distance: the share of frames not found, whole percent rounded up.
    #[test]
    fn vpdq_distances_are_the_share_of_frames_not_found() {
        assert_eq!(vpdq_distance(100.0), 0);
        assert_eq!(vpdq_distance(99.9), 1, "one frame missing is not all found");
        assert_eq!(vpdq_distance(96.0), 4);
        assert_eq!(vpdq_distance(80.0), 20);
        assert_eq!(vpdq_distance(0.0), 100);
        assert_eq!(vpdq_distance(120.0), 0, "never below 0");
    }

    /// A group with one case the store refuses: the others are written, the refused one fails
    /// alone with a 400, and its content is not left in the vault.
    #[test]
    fn a_bad_case_in_a_group_fails_alone_and_leaves_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = spoor_bank::open(&spoor_bank::Location::DataDir(dir.path().join("d"))).unwrap();
        let vault = spoor_case::Vault::open(
            &dir.path().join("m"),
            spoor_case::MediaKey::generate().unwrap(),
        )
        .unwrap();
        let mut answers = Vec::new();
        let group: Vec<IntakeJob> = (0..6u8)
            .map(|n| {
                let (reply, answer) = std::sync::mpsc::sync_channel(1);
                answers.push(answer);
                // Case 3 matched nothing and was not flagged: the store refuses it.
                IntakeJob {
                    new: flagged(n, n != 3),
                    hold: Some(axum::body::Bytes::from(vec![n; 100])),
                    frames: None,
                    reply,
                }
            })
            .collect();
        write_group(&*store, Some(&vault), &cases::silent, group);
        let got: Vec<Result<Case, ApiError>> = answers.iter().map(|a| a.recv().unwrap()).collect();
        let mut kept = Vec::new();
        for (n, g) in got.iter().enumerate() {
            match g {
                Ok(case) => {
                    assert_ne!(n, 3);
                    let media = case.media.as_ref().expect("held content");
                    let id: spoor_case::MediaId = media.id.parse().unwrap();
                    assert_eq!(vault.get(&id).unwrap(), vec![n as u8; 100]);
                    assert_eq!(store.case(case.id).unwrap().signals.sha256, Some([n as u8; 32]));
                    kept.push(id);
                }
                Err(e) => {
                    assert_eq!(n, 3, "{e:?}");
                    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e:?}");
                }
            }
        }
        kept.sort();
        assert_eq!(vault.ids().unwrap(), kept, "only the written cases' content is kept");
        assert_eq!(store.open_case_counts().unwrap().iter().map(|c| c.2).sum::<u64>(), 5);
    }

    /// Many submitters at once: every case is written once with its own content, in fewer
    /// groups than cases.
    #[test]
    fn concurrent_submissions_are_written_in_groups() {
        let dir = tempfile::tempdir().unwrap();
        let store: std::sync::Arc<dyn Store> =
            spoor_bank::open(&spoor_bank::Location::DataDir(dir.path().join("d"))).unwrap().into();
        let vault = std::sync::Arc::new(
            spoor_case::Vault::open(
                &dir.path().join("m"),
                spoor_case::MediaKey::generate().unwrap(),
            )
            .unwrap(),
        );
        let writer = IntakeWriter::start(
            store.clone(),
            Some(vault.clone()),
            std::sync::Arc::new(spoor_bank::cases::silent),
        );
        let cases: Vec<Case> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..48u8)
                .map(|n| {
                    let writer = &writer;
                    s.spawn(move || {
                        writer
                            .write(
                                flagged(n, true),
                                Some(axum::body::Bytes::from(vec![n; 1000])),
                                None,
                            )
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 48);
        for c in &cases {
            let n = c.signals.sha256.unwrap()[0];
            let id: spoor_case::MediaId = c.media.as_ref().unwrap().id.parse().unwrap();
            assert_eq!(vault.get(&id).unwrap(), vec![n; 1000]);
        }
        assert_eq!(vault.ids().unwrap().len(), 48);
        // Each case has its audit record, and the chain holds.
        let made = store
            .audit_records(&spoor_bank::audit::AuditQuery {
                action: Some("case_create".into()),
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(made.len(), 48);
        assert!(made.windows(2).all(|w| w[1].seq == w[0].seq + 1), "one chain, no gaps");
        drop(writer);
    }

    /// Held content stays while its case is open and through the grace period, then goes from
    /// the disk and the case, with one audit record for the run.
    #[test]
    fn held_content_goes_after_the_decision_and_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let store = spoor_bank::open(&spoor_bank::Location::DataDir(dir.path().join("d"))).unwrap();
        let key = spoor_case::MediaKey::generate().unwrap();
        let vault = spoor_case::Vault::open(&dir.path().join("media"), key).unwrap();
        let (decided, m1) = held_case(&*store, &vault, 1);
        let (open, m2) = held_case(&*store, &vault, 2);
        let t = 1_000_000;
        store.claim_next_case(cases::MAIN_QUEUE, "user:a", t, 60_000).unwrap().unwrap();
        let fp = NewDecision { verdict: Some(Verdict::FalsePositive), ..Default::default() };
        store.decide_case(decided, "user:a", &fp, t, true).unwrap();
        let grace = 3_600_000;
        assert_eq!(purge_media(&*store, &vault, grace, t + grace - 1).unwrap(), 0);
        assert!(vault.get(&m1).is_ok(), "kept through the grace period");
        assert_eq!(purge_media(&*store, &vault, grace, t + grace + 1).unwrap(), 1);
        assert!(matches!(vault.get(&m1), Err(spoor_case::VaultError::NotFound { .. })));
        assert!(!vault.path_of(&m1).exists());
        let c = store.case(decided).unwrap();
        assert_eq!((c.media, c.media_purged_at), (None, Some(t + grace + 1)));
        assert!(vault.get(&m2).is_ok(), "an open case keeps its content");
        assert!(store.case(open).unwrap().media.is_some());
        assert_eq!(purge_media(&*store, &vault, grace, t + 10 * grace).unwrap(), 0);
        let log = store.audit_records(&spoor_bank::AuditQuery::after(0, 100)).unwrap();
        let purges: Vec<_> = log.iter().filter(|r| r.action == "media_purge").collect();
        assert_eq!(purges.len(), 1);
        assert_eq!(purges[0].details_json()["cases"], serde_json::json!([decided]));
    }

    /// The decided index finds content near a decided case, also one decided late on an old
    /// case, and each case once.
    #[test]
    fn decided_content_is_found_near() {
        let dir = tempfile::tempdir().unwrap();
        let store = spoor_bank::open(&spoor_bank::Location::DataDir(dir.path().join("d"))).unwrap();
        let mut ids = Vec::new();
        for n in 1..=3u8 {
            let case = store
                .create_case(&NewCase {
                    submitter: "key:hoster".into(),
                    meta: CaseMeta { reason: Some(CaseReason::UserFlag), ..Default::default() },
                    media_kind: MediaKind::None,
                    media: None,
                    signals: CaseSignals { pdq: Some([n * 60; 32]), ..Default::default() },
                    matches: vec![],
                    start: Start::Queue(cases::MAIN_QUEUE.into()),
                })
                .unwrap();
            ids.push(case.id);
        }
        let decided = Decided::default();
        assert_eq!(decided.catch_up(&*store).unwrap(), 0);
        let confirm = NewDecision {
            verdict: Some(Verdict::Confirm),
            category: Some(Category::Baseline),
            ..Default::default()
        };
        // The newest case decided first, the oldest later.
        let now = spoor_bank::model::now_ms();
        store.decide_case(ids[2], "key:r", &confirm, now, false).unwrap();
        assert_eq!(decided.catch_up(&*store).unwrap(), 1);
        store.decide_case(ids[0], "key:r", &confirm, now + 1, false).unwrap();
        assert_eq!(decided.catch_up(&*store).unwrap(), 1);
        assert_eq!(decided.catch_up(&*store).unwrap(), 0, "each case once");
        assert_eq!(decided.len(), 2);
        let mut near = [60u8; 32];
        near[0] ^= 0b111;
        assert_eq!(decided.near(&Hash256::from_bytes(near)), Some(ids[0]));
        near[1] ^= 0b11_1111;
        assert_eq!(decided.near(&Hash256::from_bytes(near)), None, "9 bits away");
        assert_eq!(decided.near(&Hash256::from_bytes([120; 32])), None, "not decided");
    }
}
