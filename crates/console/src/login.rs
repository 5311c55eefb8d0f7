//! `/login` and `/logout`.
//!
//! One form: name, password and the authenticator's current code. Whatever is wrong (unknown
//! name, wrong password, wrong or reused code, locked, disabled or unfinished account), the
//! answer is the same message, and an unknown name costs the same argon2 work as a known one.
//! Attempts are limited per client address (in memory) and per account (in the store: after
//! `max_failed_logins` failures in a row the account is locked for `lockout`).

use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::model::now_ms;
use spoor_bank::people::{random_token, SecretToken};
use spoor_bank::{BankError, Store};

use crate::audit::{self, Actor};
use crate::layout::{self, FieldError};
use crate::session::{self, Viewer};
use crate::{password, totp, ConsoleState};

/// The one message for every failed login.
pub const FAILED: &str = "The name, password or code is not right, or the account cannot log \
                          in now. Check them and try again; repeated failures lock the account \
                          for a while.";

/// A pre-session token for the login and setup forms: the one in the request's cookie when it
/// has a well-formed one, else a new one with the `Set-Cookie` that gives it to the browser.
pub(crate) fn pre_token(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    let name = session::pre_cookie(secure);
    match session::cookie(headers, name) {
        Some(t)
            if t.len() == 43
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            (t, None)
        }
        _ => {
            let t = random_token().unwrap_or_default();
            let c = session::set_cookie(name, &t, secure, Some(3600));
            (t, Some(c))
        }
    }
}

/// Whether a login or setup form carries the pre-session token of its cookie and comes from this
/// host.
pub(crate) fn pre_token_ok(headers: &HeaderMap, form_token: &str, secure: bool) -> bool {
    let cookie = session::cookie(headers, session::pre_cookie(secure)).unwrap_or_default();
    session::same_origin(headers) && !cookie.is_empty() && session::same_token(&cookie, form_token)
}

/// Adds a `Set-Cookie`, if any, to a response.
pub(crate) fn with_cookie(mut r: Response, c: Option<HeaderValue>) -> Response {
    if let Some(c) = c {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// The answer to a client address over its attempt limit.
pub(crate) fn too_many() -> Response {
    let mut r = layout::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many attempts came from your network address in the last minute. Wait a minute, \
         then try again.",
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// Query of `GET /login`: why the person is here.
#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    /// `idle` or `max_age`: their session ended.
    expired: Option<String>,
    /// They just logged out.
    logged_out: Option<String>,
    /// They just finished setup.
    setup: Option<String>,
}

fn login_form(
    state: &ConsoleState,
    token: &str,
    name: &str,
    errors: &[FieldError],
    note: Option<String>,
) -> Markup {
    let _ = state;
    layout::page(
        None,
        "",
        "Log in",
        html! {
            div class="narrow" {
                (layout::error_summary(errors))
                @if let Some(n) = note { div class="notice" role="status" { p { (n) } } }
                h1 { "Log in" }
                form method="post" action="/login" novalidate {
                    input type="hidden" name="csrf" value=(token);
                    (layout::field(errors, "name", "name", "Name", None, "text", name, "username"))
                    (layout::field(errors, "password", "password", "Password", None, "password", "", "current-password"))
                    (layout::field(errors, "code", "code", "Code from your authenticator app",
                        Some("The 6 digits your app shows for Spoor now."), "text", "", "one-time-code"))
                    button type="submit" class="button" { "Log in" }
                }
                p class="hint" { "No account, or lost your authenticator? Ask an administrator for a setup link." }
            }
        },
    )
}

/// `GET /login`.
pub async fn page(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let minutes = state.config.idle_timeout.as_secs().div_ceil(60);
    let hours = state.config.max_age.as_secs().div_ceil(3600);
    let note = match (q.expired.as_deref(), q.logged_out.is_some(), q.setup.as_deref()) {
        (Some("idle"), _, _) => Some(format!("Your session ended after {minutes} minutes without activity. Log in again to go on.")),
        (Some(_), _, _) => Some(format!("Your session reached its limit of {hours} hours. Log in again to go on.")),
        (_, true, _) => Some("You have logged out.".to_string()),
        (_, _, Some("done")) => Some("Your account is ready. Log in with your name, password and a code from your authenticator app.".to_string()),
        _ => None,
    };
    let (token, cookie) = pre_token(&headers, state.config.secure_cookies);
    with_cookie(
        layout::html_response(StatusCode::OK, login_form(&state, &token, "", &[], note)),
        cookie,
    )
}

/// The fields of the login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

enum Outcome {
    In { token: String },
    Failed,
}

/// `POST /login`.
pub async fn submit(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ext: Extensions,
    Form(f): Form<LoginForm>,
) -> Response {
    let secure = state.config.secure_cookies;
    if !pre_token_ok(&headers, &f.csrf, secure) {
        return layout::csrf_page();
    }
    let addr = session::client_addr(&ext);
    if !state.attempt_allowed(addr.unwrap_or(IpAddr::from([0, 0, 0, 0]))) {
        metrics::counter!("spoor_console_login_rate_limited_total").increment(1);
        return too_many();
    }
    let name = f.name.trim().to_string();
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::new("name", "Enter your name"));
    }
    if f.password.is_empty() {
        errors.push(FieldError::new("password", "Enter your password"));
    }
    if f.code.trim().is_empty() {
        errors.push(FieldError::new("code", "Enter the code from your authenticator app"));
    }
    if !errors.is_empty() {
        return layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            login_form(&state, &f.csrf, &name, &errors, None),
        );
    }
    let config = state.config.clone();
    let user_agent =
        headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    let address = addr.map(|a| a.to_string());
    let typed = name.clone();
    let result = state
        .blocking(move |store| {
            attempt(store, &config, &typed, &f.password, &f.code, address, user_agent)
        })
        .await;
    match result {
        Ok(Ok(Outcome::In { token })) => {
            let mut r = Redirect::to("/").into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                session::set_cookie(session::session_cookie(secure), &token, secure, None),
            );
            h.append(
                header::SET_COOKIE,
                session::clear_cookie(session::pre_cookie(secure), secure),
            );
            r
        }
        Ok(Ok(Outcome::Failed)) => {
            metrics::counter!("spoor_console_login_failures_total").increment(1);
            let errors = [FieldError::new("name", FAILED)];
            let (token, cookie) = pre_token(&headers, secure);
            with_cookie(
                layout::html_response(
                    StatusCode::UNAUTHORIZED,
                    login_form(&state, &token, &name, &errors, None),
                ),
                cookie,
            )
        }
        Ok(Err(e)) => layout::store_down(&e, "login", "Logging in is not possible now"),
        Err(r) => r,
    }
}

/// Checks one login attempt and records what happened; on a blocking thread.
fn attempt(
    store: &dyn Store,
    config: &crate::ConsoleConfig,
    name: &str,
    password_typed: &str,
    code: &str,
    address: Option<String>,
    user_agent: Option<String>,
) -> spoor_bank::Result<Outcome> {
    let now = now_ms();
    let addr = address.clone().unwrap_or_default();
    let fail = |reason: &str, who: &str| {
        audit::record(
            store,
            Actor::System("console"),
            "login_failed",
            "user",
            who,
            json!({ "reason": reason, "address": addr }),
        );
        Ok(Outcome::Failed)
    };
    let user = match store.user(name) {
        Ok(u) => u,
        // An unknown or malformed name: what was typed is not recorded (it may be a password).
        Err(BankError::Invalid(_)) => {
            password::verify_nothing(password_typed);
            return fail("unknown_name", "(unknown)");
        }
        Err(e) => return Err(e),
    };
    let refusal = if user.disabled.is_some() {
        Some("disabled")
    } else if !user.setup_done() {
        Some("setup_incomplete")
    } else if user.locked_at(now) {
        Some("locked")
    } else {
        None
    };
    if let Some(reason) = refusal {
        password::verify_nothing(password_typed);
        return fail(reason, &user.name);
    }
    let phc = user.password_hash.as_deref().unwrap_or_default();
    let secret = user.totp_secret.as_deref().unwrap_or_default();
    let password_ok = password::verify(phc, password_typed);
    let step = totp::verify(secret, code, totp::unix_now());
    let reason = match (password_ok, step) {
        (false, _) => Some("password"),
        (true, None) => Some("code"),
        (true, Some(step)) => {
            (!store.record_login_success(user.id, step, now)?).then_some("code_reused")
        }
    };
    if let Some(reason) = reason {
        let f = store.record_login_failure(
            user.id,
            now,
            config.max_failed_logins,
            config.lockout.as_millis().clamp(1, i64::MAX as u128) as i64,
        )?;
        let out = fail(reason, &user.name);
        if let Some(until) = f.locked_until {
            audit::record(
                store,
                Actor::System("console"),
                "lockout",
                "user",
                &user.name,
                json!({
                    "failures": f.failed_logins,
                    "until": spoor_bank::model::format_time(until),
                    "address": addr,
                }),
            );
        }
        return out;
    }
    let token = SecretToken::generate()?;
    let csrf = random_token()?;
    store.create_session(
        user.id,
        &token.hash,
        &csrf,
        now,
        address.as_deref(),
        user_agent.as_deref(),
    )?;
    audit::record(
        store,
        Actor::Person(&user.name),
        "login",
        "user",
        &user.name,
        json!({ "address": addr }),
    );
    Ok(Outcome::In { token: token.token })
}

/// `POST /logout`: ends this session.
pub async fn logout(State(state): State<ConsoleState>, v: Viewer) -> Response {
    let secure = state.config.secure_cookies;
    let hash = v.token_hash;
    let name = v.user.name.clone();
    let _ = state
        .blocking(move |store| {
            if let Err(e) = store.delete_session(&hash) {
                tracing::error!(error = %e, "cannot delete a console session at logout");
            }
            audit::record(store, Actor::Person(&name), "logout", "user", &name, json!({}));
        })
        .await;
    let mut r = Redirect::to("/login?logged_out=1").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(session::session_cookie(secure), secure));
    r
}
