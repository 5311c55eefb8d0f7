//! Review (administrators and reviewers): the queues, "review next", a case's page with a
//! rendition made by the server (never the original: at most 320 px, greyscale and strongly
//! blurred until the reviewer reveals a step, each step recorded), the decision form; and for
//! curators, the false positives whose entry still matches, each disabled with one click.
//!
//! Exposure is kept as small as the job allows: known material and content decided before
//! never reach a queue (the API decides them); a case's picture is shown only to the person who
//! holds it, only while it is open; every picture served and every reveal is an audit record,
//! and those records are the exposure counter (items seen and reveals today), shown on the
//! review pages with a soft daily limit.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_audit::{ActorKind, NewRecord};
use spoor_bank::cases::{
    self, Annotation, Case, CaseState, IndustryClass, MediaKind, NewDecision, Verdict,
};
use spoor_bank::model::{format_time, now_ms, Millis};
use spoor_bank::reports::Report;
use spoor_bank::{AuditQuery, BankError, Category, EntryUpdate, PersonRole};

use crate::layout::{self, csrf_field, error_summary, FieldError};
use crate::session::{form_value, form_values, Viewer};
use crate::ConsoleState;

/// The outcomes of decided cases that matched (a bank's or an entry's), with the share of
/// false positives: the error rates of real decisions. `by_bank`: a bank column.
pub fn outcomes_table(outcomes: &[cases::Outcome], by_bank: bool) -> Markup {
    html! {
        @if outcomes.is_empty() {
            p { "No decided case has matched yet." }
        } @else {
            div class="table-wrap" {
                table class="table" {
                    caption class="visually-hidden" { "Outcomes of decided cases by signal type and distance" }
                    thead { tr {
                        @if by_bank { th scope="col" { "Bank" } }
                        th scope="col" { "Signal" } th scope="col" { "Distance" }
                        th scope="col" class="num" { "Confirmed by people" }
                        th scope="col" class="num" { "Confirmed without review" }
                        th scope="col" class="num" { "False positives" }
                        th scope="col" class="num" { "False-positive share" }
                    } }
                    tbody { @for o in outcomes { tr {
                        @if by_bank { td { (o.bank) } }
                        td { (o.signal_type.name()) } td { (o.band) }
                        td class="num" { (o.confirmed_reviewed) } td class="num" { (o.confirmed_auto) }
                        td class="num" { (o.false_positive) }
                        td class="num" { (format!("{:.1} %", 100.0 * o.false_positive_ratio())) }
                    } } }
                }
            }
        }
    }
}

/// Who reviews.
pub const REVIEWERS: &[PersonRole] = &[PersonRole::Admin, PersonRole::Reviewer];

/// Whether `user` may take cases of `queue`: administrators every queue, the senior queue
/// included; others the queues of their list (every queue when it is empty) but the senior one.
pub fn may_take(user: &spoor_bank::User, queue: &str) -> bool {
    user.role == PersonRole::Admin || (queue != cases::SENIOR_QUEUE && user.reviews_queue(queue))
}

/// What a reviewer sees of a case now: blur step and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reveal {
    /// Blur level, 4 (strongest, the default) to 0 (none).
    pub blur: u8,
    /// Colour shown.
    pub colour: bool,
}

impl Default for Reveal {
    fn default() -> Self {
        Reveal { blur: spoor_case::BlurLevel::STRONGEST.level(), colour: false }
    }
}

/// What a person was exposed to today, from the audit log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Distinct cases whose picture was shown.
    pub items: u64,
    /// Reveal steps taken.
    pub reveals: u64,
}

fn start_of_day(now: Millis) -> Millis {
    now - now.rem_euclid(86_400_000)
}

/// Today's (UTC) exposure of `person`, counted from the audit records of pictures served and
/// reveals.
pub fn exposure(store: &dyn spoor_bank::Store, person: &str) -> Result<Exposure, BankError> {
    Ok(exposure_seen(store, person)?.0)
}

/// [`exposure`], and the cases whose picture was shown today.
fn exposure_seen(
    store: &dyn spoor_bank::Store,
    person: &str,
) -> Result<(Exposure, std::collections::HashSet<String>), BankError> {
    let since = start_of_day(now_ms());
    let mut out = Exposure::default();
    let mut seen = std::collections::HashSet::new();
    for action in ["case_rendition", "case_reveal"] {
        let mut q = AuditQuery::after(0, 10_000);
        q.actor = Some(person.to_string());
        q.actor_kind = Some("user".to_string());
        q.action = Some(action.to_string());
        q.since = Some(since);
        for r in store.audit_records(&q)? {
            if action == "case_reveal" {
                out.reveals += 1;
            } else if seen.insert(r.object_id.clone()) {
                out.items += 1;
            }
        }
    }
    Ok((out, seen))
}

/// The reviewers who reached today's exposure guide (for team leads).
fn past_guide(store: &dyn spoor_bank::Store) -> Result<Vec<String>, BankError> {
    let mut q = AuditQuery::after(0, 10_000);
    q.action = Some("exposure_guide_reached".to_string());
    q.since = Some(start_of_day(now_ms()));
    let mut names: Vec<String> =
        store.audit_records(&q)?.into_iter().map(|r| r.object_id).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn exposure_box(e: Exposure, limit: u32) -> Markup {
    let over = limit > 0 && e.items >= u64::from(limit);
    html! {
        div class=(if over { "notice notice--warning" } else { "notice" }) role="status" id="exposure" {
            p {
                "Today you have seen " strong { (e.items) } " item" @if e.items != 1 { "s" }
                " and made " strong { (e.reveals) } " reveal" @if e.reveals != 1 { "s" } "."
                @if limit > 0 { " The daily guide is " (limit) " items." }
            }
            @if over {
                p { "You have reached today's guide. Take a break; your team lead has been told. \
                     Talk to them or to the support your organisation offers." }
            }
        }
    }
}

/// The review pages' query.
#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
    #[serde(default)]
    case: Option<i64>,
}

fn done_banner(q: &DoneQuery) -> Markup {
    let text = match q.done.as_str() {
        "empty" => "The queue is empty: there is no case to review.".to_string(),
        "released" => "The case went back to its queue.".to_string(),
        "decided" => match q.case {
            Some(id) => format!("Case {id} was decided and recorded."),
            None => "The case was decided and recorded.".to_string(),
        },
        "disabled" => "The entry is disabled: it stops matching within a second.".to_string(),
        "view" => "Your starting view is saved: it applies to the next case you take.".to_string(),
        _ => return html! {},
    };
    html! { div class="notice" role="status" id="done" { p { (text) } } }
}

fn store_error(e: BankError) -> Response {
    match e {
        BankError::NoSuchCase(_) => layout::not_found_page(),
        other => layout::store_down(&other, "review", "The cases cannot be read now"),
    }
}

/// `GET /review`: the queues, the person's exposure today, "review next".
pub async fn queues(
    State(state): State<ConsoleState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    let person = v.user.name.clone();
    let lead = v.user.role == PersonRole::Admin;
    let start = state.start_view(v.user.id).await;
    let r = state
        .blocking(move |store| {
            let reached = if lead { past_guide(store)? } else { Vec::new() };
            Ok::<_, BankError>((store.open_case_counts()?, exposure(store, &person)?, reached))
        })
        .await;
    let (counts, exp, reached) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return store_error(e),
        Err(r) => return r,
    };
    let mut by_queue: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let listed = v.user.role != PersonRole::Admin && !v.user.queues.is_empty();
    for queue in if listed { v.user.queues.clone() } else { vec![cases::MAIN_QUEUE.into()] } {
        by_queue.entry(queue).or_default();
    }
    if v.user.role == PersonRole::Admin {
        by_queue.entry(cases::SENIOR_QUEUE.into()).or_default();
    }
    for (queue, st, n) in counts.into_iter().filter(|c| may_take(&v.user, &c.0)) {
        let slot = match st {
            CaseState::Queued => 0,
            CaseState::SecondReview => 1,
            _ => 2,
        };
        by_queue.entry(queue).or_default()[slot] += n;
    }
    let body = html! {
        (done_banner(&q))
        h1 { "Review" }
        (exposure_box(exp, state.config.exposure_guide))
        @if !reached.is_empty() {
            div class="notice notice--warning" role="status" id="past-guide" {
                p { "Reached today's exposure guide: " (reached.join(", ")) ". Check in with them." }
            }
        }
        p { "\"Review next\" gives you the oldest case of a queue and holds it for you for "
            (state.config.review_lease.as_secs() / 60) " minutes; no one else sees it meanwhile." }
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "Review queues" }
                thead { tr {
                    th scope="col" { "Queue" } th scope="col" class="num" { "Waiting" }
                    th scope="col" class="num" { "Second review" } th scope="col" class="num" { "Escalated" }
                    th scope="col" { "" }
                } }
                tbody {
                    @for (queue, n) in &by_queue {
                        @let senior = queue == cases::SENIOR_QUEUE;
                        tr {
                            td { (queue) }
                            td class="num" { (n[0]) } td class="num" { (n[1]) } td class="num" { (n[2]) }
                            td {
                                @if !senior || v.user.role == PersonRole::Admin {
                                    form method="post" action="/review/next" class="inline" {
                                        (csrf_field(&v))
                                        input type="hidden" name="queue" value=(queue);
                                        button type="submit" class="button" id={ "next-" (queue) } {
                                            "Review next in " (queue)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (start_view_form(&v, start))
    };
    layout::html_response(StatusCode::OK, layout::page(Some(&v), "/review", "Review", body))
}

/// The form that sets how a reviewer's first picture of each case is shown.
fn start_view_form(v: &Viewer, start: Reveal) -> Markup {
    html! {
        h2 id="start-view-title" { "Your starting view" }
        p { "How the first picture of each case you take is shown. You can reveal more on the \
             case itself; every step is recorded. The strongest blur in greyscale shows least." }
        form method="post" action="/review/view" aria-labelledby="start-view-title" {
            (csrf_field(v))
            div class="form-group" {
                label class="label" for="start-blur" { "Blur" }
                select class="select" id="start-blur" name="blur" {
                    @for (level, text) in [(4u8, "4 – strongest"), (3, "3"), (2, "2"), (1, "1"), (0, "0 – none")] {
                        option value=(level) selected[start.blur == level] { (text) }
                    }
                }
            }
            div class="checkbox" {
                input type="checkbox" id="start-colour" name="colour" value="on" checked[start.colour];
                label for="start-colour" { "Show colour" }
            }
            button type="submit" class="button button--secondary" id="start-view-save" { "Save my starting view" }
        }
    }
}

/// `POST /review/view`: sets the person's starting view (recorded `review_view_set`).
pub async fn set_start_view(State(state): State<ConsoleState>, v: Viewer, body: Bytes) -> Response {
    let blur = form_value(&body, "blur").and_then(|b| b.parse::<u8>().ok());
    let Some(blur) = blur.filter(|b| *b <= cases::STRONGEST_BLUR) else {
        return layout::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That blur step does not exist",
            "Choose a blur step from 4 (strongest) to 0 (none) on the review page.",
        );
    };
    let view = cases::ReviewView { blur, colour: form_value(&body, "colour").is_some() };
    let (user, actor) = (v.user.id, v.actor());
    match state.blocking(move |store| store.set_review_view(user, &actor, view, now_ms())).await {
        Ok(Ok(())) => {
            state.forget_start_view(user);
            Redirect::to("/review?done=view").into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// The "review next" form.
#[derive(Deserialize, Default)]
pub struct NextForm {
    #[serde(default)]
    queue: String,
}

/// `POST /review/next`: claims the oldest free case of a queue (or the one the person holds).
pub async fn next(
    State(state): State<ConsoleState>,
    v: Viewer,
    Form(f): Form<NextForm>,
) -> Response {
    if cases::check_queue(&f.queue).is_err() {
        return Redirect::to("/review").into_response();
    }
    if !may_take(&v.user, &f.queue) {
        let (name, queue) = (v.user.name.clone(), f.queue.clone());
        let role = v.user.role.name();
        let _ = state
            .blocking(move |store| {
                crate::audit::record(
                    store,
                    crate::audit::Actor::Person(&name),
                    "forbidden",
                    "page",
                    "/review/next",
                    json!({ "role": role, "queue": queue }),
                )
            })
            .await;
        return not_your_queue(&v, &f.queue);
    }
    let (actor, lease) = (v.actor(), state.config.review_lease.as_millis() as Millis);
    let queue = f.queue.clone();
    match state.blocking(move |store| store.claim_next_case(&queue, &actor, now_ms(), lease)).await
    {
        Ok(Ok(Some(c))) => Redirect::to(&format!("/cases/{}", c.id)).into_response(),
        Ok(Ok(None)) => Redirect::to("/review?done=empty").into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// The 403 page for a queue the person does not take cases from.
fn not_your_queue(v: &Viewer, queue: &str) -> Response {
    let title = "You do not review this queue";
    let body = html! {
        h1 { (title) }
        p { "Cases of the queue " strong { (queue) } " are not yours to take. This was recorded. \
             If you should review them, ask an administrator to add the queue to yours." }
        p { a href="/review" { "Go to your queues" } }
    };
    layout::html_response(StatusCode::FORBIDDEN, layout::page(Some(v), "/review", title, body))
}

fn holds(c: &Case, v: &Viewer) -> bool {
    c.state.is_open() && c.holder(now_ms()) == Some(v.actor().as_str())
}

fn shows_picture(c: &Case, v: &Viewer) -> bool {
    holds(c, v) && c.media.is_some() && has_picture(c.media_kind)
}

/// Whether content of this kind has a picture: an image's rendition, or the grid of a video's
/// key frames (kept when it was hashed: the console never decodes a video).
fn has_picture(kind: MediaKind) -> bool {
    matches!(kind, MediaKind::Image | MediaKind::Video)
}

fn opt(s: Option<&str>) -> &str {
    s.unwrap_or("—")
}

/// What the decision form was sent with (to show it again with its errors).
#[derive(Default, Debug)]
struct Typed {
    verdict: String,
    category: String,
    industry_class: String,
    annotations: Vec<String>,
    entry_id: String,
    note: String,
}

fn radio(name: &str, id: &str, value: &str, label: &str, checked: bool) -> Markup {
    html! {
        div class="radio" {
            input type="radio" id=(id) name=(name) value=(value) checked[checked];
            label for=(id) { (label) }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn render_case(
    v: &Viewer,
    c: &Case,
    context: &[MatchContext],
    reveal: Reveal,
    exp: Exposure,
    guide: u32,
    errors: &[FieldError],
    typed: &Typed,
    reports: &[Report],
    redress: &Redress,
) -> Markup {
    let held = holds(c, v);
    let picture = shows_picture(c, v);
    let url = format!("/cases/{}", c.id);
    let meta = &c.meta;
    html! {
        (error_summary(errors))
        p { a href="/review" { "← Review" } }
        h1 { "Case " (c.id) }
        (exposure_box(exp, guide))
        dl class="details" {
            dt { "State" } dd { (c.state.name()) " (queue " (c.queue) ")" }
            @if let Some((who, until)) = &c.lease {
                @if c.state.is_open() && *until > now_ms() {
                    dt { "Held by" } dd { (who) " until " (format_time(*until)) }
                }
            }
            dt { "Submitted" } dd { (format_time(c.created_at)) " by " (c.submitter) }
            dt { "Reason" } dd { (meta.reason.map_or("—", |r| r.name())) }
            dt { "Service" } dd { (opt(meta.service.as_deref())) }
            dt { "Item" } dd { (opt(meta.content_ref.as_deref())) }
            dt { "Uploader" } dd { (opt(meta.uploader_ref.as_deref())) }
            dt { "Uploaded" } dd { (meta.uploaded_at.map_or("—".to_string(), format_time)) }
            dt { "Upload address" } dd { (opt(meta.upload_ip.as_deref())) }
            dt { "Content" } dd {
                (c.media_kind.name())
                @if c.media.is_none() && c.media_kind != MediaKind::None { " (no longer held)" }
            }
        }
        h2 { "Matches" }
        @if c.matches.is_empty() {
            p { "No bank entry matched: the case was made on a user's flag." }
        } @else {
            div class="table-wrap" {
                table class="table" {
                    caption class="visually-hidden" { "Bank entries the content matched" }
                    thead { tr {
                        th scope="col" { "Bank" } th scope="col" class="num" { "Entry" }
                        th scope="col" { "Signal" } th scope="col" class="num" { "Distance" }
                        th scope="col" { "Entry as banked" }
                        th scope="col" { "Decided cases matching it" }
                    } }
                    tbody { @for (i, m) in c.matches.iter().enumerate() { tr {
                        td { (m.bank) }
                        td class="num" { a href={ "/banks/" (m.bank) "/entries/" (m.entry_id) } { (m.entry_id) } }
                        td { (m.signal_type.name()) }
                        td class="num" {
                            // vPDQ: the share of the video's frames not found, in percent.
                            @if m.signal_type == spoor_core::SignalType::Vpdq {
                                (100 - m.distance.min(100)) "% of frames found"
                            } @else { (m.distance) }
                        }
                        @let ctx = context.get(i).cloned().unwrap_or_default();
                        td {
                            @match &ctx.entry {
                                None => "deleted since",
                                Some(e) => {
                                    (e.category.map_or("unclassified", |c| c.name()))
                                    @if let Some(who) = &e.verified_by { ", verified by " (who) }
                                    @else { ", not verified" }
                                    @if let Some(org) = &e.source_org { ", from " (org) }
                                    @if !e.enabled { ", disabled" }
                                }
                            }
                        }
                        td {
                            @if ctx.confirmed + ctx.false_positive == 0 { "none decided yet" }
                            @else {
                                (ctx.confirmed) " confirmed, " (ctx.false_positive) " false positive"
                                @if ctx.false_positive != 1 { "s" }
                            }
                        }
                    } } }
                }
            }
        }
        @if !c.decisions.is_empty() {
            h2 { "Decisions" }
            ul { @for d in &c.decisions {
                li { (format_time(d.at)) ": " (d.person) " — " (d.verdict.name())
                    @if let Some(cat) = d.category { ", " (cat.name()) }
                    @if let Some(i) = d.industry_class { ", " (i.name()) }
                    @for a in &d.annotations { ", " (a.name()) }
                    @if let Some(e) = d.entry_id { ", entry " (e) }
                    @if !d.note.is_empty() { ": " (d.note) } }
            } }
        }
        @if !reports.is_empty() {
            h2 id="reports-title" { "Reports" }
            ul aria-labelledby="reports-title" id="case-reports" {
                @for r in reports {
                    li {
                        @if v.may(crate::reports::READERS) {
                            a href={ "/reports/" (r.id) } { "Report " (r.id) }
                            " to " (crate::reports::recipient_name(&r.recipient)) ": "
                        } @else {
                            "To " (crate::reports::recipient_name(&r.recipient)) ": "
                        }
                        (crate::reports::state_tag(r.state))
                    }
                }
            }
        }
        @if let Some(t) = c.personal_purged_at {
            p id="erased" { "Its personal data (references, upload address and time) was erased by \
                retention on " (format_time(t)) "." }
        }
        @if let Some(h) = &c.hold {
            div class="notice" id="legal-hold" {
                p { "Under legal hold until " (format_time(h.until)) " (" (h.reason) ", set by "
                    (h.by) "): nothing of this case is deleted before." }
            }
        }
        @if v.may(&[spoor_bank::PersonRole::Admin]) {
            details class="details-box" {
                summary { @if c.hold.is_some() { "Change or lift the legal hold" } @else { "Put under legal hold" } }
                form method="post" action={ "/cases/" (c.id) "/legal-hold" } novalidate {
                    (csrf_field(v))
                    div class="form-group" {
                        label class="label" for="hold-until" { "Until (UTC, e.g. 2027-06-30T00:00:00Z; empty lifts the hold)" }
                        input class="input" type="text" id="hold-until" name="until" autocomplete="off";
                    }
                    div class="form-group" {
                        label class="label" for="hold-reason" { "Why (the order or proceedings; recorded)" }
                        input class="input" type="text" id="hold-reason" name="reason" required autocomplete="off";
                    }
                    button type="submit" class="button button--secondary" id="set-hold" { "Record the legal hold" }
                }
            }
        }
        @if let Some(r) = &c.reversal {
            div class="notice notice--warning" id="reversed" {
                p { "This decision was reversed on " (format_time(r.at)) " by " (r.by)
                    " when the person affected complained (complaint "
                    a href={ "/complaints/" (r.complaint) } { (r.complaint) } ")." }
            }
        }
        @if !redress.messages.is_empty() {
            h2 id="messages-title" { "Messages to the service" }
            ul aria-labelledby="messages-title" id="case-messages" {
                @for m in &redress.messages {
                    li { (crate::complaints::message_name(m)) ": " (crate::complaints::message_state(m, now_ms())) }
                }
            }
        }
        @if !redress.complaints.is_empty() {
            h2 id="complaints-title" { "Complaints" }
            ul aria-labelledby="complaints-title" id="case-complaints" {
                @for k in &redress.complaints {
                    li { a href={ "/complaints/" (k.id) } { "Complaint " (k.id) } ", filed "
                         (format_time(k.created_at)) ": " (k.state.name())
                         @if let Some(by) = &k.decided_by { " by " (by) } }
                }
            }
        }
        @if !c.state.is_open() {
            p { "This case is decided (" (c.state.name()) "); its content is not shown." }
        } @else if c.state == CaseState::Following {
            @let lead = c.earlier_case.unwrap_or_default();
            p { "This is the same content as case " a href={ "/cases/" (lead) } { (lead) }
                ", which waits for review: it takes that case's decision and is never reviewed \
                 on its own." }
        } @else if !held {
            p { "You do not hold this case, so its content is not shown. Take cases with \
                 \"Review next\" on the review page." }
        } @else {
            h2 { "Content" }
            @if picture {
                @let src = format!("{url}/rendition?v={}{}", reveal.blur, if reveal.colour { "c" } else { "g" });
                @let how = format!("blur level {}{}", reveal.blur, if reveal.colour { ", colour" } else { ", greyscale" });
                figure class="rendition" {
                    @if c.media_kind == MediaKind::Video {
                        img src=(src) alt={ "Key frames of the video of case " (c.id) ": " (how) };
                        figcaption { "Key frames of the video, kept by the server when it was \
                            hashed (never the video itself), at most 320 pixels each: blur level "
                            (reveal.blur) " of 4, " (if reveal.colour { "colour" } else { "greyscale" }) "." }
                    } @else {
                        img src=(src) alt={ "Rendition of case " (c.id) ": " (how) } width="320";
                        figcaption { "Made by the server from the held content, at most 320 pixels: blur level "
                            (reveal.blur) " of 4, " (if reveal.colour { "colour" } else { "greyscale" }) "." }
                    }
                }
                div class="button-group" {
                    @if reveal.blur > 0 {
                        form method="post" action={ (url) "/reveal" } class="inline" {
                            (csrf_field(v))
                            input type="hidden" name="op" value="less_blur";
                            button type="submit" class="button button--secondary" id="less-blur" { "Less blur (recorded)" }
                        }
                    }
                    @if !reveal.colour {
                        form method="post" action={ (url) "/reveal" } class="inline" {
                            (csrf_field(v))
                            input type="hidden" name="op" value="colour";
                            button type="submit" class="button button--secondary" id="colour" { "Show colour (recorded)" }
                        }
                    }
                }
            } @else if c.media_kind == MediaKind::None {
                p { "The submitter sent signals only: decide from the matches and the metadata." }
            } @else {
                p { "The content is not an image or a video Spoor shows: decide from the matches \
                     and the metadata." }
            }
            h2 { "Decision" }
            form method="post" action={ (url) "/decide" } novalidate class="narrow" {
                (csrf_field(v))
                fieldset class="fieldset" id="verdict" {
                    legend { "Your decision" }
                    @if let Some(e) = layout::error_of(errors, "verdict") { p class="field-error" { (e) } }
                    (radio("verdict", "verdict-confirm", "confirm", "Confirm: the content is what it matched", typed.verdict == "confirm"))
                    (radio("verdict", "verdict-fp", "false_positive", "False positive: the match is wrong", typed.verdict == "false_positive"))
                    (radio("verdict", "verdict-escalate", "escalate", "Escalate to a senior reviewer", typed.verdict == "escalate"))
                }
                div class="form-group" {
                    label class="label" for="category" { "Classification (for a confirmation)" }
                    @if let Some(e) = layout::error_of(errors, "category") { p class="field-error" { (e) } }
                    select class="select" id="category" name="category" {
                        option value="" { "—" }
                        @for cat in [Category::Baseline, Category::National, Category::NotIllegal] {
                            option value=(cat.name()) selected[typed.category == cat.name()] { (cat.name()) }
                        }
                    }
                }
                div class="form-group" {
                    label class="label" for="industry_class" { "Industry class (for a confirmation)" }
                    select class="select" id="industry_class" name="industry_class" {
                        option value="" { "—" }
                        @for i in IndustryClass::ALL {
                            option value=(i.name()) selected[typed.industry_class == i.name()] { (i.name()) }
                        }
                    }
                }
                fieldset class="fieldset" {
                    legend { "Annotations (for a confirmation)" }
                    @for a in Annotation::ALL {
                        div class="checkbox" {
                            input type="checkbox" id={ "ann-" (a.name()) } name="annotations" value=(a.name())
                                checked[typed.annotations.iter().any(|x| x == a.name())];
                            label for={ "ann-" (a.name()) } { (a.name()) }
                        }
                    }
                }
                @if !c.matches.is_empty() {
                    div class="form-group" {
                        label class="label" for="entry_id" { "Entry that matched wrongly (for a false positive)" }
                        @if let Some(e) = layout::error_of(errors, "entry_id") { p class="field-error" { (e) } }
                        select class="select" id="entry_id" name="entry_id" {
                            option value="" { "—" }
                            @for m in &c.matches {
                                option value=(m.entry_id) selected[typed.entry_id == m.entry_id.to_string()] {
                                    (m.bank) " entry " (m.entry_id)
                                }
                            }
                        }
                    }
                }
                (layout::field(errors, "note", "note", "Note", Some("Why, in a sentence (recorded)."), "text", &typed.note, "off"))
                button type="submit" class="button" id="decide" { "Record the decision" }
            }
            form method="post" action={ (url) "/release" } class="inline" {
                (csrf_field(v))
                button type="submit" class="button button--secondary" id="release" { "Give the case back" }
            }
        }
    }
}

/// A case's complaints and its messages to the service (decision, user notice, restore).
#[derive(Debug, Clone, Default)]
pub struct Redress {
    /// Its complaints, oldest first.
    pub complaints: Vec<spoor_bank::complaints::Complaint>,
    /// Its messages to the service.
    pub messages: Vec<spoor_bank::OutboxItem>,
}

fn redress_of(store: &dyn spoor_bank::Store, id: i64) -> Result<Redress, BankError> {
    let complaints = store.complaints(&spoor_bank::complaints::ComplaintQuery {
        case_id: Some(id),
        limit: 100,
        ..Default::default()
    })?;
    let messages = store.outbox_find(&spoor_bank::outbox::OutboxQuery {
        keys: vec![
            format!("case_decided:{id}"),
            spoor_bank::cases::notice_key(id),
            format!("case_restore:{id}"),
        ],
        limit: 10,
        ..Default::default()
    })?;
    Ok(Redress { complaints, messages })
}

/// What the case page says about one matched entry: its provenance and how earlier cases that
/// matched it were decided (content similar to this case's).
#[derive(Debug, Clone, Default)]
pub struct MatchContext {
    /// The entry as banked (`None`: it was deleted since).
    pub entry: Option<spoor_bank::Entry>,
    /// Earlier cases matching it confirmed (by people or by the rules).
    pub confirmed: u64,
    /// Earlier cases matching it found false positives.
    pub false_positive: u64,
}

fn match_context(store: &dyn spoor_bank::Store, c: &Case) -> Result<Vec<MatchContext>, BankError> {
    c.matches
        .iter()
        .map(|m| {
            let entry = match store.entry(&m.bank, m.entry_id) {
                Ok(e) => Some(e),
                Err(BankError::NoSuchEntry { .. } | BankError::NoSuchBank(_)) => None,
                Err(e) => return Err(e),
            };
            let mut out = MatchContext { entry, ..Default::default() };
            for o in store.case_outcomes(Some(&m.bank), Some(m.entry_id))? {
                out.confirmed += o.confirmed_reviewed + o.confirmed_auto;
                out.false_positive += o.false_positive;
            }
            Ok(out)
        })
        .collect()
}

/// Reads a case and the person's exposure, and records the view before anything is shown.
async fn load(
    state: &ConsoleState,
    v: &Viewer,
    id: i64,
) -> Result<(Case, Exposure, Vec<MatchContext>, Vec<Report>, Redress), Response> {
    let (person, actor) = (v.user.name.clone(), v.actor());
    let r = state
        .blocking(move |store| {
            let c = match store.case(id) {
                Ok(c) => c,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let (mut exp, seen) = match exposure_seen(store, &person) {
                Ok(x) => x,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let holds = c.state.is_open() && c.holder(now_ms()) == Some(actor.as_str());
            // The page about to be shown shows the picture: count it now, not on the next page.
            if holds
                && c.media.is_some()
                && has_picture(c.media_kind)
                && !seen.contains(&id.to_string())
            {
                exp.items += 1;
            }
            let context = match match_context(store, &c) {
                Ok(x) => x,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let reports = match store.reports_of_case(id) {
                Ok(x) => x,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let redress = match redress_of(store, id) {
                Ok(x) => x,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let details = json!({ "state": c.state.name(), "holds": holds });
            crate::audit::record_view(
                store,
                &person,
                "case_view",
                "case",
                &id.to_string(),
                details,
            )?;
            Ok(Ok((c, exp, context, reports, redress)))
        })
        .await;
    match r {
        Ok(Ok(Ok(x))) => Ok(x),
        Ok(Ok(Err(r))) | Ok(Err(r)) | Err(r) => Err(r),
    }
}

/// `GET /cases/<id>`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    case_page(&state, v, id, StatusCode::OK, &[], &Typed::default()).await
}

/// A case's page (recorded as viewed first), with `errors` of the decision form as `typed`.
async fn case_page(
    state: &ConsoleState,
    v: Viewer,
    id: i64,
    status: StatusCode,
    errors: &[FieldError],
    typed: &Typed,
) -> Response {
    match load(state, &v, id).await {
        Ok((c, exp, context, reports, redress)) => {
            let mut v = v;
            // The header shows the same count as the page's box, this case's picture included.
            v.exposure = v.exposure.map(|(_, guide)| (exp, guide));
            let reveal = state.view_of(v.user.id, id).await;
            let body = render_case(
                &v,
                &c,
                &context,
                reveal,
                exp,
                state.config.exposure_guide,
                errors,
                typed,
                &reports,
                &redress,
            );
            layout::html_response(
                status,
                layout::page(Some(&v), "/review", &format!("Case {id}"), body),
            )
        }
        Err(r) => r,
    }
}

/// `GET /cases/<id>/rendition`: the picture, made now from the held content at the person's
/// reveal step, for the holder of an open case only. Recorded before it is sent.
pub async fn rendition(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let Some(vault) = state.vault.clone() else { return layout::not_found_page() };
    let reveal = state.view_of(v.user.id, id).await;
    let (person, actor) = (v.user.name.clone(), v.actor());
    let max_pixels = state.config.max_pixels;
    let guide = state.config.exposure_guide;
    let r = state
        .blocking(move |store| -> Result<Result<Vec<u8>, Response>, Response> {
            let c = match store.case(id) {
                Ok(c) => c,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let holds = c.state.is_open() && c.holder(now_ms()) == Some(actor.as_str());
            // A complaint's re-reviewer sees the content of the decided case too.
            let re_reviews = !holds
                && c.media.is_some()
                && match crate::complaints::re_reviews(store, &c, &actor) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(store_error(e))),
                };
            let shown = (holds || re_reviews) && has_picture(c.media_kind);
            let Some(media) = c.media.filter(|_| shown) else {
                return Ok(Err(layout::not_found_page()));
            };
            let Ok(mid) = media.id.parse::<spoor_case::MediaId>() else {
                return Ok(Err(layout::not_found_page()));
            };
            let video = c.media_kind == MediaKind::Video;
            // A video is shown by the key frames kept when it was hashed, never decoded here.
            let held = if video { vault.get_frames(&mid) } else { vault.get(&mid) };
            let bytes = match held {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, case = id, "cannot read held case content");
                    return Ok(Err(layout::error_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The content cannot be shown",
                        "The held content could not be read. Tell your administrator.",
                    )));
                }
            };
            let view = spoor_case::View {
                blur: spoor_case::BlurLevel::new(reveal.blur)
                    .unwrap_or(spoor_case::BlurLevel::STRONGEST),
                colour: reveal.colour,
                ..Default::default()
            };
            let options = spoor_media::Options {
                limits: spoor_media::Limits { max_pixels, ..Default::default() },
                exif_orient: true,
                ..Default::default()
            };
            let made = if video {
                render_key_frames(&bytes, &view)
            } else {
                spoor_case::render_image(&bytes, &view, &options).map_err(|e| e.to_string())
            };
            let made = match made {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, case = id, "cannot make a rendition");
                    return Ok(Err(layout::error_page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "The content cannot be shown",
                        if video {
                            "The key frames held for this video cannot be shown. Tell your \
                             administrator."
                        } else {
                            "The held content is not an image Spoor can show."
                        },
                    )));
                }
            };
            let details = json!({"blur": reveal.blur, "colour": reveal.colour,
                                 "width": made.width, "height": made.height,
                                 "kind": if video { "video" } else { "image" }});
            crate::audit::record_view(
                store,
                &person,
                "case_rendition",
                "case",
                &id.to_string(),
                details,
            )?;
            // The first picture past today's guide tells the team leads (the review page of
            // every administrator lists who reached it today).
            if guide > 0 {
                if let Ok(e) = exposure(store, &person) {
                    if e.items == u64::from(guide) {
                        let rec = NewRecord::by(
                            "system:console",
                            "exposure_guide_reached",
                            "user",
                            &person,
                        )
                        .with_details(json!({"items": e.items, "reveals": e.reveals, "guide": guide}));
                        if let Err(err) = store.audit_append(&rec) {
                            tracing::error!(error = %err, "cannot record that a reviewer reached the exposure guide");
                        }
                        tracing::warn!(reviewer = %person, items = e.items, "a reviewer reached today's exposure guide");
                    }
                }
            }
            Ok(Ok(made.png))
        })
        .await;
    match r {
        Ok(Ok(Ok(png))) => {
            state.forget_exposure(&v.user.name);
            metrics::counter!("spoor_console_renditions_total").increment(1);
            let mut resp = png.into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            resp
        }
        Ok(Ok(Err(r))) | Ok(Err(r)) | Err(r) => r,
    }
}

/// The grid of a video's key frames (as the vault holds them) at `view`.
fn render_key_frames(
    bytes: &[u8],
    view: &spoor_case::View,
) -> Result<spoor_case::Rendition, String> {
    let frames = spoor_case::keyframes::decode(bytes).map_err(|e| e.to_string())?;
    let list: Vec<(u32, u32, &[u8])> =
        frames.iter().map(|f| (f.width, f.height, &f.rgb[..])).collect();
    spoor_case::render_frames(&list, view).map_err(|e| e.to_string())
}

/// The reveal form.
#[derive(Deserialize, Default)]
pub struct RevealForm {
    #[serde(default)]
    op: String,
    /// Where to go back to: the case (default) or a complaint's page (`/complaints/N`).
    #[serde(default)]
    back: String,
}

/// The page a reveal goes back to: a complaint's page when asked, else the case's.
fn back_to(back: &str, case: i64) -> String {
    match back.strip_prefix("/complaints/") {
        Some(n) if !n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()) => {
            back.to_string()
        }
        _ => format!("/cases/{case}"),
    }
}

/// `POST /cases/<id>/reveal`: one step less blur, or colour; recorded durably first (no
/// record, no reveal).
pub async fn reveal(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<RevealForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let back = back_to(&f.back, id);
    let mut next = state.view_of(v.user.id, id).await;
    match f.op.as_str() {
        "less_blur" if next.blur > 0 => next.blur -= 1,
        "colour" if !next.colour => next.colour = true,
        _ => return Redirect::to(&back).into_response(),
    }
    let (person, actor) = (v.user.name.clone(), v.actor());
    let r = state
        .blocking(move |store| {
            let c = store.case(id)?;
            let holds = c.state.is_open() && c.holder(now_ms()) == Some(actor.as_str());
            let re_reviews =
                !holds && c.media.is_some() && crate::complaints::re_reviews(store, &c, &actor)?;
            if !(holds || re_reviews) {
                return Err(BankError::Conflict(format!("case {id} is not held by you")));
            }
            let rec =
                NewRecord::new(ActorKind::User, &person, "case_reveal", "case", &id.to_string())
                    .with_details(json!({"blur": next.blur, "colour": next.colour}));
            store.audit_append(&rec)
        })
        .await;
    match r {
        Ok(Ok(_)) => {
            state.forget_exposure(&v.user.name);
            state.set_reveal(v.user.id, id, next);
            Redirect::to(&back).into_response()
        }
        Ok(Err(BankError::Conflict(_))) => Redirect::to(&back).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

fn parse_decision(body: &[u8], errors: &mut Vec<FieldError>) -> (Typed, Option<NewDecision>) {
    let typed = Typed {
        verdict: form_value(body, "verdict").unwrap_or_default(),
        category: form_value(body, "category").unwrap_or_default(),
        industry_class: form_value(body, "industry_class").unwrap_or_default(),
        annotations: form_values(body, "annotations"),
        entry_id: form_value(body, "entry_id").unwrap_or_default(),
        note: form_value(body, "note").unwrap_or_default().trim().to_string(),
    };
    let verdict = match typed.verdict.parse::<Verdict>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError::new("verdict", "Choose confirm, false positive or escalate"));
            None
        }
    };
    let category = match typed.category.as_str() {
        "" => None,
        c => c.parse::<Category>().map_err(|m| errors.push(FieldError::new("category", m))).ok(),
    };
    let industry_class = match typed.industry_class.as_str() {
        "" => None,
        c => c
            .parse::<IndustryClass>()
            .map_err(|m| errors.push(FieldError::new("industry_class", m)))
            .ok(),
    };
    let annotations: Vec<Annotation> = typed
        .annotations
        .iter()
        .filter_map(|a| a.parse().map_err(|m| errors.push(FieldError::new("verdict", m))).ok())
        .collect();
    let entry_id = match typed.entry_id.as_str() {
        "" => None,
        s => s
            .parse::<i64>()
            .map_err(|_| errors.push(FieldError::new("entry_id", "Choose an entry of the list")))
            .ok(),
    };
    if let Err(m) = spoor_bank::model::check_text("note", &typed.note, cases::MAX_NOTE) {
        errors.push(FieldError::new("note", m));
    }
    let d = NewDecision {
        verdict,
        category,
        industry_class,
        annotations,
        entry_id,
        note: typed.note.clone(),
    };
    (typed, errors.is_empty().then_some(d))
}

/// Maps a store refusal of a decision to the form field it concerns.
fn field_of(message: &str) -> &'static str {
    if message.contains("classification") || message.contains("category") {
        "category"
    } else if message.contains("entry") {
        "entry_id"
    } else {
        "verdict"
    }
}

/// `POST /cases/<id>/decide`.
pub async fn decide(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let mut errors = Vec::new();
    let (typed, decision) = parse_decision(&body, &mut errors);
    if let Some(d) = decision {
        let actor = v.actor();
        let st = state.clone();
        let r = state
            .blocking(move |store| {
                let notify = |c: &Case| st.effects_for(c);
                store.decide_case_notifying(id, &actor, &d, now_ms(), true, &notify)
            })
            .await;
        match r {
            Ok(Ok(c)) => {
                state.forget_reveals(id);
                state.decided(&c);
                return Redirect::to(&format!("/review?done=decided&case={id}")).into_response();
            }
            Ok(Err(BankError::Invalid(m) | BankError::Conflict(m))) => {
                errors.push(FieldError::new(field_of(&m), m))
            }
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    case_page(&state, v, id, StatusCode::UNPROCESSABLE_ENTITY, &errors, &typed).await
}

/// `POST /cases/<id>/legal-hold` (administrators): sets (or, with no end, lifts) a legal hold;
/// the store records `case_legal_hold`. Back to the case.
pub async fn legal_hold(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let until_text = form_value(&body, "until").unwrap_or_default().trim().to_string();
    let reason = form_value(&body, "reason").unwrap_or_default().trim().to_string();
    let until = match until_text.as_str() {
        "" => None,
        t => match spoor_bank::model::parse_time(t) {
            Ok(ms) => Some(ms),
            Err(e) => {
                return layout::error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The end of the hold cannot be read",
                    &format!(
                        "{e}. Go back to the case and give a time such as 2027-06-30T00:00:00Z."
                    ),
                )
            }
        },
    };
    let actor = v.actor();
    match state
        .blocking(move |store| store.set_legal_hold(id, until, &reason, &actor, now_ms()))
        .await
    {
        Ok(Ok(_)) => Redirect::to(&format!("/cases/{id}")).into_response(),
        Ok(Err(BankError::Invalid(m))) => layout::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The legal hold cannot be recorded",
            &format!("{m}. Nothing was changed; go back to the case and try again."),
        ),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// `POST /cases/<id>/release`.
pub async fn release(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let actor = v.actor();
    match state.blocking(move |store| store.release_case(id, &actor, now_ms())).await {
        Ok(Ok(_)) => {
            state.forget_reveals(id);
            Redirect::to("/review?done=released").into_response()
        }
        Ok(Err(BankError::Conflict(_))) => Redirect::to(&format!("/cases/{id}")).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}

/// A false positive whose entry still matches.
struct Task {
    case: Case,
    bank: String,
    entry_id: i64,
    note: String,
}

/// Most false-positive cases examined for the task list.
const MAX_TASK_SCAN: usize = 5_000;

/// `GET /review/false-positives` (administrators and curators): entries reviewers found to
/// match wrongly that still match, each with a one-click disable.
pub async fn false_positives(
    State(state): State<ConsoleState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    let person = v.user.name.clone();
    let r = state
        .blocking(move |store| -> Result<Result<Vec<Task>, BankError>, Response> {
            let mut tasks = Vec::new();
            let mut after = 0;
            let mut scanned = 0;
            loop {
                let page = match store.cases(&cases::CaseQuery {
                    state: Some(CaseState::FalsePositive),
                    submitter: None,
                    after,
                    limit: cases::MAX_CASE_PAGE,
                }) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                let Some(last) = page.last() else { break };
                after = last.id;
                scanned += page.len();
                for c in page {
                    let Some(d) =
                        c.decisions.iter().rev().find(|d| d.verdict == Verdict::FalsePositive)
                    else {
                        continue;
                    };
                    let Some(entry_id) = d.entry_id else { continue };
                    let Some(m) = c.matches.iter().find(|m| m.entry_id == entry_id) else {
                        continue;
                    };
                    match store.entry(&m.bank, entry_id) {
                        Ok(e) if e.enabled => tasks.push(Task {
                            bank: m.bank.clone(),
                            entry_id,
                            note: d.note.clone(),
                            case: c.clone(),
                        }),
                        Ok(_) | Err(BankError::NoSuchEntry { .. }) => {}
                        Err(e) => return Ok(Err(e)),
                    }
                }
                if scanned >= MAX_TASK_SCAN {
                    break;
                }
            }
            let details = json!({"tasks": tasks.len()});
            crate::audit::record_view(
                store,
                &person,
                "false_positives_view",
                "case",
                "false_positive",
                details,
            )?;
            Ok(Ok(tasks))
        })
        .await;
    let tasks = match r {
        Ok(Ok(Ok(t))) => t,
        Ok(Ok(Err(e))) => return store_error(e),
        Ok(Err(r)) | Err(r) => return r,
    };
    let body = html! {
        (done_banner(&q))
        h1 { "False positives to act on" }
        p { "Reviewers found these entries matching content they are not. Disabling one stops it \
             matching within a second; the reason names the case." }
        @if tasks.is_empty() {
            p { "Nothing to do: every entry named by a false positive is disabled." }
        } @else {
            div class="table-wrap" {
                table class="table" {
                    caption class="visually-hidden" { "Entries named by false positives" }
                    thead { tr {
                        th scope="col" class="num" { "Case" } th scope="col" { "Decided" }
                        th scope="col" { "Entry" } th scope="col" { "Note" } th scope="col" { "" }
                    } }
                    tbody { @for t in &tasks { tr {
                        td class="num" { (t.case.id) }
                        td { (t.case.decided_at.map_or("—".to_string(), format_time)) " by " (opt(t.case.decided_by.as_deref())) }
                        td { a href={ "/banks/" (t.bank) "/entries/" (t.entry_id) } { (t.bank) " " (t.entry_id) } }
                        td { (t.note) }
                        td {
                            form method="post" action={ "/review/false-positives/" (t.case.id) "/disable" } class="inline" {
                                (csrf_field(&v))
                                button type="submit" class="button button--warning" id={ "disable-" (t.case.id) } {
                                    "Disable entry " (t.entry_id)
                                }
                            }
                        }
                    } } }
                }
            }
        }
    };
    layout::html_response(
        StatusCode::OK,
        layout::page(Some(&v), "/review/false-positives", "False positives", body),
    )
}

/// `POST /review/false-positives/<case>/disable`: disables the entry the case's false
/// positive names, with a reason naming the case.
pub async fn disable_false_positive(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let actor = v.actor();
    let r = state
        .blocking(move |store| {
            let c = store.case(id)?;
            let d = c
                .decisions
                .iter()
                .rev()
                .find(|d| {
                    d.verdict == Verdict::FalsePositive && c.state == CaseState::FalsePositive
                })
                .ok_or_else(|| BankError::Conflict(format!("case {id} is not a false positive")))?;
            let entry_id = d
                .entry_id
                .ok_or_else(|| BankError::Conflict(format!("case {id} names no entry")))?;
            let m = c.matches.iter().find(|m| m.entry_id == entry_id).ok_or_else(|| {
                BankError::Conflict(format!("case {id} did not match entry {entry_id}"))
            })?;
            let reason = if d.note.is_empty() {
                format!("false positive found in review of case {id}")
            } else {
                format!("false positive found in review of case {id}: {}", d.note)
            };
            store.patch_entry(
                &m.bank,
                entry_id,
                Some(false),
                &EntryUpdate::default(),
                &actor,
                &reason,
            )
        })
        .await;
    match r {
        Ok(Ok(_)) => Redirect::to("/review/false-positives?done=disabled").into_response(),
        Ok(Err(BankError::Conflict(_) | BankError::NoSuchEntry { .. })) => {
            Redirect::to("/review/false-positives").into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(r) => r,
    }
}
