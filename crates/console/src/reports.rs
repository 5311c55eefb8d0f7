//! `/reports` (administrators and auditors): the reports of confirmed cases to the bodies that
//! receive them (NCMEC's CyberTipline, the EU Centre) and where each is in its delivery; one
//! report's page with the receiver's receipt or the last error; and, for administrators only,
//! `POST /reports/{id}/retry`, which sends a report that was given up (dead) again.
//!
//! The list starts with the count of reports per recipient and state, then the reports by number,
//! [`PAGE`] at a time (paged by `after=ID`), filtered by state and recipient. Dead reports are
//! marked, and administrators get a "Retry" button on each.
//!
//! Every page shown is recorded before it is rendered (`reports_view` with the filter and the
//! numbers shown; `report_view` with the report), as case and audit pages are. A retry is
//! recorded by the store in the transaction that makes it (`report_retry`, actor `user:NAME`).
//! No page shows the document sent to the receiver: it may hold personal data of the uploader,
//! and the cases it was made of are one click away for those who may see them.

use std::collections::BTreeSet;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::model::{format_time, now_ms, Millis};
use spoor_bank::outbox::OutboxItem;
use spoor_bank::reports::{Report, ReportQuery, ReportState};
use spoor_bank::{BankError, PersonRole};

use crate::layout::{self, csrf_field, FieldError};
use crate::session::{form_value, Viewer};
use crate::ConsoleState;

/// Who reads reports: the roles that read the audit log.
pub const READERS: &[PersonRole] = &[PersonRole::Admin, PersonRole::Auditor];
/// Who sends a dead report again.
pub const RETRIERS: &[PersonRole] = &[PersonRole::Admin];

/// Reports a page.
pub const PAGE: usize = 50;

/// Longest last error shown whole in the list (the report's page shows it all).
const ERROR_SHOWN: usize = 120;

/// The recipients Spoor delivers to, offered in the filter even before any report went to them.
const KNOWN_RECIPIENTS: &[&str] = &["ncmec", "eu_centre"];

/// A time as the pages show it: `2026-11-30 08:40:12 UTC`.
pub(crate) fn when(ms: Millis) -> String {
    let t = format_time(ms);
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => t,
    }
}

/// A recipient as people know it.
pub(crate) fn recipient_name(r: &str) -> &str {
    match r {
        "ncmec" => "NCMEC CyberTipline",
        "eu_centre" => "EU Centre",
        other => other,
    }
}

/// A report's state as a tag: dead stands out (the word says it too, not the colour alone).
pub(crate) fn state_tag(s: ReportState) -> Markup {
    let class = match s {
        ReportState::Finished => "tag tag--ok",
        ReportState::Dead => "tag tag--warn",
        _ => "tag",
    };
    html! { span class=(class) { (s.name()) } }
}

/// The last error for a table cell: whole when short, else cut at a character boundary.
fn shorten(text: &str) -> (String, bool) {
    if text.chars().count() <= ERROR_SHOWN {
        return (text.to_string(), false);
    }
    let cut: String = text.chars().take(ERROR_SHOWN).collect();
    (format!("{cut}…"), true)
}

/// The list's query string, as sent (every field may be empty).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    state: String,
    recipient: String,
    after: String,
    done: String,
    report: String,
}

/// A checked filter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Filter {
    state: Option<ReportState>,
    recipient: Option<String>,
    after: i64,
}

impl Filter {
    /// The query string of this filter (without `after`), for paging links.
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.state {
            parts.push(format!("state={}", s.name()));
        }
        if let Some(r) = &self.recipient {
            parts.push(format!("recipient={r}"));
        }
        parts.join("&")
    }

    /// The link to the page of this filter starting after `after` (0: the first page).
    fn link(&self, after: i64) -> String {
        let mut qs = self.query_string();
        if after > 0 {
            if !qs.is_empty() {
                qs.push('&');
            }
            qs.push_str(&format!("after={after}"));
        }
        if qs.is_empty() {
            "/reports".to_string()
        } else {
            format!("/reports?{qs}")
        }
    }
}

/// Whether `r` is a recipient name Spoor could have stored: 1–32 of a-z, 0-9 and `_`.
fn recipient_like(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl ListQuery {
    /// The filter asked for, or what is wrong with it. `recipients` are the names offered.
    fn filter(&self, recipients: &BTreeSet<String>) -> Result<Filter, Vec<FieldError>> {
        let mut errors = Vec::new();
        let state = match self.state.trim() {
            "" => None,
            s => match s.parse::<ReportState>() {
                Ok(st) => Some(st),
                Err(_) => {
                    errors.push(FieldError::new(
                        "state",
                        format!(
                            "There is no report state {}: choose one of {} from the list",
                            clip_shown(s),
                            ReportState::ALL
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                    None
                }
            },
        };
        let recipient = match self.recipient.trim() {
            "" => None,
            r if recipient_like(r) && recipients.contains(r) => Some(r.to_string()),
            r => {
                errors.push(FieldError::new(
                    "recipient",
                    format!(
                        "No reports go to {}: choose one of {} from the list",
                        clip_shown(r),
                        recipients.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                ));
                None
            }
        };
        let after = match self.after.trim() {
            "" => 0,
            a => match a.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    errors.push(FieldError::new(
                        "filter",
                        format!(
                            "The page asked for (after={}) is not a report number: start again \
                             from the first page",
                            clip_shown(a)
                        ),
                    ));
                    0
                }
            },
        };
        if errors.is_empty() {
            Ok(Filter { state, recipient, after })
        } else {
            Err(errors)
        }
    }
}

/// A value from the request quoted in a message, at most 40 characters.
fn clip_shown(s: &str) -> String {
    let cut: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if cut.chars().count() < s.chars().count() {
        format!("\"{cut}…\"")
    } else {
        format!("\"{cut}\"")
    }
}

/// The banner after a retry (`?done=retried&report=ID`): fixed text, and a number.
fn done_banner(done: &str, report: Option<i64>) -> Markup {
    if done == "follow_up" {
        return html! {
            div class="notice notice--important" role="status" id="done" {
                p { "The follow-up is recorded as made, with your note." }
            }
        };
    }
    if done != "retried" {
        return html! {};
    }
    html! {
        div class="notice notice--important" role="status" id="done" {
            p {
                @match report {
                    Some(id) => { "Report " (id) " will be sent again" }
                    None => { "The report will be sent again" }
                }
                ": its attempts count from 0 and a delivery worker takes it within seconds. If \
                 what made it fail is not fixed, it is given up again; the error below says why."
            }
        }
    }
}

/// The counts at the top of the list: one row per recipient, one column per state.
fn counts_table(counts: &[(String, ReportState, u64)], recipients: &BTreeSet<String>) -> Markup {
    let count = |r: &str, s: ReportState| {
        counts.iter().filter(|(cr, cs, _)| cr == r && *cs == s).map(|c| c.2).sum::<u64>()
    };
    html! {
        div class="table-wrap" {
            table class="table" id="report-counts" {
                caption { "Reports by recipient and state" }
                thead { tr {
                    th scope="col" { "Recipient" }
                    @for s in ReportState::ALL { th scope="col" class="num" { (s.name()) } }
                    th scope="col" class="num" { "All" }
                } }
                tbody {
                    @for r in recipients {
                        @let total: u64 = ReportState::ALL.iter().map(|s| count(r, *s)).sum();
                        tr {
                            th scope="row" { (recipient_name(r)) }
                            @for s in ReportState::ALL {
                                @let n = count(r, *s);
                                td class="num" {
                                    @if n > 0 {
                                        a href={ "/reports?state=" (s.name()) "&recipient=" (r) }
                                            class=[(*s == ReportState::Dead).then_some("count--dead")] {
                                            (n)
                                        }
                                    } @else { "0" }
                                }
                            }
                            td class="num" { (total) }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled select of the filter form.
fn select(
    errors: &[FieldError],
    id: &'static str,
    label: &str,
    options: &[(String, String)],
    chosen: &str,
) -> Markup {
    let err = layout::error_of(errors, id);
    html! {
        div class=(if err.is_some() { "form-group form-group--error" } else { "form-group" }) {
            label class="label" for=(id) { (label) }
            @if let Some(e) = err {
                p class="field-error" id={ (id) "-error" } { span class="visually-hidden" { "Error: " } (e) }
            }
            select class="select" id=(id) name=(id)
                aria-describedby=[err.map(|_| format!("{id}-error"))]
                aria-invalid=[err.map(|_| "true")] {
                option value="" selected[chosen.is_empty()] { "Any" }
                @for (value, text) in options {
                    option value=(value) selected[chosen == value] { (text) }
                }
            }
        }
    }
}

/// The retry button of a dead report, for administrators. `from` says where to come back to.
fn retry_form(v: &Viewer, r: &Report, from: &str) -> Markup {
    html! {
        form method="post" action={ "/reports/" (r.id) "/retry" } class="inline" {
            (csrf_field(v))
            input type="hidden" name="from" value=(from);
            button type="submit" class="button button--warning" id={ "retry-" (r.id) } {
                "Retry report " (r.id)
            }
        }
    }
}

/// A report's cases: links for those who may open cases, numbers for others.
fn case_links(v: &Viewer, cases: &[i64]) -> Markup {
    let linked = v.may(crate::review::REVIEWERS);
    html! {
        @for (i, c) in cases.iter().enumerate() {
            @if i > 0 { ", " }
            @if linked { a href={ "/cases/" (c) } { (c) } } @else { (c) }
        }
        @if cases.is_empty() { "—" }
    }
}

/// The list page. `list` is `None` when the filter is in error.
struct ListView<'a> {
    filter: &'a ListQuery,
    checked: Option<&'a Filter>,
    counts: &'a [(String, ReportState, u64)],
    recipients: &'a BTreeSet<String>,
    list: Option<&'a [Report]>,
    next: Option<i64>,
    errors: &'a [FieldError],
    follow_ups: &'a [OutboxItem],
}

/// Follow-ups shown on the reports page at most (the oldest first; the API lists them all).
const FOLLOW_UPS_SHOWN: usize = 200;

/// The follow-ups still to be made: to receivers of reports whose cases were reversed on
/// complaint. NCMEC's are made by a person, who records here that it was done.
fn follow_ups_section(v: &Viewer, items: &[OutboxItem]) -> Markup {
    let may_record = v.may(RETRIERS);
    html! {
        h2 id="follow-ups" { "Follow-ups to make" }
        @if items.is_empty() {
            p { "None: no reported case was reversed on complaint, or every follow-up was made." }
        } @else {
            p { "Reports whose cases were reversed when the person affected complained. The EU                  Centre's follow-ups are sent by the delivery worker; NCMEC's API takes no                  change to a report, so a person tells NCMEC (quoting the CyberTipline report                  ID) and records it here." }
            div class="table-wrap" {
                table class="table" id="follow-up-list" {
                    caption class="visually-hidden" { "Follow-ups still to make" }
                    thead { tr {
                        th scope="col" class="num" { "Number" } th scope="col" { "To" }
                        th scope="col" { "Report" } th scope="col" { "Receiver's id" }
                        th scope="col" { "Case" } th scope="col" { "Complaint" }
                        th scope="col" { "How" } th scope="col" { "Made" }
                        @if may_record { th scope="col" { "Action" } }
                    } }
                    tbody { @for i in items {
                        @let p: serde_json::Value = serde_json::from_str(&i.payload).unwrap_or_default();
                        @let by_hand = i.target == "by-hand";
                        tr id={ "follow-up-" (i.id) } {
                            td class="num" { (i.id) }
                            td { (recipient_name(i.topic.trim_end_matches("_follow_up"))) }
                            td { @if let Some(r) = p["report"].as_i64() { a href={ "/reports/" (r) } { (r) } } }
                            td { @if let Some(r) = p["receiver_report_id"].as_str() { code { (r) } } @else { "—" } }
                            td { @if let Some(c) = p["case_id"].as_i64() { (case_links(v, &[c])) } }
                            td { @if let Some(c) = p["complaint_id"].as_i64() {
                                @if v.may(crate::complaints::DECIDERS) { a href={ "/complaints/" (c) } { (c) } } @else { (c) }
                            } }
                            td { @if by_hand { "by hand" } @else { "sent by the worker" @if i.attempts > 0 { ", " (i.attempts) " failed" } } }
                            td class="nowrap" { (when(i.created_at)) }
                            @if may_record { td { @if by_hand {
                                form method="post" action={ "/reports/follow-ups/" (i.id) "/done" } class="inline" {
                                    (csrf_field(v))
                                    label class="label" for={ "note-" (i.id) } { "How it was made" }
                                    input class="input" type="text" id={ "note-" (i.id) } name="note" required maxlength="4096";
                                    button type="submit" class="button" id={ "done-" (i.id) } { "Record follow-up " (i.id) " as made" }
                                }
                            } } }
                        }
                    } }
                }
            }
        }
    }
}

fn render_list(v: &Viewer, p: &ListView<'_>) -> Markup {
    let may_retry = v.may(RETRIERS);
    let state_options: Vec<(String, String)> =
        ReportState::ALL.iter().map(|s| (s.name().to_string(), s.name().to_string())).collect();
    let recipient_options: Vec<(String, String)> =
        p.recipients.iter().map(|r| (r.clone(), recipient_name(r).to_string())).collect();
    let report_id = p.filter.report.parse::<i64>().ok().filter(|n| *n > 0);
    let body = html! {
        (done_banner(&p.filter.done, report_id))
        (layout::error_summary(p.errors))
        h1 { "Reports" }
        p {
            "Reports of confirmed cases to the bodies that receive them, and where each is in \
             its delivery: pending (not sent yet), open (opened at the receiver), finishing, \
             finished (the receiver took it; its receipt is the proof of reporting) or dead \
             (given up after a permanent error or too many attempts: it waits for a person). \
             Opening this page is recorded. Times are UTC."
        }
        @if p.list.is_some() { (counts_table(p.counts, p.recipients)) }
        @if p.list.is_some() { (follow_ups_section(v, p.follow_ups)) }
        h2 id="filter" tabindex="-1" { "Filter" }
        form method="get" action="/reports" novalidate class="filter" {
            div class="filter__fields" {
                (select(p.errors, "state", "State", &state_options, p.filter.state.trim()))
                (select(p.errors, "recipient", "Recipient", &recipient_options, p.filter.recipient.trim()))
            }
            button type="submit" class="button" { "Filter" }
            " "
            a href="/reports" { "Clear the filter" }
        }
        @if let (Some(list), Some(f)) = (p.list, p.checked) {
            div class="table-wrap" {
                table class="table table--audit" id="reports" {
                    caption class="visually-hidden" { "Reports by number" }
                    thead { tr {
                        th scope="col" class="num" { "Number" } th scope="col" { "Recipient" }
                        th scope="col" { "State" } th scope="col" { "Cases" }
                        th scope="col" class="num" { "Attempts" } th scope="col" { "Last error" }
                        th scope="col" { "Receiver's id" } th scope="col" { "Finished or given up" }
                        @if may_retry { th scope="col" { "Action" } }
                    } }
                    tbody {
                        @if list.is_empty() {
                            tr { td colspan=(if may_retry { "9" } else { "8" }) { "No reports match." } }
                        }
                        @for r in list {
                            @let dead = r.state == ReportState::Dead;
                            tr class=[dead.then_some("row--dead")] id={ "report-" (r.id) } {
                                td class="num" { a href={ "/reports/" (r.id) } { (r.id) } }
                                td { (recipient_name(&r.recipient)) }
                                td { (state_tag(r.state)) }
                                td { (case_links(v, &r.cases)) }
                                td class="num" { (r.attempts) }
                                td class="last-error" {
                                    @match &r.last_error {
                                        Some(e) => {
                                            @let (shown, cut) = shorten(e);
                                            @if cut { code title=(e) { (shown) } } @else { code { (shown) } }
                                        }
                                        None => { "—" }
                                    }
                                }
                                td { @if let Some(id) = &r.remote_id { code { (id) } } @else { "—" } }
                                td class="nowrap" {
                                    @if let Some(t) = r.finished_at { "finished " (when(t)) }
                                    @else if let Some(t) = r.dead_at { "given up " (when(t)) }
                                    @else { "—" }
                                }
                                @if may_retry {
                                    td { @if dead { (retry_form(v, r, "list")) } }
                                }
                            }
                        }
                    }
                }
            }
            @if f.after > 0 || p.next.is_some() {
                nav class="pager" aria-label="Pages of reports" {
                    @if f.after > 0 { a href=(f.link(0)) { "← First page" } }
                    " "
                    @if let Some(n) = p.next { a href=(f.link(n)) rel="next" { "Next page →" } }
                }
            }
        }
    };
    layout::page(Some(v), "/reports", "Reports", body)
}

fn store_error(e: BankError) -> Response {
    match e {
        BankError::NoSuchReport(id) => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such report",
            &format!("There is no report number {id}. The reports page lists them all."),
        ),
        other => layout::store_down(&other, "reports", "The reports cannot be read now"),
    }
}

/// The 400 page for a query string that cannot be read (a field given twice, bad encoding).
fn unreadable_address() -> Response {
    layout::error_page(
        StatusCode::BAD_REQUEST,
        "The address could not be read",
        "The filter in this address is not one the reports page makes (a field given twice, or \
         characters that do not decode). Start again from the reports page: /reports",
    )
}

/// The recipients offered in the filter: those Spoor delivers to and those counted.
fn recipients_of(counts: &[(String, ReportState, u64)]) -> BTreeSet<String> {
    KNOWN_RECIPIENTS
        .iter()
        .map(|r| r.to_string())
        .chain(counts.iter().map(|c| c.0.clone()))
        .collect()
}

/// `GET /reports`: the counts, then a page of reports by number.
pub async fn list(
    State(state): State<ConsoleState>,
    v: Viewer,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else { return unreadable_address() };
    let person = v.user.name.clone();
    let query = q.clone();
    let r = state
        .blocking(move |store| -> Result<Result<_, BankError>, Response> {
            let counts = match store.report_counts() {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            let recipients = recipients_of(&counts);
            let filter = match query.filter(&recipients) {
                Ok(f) => f,
                Err(errors) => return Ok(Ok((counts, recipients, Err(errors)))),
            };
            let rq = ReportQuery {
                state: filter.state,
                recipient: filter.recipient.clone(),
                after: filter.after,
                limit: PAGE + 1,
            };
            let mut list = match store.reports(&rq) {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            let next = if list.len() > PAGE {
                list.truncate(PAGE);
                list.last().map(|r| r.id)
            } else {
                None
            };
            let details = json!({
                "filter": {
                    "state": filter.state.map(|s| s.name()),
                    "recipient": filter.recipient,
                    "after": filter.after,
                },
                "reports": list.iter().map(|r| r.id).collect::<Vec<_>>(),
            });
            let follow_ups = match store.outbox_find(&spoor_bank::outbox::OutboxQuery {
                key_prefix: Some("follow_up:".into()),
                pending_only: true,
                limit: FOLLOW_UPS_SHOWN,
                ..Default::default()
            }) {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            let mut details = details;
            details["follow_ups"] = json!(follow_ups.iter().map(|f| f.id).collect::<Vec<_>>());
            crate::audit::record_view(store, &person, "reports_view", "report", "list", details)?;
            Ok(Ok((counts, recipients, Ok((filter, list, next, follow_ups)))))
        })
        .await;
    let (counts, recipients, shown) = match r {
        Ok(Ok(Ok(x))) => x,
        Ok(Ok(Err(e))) => return store_error(e),
        Ok(Err(r)) | Err(r) => return r,
    };
    match shown {
        Ok((filter, list, next, follow_ups)) => {
            let view = ListView {
                filter: &q,
                checked: Some(&filter),
                counts: &counts,
                recipients: &recipients,
                list: Some(&list),
                next,
                errors: &[],
                follow_ups: &follow_ups,
            };
            layout::html_response(StatusCode::OK, render_list(&v, &view))
        }
        Err(errors) => {
            let view = ListView {
                filter: &q,
                checked: None,
                counts: &counts,
                recipients: &recipients,
                list: None,
                next: None,
                errors: &errors,
                follow_ups: &[],
            };
            layout::html_response(StatusCode::BAD_REQUEST, render_list(&v, &view))
        }
    }
}

/// A report number from the path (`None`: not one, so there is no such page).
fn report_number(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| *n > 0)
}

/// The receipt as shown: pretty JSON when it is JSON, else as stored.
fn receipt_text(receipt: &str) -> String {
    serde_json::from_str::<serde_json::Value>(receipt)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| receipt.to_string())
}

/// The report page's query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    done: String,
}

fn render_report(v: &Viewer, r: &Report, done: &str) -> Markup {
    let body = html! {
        (done_banner(done, Some(r.id)))
        p { a href="/reports" { "← Reports" } }
        h1 { "Report " (r.id) }
        @if r.state == ReportState::Dead {
            div class="notice notice--warning" role="status" id="dead" {
                p { "This report was given up" @if let Some(t) = r.dead_at { " on " (when(t)) }
                    ". It is not sent again until a person retries it. Fix what the error below \
                     names first (credentials, the receiver's address, the report's data)." }
                @if v.may(RETRIERS) { (retry_form(v, r, "report")) }
            }
        }
        dl class="details" {
            dt { "State" } dd { (state_tag(r.state)) }
            dt { "Recipient" } dd { (recipient_name(&r.recipient)) }
            dt { "Spoor's id" } dd { code { (r.uuid) } }
            dt { "Receiver's id" } dd {
                @if let Some(id) = &r.remote_id { code id="remote-id" { (id) } }
                @else if r.recipient == "ncmec" { "— (not opened at NCMEC)" }
                @else { "—" }
            }
            dt { "Made" } dd { (when(r.created_at)) }
            dt { "Not sent before" } dd { (when(r.send_after)) }
            @if r.state.is_active() {
                dt { "Next attempt" } dd { (when(r.next_attempt_at)) }
            }
            @if let Some((worker, until)) = &r.claim {
                @if r.state.is_active() && *until > now_ms() {
                    dt { "Being sent by" } dd { (worker) " until " (when(*until)) }
                }
            }
            dt { "Failed attempts" } dd { (r.attempts) }
            @if let Some(t) = r.finished_at { dt { "Finished" } dd { (when(t)) } }
            @if let Some(t) = r.dead_at { dt { "Given up" } dd { (when(t)) } }
            dt { "Cases" } dd { (case_links(v, &r.cases)) }
        }
        h2 { "Last error" }
        @match &r.last_error {
            Some(e) => { pre class="pre" id="last-error" { (e) } }
            None => { p { "None." } }
        }
        h2 { "Receipt" }
        @match &r.receipt {
            Some(t) => {
                p { "What the receiver answered when it took the report: keep it as the proof of reporting." }
                pre class="pre" id="receipt" { (receipt_text(t)) }
            }
            None => { p { "None yet: the receiver has not taken the report." } }
        }
    };
    layout::page(Some(v), "/reports", &format!("Report {}", r.id), body)
}

/// `GET /reports/{id}`: one report (recorded as viewed first).
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let Some(id) = report_number(&id) else { return layout::not_found_page() };
    let Ok(Query(q)) = q else { return unreadable_address() };
    let person = v.user.name.clone();
    let r = state
        .blocking(move |store| -> Result<Result<Report, BankError>, Response> {
            let r = match store.report(id) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let details = json!({ "state": r.state.name(), "recipient": r.recipient });
            crate::audit::record_view(
                store,
                &person,
                "report_view",
                "report",
                &id.to_string(),
                details,
            )?;
            Ok(Ok(r))
        })
        .await;
    match r {
        Ok(Ok(Ok(r))) => layout::html_response(StatusCode::OK, render_report(&v, &r, &q.done)),
        Ok(Ok(Err(e))) => store_error(e),
        Ok(Err(r)) | Err(r) => r,
    }
}

/// `POST /reports/{id}/retry` (administrators): sends a dead report again; the store records
/// `report_retry` with the person. Back to the list or the report's page, with a banner.
pub async fn retry(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = report_number(&id) else { return layout::not_found_page() };
    let actor = v.actor();
    let from_list = form_value(&body, "from").as_deref() == Some("list");
    match state.blocking(move |store| store.report_retry(id, &actor, now_ms())).await {
        Ok(Ok(_)) => {
            tracing::info!(report = id, user = %v.user.name, "a dead report was retried from the console");
            let to = if from_list {
                format!("/reports?done=retried&report={id}")
            } else {
                format!("/reports/{id}?done=retried")
            };
            Redirect::to(&to).into_response()
        }
        Ok(Err(BankError::Conflict(m))) => {
            let title = "This report cannot be retried";
            let body = html! {
                h1 { (title) }
                p id="problem" { (m) ". Someone may have retried it already; nothing was changed." }
                p { a href={ "/reports/" (id) } { "See report " (id) " as it is now" } }
            };
            layout::html_response(
                StatusCode::CONFLICT,
                layout::page(Some(&v), "/reports", title, body),
            )
        }
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// `POST /reports/follow-ups/{id}/done` (administrators): records that a follow-up was made
/// by hand, with how (the store records `follow_up_done`). Back to the reports page.
pub async fn follow_up_done(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = report_number(&id) else { return layout::not_found_page() };
    let note = form_value(&body, "note").unwrap_or_default().trim().to_string();
    if note.is_empty() {
        return layout::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Say how the follow-up was made",
            "Write how it was made (a ticket number, a date, the channel) and record it again              from the reports page: /reports#follow-ups",
        );
    }
    let actor = v.actor();
    match state.blocking(move |store| store.follow_up_done(id, &actor, &note, now_ms())).await {
        Ok(Ok(_)) => Redirect::to("/reports?done=follow_up#follow-ups").into_response(),
        Ok(Err(BankError::NoSuchFollowUp(_))) => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such follow-up",
            &format!("There is no follow-up number {id}. The reports page lists those to make."),
        ),
        Ok(Err(BankError::Conflict(m) | BankError::Invalid(m))) => layout::error_page(
            StatusCode::CONFLICT,
            "This follow-up cannot be recorded",
            &format!("{m}. Nothing was changed. The reports page shows it as it is now."),
        ),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let q: String = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let uri: axum::http::Uri = format!("/reports?{q}").parse().unwrap();
        Query::<ListQuery>::try_from_uri(&uri).unwrap().0
    }

    fn known() -> BTreeSet<String> {
        recipients_of(&[("other_body".to_string(), ReportState::Dead, 1)])
    }

    #[test]
    fn filters_are_checked() {
        let f = query(&[("state", "dead"), ("recipient", "ncmec"), ("after", "50")])
            .filter(&known())
            .unwrap();
        assert_eq!(
            f,
            Filter { state: Some(ReportState::Dead), recipient: Some("ncmec".into()), after: 50 }
        );
        assert_eq!(f.link(0), "/reports?state=dead&recipient=ncmec");
        assert_eq!(f.link(100), "/reports?state=dead&recipient=ncmec&after=100");
        assert_eq!(Filter::default().link(0), "/reports");
        assert_eq!(Filter::default().link(7), "/reports?after=7");
        let f = query(&[("recipient", "other_body")]).filter(&known()).unwrap();
        assert_eq!(f.recipient.as_deref(), Some("other_body"), "a counted recipient is offered");
        assert_eq!(query(&[]).filter(&known()).unwrap(), Filter::default());

        let e = query(&[("state", "lost"), ("recipient", "fbi"), ("after", "-1")])
            .filter(&known())
            .unwrap_err();
        assert_eq!(e.iter().map(|e| e.field).collect::<Vec<_>>(), ["state", "recipient", "filter"]);
        assert!(e[0].message.contains("\"lost\"") && e[0].message.contains("dead"), "{e:?}");
        assert!(e[1].message.contains("eu_centre, ncmec, other_body"), "{e:?}");
        let e = query(&[("recipient", "NCMEC")]).filter(&known()).unwrap_err();
        assert_eq!(e[0].field, "recipient");
    }

    #[test]
    fn shown_values_are_short() {
        assert_eq!(shorten("refused"), ("refused".to_string(), false));
        let (s, cut) = shorten(&"é".repeat(300));
        assert!(cut && s.ends_with('…') && s.chars().count() == ERROR_SHOWN + 1);
        assert_eq!(clip_shown("dead"), "\"dead\"");
        assert_eq!(clip_shown(&"x".repeat(50)), format!("\"{}…\"", "x".repeat(40)));
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(receipt_text("{\"report_id\":\"7\"}"), "{\n  \"report_id\": \"7\"\n}");
        assert_eq!(receipt_text("not json"), "not json");
        assert_eq!(report_number("12"), Some(12));
        assert_eq!(report_number("0"), None);
        assert_eq!(report_number("x"), None);
    }
}
