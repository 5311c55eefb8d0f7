//! Cases on both stores: how they start, "review next" with leases, decisions and four eyes,
//! what a refused decision leaves (nothing), the audit records, and decided content found again.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::Arc;

use spoor_bank::cases::{
    CaseMatch, CaseMeta, CaseQuery, CaseReason, CaseSignals, CaseState, IndustryClass, MediaKind,
    NewCase, NewDecision, Resolution, Start, Verdict, MAIN_QUEUE, SENIOR_QUEUE,
};
use spoor_bank::{AuditQuery, BankError, BankSettings, Category, Location, NewBank, Store};
use spoor_core::SignalType;

const MIN: i64 = 60_000;

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

fn setup(s: &dyn Store) {
    for (name, four_eyes) in [("B", false), ("FOUR", true)] {
        s.create_bank(&NewBank { name: name.into(), four_eyes, ..Default::default() }, "key:a")
            .unwrap();
    }
}

fn new_case(bank: &str, entry: i64, n: u8) -> NewCase {
    NewCase {
        submitter: "key:hoster".into(),
        meta: CaseMeta {
            reason: Some(CaseReason::Match),
            service: Some("photos".into()),
            content_ref: Some(format!("item-{n}")),
            uploader_ref: Some("u-1".into()),
            uploaded_at: Some(1_700_000_000_000),
            upload_ip: Some("192.0.2.7".into()),
            publicly_available: Some(false),
        },
        media_kind: MediaKind::Image,
        media: None,
        signals: CaseSignals {
            sha256: Some([n; 32]),
            pdq: Some([n; 32]),
            pdq_quality: Some(90),
            ..Default::default()
        },
        matches: vec![CaseMatch {
            bank: bank.into(),
            entry_id: entry,
            signal_type: SignalType::Pdq,
            distance: 20,
        }],
        start: Start::Queue(MAIN_QUEUE.into()),
    }
}

fn confirm(c: Category) -> NewDecision {
    NewDecision {
        verdict: Some(Verdict::Confirm),
        category: Some(c),
        industry_class: Some(IndustryClass::A1),
        ..Default::default()
    }
}

fn audit_actions(s: &dyn Store) -> Vec<String> {
    s.audit_records(&AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.object_kind == "case")
        .map(|r| format!("{}:{} {} {}", r.actor_kind, r.actor, r.action, r.object_id))
        .collect()
}

/// A case made in the queue reads back as made; lists filter by state; bad cases are refused.
fn cases_are_made_and_listed(s: Arc<dyn Store>) {
    setup(&*s);
    let c = s.create_case(&new_case("B", 11, 1)).unwrap();
    assert_eq!((c.state, c.queue.as_str()), (CaseState::Queued, MAIN_QUEUE));
    assert_eq!(c.matches.len(), 1);
    assert_eq!(c.matches[0].bank, "B");
    assert_eq!(c.meta.upload_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(s.case(c.id).unwrap(), c);
    let auto = s
        .create_case(&NewCase {
            start: Start::AutoConfirm { category: Some(Category::Baseline) },
            ..new_case("B", 12, 2)
        })
        .unwrap();
    assert_eq!(auto.state, CaseState::Confirmed);
    assert_eq!(auto.resolution, Some(Resolution::Auto));
    assert_eq!(auto.decided_by.as_deref(), Some("system:auto"));
    let q = |state| CaseQuery { state, submitter: None, after: 0, limit: 10 };
    assert_eq!(s.cases(&q(Some(CaseState::Queued))).unwrap(), vec![c.clone()]);
    assert_eq!(s.cases(&q(None)).unwrap().len(), 2);
    // Nothing matched and no flag: no case. A user flag alone makes one.
    let mut flag = NewCase { matches: vec![], ..new_case("B", 0, 3) };
    assert!(matches!(s.create_case(&flag), Err(BankError::Invalid(_))));
    flag.meta.reason = Some(CaseReason::UserFlag);
    assert_eq!(s.create_case(&flag).unwrap().state, CaseState::Queued);
    let mut bad = new_case("B", 1, 4);
    bad.meta.upload_ip = Some("not an address".into());
    assert!(s.create_case(&bad).unwrap_err().to_string().contains("upload_ip"));
    let unknown_bank = new_case("NOPE", 1, 5);
    assert!(matches!(s.create_case(&unknown_bank), Err(BankError::NoSuchBank(_))));
    assert_eq!(s.cases(&q(None)).unwrap().len(), 3, "refused cases left nothing");
    assert_eq!(
        audit_actions(&*s),
        vec![
            format!("key:hoster case_create {}", c.id),
            format!("key:hoster case_create {}", auto.id),
            format!("key:hoster case_create {}", c.id + 2),
        ]
    );
}

/// A batch of cases is one transaction: all made, each audited, or none when one is refused.
fn batches_are_all_or_nothing(s: Arc<dyn Store>) {
    setup(&*s);
    let made = s.create_cases(&[new_case("B", 1, 1), new_case("B", 2, 2)]).unwrap();
    assert_eq!(made.len(), 2);
    assert_eq!(made[1].id, made[0].id + 1);
    assert_eq!(s.case(made[1].id).unwrap(), made[1]);
    let refused = s.create_cases(&[new_case("B", 3, 3), new_case("NOPE", 4, 4)]);
    assert!(matches!(refused, Err(BankError::NoSuchBank(_))));
    let q = CaseQuery { state: None, submitter: None, after: 0, limit: 100 };
    assert_eq!(s.cases(&q).unwrap().len(), 2, "the refused batch left nothing");
    assert_eq!(audit_actions(&*s).len(), 2);
    assert!(s.create_cases(&[]).unwrap().is_empty());
    let report = spoor_bank::audit::verify(&*s, &[], None, &mut |_| {}).unwrap();
    assert_eq!(report.broken, None);
}

#[test]
fn batches_are_all_or_nothing_on_both_stores() {
    both(batches_are_all_or_nothing);
}

#[test]
fn cases_are_made_and_listed_on_both_stores() {
    both(cases_are_made_and_listed);
}

/// Review next: oldest first, one holder per case while the lease holds, the same case again
/// for its holder, free again when the lease ends or is released.
fn review_next_hands_out_each_case_once(s: Arc<dyn Store>) {
    setup(&*s);
    let ids: Vec<i64> = (1..=3).map(|n| s.create_case(&new_case("B", 10, n)).unwrap().id).collect();
    let now = 1_000_000;
    let a = s.claim_next_case(MAIN_QUEUE, "user:a", now, 15 * MIN).unwrap().unwrap();
    assert_eq!(a.id, ids[0]);
    assert_eq!(a.holder(now), Some("user:a"));
    let b = s.claim_next_case(MAIN_QUEUE, "user:b", now, 15 * MIN).unwrap().unwrap();
    assert_eq!(b.id, ids[1]);
    // Asking again gives the case one holds, not another.
    let again = s.claim_next_case(MAIN_QUEUE, "user:a", now + MIN, 15 * MIN).unwrap().unwrap();
    assert_eq!(again.id, ids[0]);
    // A's lease (renewed at now + 1 min) ends at now + 16 min: then C may take it.
    let c = s.claim_next_case(MAIN_QUEUE, "user:c", now + 2 * MIN, 15 * MIN).unwrap().unwrap();
    assert_eq!(c.id, ids[2]);
    assert_eq!(s.claim_next_case(MAIN_QUEUE, "user:d", now + 2 * MIN, 15 * MIN).unwrap(), None);
    let d = s.claim_next_case(MAIN_QUEUE, "user:d", now + 17 * MIN, 15 * MIN).unwrap().unwrap();
    assert_eq!(d.id, ids[0], "an expired lease returns the case to the queue");
    // Release: only by the holder.
    assert!(matches!(s.release_case(ids[1], "user:a", now), Err(BankError::Conflict(_))));
    s.release_case(ids[1], "user:b", now + 3 * MIN).unwrap();
    let e = s.claim_next_case(MAIN_QUEUE, "user:e", now + 3 * MIN, 15 * MIN).unwrap().unwrap();
    assert_eq!(e.id, ids[1]);
    assert!(s.claim_next_case(SENIOR_QUEUE, "user:e", now, MIN).unwrap().is_none());
    assert!(s.claim_next_case("Bad Queue", "user:e", now, MIN).is_err());
    let claims = audit_actions(&*s).iter().filter(|a| a.contains("case_claim")).count();
    assert_eq!(claims, 6);
    assert!(audit_actions(&*s).contains(&format!("user:b case_release {}", ids[1])));
}

#[test]
fn review_next_hands_out_each_case_once_on_both_stores() {
    both(review_next_hands_out_each_case_once);
}

/// Many reviewers asking at once on many connections: every case to exactly one of them.
fn concurrent_claims_never_share_a_case(s: Arc<dyn Store>) {
    setup(&*s);
    for n in 0..24 {
        s.create_case(&new_case("B", 10, n)).unwrap();
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let me = format!("user:r{t}");
                let mut got = Vec::new();
                for _ in 0..6 {
                    let c = s.claim_next_case(MAIN_QUEUE, &me, 1_000, 15 * MIN).unwrap().unwrap();
                    got.push(c.id);
                    s.decide_case(c.id, &me, &confirm(Category::Baseline), 1_001, true).unwrap();
                }
                got
            })
        })
        .collect();
    let mut all: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 24, "every case claimed once");
    assert!(s.claim_next_case(MAIN_QUEUE, "user:x", 2_000, MIN).unwrap().is_none());
}

#[test]
fn concurrent_claims_never_share_a_case_on_both_stores() {
    both(concurrent_claims_never_share_a_case);
}

/// Decisions: only by the holder, once; a refused decision writes nothing.
fn decisions_are_taken_once_by_the_holder(s: Arc<dyn Store>) {
    setup(&*s);
    let id = s.create_case(&new_case("B", 10, 1)).unwrap().id;
    let now = 5_000;
    let before = audit_actions(&*s).len();
    let refused = s.decide_case(id, "user:a", &confirm(Category::Baseline), now, true);
    assert!(matches!(refused, Err(BankError::Conflict(_))), "{refused:?}");
    s.claim_next_case(MAIN_QUEUE, "user:a", now, 15 * MIN).unwrap().unwrap();
    let other = s.decide_case(id, "user:b", &confirm(Category::Baseline), now, true);
    assert!(matches!(other, Err(BankError::Conflict(_))));
    let invalid = s.decide_case(id, "user:a", &NewDecision::default(), now, true);
    assert!(matches!(invalid, Err(BankError::Invalid(_))));
    let wrong_entry = NewDecision {
        verdict: Some(Verdict::FalsePositive),
        entry_id: Some(999),
        ..Default::default()
    };
    assert!(s.decide_case(id, "user:a", &wrong_entry, now, true).is_err());
    let untouched = s.case(id).unwrap();
    assert!(untouched.decisions.is_empty());
    assert_eq!(audit_actions(&*s).len(), before + 1, "only the claim is recorded");

    let fp = NewDecision {
        verdict: Some(Verdict::FalsePositive),
        entry_id: Some(10),
        note: "a stock photo".into(),
        ..Default::default()
    };
    let decided = s.decide_case(id, "user:a", &fp, now + 1, true).unwrap();
    assert_eq!(decided.state, CaseState::FalsePositive);
    assert_eq!(decided.resolution, Some(Resolution::Review));
    assert_eq!(decided.decided_by.as_deref(), Some("user:a"));
    assert_eq!(decided.lease, None);
    assert_eq!(decided.decisions.len(), 1);
    assert_eq!(decided.decisions[0].entry_id, Some(10));
    assert_eq!(decided.decisions[0].note, "a stock photo");
    let twice = s.decide_case(id, "user:a", &confirm(Category::Baseline), now + 2, false);
    assert!(matches!(twice, Err(BankError::Conflict(_))));
    assert_eq!(s.case(id).unwrap(), decided);
    assert_eq!(audit_actions(&*s).last().unwrap(), &format!("user:a case_decide {id}"));
    // Signals-only decisions through the API need no claim, but not a case someone holds.
    let id2 = s.create_case(&new_case("B", 10, 2)).unwrap().id;
    s.claim_next_case(MAIN_QUEUE, "user:b", now, 15 * MIN).unwrap();
    let held = s.decide_case(id2, "key:rev", &confirm(Category::National), now, false);
    assert!(matches!(held, Err(BankError::Conflict(_))));
    let later = now + 16 * MIN;
    let ok = s.decide_case(id2, "key:rev", &confirm(Category::National), later, false).unwrap();
    assert_eq!((ok.state, ok.category), (CaseState::Confirmed, Some(Category::National)));
    assert_eq!(ok.industry_class, Some(IndustryClass::A1));
    // Error rates from these decisions: one confirmed, one false positive, PDQ at 11-20 bits.
    let auto = NewCase {
        start: Start::AutoConfirm { category: Some(Category::Baseline) },
        matches: vec![CaseMatch {
            bank: "B".into(),
            entry_id: 10,
            signal_type: SignalType::Md5,
            distance: 0,
        }],
        ..new_case("B", 10, 3)
    };
    s.create_case(&auto).unwrap();
    s.create_case(&new_case("B", 10, 4)).unwrap(); // open: not counted
    let outcomes = s.case_outcomes(Some("B"), Some(10)).unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let (md5, pdq) = (&outcomes[0], &outcomes[1]);
    assert_eq!(
        (md5.signal_type, md5.band.as_str(), md5.confirmed_auto),
        (SignalType::Md5, "exact", 1)
    );
    assert_eq!((pdq.band.as_str(), pdq.confirmed_reviewed, pdq.false_positive), ("11-20", 1, 1));
    assert_eq!(pdq.false_positive_ratio(), 0.5);
    assert!(s.case_outcomes(Some("FOUR"), None).unwrap().is_empty());
    assert!(s.case_outcomes(None, Some(11)).unwrap().is_empty());
    assert_eq!(s.case_outcomes(None, None).unwrap(), outcomes);
}

#[test]
fn decisions_are_taken_once_by_the_holder_on_both_stores() {
    both(decisions_are_taken_once_by_the_holder);
}

/// Four eyes: the second confirmation from another person; disagreement to the senior queue.
fn four_eyes_needs_two_reviewers(s: Arc<dyn Store>) {
    setup(&*s);
    let agree = s.create_case(&new_case("FOUR", 10, 1)).unwrap().id;
    let differ = s.create_case(&new_case("FOUR", 10, 2)).unwrap().id;
    let t = 10_000;
    for id in [agree, differ] {
        let c = s.claim_next_case(MAIN_QUEUE, "user:a", t, 15 * MIN).unwrap().unwrap();
        assert_eq!(c.id, id);
        let first = s.decide_case(id, "user:a", &confirm(Category::Baseline), t, true).unwrap();
        assert_eq!(first.state, CaseState::SecondReview);
        assert_eq!(first.decided_at, None);
    }
    // The first reviewer is never handed the case again.
    assert!(s.claim_next_case(MAIN_QUEUE, "user:a", t, 15 * MIN).unwrap().is_none());
    let c = s.claim_next_case(MAIN_QUEUE, "user:b", t, 15 * MIN).unwrap().unwrap();
    assert_eq!(c.id, agree);
    let done = s.decide_case(agree, "user:b", &confirm(Category::Baseline), t, true).unwrap();
    assert_eq!(done.state, CaseState::Confirmed);
    assert_eq!(done.decisions.len(), 2);
    let c = s.claim_next_case(MAIN_QUEUE, "user:b", t, 15 * MIN).unwrap().unwrap();
    assert_eq!(c.id, differ);
    let esc = s.decide_case(differ, "user:b", &confirm(Category::National), t, true).unwrap();
    assert_eq!((esc.state, esc.queue.as_str()), (CaseState::Escalated, SENIOR_QUEUE));
    let senior = s.claim_next_case(SENIOR_QUEUE, "user:lead", t, 15 * MIN).unwrap().unwrap();
    assert_eq!(senior.id, differ);
    let end = s.decide_case(differ, "user:lead", &confirm(Category::National), t, true).unwrap();
    assert_eq!(end.state, CaseState::Confirmed);
    // Turning four eyes off applies to the next decision.
    let settings = BankSettings { four_eyes: Some(false), ..Default::default() };
    assert!(!s.configure_bank("FOUR", &settings, "key:a", "one is enough").unwrap().four_eyes);
    let id = s.create_case(&new_case("FOUR", 10, 3)).unwrap().id;
    s.claim_next_case(MAIN_QUEUE, "user:a", t, 15 * MIN).unwrap();
    let one = s.decide_case(id, "user:a", &confirm(Category::Baseline), t, true).unwrap();
    assert_eq!(one.state, CaseState::Confirmed);
}

#[test]
fn four_eyes_needs_two_reviewers_on_both_stores() {
    both(four_eyes_needs_two_reviewers);
}

/// Decided content is found again by SHA-256 and through the decided PDQs, and a new case can
/// take its decision; an open case's decision cannot be taken.
fn decided_content_is_found_again(s: Arc<dyn Store>) {
    setup(&*s);
    let open = s.create_case(&new_case("B", 10, 1)).unwrap();
    assert_eq!(s.decided_case_by_sha256(&[1; 32]).unwrap(), None);
    let earlier = NewCase { start: Start::Earlier(open.id), ..new_case("B", 10, 1) };
    assert!(matches!(s.create_case(&earlier), Err(BankError::Conflict(_))));
    s.claim_next_case(MAIN_QUEUE, "user:a", 1, MIN).unwrap();
    let decided = s.decide_case(open.id, "user:a", &confirm(Category::Baseline), 2, true).unwrap();
    assert_eq!(s.decided_case_by_sha256(&[1; 32]).unwrap().unwrap().id, open.id);
    assert_eq!(s.decided_pdqs(0, 0, 10).unwrap(), vec![(2, open.id, [1; 32])]);
    assert_eq!(s.decided_pdqs(2, open.id, 10).unwrap(), vec![]);
    assert_eq!(s.decided_pdqs(1, i64::MAX, 10).unwrap().len(), 1);
    let again = s.create_case(&earlier).unwrap();
    assert_eq!(again.state, CaseState::Confirmed);
    assert_eq!(again.resolution, Some(Resolution::Earlier));
    assert_eq!(again.earlier_case, Some(open.id));
    assert_eq!(again.category, decided.category);
    assert_eq!(again.industry_class, decided.industry_class);
    assert!(again.decisions.is_empty(), "no person decided it");
    assert_eq!(s.open_case_counts().unwrap(), vec![]);
    s.create_case(&new_case("B", 10, 9)).unwrap();
    assert_eq!(s.open_case_counts().unwrap(), vec![(MAIN_QUEUE.to_string(), CaseState::Queued, 1)]);
}

#[test]
fn decided_content_is_found_again_on_both_stores() {
    both(decided_content_is_found_again);
}

fn told(s: &dyn Store) -> Vec<(String, String)> {
    s.outbox_due("case_decided", i64::MAX, 1000)
        .unwrap()
        .into_iter()
        .map(|i| (i.dedupe_key, i.payload))
        .collect()
}

/// A message that tells of a case change is stored in the change's own transaction: with a
/// decision kept, never with one refused, and a message the outbox refuses refuses the change.
fn messages_go_with_the_change_they_tell_of(s: Arc<dyn Store>) {
    use spoor_bank::cases::Message;
    setup(&*s);
    let message = |topic: &'static str| {
        move |c: &spoor_bank::cases::Case| {
            (!c.state.is_open())
                .then(|| Message {
                    topic: topic.into(),
                    dedupe_key: format!("case_decided:{}", c.id),
                    target: "http://127.0.0.1:9/hook".into(),
                    payload: format!("{} {}", c.id, c.state.name()),
                    not_before: None,
                })
                .into()
        }
    };
    let good = message("case_decided");
    let refused_by_outbox = message("Not A Topic");
    let id = s.create_case(&new_case("B", 10, 1)).unwrap().id;
    let now = 5_000;
    // Not held: refused, nothing told.
    let r = s.decide_case_notifying(id, "user:a", &confirm(Category::Baseline), now, true, &good);
    assert!(matches!(r, Err(BankError::Conflict(_))), "{r:?}");
    assert!(told(&*s).is_empty());
    s.claim_next_case(MAIN_QUEUE, "user:a", now, 15 * MIN).unwrap().unwrap();
    // The outbox refuses the message: the decision is not kept either.
    let before = audit_actions(&*s).len();
    let r = s.decide_case_notifying(
        id,
        "user:a",
        &confirm(Category::Baseline),
        now,
        true,
        &refused_by_outbox,
    );
    assert!(matches!(r, Err(BankError::Invalid(_))), "{r:?}");
    assert!(s.case(id).unwrap().decisions.is_empty());
    assert_eq!(s.case(id).unwrap().state, CaseState::Queued);
    assert_eq!(audit_actions(&*s).len(), before, "nothing recorded");
    assert!(told(&*s).is_empty());
    // Kept: told once, in the same breath.
    let c = s
        .decide_case_notifying(id, "user:a", &confirm(Category::Baseline), now, true, &good)
        .unwrap();
    assert_eq!(c.state, CaseState::Confirmed);
    assert_eq!(told(&*s), vec![(format!("case_decided:{id}"), format!("{id} confirmed"))]);

    // Cases decided as they are made: a batch kept tells of each decided case; a batch refused
    // tells of none.
    let auto = |n: u8| NewCase {
        start: Start::AutoConfirm { category: Some(Category::Baseline) },
        ..new_case("B", 10, n)
    };
    let mut bad = new_case("B", 10, 9);
    bad.matches.clear(); // nothing matched and not flagged: refused
    assert!(s.create_cases_notifying(&[auto(2), bad], &good).is_err());
    assert_eq!(told(&*s).len(), 1);
    let made = s.create_cases_notifying(&[auto(3), new_case("B", 10, 4), auto(5)], &good).unwrap();
    let keys: Vec<String> = told(&*s).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![
            format!("case_decided:{id}"),
            format!("case_decided:{}", made[0].id),
            format!("case_decided:{}", made[2].id)
        ],
        "the queued case tells nothing yet"
    );
}

#[test]
fn messages_go_with_the_change_they_tell_of_on_both_stores() {
    both(messages_go_with_the_change_they_tell_of);
}

/// The same content as an open case follows it: never claimable, never decided on its own; it
/// takes the lead's decision in the lead's transaction (audited, told), and a lead waiting for
/// a second reviewer keeps its followers waiting.
fn followers_take_their_leads_decision(s: Arc<dyn Store>) {
    setup(&*s);
    let message = |c: &spoor_bank::cases::Case| {
        (!c.state.is_open())
            .then(|| spoor_bank::cases::Message {
                topic: "case_decided".into(),
                dedupe_key: format!("case_decided:{}", c.id),
                target: "http://127.0.0.1:9/hook".into(),
                payload: c.state.name().into(),
                not_before: None,
            })
            .into()
    };
    let lead = s.create_case(&new_case("B", 10, 1)).unwrap();
    assert_eq!(s.open_case_by_sha256(&[1; 32]).unwrap(), Some(lead.id));
    let follow = |n: u8, of: i64| NewCase { start: Start::Follow(of), ..new_case("B", 10, n) };
    let f1 = s.create_case(&follow(1, lead.id)).unwrap();
    assert_eq!(
        (f1.state, f1.earlier_case, f1.resolution),
        (CaseState::Following, Some(lead.id), None)
    );
    // Following a follower follows its lead.
    let f2 = s.create_case(&follow(1, f1.id)).unwrap();
    assert_eq!(f2.earlier_case, Some(lead.id));
    assert_eq!(s.open_case_by_sha256(&[1; 32]).unwrap(), Some(lead.id), "never a follower");
    // Only the lead is ever handed out; a follower takes no decision of its own.
    let now = 5_000;
    let got = s.claim_next_case(MAIN_QUEUE, "user:a", now, 15 * MIN).unwrap().unwrap();
    assert_eq!(got.id, lead.id);
    assert!(s.claim_next_case(MAIN_QUEUE, "user:b", now, 15 * MIN).unwrap().is_none());
    let r = s.decide_case(f1.id, "user:a", &confirm(Category::National), now, false);
    assert!(matches!(r, Err(BankError::Conflict(_))), "{r:?}");
    // The lead decided: its followers with it, each recorded and told.
    let decided = s
        .decide_case_notifying(
            lead.id,
            "user:a",
            &confirm(Category::National),
            now + 1,
            true,
            &message,
        )
        .unwrap();
    assert_eq!(decided.state, CaseState::Confirmed);
    for f in [f1.id, f2.id] {
        let c = s.case(f).unwrap();
        assert_eq!(
            (c.state, c.resolution, c.category, c.industry_class, c.decided_by.as_deref()),
            (
                CaseState::Confirmed,
                Some(Resolution::Earlier),
                Some(Category::National),
                Some(IndustryClass::A1),
                Some("system:earlier")
            )
        );
        assert!(c.decisions.is_empty(), "no person decided it");
    }
    let keys: Vec<String> = told(&*s).into_iter().map(|(k, _)| k).collect();
    let want: Vec<String> =
        [lead.id, f1.id, f2.id].iter().map(|id| format!("case_decided:{id}")).collect();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(keys_sorted, want_sorted);
    let actions = audit_actions(&*s);
    for f in [f1.id, f2.id] {
        assert!(actions.contains(&format!("system:earlier case_decide {f}")), "{actions:?}");
    }
    assert_eq!(s.open_case_by_sha256(&[1; 32]).unwrap(), None);
    // Following a case decided meanwhile takes its decision at once.
    let late = s.create_case(&follow(1, lead.id)).unwrap();
    assert_eq!((late.state, late.resolution), (CaseState::Confirmed, Some(Resolution::Earlier)));

    // Four eyes: a lead waiting for its second reviewer keeps its followers waiting.
    let lead2 = s.create_case(&new_case("FOUR", 11, 2)).unwrap();
    let f3 = s.create_case(&follow(2, lead2.id)).unwrap();
    s.claim_next_case(MAIN_QUEUE, "user:a", now, 15 * MIN).unwrap().unwrap();
    let c = s.decide_case(lead2.id, "user:a", &confirm(Category::Baseline), now, true).unwrap();
    assert_eq!(c.state, CaseState::SecondReview);
    assert_eq!(s.case(f3.id).unwrap().state, CaseState::Following);
}

#[test]
fn followers_take_their_leads_decision_on_both_stores() {
    both(followers_take_their_leads_decision);
}

/// Each bank names the queue its matches are reviewed in (default `main`): kept on create,
/// changed with one record naming it, refused when not a queue name or the senior queue (and
/// then nothing is written); "review next" of one queue never hands out another queue's case.
fn banks_name_their_review_queue(s: Arc<dyn Store>) {
    setup(&*s);
    assert_eq!(s.bank("B").unwrap().review_queue, MAIN_QUEUE);
    let team =
        NewBank { name: "TEAM".into(), review_queue: Some("team-b".into()), ..Default::default() };
    let b = s.create_bank(&team, "key:a").unwrap();
    assert_eq!((b.review_queue.as_str(), s.bank("TEAM").unwrap()), ("team-b", b.clone()));
    let created = s
        .audit_records(&AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .find(|r| r.action == "bank_create" && r.object_id == "TEAM")
        .unwrap();
    assert!(created.details.contains("\"review_queue\":\"team-b\""), "{}", created.details);
    let before = s.last_seq().unwrap();
    let set = |q: &str| BankSettings { review_queue: Some(q.into()), ..Default::default() };
    let b = s.configure_bank("TEAM", &set("team_c-2"), "key:a", "team c takes it").unwrap();
    assert_eq!((b.review_queue.as_str(), s.bank("TEAM").unwrap()), ("team_c-2", b.clone()));
    let log = s.log(Some("TEAM"), before, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].reason.as_deref(), Some("review_queue=team_c-2: team c takes it"));
    // The same queue again changes nothing and records nothing.
    s.configure_bank("TEAM", &set("team_c-2"), "key:a", "again").unwrap();
    let after = s.last_seq().unwrap();
    assert_eq!(after, before + 1);
    for (bad, says) in [
        ("Team B", "invalid queue name"),
        ("", "invalid queue name"),
        (&"q".repeat(33), "invalid queue name"),
        ("senior", "escalations"),
    ] {
        let e = s.configure_bank("TEAM", &set(bad), "key:a", "x").unwrap_err();
        assert!(matches!(&e, BankError::Invalid(m) if m.contains(says)), "{bad:?}: {e}");
        let new =
            NewBank { name: "BAD".into(), review_queue: Some(bad.into()), ..Default::default() };
        let e = s.create_bank(&new, "key:a").unwrap_err();
        assert!(matches!(&e, BankError::Invalid(m) if m.contains(says)), "{bad:?}: {e}");
    }
    assert_eq!(s.last_seq().unwrap(), after, "refusals wrote nothing");
    assert!(matches!(s.bank("BAD"), Err(BankError::NoSuchBank(_))));
    assert_eq!(s.bank("TEAM").unwrap().review_queue, "team_c-2");
    // A case of the team's queue goes to its reviewers only.
    let c = s
        .create_case(&NewCase { start: Start::Queue("team_c-2".into()), ..new_case("TEAM", 1, 1) })
        .unwrap();
    assert_eq!(c.queue, "team_c-2");
    let now = spoor_bank::model::now_ms();
    assert_eq!(s.claim_next_case(MAIN_QUEUE, "user:m", now, 15 * MIN).unwrap(), None);
    let counts = s.open_case_counts().unwrap();
    assert_eq!(counts, vec![("team_c-2".to_string(), CaseState::Queued, 1)]);
    let got = s.claim_next_case("team_c-2", "user:t", now, 15 * MIN).unwrap().unwrap();
    assert_eq!(got.id, c.id);
}

#[test]
fn banks_name_their_review_queue_on_both_stores() {
    both(banks_name_their_review_queue);
}
