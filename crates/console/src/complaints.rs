//! `/complaints` (reviewers and administrators): the complaints queue, one complaint's page
//! with what it is about, and its re-review.
//!
//! A complaint is re-reviewed by someone who took no part in the decision it is about: the page
//! of a person who did says so and shows no decision form, and the store refuses their decision
//! anyway (403 here). The re-reviewer sees the case as decided (matches, decisions, reports) and,
//! while the case's content is still held, its picture at the same minimal exposure as in review
//! (strongest blur and greyscale first, each reveal recorded). An overturn names the entry that
//! matched wrongly; the store reverses the case, takes it out of reports not begun, and the
//! service's hook queues the "restore" message to the provider and follow-ups to the receivers
//! of reports already sent.
//!
//! The list starts with the open complaints, oldest first, each with its age against the
//! deadline (`--complaint-deadline`); overdue ones are marked in words, not by colour alone.
//! Every page is recorded before it is shown (`complaints_view`, `complaint_view`); decisions
//! are recorded by the store (`complaint_decide`). Complaint text is personal data: it is shown
//! here and in the API, and never written to the audit log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::cases::{Case, MAX_NOTE};
use spoor_bank::complaints::{
    Complaint, ComplaintCounts, ComplaintDecision, ComplaintOutcome, ComplaintQuery, ComplaintState,
};
use spoor_bank::model::{now_ms, Millis};
use spoor_bank::outbox::{OutboxItem, OutboxQuery};
use spoor_bank::reports::Report;
use spoor_bank::{BankError, PersonRole, Store};

use crate::layout::{self, csrf_field, FieldError};
use crate::reports::when;
use crate::session::{form_value, Viewer};
use crate::ConsoleState;

/// Who works the complaints queue: the people who review.
pub const DECIDERS: &[PersonRole] = crate::review::REVIEWERS;

/// Complaints a page.
pub const PAGE: usize = 50;

/// A duration as people say it: `3 d 4 h`, `5 h 12 min`, `40 min`.
pub(crate) fn span(ms: Millis) -> String {
    let min = ms.max(0) / 60_000;
    let (d, h, m) = (min / 1440, (min / 60) % 24, min % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

/// Whether `actor` may see the held content of `case` to re-review a complaint about it: the
/// case has an open complaint and `actor` took no part in its decision.
pub(crate) fn re_reviews(store: &dyn Store, case: &Case, actor: &str) -> Result<bool, BankError> {
    let open = store.complaints(&ComplaintQuery {
        state: Some(ComplaintState::Open),
        case_id: Some(case.id),
        limit: 1,
        ..Default::default()
    })?;
    match open.first() {
        Some(c) => Ok(!store.complaint_excluded(c.id)?.contains(actor)),
        None => Ok(false),
    }
}

/// The list's query string, as sent (every field may be empty).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    state: String,
    after: String,
    done: String,
    complaint: String,
}

/// What the list shows: a state (`None`: every state) from a number on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Filter {
    state: Option<ComplaintState>,
    after: i64,
}

impl ListQuery {
    fn filter(&self) -> Result<Filter, FieldError> {
        let state = match self.state.trim() {
            "" | "open" => Some(ComplaintState::Open),
            "all" => None,
            s => Some(s.parse::<ComplaintState>().map_err(|_| {
                FieldError::new(
                    "state",
                    "There is no such complaint state: choose open, upheld, overturned or all",
                )
            })?),
        };
        let after = match self.after.trim() {
            "" => 0,
            a => a.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                FieldError::new(
                    "state",
                    "The page asked for is not a complaint number: start again from the first page",
                )
            })?,
        };
        Ok(Filter { state, after })
    }
}

impl Filter {
    fn link(&self, after: i64) -> String {
        let state = self.state.map_or("all", |s| s.name());
        if after > 0 {
            format!("/complaints?state={state}&after={after}")
        } else {
            format!("/complaints?state={state}")
        }
    }
}

fn state_tag(s: ComplaintState) -> Markup {
    let class = match s {
        ComplaintState::Open => "tag",
        ComplaintState::Upheld => "tag tag--ok",
        ComplaintState::Overturned => "tag tag--warn",
    };
    html! { span class=(class) { (s.name()) } }
}

/// The age of a complaint, and "overdue" in words past the deadline.
fn age_cell(c: &Complaint, now: Millis, deadline: Millis) -> Markup {
    let age = c.age(now);
    html! {
        (span(age))
        @if c.state == ComplaintState::Open && age > deadline {
            " " span class="tag tag--warn" { "overdue" }
        }
    }
}

fn done_banner(done: &str, complaint: Option<i64>) -> Markup {
    let what = match done {
        "upheld" => "upheld: the decision stands, and the service is told so it can tell the complainant",
        "overturned" => "overturned: the case is reversed, the service is told to restore the content, and the receivers of reports already sent get a follow-up",
        _ => return html! {},
    };
    html! {
        div class="notice notice--important" role="status" id="done" {
            p { "Complaint " (complaint.map(|c| c.to_string()).unwrap_or_default()) " " (what) "." }
        }
    }
}

fn counts_box(c: &ComplaintCounts, deadline: Millis, now: Millis) -> Markup {
    html! {
        @if c.overdue > 0 {
            div class="notice notice--warning" role="alert" id="overdue" {
                p { strong { (c.overdue) " complaint" @if c.overdue != 1 { "s" } " overdue" }
                    ": open longer than the deadline of " (span(deadline)) "."
                    @if let Some(t) = c.oldest_open_at { " The oldest was filed " (span(now - t)) " ago." } }
            }
        }
        dl class="details" id="complaint-counts" {
            dt { "Open" } dd { (c.open) }
            dt { "Overdue" } dd { (c.overdue) }
            dt { "Upheld" } dd { (c.upheld) }
            dt { "Overturned" } dd { (c.overturned) }
            dt { "Deadline" } dd { (span(deadline)) " from filing" }
        }
    }
}

struct ListView<'a> {
    query: &'a ListQuery,
    filter: Option<Filter>,
    counts: ComplaintCounts,
    list: &'a [(Complaint, bool)],
    next: Option<i64>,
    errors: &'a [FieldError],
    deadline: Millis,
}

fn render_list(v: &Viewer, p: &ListView<'_>) -> Markup {
    let now = now_ms();
    let chosen = p.query.state.trim();
    let chosen = if chosen.is_empty() { "open" } else { chosen };
    let body = html! {
        (done_banner(&p.query.done, p.query.complaint.parse().ok()))
        (layout::error_summary(p.errors))
        h1 { "Complaints" }
        p {
            "Complaints of people affected by a decision, filed by the service they use. Each is \
             re-reviewed by someone who took no part in the decision: upheld (the decision \
             stands) or overturned (the case is reversed and the content restored). Opening this \
             page is recorded. Times are UTC."
        }
        (counts_box(&p.counts, p.deadline, now))
        form method="get" action="/complaints" class="filter" novalidate {
            div class="form-group" {
                label class="label" for="state" { "State" }
                select class="select" id="state" name="state" {
                    @for s in ["open", "upheld", "overturned", "all"] {
                        option value=(s) selected[chosen == s] { (s) }
                    }
                }
            }
            button type="submit" class="button" { "Show" }
        }
        @if let Some(f) = p.filter {
            div class="table-wrap" {
                table class="table" id="complaints" {
                    caption class="visually-hidden" { "Complaints by number" }
                    thead { tr {
                        th scope="col" class="num" { "Number" } th scope="col" { "Case" }
                        th scope="col" { "Filed" } th scope="col" { "Age" }
                        th scope="col" { "State" } th scope="col" { "Yours to decide" }
                    } }
                    tbody {
                        @if p.list.is_empty() { tr { td colspan="6" { "No complaints." } } }
                        @for (c, mine) in p.list {
                            tr id={ "complaint-" (c.id) } {
                                td class="num" { a href={ "/complaints/" (c.id) } { (c.id) } }
                                td { a href={ "/cases/" (c.case_id) } { (c.case_id) } }
                                td class="nowrap" { (when(c.created_at)) }
                                td { (age_cell(c, now, p.deadline)) }
                                td { (state_tag(c.state)) }
                                td {
                                    @if c.state != ComplaintState::Open { "—" }
                                    @else if *mine { "yes" }
                                    @else { "no: you took part in the decision" }
                                }
                            }
                        }
                    }
                }
            }
            @if f.after > 0 || p.next.is_some() {
                nav class="pager" aria-label="Pages of complaints" {
                    @if f.after > 0 { a href=(f.link(0)) { "← First page" } }
                    " "
                    @if let Some(n) = p.next { a href=(f.link(n)) rel="next" { "Next page →" } }
                }
            }
        }
    };
    layout::page(Some(v), "/complaints", "Complaints", body)
}

fn store_error(e: BankError) -> Response {
    match e {
        BankError::NoSuchComplaint(id) => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such complaint",
            &format!("There is no complaint number {id}. The complaints page lists them all."),
        ),
        BankError::NoSuchCase(id) => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such case",
            &format!("There is no case number {id}."),
        ),
        other => layout::store_down(&other, "complaints", "The complaints cannot be read now"),
    }
}

fn deadline_ms(state: &ConsoleState) -> Millis {
    i64::try_from(state.config.complaint_deadline.as_millis()).unwrap_or(i64::MAX)
}

/// `GET /complaints`: the counts, then a page of complaints (open ones by default).
pub async fn list(
    State(state): State<ConsoleState>,
    v: Viewer,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return layout::error_page(
            StatusCode::BAD_REQUEST,
            "The address could not be read",
            "Start again from the complaints page: /complaints",
        );
    };
    let deadline = deadline_ms(&state);
    let (person, actor) = (v.user.name.clone(), v.actor());
    let filter = q.filter();
    let checked = filter.clone().ok();
    let r = state
        .blocking(move |store| -> Result<Result<_, BankError>, Response> {
            let counts = match store.complaint_counts(now_ms().saturating_sub(deadline)) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            let Some(f) = checked else { return Ok(Ok((counts, Vec::new(), None))) };
            let query = ComplaintQuery {
                state: f.state,
                after: f.after,
                limit: PAGE + 1,
                ..Default::default()
            };
            let mut list = match store.complaints(&query) {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            let next = if list.len() > PAGE {
                list.truncate(PAGE);
                list.last().map(|c| c.id)
            } else {
                None
            };
            let mut shown = Vec::with_capacity(list.len());
            for c in list {
                let mine = c.state == ComplaintState::Open
                    && match store.complaint_excluded(c.id) {
                        Ok(ex) => !ex.contains(&actor),
                        Err(e) => return Ok(Err(e)),
                    };
                shown.push((c, mine));
            }
            let details = json!({
                "filter": { "state": f.state.map(|s| s.name()), "after": f.after },
                "complaints": shown.iter().map(|(c, _)| c.id).collect::<Vec<_>>(),
            });
            crate::audit::record_view(
                store,
                &person,
                "complaints_view",
                "complaint",
                "list",
                details,
            )?;
            Ok(Ok((counts, shown, next)))
        })
        .await;
    let (counts, shown, next) = match r {
        Ok(Ok(Ok(x))) => x,
        Ok(Ok(Err(e))) => return store_error(e),
        Ok(Err(r)) | Err(r) => return r,
    };
    let errors: Vec<FieldError> = filter.as_ref().err().cloned().into_iter().collect();
    let view = ListView {
        query: &q,
        filter: filter.ok(),
        counts,
        list: &shown,
        next,
        errors: &errors,
        deadline,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    layout::html_response(status, render_list(&v, &view))
}

/// What a complaint's page shows.
struct Loaded {
    complaint: Complaint,
    case: Case,
    excluded: bool,
    reports: Vec<Report>,
    messages: Vec<OutboxItem>,
}

/// What the decision form was sent with.
#[derive(Debug, Default, Clone)]
struct Typed {
    outcome: String,
    reason: String,
    entry_id: String,
}

/// The complaint's messages to other systems: the outcome told to the service, the restore
/// instruction, follow-ups to receivers.
fn messages_of(store: &dyn Store, c: &Complaint) -> Result<Vec<OutboxItem>, BankError> {
    let mut out = store.outbox_find(&OutboxQuery {
        keys: vec![format!("complaint_decided:{}", c.id), format!("case_restore:{}", c.case_id)],
        limit: 10,
        ..Default::default()
    })?;
    out.extend(store.outbox_find(&OutboxQuery {
        key_prefix: Some(format!("follow_up:{}:", c.id)),
        limit: 100,
        ..Default::default()
    })?);
    Ok(out)
}

/// What an outbox item is, in words.
pub(crate) fn message_name(item: &OutboxItem) -> String {
    match item.topic.as_str() {
        "complaint_decided" => "Outcome told to the service".into(),
        "case_restore" => "Restore instruction to the service".into(),
        "user_notice" => "Notice to the user".into(),
        "case_decided" => "Decision told to the service".into(),
        t if t.ends_with("_follow_up") => format!(
            "Follow-up to {}",
            crate::reports::recipient_name(t.trim_end_matches("_follow_up"))
        ),
        t => t.to_string(),
    }
}

/// Where an outbox item is, in words.
pub(crate) fn message_state(item: &OutboxItem, now: Millis) -> String {
    if let Some(t) = item.delivered_at {
        if item.topic == "ncmec_follow_up" {
            return format!("done by hand {}", when(t));
        }
        return format!("delivered {}", when(t));
    }
    if let Some(t) = item.gave_up_at {
        return format!("given up {}", when(t));
    }
    if item.topic == "ncmec_follow_up" {
        return "to be done by hand: NCMEC's API takes no follow-up (see Reports)".into();
    }
    match item.not_before {
        Some(t) if t > now => format!("held until {} (do not inform)", when(t)),
        _ if item.attempts > 0 => format!("pending, {} failed attempt(s)", item.attempts),
        _ => "pending".into(),
    }
}

fn render_complaint(
    v: &Viewer,
    l: &Loaded,
    deadline: Millis,
    errors: &[FieldError],
    typed: &Typed,
) -> Markup {
    let c = &l.complaint;
    let case = &l.case;
    let now = now_ms();
    let open = c.state == ComplaintState::Open;
    let shows_picture = open
        && !l.excluded
        && case.media.is_some()
        && matches!(
            case.media_kind,
            spoor_bank::cases::MediaKind::Image | spoor_bank::cases::MediaKind::Video
        );
    let back = format!("/complaints/{}", c.id);
    let body = html! {
        (layout::error_summary(errors))
        p { a href="/complaints" { "← Complaints" } }
        h1 { "Complaint " (c.id) }
        dl class="details" {
            dt { "State" } dd { (state_tag(c.state)) }
            dt { "About" } dd { a href={ "/cases/" (c.case_id) } { "Case " (c.case_id) } }
            dt { "Filed" } dd { (when(c.created_at)) " by " (c.submitter) }
            dt { "Complainant" } dd { (c.complainant) }
            dt { "Age" } dd { (age_cell(c, now, deadline)) }
            @if let Some(t) = c.decided_at {
                dt { "Decided" } dd { (when(t)) " by " (c.decided_by.as_deref().unwrap_or("?")) }
            }
            @if let Some(r) = &c.reason { dt { "Reason" } dd { (r) } }
            @if let Some(e) = c.entry_id { dt { "Entry named" } dd { (e) } }
        }
        h2 { "What the complainant says" }
        pre class="pre" id="complaint-text" { (c.text) }
        h2 { "The decision complained about" }
        dl class="details" {
            dt { "Case state" } dd { (case.state.name())
                @if let Some(r) = &case.reversal { " (reversed " (when(r.at)) " by " (r.by) ", complaint " (r.complaint) ")" } }
            dt { "Decided" } dd {
                (case.decided_at.map(when).unwrap_or_else(|| "—".into()))
                " by " (case.decided_by.as_deref().unwrap_or("—"))
                @if let Some(r) = case.resolution { " (" (r.name()) ")" }
            }
            @if let Some(cat) = case.category { dt { "Classification" } dd { (cat.name()) } }
            dt { "Service" } dd { (case.meta.service.as_deref().unwrap_or("—")) }
            dt { "Item" } dd { (case.meta.content_ref.as_deref().unwrap_or("—")) }
        }
        @if !case.matches.is_empty() {
            h3 { "Matches" }
            ul id="complaint-matches" { @for m in &case.matches {
                li { (m.bank) " entry " a href={ "/banks/" (m.bank) "/entries/" (m.entry_id) } { (m.entry_id) }
                     " (" (m.signal_type.name()) ", distance " (m.distance) ")" }
            } }
        }
        @if !case.decisions.is_empty() {
            h3 { "Decisions" }
            ul { @for d in &case.decisions {
                li { (when(d.at)) ": " (d.person) " — " (d.verdict.name())
                     @if let Some(cat) = d.category { ", " (cat.name()) }
                     @if !d.note.is_empty() { ": " (d.note) } }
            } }
        }
        @if !l.reports.is_empty() {
            h3 { "Reports of the case" }
            ul id="complaint-reports" { @for r in &l.reports {
                li { "To " (crate::reports::recipient_name(&r.recipient)) ": " (crate::reports::state_tag(r.state))
                     @if let Some(id) = &r.remote_id { " (their id " code { (id) } ")" } }
            } }
        }
        @if !l.messages.is_empty() {
            h3 { "Messages sent for this complaint" }
            ul id="complaint-messages" { @for m in &l.messages {
                li { (message_name(m)) ": " (message_state(m, now)) }
            } }
        }
        @if shows_picture {
            h2 { "The content" }
            p { "Shown blurred and in greyscale first; each step you reveal is recorded." }
            img class="rendition" src={ "/cases/" (case.id) "/rendition" } alt={ "The content of case " (case.id) ", at your current reveal step" };
            div class="actions" {
                form method="post" action={ "/cases/" (case.id) "/reveal" } class="inline" {
                    (csrf_field(v)) input type="hidden" name="op" value="less_blur";
                    input type="hidden" name="back" value=(back);
                    button type="submit" class="button button--secondary" { "Less blur" }
                }
                form method="post" action={ "/cases/" (case.id) "/reveal" } class="inline" {
                    (csrf_field(v)) input type="hidden" name="op" value="colour";
                    input type="hidden" name="back" value=(back);
                    button type="submit" class="button button--secondary" { "Colour" }
                }
            }
        } @else if open && !l.excluded && case.media_kind != spoor_bank::cases::MediaKind::None {
            p { "The content is no longer held: decide from the matches, the decisions and what the complainant says." }
        }
        @if open {
            h2 { "Re-review" }
            @if l.excluded {
                div class="notice notice--warning" id="excluded" {
                    p { "You took part in the decision this complaint is about, so another reviewer decides it." }
                }
            } @else {
                form method="post" action={ "/complaints/" (c.id) "/decide" } novalidate {
                    (csrf_field(v))
                    fieldset class="fieldset" id="outcome" {
                        legend { "Outcome" }
                        @if let Some(e) = layout::error_of(errors, "outcome") { p class="field-error" { (e) } }
                        div class="radio" {
                            input type="radio" id="outcome-upheld" name="outcome" value="upheld" checked[typed.outcome == "upheld"];
                            label for="outcome-upheld" { "Upheld: the decision stands" }
                        }
                        div class="radio" {
                            input type="radio" id="outcome-overturned" name="outcome" value="overturned" checked[typed.outcome == "overturned"];
                            label for="outcome-overturned" { "Overturned: the decision was wrong; reverse the case and restore the content" }
                        }
                    }
                    @if !case.matches.is_empty() {
                        div class="form-group" {
                            label class="label" for="entry_id" { "Entry that matched wrongly (for an overturn)" }
                            @if let Some(e) = layout::error_of(errors, "entry_id") { p class="field-error" id="entry_id-error" { (e) } }
                            select class="select" id="entry_id" name="entry_id" {
                                option value="" { "—" }
                                @for m in &case.matches {
                                    option value=(m.entry_id) selected[typed.entry_id == m.entry_id.to_string()] {
                                        (m.bank) " entry " (m.entry_id)
                                    }
                                }
                            }
                        }
                    }
                    div class="form-group" {
                        label class="label" for="reason" { "Reason" }
                        p class="hint" id="reason-hint" { "Why, in plain words: the complainant is told." }
                        @if let Some(e) = layout::error_of(errors, "reason") { p class="field-error" id="reason-error" { (e) } }
                        textarea class="textarea" id="reason" name="reason" rows="4" aria-describedby="reason-hint" { (typed.reason) }
                    }
                    button type="submit" class="button" id="decide" { "Record the outcome" }
                }
            }
        }
    };
    layout::page(Some(v), "/complaints", &format!("Complaint {}", c.id), body)
}

async fn load(state: &ConsoleState, v: &Viewer, id: i64) -> Result<Loaded, Response> {
    let (person, actor) = (v.user.name.clone(), v.actor());
    let r = state
        .blocking(move |store| -> Result<Result<Loaded, BankError>, Response> {
            let read = || -> Result<Loaded, BankError> {
                let complaint = store.complaint(id)?;
                let case = store.case(complaint.case_id)?;
                let excluded = store.complaint_excluded(id)?.contains(&actor);
                let reports = store.reports_of_case(case.id)?;
                let messages = messages_of(store, &complaint)?;
                Ok(Loaded { complaint, case, excluded, reports, messages })
            };
            let l = match read() {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            let details = json!({ "case_id": l.case.id, "state": l.complaint.state.name() });
            crate::audit::record_view(
                store,
                &person,
                "complaint_view",
                "complaint",
                &id.to_string(),
                details,
            )?;
            Ok(Ok(l))
        })
        .await;
    match r {
        Ok(Ok(Ok(l))) => Ok(l),
        Ok(Ok(Err(e))) => Err(store_error(e)),
        Ok(Err(r)) | Err(r) => Err(r),
    }
}

/// `GET /complaints/{id}`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return layout::not_found_page();
    };
    match load(&state, &v, id).await {
        Ok(l) => layout::html_response(
            StatusCode::OK,
            render_complaint(&v, &l, deadline_ms(&state), &[], &Typed::default()),
        ),
        Err(r) => r,
    }
}

fn parse(body: &[u8], errors: &mut Vec<FieldError>) -> (Typed, Option<ComplaintDecision>) {
    let typed = Typed {
        outcome: form_value(body, "outcome").unwrap_or_default(),
        reason: form_value(body, "reason").unwrap_or_default().trim().to_string(),
        entry_id: form_value(body, "entry_id").unwrap_or_default(),
    };
    let outcome = match typed.outcome.parse::<ComplaintOutcome>() {
        Ok(o) => Some(o),
        Err(_) => {
            errors.push(FieldError::new("outcome", "Choose upheld or overturned"));
            None
        }
    };
    if typed.reason.is_empty() {
        errors.push(FieldError::new("reason", "Write the reason: the complainant is told why"));
    } else if typed.reason.len() > MAX_NOTE {
        errors.push(FieldError::new(
            "reason",
            format!("The reason is too long: at most {MAX_NOTE} bytes"),
        ));
    }
    let entry_id = match typed.entry_id.as_str() {
        "" => None,
        s => s
            .parse::<i64>()
            .map_err(|_| errors.push(FieldError::new("entry_id", "Choose an entry of the list")))
            .ok(),
    };
    let d = ComplaintDecision { outcome, reason: typed.reason.clone(), entry_id };
    (typed.clone(), errors.is_empty().then_some(d))
}

/// `POST /complaints/{id}/decide`: the re-review's outcome.
pub async fn decide(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return layout::not_found_page();
    };
    let mut errors = Vec::new();
    let (typed, decision) = parse(&body, &mut errors);
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let Some(d) = decision {
        let actor = v.actor();
        let st = state.clone();
        let r = state
            .blocking(move |store| {
                let hook = |c: &Complaint, case: &Case, reports: &[Report]| {
                    st.complaint_messages(c, case, reports)
                };
                store.complaint_decide(id, &actor, &d, now_ms(), &hook)
            })
            .await;
        match r {
            Ok(Ok((c, case))) => {
                state.forget_reveals(case.id);
                state.decided(&case);
                tracing::info!(complaint = id, case = case.id, outcome = c.state.name(), user = %v.user.name, "a complaint was decided in the console");
                metrics::counter!("spoor_complaint_decisions_total", "outcome" => c.state.name())
                    .increment(1);
                metrics::histogram!("spoor_complaint_decision_seconds")
                    .record(c.age(now_ms()) as f64 / 1000.0);
                return Redirect::to(&format!(
                    "/complaints?done={}&complaint={id}",
                    c.state.name()
                ))
                .into_response();
            }
            Ok(Err(BankError::NotAllowed(m))) => {
                status = StatusCode::FORBIDDEN;
                errors.push(FieldError::new("outcome", m));
            }
            Ok(Err(BankError::Conflict(m))) => {
                status = StatusCode::CONFLICT;
                let field = if m.contains("entry") { "entry_id" } else { "outcome" };
                errors.push(FieldError::new(field, m));
            }
            Ok(Err(BankError::Invalid(m))) => {
                let field = if m.starts_with("reason") {
                    "reason"
                } else if m.contains("entry") {
                    "entry_id"
                } else {
                    "outcome"
                };
                errors.push(FieldError::new(field, m));
            }
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    match load(&state, &v, id).await {
        Ok(l) => layout::html_response(
            status,
            render_complaint(&v, &l, deadline_ms(&state), &errors, &typed),
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(0), "0 min");
        assert_eq!(span(40 * 60_000), "40 min");
        assert_eq!(span((5 * 60 + 12) * 60_000), "5 h 12 min");
        assert_eq!(span((3 * 24 + 4) * 3_600_000), "3 d 4 h");
        assert_eq!(span(-5), "0 min");
    }

    #[test]
    fn the_list_filter_defaults_to_open_complaints() {
        let q =
            |s: &str, a: &str| ListQuery { state: s.into(), after: a.into(), ..Default::default() };
        assert_eq!(
            q("", "").filter().unwrap(),
            Filter { state: Some(ComplaintState::Open), after: 0 }
        );
        assert_eq!(q("all", "5").filter().unwrap(), Filter { state: None, after: 5 });
        assert_eq!(q("overturned", "").filter().unwrap().state, Some(ComplaintState::Overturned));
        assert!(q("lost", "").filter().is_err());
        assert!(q("open", "-3").filter().is_err());
        assert_eq!(Filter { state: None, after: 9 }.link(9), "/complaints?state=all&after=9");
    }

    #[test]
    fn decision_forms_are_checked() {
        let mut e = Vec::new();
        let (_, d) = parse(b"outcome=overturned&reason=a+landscape&entry_id=4", &mut e);
        assert!(e.is_empty(), "{e:?}");
        let d = d.unwrap();
        assert_eq!(
            (d.outcome, d.entry_id, d.reason.as_str()),
            (Some(ComplaintOutcome::Overturned), Some(4), "a landscape")
        );
        let mut e = Vec::new();
        let (typed, d) = parse(b"outcome=maybe&reason=+&entry_id=x", &mut e);
        assert!(d.is_none());
        assert_eq!(
            e.iter().map(|e| e.field).collect::<Vec<_>>(),
            ["outcome", "reason", "entry_id"]
        );
        assert_eq!(typed.outcome, "maybe");
    }
}
