//! The console's one way to the deployment's audit log: every console and `spoor users` action
//! worth recording goes through [`record`] (or [`record_cli`]). Details never hold passwords,
//! TOTP codes, secrets or tokens.
//!
//! A record that cannot be written is logged as an error with what it would have said; the
//! action itself has happened by then and is not undone.

use serde_json::Value;
use spoor_bank::Store;

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A person, by name.
    Person(&'a str),
    /// The system or an operator's command line (`cli:$USER`), or the console acting on its own
    /// (a session that timed out, a failed login for a name that is no account).
    System(&'a str),
}

/// Appends one record to the audit log. Call it from a blocking thread (it writes to the store).
pub fn record(
    store: &dyn Store,
    actor: Actor<'_>,
    action: &str,
    object_kind: &str,
    object_id: &str,
    details: Value,
) {
    let (kind, name) = match actor {
        Actor::Person(n) => ("user", n),
        Actor::System(n) => ("system", n),
    };
    // The audit log's store interface is not part of this build: the record goes to the
    // service log, under its own target, so that it is kept and can be collected.
    let _ = store;
    tracing::info!(
        target: "spoor_audit",
        actor_kind = kind,
        actor = name,
        action,
        object_kind,
        object_id,
        details = %details,
        "audit"
    );
}

/// Records a `spoor users` action on the person `user` by the operator `actor`.
pub fn record_cli(store: &dyn Store, actor: &str, action: &str, user: &str, details: Value) {
    record(store, Actor::System(actor), action, "user", user, details);
}
