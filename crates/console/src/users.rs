//! `/users` (administrators): the accounts, and create, disable, reset, role and review queue
//! changes. A new
//! or reset account's setup link is shown once, on the page that answers the form.
//! Administrators cannot disable, reset or change their own account here (another
//! administrator, or `spoor users`, can), so the console never locks out its last administrator
//! by a slip.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use spoor_bank::model::{format_time, now_ms};
use spoor_bank::people::{check_name, check_queues, SecretToken};
use spoor_bank::{BankError, PersonRole, User};

use crate::layout::{self, csrf_field, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// What to show above the list after an action.
enum Banner {
    None,
    /// A setup link, shown this once.
    Link {
        name: String,
        link: String,
        what: &'static str,
    },
    /// A done action.
    Done(String),
    /// An action that was refused: what is wrong and what to do.
    Problem(String),
}

/// Where the console is reached, for setup links: the request's `Host`, with the scheme of the
/// cookies' security.
fn base_url(state: &ConsoleState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1:5100");
    let scheme = if state.config.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn role_select(id: &str, selected: Option<PersonRole>) -> Markup {
    html! {
        select class="select" id=(id) name="role" {
            @for r in PersonRole::ALL {
                option value=(r.name()) selected[Some(r) == selected] { (r.name()) }
            }
        }
    }
}

/// What the create form was sent with: name, role, review queues.
type Typed<'a> = (&'a str, Option<PersonRole>, &'a str);

/// The review queues field: names separated by commas (spaces allowed), checked as the store
/// checks them; empty: every queue.
fn parse_queues(text: &str) -> Result<Vec<String>, String> {
    let named: Vec<String> =
        text.split(',').map(str::trim).filter(|q| !q.is_empty()).map(str::to_string).collect();
    check_queues(&named).map_err(|e| e.to_string())
}

/// A person's queues for people: the list, or "every queue".
fn queues_text(u: &User) -> String {
    if u.queues.is_empty() {
        "every queue".to_string()
    } else {
        u.queues.join(", ")
    }
}

const QUEUES_HINT: &str = "Review queues the person takes cases from, separated by commas, such \
     as main, team-b. Leave empty for every queue. Administrators take every queue, and the \
     senior queue, whatever this says.";

fn render(
    v: &Viewer,
    users: &[User],
    banner: &Banner,
    errors: &[FieldError],
    typed: Typed<'_>,
) -> Markup {
    let now = now_ms();
    let body = html! {
        (layout::error_summary(errors))
        @match banner {
            Banner::Link { name, link, what } => {
                div class="notice notice--important" role="status" {
                    h2 { (what) " for " (name) }
                    p { "Send this setup link to " (name) " privately. It is shown only now, works once, and expires." }
                    p { code class="secret" id="setup-link" { (link) } }
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
        h1 { "People" }
        p { "Accounts of the people who use this console. Every change here is recorded in the audit log." }
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "Accounts" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "State" }
                    th scope="col" { "Review queues" }
                    th scope="col" { "Created" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for u in users {
                        tr {
                            th scope="row" { (u.name) }
                            td { (u.role.name()) }
                            td {
                                (u.state(now))
                                @if let Some(d) = &u.disabled { br; span class="hint" { "by " (d.by) ": " (d.reason) } }
                            }
                            td id={ "queues-of-" (u.name) } { (queues_text(u)) }
                            td { (format_time(u.created_at)[..10]) " by " (u.created_by) }
                            td {
                                @if u.disabled.is_some() {
                                    "—"
                                } @else if u.name == v.user.name {
                                    span class="hint" { "Your own account: another administrator can change it." }
                                } @else {
                                    details class="actions" {
                                        summary { "Change " span class="visually-hidden" { (u.name) } }
                                        form method="post" action={ "/users/" (u.name) "/role" } class="action" {
                                            (csrf_field(v))
                                            label class="label" for={ "role-" (u.name) } { "Role" }
                                            (role_select(&format!("role-{}", u.name), Some(u.role)))
                                            button type="submit" class="button button--secondary" { "Change role" }
                                        }
                                        form method="post" action={ "/users/" (u.name) "/queues" } class="action" {
                                            (csrf_field(v))
                                            label class="label" for={ "queues-" (u.name) } { "Review queues" }
                                            p class="hint" id={ "queues-" (u.name) "-hint" } { (QUEUES_HINT) }
                                            input class="input" type="text" id={ "queues-" (u.name) } name="queues"
                                                value=(u.queues.join(", ")) autocomplete="off" spellcheck="false"
                                                aria-describedby={ "queues-" (u.name) "-hint" };
                                            button type="submit" class="button button--secondary" { "Change queues" }
                                        }
                                        form method="post" action={ "/users/" (u.name) "/reset" } class="action" {
                                            (csrf_field(v))
                                            p class="hint" { "Reset clears the password and authenticator, logs them out everywhere, and gives a new setup link." }
                                            button type="submit" class="button button--secondary" { "Reset " (u.name) }
                                        }
                                        form method="post" action={ "/users/" (u.name) "/disable" } class="action" {
                                            (csrf_field(v))
                                            label class="label" for={ "reason-" (u.name) } { "Reason for disabling" }
                                            input class="input" type="text" id={ "reason-" (u.name) } name="reason" maxlength="4096";
                                            button type="submit" class="button button--warning" { "Disable " (u.name) " for good" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="create" { "Add a person" }
        form method="post" action="/users" novalidate class="narrow" {
            (csrf_field(v))
            (layout::field(errors, "name", "name", "Name",
                Some("Lower-case letters, digits, '.', '_' and '-', starting with a letter, for example j.smith."),
                "text", typed.0, "off"))
            div class=(if layout::error_of(errors, "role").is_some() { "form-group form-group--error" } else { "form-group" }) {
                label class="label" for="role" { "Role" }
                p class="hint" id="role-hint" { "admin: everything; curator: banks; reviewer: reviews matches; auditor: reads the audit log." }
                @if let Some(e) = layout::error_of(errors, "role") { p class="field-error" id="role-error" { (e) } }
                (role_select("role", typed.1))
            }
            (layout::field(errors, "queues", "queues", "Review queues", Some(QUEUES_HINT), "text",
                typed.2, "off"))
            button type="submit" class="button" { "Add and show the setup link" }
        }
    };
    layout::page(Some(v), "/users", "People", body)
}

async fn answer(
    state: &ConsoleState,
    v: &Viewer,
    status: StatusCode,
    banner: Banner,
    errors: &[FieldError],
    typed: Typed<'_>,
) -> Response {
    match state.blocking(|store| store.users()).await {
        Ok(Ok(users)) => layout::html_response(status, render(v, &users, &banner, errors, typed)),
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

fn store_down(e: BankError) -> Response {
    layout::store_down(&e, "users", "The accounts cannot be read now")
}

/// `GET /users`.
pub async fn list(State(state): State<ConsoleState>, v: Viewer) -> Response {
    answer(&state, &v, StatusCode::OK, Banner::None, &[], ("", None, "")).await
}

/// The create form.
#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    queues: String,
}

/// `POST /users`.
pub async fn create(
    State(state): State<ConsoleState>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<CreateForm>,
) -> Response {
    let name = f.name.trim().to_string();
    let role = f.role.parse::<PersonRole>().ok();
    let mut errors = Vec::new();
    if let Err(e) = check_name(&name) {
        errors.push(FieldError::new(
            "name",
            if name.is_empty() { "Enter a name".to_string() } else { e.to_string() },
        ));
    }
    if role.is_none() {
        errors.push(FieldError::new("role", "Choose a role: admin, curator, reviewer or auditor"));
    }
    let queues = parse_queues(&f.queues).unwrap_or_else(|e| {
        errors.push(FieldError::new("queues", e));
        Vec::new()
    });
    if !errors.is_empty() {
        return answer(
            &state,
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            Banner::None,
            &errors,
            (&name, role, &f.queues),
        )
        .await;
    }
    let role = role.unwrap_or(PersonRole::Reviewer);
    let ttl = state.config.setup_ttl.as_millis().min(i64::MAX as u128) as i64;
    let (by, n) = (v.actor(), name.clone());
    let made = state
        .blocking(move |store| {
            let token = SecretToken::generate()?;
            let expires = now_ms().saturating_add(ttl);
            store.create_user_in_queues(&n, role, &queues, &by, &token.hash, expires)?;
            Ok::<_, BankError>(token.token)
        })
        .await;
    match made {
        Ok(Ok(token)) => {
            let link = format!("{}/setup/{token}", base_url(&state, &headers));
            answer(
                &state,
                &v,
                StatusCode::OK,
                Banner::Link { name, link, what: "Account created" },
                &[],
                ("", None, ""),
            )
            .await
        }
        Ok(Err(BankError::Invalid(msg))) => {
            let errors = [FieldError::new("name", msg)];
            answer(
                &state,
                &v,
                StatusCode::UNPROCESSABLE_ENTITY,
                Banner::None,
                &errors,
                (&name, Some(role), &f.queues),
            )
            .await
        }
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

fn not_yourself(v: &Viewer, name: &str) -> Option<Banner> {
    (v.user.name == name).then(|| {
        Banner::Problem("You cannot change your own account here: ask another administrator".into())
    })
}

/// The disable form.
#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    reason: String,
}

/// `POST /users/<name>/disable`.
pub async fn disable(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Form(f): Form<DisableForm>,
) -> Response {
    if let Some(e) = not_yourself(&v, &name) {
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    }
    let reason = f.reason.trim().to_string();
    if reason.is_empty() {
        let e = Banner::Problem(format!("Give a reason for disabling {name}: open \"Change\" in their row and fill in the reason"));
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    }
    let (by, n) = (v.actor(), name.clone());
    let done = state
        .blocking(move |store| {
            let u = store.disable_user(&n, &by, &reason, now_ms())?;
            Ok::<_, BankError>(u)
        })
        .await;
    outcome(&state, &v, done, |u| {
        Banner::Done(format!("{} is disabled; their sessions have ended.", u.name))
    })
    .await
}

/// `POST /users/<name>/reset`.
pub async fn reset(
    State(state): State<ConsoleState>,
    v: Viewer,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Some(e) = not_yourself(&v, &name) {
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    }
    let ttl = state.config.setup_ttl.as_millis().min(i64::MAX as u128) as i64;
    let (by, n) = (v.actor(), name.clone());
    let done = state
        .blocking(move |store| {
            let token = SecretToken::generate()?;
            let u = store.reset_user(&n, &by, &token.hash, now_ms().saturating_add(ttl))?;
            Ok::<_, BankError>((u, token.token))
        })
        .await;
    let base = base_url(&state, &headers);
    outcome(&state, &v, done, |(u, token)| Banner::Link {
        name: u.name.clone(),
        link: format!("{base}/setup/{token}"),
        what: "Account reset",
    })
    .await
}

/// The role form.
#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /users/<name>/role`.
pub async fn role(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    if let Some(e) = not_yourself(&v, &name) {
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    }
    let Ok(role) = f.role.parse::<PersonRole>() else {
        let e = Banner::Problem("Choose a role: admin, curator, reviewer or auditor".into());
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    };
    let (by, n) = (v.actor(), name.clone());
    let done = state
        .blocking(move |store| {
            let u = store.set_user_role(&n, role, &by)?;
            Ok::<_, BankError>(u)
        })
        .await;
    outcome(&state, &v, done, |u| Banner::Done(format!("{} is now {}.", u.name, u.role.name())))
        .await
}

/// The queues form.
#[derive(Deserialize)]
pub struct QueuesForm {
    #[serde(default)]
    queues: String,
}

/// `POST /users/<name>/queues`: the review queues the person takes cases from.
pub async fn queues(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Form(f): Form<QueuesForm>,
) -> Response {
    if let Some(e) = not_yourself(&v, &name) {
        return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, "")).await;
    }
    let queues = match parse_queues(&f.queues) {
        Ok(q) => q,
        Err(e) => {
            let e = Banner::Problem(format!(
                "The review queues of {name} were not changed: {e}. Open \"Change\" in their row \
                 and correct the list"
            ));
            return answer(&state, &v, StatusCode::UNPROCESSABLE_ENTITY, e, &[], ("", None, ""))
                .await;
        }
    };
    let (by, n) = (v.actor(), name.clone());
    let done = state.blocking(move |store| store.set_user_queues(&n, &queues, &by)).await;
    outcome(&state, &v, done, |u| {
        Banner::Done(format!("{} now takes cases from {}.", u.name, queues_text(u)))
    })
    .await
}

/// The page after an action: the banner, or the store's refusal as an error.
async fn outcome<T>(
    state: &ConsoleState,
    v: &Viewer,
    done: Result<Result<T, BankError>, Response>,
    banner: impl FnOnce(&T) -> Banner,
) -> Response {
    match done {
        Ok(Ok(x)) => answer(state, v, StatusCode::OK, banner(&x), &[], ("", None, "")).await,
        Ok(Err(BankError::Invalid(msg))) => {
            answer(
                state,
                v,
                StatusCode::UNPROCESSABLE_ENTITY,
                Banner::Problem(msg),
                &[],
                ("", None, ""),
            )
            .await
        }
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}
