//! Spoor's HTTP service: matching (signals and uploads), hashing, and bank curation, behind API
//! keys with roles, following the banks' change log live.
//!
//! [`app`] builds the router from an [`AppState`] (so tests can drive it directly); [`serve`]
//! opens the store, loads the matcher, starts the follower and the key refresher, and serves
//! until SIGTERM or Ctrl-C, finishing the requests in flight.
//!
//! Invariants: no route returns an entry's value to a key that is not curator or admin; every
//! write carries the calling key's name as its actor; uploaded bytes are never written anywhere;
//! keys are compared in constant time and never logged; no request body is read before its key
//! is authenticated and authorised ([`guard`]); matching batches and hashing run on a bounded
//! blocking pool with a work budget ([`work`]), never on the async threads.

pub mod auth;
pub mod cases;
pub mod complaining;
pub mod delivery;
pub mod error;
pub mod exchange;
pub mod exchanges_api;
pub mod fetch;
pub mod guard;
pub mod hma;
pub mod openapi;
pub mod probe;
pub mod reporting;
pub mod reports_api;
pub mod retention;
pub mod routes;
pub mod statistics_api;
pub mod tls;
pub mod usage;
pub mod video;
pub mod webhook;
pub mod wire;
pub mod work;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_bank::{Location, Store};
use spoor_matcher::Matcher;

use crate::auth::KeyCache;
pub use crate::video::VideoConfig;
pub use crate::webhook::WebhookConfig;

/// Service settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest upload, in bytes.
    pub max_upload_bytes: usize,
    /// Largest image, in pixels (checked from the header before decoding).
    pub max_pixels: u64,
    /// Requests a second each key may make (0: no limit).
    pub rate_limit: u32,
    /// How often the change log is polled.
    pub follow_interval: Duration,
    /// How long a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Uploads read at once; more are answered 503 with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Most new cases written in one group commit (1: each case alone; for comparisons).
    pub intake_group: usize,
    /// Matching batches and hashing jobs run at once (default: one a core).
    pub work_slots: usize,
    /// How long a matching batch or a hashing job may wait and run before it answers 503.
    pub match_budget: Duration,
    /// Data routes answer 503 when the keys could not be re-read for longer than this.
    pub key_max_staleness: Duration,
    /// `/ready` answers 503 when the follower has not read the change log for longer than this.
    pub ready_max_lag: Duration,
    /// Where HMA's routes are served (`/hma`; `None`: not served). See [`hma`].
    pub hma_prefix: Option<String>,
    /// Fetching media by URL (HMA's `url=`): `None` (the default) refuses every URL. See
    /// [`fetch`].
    pub fetch: Option<fetch::FetchConfig>,
    /// Probe detection thresholds.
    pub probe: probe::ProbeConfig,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<TlsFiles>,
    /// The matcher snapshot: loaded at start when valid (then only the change log since it is
    /// read), rewritten every `snapshot_every` changes and at a clean shutdown. `None`: every
    /// start reads every signal from the store.
    pub snapshot: Option<PathBuf>,
    /// Changes applied between two snapshots.
    pub snapshot_every: u64,
    /// The console's settings (sessions, login limits).
    pub console: spoor_console::ConsoleConfig,
    /// Where case content waiting for review is held, encrypted (`None`: cases that need
    /// review cannot hold content, and their submissions answer 503).
    pub media: Option<MediaConfig>,
    /// How long held content is kept after its case is decided.
    pub media_grace: Duration,
    /// Where decided cases are told of (`--case-webhook`), signed with this secret.
    pub case_webhook: Option<WebhookConfig>,
    /// Who confirmed cases are reported to, grouped how.
    pub report_policy: reporting::ReportPolicy,
    /// How reports are delivered (`None`: reports are kept, and no worker sends them).
    pub delivery: Option<delivery::DeliveryConfig>,
    /// Replaces DNS for the receivers' and exchange sources' addresses (tests refuse every
    /// name).
    pub resolver: Option<Resolver>,
    /// Outbound connections (reports, exchanges) go to loopback addresses only (tests).
    pub loopback_only: bool,
    /// How long a replica holds an exchange after each page it pulls.
    pub exchange_lease: Duration,
    /// How videos submitted as cases are decoded for vPDQ.
    pub video: VideoConfig,
    /// How long a complaint may wait for its re-review before it is overdue.
    pub complaint_deadline: Duration,
    /// How long each class of data is kept (`--retention FILE`); applied every hour.
    pub retention: spoor_bank::retention::Policy,
    /// Uploads to `/v1/match/upload` and `/v1/hash` are also looked at for a uniform frame, and
    /// what is inside it is hashed and matched too (`--match-unframed`).
    pub match_unframed: bool,
}

/// A replacement for DNS when reports are delivered.
#[derive(Clone)]
pub struct Resolver(pub Arc<dyn reqwest::dns::Resolve>);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

/// What a case made or decided under `config` sets going (its webhook message, its reports).
pub fn effects_of(config: &Config) -> reporting::Effector {
    Arc::new(reporting::effects(config.case_webhook.clone(), config.report_policy.clone()))
}

/// The media vault of `--media-key-file` and `--media-dir`.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The key file (made by `spoor keys media-keygen`).
    pub key_file: PathBuf,
    /// The directory of encrypted files.
    pub dir: PathBuf,
}

/// PEM files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5100)),
            max_body_bytes: 64 << 20,
            max_upload_bytes: 64 << 20,
            max_pixels: spoor_media::Limits::default().max_pixels,
            rate_limit: 0,
            follow_interval: Duration::from_millis(100),
            request_timeout: Duration::from_secs(60),
            max_concurrent_uploads: 16,
            intake_group: cases::MAX_GROUP,
            work_slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
            match_budget: Duration::from_secs(30),
            key_max_staleness: Duration::from_secs(30),
            ready_max_lag: Duration::from_secs(10),
            hma_prefix: Some(hma::DEFAULT_PREFIX.to_string()),
            fetch: None,
            probe: probe::ProbeConfig::default(),
            tls: None,
            snapshot: None,
            snapshot_every: 100_000,
            console: spoor_console::ConsoleConfig::default(),
            media: None,
            media_grace: Duration::from_secs(24 * 3600),
            case_webhook: None,
            report_policy: reporting::ReportPolicy::default(),
            delivery: None,
            resolver: None,
            loopback_only: false,
            exchange_lease: exchange::DEFAULT_LEASE,
            video: VideoConfig::default(),
            complaint_deadline: DEFAULT_COMPLAINT_DEADLINE,
            match_unframed: false,
            retention: spoor_bank::retention::Policy::default(),
        }
    }
}

/// How long a complaint may wait for its re-review unless configured: 7 days.
pub const DEFAULT_COMPLAINT_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts of [`AppState`].
pub struct Inner {
    /// The bank store, for curation routes.
    pub store: Arc<dyn Store>,
    /// The in-memory matching state.
    pub matcher: Arc<Matcher>,
    /// API keys.
    pub keys: Arc<KeyCache>,
    /// Settings.
    pub config: Config,
    /// Per-key rate limiter, when a limit is set.
    pub limiter: Option<governor::DefaultKeyedRateLimiter<Arc<str>>>,
    /// Upload permits (`--max-concurrent-uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Where matching batches and hashing run.
    pub pool: work::Pool,
    /// Per-key query histories.
    pub probes: probe::Probes,
    /// The store check of `/ready` in flight, if any (at most one at a time).
    pub ready_check: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<i64, String>>>>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The console's state (its store and matcher are these; it holds the activity counters).
    pub console: spoor_console::ConsoleState,
    /// Held case content (`--media-key-file`).
    pub vault: Option<Arc<spoor_case::Vault>>,
    /// Decided content, for "never view twice".
    pub cases: Arc<cases::Decided>,
    /// Fetches media by URL, when `--fetch-allow` names hosts.
    pub fetcher: Option<Arc<fetch::Fetcher>>,
    /// Writes new cases in groups.
    pub intake: cases::IntakeWriter,
    /// When the case gauges of `/metrics` were last counted from the store, and the open
    /// queues they named (set to 0 once empty).
    pub case_gauges: tokio::sync::Mutex<Option<cases::GaugesCounted>>,
    /// Lookups and matches counted, not yet written to the daily aggregates.
    pub usage: Arc<usage::Usage>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed by an embedding program; then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    /// State over an opened store and a loaded matcher, holding no case content.
    pub fn new(
        store: Arc<dyn Store>,
        matcher: Arc<Matcher>,
        keys: Arc<KeyCache>,
        config: Config,
    ) -> Self {
        Self::with_vault(store, matcher, keys, config, None)
    }

    /// State with the media vault that holds case content for review.
    pub fn with_vault(
        store: Arc<dyn Store>,
        matcher: Arc<Matcher>,
        keys: Arc<KeyCache>,
        config: Config,
        vault: Option<Arc<spoor_case::Vault>>,
    ) -> Self {
        let limiter = NonZeroU32::new(config.rate_limit)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_second(n)));
        let mut console_config = config.console.clone();
        console_config.max_pixels = config.max_pixels;
        console_config.complaint_deadline = config.complaint_deadline;
        console_config.loopback_only = config.loopback_only;
        console_config.annual.policy = config.retention.clone();
        let console = spoor_console::ConsoleState::new(
            store.clone(),
            matcher.clone(),
            Arc::new(spoor_console::Activity::new()),
            console_config,
        )
        .with_vault(vault.clone());
        let decided = Arc::new(cases::Decided::default());
        {
            // Cases decided in the console join the index of decided content at once, and
            // the submitter's webhook is told (its message stored with the decision), as for
            // decisions through the API.
            let decided = decided.clone();
            console.on_decided(Arc::new(move |c: &spoor_bank::cases::Case| decided.note(c)));
            console.notify_with(effects_of(&config));
            let complaints = complaining::config_of(&config);
            console.complaints_with(Arc::new(move |c, case, reports| {
                complaining::messages(&complaints, c, case, reports)
            }));
        }
        let intake = cases::IntakeWriter::start(store.clone(), vault.clone(), effects_of(&config))
            .with_group(config.intake_group);
        let fetcher = config.fetch.as_ref().and_then(|f| match fetch::Fetcher::new(f) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                tracing::error!(error = %e, "cannot make the HTTP client that fetches media by URL: URLs are refused");
                None
            }
        });
        AppState(Arc::new(Inner {
            fetcher,
            intake,
            case_gauges: tokio::sync::Mutex::new(None),
            usage: Arc::default(),
            console,
            store,
            matcher,
            keys,
            limiter,
            uploads: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1))),
            pool: work::Pool::new(config.work_slots, config.match_budget),
            probes: probe::Probes::new(config.probe.clone()),
            ready_check: tokio::sync::Mutex::new(None),
            metrics: metrics_handle(),
            config,
            vault,
            cases: decided,
        }))
    }
}

async fn track(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = matched.map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("spoor_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("spoor_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// Answers 408 with the usual JSON error body when a request takes longer than the limit; the
/// request's future is dropped, which also stops its blocking job at its next budget check.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse as _;
    // Console imports and export downloads take as long as their file: their own bounds apply.
    if spoor_console::long_running(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error::ApiError {
            status: axum::http::StatusCode::REQUEST_TIMEOUT,
            code: "timeout",
            message: format!(
                "the request took longer than {} s: send smaller batches, or retry later",
                limit.as_secs()
            ),
        }
        .into_response(),
    }
}

/// The router: every route, its limits and middleware. Keyed routes are grouped by what they
/// require, each group behind the [`guard`] that authenticates before any body is read.
pub fn app(state: AppState) -> Router {
    use guard::Need;
    use spoor_bank::Role;
    use tower_http::trace::TraceLayer;
    let guarded = |need: Need| middleware::from_fn_with_state((state.clone(), need), guard::guard);
    let curate = Router::new()
        .route("/v1/banks", post(routes::create_bank).get(routes::list_banks))
        .route("/v1/banks/{name}", get(routes::get_bank).patch(routes::patch_bank))
        .route("/v1/banks/{name}/entries", post(routes::add_entries).get(routes::list_entries))
        .route("/v1/banks/{name}/entries/{id}", patch(routes::patch_entry))
        .route_layer(guarded(Need {
            roles: routes::CURATE,
            what: "read or change banks",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let changes = Router::new()
        .route("/v1/banks/{name}/changes", get(routes::bank_changes))
        .route_layer(guarded(Need {
            roles: routes::CHANGES,
            what: "read a bank's change log",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let exchange_read = Router::new()
        .route("/v1/exchanges", get(exchanges_api::list))
        .route("/v1/exchanges/{name}", get(exchanges_api::get_exchange))
        .route("/v1/exchanges/{name}/conflicts", get(exchanges_api::conflicts))
        .route_layer(guarded(Need {
            roles: exchanges_api::READ,
            what: "read exchanges",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let exchange_write = Router::new()
        .route("/v1/exchanges", post(exchanges_api::create))
        .route("/v1/exchanges/{name}", axum::routing::delete(exchanges_api::delete))
        .route_layer(guarded(Need {
            roles: exchanges_api::WRITE,
            what: "set up and remove exchanges",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let matching = Router::new()
        .route("/v1/match", get(routes::match_get).post(routes::match_post))
        .route_layer(guarded(Need { roles: routes::MATCH, what: "match", upload: false }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let match_upload = Router::new()
        .route("/v1/match/upload", post(routes::match_upload))
        .route_layer(guarded(Need { roles: routes::MATCH, what: "match", upload: true }))
        .layer(DefaultBodyLimit::max(state.config.max_upload_bytes));
    let hash = Router::new()
        .route("/v1/hash", post(routes::hash))
        .route_layer(guarded(Need {
            roles: &[Role::Admin, Role::Curator, Role::Matcher, Role::Hasher],
            what: "hash",
            upload: true,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_upload_bytes));
    let case_intake = Router::new()
        .route("/v1/cases", post(cases::submit))
        .route_layer(guarded(Need { roles: cases::SUBMIT, what: "submit cases", upload: true }))
        .layer(DefaultBodyLimit::max(state.config.max_upload_bytes));
    let case_read = Router::new()
        .route("/v1/cases", get(cases::list))
        .route("/v1/cases/{id}", get(cases::get_case))
        .route_layer(guarded(Need { roles: cases::READ, what: "read cases", upload: false }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let case_decide = Router::new()
        .route("/v1/cases/{id}/decision", post(cases::decide))
        .route_layer(guarded(Need { roles: cases::DECIDE, what: "decide cases", upload: false }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let case_admin = Router::new()
        .route("/v1/cases/{id}/do-not-inform", post(cases::no_inform))
        .route("/v1/cases/{id}/legal-hold", post(retention::legal_hold))
        .route_layer(guarded(Need {
            roles: &[Role::Admin],
            what: "hold user notices and put cases under legal hold",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let complaint_file = Router::new()
        .route("/v1/complaints", post(complaining::file))
        .route_layer(guarded(Need {
            roles: complaining::FILE,
            what: "file complaints",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let complaint_read = Router::new()
        .route("/v1/complaints", get(complaining::list))
        .route("/v1/complaints/{id}", get(complaining::get_complaint))
        .route_layer(guarded(Need {
            roles: complaining::READ,
            what: "read complaints",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let complaint_decide = Router::new()
        .route("/v1/complaints/{id}/decision", post(complaining::decide))
        .route_layer(guarded(Need {
            roles: complaining::DECIDE,
            what: "decide complaints",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let follow_up_read = Router::new()
        .route("/v1/follow-ups", get(complaining::follow_ups))
        .route_layer(guarded(Need {
            roles: reports_api::READ,
            what: "read follow-ups",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let follow_up_done = Router::new()
        .route("/v1/follow-ups/{id}/done", post(complaining::follow_up_done))
        .route_layer(guarded(Need {
            roles: complaining::FOLLOW_UPS,
            what: "record follow-ups made by hand",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let report_read = Router::new()
        .route("/v1/reports", get(reports_api::list))
        .route("/v1/reports/{id}", get(reports_api::get_report))
        .route_layer(guarded(Need {
            roles: reports_api::READ,
            what: "read reports",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let report_retry = Router::new()
        .route("/v1/reports/{id}/retry", post(reports_api::retry))
        .route_layer(guarded(Need {
            roles: reports_api::RETRY,
            what: "retry reports",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let statistics = Router::new()
        .route("/v1/statistics", get(statistics_api::statistics))
        .route_layer(guarded(Need {
            roles: statistics_api::READ,
            what: "read statistics",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let audit = Router::new()
        .route("/v1/audit", get(routes::audit_log))
        .route_layer(guarded(Need {
            roles: routes::AUDIT,
            what: "read the audit log",
            upload: false,
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let router = Router::new()
        .route("/health", get(routes::health))
        .route("/ready", get(routes::ready))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .merge(curate)
        .merge(changes)
        .merge(exchange_read)
        .merge(exchange_write)
        .merge(matching)
        .merge(match_upload)
        .merge(hash)
        .merge(report_read)
        .merge(statistics)
        .merge(complaint_file)
        .merge(complaint_read)
        .merge(complaint_decide)
        .merge(follow_up_read)
        .merge(follow_up_done)
        .merge(case_admin)
        .merge(report_retry)
        .merge(audit)
        .merge(case_intake)
        .merge(case_read)
        .merge(case_decide)
        .with_state(state.clone())
        .merge(spoor_console::router(state.console.clone()));
    // HMA's routes, under their prefix, and again with the key in the path for clients that
    // cannot send a header.
    let router = match &state.config.hma_prefix {
        Some(prefix) => router.nest(prefix, hma::router(&state)).nest(
            &format!("{prefix}/k/{{key}}"),
            hma::router(&state).layer(middleware::from_fn(hma::key_from_path)),
        ),
        None => router,
    };
    router
        .fallback(fallback)
        .route_layer(middleware::from_fn(track))
        .layer(middleware::from_fn_with_state(state.config.request_timeout, time_limit))
        // Spans name the path without a key in it (`/hma/k/…/m/lookup`).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!(
                "request",
                method = %req.method(),
                uri = %hma::redact(req.uri().path()),
                version = ?req.version(),
            )
        }))
}

/// Unknown routes: the console's HTML 404 page for a browser, the API's JSON error otherwise.
async fn fallback(headers: axum::http::HeaderMap) -> Response {
    use axum::response::IntoResponse as _;
    if spoor_console::wants_html(&headers) {
        spoor_console::not_found_response()
    } else {
        routes::not_found().await.into_response()
    }
}

/// Opens the store at `location`, loads every bank, and serves until SIGTERM or Ctrl-C.
pub async fn serve(location: Location, config: Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(f) = &config.fetch {
        fetch::Fetcher::new(f).context("cannot make the HTTP client that fetches media by URL")?;
    }
    let loc = location.clone();
    let snapshot = config.snapshot.clone();
    let (store, matcher): (Arc<dyn Store>, Arc<Matcher>) = tokio::task::spawn_blocking(move || {
        let store: Arc<dyn Store> = spoor_bank::open(&loc)?.into();
        // The matcher follows on its own connection, so polling never waits behind the API.
        let follower_store: Arc<dyn Store> = spoor_bank::open(&loc)?.into();
        let matcher = match &snapshot {
            Some(path) => {
                let (matcher, start) = Matcher::load_with_snapshot(follower_store, path)?;
                match start {
                    spoor_matcher::Start::Snapshot { seq, caught_up } => tracing::info!(
                        snapshot = %path.display(), seq, caught_up,
                        "started from the matcher snapshot and the change log since it"
                    ),
                    spoor_matcher::Start::Full { reason } => tracing::info!(
                        snapshot = %path.display(), %reason,
                        "loaded every signal from the store"
                    ),
                }
                matcher
            }
            None => Matcher::load(follower_store)?,
        };
        anyhow::Ok((store, Arc::new(matcher)))
    })
    .await??;
    let keys = Arc::new(KeyCache::default());
    {
        // Store calls block (the PostgreSQL client runs its own runtime): never on async threads.
        let (keys, store) = (keys.clone(), store.clone());
        tokio::task::spawn_blocking(move || keys.refresh(&*store))
            .await?
            .context("cannot read the API keys")?;
    }
    if keys.is_empty() {
        tracing::warn!("no API keys: every data route will answer 401; create one with `spoor keys create --role admin --name admin`");
    }
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    // Console cookies served over TLS are `Secure` and `__Host-` prefixed.
    let mut config = config;
    config.console.secure_cookies |= tls.is_some();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = matcher.follow_with(
        spoor_matcher::FollowOptions {
            interval: config.follow_interval,
            snapshot: config.snapshot.clone().map(|path| spoor_matcher::SnapshotPolicy {
                path,
                every_changes: config.snapshot_every,
                on_shutdown: true,
            }),
            ..Default::default()
        },
        stop.clone(),
    );
    let refresher = {
        let (keys, store, stop) = (keys.clone(), store.clone(), stop.clone());
        std::thread::Builder::new().name("spoor-keys".into()).spawn(move || {
            let mut failing = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                match keys.refresh(&*store) {
                    Ok(_) if failing => {
                        tracing::info!("API keys read again");
                        failing = false;
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        tracing::error!(error = %e, "cannot refresh the API keys; keeping the last ones read until --key-max-staleness passes, then data routes answer 503");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })?
    };
    let signals =
        ShutdownSignals::install().context("cannot install the SIGTERM/SIGINT handlers")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let stats = matcher.stats();
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, store = %store.describe(), pdq = stats.pdq_entries, exact = stats.exact_entries, banks = stats.banks, keys = keys.len(), "serving");
    eprintln!(
        "spoor: serving on {scheme}://{addr} ({} PDQ and {} exact entries in {} banks, {} API keys)",
        stats.pdq_entries,
        stats.exact_entries,
        stats.banks,
        keys.len()
    );
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving plain HTTP on a non-loopback address: API keys and match answers cross the network in clear text; use --tls-cert/--tls-key or a TLS reverse proxy");
    }
    let vault = match &config.media {
        Some(m) => {
            let key = spoor_case::MediaKey::read(&m.key_file).with_context(|| {
                format!("cannot use the media key file {}", m.key_file.display())
            })?;
            let vault = spoor_case::Vault::open(&m.dir, key)
                .with_context(|| format!("cannot open the media directory {}", m.dir.display()))?;
            tracing::info!(dir = %m.dir.display(), key = %vault.key_id(), "case content is held encrypted for review");
            Some(Arc::new(vault))
        }
        None => {
            tracing::warn!("no --media-key-file: cases that need review cannot hold their content, and such submissions answer 503");
            None
        }
    };
    let grace = config.media_grace;
    let webhook = match config.case_webhook.clone() {
        Some(cfg) => {
            tracing::info!(url = %webhook::url_for_logs(&cfg.url), "decided cases are told of through the case webhook");
            Some(webhook::spawn_worker(store.clone(), cfg, stop.clone())?)
        }
        None => None,
    };
    let reporters = match config.delivery.clone() {
        Some(cfg) => {
            tracing::info!(recipients = ?cfg.recipients(), workers = cfg.workers, ncmec = ?cfg.ncmec.as_ref().map(|n| (n.environment.to_string(), n.base_url.clone())), "confirmed cases are reported");
            delivery::spawn_workers(
                store.clone(),
                vault.clone(),
                cfg,
                config.resolver.clone().map(|r| r.0),
                stop.clone(),
            )?
        }
        None => Vec::new(),
    };
    let exchanges = {
        let client = delivery::client(
            (config.exchange_lease / 2).max(Duration::from_secs(1)),
            config.resolver.clone().map(|r| r.0),
        )
        .context("cannot make the exchanges' HTTP client")?;
        let mut id = [0u8; 4];
        getrandom::fill(&mut id).context("no randomness for the exchange follower's name")?;
        let holder = format!("exchange-{}-{}", std::process::id(), spoor_audit::hex(&id));
        exchange::spawn_follower(
            exchange::Follower {
                store: store.clone(),
                client,
                loopback_only: config.loopback_only,
                holder,
                lease: config.exchange_lease,
            },
            stop.clone(),
        )?
    };
    let state = AppState::with_vault(store.clone(), matcher.clone(), keys, config, vault.clone());
    {
        let (decided, store) = (state.cases.clone(), store.clone());
        let n = tokio::task::spawn_blocking(move || decided.catch_up(&*store))
            .await?
            .context("cannot read the decided cases")?;
        tracing::info!(decided = n, "decided content loaded (never view twice)");
    }
    let case_jobs = {
        let (decided, store, stop) = (state.cases.clone(), store.clone(), stop.clone());
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        // Held content goes at most a few seconds after its grace ends (every minute for
        // long graces).
        let purge_every = (grace / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let deadline = state.config.complaint_deadline;
        let deadline_ms = complaining::deadline_ms(deadline);
        // Overdue complaints are noticed within a minute (sooner for short deadlines).
        let watch_every = (deadline / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let policy = state.config.retention.clone();
        let session_max_age_ms =
            i64::try_from(state.config.console.max_age.as_millis()).unwrap_or(i64::MAX);
        let usage = state.usage.clone();
        std::thread::Builder::new().name("spoor-cases".into()).spawn(move || {
            let mut last_purge = std::time::Instant::now() - purge_every;
            let mut last_usage = std::time::Instant::now();
            let mut last_watch = std::time::Instant::now() - watch_every;
            // The first run a minute after start (not in the way of a restart), then hourly.
            let mut last_retention = std::time::Instant::now() - retention::EVERY + Duration::from_secs(60);
            let mut overdue = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                if last_retention.elapsed() >= retention::EVERY {
                    last_retention = std::time::Instant::now();
                    let now = spoor_bank::model::now_ms();
                    match retention::run(&*store, vault.as_deref(), &policy, session_max_age_ms, now, false, "system:retention") {
                        Ok(c) => tracing::info!(counts = ?c, "retention run"),
                        Err(e) => tracing::error!(error = %e, "retention: the run failed; it is tried again in an hour"),
                    }
                }
                if last_usage.elapsed() >= usage::EVERY {
                    last_usage = std::time::Instant::now();
                    if let Err(e) = usage.flush(&*store) {
                        tracing::warn!(error = %e, "cannot add lookups to the daily statistics; they are kept and tried again");
                    }
                }
                if last_watch.elapsed() >= watch_every {
                    last_watch = std::time::Instant::now();
                    let now = spoor_bank::model::now_ms();
                    match complaining::watch_deadline(&*store, deadline_ms, now, overdue) {
                        Ok(n) => overdue = n,
                        Err(e) => tracing::warn!(error = %e, "cannot count complaints against their deadline; retrying"),
                    }
                }
                if let Err(e) = decided.catch_up(&*store) {
                    tracing::warn!(error = %e, "cannot read new decisions; retrying");
                }
                // Entries disabled until a time (HMA's `disable_until_ts`) match again then.
                match spoor_bank::enable_due(&*store, spoor_bank::model::now_ms()) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "enabled entries whose timed disable ended"),
                    Err(e) => tracing::warn!(error = %e, "cannot enable entries whose timed disable ended; retrying"),
                }
                if let Some(v) = &vault {
                    if last_purge.elapsed() >= purge_every {
                        last_purge = std::time::Instant::now();
                        let now = spoor_bank::model::now_ms();
                        match cases::purge_media(&*store, v, grace_ms, now) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(cases = n, "deleted the held content of decided cases"),
                            Err(e) => tracing::error!(error = %e, "cannot delete held case content; retrying"),
                        }
                    }
                }
            }
            // What was counted since the last write, before the store goes.
            if let Err(e) = usage.flush(&*store) {
                tracing::error!(error = %e, "cannot add the last lookups to the daily statistics");
            }
        })?
    };
    // Each request knows its TCP peer (the console limits login attempts per address).
    let router = app(state)
        .layer(middleware::from_fn(peer_info))
        .into_make_service_with_connect_info::<Peer>();
    let served = match tls {
        Some(tls) => {
            axum::serve(tls::TlsListener::new(listener, tls), router)
                .with_graceful_shutdown(signals.wait())
                .await
        }
        None => axum::serve(listener, router).with_graceful_shutdown(signals.wait()).await,
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The last references to the stores are dropped off the async threads: closing a PostgreSQL
    // connection blocks.
    tokio::task::spawn_blocking(move || {
        let _ = follower.join();
        let _ = refresher.join();
        let _ = case_jobs.join();
        let _ = exchanges.join();
        for w in reporters {
            let _ = w.join();
        }
        if let Some(w) = webhook {
            let _ = w.join();
        }
        drop(matcher);
        drop(store);
    })
    .await?;
    served?;
    eprintln!("spoor: stopped");
    Ok(())
}

/// The TCP peer of a connection, plain or TLS.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Hands the peer address to handlers as `ConnectInfo<SocketAddr>`, whichever listener
/// accepted the connection.
async fn peer_info(mut req: Request, next: Next) -> Response {
    use axum::extract::ConnectInfo;
    if let Some(ConnectInfo(Peer(addr))) = req.extensions().get::<ConnectInfo<Peer>>().copied() {
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    next.run(req).await
}

/// Signals that stop the service. The handlers are installed when this is made (before the
/// service says it is serving), so a SIGTERM sent right after start is a graceful stop, never the
/// default action that kills the process.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(ShutdownSignals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            let ShutdownSignals { mut term, mut int } = self;
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
