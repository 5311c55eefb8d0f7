//! `/banks` (administrators and curators): the banks, a new bank, a bank's settings and its
//! pause/resume with a reason, and a bank's page with its entries (filtered, paged by cursor)
//! and a search by hash (exact for every signal type; PDQ also finds near entries within the
//! bank's radius, through the matcher's index).
//!
//! Changes go through the store's own methods, which record them in the change log and the
//! audit log in one transaction, with the person as actor (`user:NAME`). Pages that show
//! entries record what they showed before they are rendered ([`crate::audit::record_view`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::browse::{CategoryFilter, EntryFilter};
use spoor_bank::model::{check_radius, check_text, format_time, BankName};
use spoor_bank::{Bank, BankError, BankSettings, Category, Entry, NewBank};
use spoor_core::signal::ALL_SIGNAL_TYPES;
use spoor_core::{Hash256, SignalType};

use crate::layout::{self, csrf_field, error_summary, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// Entries on one page of a bank's list.
pub const PAGE_SIZE: usize = 50;
/// Most entries one page examines to fill itself under a filter: the bound that keeps a page
/// fast on a bank of any size however rare the filtered entries (the page then says where to
/// go on).
pub const MAX_SCAN: usize = 20_000;
/// Most entries a search shows.
pub const MAX_FOUND: usize = 50;

/// The path of a bank's page.
pub fn bank_path(name: &str) -> String {
    format!("/banks/{name}")
}

/// The page for a store error: a missing bank or entry is a 404 page, anything else a 503.
pub(crate) fn store_error(e: BankError) -> Response {
    match e {
        BankError::NoSuchBank(name) => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such bank",
            &format!("There is no bank named {name}. The banks page lists them."),
        ),
        BankError::NoSuchEntry { bank, id } => layout::error_page(
            StatusCode::NOT_FOUND,
            "No such entry",
            &format!("Bank {bank} has no entry {id}. It may have been deleted."),
        ),
        e => layout::store_down(&e, "banks", "The banks cannot be read now"),
    }
}

/// Flattens a store call run on a blocking thread.
pub(crate) fn done<T>(r: Result<Result<T, BankError>, Response>) -> Result<T, Response> {
    r?.map_err(store_error)
}

/// 1234567 → "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time as people read it: `2026-11-30 12:15:30 UTC`.
pub(crate) fn when(ms: i64) -> String {
    let t = format_time(ms);
    format!("{} {} UTC", &t[..10], &t[11..19])
}

pub(crate) fn state_tag(enabled: bool, on: &str, off: &str) -> Markup {
    html! {
        @if enabled { span class="tag tag--ok" { (on) } } @else { span class="tag tag--warn" { (off) } }
    }
}

/// A value shortened for a table cell (the entry's page shows it whole).
fn short(text: &str) -> String {
    if text.len() <= 20 {
        text.to_string()
    } else {
        format!("{}…", &text[..16])
    }
}

/// A banner after a completed action (`?done=`): fixed texts only, nothing from the request.
pub(crate) fn done_banner(done: Option<&str>) -> Markup {
    let text = match done {
        Some("created") => "The bank was created.",
        Some("settings") => "The settings were saved and recorded.",
        Some("paused") => "The bank is paused: its entries stop matching within a second.",
        Some("resumed") => "The bank is active again: its entries match within a second.",
        Some("unchanged") => "Nothing changed: the settings were already so.",
        _ => return html! {},
    };
    html! { div class="notice" role="status" { p { (text) } } }
}

// ---------------------------------------------------------------------------------------------
// The list of banks and a new bank.

/// A bank with its counts: live entries by kind as the matcher holds them (from memory), and
/// disabled ones through their own index, so no count ever scans a bank.
pub(crate) struct Row {
    pub bank: Bank,
    pub live: Live,
    pub disabled: u64,
}

/// Live entries of a bank by kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Live {
    pub pdq: u64,
    pub exact: u64,
    pub video: u64,
}

impl Live {
    /// The matcher's live counts of `bank` (zero for a bank it has not seen yet).
    pub fn of(state: &ConsoleState, bank: &str) -> Live {
        Live::find(&state.matcher.bank_counts(), bank)
    }

    fn find(counts: &[spoor_matcher::BankCounts], bank: &str) -> Live {
        counts.iter().find(|c| &*c.bank == bank).map_or(Live::default(), |c| Live {
            pdq: c.pdq,
            exact: c.exact,
            video: c.video,
        })
    }

    pub fn total(self) -> u64 {
        self.pdq + self.exact + self.video
    }
}

/// Every bank with its counts (the banks list and the dashboard).
pub(crate) async fn rows(state: &ConsoleState) -> Result<Vec<Row>, Response> {
    let counts = state.matcher.bank_counts();
    let banks = done(
        state
            .blocking(|store| {
                let banks = store.banks()?;
                banks
                    .into_iter()
                    .map(|b| {
                        let disabled = store.count_disabled(&b.name)?;
                        Ok((b, disabled))
                    })
                    .collect::<spoor_bank::Result<Vec<_>>>()
            })
            .await,
    )?;
    Ok(banks
        .into_iter()
        .map(|(bank, disabled)| Row { live: Live::find(&counts, &bank.name), bank, disabled })
        .collect())
}

/// What the create form was filled with.
#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    radius: String,
    #[serde(default)]
    review_required: Option<String>,
}

fn list_page(v: &Viewer, rows: &[Row], errors: &[FieldError], typed: &CreateForm) -> Markup {
    let body = html! {
        (error_summary(errors))
        h1 { "Banks" }
        p { "Lists of known signals, with where each entry came from. Live entries are those the \
             matcher matches now; disabled entries are kept, with who disabled them and why." }
        @if rows.is_empty() {
            p { "There are no banks yet: add one below." }
        } @else {
            div class="table-wrap" {
                table class="table" {
                    caption class="visually-hidden" { "Banks" }
                    thead { tr {
                        th scope="col" { "Bank" } th scope="col" { "State" }
                        th scope="col" class="num" { "Live entries" }
                        th scope="col" class="num" { "Disabled" }
                        th scope="col" class="num" { "PDQ radius" }
                        th scope="col" { "Review" } th scope="col" { "Owner" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                th scope="row" { a href=(bank_path(&r.bank.name)) { (r.bank.name) } }
                                td { (state_tag(r.bank.enabled, "active", "paused")) }
                                td class="num" { (thousands(r.live.total())) }
                                td class="num" { (thousands(r.disabled)) }
                                td class="num" { (r.bank.pdq_radius) }
                                td { @if r.bank.review_required { "required" } @else { "not required" } }
                                td { (r.bank.owner) }
                            }
                        }
                    }
                }
            }
        }
        h2 id="create" { "Add a bank" }
        form method="post" action="/banks" novalidate class="narrow" {
            (csrf_field(v))
            (layout::field(errors, "name", "name", "Name",
                Some("1 to 64 characters from A-Z, 0-9 and _, for example HOTLINE_NL."),
                "text", &typed.name, "off"))
            (layout::field(errors, "description", "description", "Description",
                Some("What the list is, in a sentence."), "text", &typed.description, "off"))
            (layout::field(errors, "owner", "owner", "Owner",
                Some("The organisation that vouches for the list."), "text", &typed.owner, "organization"))
            (layout::field(errors, "radius", "radius", "PDQ radius",
                Some("Largest PDQ distance that counts as a match: 0 to 64; 31 is PDQ's usual threshold."),
                "text", if typed.radius.is_empty() { "31" } else { &typed.radius }, "off"))
            div class="checkbox" {
                input type="checkbox" id="review_required" name="review_required" value="on"
                    checked[typed.review_required.is_some()];
                label for="review_required" { "Matches need human review before anything is done" }
            }
            button type="submit" class="button" { "Add the bank" }
        }
    };
    layout::page(Some(v), "/banks", "Banks", body)
}

/// `GET /banks`.
pub async fn list(State(state): State<ConsoleState>, v: Viewer) -> Response {
    match rows(&state).await {
        Ok(rows) => {
            layout::html_response(StatusCode::OK, list_page(&v, &rows, &[], &CreateForm::default()))
        }
        Err(r) => r,
    }
}

fn parse_radius(errors: &mut Vec<FieldError>, text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match t.parse::<u32>() {
        Ok(r) => match check_radius(r) {
            Ok(()) => Some(r),
            Err(m) => {
                errors.push(FieldError::new("radius", m));
                None
            }
        },
        Err(_) => {
            errors.push(FieldError::new("radius", "Enter the radius as a whole number, 0 to 64"));
            None
        }
    }
}

/// `POST /banks`.
pub async fn create(
    State(state): State<ConsoleState>,
    v: Viewer,
    Form(f): Form<CreateForm>,
) -> Response {
    let name = f.name.trim().to_string();
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::new("name", "Enter a name for the bank"));
    } else if let Err(e) = BankName::new(&name) {
        errors.push(FieldError::new("name", e.to_string()));
    }
    for (field, value, max) in [("description", &f.description, 4096), ("owner", &f.owner, 256)] {
        if let Err(m) = check_text(field, value.trim(), max) {
            errors.push(FieldError::new(field, m));
        }
    }
    let radius = parse_radius(&mut errors, &f.radius);
    if errors.is_empty() {
        let bank = NewBank {
            name: name.clone(),
            description: f.description.trim().to_string(),
            owner: f.owner.trim().to_string(),
            review_required: f.review_required.is_some(),
            pdq_radius: radius,
            ..Default::default()
        };
        let actor = v.actor();
        match state.blocking(move |store| store.create_bank(&bank, &actor)).await {
            Ok(Ok(b)) => {
                return Redirect::to(&format!("{}?done=created", bank_path(&b.name)))
                    .into_response()
            }
            Ok(Err(BankError::BankExists(_))) => errors.push(FieldError::new(
                "name",
                format!("A bank named {name} exists already: choose another name"),
            )),
            Ok(Err(BankError::Invalid(m))) => errors.push(FieldError::new("name", m)),
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    match rows(&state).await {
        Ok(rows) => layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            list_page(&v, &rows, &errors, &f),
        ),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Settings, pause and resume.

/// The settings form.
#[derive(Deserialize, Default)]
pub struct SettingsForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    radius: String,
    #[serde(default)]
    review_required: Option<String>,
    #[serde(default)]
    auto_confirm: String,
    #[serde(default)]
    four_eyes: Option<String>,
    #[serde(default)]
    review_queue: String,
    #[serde(default)]
    hma_ratio: String,
    #[serde(default)]
    reason: String,
}

/// The auto-confirm field: a distance 0–31, or `off` (empty: unchanged).
fn parse_auto_confirm(errors: &mut Vec<FieldError>, text: &str) -> Option<i32> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.eq_ignore_ascii_case("off") {
        return Some(-1);
    }
    match t.parse::<i32>().ok().filter(|d| (0..=31).contains(d)) {
        Some(d) => Some(d),
        None => {
            errors.push(FieldError::new(
                "auto_confirm",
                "Enter a PDQ distance from 0 to 31, or off to send every match to review",
            ));
            None
        }
    }
}

/// The review queue field: a queue name as a bank may have it (empty: unchanged).
fn parse_review_queue(errors: &mut Vec<FieldError>, text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match spoor_bank::model::check_review_queue(t) {
        Ok(()) => Some(t.to_string()),
        Err(m) => {
            errors.push(FieldError::new("review_queue", m));
            None
        }
    }
}

/// The HMA ratio field: a share of HMA lookups, more than 0 and at most 1 (empty: unchanged).
fn parse_hma_ratio(errors: &mut Vec<FieldError>, text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match t.parse::<f64>().ok().filter(|r| spoor_bank::model::check_hma_enabled_ratio(*r).is_ok()) {
        Some(r) => Some(r),
        None => {
            errors.push(FieldError::new(
                "hma_ratio",
                "Enter a number greater than 0 and at most 1, such as 0.25 or 1; to stop the bank \
                 matching, pause it below",
            ));
            None
        }
    }
}

/// A ratio as people read it: `1`, `0.25`.
fn ratio_text(r: f64) -> String {
    format!("{r}")
}

/// The pause/resume form.
#[derive(Deserialize, Default)]
pub struct StateForm {
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    state_reason: String,
}

fn settings_page(
    v: &Viewer,
    bank: &Bank,
    errors: &[FieldError],
    typed: Option<&SettingsForm>,
    state_reason: &str,
) -> Markup {
    let path = bank_path(&bank.name);
    let radius = typed.map_or(bank.pdq_radius.to_string(), |t| t.radius.clone());
    let review = typed.map_or(bank.review_required, |t| t.review_required.is_some());
    let auto = typed.map_or_else(
        || bank.auto_confirm_distance.map_or("off".to_string(), |d| d.to_string()),
        |t| t.auto_confirm.clone(),
    );
    let four_eyes = typed.map_or(bank.four_eyes, |t| t.four_eyes.is_some());
    let queue = typed.map_or(bank.review_queue.as_str(), |t| t.review_queue.as_str());
    let hma_ratio =
        typed.map_or_else(|| ratio_text(bank.hma_enabled_ratio), |t| t.hma_ratio.clone());
    let body = html! {
        (error_summary(errors))
        p { a href=(path) { "← Bank " (bank.name) } }
        h1 { "Settings of " (bank.name) }
        form method="post" action={ (path) "/settings" } novalidate class="narrow" {
            (csrf_field(v))
            (layout::field(errors, "description", "description", "Description", None, "text",
                typed.map_or(bank.description.as_str(), |t| t.description.as_str()), "off"))
            (layout::field(errors, "owner", "owner", "Owner", None, "text",
                typed.map_or(bank.owner.as_str(), |t| t.owner.as_str()), "organization"))
            (layout::field(errors, "radius", "radius", "PDQ radius",
                Some("Largest PDQ distance that counts as a match: 0 to 64."), "text", &radius, "off"))
            div class="checkbox" {
                input type="checkbox" id="review_required" name="review_required" value="on" checked[review];
                label for="review_required" { "Matches need human review before anything is done" }
            }
            (layout::field(errors, "auto_confirm", "auto_confirm", "Confirm known material without review",
                Some("Cases matching a verified entry exactly, or by PDQ within this distance (0 to 31), \
                      are confirmed with no person viewing them, unless matches need review. \
                      Enter off to send every case to review."), "text", &auto, "off"))
            div class="checkbox" {
                input type="checkbox" id="four_eyes" name="four_eyes" value="on" checked[four_eyes];
                label for="four_eyes" { "A confirmation needs two reviewers who agree" }
            }
            (layout::field(errors, "review_queue", "review_queue", "Review queue",
                Some("The queue where a team reviews cases whose nearest match needing review is \
                      in this bank: 1 to 32 characters from a-z, 0-9, '_' and '-', such as main or \
                      team-b (not senior, which takes escalations)."), "text", queue, "off"))
            (layout::field(errors, "hma_ratio", "hma_ratio", "Share of HMA lookups",
                Some("For clients of the HMA-compatible routes (/hma/m/lookup): the share of their \
                      lookups that consult this bank, greater than 0 and at most 1 (HMA's \
                      matching_enabled_ratio). Each lookup flips a coin; 1 consults the bank \
                      every time. Spoor's own API and scans always consult an active bank."),
                "text", &hma_ratio, "off"))
            (layout::field(errors, "reason", "reason", "Reason for the change",
                Some("Recorded with the change: say why."), "text",
                typed.map_or("", |t| t.reason.as_str()), "off"))
            button type="submit" class="button" { "Save the settings" }
        }
        h2 id="state" { @if bank.enabled { "Pause the bank" } @else { "Resume the bank" } }
        p {
            @if bank.enabled {
                "A paused bank matches nothing until it is resumed; its entries are kept."
            } @else {
                "The bank is paused: it matches nothing. Resuming makes its live entries match again."
            }
        }
        form method="post" action={ (path) "/state" } novalidate class="narrow" {
            (csrf_field(v))
            input type="hidden" name="enabled" value=(if bank.enabled { "false" } else { "true" });
            (layout::field(errors, "state_reason", "state_reason", "Reason",
                Some("Recorded with the change: say why."), "text", state_reason, "off"))
            @if bank.enabled {
                button type="submit" class="button button--warning" { "Pause " (bank.name) }
            } @else {
                button type="submit" class="button" { "Resume " (bank.name) }
            }
        }
    };
    layout::page(Some(v), "/banks", &format!("Settings of {}", bank.name), body)
}

/// `GET /banks/<name>/settings`.
pub async fn settings(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
) -> Response {
    match done(state.blocking(move |store| store.bank(&name)).await) {
        Ok(bank) => layout::html_response(StatusCode::OK, settings_page(&v, &bank, &[], None, "")),
        Err(r) => r,
    }
}

fn check_reason(errors: &mut Vec<FieldError>, field: &'static str, reason: &str) {
    if reason.trim().is_empty() {
        errors.push(FieldError::new(field, "Give a reason: it is recorded with the change"));
    } else if let Err(m) = check_text("the reason", reason, 4096) {
        errors.push(FieldError::new(field, m));
    }
}

/// `POST /banks/<name>/settings`.
pub async fn save_settings(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Response {
    let mut errors = Vec::new();
    for (field, value, max) in [("description", &f.description, 4096), ("owner", &f.owner, 256)] {
        if let Err(m) = check_text(field, value.trim(), max) {
            errors.push(FieldError::new(field, m));
        }
    }
    let radius = parse_radius(&mut errors, &f.radius);
    if f.radius.trim().is_empty() {
        errors.push(FieldError::new("radius", "Enter the radius, 0 to 64"));
    }
    let auto_confirm = parse_auto_confirm(&mut errors, &f.auto_confirm);
    let review_queue = parse_review_queue(&mut errors, &f.review_queue);
    let hma_enabled_ratio = parse_hma_ratio(&mut errors, &f.hma_ratio);
    check_reason(&mut errors, "reason", &f.reason);
    if errors.is_empty() {
        let settings = BankSettings {
            description: Some(f.description.trim().to_string()),
            owner: Some(f.owner.trim().to_string()),
            review_required: Some(f.review_required.is_some()),
            pdq_radius: radius,
            auto_confirm_distance: auto_confirm,
            four_eyes: Some(f.four_eyes.is_some()),
            review_queue,
            hma_enabled_ratio,
        };
        let (actor, n, reason) = (v.actor(), name.clone(), f.reason.trim().to_string());
        let outcome = state
            .blocking(move |store| {
                let before = store.bank(&n)?;
                let after = store.configure_bank(&n, &settings, &actor, &reason)?;
                Ok((before, after))
            })
            .await;
        match outcome {
            Ok(Ok((before, after))) => {
                let what = if before == after { "unchanged" } else { "settings" };
                return Redirect::to(&format!("{}?done={what}", bank_path(&name))).into_response();
            }
            Ok(Err(BankError::Invalid(m))) => errors.push(FieldError::new("reason", m)),
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    match done(state.blocking(move |store| store.bank(&name)).await) {
        Ok(bank) => layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            settings_page(&v, &bank, &errors, Some(&f), ""),
        ),
        Err(r) => r,
    }
}

/// `POST /banks/<name>/state`: pause or resume.
pub async fn set_state(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Form(f): Form<StateForm>,
) -> Response {
    let mut errors = Vec::new();
    let enabled = match f.enabled.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    check_reason(&mut errors, "state_reason", &f.state_reason);
    if let (Some(enabled), true) = (enabled, errors.is_empty()) {
        let (actor, n, reason) = (v.actor(), name.clone(), f.state_reason.trim().to_string());
        match state
            .blocking(move |store| store.set_bank_enabled(&n, enabled, &actor, &reason))
            .await
        {
            Ok(Ok(_)) => {
                let what = if enabled { "resumed" } else { "paused" };
                return Redirect::to(&format!("{}?done={what}", bank_path(&name))).into_response();
            }
            Ok(Err(BankError::Invalid(m))) => errors.push(FieldError::new("state_reason", m)),
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    if enabled.is_none() {
        errors.push(FieldError::new("state_reason", "Use the pause or resume button of this page"));
    }
    match done(state.blocking(move |store| store.bank(&name)).await) {
        Ok(bank) => layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            settings_page(&v, &bank, &errors, None, &f.state_reason),
        ),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// A bank's page: its entries, filtered and paged, and the search.

/// The bank page's query: filters, cursor, search. Every field is text, so that any query a
/// browser sends gets a page (with the problem named) rather than a bare 400.
#[derive(Deserialize, Default, Debug)]
pub struct EntriesQuery {
    #[serde(default, rename = "type")]
    signal_type: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: String,
}

impl EntriesQuery {
    fn filter(&self, errors: &mut Vec<FieldError>) -> EntryFilter {
        let mut f = EntryFilter::default();
        match self.signal_type.as_str() {
            "" | "any" => {}
            t => match t.parse::<SignalType>() {
                Ok(t) => f.signal_type = Some(t),
                Err(_) => {
                    errors.push(FieldError::new("type", "Choose a signal type from the list"))
                }
            },
        }
        f.category = match self.category.as_str() {
            "" | "any" => CategoryFilter::Any,
            "none" => CategoryFilter::Uncategorised,
            c => match c.parse::<Category>() {
                Ok(c) => CategoryFilter::Is(c),
                Err(_) => {
                    errors.push(FieldError::new("category", "Choose a category from the list"));
                    CategoryFilter::Any
                }
            },
        };
        f.enabled = match self.state.as_str() {
            "" | "any" => None,
            "enabled" => Some(true),
            "disabled" => Some(false),
            _ => {
                errors.push(FieldError::new("state", "Choose a state from the list"));
                None
            }
        };
        f
    }

    fn after(&self, errors: &mut Vec<FieldError>) -> i64 {
        match self.after.trim() {
            "" => 0,
            a => a.parse::<i64>().ok().filter(|&a| a >= 0).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "after",
                    "The page link is broken: start again from the first page",
                ));
                0
            }),
        }
    }

    /// The query string of the filters (without cursor or search), for paging links.
    fn filter_query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in
            [("type", &self.signal_type), ("category", &self.category), ("state", &self.state)]
        {
            if !v.is_empty() && v != "any" {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        parts.join("&")
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One search result.
struct Found {
    entry: Entry,
    /// PDQ distance (0 for an exact hit).
    distance: u32,
    exact: bool,
}

/// What a search query asks for, once parsed.
enum Search {
    None,
    /// An entry id.
    Id(i64),
    /// Signals of these types with these canonical bytes; PDQ also near.
    Signals(Vec<(SignalType, Vec<u8>)>),
}

fn parse_search(q: &str, errors: &mut Vec<FieldError>) -> Search {
    let q = q.trim();
    if q.is_empty() {
        return Search::None;
    }
    if q.len() <= 18 && q.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(id) = q.parse::<i64>() {
            return Search::Id(id);
        }
    }
    // `md5:…`, `pdq:…`: one type; otherwise every type the text parses as.
    let (types, text): (Vec<SignalType>, &str) = match q.split_once(':') {
        Some((t, rest)) if t.parse::<SignalType>().is_ok() => {
            (vec![t.parse::<SignalType>().unwrap_or(SignalType::Pdq)], rest.trim())
        }
        _ => (ALL_SIGNAL_TYPES.to_vec(), q),
    };
    let signals: Vec<(SignalType, Vec<u8>)> =
        types.into_iter().filter_map(|t| t.parse(text).ok().map(|v| (t, v))).collect();
    if signals.is_empty() {
        errors.push(FieldError::new(
            "q",
            "Enter an entry id, or a hash: PDQ or SHA-256 (64 hex digits), MD5 (32), SHA-1 (40); \
             a type may lead, as in md5:…",
        ));
        return Search::None;
    }
    Search::Signals(signals)
}

/// Runs a search on a blocking thread: exact lookups in the store, PDQ near entries through the
/// matcher (then read from the store).
async fn find(
    state: &ConsoleState,
    bank: &Bank,
    signals: Vec<(SignalType, Vec<u8>)>,
) -> Result<Vec<Found>, Response> {
    let mut near = Vec::new();
    for (t, v) in &signals {
        if *t == SignalType::Pdq {
            if let Ok(b) = <[u8; 32]>::try_from(v.as_slice()) {
                near = state.matcher.near_in_bank(
                    &Hash256::from_bytes(b),
                    &bank.name,
                    bank.pdq_radius,
                );
            }
        }
    }
    let name = bank.name.clone();
    done(
        state
            .blocking(move |store| {
                let mut found: Vec<Found> = Vec::new();
                for (t, v) in &signals {
                    if let Some(e) = store.entry_by_value(&name, *t, v)? {
                        found.push(Found { entry: e, distance: 0, exact: true });
                    }
                }
                for (id, distance) in near {
                    if found.len() >= MAX_FOUND {
                        break;
                    }
                    if found.iter().any(|f| f.entry.id == id) {
                        continue;
                    }
                    match store.entry(&name, id) {
                        Ok(e) => found.push(Found { entry: e, distance, exact: false }),
                        // Deleted since the matcher saw it.
                        Err(BankError::NoSuchEntry { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(found)
            })
            .await,
    )
}

fn options(name: &str, selected: &str, choices: &[(&str, &str)]) -> Markup {
    html! {
        select class="select" id=(name) name=(name) {
            @for (value, label) in choices {
                option value=(value) selected[*value == selected || (selected.is_empty() && *value == "any")] { (label) }
            }
        }
    }
}

const CATEGORY_CHOICES: &[(&str, &str)] = &[
    ("any", "Any"),
    ("baseline", "baseline"),
    ("national", "national"),
    ("not_illegal", "not_illegal"),
    ("none", "none"),
];

fn entries_table(bank: &str, entries: &[&Entry], distances: Option<&[(u32, bool)]>) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "Entries" }
                thead { tr {
                    th scope="col" class="num" { "Id" } th scope="col" { "Type" }
                    th scope="col" { "Value" }
                    @if distances.is_some() { th scope="col" { "Found by" } }
                    th scope="col" { "Category" } th scope="col" { "State" }
                    th scope="col" { "Source" } th scope="col" { "Added" }
                } }
                tbody {
                    @for (i, e) in entries.iter().enumerate() {
                        tr {
                            td class="num" { a href={ (bank_path(bank)) "/entries/" (e.id) } { (e.id) } }
                            td { (e.signal_type.name()) }
                            td { code { (short(&e.value_text())) } }
                            @if let Some(d) = distances {
                                td { @match d.get(i) {
                                    Some((_, true)) => "same value",
                                    Some((dist, false)) => { "PDQ distance " (dist) },
                                    None => "",
                                } }
                            }
                            td { (e.category.map_or("none", Category::name)) @if let Some(s) = e.severity { " · " (s.name()) } }
                            td { (state_tag(e.enabled, "enabled", "disabled")) }
                            td { (e.source_org.as_deref().unwrap_or("—")) }
                            td { (format_time(e.added_at)[..10]) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /banks/<name>`.
pub async fn show(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Query(q): Query<EntriesQuery>,
) -> Response {
    let mut errors = Vec::new();
    let filter = q.filter(&mut errors);
    let after = q.after(&mut errors);
    let asked = parse_search(&q.q, &mut errors);
    let n = name.clone();
    let (bank, disabled, outcomes) = match done(
        state
            .blocking(move |store| {
                Ok((
                    store.bank(&n)?,
                    store.count_disabled(&n)?,
                    store.case_outcomes(Some(&n), None)?,
                ))
            })
            .await,
    ) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Search::Id(id) = asked {
        return Redirect::to(&format!("{}/entries/{id}", bank_path(&bank.name))).into_response();
    }
    let live = Live::of(&state, &bank.name);
    // The search's results, or the page of entries.
    let mut found = None;
    let mut page = None;
    if errors.is_empty() {
        if let Search::Signals(signals) = asked {
            let types: Vec<&str> = signals.iter().map(|(t, _)| t.name()).collect();
            let types = json!(types);
            let results = match find(&state, &bank, signals).await {
                Ok(r) => r,
                Err(r) => return r,
            };
            let details = json!({
                "as": types,
                "found": results.len(),
                "ids": results.iter().map(|f| f.entry.id).collect::<Vec<_>>(),
            });
            if let Err(r) =
                state.record_view(&v, "entries_search", "bank", &bank.name, details).await
            {
                return r;
            }
            found = Some(results);
        } else {
            let (b, f) = (bank.name.clone(), filter.clone());
            let p = match done(
                state
                    .blocking(move |store| store.entries_page(&b, &f, after, PAGE_SIZE, MAX_SCAN))
                    .await,
            ) {
                Ok(p) => p,
                Err(r) => return r,
            };
            let details = json!({
                "filter": {
                    "type": filter.signal_type.map(|t| t.name()),
                    "category": q.category.as_str(),
                    "state": q.state.as_str(),
                },
                "after": after,
                "shown": p.entries.len(),
                "first_id": p.entries.first().map(|e| e.id),
                "last_id": p.entries.last().map(|e| e.id),
            });
            if let Err(r) = state.record_view(&v, "entries_view", "bank", &bank.name, details).await
            {
                return r;
            }
            page = Some(p);
        }
    }
    let path = bank_path(&bank.name);
    let fq = q.filter_query();
    let type_choices: Vec<(&str, &str)> = std::iter::once(("any", "Any"))
        .chain(ALL_SIGNAL_TYPES.iter().map(|t| (t.name(), t.name())))
        .collect();
    let body = html! {
        (error_summary(&errors))
        (done_banner(Some(q.done.as_str())))
        p { a href="/banks" { "← Banks" } }
        h1 { "Bank " (bank.name) " " (state_tag(bank.enabled, "active", "paused")) }
        @if !bank.description.is_empty() { p { (bank.description) } }
        dl class="summary" {
            div { dt { "Live PDQ entries" } dd { (thousands(live.pdq)) } }
            div { dt { "Live digest entries" } dd { (thousands(live.exact)) } }
            div { dt { "Live video entries" } dd { (thousands(live.video)) } }
            div { dt { "Disabled entries" } dd { (thousands(disabled)) } }
            div { dt { "PDQ radius" } dd { (bank.pdq_radius) } }
            div { dt { "Review" } dd { @if bank.review_required { "required" } @else { "not required" } } }
            div { dt { "Review queue" } dd id="review-queue" { (bank.review_queue) } }
            @if bank.hma_enabled_ratio < 1.0 {
                div { dt { "Share of HMA lookups" } dd id="hma-ratio" { (ratio_text(bank.hma_enabled_ratio)) } }
            }
            div { dt { "Owner" } dd { @if bank.owner.is_empty() { "—" } @else { (bank.owner) } } }
        }
        ul class="links" {
            li { a href={ (path) "/settings" } { "Settings, pause or resume" } }
            li { a href={ (path) "/import" } { "Import entries from a file" } }
            li { a href={ (path) "/export" } { "Export" } }
        }
        h2 id="outcomes" { "Review outcomes" }
        p class="hint" { "How decided cases that matched this bank came out: the error rates of real decisions." }
        (crate::review::outcomes_table(&outcomes, false))
        h2 id="search" { "Find an entry" }
        form method="get" action=(path) class="inline-form" role="search" {
            div class=(if layout::error_of(&errors, "q").is_some() { "form-group form-group--error" } else { "form-group" }) {
                label class="label" for="q" { "Entry id or hash" }
                p class="hint" id="q-hint" { "A PDQ hash also finds entries within the bank's radius (" (bank.pdq_radius) ")." }
                @if let Some(e) = layout::error_of(&errors, "q") { p class="field-error" id="q-error" { (e) } }
                input class="input input--wide" type="search" id="q" name="q" value=(q.q) spellcheck="false" autocomplete="off" aria-describedby="q-hint";
            }
            button type="submit" class="button" { "Find" }
        }
        @if let Some(found) = &found {
            h2 id="results" { "Found " (found.len()) }
            @if found.is_empty() {
                p { "No entry of this bank holds that value" @if bank.pdq_radius > 0 { " or one near it" } "." }
            } @else {
                (entries_table(&bank.name,
                    &found.iter().map(|f| &f.entry).collect::<Vec<_>>(),
                    Some(&found.iter().map(|f| (f.distance, f.exact)).collect::<Vec<_>>())))
            }
            p { a href=(path) { "Back to the list of entries" } }
        }
        @if let Some(page) = &page {
            h2 id="entries" { "Entries" }
            form method="get" action=(path) class="inline-form" {
                div class="form-group" {
                    label class="label" for="type" { "Signal type" }
                    (options("type", &q.signal_type, &type_choices))
                }
                div class="form-group" {
                    label class="label" for="category" { "Category" }
                    (options("category", &q.category, CATEGORY_CHOICES))
                }
                div class="form-group" {
                    label class="label" for="state" { "State" }
                    (options("state", &q.state, &[("any", "Any"), ("enabled", "enabled"), ("disabled", "disabled")]))
                }
                button type="submit" class="button button--secondary" { "Show" }
            }
            @if page.entries.is_empty() {
                p { @if page.next_after.is_some() { "No entry in this stretch of the bank passes the filter." } @else { "No entries." } }
            } @else {
                (entries_table(&bank.name, &page.entries.iter().collect::<Vec<_>>(), None))
            }
            nav class="pager" aria-label="Pages" {
                @if after > 0 {
                    a href={ (path) "?" (fq) } { "First page" }
                }
                @if let Some(next) = page.next_after {
                    a href={ (path) "?" (fq) @if !fq.is_empty() { "&" } "after=" (next) } rel="next" { "Next page" }
                }
            }
        }
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    layout::html_response(
        status,
        layout::page(Some(&v), "/banks", &format!("Bank {}", bank.name), body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_parse_ids_types_and_refuse_the_rest() {
        let mut errors = Vec::new();
        assert!(matches!(parse_search(" 42 ", &mut errors), Search::Id(42)));
        let pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        match parse_search(pdq, &mut errors) {
            Search::Signals(s) => {
                let types: Vec<SignalType> = s.iter().map(|x| x.0).collect();
                assert_eq!(types, [SignalType::Pdq, SignalType::Sha256]);
            }
            _ => panic!("a 64-digit hash is PDQ or SHA-256"),
        }
        match parse_search(&format!("sha256:{pdq}"), &mut errors) {
            Search::Signals(s) => assert_eq!(s.len(), 1),
            _ => panic!("a typed hash"),
        }
        match parse_search("d41d8cd98f00b204e9800998ecf8427e", &mut errors) {
            Search::Signals(s) => assert_eq!(s[0].0, SignalType::Md5),
            _ => panic!("md5"),
        }
        assert!(errors.is_empty());
        assert!(matches!(parse_search("zz<script>", &mut errors), Search::None));
        assert_eq!(errors.len(), 1);
        assert!(matches!(parse_search("   ", &mut errors), Search::None));
        assert_eq!(errors.len(), 1, "an empty search is no search");
    }

    #[test]
    fn filters_from_the_query_and_back() {
        let q = EntriesQuery {
            signal_type: "md5".into(),
            category: "none".into(),
            state: "disabled".into(),
            after: "17".into(),
            ..Default::default()
        };
        let mut errors = Vec::new();
        let f = q.filter(&mut errors);
        assert_eq!(f.signal_type, Some(SignalType::Md5));
        assert_eq!(f.category, CategoryFilter::Uncategorised);
        assert_eq!(f.enabled, Some(false));
        assert_eq!(q.after(&mut errors), 17);
        assert!(errors.is_empty());
        assert_eq!(q.filter_query(), "type=md5&category=none&state=disabled");
        let bad = EntriesQuery {
            signal_type: "gif".into(),
            category: "evil".into(),
            state: "x".into(),
            after: "-3".into(),
            ..Default::default()
        };
        bad.filter(&mut errors);
        bad.after(&mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["type", "category", "state", "after"]);
        assert_eq!(urlencode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn numbers_and_values_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(&"f".repeat(64)), format!("{}…", "f".repeat(16)));
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }
}
