//! `/statistics/annual` (administrators and auditors): the annual report of a year
//! ([`crate::annual`]) as a console page, and `/statistics/annual/download` as the JSON or
//! the standalone HTML document (which prints to A4; `spoor reports annual --format pdf` makes
//! the PDF). The report counts the year as it stood at its end; each view and download is
//! recorded (`annual_report`, with its format) before it is shown.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use spoor_bank::model::{format_time, now_ms, Millis};

use crate::annual::{self, Annual};
use crate::layout::{self, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// The query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct YearQuery {
    year: String,
    format: String,
}

/// The year asked for (default: last year), or what is wrong.
fn year_of(q: &YearQuery, now: Millis) -> Result<i32, FieldError> {
    let this: i32 = format_time(now)[..4].parse().unwrap_or(1970);
    let text = q.year.trim();
    if text.is_empty() {
        return Ok(this - 1);
    }
    match text.parse::<i32>() {
        Ok(y) if (1970..=9998).contains(&y) => Ok(y),
        _ => Err(FieldError::new(
            "year",
            format!(
                "{} is not a year to report on: give one from 1970 on, such as {}",
                text.chars().filter(|c| !c.is_control()).take(12).collect::<String>(),
                this - 1
            ),
        )),
    }
}

fn render(v: &Viewer, year_text: &str, report: Option<&Annual>, errors: &[FieldError]) -> Response {
    let this: i32 = format_time(now_ms())[..4].parse().unwrap_or(1970);
    let controls = html! {
        form method="get" action="/statistics/annual" class="filter" novalidate {
            div class="filter__fields" {
                (layout::field(errors, "year", "year", "Year", Some("The calendar year, UTC"), "text", year_text, "off"))
            }
            button type="submit" class="button" { "Show" }
        }
    };
    let body = html! {
        (layout::error_summary(errors))
        @match report {
            None => {
                h1 { "Annual report" }
                (controls)
            }
            Some(a) => {
                nav class="annual-actions" aria-label="This report" {
                    (controls)
                    ul {
                        li { a href={ "/statistics/annual/download?format=json&year=" (a.year) } download { "Download as JSON" } }
                        li { a href={ "/statistics/annual/download?format=html&year=" (a.year) } download { "Download as a document (prints to A4)" } }
                    }
                    p class="hint" { "For a PDF to file: " code { "spoor reports annual --year " (a.year) " --format pdf" } "." }
                    @if a.year >= this {
                        p class="notice notice--warning" id="annual-not-over" { "The year is not over: its figures are the records as they stand now, and will change." }
                    }
                }
                div class="annual" { (annual::body(a)) }
            }
        }
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    layout::html_response(status, layout::page(Some(v), "/statistics", "Annual report", body))
}

/// Makes the report and records that `person` saw it as `format`.
async fn made(
    state: &ConsoleState,
    person: String,
    year: i32,
    format: &'static str,
) -> Result<Annual, Response> {
    let sources = state.config.annual.clone();
    let r = state
        .blocking(move |store| -> Result<Result<Annual, String>, Response> {
            let a = match annual::make(store, year, &sources, now_ms()) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            crate::audit::record_view(
                store,
                &person,
                "annual_report",
                "year",
                &year.to_string(),
                json!({ "format": format, "via": "console" }),
            )?;
            Ok(Ok(a))
        })
        .await;
    match r {
        Ok(Ok(Ok(a))) => Ok(a),
        Ok(Ok(Err(e))) => Err(layout::store_down(
            &spoor_bank::BankError::Invalid(e),
            "annual report",
            "The annual report cannot be made now",
        )),
        Ok(Err(r)) | Err(r) => Err(r),
    }
}

fn unreadable() -> Response {
    layout::error_page(
        StatusCode::BAD_REQUEST,
        "The address could not be read",
        "Start again from the annual report page: /statistics/annual",
    )
}

/// `GET /statistics/annual`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    q: Result<Query<YearQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else { return unreadable() };
    let year = match year_of(&q, now_ms()) {
        Ok(y) => y,
        Err(e) => return render(&v, q.year.trim(), None, &[e]),
    };
    match made(&state, v.user.name.clone(), year, "console").await {
        Ok(a) => render(&v, &year.to_string(), Some(&a), &[]),
        Err(r) => r,
    }
}

/// `GET /statistics/annual/download?format=json|html&year=`.
pub async fn download(
    State(state): State<ConsoleState>,
    v: Viewer,
    q: Result<Query<YearQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else { return unreadable() };
    let year = match year_of(&q, now_ms()) {
        Ok(y) => y,
        Err(e) => return render(&v, q.year.trim(), None, &[e]),
    };
    let (format, kind) = match q.format.as_str() {
        "json" => ("json", "application/json"),
        "html" => ("html", "text/html; charset=utf-8"),
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(12).collect();
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                "No such format",
                &format!("\"{shown}\" is not a format of the report: choose json or html."),
            );
        }
    };
    let a = match made(&state, v.user.name.clone(), year, format).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let bytes = match format {
        "json" => serde_json::to_string_pretty(&a).unwrap_or_default() + "\n",
        _ => annual::html(&a),
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"annual-report-{year}.{format}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_year_defaults_to_the_last_and_is_checked() {
        let now = 1_796_040_000_000; // 2026-11-30T12:00:00Z
        let q = |y: &str| YearQuery { year: y.into(), format: String::new() };
        assert_eq!(year_of(&q(""), now).unwrap(), 2025);
        assert_eq!(year_of(&q(" 2026 "), now).unwrap(), 2026);
        assert_eq!(
            year_of(&q("2027"), now).unwrap(),
            2027,
            "a year not over is shown as it stands"
        );
        for bad in ["1969", "9999", "twenty", "2026-01-01", "-1"] {
            assert_eq!(year_of(&q(bad), now).unwrap_err().field, "year", "{bad}");
        }
    }
}
