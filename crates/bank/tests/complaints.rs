//! Complaints on both stores: filed only about decided cases, re-reviewed only by someone who
//! took no part in the decision, decided once; an overturn reverses the case (a false positive
//! counted for its entry), takes it out of reports not begun and hands the begun ones to the
//! hook; every step audited without the complainant's words; content kept while a complaint is
//! open; follow-ups made by hand recorded once.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::{Arc, Mutex};

use spoor_bank::cases::{
    Case, CaseMatch, CaseMedia, CaseMeta, CaseReason, CaseSignals, CaseState, Effects, MediaKind,
    Message, NewCase, NewDecision, Start, Verdict, MAIN_QUEUE,
};
use spoor_bank::complaints::{
    CaseRef, Complaint, ComplaintDecision, ComplaintOutcome, ComplaintQuery, ComplaintState,
    NewComplaint,
};
use spoor_bank::outbox::OutboxQuery;
use spoor_bank::reports::{Report, ReportRequest, ReportState};
use spoor_bank::{AuditQuery, BankError, Category, Location, NewBank, Store};
use spoor_core::SignalType;

const MIN: i64 = 60_000;
const T0: i64 = 1_000_000;

fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = spoor_bank::open(&Location::DataDir(dir.path().join("data"))).unwrap();
    (Arc::from(store), dir)
}

fn both(test: fn(Arc<dyn Store>)) {
    let (s, _dir) = sqlite();
    test(s);
    if let Some((url, _)) = common::postgres_schema() {
        test(Arc::from(spoor_bank::open(&Location::Postgres(url)).unwrap()));
    }
}

fn new_case(n: u8, uploader: &str) -> NewCase {
    NewCase {
        submitter: "key:hoster".into(),
        meta: CaseMeta {
            reason: Some(CaseReason::Match),
            service: Some("photos".into()),
            content_ref: Some(format!("item-{n}")),
            uploader_ref: Some(uploader.into()),
            ..Default::default()
        },
        media_kind: MediaKind::Image,
        media: Some(CaseMedia { id: format!("m{n}"), bytes: 10 }),
        signals: CaseSignals { sha256: Some([n; 32]), ..Default::default() },
        matches: vec![CaseMatch {
            bank: "B".into(),
            entry_id: 1,
            signal_type: SignalType::Pdq,
            distance: 20,
        }],
        start: Start::Queue(MAIN_QUEUE.into()),
    }
}

fn confirm() -> NewDecision {
    NewDecision {
        verdict: Some(Verdict::Confirm),
        category: Some(Category::Baseline),
        ..Default::default()
    }
}

/// Reports confirmed cases to NCMEC (window 10 minutes, grouped by uploader).
fn to_ncmec(c: &Case) -> Effects {
    if c.state != CaseState::Confirmed {
        return Effects::default();
    }
    Effects {
        messages: vec![],
        reports: vec![ReportRequest {
            recipient: "ncmec".into(),
            group: c.meta.uploader_ref.clone(),
            window_ms: 10 * MIN,
        }],
    }
}

fn setup(s: &dyn Store) {
    s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:a").unwrap();
}

/// A case made and confirmed by `who`.
fn confirmed(s: &dyn Store, n: u8, uploader: &str, who: &str) -> Case {
    let c = s.create_case(&new_case(n, uploader)).unwrap();
    s.decide_case_notifying(c.id, who, &confirm(), T0, false, &to_ncmec).unwrap()
}

fn complaint(case: CaseRef) -> NewComplaint {
    NewComplaint {
        case,
        submitter: "key:hoster".into(),
        complainant: "user-7781".into(),
        text: "This is my holiday photo.\nPlease look again.".into(),
    }
}

fn overturn() -> ComplaintDecision {
    ComplaintDecision {
        outcome: Some(ComplaintOutcome::Overturned),
        reason: "A landscape: the entry matched wrongly.".into(),
        entry_id: Some(1),
    }
}

fn upheld() -> ComplaintDecision {
    ComplaintDecision {
        outcome: Some(ComplaintOutcome::Upheld),
        reason: "The content is what the decision says.".into(),
        entry_id: None,
    }
}

fn no_messages(_: &Complaint, _: &Case, _: &[Report]) -> Vec<Message> {
    Vec::new()
}

fn details(r: &spoor_audit::Record) -> serde_json::Value {
    serde_json::from_str(&r.details).unwrap()
}

fn audits(s: &dyn Store) -> Vec<spoor_audit::Record> {
    s.audit_records(&AuditQuery::after(0, 10_000)).unwrap()
}

/// A complaint is about a decided, unreversed case, named by id or by the submitter's own
/// content reference; one open complaint per case; bad input refused; each refusal writes
/// nothing, and the audit record never holds the complainant's words.
fn complaints_are_filed_about_decided_cases(s: Arc<dyn Store>) {
    setup(&*s);
    let open = s.create_case(&new_case(1, "u1")).unwrap();
    let decided = confirmed(&*s, 2, "u1", "user:rita");
    let before = audits(&*s).len();
    let e = s.complaint_create(&complaint(CaseRef::Id(open.id)), T0).unwrap_err();
    assert!(matches!(e, BankError::Conflict(ref m) if m.contains("no decision")), "{e}");
    let e = s.complaint_create(&complaint(CaseRef::Id(9_999)), T0).unwrap_err();
    assert!(matches!(e, BankError::NoSuchCase(9_999)), "{e}");
    let mut other = complaint(CaseRef::ContentRef("item-2".into()));
    other.submitter = "key:someone_else".into();
    let e = s.complaint_create(&other, T0).unwrap_err();
    assert!(matches!(e, BankError::NoSuchContent(_)), "another submitter's reference: {e}");
    for bad in [
        NewComplaint { text: String::new(), ..complaint(CaseRef::Id(decided.id)) },
        NewComplaint { complainant: " ".into(), ..complaint(CaseRef::Id(decided.id)) },
        NewComplaint { text: "a\u{0}b".into(), ..complaint(CaseRef::Id(decided.id)) },
        NewComplaint { text: "x".repeat(10_001), ..complaint(CaseRef::Id(decided.id)) },
        complaint(CaseRef::Id(-3)),
    ] {
        assert!(matches!(s.complaint_create(&bad, T0), Err(BankError::Invalid(_))), "{bad:?}");
    }
    assert_eq!(audits(&*s).len(), before, "refusals write nothing");

    let c = s.complaint_create(&complaint(CaseRef::ContentRef("item-2".into())), T0 + 1).unwrap();
    assert_eq!((c.case_id, c.state, c.created_at), (decided.id, ComplaintState::Open, T0 + 1));
    assert_eq!(c.text, "This is my holiday photo.\nPlease look again.");
    assert_eq!(s.complaint(c.id).unwrap(), c);
    let e = s.complaint_create(&complaint(CaseRef::Id(decided.id)), T0).unwrap_err();
    assert!(matches!(e, BankError::Conflict(ref m) if m.contains("open complaint")), "{e}");
    let recs = audits(&*s);
    let rec = recs.iter().find(|r| r.action == "complaint_create").unwrap();
    assert_eq!((rec.actor.as_str(), rec.object_id.as_str()), ("hoster", &*c.id.to_string()));
    let text = rec.details.clone();
    assert!(!text.contains("holiday") && !text.contains("user-7781"), "{text}");
    assert_eq!(
        s.complaints(&ComplaintQuery {
            case_id: Some(decided.id),
            limit: 10,
            ..Default::default()
        })
        .unwrap(),
        vec![c]
    );
}

/// The person who decided the case may not decide the complaint (nothing is written); another
/// person may, once; a later complaint about the same case excludes that person too.
fn the_first_decider_may_not_re_review(s: Arc<dyn Store>) {
    setup(&*s);
    let case = confirmed(&*s, 1, "u1", "user:rita");
    let c = s.complaint_create(&complaint(CaseRef::Id(case.id)), T0).unwrap();
    let before = audits(&*s).len();
    let e = s.complaint_decide(c.id, "user:rita", &upheld(), T0 + MIN, &no_messages).unwrap_err();
    assert!(matches!(e, BankError::NotAllowed(_)), "{e}");
    assert_eq!(audits(&*s).len(), before);
    assert_eq!(s.complaint(c.id).unwrap().state, ComplaintState::Open);
    assert_eq!(s.complaint_excluded(c.id).unwrap().into_iter().collect::<Vec<_>>(), ["user:rita"]);

    let told = Mutex::new(Vec::new());
    let hook = |k: &Complaint, case: &Case, reports: &[Report]| {
        told.lock().unwrap().push((k.state, case.state, reports.len()));
        vec![Message {
            topic: "complaint_decided".into(),
            dedupe_key: format!("complaint_decided:{}", k.id),
            target: "http://127.0.0.1:9/hook".into(),
            payload: "{}".into(),
            not_before: None,
        }]
    };
    let (k, after) = s.complaint_decide(c.id, "user:sam", &upheld(), T0 + 2 * MIN, &hook).unwrap();
    assert_eq!(k.state, ComplaintState::Upheld);
    assert_eq!((k.decided_by.as_deref(), k.decided_at), (Some("user:sam"), Some(T0 + 2 * MIN)));
    assert_eq!(after.state, CaseState::Confirmed, "an upheld complaint changes nothing");
    assert_eq!(after.reversal, None);
    assert_eq!(*told.lock().unwrap(), [(ComplaintState::Upheld, CaseState::Confirmed, 0)]);
    let msgs = s
        .outbox_find(&OutboxQuery {
            keys: vec![format!("complaint_decided:{}", c.id)],
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(msgs.len(), 1, "the hook's message is stored with the decision");
    let e = s.complaint_decide(c.id, "user:tom", &overturn(), T0, &no_messages).unwrap_err();
    assert!(matches!(e, BankError::Conflict(ref m) if m.contains("decided already")), "{e}");

    let again = s.complaint_create(&complaint(CaseRef::Id(case.id)), T0 + 3 * MIN).unwrap();
    let ex: Vec<String> = s.complaint_excluded(again.id).unwrap().into_iter().collect();
    assert_eq!(ex, ["user:rita", "user:sam"]);
    let rec = audits(&*s).into_iter().rfind(|r| r.action == "complaint_decide").unwrap();
    assert_eq!(details(&rec)["outcome"], "upheld");
    assert_eq!(details(&rec)["reversed"], false);
}

/// Whoever decided the case a decision was taken from is excluded too.
fn deciders_of_earlier_cases_are_excluded(s: Arc<dyn Store>) {
    setup(&*s);
    let first = confirmed(&*s, 1, "u1", "user:rita");
    let mut again = new_case(1, "u2");
    again.start = Start::Earlier(first.id);
    let copy = s.create_case(&again).unwrap();
    assert_eq!(copy.state, CaseState::Confirmed);
    let c = s.complaint_create(&complaint(CaseRef::Id(copy.id)), T0).unwrap();
    let e = s.complaint_decide(c.id, "user:rita", &upheld(), T0, &no_messages).unwrap_err();
    assert!(matches!(e, BankError::NotAllowed(_)), "{e}");
    s.complaint_decide(c.id, "user:sam", &upheld(), T0, &no_messages).unwrap();
}

/// An overturn reverses the case (a false positive on complaint, for its entry), takes it out
/// of a report not begun (dropping the report when left empty), hands the begun reports to the
/// hook, and is final; checks of the decision come first.
fn an_overturn_reverses_the_case(s: Arc<dyn Store>) {
    setup(&*s);
    let case = confirmed(&*s, 1, "u1", "user:rita");
    let other = confirmed(&*s, 2, "u2", "user:rita");
    // u1's report is begun (claimed), u2's is young.
    let claimed = s.reports_claim("w1", &["ncmec".into()], T0 + 11 * MIN, MIN, 1).unwrap();
    assert_eq!(claimed.len(), 1);
    let begun = claimed[0].id;
    assert!(claimed[0].cases.contains(&case.id) || claimed[0].cases.contains(&other.id));
    let (sent_case, young_case) =
        if claimed[0].cases.contains(&case.id) { (case.id, other.id) } else { (other.id, case.id) };

    for id in [sent_case, young_case] {
        let c = s.complaint_create(&complaint(CaseRef::Id(id)), T0 + 12 * MIN).unwrap();
        for (bad, what) in [
            (ComplaintDecision { entry_id: None, ..overturn() }, "entry_id"),
            (ComplaintDecision { entry_id: Some(99), ..overturn() }, "entry_id 99"),
            (ComplaintDecision { reason: String::new(), ..overturn() }, "reason"),
            (ComplaintDecision { outcome: None, ..overturn() }, "outcome"),
        ] {
            let e = s.complaint_decide(c.id, "user:sam", &bad, T0, &no_messages).unwrap_err();
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
        assert_eq!(s.complaint(c.id).unwrap().state, ComplaintState::Open);
        // Held content stays while the complaint is open.
        let purge = s.media_to_purge(i64::MAX, T0, 100).unwrap();
        assert!(!purge.iter().any(|(cid, _)| *cid == id), "{purge:?}");

        let seen = Mutex::new(Vec::new());
        let hook = |k: &Complaint, after: &Case, reports: &[Report]| {
            seen.lock().unwrap().push((k.id, after.clone(), reports.to_vec()));
            Vec::new()
        };
        let at = T0 + 20 * MIN;
        let (k, after) = s.complaint_decide(c.id, "user:sam", &overturn(), at, &hook).unwrap();
        assert_eq!((k.state, k.entry_id), (ComplaintState::Overturned, Some(1)));
        assert_eq!(after.state, CaseState::FalsePositive);
        let r = after.reversal.clone().unwrap();
        assert_eq!((r.at, r.by.as_str(), r.complaint), (at, "user:sam", c.id));
        assert_eq!(after.category, None);
        let last = after.decisions.last().unwrap();
        assert_eq!((last.verdict, last.entry_id), (Verdict::FalsePositive, Some(1)));
        assert!(last.note.starts_with(&format!("complaint {} overturned", c.id)), "{}", last.note);
        assert_eq!(s.case(id).unwrap(), after);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 1);
        let reports: Vec<i64> = seen[0].2.iter().map(|r| r.id).collect();
        if id == sent_case {
            assert_eq!(reports, [begun], "the begun report is followed up");
        } else {
            assert!(reports.is_empty(), "a young report takes the case out instead: {reports:?}");
            assert!(s.reports_of_case(id).unwrap().is_empty());
        }
        let rec = audits(&*s).into_iter().rfind(|r| r.action == "complaint_decide").unwrap();
        assert_eq!(details(&rec)["reversed"], true);
        assert_eq!(details(&rec)["entry_id"], 1);
        assert!(!rec.details.clone().contains("holiday"));
        let e = s.complaint_create(&complaint(CaseRef::Id(id)), at).unwrap_err();
        assert!(matches!(e, BankError::Conflict(ref m) if m.contains("reversed")), "{e}");
        let purge = s.media_to_purge(i64::MAX, T0, 100).unwrap();
        assert!(purge.iter().any(|(cid, _)| *cid == id) || id == sent_case, "{purge:?}");
    }
    // The young report held only the reversed case: it is gone; the begun one is untouched.
    let all = s.reports(&spoor_bank::reports::ReportQuery { limit: 100, ..Default::default() });
    let all = all.unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [begun]);
    assert_eq!(all[0].state, ReportState::Pending);
    let outcomes = s.case_outcomes(Some("B"), Some(1)).unwrap();
    let fp: u64 = outcomes.iter().map(|o| o.false_positive).sum();
    let on_complaint: u64 = outcomes.iter().map(|o| o.false_positive_on_complaint).sum();
    assert_eq!((fp, on_complaint), (2, 2), "{outcomes:?}");
    let counts = s.complaint_counts(T0).unwrap();
    assert_eq!((counts.open, counts.overturned, counts.upheld), (0, 2, 0));
}

/// Open complaints are counted, and those filed before the deadline's start are overdue.
fn complaints_are_counted_with_the_overdue(s: Arc<dyn Store>) {
    setup(&*s);
    for (n, at) in [(1u8, T0), (2, T0 + 10 * MIN), (3, T0 + 20 * MIN)] {
        let case = confirmed(&*s, n, "u", "user:rita");
        s.complaint_create(&complaint(CaseRef::Id(case.id)), at).unwrap();
    }
    let c = s.complaint_counts(T0 + 15 * MIN).unwrap();
    assert_eq!((c.open, c.overdue, c.oldest_open_at), (3, 2, Some(T0)));
    let first = s
        .complaints(&ComplaintQuery {
            state: Some(ComplaintState::Open),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    s.complaint_decide(first[0].id, "user:sam", &upheld(), T0, &no_messages).unwrap();
    let c = s.complaint_counts(T0 + 15 * MIN).unwrap();
    assert_eq!((c.open, c.overdue, c.upheld, c.oldest_open_at), (2, 1, 1, Some(T0 + 10 * MIN)));
    assert!(s.complaints(&ComplaintQuery { limit: 0, ..Default::default() }).is_err());
}

/// Of four people deciding one complaint at once, exactly one succeeds.
fn one_of_many_deciding_at_once_succeeds(s: Arc<dyn Store>) {
    setup(&*s);
    let case = confirmed(&*s, 1, "u1", "user:rita");
    let c = s.complaint_create(&complaint(CaseRef::Id(case.id)), T0).unwrap();
    let results: Vec<_> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                sc.spawn(move || {
                    let d = if i % 2 == 0 { overturn() } else { upheld() };
                    s.complaint_decide(c.id, &format!("user:r{i}"), &d, T0, &no_messages)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, BankError::Conflict(_)), "{e}");
        }
    }
    let decides = audits(&*s).iter().filter(|r| r.action == "complaint_decide").count();
    assert_eq!(decides, 1);
}

/// A follow-up made by hand is marked once, audited with who and the note; other messages and
/// unknown ids are refused; messages are found by key and by the start of their key.
fn follow_ups_made_by_hand_are_recorded_once(s: Arc<dyn Store>) {
    setup(&*s);
    assert!(s.outbox_add("ncmec_follow_up", "follow_up:4:ncmec:9", "by-hand", "{}", T0).unwrap());
    assert!(s.outbox_add("ncmec_follow_up", "follow_up:41:ncmec:9", "by-hand", "{}", T0).unwrap());
    assert!(s.outbox_add("case_decided", "case_decided:4", "http://x/", "{}", T0).unwrap());
    let found = |q: OutboxQuery| -> Vec<String> {
        s.outbox_find(&q).unwrap().into_iter().map(|i| i.dedupe_key).collect()
    };
    assert_eq!(
        found(OutboxQuery {
            key_prefix: Some("follow_up:4:".into()),
            limit: 10,
            ..Default::default()
        }),
        ["follow_up:4:ncmec:9"]
    );
    assert_eq!(
        found(OutboxQuery {
            keys: vec!["case_decided:4".into(), "nothing".into()],
            limit: 10,
            ..Default::default()
        }),
        ["case_decided:4"]
    );
    assert_eq!(found(OutboxQuery { limit: 10, ..Default::default() }).len(), 3);
    assert!(s.outbox_find(&OutboxQuery { limit: 0, ..Default::default() }).is_err());
    let all = s.outbox_find(&OutboxQuery { limit: 10, ..Default::default() }).unwrap();
    let (follow, other) = (all[0].id, all[2].id);
    let e = s.follow_up_done(other, "user:ada", "sent", T0).unwrap_err();
    assert!(matches!(e, BankError::NoSuchFollowUp(_)), "{e}");
    assert!(matches!(
        s.follow_up_done(9_999, "user:ada", "", T0),
        Err(BankError::NoSuchFollowUp(_))
    ));
    let done = s.follow_up_done(follow, "user:ada", "mailed NCMEC, ticket 55", T0 + MIN).unwrap();
    assert_eq!(done.delivered_at, Some(T0 + MIN));
    let e = s.follow_up_done(follow, "user:ada", "again", T0).unwrap_err();
    assert!(matches!(e, BankError::Conflict(_)), "{e}");
    let recs: Vec<_> = audits(&*s).into_iter().filter(|r| r.action == "follow_up_done").collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(details(&recs[0])["note"], "mailed NCMEC, ticket 55");
    let pending = found(OutboxQuery {
        key_prefix: Some("follow_up:".into()),
        pending_only: true,
        limit: 10,
        ..Default::default()
    });
    assert_eq!(pending, ["follow_up:41:ncmec:9"]);
}

#[test]
fn complaints_are_filed_about_decided_cases_on_both_stores() {
    both(complaints_are_filed_about_decided_cases);
}

#[test]
fn the_first_decider_may_not_re_review_on_both_stores() {
    both(the_first_decider_may_not_re_review);
}

#[test]
fn deciders_of_earlier_cases_are_excluded_on_both_stores() {
    both(deciders_of_earlier_cases_are_excluded);
}

#[test]
fn an_overturn_reverses_the_case_on_both_stores() {
    both(an_overturn_reverses_the_case);
}

#[test]
fn complaints_are_counted_with_the_overdue_on_both_stores() {
    both(complaints_are_counted_with_the_overdue);
}

#[test]
fn one_of_many_deciding_at_once_succeeds_on_both_stores() {
    both(one_of_many_deciding_at_once_succeeds);
}

#[test]
fn follow_ups_made_by_hand_are_recorded_once_on_both_stores() {
    both(follow_ups_made_by_hand_are_recorded_once);
}
