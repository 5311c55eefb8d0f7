//! `/exchanges` (administrators; auditors read): the banks of other Spoor instances this
//! service follows, each with where it has read up to, how far behind it is, its last pull and
//! its conflicts; set up and removed as `spoor exchange add|remove` do. The exchange key typed
//! into the form is kept to pull with and never shown again. Setting up and removing are
//! audited by the store in the transaction that makes them (actor `user:NAME`); an exchange's
//! page lists the source changes a local decision kept out, which name entries and values, so
//! showing it is recorded first (`exchange_conflicts_view`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use spoor_bank::exchange::{self, ConflictRecord, Exchange, ExchangeKey, NewExchange};
use spoor_bank::model::{format_time, now_ms};
use spoor_bank::{BankError, PersonRole};

use crate::audit::{record_view, Actor};
use crate::layout::{self, csrf_field, FieldError};
use crate::session::{form_value, Viewer};
use crate::ConsoleState;

/// Who sees the exchanges.
pub const READERS: &[PersonRole] = &[PersonRole::Admin, PersonRole::Auditor];
/// Conflicts shown a page.
const CONFLICT_PAGE: usize = 50;

/// What to show above the list after an action.
enum Banner {
    None,
    Done(String),
    Problem(String),
}

/// What was typed into the form, shown again when it is refused (never the key).
#[derive(Default)]
struct Typed {
    name: String,
    source_url: String,
    remote_bank: String,
    local_bank: String,
    interval: String,
}

/// A time to the second, UTC.
fn when(ms: i64) -> String {
    let t = format_time(ms);
    match t.get(..19) {
        Some(s) => format!("{} UTC", s.replace('T', " ")),
        None => t,
    }
}

/// An interval in words: 90 s, 5 min, 2 h.
fn interval(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// The state of an exchange in a word, and its tag's class.
fn state_of(x: &Exchange, now: i64) -> (&'static str, &'static str) {
    if x.running_at(now).is_some() {
        ("pulling", "tag")
    } else if x.last_error.is_some() {
        ("failing", "tag tag--warn")
    } else if x.last_success_at.is_none() {
        ("not pulled yet", "tag")
    } else if x.lag() > 0 {
        ("behind", "tag")
    } else {
        ("up to date", "tag tag--ok")
    }
}

fn render(
    v: &Viewer,
    all: &[Exchange],
    banks: &[String],
    banner: &Banner,
    errors: &[FieldError],
    typed: &Typed,
) -> Markup {
    let admin = v.user.role == PersonRole::Admin;
    let now = now_ms();
    let body = html! {
        (layout::error_summary(errors))
        @match banner {
            Banner::Done(msg) => { div class="notice" role="status" { p { (msg) } } }
            Banner::Problem(msg) => {
                div class="error-summary" role="alert" aria-labelledby="problem-title" tabindex="-1" autofocus {
                    h2 id="problem-title" class="error-summary__title" { "There is a problem" }
                    p { (msg) }
                }
            }
            Banner::None => {}
        }
        h1 { "Exchanges" }
        p {
            "Banks of other Spoor instances followed into banks here: what the source adds, \
             disables, enables, reclassifies and deletes arrives every interval, with its \
             provenance. A decision taken here is never undone by a source: such changes are \
             kept out and listed as conflicts."
        }
        div class="table-wrap" {
            table class="table" id="exchanges" {
                caption class="visually-hidden" { "Exchanges" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Source" } th scope="col" { "Into" }
                    th scope="col" { "Every" } th scope="col" { "Read up to" }
                    th scope="col" { "Brought" } th scope="col" { "Conflicts" }
                    th scope="col" { "Last pull" } th scope="col" { "State" }
                    @if admin { th scope="col" { "Actions" } }
                } }
                tbody {
                    @if all.is_empty() {
                        tr { td colspan="10" { "No exchanges yet." } }
                    }
                    @for (i, x) in all.iter().enumerate() {
                        @let (word, class) = state_of(x, now);
                        tr {
                            th scope="row" { a href={ "/exchanges/" (x.name) } { (x.name) } }
                            td { (x.source_url) br; span class="hint" { "bank " (x.remote_bank) } }
                            td { a href={ "/banks/" (x.local_bank) } { (x.local_bank) } }
                            td { (interval(x.interval_ms)) }
                            td {
                                (x.position)
                                @if let Some(last) = x.remote_last_seq { " of " (last) }
                                @if x.lag() > 0 { br; span class="hint" { (x.lag()) " behind" } }
                            }
                            td { (x.added) " added" br; span class="hint" { (x.changed) " changed" } }
                            td {
                                @if x.conflicts > 0 {
                                    a href={ "/exchanges/" (x.name) "#conflicts" } { (x.conflicts) }
                                } @else { "0" }
                            }
                            td {
                                @match x.last_attempt_at {
                                    Some(at) => { (when(at)) }
                                    None => { "never" }
                                }
                                @if let Some(e) = &x.last_error {
                                    br; span class="field-error" { (x.failures) " failed in a row: " (e) }
                                }
                            }
                            td { span class=(class) { (word) } }
                            @if admin {
                                td {
                                    details class="actions" {
                                        summary { "Remove " span class="visually-hidden" { (x.name) } }
                                        form method="post" action="/exchanges/remove" class="action" {
                                            (csrf_field(v))
                                            input type="hidden" name="name" value=(x.name);
                                            div class="checkbox" {
                                                input type="checkbox" id={ "confirm-" (i) } name="confirm" value="yes";
                                                label for={ "confirm-" (i) } {
                                                    "Yes: stop following. What it brought stays in " (x.local_bank) "."
                                                }
                                            }
                                            button type="submit" class="button button--warning" { "Remove " (x.name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            h2 id="add" { "Follow a bank of another instance" }
            p class="hint" {
                "The source makes a key for you with "
                code { "spoor keys create --role exchange --banks BANK" }
                " (or on its API keys page). It reads that bank's change log only."
            }
            form method="post" action="/exchanges" novalidate class="narrow" {
                (csrf_field(v))
                (layout::field(errors, "name", "name", "Name",
                    Some("Letters, digits, '.', '-' or '_', for example partner-hotline. Entries it brings carry it as their source."),
                    "text", &typed.name, "off"))
                (layout::field(errors, "source_url", "source_url", "Source address",
                    Some("The other service's base address, for example https://spoor.partner.example."),
                    "url", &typed.source_url, "off"))
                (layout::field(errors, "remote_bank", "remote_bank", "Bank there",
                    None, "text", &typed.remote_bank, "off"))
                div class=(group_class(errors, "local_bank")) {
                    label class="label" for="local_bank" { "Bank here" }
                    @if let Some(e) = layout::error_of(errors, "local_bank") { p class="field-error" id="local_bank-error" { (e) } }
                    @if banks.is_empty() {
                        p class="hint" { "There are no banks yet: create one on the banks page first." }
                    }
                    select class="select" id="local_bank" name="local_bank" {
                        @for b in banks {
                            option value=(b) selected[*b == typed.local_bank] { (b) }
                        }
                    }
                }
                (layout::field(errors, "key", "key", "Exchange key",
                    Some("Kept to pull with; never shown again."),
                    "password", "", "off"))
                (layout::field(errors, "interval", "interval", "Pull every (seconds)",
                    Some("How often to ask the source for what changed, 1 to 86400."),
                    "number", if typed.interval.is_empty() { "60" } else { &typed.interval }, "off"))
                button type="submit" class="button" { "Follow this bank" }
            }
        }
    };
    layout::page(Some(v), "/exchanges", "Exchanges", body)
}

fn group_class(errors: &[FieldError], field: &str) -> &'static str {
    if layout::error_of(errors, field).is_some() {
        "form-group form-group--error"
    } else {
        "form-group"
    }
}

fn read(store: &dyn spoor_bank::Store) -> Result<(Vec<Exchange>, Vec<String>), BankError> {
    let all = store.exchanges()?;
    let banks = store.banks()?.into_iter().map(|b| b.name).collect();
    Ok((all, banks))
}

async fn answer(
    state: &ConsoleState,
    v: &Viewer,
    status: StatusCode,
    banner: Banner,
    errors: &[FieldError],
    typed: &Typed,
) -> Response {
    match state.blocking(read).await {
        Ok(Ok((all, banks))) => {
            layout::html_response(status, render(v, &all, &banks, &banner, errors, typed))
        }
        Ok(Err(e)) => layout::store_down(&e, "exchanges", "The exchanges cannot be read now"),
        Err(r) => r,
    }
}

/// `GET /exchanges`.
pub async fn list(State(state): State<ConsoleState>, v: Viewer) -> Response {
    answer(&state, &v, StatusCode::OK, Banner::None, &[], &Typed::default()).await
}

/// Checks the form; the exchange to set up, or the errors by field.
fn check(
    typed: &Typed,
    key: &str,
    banks: &[String],
    loopback_only: bool,
) -> Result<NewExchange, Vec<FieldError>> {
    let mut errors = Vec::new();
    if typed.name.is_empty() {
        errors.push(FieldError::new("name", "Enter a name for the exchange"));
    } else if let Err(e) = exchange::check_name(&typed.name) {
        errors.push(FieldError::new("name", format!("Choose another name: {e}")));
    }
    let url = typed.source_url.trim_end_matches('/').to_string();
    if url.is_empty() {
        errors.push(FieldError::new("source_url", "Enter the source's address"));
    } else if let Err(m) = exchange::check_source_url(&url) {
        errors.push(FieldError::new("source_url", m));
    } else if loopback_only && !exchange::is_loopback_source(&url) {
        errors.push(FieldError::new(
            "source_url",
            "This service connects only to loopback addresses: give one such as http://127.0.0.1:5100",
        ));
    }
    if typed.remote_bank.is_empty() {
        errors.push(FieldError::new("remote_bank", "Enter the name of the bank at the source"));
    } else if let Err(m) = exchange::check_remote_bank(&typed.remote_bank) {
        errors.push(FieldError::new("remote_bank", m));
    }
    if !banks.contains(&typed.local_bank) {
        errors.push(FieldError::new("local_bank", "Choose a bank here from the list"));
    }
    if key.is_empty() {
        errors.push(FieldError::new("key", "Enter the exchange key the source gave you"));
    } else if let Err(m) = exchange::check_key_form(key) {
        errors.push(FieldError::new("key", m));
    }
    let secs = typed.interval.trim().parse::<u64>().ok().filter(|s| (1..=86_400).contains(s));
    if secs.is_none() {
        errors.push(FieldError::new("interval", "Enter a whole number of seconds from 1 to 86400"));
    }
    let x = NewExchange {
        name: typed.name.clone(),
        source_url: url,
        remote_bank: typed.remote_bank.clone(),
        local_bank: typed.local_bank.clone(),
        key: ExchangeKey(key.to_string()),
        interval_ms: secs.unwrap_or(60) * 1000,
        page: exchange::MAX_PAGE,
    };
    // Each field went through the rules `exchange::check_new` applies (the store applies them
    // again when it sets the exchange up).
    if errors.is_empty() {
        Ok(x)
    } else {
        Err(errors)
    }
}

/// `POST /exchanges`: name, source_url, remote_bank, local_bank, key, interval (seconds).
pub async fn create(State(state): State<ConsoleState>, v: Viewer, body: Bytes) -> Response {
    let field = |n: &str| form_value(&body, n).unwrap_or_default().trim().to_string();
    let typed = Typed {
        name: field("name"),
        source_url: field("source_url"),
        remote_bank: field("remote_bank"),
        local_bank: field("local_bank"),
        interval: field("interval"),
    };
    let key = field("key");
    let actor = Actor::Person(&v.user.name).as_actor();
    let loopback_only = state.config.loopback_only;
    let t = Typed {
        name: typed.name.clone(),
        source_url: typed.source_url.clone(),
        remote_bank: typed.remote_bank.clone(),
        local_bank: typed.local_bank.clone(),
        interval: typed.interval.clone(),
    };
    let done = state
        .blocking(move |store| {
            let banks: Vec<String> = store.banks()?.into_iter().map(|b| b.name).collect();
            let x = match check(&t, &key, &banks, loopback_only) {
                Ok(x) => x,
                Err(errors) => return Ok(Err(errors)),
            };
            match store.create_exchange(&x, &actor) {
                Ok(made) => Ok(Ok(made)),
                Err(e @ (BankError::Conflict(_) | BankError::Invalid(_))) => {
                    Ok(Err(vec![FieldError::new("name", e.to_string())]))
                }
                Err(BankError::NoSuchBank(b)) => Ok(Err(vec![FieldError::new(
                    "local_bank",
                    format!("There is no bank named {b:?} any more: choose another"),
                )])),
                Err(e) => Err(e),
            }
        })
        .await;
    match done {
        Ok(Ok(Ok(x))) => {
            let msg = format!(
                "Exchange {} set up: it pulls {} bank {} into {} every {}, starting within a moment.",
                x.name,
                x.source_url,
                x.remote_bank,
                x.local_bank,
                interval(x.interval_ms)
            );
            answer(&state, &v, StatusCode::OK, Banner::Done(msg), &[], &Typed::default()).await
        }
        Ok(Ok(Err(errors))) => {
            answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, Banner::None, &errors, &typed)
                .await
        }
        Ok(Err(e)) => layout::store_down(&e, "exchanges", "The exchange cannot be set up now"),
        Err(r) => r,
    }
}

/// `POST /exchanges/remove`: name, confirm.
pub async fn remove(State(state): State<ConsoleState>, v: Viewer, body: Bytes) -> Response {
    let name = form_value(&body, "name").unwrap_or_default();
    let confirmed = form_value(&body, "confirm").is_some();
    let actor = Actor::Person(&v.user.name).as_actor();
    let n = name.clone();
    let done = state
        .blocking(move |store| {
            if !confirmed {
                return Ok(Err(format!(
                    "Nothing was removed: to remove {n:?}, open \"Remove\" in its row and tick \
                     the box to confirm"
                )));
            }
            match store.delete_exchange(&n, &actor) {
                Ok(()) => Ok(Ok(())),
                Err(e @ BankError::NoSuchExchange(_)) => Ok(Err(e.to_string())),
                Err(e) => Err(e),
            }
        })
        .await;
    let (status, banner) = match done {
        Ok(Ok(Ok(()))) => (
            StatusCode::OK,
            Banner::Done(format!(
                "Exchange {name} removed: nothing more is pulled; what it brought stays."
            )),
        ),
        Ok(Ok(Err(msg))) => (StatusCode::UNPROCESSABLE_ENTITY, Banner::Problem(msg)),
        Ok(Err(e)) => {
            return layout::store_down(&e, "exchanges", "The exchange cannot be removed now")
        }
        Err(r) => return r,
    };
    answer(&state, &v, status, banner, &[], &Typed::default()).await
}

/// `GET /exchanges/{name}` parameters.
#[derive(Deserialize)]
pub struct PageQuery {
    /// Conflicts numbered below this.
    before: Option<i64>,
}

/// `GET /exchanges/{name}`: one exchange and its conflicts, newest first (recorded before it
/// is shown).
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let before = q.ok().and_then(|Query(q)| q.before).filter(|b| *b > 0).unwrap_or(0);
    let person = v.user.name.clone();
    let done = state
        .blocking(
            move |store| -> Result<Result<(Exchange, Vec<ConflictRecord>), Response>, BankError> {
                let x = match store.exchange(&name) {
                    Ok(x) => x,
                    Err(BankError::NoSuchExchange(_)) => return Ok(Err(layout::not_found_page())),
                    Err(e) => return Err(e),
                };
                let conflicts = store.exchange_conflicts(&name, before, CONFLICT_PAGE)?;
                if let Err(page) = record_view(
                    store,
                    &person,
                    "exchange_conflicts_view",
                    "exchange",
                    &name,
                    serde_json::json!({ "before": before, "count": conflicts.len() }),
                ) {
                    return Ok(Err(page));
                }
                Ok(Ok((x, conflicts)))
            },
        )
        .await;
    let (x, conflicts) = match done {
        Ok(Ok(Ok(found))) => found,
        Ok(Ok(Err(page))) => return page,
        Ok(Err(e)) => return layout::store_down(&e, "exchange", "The exchange cannot be read now"),
        Err(r) => return r,
    };
    let now = now_ms();
    let (word, class) = state_of(&x, now);
    let next = (conflicts.len() == CONFLICT_PAGE).then(|| conflicts.last().map(|c| c.id)).flatten();
    let body = html! {
        p { a href="/exchanges" { "All exchanges" } }
        h1 { "Exchange " (x.name) " " span class=(class) { (word) } }
        dl class="details" id="exchange-facts" {
            dt { "Source" } dd { (x.source_url) ", bank " (x.remote_bank) }
            dt { "Into" } dd { a href={ "/banks/" (x.local_bank) } { (x.local_bank) } }
            dt { "Pulled every" } dd { (interval(x.interval_ms)) }
            dt { "Read up to" } dd {
                "change " (x.position)
                @if let Some(last) = x.remote_last_seq { " of " (last) " (" (x.lag()) " behind)" }
            }
            dt { "Brought" } dd { (x.added) " entries added, " (x.changed) " changed to follow the source" }
            dt { "Last pull" } dd {
                @match x.last_attempt_at { Some(at) => { (when(at)) } None => { "never" } }
                @if let Some(at) = x.last_success_at { "; last success " (when(at)) }
            }
            @if let Some(e) = &x.last_error {
                dt { "Failing" } dd class="field-error" { (x.failures) " in a row: " (e) }
            }
            @if let Some(since) = x.running_at(now) {
                dt { "Pulling" } dd { "since " (when(since)) }
            }
            dt { "Set up" } dd { (when(x.created_at)) " by " (x.created_by) }
        }
        h2 id="conflicts" { "Conflicts (" (x.conflicts) ")" }
        p {
            "Changes of the source that were not applied because someone here decided otherwise, \
             or because the entry came from elsewhere. Open the entry to see its history and \
             decide again if needed."
        }
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "Conflicts of " (x.name) }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Source change" }
                    th scope="col" { "Entry" } th scope="col" { "What" }
                } }
                tbody {
                    @if conflicts.is_empty() { tr { td colspan="4" { "None." } } }
                    @for c in &conflicts {
                        tr {
                            td { (when(c.at)) }
                            td { (c.conflict.remote_seq) }
                            td { a href={ "/banks/" (x.local_bank) "/entries/" (c.conflict.entry_id) } { (c.conflict.entry_id) } }
                            td { (c.conflict.message) }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next {
            p { a href={ "/exchanges/" (x.name) "?before=" (n) "#conflicts" } { "Older conflicts" } }
        }
    };
    let mut r = layout::html_response(
        StatusCode::OK,
        layout::page(Some(&v), "/exchanges", &format!("Exchange {}", x.name), body),
    );
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(name: &str, url: &str, remote: &str, local: &str, every: &str) -> Typed {
        Typed {
            name: name.into(),
            source_url: url.into(),
            remote_bank: remote.into(),
            local_bank: local.into(),
            interval: every.into(),
        }
    }

    fn fields(r: Result<NewExchange, Vec<FieldError>>) -> Vec<&'static str> {
        r.err().unwrap_or_default().iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_form_is_checked_like_the_command_line() {
        let banks = ["LOCAL".to_string()];
        let ok = typed("partner", "http://127.0.0.1:5100/", "SHARED", "LOCAL", "30");
        let x = check(&ok, "spoor_abc.def", &banks, true).unwrap();
        assert_eq!((x.source_url.as_str(), x.interval_ms), ("http://127.0.0.1:5100", 30_000));
        assert_eq!(
            fields(check(&typed("", "", "", "NOPE", "0"), "", &banks, false)),
            ["name", "source_url", "remote_bank", "local_bank", "key", "interval"]
        );
        let far = typed("p", "https://partner.example", "SHARED", "LOCAL", "60");
        assert_eq!(fields(check(&far, "spoor_a.b", &banks, true)), ["source_url"]);
        assert!(check(&far, "spoor_a.b", &banks, false).is_ok());
        assert_eq!(fields(check(&far, "nope", &banks, false)), ["key"]);
        let bad = typed("p", "ftp://x", "SHARED", "LOCAL", "60");
        assert_eq!(fields(check(&bad, "spoor_a.b", &banks, false)), ["source_url"]);
        // Every field's mistake at once, not one at a time.
        let all_wrong = typed("p", "ftp://x", "lower", "LOCAL", "60");
        assert_eq!(
            fields(check(&all_wrong, "not-a-key", &banks, false)),
            ["source_url", "remote_bank", "key"]
        );
        assert_eq!(
            fields(check(
                &typed("a b", "http://x", "S", "LOCAL", "60"),
                "spoor_a.b",
                &banks,
                false
            )),
            ["name"]
        );
    }

    #[test]
    fn intervals_read_plainly() {
        assert_eq!(interval(60_000), "1 min");
        assert_eq!(interval(90_000), "90 s");
        assert_eq!(interval(7_200_000), "2 h");
        assert_eq!(interval(150), "150 ms");
    }
}
