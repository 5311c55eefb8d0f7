//! `/`: the dashboard. Banks with their counts (live entries from the matcher's memory,
//! disabled ones from the store's index of them), the matcher's state (entries,
//! follower lag) and this process's match requests and matches of the last 24 hours, drawn as
//! inline SVG by the server.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use spoor_bank::PersonRole;

use crate::activity::{Hour, HOURS};
use crate::banks::{bank_path, rows, state_tag, thousands, Row};
use crate::layout;
use crate::session::Viewer;
use crate::ConsoleState;

/// `GET /`.
pub async fn page(State(state): State<ConsoleState>, v: Viewer) -> Response {
    // Live counts from the matcher's memory and disabled ones through their own index: the
    // dashboard never scans a bank, whatever its size.
    let banks = match rows(&state).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let may_browse = v.may(&[PersonRole::Admin, PersonRole::Curator]);
    let stats = state.matcher.stats();
    let lag = state.matcher.lag();
    let day = state.activity.last_day();
    let requests: u64 = day.iter().map(|h| h.requests).sum();
    let matches: u64 = day.iter().map(|h| h.matches).sum();
    let body = html! {
        h1 { "Dashboard" }
        section aria-labelledby="banks-title" {
            h2 id="banks-title" { "Banks" }
            @if banks.is_empty() {
                p { "There are no banks yet." }
            } @else {
                div class="table-wrap" {
                    table class="table" {
                        caption class="visually-hidden" { "Banks and their entries" }
                        thead { tr {
                            th scope="col" { "Bank" }
                            th scope="col" { "State" }
                            th scope="col" class="num" { "Live PDQ" }
                            th scope="col" class="num" { "Live digests" }
                            th scope="col" class="num" { "Live videos" }
                            th scope="col" class="num" { "Disabled" }
                        } }
                        tbody {
                            @for Row { bank: b, live, disabled } in &banks {
                                tr {
                                    th scope="row" {
                                        @if may_browse { a href=(bank_path(&b.name)) { (b.name) } } @else { (b.name) }
                                    }
                                    td { (state_tag(b.enabled, "active", "paused")) }
                                    td class="num" { (thousands(live.pdq)) }
                                    td class="num" { (thousands(live.exact)) }
                                    td class="num" { (thousands(live.video)) }
                                    td class="num" { (thousands(*disabled)) }
                                }
                            }
                        }
                    }
                }
                p class="hint" { "Live entries are those the matcher holds now; disabled entries are kept, with who disabled them and why." }
            }
        }
        section aria-labelledby="matcher-title" {
            h2 id="matcher-title" { "Matcher" }
            dl class="summary" {
                div { dt { "PDQ entries" } dd { (thousands(stats.pdq_entries)) } }
                div { dt { "Digest entries (MD5, SHA-1, SHA-256)" } dd { (thousands(stats.exact_entries)) } }
                div { dt { "Video entries (vPDQ)" } dd { (thousands(stats.video_entries)) } }
                div { dt { "Change log applied up to" } dd { (stats.seq) } }
                div { dt { "Follower last read the change log" } dd { (lag_text(lag)) } }
                @if stats.follower_restarts > 0 {
                    div { dt { "Follower restarts" } dd { span class="tag tag--warn" { (stats.follower_restarts) } } }
                }
            }
        }
        section aria-labelledby="activity-title" {
            h2 id="activity-title" { "Match requests, last 24 hours" }
            p class="hint" { "Counted by this server process since it started; other replicas count their own." }
            p { (thousands(requests)) " requests, " (thousands(matches)) " matches." }
            (chart(&day))
        }
    };
    layout::html_response(StatusCode::OK, layout::page(Some(&v), "/", "Dashboard", body))
}

fn lag_text(lag: std::time::Duration) -> String {
    let s = lag.as_secs_f64();
    if s < 1.0 {
        format!("{} ms ago", lag.as_millis())
    } else if s < 120.0 {
        format!("{s:.0} s ago")
    } else {
        format!("{:.0} minutes ago (the follower is behind: check the service log)", s / 60.0)
    }
}

/// The hourly bars: requests (tall, grey-blue) with matches (dark) in front, one pair an hour,
/// oldest on the left; a table with the same figures for screen readers and exact values.
fn chart(day: &[Hour; HOURS]) -> Markup {
    let (w, h, pad, bar) = (24 * 20 + 40, 160u64, 20u64, 14u64);
    let max = day.iter().map(|x| x.requests.max(x.matches)).max().unwrap_or(0).max(1);
    let plot = h - 2 * pad;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" class=\"chart\" role=\"img\" \
         aria-labelledby=\"chart-title\"><title id=\"chart-title\">Match requests and matches per hour, \
         last 24 hours (highest hour: {max} requests)</title>\
         <line x1=\"30\" y1=\"{y0}\" x2=\"{x2}\" y2=\"{y0}\" stroke=\"#6f777b\" stroke-width=\"1\"/>",
        y0 = h - pad,
        x2 = w - 10
    );
    for (i, hr) in day.iter().enumerate() {
        let x = 30 + i as u64 * 20 + 3;
        let rh = hr.requests * plot / max;
        let mh = hr.matches * plot / max;
        svg.push_str(&format!(
            "<g><title>{:02}:00 UTC: {} requests, {} matches</title>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{rh}\" fill=\"#8eb8dc\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{mh}\" fill=\"#1d4f7c\"/></g>",
            hr.hour % 24,
            hr.requests,
            hr.matches,
            h - pad - rh,
            x + 3,
            h - pad - mh,
            bar - 6
        ));
        if i % 6 == 0 || i == HOURS - 1 {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#0b0c0c\">{:02}:00</text>",
                x + bar / 2,
                h - 5,
                hr.hour % 24
            ));
        }
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
            figcaption {
                span class="key key--requests" { "Requests" } " "
                span class="key key--matches" { "Matches" } " (hours in UTC)"
            }
        }
        details {
            summary { "The figures as a table" }
            div class="table-wrap" {
                table class="table" {
                    thead { tr { th scope="col" { "Hour (UTC)" } th scope="col" class="num" { "Requests" } th scope="col" class="num" { "Matches" } } }
                    tbody {
                        @for hr in day.iter() {
                            tr { td { (format!("{:02}:00", hr.hour % 24)) } td class="num" { (hr.requests) } td class="num" { (hr.matches) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_bars_follow_the_figures() {
        let mut day = [Hour::default(); HOURS];
        for (i, h) in day.iter_mut().enumerate() {
            h.hour = 1000 + i as u64;
        }
        day[23].requests = 10;
        day[23].matches = 5;
        let s = chart(&day).into_string();
        // Full height for the busiest hour (120 px of plot), half for its matches.
        assert!(s.contains("height=\"120\""), "{s}");
        assert!(s.contains("height=\"60\""), "{s}");
        assert!(s.contains("10 requests, 5 matches"));
        assert!(!s.contains("style="), "no inline styles (CSP)");
    }
}
