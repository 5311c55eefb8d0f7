//! Following another Spoor instance's bank: the pull that `spoor exchange pull` runs once and
//! that `spoor serve` runs for every exchange set up (`spoor exchange add`, the console, `POST
//! /v1/exchanges`) each interval.
//!
//! A pull reads the source's change log with the exchange key (`GET
//! /v1/banks/{name}/changes?after=POSITION`), page by page, applies each page to the local bank
//! ([`spoor_bank::exchange::apply`]: provenance kept, local decisions win, conflicts kept) and
//! saves the position after each page. Stopped anywhere (a crash, a network failure, a
//! shutdown), the next pull starts at the saved position and loses and repeats nothing.
//!
//! Replicas over one PostgreSQL take turns: a replica pulls an exchange only while it holds the
//! exchange's lease ([`spoor_bank::exchange::Exchanges::lease_exchange`]), renewed each page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;
use spoor_bank::exchange::{apply, Conflict, Exchange, Position, RemoteChange, Run};
use spoor_bank::model::{now_ms, Millis};
use spoor_bank::Store;

/// How long a replica holds an exchange after each page it reads, renewed as it goes (and
/// given back when it stops): a replica that dies mid-pull holds up the others this long at most.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Pages read before they are applied together (50,000 changes with the largest pages).
const PAGES_AT_ONCE: usize = 5;
/// Longest wait before an exchange whose pulls fail is tried again.
const MAX_BACKOFF_MS: Millis = 300_000;

/// What to pull, from where, into which bank.
#[derive(Debug, Clone)]
pub struct Source {
    /// The exchange's name.
    pub name: String,
    /// The source's base URL.
    pub url: String,
    /// The bank there.
    pub remote_bank: String,
    /// The bank here.
    pub local_bank: String,
    /// The exchange key the source gave.
    pub key: String,
    /// Changes read per request.
    pub page: u32,
}

impl From<&Exchange> for Source {
    fn from(x: &Exchange) -> Self {
        Source {
            name: x.name.clone(),
            url: x.source_url.clone(),
            remote_bank: x.remote_bank.clone(),
            local_bank: x.local_bank.clone(),
            key: x.key.0.clone(),
            page: x.page,
        }
    }
}

/// What a pull did, up to where it stopped.
#[derive(Debug, Default)]
pub struct Pulled {
    /// The position it started from.
    pub from_position: i64,
    /// The position it saved last.
    pub position: i64,
    /// The source's newest sequence number, when it answered.
    pub remote_last_seq: Option<i64>,
    /// Entries added.
    pub added: u64,
    /// Entries changed to follow the source.
    pub changed: u64,
    /// Changes with nothing to do.
    pub unchanged: u64,
    /// Changes not applied because a local decision stands.
    pub conflicts: Vec<Conflict>,
    /// Why it stopped early, if it did (what came before is applied and saved).
    pub error: Option<anyhow::Error>,
}

#[derive(Deserialize)]
struct Page {
    changes: Vec<RemoteChange>,
    next_after: i64,
    last_seq: i64,
}

/// Pulls `src` into the local bank until the source has nothing newer, `stop` is set, or
/// something fails. Each page's counts are recorded on the exchange as it is applied (when
/// `src` is set up); the caller records how the pull ended ([`spoor_bank::exchange::Exchanges::exchange_ran`] with
/// no counts). `on_page` runs after each page is applied and saved (the service renews its
/// lease there; an error from it stops the pull).
pub fn pull(
    store: &dyn Store,
    client: &reqwest::blocking::Client,
    src: &Source,
    stop: &AtomicBool,
    on_page: &mut dyn FnMut(&Pulled) -> anyhow::Result<()>,
) -> Pulled {
    let mut out = Pulled::default();
    if let Err(e) = pull_into(store, client, src, stop, on_page, &mut out) {
        out.error = Some(e);
    }
    out
}

fn pull_into(
    store: &dyn Store,
    client: &reqwest::blocking::Client,
    src: &Source,
    stop: &AtomicBool,
    on_page: &mut dyn FnMut(&Pulled) -> anyhow::Result<()>,
    out: &mut Pulled,
) -> anyhow::Result<()> {
    let base = src.url.trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("{base:?}: give an http or https URL");
    }
    store.bank(&src.local_bank)?;
    let mut position = match store.exchange_position(&src.name)? {
        Some(p) => {
            if (p.source_url.as_str(), p.remote_bank.as_str(), p.local_bank.as_str())
                != (base, src.remote_bank.as_str(), src.local_bank.as_str())
            {
                bail!(
                    "exchange {:?} follows {} bank {} into {}: use another name for another \
                     source or bank",
                    src.name,
                    p.source_url,
                    p.remote_bank,
                    p.local_bank
                );
            }
            p
        }
        None => Position {
            name: src.name.clone(),
            source_url: base.to_string(),
            remote_bank: src.remote_bank.clone(),
            local_bank: src.local_bank.clone(),
            position: 0,
            updated_at: 0,
        },
    };
    let started = now_ms();
    out.from_position = position.position;
    out.position = position.position;
    let fetch = |after: i64| -> anyhow::Result<Page> {
        let mut url = parsed.clone();
        url.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{base:?} cannot take a path"))?
            .pop_if_empty()
            .extend(["v1", "banks", src.remote_bank.as_str(), "changes"]);
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &src.page.to_string());
        let resp = client
            .get(url)
            .bearer_auth(&src.key)
            .send()
            .map_err(|e| anyhow::anyhow!("cannot reach {base}: {}", with_causes(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.chars().take(300).collect());
            bail!("{base} answered {status}: {message}");
        }
        let page: Page = resp
            .json()
            .with_context(|| format!("{base} sent something that is not a page of changes"))?;
        if !page.changes.is_empty() && page.next_after <= after {
            bail!(
                "{base} sent a page that ends at {} but was asked for changes after {after}: the \
                 source's log went back; remove and add the exchange again to start over",
                page.next_after
            );
        }
        Ok(page)
    };
    // A reader thread fetches pages ahead (while a batch is written, the next is on its way);
    // pages are applied and saved together, up to PAGES_AT_ONCE at a time: the store writes
    // large batches much faster. A reader's error reaches the writer after the pages before
    // it, which are applied first.
    let page_size = src.page as usize;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<anyhow::Result<Option<Page>>>(PAGES_AT_ONCE);
        let from = position.position;
        let fetch = &fetch;
        scope.spawn(move || {
            let mut after = from;
            while !stop.load(Ordering::Relaxed) {
                let page = fetch(after);
                let end = match &page {
                    Ok(p) => {
                        if let Some(last) = p.changes.last() {
                            after = p.next_after.max(last.seq);
                        }
                        p.changes.len() < page_size
                    }
                    Err(_) => true,
                };
                if tx.send(page.map(Some)).is_err() {
                    return;
                }
                if end {
                    let _ = tx.send(Ok(None));
                    return;
                }
            }
        });
        loop {
            let mut changes: Vec<RemoteChange> = Vec::new();
            let mut next_after = position.position;
            let (mut end, mut failed) = (false, None);
            for _ in 0..PAGES_AT_ONCE {
                match rx.recv() {
                    Ok(Ok(Some(p))) => {
                        out.remote_last_seq = Some(p.last_seq);
                        if !p.changes.is_empty() {
                            next_after = p.next_after;
                            changes.extend(p.changes);
                        }
                    }
                    Ok(Ok(None)) | Err(_) => {
                        end = true;
                        break;
                    }
                    Ok(Err(e)) => {
                        (end, failed) = (true, Some(e));
                        break;
                    }
                }
            }
            if !changes.is_empty() {
                let done = apply(store, &src.name, &src.local_bank, &changes)?;
                let now = now_ms();
                store.add_exchange_conflicts(&src.name, &done.conflicts, now)?;
                position.position = next_after;
                position.updated_at = now;
                store.set_exchange_position(&position)?;
                // What each batch brought counts at once (a pull killed later loses none of it).
                store.exchange_ran(
                    &src.name,
                    &Run {
                        at: started,
                        error: None,
                        remote_last_seq: out.remote_last_seq,
                        added: done.added,
                        changed: done.changed,
                    },
                )?;
                metrics::counter!("spoor_exchange_entries_total", "exchange" => src.name.clone(), "kind" => "added").increment(done.added);
                metrics::counter!("spoor_exchange_entries_total", "exchange" => src.name.clone(), "kind" => "changed").increment(done.changed);
                metrics::counter!("spoor_exchange_entries_total", "exchange" => src.name.clone(), "kind" => "conflict").increment(done.conflicts.len() as u64);
                out.position = position.position;
                out.added += done.added;
                out.changed += done.changed;
                out.unchanged += done.unchanged;
                out.conflicts.extend(done.conflicts);
                on_page(out)?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if end {
                return Ok(());
            }
        }
    })?;
    if position.updated_at == 0 {
        // The first pull of an empty source still records that it looked.
        position.updated_at = now_ms();
        store.set_exchange_position(&position)?;
    }
    Ok(())
}

/// A request error with its causes (the connection's own reason is in the innermost).
fn with_causes(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// When exchange `x` is next due: one interval after its last pull began, later after failures
/// (doubling from one second up to five minutes, never sooner than the interval).
pub fn next_due(x: &Exchange) -> Millis {
    let Some(last) = x.last_attempt_at else {
        return 0;
    };
    let interval = x.interval_ms as Millis;
    let wait = if x.failures > 0 {
        let backoff = 1000i64.saturating_mul(1 << x.failures.clamp(0, 20)).min(MAX_BACKOFF_MS);
        backoff.max(interval)
    } else {
        interval
    };
    last.saturating_add(wait)
}

/// The service's follower: what it needs to pull.
pub struct Follower {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The HTTP client (no redirects; the service's resolver).
    pub client: reqwest::blocking::Client,
    /// Connect only to loopback addresses (`--reports-loopback-only`).
    pub loopback_only: bool,
    /// This replica's name in leases.
    pub holder: String,
    /// How long it holds an exchange after each page (its requests time out in half that).
    pub lease: Duration,
}

impl Follower {
    /// Runs every exchange that is due once (those another replica holds are left to it).
    pub fn tick(&self, stop: &AtomicBool) -> anyhow::Result<()> {
        let now = now_ms();
        let lease = self.lease_ms();
        for x in self.store.exchanges()? {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if next_due(&x) > now {
                continue;
            }
            if !self.store.lease_exchange(&x.name, &self.holder, now, now + lease)? {
                continue;
            }
            self.run(&x, stop);
            // Let go, so another replica may take the next turn.
            let _ = self.store.lease_exchange(&x.name, &self.holder, now_ms(), 0);
        }
        Ok(())
    }

    fn lease_ms(&self) -> Millis {
        Millis::try_from(self.lease.as_millis()).unwrap_or(Millis::MAX / 2)
    }

    fn run(&self, x: &Exchange, stop: &AtomicBool) {
        let lease = self.lease_ms();
        let at = now_ms();
        let src = Source::from(x);
        let pulled =
            if self.loopback_only && !spoor_bank::exchange::is_loopback_source(&x.source_url) {
                Pulled {
                    from_position: x.position,
                    position: x.position,
                    error: Some(anyhow::anyhow!(
                        "{} is not a loopback address, and this service connects only to loopback \
                     addresses (--reports-loopback-only)",
                        x.source_url
                    )),
                    ..Default::default()
                }
            } else {
                let (store, holder, name) = (&self.store, &self.holder, &x.name);
                pull(&**store, &self.client, &src, stop, &mut |p| {
                    record_page(name, p);
                    if !store.lease_exchange(name, holder, now_ms(), now_ms() + lease)? {
                        bail!("another replica took exchange {name:?} over; it goes on from here");
                    }
                    Ok(())
                })
            };
        // The counts were recorded page by page; this records how the pull ended.
        let run = Run {
            at,
            error: pulled.error.as_ref().map(|e| format!("{e:#}")),
            remote_last_seq: pulled.remote_last_seq,
            ..Default::default()
        };
        let outcome = if run.error.is_some() { "failed" } else { "ok" };
        metrics::counter!("spoor_exchange_pulls_total", "exchange" => x.name.clone(), "outcome" => outcome).increment(1);
        if let Some(last) = run.remote_last_seq {
            metrics::gauge!("spoor_exchange_lag", "exchange" => x.name.clone())
                .set((last - pulled.position).max(0) as f64);
        }
        metrics::gauge!("spoor_exchange_position", "exchange" => x.name.clone())
            .set(pulled.position as f64);
        match &run.error {
            Some(e) => {
                tracing::warn!(exchange = %x.name, error = %e, failures = x.failures + 1, "exchange pull failed; it is tried again later from where it stopped")
            }
            None if pulled.position != pulled.from_position => {
                tracing::info!(exchange = %x.name, from = pulled.from_position, to = pulled.position, added = pulled.added, changed = pulled.changed, conflicts = pulled.conflicts.len(), "exchange pulled")
            }
            None => {}
        }
        for c in &pulled.conflicts {
            tracing::warn!(exchange = %x.name, entry = c.entry_id, source_change = c.remote_seq, "exchange conflict: {}", c.message);
        }
        if let Err(e) = self.store.exchange_ran(&x.name, &run) {
            tracing::warn!(exchange = %x.name, error = %e, "cannot record the exchange's pull");
        }
    }
}

fn record_page(name: &str, p: &Pulled) {
    metrics::gauge!("spoor_exchange_position", "exchange" => name.to_string())
        .set(p.position as f64);
}

/// Starts the thread `spoor-exchange` that runs due exchanges until `stop` is set.
pub fn spawn_follower(
    follower: Follower,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("spoor-exchange".into()).spawn(move || {
        let mut failing = false;
        while !stop.load(Ordering::Relaxed) {
            match follower.tick(&stop) {
                Ok(()) if failing => {
                    tracing::info!("exchanges read again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::error!(error = %e, "cannot read the exchanges; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}
