//! `GET /v1/statistics?from=YYYY-MM-DD&to=YYYY-MM-DD`: what the records say about a period
//! (admin and auditor keys). Lookups and matches per day, client and technology; cases per day,
//! service and technology; complaints and outcomes;
//! reports per recipient; error rates per technology with their 95 % Wilson interval and the
//! number of decisions each rests on; times from making to decision and from decision to
//! report (median, 90th percentile). A figure the records cannot give is listed as not
//! recorded, with why — never estimated.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use spoor_bank::retention::DAY_MS;
use spoor_bank::statistics::{quantile, CaseDay, ComplaintDay, DayTotal, ReportDay, UsageDay};
use spoor_bank::Role;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, Auth};
use crate::AppState;

/// Keys that read statistics.
pub const READ: &[Role] = &[Role::Admin, Role::Auditor];

/// `GET /v1/statistics` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatisticsQuery {
    /// The first day (UTC, `YYYY-MM-DD`).
    #[param(format = Date)]
    pub from: String,
    /// The last day, included (UTC, `YYYY-MM-DD`); a last day before the first is an empty
    /// period.
    #[param(format = Date)]
    pub to: String,
    /// Count the records as they stood at the end of this day (UTC, `YYYY-MM-DD`): decisions,
    /// reversals, complaint outcomes and reports recorded after it are left out, so a past
    /// period's figures can be made again and come out the same. Default: as they stand now.
    #[param(format = Date)]
    #[serde(default)]
    pub as_of: Option<String>,
}

/// One technology's error rate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorRate {
    /// The technology (`md5`, `pdq:1-10`, …).
    pub technology: String,
    /// Decisions it rests on: confirmed cases and false positives.
    pub decisions: u64,
    /// False positives (in review and on complaint).
    pub false_positives: u64,
    /// Of those, found on complaint.
    pub false_positives_on_complaint: u64,
    /// False positives over decisions (0 when there are none).
    pub ratio: f64,
    /// The 95 % Wilson interval of the ratio: low end.
    pub ci_low: f64,
    /// High end.
    pub ci_high: f64,
}

/// A time's summary, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Times {
    /// How many it rests on.
    pub count: u64,
    /// Median (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_s: Option<f64>,
    /// 90th percentile (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_s: Option<f64>,
}

/// The answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatisticsOut {
    /// The first day.
    pub from: String,
    /// The last day, included.
    pub to: String,
    /// The day at whose end the records were taken as they stood (absent: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Cases per day, each once: `day`, `made`, `confirmed`, `false_positive`, `open`.
    #[schema(value_type = Vec<Object>)]
    pub days: Vec<DayTotal>,
    /// Cases per day, service and technology (a case matched by two technologies counts for
    /// each): `day`, `service`, `technology`, `made`, `auto`, `reviewed`, `earlier`,
    /// `confirmed`, `false_positive_review`, `false_positive_complaint`, `open`.
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<CaseDay>,
    /// Complaints per day filed: `day`, `filed`, `open`, `upheld`, `overturned`.
    #[schema(value_type = Vec<Object>)]
    pub complaints: Vec<ComplaintDay>,
    /// Reports per day and recipient: `day`, `recipient`, `finished`, `dead`.
    #[schema(value_type = Vec<Object>)]
    pub reports: Vec<ReportDay>,
    /// Lookups per day, client (the key's name) and technology: `day`, `client`,
    /// `technology` (`md5`, `sha1`, `sha256`, `vpdq`, or for PDQ the band of the nearest match,
    /// `pdq:0` … `pdq:32+`, or `pdq:none`), `lookups` (signals looked up), `matches` (bank
    /// entries they matched).
    #[schema(value_type = Vec<Object>)]
    pub lookups: Vec<UsageDay>,
    /// Error rates per technology.
    pub error_rates: Vec<ErrorRate>,
    /// From a case's making to its decision by people.
    pub to_decision: Times,
    /// From a decision to the receiver taking the report.
    pub to_report: Times,
    /// Figures the records cannot give, and why.
    pub not_recorded: Vec<String>,
}

fn day(text: &str, field: &str) -> Result<i64, ApiError> {
    spoor_bank::model::parse_time(&format!("{text}T00:00:00Z")).map_err(|e| {
        ApiError::bad_request(format!("{field}: {text:?} is not a day (YYYY-MM-DD): {e}"))
    })
}

fn times(mut v: Vec<i64>) -> Times {
    let s = |ms: Option<i64>| ms.map(|m| m as f64 / 1000.0);
    Times {
        count: v.len() as u64,
        median_s: s(quantile(&mut v, 0.5)),
        p90_s: s(quantile(&mut v, 0.9)),
    }
}

/// Error rates per technology from the case rows.
pub fn error_rates(cases: &[CaseDay]) -> Vec<ErrorRate> {
    spoor_bank::statistics::rates(cases)
        .into_iter()
        .map(|r| ErrorRate {
            technology: r.technology,
            decisions: r.decisions,
            false_positives: r.false_positives,
            false_positives_on_complaint: r.on_complaint,
            ratio: r.ratio,
            ci_low: r.ci.0,
            ci_high: r.ci.1,
        })
        .collect()
}

/// The records of a period, counted.
#[utoipa::path(get, path = "/v1/statistics", tag = "statistics", security(("api_key" = [])),
    params(StatisticsQuery),
    responses((status = 200, body = StatisticsOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn statistics(
    State(state): State<AppState>,
    _auth: Auth,
    q: Result<Query<StatisticsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatisticsOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (from, to) = (day(&q.from, "from")?, day(&q.to, "to")?.saturating_add(DAY_MS));
    let as_of = match &q.as_of {
        Some(d) => day(d, "as_of")?.saturating_add(DAY_MS),
        None => i64::MAX,
    };
    let store = state.store.clone();
    let usage = state.usage.clone();
    let counted = if to <= from {
        // Nothing is in an empty period.
        spoor_bank::statistics::Counted::default()
    } else {
        blocking(move || {
            // Lookups counted up to now are in the answer.
            if let Err(e) = usage.flush(&*store) {
                tracing::warn!(error = %e, "cannot add lookups to the daily statistics; they are kept");
            }
            Ok(store.statistics_as_of(from, to, as_of)?)
        })
        .await?
    };
    let mut not_recorded = Vec::new();
    match &counted.usage_since {
        None => not_recorded.push(
            "lookups and matches: none has been counted yet (they are counted per day from \
             the first lookup on)"
                .to_string(),
        ),
        Some(first) if *first > q.from => not_recorded.push(format!(
            "lookups and matches before {first}: not recorded (counting began that day)"
        )),
        Some(_) => {}
    }
    Ok(Json(StatisticsOut {
        from: q.from,
        to: q.to,
        as_of: q.as_of,
        error_rates: error_rates(&counted.cases),
        to_decision: times(counted.to_decision_ms),
        to_report: times(counted.to_report_ms),
        days: counted.days,
        cases: counted.cases,
        complaints: counted.complaints,
        reports: counted.reports,
        lookups: counted.usage,
        not_recorded,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_full_date_is_a_day_and_nothing_else_is() {
        for d in ["0000-01-01", "1970-01-01", "2024-02-29", "9999-12-31"] {
            assert!(day(d, "from").is_ok(), "{d}");
        }
        for d in ["0000-00-00", "2026-02-30", "2026-13-01", "26-01-01", "2026-01-01T00:00:00Z"] {
            assert!(day(d, "from").is_err(), "{d}");
        }
        assert!(times(vec![]).median_s.is_none());
        assert_eq!(times(vec![1000, 3000, 2000]).median_s, Some(2.0));
    }
}
