//! Delivery of reports to their receivers: NCMEC's CyberTipline and the EU Centre.
//!
//! Worker threads claim due reports from the store ([`spoor_bank::Reports`]), one at a time
//! each, and run the receiver's steps, recording each step before and after they talk to the
//! receiver, so that a report is finished at the receiver **exactly once** whatever fails:
//!
//! * NCMEC: `/submit` (the report opens; its `reportId` is recorded, state `open`), then per file
//!   with held content `/upload` and `/fileinfo` (each recorded), then the state `finishing` is
//!   recorded, and only then `/finish`. A report taken up again in state `open` was interrupted
//!   before finishing: it is cancelled at NCMEC (`/retract`) and redone from the start, so no
//!   half-made report is ever finished. A report taken up in state `finishing` may have been
//!   finished already: `/finish` is sent again, and NCMEC's "report already finished" (5102)
//!   finishes it here. A report opened but lost before its id was recorded is never finished;
//!   NCMEC deletes unfinished reports by itself.
//! * EU Centre: the document (kept with the report on the first attempt, so every retry sends
//!   the same bytes) is posted with the report's uuid as `Idempotency-Key` and a detached JWS
//!   (Ed25519) of the body in `JWS-Signature`; 2xx or 409 (already taken under that key)
//!   finishes it.
//!
//! Failures: no answer, a reset connection, HTTP 5xx, 408, 429 and NCMEC's server-side codes
//! are retried with exponential backoff and jitter, at most `max_attempts` times; a permanent
//! error (HTTP 4xx, malformed XML, NCMEC validation/authorisation codes) gives the report up at
//! once (dead letter; a person retries it in the console or with the API), after cancelling what
//! was opened at NCMEC. Every attempt, retraction and end is counted in `/metrics`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use spoor_bank::cases::{Case, Resolution};
use spoor_bank::model::{now_ms, Millis};
use spoor_bank::reports::{Failure, Report, ReportState, ReportStep};
use spoor_bank::Store;
use spoor_report::ncmec::{self, Environment};
use spoor_report::{FileFacts, Provider, ReportFacts, Reporter};

use crate::reporting::{ReportPolicy, EU_CENTRE, NCMEC};

/// How often an idle worker looks for due reports.
pub const POLL: Duration = Duration::from_millis(250);

/// Where NCMEC reports go, and as whom.
#[derive(Clone)]
pub struct NcmecTarget {
    /// The API's base URL (NCMEC's test environment unless production was asked for).
    pub base_url: String,
    /// Which environment that is.
    pub environment: Environment,
    /// HTTP Basic user name.
    pub username: String,
    /// HTTP Basic password.
    pub password: zeroize::Zeroizing<String>,
    /// The reporting person and company text.
    pub reporter: Reporter,
}

impl std::fmt::Debug for NcmecTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NcmecTarget")
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Where EU Centre reports go, and the key that signs them.
#[derive(Clone)]
pub struct EuTarget {
    /// The endpoint reports are posted to.
    pub url: String,
    /// The signing key.
    pub key: ed25519_dalek::SigningKey,
    /// The key's id, named in each signature (`kid`).
    pub key_id: String,
    /// Who the provider is.
    pub provider: Provider,
}

impl std::fmt::Debug for EuTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EuTarget")
            .field("url", &self.url)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// How reports are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// NCMEC, when reports go there.
    pub ncmec: Option<NcmecTarget>,
    /// The EU Centre, when reports go there.
    pub eu: Option<EuTarget>,
    /// Reports delivered at the same time (worker threads).
    pub workers: usize,
    /// Attempts before a report is given up (dead).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each failure.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl DeliveryConfig {
    /// The recipients this configuration delivers to.
    pub fn recipients(&self) -> Vec<String> {
        let mut r = Vec::new();
        if self.ncmec.is_some() {
            r.push(NCMEC.to_string());
        }
        if self.eu.is_some() {
            r.push(EU_CENTRE.to_string());
        }
        r
    }

    /// How long a claim lasts unless renewed: long enough for a step many times over (a
    /// large upload renews it for its own time first). A report held by a process that died
    /// is taken up again when this runs out.
    pub fn lease(&self) -> Duration {
        (self.timeout * 8).max(Duration::from_secs(10))
    }
}

/// The reports file (`spoor serve --reports FILE`), TOML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportsFile {
    /// How long a report waits for more cases of the same uploader (default 900 s).
    window_seconds: Option<u64>,
    workers: Option<usize>,
    max_attempts: Option<u32>,
    backoff_seconds: Option<f64>,
    max_backoff_seconds: Option<f64>,
    timeout_seconds: Option<f64>,
    ncmec: Option<NcmecFile>,
    eu_centre: Option<EuFile>,
    notices: Option<NoticesFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticesFile {
    /// Languages of every notice (default Dutch and English).
    languages: Option<Vec<String>>,
    /// Where users complain.
    complaint_url: String,
    /// A folder of `notice-<lang>.txt` templates replacing or adding to the built-in ones.
    templates_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NcmecFile {
    /// A file whose first line is `USER:PASSWORD` (NCMEC's HTTP Basic credentials).
    credentials_file: PathBuf,
    /// Another base URL for the *test* environment (a local test receiver).
    base_url: Option<String>,
    reporter: Reporter,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EuFile {
    url: String,
    /// A PKCS#8 PEM Ed25519 private key (`spoor keys report-keygen`).
    signing_key_file: PathBuf,
    key_id: String,
    provider: Provider,
}

/// Reads the reports file: who reports go to, how they are grouped and delivered. NCMEC's
/// production environment is used only when `environment` says so (`--ncmec-env production`);
/// a `base_url` in the file is refused then, so production is never reached by accident nor
/// replaced by mistake.
pub fn load(
    path: &Path,
    environment: Environment,
) -> anyhow::Result<(ReportPolicy, DeliveryConfig)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the reports file {}", path.display()))?;
    let f: ReportsFile = toml::from_str(&text)
        .with_context(|| format!("the reports file {} is not valid", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let secs = |v: Option<f64>, default: f64, what: &str| -> anyhow::Result<Duration> {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && v > 0.0 && v <= 7.0 * 86_400.0) {
            bail!(
                "{what} = {v} in {}: give a positive number of seconds (at most a week)",
                path.display()
            );
        }
        Ok(Duration::from_secs_f64(v))
    };
    let ncmec = match f.ncmec {
        None => None,
        Some(n) => {
            ncmec::check_reporter(&n.reporter)
                .map_err(|e| anyhow::anyhow!("[ncmec.reporter] in {}: {e}", path.display()))?;
            let (username, password) = read_credentials(&dir.join(&n.credentials_file))?;
            let base_url = match (&n.base_url, environment) {
                (Some(_), Environment::Production) => bail!(
                    "[ncmec] base_url is set in {} and --ncmec-env production was given: \
                     production reports go to NCMEC's own address only; remove base_url",
                    path.display()
                ),
                (Some(u), Environment::Test) => {
                    crate::webhook::check_url(u)
                        .map_err(|e| anyhow::anyhow!("[ncmec] base_url: {e}"))?;
                    u.trim_end_matches('/').to_string()
                }
                (None, env) => env.base_url().to_string(),
            };
            Some(NcmecTarget { base_url, environment, username, password, reporter: n.reporter })
        }
    };
    let eu = match f.eu_centre {
        None => None,
        Some(e) => {
            crate::webhook::check_url(&e.url)
                .map_err(|m| anyhow::anyhow!("[eu_centre] url: {m}"))?;
            spoor_report::eu::check_provider(&e.provider)
                .map_err(|m| anyhow::anyhow!("[eu_centre.provider] in {}: {m}", path.display()))?;
            if e.key_id.trim().is_empty() {
                bail!("[eu_centre] key_id is empty in {}: name the signing key", path.display());
            }
            let key = read_signing_key(&dir.join(&e.signing_key_file))?;
            Some(EuTarget { url: e.url, key, key_id: e.key_id, provider: e.provider })
        }
    };
    if ncmec.is_none() && eu.is_none() {
        bail!(
            "the reports file {} names no receiver: add an [ncmec] or an [eu_centre] section",
            path.display()
        );
    }
    let notices = match f.notices {
        None => None,
        Some(n) => Some(load_notices(n, dir, path)?),
    };
    let workers = f.workers.unwrap_or(4);
    if !(1..=64).contains(&workers) {
        bail!("workers = {workers} in {}: use 1 to 64", path.display());
    }
    let max_attempts = f.max_attempts.unwrap_or(20);
    if !(1..=1000).contains(&max_attempts) {
        bail!("max_attempts = {max_attempts} in {}: use 1 to 1000", path.display());
    }
    let window = Duration::from_secs(f.window_seconds.unwrap_or(900));
    if window > Duration::from_secs(30 * 86_400) {
        bail!("window_seconds in {}: at most 30 days", path.display());
    }
    let cfg = DeliveryConfig {
        ncmec,
        eu,
        workers,
        max_attempts,
        backoff: secs(f.backoff_seconds, 1.0, "backoff_seconds")?,
        max_backoff: secs(f.max_backoff_seconds, 3600.0, "max_backoff_seconds")?,
        timeout: secs(f.timeout_seconds, 30.0, "timeout_seconds")?,
    };
    Ok((ReportPolicy { recipients: cfg.recipients(), window, notices }, cfg))
}

fn load_notices(
    n: NoticesFile,
    dir: &Path,
    path: &Path,
) -> anyhow::Result<crate::reporting::NoticeConfig> {
    crate::webhook::check_url(&n.complaint_url)
        .map_err(|e| anyhow::anyhow!("[notices] complaint_url in {}: {e}", path.display()))?;
    let mut templates = spoor_report::notice::Templates::builtin();
    if let Some(d) = &n.templates_dir {
        let d = dir.join(d);
        let entries = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read the notice templates folder {}", d.display()))?;
        for e in entries {
            let p = e?.path();
            let name = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            let Some(lang) = name.strip_prefix("notice-").and_then(|r| r.strip_suffix(".txt"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read the notice template {}", p.display()))?;
            templates
                .set(lang, &text)
                .map_err(|e| anyhow::anyhow!("the notice template {}: {e}", p.display()))?;
        }
    }
    let languages = n.languages.unwrap_or_else(|| vec!["nl".into(), "en".into()]);
    if languages.is_empty() {
        bail!("[notices] languages in {} is empty: name at least one", path.display());
    }
    let known: Vec<String> = templates.languages().map(str::to_string).collect();
    for l in &languages {
        if !known.contains(l) {
            bail!(
                "[notices] language {l:?} in {} has no template: add notice-{l}.txt to templates_dir (known: {})",
                path.display(),
                known.join(", ")
            );
        }
    }
    Ok(crate::reporting::NoticeConfig { languages, complaint_url: n.complaint_url, templates })
}

fn read_credentials(path: &Path) -> anyhow::Result<(String, zeroize::Zeroizing<String>)> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read NCMEC's credentials file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("").trim();
    match line.split_once(':') {
        Some((u, p)) if !u.is_empty() && !p.is_empty() => {
            Ok((u.to_string(), zeroize::Zeroizing::new(p.to_string())))
        }
        _ => bail!(
            "NCMEC's credentials file {} must hold one line USER:PASSWORD (the HTTP Basic \
             credentials NCMEC issued)",
            path.display()
        ),
    }
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn read_signing_key(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the signing key {}", path.display()))?,
    );
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "the signing key {} is not a PKCS#8 PEM Ed25519 private key ({e}): make one with \
             `spoor keys report-keygen`",
            path.display()
        )
    })
}

/// Makes a new Ed25519 signing key and writes it to `path` as PKCS#8 PEM, readable by its
/// owner only (refused if the file exists); returns the public key as PEM.
pub fn write_signing_key(path: &Path) -> anyhow::Result<String> {
    use ed25519_dalek::pkcs8::{
        spki::der::pem::LineEnding, EncodePrivateKey as _, EncodePublicKey as _,
    };
    use std::io::Write as _;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).context("no randomness from the operating system")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = key.to_pkcs8_pem(LineEnding::LF).context("cannot encode the key")?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("cannot encode the public key")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| {
        format!("cannot create {} (a key file is never overwritten)", path.display())
    })?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(public)
}

/// Why an attempt stopped.
#[derive(Debug)]
enum Stop {
    /// Worth trying again later.
    Transient(String),
    /// Trying again cannot help: give the report up.
    Permanent(String),
    /// Another worker holds the report now: leave it alone.
    Lost,
    /// The store failed: nothing recorded; the claim runs out and the report is taken again.
    Store(spoor_bank::BankError),
}

impl From<spoor_bank::BankError> for Stop {
    fn from(e: spoor_bank::BankError) -> Self {
        Stop::Store(e)
    }
}

/// What the worker records of the NCMEC steps done (the report's `progress`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct NcmecProgress {
    /// Files added to the open report: case id, NCMEC file id, file details sent.
    files: Vec<(i64, String, bool)>,
}

/// One worker's view of the world.
struct Ctx {
    store: Arc<dyn Store>,
    vault: Option<Arc<spoor_case::Vault>>,
    cfg: DeliveryConfig,
    client: reqwest::blocking::Client,
    worker: String,
    lease_ms: Millis,
}

impl Ctx {
    /// Records a step; [`Stop::Lost`] when the report is no longer ours.
    fn step(&self, r: &Report, step: &ReportStep) -> Result<(), Stop> {
        self.step_for(r, step, self.lease_ms)
    }

    /// Records a step, holding the report for `lease_ms` from now.
    fn step_for(&self, r: &Report, step: &ReportStep, lease_ms: Millis) -> Result<(), Stop> {
        if self.store.report_step(r.id, &self.worker, step, now_ms(), lease_ms)? {
            Ok(())
        } else {
            Err(Stop::Lost)
        }
    }
}

/// A client for the receivers: rustls, no redirects (a report goes where it is addressed, or
/// nowhere), the configured timeout. `resolver` replaces DNS (tests refuse every name).
pub fn client(
    timeout: Duration,
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
) -> reqwest::Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("spoor/", env!("CARGO_PKG_VERSION")));
    if let Some(r) = resolver {
        b = b.dns_resolver(Arc::new(DynResolver(r)));
    }
    b.build()
}

/// A resolver that resolves no name: receivers are reached by IP address only (tests).
pub struct NoNames;

impl reqwest::dns::Resolve for NoNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            Err(format!("{name}: names are not resolved here; use a loopback address").into())
        })
    }
}

/// Refuses receivers whose address is not a loopback IP address (tests).
pub fn check_loopback(cfg: &DeliveryConfig) -> anyhow::Result<()> {
    let urls =
        cfg.ncmec.iter().map(|n| n.base_url.as_str()).chain(cfg.eu.iter().map(|e| e.url.as_str()));
    for u in urls {
        let url = reqwest::Url::parse(u).with_context(|| format!("{u} is not a URL"))?;
        let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
        let ok = host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
        if !ok {
            bail!("{u}: only loopback addresses are allowed here");
        }
    }
    Ok(())
}

/// A shared resolver as reqwest takes it.
struct DynResolver(Arc<dyn reqwest::dns::Resolve>);

impl reqwest::dns::Resolve for DynResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.resolve(name)
    }
}

/// Starts `cfg.workers` threads `spoor-report-N` that deliver due reports until `stop` is set
/// (each finishes the report in hand first).
pub fn spawn_workers(
    store: Arc<dyn Store>,
    vault: Option<Arc<spoor_case::Vault>>,
    cfg: DeliveryConfig,
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    let client = client(cfg.timeout, resolver).context("cannot make the reports' HTTP client")?;
    let mut id = [0u8; 4];
    getrandom::fill(&mut id).context("no randomness for the worker's name")?;
    let process = format!("{}-{}", std::process::id(), spoor_audit::hex(&id));
    let lease_ms = i64::try_from(cfg.lease().as_millis()).unwrap_or(i64::MAX);
    let mut handles = Vec::new();
    if let Some(eu) = cfg.eu.clone() {
        let (store, client, stop, cfg) = (store.clone(), client.clone(), stop.clone(), cfg.clone());
        handles.push(
            std::thread::Builder::new()
                .name("spoor-follow-up".into())
                .spawn(move || follow_ups(&*store, &client, &cfg, &eu, lease_ms, &stop))?,
        );
    }
    for n in 0..cfg.workers {
        let ctx = Ctx {
            store: store.clone(),
            vault: vault.clone(),
            cfg: cfg.clone(),
            client: client.clone(),
            worker: format!("report-{process}-{n}"),
            lease_ms,
        };
        let stop = stop.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("spoor-report-{n}"))
                .spawn(move || run(ctx, stop))?,
        );
    }
    Ok(handles)
}

fn run(ctx: Ctx, stop: Arc<AtomicBool>) {
    let recipients = ctx.cfg.recipients();
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        let claimed = ctx.store.reports_claim(&ctx.worker, &recipients, now_ms(), ctx.lease_ms, 1);
        let report = match claimed {
            Ok(mut v) if !v.is_empty() => {
                failing = false;
                v.remove(0)
            }
            Ok(_) => {
                failing = false;
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "reports: cannot claim due reports; retrying");
                    failing = true;
                }
                std::thread::sleep(POLL);
                continue;
            }
        };
        attempt(&ctx, report);
    }
}

/// Runs one attempt at a claimed report and records how it ended.
fn attempt(ctx: &Ctx, r: Report) {
    let result = match r.recipient.as_str() {
        NCMEC => match &ctx.cfg.ncmec {
            Some(t) => ncmec_attempt(ctx, t, &r),
            None => Err(Stop::Transient("NCMEC is not configured in this process".into())),
        },
        EU_CENTRE => match &ctx.cfg.eu {
            Some(t) => eu_attempt(ctx, t, &r),
            None => Err(Stop::Transient("the EU Centre is not configured in this process".into())),
        },
        other => Err(Stop::Permanent(format!("no receiver is known by the name {other:?}"))),
    };
    let now = now_ms();
    let (label, recorded) = match result {
        Ok(receipt) => ("finished", ctx.store.report_finished(r.id, &ctx.worker, &receipt, now)),
        Err(Stop::Lost) => {
            tracing::warn!(
                report = r.id,
                "reports: another worker took the report over; leaving it"
            );
            ("lost", Ok(true))
        }
        Err(Stop::Store(e)) => {
            tracing::error!(report = r.id, error = %e, "reports: the store failed during delivery; the report is taken again when its claim runs out");
            ("store_error", Ok(true))
        }
        Err(Stop::Permanent(e)) => {
            tracing::error!(report = r.id, recipient = %r.recipient, error = %e, "reports: permanent error; the report is given up (retry it in the console once the cause is fixed)");
            ("dead", ctx.store.report_failed(r.id, &ctx.worker, &e, Failure::GiveUp, now))
        }
        Err(Stop::Transient(e)) => {
            let failures = r.attempts.saturating_add(1);
            if failures >= ctx.cfg.max_attempts {
                tracing::error!(report = r.id, recipient = %r.recipient, attempts = failures, error = %e, "reports: too many failed attempts; the report is given up");
                ("dead", ctx.store.report_failed(r.id, &ctx.worker, &e, Failure::GiveUp, now))
            } else {
                let wait = backoff(&ctx.cfg, failures, crate::webhook::random_unit());
                let at = now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                tracing::warn!(report = r.id, recipient = %r.recipient, attempts = failures, retry_in_ms = at - now, error = %e, "reports: delivery failed; retrying");
                ("retry", ctx.store.report_failed(r.id, &ctx.worker, &e, Failure::RetryAt(at), now))
            }
        }
    };
    if let Err(e) = recorded {
        tracing::error!(report = r.id, error = %e, "reports: cannot record the attempt; the report is taken again when its claim runs out");
    }
    metrics::counter!("spoor_report_attempts_total", "recipient" => r.recipient.clone(), "outcome" => label)
        .increment(1);
}

/// What the delivery worker does with an EU Centre follow-up it holds.
enum FollowUpStep {
    /// Sent: the receiver took it.
    Sent,
    /// Not yet: the report it follows is not finished (its delivery goes on, or it waits for
    /// a person to retry it).
    Wait(String),
    /// Failed; worth trying again.
    Transient(String),
    /// Failed for good.
    Permanent(String),
}

/// Sends EU Centre follow-ups (outbox topic `eu_centre_follow_up`) until `stop` is set: each
/// only once the report it follows is finished, signed like a report, with its own id as the
/// idempotency key; retried with the reports' backoff, given up on a permanent error or after
/// the reports' attempts.
fn follow_ups(
    store: &dyn Store,
    client: &reqwest::blocking::Client,
    cfg: &DeliveryConfig,
    eu: &EuTarget,
    lease_ms: Millis,
    stop: &AtomicBool,
) {
    let topics = [spoor_bank::complaints::follow_up_topic(EU_CENTRE)];
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let due = match store.outbox_claim(&topics, now_ms(), lease_ms, 10) {
            Ok(d) => {
                failing = false;
                d
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "follow-ups: cannot read the outbox; retrying");
                    failing = true;
                }
                continue;
            }
        };
        for item in due {
            let step = follow_up_attempt(store, client, eu, &item);
            let now = now_ms();
            let failures = item.attempts.saturating_add(1);
            let recorded = match step {
                FollowUpStep::Sent => {
                    tracing::info!(follow_up = item.id, "follow-up taken by the EU Centre");
                    store.outbox_delivered(item.id, now)
                }
                FollowUpStep::Wait(why) => {
                    // Waiting is not failing: look again after the first backoff.
                    let next = now.saturating_add(cfg.backoff.as_millis() as i64);
                    store.outbox_retry(item.id, next, &why)
                }
                FollowUpStep::Transient(e) if failures < cfg.max_attempts => {
                    let wait = backoff(cfg, failures, crate::webhook::random_unit());
                    tracing::warn!(follow_up = item.id, attempts = failures, error = %e, "follow-up failed; retrying");
                    store.outbox_retry(item.id, now.saturating_add(wait.as_millis() as i64), &e)
                }
                FollowUpStep::Transient(e) | FollowUpStep::Permanent(e) => {
                    tracing::error!(follow_up = item.id, attempts = failures, error = %e, "follow-up given up");
                    store.outbox_give_up(item.id, now, &e)
                }
            };
            if let Err(e) = recorded {
                tracing::error!(follow_up = item.id, error = %e, "follow-ups: cannot record an attempt; it is tried again");
            }
        }
    }
}

fn follow_up_attempt(
    store: &dyn Store,
    client: &reqwest::blocking::Client,
    eu: &EuTarget,
    item: &spoor_bank::OutboxItem,
) -> FollowUpStep {
    #[derive(Deserialize)]
    struct Payload {
        report: i64,
        follow_up_id: String,
        body: String,
    }
    let p: Payload = match serde_json::from_str(&item.payload) {
        Ok(p) => p,
        Err(e) => return FollowUpStep::Permanent(format!("the follow-up cannot be read: {e}")),
    };
    match store.report(p.report) {
        Ok(r) if r.state == ReportState::Finished => {}
        Ok(r) => {
            return FollowUpStep::Wait(format!(
                "waits for report {} ({}) to be finished first",
                r.id, r.state
            ))
        }
        Err(e) => return FollowUpStep::Transient(format!("the report cannot be read: {e}")),
    }
    let jws = spoor_report::eu::sign(p.body.as_bytes(), &eu.key, &eu.key_id);
    let sent = client
        .post(&eu.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &p.follow_up_id)
        .header("JWS-Signature", jws)
        .body(p.body)
        .send();
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return FollowUpStep::Transient(format!("EU Centre: {}", describe(&e))),
    };
    let code = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    metrics::counter!("spoor_report_requests_total", "recipient" => EU_CENTRE, "outcome" => if (200..300).contains(&code) { "answered" } else { "http_error" }).increment(1);
    if (200..300).contains(&code) || code == 409 {
        FollowUpStep::Sent
    } else if code >= 500 || code == 408 || code == 429 {
        FollowUpStep::Transient(format!("EU Centre: HTTP {code}"))
    } else {
        FollowUpStep::Permanent(format!(
            "EU Centre: HTTP {code}: {}",
            spoor_bank::reports::clip(&text, 512)
        ))
    }
}

/// The wait after the `failures`-th failure: the base doubled each time, at most the maximum,
/// less a random part of up to a fifth (`jitter` in 0..1).
pub fn backoff(cfg: &DeliveryConfig, failures: u32, jitter: f64) -> Duration {
    let doubled = cfg.backoff.as_secs_f64() * 2f64.powi(failures.saturating_sub(1).min(60) as i32);
    let capped = doubled.min(cfg.max_backoff.as_secs_f64());
    Duration::from_secs_f64(capped * (1.0 - 0.2 * jitter.clamp(0.0, 1.0)))
}

/// Whether a person viewed this file: a reviewer decided its case, or its case took the
/// decision on the very same bytes (same SHA-256) that a reviewer viewed.
pub fn viewed_by_person(store: &dyn Store, case: &Case) -> spoor_bank::Result<bool> {
    let mut c = case.clone();
    for _ in 0..8 {
        if c.decisions.iter().any(|d| d.person.starts_with("user:")) {
            return Ok(true);
        }
        match (c.resolution, c.earlier_case) {
            (Some(Resolution::Earlier), Some(earlier)) => {
                let e = store.case(earlier)?;
                if e.signals.sha256.is_none() || e.signals.sha256 != case.signals.sha256 {
                    return Ok(false);
                }
                c = e;
            }
            _ => return Ok(false),
        }
    }
    Ok(false)
}

/// What a report says, read from its cases now, with each case's held content if any.
/// Each file's held content, when it has any (in the order of the report's files).
pub type Contents = Vec<Option<Vec<u8>>>;

/// Why a report's facts cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] spoor_bank::BankError),
    /// The cases cannot be reported as they are.
    #[error("{0}")]
    Invalid(String),
}

fn facts_of(ctx: &Ctx, r: &Report) -> Result<(ReportFacts, Contents), Stop> {
    report_facts(&*ctx.store, ctx.vault.as_deref(), r).map_err(|e| match e {
        FactsError::Store(e) => Stop::Store(e),
        FactsError::Invalid(m) => Stop::Permanent(m),
    })
}

/// What a report says, read from its cases now, with each case's held content when `vault`
/// is given and holds it.
pub fn report_facts(
    store: &dyn Store,
    vault: Option<&spoor_case::Vault>,
    r: &Report,
) -> Result<(ReportFacts, Contents), FactsError> {
    let mut files = Vec::with_capacity(r.cases.len());
    let mut contents = Vec::with_capacity(r.cases.len());
    let mut first: Option<Case> = None;
    let mut reversed = Vec::new();
    for &id in &r.cases {
        let c = store.case(id)?;
        if c.reversal.is_some() || c.state != spoor_bank::cases::CaseState::Confirmed {
            // Reversed on complaint before it was sent: never reported.
            reversed.push(id);
            continue;
        }
        let content = match (vault, &c.media) {
            (Some(v), Some(m)) => match m.id.parse::<spoor_case::MediaId>() {
                Ok(mid) => match v.get(&mid) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        tracing::warn!(case = id, error = %e, "reports: the case's held content cannot be read; it is reported by its hashes only");
                        None
                    }
                },
                Err(_) => None,
            },
            _ => None,
        };
        files.push(FileFacts {
            case_id: c.id,
            content_ref: c.meta.content_ref.clone(),
            file_name: None,
            uploaded_at: c.meta.uploaded_at,
            upload_ip: c.meta.upload_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()),
            md5: c.signals.md5,
            sha1: c.signals.sha1,
            sha256: c.signals.sha256,
            pdq: c.signals.pdq,
            viewed_by_person: viewed_by_person(store, &c)?,
            publicly_available: c.meta.publicly_available,
            industry_class: c.industry_class.map(|x| x.name().to_string()),
            annotations: c.annotations.iter().map(|a| a.name().to_string()).collect(),
            known: c.resolution == Some(Resolution::Auto),
            category: c
                .category
                .filter(|x| *x != spoor_bank::model::Category::NotIllegal)
                .map(|x| x.name().to_string()),
            decided_at: c.decided_at.unwrap_or(c.created_at),
            removed: None,
        });
        contents.push(content);
        if first.is_none() {
            first = Some(c);
        }
    }
    let first = first.ok_or_else(|| {
        FactsError::Invalid(if reversed.is_empty() {
            "the report has no cases".into()
        } else {
            format!(
                "every case of the report ({}) was reversed on complaint before it was sent: \
                 there is nothing to report, and nothing was sent",
                reversed.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
            )
        })
    })?;
    let facts = ReportFacts {
        report_uuid: r.uuid.clone(),
        service: first.meta.service.clone(),
        uploader_ref: first.meta.uploader_ref.clone(),
        files,
        urgent: false,
        reported_elsewhere: Vec::new(),
    };
    spoor_report::validate(&facts)
        .map_err(|e| FactsError::Invalid(format!("the report's facts cannot be reported: {e}")))?;
    Ok((facts, contents))
}

/// Sends one NCMEC request and reads its answer: success and "already finished" are answers;
/// everything else is a [`Stop`].
fn ncmec_call(
    t: &NcmecTarget,
    what: &str,
    req: reqwest::blocking::RequestBuilder,
) -> Result<ncmec::Response, Stop> {
    let resp = req.basic_auth(&t.username, Some(&*t.password)).send().map_err(|e| {
        metrics::counter!("spoor_report_requests_total", "recipient" => NCMEC, "outcome" => "no_answer").increment(1);
        Stop::Transient(format!("NCMEC {what}: {}", describe(&e)))
    })?;
    let status = resp.status();
    let body = resp.bytes().map_err(|e| {
        Stop::Transient(format!("NCMEC {what}: the answer broke off: {}", describe(&e)))
    })?;
    let outcome = if status.is_success() { "answered" } else { "http_error" };
    metrics::counter!("spoor_report_requests_total", "recipient" => NCMEC, "outcome" => outcome)
        .increment(1);
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        return Err(Stop::Transient(format!("NCMEC {what}: HTTP {}", status.as_u16())));
    }
    let parsed = ncmec::parse_response(&body);
    match parsed {
        Ok(r) if r.is_success() || r.already_finished() => {
            if status.is_success() {
                Ok(r)
            } else {
                Err(Stop::Permanent(format!(
                    "NCMEC {what}: HTTP {} with code {}",
                    status.as_u16(),
                    r.code
                )))
            }
        }
        Ok(r) if r.is_permanent() || status.is_client_error() => Err(Stop::Permanent(format!(
            "NCMEC {what}: code {} ({}), HTTP {}",
            r.code,
            r.description,
            status.as_u16()
        ))),
        Ok(r) => Err(Stop::Transient(format!("NCMEC {what}: code {} ({})", r.code, r.description))),
        Err(e) if status.is_client_error() => {
            Err(Stop::Permanent(format!("NCMEC {what}: HTTP {} ({e})", status.as_u16())))
        }
        Err(e) => Err(Stop::Permanent(format!("NCMEC {what}: the answer cannot be read: {e}"))),
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    crate::webhook::error_chain(e)
}

fn form_id(id: &str) -> reqwest::blocking::multipart::Form {
    reqwest::blocking::multipart::Form::new().text("id", id.to_string())
}

/// Cancels an opened report at NCMEC. `Ok(Some(receipt))` when it turns out to be finished
/// already (it must not be redone), `Ok(None)` when it is cancelled or gone.
fn ncmec_retract(ctx: &Ctx, t: &NcmecTarget, remote_id: &str) -> Result<Option<String>, Stop> {
    let req = ctx.client.post(format!("{}/retract", t.base_url)).multipart(form_id(remote_id));
    metrics::counter!("spoor_report_retractions_total").increment(1);
    match ncmec_call(t, "retract", req) {
        Ok(r) if r.already_finished() => Ok(Some(format!(
            "NCMEC reportId {remote_id}: finished (NCMEC said so when it was to be cancelled)"
        ))),
        Ok(_) => Ok(None),
        // Retracted before, or deleted by NCMEC as unfinished: nothing is open any more.
        Err(Stop::Permanent(m)) if m.contains("code 5101") || m.contains("code 5001") => Ok(None),
        Err(e) => Err(e),
    }
}

/// One attempt at an NCMEC report; the receipt when it is finished.
fn ncmec_attempt(ctx: &Ctx, t: &NcmecTarget, r: &Report) -> Result<String, Stop> {
    match (r.state, &r.remote_id) {
        (ReportState::Finishing, Some(id)) => {
            let req = ctx.client.post(format!("{}/finish", t.base_url)).multipart(form_id(id));
            match ncmec_call(t, "finish", req) {
                Ok(resp) => return Ok(receipt_of(id, &resp)),
                // Deleted by NCMEC as unfinished (or cancelled): it was not taken; redo it.
                Err(Stop::Permanent(m)) if m.contains("code 5001") || m.contains("code 5101") => {
                    ctx.step(r, &ReportStep::reset())?;
                }
                Err(e) => return Err(e),
            }
        }
        (ReportState::Open, Some(id)) => {
            if let Some(receipt) = ncmec_retract(ctx, t, id)? {
                return Ok(receipt);
            }
            ctx.step(r, &ReportStep::reset())?;
        }
        _ => {}
    }
    ncmec_send(ctx, t, r)
}

fn receipt_of(remote_id: &str, resp: &ncmec::Response) -> String {
    serde_json::json!({
        "report_id": resp.report_id.clone().unwrap_or_else(|| remote_id.to_string()),
        "file_ids": resp.file_ids,
        "code": resp.code,
        "description": resp.description,
    })
    .to_string()
}

/// Sends an NCMEC report from the start: submit, files, finish.
fn ncmec_send(ctx: &Ctx, t: &NcmecTarget, r: &Report) -> Result<String, Stop> {
    let (facts, contents) = facts_of(ctx, r)?;
    let xml = ncmec::report_xml(&facts, &t.reporter, now_ms())
        .map_err(|e| Stop::Permanent(format!("the NCMEC report cannot be made: {e}")))?;
    let req = ctx
        .client
        .post(format!("{}/submit", t.base_url))
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(xml.clone());
    let opened = ncmec_call(t, "submit", req)?;
    let id = opened
        .report_id
        .clone()
        .ok_or_else(|| Stop::Transient("NCMEC submit: the answer names no reportId".into()))?;
    let mut progress = NcmecProgress::default();
    ctx.step(
        r,
        &ReportStep {
            state: Some(ReportState::Open),
            remote_id: Some(id.clone()),
            progress: Some(serde_json::to_string(&progress).unwrap_or_default()),
            document: Some(xml),
            reset: false,
        },
    )?;
    // From here on a failure cancels what was opened, so nothing half-made is ever finished.
    let files = ncmec_files(ctx, t, r, &id, &facts, &contents, &mut progress);
    if let Err(e) = files {
        return Err(cancel_after(ctx, t, r, &id, e));
    }
    ctx.step(r, &ReportStep { state: Some(ReportState::Finishing), ..Default::default() })?;
    let req = ctx.client.post(format!("{}/finish", t.base_url)).multipart(form_id(&id));
    match ncmec_call(t, "finish", req) {
        Ok(resp) => Ok(receipt_of(&id, &resp)),
        // Refused for good (validation at finish): not taken; cancel it and give up.
        Err(Stop::Permanent(m)) => Err(cancel_after(ctx, t, r, &id, Stop::Permanent(m))),
        // No answer: perhaps taken. The next attempt finishes it again (state `finishing`).
        Err(e) => Err(e),
    }
}

/// Uploads each file with held content and its details, recording each step.
fn ncmec_files(
    ctx: &Ctx,
    t: &NcmecTarget,
    r: &Report,
    id: &str,
    facts: &ReportFacts,
    contents: &Contents,
    progress: &mut NcmecProgress,
) -> Result<(), Stop> {
    for (file, content) in facts.files.iter().zip(contents) {
        let Some(bytes) = content else { continue };
        let name = ncmec::upload_file_name(file);
        let part = reqwest::blocking::multipart::Part::bytes(bytes.clone()).file_name(name);
        let form = form_id(id).part("file", part);
        // A large file gets more time: a second per 256 KiB on top of the timeout.
        let extra = Duration::from_secs((bytes.len() / (256 << 10)) as u64);
        if !extra.is_zero() {
            // Held for twice the upload's own time before it starts.
            let need =
                i64::try_from(((ctx.cfg.timeout + extra) * 2).as_millis()).unwrap_or(i64::MAX);
            ctx.step_for(r, &ReportStep::default(), need.max(ctx.lease_ms))?;
        }
        let req = ctx
            .client
            .post(format!("{}/upload", t.base_url))
            .timeout(ctx.cfg.timeout + extra)
            .multipart(form);
        let up = ncmec_call(t, "upload", req)?;
        let file_id = up
            .file_id
            .clone()
            .ok_or_else(|| Stop::Transient("NCMEC upload: the answer names no fileId".into()))?;
        if let Some(h) = &up.hash {
            let ours = spoor_hash::digest::Digests::of(bytes).md5;
            if !h.eq_ignore_ascii_case(&spoor_audit::hex(&ours.0)) {
                return Err(Stop::Transient(format!(
                    "NCMEC upload: NCMEC received a file whose MD5 is {h}, not the file sent"
                )));
            }
        }
        progress.files.push((file.case_id, file_id.clone(), false));
        record(ctx, r, progress)?;
        let details = ncmec::file_details_xml(id, &file_id, file)
            .map_err(|e| Stop::Permanent(format!("the NCMEC file details cannot be made: {e}")))?;
        let req = ctx
            .client
            .post(format!("{}/fileinfo", t.base_url))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(details);
        ncmec_call(t, "fileinfo", req)?;
        if let Some(last) = progress.files.last_mut() {
            last.2 = true;
        }
        record(ctx, r, progress)?;
    }
    Ok(())
}

fn record(ctx: &Ctx, r: &Report, progress: &NcmecProgress) -> Result<(), Stop> {
    ctx.step(
        r,
        &ReportStep {
            progress: Some(serde_json::to_string(progress).unwrap_or_default()),
            ..Default::default()
        },
    )
}

/// After a failure between submit and finish: cancels the opened report and starts the report
/// over next time; what stopped the attempt is returned (or why the cancelling failed).
fn cancel_after(ctx: &Ctx, t: &NcmecTarget, r: &Report, id: &str, why: Stop) -> Stop {
    if matches!(why, Stop::Lost | Stop::Store(_)) {
        return why;
    }
    match ncmec_retract(ctx, t, id) {
        Ok(None) => match ctx.step(r, &ReportStep::reset()) {
            Ok(()) => why,
            Err(e) => e,
        },
        // Finished after all cannot happen before finish was sent; keep it open so the next
        // attempt asks NCMEC again.
        Ok(Some(_)) => why,
        // Not cancelled: it stays `open`, and the next attempt cancels it first.
        Err(e) => {
            tracing::warn!(report = r.id, ?e, "reports: cannot cancel the opened NCMEC report now; it is cancelled before the next attempt");
            why
        }
    }
}

/// One attempt at an EU Centre report; the receipt when it is taken.
fn eu_attempt(ctx: &Ctx, t: &EuTarget, r: &Report) -> Result<String, Stop> {
    let body = match &r.document {
        Some(d) => d.clone(),
        None => {
            let (facts, _) = facts_of(ctx, r)?;
            let doc = spoor_report::eu::document(&facts, &t.provider, now_ms());
            let body = serde_json::to_string(&doc).map_err(|e| {
                Stop::Permanent(format!("the EU Centre report cannot be made: {e}"))
            })?;
            ctx.step(
                r,
                &ReportStep {
                    state: Some(ReportState::Finishing),
                    document: Some(body.clone()),
                    ..Default::default()
                },
            )?;
            body
        }
    };
    let jws = spoor_report::eu::sign(body.as_bytes(), &t.key, &t.key_id);
    let resp = ctx
        .client
        .post(&t.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &r.uuid)
        .header("JWS-Signature", jws)
        .body(body)
        .send()
        .map_err(|e| {
            metrics::counter!("spoor_report_requests_total", "recipient" => EU_CENTRE, "outcome" => "no_answer").increment(1);
            Stop::Transient(format!("EU Centre: {}", describe(&e)))
        })?;
    let status = resp.status();
    let text = resp.text().map_err(|e| {
        Stop::Transient(format!("EU Centre: the answer broke off: {}", describe(&e)))
    })?;
    metrics::counter!("spoor_report_requests_total", "recipient" => EU_CENTRE, "outcome" => if status.is_success() { "answered" } else { "http_error" }).increment(1);
    let code = status.as_u16();
    if status.is_success() || code == 409 {
        Ok(serde_json::json!({"status": code, "answer": spoor_bank::reports::clip(&text, 64 << 10)}).to_string())
    } else if status.is_server_error() || code == 408 || code == 429 {
        Err(Stop::Transient(format!("EU Centre: HTTP {code}")))
    } else {
        Err(Stop::Permanent(format!(
            "EU Centre: HTTP {code}: {}",
            spoor_bank::reports::clip(&text, 512)
        )))
    }
}
