//! [`Complaints`] on PostgreSQL: each write one transaction with its audit record. A complaint
//! is filed and decided under the row lock of its case, so two complaints filed at once about
//! one case, and a decision racing another, are ordered: one of them is refused.

use std::collections::BTreeSet;

use postgres::{GenericClient, Row};

use crate::cases::Case;
use crate::complaints::{
    self, CaseRef, Complaint, ComplaintCounts, ComplaintDecision, ComplaintNotify,
    ComplaintOutcome, ComplaintQuery, ComplaintState, Complaints, NewComplaint, RawComplaint,
    COMPLAINT_COLUMNS,
};
use crate::model::Millis;
use crate::outbox::OutboxItem;
use crate::{BankError, PostgresStore, Result};

fn raw(r: &Row) -> RawComplaint {
    RawComplaint {
        id: r.get(0),
        case_id: r.get(1),
        created_at: r.get(2),
        submitter: r.get(3),
        complainant: r.get(4),
        text: r.get(5),
        state: r.get(6),
        decided_at: r.get(7),
        decided_by: r.get(8),
        reason: r.get(9),
        entry_id: r.get(10),
        purged_at: r.get(11),
    }
}

fn complaint_on(c: &mut impl GenericClient, id: i64) -> Result<Complaint> {
    c.query_opt(&format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE id = $1"), &[&id])?
        .map(|r| raw(&r))
        .ok_or(BankError::NoSuchComplaint(id))?
        .into_complaint()
}

fn complaints_of_case_on(c: &mut impl GenericClient, case_id: i64) -> Result<Vec<Complaint>> {
    c.query(
        &format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE case_id = $1 ORDER BY id"),
        &[&case_id],
    )?
    .iter()
    .map(|r| raw(r).into_complaint())
    .collect()
}

fn excluded_on(c: &mut impl GenericClient, complaint: &Complaint) -> Result<BTreeSet<String>> {
    let case = crate::pg_cases::case_on(c, complaint.case_id)?;
    let earlier = complaints::earlier_chain(&case, |id| crate::pg_cases::case_on(c, id))?;
    let others: Vec<Complaint> = complaints_of_case_on(c, complaint.case_id)?
        .into_iter()
        .filter(|o| o.id != complaint.id)
        .collect();
    Ok(complaints::excluded_deciders(&case, &earlier, &others))
}

impl Complaints for PostgresStore {
    fn complaint_create(&self, new: &NewComplaint, now: Millis) -> Result<Complaint> {
        complaints::check_new(new)?;
        self.people_write_audited(
            |tx| {
                let case_id: i64 = match &new.case {
                    CaseRef::Id(id) => *id,
                    CaseRef::ContentRef(r) => tx
                        .query_opt(
                            "SELECT id FROM cases
                             WHERE submitter = $1 AND content_ref = $2
                             ORDER BY decided_at IS NOT NULL DESC, id DESC LIMIT 1",
                            &[&new.submitter, r],
                        )?
                        .map(|row| row.get(0))
                        .ok_or_else(|| BankError::NoSuchContent(r.clone()))?,
                };
                // The row lock orders complaints filed at once about one case.
                tx.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", &[&case_id])?;
                let case = crate::pg_cases::case_on(tx, case_id)?;
                let open: Option<i64> = tx
                    .query_opt(
                        "SELECT id FROM complaints WHERE case_id = $1 AND state = 'open'",
                        &[&case_id],
                    )?
                    .map(|r| r.get(0));
                complaints::check_case(&case, open)?;
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO complaints (case_id, created_at, submitter, complainant, text)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        &[&case_id, &now, &new.submitter, &new.complainant, &new.text],
                    )?
                    .get(0);
                complaint_on(tx, id)
            },
            complaints::create_audit,
        )
    }

    fn complaint(&self, id: i64) -> Result<Complaint> {
        complaint_on(&mut *self.lock()?, id)
    }

    fn complaints(&self, q: &ComplaintQuery) -> Result<Vec<Complaint>> {
        complaints::check_query(q)?;
        let rows = self.lock()?.query(
            &format!(
                "SELECT {COMPLAINT_COLUMNS} FROM complaints
                 WHERE id > $1 AND ($2::TEXT IS NULL OR state = $2)
                   AND ($3::BIGINT IS NULL OR case_id = $3)
                   AND ($4::TEXT IS NULL OR submitter = $4)
                 ORDER BY id LIMIT $5"
            ),
            &[&q.after, &q.state.map(|s| s.name()), &q.case_id, &q.submitter, &(q.limit as i64)],
        )?;
        rows.iter().map(|r| raw(r).into_complaint()).collect()
    }

    fn complaint_excluded(&self, id: i64) -> Result<BTreeSet<String>> {
        let mut c = self.lock()?;
        let complaint = complaint_on(&mut *c, id)?;
        excluded_on(&mut *c, &complaint)
    }

    fn complaint_decide(
        &self,
        id: i64,
        person: &str,
        d: &ComplaintDecision,
        now: Millis,
        notify: ComplaintNotify<'_>,
    ) -> Result<(Complaint, Case)> {
        crate::check_actor(person)?;
        self.people_write_audited(
            |tx| {
                let case_id: i64 = tx
                    .query_opt("SELECT case_id FROM complaints WHERE id = $1", &[&id])?
                    .map(|r| r.get(0))
                    .ok_or(BankError::NoSuchComplaint(id))?;
                // The case's row lock orders a decision with another, and with a new complaint.
                tx.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", &[&case_id])?;
                let complaint = complaint_on(tx, id)?;
                let case = crate::pg_cases::case_on(tx, case_id)?;
                let excluded = excluded_on(tx, &complaint)?;
                let outcome = complaints::check_decision(&complaint, &case, person, &excluded, d)?;
                tx.execute(
                    "UPDATE complaints SET state = $2, decided_at = $3, decided_by = $4,
                         reason = $5, entry_id = $6
                     WHERE id = $1 AND state = 'open'",
                    &[
                        &id,
                        &ComplaintState::from(outcome).name(),
                        &now,
                        &person,
                        &d.reason,
                        &d.entry_id,
                    ],
                )?;
                let mut dropped: Vec<i64> = Vec::new();
                if outcome == ComplaintOutcome::Overturned {
                    tx.execute(
                        "INSERT INTO case_decisions (case_id, at, person, verdict, note, entry_id)
                         VALUES ($1, $2, $3, 'false_positive', $4, $5)",
                        &[
                            &case_id,
                            &now,
                            &person,
                            &complaints::reversal_note(id, &d.reason),
                            &d.entry_id,
                        ],
                    )?;
                    tx.execute(
                        "UPDATE cases SET state = 'false_positive', category = NULL,
                             industry_class = NULL, annotations = NULL, reversed_at = $2,
                             reversed_by = $3, reversed_complaint = $4
                         WHERE id = $1",
                        &[&case_id, &now, &person, &id],
                    )?;
                    // Reports not begun go without the case (and, left empty, not at all). The
                    // row locks order this with a claim: a report claimed first is begun.
                    let young: Vec<i64> = tx
                        .query(
                            "SELECT id FROM reports
                             WHERE id IN (SELECT report_id FROM report_cases WHERE case_id = $1)
                               AND NOT ever_claimed AND state = 'pending'
                             ORDER BY id FOR UPDATE",
                            &[&case_id],
                        )?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    for r in young {
                        tx.execute(
                            "DELETE FROM report_cases WHERE report_id = $1 AND case_id = $2",
                            &[&r, &case_id],
                        )?;
                        tx.execute(
                            "DELETE FROM reports WHERE id = $1
                               AND NOT EXISTS (SELECT 1 FROM report_cases WHERE report_id = $1)",
                            &[&r],
                        )?;
                        dropped.push(r);
                    }
                }
                let decided = complaint_on(tx, id)?;
                let case = crate::pg_cases::case_on(tx, case_id)?;
                let begun = if outcome == ComplaintOutcome::Overturned {
                    crate::pg_reports::reports_of_case_on(tx, case_id)?
                } else {
                    Vec::new()
                };
                let messages = notify(&decided, &case, &begun);
                let follow_ups = messages
                    .iter()
                    .filter(|m| m.topic.ends_with(complaints::FOLLOW_UP_SUFFIX))
                    .count();
                crate::pg_cases::messages_in(tx, messages, now)?;
                Ok((decided, case, dropped, follow_ups))
            },
            |(c, _, dropped, follow_ups)| complaints::decide_audit(person, c, dropped, *follow_ups),
        )
        .map(|(c, case, _, _)| (c, case))
    }

    fn complaint_counts(&self, overdue_before: Millis) -> Result<ComplaintCounts> {
        let rows = self.lock()?.query(
            "SELECT state, COUNT(*)::BIGINT, MIN(created_at),
                    COALESCE(SUM(CASE WHEN created_at < $1 THEN 1 ELSE 0 END), 0)::BIGINT
             FROM complaints GROUP BY state",
            &[&overdue_before],
        )?;
        Ok(complaints::counts_from(
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect(),
        ))
    }

    fn follow_up_done(&self, id: i64, actor: &str, note: &str, now: Millis) -> Result<OutboxItem> {
        crate::check_actor(actor)?;
        self.people_write_audited(
            |tx| {
                let item = crate::pg_outbox::item_on(tx, id, true)?;
                complaints::check_follow_up_done(item, id, note)?;
                tx.execute(
                    "UPDATE outbox SET delivered_at = $2, claimed_until = NULL WHERE id = $1",
                    &[&id, &now],
                )?;
                crate::pg_outbox::item_on(tx, id, false)?.ok_or(BankError::NoSuchFollowUp(id))
            },
            |item| complaints::follow_up_audit(actor, item, note),
        )
    }
}
