//! Retention in the service: the policy file (`--retention FILE`), the run (hourly in `spoor
//! serve`, and `spoor retention run`), and legal holds (`POST /v1/cases/{id}/legal-hold`).
//!
//! A run applies the policy in the store ([`spoor_bank::retention::Retention::retention_apply`],
//! one transaction with its `retention_run` record), then deletes the held media of cases past
//! the media period (never while a legal hold or an open complaint keeps the case), each file
//! from the vault before its case is marked, one `media_purge` record for the lot.

use std::path::Path;

use anyhow::Context as _;
use axum::extract::{Path as UrlPath, State};
use axum::Json;
use serde::Deserialize;
use spoor_bank::model::Millis;
use spoor_bank::retention::{Policy, RetentionCounts};
use spoor_bank::Store;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, ApiJson, Auth};
use crate::wire::CaseOut;
use crate::AppState;

/// How often `spoor serve` runs retention.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The retention file: TOML, one table `[retention]` of [`Policy`] fields (days), unknown keys
/// refused; a period above 365 days needs `exceed_reason`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    retention: Policy,
}

/// Reads and checks the retention file.
pub fn load(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the retention file {}", path.display()))?;
    let f: File = toml::from_str(&text)
        .with_context(|| format!("the retention file {} is not valid", path.display()))?;
    let over =
        f.retention.check().with_context(|| format!("the retention file {}", path.display()))?;
    if !over.is_empty() {
        tracing::warn!(classes = ?over, reason = f.retention.exceed_reason.as_deref().unwrap_or(""), "retention: kept longer than 12 months, with a recorded reason");
    }
    Ok(f.retention)
}

/// Runs retention at `now` as `actor`: held media past its period first (deleted from
/// `vault`, one `media_purge` record; with no vault none is held), then the store's classes (one
/// transaction with its `retention_run` record, which counts the media too). With `dry_run`
/// only counts.
pub fn run(
    store: &dyn Store,
    vault: Option<&spoor_case::Vault>,
    policy: &Policy,
    session_max_age_ms: Millis,
    now: Millis,
    dry_run: bool,
    actor: &str,
) -> spoor_bank::Result<RetentionCounts> {
    let made_before = Policy::cutoff(now, policy.media_days);
    let mut media = 0u64;
    if let Some(v) = vault {
        if dry_run {
            media = store.media_past_retention(made_before, now, 100_000)?.len() as u64;
        } else {
            let mut purged = Vec::new();
            'runs: loop {
                let due = store.media_past_retention(made_before, now, 1000)?;
                if due.is_empty() {
                    break;
                }
                for (case_id, media_id) in due {
                    if let Ok(m) = media_id.parse::<spoor_case::MediaId>() {
                        if let Err(e) = v.delete(&m) {
                            tracing::error!(error = %e, case_id, "retention: cannot delete held content; it is tried again next run");
                            break 'runs;
                        }
                    }
                    store.media_purged(case_id, now)?;
                    purged.push(case_id);
                }
            }
            if !purged.is_empty() {
                let rec = spoor_audit::NewRecord::by(actor, "media_purge", "case", "retention")
                    .with_details(
                        serde_json::json!({"cases": purged, "media_days": policy.media_days}),
                    );
                store.audit_append(&rec)?;
                metrics::counter!("spoor_case_media_purged_total").increment(purged.len() as u64);
            }
            media = purged.len() as u64;
        }
    }
    store.retention_apply(policy, session_max_age_ms, now, dry_run, media, actor)
}

/// `POST /v1/cases/{id}/legal-hold`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldIn {
    /// Until when (RFC 3339, in the future); `null` lifts the hold.
    pub until: Option<String>,
    /// Why: the order or proceedings (or why the hold is lifted).
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// Puts a case under a legal hold until a time (nothing of it — personal data, complaints,
/// report documents, held content — is deleted before), or lifts it; audited
/// `case_legal_hold`. Admin keys.
#[utoipa::path(post, path = "/v1/cases/{id}/legal-hold", tag = "cases", request_body = LegalHoldIn,
    security(("api_key" = [])), params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody)))]
pub async fn legal_hold(
    State(state): State<AppState>,
    Auth(p): Auth,
    UrlPath(id): UrlPath<String>,
    ApiJson(body): ApiJson<LegalHoldIn>,
) -> Result<Json<CaseOut>, ApiError> {
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "no case with id {id:?}: case numbers are whole numbers from 1"
        ))
    })?;
    let until = body
        .until
        .as_deref()
        .map(spoor_bank::model::parse_time)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("until: {e}")))?;
    let (store, actor) = (state.store.clone(), p.actor.to_string());
    let case = blocking(move || {
        store.case(id)?; // an unknown case is 404 whatever the body says
        Ok(store.set_legal_hold(id, until, &body.reason, &actor, spoor_bank::model::now_ms())?)
    })
    .await?;
    Ok(Json(crate::cases::case_out(case, p.show_distance)))
}
