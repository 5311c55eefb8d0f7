//! Sessions, access by role, and CSRF.
//!
//! The session cookie (`spoor_session`; `__Host-spoor_session` with `Secure` when served over
//! TLS) is `HttpOnly`, `SameSite=Strict`, `Path=/` and carries a random token whose SHA-256 the
//! store keeps. Every page behind a session is wrapped by [`pages`] with the roles that may open
//! it; its guard, in order:
//!
//! 1. no cookie or an unknown session: redirect to `/login`;
//! 2. a session past its idle or absolute timeout: deleted (by the store), audited
//!    (`session_expired`), cookie cleared, redirect to `/login?expired=…`;
//! 3. a role the route does not allow: the 403 page, audited (`forbidden`, with the path);
//! 4. for every method but GET/HEAD: the form's `csrf` field (URL-encoded bodies), or the
//!    `csrf` query parameter (other bodies, such as uploads), must equal the session's token,
//!    compared in constant time; otherwise the 403 page and nothing is done;
//! 5. the handler runs with the [`Viewer`] in the request's extensions.
//!
//! Before login (the login and setup forms) there is no session: those forms carry a
//! pre-session token that must equal the `spoor_pre` cookie (`SameSite=Strict`, `HttpOnly`), a
//! double-submit check. Every form post, with or without a session, is also refused when the
//! browser says it comes from another site ([`same_origin`]).

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use serde_json::json;
use spoor_bank::people::token_hash;
use spoor_bank::{model::now_ms, PersonRole, Session, SessionLookup, User};
use subtle::ConstantTimeEq;

use crate::audit::{self, Actor};
use crate::layout;
use crate::ConsoleState;

/// The person behind a request, with their live session. Handlers behind [`pages`] take it as an
/// extractor.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The person, as the store has them now.
    pub user: User,
    /// Their session (its CSRF token goes into every form: [`layout::csrf_field`]).
    pub session: Session,
    /// SHA-256 of the session's token.
    pub(crate) token_hash: [u8; 32],
    /// For reviewers: what they were exposed to today and the daily guide, shown on every page.
    pub exposure: Option<(crate::review::Exposure, u32)>,
}

impl Viewer {
    /// Whether the person's role is one of `roles`.
    pub fn may(&self, roles: &[PersonRole]) -> bool {
        roles.contains(&self.user.role)
    }

    /// The person as the change log and the audit log name an actor: `user:NAME`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a console page is not behind the session guard");
            layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This page is not set up correctly. Tell your administrator.",
            )
        })
    }
}

/// Who may open a group of pages.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// Roles allowed; every other role gets the 403 page.
    pub roles: &'static [PersonRole],
}

/// Puts every route of `routes` behind a session of a person with one of `roles` (and the CSRF
/// check on every form post). Pages added to the console go through here.
pub fn pages(
    state: &ConsoleState,
    roles: &'static [PersonRole],
    routes: Router<ConsoleState>,
) -> Router<ConsoleState> {
    routes.route_layer(middleware::from_fn_with_state((state.clone(), Access { roles }), guard))
}

/// The name of the session cookie.
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-spoor_session"
    } else {
        "spoor_session"
    }
}

/// The name of the pre-session cookie (login and setup forms).
pub fn pre_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-spoor_pre"
    } else {
        "spoor_pre"
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when asked.
/// `max_age` in seconds; `None` for a cookie that ends with the browser session.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        s.push_str("; Secure");
    }
    if let Some(a) = max_age {
        s.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(name: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", secure, Some(0))
}

/// The value of cookie `name`, if the request has it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The client's address: the TCP peer (a reverse proxy's address when behind one). `None` when
/// the server was not started with connection info (tests that drive the router directly).
pub fn client_addr(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The value of `key` in a URL-encoded form or query string.
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut it = pair.splitn(2, |&b| b == b'=');
        let k = percent_decode(it.next()?)?;
        (k == key).then(|| percent_decode(it.next().unwrap_or_default())).flatten()
    })
}

/// Every value of `key` in a URL-encoded form (checkboxes of one name), in order; values that do
/// not decode are left out.
pub fn form_values(body: &[u8], key: &str) -> Vec<String> {
    body.split(|&b| b == b'&')
        .filter_map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let k = percent_decode(it.next()?)?;
            (k == key).then(|| percent_decode(it.next().unwrap_or_default())).flatten()
        })
        .collect()
}

fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a form post comes from this site. Browsers that send `Sec-Fetch-Site` must say
/// `same-origin`; otherwise an `Origin` that names a host must name this one. (With
/// `Referrer-Policy: no-referrer` browsers send `Origin: null` on form posts, which tells
/// nothing; the form's token still decides.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin");
    }
    match get("origin") {
        None | Some("null") => true,
        Some(origin) => {
            let host = get("host").unwrap_or("");
            let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    }
}

fn to_login(state: &ConsoleState, expired: Option<&str>) -> Response {
    let to = match expired {
        Some(why) => format!("/login?expired={why}"),
        None => "/login".to_string(),
    };
    let mut r = Redirect::to(&to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        clear_cookie(session_cookie(state.config.secure_cookies), state.config.secure_cookies),
    );
    r
}

/// Largest form body the CSRF check reads.
const MAX_FORM: usize = 64 << 10;

/// The guard of [`pages`]: see the module documentation.
async fn guard(
    State((state, access)): State<(ConsoleState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let secure = state.config.secure_cookies;
    let Some(token) = cookie(req.headers(), session_cookie(secure)) else {
        return to_login(&state, None);
    };
    let hash = token_hash(&token);
    let limits = state.config.session_limits();
    let looked = state.blocking(move |store| store.touch_session(&hash, now_ms(), limits)).await;
    let found = match looked {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read a console session");
            return layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The console cannot reach its store",
                "Sessions are kept in the store, which did not answer. Try again in a moment.",
            );
        }
        Err(r) => return r,
    };
    let viewer = match found {
        SessionLookup::Active { session, user } => {
            Viewer { user, session, token_hash: hash, exposure: None }
        }
        SessionLookup::Expired { user, why } => {
            let name = user.name.clone();
            let _ = state
                .blocking(move |store| {
                    audit::record(
                        store,
                        Actor::Person(&name),
                        "session_expired",
                        "user",
                        &name,
                        json!({ "timeout": why.name() }),
                    )
                })
                .await;
            return to_login(&state, Some(why.name()));
        }
        SessionLookup::Unknown => return to_login(&state, None),
    };
    if !viewer.may(access.roles) {
        let (name, path) = (viewer.user.name.clone(), req.uri().path().to_string());
        let role = viewer.user.role.name();
        let _ = state
            .blocking(move |store| {
                audit::record(
                    store,
                    Actor::Person(&name),
                    "forbidden",
                    "page",
                    &path,
                    json!({ "role": role }),
                )
            })
            .await;
        return layout::forbidden_page(&viewer);
    }
    let req = if req.method() == Method::GET || req.method() == Method::HEAD {
        req
    } else {
        match check_csrf(req, &viewer.session.csrf_token).await {
            Ok(req) => req,
            Err((unread, r)) => {
                tracing::warn!(user = %viewer.user.name, "a console form without its CSRF token was refused");
                return match unread {
                    Some(req) => drained(req, r).await,
                    None => r,
                };
            }
        }
    };
    let mut viewer = viewer;
    if viewer.may(crate::review::REVIEWERS) {
        viewer.exposure =
            state.exposure_today(&viewer.user.name).await.map(|e| (e, state.config.exposure_guide));
    }
    let mut req = req;
    req.extensions_mut().insert(viewer);
    next.run(req).await
}

/// How much of a refused request's body is read before the answer, so that a client still
/// sending it gets the answer rather than a broken connection.
const DRAIN_LIMIT: usize = 8 << 20;
/// How long reading it may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers `resp` to `req` after reading (and dropping) up to [`DRAIN_LIMIT`] of its body.
async fn drained(req: Request, resp: Response) -> Response {
    let body = req.into_body();
    let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
    resp
}

/// Checks a state-changing request's CSRF token; hands the request back (body intact) when it
/// is right. A refusal hands back the request too when its body was not read.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, (Option<Request>, Response)> {
    if !same_origin(req.headers()) {
        return Err((Some(req), layout::csrf_page()));
    }
    let from_query = req.uri().query().and_then(|q| form_value(q.as_bytes(), "csrf"));
    if let Some(t) = from_query {
        return if same_token(&t, expected) {
            Ok(req)
        } else {
            Err((Some(req), layout::csrf_page()))
        };
    }
    let urlencoded = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err((Some(req), layout::csrf_page()));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
        let page = layout::error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form is too large",
            "The form sent more than the console accepts. Shorten what you entered and try again.",
        );
        (None, page)
    })?;
    match form_value(&bytes, "csrf") {
        Some(t) if same_token(&t, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err((None, layout::csrf_page())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_cookies() {
        assert_eq!(form_value(b"a=1&csrf=x%2By+z&b=", "csrf").as_deref(), Some("x+y z"));
        assert_eq!(form_value(b"a=1&b=", "b").as_deref(), Some(""));
        assert_eq!(form_value(b"a=1", "csrf"), None);
        assert_eq!(form_value(b"csrf=%zz", "csrf"), None);
        assert_eq!(form_value(b"csrf=%4", "csrf"), None);
        assert_eq!(form_values(b"bank=A&x=1&bank=B%5F2&bank=%zz", "bank"), ["A", "B_2"]);
        assert!(form_values(b"x=1", "bank").is_empty());
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; spoor_session=tok; b=2"));
        assert_eq!(cookie(&h, "spoor_session").as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "spoor"), None);
        let c = set_cookie("__Host-spoor_session", "t", true, None);
        assert_eq!(c, "__Host-spoor_session=t; Path=/; HttpOnly; SameSite=Strict; Secure");
        assert_eq!(
            clear_cookie("spoor_pre", false),
            "spoor_pre=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:5100"));
        assert!(
            same_origin(&h),
            "no Origin: a same-origin GET-initiated form post of old browsers"
        );
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:5100"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h), "no-referrer makes browsers send null: the token decides");
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }
}
