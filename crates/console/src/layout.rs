//! The page frame every console page shares, form error summaries, and the error pages.
//!
//! The frame: a skip link, a header with the service name, the person's name and role, the
//! navigation (only the pages their role may open, from [`NAV`]), and a logout button; then the
//! page's `<main>`. Forms with errors start with an error summary (focused on load) whose links
//! lead to each field in error; each field names its error next to it (`aria-describedby`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use spoor_bank::PersonRole;

use crate::session::Viewer;
use crate::stylesheet_path;

/// One navigation link.
pub struct NavItem {
    /// Where it leads.
    pub path: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Who sees it (the route itself must allow the same roles).
    pub roles: &'static [PersonRole],
}

/// The navigation, in order. A page added to the console adds its entry here, with the same
/// roles as its route's [`crate::session::Access`].
pub const NAV: &[NavItem] = &[
    NavItem {
        path: "/",
        label: "Dashboard",
        roles: &[PersonRole::Admin, PersonRole::Curator, PersonRole::Reviewer, PersonRole::Auditor],
    },
    NavItem { path: "/review", label: "Review", roles: &[PersonRole::Admin, PersonRole::Reviewer] },
    NavItem { path: "/complaints", label: "Complaints", roles: crate::complaints::DECIDERS },
    NavItem {
        path: "/review/false-positives",
        label: "False positives",
        roles: &[PersonRole::Admin, PersonRole::Curator],
    },
    NavItem { path: "/banks", label: "Banks", roles: &[PersonRole::Admin, PersonRole::Curator] },
    NavItem { path: "/users", label: "People", roles: &[PersonRole::Admin] },
    NavItem { path: "/keys", label: "API keys", roles: &[PersonRole::Admin] },
    NavItem { path: "/exchanges", label: "Exchanges", roles: crate::exchanges::READERS },
    NavItem { path: "/reports", label: "Reports", roles: crate::reports::READERS },
    NavItem { path: "/statistics", label: "Statistics", roles: crate::statistics::READERS },
    NavItem {
        path: "/audit",
        label: "Audit log",
        roles: &[PersonRole::Admin, PersonRole::Auditor],
    },
];

/// A whole page: the frame around `main`. `current` is the path of the navigation entry to mark
/// as the current page.
pub fn page(viewer: Option<&Viewer>, current: &str, title: &str, main: Markup) -> Markup {
    page_refreshing(viewer, current, title, None, main)
}

/// A whole page that reloads itself every `refresh` seconds when given (a running import's
/// progress: a `<meta>` refresh, no script).
pub fn page_refreshing(
    viewer: Option<&Viewer>,
    current: &str,
    title: &str,
    refresh: Option<u32>,
    main: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                @if let Some(s) = refresh { meta http-equiv="refresh" content=(s); }
                title { (title) " – Spoor" }
                link rel="stylesheet" href=(stylesheet_path());
            }
            body {
                a class="skip-link" href="#main" { "Skip to main content" }
                header class="site-header" {
                    div class="site-header__inner" {
                        a class="site-name" href="/" { "Spoor" }
                        @if let Some(v) = viewer {
                            nav aria-label="Main" {
                                ul class="nav" {
                                    @for item in NAV.iter().filter(|i| i.roles.contains(&v.user.role)) {
                                        li {
                                            @if item.path == current {
                                                a href=(item.path) aria-current="page" { (item.label) }
                                            } @else {
                                                a href=(item.path) { (item.label) }
                                            }
                                        }
                                    }
                                }
                            }
                            div class="who" {
                                @if let Some((e, guide)) = v.exposure {
                                    @let over = guide > 0 && e.items >= u64::from(guide);
                                    a href="/review" id="exposure-today"
                                        class=(if over { "tag tag--warn" } else { "tag" })
                                        title="Pictures of cases shown to you today, and reveal steps" {
                                        "Today: " (e.items) " item" @if e.items != 1 { "s" }
                                        ", " (e.reveals) " reveal" @if e.reveals != 1 { "s" }
                                        @if over { " – take a break" }
                                    }
                                }
                                span class="who__name" { (v.user.name) }
                                " "
                                span class="tag" { (v.user.role.name()) }
                                form method="post" action="/logout" class="inline" {
                                    (csrf_field(v))
                                    button type="submit" class="button button--secondary" { "Log out" }
                                }
                            }
                        }
                    }
                }
                main id="main" class="main" tabindex="-1" {
                    (main)
                }
            }
        }
    }
}

/// The hidden field carrying the session's CSRF token: inside every form a session posts.
pub fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.session.csrf_token); }
}

/// An error in one form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The `id` of the field in error.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl FieldError {
    /// An error of `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// The error summary at the top of a form: empty without errors.
pub fn error_summary(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus {
                h2 id="error-summary-title" class="error-summary__title" { "There is a problem" }
                ul class="error-summary__list" {
                    @for e in errors {
                        li { a href={ "#" (e.field) } { (e.message) } }
                    }
                }
            }
        }
    }
}

/// The message of `field`'s error, if any.
pub fn error_of<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// One labelled input with its hint and error. `kind` is the input type.
#[allow(clippy::too_many_arguments)]
pub fn field(
    errors: &[FieldError],
    id: &'static str,
    name: &str,
    label: &str,
    hint: Option<&str>,
    kind: &str,
    value: &str,
    autocomplete: &str,
) -> Markup {
    let err = error_of(errors, id);
    let described = match (hint.is_some(), err.is_some()) {
        (true, true) => format!("{id}-hint {id}-error"),
        (true, false) => format!("{id}-hint"),
        (false, true) => format!("{id}-error"),
        (false, false) => String::new(),
    };
    html! {
        div class=(if err.is_some() { "form-group form-group--error" } else { "form-group" }) {
            label class="label" for=(id) { (label) }
            @if let Some(h) = hint { p class="hint" id={ (id) "-hint" } { (h) } }
            @if let Some(e) = err { p class="field-error" id={ (id) "-error" } { span class="visually-hidden" { "Error: " } (e) } }
            input class="input" id=(id) name=(name) type=(kind) value=(value)
                autocomplete=(autocomplete) spellcheck="false"
                aria-describedby=[(!described.is_empty()).then_some(described.as_str())]
                aria-invalid=[err.map(|_| "true")];
        }
    }
}

/// Makes an HTML response.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

/// A page with a heading and a paragraph, outside any session.
pub fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    html_response(status, page(None, "", title, message_body(title, text)))
}

fn message_body(title: &str, text: &str) -> Markup {
    html! {
        h1 { (title) }
        p { (text) }
        p { a href="/" { "Go to the dashboard" } }
    }
}

/// The 503 page for a store that did not answer: logs the error with `page` (which page
/// could not read it) and tells the person `title` and to try again.
pub fn store_down(e: &spoor_bank::BankError, page: &str, title: &str) -> Response {
    tracing::error!(error = %e, page, "a console page cannot reach the store");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        title,
        "The console could not reach its store. Try again in a moment.",
    )
}

/// The 404 page.
pub fn not_found_page() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Check the address, or start again from the dashboard.",
    )
}

/// The 403 page for a person whose role may not open a page.
pub fn forbidden_page(v: &Viewer) -> Response {
    let title = "You cannot open this page";
    html_response(
        StatusCode::FORBIDDEN,
        page(
            Some(v),
            "",
            title,
            html! {
                h1 { (title) }
                p { "Your role (" (v.user.role.name()) ") does not give access to this page. \
                     This was recorded. If you need it for your work, ask an administrator." }
                p { a href="/" { "Go to the dashboard" } }
            },
        ),
    )
}

/// The 403 page for a form that did not carry its token.
pub fn csrf_page() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form could not be accepted",
        "The form was not sent from this console's current page, or it has expired, so nothing \
         was done. Go back, reload the page and send it again.",
    )
}
