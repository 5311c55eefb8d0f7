//! [`Reports`] on the PostgreSQL store. Replicas share the reports: a claim takes due rows
//! `FOR UPDATE SKIP LOCKED` (two replicas never claim one report, and neither waits on the
//! other), and a case joins a young report only after locking its row, so a join and a claim of
//! one report are ordered: a report claimed first takes no new case.

use postgres::{GenericClient, Row, Transaction};

use crate::model::Millis;
use crate::reports::{
    self, Failure, RawReport, Report, ReportQuery, ReportRequest, ReportState, ReportStep, Reports,
    REPORT_COLUMNS,
};
use crate::{check_actor, BankError, PostgresStore, Result};

/// Only a report `worker` holds is changed (`$2` is the worker).
const HELD: &str = "claimed_by = $2 AND state IN ('pending', 'open', 'finishing')";

fn raw(r: &Row) -> RawReport {
    RawReport {
        id: r.get(0),
        uuid: r.get(1),
        recipient: r.get(2),
        state: r.get(3),
        created_at: r.get(4),
        send_after: r.get(5),
        attempts: r.get(6),
        next_attempt_at: r.get(7),
        claimed_by: r.get(8),
        claimed_until: r.get(9),
        remote_id: r.get(10),
        progress: r.get(11),
        document: r.get(12),
        receipt: r.get(13),
        last_error: r.get(14),
        finished_at: r.get(15),
        dead_at: r.get(16),
    }
}

fn complete(c: &mut impl GenericClient, raw: RawReport) -> Result<Report> {
    let cases: Vec<i64> = c
        .query(
            "SELECT case_id FROM report_cases WHERE report_id = $1 ORDER BY case_id",
            &[&raw.id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    raw.into_report(cases)
}

fn report_on(c: &mut impl GenericClient, id: i64) -> Result<Report> {
    let row = c
        .query_opt(&format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"), &[&id])?
        .ok_or(BankError::NoSuchReport(id))?;
    complete(c, raw(&row))
}

/// The reports a case is in, read on `c`.
pub(crate) fn reports_of_case_on(c: &mut impl GenericClient, case_id: i64) -> Result<Vec<Report>> {
    let rows = c.query(
        &format!(
            "SELECT {REPORT_COLUMNS} FROM reports
             WHERE id IN (SELECT report_id FROM report_cases WHERE case_id = $1)
             ORDER BY id"
        ),
        &[&case_id],
    )?;
    rows.iter().map(|r| complete(c, raw(r))).collect()
}

fn audit_in(tx: &mut Transaction<'_>, rec: &spoor_audit::NewRecord) -> Result<()> {
    let head = crate::postgres_store::audit_head_in(tx, true)?;
    let r = spoor_audit::Record::seal(head, crate::model::now_ms(), rec)
        .map_err(|e| BankError::Invalid(e.to_string()))?;
    crate::postgres_store::insert_audit_in(tx, &r)
}

/// Puts a case into its report for `r.recipient` within `tx`: the young report of its group
/// when there is one, else a new one. Nothing when the case is in a report for that recipient
/// already.
pub(crate) fn report_in(
    tx: &mut Transaction<'_>,
    case_id: i64,
    r: &ReportRequest,
    now: Millis,
) -> Result<()> {
    reports::check_request(r)?;
    let there: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM report_cases WHERE case_id = $1 AND recipient = $2)",
            &[&case_id, &r.recipient],
        )?
        .get(0);
    if there {
        return Ok(());
    }
    let young: Option<i64> = match &r.group {
        None => None,
        // The row lock orders this join with a claim of the same report.
        Some(g) => tx
            .query_opt(
                "SELECT id FROM reports
                 WHERE recipient = $1 AND grouping = $2 AND NOT ever_claimed
                   AND send_after > $3 AND state = 'pending'
                 ORDER BY send_after DESC LIMIT 1
                 FOR UPDATE",
                &[&r.recipient, g, &now],
            )?
            .map(|row| row.get(0)),
    };
    let id = match young {
        Some(id) => id,
        None => {
            let send_after = now.saturating_add(r.window_ms);
            tx.query_one(
                "INSERT INTO reports (uuid, recipient, grouping, created_at, send_after,
                                      next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                &[&reports::new_uuid()?, &r.recipient, &r.group, &now, &send_after],
            )?
            .get(0)
        }
    };
    tx.execute(
        "INSERT INTO report_cases (report_id, case_id, recipient) VALUES ($1, $2, $3)",
        &[&id, &case_id, &r.recipient],
    )?;
    Ok(())
}

impl Reports for PostgresStore {
    fn reports_claim(
        &self,
        worker: &str,
        recipients: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Report>> {
        let limit = reports::check_claim(worker, lease_ms, limit)?;
        let until = now.saturating_add(lease_ms);
        self.people_write(|tx| {
            let rows = tx.query(
                &format!(
                    "UPDATE reports SET claimed_by = $1, claimed_until = $2, ever_claimed = TRUE
                     WHERE id IN (
                         SELECT id FROM reports
                         WHERE state IN ('pending', 'open', 'finishing')
                           AND next_attempt_at <= $3
                           AND (claimed_until IS NULL OR claimed_until < $3)
                           AND recipient = ANY($5)
                         ORDER BY next_attempt_at, id LIMIT $4
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {REPORT_COLUMNS}"
                ),
                &[&worker, &until, &now, &limit, &recipients],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(complete(tx, raw(r))?);
            }
            out.sort_by_key(|r| (r.next_attempt_at, r.id));
            Ok(out)
        })
    }

    fn report_step(
        &self,
        id: i64,
        worker: &str,
        step: &ReportStep,
        now: Millis,
        lease_ms: Millis,
    ) -> Result<bool> {
        reports::check_worker(worker)?;
        reports::check_step(step)?;
        let until = now.saturating_add(lease_ms.max(0));
        let n = self.lock()?.execute(
            &format!(
                "UPDATE reports SET
                     state = COALESCE($3, state),
                     remote_id = CASE WHEN $4 THEN NULL ELSE COALESCE($5, remote_id) END,
                     progress = CASE WHEN $4 THEN NULL ELSE COALESCE($6, progress) END,
                     document = COALESCE($7, document),
                     claimed_until = $8
                 WHERE id = $1 AND {HELD}"
            ),
            &[
                &id,
                &worker,
                &step.state.map(|s| s.name()),
                &step.reset,
                &step.remote_id,
                &step.progress,
                &step.document,
                &until,
            ],
        )?;
        Ok(n == 1)
    }

    fn report_finished(&self, id: i64, worker: &str, receipt: &str, now: Millis) -> Result<bool> {
        reports::check_worker(worker)?;
        let receipt = reports::clip(receipt, reports::MAX_REPORT_TEXT);
        self.people_write(|tx| {
            let n = tx.execute(
                &format!(
                    "UPDATE reports SET state = 'finished', receipt = $3, finished_at = $4,
                         claimed_by = NULL, claimed_until = NULL, last_error = NULL
                     WHERE id = $1 AND {HELD}"
                ),
                &[&id, &worker, &receipt, &now],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let r = report_on(tx, id)?;
            audit_in(tx, &reports::sent_audit(&r))?;
            Ok(true)
        })
    }

    fn report_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        failure: Failure,
        now: Millis,
    ) -> Result<bool> {
        reports::check_worker(worker)?;
        let error = reports::clip(error, crate::outbox::MAX_ERROR);
        self.people_write(|tx| {
            let n = match failure {
                Failure::RetryAt(at) => tx.execute(
                    &format!(
                        "UPDATE reports SET attempts = attempts + 1, next_attempt_at = $3,
                             last_error = $4, claimed_by = NULL, claimed_until = NULL
                         WHERE id = $1 AND {HELD}"
                    ),
                    &[&id, &worker, &at, &error],
                )?,
                Failure::GiveUp => tx.execute(
                    &format!(
                        "UPDATE reports SET attempts = attempts + 1, state = 'dead',
                             dead_at = $3, last_error = $4, claimed_by = NULL,
                             claimed_until = NULL
                         WHERE id = $1 AND {HELD}"
                    ),
                    &[&id, &worker, &now, &error],
                )?,
            };
            if n == 0 {
                return Ok(false);
            }
            if failure == Failure::GiveUp {
                let r = report_on(tx, id)?;
                audit_in(tx, &reports::dead_audit(&r, &error))?;
            }
            Ok(true)
        })
    }

    fn report_retry(&self, id: i64, actor: &str, now: Millis) -> Result<Report> {
        check_actor(actor)?;
        self.people_write(|tx| {
            tx.execute("SELECT 1 FROM reports WHERE id = $1 FOR UPDATE", &[&id])?;
            let r = report_on(tx, id)?;
            if r.state != ReportState::Dead {
                return Err(BankError::Conflict(format!(
                    "report {id} is {}: only a dead report is retried",
                    r.state
                )));
            }
            // A report opened at the receiver goes back to `open`: the worker cancels it there
            // (or learns that it was finished after all) before anything is sent again.
            tx.execute(
                "UPDATE reports SET
                     state = CASE WHEN remote_id IS NULL THEN 'pending' ELSE 'open' END,
                     attempts = 0, next_attempt_at = $2, dead_at = NULL
                 WHERE id = $1 AND state = 'dead'",
                &[&id, &now],
            )?;
            let r = report_on(tx, id)?;
            audit_in(tx, &reports::retry_audit(actor, &r))?;
            Ok(r)
        })
    }

    fn report(&self, id: i64) -> Result<Report> {
        report_on(&mut *self.lock()?, id)
    }

    fn reports(&self, q: &ReportQuery) -> Result<Vec<Report>> {
        let limit = reports::check_page(q.limit)?;
        let mut c = self.lock()?;
        let rows = c.query(
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE id > $1 AND ($2::TEXT IS NULL OR state = $2)
                   AND ($3::TEXT IS NULL OR recipient = $3)
                 ORDER BY id LIMIT $4"
            ),
            &[&q.after, &q.state.map(|s| s.name()), &q.recipient, &limit],
        )?;
        rows.iter().map(|r| complete(&mut *c, raw(r))).collect()
    }

    fn reports_of_case(&self, case_id: i64) -> Result<Vec<Report>> {
        reports_of_case_on(&mut *self.lock()?, case_id)
    }

    fn report_counts(&self) -> Result<Vec<(String, ReportState, u64)>> {
        let rows = self.lock()?.query(
            "SELECT recipient, state, COUNT(*) FROM reports GROUP BY recipient, state
             ORDER BY recipient, state",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let st: String = r.get(1);
                let st = st.parse().map_err(BankError::Invalid)?;
                Ok((r.get(0), st, r.get::<_, i64>(2).max(0) as u64))
            })
            .collect()
    }
}
