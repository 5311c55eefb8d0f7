//! The routes of Meta's Hasher-Matcher-Actioner (HMA 1.x, `OpenMediaMatch`), answered from
//! Spoor's banks and index, so that an HMA client (ROOST's Coop, scripts written for HMA) moves
//! to Spoor by changing its base URL.
//!
//! Served under a prefix (`--hma-prefix`, default `/hma`) with HMA's paths, parameters, status
//! codes and JSON shapes: `{"message": …}` errors, content ids as numbers, lookup distances as
//! strings, compare distances as numbers. What differs is deliberate and listed in the README
//! ("Coming from HMA"); in short:
//!
//! - **Keys stay on.** Every route but `/status` and `/status/live` needs a key, as bearer token
//!   or, for clients that cannot set a header, in the path (`{prefix}/k/{key}/…`; the key is
//!   never logged). `/h` takes any key that may hash, `/m` keys that may match, `/c` curator and
//!   admin keys; matcher keys scoped to banks match only those.
//! - **Distances** are shown to keys that may see them (admin, curator, `--show-distance`);
//!   other keys get lookups without the `distance` field, and `include_distance=true` is refused.
//! - **Content is an entry.** An HMA content item is one Spoor entry (its id is the entry id);
//!   a signal body naming several signal types makes one entry per signal, the first one's id
//!   answered. `metadata.content_id` becomes the entry's source id; links to media
//!   (`content_uri`), free JSON and notes are refused: Spoor keeps hashes and provenance only.
//! - **`disable_until_ts`** T (a time) disables the entry with the note (or a stock sentence) as the
//!   recorded reason and enables it again at T (`spoor_bank::enable_due`, run by the service),
//!   unless a person changes it first.
//! - **`matching_enabled_ratio`** is kept per bank (`hma_enabled_ratio`), and `/m/lookup` flips
//!   HMA's coin: each lookup consults the banks whose ratio is at least a coin drawn as HMA draws
//!   it, CPython's `random.Random(seed).random()` to the bit with a `seed` (so a seeded lookup
//!   consults the same banks on both), random without; `bypass_coinflip=true` consults every
//!   bank, on `GET` as on `POST` (HMA declares it on `GET` but ignores it there). A ratio of 0
//!   pauses the bank, with the reason recorded, and a paused bank matches nothing, bypass or not
//!   (HMA's bypass matches a bank at 0). Spoor's own routes consult every enabled bank whatever
//!   its ratio. Renaming and deleting a bank are refused with what to do.
//! - **`raw_lookup`** answers what matches: disabled content and paused banks are not in it
//!   (HMA's raw lookup skips those checks).
//! - **A bank holds a signal once**: banking a signal it holds already answers the existing
//!   entry's id, where HMA makes a second content item.
//! - **`url=`** fetches only from the hosts `--fetch-allow` names, never from an address inside
//!   (see [`crate::fetch`]); without the flag it is refused.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spoor_bank::{Added, BankError, NewBank, NewEntry, Role};
use spoor_core::{Hash256, SignalType};
use spoor_matcher::Scope;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorMessage};
use crate::guard::{Auth, Need};
use crate::routes::{blocking, query, scope, CURATE, MATCH};
use crate::AppState;

mod coin;

/// The prefix the routes are served under unless `--hma-prefix` says otherwise.
pub const DEFAULT_PREFIX: &str = "/hma";

/// PDQ distance HMA's `compare` calls a match.
const HMA_PDQ_THRESHOLD: u32 = 31;

/// Largest HMA note, in characters.
const MAX_NOTE: usize = 255;

/// HMA's signal types and the Spoor signal type each one is.
const SIGNAL_TYPES: [(&str, SignalType); 2] =
    [("pdq", SignalType::Pdq), ("video_md5", SignalType::Md5)];

/// HMA's content types and the signal types made from each.
const CONTENT_TYPES: [(&str, &str); 2] = [("photo", "pdq"), ("video", "video_md5")];

fn spoor_type(name: &str) -> Option<SignalType> {
    SIGNAL_TYPES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn hma_type(t: SignalType) -> Option<&'static str> {
    SIGNAL_TYPES.iter().find(|(_, s)| *s == t).map(|(n, _)| *n)
}

/// The routes, to be nested under the prefix (and under `{prefix}/k/{key}`).
pub fn router(state: &AppState) -> Router {
    let guarded =
        |need: Need| middleware::from_fn_with_state((state.clone(), need), crate::guard::guard);
    let body = DefaultBodyLimit::max(state.config.max_body_bytes);
    let upload = DefaultBodyLimit::max(state.config.max_upload_bytes);
    const HASH: &[Role] = &[Role::Admin, Role::Curator, Role::Matcher, Role::Hasher];
    let hash = Router::new()
        .route("/h/hash", get(hash_url).post(hash_upload))
        .route_layer(guarded(Need { roles: HASH, what: "hash", upload: true }))
        .layer(upload);
    let matching = Router::new()
        .route("/m/raw_lookup", get(raw_lookup))
        .route("/m/lookup", get(lookup_get))
        .route("/m/compare", post(compare))
        .route("/m/index/status", get(index_status))
        .route_layer(guarded(Need { roles: MATCH, what: "match", upload: false }))
        .layer(body);
    let match_upload = Router::new()
        .route("/m/lookup", post(lookup_upload))
        .route_layer(guarded(Need { roles: MATCH, what: "match", upload: true }))
        .layer(upload);
    let curate = Router::new()
        .route("/c/banks", get(banks).post(create_bank))
        .route("/c/bank/{bank_name}", get(get_bank).put(update_bank).delete(delete_bank))
        .route("/c/bank/{bank_name}/signal", post(add_signals))
        .route(
            "/c/bank/{bank_name}/content/{content_id}",
            get(get_content).put(update_content).delete(delete_content),
        )
        .route("/c/signal_type", get(signal_types))
        .route("/c/content_type", get(content_types))
        .route("/c/signal_type/index", get(signal_type_index))
        .route("/c/exchanges", get(exchanges))
        .route("/c/exchanges/apis", get(exchange_apis))
        .route("/c/exchange/{exchange_name}", get(exchange_config))
        .route("/c/exchange/{exchange_name}/status", get(exchange_status))
        .route_layer(guarded(Need { roles: CURATE, what: "read or change banks", upload: false }))
        .layer(body);
    let curate_upload = Router::new()
        .route("/c/bank/{bank_name}/content", post(add_content))
        .route_layer(guarded(Need { roles: CURATE, what: "read or change banks", upload: true }))
        .layer(upload);
    Router::new()
        .route("/status", get(status))
        .route("/status/live", get(live))
        .merge(hash)
        .merge(matching)
        .merge(match_upload)
        .merge(curate)
        .merge(curate_upload)
        .layer(middleware::from_fn(hma_errors))
        .with_state(state.clone())
}

/// The key in the path (`{prefix}/k/{key}/…`) becomes the bearer token the guard reads. A
/// bearer header sent as well is replaced: the path is what the client configured.
pub async fn key_from_path(
    Path(params): Path<BTreeMap<String, String>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(key) = params.get("key") {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    next.run(req).await
}

/// The path with a key in it (`…/k/{key}/…`) as it may be logged: the key replaced by `…`.
pub fn redact(path: &str) -> std::borrow::Cow<'_, str> {
    match path.find("/k/") {
        Some(i) => {
            let rest = &path[i + 3..];
            let end = rest.find('/').unwrap_or(rest.len());
            std::borrow::Cow::Owned(format!("{}/k/…{}", &path[..i], &rest[end..]))
        }
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// Every error these routes answer, the guard's included, in HMA's shape: `{"message": …}`.
async fn hma_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let Some(ErrorMessage(message)) = resp.extensions().get::<ErrorMessage>().cloned() else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&serde_json::json!({ "message": message }))
        .unwrap_or_else(|_| b"{}".to_vec());
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// Where HMA's request validation answers 422 (a parameter or body of the wrong type, or
/// missing): 422 too, with a message naming the field.
fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "bad_request",
        message: message.into(),
    }
}

/// A JSON body, refused as HMA refuses one: 415 without the JSON content type, 400 when
/// malformed.
fn json_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(v)| v).map_err(crate::routes::json_rejection)
}

// ---------------------------------------------------------------------------------------------
// Status

/// `I-AM-ALIVE` while the index is current; `INDEX-STALE` (503) while the change log has not
/// been read for longer than `--ready-max-lag`. No key needed.
async fn status(State(state): State<AppState>) -> Response {
    if state.matcher.lag() > state.config.ready_max_lag {
        return (StatusCode::SERVICE_UNAVAILABLE, "INDEX-STALE").into_response();
    }
    (StatusCode::OK, "I-AM-ALIVE").into_response()
}

async fn live() -> &'static str {
    "I-AM-ALIVE"
}

// ---------------------------------------------------------------------------------------------
// Hashing

#[derive(Deserialize)]
struct HashQuery {
    url: Option<String>,
    content_type: Option<String>,
    types: Option<String>,
}

async fn hash_url(
    State(state): State<AppState>,
    _caller: Auth,
    q: Result<Query<HashQuery>, QueryRejection>,
) -> Result<Json<BTreeMap<&'static str, String>>, ApiError> {
    let q = query(q)?;
    let Some(url) = q.url.filter(|u| !u.is_empty()) else {
        return Err(unprocessable("url: missing: give the URL of the media to hash"));
    };
    let upload = fetch_media(&state, &url, q.content_type.as_deref()).await?;
    Ok(Json(hash_for_hma(&state, &upload, q.types.as_deref()).await?))
}

const NO_URLS: &str = "this service fetches no media by URL (`url=`): start it with --fetch-allow HOST,… naming the hosts media may come from, or hash the file and upload it (multipart, the field named `photo` or `video`)";

/// Fetches the media at `url` (within `--fetch-allow` and the address rules of [`crate::fetch`])
/// as an upload of the content type `hint` names, or the server's `Content-Type` says.
async fn fetch_media(state: &AppState, url: &str, hint: Option<&str>) -> Result<Upload, ApiError> {
    use crate::fetch::FetchError as F;
    let Some(fetcher) = state.fetcher.clone() else {
        return Err(bad(NO_URLS));
    };
    let content_type = match hint.filter(|h| !h.is_empty()) {
        Some(h) => Some(
            CONTENT_TYPES
                .iter()
                .find(|(c, _)| *c == h)
                .map(|(c, _)| *c)
                .ok_or_else(|| bad(format!("no such content_type: '{h}'")))?,
        ),
        None => None,
    };
    // What is fetched is held in memory like an upload, and counts against the same limit.
    let _permit = crate::guard::upload_permit(state)?;
    let fetched = fetcher.fetch(url).await.map_err(|e| match e {
        F::TooLarge(_) => ApiError::too_large(format!("Content too large: {e}")),
        F::BadUrl(_) | F::HostNotAllowed { .. } | F::Refused(_) | F::TooManyRedirects => {
            bad(format!("Invalid or unsafe URL provided: {e}"))
        }
        F::Status(_) | F::Timeout(_) | F::Failed(_) => bad(format!("Failed to fetch URL: {e}")),
    })?;
    let content_type = match content_type {
        Some(c) => c,
        None => {
            let ct = fetched.content_type.clone().unwrap_or_default();
            let lower = ct.to_ascii_lowercase();
            if lower.starts_with("image") {
                "photo"
            } else if lower.starts_with("video") {
                "video"
            } else {
                return Err(bad(format!(
                    "unsupported url ContentType: '{ct}', if you know the expected type, provide it with the content_type query param"
                )));
            }
        }
    };
    if fetched.bytes.is_empty() {
        return Err(bad("Failed to fetch URL: the server sent no bytes"));
    }
    Ok(Upload { content_type, bytes: fetched.bytes.into(), fields: BTreeMap::new() })
}

/// An upload in HMA's form: one file, in a field named after its content type; plain fields
/// `metadata`, `note` and `content_id` beside it.
struct Upload {
    content_type: &'static str,
    bytes: axum::body::Bytes,
    fields: BTreeMap<String, String>,
}

async fn read_upload(
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    allowed_fields: &[&str],
) -> Result<Upload, ApiError> {
    let mut mp =
        mp.map_err(|e| bad(format!("{}: send a multipart/form-data body", e.body_text())))?;
    let too_large =
        || ApiError::too_large("the upload is larger than the server accepts (--max-upload)");
    let mut file: Option<(&'static str, axum::body::Bytes)> = None;
    let mut fields = BTreeMap::new();
    // The first thing wrong; the body is still read to its end (within the upload limit), so
    // that the client gets the answer rather than a connection closed while it sends.
    let mut wrong: Option<ApiError> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(bad(format!("malformed multipart body: {}", e.body_text()))),
        };
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some();
        let data = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                bad(format!("cannot read the field {name:?}: {}", e.body_text()))
            }
        })?;
        if wrong.is_some() {
            continue;
        }
        if is_file {
            match CONTENT_TYPES.iter().find(|(c, _)| *c == name) {
                None => wrong = Some(bad(format!("no such content_type: '{name}'"))),
                Some(_) if file.is_some() => wrong = Some(bad("Only one file allowed per request")),
                Some(&(ct, _)) => file = Some((ct, data)),
            }
        } else if allowed_fields.contains(&name.as_str()) {
            match String::from_utf8(data.to_vec()) {
                Ok(text) => {
                    fields.insert(name, text);
                }
                Err(_) => wrong = Some(bad(format!("field {name}: not UTF-8 text"))),
            }
        } else {
            wrong = Some(bad(format!(
                "unknown multipart field {name:?}: send the file in a field named `photo` or `video`{}",
                if allowed_fields.is_empty() {
                    String::new()
                } else {
                    format!(", and only {}", allowed_fields.join(", "))
                }
            )));
        }
    }
    if let Some(e) = wrong {
        return Err(e);
    }
    let Some((content_type, bytes)) = file else {
        return Err(bad("Missing multipart/form-data file upload"));
    };
    if bytes.is_empty() {
        return Err(bad("the uploaded file is empty"));
    }
    Ok(Upload { content_type, bytes, fields })
}

/// The signal types to make for a content type, narrowed by `types=` as HMA narrows them.
fn selected_types(content_type: &str, types: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let available: Vec<&'static str> =
        CONTENT_TYPES.iter().filter(|(c, _)| *c == content_type).map(|(_, s)| *s).collect();
    let Some(types) = types else { return Ok(available) };
    let mut out = Vec::new();
    for t in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match available.iter().find(|a| **a == t) {
            Some(a) if !out.contains(a) => out.push(*a),
            Some(_) => {}
            None => return Err(bad(format!("signal type '{t}' doesn't exist or is disabled"))),
        }
    }
    if out.is_empty() {
        return Err(bad("empty signal type selection"));
    }
    Ok(out)
}

/// Hashes an upload as HMA does: `pdq` of a photo (empty when its quality is below 50, as HMA
/// answers), `video_md5` of a video's bytes.
async fn hash_for_hma(
    state: &AppState,
    upload: &Upload,
    types: Option<&str>,
) -> Result<BTreeMap<&'static str, String>, ApiError> {
    let selected = selected_types(upload.content_type, types)?;
    let bytes = upload.bytes.clone();
    let options = crate::routes::upload_options(state);
    state
        .pool
        .run(move |_| {
            let mut out = BTreeMap::new();
            for t in selected {
                match t {
                    "pdq" => {
                        let img = spoor_media::decode(&bytes, &options)
                            .map_err(|e| bad(format!("cannot read the photo: {e}")))?;
                        let pdq = spoor_hash::pdq::pdq(img.pixels());
                        let text =
                            if pdq.quality < 50 { String::new() } else { pdq.hash.to_string() };
                        out.insert("pdq", text);
                    }
                    _ => {
                        out.insert(
                            "video_md5",
                            spoor_hash::digest::Digests::of(&bytes).md5.to_string(),
                        );
                    }
                }
            }
            Ok(out)
        })
        .await
}

#[derive(Deserialize)]
struct TypesQuery {
    types: Option<String>,
}

async fn hash_upload(
    State(state): State<AppState>,
    _caller: Auth,
    q: Result<Query<TypesQuery>, QueryRejection>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<BTreeMap<&'static str, String>>, ApiError> {
    let q = query(q)?;
    let upload = read_upload(mp, &[]).await?;
    Ok(Json(hash_for_hma(&state, &upload, q.types.as_deref()).await?))
}

// ---------------------------------------------------------------------------------------------
// Matching

/// A signal to look up, checked as HMA checks it.
enum Query1 {
    Pdq(Hash256),
    Md5(Vec<u8>),
}

fn parse_signal(signal_type: &str, signal: &str) -> Result<Query1, ApiError> {
    match signal_type {
        // HMA takes exactly 64 lowercase hex digits.
        "pdq" => {
            if signal.len() != 64
                || !signal.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad("invalid signal: invalid PDQ hash"));
            }
            signal.parse().map(Query1::Pdq).map_err(|e| bad(format!("invalid signal: {e}")))
        }
        "video_md5" => {
            let s = signal.trim().to_ascii_lowercase();
            SignalType::Md5
                .parse(&s)
                .map(Query1::Md5)
                .map_err(|_| bad(format!("invalid signal: {signal:?} is not a valid MD5 hash")))
        }
        other => Err(bad(format!("No such SignalType '{other}'"))),
    }
}

/// The banks a lookup may match: the key's scope, narrowed by `banks=`.
fn lookup_scope(p: &Principal, banks: Option<&str>) -> Scope {
    let wanted: Option<HashSet<String>> =
        banks.filter(|b| !b.is_empty()).map(|b| b.split(',').map(str::to_string).collect());
    match (scope(p), wanted) {
        (s, None) => s,
        (Scope::All, Some(w)) => Scope::Banks(w),
        (Scope::Banks(mine), Some(w)) => Scope::Banks(mine.intersection(&w).cloned().collect()),
    }
}

#[derive(Serialize)]
struct Hit {
    bank_content_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance: Option<String>,
}

/// How a lookup picks banks by their `matching_enabled_ratio`.
#[derive(Clone)]
enum Coin {
    /// Every enabled bank (`raw_lookup`, `bypass_coinflip=true`).
    Bypass,
    /// HMA's coin, seeded by the lookup's `seed` when it has one.
    Flip(Option<String>),
}

impl Coin {
    /// Keeps the matches in banks whose ratio is at least the coin. HMA draws one coin per
    /// signal type, each from a fresh generator (with a seed: the same coin for each); the coin
    /// lies in [0, 1), so it is drawn only when a matched bank's ratio is below 1.
    fn keep(&self, matcher: &spoor_matcher::Matcher, found: &mut Vec<spoor_matcher::Match>) {
        let Coin::Flip(seed) = self else { return };
        if found.is_empty() {
            return;
        }
        let mut ratios: BTreeMap<Arc<str>, f64> = BTreeMap::new();
        for m in found.iter() {
            ratios.entry(m.bank.clone()).or_insert_with(|| matcher.hma_enabled_ratio(&m.bank));
        }
        if ratios.values().all(|&r| r >= 1.0) {
            return;
        }
        let coin = coin::flip(seed.as_deref());
        found.retain(|m| ratios.get(&m.bank).is_some_and(|&r| r >= coin));
    }
}

/// `seed` and `bypass_coinflip` of a lookup.
fn lookup_coin(seed: Option<&str>, bypass: Option<&str>) -> Result<Coin, ApiError> {
    let bypass = flag("bypass_coinflip", bypass).map_err(|e| unprocessable(e.message))?;
    Ok(if bypass { Coin::Bypass } else { Coin::Flip(seed.map(str::to_string)) })
}

/// Looks one signal up: matches in the banks in `scope` whose ratio is at least the coin,
/// counted in the day's statistics and watched by the probe detector like every lookup.
async fn run_lookup(
    state: &AppState,
    p: &Principal,
    q: Query1,
    scope: Scope,
    coin: Coin,
) -> Result<Vec<spoor_matcher::Match>, ApiError> {
    if let Query1::Pdq(h) = &q {
        state.probes.observe(p, &[*h])?;
    }
    let matcher = state.matcher.clone();
    let (found, tally) = blocking(move || {
        let mut tally = crate::usage::Tally::default();
        let mut found = match &q {
            Query1::Pdq(h) => matcher.match_pdq(h, &scope),
            Query1::Md5(v) => matcher.match_signal(SignalType::Md5, v, &scope),
        };
        coin.keep(&matcher, &mut found);
        let t = if matches!(q, Query1::Pdq(_)) { SignalType::Pdq } else { SignalType::Md5 };
        tally.matched(t, &found);
        Ok((found, tally))
    })
    .await?;
    state.usage.add(&p.name, tally);
    if !found.is_empty() {
        metrics::counter!("spoor_matches_total").increment(found.len() as u64);
    }
    state.console.activity.record(found.len() as u64);
    Ok(found)
}

fn hit(m: &spoor_matcher::Match, t: &str, show: bool) -> Hit {
    // HMA prints a digest match's distance as "-".
    let distance = show.then(|| if t == "pdq" { m.distance.to_string() } else { "-".into() });
    Hit { bank_content_id: m.entry_id, distance }
}

fn by_bank(found: &[spoor_matcher::Match], t: &str, show: bool) -> BTreeMap<String, Vec<Hit>> {
    let mut out: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
    for m in found {
        out.entry(m.bank.to_string()).or_default().push(hit(m, t, show));
    }
    out
}

#[derive(Deserialize)]
struct RawLookupQuery {
    signal: Option<String>,
    signal_type: Option<String>,
    banks: Option<String>,
    include_distance: Option<String>,
}

/// HMA's permissive booleans (`true`, `1`, `yes`, `on`…).
fn flag(name: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("true" | "1" | "yes" | "on" | "t" | "y") => Ok(true),
        Some("false" | "0" | "no" | "off" | "f" | "n") => Ok(false),
        Some(other) => Err(bad(format!("{name}: {other:?} is not a boolean: use true or false"))),
    }
}

async fn raw_lookup(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<RawLookupQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (Some(signal), Some(signal_type)) = (q.signal, q.signal_type) else {
        return Err(unprocessable("signal and signal_type are required"));
    };
    let with_distance = flag("include_distance", q.include_distance.as_deref())
        .map_err(|e| unprocessable(e.message))?;
    if with_distance && !p.show_distance {
        return Err(ApiError::forbidden(
            "this key may not see distances: make a matcher key with `spoor keys create --show-distance`, or leave out include_distance",
        ));
    }
    let parsed = parse_signal(&signal_type, &signal)?;
    let scope = lookup_scope(&p, q.banks.as_deref());
    // As HMA's raw lookup: no coin.
    let found = run_lookup(&state, &p, parsed, scope, Coin::Bypass).await?;
    let matches: Vec<Value> = if with_distance {
        found
            .iter()
            .map(|m| serde_json::to_value(hit(m, &signal_type, true)).unwrap_or(Value::Null))
            .collect()
    } else {
        found.iter().map(|m| Value::from(m.entry_id)).collect()
    };
    Ok(Json(serde_json::json!({ "matches": matches })))
}

#[derive(Deserialize)]
struct LookupQuery {
    url: Option<String>,
    signal: Option<String>,
    signal_type: Option<String>,
    banks: Option<String>,
    seed: Option<String>,
    bypass_coinflip: Option<String>,
    content_type: Option<String>,
    types: Option<String>,
}

async fn lookup_get(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<LookupQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let coin = lookup_coin(q.seed.as_deref(), q.bypass_coinflip.as_deref())?;
    if let Some(url) = q.url.as_deref().filter(|u| !u.is_empty()) {
        // By URL: the media fetched and hashed, each signal type looked up; as HMA, only the
        // named signal type's matches when `signal_type` is given.
        let upload = fetch_media(&state, url, q.content_type.as_deref()).await?;
        let hashes = hash_for_hma(&state, &upload, q.types.as_deref()).await?;
        let out = lookup_hashes(&state, &p, hashes, q.banks.as_deref(), coin).await?;
        let out = serde_json::to_value(out).map_err(ApiError::internal)?;
        return Ok(Json(match q.signal_type.as_deref() {
            Some(t) => out.get(t).cloned().unwrap_or_else(|| serde_json::json!({})),
            None => out,
        }));
    }
    let (Some(signal), Some(signal_type)) = (q.signal, q.signal_type) else {
        return Err(bad("Either url or both signal and signal_type are required"));
    };
    let parsed = parse_signal(&signal_type, &signal)?;
    let found = run_lookup(&state, &p, parsed, lookup_scope(&p, q.banks.as_deref()), coin).await?;
    let out = by_bank(&found, &signal_type, p.show_distance);
    Ok(Json(serde_json::to_value(out).map_err(ApiError::internal)?))
}

/// Looks each hash up: `{signal_type: {bank: [hits]}}`.
async fn lookup_hashes(
    state: &AppState,
    p: &Principal,
    hashes: BTreeMap<&'static str, String>,
    banks: Option<&str>,
    coin: Coin,
) -> Result<BTreeMap<&'static str, BTreeMap<String, Vec<Hit>>>, ApiError> {
    let mut out = BTreeMap::new();
    for (t, value) in hashes {
        // A photo too plain for PDQ has no hash to look up, and so no match.
        let found = if value.is_empty() {
            Vec::new()
        } else {
            let parsed = parse_signal(t, &value)?;
            run_lookup(state, p, parsed, lookup_scope(p, banks), coin.clone()).await?
        };
        out.insert(t, by_bank(&found, t, p.show_distance));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct UploadLookupQuery {
    types: Option<String>,
    banks: Option<String>,
    seed: Option<String>,
    bypass_coinflip: Option<String>,
}

async fn lookup_upload(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<UploadLookupQuery>, QueryRejection>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<BTreeMap<&'static str, BTreeMap<String, Vec<Hit>>>>, ApiError> {
    let q = query(q)?;
    let coin = lookup_coin(q.seed.as_deref(), q.bypass_coinflip.as_deref())?;
    let upload = read_upload(mp, &[]).await?;
    let hashes = hash_for_hma(&state, &upload, q.types.as_deref()).await?;
    Ok(Json(lookup_hashes(&state, &p, hashes, q.banks.as_deref(), coin).await?))
}

async fn compare(body: Result<Json<Value>, JsonRejection>) -> Result<Json<Value>, ApiError> {
    let Value::Object(pairs) = json_body(body)? else {
        return Err(bad("Request input was not a dict"));
    };
    let mut out = serde_json::Map::new();
    for (t, v) in pairs {
        let Value::Array(list) = v else {
            return Err(bad(format!("Comparison hashes for {t} was not a list")));
        };
        if list.len() != 2 {
            return Err(bad("Comparison hash list length must be exactly 2"));
        }
        let text = |i: usize| -> Result<&str, ApiError> {
            list[i].as_str().ok_or_else(|| bad(format!("Invalid {t} hash: not a string")))
        };
        let invalid = |e: ApiError| {
            bad(format!("Invalid {t} hash: {}", e.message.trim_start_matches("invalid signal: ")))
        };
        let (a, b) = (
            parse_signal(&t, text(0)?).map_err(invalid)?,
            parse_signal(&t, text(1)?).map_err(invalid)?,
        );
        let result = match (a, b) {
            (Query1::Pdq(a), Query1::Pdq(b)) => {
                let d = a.distance(&b);
                serde_json::json!([d <= HMA_PDQ_THRESHOLD, { "distance": d }])
            }
            // HMA fails here (its digest comparison has no distance to print); Spoor answers
            // equal or not, at distance 0 or 1.
            (Query1::Md5(a), Query1::Md5(b)) => {
                serde_json::json!([a == b, { "distance": u32::from(a != b) }])
            }
            _ => return Err(bad(format!("Invalid {t} hash"))),
        };
        out.insert(t, result);
    }
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
struct OneType {
    signal_type: Option<String>,
}

fn types_asked(q: &OneType) -> Result<Vec<(&'static str, SignalType)>, ApiError> {
    match &q.signal_type {
        None => Ok(SIGNAL_TYPES.to_vec()),
        Some(t) => SIGNAL_TYPES
            .iter()
            .find(|(n, _)| n == t)
            .map(|x| vec![*x])
            .ok_or_else(|| bad(format!("No such signal type '{t}'"))),
    }
}

/// Spoor's index is updated live: it is "built to" the moment the change log was last read.
fn built_to(state: &AppState) -> i64 {
    let now = spoor_bank::model::now_ms() / 1000;
    now - state.matcher.lag().as_secs() as i64
}

/// Entries the index holds for an HMA signal type: PDQ entries for `pdq`; every digest entry
/// (MD5, SHA-1, SHA-256 share one exact index) for `video_md5`.
fn index_size(state: &AppState, t: SignalType) -> u64 {
    let s = state.matcher.stats();
    if t == SignalType::Pdq {
        s.pdq_entries
    } else {
        s.exact_entries
    }
}

async fn index_status(
    State(state): State<AppState>,
    _caller: Auth,
    q: Result<Query<OneType>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let mut out = serde_json::Map::new();
    for (name, t) in types_asked(&q)? {
        out.insert(
            name.into(),
            serde_json::json!({ "built_to": built_to(&state), "present": true, "size": index_size(&state, t) }),
        );
    }
    Ok(Json(Value::Object(out)))
}

// ---------------------------------------------------------------------------------------------
// Curation

/// A bank in HMA's shape.
#[derive(Serialize)]
struct HmaBank {
    matching_enabled_ratio: f64,
    name: String,
}

impl From<&spoor_bank::Bank> for HmaBank {
    fn from(b: &spoor_bank::Bank) -> Self {
        // A paused bank consults no lookup: HMA's ratio 0.
        let matching_enabled_ratio = if b.enabled { b.hma_enabled_ratio } else { 0.0 };
        HmaBank { matching_enabled_ratio, name: b.name.clone() }
    }
}

async fn banks(
    State(state): State<AppState>,
    _caller: Auth,
) -> Result<Json<Vec<HmaBank>>, ApiError> {
    let store = state.store.clone();
    let banks = blocking(move || Ok(store.banks()?)).await?;
    Ok(Json(banks.iter().map(HmaBank::from).collect()))
}

#[derive(Deserialize)]
struct BankPath {
    bank_name: String,
}

fn bank_missing(name: &str) -> impl FnOnce(BankError) -> ApiError + '_ {
    move |e| match e {
        BankError::NoSuchBank(_) => ApiError::not_found(format!("bank '{name}' not found")),
        e => e.into(),
    }
}

async fn get_bank(
    State(state): State<AppState>,
    _caller: Auth,
    Path(path): Path<BankPath>,
) -> Result<Json<HmaBank>, ApiError> {
    let store = state.store.clone();
    let name = path.bank_name;
    let bank = blocking(move || store.bank(&name).map_err(bank_missing(&name))).await?;
    Ok(Json(HmaBank::from(&bank)))
}

/// HMA's bank names: `[A-Z_][A-Z0-9_]*` (Spoor's rule also limits them to 64 characters).
fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = name.bytes().next().is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(bad("Bank names must be UPPER_WITH_UNDERSCORE (at most 64 characters)"))
    }
}

/// A ratio as HMA takes it (a number, or a number in a string, as Coop sends it), from 0 (the
/// bank paused) to 1 (every lookup).
fn ratio(v: &Value) -> Result<Option<f64>, ApiError> {
    let x = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match x {
        Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
        Some(x) => Err(bad(format!(
            "enabled_ratio: {x} is not a share of lookups: use a number from 0 (the bank paused) \
             to 1 (every lookup consults it)"
        ))),
        None => Err(unprocessable("enabled_ratio: not a number")),
    }
}

fn enabled_flag(v: &Value) -> Result<Option<bool>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Some(true)),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Some(false)),
        Value::String(s) => {
            flag("enabled", Some(s)).map(Some).map_err(|e| unprocessable(e.message))
        }
        _ => Err(unprocessable("enabled: not a boolean")),
    }
}

const BANK_FIELDS: &[&str] = &["name", "enabled_ratio", "enabled"];

fn object(v: Value, allowed: &[&str]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "bad_request",
            message: "the body must be a JSON object".into(),
        });
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "bad_request",
            message: format!("unknown field {k:?}: the fields are {}", allowed.join(", ")),
        });
    }
    Ok(m)
}

/// Why a bank was paused or resumed through these routes.
const RATIO_REASON: &str = "matching_enabled_ratio set through the HMA routes";

/// A bank's JSON body: anything but a JSON object answers 422, as HMA's validation does.
fn bank_body(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let v = json_body(body).map_err(|e| match e.status {
        StatusCode::PAYLOAD_TOO_LARGE => e,
        _ => unprocessable(format!("the body must be a JSON object: {}", e.message)),
    })?;
    object(v, BANK_FIELDS)
}

async fn create_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<HmaBank>), ApiError> {
    let m = bank_body(body)?;
    let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "bad_request",
            message: "name: required".into(),
        });
    };
    check_name(&name)?;
    // As HMA: `enabled_ratio` wins; `enabled` counts only when no ratio is given.
    let target = match m.get("enabled_ratio").map(ratio).transpose()?.flatten() {
        Some(r) => r,
        None => match m.get("enabled").map(enabled_flag).transpose()?.flatten() {
            Some(false) => 0.0,
            _ => 1.0,
        },
    };
    let enabled = target > 0.0;
    let store = state.store.clone();
    let bank = blocking(move || {
        let new = NewBank {
            name: name.clone(),
            hma_enabled_ratio: enabled.then_some(target),
            ..Default::default()
        };
        let mut bank = store.create_bank(&new, &p.actor).map_err(|e| match e {
            BankError::BankExists(_) => ApiError::forbidden("Bank already exists"),
            e => e.into(),
        })?;
        if !enabled {
            bank = store.set_bank_enabled(&name, false, &p.actor, RATIO_REASON)?;
        }
        Ok(bank)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(HmaBank::from(&bank))))
}

async fn update_bank(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<BankPath>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<HmaBank>, ApiError> {
    let m = bank_body(body)?;
    let name = path.bank_name;
    if let Some(new) = m.get("name").and_then(Value::as_str) {
        if new != name {
            return Err(bad(
                "name: Spoor does not rename banks (their change log and the cases matching them keep the name): create a bank with the new name and import the entries",
            ));
        }
    }
    // As HMA: `enabled` sets the ratio to 1 or 0, and `enabled_ratio` wins over it.
    let mut target =
        m.get("enabled")
            .map(enabled_flag)
            .transpose()?
            .flatten()
            .map(|e| if e { 1.0 } else { 0.0 });
    if let Some(r) = m.get("enabled_ratio").map(ratio).transpose()?.flatten() {
        target = Some(r);
    }
    let store = state.store.clone();
    let bank = blocking(move || {
        let mut bank = store.bank(&name).map_err(|e| match e {
            BankError::NoSuchBank(_) => ApiError::not_found("Bank not found"),
            e => e.into(),
        })?;
        let Some(target) = target else { return Ok(bank) };
        if target > 0.0 && target != bank.hma_enabled_ratio {
            let settings =
                spoor_bank::BankSettings { hma_enabled_ratio: Some(target), ..Default::default() };
            bank = store.configure_bank(&name, &settings, &p.actor, RATIO_REASON)?;
        }
        let enabled = target > 0.0;
        if enabled != bank.enabled {
            bank = store.set_bank_enabled(&name, enabled, &p.actor, RATIO_REASON)?;
        }
        Ok(bank)
    })
    .await?;
    Ok(Json(HmaBank::from(&bank)))
}

async fn delete_bank(_caller: Auth, Path(path): Path<BankPath>) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "conflict",
        message: format!(
            "Spoor does not delete banks: bank '{}' keeps its change log, the record of what it matched. \
             Pause it (PUT with enabled_ratio 0), or delete its content one item at a time",
            path.bank_name
        ),
    }
}

/// What HMA's metadata may carry into Spoor: the content's id at its source.
fn metadata_source_id(v: Option<&Value>) -> Result<Option<String>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let m = match v {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        _ => return Err(bad("metadata should be a json object")),
    };
    let mut source_id = None;
    for (k, v) in m {
        match (k.as_str(), v) {
            ("collab", _) | (_, Value::Null) => {}
            ("content_id", Value::String(s)) => source_id = Some(s.clone()),
            ("content_id", _) => return Err(bad("Invalid metadata: content_id must be a string")),
            ("content_uri", _) => {
                return Err(bad(
                    "Invalid metadata: content_uri — Spoor keeps no link to media, only hashes and provenance: leave it out",
                ))
            }
            ("json" | "json_data", _) => {
                return Err(bad(
                    "Invalid metadata: json — Spoor keeps no free-form data with a hash: put the content's id at its source in content_id",
                ))
            }
            (other, _) => return Err(bad(format!("Invalid metadata: unknown field {other:?}"))),
        }
    }
    Ok(source_id)
}

fn refuse_note(note: Option<&Value>) -> Result<(), ApiError> {
    match note {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(Value::String(s)) if s.chars().count() > MAX_NOTE => Err(bad("note must be at most 255 characters")),
        Some(Value::String(_)) => Err(bad(
            "note: Spoor keeps no free text with an entry; give the reason when disabling it (PUT with disable_until_ts and note), or leave it out",
        )),
        Some(_) => Err(bad("note should be a string")),
    }
}

/// Banks each signal as its own entry; answers HMA's `{"id", "signals"}` with the first id.
async fn bank_signals(
    state: &AppState,
    p: Principal,
    bank: String,
    signals: Vec<(String, String)>,
    source_id: Option<String>,
) -> Result<Json<Value>, ApiError> {
    if signals.is_empty() {
        return Err(bad("No signals given"));
    }
    let mut entries = Vec::new();
    let mut shown = serde_json::Map::new();
    for (name, value) in &signals {
        let Some(t) = spoor_type(name) else {
            return Err(bad(format!("No such signal type {name}")));
        };
        let q = parse_signal(name, value).map_err(|e| {
            bad(format!(
                "Invalid {name} signal: {}",
                e.message.trim_start_matches("invalid signal: ")
            ))
        })?;
        let bytes = match q {
            Query1::Pdq(h) => h.to_bytes().to_vec(),
            Query1::Md5(v) => v,
        };
        let mut e = NewEntry::new(t, bytes);
        e.source_id = source_id.clone();
        shown.insert(name.clone(), Value::String(t.format(&e.value)));
        entries.push(e);
    }
    let store = state.store.clone();
    let added = blocking(move || {
        store.bank(&bank).map_err(bank_missing(&bank))?;
        Ok(store.add_entries(&bank, &entries, &p.actor)?)
    })
    .await?;
    let id = match added.first() {
        Some(Added::New(id) | Added::Present(id)) => *id,
        None => return Err(ApiError::internal("no outcome for an added entry")),
    };
    Ok(Json(serde_json::json!({ "id": id, "signals": shown })))
}

async fn add_signals(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<BankPath>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(mut m) = json_body(body)? else {
        return Err(bad("the body must be a JSON object of signal type to signal"));
    };
    refuse_note(m.remove("note").as_ref())?;
    let mut signals = Vec::new();
    for (k, v) in m {
        let Value::String(s) = v else {
            return Err(bad(format!("Invalid {k} signal: not a string")));
        };
        signals.push((k, s));
    }
    bank_signals(&state, p, path.bank_name, signals, None).await
}

#[derive(Deserialize)]
struct ContentQuery {
    url: Option<String>,
    types: Option<String>,
    content_type: Option<String>,
    // With `url=` there is no form: Coop sends these as query parameters instead.
    metadata: Option<String>,
    content_id: Option<String>,
    content_uri: Option<String>,
    note: Option<String>,
}

async fn add_content(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<BankPath>,
    q: Result<Query<ContentQuery>, QueryRejection>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let upload = match q.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            let mut upload = fetch_media(&state, url, q.content_type.as_deref()).await?;
            for (k, v) in [
                ("metadata", &q.metadata),
                ("content_id", &q.content_id),
                ("content_uri", &q.content_uri),
                ("note", &q.note),
            ] {
                if let Some(v) = v {
                    upload.fields.insert(k.to_string(), v.clone());
                }
            }
            upload
        }
        None => read_upload(mp, &["metadata", "note", "content_id", "content_uri"]).await?,
    };
    let metadata = match upload.fields.get("metadata") {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|_| bad("metadata form field must be valid JSON"))?,
        ),
        None => None,
    };
    let mut source_id = metadata_source_id(metadata.as_ref())?;
    // Coop sends the ids beside the file rather than in `metadata`.
    if let Some(id) = upload.fields.get("content_id").filter(|s| !s.is_empty()) {
        source_id = Some(id.clone());
    }
    if upload.fields.get("content_uri").is_some_and(|s| !s.is_empty()) {
        metadata_source_id(Some(&serde_json::json!({ "content_uri": "" })))?;
    }
    refuse_note(upload.fields.get("note").map(|s| Value::String(s.clone())).as_ref())?;
    let hashes = hash_for_hma(&state, &upload, q.types.as_deref()).await?;
    let signals = hashes.into_iter().map(|(t, v)| (t.to_string(), v)).collect();
    bank_signals(&state, p, path.bank_name, signals, source_id).await
}

#[derive(Deserialize)]
struct ContentPath {
    bank_name: String,
    content_id: String,
}

impl ContentPath {
    fn id(&self) -> Result<i64, ApiError> {
        self.content_id
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| ApiError::not_found(format!("content '{}' not found", self.content_id)))
    }
}

/// Reads an entry of a bank: 404 in HMA's words when either is missing.
fn entry_of(
    store: &dyn spoor_bank::Store,
    bank: &str,
    id: i64,
) -> Result<spoor_bank::Entry, ApiError> {
    store.bank(bank).map_err(bank_missing(bank))?;
    store.entry(bank, id).map_err(|e| match e {
        BankError::NoSuchEntry { .. } => ApiError::not_found(format!("content '{id}' not found")),
        e => e.into(),
    })
}

/// HMA's `disable_until_ts`: 1 enabled, 0 disabled, otherwise disabled until that second.
fn disable_until(e: &spoor_bank::Entry, until: Option<spoor_bank::model::Millis>) -> i64 {
    match (e.enabled, until) {
        (true, _) => 1,
        (false, Some(ms)) => ms / 1000,
        (false, None) => 0,
    }
}

/// How far ahead HMA lets content be disabled: five years.
const FIVE_YEARS_S: i64 = 5 * 365 * 24 * 3600;

#[derive(Deserialize)]
struct ContentGetQuery {
    include_signals: Option<String>,
    include_metadata: Option<String>,
}

async fn get_content(
    State(state): State<AppState>,
    _caller: Auth,
    Path(path): Path<ContentPath>,
    q: Result<Query<ContentGetQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let id = path.id()?;
    let with_signals = q.include_signals.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let with_metadata =
        q.include_metadata.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let store = state.store.clone();
    let bank_name = path.bank_name.clone();
    let (entry, bank, until) = blocking(move || {
        let e = entry_of(&*store, &bank_name, id)?;
        let until = if e.enabled { None } else { store.scheduled_enable(id)? };
        Ok((e, store.bank(&bank_name)?, until))
    })
    .await?;
    let mut out = serde_json::json!({
        "bank": HmaBank::from(&bank),
        "disable_until_ts": disable_until(&entry, until),
        "id": entry.id,
        "original_media_uri": null,
    });
    if with_signals {
        if let Some(t) = hma_type(entry.signal_type) {
            out["signals"] = serde_json::json!({ t: entry.value_text() });
        }
    }
    if with_metadata {
        if let Some(s) = &entry.source_id {
            out["metadata"] = serde_json::json!({ "collab": null, "content_id": s, "content_uri": null, "json": null });
        }
    }
    Ok(Json(out))
}

async fn update_content(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ContentPath>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path.id()?;
    let Value::Object(m) = json_body(body)? else {
        return Err(bad("the body must be a JSON object"));
    };
    let note = match m.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.chars().count() > MAX_NOTE => {
            return Err(bad("note must be at most 255 characters"))
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("note should be a string")),
    };
    /// What HMA's `disable_until_ts` asks for.
    enum Wanted {
        Enabled,
        Disabled,
        Until(i64),
    }
    let now_s = spoor_bank::model::now_ms() / 1000;
    let wanted = match m.get("disable_until_ts") {
        None => None,
        Some(v) => {
            let ts = match v {
                Value::Number(n) => n.as_f64().map(|f| f.trunc() as i64),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                Value::Bool(b) => Some(i64::from(*b)),
                _ => None,
            }
            .ok_or_else(|| bad(format!("Invalid int: '{v}'")))?;
            Some(match ts {
                t if t < 0 => return Err(bad("disable_until_ts must be a non-negative integer")),
                0 => Wanted::Disabled,
                1 => Wanted::Enabled,
                t if t > now_s + FIVE_YEARS_S => {
                    return Err(bad("disable_until_ts must be less than 5 years in the future"))
                }
                // A time already past means enabled, as in HMA.
                t if t <= now_s => Wanted::Enabled,
                t => Wanted::Until(t),
            })
        }
    };
    let store = state.store.clone();
    let bank_name = path.bank_name.clone();
    let (entry, bank, until) = blocking(move || {
        let mut e = entry_of(&*store, &bank_name, id)?;
        let reason = |what: &str| {
            note.clone()
                .unwrap_or_else(|| format!("disable_until_ts set to {what} through the HMA routes"))
        };
        match wanted {
            None => {}
            Some(Wanted::Until(t)) => {
                e = spoor_bank::disable_until(
                    &*store,
                    &bank_name,
                    id,
                    t * 1000,
                    &p.actor,
                    &reason(&t.to_string()),
                )?;
            }
            Some(w) => {
                let enabled = matches!(w, Wanted::Enabled);
                let (after, _) = store.patch_entry(
                    &bank_name,
                    id,
                    Some(enabled),
                    &spoor_bank::EntryUpdate::default(),
                    &p.actor,
                    &reason(if enabled { "1" } else { "0" }),
                )?;
                store.clear_enable(id)?;
                e = after;
            }
        }
        let until = if e.enabled { None } else { store.scheduled_enable(id)? };
        Ok((e, store.bank(&bank_name)?, until))
    })
    .await?;
    let user_metadata = entry.source_id.as_ref().map(|s| serde_json::json!({ "content_id": s }));
    Ok(Json(serde_json::json!({
        "bank": HmaBank::from(&bank),
        "collab_metadata": {},
        "disable_until_ts": disable_until(&entry, until),
        "id": entry.id,
        "note": null,
        "original_media_uri": null,
        "user_metadata": user_metadata,
    })))
}

async fn delete_content(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(path): Path<ContentPath>,
) -> Result<Json<Value>, ApiError> {
    let Ok(id) = path.id() else {
        return Ok(Json(serde_json::json!({ "deleted": 0 })));
    };
    let store = state.store.clone();
    let bank = path.bank_name;
    let deleted = blocking(move || {
        store.bank(&bank).map_err(bank_missing(&bank))?;
        match store.delete_entry(&bank, id, &p.actor, "deleted through the HMA routes") {
            Ok(_) => Ok(1),
            Err(BankError::NoSuchEntry { .. }) => Ok(0),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

async fn signal_types(_caller: Auth) -> Json<Value> {
    Json(Value::Array(
        SIGNAL_TYPES
            .iter()
            .map(|(n, _)| serde_json::json!({ "enabled_ratio": 1.0, "name": n }))
            .collect(),
    ))
}

async fn content_types(_caller: Auth) -> Json<Value> {
    Json(Value::Array(
        CONTENT_TYPES
            .iter()
            .map(|(n, _)| serde_json::json!({ "enabled": true, "name": n }))
            .collect(),
    ))
}

async fn signal_type_index(
    State(state): State<AppState>,
    _caller: Auth,
    q: Result<Query<OneType>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let mut out = serde_json::Map::new();
    let at = built_to(&state);
    for (name, t) in types_asked(&q)? {
        let size = index_size(&state, t);
        // The index follows the change log live: what the store holds is what it holds, up to
        // the follower's lag.
        out.insert(
            name.into(),
            serde_json::json!({
                "db_size": size,
                "index_built_to": at,
                "index_out_of_date": state.matcher.lag() > state.config.ready_max_lag,
                "index_size": size,
                "newest_db_item": at,
            }),
        );
    }
    Ok(Json(Value::Object(out)))
}

/// The names of the exchanges this service runs (Spoor's exchanges: another instance's bank
/// followed into a local one), as HMA lists its exchange configurations.
async fn exchanges(State(state): State<AppState>, _caller: Auth) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let all = blocking(move || Ok(store.exchanges()?)).await?;
    Ok(Json(Value::Array(all.into_iter().map(|x| Value::String(x.name)).collect())))
}

/// The one kind of exchange Spoor runs.
async fn exchange_apis(_caller: Auth) -> Json<Value> {
    Json(serde_json::json!([SPOOR_EXCHANGE_API]))
}

/// The `api` name of Spoor's exchanges on HMA's routes.
const SPOOR_EXCHANGE_API: &str = "spoor";

#[derive(Deserialize)]
struct ExchangePath {
    exchange_name: String,
}

fn exchange_missing(name: &str) -> impl FnOnce(BankError) -> ApiError + '_ {
    move |e| match e {
        BankError::NoSuchExchange(_) => ApiError::not_found(format!("exchange '{name}' not found")),
        e => e.into(),
    }
}

/// An exchange's configuration in HMA's shape (`name`, `api`, `enabled`), with where it reads
/// from and writes to; never its key.
async fn exchange_config(
    State(state): State<AppState>,
    _caller: Auth,
    Path(path): Path<ExchangePath>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let name = path.exchange_name;
    let x = blocking(move || store.exchange(&name).map_err(exchange_missing(&name))).await?;
    Ok(Json(serde_json::json!({
        "name": x.name,
        "api": SPOOR_EXCHANGE_API,
        "enabled": true,
        "source_url": x.source_url,
        "remote_bank": x.remote_bank,
        "bank": x.local_bank,
        "interval_seconds": x.interval_ms as f64 / 1000.0,
    })))
}

/// An exchange's fetch status in HMA's shape: times in Unix seconds, whether the last pull
/// succeeded, whether it is up to date with its source, how many items it has brought.
async fn exchange_status(
    State(state): State<AppState>,
    _caller: Auth,
    Path(path): Path<ExchangePath>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let name = path.exchange_name;
    let x = blocking(move || store.exchange(&name).map_err(exchange_missing(&name))).await?;
    let secs = |ms: Option<i64>| ms.map(|ms| ms / 1000);
    Ok(Json(serde_json::json!({
        "checkpoint_ts": secs((x.position > 0).then_some(x.last_success_at).flatten()),
        "running_fetch_start_ts": secs(x.running_at(spoor_bank::model::now_ms())),
        "last_fetch_complete_ts": secs(x.last_attempt_at),
        "last_fetch_succeeded": x.last_attempt_at.map(|_| x.last_error.is_none()),
        "up_to_date": x.last_success_at.is_some() && x.lag() == 0,
        "fetched_items": x.added,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_paths_are_redacted() {
        assert_eq!(redact("/hma/k/spoor_abc_def/m/lookup"), "/hma/k/…/m/lookup");
        assert_eq!(redact("/hma/k/spoor_abc"), "/hma/k/…");
        assert_eq!(redact("/v1/match"), "/v1/match");
    }

    #[test]
    fn signals_are_checked_as_hma_checks_them() {
        let pdq = "f".repeat(64);
        assert!(matches!(parse_signal("pdq", &pdq), Ok(Query1::Pdq(_))));
        assert!(parse_signal("pdq", &pdq.to_uppercase()).is_err());
        assert!(parse_signal("pdq", &pdq[..63]).is_err());
        let md5 = " D41D8CD98F00B204E9800998ECF8427E ";
        assert!(matches!(parse_signal("video_md5", md5), Ok(Query1::Md5(v)) if v.len() == 16));
        assert!(parse_signal("video_md5", "xyz").is_err());
        let e = parse_signal("sha1", "00").err().unwrap();
        assert_eq!(e.message, "No such SignalType 'sha1'");
    }

    #[test]
    fn ratios_are_shares_of_lookups() {
        assert_eq!(ratio(&serde_json::json!(1.0)).unwrap(), Some(1.0));
        assert_eq!(ratio(&serde_json::json!("0")).unwrap(), Some(0.0));
        assert_eq!(ratio(&serde_json::json!(" 0.25 ")).unwrap(), Some(0.25));
        assert_eq!(ratio(&serde_json::json!(true)).unwrap(), Some(1.0));
        assert_eq!(ratio(&Value::Null).unwrap(), None);
        for out in [
            serde_json::json!(1.5),
            serde_json::json!(-0.1),
            serde_json::json!("1e9"),
            serde_json::json!("NaN"),
        ] {
            let e = ratio(&out).err().unwrap();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("is not a share of lookups"), "{}", e.message);
        }
        for not_a_number in [serde_json::json!("half"), serde_json::json!([1])] {
            assert_eq!(
                ratio(&not_a_number).err().unwrap().status,
                StatusCode::UNPROCESSABLE_ENTITY
            );
        }
    }

    #[test]
    fn bank_names_follow_hma() {
        assert!(check_name("MY_BANK_2").is_ok());
        assert!(check_name("_A").is_ok());
        for bad in ["", "1ABC", "lower", "A-B", &"A".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn types_narrow_as_hma_narrows_them() {
        assert_eq!(selected_types("photo", None).unwrap(), vec!["pdq"]);
        assert_eq!(selected_types("photo", Some(" pdq ,")).unwrap(), vec!["pdq"]);
        assert!(selected_types("photo", Some("video_md5")).is_err());
        assert!(selected_types("video", Some(",")).is_err());
    }
}
