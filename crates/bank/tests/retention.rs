//! Retention on both stores, with the clock given: a run 12 months and a day after a year's
//! first cases erases their personal data, the words of decided complaints, the documents of
//! finished reports (receipts stay) and old messages, and lists old held media; a dry run counts
//! exactly what a run then does; a legal hold or an open complaint keeps a case whole until it
//! ends; one audit record per run, and the chain still verifies.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::Arc;

use spoor_bank::cases::{
    Case, CaseMatch, CaseMedia, CaseMeta, CaseReason, CaseSignals, CaseState, Effects, MediaKind,
    NewCase, NewDecision, Start, Verdict, MAIN_QUEUE,
};
use spoor_bank::complaints::{CaseRef, ComplaintDecision, ComplaintOutcome, NewComplaint};
use spoor_bank::reports::{ReportRequest, ReportState, ReportStep};
use spoor_bank::retention::{Policy, RetentionCounts, DAY_MS};
use spoor_bank::{AuditQuery, BankError, Category, Location, NewBank, Store};
use spoor_core::SignalType;

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

fn new_case(n: u8) -> NewCase {
    NewCase {
        submitter: "key:hoster".into(),
        meta: CaseMeta {
            reason: Some(CaseReason::Match),
            service: Some("photos".into()),
            content_ref: Some(format!("https://photos.example/item-{n}")),
            uploader_ref: Some(format!("user-{n}")),
            uploaded_at: Some(1_767_225_600_000),
            upload_ip: Some("192.0.2.7".into()),
            publicly_available: None,
        },
        media_kind: MediaKind::Image,
        media: Some(CaseMedia { id: format!("media-{n}"), bytes: 10 }),
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

fn to_ncmec(c: &Case) -> Effects {
    if c.state != CaseState::Confirmed {
        return Effects::default();
    }
    Effects {
        messages: vec![],
        reports: vec![ReportRequest { recipient: "ncmec".into(), group: None, window_ms: 0 }],
    }
}

/// Makes case `n` (at the store's clock) and confirms it at `at`.
fn confirmed(s: &dyn Store, n: u8, at: i64) -> Case {
    let c = s.create_case(&new_case(n)).unwrap();
    let d = NewDecision {
        verdict: Some(Verdict::Confirm),
        category: Some(Category::Baseline),
        ..Default::default()
    };
    s.decide_case_notifying(c.id, "user:rita", &d, at, false, &to_ncmec).unwrap()
}

fn records(s: &dyn Store, action: &str) -> Vec<serde_json::Value> {
    s.audit_records(&AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| serde_json::from_str(&r.details).unwrap())
        .collect()
}

fn personal_kept(c: &Case) -> bool {
    c.meta.content_ref.is_some() && c.meta.uploader_ref.is_some() && c.meta.upload_ip.is_some()
}

/// The whole year in one: cases are made now (the store's clock), so "12 months and a day
/// later" is now + 366 days.
fn a_year_later(s: Arc<dyn Store>) {
    s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:a").unwrap();
    let made = spoor_bank::model::now_ms();
    let plain = confirmed(&*s, 1, made);
    let held = confirmed(&*s, 2, made);
    let complained = confirmed(&*s, 3, made);
    let decided_complaint = confirmed(&*s, 4, made);
    // A finished report with its document, and a delivered message.
    let claimed = s.reports_claim("w", &["ncmec".into()], made + 1, 60_000, 10).unwrap();
    assert_eq!(claimed.len(), 4);
    let r = &claimed[0];
    let step = ReportStep {
        state: Some(ReportState::Finishing),
        document: Some("<report>uploader user-1</report>".into()),
        ..Default::default()
    };
    assert!(s.report_step(r.id, "w", &step, made + 2, 60_000).unwrap());
    assert!(s.report_finished(r.id, "w", "{\"report_id\":\"77\"}", made + 3).unwrap());
    assert!(s
        .outbox_add("case_decided", "case_decided:1", "http://h/", "{\"u\":1}", made)
        .unwrap());
    let item = s.outbox_find(&spoor_bank::outbox::OutboxQuery { limit: 10, ..Default::default() });
    let item = item.unwrap()[0].id;
    assert!(s.outbox_delivered(item, made + 5).unwrap());
    // A complaint decided (its words go), another open (its case stays whole).
    let k = s
        .complaint_create(
            &NewComplaint {
                case: CaseRef::Id(decided_complaint.id),
                submitter: "key:hoster".into(),
                complainant: "user-4".into(),
                text: "my photo".into(),
            },
            made,
        )
        .unwrap();
    let d = ComplaintDecision {
        outcome: Some(ComplaintOutcome::Upheld),
        reason: "stands".into(),
        entry_id: None,
    };
    s.complaint_decide(k.id, "user:sam", &d, made + 10, &spoor_bank::complaints::silent).unwrap();
    s.complaint_create(
        &NewComplaint {
            case: CaseRef::Id(complained.id),
            submitter: "key:hoster".into(),
            complainant: "user-3".into(),
            text: "not me".into(),
        },
        made,
    )
    .unwrap();
    // A legal hold, refused when bad, set for 500 days.
    let hold_end = made + 500 * DAY_MS;
    assert!(matches!(
        s.set_legal_hold(held.id, Some(hold_end), " ", "user:ada", made),
        Err(BankError::Invalid(_))
    ));
    assert!(matches!(
        s.set_legal_hold(held.id, Some(made - 1), "order", "user:ada", made),
        Err(BankError::Invalid(_))
    ));
    assert!(matches!(
        s.set_legal_hold(9_999, Some(hold_end), "order", "user:ada", made),
        Err(BankError::NoSuchCase(9_999))
    ));
    let h = s.set_legal_hold(held.id, Some(hold_end), "court order 2026/17", "user:ada", made);
    assert_eq!(h.unwrap().hold.unwrap().reason, "court order 2026/17");
    assert_eq!(records(&*s, "case_legal_hold").len(), 1);

    let policy = Policy::default();
    // Before the year is over only the message (kept 90 days) goes.
    let early = s.retention_apply(
        &policy,
        12 * 3_600_000,
        made + 300 * DAY_MS,
        false,
        0,
        "system:retention",
    );
    assert_eq!(early.unwrap(), RetentionCounts { outbox: 1, ..Default::default() });
    let later = made + 366 * DAY_MS;
    let dry = s.retention_apply(&policy, 12 * 3_600_000, later, true, 0, "cli:test").unwrap();
    assert_eq!(s.case(plain.id).unwrap().personal_purged_at, None, "a dry run changes nothing");
    let media = s.media_past_retention(later - 365 * DAY_MS, later, 100).unwrap();
    let run =
        s.retention_apply(&policy, 12 * 3_600_000, later, false, 0, "system:retention").unwrap();
    assert_eq!(run, dry, "a dry run counts exactly what a run does");
    assert_eq!(
        (run.case_personal, run.complaints, run.report_documents, run.outbox, run.held_back),
        (2, 1, 1, 0, 2),
        "{run:?}"
    );
    for id in [plain.id, decided_complaint.id] {
        let c = s.case(id).unwrap();
        assert!(c.meta.content_ref.is_none() && c.meta.uploader_ref.is_none(), "{c:?}");
        assert!(c.meta.upload_ip.is_none() && c.meta.uploaded_at.is_none());
        assert_eq!(c.personal_purged_at, Some(later));
        assert_eq!(c.state, CaseState::Confirmed, "the anonymous case stays, decided");
        assert_eq!(c.signals.sha256, Some([if id == plain.id { 1 } else { 4 }; 32]));
    }
    assert!(personal_kept(&s.case(held.id).unwrap()), "held");
    assert!(personal_kept(&s.case(complained.id).unwrap()), "an open complaint holds it");
    let k = s.complaint(k.id).unwrap();
    assert_eq!((k.text.as_str(), k.complainant.as_str(), k.purged_at), ("", "", Some(later)));
    assert_eq!(k.state, spoor_bank::complaints::ComplaintState::Upheld, "the outcome stays");
    let r = s.report(r.id).unwrap();
    assert_eq!((r.document, r.receipt.as_deref()), (None, Some("{\"report_id\":\"77\"}")));
    assert!(s.outbox_item(item).unwrap().is_none());
    let ids: Vec<i64> = media.iter().map(|(c, _)| *c).collect();
    assert!(ids.contains(&plain.id) && !ids.contains(&held.id) && !ids.contains(&complained.id));
    assert!(s.media_to_purge(later, later, 100).unwrap().iter().all(|(c, _)| *c != held.id));
    let runs = records(&*s, "retention_run");
    assert_eq!(runs.len(), 3, "one record a run, dry runs included");
    assert_eq!(runs[2]["counts"]["case_personal"], 2);
    assert_eq!(runs[1]["dry_run"], true);

    // When the hold ends, the held case goes too; lifting needs a reason.
    let after_hold = hold_end + DAY_MS;
    let run = s.retention_apply(&policy, 12 * 3_600_000, after_hold, false, 0, "system:retention");
    assert_eq!(run.unwrap().case_personal, 1);
    assert!(!personal_kept(&s.case(held.id).unwrap()));
    let lifted = s.set_legal_hold(complained.id, None, "no proceedings", "user:ada", after_hold);
    assert!(lifted.unwrap().hold.is_none());
    let mut log = |_| {};
    let v = spoor_bank::audit::verify(&*s, &[], None, &mut log).unwrap();
    assert!(v.broken.is_none(), "the audit chain verifies after retention: {v:?}");
    // A policy above the legal maximum without a reason is refused, writing nothing.
    let long = Policy { complaint_days: 400, ..Policy::default() };
    let e = s.retention_apply(&long, 0, after_hold, false, 0, "system:retention").unwrap_err();
    assert!(e.to_string().contains("exceed_reason"), "{e}");
    assert_eq!(records(&*s, "retention_run").len(), 4);
}

#[test]
fn a_year_later_on_both_stores() {
    both(a_year_later);
}
