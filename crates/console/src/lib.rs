//! Spoor's console: the pages people use in a browser, served by `spoor serve` on the same port
//! as the API.
//!
//! Server-rendered HTML ([`maud`] templates: typed, every value escaped), one vendored
//! stylesheet served from the binary at a versioned path, no script at all, nothing from another
//! origin. People log in with name, password (argon2id) and a TOTP code; sessions live in the
//! store (so replicas share them) and end after an idle and an absolute timeout.
//!
//! * [`router`] builds every console route over a [`ConsoleState`].
//! * [`session`]: the session cookie, the [`session::Viewer`] every page gets, access by role
//!   ([`session::Access`], deny by default) and the CSRF check on every form post.
//! * [`layout`]: the page frame, form error summaries, the 403/404 pages.
//! * [`activity`]: the per-process request and match counters the dashboard draws.
//!
//! Pages: `/` (dashboard, everyone), `/users` (people, administrators), `/keys` (API keys,
//! administrators), `/audit` (the audit log and its verification, administrators and auditors),
//! `/reports` (reports to NCMEC and the EU Centre, administrators and auditors; a retry,
//! administrators).
//!
//! Invariants (tests in `crates/cli/tests/console.rs` unless said otherwise): every console
//! response carries the security headers of [`security_headers`] and `Cache-Control: no-store`
//! (except the immutable stylesheet); a page is shown only to a live session of a person whose
//! role the route allows, and a refused role gets the 403 page and is audited; a POST whose form
//! lacks the session's CSRF token (or, before login, the pre-session token) changes nothing; a
//! failed login says the same whatever was wrong; passwords are hashed and checked off the async
//! threads; no password, code, secret or token is logged or audited.

// A refusal is a finished page: handlers and helpers return it as their error.
#![allow(clippy::result_large_err)]

pub mod activity;
pub mod annual;
pub mod audit;
pub mod layout;
pub mod password;
pub mod session;
pub mod totp;

pub mod banks;
pub mod complaints;
pub mod entries;
pub mod reports;
pub mod review;
pub mod statistics;
pub mod transfer;

mod annual_page;
mod audit_log;
mod dashboard;
mod exchanges;
mod keys;
mod login;
mod setup;
mod users;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use spoor_bank::{PersonRole, SessionLimits, Store};
use spoor_matcher::Matcher;

pub use activity::Activity;
pub use session::{Access, Viewer};
pub use transfer::long_running;

/// Console settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// A session unused for this long is over (default 30 minutes).
    pub idle_timeout: Duration,
    /// A session this old is over, however busy (default 12 hours).
    pub max_age: Duration,
    /// Mark cookies `Secure` and give them the `__Host-` prefix: on when the service is served
    /// over TLS (or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Consecutive failed logins that lock an account (default 5).
    pub max_failed_logins: u32,
    /// How long a locked account stays locked (default 15 minutes).
    pub lockout: Duration,
    /// Login and setup attempts one client address may make a minute (default 20).
    pub attempts_per_minute: u32,
    /// How long setup links made in the console work (default 72 hours).
    pub setup_ttl: Duration,
    /// Largest file the console imports in one upload (default 4 GiB; larger lists go through
    /// `spoor bank import`).
    pub max_import_bytes: u64,
    /// How long "review next" holds a case for its reviewer (default 15 minutes).
    pub review_lease: Duration,
    /// Items a reviewer may see a day before the console asks for a break (0: no guide).
    pub exposure_guide: u32,
    /// Largest image the console decodes for a rendition, in pixels.
    pub max_pixels: u64,
    /// How long a complaint may wait for its re-review before it is overdue (default 7 days).
    pub complaint_deadline: Duration,
    /// What the annual report is made from beyond the records (the deployment's statements,
    /// the retention policy in force, the latest `spoor eval` run).
    pub annual: annual::Sources,
    /// Exchanges set up here may only name loopback sources (the service connects out to
    /// nothing else: tests).
    pub loopback_only: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            attempts_per_minute: 20,
            setup_ttl: Duration::from_secs(72 * 3600),
            max_import_bytes: 4 << 30,
            review_lease: Duration::from_secs(15 * 60),
            exposure_guide: 100,
            max_pixels: spoor_media::Limits::default().max_pixels,
            complaint_deadline: Duration::from_secs(7 * 24 * 3600),
            annual: annual::Sources::default(),
            loopback_only: false,
        }
    }
}

impl ConsoleConfig {
    /// The session timeouts, as the store takes them.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            idle_ms: self.idle_timeout.as_millis().clamp(1, i64::MAX as u128) as i64,
            max_age_ms: self.max_age.as_millis().clamp(1, i64::MAX as u128) as i64,
        }
    }
}

/// Everything the console's handlers need; cheap to clone.
#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

/// The shared parts of [`ConsoleState`].
pub struct Inner {
    /// The store: banks, people, sessions.
    pub store: Arc<dyn Store>,
    /// The matcher, for the dashboard's figures.
    pub matcher: Arc<Matcher>,
    /// This process's request and match counters.
    pub activity: Arc<Activity>,
    /// Settings.
    pub config: ConsoleConfig,
    /// Login and setup attempts per client address.
    attempts: governor::DefaultKeyedRateLimiter<IpAddr>,
    /// Imports started in this process.
    pub imports: transfer::Imports,
    /// Held case content, for renditions (`None`: no case content is held).
    pub vault: Option<Arc<spoor_case::Vault>>,
    /// Each person's reveal step per case, in this process (a new process starts from the
    /// strongest blur again: the safe side).
    reveals: std::sync::Mutex<std::collections::HashMap<(i64, i64), review::Reveal>>,
    /// Told of every case decided in the console (the service adds it to its index of
    /// decided content and notifies the submitter).
    on_decided: OnceLock<DecidedHook>,
    /// The outbox message a decision in the console sends (stored with the decision).
    notify: OnceLock<NotifyHook>,
    /// What a complaint decided in the console sets going (stored with the decision).
    complaint_hook: OnceLock<ComplaintHook>,
    /// Each reviewer's exposure today as last counted, and when (for the counter on every page).
    exposures:
        std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, review::Exposure)>>,
    /// Each reviewer's starting view as last read, and when.
    start_views:
        std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, review::Reveal)>>,
}

/// How long a reviewer's counted exposure is shown before it is counted again from the audit
/// log (pictures and reveals in this process count it again at once).
pub const EXPOSURE_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// What a case decided in the console sets going: the submitter's webhook message, reports.
pub type NotifyHook =
    Arc<dyn Fn(&spoor_bank::cases::Case) -> spoor_bank::cases::Effects + Send + Sync>;

/// What a complaint decided in the console sets going: the outcome and restore messages, the
/// follow-ups to receivers of its case's reports.
pub type ComplaintHook = Arc<
    dyn Fn(
            &spoor_bank::complaints::Complaint,
            &spoor_bank::cases::Case,
            &[spoor_bank::reports::Report],
        ) -> Vec<spoor_bank::cases::Message>
        + Send
        + Sync,
>;

/// What the service does with a case decided in the console.
pub type DecidedHook = Arc<dyn Fn(&spoor_bank::cases::Case) + Send + Sync>;

impl std::ops::Deref for ConsoleState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl ConsoleState {
    /// State over the service's store, matcher and activity counters.
    pub fn new(
        store: Arc<dyn Store>,
        matcher: Arc<Matcher>,
        activity: Arc<Activity>,
        config: ConsoleConfig,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.attempts_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let attempts = governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute));
        ConsoleState(Arc::new(Inner {
            store,
            matcher,
            activity,
            config,
            attempts,
            imports: transfer::Imports::default(),
            vault: None,
            reveals: Default::default(),
            on_decided: OnceLock::new(),
            notify: OnceLock::new(),
            complaint_hook: OnceLock::new(),
            exposures: Default::default(),
            start_views: Default::default(),
        }))
    }

    /// The same state holding case content in `vault` (right after [`ConsoleState::new`]).
    pub fn with_vault(mut self, vault: Option<Arc<spoor_case::Vault>>) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.vault = vault,
            None => unreachable!("with_vault is called on a new state"),
        }
        self
    }

    /// Sets what happens to a case decided in the console (once).
    pub fn on_decided(&self, hook: DecidedHook) {
        let _ = self.on_decided.set(hook);
    }

    /// `person`'s exposure today, counted from the audit log at most every [`EXPOSURE_TTL`]
    /// (`None` when the store does not answer: the page is shown without it).
    pub(crate) async fn exposure_today(&self, person: &str) -> Option<review::Exposure> {
        let fresh = {
            let cache = self.exposures.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(person).filter(|(at, _)| at.elapsed() < EXPOSURE_TTL).map(|(_, e)| *e)
        };
        if fresh.is_some() {
            return fresh;
        }
        let who = person.to_string();
        let counted = self.blocking(move |store| review::exposure(store, &who)).await;
        match counted {
            Ok(Ok(e)) => {
                let mut cache = self.exposures.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(person.to_string(), (std::time::Instant::now(), e));
                Some(e)
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot count a reviewer's exposure");
                None
            }
            Err(_) => None,
        }
    }

    /// Counts `person`'s exposure again on their next page (a picture or a reveal was shown).
    pub(crate) fn forget_exposure(&self, person: &str) {
        self.exposures.lock().unwrap_or_else(|p| p.into_inner()).remove(person);
    }

    /// Sets what a case decided in the console sets going (once): its webhook message, its
    /// reports.
    pub fn notify_with(&self, hook: NotifyHook) {
        let _ = self.notify.set(hook);
    }

    /// Sets what a complaint decided in the console sets going (once).
    pub fn complaints_with(&self, hook: ComplaintHook) {
        let _ = self.complaint_hook.set(hook);
    }

    /// What deciding complaint `c` about `case` sets going.
    pub(crate) fn complaint_messages(
        &self,
        c: &spoor_bank::complaints::Complaint,
        case: &spoor_bank::cases::Case,
        reports: &[spoor_bank::reports::Report],
    ) -> Vec<spoor_bank::cases::Message> {
        self.complaint_hook.get().map(|h| h(c, case, reports)).unwrap_or_default()
    }

    /// What deciding `case` sets going.
    pub(crate) fn effects_for(&self, case: &spoor_bank::cases::Case) -> spoor_bank::cases::Effects {
        self.notify.get().map(|h| h(case)).unwrap_or_default()
    }

    pub(crate) fn decided(&self, case: &spoor_bank::cases::Case) {
        if let Some(h) = self.on_decided.get() {
            h(case);
        }
    }

    /// What `user` sees of `case` now: the steps they revealed on it in this process, else
    /// their starting view (counted from the store at most every [`EXPOSURE_TTL`]; the
    /// strongest blur when the store does not answer: the safe side).
    pub(crate) async fn view_of(&self, user: i64, case: i64) -> review::Reveal {
        let revealed = {
            let m = self.reveals.lock().unwrap_or_else(|p| p.into_inner());
            m.get(&(user, case)).copied()
        };
        if let Some(r) = revealed {
            return r;
        }
        self.start_view(user).await
    }

    /// `user`'s starting view (see [`ConsoleState::view_of`]).
    pub(crate) async fn start_view(&self, user: i64) -> review::Reveal {
        let cached = {
            let m = self.start_views.lock().unwrap_or_else(|p| p.into_inner());
            m.get(&user).filter(|(at, _)| at.elapsed() < EXPOSURE_TTL).map(|(_, r)| *r)
        };
        if let Some(r) = cached {
            return r;
        }
        match self.blocking(move |store| store.review_view(user)).await {
            Ok(Ok(v)) => {
                let r = review::Reveal { blur: v.blur, colour: v.colour };
                let mut m = self.start_views.lock().unwrap_or_else(|p| p.into_inner());
                if m.len() > 10_000 {
                    m.clear();
                }
                m.insert(user, (std::time::Instant::now(), r));
                r
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read a reviewer's starting view; showing the strongest blur");
                review::Reveal::default()
            }
            Err(_) => review::Reveal::default(),
        }
    }

    /// Forgets `user`'s cached starting view (they set a new one).
    pub(crate) fn forget_start_view(&self, user: i64) {
        self.start_views.lock().unwrap_or_else(|p| p.into_inner()).remove(&user);
    }

    pub(crate) fn set_reveal(&self, user: i64, case: i64, r: review::Reveal) {
        let mut m = self.reveals.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert((user, case), r);
    }

    pub(crate) fn forget_reveals(&self, case: i64) {
        let mut m = self.reveals.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|(_, c), _| *c != case);
    }

    /// Takes one login or setup attempt for `addr`; false when it is over its limit.
    pub(crate) fn attempt_allowed(&self, addr: IpAddr) -> bool {
        if self.attempts.len() > 100_000 {
            self.attempts.retain_recent();
        }
        self.attempts.check_key(&addr).is_ok()
    }

    /// Records, before a page shows it, what `v` is about to be shown
    /// ([`audit::record_view`], on a blocking thread); `Err` is the page to answer instead.
    pub async fn record_view(
        &self,
        v: &Viewer,
        action: &'static str,
        object_kind: &'static str,
        object_id: &str,
        details: serde_json::Value,
    ) -> Result<(), Response> {
        let (person, id) = (v.user.name.clone(), object_id.to_string());
        self.blocking(move |store| {
            audit::record_view(store, &person, action, object_kind, &id, details)
        })
        .await?
    }

    /// Runs store work (or password hashing) on a blocking thread: the PostgreSQL client blocks,
    /// and argon2 takes tens of milliseconds.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store)).await.map_err(|e| {
            tracing::error!(error = %e, "a console task failed");
            layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The request could not be completed. Try again; if it keeps failing, tell your \
                 administrator (the service log has the details).",
            )
        })
    }
}

/// The stylesheet, from the binary.
const CSS: &str = include_str!("../static/console.css");

/// The stylesheet's path, versioned by its content: `/static/console-<12 hex digits>.css`.
pub fn stylesheet_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let h = Sha256::digest(CSS.as_bytes());
        let hex: String = h.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("/static/console-{hex}.css")
    })
}

async fn stylesheet(Path(file): Path<String>) -> Response {
    if format!("/static/{file}") != stylesheet_path() {
        return layout::not_found_page();
    }
    let mut r = CSS.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

/// The Content-Security-Policy of every console response: nothing but this origin's stylesheet
/// and images, forms only to this origin, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers to a response (those it does not set itself), and
/// `Cache-Control: no-store` unless it has a cache policy of its own.
pub fn security_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    if h.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")) {
        set(
            h,
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        );
    }
}

async fn with_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    security_headers(r.headers_mut());
    r
}

/// Whether a request comes from a browser that wants a page (its `Accept` names `text/html`),
/// rather than an API client.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/html")))
}

/// The HTML 404 page, with the console's headers, for a browser that asked for an unknown path.
pub fn not_found_response() -> Response {
    let mut r = layout::not_found_page();
    security_headers(r.headers_mut());
    r
}

/// Largest console form body.
const MAX_FORM_BYTES: usize = 64 << 10;

/// Every console route, over `state`: the login and setup pages (no session), and the pages
/// behind a session, each with the roles that may see it. Anything not listed is someone else's
/// (the API) or the service's 404.
pub fn router(state: ConsoleState) -> Router {
    use PersonRole::*;
    const ALL: &[PersonRole] = &[Admin, Curator, Reviewer, Auditor];
    const ADMIN: &[PersonRole] = &[Admin];
    const CURATE: &[PersonRole] = &[Admin, Curator];
    const AUDIT: &[PersonRole] = &[Admin, Auditor];
    let open = Router::new()
        .route("/login", get(login::page).post(login::submit))
        .route("/setup/{token}", get(setup::page))
        .route("/setup/{token}/password", post(setup::password))
        .route("/setup/{token}/totp", post(setup::confirm))
        .route("/static/{file}", get(stylesheet));
    let everyone = session::pages(
        &state,
        ALL,
        Router::new().route("/", get(dashboard::page)).route("/logout", post(login::logout)),
    );
    let admin = session::pages(
        &state,
        ADMIN,
        Router::new()
            .route("/users", get(users::list).post(users::create))
            .route("/users/{name}/disable", post(users::disable))
            .route("/users/{name}/reset", post(users::reset))
            .route("/users/{name}/role", post(users::role))
            .route("/users/{name}/queues", post(users::queues))
            .route("/keys", get(keys::list).post(keys::create))
            .route("/keys/revoke", post(keys::revoke)),
    );
    let exchange_read = session::pages(
        &state,
        exchanges::READERS,
        Router::new()
            .route("/exchanges", get(exchanges::list))
            .route("/exchanges/{name}", get(exchanges::page)),
    );
    let exchange_write = session::pages(
        &state,
        ADMIN,
        Router::new()
            .route("/exchanges", post(exchanges::create))
            .route("/exchanges/remove", post(exchanges::remove)),
    );
    let review = session::pages(
        &state,
        review::REVIEWERS,
        Router::new()
            .route("/review", get(review::queues))
            .route("/review/next", post(review::next))
            .route("/review/view", post(review::set_start_view))
            .route("/cases/{id}", get(review::page))
            .route("/cases/{id}/rendition", get(review::rendition))
            .route("/cases/{id}/reveal", post(review::reveal))
            .route("/cases/{id}/decide", post(review::decide))
            .route("/cases/{id}/release", post(review::release)),
    );
    let false_positives = session::pages(
        &state,
        CURATE,
        Router::new()
            .route("/review/false-positives", get(review::false_positives))
            .route("/review/false-positives/{id}/disable", post(review::disable_false_positive)),
    );
    let audit = session::pages(
        &state,
        AUDIT,
        Router::new()
            .route("/audit", get(audit_log::page))
            .route("/audit/verify", post(audit_log::verify)),
    );
    let read_reports = session::pages(
        &state,
        reports::READERS,
        Router::new()
            .route("/reports", get(reports::list))
            .route("/reports/{id}", get(reports::page)),
    );
    let statistics = session::pages(
        &state,
        statistics::READERS,
        Router::new()
            .route("/statistics", get(statistics::page))
            .route("/statistics/annual", get(annual_page::page))
            .route("/statistics/annual/download", get(annual_page::download)),
    );
    let complaints = session::pages(
        &state,
        complaints::DECIDERS,
        Router::new()
            .route("/complaints", get(complaints::list))
            .route("/complaints/{id}", get(complaints::page))
            .route("/complaints/{id}/decide", post(complaints::decide)),
    );
    let follow_ups = session::pages(
        &state,
        reports::RETRIERS,
        Router::new()
            .route("/reports/follow-ups/{id}/done", post(reports::follow_up_done))
            .route("/cases/{id}/legal-hold", post(review::legal_hold)),
    );
    let retry_reports = session::pages(
        &state,
        reports::RETRIERS,
        Router::new().route("/reports/{id}/retry", post(reports::retry)),
    );
    let curate = session::pages(
        &state,
        CURATE,
        Router::new()
            .route("/banks", get(banks::list).post(banks::create))
            .route("/banks/{name}", get(banks::show))
            .route("/banks/{name}/settings", get(banks::settings).post(banks::save_settings))
            .route("/banks/{name}/state", post(banks::set_state))
            .route("/banks/{name}/entries/{id}", get(entries::page).post(entries::change))
            .route("/banks/{name}/import", get(transfer::import_form))
            .route("/banks/{name}/imports/{id}", get(transfer::import_status))
            .route("/banks/{name}/export", get(transfer::export_form))
            .route("/banks/{name}/export/download", get(transfer::export_download)),
    );
    // The upload streams into the importer, bounded by `max_import_bytes` as it goes.
    let upload = session::pages(
        &state,
        CURATE,
        Router::new()
            .route("/banks/{name}/import", post(transfer::import_upload))
            .layer(DefaultBodyLimit::disable()),
    );
    Router::new()
        .merge(open)
        .merge(everyone)
        .merge(admin)
        .merge(exchange_read)
        .merge(exchange_write)
        .merge(curate)
        .merge(upload)
        .merge(review)
        .merge(false_positives)
        .merge(audit)
        .merge(read_reports)
        .merge(retry_reports)
        .merge(complaints)
        .merge(statistics)
        .merge(follow_ups)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn(with_headers))
        .with_state(state)
}
