//! [`Reports`] on the embedded SQLite store: writes on the writer connection (one writer, so
//! claims and the joining of young reports are serialised by SQLite itself), reads on the pool.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::Millis;
use crate::reports::{
    self, Failure, RawReport, Report, ReportQuery, ReportRequest, ReportState, ReportStep, Reports,
    REPORT_COLUMNS,
};
use crate::{check_actor, BankError, Result, SqliteStore};

fn raw(r: &Row<'_>) -> rusqlite::Result<RawReport> {
    Ok(RawReport {
        id: r.get(0)?,
        uuid: r.get(1)?,
        recipient: r.get(2)?,
        state: r.get(3)?,
        created_at: r.get(4)?,
        send_after: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        claimed_by: r.get(8)?,
        claimed_until: r.get(9)?,
        remote_id: r.get(10)?,
        progress: r.get(11)?,
        document: r.get(12)?,
        receipt: r.get(13)?,
        last_error: r.get(14)?,
        finished_at: r.get(15)?,
        dead_at: r.get(16)?,
    })
}

impl SqliteStore {
    /// Puts a case into its report for `r.recipient` within `tx`: the young report of its group
    /// when there is one, else a new one. Nothing when the case is in a report for that
    /// recipient already.
    pub(crate) fn report_in(
        &self,
        tx: &Connection,
        case_id: i64,
        r: &ReportRequest,
        now: Millis,
    ) -> Result<()> {
        reports::check_request(r)?;
        let there: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM report_cases WHERE case_id = ?1 AND recipient = ?2)",
            )
            .and_then(|mut s| s.query_row(params![case_id, r.recipient], |row| row.get(0)))
            .map_err(|e| self.err(e))?;
        if there {
            return Ok(());
        }
        let young: Option<i64> = match &r.group {
            None => None,
            Some(g) => tx
                .prepare_cached(
                    "SELECT id FROM reports INDEXED BY reports_young
                     WHERE recipient = ?1 AND grouping = ?2 AND ever_claimed = 0
                       AND send_after > ?3 AND state = 'pending'
                     ORDER BY send_after DESC LIMIT 1",
                )
                .and_then(|mut s| {
                    s.query_row(params![r.recipient, g, now], |x| x.get(0)).optional()
                })
                .map_err(|e| self.err(e))?,
        };
        let id = match young {
            Some(id) => id,
            None => {
                let send_after = now.saturating_add(r.window_ms);
                let uuid = reports::new_uuid()?;
                tx.prepare_cached(
                    "INSERT INTO reports (uuid, recipient, grouping, created_at, send_after,
                                          next_attempt_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                )
                .and_then(|mut s| s.execute(params![uuid, r.recipient, r.group, now, send_after]))
                .map_err(|e| self.err(e))?;
                tx.last_insert_rowid()
            }
        };
        tx.prepare_cached(
            "INSERT INTO report_cases (report_id, case_id, recipient) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![id, case_id, r.recipient]))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn report_on(&self, conn: &Connection, id: i64) -> Result<Report> {
        let raw = conn
            .prepare_cached(&format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], raw).optional())
            .map_err(|e| self.err(e))?
            .ok_or(BankError::NoSuchReport(id))?;
        self.complete_report(conn, raw)
    }

    fn complete_report(&self, conn: &Connection, raw: RawReport) -> Result<Report> {
        let cases = conn
            .prepare_cached(
                "SELECT case_id FROM report_cases WHERE report_id = ?1 ORDER BY case_id",
            )
            .and_then(|mut s| {
                s.query_map([raw.id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()
            })
            .map_err(|e| self.err(e))?;
        raw.into_report(cases)
    }

    pub(crate) fn reports_where(
        &self,
        conn: &Connection,
        sql: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Report>> {
        let raws = conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_map(p, raw)?.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        raws.into_iter().map(|r| self.complete_report(conn, r)).collect()
    }
}

impl SqliteStore {
    /// Seals and writes one audit record within `tx`, at the time of the clock.
    fn audit_in(&self, tx: &Connection, rec: &spoor_audit::NewRecord) -> Result<()> {
        let head = crate::sqlite_store::audit_head_in(self, tx)?;
        let r = spoor_audit::Record::seal(head, crate::model::now_ms(), rec)
            .map_err(|e| BankError::Invalid(e.to_string()))?;
        crate::sqlite_store::insert_audit_in(self, tx, &r)
    }
}

impl Reports for SqliteStore {
    fn reports_claim(
        &self,
        worker: &str,
        recipients: &[String],
        now: Millis,
        lease_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Report>> {
        let limit = reports::check_claim(worker, lease_ms, limit)?;
        let recipients =
            serde_json::to_string(recipients).map_err(|e| BankError::Invalid(e.to_string()))?;
        let until = now.saturating_add(lease_ms);
        self.people_write(|tx| {
            let raws = tx
                .prepare_cached(&format!(
                    "UPDATE reports SET claimed_by = ?1, claimed_until = ?2, ever_claimed = 1
                     WHERE id IN (
                         SELECT id FROM reports INDEXED BY reports_due
                         WHERE state IN ('pending', 'open', 'finishing')
                           AND next_attempt_at <= ?3
                           AND (claimed_until IS NULL OR claimed_until < ?3)
                           AND recipient IN (SELECT value FROM json_each(?5))
                         ORDER BY next_attempt_at, id LIMIT ?4)
                     RETURNING {REPORT_COLUMNS}"
                ))
                .and_then(|mut s| {
                    s.query_map(params![worker, until, now, limit, recipients], raw)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| self.err(e))?;
            let mut out: Vec<Report> =
                raws.into_iter().map(|r| self.complete_report(tx, r)).collect::<Result<_>>()?;
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
        self.people_write(|tx| {
            let n = tx
                .execute(
                    &format!(
                        "UPDATE reports SET
                             state = COALESCE(?3, state),
                             remote_id = CASE WHEN ?4 THEN NULL ELSE COALESCE(?5, remote_id) END,
                             progress = CASE WHEN ?4 THEN NULL ELSE COALESCE(?6, progress) END,
                             document = COALESCE(?7, document),
                             claimed_until = ?8
                         WHERE id = ?1 AND {}",
                        reports::HELD_SQLITE
                    ),
                    params![
                        id,
                        worker,
                        step.state.map(|s| s.name()),
                        step.reset,
                        step.remote_id,
                        step.progress,
                        step.document,
                        until
                    ],
                )
                .map_err(|e| self.err(e))?;
            Ok(n == 1)
        })
    }

    fn report_finished(&self, id: i64, worker: &str, receipt: &str, now: Millis) -> Result<bool> {
        reports::check_worker(worker)?;
        let receipt = reports::clip(receipt, reports::MAX_REPORT_TEXT);
        self.people_write(|tx| {
            let n = tx
                .execute(
                    &format!(
                        "UPDATE reports SET state = 'finished', receipt = ?3, finished_at = ?4,
                             claimed_by = NULL, claimed_until = NULL, last_error = NULL
                         WHERE id = ?1 AND {}",
                        reports::HELD_SQLITE
                    ),
                    params![id, worker, receipt, now],
                )
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Ok(false);
            }
            let r = self.report_on(tx, id)?;
            self.audit_in(tx, &reports::sent_audit(&r))?;
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
                        "UPDATE reports SET attempts = attempts + 1, next_attempt_at = ?3,
                             last_error = ?4, claimed_by = NULL, claimed_until = NULL
                         WHERE id = ?1 AND {}",
                        reports::HELD_SQLITE
                    ),
                    params![id, worker, at, error],
                ),
                Failure::GiveUp => tx.execute(
                    &format!(
                        "UPDATE reports SET attempts = attempts + 1, state = 'dead',
                             dead_at = ?3, last_error = ?4, claimed_by = NULL,
                             claimed_until = NULL
                         WHERE id = ?1 AND {}",
                        reports::HELD_SQLITE
                    ),
                    params![id, worker, now, error],
                ),
            }
            .map_err(|e| self.err(e))?;
            if n == 0 {
                return Ok(false);
            }
            if failure == Failure::GiveUp {
                let r = self.report_on(tx, id)?;
                self.audit_in(tx, &reports::dead_audit(&r, &error))?;
            }
            Ok(true)
        })
    }

    fn report_retry(&self, id: i64, actor: &str, now: Millis) -> Result<Report> {
        check_actor(actor)?;
        self.people_write(|tx| {
            let r = self.report_on(tx, id)?;
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
                     attempts = 0, next_attempt_at = ?2, dead_at = NULL
                 WHERE id = ?1 AND state = 'dead'",
                params![id, now],
            )
            .map_err(|e| self.err(e))?;
            let r = self.report_on(tx, id)?;
            self.audit_in(tx, &reports::retry_audit(actor, &r))?;
            Ok(r)
        })
    }

    fn report(&self, id: i64) -> Result<Report> {
        let conn = self.read()?;
        self.report_on(&conn, id)
    }

    fn reports(&self, q: &ReportQuery) -> Result<Vec<Report>> {
        let limit = reports::check_page(q.limit)?;
        let conn = self.read()?;
        self.reports_where(
            &conn,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE id > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR recipient = ?3)
                 ORDER BY id LIMIT ?4"
            ),
            &[&q.after, &q.state.map(|s| s.name()), &q.recipient, &limit],
        )
    }

    fn reports_of_case(&self, case_id: i64) -> Result<Vec<Report>> {
        let conn = self.read()?;
        self.reports_where(
            &conn,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE id IN (SELECT report_id FROM report_cases WHERE case_id = ?1)
                 ORDER BY id"
            ),
            &[&case_id],
        )
    }

    fn report_counts(&self) -> Result<Vec<(String, ReportState, u64)>> {
        let conn = self.read()?;
        let rows = conn
            .prepare_cached(
                "SELECT recipient, state, COUNT(*) FROM reports GROUP BY recipient, state
                 ORDER BY recipient, state",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<(String, String, i64)>>>()
            })
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(rec, st, n)| {
                let st = st.parse().map_err(BankError::Invalid)?;
                Ok((rec, st, n.max(0) as u64))
            })
            .collect()
    }
}
