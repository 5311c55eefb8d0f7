//! Retention: data kept no longer than the law allows ([`Retention`], a part of every
//! [`crate::Store`]).
//!
//! Reg. 2021/1232 Art. 3(1)(h)–(i) keeps data at most 12 months from identification unless it is
//! needed for a complaint or proceedings. Each class of data has its own period in a [`Policy`];
//! the legal maximum ([`LEGAL_MAX_DAYS`]) may be exceeded only with a recorded reason. What a run
//! does, per class:
//! * **case personal data** (`content_ref`, `uploader_ref`, `upload_ip`, `uploaded_at`, the
//!   "do not inform" reason) of cases identified (made) before the cutoff: erased, the case
//!   marked `personal_purged_at`; the case itself stays, anonymous, with its signals, decisions
//!   and state, so statistics and the audit chain keep their meaning;
//! * **complaints** decided before the cutoff: the complainant's reference and words erased;
//! * **report documents** (what was sent, with the uploader's data) of reports finished before
//!   the cutoff: erased; the receipt, the proof of reporting, stays;
//! * **outbox messages** delivered or given up before the cutoff (their payloads name users):
//!   deleted;
//! * **console sessions** past their absolute age (they hold an address and a user agent):
//!   deleted;
//! * **held media** of cases made before the cutoff, whatever their state: listed by
//!   [`Retention::media_past_retention`] for the caller, which deletes the files.
//!
//! A **legal hold** on a case (who, why, until when; audited `case_legal_hold`) suspends all of
//! it for that case — its personal data, complaints, report documents and media — until the
//! hold ends. An open complaint holds its case the same way (it is needed for the complaint).
//! Every clock is the caller's `now`, so a run can be tested (and rehearsed with `dry_run`) at
//! any date.

use serde::{Deserialize, Serialize};

use crate::model::Millis;
use crate::{BankError, Result};

/// Longest any class may be kept without a recorded reason: 12 months, counted as 365 days
/// (never longer than 12 calendar months).
pub const LEGAL_MAX_DAYS: u32 = 365;
/// A day in milliseconds.
pub const DAY_MS: Millis = 86_400_000;

/// How long each class of data is kept, in days (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Personal data of cases, from the case's making (identification).
    pub case_personal_days: u32,
    /// Complaints' words and complainants, from the decision.
    pub complaint_days: u32,
    /// Documents of finished reports, from their finishing.
    pub report_document_days: u32,
    /// Delivered or given-up outbox messages, from delivery.
    pub outbox_days: u32,
    /// Held media of a case, from its making, whatever the case's state (the review grace
    /// usually deletes it long before).
    pub media_days: u32,
    /// Why a period above [`LEGAL_MAX_DAYS`] is needed (required then; recorded with each run).
    pub exceed_reason: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            case_personal_days: LEGAL_MAX_DAYS,
            complaint_days: LEGAL_MAX_DAYS,
            report_document_days: LEGAL_MAX_DAYS,
            outbox_days: 90,
            media_days: LEGAL_MAX_DAYS,
            exceed_reason: None,
        }
    }
}

impl Policy {
    /// The classes and their periods.
    pub fn classes(&self) -> [(&'static str, u32); 5] {
        [
            ("case_personal_days", self.case_personal_days),
            ("complaint_days", self.complaint_days),
            ("report_document_days", self.report_document_days),
            ("outbox_days", self.outbox_days),
            ("media_days", self.media_days),
        ]
    }

    /// Refuses a period of 0 days, and one above the legal maximum unless a reason is given.
    /// Returns the classes kept longer than the maximum (with a reason).
    pub fn check(&self) -> Result<Vec<&'static str>> {
        let mut over = Vec::new();
        for (name, days) in self.classes() {
            if days == 0 {
                return Err(BankError::Invalid(format!(
                    "retention {name} = 0: a period is at least one day"
                )));
            }
            if days > LEGAL_MAX_DAYS {
                over.push(name);
            }
        }
        if !over.is_empty() {
            match self.exceed_reason.as_deref().map(str::trim) {
                Some(r) if !r.is_empty() => {
                    crate::model::check_text("exceed_reason", r, crate::cases::MAX_NOTE)
                        .map_err(BankError::Invalid)?;
                }
                _ => {
                    return Err(BankError::Invalid(format!(
                        "retention {} above {LEGAL_MAX_DAYS} days, the legal maximum of 12 \
                         months (Reg. 2021/1232 Art. 3(1)(i)): lower it, or record why it is \
                         needed (a complaint, proceedings) in exceed_reason",
                        over.join(", ")
                    )))
                }
            }
        }
        Ok(over)
    }

    /// The cutoff of a period at `now`: data older than this goes.
    pub fn cutoff(now: Millis, days: u32) -> Millis {
        now.saturating_sub(Millis::from(days).saturating_mul(DAY_MS))
    }
}

/// What a run did (or, dry, would do), per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionCounts {
    /// Cases whose personal data was erased.
    pub case_personal: u64,
    /// Complaints whose words were erased.
    pub complaints: u64,
    /// Report documents erased.
    pub report_documents: u64,
    /// Outbox messages deleted.
    pub outbox: u64,
    /// Sessions deleted.
    pub sessions: u64,
    /// Held media deleted (counted by the caller, which deletes the files).
    pub media: u64,
    /// Cases past a period kept because of a legal hold or an open complaint.
    pub held_back: u64,
}

/// A legal hold on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalHold {
    /// Until when (nothing of the case is deleted before).
    pub until: Millis,
    /// Why (an order, proceedings).
    pub reason: String,
    /// Who set it.
    pub by: String,
}

/// The SQL condition (on a `cases` row aliased `c`) of a case whose data may go at `now`
/// (`{now}` is the placeholder of now): no legal hold in force and no open complaint.
pub(crate) fn releasable(now: &str) -> String {
    format!(
        "(c.hold_until IS NULL OR c.hold_until <= {now})
         AND NOT EXISTS (SELECT 1 FROM complaints k WHERE k.case_id = c.id AND k.state = 'open')"
    )
}

/// One class's statements: the rows it would change (counted) and the change, with `{now}` and
/// `{cut}` the placeholders of now and the class's cutoff, and `{hold}` the condition that the
/// class's case is released ([`releasable`]).
pub(crate) struct ClassSql {
    /// Which [`Policy`] period applies (`None`: sessions, by their own age).
    pub days: fn(&Policy) -> Option<u32>,
    pub count: String,
    pub apply: String,
}

/// The statements of every class but media, in `now`/`cut` placeholders of the dialect.
pub(crate) fn statements(now: &str, cut: &str) -> Vec<ClassSql> {
    let free = releasable(now);
    let case_where = format!("c.personal_purged_at IS NULL AND c.created_at < {cut} AND {free}");
    let complaint_where = format!(
        "k.purged_at IS NULL AND k.state <> 'open' AND k.decided_at < {cut}
         AND EXISTS (SELECT 1 FROM cases c WHERE c.id = k.case_id
                     AND (c.hold_until IS NULL OR c.hold_until <= {now}))"
    );
    let report_where = format!(
        "r.state = 'finished' AND r.document IS NOT NULL AND r.finished_at < {cut}
         AND NOT EXISTS (SELECT 1 FROM report_cases rc JOIN cases c ON c.id = rc.case_id
                         WHERE rc.report_id = r.id AND c.hold_until > {now})"
    );
    // Every statement names both parameters (`{now} IS NOT NULL` where it needs no clock), so
    // that PostgreSQL knows both types.
    let outbox_where = format!(
        "{now} IS NOT NULL
         AND ((o.delivered_at IS NOT NULL AND o.delivered_at < {cut})
              OR (o.delivered_at IS NULL AND o.gave_up_at IS NOT NULL AND o.gave_up_at < {cut}))"
    );
    let session_where = format!("{now} IS NOT NULL AND s.created_at < {cut}");
    vec![
        ClassSql {
            days: |p| Some(p.case_personal_days),
            count: format!("SELECT COUNT(*) FROM cases AS c WHERE {case_where}"),
            apply: format!(
                "UPDATE cases AS c SET content_ref = NULL, uploader_ref = NULL,
                     upload_ip = NULL, uploaded_at = NULL, personal_purged_at = {now}
                 WHERE {case_where}"
            ),
        },
        ClassSql {
            days: |p| Some(p.complaint_days),
            count: format!("SELECT COUNT(*) FROM complaints AS k WHERE {complaint_where}"),
            apply: format!(
                "UPDATE complaints AS k SET complainant = '', text = '', purged_at = {now}
                 WHERE {complaint_where}"
            ),
        },
        ClassSql {
            days: |p| Some(p.report_document_days),
            count: format!("SELECT COUNT(*) FROM reports AS r WHERE {report_where}"),
            apply: format!(
                "UPDATE reports AS r SET document = NULL, progress = NULL WHERE {report_where}"
            ),
        },
        ClassSql {
            days: |p| Some(p.outbox_days),
            count: format!("SELECT COUNT(*) FROM outbox AS o WHERE {outbox_where}"),
            apply: format!(
                "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox AS o WHERE {outbox_where})"
            ),
        },
        ClassSql {
            days: |_| None,
            count: format!("SELECT COUNT(*) FROM sessions AS s WHERE {session_where}"),
            apply: format!(
                "DELETE FROM sessions WHERE token_hash IN
                     (SELECT s.token_hash FROM sessions AS s WHERE {session_where})"
            ),
        },
    ]
}

/// Cases past the personal-data period that a hold or an open complaint keeps.
pub(crate) fn held_back_sql(now: &str, cut: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM cases AS c
         WHERE c.personal_purged_at IS NULL AND c.created_at < {cut} AND NOT ({})",
        releasable(now)
    )
}

/// Counts from the classes' numbers, in the order of [`statements`].
pub(crate) fn counts_of(n: &[u64], media: u64, held_back: u64) -> RetentionCounts {
    RetentionCounts {
        case_personal: n[0],
        complaints: n[1],
        report_documents: n[2],
        outbox: n[3],
        sessions: n[4],
        media,
        held_back,
    }
}

/// The audit record of a run (`actor`: `system:retention`, or the person or command).
pub(crate) fn run_audit(
    actor: &str,
    policy: &Policy,
    counts: &RetentionCounts,
    now: Millis,
    dry_run: bool,
) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(
        actor,
        "retention_run",
        "retention",
        if dry_run { "dry_run" } else { "run" },
    )
    .with_details(serde_json::json!({
        "at": crate::model::format_time(now),
        "dry_run": dry_run,
        "counts": counts,
        "policy": policy,
    }))
}

/// Checks a legal hold request.
pub(crate) fn check_hold(until: Option<Millis>, reason: &str, now: Millis) -> Result<()> {
    crate::cases::check_until(
        until,
        ("reason", reason),
        now,
        "reason: missing: a legal hold (or its end) is recorded with why (an order, proceedings)",
        "until: the end of a legal hold is in the future (give null to lift it)",
    )
}

/// The audit record of a legal hold set or lifted.
pub(crate) fn hold_audit(
    actor: &str,
    id: i64,
    until: Option<Millis>,
    reason: &str,
) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(actor, "case_legal_hold", "case", &id.to_string()).with_details(
        serde_json::json!({
            "until": until.map(crate::model::format_time),
            "lifted": until.is_none(),
            "reason": reason,
        }),
    )
}

/// What every store does for retention. Each method is one transaction.
pub trait Retention {
    /// Applies `policy` at `now` to every class but media (see the module documentation); with
    /// `dry_run` only counts. `session_max_age_ms`: sessions older than this go.
    /// Writes one audit record `retention_run` (by `actor`) with the counts, in the same
    /// transaction; `media` is what the caller deleted (or would) in this run, counted with it.
    fn retention_apply(
        &self,
        policy: &Policy,
        session_max_age_ms: Millis,
        now: Millis,
        dry_run: bool,
        media: u64,
        actor: &str,
    ) -> Result<RetentionCounts>;
    /// Held media of cases made before `made_before` that may go at `now` (no hold, no open
    /// complaint), whatever their state: `(case, media id)`, at most `limit`.
    fn media_past_retention(
        &self,
        made_before: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(i64, String)>>;
    /// Sets (or, with `None`, lifts) a legal hold on a case (audited `case_legal_hold`).
    fn set_legal_hold(
        &self,
        id: i64,
        until: Option<Millis>,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<crate::cases::Case>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_above_the_legal_maximum_need_a_reason() {
        assert_eq!(Policy::default().check().unwrap(), Vec::<&str>::new());
        let long = Policy { case_personal_days: 400, ..Default::default() };
        let e = long.check().unwrap_err().to_string();
        assert!(e.contains("case_personal_days") && e.contains("exceed_reason"), "{e}");
        let blank = Policy { exceed_reason: Some("  ".into()), ..long.clone() };
        assert!(blank.check().is_err());
        let why = Policy { exceed_reason: Some("proceedings 2026/17".into()), ..long };
        assert_eq!(why.check().unwrap(), ["case_personal_days"]);
        assert!(Policy { outbox_days: 0, ..Default::default() }.check().is_err());
        assert_eq!(Policy::cutoff(10 * DAY_MS, 3), 7 * DAY_MS);
        assert_eq!(Policy::cutoff(0, 3), -3 * DAY_MS);
    }

    #[test]
    fn holds_are_checked() {
        assert!(check_hold(Some(10), "order 5", 5).is_ok());
        assert!(check_hold(None, "lifted: case closed", 5).is_ok());
        assert!(check_hold(Some(5), "order 5", 5).is_err());
        assert!(check_hold(Some(10), " ", 5).is_err());
    }
}
