//! `/statistics` (administrators and auditors): what the records say about a period, as
//! `GET /v1/statistics` says it — cases per day drawn as inline SVG by the server (with the
//! same figures as a table), error rates per technology with their 95 % Wilson interval and
//! the number of decisions each rests on, complaints and their outcomes, reports per recipient,
//! and the times to decision and to report. The period is chosen by day (UTC); the page is
//! recorded before it is shown (`statistics_view`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::model::{format_time, now_ms, parse_time, Millis};
use spoor_bank::retention::DAY_MS;
use spoor_bank::statistics::{quantile, rates, Counted, DayTotal, MAX_DAYS};
use spoor_bank::{BankError, PersonRole};

use crate::layout::{self, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// Who reads statistics.
pub const READERS: &[PersonRole] = &[PersonRole::Admin, PersonRole::Auditor];

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PeriodQuery {
    from: String,
    to: String,
}

/// The period asked for, as days `[from, to]` (UTC, both included), or what is wrong.
fn period(q: &PeriodQuery, now: Millis) -> Result<(String, String, Millis, Millis), FieldError> {
    let today: String = format_time(now).chars().take(10).collect();
    let from = if q.from.trim().is_empty() {
        format!("{}-01-01", &today[..4])
    } else {
        q.from.trim().to_string()
    };
    let to = if q.to.trim().is_empty() { today } else { q.to.trim().to_string() };
    let day = |t: &str, field: &'static str| {
        parse_time(&format!("{t}T00:00:00Z")).map_err(|_| {
            FieldError::new(field, format!("{} is not a day: write it as YYYY-MM-DD", shown(t)))
        })
    };
    let (a, b) = (day(&from, "from")?, day(&to, "to")? + DAY_MS);
    if b <= a {
        return Err(FieldError::new("to", "The last day is before the first"));
    }
    if b - a > MAX_DAYS * DAY_MS {
        return Err(FieldError::new(
            "to",
            format!("The period is longer than {MAX_DAYS} days: choose a year at most"),
        ));
    }
    Ok((from, to, a, b))
}

/// A value from the request quoted in a message, at most 20 characters.
fn shown(s: &str) -> String {
    let cut: String = s.chars().filter(|c| !c.is_control()).take(20).collect();
    format!("\"{cut}\"")
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn seconds(ms: Option<Millis>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 120_000 => format!("{} s", ms / 1000),
        Some(ms) if ms < 7_200_000 => format!("{} min", ms / 60_000),
        Some(ms) => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

/// Cases made per day (light) with confirmed (dark) and false positives (orange) in front; a
/// table with the same figures for screen readers.
fn chart(days: &[DayTotal]) -> Markup {
    if days.is_empty() {
        return html! { p { "No cases in this period." } };
    }
    let (w, h, pad) = (640u64, 180u64, 20u64);
    let n = days.len() as u64;
    let step = ((w - 40) / n).max(1);
    let bar = (step * 2 / 3).max(1);
    let max = days.iter().map(|d| d.made).max().unwrap_or(0).max(1);
    let plot = h - 2 * pad;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" class=\"chart\" role=\"img\" \
         aria-labelledby=\"stats-chart-title\"><title id=\"stats-chart-title\">Cases per day, \
         {} to {} (busiest day: {max} cases)</title>\
         <line x1=\"30\" y1=\"{y0}\" x2=\"{x2}\" y2=\"{y0}\" stroke=\"#6f777b\" stroke-width=\"1\"/>",
        days[0].day,
        days[days.len() - 1].day,
        y0 = h - pad,
        x2 = w - 10
    );
    for (i, d) in days.iter().enumerate() {
        let x = 32 + i as u64 * step;
        let (mh, ch, fh) =
            (d.made * plot / max, d.confirmed * plot / max, d.false_positive * plot / max);
        svg.push_str(&format!(
            "<g><title>{}: {} cases, {} confirmed, {} false positives, {} open</title>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{mh}\" fill=\"#8eb8dc\"/>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{ch}\" fill=\"#1d4f7c\"/>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{fh}\" fill=\"#b35c00\"/></g>",
            d.day,
            d.made,
            d.confirmed,
            d.false_positive,
            d.open,
            h - pad - mh,
            h - pad - ch,
            h - pad - ch - fh,
        ));
    }
    svg.push_str(&format!(
        "<text x=\"26\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"#0b0c0c\">{max}</text>\
         <text x=\"26\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"#0b0c0c\">0</text></svg>",
        pad + 4,
        h - pad
    ));
    html! {
        figure class="chart-figure" {
            (PreEscaped(svg))
            figcaption { "Cases made per day (light), of them confirmed (dark) and false positives (orange); days in UTC." }
        }
        details {
            summary { "The figures as a table" }
            div class="table-wrap" {
                table class="table" id="stats-days" {
                    thead { tr { th scope="col" { "Day" } th scope="col" class="num" { "Cases" }
                        th scope="col" class="num" { "Confirmed" } th scope="col" class="num" { "False positives" }
                        th scope="col" class="num" { "Open" } } }
                    tbody { @for d in days { tr { td { (d.day) } td class="num" { (d.made) }
                        td class="num" { (d.confirmed) } td class="num" { (d.false_positive) } td class="num" { (d.open) } } } }
                }
            }
        }
    }
}

fn render(
    v: &Viewer,
    q: &PeriodQuery,
    shown: Option<(&str, &str, &Counted)>,
    errors: &[FieldError],
) -> Markup {
    let body = html! {
        (layout::error_summary(errors))
        h1 { "Statistics" }
        p { "What the records say about a period, nothing estimated. Cases erased by retention \
             still count (their rows stay, anonymous). Opening this page is recorded." }
        p { a href="/statistics/annual" id="annual-link" { "The annual report (Regulation 2021/1232, Art. 3(1)(g)(vii))" } }
        form method="get" action="/statistics" class="filter" novalidate {
            div class="filter__fields" {
                (layout::field(errors, "from", "from", "First day", Some("YYYY-MM-DD, UTC"), "text", q.from.trim(), "off"))
                (layout::field(errors, "to", "to", "Last day", Some("YYYY-MM-DD, UTC, included"), "text", q.to.trim(), "off"))
            }
            button type="submit" class="button" { "Show" }
        }
        @if let Some((from, to, c)) = shown {
            h2 { "Cases, " (from) " to " (to) }
            @let total: u64 = c.days.iter().map(|d| d.made).sum();
            @let confirmed: u64 = c.days.iter().map(|d| d.confirmed).sum();
            @let fp: u64 = c.days.iter().map(|d| d.false_positive).sum();
            p id="stats-totals" { (total) " cases: " (confirmed) " confirmed, " (fp) " false positives." }
            (chart(&c.days))
            h2 { "Error rates per technology" }
            p class="hint" { "False positives (in review and on complaint) over decisions, with the 95 % Wilson interval: \
                              with few decisions the interval is wide, and says so." }
            div class="table-wrap" {
                table class="table" id="stats-rates" {
                    thead { tr { th scope="col" { "Technology" } th scope="col" class="num" { "Decisions" }
                        th scope="col" class="num" { "False positives" } th scope="col" class="num" { "On complaint" }
                        th scope="col" class="num" { "Ratio" } th scope="col" { "95 % interval" } } }
                    tbody {
                        @let r = rates(&c.cases);
                        @if r.is_empty() { tr { td colspan="6" { "No decisions in this period." } } }
                        @for x in &r {
                            tr { th scope="row" { (x.technology) } td class="num" { (x.decisions) }
                                 td class="num" { (x.false_positives) } td class="num" { (x.on_complaint) }
                                 td class="num" { (percent(x.ratio)) }
                                 td { (percent(x.ci.0)) " – " (percent(x.ci.1)) } }
                        }
                    }
                }
            }
            h2 { "Complaints and reports" }
            @let filed: u64 = c.complaints.iter().map(|k| k.filed).sum();
            @let upheld: u64 = c.complaints.iter().map(|k| k.upheld).sum();
            @let overturned: u64 = c.complaints.iter().map(|k| k.overturned).sum();
            @let open: u64 = c.complaints.iter().map(|k| k.open).sum();
            p id="stats-complaints" { (filed) " complaints: " (upheld) " upheld, " (overturned) " overturned, " (open) " open." }
            ul id="stats-reports" {
                @for (r, fin, dead) in report_totals(c) {
                    li { (crate::reports::recipient_name(&r)) ": " (fin) " taken, " (dead) " given up" }
                }
            }
            h2 { "Times" }
            @let mut dec = c.to_decision_ms.clone();
            @let mut rep = c.to_report_ms.clone();
            dl class="details" {
                dt { "From a case to its decision by people" }
                dd { "median " (seconds(quantile(&mut dec, 0.5))) ", 90 % within " (seconds(quantile(&mut dec, 0.9))) " (" (dec.len()) " cases)" }
                dt { "From a decision to the receiver taking its report" }
                dd { "median " (seconds(quantile(&mut rep, 0.5))) ", 90 % within " (seconds(quantile(&mut rep, 0.9))) " (" (rep.len()) " reported cases)" }
            }
            h2 { "Lookups" }
            p class="hint" { "Signals looked up and the bank entries they matched, per technology (PDQ by the band \
                              of the nearest match). The service adds its counts every minute." }
            div class="table-wrap" {
                table class="table" id="stats-lookups" {
                    thead { tr { th scope="col" { "Technology" } th scope="col" class="num" { "Lookups" }
                        th scope="col" class="num" { "Matches" } } }
                    tbody {
                        @let l = lookup_totals(c);
                        @if l.is_empty() { tr { td colspan="3" { "No lookups in this period." } } }
                        @for (t, n, m) in &l {
                            tr { th scope="row" { (t) } td class="num" { (n) } td class="num" { (m) } }
                        }
                    }
                }
            }
            @match &c.usage_since {
                None => p class="hint" { "No lookup has been counted yet." },
                Some(first) if first.as_str() > from => p class="hint" { "Lookups before " (first) " were not recorded (counting began that day)." },
                Some(_) => {}
            }
        }
    };
    layout::page(Some(v), "/statistics", "Statistics", body)
}

fn lookup_totals(c: &Counted) -> Vec<(String, u64, u64)> {
    let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for u in &c.usage {
        let e = by.entry(u.technology.clone()).or_default();
        e.0 += u.lookups;
        e.1 += u.matches;
    }
    by.into_iter().map(|(t, (n, m))| (t, n, m)).collect()
}

fn report_totals(c: &Counted) -> Vec<(String, u64, u64)> {
    let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for r in &c.reports {
        let e = by.entry(r.recipient.clone()).or_default();
        e.0 += r.finished;
        e.1 += r.dead;
    }
    by.into_iter().map(|(r, (f, d))| (r, f, d)).collect()
}

/// `GET /statistics`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return layout::error_page(
            StatusCode::BAD_REQUEST,
            "The address could not be read",
            "Start again from the statistics page: /statistics",
        );
    };
    let (from, to, a, b) = match period(&q, now_ms()) {
        Ok(p) => p,
        Err(e) => {
            return layout::html_response(StatusCode::BAD_REQUEST, render(&v, &q, None, &[e]))
        }
    };
    let person = v.user.name.clone();
    let (f, t) = (from.clone(), to.clone());
    let r = state
        .blocking(move |store| -> Result<Result<Counted, BankError>, Response> {
            let c = match store.statistics(a, b) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            crate::audit::record_view(
                store,
                &person,
                "statistics_view",
                "statistics",
                "period",
                json!({"from": f, "to": t}),
            )?;
            Ok(Ok(c))
        })
        .await;
    match r {
        Ok(Ok(Ok(c))) => {
            layout::html_response(StatusCode::OK, render(&v, &q, Some((&from, &to, &c)), &[]))
        }
        Ok(Ok(Err(e))) => layout::store_down(&e, "statistics", "The statistics cannot be read now"),
        Ok(Err(r)) | Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_default_to_this_year_and_are_checked() {
        let now = 1_796_040_000_000; // 2026-11-30T12:00:00Z
        let q = |f: &str, t: &str| PeriodQuery { from: f.into(), to: t.into() };
        let (from, to, a, b) = period(&q("", ""), now).unwrap();
        assert_eq!((from.as_str(), to.as_str()), ("2026-01-01", "2026-11-30"));
        assert_eq!(b - a, 334 * DAY_MS);
        assert_eq!(period(&q("2026-13-01", ""), now).unwrap_err().field, "from");
        assert_eq!(period(&q("2026-05-02", "2026-05-01"), now).unwrap_err().field, "to");
        assert_eq!(period(&q("2024-01-01", "2026-01-01"), now).unwrap_err().field, "to");
        assert_eq!(seconds(Some(90_000)), "90 s");
        assert_eq!(seconds(Some(600_000)), "10 min");
        assert_eq!(seconds(Some(36_000_000)), "10.0 h");
        assert_eq!(percent(0.25), "25.0 %");
    }

    #[test]
    fn the_chart_follows_the_figures() {
        let days = vec![
            DayTotal {
                day: "2026-11-01".into(),
                made: 10,
                confirmed: 6,
                false_positive: 2,
                open: 2,
                held: 3,
            },
            DayTotal {
                day: "2026-11-02".into(),
                made: 5,
                confirmed: 5,
                false_positive: 0,
                open: 0,
                held: 0,
            },
        ];
        let s = chart(&days).into_string();
        assert!(s.contains("height=\"140\""), "the busiest day is full height: {s}");
        assert!(s.contains("height=\"84\""), "its confirmed 6/10 of it: {s}");
        assert!(s.contains("2026-11-01: 10 cases, 6 confirmed, 2 false positives, 2 open"));
        assert!(!s.contains("style="), "no inline styles (CSP)");
    }
}
