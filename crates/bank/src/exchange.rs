//! Applying another Spoor instance's bank to a local one: the remote change log (read with an
//! exchange key from `GET /v1/banks/{name}/changes`) replayed onto a local bank, with provenance,
//! without ever undoing a local person's decision.
//!
//! Rules, for an exchange named N (its actor on the change log is `exchange:N`):
//! - A signal the local bank does not hold is added with `source_org` N and `source_id` the
//!   remote entry's id, in the remote entry's state (enabled, or disabled with the remote reason).
//! - A signal the local bank holds that came from N and that nobody here has changed since
//!   (its last change is N's) follows the remote: disabled, enabled, reclassified, deleted.
//! - Anything else is a **conflict**, reported and left as it is: a local entry of other
//!   provenance, or one a local person changed (disabled it, enabled it, reclassified it). Local
//!   decisions win.
//!
//! Each change the exchange makes names the source's change in its reason (`[source change N]`);
//! a change no newer than the one an entry already follows is passed over. Replaying a page
//! therefore changes nothing the second time, so a pull that stops anywhere (a crash, a network
//! failure) and starts again from its last saved position loses and duplicates nothing. (One
//! transient remains: an entry the page added and deleted is added and deleted again.)

use serde::{Deserialize, Serialize};
use spoor_core::SignalType;

use crate::model::{now_ms, Category, Disabled, Entry, EntryUpdate, Millis, NewEntry, Severity};
use crate::{Added, BankError, Result, Store};

/// Shortest interval between two pulls of one exchange.
pub const MIN_INTERVAL_MS: u64 = 100;
/// Longest interval between two pulls of one exchange (a day).
pub const MAX_INTERVAL_MS: u64 = 86_400_000;
/// Most changes read per request.
pub const MAX_PAGE: u32 = 10_000;

/// An exchange key, kept out of `Debug` output and every serialisation.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangeKey(pub String);

impl std::fmt::Debug for ExchangeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExchangeKey(…)")
    }
}

/// An exchange to set up: `spoor serve` pulls `remote_bank` of `source_url` into `local_bank`
/// every `interval_ms` with `key`.
#[derive(Debug, Clone)]
pub struct NewExchange {
    /// Its name: the `source_org` of what it adds, and how it is named everywhere.
    pub name: String,
    /// The source service's base URL (`http` or `https`, no query).
    pub source_url: String,
    /// The bank followed there.
    pub remote_bank: String,
    /// The bank here.
    pub local_bank: String,
    /// The source's exchange key (`spoor_…`).
    pub key: ExchangeKey,
    /// Time between pulls.
    pub interval_ms: u64,
    /// Changes read per request.
    pub page: u32,
}

/// An exchange with its state, as `spoor exchange list`, the console and the API show it (never
/// its key).
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Its name.
    pub name: String,
    /// The source service's base URL.
    pub source_url: String,
    /// The bank followed there.
    pub remote_bank: String,
    /// The bank here.
    pub local_bank: String,
    /// The source's exchange key.
    #[serde(skip)]
    pub key: ExchangeKey,
    /// Time between pulls, in milliseconds.
    pub interval_ms: u64,
    /// Changes read per request.
    pub page: u32,
    /// Who set it up.
    pub created_by: String,
    /// When.
    pub created_at: Millis,
    /// The source's sequence number of the last change applied (0: none yet).
    pub position: i64,
    /// The source's newest sequence number when last asked.
    pub remote_last_seq: Option<i64>,
    /// When a pull last began.
    pub last_attempt_at: Option<Millis>,
    /// When a pull last finished without error.
    pub last_success_at: Option<Millis>,
    /// Why the last pull failed (`None` when it did not).
    pub last_error: Option<String>,
    /// Pulls failed in a row.
    pub failures: i64,
    /// Entries added by this exchange so far.
    pub added: i64,
    /// Entries disabled, enabled, reclassified or deleted to follow the source so far.
    pub changed: i64,
    /// Source changes not applied because a local decision stands.
    pub conflicts: i64,
    /// When the pull running now began (a replica holds the exchange until `leased_until`).
    pub pulling_since: Option<Millis>,
    /// Until when a replica holds the exchange (0: none).
    #[serde(skip)]
    pub leased_until: Millis,
}

impl Exchange {
    /// When the pull running at `now` began, if one is.
    pub fn running_at(&self, now: Millis) -> Option<Millis> {
        self.pulling_since.filter(|_| self.leased_until > now)
    }

    /// How many of the source's changes are known and not applied yet.
    pub fn lag(&self) -> i64 {
        self.remote_last_seq.map_or(0, |r| (r - self.position).max(0))
    }
}

/// What one pull of an exchange came to.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// When it began.
    pub at: Millis,
    /// Why it failed, if it did (what it applied before failing still counts).
    pub error: Option<String>,
    /// The source's newest sequence number, if it answered.
    pub remote_last_seq: Option<i64>,
    /// Entries added.
    pub added: u64,
    /// Entries changed.
    pub changed: u64,
}

/// A source change not applied because a local decision stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The source's sequence number of the change.
    pub remote_seq: i64,
    /// The local entry it would have changed.
    pub entry_id: i64,
    /// What and why, in a sentence.
    pub message: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A conflict as kept: the newest first when listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictRecord {
    /// Its number (for paging).
    pub id: i64,
    /// When it was met.
    pub at: Millis,
    /// The conflict.
    #[serde(flatten)]
    pub conflict: Conflict,
}

/// What every store keeps of exchanges. Setting one up and removing it are audited
/// (`exchange_create`, `exchange_delete`); what a pull applies is on the bank's change log as
/// the actor `exchange:NAME`.
pub trait Exchanges {
    /// Sets up an exchange; [`BankError::Conflict`] when the name is taken,
    /// [`BankError::NoSuchBank`] when the local bank is missing.
    fn create_exchange(&self, x: &NewExchange, actor: &str) -> Result<Exchange>;
    /// Removes an exchange, its position and its conflicts (what it added stays).
    fn delete_exchange(&self, name: &str, actor: &str) -> Result<()>;
    /// Every exchange, by name.
    fn exchanges(&self) -> Result<Vec<Exchange>>;
    /// One exchange; [`BankError::NoSuchExchange`] when there is none.
    fn exchange(&self, name: &str) -> Result<Exchange>;
    /// Records what a pull came to.
    fn exchange_ran(&self, name: &str, run: &Run) -> Result<()>;
    /// Keeps conflicts met by a pull (a conflict met again is kept once).
    fn add_exchange_conflicts(&self, name: &str, conflicts: &[Conflict], at: Millis) -> Result<()>;
    /// Conflicts of an exchange, newest first, with id below `before` (0: from the newest).
    fn exchange_conflicts(
        &self,
        name: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<ConflictRecord>>;
    /// Takes the right to pull exchange `name` until `until` for `holder`: true when no other
    /// holder's lease runs past `now` (replicas over one store never pull one exchange at once).
    fn lease_exchange(&self, name: &str, holder: &str, now: Millis, until: Millis) -> Result<bool>;
    /// Where exchange `name` has read its source up to, if it has pulled before.
    fn exchange_position(&self, name: &str) -> Result<Option<Position>>;
    /// Saves where an exchange has read its source up to.
    fn set_exchange_position(&self, position: &Position) -> Result<()>;
}

/// Checks an exchange's name: 1–64 characters of letters, digits, `.`, `-` and `_` (it is a
/// path segment of the API and HMA's routes, and part of the actor `exchange:NAME`).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(BankError::Invalid(format!(
            "exchange name {name:?}: use 1-64 letters, digits, '.', '-' or '_' (for example \
             partner-hotline)"
        )));
    }
    Ok(())
}

/// What the audit record of a new exchange says of it (never its key).
pub fn audit_details(x: &NewExchange) -> serde_json::Value {
    serde_json::json!({
        "source_url": x.source_url,
        "remote_bank": x.remote_bank,
        "local_bank": x.local_bank,
        "interval_ms": x.interval_ms,
        "page": x.page,
    })
}

/// The columns [`Exchange`] is read from, in order (`x`: exchanges, `p`: exchange_positions).
pub(crate) const EXCHANGE_COLUMNS: &str = "x.name, x.source_url, x.remote_bank, x.local_bank, \
     x.api_key, x.interval_ms, x.page, x.created_by, x.created_at, COALESCE(p.position, 0), \
     x.remote_last_seq, x.last_attempt_at, x.last_success_at, x.last_error, x.failures, x.added, \
     x.changed, (SELECT COUNT(*) FROM exchange_conflicts c WHERE c.exchange = x.name), \
     x.lease_since, x.lease_until";

/// The query that lists exchanges (append a `WHERE` on `x.name` for one).
pub(crate) fn exchanges_query() -> String {
    format!(
        "SELECT {EXCHANGE_COLUMNS} FROM exchanges x \
         LEFT JOIN exchange_positions p ON p.name = x.name"
    )
}

/// Refuses a new exchange whose name a pull already used for another source or bank.
pub(crate) fn check_same_source(
    x: &NewExchange,
    pulled: Option<(String, String, String)>,
) -> Result<()> {
    match pulled {
        Some((url, remote, local))
            if (url.as_str(), remote.as_str(), local.as_str())
                != (x.source_url.as_str(), x.remote_bank.as_str(), x.local_bank.as_str()) =>
        {
            Err(BankError::Conflict(format!(
                "the name {:?} was used to pull {url} bank {remote} into {local}: choose another \
                 name for another source or bank",
                x.name
            )))
        }
        _ => Ok(()),
    }
}

/// Whether a source URL's host is a loopback IP address (a service started with
/// `--reports-loopback-only` connects to nothing else).
pub fn is_loopback_source(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Checks a source's base URL: http or https, no query, fragment or credentials, ASCII.
pub fn check_source_url(url: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("source URL {url:?}: give an http or https URL"));
    };
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || url.len() > 2048
        || url.contains(['?', '#'])
        || rest.split('/').next().is_some_and(|authority| authority.contains('@'))
        || !url.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "source URL {url:?}: give the source's base URL, http or https, without query or \
             credentials, in ASCII (punycode for international names; for example \
             https://spoor.partner.example)"
        ));
    }
    Ok(())
}

/// Checks the name of the bank at the source (Spoor's bank names).
pub fn check_remote_bank(name: &str) -> std::result::Result<(), String> {
    crate::model::BankName::new(name).map(|_| ()).map_err(|_| {
        format!(
            "remote bank {name:?}: give the bank's name at the source (A-Z, 0-9 and _, as Spoor \
             names banks)"
        )
    })
}

/// Checks that an exchange key looks like a Spoor key (`spoor_…`, printable ASCII).
pub fn check_key_form(key: &str) -> std::result::Result<(), String> {
    if !key.starts_with("spoor_") || key.len() > 200 || key.chars().any(|c| !c.is_ascii_graphic()) {
        return Err("the exchange key is not a Spoor key (spoor_…): give the key the source made \
                    with `spoor keys create --role exchange --banks BANK`"
            .into());
    }
    Ok(())
}

/// Checks a new exchange's fields (the bank is checked by the store).
pub fn check_new(x: &NewExchange) -> Result<()> {
    check_name(&x.name)?;
    let invalid = |m: String| Err(BankError::Invalid(m));
    check_source_url(&x.source_url).map_err(BankError::Invalid)?;
    check_remote_bank(&x.remote_bank).map_err(BankError::Invalid)?;
    check_key_form(&x.key.0).map_err(BankError::Invalid)?;
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&x.interval_ms) {
        return invalid(format!(
            "interval {} ms: give between {MIN_INTERVAL_MS} ms and a day",
            x.interval_ms
        ));
    }
    if !(1..=MAX_PAGE).contains(&x.page) {
        return invalid(format!("page {}: give 1 to {MAX_PAGE} changes per request", x.page));
    }
    Ok(())
}

/// Where an exchange has read its source's change log up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The exchange's name (also the `source_org` of what it adds).
    pub name: String,
    /// The source service's base URL.
    pub source_url: String,
    /// The bank followed there.
    pub remote_bank: String,
    /// The bank it is applied to here.
    pub local_bank: String,
    /// The source's sequence number of the last change applied.
    pub position: i64,
    /// When it was saved.
    pub updated_at: crate::model::Millis,
}

/// One record of a remote bank's change log, as `GET /v1/banks/{name}/changes` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteChange {
    /// Its sequence number at the source.
    pub seq: i64,
    /// `add`, `disable`, `enable`, `update`, `delete`, `create_bank`, `update_bank`.
    pub action: String,
    /// The remote entry.
    #[serde(default)]
    pub entry_id: Option<i64>,
    /// Its signal type.
    #[serde(default)]
    pub signal_type: Option<String>,
    /// Its value, text form.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether it matches after the change.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Its classification after the change.
    #[serde(default)]
    pub category: Option<String>,
    /// Its severity after the change.
    #[serde(default)]
    pub severity: Option<String>,
    /// Why, when given.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What applying a page of changes did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Entries added.
    pub added: u64,
    /// Entries disabled, enabled, reclassified or deleted to follow the source.
    pub changed: u64,
    /// Changes with nothing to do (already so, bank records).
    pub unchanged: u64,
    /// Changes not applied because a local decision stands.
    pub conflicts: Vec<Conflict>,
}

/// The actor an exchange writes as.
pub fn actor(exchange: &str) -> String {
    format!("exchange:{exchange}")
}

struct Parsed {
    seq: i64,
    action: String,
    remote_id: i64,
    signal_type: SignalType,
    value: Vec<u8>,
    enabled: bool,
    category: Option<Category>,
    severity: Option<Severity>,
    reason: Option<String>,
}

fn parse(c: &RemoteChange) -> Result<Option<Parsed>> {
    if !matches!(c.action.as_str(), "add" | "disable" | "enable" | "update" | "delete") {
        return Ok(None);
    }
    let bad = |what: &str| {
        BankError::Invalid(format!(
            "remote change {}: {what}: the source sent a record this version cannot read",
            c.seq
        ))
    };
    let t: SignalType = c
        .signal_type
        .as_deref()
        .ok_or_else(|| bad("no signal type"))?
        .parse()
        .map_err(|e| bad(&format!("{e}")))?;
    let value = t
        .parse(c.value.as_deref().ok_or_else(|| bad("no value"))?)
        .map_err(|e| bad(&e.to_string()))?;
    let category =
        c.category.as_deref().map(str::parse).transpose().map_err(|e: String| bad(&e))?;
    let severity =
        c.severity.as_deref().map(str::parse).transpose().map_err(|e: String| bad(&e))?;
    Ok(Some(Parsed {
        seq: c.seq,
        action: c.action.clone(),
        remote_id: c.entry_id.ok_or_else(|| bad("no entry id"))?,
        signal_type: t,
        value,
        enabled: c.enabled.unwrap_or(c.action != "delete"),
        category,
        severity,
        reason: c.reason.clone(),
    }))
}

/// Applies `changes` (in order) from exchange `exchange` to `bank`.
///
/// Signals the bank does not hold are added in batches without being looked up first (a pull
/// of a large bank is a stream of adds); the few a batch finds present already, and every other
/// change, are compared with the local entry and its last change.
pub fn apply(
    store: &dyn Store,
    exchange: &str,
    bank: &str,
    changes: &[RemoteChange],
) -> Result<Applied> {
    let who = actor(exchange);
    let mut out = Applied::default();
    let mut batch: Vec<NewEntry> = Vec::new();
    let mut batched: Vec<Parsed> = Vec::new();
    let mut pending: std::collections::HashSet<(SignalType, Vec<u8>)> = Default::default();
    // Writes the batch; a signal found present already is followed like any other change.
    let flush = |batch: &mut Vec<NewEntry>,
                 batched: &mut Vec<Parsed>,
                 pending: &mut std::collections::HashSet<(SignalType, Vec<u8>)>,
                 out: &mut Applied|
     -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let results = store.add_entries(bank, batch, &who)?;
        for (a, p) in results.into_iter().zip(batched.drain(..)) {
            match a {
                Added::New(_) => out.added += 1,
                Added::Present(id) => {
                    let local = store.entry(bank, id)?;
                    follow(store, exchange, &who, bank, &local, &p, out)?;
                }
            }
        }
        batch.clear();
        pending.clear();
        Ok(())
    };
    for c in changes {
        let Some(p) = parse(c)? else {
            out.unchanged += 1;
            continue;
        };
        let key = (p.signal_type, p.value.clone());
        if p.action == "add" && !pending.contains(&key) {
            batch.push(new_entry(exchange, &who, &p));
            batched.push(p);
            pending.insert(key);
            if batch.len() >= crate::MAX_BATCH.min(50_000) {
                flush(&mut batch, &mut batched, &mut pending, &mut out)?;
            }
            continue;
        }
        // Anything else is looked up, after what the batch holds is written, so order holds.
        flush(&mut batch, &mut batched, &mut pending, &mut out)?;
        match store.entry_by_value(bank, p.signal_type, &p.value)? {
            Some(local) => follow(store, exchange, &who, bank, &local, &p, &mut out)?,
            None if p.action == "delete" => out.unchanged += 1,
            None => {
                // A signal this bank never had (a pull that began after its add): added in
                // the state the source gives.
                for a in store.add_entries(bank, &[new_entry(exchange, &who, &p)], &who)? {
                    match a {
                        Added::New(_) => out.added += 1,
                        Added::Present(_) => out.unchanged += 1,
                    }
                }
            }
        }
    }
    flush(&mut batch, &mut batched, &mut pending, &mut out)?;
    Ok(out)
}

/// The entry a remote change adds here.
fn new_entry(exchange: &str, who: &str, p: &Parsed) -> NewEntry {
    let mut e = NewEntry::new(p.signal_type, p.value.clone());
    e.category = p.category;
    e.severity = p.severity;
    e.source_org = Some(exchange.to_string());
    e.source_id = Some(p.remote_id.to_string());
    e.enabled = p.enabled;
    if !p.enabled {
        e.disabled = Some(Disabled {
            by: who.to_string(),
            at: now_ms(),
            reason: p.reason.clone().unwrap_or_else(|| "disabled at the source".into()),
        });
    }
    e
}

/// Applies remote change `p` to the local entry holding its signal, unless a local decision
/// stands (a conflict) or the entry already follows it.
fn follow(
    store: &dyn Store,
    exchange: &str,
    who: &str,
    bank: &str,
    local: &Entry,
    p: &Parsed,
    out: &mut Applied,
) -> Result<()> {
    let ours = local.source_org.as_deref() == Some(exchange);
    let last = store.entry_history(bank, local.id, 100_000)?.pop();
    let last_actor = last.as_ref().map(|c| c.actor.clone()).unwrap_or_default();
    // A change no newer than the one the entry already follows (a page applied again after a
    // pull stopped before saving its position), or the add of an entry already here, is passed
    // over, not applied backwards.
    let followed = last.as_ref().and_then(|c| c.reason.as_deref()).and_then(source_seq);
    if ours && last_actor == who && (followed.is_some_and(|n| p.seq <= n) || p.action == "add") {
        out.unchanged += 1;
        return Ok(());
    }
    let wanted_state = (p.enabled, p.category, p.severity);
    let same =
        p.action != "delete" && (local.enabled, local.category, local.severity) == wanted_state;
    if same {
        out.unchanged += 1;
        return Ok(());
    }
    if !ours || last_actor != who {
        let whose = if ours {
            format!("changed here by {last_actor}")
        } else {
            format!("of another origin ({})", local.source_org.as_deref().unwrap_or("added here"))
        };
        out.conflicts.push(Conflict {
            remote_seq: p.seq,
            entry_id: local.id,
            message: format!(
                "entry {} ({} {}) is {whose}: the source's {} (its change {}) is not applied",
                local.id,
                p.signal_type.name(),
                local.value_text(),
                p.action,
                p.seq
            ),
        });
        return Ok(());
    }
    let reason = format!(
        "{} [source change {}]",
        p.reason.clone().unwrap_or_else(|| format!("{} at the source", p.action)),
        p.seq
    );
    if p.action == "delete" {
        store.delete_entry(bank, local.id, who, &format!("deleted at the source: {reason}"))?;
    } else {
        let update = EntryUpdate {
            category: (local.category != p.category).then_some(p.category),
            severity: (local.severity != p.severity).then_some(p.severity),
            ..Default::default()
        };
        let enabled = (local.enabled != p.enabled).then_some(p.enabled);
        store.patch_entry(bank, local.id, enabled, &update, who, &reason)?;
    }
    out.changed += 1;
    Ok(())
}

/// The source's sequence number an exchange wrote into its reason (`… [source change N]`).
fn source_seq(reason: &str) -> Option<i64> {
    let rest = reason.rsplit_once("[source change ")?.1;
    rest.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_are_told_apart() {
        for yes in [
            "http://127.0.0.1:8080",
            "https://127.3.2.1/x",
            "http://[::1]:5100/",
            "http://127.0.0.1",
        ] {
            assert!(is_loopback_source(yes), "{yes}");
        }
        for no in [
            "http://10.0.0.1:80",
            "http://localhost:80",
            "http://[::2]:80",
            "http://127.0.0.1.example:80",
            "http://u@127.0.0.1:80",
            "127.0.0.1:80",
            "http://169.254.169.254/",
        ] {
            assert!(!is_loopback_source(no), "{no}");
        }
    }

    #[test]
    fn source_changes_are_read_back_from_reasons() {
        assert_eq!(source_seq("withdrawn [source change 42]"), Some(42));
        assert_eq!(source_seq("[source change 7] then [source change 9]"), Some(9));
        assert_eq!(source_seq("by hand"), None);
        assert_eq!(source_seq("[source change x]"), None);
    }
}
