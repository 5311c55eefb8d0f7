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

use serde::Deserialize;
use spoor_core::SignalType;

use crate::model::{now_ms, Category, Disabled, EntryUpdate, NewEntry, Severity};
use crate::{Added, BankError, Result, Store};

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
    /// Changes not applied because a local decision stands, each said in a sentence.
    pub conflicts: Vec<String>,
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
pub fn apply(
    store: &dyn Store,
    exchange: &str,
    bank: &str,
    changes: &[RemoteChange],
) -> Result<Applied> {
    let who = actor(exchange);
    let mut out = Applied::default();
    // New signals are added in batches; anything else first writes the batch, so that order holds.
    let mut batch: Vec<NewEntry> = Vec::new();
    let flush = |batch: &mut Vec<NewEntry>, out: &mut Applied| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for a in store.add_entries(bank, batch, &who)? {
            match a {
                Added::New(_) => out.added += 1,
                Added::Present(_) => out.unchanged += 1,
            }
        }
        batch.clear();
        Ok(())
    };
    let mut pending: std::collections::HashSet<(SignalType, Vec<u8>)> = Default::default();
    for c in changes {
        let Some(p) = parse(c)? else {
            out.unchanged += 1;
            continue;
        };
        let key = (p.signal_type, p.value.clone());
        // A signal added earlier in this page is written before it is looked up.
        if pending.contains(&key) {
            flush(&mut batch, &mut out)?;
            pending.clear();
        }
        let local = store.entry_by_value(bank, p.signal_type, &p.value)?;
        let Some(local) = local else {
            if p.action == "delete" {
                out.unchanged += 1;
                continue;
            }
            let mut e = NewEntry::new(p.signal_type, p.value.clone());
            e.category = p.category;
            e.severity = p.severity;
            e.source_org = Some(exchange.to_string());
            e.source_id = Some(p.remote_id.to_string());
            e.enabled = p.enabled;
            if !p.enabled {
                e.disabled = Some(Disabled {
                    by: who.clone(),
                    at: now_ms(),
                    reason: p.reason.clone().unwrap_or_else(|| "disabled at the source".into()),
                });
            }
            pending.insert(key);
            batch.push(e);
            if batch.len() >= crate::MAX_BATCH.min(10_000) {
                flush(&mut batch, &mut out)?;
                pending.clear();
            }
            continue;
        };
        flush(&mut batch, &mut out)?;
        pending.clear();
        let ours = local.source_org.as_deref() == Some(exchange);
        let last = store.entry_history(bank, local.id, 100_000)?.pop();
        let last_actor = last.as_ref().map(|c| c.actor.clone()).unwrap_or_default();
        // A change no newer than the one the entry already follows (a page applied again after
        // a pull stopped before saving its position), or the add of an entry already here, is
        // passed over, not applied backwards.
        let followed = last.as_ref().and_then(|c| c.reason.as_deref()).and_then(source_seq);
        if ours && last_actor == who && (followed.is_some_and(|n| p.seq <= n) || p.action == "add")
        {
            out.unchanged += 1;
            continue;
        }
        let wanted_state = (p.enabled, p.category, p.severity);
        let same =
            p.action != "delete" && (local.enabled, local.category, local.severity) == wanted_state;
        if same {
            out.unchanged += 1;
            continue;
        }
        if !ours || last_actor != who {
            let whose = if ours {
                format!("changed here by {last_actor}")
            } else {
                format!(
                    "of another origin ({})",
                    local.source_org.as_deref().unwrap_or("added here")
                )
            };
            out.conflicts.push(format!(
                "entry {} ({} {}) is {whose}: the source's {} (its change {}) is not applied",
                local.id,
                p.signal_type.name(),
                local.value_text(),
                p.action,
                p.seq
            ));
            continue;
        }
        let reason = format!(
            "{} [source change {}]",
            p.reason.clone().unwrap_or_else(|| format!("{} at the source", p.action)),
            p.seq
        );
        if p.action == "delete" {
            store.delete_entry(
                bank,
                local.id,
                &who,
                &format!("deleted at the source: {reason}"),
            )?;
        } else {
            let update = EntryUpdate {
                category: (local.category != p.category).then_some(p.category),
                severity: (local.severity != p.severity).then_some(p.severity),
                ..Default::default()
            };
            let enabled = (local.enabled != p.enabled).then_some(p.enabled);
            store.patch_entry(bank, local.id, enabled, &update, &who, &reason)?;
        }
        out.changed += 1;
    }
    flush(&mut batch, &mut out)?;
    Ok(out)
}

/// The source's sequence number an exchange wrote into its reason (`… [source change N]`).
fn source_seq(reason: &str) -> Option<i64> {
    let rest = reason.rsplit_once("[source change ")?.1;
    rest.strip_suffix(']')?.parse().ok()
}
