//! The case webhook: when a case is decided, a signed JSON message to the operator's own system
//! (`--case-webhook`), through the store's durable outbox.
//!
//! * [`message`] is the outbox message about a decided case (once per case: its dedupe key is
//!   `case_decided:{id}`), stored in the same transaction as the decision.
//! * [`spawn_worker`] delivers what is due every 250 ms: a POST with the JSON body and the headers
//!   `X-Spoor-Event`, `X-Spoor-Delivery` (the outbox id: the same for every attempt, so a
//!   receiver can drop repeats), `X-Spoor-Timestamp` (unix seconds) and `X-Spoor-Signature`
//!   (`sha256=` and the hex HMAC-SHA256, keyed with the secret, of `timestamp + "." + body`).
//!   A 2xx answer delivers it; anything else (or no answer within 10 s) is retried after
//!   1 s, 2 s, 4 s … at most an hour, with jitter, for 72 hours; then it is given up, with its
//!   last error kept.
//! * [`sign`] and [`verify`] are what a receiver does to check a message.
//!
//! The message names the case and what the submitter said about the content; it never holds the
//! content, its hashes, or the banks' entries. A worker claims what it sends (replicas never
//! send one message at the same time). Delivery is at least once: a receiver that
//! answered 2xx may see the same delivery id again if the service stopped before recording it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use spoor_bank::cases::{Case, Message};
use spoor_bank::model::{format_time, now_ms, Millis};
use spoor_bank::outbox::OutboxItem;
use spoor_bank::Store;

/// The outbox topic of case decisions.
pub const TOPIC: &str = "case_decided";
/// The event named in the payload and the `X-Spoor-Event` header.
pub const EVENT: &str = "case.decided";
/// The outbox topic of user notices.
pub const NOTICE_TOPIC: &str = "user_notice";
/// The event of a user notice.
pub const NOTICE_EVENT: &str = "case.user_notice";

/// The event named for an outbox topic.
fn event_of(topic: &str) -> &'static str {
    match topic {
        NOTICE_TOPIC => NOTICE_EVENT,
        crate::complaining::DECIDED_TOPIC => crate::complaining::DECIDED_EVENT,
        crate::complaining::RESTORE_TOPIC => crate::complaining::RESTORE_EVENT,
        _ => EVENT,
    }
}

/// The outbox topics the case webhook delivers.
pub fn topics() -> Vec<String> {
    [TOPIC, NOTICE_TOPIC, crate::complaining::DECIDED_TOPIC, crate::complaining::RESTORE_TOPIC]
        .iter()
        .map(|t| t.to_string())
        .collect()
}
/// Shortest secret, in bytes.
pub const MIN_SECRET: usize = 16;
/// How often the worker looks for due messages.
pub const POLL: Duration = Duration::from_millis(250);
/// How long one delivery attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long a message is tried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(72 * 3600);
/// Messages taken from the outbox at a time.
const BATCH: usize = 10;
/// How long a worker holds the messages it took: every one of them timing out, and more.
const CLAIM_MS: Millis = (BATCH as i64 + 3) * TIMEOUT.as_millis() as i64;

/// Where case decisions are sent, and the key that signs them.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// An `http` or `https` URL.
    pub url: String,
    /// The HMAC key (at least [`MIN_SECRET`] bytes).
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

impl WebhookConfig {
    /// Checks the URL (`http` or `https`, with a host) and the secret (at least [`MIN_SECRET`]
    /// bytes).
    pub fn new(url: &str, secret: Vec<u8>) -> Result<Self, String> {
        check_url(url)?;
        if secret.len() < MIN_SECRET {
            return Err(format!(
                "the webhook secret is {} bytes long: use at least {MIN_SECRET} random bytes \
                 (such as the output of `openssl rand -hex 32`)",
                secret.len()
            ));
        }
        Ok(WebhookConfig { url: url.to_string(), secret })
    }

    /// Reads the secret from a file: the whole file, surrounding white space trimmed.
    pub fn with_secret_file(url: &str, path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the webhook secret file {}: {e}", path.display()))?;
        let secret = bytes.trim_ascii().to_vec();
        Self::new(url, secret).map_err(|e| format!("{e} (in {})", path.display()))
    }
}

/// Checks a webhook URL: `http` or `https`, with a host, at most 2048 bytes.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("the case webhook {url:?} is not a URL ({e}): give one such as https://example.org/spoor")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the case webhook must be an http or https URL, not {}: (such as \
             https://example.org/spoor)",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("the case webhook {url:?} names no host"));
    }
    if url.len() > spoor_bank::outbox::MAX_TARGET {
        return Err(format!(
            "the case webhook URL is {} bytes long: at most {} are allowed",
            url.len(),
            spoor_bank::outbox::MAX_TARGET
        ));
    }
    Ok(())
}

/// The URL for logs: scheme, host, port and path, without credentials or query (either may hold
/// a token).
pub fn url_for_logs(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(not a URL)".into(),
    }
}

/// The message about a decided case. Never its content, hashes or matched entries.
pub fn payload(case: &Case) -> serde_json::Value {
    json!({
        "event": EVENT,
        "case_id": case.id,
        "state": case.state.name(),
        "resolution": case.resolution.map(|r| r.name()),
        "category": case.category.map(|c| c.name()),
        "industry_class": case.industry_class.map(|c| c.name()),
        "annotations": case.annotations.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "decided_at": case.decided_at.map(format_time),
        "content_ref": case.meta.content_ref,
        "service": case.meta.service,
        "uploader_ref": case.meta.uploader_ref,
        "viewed_by_person": case.decisions.iter().any(|d| d.person.starts_with("user:")),
    })
}

/// The outbox message about `case` when it is decided (`None` while it is open). Its dedupe key
/// `case_decided:{id}` makes it once per case. Stores keep it in the transaction that decides
/// the case ([`spoor_bank::cases::Cases::decide_case_notifying`],
/// [`spoor_bank::cases::Cases::create_cases_notifying`]): a decision kept is never left
/// untold.
pub fn message(cfg: &WebhookConfig, case: &Case) -> Option<Message> {
    if case.state.is_open() {
        return None;
    }
    Some(Message {
        topic: TOPIC.to_string(),
        dedupe_key: format!("{TOPIC}:{}", case.id),
        target: cfg.url.clone(),
        payload: payload(case).to_string(),
        not_before: None,
    })
}

/// `sha256=` and the hex HMAC-SHA256, keyed with `secret`, of `timestamp + "." + body`: the
/// `X-Spoor-Signature` header.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `header` is the signature of `timestamp` and `body` with `secret`, compared in
/// constant time. A receiver should also refuse timestamps far from its own clock.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let expected = sign(secret, timestamp, body);
    let header = header.trim();
    expected.len() == header.len() && bool::from(expected.as_bytes().ct_eq(header.as_bytes()))
}

/// The wait after the `failures`-th failed attempt (1 for the first): 1 s, 2 s, 4 s …, at most
/// [`MAX_BACKOFF`], less a random part of up to a fifth (`jitter` in 0..1), so retries of many
/// messages spread out. Never above [`MAX_BACKOFF`], never below 0.8 s.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(31);
    let base = Duration::from_secs(1u64 << exp).min(MAX_BACKOFF);
    base.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

/// A random number in 0..1 (0.5 when the system gives no randomness): the jitter of retries.
pub(crate) fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// An HTTP error with its whole chain of causes: "error sending request" alone says little.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut m = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        m.push_str(": ");
        m.push_str(&s.to_string());
        src = s.source();
    }
    m
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed; tried again at this time.
    Retry(Millis),
    /// It failed and has been tried for [`GIVE_UP_AFTER`]: given up.
    GaveUp,
}

/// Sends one message; `Err` with what went wrong (never the secret).
fn post(
    client: &reqwest::blocking::Client,
    secret: &[u8],
    item: &OutboxItem,
) -> Result<(), String> {
    let ts = now_ms().div_euclid(1000);
    let resp = client
        .post(&item.target)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Spoor-Event", event_of(&item.topic))
        .header("X-Spoor-Delivery", item.id.to_string())
        .header("X-Spoor-Timestamp", ts.to_string())
        .header("X-Spoor-Signature", sign(secret, ts, item.payload.as_bytes()))
        .body(item.payload.clone())
        .send()
        .map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                error_chain(&e)
            }
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}

/// Tries one due message and records what happened.
pub fn attempt(
    store: &dyn Store,
    client: &reqwest::blocking::Client,
    secret: &[u8],
    item: &OutboxItem,
) -> spoor_bank::Result<Outcome> {
    let result = post(client, secret, item);
    let now = now_ms();
    let outcome = match result {
        Ok(()) => {
            if !store.outbox_delivered(item.id, now)? {
                tracing::info!(
                    delivery = item.id,
                    "delivered, but another worker recorded it first"
                );
            }
            Outcome::Delivered
        }
        Err(error) => {
            let give_up_at = item
                .due_from()
                .saturating_add(i64::try_from(GIVE_UP_AFTER.as_millis()).unwrap_or(i64::MAX));
            if now >= give_up_at {
                store.outbox_give_up(item.id, now, &error)?;
                tracing::error!(delivery = item.id, attempts = item.attempts + 1, %error, "case webhook: gave up after 72 h of attempts");
                Outcome::GaveUp
            } else {
                let wait = backoff(item.attempts.saturating_add(1), random_unit());
                let next = now.saturating_add(wait.as_millis() as i64).min(give_up_at);
                store.outbox_retry(item.id, next, &error)?;
                tracing::warn!(delivery = item.id, attempts = item.attempts + 1, retry_in_ms = next - now, %error, "case webhook: delivery failed; retrying");
                Outcome::Retry(next)
            }
        }
    };
    let label = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry(_) => "retry",
        Outcome::GaveUp => "gave_up",
    };
    metrics::counter!("spoor_webhook_deliveries_total", "outcome" => label).increment(1);
    Ok(outcome)
}

/// The HTTP client of the worker: rustls, a 10 s timeout, no redirects (a signed message goes
/// where it was addressed, or nowhere).
pub fn client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("spoor/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Starts the thread `spoor-webhook`, which delivers due case messages every [`POLL`] until
/// `stop` is set (it finishes the attempt in flight, at most [`TIMEOUT`]).
pub fn spawn_worker(
    store: Arc<dyn Store>,
    cfg: WebhookConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("spoor-webhook".into()).spawn(move || {
        let client = match client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "case webhook: cannot make an HTTP client; nothing will be delivered");
                return;
            }
        };
        let mut failing = false;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL);
            let topics = topics();
            let due = match store.outbox_claim(&topics, now_ms(), CLAIM_MS, BATCH) {
                Ok(due) => {
                    if failing {
                        tracing::info!("case webhook: the outbox is read again");
                        failing = false;
                    }
                    due
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, "case webhook: cannot read the outbox; retrying");
                        failing = true;
                    }
                    continue;
                }
            };
            for item in due {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(e) = attempt(&*store, &client, &cfg.secret, &item) {
                    tracing::error!(delivery = item.id, error = %e, "case webhook: cannot record a delivery attempt; it will be tried again");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"spoor-webhook-test-secret";
    const BODY: &[u8] = br#"{"event":"case.decided","case_id":1}"#;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"spoor-webhook-test-secret",
        //   b'1764500000.{"event":"case.decided","case_id":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, 1_764_500_000, BODY),
            "sha256=8789f98bfe47080d768f2b19a404aa9f03688cbbee213fed01a62f638a124609"
        );
    }

    #[test]
    fn verify_takes_the_signature_and_refuses_any_change() {
        let sig = sign(SECRET, 1_764_500_000, BODY);
        assert!(verify(SECRET, 1_764_500_000, BODY, &sig));
        assert!(!verify(SECRET, 1_764_500_001, BODY, &sig), "another timestamp");
        assert!(!verify(SECRET, 1_764_500_000, br#"{"event":"case.decided","case_id":2}"#, &sig));
        assert!(!verify(b"another-secret-of-16+", 1_764_500_000, BODY, &sig));
        assert!(!verify(SECRET, 1_764_500_000, BODY, &sig[..sig.len() - 1]));
        assert!(!verify(SECRET, 1_764_500_000, BODY, ""));
        assert!(!verify(SECRET, 1_764_500_000, BODY, &sig.replace("sha256=", "sha1=")));
    }

    #[test]
    fn backoff_doubles_from_a_second_to_at_most_an_hour_with_jitter() {
        for (failures, secs) in [(1, 1), (2, 2), (3, 4), (4, 8), (12, 2048), (13, 3600)] {
            let base = Duration::from_secs(secs);
            assert_eq!(backoff(failures, 0.0), base, "{failures}");
            let low = backoff(failures, 1.0);
            assert!(low >= base.mul_f64(0.8) && low < base, "{failures}: {low:?}");
        }
        for failures in [0, 1, 5, 20, 40, 1000, u32::MAX] {
            for j in [0.0, 0.3, 0.999, 1.0, -5.0, 7.0] {
                let d = backoff(failures, j);
                assert!(d <= MAX_BACKOFF && d >= Duration::from_millis(800), "{failures} {j}");
            }
        }
        // Random jitter stays in bounds too.
        for _ in 0..100 {
            let j = random_unit();
            assert!((0.0..1.0).contains(&j));
        }
        // The schedule reaches 72 h in about 85 attempts: never an endless hammering.
        let total: Duration = (1..=90).map(|n| backoff(n, 0.0)).sum();
        assert!(total >= GIVE_UP_AFTER, "{total:?}");
    }

    #[test]
    fn urls_and_secrets_are_checked() {
        let s = || b"0123456789abcdef".to_vec();
        assert!(WebhookConfig::new("https://example.org/hook", s()).is_ok());
        assert!(WebhookConfig::new("http://127.0.0.1:8080/hook", s()).is_ok());
        for bad in ["ftp://example.org/x", "file:///etc/passwd", "example.org/hook", "", "http://"]
        {
            let e = WebhookConfig::new(bad, s()).unwrap_err();
            assert!(e.contains("http"), "{bad}: {e}");
        }
        let e = WebhookConfig::new("https://example.org", b"short".to_vec()).unwrap_err();
        assert!(e.contains("at least 16"), "{e}");
        assert_eq!(
            url_for_logs("https://u:pw@example.org:8443/hook?token=t"),
            "https://example.org:8443/hook"
        );
        let cfg = WebhookConfig::new("https://example.org", b"0123456789abcdef!".to_vec()).unwrap();
        assert!(!format!("{cfg:?}").contains("0123456789"), "Debug never shows the secret");
    }
}
