//! Route handlers. Each checks the caller's role first, validates its input into the bank model
//! (naming the field that is wrong), and calls the store off the async threads.

use std::collections::HashSet;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use spoor_bank::{Added, EntryUpdate, NewBank, NewEntry, Role};
use spoor_core::SignalType;
use spoor_matcher::Scope;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::wire::*;
use crate::AppState;

const CURATE: &[Role] = &[Role::Admin, Role::Curator];
const MATCH: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher];
const HASH: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher, Role::Hasher];

/// Largest number of signals in one `POST /v1/match`.
pub const MAX_MATCH_BATCH: usize = 10_000;

/// The authenticated caller (and the rate limit, checked once per request).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let principal = state.keys.authenticate(header)?;
        if let Some(limiter) = &state.limiter {
            if limiter.check_key(&principal.key_id).is_err() {
                metrics::counter!("spoor_rate_limited_total").increment(1);
                return Err(ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "rate_limited",
                    message: format!(
                        "key {:?} is over its rate limit of {} requests a second: slow down",
                        &*principal.name, state.config.rate_limit
                    ),
                });
            }
        }
        Ok(Auth(principal))
    }
}

/// JSON body whose every rejection is an [`ApiError`] naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::too_large(
                    "the request body is larger than the server accepts (--max-body)",
                ))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media",
                message: "send the body as JSON with `Content-Type: application/json`".into(),
            }),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

fn signal_type(field: &str, s: &str) -> Result<SignalType, ApiError> {
    s.parse::<SignalType>().map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

fn scope(p: &Principal) -> Scope {
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

/// Prometheus metrics: request counts and latencies by route, index sizes, change-log position.
/// Counts only, no data; unauthenticated so a scraper needs no key.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let stats = state.matcher.stats();
    metrics::gauge!("spoor_index_pdq_entries").set(stats.pdq_entries as f64);
    metrics::gauge!("spoor_index_exact_entries").set(stats.exact_entries as f64);
    metrics::gauge!("spoor_banks").set(stats.banks as f64);
    metrics::gauge!("spoor_change_log_seq").set(stats.seq as f64);
    metrics::gauge!("spoor_api_keys").set(state.keys.len() as f64);
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
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<BankCreate>,
) -> Result<(StatusCode, Json<BankOut>), ApiError> {
    p.require(CURATE, "create banks")?;
    let store = state.store.clone();
    let bank = blocking(move || {
        let new = NewBank {
            name: body.name,
            description: body.description,
            owner: body.owner,
            review_required: body.review_required,
            pdq_radius: body.pdq_radius,
        };
        Ok(store.create_bank(&new, &p.name)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(bank.into())))
}

/// Lists the banks.
#[utoipa::path(get, path = "/v1/banks", tag = "banks", security(("api_key" = [])),
    responses((status = 200, body = BankList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_banks(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<BankList>, ApiError> {
    p.require(CURATE, "read banks")?;
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
    Auth(p): Auth,
    Path(name): Path<String>,
) -> Result<Json<BankDetail>, ApiError> {
    p.require(CURATE, "read banks")?;
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
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<BankPatch>,
) -> Result<Json<BankOut>, ApiError> {
    p.require(CURATE, "change banks")?;
    let store = state.store.clone();
    let bank = blocking(move || {
        let settings = spoor_bank::BankSettings {
            description: body.description,
            owner: body.owner,
            review_required: body.review_required,
            pdq_radius: body.pdq_radius,
        };
        let mut bank = store.configure_bank(&name, &settings, &p.name, &body.reason)?;
        if let Some(enabled) = body.enabled {
            bank = store.set_bank_enabled(&name, enabled, &p.name, &body.reason)?;
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
    n.category = e
        .category
        .filter(|c| !c.is_empty())
        .map(|c| c.parse())
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("{}: {m}", field("category"))))?;
    n.severity = e
        .severity
        .filter(|c| !c.is_empty())
        .map(|c| c.parse())
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
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn add_entries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EntriesIn>,
) -> Result<Json<EntriesAdded>, ApiError> {
    p.require(CURATE, "add entries")?;
    if body.entries.len() > spoor_bank::MAX_BATCH {
        return Err(ApiError::too_large(format!(
            "{} entries in one request: send at most {} at a time",
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
    let added = blocking(move || Ok(store.add_entries(&name, &entries, &p.name)?)).await?;
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
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_entries(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<EntriesPage>, ApiError> {
    p.require(CURATE, "read bank entries")?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be 1 to 1000"));
    }
    let store = state.store.clone();
    let entries = blocking(move || Ok(store.entries(&name, q.after, limit)?)).await?;
    let next_after = (entries.len() == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(EntriesPage { entries: entries.into_iter().map(Into::into).collect(), next_after }))
}

/// Disables or enables an entry and/or changes its classification, with a reason. Each kind of
/// change is one change-log record with the key's name as actor; matching follows within a
/// second.
#[utoipa::path(patch, path = "/v1/banks/{name}/entries/{id}", tag = "entries", request_body = EntryPatch,
    security(("api_key" = [])),
    params(("name" = String, Path, description = "Bank name"), ("id" = i64, Path, description = "Entry id")),
    responses((status = 200, body = EntryOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_entry(
    State(state): State<AppState>,
    Auth(p): Auth,
    path: Result<Path<(String, i64)>, axum::extract::rejection::PathRejection>,
    ApiJson(body): ApiJson<EntryPatch>,
) -> Result<Json<EntryOut>, ApiError> {
    p.require(CURATE, "change entries")?;
    let Path((name, id)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    fn clearable<T: std::str::FromStr<Err = String>>(
        field: &str,
        v: Option<Option<String>>,
    ) -> Result<Option<Option<T>>, ApiError> {
        match v {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(s)) if s.is_empty() => Ok(Some(None)),
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
    let entry = blocking(move || {
        if let Some(enabled) = enabled {
            store.set_enabled(&name, id, enabled, &p.name, &reason)?;
        }
        if update != EntryUpdate::default() {
            store.update_entry(&name, id, &update, &p.name, &reason)?;
        }
        Ok(store.entry(&name, id)?)
    })
    .await?;
    Ok(Json(entry.into()))
}

fn match_one(
    state: &AppState,
    scope: &Scope,
    t: &str,
    v: &str,
    field: &str,
) -> Result<MatchResponse, ApiError> {
    let t = signal_type(&format!("{field}signal_type"), t)?;
    if !matches!(
        t,
        SignalType::Pdq
            | SignalType::Md5
            | SignalType::Sha1
            | SignalType::Sha256
            | SignalType::Vpdq
    ) {
        return Err(ApiError::bad_request(format!(
            "{field}signal_type: {} cannot be matched by this route (use pdq, md5, sha1, sha256 or vpdq)",
            t.name()
        )));
    }
    if t == SignalType::Vpdq {
        let frames = spoor_core::vpdq::parse(v)
            .map_err(|e| ApiError::bad_request(format!("{field}value: {e}")))?;
        let thresholds = spoor_matcher::VpdqThresholds::default();
        let matches = state.matcher.match_vpdq(&frames, &thresholds, scope);
        if !matches.is_empty() {
            metrics::counter!("spoor_matches_total").increment(matches.len() as u64);
        }
        return Ok(MatchResponse { matches: matches.into_iter().map(Into::into).collect() });
    }
    let value = t.parse(v).map_err(|e| ApiError::bad_request(format!("{field}value: {e}")))?;
    let matches = state.matcher.match_signal(t, &value, scope);
    if !matches.is_empty() {
        metrics::counter!("spoor_matches_total").increment(matches.len() as u64);
    }
    Ok(MatchResponse { matches: matches.into_iter().map(Into::into).collect() })
}

/// Matches one signal against the banks the key may match: PDQ within each bank's radius
/// (default 31), digests exactly.
#[utoipa::path(get, path = "/v1/match", tag = "match", security(("api_key" = [])), params(MatchQuery),
    responses((status = 200, body = MatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn match_get(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<MatchQuery>, QueryRejection>,
) -> Result<Json<MatchResponse>, ApiError> {
    p.require(MATCH, "match")?;
    let q = query(q)?;
    Ok(Json(match_one(&state, &scope(&p), &q.signal_type, &q.value, "")?))
}

/// Matches a batch of up to 10,000 signals; results in request order.
#[utoipa::path(post, path = "/v1/match", tag = "match", request_body = MatchRequest,
    security(("api_key" = [])),
    responses((status = 200, body = MatchBatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn match_post(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<MatchRequest>,
) -> Result<Json<MatchBatchResponse>, ApiError> {
    p.require(MATCH, "match")?;
    if body.signals.len() > MAX_MATCH_BATCH {
        return Err(ApiError::too_large(format!(
            "{} signals in one request: send at most {MAX_MATCH_BATCH}",
            body.signals.len()
        )));
    }
    let scope = scope(&p);
    let results = body
        .signals
        .iter()
        .enumerate()
        .map(|(i, s)| {
            match_one(&state, &scope, &s.signal_type, &s.value, &format!("signals[{i}]."))
        })
        .collect::<Result<Vec<_>, _>>()?;
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

/// Reads the upload even when the caller may not send it, then refuses: a client still sending
/// its body gets a clean 401/403 instead of a connection reset. The read is bounded by the upload
/// limit like any other.
async fn upload_after_auth(
    auth: Result<Auth, ApiError>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    roles: &[Role],
    what: &str,
) -> Result<(Principal, axum::body::Bytes), ApiError> {
    let file = file_field(mp).await;
    let Auth(p) = auth?;
    p.require(roles, what)?;
    Ok((p, file?))
}

/// Hashes bytes off the async threads, at most as many at once as there are cores. Nothing is
/// written anywhere; the bytes are dropped when this returns.
async fn hash_bytes(state: &AppState, bytes: axum::body::Bytes) -> Result<Hashes, ApiError> {
    let _slot = state.hash_slots.acquire().await.map_err(ApiError::internal)?;
    let options = spoor_media::Options {
        limits: spoor_media::Limits {
            max_pixels: state.config.max_pixels,
            max_file_bytes: state.config.max_upload_bytes as u64,
        },
        ..Default::default()
    };
    blocking(move || {
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
            }
            Err(e) => h.pdq_error = Some(e.to_string()),
        }
        Ok(h)
    })
    .await
}

/// Hashes an uploaded file (PDQ when it is an image; MD5, SHA-1, SHA-256 always) and matches
/// the hashes. The file is held in memory only.
#[utoipa::path(post, path = "/v1/match/upload", tag = "match", security(("api_key" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = UploadResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn match_upload(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<UploadResponse>, ApiError> {
    let file = upload_after_auth(auth, mp, MATCH, "match").await;
    let (p, file) = file?;
    let hashes = hash_bytes(&state, file).await?;
    let scope = scope(&p);
    let mut matches = Vec::new();
    if let Some(pdq) = &hashes.pdq {
        matches.extend(match_one(&state, &scope, "pdq", pdq, "")?.matches);
    }
    for (t, v) in [("md5", &hashes.md5), ("sha1", &hashes.sha1), ("sha256", &hashes.sha256)] {
        matches.extend(match_one(&state, &scope, t, v, "")?.matches);
    }
    matches.sort_by_key(|m| (m.distance, m.entry_id));
    matches.dedup_by(|a, b| a.entry_id == b.entry_id);
    Ok(Json(UploadResponse { hashes, matches }))
}

/// Hashes an uploaded file without matching.
#[utoipa::path(post, path = "/v1/hash", tag = "hash", security(("api_key" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Hashes), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn hash(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Hashes>, ApiError> {
    let (_, file) = upload_after_auth(auth, mp, HASH, "hash").await?;
    Ok(Json(hash_bytes(&state, file).await?))
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route: see /openapi.json for the API")
}
