//! `/setup/<token>`: a new (or reset) person sets a password, then enrols an authenticator app
//! by scanning a QR code (or typing the secret) and confirming a current code. Only then is
//! setup finished and the link spent; until then the account cannot log in.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::model::now_ms;
use spoor_bank::people::token_hash;
use spoor_bank::User;

use crate::audit::{self, Actor};
use crate::layout::{self, FieldError};
use crate::login::{pre_token, pre_token_ok, too_many, with_cookie};
use crate::{password, session, totp, ConsoleState};

fn link_gone() -> Response {
    layout::error_page(
        StatusCode::NOT_FOUND,
        "This setup link does not work",
        "The link was used already, has expired, or was replaced by a newer one. Ask an \
         administrator for a new setup link.",
    )
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "account setup could not reach the store");
    layout::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Setup is not possible now",
        "The console could not reach its store. Try again in a moment with the same link.",
    )
}

/// The person a setup link belongs to, if it still works.
async fn holder(state: &ConsoleState, token: &str) -> Result<User, Response> {
    let hash = token_hash(token);
    match state.blocking(move |store| store.user_by_setup_token(&hash, now_ms())).await? {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(link_gone()),
        Err(e) => Err(unavailable(e)),
    }
}

fn steps(current: u8) -> Markup {
    html! {
        ol class="steps" aria-label="Setup steps" {
            li aria-current=[(current == 1).then_some("step")] { "Choose a password" }
            li aria-current=[(current == 2).then_some("step")] { "Set up your authenticator app" }
            li { "Log in" }
        }
    }
}

fn password_page(token: &str, pre: &str, user: &User, errors: &[FieldError]) -> Markup {
    layout::page(
        None,
        "",
        "Choose a password",
        html! {
            div class="narrow" {
                (layout::error_summary(errors))
                p class="caption" { "Account setup for " strong { (user.name) } " (" (user.role.name()) ")" }
                (steps(1))
                h1 { "Choose a password" }
                form method="post" action={ "/setup/" (token) "/password" } novalidate {
                    input type="hidden" name="csrf" value=(pre);
                    input type="hidden" name="username" value=(user.name) autocomplete="username";
                    (layout::field(errors, "password", "password", "Password",
                        Some("At least 12 characters. A few unrelated words make a strong password that is easy to remember. Common passwords and your name are refused."),
                        "password", "", "new-password"))
                    (layout::field(errors, "confirm", "confirm", "Type the password again", None, "password", "", "new-password"))
                    button type="submit" class="button" { "Save password and go on" }
                }
            }
        },
    )
}

fn totp_page(token: &str, pre: &str, user: &User, secret: &[u8], errors: &[FieldError]) -> Markup {
    let uri = totp::otpauth_uri(&user.name, secret);
    let qr = totp::qr_svg(&uri).unwrap_or_default();
    layout::page(
        None,
        "",
        "Set up your authenticator app",
        html! {
            div class="narrow" {
                (layout::error_summary(errors))
                p class="caption" { "Account setup for " strong { (user.name) } " (" (user.role.name()) ")" }
                (steps(2))
                h1 { "Set up your authenticator app" }
                p { "Every login asks for a code from an authenticator app on your phone or computer (any app for \"TOTP\" codes)." }
                p { "In the app, add an account by scanning this QR code:" }
                div class="qr" { (PreEscaped(qr)) }
                p { "Cannot scan it? Add the account by hand with this key (time-based, 6 digits, 30 seconds):" }
                p { code class="secret" id="totp-secret" { (totp::base32_grouped(secret)) } }
                form method="post" action={ "/setup/" (token) "/totp" } novalidate {
                    input type="hidden" name="csrf" value=(pre);
                    (layout::field(errors, "code", "code", "Code from the app",
                        Some("The 6 digits the app shows for Spoor now."), "text", "", "one-time-code"))
                    button type="submit" class="button" { "Confirm and finish setup" }
                }
            }
        },
    )
}

/// `GET /setup/<token>`: the step the person is at.
pub async fn page(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let user = match holder(&state, &token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (pre, cookie) = pre_token(&headers, state.config.secure_cookies);
    if user.password_hash.is_none() {
        return with_cookie(
            layout::html_response(StatusCode::OK, password_page(&token, &pre, &user, &[])),
            cookie,
        );
    }
    let user = match &user.totp_secret {
        Some(_) => user,
        None => {
            let secret = match totp::new_secret() {
                Ok(s) => s,
                Err(e) => return unavailable(e),
            };
            let id = user.id;
            match state.blocking(move |store| store.set_totp_secret(id, &secret)).await {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => return unavailable(e),
                Err(r) => return r,
            }
        }
    };
    let secret = user.totp_secret.clone().unwrap_or_default();
    with_cookie(
        layout::html_response(StatusCode::OK, totp_page(&token, &pre, &user, &secret, &[])),
        cookie,
    )
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

/// Checks what every setup post needs: its pre-session token and the address's attempt budget.
fn gate(
    state: &ConsoleState,
    headers: &HeaderMap,
    ext: &Extensions,
    form_token: &str,
) -> Result<(), Response> {
    if !pre_token_ok(headers, form_token, state.config.secure_cookies) {
        return Err(layout::csrf_page());
    }
    let addr = session::client_addr(ext).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !state.attempt_allowed(addr) {
        return Err(too_many());
    }
    Ok(())
}

/// `POST /setup/<token>/password`.
pub async fn password(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ext: Extensions,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = gate(&state, &headers, &ext, &f.csrf) {
        return r;
    }
    let user = match holder(&state, &token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if user.password_hash.is_some() {
        // The password is set already: the next step is the authenticator.
        return Redirect::to(&format!("/setup/{token}")).into_response();
    }
    let mut errors = Vec::new();
    if let Err(w) = password::check_policy(&f.password, &user.name) {
        errors.push(FieldError::new("password", w.to_string()));
    } else if f.password != f.confirm {
        errors.push(FieldError::new(
            "confirm",
            "The two passwords are not the same: type the password again",
        ));
    }
    if !errors.is_empty() {
        return layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            password_page(&token, &f.csrf, &user, &errors),
        );
    }
    let (id, name) = (user.id, user.name.clone());
    let done = state
        .blocking(move |store| {
            let phc = password::hash(&f.password).map_err(|e| e.to_string())?;
            store.set_password(id, &phc, now_ms()).map_err(|e| e.to_string())?;
            audit::record(store, Actor::Person(&name), "setup_password", "user", &name, json!({}));
            Ok::<_, String>(())
        })
        .await;
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/setup/{token}")).into_response(),
        Ok(Err(e)) => unavailable(e),
        Err(r) => r,
    }
}

/// The code form.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /setup/<token>/totp`: a valid current code finishes setup.
pub async fn confirm(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ext: Extensions,
    Path(token): Path<String>,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Err(r) = gate(&state, &headers, &ext, &f.csrf) {
        return r;
    }
    let user = match holder(&state, &token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(secret) = user.totp_secret.clone().filter(|_| user.password_hash.is_some()) else {
        return Redirect::to(&format!("/setup/{token}")).into_response();
    };
    let Some(step) = totp::verify(&secret, &f.code, totp::unix_now()) else {
        let msg = if f.code.trim().is_empty() {
            "Enter the 6-digit code the app shows"
        } else {
            "The code is not right: check that the app's clock is right, then enter the code it shows now"
        };
        let errors = [FieldError::new("code", msg)];
        return layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            totp_page(&token, &f.csrf, &user, &secret, &errors),
        );
    };
    let (id, name) = (user.id, user.name.clone());
    let done = state
        .blocking(move |store| {
            store.confirm_totp(id, step, now_ms())?;
            audit::record(store, Actor::Person(&name), "setup_totp", "user", &name, json!({}));
            Ok::<_, spoor_bank::BankError>(())
        })
        .await;
    match done {
        Ok(Ok(())) => Redirect::to("/login?setup=done").into_response(),
        Ok(Err(e)) => unavailable(e),
        Err(r) => r,
    }
}
