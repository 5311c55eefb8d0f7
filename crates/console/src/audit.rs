//! The console's one way to the deployment's audit log: every console and `spoor users` action
//! worth recording that the store does not record itself goes through [`record`]. Details never hold passwords,
//! TOTP codes, secrets or tokens.
//!
//! Two kinds of record, two rules:
//! * what a person **did** ([`record`]): appended with `Store::audit_append`, durable before the
//!   page answers. Bank and key changes are recorded by the store itself, in the transaction
//!   that makes them. A record that cannot be written is logged as an error with what it would
//!   have said and counted (`spoor_console_audit_failures_total`); the action has happened by
//!   then and is not undone.
//! * what a person **was shown** ([`record_view`]): appended with
//!   `Store::audit_append_relaxed` (no wait for the disk flush: page views are many, and a
//!   person waits for each) *before* the page is rendered; when it cannot be written the page
//!   is not shown (fail closed: nothing is shown unrecorded).

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

/// Records what a page is about to show a person, before it is shown; `Err` (an error page to
/// answer with) when the record cannot be written, and then the page must not be shown.
pub fn record_view(
    store: &dyn Store,
    person: &str,
    action: &str,
    object_kind: &str,
    object_id: &str,
    details: Value,
) -> Result<(), axum::response::Response> {
    let rec = NewRecord::new(ActorKind::User, person, action, object_kind, object_id)
        .with_details(details);
    store.audit_append_relaxed(&rec).map(drop).map_err(|e| {
        metrics::counter!("spoor_console_audit_failures_total").increment(1);
        tracing::error!(error = %e, actor = %person, action, object_kind, object_id,
            "cannot write the audit record of a page view; the page is not shown");
        crate::layout::error_page(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "This page cannot be shown now",
            "Every page that shows list data is recorded in the audit log first, and the log \
             could not be written. Try again in a moment; if it keeps failing, tell your \
             administrator (the service log has the details).",
        )
    })
}
