//! [`Complaints`] on the embedded SQLite store: writes on the writer connection (each one
//! `BEGIN IMMEDIATE` transaction with its audit record), reads on the read pool.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::complaints::{
    self, CaseRef, Complaint, ComplaintCounts, ComplaintDecision, ComplaintNotify,
    ComplaintOutcome, ComplaintQuery, ComplaintState, Complaints, NewComplaint, RawComplaint,
    COMPLAINT_COLUMNS,
};
use crate::model::Millis;
use crate::outbox::OutboxItem;
use crate::{BankError, Result, SqliteStore};

fn raw(r: &Row<'_>) -> rusqlite::Result<RawComplaint> {
    Ok(RawComplaint {
        id: r.get(0)?,
        case_id: r.get(1)?,
        created_at: r.get(2)?,
        submitter: r.get(3)?,
        complainant: r.get(4)?,
        text: r.get(5)?,
        state: r.get(6)?,
        decided_at: r.get(7)?,
        decided_by: r.get(8)?,
        reason: r.get(9)?,
        entry_id: r.get(10)?,
        purged_at: r.get(11)?,
    })
}

impl SqliteStore {
    fn complaint_on(&self, conn: &Connection, id: i64) -> Result<Complaint> {
        conn.prepare_cached(&format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], raw).optional())
            .map_err(|e| self.err(e))?
            .ok_or(BankError::NoSuchComplaint(id))?
            .into_complaint()
    }

    fn complaints_of_case_on(&self, conn: &Connection, case_id: i64) -> Result<Vec<Complaint>> {
        conn.prepare_cached(&format!(
            "SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE case_id = ?1 ORDER BY id"
        ))
        .and_then(|mut s| s.query_map([case_id], raw)?.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| self.err(e))?
        .into_iter()
        .map(RawComplaint::into_complaint)
        .collect()
    }

    /// Who may not decide complaint `c`, read on `conn`.
    fn excluded_on(&self, conn: &Connection, c: &Complaint) -> Result<BTreeSet<String>> {
        let case = self.case_on(conn, c.case_id)?;
        let earlier = complaints::earlier_chain(&case, |id| self.case_on(conn, id))?;
        let others: Vec<Complaint> = self
            .complaints_of_case_on(conn, c.case_id)?
            .into_iter()
            .filter(|o| o.id != c.id)
            .collect();
        Ok(complaints::excluded_deciders(&case, &earlier, &others))
    }
}

impl Complaints for SqliteStore {
    fn complaint_create(&self, new: &NewComplaint, now: Millis) -> Result<Complaint> {
        complaints::check_new(new)?;
        self.people_write_audited(
            |tx| {
                let case_id = match &new.case {
                    CaseRef::Id(id) => *id,
                    CaseRef::ContentRef(r) => tx
                        .prepare_cached(
                            "SELECT id FROM cases INDEXED BY cases_by_content_ref
                             WHERE submitter = ?1 AND content_ref = ?2
                             ORDER BY decided_at IS NOT NULL DESC, id DESC LIMIT 1",
                        )
                        .and_then(|mut s| {
                            s.query_row(params![new.submitter, r], |x| x.get(0)).optional()
                        })
                        .map_err(|e| self.err(e))?
                        .ok_or_else(|| BankError::NoSuchContent(r.clone()))?,
                };
                let case = self.case_on(tx, case_id)?;
                let open: Option<i64> = tx
                    .prepare_cached(
                        "SELECT id FROM complaints WHERE case_id = ?1 AND state = 'open'",
                    )
                    .and_then(|mut s| s.query_row([case_id], |x| x.get(0)).optional())
                    .map_err(|e| self.err(e))?;
                complaints::check_case(&case, open)?;
                tx.prepare_cached(
                    "INSERT INTO complaints (case_id, created_at, submitter, complainant, text)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![case_id, now, new.submitter, new.complainant, new.text])
                })
                .map_err(|e| self.err(e))?;
                self.complaint_on(tx, tx.last_insert_rowid())
            },
            complaints::create_audit,
        )
    }

    fn complaint(&self, id: i64) -> Result<Complaint> {
        let conn = self.read()?;
        self.complaint_on(&conn, id)
    }

    fn complaints(&self, q: &ComplaintQuery) -> Result<Vec<Complaint>> {
        complaints::check_query(q)?;
        let conn = self.read()?;
        conn.prepare_cached(&format!(
            "SELECT {COMPLAINT_COLUMNS} FROM complaints
             WHERE id > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR case_id = ?3)
               AND (?4 IS NULL OR submitter = ?4)
             ORDER BY id LIMIT ?5"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![q.after, q.state.map(|s| s.name()), q.case_id, q.submitter, q.limit as i64],
                raw,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| self.err(e))?
        .into_iter()
        .map(RawComplaint::into_complaint)
        .collect()
    }

    fn complaint_excluded(&self, id: i64) -> Result<BTreeSet<String>> {
        let conn = self.read()?;
        let c = self.complaint_on(&conn, id)?;
        self.excluded_on(&conn, &c)
    }

    fn complaint_decide(
        &self,
        id: i64,
        person: &str,
        d: &ComplaintDecision,
        now: Millis,
        notify: ComplaintNotify<'_>,
    ) -> Result<(Complaint, crate::cases::Case)> {
        crate::check_actor(person)?;
        self.people_write_audited(
            |tx| {
                let complaint = self.complaint_on(tx, id)?;
                let case = self.case_on(tx, complaint.case_id)?;
                let excluded = self.excluded_on(tx, &complaint)?;
                let outcome = complaints::check_decision(&complaint, &case, person, &excluded, d)?;
                tx.execute(
                    "UPDATE complaints SET state = ?2, decided_at = ?3, decided_by = ?4,
                         reason = ?5, entry_id = ?6
                     WHERE id = ?1 AND state = 'open'",
                    params![
                        id,
                        ComplaintState::from(outcome).name(),
                        now,
                        person,
                        d.reason,
                        d.entry_id
                    ],
                )
                .map_err(|e| self.err(e))?;
                let mut dropped = Vec::new();
                if outcome == ComplaintOutcome::Overturned {
                    tx.execute(
                        "INSERT INTO case_decisions (case_id, at, person, verdict, note, entry_id)
                         VALUES (?1, ?2, ?3, 'false_positive', ?4, ?5)",
                        params![
                            case.id,
                            now,
                            person,
                            complaints::reversal_note(id, &d.reason),
                            d.entry_id
                        ],
                    )
                    .map_err(|e| self.err(e))?;
                    tx.execute(
                        "UPDATE cases SET state = 'false_positive', category = NULL,
                             industry_class = NULL, annotations = NULL, reversed_at = ?2,
                             reversed_by = ?3, reversed_complaint = ?4
                         WHERE id = ?1",
                        params![case.id, now, person, id],
                    )
                    .map_err(|e| self.err(e))?;
                    // Reports not begun yet go without the case (and, left empty, not at all).
                    dropped = tx
                        .prepare_cached(
                            "DELETE FROM report_cases
                             WHERE case_id = ?1 AND report_id IN
                                 (SELECT id FROM reports WHERE ever_claimed = 0
                                                           AND state = 'pending')
                             RETURNING report_id",
                        )
                        .and_then(|mut s| {
                            s.query_map([case.id], |r| r.get::<_, i64>(0))?
                                .collect::<rusqlite::Result<Vec<_>>>()
                        })
                        .map_err(|e| self.err(e))?;
                    dropped.sort_unstable();
                    for r in &dropped {
                        tx.execute(
                            "DELETE FROM reports WHERE id = ?1
                               AND NOT EXISTS (SELECT 1 FROM report_cases WHERE report_id = ?1)",
                            [r],
                        )
                        .map_err(|e| self.err(e))?;
                    }
                }
                let decided = self.complaint_on(tx, id)?;
                let case = self.case_on(tx, case.id)?;
                let begun: Vec<_> = self
                    .reports_where(
                        tx,
                        &format!(
                            "SELECT {} FROM reports
                             WHERE id IN (SELECT report_id FROM report_cases WHERE case_id = ?1)
                             ORDER BY id",
                            crate::reports::REPORT_COLUMNS
                        ),
                        &[&case.id],
                    )?
                    .into_iter()
                    .filter(|_| outcome == ComplaintOutcome::Overturned)
                    .collect();
                let messages = notify(&decided, &case, &begun);
                let follow_ups = messages
                    .iter()
                    .filter(|m| m.topic.ends_with(crate::complaints::FOLLOW_UP_SUFFIX))
                    .count();
                self.messages_in(tx, messages, now)?;
                Ok((decided, case, dropped, follow_ups))
            },
            |(c, _, dropped, follow_ups)| complaints::decide_audit(person, c, dropped, *follow_ups),
        )
        .map(|(c, case, _, _)| (c, case))
    }

    fn complaint_counts(&self, overdue_before: Millis) -> Result<ComplaintCounts> {
        let conn = self.read()?;
        let rows = conn
            .prepare_cached(
                "SELECT state, COUNT(*), MIN(created_at),
                        SUM(CASE WHEN created_at < ?1 THEN 1 ELSE 0 END)
                 FROM complaints GROUP BY state",
            )
            .and_then(|mut s| {
                s.query_map([overdue_before], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        Ok(complaints::counts_from(rows))
    }

    fn follow_up_done(&self, id: i64, actor: &str, note: &str, now: Millis) -> Result<OutboxItem> {
        crate::check_actor(actor)?;
        self.people_write_audited(
            |tx| {
                let item = self.outbox_item_on(tx, id)?;
                complaints::check_follow_up_done(item, id, note)?;
                tx.execute(
                    "UPDATE outbox SET delivered_at = ?2, claimed_until = NULL WHERE id = ?1",
                    params![id, now],
                )
                .map_err(|e| self.err(e))?;
                self.outbox_item_on(tx, id)?.ok_or(BankError::NoSuchFollowUp(id))
            },
            |item| complaints::follow_up_audit(actor, item, note),
        )
    }
}
