//! `/keys` (administrators): the service's API keys, and create and revoke, as
//! `spoor keys create|list|revoke` do. A new key is shown once, on the page that answers the
//! form; only the SHA-256 of its secret is stored, and it is never logged or audited (its
//! `key_create` record names the key and its id). Key changes are audited by the store in the
//! transaction that makes them, with the actor `user:NAME`, so this page records nothing of its
//! own. The service re-reads its keys every second: a new or revoked key takes effect within
//! about a second on every running service.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use spoor_bank::keys::{check_name, check_options, generate};
use spoor_bank::model::format_time;
use spoor_bank::{ApiKey, BankError, Role};

use crate::audit::Actor;
use crate::layout::{self, csrf_field, FieldError};
use crate::session::{form_value, form_values, Viewer};
use crate::ConsoleState;

/// The roles a key may have, in the order the form offers them.
const ROLES: [Role; 7] = [
    Role::Matcher,
    Role::Hasher,
    Role::Reviewer,
    Role::Curator,
    Role::Auditor,
    Role::Exchange,
    Role::Admin,
];

/// What to show above the list after an action.
enum Banner {
    None,
    /// A new key, shown this once.
    NewKey {
        name: String,
        key_id: String,
        role: Role,
        key: String,
    },
    /// A done action.
    Done(String),
    /// An action that was refused: what is wrong and what to do.
    Problem(String),
}

/// What was typed into the create form, shown again when it is refused.
#[derive(Default)]
struct Typed {
    name: String,
    role: Option<Role>,
    banks: Vec<String>,
    show_distance: bool,
}

fn state_of(k: &ApiKey) -> Markup {
    html! {
        @if k.revoked_at.is_some() {
            span class="tag tag--warn" { "revoked" }
        } @else {
            span class="tag tag--ok" { "active" }
        }
    }
}

/// A time to the second, UTC.
fn when(ms: i64) -> String {
    let t = format_time(ms);
    match t.get(..19) {
        Some(s) => format!("{} UTC", s.replace('T', " ")),
        None => t,
    }
}

fn distances(k: &ApiKey) -> &'static str {
    match k.role {
        Role::Admin | Role::Curator => "always",
        Role::Matcher if k.show_distance => "yes",
        Role::Matcher => "no",
        Role::Hasher | Role::Auditor | Role::Reviewer | Role::Exchange => "—",
    }
}

fn render(
    v: &Viewer,
    keys: &[ApiKey],
    banks: &[String],
    banner: &Banner,
    errors: &[FieldError],
    typed: &Typed,
) -> Markup {
    let body = html! {
        (layout::error_summary(errors))
        @match banner {
            Banner::NewKey { name, key_id, role, key } => {
                div class="notice notice--important" role="status" {
                    h2 { "API key created: " (name) }
                    p {
                        strong { "Copy this key now: it is shown only this once and cannot be shown again." }
                        " Only a hash of it is kept. Give it to the " (role.name())
                        " client privately. It works within about a second."
                    }
                    p { code class="secret" id="new-key" { (key) } }
                    p class="hint" { "Key id " code { (key_id) } " (the id is public: it names the key in logs)." }
                }
            }
            Banner::Done(msg) => { div class="notice" role="status" { p { (msg) } } }
            Banner::Problem(msg) => {
                div class="error-summary" role="alert" aria-labelledby="problem-title" tabindex="-1" autofocus {
                    h2 id="problem-title" class="error-summary__title" { "There is a problem" }
                    p { (msg) }
                }
            }
            Banner::None => {}
        }
        h1 { "API keys" }
        p {
            "Keys of the programs that use the service's API. A new or revoked key takes effect \
             within about a second on every running service. Every change here is recorded in \
             the audit log."
        }
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "API keys" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Key id" } th scope="col" { "Role" }
                    th scope="col" { "Banks" } th scope="col" { "Exact distances" }
                    th scope="col" { "Created" } th scope="col" { "Revoked" }
                    th scope="col" { "State" } th scope="col" { "Actions" }
                } }
                tbody {
                    @if keys.is_empty() {
                        tr { td colspan="9" { "No keys yet." } }
                    }
                    @for (i, k) in keys.iter().enumerate() {
                        tr {
                            th scope="row" { (k.name) }
                            td { code { (k.key_id) } }
                            td { (k.role.name()) }
                            td {
                                @match &k.banks {
                                    Some(b) => { (b.join(", ")) }
                                    None => { "all" }
                                }
                            }
                            td { (distances(k)) }
                            td { (when(k.created_at)) br; span class="hint" { "by " (k.created_by) } }
                            td {
                                @if let Some(at) = k.revoked_at {
                                    (when(at))
                                    br; span class="hint" { "by " (k.revoked_by.as_deref().unwrap_or("?")) }
                                } @else { "—" }
                            }
                            td { (state_of(k)) }
                            td {
                                @if k.revoked_at.is_some() {
                                    "—"
                                } @else {
                                    details class="actions" {
                                        summary { "Revoke " span class="visually-hidden" { (k.name) } }
                                        form method="post" action="/keys/revoke" class="action" {
                                            (csrf_field(v))
                                            input type="hidden" name="name" value=(k.name);
                                            div class="checkbox" {
                                                input type="checkbox" id={ "confirm-" (i) } name="confirm" value="yes";
                                                label for={ "confirm-" (i) } {
                                                    "Yes: clients using " (k.name) " are refused within about a second. This cannot be undone."
                                                }
                                            }
                                            button type="submit" class="button button--warning" { "Revoke " (k.name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="create" { "Create a key" }
        form method="post" action="/keys" novalidate class="narrow" {
            (csrf_field(v))
            (layout::field(errors, "name", "name", "Name",
                Some("Unique, for example hoster-prod. It names the key in the audit log (key:NAME)."),
                "text", &typed.name, "off"))
            div class=(group_class(errors, "role")) {
                label class="label" for="role" { "Role" }
                p class="hint" id="role-hint" {
                    "matcher: matches (its banks only, when scoped); hasher: hashes only; curator: \
                     banks and entries; auditor: reads the audit log; admin: everything."
                }
                @if let Some(e) = layout::error_of(errors, "role") { p class="field-error" id="role-error" { (e) } }
                select class="select" id="role" name="role" aria-describedby="role-hint" {
                    @for r in ROLES {
                        option value=(r.name()) selected[Some(r) == typed.role] { (r.name()) }
                    }
                }
            }
            div class=(group_class(errors, "banks")) {
                fieldset class="fieldset" id="banks" aria-describedby="banks-hint" {
                    legend class="label" { "Banks (matcher and exchange keys)" }
                    p class="hint" id="banks-hint" {
                        "Tick none for all banks. A matcher key limited to some banks matches against those only; an exchange key reads the change log of the banks ticked (at least one)."
                    }
                    @if let Some(e) = layout::error_of(errors, "banks") { p class="field-error" id="banks-error" { (e) } }
                    @if banks.is_empty() {
                        p class="hint" { "There are no banks yet." }
                    }
                    @for (i, b) in banks.iter().enumerate() {
                        div class="checkbox" {
                            input type="checkbox" id={ "bank-" (i) } name="banks" value=(b)
                                checked[typed.banks.contains(b)];
                            label for={ "bank-" (i) } { (b) }
                        }
                    }
                }
            }
            div class=(group_class(errors, "show_distance")) {
                @if let Some(e) = layout::error_of(errors, "show_distance") { p class="field-error" id="show_distance-error" { (e) } }
                div class="checkbox" {
                    input type="checkbox" id="show_distance" name="show_distance" value="yes"
                        checked[typed.show_distance] aria-describedby="show_distance-hint";
                    label for="show_distance" { "Show exact distances (matcher keys only)" }
                }
                p class="hint" id="show_distance-hint" {
                    "Off by default: exact distances let a client rebuild a banked hash bit by bit. \
                     Admin and curator keys always see them."
                }
            }
            button type="submit" class="button" { "Create and show the key once" }
        }
    };
    layout::page(Some(v), "/keys", "API keys", body)
}

fn group_class(errors: &[FieldError], field: &str) -> &'static str {
    if layout::error_of(errors, field).is_some() {
        "form-group form-group--error"
    } else {
        "form-group"
    }
}

/// The keys and the names of the banks, from the store.
fn read(store: &dyn spoor_bank::Store) -> Result<(Vec<ApiKey>, Vec<String>), BankError> {
    let keys = store.keys()?.into_iter().map(|(k, _)| k).collect();
    let banks = store.banks()?.into_iter().map(|b| b.name).collect();
    Ok((keys, banks))
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
        Ok(Ok((keys, banks))) => {
            layout::html_response(status, render(v, &keys, &banks, &banner, errors, typed))
        }
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

fn store_down(e: BankError) -> Response {
    layout::store_down(&e, "keys", "The keys cannot be read now")
}

/// `GET /keys`.
pub async fn list(State(state): State<ConsoleState>, v: Viewer) -> Response {
    answer(&state, &v, StatusCode::OK, Banner::None, &[], &Typed::default()).await
}

/// Checks a create form against the keys and banks there are; the errors, by field.
fn check_create(
    typed: &Typed,
    role_text: &str,
    keys: &[ApiKey],
    banks: &[String],
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if typed.name.is_empty() {
        errors.push(FieldError::new("name", "Enter a name for the key"));
    } else if let Err(e) = check_name(&typed.name) {
        errors.push(FieldError::new("name", format!("Choose another name: {e}")));
    } else if keys.iter().any(|k| k.name == typed.name) {
        errors.push(FieldError::new(
            "name",
            format!(
                "An API key named {:?} exists already (revoked keys keep their name): choose \
                 another name",
                typed.name
            ),
        ));
    }
    let Some(role) = typed.role else {
        errors.push(FieldError::new(
            "role",
            format!(
                "Choose a role: {} is not one of matcher, hasher, reviewer, curator, auditor, exchange or admin",
                if role_text.is_empty() { "nothing" } else { role_text }
            ),
        ));
        return errors;
    };
    let known: HashSet<&str> = banks.iter().map(String::as_str).collect();
    if let Some(b) = typed.banks.iter().find(|b| !known.contains(b.as_str())) {
        errors.push(FieldError::new(
            "banks",
            format!("There is no bank named {b:?}: tick only banks from the list"),
        ));
    } else if let Err(e) = check_options(role, !typed.banks.is_empty(), false) {
        errors
            .push(FieldError::new("banks", format!("Tick or untick banks to suit the role: {e}")));
    }
    if let Err(e) = check_options(role, false, typed.show_distance) {
        errors.push(FieldError::new(
            "show_distance",
            format!("Untick exact distances, or choose the matcher role: {e}"),
        ));
    }
    errors
}

/// What creating a key came to.
enum Created {
    Made(Box<spoor_bank::keys::NewKey>),
    Refused(Vec<FieldError>),
}

/// `POST /keys`: name, role, banks (repeated checkbox), show_distance.
pub async fn create(State(state): State<ConsoleState>, v: Viewer, body: Bytes) -> Response {
    let role_text = form_value(&body, "role").unwrap_or_default();
    let mut banks = form_values(&body, "banks");
    banks.sort();
    banks.dedup();
    let typed = Typed {
        name: form_value(&body, "name").unwrap_or_default().trim().to_string(),
        role: role_text.parse::<Role>().ok(),
        banks,
        show_distance: form_value(&body, "show_distance").is_some(),
    };
    let actor = Actor::Person(&v.user.name).as_actor();
    let (name, role, scope, show) =
        (typed.name.clone(), typed.role, typed.banks.clone(), typed.show_distance);
    let rt = role_text.clone();
    let done = state
        .blocking(move |store| {
            let (keys, banks) = read(store)?;
            let t = Typed { name: name.clone(), role, banks: scope.clone(), show_distance: show };
            let errors = check_create(&t, &rt, &keys, &banks);
            let Some(role) = role.filter(|_| errors.is_empty()) else {
                return Ok(Created::Refused(errors));
            };
            let scope = (!scope.is_empty()).then_some(scope);
            let key = generate(&name, role, scope, show, &actor)
                .map_err(|e| BankError::Invalid(format!("cannot read random bytes: {e}")))?;
            match store.create_key(&key.record, &key.secret_hash) {
                Ok(()) => Ok(Created::Made(Box::new(key))),
                Err(e @ (BankError::KeyExists(_) | BankError::Invalid(_))) => {
                    Ok(Created::Refused(vec![FieldError::new("name", e.to_string())]))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match done {
        Ok(Ok(Created::Made(key))) => {
            let banner = Banner::NewKey {
                name: key.record.name.clone(),
                key_id: key.record.key_id.clone(),
                role: key.record.role,
                key: key.key,
            };
            answer(&state, &v, StatusCode::OK, banner, &[], &Typed::default()).await
        }
        Ok(Ok(Created::Refused(errors))) => {
            answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, Banner::None, &errors, &typed)
                .await
        }
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

/// `POST /keys/revoke`: name, confirm.
pub async fn revoke(State(state): State<ConsoleState>, v: Viewer, body: Bytes) -> Response {
    let name = form_value(&body, "name").unwrap_or_default();
    let confirmed = form_value(&body, "confirm").is_some();
    let actor = Actor::Person(&v.user.name).as_actor();
    let n = name.clone();
    let done = state
        .blocking(move |store| {
            let Some(k) = store.keys()?.into_iter().map(|(k, _)| k).find(|k| k.name == n) else {
                return Ok(Err(format!("There is no API key named {n:?}: nothing was revoked")));
            };
            if let Some(at) = k.revoked_at {
                return Ok(Err(format!(
                    "The API key {n:?} was revoked already, by {} at {}",
                    k.revoked_by.as_deref().unwrap_or("?"),
                    format_time(at)
                )));
            }
            if !confirmed {
                return Ok(Err(format!(
                    "Nothing was revoked: to revoke {n:?}, open \"Revoke\" in its row and tick the \
                     box to confirm"
                )));
            }
            match store.revoke_key(&n, &actor) {
                Ok(k) => Ok(Ok(k)),
                Err(e @ (BankError::NoSuchKey(_) | BankError::Invalid(_))) => {
                    Ok(Err(e.to_string()))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    match done {
        Ok(Ok(Ok(k))) => {
            let msg = format!(
                "The API key {} ({}) is revoked: it is refused within about a second.",
                k.name, k.key_id
            );
            answer(&state, &v, StatusCode::OK, Banner::Done(msg), &[], &Typed::default()).await
        }
        Ok(Ok(Err(msg))) => {
            answer(
                &state,
                &v,
                StatusCode::UNPROCESSABLE_ENTITY,
                Banner::Problem(msg),
                &[],
                &Typed::default(),
            )
            .await
        }
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ApiKey {
        spoor_bank::keys::generate(name, Role::Matcher, None, false, "cli:x").unwrap().record
    }

    fn typed(name: &str, role: Option<Role>, banks: &[&str], show: bool) -> Typed {
        Typed {
            name: name.into(),
            role,
            banks: banks.iter().map(|b| b.to_string()).collect(),
            show_distance: show,
        }
    }

    fn fields(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|e| e.field).collect::<Vec<_>>()
    }

    #[test]
    fn the_create_form_is_checked_like_the_command_line() {
        let keys = [key("hoster")];
        let banks = ["HOTLINE".to_string(), "NCMEC".to_string()];
        let ok = typed("new", Some(Role::Matcher), &["HOTLINE"], true);
        assert!(check_create(&ok, "matcher", &keys, &banks).is_empty());
        let e = check_create(&typed("", Some(Role::Hasher), &[], false), "hasher", &keys, &banks);
        assert_eq!(fields(&e), ["name"]);
        assert_eq!(e[0].message, "Enter a name for the key");
        let e = check_create(&typed("hoster", Some(Role::Hasher), &[], false), "", &keys, &banks);
        assert!(e[0].message.contains("exists already"), "{e:?}");
        let e = check_create(&typed("a\tb", None, &[], false), "owner", &keys, &banks);
        assert_eq!(fields(&e), ["name", "role"]);
        assert!(e[1].message.contains("owner is not one of"), "{e:?}");
        let e = check_create(&typed("x", Some(Role::Matcher), &["NOPE"], false), "", &keys, &banks);
        assert_eq!(fields(&e), ["banks"]);
        assert!(e[0].message.contains("no bank named \"NOPE\""), "{e:?}");
        let e = check_create(&typed("x", Some(Role::Curator), &["NCMEC"], true), "", &keys, &banks);
        assert_eq!(fields(&e), ["banks", "show_distance"]);
        assert!(e[0].message.contains("matcher and exchange keys only"), "{e:?}");
    }

    #[test]
    fn distances_by_role() {
        let mut k = key("k");
        assert_eq!(distances(&k), "no");
        k.show_distance = true;
        assert_eq!(distances(&k), "yes");
        k.role = Role::Curator;
        assert_eq!(distances(&k), "always");
        k.role = Role::Hasher;
        assert_eq!(distances(&k), "—");
        assert_eq!(when(1_000), "1970-01-01 00:00:01 UTC");
    }
}
