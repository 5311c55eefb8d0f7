//! `/v1/reports`: the reports of confirmed cases, their delivery and receipts, and a retry of a
//! report given up. Admins and auditors read them (a receipt is the proof of reporting); only
//! admins retry. A report shows which cases it holds and what the receiver answered, never the
//! content or the document sent.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use spoor_bank::model::{format_time, now_ms};
use spoor_bank::reports::{Report, ReportQuery, ReportState, MAX_REPORT_PAGE};
use spoor_bank::Role;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::routes::blocking;
use crate::routes::Auth;
use crate::AppState;

/// Keys that read reports.
pub const READ: &[Role] = &[Role::Admin, Role::Auditor];
/// Keys that send a dead report again.
pub const RETRY: &[Role] = &[Role::Admin];

/// A report as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportOut {
    /// Store-wide number.
    pub id: i64,
    /// Spoor's id of the report, given to the receiver (the EU Centre's idempotency key).
    pub uuid: String,
    /// `ncmec` or `eu_centre`.
    #[schema(pattern = "^(ncmec|eu_centre)$")]
    pub recipient: String,
    /// `pending`, `open`, `finishing`, `finished` or `dead`.
    #[schema(pattern = "^(pending|open|finishing|finished|dead)$")]
    pub state: String,
    /// The cases it reports.
    pub cases: Vec<i64>,
    /// When it was made.
    pub created_at: String,
    /// Not sent before this (the end of its grouping window).
    pub send_after: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is tried next (while not finished or dead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The receiver's id (NCMEC's `reportId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// The receiver's acknowledgement (JSON text): NCMEC's report and file ids; the EU
    /// Centre's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// What went wrong last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the receiver took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// When it was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<String>,
}

impl From<Report> for ReportOut {
    fn from(r: Report) -> Self {
        ReportOut {
            id: r.id,
            uuid: r.uuid,
            recipient: r.recipient,
            state: r.state.name().into(),
            cases: r.cases,
            created_at: format_time(r.created_at),
            send_after: format_time(r.send_after),
            attempts: r.attempts,
            next_attempt_at: r.state.is_active().then(|| format_time(r.next_attempt_at)),
            remote_id: r.remote_id,
            receipt: r.receipt,
            last_error: r.last_error,
            finished_at: r.finished_at.map(format_time),
            dead_at: r.dead_at.map(format_time),
        }
    }
}

/// A page of reports.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportList {
    /// The reports, by number.
    pub reports: Vec<ReportOut>,
    /// Pass as `after` for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// `GET /v1/reports` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportListQuery {
    /// Only reports in this state.
    #[param(pattern = "^(pending|open|finishing|finished|dead)$")]
    pub state: Option<String>,
    /// Only reports to this recipient.
    #[param(pattern = "^(ncmec|eu_centre)$")]
    pub recipient: Option<String>,
    /// Reports numbered above this (default 0).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

fn report_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "no report with id {text:?}: report numbers are whole numbers from 1"
        ))
    })
}

/// Reports, by number.
#[utoipa::path(get, path = "/v1/reports", tag = "reports", security(("api_key" = [])),
    params(ReportListQuery),
    responses((status = 200, body = ReportList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _auth: Auth,
    q: Result<Query<ReportListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReportList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let report_state = q
        .state
        .as_deref()
        .map(str::parse::<ReportState>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("state: {e}")))?;
    if let Some(r) = &q.recipient {
        if !matches!(r.as_str(), "ncmec" | "eu_centre") {
            return Err(ApiError::bad_request(format!(
                "recipient: unknown recipient {r:?}: use ncmec or eu_centre"
            )));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_REPORT_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: {limit}: ask for 1 to {MAX_REPORT_PAGE} reports a page"
        )));
    }
    let query = ReportQuery {
        state: report_state,
        recipient: q.recipient,
        after: q.after.unwrap_or(0),
        limit,
    };
    let store = state.store.clone();
    let list = blocking(move || Ok(store.reports(&query)?)).await?;
    let next_after = (list.len() == limit).then(|| list.last().map(|r| r.id)).flatten();
    Ok(Json(ReportList { reports: list.into_iter().map(Into::into).collect(), next_after }))
}

/// One report.
#[utoipa::path(get, path = "/v1/reports/{id}", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Report number")),
    responses((status = 200, body = ReportOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportOut>, ApiError> {
    let id = report_id(&id)?;
    let store = state.store.clone();
    Ok(Json(blocking(move || Ok(store.report(id)?)).await?.into()))
}

/// Sends a dead report again (its attempts counted from 0; audited `report_retry`). A report
/// opened at NCMEC before it died is cancelled there first, or found finished.
#[utoipa::path(post, path = "/v1/reports/{id}/retry", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Report number")),
    responses((status = 200, body = ReportOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The report is not dead", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportOut>, ApiError> {
    let id = report_id(&id)?;
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    Ok(Json(blocking(move || Ok(store.report_retry(id, &actor, now_ms())?)).await?.into()))
}
