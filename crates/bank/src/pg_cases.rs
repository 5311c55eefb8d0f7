//! [`Cases`] on PostgreSQL: each write one transaction with its audit record; "review next"
//! takes the oldest free case with `FOR UPDATE SKIP LOCKED`, so reviewers claiming at once on
//! different connections never get the same case and never wait for each other.

use postgres::{GenericClient, Row, Transaction};
use serde_json::json;
use spoor_audit::NewRecord;

use crate::cases::{
    self, annotations_text, Case, CaseMatch, CaseQuery, CaseState, Cases, DecidedPdq, Effects,
    NewCase, NewDecision, Notify, Opening, Outcome, RawCase, RawDecision, ReviewView, CASE_COLUMNS,
    MAX_CASE_PAGE,
};
use crate::model::Millis;
use crate::{check_actor, BankError, PostgresStore, Result};

fn raw_case(r: &Row) -> RawCase {
    RawCase {
        id: r.get(0),
        created_at: r.get(1),
        submitter: r.get(2),
        reason: r.get(3),
        service: r.get(4),
        content_ref: r.get(5),
        uploader_ref: r.get(6),
        uploaded_at: r.get(7),
        upload_ip: r.get(8),
        media_kind: r.get(9),
        media_id: r.get(10),
        media_bytes: r.get(11),
        media_purged_at: r.get(12),
        md5: r.get(13),
        sha1: r.get(14),
        sha256: r.get(15),
        pdq: r.get(16),
        pdq_quality: r.get(17),
        state: r.get(18),
        queue: r.get(19),
        lease_holder: r.get(20),
        lease_until: r.get(21),
        resolution: r.get(22),
        earlier_case: r.get(23),
        category: r.get(24),
        industry_class: r.get(25),
        annotations: r.get(26),
        decided_at: r.get(27),
        decided_by: r.get(28),
        publicly_available: r.get(29),
        no_inform_until: r.get(30),
        no_inform_reason: r.get(31),
        reversed_at: r.get(32),
        reversed_by: r.get(33),
        reversed_complaint: r.get(34),
        hold_until: r.get(35),
        hold_reason: r.get(36),
        hold_by: r.get(37),
        personal_purged_at: r.get(38),
    }
}

/// A case with its matches and decisions.
pub(crate) fn case_on(c: &mut impl GenericClient, id: i64) -> Result<Case> {
    let row = c
        .query_opt(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"), &[&id])?
        .ok_or(BankError::NoSuchCase(id))?;
    complete(c, raw_case(&row).into_case()?)
}

fn complete(c: &mut impl GenericClient, mut case: Case) -> Result<Case> {
    for r in c.query(
        "SELECT b.name, m.entry_id, m.signal_type, m.distance
         FROM case_matches m JOIN banks b ON b.id = m.bank_id
         WHERE m.case_id = $1 ORDER BY m.distance, m.entry_id",
        &[&case.id],
    )? {
        let t: String = r.get(2);
        case.matches.push(CaseMatch {
            bank: r.get(0),
            entry_id: r.get(1),
            signal_type: t.parse().map_err(|e| {
                BankError::Invalid(format!("the database holds a bad signal type: {e}"))
            })?,
            distance: r.get::<_, i64>(3).clamp(0, 256) as u32,
        });
    }
    for r in c.query(
        "SELECT id, at, person, verdict, category, industry_class, annotations, entry_id, note
         FROM case_decisions WHERE case_id = $1 ORDER BY id",
        &[&case.id],
    )? {
        case.decisions.push(
            RawDecision {
                id: r.get(0),
                at: r.get(1),
                person: r.get(2),
                verdict: r.get(3),
                category: r.get(4),
                industry_class: r.get(5),
                annotations: r.get(6),
                entry_id: r.get(7),
                note: r.get(8),
            }
            .into_decision()?,
        );
    }
    Ok(case)
}

/// Inserts one case and its matches in `tx`.
fn insert_case(tx: &mut Transaction<'_>, new: &NewCase, now: Millis) -> Result<Case> {
    let earlier = match &new.start {
        cases::Start::Earlier(id) | cases::Start::Follow(id) => Some(case_on(tx, *id)?),
        _ => None,
    };
    let o = Opening::of(&new.start, earlier.as_ref())?;
    let m = &new.meta;
    let s = &new.signals;
    let id: i64 = tx
        .query_one(
            "INSERT INTO cases (created_at, submitter, reason, service, content_ref,
                     uploader_ref, uploaded_at, upload_ip, media_kind, media_id,
                     media_bytes, md5, sha1, sha256, pdq, pdq_quality, state, queue,
                     resolution, earlier_case, category, industry_class, annotations,
                     decided_at, decided_by, publicly_available, technologies)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
                 RETURNING id",
            &[
                &now,
                &new.submitter,
                &m.reason.map(|r| r.name()),
                &m.service,
                &m.content_ref,
                &m.uploader_ref,
                &m.uploaded_at,
                &m.upload_ip,
                &new.media_kind.name(),
                &new.media.as_ref().map(|x| x.id.as_str()),
                &new.media.as_ref().map(|x| x.bytes as i64),
                &s.md5.as_ref().map(|v| &v[..]),
                &s.sha1.as_ref().map(|v| &v[..]),
                &s.sha256.as_ref().map(|v| &v[..]),
                &s.pdq.as_ref().map(|v| &v[..]),
                &s.pdq_quality.map(i64::from),
                &o.state.name(),
                &o.queue,
                &o.resolution.map(|r| r.name()),
                &o.earlier,
                &o.category.map(|c| c.name()),
                &o.industry_class.map(|c| c.name()),
                &annotations_text(&o.annotations),
                &o.decided_by.map(|_| now),
                &o.decided_by,
                &m.publicly_available,
                &crate::statistics::technologies(
                    new.matches.iter().map(|x| (x.signal_type.name(), x.distance)),
                ),
            ],
        )?
        .get(0);
    for x in &new.matches {
        let bank: i64 = tx
            .query_opt("SELECT id FROM banks WHERE name = $1", &[&x.bank])?
            .ok_or_else(|| BankError::NoSuchBank(x.bank.clone()))?
            .get(0);
        tx.execute(
            "INSERT INTO case_matches (case_id, bank_id, entry_id, signal_type,
                     distance)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&id, &bank, &x.entry_id, &x.signal_type.name(), &i64::from(x.distance)],
        )?;
    }
    case_on(tx, id)
}

fn audit_in(tx: &mut Transaction<'_>, rec: &NewRecord) -> Result<()> {
    let head = crate::postgres_store::audit_head_in(tx, true)?;
    let r = spoor_audit::Record::seal(head, crate::model::now_ms(), rec)
        .map_err(|e| BankError::Invalid(e.to_string()))?;
    crate::postgres_store::insert_audit_in(tx, &r)
}

impl Cases for PostgresStore {
    fn create_cases_notifying(&self, new: &[NewCase], notify: Notify<'_>) -> Result<Vec<Case>> {
        for n in new {
            cases::check_new(n)?;
        }
        let now = crate::model::now_ms();
        self.people_write(|tx| {
            let mut out = Vec::with_capacity(new.len());
            let mut head = crate::postgres_store::audit_head_in(tx, true)?;
            for n in new {
                let case = insert_case(tx, n, now)?;
                let r = spoor_audit::Record::seal(head, now, &cases::create_audit(&case))
                    .map_err(|e| BankError::Invalid(e.to_string()))?;
                crate::postgres_store::insert_audit_in(tx, &r)?;
                head = Some((r.seq, r.hash));
                send_in(tx, case.id, notify(&case), now)?;
                out.push(case);
            }
            Ok(out)
        })
    }

    fn case(&self, id: i64) -> Result<Case> {
        case_on(&mut *self.lock()?, id)
    }

    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        let limit = q.limit.min(MAX_CASE_PAGE) as i64;
        let mut c = self.lock()?;
        let rows = c.query(
            &format!(
                "SELECT {CASE_COLUMNS} FROM cases
                 WHERE id > $1 AND ($2::TEXT IS NULL OR state = $2)
                   AND ($3::TEXT IS NULL OR submitter = $3)
                 ORDER BY id LIMIT $4"
            ),
            &[&q.after, &q.state.map(|s| s.name()), &q.submitter, &limit],
        )?;
        rows.iter().map(|r| complete(&mut *c, raw_case(r).into_case()?)).collect()
    }

    fn review_view(&self, user_id: i64) -> Result<ReviewView> {
        let row = self
            .lock()?
            .query_opt("SELECT blur, colour FROM review_views WHERE user_id = $1", &[&user_id])?;
        Ok(row.map_or_else(ReviewView::default, |r| ReviewView {
            blur: u8::try_from(r.get::<_, i16>(0)).unwrap_or(cases::STRONGEST_BLUR),
            colour: r.get(1),
        }))
    }

    fn set_review_view(
        &self,
        user_id: i64,
        actor: &str,
        view: ReviewView,
        now: Millis,
    ) -> Result<()> {
        check_actor(actor)?;
        view.check()?;
        self.people_write_audited(
            |tx| {
                let n = tx.execute(
                    "INSERT INTO review_views (user_id, blur, colour, set_at)
                     SELECT id, $2, $3, $4 FROM users WHERE id = $1
                     ON CONFLICT (user_id) DO UPDATE
                         SET blur = excluded.blur, colour = excluded.colour,
                             set_at = excluded.set_at",
                    &[&user_id, &i16::from(view.blur), &view.colour, &now],
                )?;
                if n == 0 {
                    return Err(crate::people::no_such_user_id(user_id));
                }
                Ok(())
            },
            |_| cases::review_view_audit(actor, user_id, view),
        )
    }

    fn claim_next_case(
        &self,
        queue: &str,
        person: &str,
        now: Millis,
        lease_ms: Millis,
    ) -> Result<Option<Case>> {
        cases::check_queue(queue)?;
        check_actor(person)?;
        let until = now.saturating_add(lease_ms.max(1));
        self.people_write(|tx| {
            // A claim is a lease: lost with the last moments before a crash of the machine, the
            // case is simply free again, its claim record gone with it (never out of order: a
            // later flushed commit flushes it too). Not worth a wait for the disk flush while
            // a reviewer waits for the next case.
            tx.batch_execute("SET LOCAL synchronous_commit TO OFF")?;
            let Some(row) = tx.query_opt(
                "SELECT case_id, renewed FROM spoor_claim_next($1, $2, $3, $4)",
                &[&queue, &person, &now, &until],
            )?
            else {
                return Ok(None);
            };
            let (id, renewed): (i64, bool) = (row.get(0), row.get(1));
            let case = case_on(tx, id)?;
            let rec = NewRecord::by(person, "case_claim", "case", &id.to_string()).with_details(
                json!({"queue": queue, "until": until, "renewed": renewed, "state": case.state.name()}),
            );
            audit_in(tx, &rec)?;
            Ok(Some(case))
        })
    }

    fn release_case(&self, id: i64, person: &str, now: Millis) -> Result<Case> {
        check_actor(person)?;
        self.people_write_audited(
            |tx| {
                tx.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", &[&id])?;
                let case = case_on(tx, id)?;
                if case.holder(now) != Some(person) {
                    return Err(BankError::Conflict(format!(
                        "case {id} is not held by you: nothing to release"
                    )));
                }
                tx.execute(
                    "UPDATE cases SET lease_holder = NULL, lease_until = NULL WHERE id = $1",
                    &[&id],
                )?;
                case_on(tx, id)
            },
            |c| {
                NewRecord::by(person, "case_release", "case", &id.to_string())
                    .with_details(json!({"queue": c.queue, "state": c.state.name()}))
            },
        )
    }

    fn decide_case_notifying(
        &self,
        id: i64,
        person: &str,
        d: &NewDecision,
        now: Millis,
        require_lease: bool,
        notify: Notify<'_>,
    ) -> Result<Case> {
        check_actor(person)?;
        self.people_write_audited(
            |tx| {
                // The row lock orders concurrent decisions on one case.
                tx.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", &[&id])?;
                let case = case_on(tx, id)?;
                cases::check_holder(&case, person, now, require_lease)?;
                let four_eyes: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM case_matches m
                                        JOIN banks b ON b.id = m.bank_id
                                        WHERE m.case_id = $1 AND b.four_eyes)",
                        &[&id],
                    )?
                    .get(0);
                let next = cases::transition(&case, person, d, four_eyes)?;
                tx.execute(
                    "INSERT INTO case_decisions (case_id, at, person, verdict, category,
                         industry_class, annotations, note, entry_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &id,
                        &now,
                        &person,
                        &d.verdict.map(|v| v.name()),
                        &d.category.map(|c| c.name()),
                        &d.industry_class.map(|c| c.name()),
                        &annotations_text(&d.annotations),
                        &d.note,
                        &d.entry_id,
                    ],
                )?;
                if next.closes {
                    tx.execute(
                        "UPDATE cases SET state = $1, queue = $2, lease_holder = NULL,
                             lease_until = NULL, resolution = 'review', category = $3,
                             industry_class = $4, annotations = $5, decided_at = $6,
                             decided_by = $7
                         WHERE id = $8",
                        &[
                            &next.state.name(),
                            &next.queue,
                            &d.category.map(|c| c.name()),
                            &d.industry_class.map(|c| c.name()),
                            &annotations_text(&d.annotations),
                            &now,
                            &person,
                            &id,
                        ],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE cases SET state = $1, queue = $2, lease_holder = NULL,
                             lease_until = NULL
                         WHERE id = $3",
                        &[&next.state.name(), &next.queue, &id],
                    )?;
                }
                let decided = case_on(tx, id)?;
                send_in(tx, decided.id, notify(&decided), now)?;
                if next.closes {
                    decide_followers(tx, &decided, now, notify)?;
                }
                Ok(decided)
            },
            |c| cases::decision_audit(person, c, d),
        )
    }

    fn set_no_inform(
        &self,
        id: i64,
        until: Option<Millis>,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<Case> {
        check_actor(actor)?;
        cases::check_no_inform(until, reason, now)?;
        self.people_write_audited(
            |tx| {
                let n = tx.execute(
                    "UPDATE cases SET no_inform_until = $2, no_inform_reason = $3 WHERE id = $1",
                    &[&id, &until, &until.map(|_| reason)],
                )?;
                if n == 0 {
                    return Err(BankError::NoSuchCase(id));
                }
                // A notice not yet sent waits for the new end (or goes now when lifted).
                tx.execute(
                    "UPDATE outbox SET not_before = $2,
                         next_attempt_at = CASE WHEN $2::BIGINT IS NULL
                                                THEN LEAST(next_attempt_at, $3)
                                                ELSE GREATEST(next_attempt_at, $2) END
                     WHERE dedupe_key = $1 AND delivered_at IS NULL AND gave_up_at IS NULL",
                    &[&cases::notice_key(id), &until, &now],
                )?;
                case_on(tx, id)
            },
            |c| cases::no_inform_audit(actor, c),
        )
    }

    fn open_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<i64>> {
        let row = self.lock()?.query_opt(
            "SELECT id FROM cases
             WHERE sha256 = $1 AND state IN ('queued', 'second_review', 'escalated')
             ORDER BY id LIMIT 1",
            &[&&sha256[..]],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn decided_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<Case>> {
        let mut c = self.lock()?;
        let row = c.query_opt(
            "SELECT id FROM cases WHERE sha256 = $1 AND decided_at IS NOT NULL
             ORDER BY id DESC LIMIT 1",
            &[&&sha256[..]],
        )?;
        row.map(|r| case_on(&mut *c, r.get(0))).transpose()
    }

    fn decided_pdqs(&self, at: Millis, id: i64, limit: usize) -> Result<Vec<DecidedPdq>> {
        let rows = self.lock()?.query(
            "SELECT decided_at, id, pdq FROM cases
             WHERE decided_at IS NOT NULL AND pdq IS NOT NULL AND (decided_at, id) > ($1, $2)
             ORDER BY decided_at, id LIMIT $3",
            &[&at, &id, &(limit.min(1 << 20) as i64)],
        )?;
        rows.iter()
            .map(|r| {
                Ok((r.get(0), r.get(1), cases::fixed::<32>(Some(r.get(2)))?.unwrap_or([0; 32])))
            })
            .collect()
    }

    fn media_to_purge(
        &self,
        decided_before: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(i64, String)>> {
        let rows = self.lock()?.query(
            "SELECT id, media_id FROM cases
             WHERE media_id IS NOT NULL AND decided_at IS NOT NULL AND decided_at < $1
               AND NOT EXISTS (SELECT 1 FROM report_cases rc JOIN reports r ON r.id = rc.report_id
                               WHERE rc.case_id = cases.id AND r.state <> 'finished')
               AND NOT EXISTS (SELECT 1 FROM complaints k
                               WHERE k.case_id = cases.id AND k.state = 'open')
               AND (hold_until IS NULL OR hold_until <= $3)
             ORDER BY decided_at LIMIT $2",
            &[&decided_before, &(limit as i64), &now],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn media_purged(&self, id: i64, at: Millis) -> Result<()> {
        self.lock()?.execute(
            "UPDATE cases SET media_id = NULL, media_purged_at = $1
             WHERE id = $2 AND media_id IS NOT NULL",
            &[&at, &id],
        )?;
        Ok(())
    }

    fn case_outcomes(&self, bank: Option<&str>, entry: Option<i64>) -> Result<Vec<Outcome>> {
        let rows =
            self.lock()?.query(&cases::outcomes_sql("$1::TEXT", "$2::BIGINT"), &[&bank, &entry])?;
        rows.iter()
            .map(|r| {
                cases::outcome_from((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                ))
            })
            .collect()
    }

    fn open_case_counts(&self) -> Result<Vec<(String, CaseState, u64)>> {
        let rows = self.lock()?.query(
            "SELECT queue, state, COUNT(*) FROM cases
             WHERE state IN ('queued', 'second_review', 'escalated')
             GROUP BY queue, state ORDER BY queue, state",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let s: String = r.get(1);
                Ok((r.get(0), cases::parse_stored(&s)?, r.get::<_, i64>(2).max(0) as u64))
            })
            .collect()
    }
}

/// Stores what a case sets going within `tx`: its messages in the outbox (nothing for a
/// dedupe key there already), the case in its reports.
fn send_in(tx: &mut Transaction<'_>, case_id: i64, effects: Effects, now: Millis) -> Result<()> {
    messages_in(tx, effects.messages, now)?;
    for r in &effects.reports {
        crate::pg_reports::report_in(tx, case_id, r, now)?;
    }
    Ok(())
}

/// Stores messages in the outbox within `tx` (nothing for a message whose dedupe key is there
/// already).
pub(crate) fn messages_in(
    tx: &mut Transaction<'_>,
    messages: Vec<cases::Message>,
    now: Millis,
) -> Result<()> {
    for m in messages {
        crate::outbox::check_add(&m.topic, &m.dedupe_key, &m.target, &m.payload)?;
        tx.execute(
            "INSERT INTO outbox (topic, dedupe_key, target, payload, created_at, next_attempt_at,
                                 not_before)
             VALUES ($1, $2, $3, $4, $5::BIGINT, GREATEST($5::BIGINT, COALESCE($6::BIGINT, $5::BIGINT)),
                     $6::BIGINT)
             ON CONFLICT (dedupe_key) DO NOTHING",
            &[&m.topic, &m.dedupe_key, &m.target, &m.payload, &now, &m.not_before],
        )?;
    }
    Ok(())
}

/// Gives a lead's decision to the cases following it, each with its audit record and message.
fn decide_followers(
    tx: &mut Transaction<'_>,
    lead: &Case,
    now: Millis,
    notify: Notify<'_>,
) -> Result<()> {
    let rows = tx.query(
        "UPDATE cases SET state = $1, resolution = 'earlier', category = $2,
             industry_class = $3, annotations = $4, decided_at = $5,
             decided_by = 'system:earlier'
         WHERE earlier_case = $6 AND state = 'following'
         RETURNING id",
        &[
            &lead.state.name(),
            &lead.category.map(|c| c.name()),
            &lead.industry_class.map(|c| c.name()),
            &annotations_text(&lead.annotations),
            &now,
            &lead.id,
        ],
    )?;
    let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    ids.sort_unstable();
    for id in ids {
        let follower = case_on(tx, id)?;
        audit_in(tx, &cases::followed_audit(&follower, lead))?;
        send_in(tx, follower.id, notify(&follower), now)?;
    }
    Ok(())
}
