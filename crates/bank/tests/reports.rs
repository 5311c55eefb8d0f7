//! Reports on both stores: made in the decision's transaction and grouped per uploader while
//! young, claimed by one worker at a time, stepped, finished, failed, given up and retried (each
//! end audited), and the content of a case kept until its reports are taken.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use spoor_bank::cases::{
    Case, CaseMatch, CaseMedia, CaseMeta, CaseReason, CaseSignals, CaseState, Effects,
    IndustryClass, MediaKind, NewCase, NewDecision, Start, Verdict, MAIN_QUEUE,
};
use spoor_bank::reports::{Failure, ReportQuery, ReportRequest, ReportState, ReportStep};
use spoor_bank::{AuditQuery, BankError, Category, Location, NewBank, Store};
use spoor_core::SignalType;

const MIN: i64 = 60_000;
const WINDOW: i64 = 10 * MIN;

fn ncmec() -> Vec<String> {
    vec!["ncmec".into()]
}

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

fn new_case(uploader: Option<&str>, n: u8) -> NewCase {
    NewCase {
        submitter: "key:hoster".into(),
        meta: CaseMeta {
            reason: Some(CaseReason::Match),
            service: Some("photos".into()),
            content_ref: Some(format!("item-{n}")),
            uploader_ref: uploader.map(Into::into),
            uploaded_at: Some(1_700_000_000_000),
            upload_ip: Some("192.0.2.7".into()),
            publicly_available: Some(true),
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
        industry_class: Some(IndustryClass::A1),
        ..Default::default()
    }
}

/// Reports confirmed cases to NCMEC, grouped by uploader, the way the service does.
fn to_ncmec(c: &Case) -> Effects {
    if c.state != CaseState::Confirmed {
        return Effects::default();
    }
    Effects {
        messages: vec![],
        reports: vec![ReportRequest {
            recipient: "ncmec".into(),
            group: c.meta.uploader_ref.clone(),
            window_ms: WINDOW,
        }],
    }
}

fn decide(s: &dyn Store, case: i64, now: i64) -> Case {
    s.decide_case_notifying(case, "user:rita", &confirm(), now, false, &to_ncmec).unwrap()
}

fn report_audits(s: &dyn Store) -> Vec<String> {
    s.audit_records(&AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.object_kind == "report")
        .map(|r| format!("{}:{} {} {}", r.actor_kind, r.actor, r.action, r.object_id))
        .collect()
}

fn setup(s: &dyn Store) {
    s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:a").unwrap();
}

/// Confirmed cases of one uploader join one report while it is young; another uploader, a case
/// with no uploader, and a case confirmed after the first claim each get their own; a case is
/// in one report per recipient; a refused decision makes no report.
fn reports_are_made_with_decisions_and_grouped(s: Arc<dyn Store>) {
    setup(&*s);
    let t0 = 1_000_000;
    let ids: Vec<i64> = [(Some("u-1"), 1), (Some("u-1"), 2), (Some("u-2"), 3), (None, 4)]
        .into_iter()
        .map(|(u, n)| s.create_case(&new_case(u, n)).unwrap().id)
        .collect();
    for (i, id) in ids.iter().enumerate() {
        decide(&*s, *id, t0 + i as i64 * MIN);
    }
    let of = |case: i64| {
        let r = s.reports_of_case(case).unwrap();
        assert_eq!(r.len(), 1, "case {case} is in one report: {r:?}");
        r.into_iter().next().unwrap()
    };
    let a = of(ids[0]);
    assert_eq!(a.cases, vec![ids[0], ids[1]], "one uploader, one report");
    assert_eq!((a.recipient.as_str(), a.state), ("ncmec", ReportState::Pending));
    assert_eq!(a.send_after, t0 + WINDOW, "the window runs from the first case");
    assert_eq!(a.uuid.len(), 36);
    let b = of(ids[2]);
    let alone = of(ids[3]);
    assert_eq!((b.cases.clone(), alone.cases.clone()), (vec![ids[2]], vec![ids[3]]));
    assert_eq!(HashSet::<&str>::from_iter([&*a.uuid, &*b.uuid, &*alone.uuid]).len(), 3);

    // A refused decision (decided already) leaves no second report.
    let again = s.decide_case_notifying(ids[0], "user:rita", &confirm(), t0, false, &to_ncmec);
    assert!(matches!(again, Err(BankError::Conflict(_))), "{again:?}");
    // A queued (not confirmed) case makes none.
    let open = s.create_case(&new_case(Some("u-1"), 5)).unwrap().id;
    assert!(s.reports_of_case(open).unwrap().is_empty());

    // Only reports for the recipients a worker delivers to are claimed.
    let eu = vec!["eu_centre".to_string()];
    assert!(s.reports_claim("w1", &eu, t0 + WINDOW + 4 * MIN, MIN, 10).unwrap().is_empty());
    // Nothing is due before the window closes.
    assert!(s.reports_claim("w1", &ncmec(), t0 + WINDOW - 1, MIN, 10).unwrap().is_empty());
    let claimed = s.reports_claim("w1", &ncmec(), t0 + WINDOW + 4 * MIN, MIN, 10).unwrap();
    let claimed_ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(claimed_ids, vec![a.id, b.id, alone.id], "oldest due first");
    assert_eq!(claimed[0].claim, Some(("w1".into(), t0 + WINDOW + 5 * MIN)));
    // Once claimed, a report takes no new case: the next confirmed case of u-1 starts another.
    let late = decide(&*s, open, t0 + 2 * MIN).id;
    let c = of(late);
    assert_ne!(c.id, a.id);
    assert_eq!(s.report(a.id).unwrap().cases, vec![ids[0], ids[1]]);
    let listed = s.reports(&ReportQuery { limit: 10, ..Default::default() }).unwrap();
    assert_eq!(listed.len(), 4);
    let counts = s.report_counts().unwrap();
    assert_eq!(counts, vec![("ncmec".to_string(), ReportState::Pending, 4)]);
    assert!(matches!(s.report(9_999), Err(BankError::NoSuchReport(9_999))));
}

#[test]
fn reports_are_made_with_decisions_and_grouped_on_both_stores() {
    both(reports_are_made_with_decisions_and_grouped);
}

/// A report is held by one worker at a time; its steps are recorded only by its holder; it is
/// finished once (audited, never due again), retried when it fails, dead when given up (audited)
/// until a person retries it (audited); a dead report opened at the receiver comes back `open`.
fn a_report_is_delivered_under_one_claim(s: Arc<dyn Store>) {
    setup(&*s);
    let now = 5_000_000;
    let one = s.create_case(&new_case(None, 1)).unwrap().id;
    let two = s.create_case(&new_case(None, 2)).unwrap().id;
    decide(&*s, one, now - WINDOW);
    decide(&*s, two, now - WINDOW);
    let r1 = s.reports_of_case(one).unwrap()[0].id;
    let r2 = s.reports_of_case(two).unwrap()[0].id;

    let got = s.reports_claim("w1", &ncmec(), now, MIN, 1).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r1]);
    // Held by w1: another worker gets the other one only.
    let got2 = s.reports_claim("w2", &ncmec(), now, MIN, 10).unwrap();
    assert_eq!(got2.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2]);
    assert!(s.reports_claim("w3", &ncmec(), now + MIN - 1, MIN, 10).unwrap().is_empty());

    // Steps: only the holder records them.
    let open = ReportStep {
        state: Some(ReportState::Open),
        remote_id: Some("NCMEC-1".into()),
        progress: Some(r#"{"files":[]}"#.into()),
        document: Some("<report/>".into()),
        reset: false,
    };
    assert!(!s.report_step(r1, "w2", &open, now, MIN).unwrap(), "not w2's");
    assert!(s.report_step(r1, "w1", &open, now + 1000, MIN).unwrap());
    let r = s.report(r1).unwrap();
    assert_eq!((r.state, r.remote_id.as_deref()), (ReportState::Open, Some("NCMEC-1")));
    assert_eq!(r.claim, Some(("w1".into(), now + 1000 + MIN)), "the claim is renewed");
    assert_eq!(r.document.as_deref(), Some("<report/>"));
    // A step that would end the report is refused: finish or fail it instead.
    let bad = ReportStep { state: Some(ReportState::Finished), ..Default::default() };
    assert!(matches!(s.report_step(r1, "w1", &bad, now, MIN), Err(BankError::Invalid(_))));
    // Reset: the opened report was cancelled at the receiver.
    assert!(s.report_step(r1, "w1", &ReportStep::reset(), now, MIN).unwrap());
    let r = s.report(r1).unwrap();
    assert_eq!(
        (r.state, r.remote_id.clone(), r.progress.clone()),
        (ReportState::Pending, None, None)
    );
    assert_eq!(r.document.as_deref(), Some("<report/>"), "what was sent is kept");

    // A failure releases it until its retry time; the attempt is counted.
    assert!(s.report_failed(r1, "w1", "HTTP 503", Failure::RetryAt(now + 2 * MIN), now).unwrap());
    assert!(!s.report_failed(r1, "w1", "again", Failure::RetryAt(now), now).unwrap(), "released");
    let r = s.report(r1).unwrap();
    assert_eq!((r.attempts, r.claim.clone(), r.last_error.as_deref()), (1, None, Some("HTTP 503")));
    let got = s.reports_claim("w3", &ncmec(), now + 2 * MIN - 1, MIN, 10).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2], "w2's lease ran out");
    let got = s.reports_claim("w3", &ncmec(), now + 2 * MIN, MIN, 10).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r1], "due again");
    assert!(!s.report_finished(r1, "w1", "<ok/>", now).unwrap(), "w1 holds it no more");
    assert!(s.report_finished(r1, "w3", "<reportDoneResponse/>", now + 3 * MIN).unwrap());
    let r = s.report(r1).unwrap();
    assert_eq!(
        (r.state, r.receipt.as_deref()),
        (ReportState::Finished, Some("<reportDoneResponse/>"))
    );
    assert_eq!((r.finished_at, r.claim.clone()), (Some(now + 3 * MIN), None));
    assert!(!s.report_step(r1, "w3", &open, now, MIN).unwrap(), "a finished report is final");
    assert!(!s.report_failed(r1, "w3", "x", Failure::GiveUp, now).unwrap());

    // r2: opened, then given up; a person retries it and it comes back open.
    assert!(s.report_step(r2, "w3", &open, now, MIN).unwrap());
    assert!(s.report_failed(r2, "w3", "4100 Validation failed", Failure::GiveUp, now).unwrap());
    let r = s.report(r2).unwrap();
    assert_eq!((r.state, r.dead_at), (ReportState::Dead, Some(now)));
    assert!(
        s.reports_claim("w3", &ncmec(), i64::MAX / 2, MIN, 10).unwrap().is_empty(),
        "dead is not due"
    );
    assert!(matches!(s.report_retry(r1, "user:ada", now), Err(BankError::Conflict(_))));
    let r = s.report_retry(r2, "user:ada", now + 5 * MIN).unwrap();
    assert_eq!((r.state, r.attempts, r.dead_at), (ReportState::Open, 0, None));
    assert_eq!(r.remote_id.as_deref(), Some("NCMEC-1"), "kept: the worker cancels it first");
    let got = s.reports_claim("w4", &ncmec(), now + 5 * MIN, MIN, 10).unwrap();
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r2]);
    assert_eq!(
        report_audits(&*s),
        vec![
            format!("system:reports report_sent {r1}"),
            format!("system:reports report_dead {r2}"),
            format!("user:ada report_retry {r2}"),
        ]
    );
    // Bad input is refused before anything is written.
    assert!(s.reports_claim("", &ncmec(), now, MIN, 1).is_err());
    assert!(s.reports_claim("w", &ncmec(), now, 0, 1).is_err());
    assert!(s.reports_claim("w", &ncmec(), now, MIN, 0).is_err());
    let huge = ReportStep { progress: Some("x".repeat(5 << 20)), ..Default::default() };
    assert!(matches!(s.report_step(r2, "w4", &huge, now, MIN), Err(BankError::Invalid(_))));
    let bad_recipient = |_: &Case| Effects {
        messages: vec![],
        reports: vec![ReportRequest { recipient: "NCMEC!".into(), group: None, window_ms: 0 }],
    };
    let three = s.create_case(&new_case(None, 3)).unwrap().id;
    let refused = s.decide_case_notifying(three, "user:rita", &confirm(), now, false, &|c| {
        if c.state == CaseState::Confirmed {
            bad_recipient(c)
        } else {
            Effects::default()
        }
    });
    assert!(matches!(refused, Err(BankError::Invalid(_))), "{refused:?}");
    assert_eq!(s.case(three).unwrap().state, CaseState::Queued, "refused whole");
}

#[test]
fn a_report_is_delivered_under_one_claim_on_both_stores() {
    both(a_report_is_delivered_under_one_claim);
}

/// Held content is not purged while a report of its case is not taken (pending, under way or
/// dead): it is what the report sends.
fn content_is_kept_until_its_reports_are_taken(s: Arc<dyn Store>) {
    setup(&*s);
    let now = 9_000_000;
    let reported = s.create_case(&new_case(None, 1)).unwrap().id;
    let not_reported = s.create_case(&new_case(None, 2)).unwrap().id;
    decide(&*s, reported, now - WINDOW);
    s.decide_case(not_reported, "user:rita", &confirm(), now - WINDOW, false).unwrap();
    let purgeable = || -> Vec<i64> {
        s.media_to_purge(now, now, 10).unwrap().into_iter().map(|(id, _)| id).collect()
    };
    assert_eq!(purgeable(), vec![not_reported]);
    let r = s.reports_claim("w", &ncmec(), now, MIN, 1).unwrap().remove(0);
    assert!(s.report_failed(r.id, "w", "x", Failure::GiveUp, now).unwrap());
    assert_eq!(purgeable(), vec![not_reported], "dead: a person may retry it");
    s.report_retry(r.id, "user:ada", now).unwrap();
    s.reports_claim("w", &ncmec(), now, MIN, 1).unwrap();
    assert!(s.report_finished(r.id, "w", "ok", now).unwrap());
    assert_eq!(purgeable(), vec![reported, not_reported]);
}

#[test]
fn content_is_kept_until_its_reports_are_taken_on_both_stores() {
    both(content_is_kept_until_its_reports_are_taken);
}

/// Four workers claiming at once never get one report twice while their claims hold.
fn concurrent_claims_never_share_a_report(s: Arc<dyn Store>) {
    setup(&*s);
    let now = 20_000_000;
    let mut cases = Vec::new();
    for n in 0..120u8 {
        let id = s.create_case(&new_case(None, n)).unwrap().id;
        cases.push(id);
    }
    for id in &cases {
        decide(&*s, *id, now - WINDOW);
    }
    let got: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let s = s.clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let batch =
                            s.reports_claim(&format!("w{w}"), &ncmec(), now, 10 * MIN, 7).unwrap();
                        if batch.is_empty() {
                            break mine;
                        }
                        mine.extend(batch.into_iter().map(|r| r.id));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<i64> = got.iter().flatten().copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 120, "every report claimed once: {got:?}");
    assert_eq!(distinct.len(), 120);
}

#[test]
fn concurrent_claims_never_share_a_report_on_both_stores() {
    both(concurrent_claims_never_share_a_report);
}

/// "Do not inform": a user notice made with the decision waits in the outbox until the hold
/// ends; a hold set later moves a waiting notice; lifting it makes the notice due at once; a
/// hold with no reason or an end in the past is refused; every change is audited.
fn notices_wait_for_do_not_inform(s: Arc<dyn Store>) {
    use spoor_bank::cases::{notice_key, Message};
    setup(&*s);
    let now = 30_000_000;
    let notice = |c: &Case| {
        let mut e = Effects::default();
        if c.state == CaseState::Confirmed {
            e.messages.push(Message {
                topic: "user_notice".into(),
                dedupe_key: notice_key(c.id),
                target: "http://127.0.0.1:9/hook".into(),
                payload: format!("notice {}", c.id),
                not_before: c.no_inform.as_ref().map(|(t, _)| *t),
            });
        }
        e
    };
    let held = s.create_case(&new_case(None, 1)).unwrap().id;
    let later = s.create_case(&new_case(None, 2)).unwrap().id;
    // Refused: no reason, an end in the past, an unknown case.
    let r = s.set_no_inform(held, Some(now + 10 * MIN), " ", "key:admin", now);
    assert!(matches!(r, Err(BankError::Invalid(_))), "{r:?}");
    let r = s.set_no_inform(held, Some(now - 1), "police request 12", "key:admin", now);
    assert!(matches!(r, Err(BankError::Invalid(_))), "{r:?}");
    let r = s.set_no_inform(9_999, Some(now + MIN), "police request 12", "key:admin", now);
    assert!(matches!(r, Err(BankError::NoSuchCase(9_999))), "{r:?}");
    let c =
        s.set_no_inform(held, Some(now + 10 * MIN), "police request 12", "key:admin", now).unwrap();
    assert_eq!(c.no_inform, Some((now + 10 * MIN, "police request 12".into())));
    for id in [held, later] {
        s.decide_case_notifying(id, "user:rita", &confirm(), now, false, &notice).unwrap();
    }
    let due = |at: i64| -> Vec<String> {
        s.outbox_due("user_notice", at, 100).unwrap().into_iter().map(|i| i.payload).collect()
    };
    assert_eq!(due(now), vec![format!("notice {later}")], "the held notice waits");
    assert_eq!(due(now + 10 * MIN).len(), 2, "and goes when the hold ends");
    // A hold set after the decision moves the waiting notice; lifting it sends it at once.
    s.set_no_inform(later, Some(now + 60 * MIN), "court order 7", "key:admin", now).unwrap();
    assert_eq!(due(now + 10 * MIN), vec![format!("notice {held}")]);
    let item = s.outbox_due("user_notice", now + 60 * MIN, 100).unwrap();
    let moved = item.iter().find(|i| i.dedupe_key == notice_key(later)).unwrap();
    assert_eq!((moved.not_before, moved.due_from()), (Some(now + 60 * MIN), now + 60 * MIN));
    assert!(s.set_no_inform(later, None, "", "key:admin", now + MIN).is_err(), "a reason");
    s.set_no_inform(later, None, "the court lifted it", "key:admin", now + MIN).unwrap();
    assert_eq!(due(now + MIN), vec![format!("notice {later}")], "lifted: due at once");
    assert_eq!(s.case(later).unwrap().no_inform, None);
    let audits: Vec<String> = s
        .audit_records(&AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "case_no_inform")
        .map(|r| format!("{} {}", r.object_id, r.details))
        .collect();
    assert_eq!(audits.len(), 3, "{audits:?}");
    assert!(audits[0].contains("police request 12"), "{audits:?}");
}

#[test]
fn notices_wait_for_do_not_inform_on_both_stores() {
    both(notices_wait_for_do_not_inform);
}
