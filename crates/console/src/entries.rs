//! `/banks/<name>/entries/<id>` (administrators and curators): one entry with its provenance
//! and its whole history from the change log, and the forms that disable, enable or reclassify
//! it, each with a required reason. A change is one store transaction (change log and audit
//! log together); the matcher follows it within a second.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::cases::Outcome;
use spoor_bank::model::{check_text, parse_tags};
use spoor_bank::{BankError, Category, Change, Entry, EntryUpdate, Severity};

use crate::audit;
use crate::banks::{bank_path, state_tag, store_error, when};
use crate::layout::{self, csrf_field, error_summary, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// Most history records an entry's page shows (the change log keeps them all).
pub const MAX_HISTORY: usize = 500;

/// The entry page's query.
#[derive(Deserialize, Default)]
pub struct EntryQuery {
    #[serde(default)]
    done: String,
}

/// The change form.
#[derive(Deserialize, Default, Debug)]
pub struct ChangeForm {
    #[serde(default)]
    op: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    verified: Option<String>,
}

fn entry_url(bank: &str, id: i64) -> String {
    format!("{}/entries/{id}", bank_path(bank))
}

fn banner(done: &str) -> Markup {
    let text = match done {
        "disabled" => "The entry is disabled: it stops matching within a second.",
        "enabled" => "The entry is enabled: it matches again within a second.",
        "reclassified" => "The classification was changed and recorded.",
        "unchanged" => "Nothing changed: the entry was already so.",
        _ => return html! {},
    };
    html! { div class="notice" role="status" id="done" { p { (text) } } }
}

fn opt(s: Option<&str>) -> &str {
    s.unwrap_or("—")
}

fn history_table(history: &[Change]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "History of the entry" }
                thead { tr {
                    th scope="col" class="num" { "Change" } th scope="col" { "When" }
                    th scope="col" { "Who" } th scope="col" { "What" }
                    th scope="col" { "State after" } th scope="col" { "Category" }
                    th scope="col" { "Reason" }
                } }
                tbody {
                    @for c in history {
                        tr {
                            td class="num" { (c.seq) }
                            td { (when(c.at)) }
                            td { (c.actor) }
                            td { (c.action.name()) }
                            td { @match c.enabled { Some(e) => (state_tag(e, "enabled", "disabled")), None => "—" } }
                            td { (c.category.map_or("none", Category::name)) @if let Some(s) = c.severity { " · " (s.name()) } }
                            td { (opt(c.reason.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn select(
    id: &'static str,
    errors: &[FieldError],
    label: &str,
    selected: &str,
    choices: &[(&str, &str)],
) -> Markup {
    let err = layout::error_of(errors, id);
    html! {
        div class=(if err.is_some() { "form-group form-group--error" } else { "form-group" }) {
            label class="label" for=(id) { (label) }
            @if let Some(e) = err { p class="field-error" id={ (id) "-error" } { (e) } }
            select class="select" id=(id) name=(id) {
                @for (value, text) in choices {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
        }
    }
}

fn render(
    v: &Viewer,
    e: &Entry,
    (history, outcomes): (&[Change], &[Outcome]),
    errors: &[FieldError],
    typed: Option<&ChangeForm>,
    done: &str,
) -> Markup {
    let url = entry_url(&e.bank, e.id);
    let cat = typed.map_or(e.category.map_or("none", Category::name), |t| t.category.as_str());
    let sev = typed.map_or(e.severity.map_or("", Severity::name), |t| t.severity.as_str());
    let tags = typed.map_or(e.tags.join(" "), |t| t.tags.clone());
    let toggling = typed.is_some_and(|t| t.op != "reclassify");
    let body = html! {
        (error_summary(errors))
        (banner(done))
        p { a href=(bank_path(&e.bank)) { "← Bank " (e.bank) } }
        h1 { "Entry " (e.id) " " (state_tag(e.enabled, "enabled", "disabled")) }
        dl class="summary summary--wide" {
            div { dt { "Bank" } dd { (e.bank) } }
            div { dt { "Signal type" } dd { (e.signal_type.name()) } }
            div { dt { "Value" } dd { code class="value" id="value" { (e.value_text()) } } }
            div { dt { "Category" } dd { (e.category.map_or("none", Category::name)) } }
            div { dt { "Severity" } dd { (e.severity.map_or("—", Severity::name)) } }
            div { dt { "Tags" } dd { @if e.tags.is_empty() { "—" } @else { (e.tags.join(", ")) } } }
            div { dt { "Source organisation" } dd { (opt(e.source_org.as_deref())) } }
            div { dt { "Source's own id" } dd { (opt(e.source_id.as_deref())) } }
            div { dt { "Added" } dd { (when(e.added_at)) " by " (e.added_by) } }
            div { dt { "Verified" } dd { @match (&e.verified_by, e.verified_at) {
                (Some(by), Some(at)) => { (when(at)) " by " (by) },
                (Some(by), None) => { "by " (by) },
                _ => "not verified",
            } } }
            @if let Some(d) = &e.disabled {
                div { dt { "Disabled" } dd { (when(d.at)) " by " (d.by) ": " (d.reason) } }
            }
            div { dt { "Last change" } dd { (e.seq) } }
        }
        h2 id="change" { "Change" }
        div class="columns" {
            form method="post" action=(url) novalidate class="narrow" {
                (csrf_field(v))
                @if e.enabled {
                    input type="hidden" name="op" value="disable";
                    h3 { "Disable" }
                    p class="hint" { "A disabled entry stops matching within a second; it is kept, with who disabled it and why, and can be enabled again." }
                } @else {
                    input type="hidden" name="op" value="enable";
                    h3 { "Enable" }
                    p class="hint" { "The entry matches again within a second." }
                }
                (layout::field(if toggling { errors } else { &[] }, "reason", "reason", "Reason",
                    Some("Recorded with the change, for example: stock photo, not abuse."), "text",
                    if toggling { typed.map_or("", |t| t.reason.as_str()) } else { "" }, "off"))
                @if e.enabled {
                    button type="submit" class="button button--warning" id="disable" { "Disable entry " (e.id) }
                } @else {
                    button type="submit" class="button" id="enable" { "Enable entry " (e.id) }
                }
            }
            form method="post" action=(url) novalidate class="narrow" {
                (csrf_field(v))
                input type="hidden" name="op" value="reclassify";
                h3 { "Reclassify" }
                (select("category", errors, "Category", cat, &[
                    ("none", "none"), ("baseline", "baseline"), ("national", "national"), ("not_illegal", "not_illegal"),
                ]))
                (select("severity", errors, "Severity", sev, &[("", "none"), ("A", "A"), ("B", "B"), ("C", "C")]))
                (layout::field(errors, "tags", "tags", "Tags", Some("Separated by spaces; a-z, 0-9, '_', '-', '.', ':'."), "text", &tags, "off"))
                div class="checkbox" {
                    input type="checkbox" id="verified" name="verified" value="on"
                        checked[typed.is_some_and(|t| t.verified.is_some())];
                    label for="verified" { "I have verified this classification" }
                }
                (layout::field(if toggling { &[] } else { errors }, "reclassify_reason", "reason", "Reason",
                    Some("Recorded with the change."), "text",
                    if toggling { "" } else { typed.map_or("", |t| t.reason.as_str()) }, "off"))
                button type="submit" class="button button--secondary" { "Save the classification" }
            }
        }
        h2 id="outcomes" { "Review outcomes" }
        (crate::review::outcomes_table(outcomes, false))
        h2 id="history" { "History" }
        @if history.len() >= MAX_HISTORY {
            p class="hint" { "The first " (MAX_HISTORY) " changes; `spoor bank log` shows every one." }
        }
        (history_table(history))
    };
    layout::page(Some(v), "/banks", &format!("Entry {} of {}", e.id, e.bank), body)
}

/// Reads an entry and its history and records the view; the page, or the refusal.
async fn load(
    state: &ConsoleState,
    v: &Viewer,
    bank: String,
    id: i64,
) -> Result<(Entry, Vec<Change>, Vec<Outcome>), Response> {
    let person = v.user.name.clone();
    let r = state
        .blocking(move |store| {
            let e = match store.entry(&bank, id) {
                Ok(e) => e,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let history = match store.entry_history(&bank, id, MAX_HISTORY) {
                Ok(h) => h,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let outcomes = match store.case_outcomes(Some(&bank), Some(id)) {
                Ok(o) => o,
                Err(e) => return Ok(Err(store_error(e))),
            };
            let details = json!({ "bank": bank, "history": history.len() });
            audit::record_view(store, &person, "entry_view", "entry", &id.to_string(), details)?;
            Ok(Ok((e, history, outcomes)))
        })
        .await;
    match r {
        Ok(Ok(Ok(x))) => Ok(x),
        Ok(Ok(Err(r))) | Ok(Err(r)) | Err(r) => Err(r),
    }
}

/// `GET /banks/<name>/entries/<id>`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path((bank, id)): Path<(String, String)>,
    Query(q): Query<EntryQuery>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    match load(&state, &v, bank, id).await {
        Ok((e, history, outcomes)) => layout::html_response(
            StatusCode::OK,
            render(&v, &e, (&history, &outcomes), &[], None, &q.done),
        ),
        Err(r) => r,
    }
}

/// What a valid change form asks for.
struct Asked {
    enabled: Option<bool>,
    update: EntryUpdate,
    reason: String,
    what: &'static str,
}

fn check(f: &ChangeForm, actor: &str, errors: &mut Vec<FieldError>) -> Option<Asked> {
    let reclassify = f.op == "reclassify";
    let reason_field = if reclassify { "reclassify_reason" } else { "reason" };
    let reason = f.reason.trim().to_string();
    if reason.is_empty() {
        errors.push(FieldError::new(reason_field, "Give a reason: it is recorded with the change"));
    } else if let Err(m) = check_text("the reason", &reason, 4096) {
        errors.push(FieldError::new(reason_field, m));
    }
    let (enabled, update, what) = match f.op.as_str() {
        "disable" => (Some(false), EntryUpdate::default(), "disabled"),
        "enable" => (Some(true), EntryUpdate::default(), "enabled"),
        "reclassify" => {
            let category = match f.category.as_str() {
                "none" | "" => None,
                c => match c.parse::<Category>() {
                    Ok(c) => Some(c),
                    Err(m) => {
                        errors.push(FieldError::new("category", m));
                        None
                    }
                },
            };
            let severity = match f.severity.as_str() {
                "" => None,
                s => match s.parse::<Severity>() {
                    Ok(s) => Some(s),
                    Err(m) => {
                        errors.push(FieldError::new("severity", m));
                        None
                    }
                },
            };
            let tags = parse_tags(&f.tags).unwrap_or_else(|m| {
                errors.push(FieldError::new("tags", m));
                Vec::new()
            });
            let update = EntryUpdate {
                category: Some(category),
                severity: Some(severity),
                tags: Some(tags),
                verified_by: f.verified.is_some().then(|| Some(actor.to_string())),
                ..EntryUpdate::default()
            };
            (None, update, "reclassified")
        }
        _ => {
            errors.push(FieldError::new("reason", "Use one of the buttons of this page"));
            return None;
        }
    };
    errors.is_empty().then_some(Asked { enabled, update, reason, what })
}

/// `POST /banks/<name>/entries/<id>`.
pub async fn change(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path((bank, id)): Path<(String, String)>,
    Form(f): Form<ChangeForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return layout::not_found_page() };
    let mut errors = Vec::new();
    let actor = v.actor();
    if let Some(asked) = check(&f, &actor, &mut errors) {
        let b = bank.clone();
        let outcome = state
            .blocking(move |store| {
                store.patch_entry(&b, id, asked.enabled, &asked.update, &actor, &asked.reason)
            })
            .await;
        match outcome {
            Ok(Ok((_, changes))) => {
                let what = if changes.is_empty() { "unchanged" } else { asked.what };
                return Redirect::to(&format!("{}?done={what}", entry_url(&bank, id)))
                    .into_response();
            }
            Ok(Err(BankError::Invalid(m))) => errors.push(FieldError::new(
                if f.op == "reclassify" { "reclassify_reason" } else { "reason" },
                m,
            )),
            Ok(Err(e)) => return store_error(e),
            Err(r) => return r,
        }
    }
    match load(&state, &v, bank, id).await {
        Ok((e, history, outcomes)) => layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&v, &e, (&history, &outcomes), &errors, Some(&f), ""),
        ),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(op: &str, reason: &str) -> ChangeForm {
        ChangeForm { op: op.into(), reason: reason.into(), ..Default::default() }
    }

    #[test]
    fn a_change_needs_a_reason_and_valid_fields() {
        let mut errors = Vec::new();
        let a = check(&form("disable", "stock photo"), "user:c", &mut errors).unwrap();
        assert_eq!((a.enabled, a.what), (Some(false), "disabled"));
        assert!(check(&form("disable", "  "), "user:c", &mut errors).is_none());
        assert_eq!(errors[0].field, "reason");
        errors.clear();
        let mut f = form("reclassify", "");
        f.category = "evil".into();
        f.severity = "Z".into();
        f.tags = "Bad Tag".into();
        assert!(check(&f, "user:c", &mut errors).is_none());
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["reclassify_reason", "category", "severity", "tags"]);
        errors.clear();
        let mut f = form("reclassify", "assessed again");
        f.category = "national".into();
        f.severity = "B".into();
        f.tags = "a b".into();
        f.verified = Some("on".into());
        let a = check(&f, "user:c", &mut errors).unwrap();
        assert_eq!(a.update.category, Some(Some(Category::National)));
        assert_eq!(a.update.severity, Some(Some(Severity::B)));
        assert_eq!(a.update.verified_by, Some(Some("user:c".into())));
        assert!(check(&form("delete", "x"), "user:c", &mut errors).is_none(), "no other ops");
    }
}
