//! Complaints against decisions, and redress ([`Complaints`], a part of every
//! [`crate::Store`]).
//!
//! A person affected by a decision (the user whose upload was removed, through the service that
//! submitted the case) complains about a *decided* case. The complaint waits in the complaints
//! queue until a reviewer who took no part in the decision re-reviews it: **upheld** (the
//! decision stands) or **overturned** (it was wrong). An overturn, in the one transaction that
//! records it:
//! * marks the case reversed: it becomes a false positive (with a decision record naming the
//!   entry that matched wrongly, so the entry's and the technology's error counts include it),
//!   with who reversed it, when, and by which complaint;
//! * takes the case out of every report not yet begun (a report left with no case is dropped:
//!   it was never sent); the reports already begun or sent are handed to the hook, which queues
//!   a follow-up to their receivers;
//! * stores the hook's messages (the service's "restore" instruction, the complaint's outcome).
//!
//! Invariants (tested on both stores in `tests/complaints.rs`):
//! * a complaint is about a decided, unreversed case, and a case has at most one open
//!   complaint;
//! * a complaint is decided once, by a person who did not decide the case, the case whose
//!   decision it took, or an earlier complaint about it ([`excluded_deciders`]); a refusal
//!   writes nothing;
//! * creation and decision each write their audit record in their transaction, and the audit
//!   record never holds what the complainant wrote (the log is kept for good; complaints are
//!   not);
//! * the held media of a case with an open complaint is not purged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::cases::{named_enum, Case, CaseState, Message, Resolution, MAX_NOTE};
use crate::model::Millis;
use crate::outbox::OutboxItem;
use crate::reports::Report;
use crate::{BankError, Result};

/// Longest complaint text, in bytes.
pub const MAX_COMPLAINT_TEXT: usize = 10_000;
/// Longest complainant reference, in bytes.
pub const MAX_COMPLAINANT: usize = 256;
/// Longest content reference a complaint names its case by, in bytes.
pub const MAX_CONTENT_REF: usize = 1024;
/// Most complaints listed at once.
pub const MAX_COMPLAINT_PAGE: usize = 500;
/// How far back the chain of earlier decisions is followed to find who decided.
const MAX_EARLIER_CHAIN: usize = 16;

named_enum!(
    /// Where a complaint is.
    ComplaintState {
        /// Waiting for a re-review.
        Open = "open",
        /// The decision stands.
        Upheld = "upheld",
        /// The decision was wrong: the case is reversed.
        Overturned = "overturned",
    } "complaint state"
);

named_enum!(
    /// What a re-review decides.
    ComplaintOutcome {
        /// The decision stands.
        Upheld = "upheld",
        /// The decision was wrong.
        Overturned = "overturned",
    } "complaint outcome"
);

impl From<ComplaintOutcome> for ComplaintState {
    fn from(o: ComplaintOutcome) -> Self {
        match o {
            ComplaintOutcome::Upheld => ComplaintState::Upheld,
            ComplaintOutcome::Overturned => ComplaintState::Overturned,
        }
    }
}

/// Which case a complaint is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseRef {
    /// By Spoor's case id.
    Id(i64),
    /// By the submitter's own reference of the content (`content_ref`): the newest decided
    /// case of that submitter naming it.
    ContentRef(String),
}

/// A complaint to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    /// The case.
    pub case: CaseRef,
    /// Who files it (`key:NAME` for a service, `user:NAME` for a person taking it down).
    pub submitter: String,
    /// Who complains: the service's reference of the person (never checked, never shown
    /// outside the console and the API).
    pub complainant: String,
    /// What they say.
    pub text: String,
}

/// A re-review's decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintDecision {
    /// Upheld or overturned.
    pub outcome: Option<ComplaintOutcome>,
    /// Why (required: the complainant is told).
    #[serde(default)]
    pub reason: String,
    /// For an overturn of a case that matched bank entries: the entry that matched wrongly.
    #[serde(default)]
    pub entry_id: Option<i64>,
}

/// A complaint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Complaint {
    /// Store-wide id.
    pub id: i64,
    /// The case it is about.
    pub case_id: i64,
    /// When it was filed.
    pub created_at: Millis,
    /// Who filed it.
    pub submitter: String,
    /// Who complains.
    pub complainant: String,
    /// What they say.
    pub text: String,
    /// Where it is.
    pub state: ComplaintState,
    /// When it was decided.
    pub decided_at: Option<Millis>,
    /// By whom.
    pub decided_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The entry an overturn named.
    pub entry_id: Option<i64>,
    /// When retention erased the complainant's reference and words.
    pub purged_at: Option<Millis>,
}

impl Complaint {
    /// How long it waited (to `now` while open), in milliseconds.
    pub fn age(&self, now: Millis) -> Millis {
        self.decided_at.unwrap_or(now).saturating_sub(self.created_at).max(0)
    }
}

/// Which complaints to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintQuery {
    /// Only this state.
    pub state: Option<ComplaintState>,
    /// Only about this case.
    pub case_id: Option<i64>,
    /// Only filed by this actor.
    pub submitter: Option<String>,
    /// Ids above this (paging; 0 from the start).
    pub after: i64,
    /// Most complaints (at most [`MAX_COMPLAINT_PAGE`]).
    pub limit: usize,
}

/// Complaints counted, for the queue, the dashboard and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ComplaintCounts {
    /// Waiting for a re-review.
    pub open: u64,
    /// Open and filed before the deadline's start (older than the deadline).
    pub overdue: u64,
    /// Decided: the decision stands.
    pub upheld: u64,
    /// Decided: the decision was wrong.
    pub overturned: u64,
    /// When the oldest open complaint was filed.
    pub oldest_open_at: Option<Millis>,
}

/// Says what an overturn or an upheld complaint sets going, given the complaint as decided,
/// its case after the decision, and the case's reports already begun or sent (an overturn's
/// follow-ups): messages stored in the outbox in the same transaction.
pub type ComplaintNotify<'a> = &'a (dyn Fn(&Complaint, &Case, &[Report]) -> Vec<Message> + Sync);

/// The [`ComplaintNotify`] that sets nothing going.
pub fn silent(_: &Complaint, _: &Case, _: &[Report]) -> Vec<Message> {
    Vec::new()
}

/// What every store does with complaints. Each method is one transaction.
pub trait Complaints {
    /// Files a complaint (audited `complaint_create`, without its text). Refused for an
    /// unknown case (or content reference), a case not decided or reversed already, and a
    /// case with an open complaint.
    fn complaint_create(&self, new: &NewComplaint, now: Millis) -> Result<Complaint>;
    /// One complaint.
    fn complaint(&self, id: i64) -> Result<Complaint>;
    /// Complaints by id (oldest first).
    fn complaints(&self, q: &ComplaintQuery) -> Result<Vec<Complaint>>;
    /// Who may not decide complaint `id` ([`excluded_deciders`]).
    fn complaint_excluded(&self, id: i64) -> Result<BTreeSet<String>>;
    /// Decides an open complaint as `person` (audited `complaint_decide`); an overturn
    /// reverses its case. Returns the complaint and its case as they are after.
    fn complaint_decide(
        &self,
        id: i64,
        person: &str,
        d: &ComplaintDecision,
        now: Millis,
        notify: ComplaintNotify<'_>,
    ) -> Result<(Complaint, Case)>;
    /// Complaints counted; open ones filed before `overdue_before` are overdue.
    fn complaint_counts(&self, overdue_before: Millis) -> Result<ComplaintCounts>;
    /// A follow-up made by hand (NCMEC's API takes none) was made: the pending follow-up
    /// `id` (an outbox item of a `*_follow_up` topic) is marked delivered, and `actor` and
    /// `note` are recorded (audited `follow_up_done`). Refused unless it is a pending
    /// follow-up.
    fn follow_up_done(&self, id: i64, actor: &str, note: &str, now: Millis) -> Result<OutboxItem>;
}

/// Checks that `item` is a pending follow-up, and the note.
pub(crate) fn check_follow_up_done(
    item: Option<OutboxItem>,
    id: i64,
    note: &str,
) -> Result<OutboxItem> {
    crate::model::check_text("note", note, MAX_NOTE).map_err(BankError::Invalid)?;
    let item = item
        .filter(|i| i.topic.ends_with(FOLLOW_UP_SUFFIX))
        .ok_or(BankError::NoSuchFollowUp(id))?;
    if !item.pending() {
        return Err(BankError::Conflict(format!(
            "follow-up {id} is not pending: it was {} already",
            if item.delivered_at.is_some() { "made" } else { "given up" }
        )));
    }
    Ok(item)
}

/// The audit record of a follow-up made by hand.
pub(crate) fn follow_up_audit(
    actor: &str,
    item: &OutboxItem,
    note: &str,
) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(actor, "follow_up_done", "follow_up", &item.id.to_string())
        .with_details(
            serde_json::json!({ "topic": item.topic, "key": item.dedupe_key, "note": note }),
        )
}

/// The end of the outbox topic of a follow-up to a report's receiver: `{recipient}_follow_up`.
pub const FOLLOW_UP_SUFFIX: &str = "_follow_up";

/// The outbox topic of follow-ups to `recipient` (`ncmec_follow_up`, `eu_centre_follow_up`).
pub fn follow_up_topic(recipient: &str) -> String {
    format!("{recipient}{FOLLOW_UP_SUFFIX}")
}

/// Counts from `(state, count, oldest, filed before the deadline's start)` rows.
pub(crate) fn counts_from(rows: Vec<(String, i64, Option<Millis>, i64)>) -> ComplaintCounts {
    let mut c = ComplaintCounts::default();
    for (state, n, oldest, early) in rows {
        let n = n.max(0) as u64;
        match state.as_str() {
            "open" => {
                c.open = n;
                c.overdue = early.max(0) as u64;
                c.oldest_open_at = oldest;
            }
            "upheld" => c.upheld = n,
            "overturned" => c.overturned = n,
            _ => {}
        }
    }
    c
}

/// Checks free text a person wrote: at most `max` bytes, and no control characters other than
/// line breaks and tabs.
pub(crate) fn check_free_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(BankError::Invalid(format!("{field}: missing: it may not be empty")));
    }
    if value.len() > max {
        return Err(BankError::Invalid(format!(
            "{field} is {} bytes long: at most {max} are allowed",
            value.len()
        )));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(BankError::Invalid(format!(
            "{field} contains a control character other than a line break or a tab"
        )));
    }
    Ok(())
}

/// Checks a complaint before anything is read or written.
pub(crate) fn check_new(new: &NewComplaint) -> Result<()> {
    crate::check_actor(&new.submitter)?;
    match &new.case {
        CaseRef::Id(id) if *id <= 0 => {
            return Err(BankError::Invalid(format!("case_id {id}: case ids are positive")))
        }
        CaseRef::ContentRef(r) => check_free_text("content_ref", r, MAX_CONTENT_REF)?,
        CaseRef::Id(_) => {}
    }
    crate::model::check_text("complainant", &new.complainant, MAX_COMPLAINANT)
        .map_err(BankError::Invalid)?;
    if new.complainant.trim().is_empty() {
        return Err(BankError::Invalid(
            "complainant: missing: name who complains (the service's reference of the person)"
                .into(),
        ));
    }
    check_free_text("text", &new.text, MAX_COMPLAINT_TEXT)
}

/// Checks that a complaint can be filed about `case` (`open`: the id of an open complaint
/// about it, if any).
pub(crate) fn check_case(case: &Case, open: Option<i64>) -> Result<()> {
    if case.state.is_open() || case.decided_at.is_none() {
        return Err(BankError::Conflict(format!(
            "case {} has no decision yet: a complaint is about a decision; wait until it is \
             decided",
            case.id
        )));
    }
    if let Some(r) = &case.reversal {
        return Err(BankError::Conflict(format!(
            "case {} was reversed already (complaint {}): there is nothing left to complain about",
            case.id, r.complaint
        )));
    }
    if let Some(c) = open {
        return Err(BankError::Conflict(format!(
            "case {} has an open complaint ({c}): it is re-reviewed with that one; file again \
             once it is decided",
            case.id
        )));
    }
    Ok(())
}

/// Who may not re-review a complaint about `case`: every person (or key) that took a decision
/// on it, on the cases whose decision it took (`earlier`, the chain of earlier cases and
/// leads), and on earlier complaints about it (`complaints`). The rules (`system:`) decide no
/// complaint and are not listed.
pub fn excluded_deciders(
    case: &Case,
    earlier: &[Case],
    complaints: &[Complaint],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in std::iter::once(case).chain(earlier) {
        out.extend(c.decisions.iter().map(|d| d.person.clone()));
        out.extend(c.decided_by.iter().filter(|p| !p.starts_with("system:")).cloned());
    }
    out.extend(complaints.iter().filter_map(|c| c.decided_by.clone()));
    out
}

/// The ids of the cases whose decision `case` took, nearest first, read with `load`.
pub(crate) fn earlier_chain(
    case: &Case,
    mut load: impl FnMut(i64) -> Result<Case>,
) -> Result<Vec<Case>> {
    let mut out: Vec<Case> = Vec::new();
    let mut next = match case.resolution {
        Some(Resolution::Earlier) => case.earlier_case,
        _ => None,
    };
    while let Some(id) = next {
        if out.len() >= MAX_EARLIER_CHAIN || id == case.id || out.iter().any(|c| c.id == id) {
            break;
        }
        let c = load(id)?;
        next = match c.resolution {
            Some(Resolution::Earlier) => c.earlier_case,
            _ => None,
        };
        out.push(c);
    }
    Ok(out)
}

/// Checks a re-review's decision against its complaint and case, and the person against
/// those excluded. Returns the outcome.
pub(crate) fn check_decision(
    complaint: &Complaint,
    case: &Case,
    person: &str,
    excluded: &BTreeSet<String>,
    d: &ComplaintDecision,
) -> Result<ComplaintOutcome> {
    crate::check_actor(person)?;
    if person.starts_with("system:") {
        return Err(BankError::Invalid(
            "a complaint is re-reviewed by a person, not by the rules".into(),
        ));
    }
    let Some(outcome) = d.outcome else {
        return Err(BankError::Invalid("outcome: missing: use upheld or overturned".into()));
    };
    check_free_text("reason", &d.reason, MAX_NOTE)?;
    if complaint.state != ComplaintState::Open {
        return Err(BankError::Conflict(format!(
            "complaint {} was decided already ({}, by {}): a complaint is decided once",
            complaint.id,
            complaint.state,
            complaint.decided_by.as_deref().unwrap_or("?")
        )));
    }
    if excluded.contains(person) {
        return Err(BankError::NotAllowed(format!(
            "{person} took part in the decision complaint {} is about: a complaint is \
             re-reviewed by someone who did not; ask another reviewer",
            complaint.id
        )));
    }
    match outcome {
        ComplaintOutcome::Upheld => {
            if d.entry_id.is_some() {
                return Err(BankError::Invalid(
                    "entry_id: only an overturn names the entry that matched wrongly".into(),
                ));
            }
        }
        ComplaintOutcome::Overturned => {
            if case.state != CaseState::Confirmed {
                // A case found a false positive already: nothing to reverse, the complaint
                // is upheld or not at all.
                return Err(BankError::Conflict(format!(
                    "case {} is {}, not confirmed: there is no confirmation to overturn",
                    case.id, case.state
                )));
            }
            match (d.entry_id, case.matches.is_empty()) {
                (Some(id), _) if !case.matches.iter().any(|m| m.entry_id == id) => {
                    return Err(BankError::Conflict(format!(
                        "entry_id {id} did not match case {}: name one of its matches",
                        case.id
                    )))
                }
                (None, false) => {
                    return Err(BankError::Conflict(format!(
                        "entry_id: case {} matched bank entries, so an overturn names the one \
                         that matched wrongly",
                        case.id
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(outcome)
}

/// The note of the false-positive decision an overturn records on its case.
pub(crate) fn reversal_note(complaint: i64, reason: &str) -> String {
    let note = format!("complaint {complaint} overturned the decision: {reason}");
    crate::reports::clip(&note, MAX_NOTE)
}

/// The audit record of a new complaint: never its text or complainant.
pub(crate) fn create_audit(c: &Complaint) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(&c.submitter, "complaint_create", "complaint", &c.id.to_string())
        .with_details(serde_json::json!({ "case_id": c.case_id }))
}

/// The audit record of a decided complaint.
pub(crate) fn decide_audit(
    person: &str,
    c: &Complaint,
    dropped_from: &[i64],
    follow_ups: usize,
) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(person, "complaint_decide", "complaint", &c.id.to_string())
        .with_details(serde_json::json!({
            "case_id": c.case_id,
            "outcome": c.state.name(),
            "entry_id": c.entry_id,
            "reversed": c.state == ComplaintState::Overturned,
            "taken_out_of_reports": dropped_from,
            "follow_ups": follow_ups,
        }))
}

/// A `complaints` row as both stores read it.
pub(crate) const COMPLAINT_COLUMNS: &str = "id, case_id, created_at, submitter, complainant, \
     text, state, decided_at, decided_by, reason, entry_id, purged_at";

/// A `complaints` row.
pub(crate) struct RawComplaint {
    pub id: i64,
    pub case_id: i64,
    pub created_at: Millis,
    pub submitter: String,
    pub complainant: String,
    pub text: String,
    pub state: String,
    pub decided_at: Option<Millis>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub entry_id: Option<i64>,
    pub purged_at: Option<Millis>,
}

impl RawComplaint {
    pub(crate) fn into_complaint(self) -> Result<Complaint> {
        Ok(Complaint {
            id: self.id,
            case_id: self.case_id,
            created_at: self.created_at,
            submitter: self.submitter,
            complainant: self.complainant,
            text: self.text,
            state: self.state.parse().map_err(|e| {
                BankError::Invalid(format!("the database holds a bad complaint state: {e}"))
            })?,
            decided_at: self.decided_at,
            decided_by: self.decided_by,
            reason: self.reason,
            entry_id: self.entry_id,
            purged_at: self.purged_at,
        })
    }
}

/// Checks a listing's limits.
pub(crate) fn check_query(q: &ComplaintQuery) -> Result<()> {
    if q.limit == 0 || q.limit > MAX_COMPLAINT_PAGE {
        return Err(BankError::Invalid(format!(
            "limit {}: use 1 to {MAX_COMPLAINT_PAGE}",
            q.limit
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{CaseMatch, CaseMeta, CaseSignals, Decision, MediaKind, Verdict};

    fn case(state: CaseState) -> Case {
        Case {
            id: 7,
            created_at: 1,
            submitter: "key:svc".into(),
            meta: CaseMeta::default(),
            media_kind: MediaKind::None,
            media: None,
            media_purged_at: None,
            signals: CaseSignals::default(),
            state,
            queue: "main".into(),
            lease: None,
            resolution: Some(Resolution::Review),
            earlier_case: None,
            category: None,
            industry_class: None,
            annotations: vec![],
            decided_at: (!state.is_open()).then_some(5),
            decided_by: Some("user:first".into()),
            matches: vec![CaseMatch {
                bank: "B".into(),
                entry_id: 3,
                signal_type: spoor_core::SignalType::Pdq,
                distance: 4,
            }],
            decisions: vec![Decision {
                id: 1,
                at: 5,
                person: "user:first".into(),
                verdict: Verdict::Confirm,
                category: None,
                industry_class: None,
                annotations: vec![],
                entry_id: None,
                note: String::new(),
            }],
            no_inform: None,
            reversal: None,
            hold: None,
            personal_purged_at: None,
        }
    }

    fn complaint() -> Complaint {
        Complaint {
            id: 2,
            case_id: 7,
            created_at: 10,
            submitter: "key:svc".into(),
            complainant: "u1".into(),
            text: "it is a holiday photo".into(),
            state: ComplaintState::Open,
            decided_at: None,
            decided_by: None,
            reason: None,
            entry_id: None,
            purged_at: None,
        }
    }

    fn overturn(entry: Option<i64>) -> ComplaintDecision {
        ComplaintDecision {
            outcome: Some(ComplaintOutcome::Overturned),
            reason: "a landscape".into(),
            entry_id: entry,
        }
    }

    #[test]
    fn the_first_decider_may_not_decide_the_complaint() {
        let c = case(CaseState::Confirmed);
        let ex = excluded_deciders(&c, &[], &[]);
        assert_eq!(ex.iter().collect::<Vec<_>>(), ["user:first"]);
        let e = check_decision(&complaint(), &c, "user:first", &ex, &overturn(Some(3)));
        assert!(matches!(e, Err(BankError::NotAllowed(_))), "{e:?}");
        assert_eq!(
            check_decision(&complaint(), &c, "user:second", &ex, &overturn(Some(3))).unwrap(),
            ComplaintOutcome::Overturned
        );
    }

    #[test]
    fn deciders_of_earlier_cases_and_complaints_are_excluded_but_not_the_rules() {
        let mut c = case(CaseState::Confirmed);
        c.decisions.clear();
        c.decided_by = Some("system:earlier".into());
        let mut lead = case(CaseState::Confirmed);
        lead.decisions[0].person = "user:lead".into();
        lead.decided_by = Some("user:lead".into());
        let mut before = complaint();
        before.state = ComplaintState::Upheld;
        before.decided_by = Some("user:rereviewer".into());
        let ex = excluded_deciders(&c, &[lead], &[before]);
        assert_eq!(ex.iter().collect::<Vec<_>>(), ["user:lead", "user:rereviewer"]);
        let mut auto = case(CaseState::Confirmed);
        auto.decisions.clear();
        auto.decided_by = Some("system:auto".into());
        assert!(excluded_deciders(&auto, &[], &[]).is_empty());
    }

    #[test]
    fn decisions_are_checked() {
        let c = case(CaseState::Confirmed);
        let ex = BTreeSet::new();
        let check = |d: &ComplaintDecision| check_decision(&complaint(), &c, "user:b", &ex, d);
        assert!(matches!(check(&ComplaintDecision::default()), Err(BankError::Invalid(_))));
        let mut no_reason = overturn(Some(3));
        no_reason.reason = "  ".into();
        assert!(matches!(check(&no_reason), Err(BankError::Invalid(_))));
        assert!(matches!(check(&overturn(None)), Err(BankError::Conflict(_))));
        assert!(matches!(check(&overturn(Some(99))), Err(BankError::Conflict(_))));
        let upheld_entry = ComplaintDecision {
            outcome: Some(ComplaintOutcome::Upheld),
            reason: "r".into(),
            entry_id: Some(3),
        };
        assert!(matches!(check(&upheld_entry), Err(BankError::Invalid(_))));
        let mut done = complaint();
        done.state = ComplaintState::Upheld;
        assert!(matches!(
            check_decision(&done, &c, "user:b", &ex, &overturn(Some(3))),
            Err(BankError::Conflict(_))
        ));
        let fp = case(CaseState::FalsePositive);
        assert!(matches!(
            check_decision(&complaint(), &fp, "user:b", &ex, &overturn(Some(3))),
            Err(BankError::Conflict(_))
        ));
        assert!(matches!(
            check_decision(&complaint(), &c, "system:auto", &ex, &overturn(Some(3))),
            Err(BankError::Invalid(_))
        ));
    }

    #[test]
    fn complaints_need_a_decided_unreversed_case_with_none_open() {
        assert!(matches!(check_case(&case(CaseState::Queued), None), Err(BankError::Conflict(_))));
        assert!(check_case(&case(CaseState::Confirmed), None).is_ok());
        assert!(check_case(&case(CaseState::FalsePositive), None).is_ok());
        assert!(matches!(
            check_case(&case(CaseState::Confirmed), Some(4)),
            Err(BankError::Conflict(_))
        ));
        let mut r = case(CaseState::FalsePositive);
        r.reversal = Some(crate::cases::Reversal { at: 9, by: "user:b".into(), complaint: 2 });
        assert!(matches!(check_case(&r, None), Err(BankError::Conflict(_))));
    }

    #[test]
    fn free_text_keeps_line_breaks_and_refuses_other_controls() {
        assert!(check_free_text("text", "line one\nline two\r\n\tend", 100).is_ok());
        assert!(check_free_text("text", "bell\u{7}", 100).is_err());
        assert!(check_free_text("text", "", 100).is_err());
        assert!(check_free_text("text", &"x".repeat(101), 100).is_err());
        let new = |text: &str, who: &str, case: CaseRef| NewComplaint {
            case,
            submitter: "key:svc".into(),
            complainant: who.into(),
            text: text.into(),
        };
        assert!(check_new(&new("t", "u", CaseRef::Id(1))).is_ok());
        assert!(check_new(&new("t", "", CaseRef::Id(1))).is_err());
        assert!(check_new(&new("t", "u", CaseRef::Id(0))).is_err());
        assert!(check_new(&new("t", "u", CaseRef::ContentRef(String::new()))).is_err());
    }

    #[test]
    fn the_reversal_note_is_cut_on_a_character_boundary() {
        let n = reversal_note(3, &"é".repeat(MAX_NOTE));
        assert!(n.len() <= MAX_NOTE && n.starts_with("complaint 3 overturned"));
    }
}
