//! Complaints and redress: what a decided complaint sets going, and the routes
//! `/v1/complaints` and `/v1/follow-ups`.
//!
//! A service files a complaint for the person affected by a decision (`POST /v1/complaints`,
//! by case id or by its own content reference). Reviewers and administrators re-review it in
//! the console or through the API; the store refuses a decision by anyone who took part in the
//! decision complained about. When a complaint is decided, in the same transaction:
//! * the service is told the outcome (`complaint.decided`, signed like every case webhook), so
//!   that it can tell the complainant;
//! * on an overturn, the service is told to restore the content (`case.restore`);
//! * on an overturn, each report of the case already begun or sent gets a follow-up to its
//!   receiver: the EU Centre's is a signed document posted by the delivery worker; NCMEC's API
//!   takes no change to a report, so NCMEC's is a task for a person, listed on the reports
//!   page until someone records that it was done.
//!
//! Time to decision is measured (`spoor_complaint_decision_seconds`), and open complaints past
//! `--complaint-deadline` are counted as overdue (`spoor_complaints_overdue`, the console's
//! banner, a warning in the log when the count grows).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use spoor_bank::cases::{Case, Message};
use spoor_bank::complaints::{
    self, CaseRef, Complaint, ComplaintDecision, ComplaintOutcome, ComplaintQuery, ComplaintState,
    NewComplaint, MAX_COMPLAINT_PAGE,
};
use spoor_bank::model::{format_time, now_ms, Millis};
use spoor_bank::outbox::{OutboxItem, OutboxQuery};
use spoor_bank::reports::{Report, ReportState};
use spoor_bank::Role;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::reporting::{EU_CENTRE, NCMEC};
use crate::routes::{blocking, ApiJson, Auth};
use crate::webhook::WebhookConfig;
use crate::AppState;

/// The outbox topic of a complaint's outcome, told to the service.
pub const DECIDED_TOPIC: &str = "complaint_decided";
/// Its event.
pub const DECIDED_EVENT: &str = "complaint.decided";
/// The outbox topic of the instruction to restore content after an overturn.
pub const RESTORE_TOPIC: &str = "case_restore";
/// Its event.
pub const RESTORE_EVENT: &str = "case.restore";
/// The target of follow-ups made by hand (NCMEC's).
pub const BY_HAND: &str = "by-hand";

/// Keys that file complaints: the keys that submit cases.
pub const FILE: &[Role] = crate::cases::SUBMIT;
/// Keys that read complaints (a key that filed one reads its own too).
pub const READ: &[Role] =
    &[Role::Admin, Role::Auditor, Role::Reviewer, Role::Curator, Role::Matcher];
/// Keys that decide complaints (never about a decision they took part in).
pub const DECIDE: &[Role] = &[Role::Admin, Role::Reviewer];
/// Keys that read follow-ups and record one made by hand.
pub const FOLLOW_UPS: &[Role] = &[Role::Admin];

/// What the service's hook needs to say what a decided complaint sets going.
#[derive(Debug, Clone, Default)]
pub struct ComplaintConfig {
    /// The case webhook (`--case-webhook`): outcome and restore messages go there.
    pub hook: Option<WebhookConfig>,
    /// The EU Centre's endpoint and provider, when reports go there: follow-ups too.
    pub eu: Option<(String, spoor_report::Provider)>,
    /// How long a complaint may wait for its decision.
    pub deadline: std::time::Duration,
}

/// What the hook needs, from the service's configuration.
pub fn config_of(config: &crate::Config) -> ComplaintConfig {
    ComplaintConfig {
        hook: config.case_webhook.clone(),
        eu: config
            .delivery
            .as_ref()
            .and_then(|d| d.eu.as_ref())
            .map(|e| (e.url.clone(), e.provider.clone())),
        deadline: config.complaint_deadline,
    }
}

/// The deadline in milliseconds.
pub fn deadline_ms(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a report of a reversed case needs a follow-up: the receiver may have the case (it
/// was opened there, is being finished or finished, or given up after that). A report not
/// begun, or given up before anything was sent, sends the case never: a report's facts leave
/// reversed cases out.
pub fn needs_follow_up(r: &Report) -> bool {
    match r.state {
        ReportState::Open | ReportState::Finishing | ReportState::Finished => true,
        ReportState::Dead => r.remote_id.is_some() || r.document.is_some(),
        ReportState::Pending => false,
    }
}

/// A follow-up's own id, the same for the same report and complaint (the idempotency key of
/// its delivery): a UUID of version 8 made from SHA-256 of both.
pub fn follow_up_id(report_uuid: &str, complaint: i64) -> String {
    let d = sha2::Sha256::new()
        .chain_update(b"spoor-follow-up\0")
        .chain_update(report_uuid.as_bytes())
        .chain_update(complaint.to_be_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The hex digests of a case's content, for follow-ups.
fn digests(case: &Case) -> serde_json::Value {
    let hex = |b: &[u8]| spoor_audit::hex(b);
    serde_json::json!({
        "md5": case.signals.md5.map(|h| hex(&h)),
        "sha1": case.signals.sha1.map(|h| hex(&h)),
        "sha256": case.signals.sha256.map(|h| hex(&h)),
    })
}

/// What a decided complaint sets going (stored in the outbox with the decision): the outcome
/// and, on an overturn, the restore instruction for the service (with `--case-webhook`), and a
/// follow-up for each report in `reports` that needs one.
pub fn messages(
    cfg: &ComplaintConfig,
    c: &Complaint,
    case: &Case,
    reports: &[Report],
) -> Vec<Message> {
    let mut out = Vec::new();
    let decided_at = c.decided_at.map(format_time);
    if let Some(hook) = &cfg.hook {
        out.push(Message {
            topic: DECIDED_TOPIC.into(),
            dedupe_key: format!("{DECIDED_TOPIC}:{}", c.id),
            target: hook.url.clone(),
            payload: serde_json::json!({
                "event": DECIDED_EVENT,
                "complaint_id": c.id,
                "case_id": c.case_id,
                "complainant": c.complainant,
                "content_ref": case.meta.content_ref,
                "service": case.meta.service,
                "outcome": c.state.name(),
                "reason": c.reason,
                "decided_at": decided_at,
            })
            .to_string(),
            not_before: None,
        });
        if c.state == ComplaintState::Overturned {
            out.push(Message {
                topic: RESTORE_TOPIC.into(),
                dedupe_key: format!("{RESTORE_TOPIC}:{}", case.id),
                target: hook.url.clone(),
                payload: serde_json::json!({
                    "event": RESTORE_EVENT,
                    "case_id": case.id,
                    "complaint_id": c.id,
                    "content_ref": case.meta.content_ref,
                    "service": case.meta.service,
                    "uploader_ref": case.meta.uploader_ref,
                    "reason": c.reason,
                    "reversed_at": decided_at,
                })
                .to_string(),
                not_before: None,
            });
        }
    }
    if c.state != ComplaintState::Overturned {
        return out;
    }
    for r in reports.iter().filter(|r| needs_follow_up(r)) {
        let id = follow_up_id(&r.uuid, c.id);
        let key = format!("follow_up:{}:{}:{}", c.id, r.recipient, r.id);
        let topic = complaints::follow_up_topic(&r.recipient);
        match (r.recipient.as_str(), &cfg.eu) {
            (EU_CENTRE, Some((url, provider))) => {
                let doc = spoor_report::eu::follow_up(
                    &spoor_report::eu::FollowUp {
                        follow_up_id: id.clone(),
                        report_id: r.uuid.clone(),
                        withdrawn: vec![spoor_report::eu::Withdrawn {
                            case_id: case.id,
                            content_ref: case.meta.content_ref.clone(),
                            md5: case.signals.md5,
                            sha1: case.signals.sha1,
                            sha256: case.signals.sha256,
                            pdq: case.signals.pdq,
                        }],
                        report_withdrawn: r.cases.len() == 1,
                        reason: c.reason.clone().unwrap_or_default(),
                        decided_at: c.decided_at.unwrap_or_else(now_ms),
                    },
                    provider,
                    c.decided_at.unwrap_or_else(now_ms),
                );
                match doc {
                    Ok(doc) => out.push(Message {
                        topic,
                        dedupe_key: key,
                        target: url.clone(),
                        payload: serde_json::json!({
                            "report": r.id,
                            "follow_up_id": id,
                            "body": doc.to_string(),
                        })
                        .to_string(),
                        not_before: None,
                    }),
                    Err(e) => {
                        // The store checked the reason and the case; nothing else can fail.
                        tracing::error!(complaint = c.id, report = r.id, error = %e, "cannot write an EU Centre follow-up; it is listed for a person instead");
                        out.push(by_hand(c, case, r, key, topic, &id));
                    }
                }
            }
            _ => out.push(by_hand(c, case, r, key, topic, &id)),
        }
    }
    out
}

/// A follow-up for a person to make (NCMEC's API takes no change to a report; a receiver no
/// longer configured takes none either).
fn by_hand(
    c: &Complaint,
    case: &Case,
    r: &Report,
    key: String,
    topic: String,
    id: &str,
) -> Message {
    let how = if r.recipient == NCMEC {
        "NCMEC's CyberTipline API takes no change to a report: tell NCMEC through the contact \
         your agreement with them names, quoting the CyberTipline report ID, that this file was \
         found not to be child sexual abuse material when the person affected complained; then \
         record here that it was done."
    } else {
        "Reports to this receiver are not sent by this service now: tell the receiver by hand, \
         quoting the report id, then record here that it was done."
    };
    Message {
        topic,
        dedupe_key: key,
        target: BY_HAND.into(),
        payload: serde_json::json!({
            "follow_up_id": id,
            "recipient": r.recipient,
            "report": r.id,
            "report_uuid": r.uuid,
            "receiver_report_id": r.remote_id,
            "report_state": r.state.name(),
            "case_id": case.id,
            "content_ref": case.meta.content_ref,
            "hashes": digests(case),
            "complaint_id": c.id,
            "reason": c.reason,
            "decided_at": c.decided_at.map(format_time),
            "what_to_do": how,
        })
        .to_string(),
        not_before: None,
    }
}

/// A complaint as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplaintOut {
    /// Its number.
    pub id: i64,
    /// The case it is about.
    pub case_id: i64,
    /// `open`, `upheld` or `overturned`.
    #[schema(pattern = "^(open|upheld|overturned)$")]
    pub state: String,
    /// When it was filed.
    pub created_at: String,
    /// Who filed it (`key:NAME`).
    pub submitter: String,
    /// Who complains (the service's reference of the person).
    pub complainant: String,
    /// What they say.
    pub text: String,
    /// When it is due (filing plus the deadline).
    pub due_at: String,
    /// Open past its due time.
    pub overdue: bool,
    /// When it was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// By whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why (the complainant is told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The entry an overturn named as matching wrongly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
}

fn complaint_out(c: Complaint, deadline: Millis, now: Millis) -> ComplaintOut {
    let due = c.created_at.saturating_add(deadline);
    ComplaintOut {
        id: c.id,
        case_id: c.case_id,
        state: c.state.name().into(),
        created_at: format_time(c.created_at),
        submitter: c.submitter,
        complainant: c.complainant,
        text: c.text,
        due_at: format_time(due),
        overdue: c.state == ComplaintState::Open && now > due,
        decided_at: c.decided_at.map(format_time),
        decided_by: c.decided_by,
        reason: c.reason,
        entry_id: c.entry_id,
    }
}

/// `POST /v1/complaints`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintIn {
    /// The case, by number (or give `content_ref`).
    #[serde(default, deserialize_with = "crate::wire::whole_id")]
    #[schema(minimum = 1)]
    pub case_id: Option<i64>,
    /// The case, by the reference of the content this key submitted it with.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 1024)]
    pub content_ref: Option<String>,
    /// Who complains: your reference of the person (shown to reviewers, sent back with the
    /// outcome).
    #[schema(min_length = 1, max_length = 256)]
    pub complainant: String,
    /// What they say (line breaks kept).
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

/// `POST /v1/complaints/{id}/decision`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintDecisionIn {
    /// `upheld` (the decision stands) or `overturned` (it was wrong: the case is reversed).
    #[schema(pattern = "^(upheld|overturned)$")]
    pub outcome: String,
    /// Why, in plain words: the complainant is told.
    #[schema(min_length = 1, max_length = 4096)]
    pub reason: String,
    /// For an overturn of a case that matched bank entries: the entry that matched wrongly.
    #[serde(default, deserialize_with = "crate::wire::whole_id")]
    pub entry_id: Option<i64>,
}

/// A page of complaints.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplaintList {
    /// The complaints, by number.
    pub complaints: Vec<ComplaintOut>,
    /// Pass as `after` for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// `GET /v1/complaints` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ComplaintListQuery {
    /// Only complaints in this state.
    #[param(pattern = "^(open|upheld|overturned)$")]
    pub state: Option<String>,
    /// Only complaints about this case.
    #[param(minimum = 1)]
    pub case_id: Option<i64>,
    /// Complaints numbered above this (default 0).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

fn complaint_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "no complaint with id {text:?}: complaint numbers are whole numbers from 1"
        ))
    })
}

/// Keys that filed complaints read only their own; the others read every complaint.
fn own_only(p: &crate::auth::Principal) -> Option<String> {
    matches!(p.role, Role::Curator | Role::Matcher).then(|| p.actor.to_string())
}

/// Files a complaint about a decided case (audited `complaint_create`; the text is never put
/// in the audit log). Keys that submit cases.
#[utoipa::path(post, path = "/v1/complaints", tag = "complaints", request_body = ComplaintIn,
    security(("api_key" = [])),
    responses((status = 201, body = ComplaintOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such case, or no case of this key names the content reference", body = ErrorBody),
        (status = 409, description = "The case has no decision yet, was reversed already, or has an open complaint", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ComplaintIn>,
) -> Result<(StatusCode, Json<ComplaintOut>), ApiError> {
    let case = match (body.case_id, body.content_ref) {
        (Some(id), None) => CaseRef::Id(id),
        (None, Some(r)) => CaseRef::ContentRef(r),
        _ => {
            return Err(ApiError::bad_request(
                "name the case by case_id or by content_ref, one of the two",
            ))
        }
    };
    let new = NewComplaint {
        case,
        submitter: p.actor.to_string(),
        complainant: body.complainant,
        text: body.text,
    };
    let store = state.store.clone();
    let c = blocking(move || Ok(store.complaint_create(&new, now_ms())?)).await?;
    metrics::counter!("spoor_complaints_filed_total").increment(1);
    let deadline = deadline_ms(state.config.complaint_deadline);
    Ok((StatusCode::CREATED, Json(complaint_out(c, deadline, now_ms()))))
}

/// Complaints, by number (keys that file complaints see their own).
#[utoipa::path(get, path = "/v1/complaints", tag = "complaints", security(("api_key" = [])),
    params(ComplaintListQuery),
    responses((status = 200, body = ComplaintList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    q: Result<Query<ComplaintListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ComplaintList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let complaint_state = q
        .state
        .as_deref()
        .map(str::parse::<ComplaintState>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("state: {e}")))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_COMPLAINT_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: {limit}: ask for 1 to {MAX_COMPLAINT_PAGE} complaints a page"
        )));
    }
    if q.case_id.is_some_and(|c| c <= 0) || q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::bad_request("case_id and after are whole numbers from 0"));
    }
    let query = ComplaintQuery {
        state: complaint_state,
        case_id: q.case_id,
        submitter: own_only(&p),
        after: q.after.unwrap_or(0),
        limit,
    };
    let store = state.store.clone();
    let list = blocking(move || Ok(store.complaints(&query)?)).await?;
    let next_after = (list.len() == limit).then(|| list.last().map(|c| c.id)).flatten();
    let (deadline, now) = (deadline_ms(state.config.complaint_deadline), now_ms());
    Ok(Json(ComplaintList {
        complaints: list.into_iter().map(|c| complaint_out(c, deadline, now)).collect(),
        next_after,
    }))
}

/// One complaint (a key that files complaints reads only its own).
#[utoipa::path(get, path = "/v1/complaints/{id}", tag = "complaints", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Complaint number")),
    responses((status = 200, body = ComplaintOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_complaint(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<ComplaintOut>, ApiError> {
    let id = complaint_id(&id)?;
    let store = state.store.clone();
    let c = blocking(move || Ok(store.complaint(id)?)).await?;
    if own_only(&p).is_some_and(|me| me != c.submitter) {
        return Err(ApiError::not_found(format!("no complaint with id {id} of yours")));
    }
    Ok(Json(complaint_out(c, deadline_ms(state.config.complaint_deadline), now_ms())))
}

/// Decides an open complaint (audited `complaint_decide`). Refused (403) for a key that took
/// part in the decision complained about. An overturn reverses the case, tells the service to
/// restore the content and queues follow-ups to the receivers of its reports. Admin and
/// reviewer keys.
#[utoipa::path(post, path = "/v1/complaints/{id}/decision", tag = "complaints",
    request_body = ComplaintDecisionIn, security(("api_key" = [])),
    params(("id" = i64, Path, description = "Complaint number")),
    responses((status = 200, body = ComplaintOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a deciding key, or one that took part in the decision complained about", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Decided already, or the entry named did not match the case", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ComplaintDecisionIn>,
) -> Result<Json<ComplaintOut>, ApiError> {
    let id = complaint_id(&id)?;
    let outcome = body
        .outcome
        .parse::<ComplaintOutcome>()
        .map_err(|e| ApiError::bad_request(format!("outcome: {e}")))?;
    let d =
        ComplaintDecision { outcome: Some(outcome), reason: body.reason, entry_id: body.entry_id };
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let cfg = config_of(&state.config);
    let (c, case) = blocking(move || {
        let hook =
            |c: &Complaint, case: &Case, reports: &[Report]| messages(&cfg, c, case, reports);
        Ok(store.complaint_decide(id, &actor, &d, now_ms(), &hook)?)
    })
    .await?;
    state.cases.note(&case);
    decided_metrics(&c);
    Ok(Json(complaint_out(c, deadline_ms(state.config.complaint_deadline), now_ms())))
}

/// Checks the complaints against the deadline: sets the complaint gauges of `/metrics`, and
/// when more complaints are overdue than at the last check, warns in the log and records
/// `complaints_overdue` (actor `system:complaints`) in the audit log. `last` is the overdue
/// count of the last check. Returns the overdue count now.
pub fn watch_deadline(
    store: &dyn spoor_bank::Store,
    deadline: Millis,
    now: Millis,
    last: u64,
) -> spoor_bank::Result<u64> {
    let c = store.complaint_counts(now.saturating_sub(deadline))?;
    // The record first: whoever sees the gauge rise can find it.
    let recorded = if c.overdue > last { record_overdue(store, &c, deadline, now) } else { Ok(()) };
    set_gauges(&c, now);
    recorded?;
    Ok(c.overdue)
}

fn record_overdue(
    store: &dyn spoor_bank::Store,
    c: &spoor_bank::complaints::ComplaintCounts,
    deadline: Millis,
    now: Millis,
) -> spoor_bank::Result<()> {
    let oldest = c.oldest_open_at.map(|t| (now - t).max(0) / 1000);
    tracing::warn!(
        overdue = c.overdue,
        open = c.open,
        oldest_open_s = oldest,
        deadline_s = deadline / 1000,
        "complaints are past their deadline: re-review them (console: /complaints)"
    );
    let rec =
        spoor_audit::NewRecord::by("system:complaints", "complaints_overdue", "complaint", "queue")
            .with_details(serde_json::json!({
                "overdue": c.overdue,
                "open": c.open,
                "deadline_ms": deadline,
                "oldest_open_at": c.oldest_open_at.map(format_time),
            }));
    store.audit_append(&rec)?;
    Ok(())
}

/// Sets `spoor_complaints{state}`, `spoor_complaints_overdue` and
/// `spoor_complaints_oldest_open_seconds`.
pub fn set_gauges(c: &spoor_bank::complaints::ComplaintCounts, now: Millis) {
    for (st, n) in [("open", c.open), ("upheld", c.upheld), ("overturned", c.overturned)] {
        metrics::gauge!("spoor_complaints", "state" => st).set(n as f64);
    }
    metrics::gauge!("spoor_complaints_overdue").set(c.overdue as f64);
    let oldest = c.oldest_open_at.map_or(0, |t| (now - t).max(0));
    metrics::gauge!("spoor_complaints_oldest_open_seconds").set(oldest as f64 / 1000.0);
}

/// Counts a decided complaint and its time to decision.
pub fn decided_metrics(c: &Complaint) {
    metrics::counter!("spoor_complaint_decisions_total", "outcome" => c.state.name()).increment(1);
    metrics::histogram!("spoor_complaint_decision_seconds").record(c.age(now_ms()) as f64 / 1000.0);
}

/// A follow-up to a report's receiver, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowUpOut {
    /// Its number.
    pub id: i64,
    /// `ncmec` or `eu_centre`.
    pub recipient: String,
    /// `by_hand` (a person makes it: NCMEC's API takes none) or `sent` (the delivery worker
    /// posts it).
    #[schema(pattern = "^(by_hand|sent)$")]
    pub how: String,
    /// `pending`, `done` or `given_up`.
    #[schema(pattern = "^(pending|done|given_up)$")]
    pub state: String,
    /// When it was made.
    pub created_at: String,
    /// When it was done (delivered, or recorded as made by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
    /// Failed attempts of a sent one.
    pub attempts: u32,
    /// What went wrong last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What to tell the receiver: the report, the receiver's id of it, the case, the file's
    /// digests, the complaint and its reason, and what to do (JSON object).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn follow_up_out(i: OutboxItem) -> FollowUpOut {
    let by_hand = i.target == BY_HAND;
    let mut details: serde_json::Value =
        serde_json::from_str(&i.payload).unwrap_or(serde_json::Value::Null);
    if let Some(m) = details.as_object_mut() {
        // A sent follow-up carries its signed document: shown as what it is, not as text.
        if let Some(body) = m.remove("body") {
            let doc = body.as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(body);
            m.insert("document".into(), doc);
        }
    }
    FollowUpOut {
        id: i.id,
        recipient: i.topic.trim_end_matches(complaints::FOLLOW_UP_SUFFIX).to_string(),
        how: if by_hand { "by_hand" } else { "sent" }.into(),
        state: if i.delivered_at.is_some() {
            "done"
        } else if i.gave_up_at.is_some() {
            "given_up"
        } else {
            "pending"
        }
        .into(),
        created_at: format_time(i.created_at),
        done_at: i.delivered_at.map(format_time),
        attempts: i.attempts,
        last_error: i.last_error,
        details,
    }
}

/// A page of follow-ups.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowUpList {
    /// The follow-ups, by number.
    pub follow_ups: Vec<FollowUpOut>,
    /// Pass as `after` for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// `GET /v1/follow-ups` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FollowUpListQuery {
    /// Only those still to be made (default false).
    pub pending: Option<bool>,
    /// Follow-ups numbered above this (default 0).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Follow-ups to the receivers of reports whose cases were reversed on complaint.
#[utoipa::path(get, path = "/v1/follow-ups", tag = "reports", security(("api_key" = [])),
    params(FollowUpListQuery),
    responses((status = 200, body = FollowUpList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn follow_ups(
    State(state): State<AppState>,
    _auth: Auth,
    q: Result<Query<FollowUpListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FollowUpList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > spoor_bank::outbox::MAX_DUE {
        return Err(ApiError::bad_request(format!("limit: {limit}: ask for 1 to 1000")));
    }
    if q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::bad_request("after: a whole number from 0"));
    }
    let query = OutboxQuery {
        key_prefix: Some("follow_up:".into()),
        pending_only: q.pending.unwrap_or(false),
        after: q.after.unwrap_or(0),
        limit,
        ..Default::default()
    };
    let store = state.store.clone();
    let list = blocking(move || Ok(store.outbox_find(&query)?)).await?;
    let next_after = (list.len() == limit).then(|| list.last().map(|i| i.id)).flatten();
    Ok(Json(FollowUpList { follow_ups: list.into_iter().map(follow_up_out).collect(), next_after }))
}

/// `POST /v1/follow-ups/{id}/done`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpDoneIn {
    /// How it was made (recorded in the audit log): a ticket number, a date, a channel.
    #[schema(max_length = 4096)]
    pub note: String,
}

/// Records that a follow-up was made by hand (audited `follow_up_done`). Admin keys.
#[utoipa::path(post, path = "/v1/follow-ups/{id}/done", tag = "reports",
    request_body = FollowUpDoneIn, security(("api_key" = [])),
    params(("id" = i64, Path, description = "Follow-up number")),
    responses((status = 200, body = FollowUpOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Made or given up already", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn follow_up_done(
    State(state): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FollowUpDoneIn>,
) -> Result<Json<FollowUpOut>, ApiError> {
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "no follow-up with id {id:?}: numbers are whole numbers from 1"
        ))
    })?;
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let item =
        blocking(move || Ok(store.follow_up_done(id, &actor, &body.note, now_ms())?)).await?;
    Ok(Json(follow_up_out(item)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_ids_are_uuids_fixed_by_report_and_complaint() {
        let a = follow_up_id("r-1", 7);
        assert_eq!(a, follow_up_id("r-1", 7));
        assert_ne!(a, follow_up_id("r-1", 8));
        assert_ne!(a, follow_up_id("r-2", 7));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
    }
}
