//! `spoor serve` (the matching service) and `spoor keys` (its API keys).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use spoor_bank::Role;

use crate::bank::StoreArgs;
use crate::hash::parse_size;

/// Arguments of `spoor serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "SPOOR_LISTEN", default_value = "127.0.0.1:5100")]
    listen: SocketAddr,
    /// Largest JSON request body (e.g. 64MiB).
    #[arg(long, env = "SPOOR_MAX_BODY", default_value = "64MiB", value_parser = parse_size)]
    max_body: u64,
    /// Largest upload to hash (e.g. 64MiB).
    #[arg(long, env = "SPOOR_MAX_UPLOAD", default_value = "64MiB", value_parser = parse_size)]
    max_upload: u64,
    /// Largest image to decode, in pixels (checked from the header).
    #[arg(long, env = "SPOOR_MAX_PIXELS", default_value_t = spoor_media::Limits::default().max_pixels)]
    max_pixels: u64,
    /// Requests a second each API key may make (0: no limit).
    #[arg(long, env = "SPOOR_RATE_LIMIT", default_value_t = 0)]
    rate_limit: u32,
    /// How often to poll the change log, in milliseconds.
    #[arg(long, env = "SPOOR_FOLLOW_INTERVAL_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    follow_interval_ms: u64,
    /// Log format.
    #[arg(long, env = "SPOOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Uploads read at once; more answer 503 with Retry-After (memory: this times --max-upload).
    #[arg(long, env = "SPOOR_MAX_CONCURRENT_UPLOADS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_concurrent_uploads: u32,
    /// Matching batches and hashing jobs run at once [default: one a core].
    #[arg(long, env = "SPOOR_WORK_SLOTS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    work_slots: Option<u32>,
    /// How long a matching batch or a hashing job may wait and run, in milliseconds, before it
    /// answers 503.
    #[arg(long, env = "SPOOR_MATCH_BUDGET_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    match_budget_ms: u64,
    /// Data routes answer 503 when the API keys could not be re-read from the store for this
    /// many seconds (a revoked key must not keep working).
    #[arg(long, env = "SPOOR_KEY_MAX_STALENESS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    key_max_staleness: u64,
    /// `/ready` answers 503 when the change log was not read for this many seconds.
    #[arg(long, env = "SPOOR_READY_MAX_LAG", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    ready_max_lag: u64,
    /// Serve the routes of Meta's HMA (`/status`, `/h/…`, `/m/…`, `/c/…`) under this path, so
    /// that an HMA client switches by changing its base URL (README: "Coming from HMA").
    #[arg(long, env = "SPOOR_HMA_PREFIX", default_value = spoor_server::hma::DEFAULT_PREFIX, value_parser = hma_prefix)]
    hma_prefix: String,
    /// Do not serve HMA's routes.
    #[arg(long, env = "SPOOR_NO_HMA")]
    no_hma: bool,
    /// Hosts media may be fetched from by URL (HMA's `url=`), comma-separated; each also allows
    /// the names under it. Addresses inside (loopback, private, link-local…) are refused
    /// whatever the name. Without it no URL is fetched.
    #[arg(long, env = "SPOOR_FETCH_ALLOW", value_delimiter = ',')]
    fetch_allow: Vec<String>,
    /// Longest a fetch by URL may take, redirects included (e.g. 20s).
    #[arg(long, env = "SPOOR_FETCH_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    fetch_timeout: Duration,
    /// Close queries (1 to 8 bits from one of the key's recent queries) a matcher key may make
    /// in an hour before it is stopped for probing (0: no probe detection).
    #[arg(long, env = "SPOOR_PROBE_THRESHOLD", default_value_t = 32)]
    probe_threshold: u32,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "SPOOR_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SPOOR_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<std::path::PathBuf>,
    /// The matcher snapshot, for a fast start: loaded when valid (then only the change log since
    /// it is read) and rewritten every --snapshot-every changes and at a clean shutdown. It holds
    /// the banked hashes: keep it as private as the store. [default: DATA_DIR/matcher.snapshot
    /// on the embedded store; none on PostgreSQL]
    #[arg(long, env = "SPOOR_SNAPSHOT", value_name = "FILE", conflicts_with = "no_snapshot")]
    snapshot: Option<std::path::PathBuf>,
    /// Never read or write a matcher snapshot: every start loads every signal from the store.
    #[arg(long, env = "SPOOR_NO_SNAPSHOT")]
    no_snapshot: bool,
    /// Changes applied between two matcher snapshots.
    #[arg(long, env = "SPOOR_SNAPSHOT_EVERY", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: u64,
    /// A console session unused for this long ends (e.g. 30m, 90s, 1h).
    #[arg(long, env = "SPOOR_SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    session_idle_timeout: Duration,
    /// A console session this old ends, however busy (e.g. 12h).
    #[arg(long, env = "SPOOR_SESSION_MAX_AGE", default_value = "12h", value_parser = parse_duration)]
    session_max_age: Duration,
    /// Mark console cookies Secure (with the __Host- prefix) although this process serves plain
    /// HTTP: for a TLS reverse proxy in front. On by itself with --tls-cert.
    #[arg(long, env = "SPOOR_SECURE_COOKIES")]
    secure_cookies: bool,
    /// The key that encrypts case content held for review (made by `spoor keys
    /// media-keygen`; never stored in the database). Without it, submissions of cases that need
    /// review answer 503.
    #[arg(long, env = "SPOOR_MEDIA_KEY_FILE")]
    media_key_file: Option<std::path::PathBuf>,
    /// Where held case content is kept, encrypted [default: DATA_DIR/media; required with
    /// --database-url].
    #[arg(long, env = "SPOOR_MEDIA_DIR")]
    media_dir: Option<std::path::PathBuf>,
    /// How long "review next" holds a case for its reviewer (e.g. 15m).
    #[arg(long, env = "SPOOR_REVIEW_LEASE", default_value = "15m", value_parser = parse_duration)]
    review_lease: Duration,
    /// Items a reviewer may see a day before the console asks for a break and tells the team
    /// lead (0: no guide).
    #[arg(long, env = "SPOOR_EXPOSURE_GUIDE", default_value_t = 100)]
    exposure_guide: u32,
    /// How long held content is kept after its case is decided (e.g. 24h, 30m).
    #[arg(long, env = "SPOOR_MEDIA_GRACE", default_value = "24h", value_parser = parse_duration)]
    media_grace: Duration,
    /// Consecutive failed console logins that lock an account (for --lockout).
    #[arg(long, env = "SPOOR_MAX_FAILED_LOGINS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_failed_logins: u32,
    /// How long a locked console account stays locked (e.g. 15m).
    #[arg(long, env = "SPOOR_LOCKOUT", default_value = "15m", value_parser = parse_duration)]
    lockout: Duration,
    /// Console login and setup attempts one client address may make a minute.
    #[arg(long, env = "SPOOR_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    login_attempts_per_minute: u32,
    /// Tell this URL (http or https) of every decided case: a signed JSON POST, retried for
    /// 72 hours until it answers 2xx (see the README for checking the signature).
    #[arg(long, env = "SPOOR_CASE_WEBHOOK", value_name = "URL", value_parser = parse_webhook_url, requires = "case_webhook_secret_file")]
    case_webhook: Option<String>,
    /// The file holding the webhook's signing secret (the whole file, surrounding white space
    /// trimmed; at least 16 bytes). Required with --case-webhook.
    #[arg(
        long,
        env = "SPOOR_CASE_WEBHOOK_SECRET_FILE",
        value_name = "PATH",
        requires = "case_webhook"
    )]
    case_webhook_secret_file: Option<std::path::PathBuf>,
    /// Report confirmed cases as the reports file says (TOML: who receives them — NCMEC's
    /// CyberTipline, the EU Centre —, credentials, grouping, retries; see the README).
    #[arg(long, env = "SPOOR_REPORTS", value_name = "PATH")]
    reports: Option<std::path::PathBuf>,
    /// NCMEC's environment: `test` (the default) or `production`. Production must be asked
    /// for here explicitly; the reports file alone cannot choose it.
    #[arg(long, env = "SPOOR_NCMEC_ENV", default_value = "test", value_parser = ["test", "production"], requires = "reports")]
    ncmec_env: String,
    /// How long a replica holds an exchange after each page it pulls (its requests to the
    /// source time out in half that). Replicas over one PostgreSQL take turns; one that dies
    /// mid-pull holds the others up this long at most (a stopped one gives its turn back).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    exchange_lease: Duration,
    /// Also look at each image uploaded to /v1/match/upload and /v1/hash for a uniform frame
    /// (a border of any colour, letterbox or pillarbox bars) and match what is inside it too:
    /// such matches say `"transform": "unframed"`. Costs under 1 % of a hash on pictures
    /// without a frame.
    #[arg(long)]
    match_unframed: bool,
    /// Connect out (reports, exchanges) to loopback addresses only and resolve no name (for
    /// tests).
    #[arg(long, hide = true, alias = "loopback-only")]
    reports_loopback_only: bool,
    /// The ffmpeg program that decodes videos submitted as cases, for vPDQ (ffprobe is looked
    /// for beside it). Without it, a video's case is made from its digests alone.
    #[arg(long, env = "SPOOR_FFMPEG", value_name = "PATH", default_value = "ffmpeg")]
    ffmpeg: std::path::PathBuf,
    /// Longest time decoding one submitted video may take (e.g. 20s); past it, its case is made
    /// from its digests alone. Keep it under --match-budget-ms.
    #[arg(long, env = "SPOOR_VIDEO_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    video_timeout: Duration,
    /// How long a complaint may wait for its re-review (e.g. 7d, 48h): older open complaints
    /// are overdue (console banner, `spoor_complaints_overdue`, a warning and an audit record
    /// when their number grows).
    #[arg(long, env = "SPOOR_COMPLAINT_DEADLINE", default_value = "7d", value_parser = parse_duration)]
    complaint_deadline: Duration,
    /// The retention policy (TOML, `[retention]`: days per class of data; see the README);
    /// without it, the legal maxima. Applied every hour; a period above 12 months without
    /// `exceed_reason` stops the service at start.
    #[arg(long, env = "SPOOR_RETENTION", value_name = "PATH")]
    retention: Option<std::path::PathBuf>,
    /// Most frames decoded of one submitted video.
    #[arg(long, env = "SPOOR_MAX_VIDEO_FRAMES", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_video_frames: u64,
    /// Run the service's clock from TIME (RFC 3339) at the usual pace: every time it records
    /// (cases, decisions, reports, statistics, the audit log) is then on that clock. For
    /// rehearsals and tests that replay a period; refused when TIME is before the newest audit
    /// record (a clock may only move forward), and recorded in the audit log.
    #[arg(long, value_name = "TIME", value_parser = parse_clock)]
    clock_start: Option<spoor_bank::model::Millis>,
    /// The deployment file: its `[annual]` section states what the records cannot know for
    /// the annual report in the console (provider, legal grounds, other organisations; see
    /// `spoor reports annual`).
    #[arg(long, env = "SPOOR_DEPLOYMENT", value_name = "PATH")]
    deployment: Option<std::path::PathBuf>,
    /// The latest `spoor eval --jsonl` run, quoted by the annual report in the console.
    #[arg(long, env = "SPOOR_EVAL", value_name = "PATH")]
    eval: Option<std::path::PathBuf>,
}

fn parse_clock(s: &str) -> Result<spoor_bank::model::Millis, String> {
    spoor_bank::model::parse_time(s)
}

fn parse_webhook_url(s: &str) -> Result<String, String> {
    spoor_server::webhook::check_url(s)?;
    Ok(s.to_string())
}

/// Parses a duration: a number with a unit, `ms`, `s`, `m`, `h` or `d` (`30m`, `90s`, `12h`,
/// `7d`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| {
        format!("{s:?} is not a duration: give a number and a unit, such as 30m, 90s or 12h")
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => {
            return Err(format!(
                "{s:?}: the unit must be ms, s, m, h or d (such as 30m, 90s, 12h or 7d)"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("{s:?}: the duration must be above zero"));
    }
    Ok(d)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Runs `spoor serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPOOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let reports = match &args.reports {
        Some(path) => {
            let env: spoor_report::ncmec::Environment =
                args.ncmec_env.parse().map_err(|e| anyhow::anyhow!("--ncmec-env: {e}"))?;
            let (policy, delivery) = spoor_server::delivery::load(path, env)?;
            if args.reports_loopback_only {
                spoor_server::delivery::check_loopback(&delivery)?;
            }
            Some((policy, delivery))
        }
        None => None,
    };
    let config = spoor_server::Config {
        listen: args.listen,
        max_body_bytes: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_upload_bytes: usize::try_from(args.max_upload).unwrap_or(usize::MAX),
        max_pixels: args.max_pixels,
        rate_limit: args.rate_limit,
        follow_interval: Duration::from_millis(args.follow_interval_ms),
        max_concurrent_uploads: args.max_concurrent_uploads as usize,
        work_slots: args.work_slots.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |n| n as usize,
        ),
        match_budget: Duration::from_millis(args.match_budget_ms),
        key_max_staleness: Duration::from_secs(args.key_max_staleness),
        ready_max_lag: Duration::from_secs(args.ready_max_lag),
        hma_prefix: (!args.no_hma).then(|| args.hma_prefix.clone()),
        fetch: fetch_config(&args.fetch_allow, args.fetch_timeout, args.max_upload)?,
        probe: spoor_server::probe::ProbeConfig {
            threshold: args.probe_threshold,
            ..Default::default()
        },
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(spoor_server::TlsFiles { cert, key }),
            _ => None,
        },
        snapshot: match (args.no_snapshot, args.snapshot, &args.store.location()) {
            (true, _, _) => None,
            (false, Some(path), _) => Some(path),
            (false, None, spoor_bank::Location::DataDir(dir)) => Some(dir.join("matcher.snapshot")),
            (false, None, spoor_bank::Location::Postgres(_)) => None,
        },
        snapshot_every: args.snapshot_every,
        media: match (args.media_key_file, args.media_dir, &args.store.location()) {
            (None, Some(_), _) => anyhow::bail!(
                "--media-dir needs --media-key-file: held content is always encrypted (make a \
                 key with `spoor keys media-keygen --out FILE`)"
            ),
            (None, None, _) => None,
            (Some(key_file), Some(dir), _) => Some(spoor_server::MediaConfig { key_file, dir }),
            (Some(key_file), None, spoor_bank::Location::DataDir(d)) => {
                Some(spoor_server::MediaConfig { key_file, dir: d.join("media") })
            }
            (Some(_), None, spoor_bank::Location::Postgres(_)) => anyhow::bail!(
                "--media-key-file with --database-url needs --media-dir: where held case content \
                 is kept (a directory every replica shares)"
            ),
        },
        media_grace: args.media_grace,
        complaint_deadline: args.complaint_deadline,
        match_unframed: args.match_unframed,
        retention: match &args.retention {
            Some(p) => spoor_server::retention::load(p)?,
            None => spoor_bank::retention::Policy::default(),
        },
        case_webhook: match (&args.case_webhook, &args.case_webhook_secret_file) {
            (Some(url), Some(path)) => Some(
                spoor_server::WebhookConfig::with_secret_file(url, path)
                    .map_err(|e| anyhow::anyhow!("--case-webhook-secret-file: {e}"))?,
            ),
            _ => None,
        },
        report_policy: reports.as_ref().map(|r| r.0.clone()).unwrap_or_default(),
        delivery: reports.map(|r| r.1),
        loopback_only: args.reports_loopback_only,
        exchange_lease: args.exchange_lease,
        resolver: args
            .reports_loopback_only
            .then(|| spoor_server::Resolver(std::sync::Arc::new(spoor_server::delivery::NoNames))),
        console: spoor_console::ConsoleConfig {
            idle_timeout: args.session_idle_timeout,
            max_age: args.session_max_age,
            secure_cookies: args.secure_cookies,
            max_failed_logins: args.max_failed_logins,
            lockout: args.lockout,
            attempts_per_minute: args.login_attempts_per_minute,
            review_lease: args.review_lease,
            exposure_guide: args.exposure_guide,
            annual: spoor_console::annual::Sources {
                deployment: match &args.deployment {
                    Some(p) => crate::reports::read_deployment(p)?,
                    None => Default::default(),
                },
                eval: args.eval.as_deref().map(crate::reports::read_eval).transpose()?,
                // The policy in force is the service's own (`--retention`).
                policy: Default::default(),
            },
            ..Default::default()
        },
        video: spoor_server::VideoConfig {
            ffmpeg: args.ffmpeg,
            timeout: args.video_timeout,
            max_frames: args.max_video_frames,
        },
        ..Default::default()
    };
    if config.report_policy.notices.is_some() && config.case_webhook.is_none() {
        anyhow::bail!(
            "the reports file asks for user notices ([notices]), and they reach the provider's \
             system through --case-webhook: set --case-webhook and --case-webhook-secret-file, \
             or remove [notices]"
        );
    }
    if config.console.idle_timeout > config.console.max_age {
        anyhow::bail!(
            "--session-idle-timeout ({:?}) is longer than --session-max-age ({:?}): make the idle timeout the shorter one",
            config.console.idle_timeout,
            config.console.max_age
        );
    }
    if let Some(at) = args.clock_start {
        start_clock(&args.store, at)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(spoor_server::serve(args.store.location(), config))?;
    Ok(ExitCode::SUCCESS)
}

/// Sets the process's clock to `at` (`--clock-start`) after checking that it does not go back
/// behind the audit log, and records that it did.
fn start_clock(store: &StoreArgs, at: spoor_bank::model::Millis) -> anyhow::Result<()> {
    use spoor_bank::model::{format_time, now_ms, set_clock};
    let s = store.open()?;
    // Any record later than `at` (whatever its number: commands run on the system's clock
    // write between the service's runs).
    let later = s.audit_records(&spoor_bank::audit::AuditQuery {
        since: Some(at.saturating_add(1)),
        limit: 1,
        ..Default::default()
    })?;
    if let Some(r) = later.first() {
        anyhow::bail!(
            "--clock-start {}: the audit log already holds record {} of {}, and a clock may only \
             move forward: give a time after the log's latest record, or leave --clock-start out",
            format_time(at),
            r.seq,
            format_time(r.at)
        );
    }
    let system = now_ms();
    set_clock(at);
    s.audit_append(
        &spoor_audit::NewRecord::by("system:serve", "clock_start", "clock", "service")
            .with_details(
                serde_json::json!({ "start": format_time(at), "system_time": format_time(system) }),
            ),
    )?;
    tracing::warn!(
        start = %format_time(at),
        "the service's clock is set by --clock-start: everything it records is on that clock"
    );
    Ok(())
}

/// Arguments of `spoor keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting [default: cli:$USER].
    #[arg(long, env = "SPOOR_ACTOR", global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Make a key. Its record goes to standard error; the key itself is the last line of
    /// standard output, shown this once (only its hash is stored).
    Create {
        /// admin, curator, matcher, hasher, auditor (reads the audit log only), reviewer (reads
        /// cases, decides signals-only ones) or exchange (reads the change log of the banks named
        /// with --banks, for another Spoor instance following them).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Unique name, recorded as the actor of the key's changes.
        #[arg(long)]
        name: String,
        /// Banks a matcher key may match against (comma-separated; default all), or an exchange
        /// key may read (required).
        #[arg(long, value_delimiter = ',')]
        banks: Option<Vec<String>>,
        /// Let a matcher key see exact PDQ distances in its answers. Off by default: exact
        /// distances let a client rebuild a banked hash bit by bit. Admin and curator keys
        /// always see them.
        #[arg(long)]
        show_distance: bool,
    },
    /// List the keys (never their secrets), as JSON lines.
    List,
    /// Revoke a key: it stops working within a second on every running service.
    Revoke {
        /// The key's name.
        name: String,
    },
    /// Make the key that encrypts case content held for review (`spoor serve
    /// --media-key-file`). The file is created readable by its owner only; keep a copy where
    /// the database is not: without it held content cannot be read.
    MediaKeygen {
        /// Where to write the key (refused if the file exists).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Make the Ed25519 key that signs reports to the EU Centre (the reports file's
    /// `signing_key_file`): a PKCS#8 PEM file readable by its owner only. The public key,
    /// which the receiver checks signatures with, is printed (PEM).
    ReportKeygen {
        /// Where to write the private key (refused if the file exists).
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Runs `spoor keys`.
pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let actor = args.actor.clone().unwrap_or_else(crate::bank::default_actor);
    let mut out = std::io::stdout().lock();
    if let KeysCommand::MediaKeygen { out: path } = &args.command {
        let key = spoor_case::MediaKey::write_new(path)?;
        eprintln!("spoor: wrote media key {} to {}", key.id(), path.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let KeysCommand::ReportKeygen { out: path } = &args.command {
        let public = spoor_server::delivery::write_signing_key(path)?;
        eprintln!("spoor: wrote a report signing key to {}; its public key:", path.display());
        write!(out, "{public}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = args.store.open()?;
    match args.command {
        KeysCommand::Create { role, name, banks, show_distance } => {
            let scoped = banks.as_ref().is_some_and(|b| !b.is_empty());
            spoor_bank::keys::check_options(role, scoped, show_distance)
                .map_err(|e| anyhow::anyhow!("{e} (--banks, --show-distance)"))?;
            if let Some(b) = &banks {
                for bank in b {
                    store.bank(bank)?;
                }
            }
            let key = spoor_server::auth::generate(&name, role, banks, show_distance, &actor)
                .context("cannot read random bytes from the operating system")?;
            store.create_key(&key.record, &key.secret_hash)?;
            eprintln!(
                "spoor: created {} key {:?} ({}); store it now, it is not shown again:",
                role.name(),
                name,
                key.record.key_id
            );
            writeln!(out, "{}", key.key)?;
        }
        KeysCommand::List => {
            for (k, _) in store.keys()? {
                writeln!(out, "{}", serde_json::to_string(&k)?)?;
            }
        }
        KeysCommand::Revoke { name } => {
            let k = store.revoke_key(&name, &actor)?;
            writeln!(out, "{}", serde_json::to_string(&k)?)?;
        }
        KeysCommand::MediaKeygen { .. } | KeysCommand::ReportKeygen { .. } => {
            unreachable!("handled before the store is opened")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A prefix for HMA's routes: `/` and path segments of letters, digits, `-` and `_`, not one of
/// Spoor's own.
fn hma_prefix(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    let segments: Vec<&str> = s.split('/').skip(1).collect();
    let ok = s.starts_with('/')
        && !segments.is_empty()
        && segments.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        return Err(format!(
            "{s:?}: give a path such as /hma (letters, digits, - and _ between slashes)"
        ));
    }
    let first = segments[0];
    const OURS: &[&str] = &[
        "v1",
        "health",
        "ready",
        "metrics",
        "openapi.json",
        "audit",
        "banks",
        "cases",
        "complaints",
        "keys",
        "login",
        "logout",
        "reports",
        "review",
        "setup",
        "static",
        "statistics",
        "users",
    ];
    if OURS.contains(&first) {
        return Err(format!(
            "{s:?}: /{first} is one of Spoor's own paths: choose another, such as /hma"
        ));
    }
    Ok(s.to_string())
}

/// What `--fetch-allow` allows: `None` when it names no host.
fn fetch_config(
    allow: &[String],
    timeout: Duration,
    max_bytes: u64,
) -> anyhow::Result<Option<spoor_server::fetch::FetchConfig>> {
    let hosts: Vec<String> =
        allow.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    for h in &hosts {
        let ok = h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
        if !ok || h.contains("://") {
            anyhow::bail!(
                "--fetch-allow {h:?}: give host names (media.example.org), not URLs or patterns"
            );
        }
    }
    if hosts.is_empty() {
        return Ok(None);
    }
    Ok(Some(spoor_server::fetch::FetchConfig { allow: hosts, max_bytes, timeout }))
}
