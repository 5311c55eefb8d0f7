//! The console's one way to the deployment's audit log: every console and `spoor users` action
//! worth recording goes through [`record`] (or [`record_cli`]). Details never hold passwords,
//! TOTP codes, secrets or tokens.
//!
//! Records are appended with `Store::audit_append` (durable before the page answers). A record
//! that cannot be written is logged as an error with what it would have said and counted
//! (`spoor_console_audit_failures_total`); the action itself has happened by then and is not
//! undone.

use serde_json::Value;
use spoor_audit::{ActorKind, NewRecord};
use spoor_bank::Store;

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A person logged in to the console, by name.
    Person(&'a str),
    /// An operator's command line, as the change log names it (`cli` or `cli:OSUSER`).
    Cli(&'a str),
    /// The console acting on its own (a failed login for a name that is no account, a lockout).
    System(&'a str),
}

impl Actor<'_> {
    /// The actor as store writes record it (`user:NAME`, `cli:OSUSER`, `system:NAME`).
    pub fn as_actor(&self) -> String {
        match self {
            Actor::Person(n) => format!("user:{n}"),
            Actor::Cli(a) => a.to_string(),
            Actor::System(n) => format!("system:{n}"),
        }
    }
}

/// Appends one record to the audit log, waiting until it is durable. Call it from a blocking
/// thread (it writes to the store). A record that cannot be written is logged as an error with
/// everything it would have said.
pub fn record(
    store: &dyn Store,
    actor: Actor<'_>,
    action: &str,
    object_kind: &str,
    object_id: &str,
    details: Value,
) {
    let rec = new_record(actor, action, object_kind, object_id).with_details(details);
    append(store, &rec, false);
}

/// Appends one record of what a person *viewed* (a page of the audit log), without waiting for
/// the disk flush (`Store::audit_append_relaxed`), so the page does not wait on the disk. Changes
/// go through [`record`].
pub fn record_view(
    store: &dyn Store,
    actor: Actor<'_>,
    action: &str,
    object_kind: &str,
    object_id: &str,
    details: Value,
) {
    let rec = new_record(actor, action, object_kind, object_id).with_details(details);
    append(store, &rec, true);
}

fn new_record(actor: Actor<'_>, action: &str, object_kind: &str, object_id: &str) -> NewRecord {
    match actor {
        Actor::Person(n) => NewRecord::new(ActorKind::User, n, action, object_kind, object_id),
        Actor::Cli(a) => NewRecord::by(a, action, object_kind, object_id),
        Actor::System(n) => NewRecord::new(ActorKind::System, n, action, object_kind, object_id),
    }
}

fn append(store: &dyn Store, rec: &NewRecord, relaxed: bool) {
    let written = if relaxed { store.audit_append_relaxed(rec) } else { store.audit_append(rec) };
    if let Err(e) = written {
        metrics::counter!("spoor_console_audit_failures_total").increment(1);
        tracing::error!(
            error = %e,
            actor_kind = rec.actor_kind.name(),
            actor = %rec.actor,
            action = %rec.action,
            object_kind = %rec.object_kind,
            object_id = %rec.object_id,
            details = %rec.details,
            "cannot write an audit record"
        );
    }
}

/// Records a `spoor users` action on the person `user` by the operator `actor` (`cli:$USER`).
pub fn record_cli(store: &dyn Store, actor: &str, action: &str, user: &str, details: Value) {
    record(store, Actor::Cli(actor), action, "user", user, details);
}
