//! `/v1/exchanges`: the exchanges this service runs (another Spoor instance's bank followed
//! into a local one), their state, and the source changes a local decision kept out. Admins
//! and auditors read them; only admins set one up or remove one (both audited). The exchange
//! key given when one is set up is never shown again.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use spoor_bank::exchange::{Exchange, ExchangeKey, NewExchange};
use spoor_bank::model::format_time;
use spoor_bank::Role;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, ApiJson, Auth};
use crate::AppState;

/// Keys that read exchanges.
pub const READ: &[Role] = &[Role::Admin, Role::Auditor];
/// Keys that set exchanges up and remove them.
pub const WRITE: &[Role] = &[Role::Admin];

/// An exchange as the API shows it (never its key).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExchangeOut {
    /// Its name: the `source_org` of the entries it adds.
    pub name: String,
    /// The source service's base URL.
    pub source_url: String,
    /// The bank followed there.
    pub remote_bank: String,
    /// The bank here.
    pub local_bank: String,
    /// Time between pulls, in milliseconds.
    pub interval_ms: u64,
    /// Changes read per request.
    pub page: u32,
    /// Who set it up.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// The source's sequence number of the last change applied (0: none yet).
    pub position: i64,
    /// The source's newest sequence number when last asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_last_seq: Option<i64>,
    /// Source changes known and not applied yet.
    pub lag: i64,
    /// When a pull last began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// When a pull last finished without error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    /// Why the last pull failed (absent when it did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Pulls failed in a row.
    pub failures: i64,
    /// Entries added so far.
    pub added: i64,
    /// Entries disabled, enabled, reclassified or deleted to follow the source so far.
    pub changed: i64,
    /// Source changes not applied because a local decision stands.
    pub conflicts: i64,
    /// When the pull running now began (absent when none is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulling_since: Option<String>,
}

impl From<Exchange> for ExchangeOut {
    fn from(x: Exchange) -> Self {
        ExchangeOut {
            lag: x.lag(),
            pulling_since: x.running_at(spoor_bank::model::now_ms()).map(format_time),
            name: x.name,
            source_url: x.source_url,
            remote_bank: x.remote_bank,
            local_bank: x.local_bank,
            interval_ms: x.interval_ms,
            page: x.page,
            created_by: x.created_by,
            created_at: format_time(x.created_at),
            position: x.position,
            remote_last_seq: x.remote_last_seq,
            last_attempt_at: x.last_attempt_at.map(format_time),
            last_success_at: x.last_success_at.map(format_time),
            last_error: x.last_error,
            failures: x.failures,
            added: x.added,
            changed: x.changed,
            conflicts: x.conflicts,
        }
    }
}

/// The exchanges, by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExchangeList {
    /// Every exchange.
    pub exchanges: Vec<ExchangeOut>,
}

/// An exchange to set up.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeIn {
    /// Its name: 1–64 letters, digits, `.`, `-` or `_`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// The source service's base URL (http or https, no query, no credentials).
    #[schema(pattern = r#"^https?://[!-"$-.0->A-~]+(/[!-"$->@-~]*)?$"#, max_length = 2048)]
    pub source_url: String,
    /// The bank followed there (A-Z, 0-9 and _).
    #[schema(pattern = "^[A-Z0-9_]{1,64}$")]
    pub remote_bank: String,
    /// The bank here (it must exist).
    pub local_bank: String,
    /// The exchange key the source made (`spoor_…`); kept to pull with, never shown again.
    #[schema(pattern = r"^spoor_[!-~]{1,194}$")]
    pub key: String,
    /// Time between pulls, in milliseconds (100 to 86400000; default 60000).
    #[serde(default, deserialize_with = "crate::wire::whole_id")]
    #[schema(value_type = Option<u64>, minimum = 100, maximum = 86400000)]
    pub interval_ms: Option<i64>,
    /// Changes read per request (1 to 10000; default 10000).
    #[serde(default, deserialize_with = "crate::wire::whole_id")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub page: Option<i64>,
}

/// A source change not applied because a local decision stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictOut {
    /// Its number (pass as `before` for older ones).
    pub id: i64,
    /// When it was met.
    pub at: String,
    /// The source's sequence number of the change.
    pub remote_seq: i64,
    /// The local entry it would have changed.
    pub entry_id: i64,
    /// What and why.
    pub message: String,
}

/// A page of conflicts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictList {
    /// The conflicts.
    pub conflicts: Vec<ConflictOut>,
    /// Pass as `before` for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// `GET /v1/exchanges/{name}/conflicts` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConflictQuery {
    /// Conflicts numbered below this (default: from the newest).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Every exchange with its state: position, lag, last pull, failures, conflicts.
#[utoipa::path(get, path = "/v1/exchanges", tag = "exchanges", security(("api_key" = [])),
    responses((status = 200, body = ExchangeList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<ExchangeList>, ApiError> {
    let store = state.store.clone();
    let all = blocking(move || Ok(store.exchanges()?)).await?;
    Ok(Json(ExchangeList { exchanges: all.into_iter().map(Into::into).collect() }))
}

/// One exchange with its state.
#[utoipa::path(get, path = "/v1/exchanges/{name}", tag = "exchanges", security(("api_key" = [])),
    params(("name" = String, Path, description = "Exchange name")),
    responses((status = 200, body = ExchangeOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_exchange(
    State(state): State<AppState>,
    _auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<ExchangeOut>, ApiError> {
    let store = state.store.clone();
    Ok(Json(blocking(move || Ok(store.exchange(&name)?)).await?.into()))
}

/// Sets up an exchange that this service pulls every interval (audited `exchange_create`).
#[utoipa::path(post, path = "/v1/exchanges", tag = "exchanges", security(("api_key" = [])),
    request_body = ExchangeIn,
    responses((status = 201, body = ExchangeOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin key, or a source this service may not connect to", body = ErrorBody),
        (status = 404, description = "The local bank does not exist", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ExchangeIn>,
) -> Result<(StatusCode, Json<ExchangeOut>), ApiError> {
    let x = NewExchange {
        name: body.name,
        source_url: body.source_url.trim_end_matches('/').to_string(),
        remote_bank: body.remote_bank,
        local_bank: body.local_bank,
        key: ExchangeKey(body.key),
        // Out of range here is refused by `check_new`, with the range.
        interval_ms: body.interval_ms.map_or(60_000, |v| u64::try_from(v).unwrap_or(0)),
        page: body.page.map_or(spoor_bank::exchange::MAX_PAGE, |v| u32::try_from(v).unwrap_or(0)),
    };
    spoor_bank::exchange::check_new(&x)?;
    if state.config.loopback_only && !spoor_bank::exchange::is_loopback_source(&x.source_url) {
        return Err(ApiError::forbidden(format!(
            "source_url {:?}: this service connects only to loopback addresses \
             (--reports-loopback-only)",
            x.source_url
        )));
    }
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let made = blocking(move || Ok(store.create_exchange(&x, &actor)?)).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

/// Removes an exchange, its position and its conflicts (audited `exchange_delete`); what it
/// added stays in the local bank.
#[utoipa::path(delete, path = "/v1/exchanges/{name}", tag = "exchanges", security(("api_key" = [])),
    params(("name" = String, Path, description = "Exchange name")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    blocking(move || Ok(store.delete_exchange(&name, &actor)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The source changes a local decision kept out of an exchange, newest first. They name
/// entries and their values: each read is audited (`exchange_conflicts_read`).
#[utoipa::path(get, path = "/v1/exchanges/{name}/conflicts", tag = "exchanges",
    security(("api_key" = [])),
    params(("name" = String, Path, description = "Exchange name"), ConflictQuery),
    responses((status = 200, body = ConflictList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn conflicts(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(name): Path<String>,
    q: Result<Query<ConflictQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConflictList>, ApiError> {
    let q = crate::routes::query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit: {limit}: ask for 1 to 1000")));
    }
    let before = q.before.unwrap_or(0);
    if before < 0 {
        return Err(ApiError::bad_request("before: must be 1 or more"));
    }
    let store = state.store.clone();
    let list = blocking(move || {
        store.exchange(&name)?;
        let list = store.exchange_conflicts(&name, before, limit)?;
        let record =
            spoor_audit::NewRecord::by(&p.actor, "exchange_conflicts_read", "exchange", &name)
                .with_details(serde_json::json!({ "before": before, "count": list.len() }));
        store.audit_append_relaxed(&record)?;
        Ok(list)
    })
    .await?;
    let next_before = (list.len() == limit).then(|| list.last().map(|c| c.id)).flatten();
    Ok(Json(ConflictList {
        conflicts: list
            .into_iter()
            .map(|c| ConflictOut {
                id: c.id,
                at: format_time(c.at),
                remote_seq: c.conflict.remote_seq,
                entry_id: c.conflict.entry_id,
                message: c.conflict.message,
            })
            .collect(),
        next_before,
    }))
}
