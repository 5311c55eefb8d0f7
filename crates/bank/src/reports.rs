//! Reports of confirmed cases to the bodies that receive them (NCMEC's CyberTipline, the EU
//! Centre), kept durably from the moment the decision that makes them is kept until the receiver
//! has acknowledged them.
//!
//! A report is made in the transaction of the change that makes it (a case confirmed by a
//! reviewer, by the rules, or by an earlier decision): [`ReportRequest`]s returned by the
//! decision's [`Notify`](crate::cases::Notify) hook. Cases of one uploader on one service join
//! one report while it is young (its *window*); the first claim closes it.
//!
//! Delivery is a sequence of steps (NCMEC: submit, upload and file details per file, finish) run
//! by a worker that holds a *claim* (a lease) on the report. The worker records each step
//! ([`Reports::report_progress`]) before and after it talks to the receiver, so that whoever
//! takes the report next knows where it was left: a report that was never *finishing* can be
//! cancelled at the receiver and redone; one that was finishing is finished again, never redone.
//!
//! Invariants every store keeps:
//! * a case is in at most one report per recipient;
//! * a report takes new cases only until it is first claimed, so what is sent is what was there
//!   when sending began;
//! * a report is held by at most one worker at a time (a claim ends when its lease runs out):
//!   every write a worker makes is conditional on still holding it, and of two workers one is
//!   told `false`; on PostgreSQL, replicas claim with `FOR UPDATE SKIP LOCKED`;
//! * a finished report is never due again, and is changed by nothing;
//! * a dead report (given up) is due again only after a person retries it (audited).

use serde::Serialize;

use crate::model::{check_text, Millis};
use crate::{BankError, Result};

/// Longest recipient name, in bytes.
pub const MAX_RECIPIENT: usize = 32;
/// Longest group key, in bytes.
pub const MAX_GROUP: usize = 1024;
/// Longest worker name, in bytes.
pub const MAX_WORKER: usize = 128;
/// Longest progress, document or receipt kept with a report, in bytes.
pub const MAX_REPORT_TEXT: usize = 4 << 20;
/// Most reports claimed or listed at once.
pub const MAX_REPORT_PAGE: usize = 1000;

macro_rules! report_state {
    ($($(#[$m:meta])* $v:ident = $s:literal),+ $(,)?) => {
        /// Where a report is in its delivery.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ReportState { $($(#[$m])* $v),+ }

        impl ReportState {
            /// Every state.
            pub const ALL: &'static [ReportState] = &[$(ReportState::$v),+];
            /// The name used in the API and the database.
            pub fn name(self) -> &'static str {
                match self { $(ReportState::$v => $s),+ }
            }
        }

        impl std::str::FromStr for ReportState {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($s => Ok(ReportState::$v),)+
                    _ => Err(format!(
                        "unknown report state {s:?}: use one of {}",
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
    };
}

report_state!(
    /// Nothing sent yet (or what was sent was cancelled at the receiver).
    Pending = "pending",
    /// Opened at the receiver (it has a remote id), files being added.
    Open = "open",
    /// The last step (NCMEC's finish, the EU Centre's post) was begun: it is finished again,
    /// never redone, because the receiver may have taken it.
    Finishing = "finishing",
    /// The receiver took it; its receipt is kept.
    Finished = "finished",
    /// Given up (a permanent error, or too many attempts): waits for a person to retry it.
    Dead = "dead",
);

impl ReportState {
    /// Whether a worker still has something to do (claimable when due).
    pub fn is_active(self) -> bool {
        matches!(self, ReportState::Pending | ReportState::Open | ReportState::Finishing)
    }
}

impl std::fmt::Display for ReportState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A report to make, returned for a case by the decision's hook: the store puts the case into
/// the open report of its group, or makes a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// Who receives it (`ncmec`, `eu_centre`): a word.
    pub recipient: String,
    /// Cases with the same group (one uploader on one service) join one report while it is
    /// young; `None`: the case is reported alone.
    pub group: Option<String>,
    /// How long a new report waits for more cases of its group before it is sent (0: at once).
    pub window_ms: Millis,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Store-wide id.
    pub id: i64,
    /// Spoor's own id of the report, given to the receiver (the EU Centre's idempotency key).
    pub uuid: String,
    /// Who receives it.
    pub recipient: String,
    /// Where its delivery is.
    pub state: ReportState,
    /// When it was made.
    pub created_at: Millis,
    /// When its window closes (it is not sent before).
    pub send_after: Millis,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is due next.
    pub next_attempt_at: Millis,
    /// The worker holding it and until when.
    pub claim: Option<(String, Millis)>,
    /// The receiver's id of it (NCMEC's `reportId`), once opened there.
    pub remote_id: Option<String>,
    /// The worker's record of the steps done (its own JSON).
    pub progress: Option<String>,
    /// What was sent (the report document).
    pub document: Option<String>,
    /// The receiver's acknowledgement (NCMEC's finish answer; the EU Centre's answer).
    pub receipt: Option<String>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When the receiver took it.
    pub finished_at: Option<Millis>,
    /// When it was given up.
    pub dead_at: Option<Millis>,
    /// Its cases, by id.
    pub cases: Vec<i64>,
}

/// A step a worker records on a report it holds: the new state and what the receiver said.
/// `None` fields keep what is stored; [`ReportStep::reset`] clears them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportStep {
    /// The state after the step (`pending`, `open` or `finishing`).
    pub state: Option<ReportState>,
    /// The receiver's id (NCMEC's `reportId`).
    pub remote_id: Option<String>,
    /// The worker's record of the steps done.
    pub progress: Option<String>,
    /// The document being sent.
    pub document: Option<String>,
    /// Clears the remote id and progress (what was opened was cancelled; start again).
    pub reset: bool,
}

impl ReportStep {
    /// Back to `pending` with nothing opened at the receiver.
    pub fn reset() -> Self {
        ReportStep { state: Some(ReportState::Pending), reset: true, ..Default::default() }
    }
}

/// How a worker's attempt ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again at this time.
    RetryAt(Millis),
    /// Give up: the report is dead until a person retries it.
    GiveUp,
}

/// Which reports to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    /// Only this state.
    pub state: Option<ReportState>,
    /// Only this recipient.
    pub recipient: Option<String>,
    /// Reports with ids above this (paging; 0 from the start).
    pub after: i64,
    /// Most reports (at most [`MAX_REPORT_PAGE`]).
    pub limit: usize,
}

/// What every store does with reports. Each method is one transaction.
pub trait Reports {
    /// Claims up to `limit` reports for one of `recipients` due at `now` (active, window
    /// closed, next attempt due, no live claim) for `worker` until `now + lease_ms`, oldest due
    /// first.
    fn reports_claim(
        &self,
        worker: &str,
        recipients: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Report>>;
    /// Records a step of a report `worker` holds, and renews its claim to `now + lease_ms`;
    /// `false` (nothing written) when it no longer holds it.
    fn report_step(
        &self,
        id: i64,
        worker: &str,
        step: &ReportStep,
        now: Millis,
        lease_ms: Millis,
    ) -> Result<bool>;
    /// The receiver took the report: finished, with its receipt; audited `report_sent`. `false`
    /// when `worker` no longer holds it.
    fn report_finished(&self, id: i64, worker: &str, receipt: &str, now: Millis) -> Result<bool>;
    /// An attempt failed: counted, the claim released, and either due again at the given time
    /// or given up (dead, audited `report_dead`). `false` when `worker` no longer holds it.
    fn report_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        failure: Failure,
        now: Millis,
    ) -> Result<bool>;
    /// A person sends a dead report again (due at once, attempts from 0; audited
    /// `report_retry`). Refused unless it is dead.
    fn report_retry(&self, id: i64, actor: &str, now: Millis) -> Result<Report>;
    /// One report.
    fn report(&self, id: i64) -> Result<Report>;
    /// Reports by id.
    fn reports(&self, q: &ReportQuery) -> Result<Vec<Report>>;
    /// The reports a case is in.
    fn reports_of_case(&self, case_id: i64) -> Result<Vec<Report>>;
    /// How many reports there are per recipient and state.
    fn report_counts(&self) -> Result<Vec<(String, ReportState, u64)>>;
}

/// The columns a [`Report`] is read from (without its cases), in order.
pub(crate) const REPORT_COLUMNS: &str = "id, uuid, recipient, state, created_at, send_after, \
     attempts, next_attempt_at, claimed_by, claimed_until, remote_id, progress, document, \
     receipt, last_error, finished_at, dead_at";

/// A report row as read, before its state is parsed and its cases added.
pub(crate) struct RawReport {
    pub id: i64,
    pub uuid: String,
    pub recipient: String,
    pub state: String,
    pub created_at: Millis,
    pub send_after: Millis,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Millis>,
    pub remote_id: Option<String>,
    pub progress: Option<String>,
    pub document: Option<String>,
    pub receipt: Option<String>,
    pub last_error: Option<String>,
    pub finished_at: Option<Millis>,
    pub dead_at: Option<Millis>,
}

impl RawReport {
    pub(crate) fn into_report(self, cases: Vec<i64>) -> Result<Report> {
        let state = self.state.parse().map_err(|e: String| {
            BankError::Invalid(format!("report {}: stored state: {e}", self.id))
        })?;
        Ok(Report {
            id: self.id,
            uuid: self.uuid,
            recipient: self.recipient,
            state,
            created_at: self.created_at,
            send_after: self.send_after,
            attempts: self.attempts.clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: self.next_attempt_at,
            claim: self.claimed_by.zip(self.claimed_until),
            remote_id: self.remote_id,
            progress: self.progress,
            document: self.document,
            receipt: self.receipt,
            last_error: self.last_error,
            finished_at: self.finished_at,
            dead_at: self.dead_at,
            cases,
        })
    }
}

/// Checks a report request before anything is written.
pub(crate) fn check_request(r: &ReportRequest) -> Result<()> {
    check_recipient(&r.recipient)?;
    if let Some(g) = &r.group {
        check_text("the report group", g, MAX_GROUP).map_err(BankError::Invalid)?;
    }
    if !(0..=30 * 24 * 3_600_000).contains(&r.window_ms) {
        return Err(BankError::Invalid(format!(
            "a report window of {} ms is out of range: use 0 to 30 days",
            r.window_ms
        )));
    }
    Ok(())
}

/// Checks a recipient name: 1–32 of a-z, 0-9 and `_`.
pub(crate) fn check_recipient(r: &str) -> Result<()> {
    let ok = !r.is_empty()
        && r.len() <= MAX_RECIPIENT
        && r.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(BankError::Invalid(format!(
            "report recipient {r:?}: use 1-{MAX_RECIPIENT} characters from a-z, 0-9 and _ (such \
             as ncmec or eu_centre)"
        )))
    }
}

/// Checks a worker name.
pub(crate) fn check_worker(w: &str) -> Result<()> {
    if w.is_empty() {
        return Err(BankError::Invalid(
            "the report worker's name is empty: give a name unique to the process".into(),
        ));
    }
    check_text("the report worker", w, MAX_WORKER).map_err(BankError::Invalid)
}

/// Checks a claim's size and lease.
pub(crate) fn check_claim(worker: &str, lease_ms: Millis, limit: usize) -> Result<i64> {
    check_worker(worker)?;
    if lease_ms <= 0 {
        return Err(BankError::Invalid(format!(
            "a report lease of {lease_ms} ms: give a positive time"
        )));
    }
    check_page(limit)
}

/// Checks a page size.
pub(crate) fn check_page(limit: usize) -> Result<i64> {
    if limit == 0 || limit > MAX_REPORT_PAGE {
        return Err(BankError::Invalid(format!(
            "reports are read 1 to {MAX_REPORT_PAGE} at a time: ask for fewer (asked {limit})"
        )));
    }
    Ok(limit as i64)
}

/// Checks a step: only active states, texts within bounds.
pub(crate) fn check_step(s: &ReportStep) -> Result<()> {
    if let Some(st) = s.state {
        if !st.is_active() {
            return Err(BankError::Invalid(format!(
                "a report step cannot move it to {st}: finish or fail it instead"
            )));
        }
    }
    for (what, t) in
        [("remote id", &s.remote_id), ("progress", &s.progress), ("document", &s.document)]
    {
        if let Some(t) = t {
            if t.len() > MAX_REPORT_TEXT {
                return Err(BankError::Invalid(format!(
                    "a report's {what} of {} bytes is over the {MAX_REPORT_TEXT}-byte limit",
                    t.len()
                )));
            }
        }
    }
    Ok(())
}

/// A text cut to at most `max` bytes, at a character boundary.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A new report's uuid (random, version 4).
pub(crate) fn new_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        BankError::Invalid(format!("no randomness from the operating system for a report id: {e}"))
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// Only a report `worker` holds is changed (`?2`/`$2` is the worker).
pub(crate) const HELD_SQLITE: &str =
    "claimed_by = ?2 AND state IN ('pending', 'open', 'finishing')";

/// The audit record of a finished report.
pub(crate) fn sent_audit(r: &Report) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by("system:reports", "report_sent", "report", &r.id.to_string())
        .with_details(serde_json::json!({
            "uuid": r.uuid,
            "recipient": r.recipient,
            "remote_id": r.remote_id,
            "cases": r.cases,
            "attempts": r.attempts,
        }))
}

/// The audit record of a report given up.
pub(crate) fn dead_audit(r: &Report, error: &str) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by("system:reports", "report_dead", "report", &r.id.to_string())
        .with_details(serde_json::json!({
            "uuid": r.uuid,
            "recipient": r.recipient,
            "cases": r.cases,
            "attempts": r.attempts,
            "error": clip(error, 512),
        }))
}

/// The audit record of a retry by a person.
pub(crate) fn retry_audit(actor: &str, r: &Report) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(actor, "report_retry", "report", &r.id.to_string()).with_details(
        serde_json::json!({"uuid": r.uuid, "recipient": r.recipient, "cases": r.cases}),
    )
}
