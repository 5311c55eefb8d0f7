//! Route handlers. Each checks the caller's role first, validates its input into the bank model
//! (naming the field that is wrong), and calls the store off the async threads.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use spoor_bank::{Added, EntryUpdate, NewBank, NewEntry, Role};
use spoor_core::{Hash256, SignalType};
use spoor_matcher::{Matcher, Scope};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
pub use crate::guard::Auth;
use crate::wire::*;
use crate::AppState;

/// Roles that may read and change banks.
pub const CURATE: &[Role] = &[Role::Admin, Role::Curator];
/// Roles that may read the audit log.
pub const AUDIT: &[Role] = &[Role::Admin, Role::Auditor];
/// Roles that may match.
pub const MATCH: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher];

/// Largest number of signals in one `POST /v1/match`.
pub const MAX_MATCH_BATCH: usize = 10_000;

/// Longest `/ready` waits for the store to answer.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// JSON body whose every rejection is an [`ApiError`] naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state).await.map(|Json(v)| ApiJson(v)).map_err(json_rejection)
    }
}

/// A refused JSON body as an [`ApiError`]: 413 when too large, 415 without the JSON content type,
/// 400 naming what is malformed.
pub(crate) fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large("the request body is larger than the server accepts (--max-body)")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media",
            message: "send the body as JSON with `Content-Type: application/json`".into(),
        },
        e => ApiError::bad_request(e.body_text()),
    }
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad_request(e.body_text()))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

fn signal_type(field: &str, s: &str) -> Result<SignalType, ApiError> {
    s.parse::<SignalType>().map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

pub(crate) fn scope(p: &Principal) -> Scope {
    match &p.banks {
        None => Scope::All,
        Some(b) => Scope::Banks(HashSet::clone(b)),
    }
}

/// Liveness: answers without authentication and says nothing about the data.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "The service is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: 200 only while the bank store answers (a cheap read, within 2 s) and the change
/// log was read recently (follower lag below `--ready-max-lag`) and the API keys are fresh
/// (below `--key-max-staleness`); otherwise 503 saying which. For load balancers: take a
/// replica out of rotation while it is not ready. No key needed; it says nothing of the data.
#[utoipa::path(get, path = "/ready", tag = "service",
    responses((status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Not ready: the store is unreachable, the follower lags or the keys are stale", body = Ready)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, store_check(&state)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", STORE_CHECK_TIMEOUT.as_secs())),
    };
    let lag = state.matcher.lag();
    let max_lag = state.config.ready_max_lag;
    let keys_age = state.keys.age();
    let max_keys_age = state.config.key_max_staleness;
    let mut problems = Vec::new();
    if let Err(e) = &store {
        problems.push(format!("the bank store is unreachable: {e}"));
    }
    if lag > max_lag {
        problems.push(format!(
            "the change log was last read {:.1} s ago (more than --ready-max-lag, {:.1} s): \
             recent changes to the banks may not be applied",
            lag.as_secs_f64(),
            max_lag.as_secs_f64()
        ));
    }
    if keys_age > max_keys_age {
        problems.push(format!(
            "the API keys were last read {:.1} s ago (more than --key-max-staleness, {:.1} s): \
             data routes answer 503",
            keys_age.as_secs_f64(),
            max_keys_age.as_secs_f64()
        ));
    }
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Ready {
        status: if problems.is_empty() { ReadyStatus::Ready } else { ReadyStatus::NotReady },
        store_reachable: store.is_ok(),
        follower_lag_seconds: lag.as_secs_f64(),
        max_follower_lag_seconds: max_lag.as_secs_f64(),
        keys_age_seconds: keys_age.as_secs_f64(),
        max_keys_age_seconds: max_keys_age.as_secs_f64(),
        problems,
    };
    (status, Json(body))
}

/// One cheap store read off the async threads; at most one in flight (a store that hangs gets
/// no pile of blocked threads: later checks wait on the same one).
async fn store_check(state: &AppState) -> Result<i64, String> {
    let mut slot = state.ready_check.lock().await;
    let handle = slot.get_or_insert_with(|| {
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || store.last_seq().map_err(|e| e.to_string()))
    });
    let result = handle.await;
    *slot = None;
    result.map_err(|e| format!("the check failed: {e}"))?
}

/// Prometheus metrics: request counts and latencies by route, index sizes, change-log position,
/// open cases per queue and the outcomes of decided cases (the error rates of real decisions,
/// per bank, signal type and distance band). Counts only, no data; unauthenticated so a scraper
/// needs no key.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let stats = state.matcher.stats();
    metrics::gauge!("spoor_index_pdq_entries").set(stats.pdq_entries as f64);
    metrics::gauge!("spoor_index_exact_entries").set(stats.exact_entries as f64);
    metrics::gauge!("spoor_banks").set(stats.banks as f64);
    metrics::gauge!("spoor_change_log_seq").set(stats.seq as f64);
    metrics::gauge!("spoor_api_keys").set(state.keys.len() as f64);
    metrics::gauge!("spoor_follower_lag_seconds").set(state.matcher.lag().as_secs_f64());
    metrics::gauge!("spoor_api_keys_age_seconds").set(state.keys.age().as_secs_f64());
    crate::cases::refresh_gauges(&state).await;
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The OpenAPI 3 description of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

/// Creates a bank.
#[utoipa::path(post, path = "/v1/banks", tag = "banks", request_body = BankCreate,
    security(("api_key" = [])),
    responses((status = 201, body = BankOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn create_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<BankCreate>,
) -> Result<(StatusCode, Json<BankOut>), ApiError> {
    let store = state.store.clone();
    let bank = blocking(move || {
        let new = NewBank {
            name: body.name,
            description: body.description,
            owner: body.owner,
            review_required: body.review_required,
            pdq_radius: body.pdq_radius,
            auto_confirm_distance: body.auto_confirm_distance,
            four_eyes: body.four_eyes,
            review_queue: body.review_queue,
            hma_enabled_ratio: body.hma_enabled_ratio,
        };
        Ok(store.create_bank(&new, &p.actor)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(bank.into())))
}

/// Lists the banks.
#[utoipa::path(get, path = "/v1/banks", tag = "banks", security(("api_key" = [])),
    responses((status = 200, body = BankList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_banks(
    State(state): State<AppState>,
    _caller: Auth,
) -> Result<Json<BankList>, ApiError> {
    let store = state.store.clone();
    let banks = blocking(move || Ok(store.banks()?)).await?;
    Ok(Json(BankList { banks: banks.into_iter().map(Into::into).collect() }))
}

/// One bank with its counts.
#[utoipa::path(get, path = "/v1/banks/{name}", tag = "banks", security(("api_key" = [])),
    params(("name" = String, Path, description = "Bank name")),
    responses((status = 200, body = BankDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_bank(
    State(state): State<AppState>,
    _caller: Auth,
    Path(name): Path<String>,
) -> Result<Json<BankDetail>, ApiError> {
    let store = state.store.clone();
    let (bank, stats) = blocking(move || Ok((store.bank(&name)?, store.stats(&name)?))).await?;
    Ok(Json(BankDetail {
        bank: bank.into(),
        entries: stats.entries,
        enabled_entries: stats.enabled,
        disabled_entries: stats.disabled,
        by_signal_type: stats.by_signal_type,
        by_category: stats.by_category,
        last_seq: stats.last_seq,
    }))
}

/// Changes a bank's settings (radius, review, description, owner) and/or pauses or resumes it,
/// with a reason; each is one change-log record, and matching follows within a second.
#[utoipa::path(patch, path = "/v1/banks/{name}", tag = "banks", request_body = BankPatch,
    security(("api_key" = [])), params(("name" = String, Path, description = "Bank name")),
    responses((status = 200, body = BankOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn patch_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<BankPatch>,
) -> Result<Json<BankOut>, ApiError> {
    let store = state.store.clone();
    let bank = blocking(move || {
        let settings = spoor_bank::BankSettings {
            description: body.description,
            owner: body.owner,
            review_required: body.review_required,
            pdq_radius: body.pdq_radius,
            auto_confirm_distance: body.auto_confirm_distance,
            four_eyes: body.four_eyes,
            review_queue: body.review_queue,
            hma_enabled_ratio: body.hma_enabled_ratio,
        };
        let mut bank = store.configure_bank(&name, &settings, &p.actor, &body.reason)?;
        if let Some(enabled) = body.enabled {
            bank = store.set_bank_enabled(&name, enabled, &p.actor, &body.reason)?;
        }
        Ok(bank)
    })
    .await?;
    Ok(Json(bank.into()))
}

fn new_entry(i: usize, e: EntryIn) -> Result<NewEntry, ApiError> {
    let field = |f: &str| format!("entries[{i}].{f}");
    let t = signal_type(&field("signal_type"), &e.signal_type)?;
    let value = t
        .parse(&e.value)
        .map_err(|err| ApiError::bad_request(format!("{}: {err}", field("value"))))?;
    let mut n = NewEntry::new(t, value);
    // The API takes the names exactly as its schema lists them (absent or null for none).
    n.category = e
        .category
        .map(|c| {
            c.parse::<spoor_bank::Category>()
                .ok()
                .filter(|p| p.name() == c)
                .ok_or_else(|| format!("{c:?}: use baseline, national or not_illegal, or null"))
        })
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("{}: {m}", field("category"))))?;
    n.severity = e
        .severity
        .map(|c| {
            c.parse::<spoor_bank::Severity>()
                .ok()
                .filter(|p| p.name() == c)
                .ok_or_else(|| format!("{c:?}: use A, B or C, or null"))
        })
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("{}: {m}", field("severity"))))?;
    n.tags = e.tags;
    n.source_org = e.source_org;
    n.source_id = e.source_id;
    n.verified_by = e.verified_by;
    n.verified_at = e
        .verified_at
        .map(|t| spoor_bank::model::parse_time(&t))
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("{}: {m}", field("verified_at"))))?;
    n.validate().map_err(|m| ApiError::bad_request(format!("entries[{i}]: {m}")))?;
    Ok(n)
}

/// Adds entries to a bank, all or none; a signal the bank holds already is reported, not added.
#[utoipa::path(post, path = "/v1/banks/{name}/entries", tag = "entries", request_body = EntriesIn,
    security(("api_key" = [])), params(("name" = String, Path, description = "Bank name")),
    responses((status = 200, body = EntriesAdded), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn add_entries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EntriesIn>,
) -> Result<Json<EntriesAdded>, ApiError> {
    if body.entries.len() > spoor_bank::MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "entries: {} entries in one request: send at most {} at a time",
            body.entries.len(),
            spoor_bank::MAX_BATCH
        )));
    }
    let entries = body
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| new_entry(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let store = state.store.clone();
    let added = blocking(move || Ok(store.add_entries(&name, &entries, &p.actor)?)).await?;
    let mut out =
        EntriesAdded { added: 0, already_present: 0, results: Vec::with_capacity(added.len()) };
    for a in added {
        out.results.push(match a {
            Added::New(id) => {
                out.added += 1;
                EntryResult { id, status: "added" }
            }
            Added::Present(id) => {
                out.already_present += 1;
                EntryResult { id, status: "already_present" }
            }
        });
    }
    Ok(Json(out))
}

/// Reads a bank's entries, a page at a time. Curators and admins only: a matcher never reads
/// a list.
#[utoipa::path(get, path = "/v1/banks/{name}/entries", tag = "entries", security(("api_key" = [])),
    params(("name" = String, Path, description = "Bank name"), PageQuery),
    responses((status = 200, body = EntriesPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 400, body = ErrorBody)))]
pub async fn list_entries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<EntriesPage>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be 1 to 1000"));
    }
    let store = state.store.clone();
    let entries = blocking(move || {
        let entries = store.entries(&name, q.after, limit)?;
        // Reading a list is audited: which page of which bank, by whom (never the values).
        let details = serde_json::json!({
            "after": q.after,
            "count": entries.len(),
            "first_id": entries.first().map(|e| e.id),
            "last_id": entries.last().map(|e| e.id),
        });
        let record = spoor_audit::NewRecord::by(&p.actor, "entries_read", "bank", &name)
            .with_details(details);
        // A view: appended without waiting for the disk flush (changes wait for it), and
        // before the entries are sent, so nothing is shown unrecorded.
        store.audit_append_relaxed(&record)?;
        Ok(entries)
    })
    .await?;
    let next_after = (entries.len() == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(EntriesPage { entries: entries.into_iter().map(Into::into).collect(), next_after }))
}

/// Roles that may read a bank's change log with values: admin and curator keys, and exchange keys
/// for the banks they are scoped to.
pub const CHANGES: &[Role] = &[Role::Admin, Role::Curator, Role::Exchange];

/// Largest page of `GET /v1/banks/{name}/changes`.
pub const MAX_CHANGES_PAGE: usize = 10_000;

/// A bank's change log after a sequence number, with each entry's value and state after each
/// change: what another Spoor instance follows to keep a copy of the bank (`spoor exchange`).
/// Exchange keys read only the banks they are scoped to. Each page read is audited.
#[utoipa::path(get, path = "/v1/banks/{name}/changes", tag = "banks", security(("api_key" = [])),
    params(("name" = String, Path, description = "Bank name"), ChangesQuery),
    responses((status = 200, body = ChangesPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn bank_changes(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<ChangesPage>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(1000);
    if !(1..=MAX_CHANGES_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit: must be 1 to {MAX_CHANGES_PAGE}")));
    }
    if q.after < 0 {
        return Err(ApiError::bad_request("after: must be 0 or more"));
    }
    if p.role == Role::Exchange && !p.banks.as_ref().is_some_and(|b| b.contains(&name)) {
        return Err(ApiError::forbidden(format!(
            "this exchange key may not read bank {name:?}: make one scoped to it with `spoor keys create --role exchange --banks {name}`"
        )));
    }
    let store = state.store.clone();
    let (changes, last_seq) = blocking(move || {
        store.bank(&name)?;
        let last_seq = store.last_seq()?;
        let changes = store.log(Some(&name), q.after, limit)?;
        // Values leave the service here: recorded, as reading entries is.
        let details = serde_json::json!({
            "after": q.after,
            "count": changes.len(),
            "last_seq_read": changes.last().map(|c| c.seq),
        });
        let record = spoor_audit::NewRecord::by(&p.actor, "changes_read", "bank", &name)
            .with_details(details);
        store.audit_append_relaxed(&record)?;
        Ok((changes, last_seq))
    })
    .await?;
    let next_after = changes.last().map_or(q.after, |c| c.seq);
    Ok(Json(ChangesPage {
        changes: changes.into_iter().map(Into::into).collect(),
        next_after,
        last_seq,
    }))
}

/// Disables or enables an entry and/or changes its classification, with a reason, all or nothing.
/// Each kind of change is one change-log record with the key's name as actor; matching follows
/// within a second.
#[utoipa::path(patch, path = "/v1/banks/{name}/entries/{id}", tag = "entries", request_body = EntryPatch,
    security(("api_key" = [])),
    params(("name" = String, Path, description = "Bank name"), ("id" = i64, Path, description = "Entry id")),
    responses((status = 200, body = EntryOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn patch_entry(
    State(state): State<AppState>,
    Auth(p): Auth,
    path: Result<Path<(String, i64)>, axum::extract::rejection::PathRejection>,
    ApiJson(body): ApiJson<EntryPatch>,
) -> Result<Json<EntryOut>, ApiError> {
    let Path((name, id)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    fn clearable<T: std::str::FromStr<Err = String>>(
        field: &str,
        v: Option<Option<String>>,
    ) -> Result<Option<Option<T>>, ApiError> {
        match v {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(s)) if s.is_empty() => {
                Err(ApiError::bad_request(format!("{field}: empty; send null to clear it")))
            }
            Some(Some(s)) => s
                .parse()
                .map(|v| Some(Some(v)))
                .map_err(|m| ApiError::bad_request(format!("{field}: {m}"))),
        }
    }
    let category = clearable("category", body.category)?;
    let severity = clearable("severity", body.severity)?;
    let update = EntryUpdate {
        category,
        severity,
        tags: body.tags,
        verified_by: body.verified_by,
        ..Default::default()
    };
    let enabled = body.enabled;
    let reason = body.reason;
    let store = state.store.clone();
    // One transaction: an invalid part (a bad tag after a disable) writes nothing at all.
    let entry = blocking(move || {
        let (entry, _changes) =
            store.patch_entry(&name, id, enabled, &update, &p.actor, &reason)?;
        Ok(entry)
    })
    .await?;
    Ok(Json(entry.into()))
}

/// Largest PDQ search radius a single lookup runs at on the async thread that received it.
const INLINE_PDQ_RADIUS: u32 = 32;

/// A signal to match, parsed.
enum Signal {
    Pdq(Hash256),
    Exact(SignalType, Vec<u8>),
    Vpdq(Vec<spoor_core::vpdq::VpdqFrame>),
}

impl Signal {
    /// Parses a signal, naming the field (`signals[3].value`) when it is wrong.
    fn parse(t: &str, v: &str, field: &str) -> Result<Signal, ApiError> {
        let t = signal_type(&format!("{field}signal_type"), t)?;
        let bad_value =
            |e: &dyn std::fmt::Display| ApiError::bad_request(format!("{field}value: {e}"));
        match t {
            SignalType::Vpdq => spoor_core::vpdq::parse(v).map(Signal::Vpdq).map_err(|e| bad_value(&e)),
            SignalType::Pdq => v.parse::<Hash256>().map(Signal::Pdq).map_err(|e| bad_value(&e)),
            SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => {
                t.parse(v).map(|b| Signal::Exact(t, b)).map_err(|e| bad_value(&e))
            }
            _ => Err(ApiError::bad_request(format!(
                "{field}signal_type: {} cannot be matched by this route (use pdq, md5, sha1, sha256 or vpdq)",
                t.name()
            ))),
        }
    }

    /// Matches, counting the lookup in `tally`; distances only when `show_distance`.
    fn run(
        &self,
        matcher: &Matcher,
        scope: &Scope,
        show_distance: bool,
        tally: &mut crate::usage::Tally,
    ) -> MatchResponse {
        let matches: Vec<MatchOut> = match self {
            Signal::Pdq(h) => {
                let found = matcher.match_pdq(h, scope);
                tally.matched(SignalType::Pdq, &found);
                found.into_iter().map(|m| MatchOut::from_match(m, show_distance)).collect()
            }
            Signal::Exact(t, v) => {
                let found = matcher.match_signal(*t, v, scope);
                tally.matched(*t, &found);
                found.into_iter().map(|m| MatchOut::from_match(m, show_distance)).collect()
            }
            Signal::Vpdq(frames) => {
                let thresholds = spoor_matcher::VpdqThresholds::default();
                let found = matcher.match_vpdq(frames, &thresholds, scope);
                tally.lookup(SignalType::Vpdq, None, found.len());
                found.into_iter().map(Into::into).collect()
            }
        };
        if !matches.is_empty() {
            metrics::counter!("spoor_matches_total").increment(matches.len() as u64);
        }
        MatchResponse { matches }
    }
}

/// The PDQ hashes among `queries`, for probe detection.
fn pdq_queries<'a>(queries: impl IntoIterator<Item = &'a Signal>) -> Vec<Hash256> {
    queries
        .into_iter()
        .filter_map(|q| match q {
            Signal::Pdq(h) => Some(*h),
            _ => None,
        })
        .collect()
}

/// Matches one signal against the banks the key may match: PDQ within each bank's radius
/// (default 31), digests exactly. Distances are shown to admin and curator keys and to matcher
/// keys made with `--show-distance` only.
#[utoipa::path(get, path = "/v1/match", tag = "match", security(("api_key" = [])), params(MatchQuery),
    responses((status = 200, body = MatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "Over the key's rate limit, or the key was stopped for probing", body = ErrorBody),
        (status = 503, description = "Keys stale, or no matching slot within the work budget", body = ErrorBody)))]
pub async fn match_get(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<MatchQuery>, QueryRejection>,
) -> Result<Json<MatchResponse>, ApiError> {
    let q = query(q)?;
    let signal = Signal::parse(&q.signal_type, &q.value, "")?;
    state.probes.observe(&p, &pdq_queries([&signal]))?;
    let scope = scope(&p);
    let matcher = state.matcher.clone();
    let show = p.show_distance;
    // One signal is one bounded search. A digest lookup, or a PDQ search at radius ≤ 32 (under
    // half a millisecond at 10M entries), runs right here: handing it to another thread would
    // cost more than the search. A wider search takes a blocking thread of its own, without
    // waiting for a slot of the batch pool, so lookups stay fast while batches run.
    let inline = match &signal {
        Signal::Exact(..) => true,
        Signal::Pdq(_) => matcher.search_radius() <= INLINE_PDQ_RADIUS,
        Signal::Vpdq(_) => false,
    };
    let (r, tally) = if inline {
        let mut tally = crate::usage::Tally::default();
        (signal.run(&matcher, &scope, show, &mut tally), tally)
    } else {
        blocking(move || {
            let mut tally = crate::usage::Tally::default();
            Ok((signal.run(&matcher, &scope, show, &mut tally), tally))
        })
        .await?
    };
    state.usage.add(&p.name, tally);
    state.console.activity.record(r.matches.len() as u64);
    Ok(Json(r))
}

/// Matches a batch of up to 10,000 signals; results in request order. Runs on the bounded
/// matching pool within the work budget (`--match-budget-ms`): a batch that does not finish in
/// time answers 503 and should be split.
#[utoipa::path(post, path = "/v1/match", tag = "match", request_body = MatchRequest,
    security(("api_key" = [])),
    responses((status = 200, body = MatchBatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit, or the key was stopped for probing", body = ErrorBody),
        (status = 503, description = "Keys stale, or the batch did not finish within the work budget", body = ErrorBody)))]
pub async fn match_post(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<MatchRequest>,
) -> Result<Json<MatchBatchResponse>, ApiError> {
    if body.signals.len() > MAX_MATCH_BATCH {
        return Err(ApiError::bad_request(format!(
            "signals: {} signals in one request: send at most {MAX_MATCH_BATCH} at a time",
            body.signals.len()
        )));
    }
    let queries = body
        .signals
        .iter()
        .enumerate()
        .map(|(i, s)| Signal::parse(&s.signal_type, &s.value, &format!("signals[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    drop(body);
    // The whole batch is refused when it trips the probe detector: no answer leaks.
    state.probes.observe(&p, &pdq_queries(&queries))?;
    let scope = scope(&p);
    let matcher = state.matcher.clone();
    let show = p.show_distance;
    let (results, tally) = state
        .pool
        .run(move |budget| {
            let mut results = Vec::with_capacity(queries.len());
            let mut tally = crate::usage::Tally::default();
            for q in &queries {
                budget.check()?;
                results.push(q.run(&matcher, &scope, show, &mut tally));
            }
            Ok((results, tally))
        })
        .await?;
    state.usage.add(&p.name, tally);
    state.console.activity.record(results.iter().map(|r| r.matches.len() as u64).sum());
    Ok(Json(MatchBatchResponse { results }))
}

/// Reads the `file` field of a multipart form, within the upload limit.
async fn file_field(
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::body::Bytes, ApiError> {
    let mut mp = mp.map_err(|e| {
        ApiError::bad_request(format!(
            "{}: send a multipart/form-data body with a `file` field",
            e.body_text()
        ))
    })?;
    let mut file = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::too_large(
                    "the upload is larger than the server accepts (--max-upload)",
                ))
            }
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "malformed multipart body: {}",
                    e.body_text()
                )))
            }
        };
        match field.name() {
            Some("file") if file.is_none() => {
                let data = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::too_large(
                            "the upload is larger than the server accepts (--max-upload)",
                        )
                    } else {
                        ApiError::bad_request(format!(
                            "cannot read the file field: {}",
                            e.body_text()
                        ))
                    }
                })?;
                file = Some(data);
            }
            Some("file") => {
                return Err(ApiError::bad_request(
                    "more than one `file` field: send one file per request",
                ))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown multipart field {:?}: send the file as the field `file`",
                    other.unwrap_or("")
                )))
            }
        }
    }
    let file =
        file.ok_or_else(|| ApiError::bad_request("no `file` field in the multipart body"))?;
    if file.is_empty() {
        return Err(ApiError::bad_request("file: the uploaded file is empty"));
    }
    Ok(file)
}

/// How an upload is decoded: the service's pixel and upload limits.
pub(crate) fn upload_options(state: &AppState) -> spoor_media::Options {
    spoor_media::Options {
        limits: spoor_media::Limits {
            max_pixels: state.config.max_pixels,
            max_file_bytes: state.config.max_upload_bytes as u64,
        },
        ..Default::default()
    }
}

/// Hashes bytes on the bounded pool, within the work budget. Nothing is written anywhere; the
/// bytes are dropped when this returns.
async fn hash_bytes(state: &AppState, bytes: axum::body::Bytes) -> Result<Hashes, ApiError> {
    let options = upload_options(state);
    let unframed = state.config.match_unframed;
    state
        .pool
        .run(move |_| {
            let d = spoor_hash::digest::Digests::of(&bytes);
            let mut h = Hashes {
                md5: d.md5.to_string(),
                sha1: d.sha1.to_string(),
                sha256: d.sha256.to_string(),
                ..Default::default()
            };
            match spoor_media::decode(&bytes, &options) {
                Ok(img) => {
                    let pdq = spoor_hash::pdq::pdq(img.pixels());
                    h.pdq = Some(pdq.hash.to_string());
                    h.quality = Some(pdq.quality);
                    h.width = Some(img.width as u32);
                    h.height = Some(img.height as u32);
                    if unframed {
                        if let Some((f, p)) = spoor_hash::pdq::frame::pdq_unframed(img.pixels()) {
                            let w = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
                            h.frame = Some([w(f.left), w(f.top), w(f.right), w(f.bottom)]);
                            h.pdq_unframed = Some(p.hash.to_string());
                            h.quality_unframed = Some(p.quality);
                        }
                    }
                }
                Err(e) => h.pdq_error = Some(e.to_string()),
            }
            Ok(h)
        })
        .await
}

/// Hashes an uploaded file (PDQ when it is an image; MD5, SHA-1, SHA-256 always) and matches
/// the hashes. The file is held in memory only. The key is checked before any byte of the body
/// is read, and at most `--max-concurrent-uploads` uploads are read at once.
#[utoipa::path(post, path = "/v1/match/upload", tag = "match", security(("api_key" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = UploadResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, description = "Over the key's rate limit, or the key was stopped for probing", body = ErrorBody),
        (status = 503, description = "Too many uploads at once (see `Retry-After`), keys stale, or over the work budget", body = ErrorBody)))]
pub async fn match_upload(
    State(state): State<AppState>,
    Auth(p): Auth,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<UploadResponse>, ApiError> {
    let file = file_field(mp).await?;
    let hashes = hash_bytes(&state, file).await?;
    let mut queries = Vec::new();
    if let Some(pdq) = &hashes.pdq {
        queries.push(Signal::parse("pdq", pdq, "")?);
    }
    for (t, v) in [("md5", &hashes.md5), ("sha1", &hashes.sha1), ("sha256", &hashes.sha256)] {
        queries.push(Signal::parse(t, v, "")?);
    }
    // What is inside the upload's frame, when it has one good enough to match (last, so that
    // the upload's own matches are known first).
    let inside = match (&hashes.pdq_unframed, hashes.quality_unframed) {
        (Some(u), Some(q)) if q >= spoor_hash::pdq::MIN_MATCH_QUALITY => {
            Some(Signal::parse("pdq", u, "")?)
        }
        _ => None,
    };
    state.probes.observe(&p, &pdq_queries(queries.iter().chain(&inside)))?;
    let scope = scope(&p);
    let matcher = state.matcher.clone();
    let (matches, tally) = blocking(move || {
        // Each match with whether only the inside of the upload's frame found it.
        let mut matches: Vec<(spoor_matcher::Match, bool)> = Vec::new();
        let mut tally = crate::usage::Tally::default();
        for q in &queries {
            let (t, found) = match q {
                Signal::Pdq(h) => (SignalType::Pdq, matcher.match_pdq(h, &scope)),
                Signal::Exact(t, v) => (*t, matcher.match_signal(*t, v, &scope)),
                Signal::Vpdq(_) => continue,
            };
            tally.matched(t, &found);
            matches.extend(found.into_iter().map(|m| (m, false)));
        }
        if let Some(Signal::Pdq(h)) = &inside {
            let new: Vec<spoor_matcher::Match> = matcher
                .match_pdq(h, &scope)
                .into_iter()
                .filter(|m| !matches.iter().any(|(x, _)| x.entry_id == m.entry_id))
                .collect();
            tally.matched(SignalType::Pdq, &new);
            matches.extend(new.into_iter().map(|m| (m, true)));
        }
        matches.sort_by_key(|(m, _)| (m.distance, m.entry_id));
        matches.dedup_by(|a, b| a.0.entry_id == b.0.entry_id);
        Ok((matches, tally))
    })
    .await?;
    state.usage.add(&p.name, tally);
    if !matches.is_empty() {
        metrics::counter!("spoor_matches_total").increment(matches.len() as u64);
    }
    state.console.activity.record(matches.len() as u64);
    let matches = matches
        .into_iter()
        .map(|(m, inside)| MatchOut {
            transform: inside.then(|| "unframed".to_string()),
            ..MatchOut::from_match(m, p.show_distance)
        })
        .collect();
    Ok(Json(UploadResponse { hashes, matches }))
}

/// Hashes an uploaded file without matching. The key is checked before any byte of the body is
/// read, and at most `--max-concurrent-uploads` uploads are read at once.
#[utoipa::path(post, path = "/v1/hash", tag = "hash", security(("api_key" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Hashes), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, description = "Over the key's rate limit, or the key was stopped for probing", body = ErrorBody),
        (status = 503, description = "Too many uploads at once (see `Retry-After`), keys stale, or over the work budget", body = ErrorBody)))]
pub async fn hash(
    State(state): State<AppState>,
    _caller: Auth,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Hashes>, ApiError> {
    let file = file_field(mp).await?;
    Ok(Json(hash_bytes(&state, file).await?))
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route: see /openapi.json for the API")
}

/// Reads the audit log, a page at a time, with filters. Admin and auditor keys only.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("api_key" = [])),
    params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    _caller: Auth,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be 1 to 1000"));
    }
    if q.after < 0 {
        return Err(ApiError::bad_request("after: must be 0 or more"));
    }
    let time = |field: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
        v.as_deref()
            .map(|t| {
                spoor_bank::model::parse_time(t)
                    .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
            })
            .transpose()
    };
    let query = spoor_bank::AuditQuery {
        after: q.after,
        before: None,
        newest_first: false,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        actor: q.actor,
        actor_kind: None,
        action: q.action,
        object_kind: q.object_kind,
        object_id: q.object_id,
        limit,
    };
    let store = state.store.clone();
    let records = blocking(move || Ok(store.audit_records(&query)?)).await?;
    let next_after = (records.len() == limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(Json(AuditPage { records: records.iter().map(Into::into).collect(), next_after }))
}
