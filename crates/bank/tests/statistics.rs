//! Statistics on both stores, checked against counts the test keeps itself: cases per
//! technology (PDQ by band, digests, a user's flag), how they were decided, false positives in
//! review and on complaint, complaints and outcomes, reports taken per recipient, and the times
//! to decision and to report; bad periods refused.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::Arc;

use spoor_bank::cases::{
    Case, CaseMatch, CaseMeta, CaseReason, CaseSignals, CaseState, Effects, MediaKind, NewCase,
    NewDecision, Start, Verdict, MAIN_QUEUE,
};
use spoor_bank::complaints::{CaseRef, ComplaintDecision, ComplaintOutcome, NewComplaint};
use spoor_bank::reports::ReportRequest;
use spoor_bank::retention::DAY_MS;
use spoor_bank::statistics::CaseDay;
use spoor_bank::{Category, Location, NewBank, Store};
use spoor_core::SignalType;

fn both(test: fn(Arc<dyn Store>)) {
    let dir = tempfile::tempdir().unwrap();
    test(Arc::from(spoor_bank::open(&Location::DataDir(dir.path().join("data"))).unwrap()));
    if let Some((url, _)) = common::postgres_schema() {
        test(Arc::from(spoor_bank::open(&Location::Postgres(url)).unwrap()));
    }
}

fn new_case(n: u8, service: &str, matched: Option<(SignalType, u32)>) -> NewCase {
    NewCase {
        submitter: "key:hoster".into(),
        meta: CaseMeta {
            reason: Some(if matched.is_some() { CaseReason::Match } else { CaseReason::UserFlag }),
            service: Some(service.into()),
            content_ref: Some(format!("item-{n}")),
            ..Default::default()
        },
        media_kind: MediaKind::None,
        media: None,
        signals: CaseSignals { sha256: Some([n; 32]), ..Default::default() },
        matches: matched
            .map(|(t, d)| CaseMatch { bank: "B".into(), entry_id: 1, signal_type: t, distance: d })
            .into_iter()
            .collect(),
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

fn decide(s: &dyn Store, id: i64, verdict: Verdict, at: i64) -> Case {
    let d = NewDecision {
        verdict: Some(verdict),
        category: (verdict == Verdict::Confirm).then_some(Category::Baseline),
        entry_id: (verdict == Verdict::FalsePositive).then_some(1),
        ..Default::default()
    };
    s.decide_case_notifying(id, "user:rita", &d, at, false, &to_ncmec).unwrap()
}

fn row<'a>(rows: &'a [CaseDay], service: &str, tech: &str) -> &'a CaseDay {
    rows.iter()
        .find(|r| r.service == service && r.technology == tech)
        .unwrap_or_else(|| panic!("no row {service} {tech} in {rows:#?}"))
}

fn counted(s: Arc<dyn Store>) {
    s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:a").unwrap();
    let now = spoor_bank::model::now_ms();
    let from = now - now % DAY_MS;
    // photos: two PDQ 1-10 (one confirmed, one false positive), one MD5 confirmed then
    // reversed on complaint, one user flag left open; video: one PDQ 21-31 confirmed.
    let a = s.create_case(&new_case(1, "photos", Some((SignalType::Pdq, 4)))).unwrap();
    let b = s.create_case(&new_case(2, "photos", Some((SignalType::Pdq, 9)))).unwrap();
    let c = s.create_case(&new_case(3, "photos", Some((SignalType::Md5, 0)))).unwrap();
    let _open = s.create_case(&new_case(4, "photos", None)).unwrap();
    let e = s.create_case(&new_case(5, "video", Some((SignalType::Pdq, 25)))).unwrap();
    decide(&*s, a.id, Verdict::Confirm, now + 60_000);
    decide(&*s, b.id, Verdict::FalsePositive, now + 120_000);
    decide(&*s, c.id, Verdict::Confirm, now + 180_000);
    decide(&*s, e.id, Verdict::Confirm, now + 240_000);
    let k = s
        .complaint_create(
            &NewComplaint {
                case: CaseRef::Id(c.id),
                submitter: "key:hoster".into(),
                complainant: "u".into(),
                text: "mine".into(),
            },
            now,
        )
        .unwrap();
    let overturn = ComplaintDecision {
        outcome: Some(ComplaintOutcome::Overturned),
        reason: "a landscape".into(),
        entry_id: Some(1),
    };
    s.complaint_decide(k.id, "user:sam", &overturn, now + 300_000, &spoor_bank::complaints::silent)
        .unwrap();
    // Reports: a's finished 10 minutes after its decision; e's left pending.
    let claimed = s.reports_claim("w", &["ncmec".into()], now + 250_000, 60_000, 10).unwrap();
    let ra = claimed.iter().find(|r| r.cases == [a.id]).unwrap();
    assert!(s.report_finished(ra.id, "w", "{}", now + 60_000 + 600_000).unwrap());

    // Two days: the later steps may pass midnight.
    let st = s.statistics(from, from + 2 * DAY_MS).unwrap();
    let p = row(&st.cases, "photos", "pdq:1-10");
    assert_eq!(
        (
            p.made,
            p.reviewed,
            p.confirmed,
            p.false_positive_review,
            p.false_positive_complaint,
            p.open
        ),
        (2, 2, 1, 1, 0, 0)
    );
    let m = row(&st.cases, "photos", "md5");
    assert_eq!((m.made, m.confirmed, m.false_positive_complaint), (1, 0, 1));
    let f = row(&st.cases, "photos", "none");
    assert_eq!((f.made, f.open), (1, 1));
    let v = row(&st.cases, "video", "pdq:21-31");
    assert_eq!((v.made, v.confirmed), (1, 1));
    assert_eq!(st.cases.len(), 4, "{:#?}", st.cases);
    assert_eq!(st.days.len(), 1, "{:#?}", st.days);
    let d = &st.days[0];
    assert_eq!((d.made, d.confirmed, d.false_positive, d.open), (5, 2, 2, 1), "each case once");
    let rates = spoor_bank::statistics::rates(&st.cases);
    let pdq = rates.iter().find(|r| r.technology == "pdq:1-10").unwrap();
    assert_eq!((pdq.decisions, pdq.false_positives, pdq.on_complaint), (2, 1, 0));
    assert_eq!(pdq.ci, spoor_bank::statistics::wilson(1, 2));
    let md5 = rates.iter().find(|r| r.technology == "md5").unwrap();
    assert_eq!((md5.decisions, md5.false_positives, md5.on_complaint, md5.ratio), (1, 1, 1, 1.0));
    assert!(st.cases.iter().all(|r| r.day == spoor_bank::statistics::day_name(from / DAY_MS)));
    assert_eq!(st.complaints.len(), 1);
    let k = &st.complaints[0];
    assert_eq!((k.filed, k.open, k.upheld, k.overturned), (1, 0, 0, 1));
    assert_eq!(st.reports.len(), 1);
    assert_eq!((st.reports[0].recipient.as_str(), st.reports[0].finished), ("ncmec", 1));
    assert_eq!(st.to_report_ms, [600_000]);
    assert_eq!(st.to_decision_ms.len(), 4, "decided by people: a, b, c, e");
    // Another day has nothing; bad periods are refused.
    let empty = s.statistics(from + 2 * DAY_MS, from + 3 * DAY_MS).unwrap();
    assert!(empty.cases.is_empty() && empty.complaints.is_empty() && empty.reports.is_empty());
    assert!(s.statistics(from, from).is_err());
    let year = s.statistics(from - 400 * DAY_MS, from + 2 * DAY_MS).unwrap();
    assert_eq!(year.days, st.days, "a long period holds the same records");

    // As the records stood before e's decision: c still confirmed (reversed later), e still
    // open, the complaint open, a's report not taken yet.
    let then = s.statistics_as_of(from, from + 2 * DAY_MS, now + 200_000).unwrap();
    let d = &then.days[0];
    assert_eq!((d.made, d.confirmed, d.false_positive, d.open), (5, 2, 1, 2), "{d:?}");
    let m = row(&then.cases, "photos", "md5");
    assert_eq!((m.confirmed, m.false_positive_complaint, m.reviewed), (1, 0, 1));
    let v = row(&then.cases, "video", "pdq:21-31");
    assert_eq!((v.made, v.confirmed, v.reviewed, v.open), (1, 0, 0, 1));
    let k = &then.complaints[0];
    assert_eq!((k.filed, k.open, k.upheld, k.overturned), (1, 1, 0, 0));
    assert!(then.reports.is_empty() && then.to_report_ms.is_empty(), "{:?}", then.reports);
    assert_eq!(then.to_decision_ms.len(), 3, "a, b and c were decided by then");
    // After the reversal, before the report: as now but for the report.
    let later = s.statistics_as_of(from, from + 2 * DAY_MS, now + 400_000).unwrap();
    assert_eq!((later.days.clone(), later.cases.clone()), (st.days.clone(), st.cases.clone()));
    assert_eq!(later.complaints, st.complaints);
    assert!(later.reports.is_empty());
    // At or after every record: the same as now.
    let after = s.statistics_as_of(from, from + 2 * DAY_MS, now + 700_000).unwrap();
    assert_eq!(after, st);
}

#[test]
fn statistics_are_counted_from_the_records_on_both_stores() {
    both(counted);
}

fn usage(s: Arc<dyn Store>) {
    use spoor_bank::statistics::{lookup_technology, UsageAdd};
    let add = |day: i64, client: &str, tech: &str, lookups: u64, matches: u64| UsageAdd {
        day,
        client: client.into(),
        technology: tech.into(),
        lookups,
        matches,
    };
    let day = 20_423; // 2025-12-01
    let period =
        |from: i64, days: i64| s.statistics(from * DAY_MS, (from + days) * DAY_MS).unwrap();
    assert_eq!(period(day, 1).usage_since, None, "nothing counted yet");
    // Added in pieces, as the service flushes: the store sums them.
    let mut kept = std::collections::BTreeMap::new();
    for k in 0..30u64 {
        let tech =
            lookup_technology("pdq", [None, Some(0), Some(7), Some(31), Some(40)][k as usize % 5]);
        let client = if k % 2 == 0 { "hoster" } else { "scanner" };
        let rows = vec![
            add(day + (k as i64 % 3), client, tech, k + 1, k % 4),
            add(day + (k as i64 % 3), client, "md5", 1, 0),
        ];
        s.usage_add(&rows).unwrap();
        for r in rows {
            let e = kept.entry((r.day, r.client, r.technology)).or_insert((0, 0));
            e.0 += r.lookups;
            e.1 += r.matches;
        }
    }
    let got = period(day, 3);
    assert_eq!(got.usage.len(), kept.len());
    for u in &got.usage {
        let d = (0..3).find(|i| spoor_bank::statistics::day_name(day + i) == u.day).unwrap();
        let want = kept[&(day + d, u.client.clone(), u.technology.clone())];
        assert_eq!((u.lookups, u.matches), want, "{u:?}");
    }
    assert_eq!(got.usage_since.as_deref(), Some("2025-12-01"));
    // The period is whole days: the second day alone, and a period before any.
    assert!(period(day + 1, 1).usage.iter().all(|u| u.day == "2025-12-02"));
    assert!(!period(day + 1, 1).usage.is_empty());
    assert!(period(day - 5, 5).usage.is_empty());
    // Bad rows are refused whole: nothing of the batch is added.
    let before = period(day, 3).usage;
    let bad = [add(day, "hoster", "md5", 5, 0), add(day, "", "md5", 1, 0)];
    assert!(s.usage_add(&bad).is_err());
    assert!(s.usage_add(&[add(day, "hoster", "md5", u64::MAX, 0)]).is_err());
    assert!(s.usage_add(&[add(day, "a\nb", "md5", 1, 0)]).is_err());
    assert_eq!(period(day, 3).usage, before);
    assert!(s.usage_add(&[]).is_ok());
}

#[test]
fn lookups_and_matches_add_up_per_day_client_and_technology_on_both_stores() {
    both(usage);
}

#[test]
fn lookups_count_under_the_band_of_their_nearest_match() {
    use spoor_bank::statistics::lookup_technology as t;
    assert_eq!(t("md5", None), "md5");
    assert_eq!(t("vpdq", Some(3)), "vpdq");
    let bands: Vec<String> = [
        None,
        Some(0),
        Some(1),
        Some(10),
        Some(11),
        Some(20),
        Some(21),
        Some(31),
        Some(32),
        Some(256),
    ]
    .into_iter()
    .map(|d| t("pdq", d).to_string())
    .collect();
    assert_eq!(
        bands,
        [
            "pdq:none",
            "pdq:0",
            "pdq:1-10",
            "pdq:1-10",
            "pdq:11-20",
            "pdq:11-20",
            "pdq:21-31",
            "pdq:21-31",
            "pdq:32+",
            "pdq:32+"
        ]
    );
}

/// The `UPDATE` of a migration file: what it does to cases made before it.
fn backfill(migration: &str) -> String {
    let at = migration.find("UPDATE cases").expect("the migration fills the column");
    let end = migration[at..].find(";\n").unwrap();
    migration[at..at + end].to_string()
}

/// Cases made before their technologies were kept get them, when the store is migrated, from
/// their matches: the migration gives what the store now writes, on both stores.
#[test]
fn technologies_filled_in_by_the_migration_are_those_the_store_writes() {
    let kinds: Vec<Vec<(SignalType, u32)>> = vec![
        vec![],
        vec![(SignalType::Md5, 0)],
        vec![(SignalType::Pdq, 0)],
        vec![(SignalType::Pdq, 10), (SignalType::Pdq, 3)],
        vec![(SignalType::Pdq, 11), (SignalType::Sha256, 0), (SignalType::Pdq, 31)],
        vec![(SignalType::Pdq, 40), (SignalType::Vpdq, 2), (SignalType::Md5, 0)],
    ];
    let make = |s: &dyn Store| {
        s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:a").unwrap();
        for (n, k) in kinds.iter().enumerate() {
            let mut c = new_case(n as u8, "photos", None);
            c.matches = k
                .iter()
                .enumerate()
                .map(|(e, (t, d))| CaseMatch {
                    bank: "B".into(),
                    entry_id: e as i64 + 1,
                    signal_type: *t,
                    distance: *d,
                })
                .collect();
            s.create_case(&c).unwrap();
        }
    };
    let want: Vec<Option<String>> = kinds
        .iter()
        .map(|k| spoor_bank::statistics::technologies(k.iter().map(|(t, d)| (t.name(), *d))))
        .collect();
    assert_eq!(want[5].as_deref(), Some("md5 pdq:32+ vpdq"));
    // SQLite.
    let dir = tempfile::tempdir().unwrap();
    let s = spoor_bank::open(&Location::DataDir(dir.path().join("data"))).unwrap();
    make(&*s);
    let db = rusqlite::Connection::open(dir.path().join("data/spoor.db")).unwrap();
    let read = |db: &rusqlite::Connection| -> Vec<Option<String>> {
        let mut st = db.prepare("SELECT technologies FROM cases ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(read(&db), want, "written by the store");
    db.execute("UPDATE cases SET technologies = NULL", []).unwrap();
    db.execute(&backfill(include_str!("../migrations/sqlite/0018_case_technologies.sql")), [])
        .unwrap();
    assert_eq!(read(&db), want, "filled in by the migration");
    // PostgreSQL.
    if let Some((url, _)) = common::postgres_schema() {
        let s = spoor_bank::open(&Location::Postgres(url.clone())).unwrap();
        make(&*s);
        let mut db = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let read = |db: &mut ::postgres::Client| -> Vec<Option<String>> {
            let rows = db.query("SELECT technologies FROM cases ORDER BY id", &[]).unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        };
        assert_eq!(read(&mut db), want, "written by the store");
        db.execute("UPDATE cases SET technologies = NULL", &[]).unwrap();
        db.execute(
            &backfill(include_str!("../migrations/postgres/0018_case_technologies.sql")),
            &[],
        )
        .unwrap();
        assert_eq!(read(&mut db), want, "filled in by the migration");
    }
}
