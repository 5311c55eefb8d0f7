//! One test suite, run against both stores: SQLite in a temporary directory, and PostgreSQL in a
//! fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (the test command starts a
//! throwaway one). Without that variable the PostgreSQL tests fail when
//! `SPOOR_REQUIRE_POSTGRES=1` (as in the test command) and are skipped with a notice otherwise.

mod common;

use std::collections::BTreeMap;

use spoor_bank::export::{ExportFormat, Exporter};
use spoor_bank::import::{import, Format, ImportError, ImportOptions, Reader};
use spoor_bank::{
    Action, Added, BankError, Category, EntryUpdate, Location, NewBank, NewEntry, Severity, Store,
};
use spoor_core::{Hash256, SignalType};
use spoor_index::PdqIndex;

struct Fixture {
    store: Box<dyn Store>,
    location: Location,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::DataDir(dir.path().join("data"));
    Fixture { store: spoor_bank::open(&location).unwrap(), location, _dir: Some(dir) }
}

/// A URL whose connections use a fresh schema, so tests do not see each other's banks.
fn postgres_url() -> Option<String> {
    postgres_schema().map(|(url, _)| url)
}

use common::postgres_schema;

fn postgres() -> Option<Fixture> {
    let url = postgres_url()?;
    let location = Location::Postgres(url);
    Some(Fixture { store: spoor_bank::open(&location).unwrap(), location, _dir: None })
}

fn rand_hashes(n: usize, seed: u64) -> Vec<Hash256> {
    common::hashes(n, seed)
}

fn pdq(h: &Hash256) -> NewEntry {
    NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec())
}

fn bank(store: &dyn Store, name: &str) {
    store
        .create_bank(
            &NewBank {
                name: name.into(),
                description: "test".into(),
                owner: "Hotline".into(),
                review_required: false,
                pdq_radius: None,
                ..Default::default()
            },
            "tester",
        )
        .unwrap();
}

fn run_import(
    store: &dyn Store,
    bank: &str,
    text: &str,
    strict: bool,
) -> Result<spoor_bank::import::ImportReport, ImportError> {
    let mut reader = Reader::new(text.as_bytes(), None, SignalType::Pdq)?;
    let opts = ImportOptions { strict, batch_size: 7, actor: "importer".into() };
    import(store, bank, &mut reader, &opts, &mut |_, _| {}, &mut |_| {})
}

fn banks_and_names(f: Fixture) {
    let s = &*f.store;
    bank(s, "A_1");
    assert!(matches!(
        s.create_bank(&NewBank { name: "A_1".into(), ..Default::default() }, "x"),
        Err(BankError::BankExists(_))
    ));
    assert!(matches!(
        s.create_bank(&NewBank { name: "a-1".into(), ..Default::default() }, "x"),
        Err(BankError::InvalidBankName(_))
    ));
    assert!(matches!(s.bank("NOPE"), Err(BankError::NoSuchBank(_))));
    assert!(matches!(s.add_entries("NOPE", &[], "x"), Err(BankError::NoSuchBank(_))));
    bank(s, "B");
    let names: Vec<_> = s.banks().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["A_1", "B"]);
    let b = s.bank("A_1").unwrap();
    assert_eq!((b.owner.as_str(), b.enabled, b.pdq_radius), ("Hotline", true, 31));
    let log = s.log(None, 0, 100).unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|c| c.action == Action::CreateBank && c.actor == "tester"));
    // Reopening the same store migrates nothing and keeps the data.
    drop(f.store);
    let again = spoor_bank::open(&f.location).unwrap();
    assert_eq!(again.banks().unwrap().len(), 2);
}

fn idempotent_add_and_import(f: Fixture) {
    let s = &*f.store;
    bank(s, "X");
    let hs = rand_hashes(20, 1);
    let out = s.add_entries("X", &[pdq(&hs[0]), pdq(&hs[1]), pdq(&hs[0])], "api").unwrap();
    let id0 = match out[0] {
        Added::New(id) => id,
        other => panic!("{other:?}"),
    };
    assert!(matches!(out[1], Added::New(_)));
    assert_eq!(out[2], Added::Present(id0));
    assert_eq!(s.add_entries("X", &[pdq(&hs[1])], "api").unwrap(), [out[1].present()]);

    let text: String = hs.iter().map(|h| format!("{h}\n")).collect::<String>() + "not-a-hash\n";
    let r = run_import(s, "X", &text, false).unwrap();
    assert_eq!((r.added, r.already_present, r.rejected, r.lines), (18, 2, 1, 21));
    let r = run_import(s, "X", &text, false).unwrap();
    assert_eq!((r.added, r.already_present, r.rejected), (0, 20, 1));
    let stats = s.stats("X").unwrap();
    assert_eq!((stats.entries, stats.enabled), (20, 20));
    // Each added entry is one change-log record, with the importer as actor.
    let adds: Vec<_> = s
        .log(Some("X"), 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|c| c.action == Action::Add)
        .collect();
    assert_eq!(adds.len(), 20);
    assert_eq!(adds.iter().filter(|c| c.actor == "importer").count(), 18);
    // Sequence numbers are strictly increasing.
    let log = s.log(None, 0, 1000).unwrap();
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
}

fn strict_import_changes_nothing(f: Fixture) {
    let s = &*f.store;
    bank(s, "S");
    let hs = rand_hashes(30, 2);
    let mut text: String = hs.iter().map(|h| format!("{h}\n")).collect();
    text.push_str("pdq 1234\n");
    let before = s.last_seq().unwrap();
    match run_import(s, "S", &text, true) {
        Err(ImportError::Strict { line: 31, reason }) => {
            assert!(reason.contains("hex digits"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.stats("S").unwrap().entries, 0);
    assert_eq!(s.last_seq().unwrap(), before);
    // The store is usable afterwards.
    text.truncate(text.len() - "pdq 1234\n".len());
    assert_eq!(run_import(s, "S", &text, true).unwrap().added, 30);
}

fn bad_input(f: Fixture) {
    let s = &*f.store;
    bank(s, "BAD");
    assert!(matches!(run_import(s, "BAD", "", false), Err(ImportError::Empty)));
    assert!(matches!(
        run_import(s, "BAD", "\n\n# only a comment\n", false),
        Err(ImportError::Empty)
    ));
    assert!(matches!(
        run_import(s, "NOPE", "x\n", false),
        Err(ImportError::Store(BankError::NoSuchBank(_)))
    ));
    let text =
        "signal_type,value\nphoto,abc\nmd5,abc\nsha1,00112233445566778899aabbccddeeff00112233\n";
    let mut rejected = Vec::new();
    let mut reader = Reader::new(text.as_bytes(), None, SignalType::Pdq).unwrap();
    assert_eq!(reader.format(), Format::Csv);
    let r = import(
        s,
        "BAD",
        &mut reader,
        &ImportOptions::default(),
        &mut |l, why| rejected.push((l, why.to_string())),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((r.added, r.rejected), (1, 2));
    assert_eq!(rejected[0].0, 2);
    assert!(rejected[0].1.contains("unknown signal type"), "{rejected:?}");
    assert_eq!(rejected[1].0, 3);
    assert!(rejected[1].1.contains("32 hex digits"), "{rejected:?}");
    // A wrong-length value handed to the store directly is refused with the entry named.
    let mut e = NewEntry::new(SignalType::Md5, vec![0; 5]);
    e.tags = vec!["ok".into()];
    assert!(
        matches!(s.add_entries("BAD", &[e], "x"), Err(BankError::Invalid(m)) if m.contains("entry 1"))
    );
}

fn disable_enable_delete_and_deltas(f: Fixture) {
    let s = &*f.store;
    bank(s, "D");
    let hs = rand_hashes(50, 3);
    let ids: Vec<i64> = s
        .add_entries("D", &hs.iter().map(pdq).collect::<Vec<_>>(), "api")
        .unwrap()
        .into_iter()
        .map(|a| a.id())
        .collect();

    // A follower: an index fed only from the change log.
    let mut follower = Follower::default();
    follower.catch_up(s);
    assert_eq!(follower.matches(&hs[7]), vec![ids[7]]);

    let n = s.last_seq().unwrap();
    assert!(
        matches!(s.set_enabled("D", ids[7], false, "curator", ""), Err(BankError::Invalid(_))),
        "a reason is required"
    );
    let change = s.set_enabled("D", ids[7], false, "curator", "stock photo").unwrap().unwrap();
    assert_eq!(
        (change.action, change.seq, change.entry_id),
        (Action::Disable, n + 1, Some(ids[7]))
    );
    assert_eq!(
        s.set_enabled("D", ids[7], false, "curator", "again").unwrap(),
        None,
        "no-op records nothing"
    );
    let since = s.log(Some("D"), n, 100).unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].reason.as_deref(), Some("stock photo"));
    let deltas = s.deltas(n, 100).unwrap();
    assert_eq!(deltas.len(), 1);
    assert_eq!((deltas[0].action, deltas[0].enabled), (Action::Disable, false));
    let e = s.entry("D", ids[7]).unwrap();
    assert!(!e.enabled);
    let d = e.disabled.unwrap();
    assert_eq!((d.by.as_str(), d.reason.as_str()), ("curator", "stock photo"));

    follower.catch_up(s);
    assert!(follower.matches(&hs[7]).is_empty(), "a disabled entry stops matching");
    assert_eq!(follower.matches(&hs[8]), vec![ids[8]]);

    s.set_enabled("D", ids[7], true, "curator", "reviewed again").unwrap().unwrap();
    follower.catch_up(s);
    assert_eq!(follower.matches(&hs[7]), vec![ids[7]]);
    assert!(s.entry("D", ids[7]).unwrap().disabled.is_none());

    // Reclassifying is one `update` record; the value never changes.
    let n = s.last_seq().unwrap();
    let update = spoor_bank::EntryUpdate {
        category: Some(Some(Category::NotIllegal)),
        tags: Some(vec!["reassessed".into()]),
        verified_by: Some(Some("analyst 3".into())),
        ..Default::default()
    };
    let (e, change) = s.update_entry("D", ids[8], &update, "analyst 3", "second opinion").unwrap();
    assert_eq!(
        (e.category, e.tags.as_slice(), e.seq),
        (Some(Category::NotIllegal), &["reassessed".to_string()][..], n + 1)
    );
    assert!(e.verified_at.is_some());
    assert_eq!(change.unwrap().action, Action::Update);
    assert_eq!(s.entry("D", ids[8]).unwrap(), e);
    let (_, none) = s.update_entry("D", ids[8], &update, "analyst 3", "same again").unwrap();
    assert!(none.is_none(), "an update that changes nothing records nothing");
    let bad = spoor_bank::EntryUpdate { tags: Some(vec!["Bad Tag".into()]), ..Default::default() };
    assert!(matches!(s.update_entry("D", ids[8], &bad, "x", "y"), Err(BankError::Invalid(_))));
    assert_eq!(s.last_seq().unwrap(), n + 1);
    follower.catch_up(s);
    assert_eq!(follower.matches(&hs[8]), vec![ids[8]], "an update does not change matching");

    let del = s.delete_entry("D", ids[9], "admin", "court order").unwrap();
    assert_eq!(del.action, Action::Delete);
    assert!(matches!(s.entry("D", ids[9]), Err(BankError::NoSuchEntry { .. })));
    assert!(matches!(
        s.delete_entry("D", ids[9], "admin", "again"),
        Err(BankError::NoSuchEntry { .. })
    ));
    follower.catch_up(s);
    assert!(follower.matches(&hs[9]).is_empty());

    // A follower starting from scratch converges to the same state.
    let mut fresh = Follower::default();
    fresh.catch_up(s);
    assert_eq!(fresh.live, follower.live);
    assert_eq!(fresh.live.len(), 49);

    // Settings: one record naming what changed.
    let before = s.last_seq().unwrap();
    let settings = spoor_bank::BankSettings {
        pdq_radius: Some(20),
        review_required: Some(true),
        ..Default::default()
    };
    let b = s.configure_bank("D", &settings, "admin", "stricter list").unwrap();
    assert_eq!((b.pdq_radius, b.review_required), (20, true));
    assert_eq!(s.bank("D").unwrap(), b);
    let log = s.log(None, before, 10).unwrap();
    assert_eq!((log.len(), log[0].action), (1, Action::UpdateBank));
    assert!(log[0].reason.as_deref().unwrap().contains("pdq_radius=20"), "{log:?}");
    assert_eq!(s.configure_bank("D", &settings, "admin", "again").unwrap(), b);
    assert_eq!(s.last_seq().unwrap(), before + 1, "no change, no record");
    let too_far = spoor_bank::BankSettings { pdq_radius: Some(65), ..Default::default() };
    assert!(matches!(s.configure_bank("D", &too_far, "admin", "x"), Err(BankError::Invalid(_))));

    // HMA's ratio: kept as given (a share of HMA lookups, above 0 and at most 1), one record.
    assert_eq!(b.hma_enabled_ratio, 1.0, "every lookup by default");
    let before = s.last_seq().unwrap();
    let third = spoor_bank::BankSettings { hma_enabled_ratio: Some(0.3), ..Default::default() };
    let b = s.configure_bank("D", &third, "admin", "try on a share of HMA lookups").unwrap();
    assert_eq!(b.hma_enabled_ratio, 0.3);
    assert_eq!(s.bank("D").unwrap().hma_enabled_ratio.to_bits(), 0.3f64.to_bits());
    assert!(s.log(None, before, 10).unwrap()[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("hma_enabled_ratio=0.3"));
    for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
        let r = spoor_bank::BankSettings { hma_enabled_ratio: Some(bad), ..Default::default() };
        assert!(
            matches!(s.configure_bank("D", &r, "admin", "x"), Err(BankError::Invalid(_))),
            "{bad}"
        );
        let n = NewBank {
            name: "RATIO_BAD".into(),
            hma_enabled_ratio: Some(bad),
            ..Default::default()
        };
        assert!(matches!(s.create_bank(&n, "admin"), Err(BankError::Invalid(_))), "{bad}");
    }
    let n = NewBank { name: "RATIO".into(), hma_enabled_ratio: Some(0.125), ..Default::default() };
    assert_eq!(s.create_bank(&n, "admin").unwrap().hma_enabled_ratio, 0.125);
    assert_eq!(s.bank("RATIO").unwrap().hma_enabled_ratio, 0.125);

    // Switching a whole bank off is one record too.
    let before = s.last_seq().unwrap();
    assert!(!s.set_bank_enabled("D", false, "admin", "list under review").unwrap().enabled);
    assert_eq!(s.log(None, before, 10).unwrap()[0].action, Action::UpdateBank);
}

fn export_import_round_trip(f: Fixture, g: Fixture) {
    let s = &*f.store;
    bank(s, "SRC");
    let hs = rand_hashes(25, 4);
    let mut entries: Vec<NewEntry> = hs.iter().map(pdq).collect();
    entries[0].category = Some(Category::Baseline);
    entries[0].severity = Some(spoor_bank::Severity::A);
    entries[0].tags = vec!["series:x".into(), "verified".into()];
    entries[0].source_org = Some("Hotline, \"NL\"".into());
    entries[0].source_id = Some("case 17".into());
    entries[0].verified_by = Some("analyst 2".into());
    entries[0].verified_at = Some(1_790_000_000_000);
    entries[1] = NewEntry::new(SignalType::Md5, vec![7; 16]);
    entries[2] = NewEntry::new(SignalType::PhotoDna, (0..144).map(|i| i as u8).collect());
    let vpdq = format!("[\"{},100,0.000\",\"{},87,1.000\"]", hs[0], hs[1]);
    entries[3] = NewEntry::new(SignalType::Vpdq, SignalType::Vpdq.parse(&vpdq).unwrap());
    let ids: Vec<i64> =
        s.add_entries("SRC", &entries, "analyst").unwrap().iter().map(|a| a.id()).collect();
    s.set_enabled("SRC", ids[4], false, "curator", "not abuse, stock photo").unwrap();

    for format in [ExportFormat::Jsonl, ExportFormat::Csv] {
        let mut ex = Exporter::new(Vec::new(), format, SignalType::Pdq).unwrap();
        assert_eq!(s.export("SRC", None, &mut |e| ex.write(e)).unwrap(), 25);
        let text = String::from_utf8(ex.finish().unwrap()).unwrap();
        let t = &*g.store;
        let name = format!("DST_{format:?}").to_uppercase();
        bank(t, &name);
        let r = run_import(t, &name, &text, true).unwrap();
        assert_eq!((r.added, r.rejected), (25, 0), "{format:?}");
        assert_eq!(comparable(s, "SRC"), comparable(t, &name), "{format:?}");
    }

    // Lines: enabled PDQ values only, ready for `spoor match --against`.
    let mut ex = Exporter::new(Vec::new(), ExportFormat::Lines, SignalType::Pdq).unwrap();
    s.export("SRC", None, &mut |e| ex.write(e)).unwrap();
    assert_eq!(ex.skipped, 4);
    assert_eq!(String::from_utf8(ex.finish().unwrap()).unwrap().lines().count(), 21);

    // --since: only what changed after that sequence number.
    let n = s.last_seq().unwrap();
    s.set_enabled("SRC", ids[5], false, "curator", "duplicate of another list").unwrap();
    let mut changed = Vec::new();
    assert_eq!(
        s.export("SRC", Some(n), &mut |e| {
            changed.push(e.id);
            Ok(())
        })
        .unwrap(),
        1
    );
    assert_eq!(changed, [ids[5]]);
}

/// Everything about a bank's entries except store-local ids and sequence numbers.
fn comparable(s: &dyn Store, bank: &str) -> Vec<String> {
    let mut out = Vec::new();
    s.export(bank, None, &mut |e| {
        let mut e = e.clone();
        e.id = 0;
        e.seq = 0;
        e.bank = String::new();
        out.push(format!("{e:?}"));
        Ok(())
    })
    .unwrap();
    out.sort();
    out
}

fn concurrent_writers_commit_in_sequence(f: Fixture) {
    let s = &*f.store;
    bank(s, "C");
    let second = spoor_bank::open(&f.location).unwrap();
    let hs = rand_hashes(400, 5);
    let mut follower = Follower::default();
    std::thread::scope(|scope| {
        let (a, b) = hs.split_at(200);
        let s2 = &*second;
        scope.spawn(move || {
            for c in a.chunks(10) {
                s.add_entries("C", &c.iter().map(pdq).collect::<Vec<_>>(), "w1").unwrap();
            }
        });
        scope.spawn(move || {
            for c in b.chunks(10) {
                s2.add_entries("C", &c.iter().map(pdq).collect::<Vec<_>>(), "w2").unwrap();
            }
        });
        // Follow while they write: every change is seen exactly once, in order.
        let reader = spoor_bank::open(&f.location).unwrap();
        for _ in 0..200 {
            follower.catch_up(&*reader);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    follower.catch_up(s);
    assert_eq!(follower.live.len(), 400);
    assert_eq!(follower.applied, 400, "each add applied once");
}

fn keys_and_signals(f: Fixture) {
    use spoor_bank::{ApiKey, Role};
    let s = &*f.store;
    let key = ApiKey {
        key_id: "k1".into(),
        name: "uploads".into(),
        role: Role::Matcher,
        banks: Some(vec!["A".into(), "B".into()]),
        created_by: "admin".into(),
        created_at: 1,
        revoked_by: None,
        revoked_at: None,
        show_distance: false,
    };
    s.create_key(&key, &[7; 32]).unwrap();
    assert!(matches!(s.create_key(&key, &[8; 32]), Err(BankError::KeyExists(_))));
    let keys = s.keys().unwrap();
    assert_eq!(keys, vec![(key.clone(), vec![7; 32])]);
    let revoked = s.revoke_key("uploads", "admin").unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(s.revoke_key("nobody", "admin"), Err(BankError::NoSuchKey(_))));

    bank(s, "SIG");
    let hs = rand_hashes(5, 6);
    let mut entries: Vec<NewEntry> = hs.iter().map(pdq).collect();
    entries[2].category = Some(Category::National);
    let ids: Vec<i64> =
        s.add_entries("SIG", &entries, "x").unwrap().iter().map(|a| a.id()).collect();
    s.set_enabled("SIG", ids[1], false, "x", "why").unwrap();
    let rows = s.signals(ids[0], 2).unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), &ids[1..3]);
    assert!(!rows[0].enabled);
    assert_eq!(rows[1].category, Some(Category::National));
    assert_eq!(rows[1].value, hs[2].to_bytes());
}

fn text(h: &Hash256) -> Option<String> {
    Some(SignalType::Pdq.format(&h.to_bytes()))
}

fn ids_never_reused_and_log_keeps_values(f: Fixture) {
    let s = &*f.store;
    bank(s, "R");
    let hs = rand_hashes(6, 7);
    let ids: Vec<i64> = s
        .add_entries("R", &[pdq(&hs[0]), pdq(&hs[1]), pdq(&hs[2])], "api")
        .unwrap()
        .iter()
        .map(|a| a.id())
        .collect();
    // Delete the newest entry, then add another: a new id, never the deleted one.
    s.delete_entry("R", ids[2], "admin", "wrong list").unwrap();
    let next = s.add_entries("R", &[pdq(&hs[3])], "api").unwrap()[0].id();
    assert!(next > ids[2], "id {next} reuses or precedes the deleted {}", ids[2]);
    // Still so after reopening the store.
    s.delete_entry("R", next, "admin", "wrong list").unwrap();
    drop(f.store);
    let s = spoor_bank::open(&f.location).unwrap();
    let again = s.add_entries("R", &[pdq(&hs[4])], "api").unwrap()[0].id();
    assert!(again > next, "id {again} after deleting {next}");

    // Each record names its own entry's value and state, read from the log alone.
    let log = s.log(Some("R"), 0, 100).unwrap();
    let of = |id: i64| log.iter().filter(move |c| c.entry_id == Some(id));
    let deleted: Vec<_> = of(ids[2]).map(|c| (c.action, c.value.clone(), c.enabled)).collect();
    assert_eq!(
        deleted,
        [(Action::Add, text(&hs[2]), Some(true)), (Action::Delete, text(&hs[2]), Some(false))]
    );
    let later: Vec<_> = of(next).map(|c| (c.action, c.value.clone())).collect();
    assert_eq!(later, [(Action::Add, text(&hs[3])), (Action::Delete, text(&hs[3]))]);
    assert!(log.iter().all(|c| c.bank == "R"));
    let add = of(ids[0]).next().unwrap();
    assert_eq!((add.signal_type, add.reason.as_deref()), (Some(SignalType::Pdq), None));
    // The JSON a curator reads carries the value.
    let json = serde_json::to_value(add).unwrap();
    assert_eq!(json["value"], text(&hs[0]).unwrap());
    assert_eq!(
        (json["signal_type"].as_str(), json["enabled"].as_bool()),
        (Some("pdq"), Some(true))
    );
}

fn patch_is_all_or_nothing(f: Fixture) {
    let s = &*f.store;
    bank(s, "P");
    let hs = rand_hashes(2, 8);
    let id = s.add_entries("P", &[pdq(&hs[0])], "api").unwrap()[0].id();
    let before = s.entry("P", id).unwrap();
    let n = s.last_seq().unwrap();

    // An invalid update with a disable: an error, and nothing written, not even the disable.
    let bad = EntryUpdate { tags: Some(vec!["BAD TAG".into()]), ..Default::default() };
    assert!(matches!(
        s.patch_entry("P", id, Some(false), &bad, "curator", "mixed"),
        Err(BankError::Invalid(m)) if m.contains("BAD TAG")
    ));
    let too_long = EntryUpdate { source_org: Some(Some("x".repeat(300))), ..Default::default() };
    assert!(s.patch_entry("P", id, Some(false), &too_long, "curator", "mixed").is_err());
    assert!(matches!(
        s.patch_entry("P", id, Some(false), &EntryUpdate::default(), "curator", " "),
        Err(BankError::Invalid(_))
    ));
    assert!(matches!(
        s.patch_entry("P", id + 100, Some(false), &EntryUpdate::default(), "curator", "x"),
        Err(BankError::NoSuchEntry { .. })
    ));
    assert_eq!(s.entry("P", id).unwrap(), before);
    assert_eq!(s.last_seq().unwrap(), n);

    // Disable and reclassify at once: two records, in one commit, each with its state after.
    let update = EntryUpdate {
        category: Some(Some(Category::Baseline)),
        severity: Some(Some(Severity::B)),
        ..Default::default()
    };
    let (e, changes) = s.patch_entry("P", id, Some(false), &update, "curator", "assessed").unwrap();
    assert_eq!(
        (e.enabled, e.category, e.severity),
        (false, Some(Category::Baseline), Some(Severity::B))
    );
    let d = e.disabled.as_ref().unwrap();
    assert_eq!((d.by.as_str(), d.reason.as_str()), ("curator", "assessed"));
    let got: Vec<_> = changes.iter().map(|c| (c.seq, c.action, c.enabled, c.category)).collect();
    assert_eq!(
        got,
        [
            (n + 1, Action::Disable, Some(false), None),
            (n + 2, Action::Update, Some(false), Some(Category::Baseline)),
        ]
    );
    assert_eq!(e.seq, n + 2);
    assert_eq!(s.entry("P", id).unwrap(), e);
    assert_eq!(s.log(Some("P"), n, 10).unwrap(), changes, "the log holds what was returned");

    // The same again changes nothing and records nothing.
    let (same, none) = s.patch_entry("P", id, Some(false), &update, "curator", "again").unwrap();
    assert!(none.is_empty());
    assert_eq!(same, e);
    assert_eq!(s.last_seq().unwrap(), n + 2);

    // Enabling alone: one record; the disabled_* fields are cleared.
    let (e, changes) =
        s.patch_entry("P", id, Some(true), &EntryUpdate::default(), "curator", "ok").unwrap();
    assert_eq!((changes.len(), changes[0].action, e.enabled), (1, Action::Enable, true));
    assert!(e.disabled.is_none());
    assert_eq!(changes[0].category, Some(Category::Baseline));
}

fn reimport_consumes_no_ids(f: Fixture) {
    let s = &*f.store;
    bank(s, "Q");
    let text: String = rand_hashes(1000, 9).iter().map(|h| format!("{h}\n")).collect();
    let opts = ImportOptions { strict: false, batch_size: 300, actor: "importer".into() };
    for round in 0..3 {
        let mut reader = Reader::new(text.as_bytes(), None, SignalType::Pdq).unwrap();
        let r = import(s, "Q", &mut reader, &opts, &mut |_, _| {}, &mut |_| {}).unwrap();
        assert_eq!(r.added, if round == 0 { 1000 } else { 0 });
    }
    let max = s.entries("Q", 0, 2000).unwrap().iter().map(|e| e.id).max().unwrap();
    // A batch holding present signals and a signal twice draws one id, for the new one.
    let h = rand_hashes(1, 10)[0];
    let present: Hash256 = text.lines().next().unwrap().parse().unwrap();
    let out = s.add_entries("Q", &[pdq(&present), pdq(&h), pdq(&h)], "api").unwrap();
    assert_eq!(out[1], Added::New(max + 1), "re-imports consumed ids: {out:?}");
    assert_eq!(out[2], Added::Present(max + 1));
    assert!(matches!(out[0], Added::Present(id) if id > 0 && id <= max));
}

/// One step of a random curation session.
#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    Disable(usize),
    Enable(usize),
    Update(usize, Option<Category>),
    Delete(usize),
    DeleteNewestThenAdd(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let category = prop_oneof![
        Just(None),
        Just(Some(Category::Baseline)),
        Just(Some(Category::National)),
        Just(Some(Category::NotIllegal)),
    ];
    prop_oneof![
        3 => (0..12usize).prop_map(Op::Add),
        1 => any::<usize>().prop_map(Op::Disable),
        1 => any::<usize>().prop_map(Op::Enable),
        1 => (any::<usize>(), category).prop_map(|(i, c)| Op::Update(i, c)),
        1 => any::<usize>().prop_map(Op::Delete),
        1 => (0..12usize).prop_map(Op::DeleteNewestThenAdd),
    ]
}

/// What a follower keeps of an entry: bank, signal, enabled, category.
type Live = BTreeMap<i64, (i64, SignalType, Vec<u8>, bool, Option<Category>)>;

/// Runs `ops` on a fresh store, then checks that the change log alone replays to the live
/// entries, that no id was handed out twice, and that every record names its own entry's value.
fn replay_case(open: &dyn Fn() -> Option<Fixture>, ops: &[Op]) {
    let Some(f) = open() else { return };
    let s = &*f.store;
    bank(s, "A");
    bank(s, "B");
    let hs = rand_hashes(12, 11);
    let mut given: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut live: Vec<(String, i64)> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let pick = |i: usize| (!live.is_empty()).then(|| live[i % live.len()].clone());
        let bank_of = |k: usize| if k.is_multiple_of(2) { "A" } else { "B" };
        let mut add = |k: usize, live: &mut Vec<(String, i64)>| {
            let mut e = pdq(&hs[k]);
            e.enabled = n % 5 != 4;
            if !e.enabled {
                e.disabled =
                    Some(spoor_bank::Disabled { by: "x".into(), at: 1, reason: "y".into() });
            }
            if let Added::New(id) = s.add_entries(bank_of(k), &[e], "p").unwrap()[0] {
                assert!(given.insert(id, hs[k].to_bytes().to_vec()).is_none(), "id {id} reused");
                live.push((bank_of(k).to_string(), id));
            }
        };
        match op {
            Op::Add(k) => add(*k, &mut live),
            Op::Disable(i) | Op::Enable(i) => {
                if let Some((b, id)) = pick(*i) {
                    let on = matches!(op, Op::Enable(_));
                    s.set_enabled(&b, id, on, "p", "r").unwrap();
                }
            }
            Op::Update(i, c) => {
                if let Some((b, id)) = pick(*i) {
                    let u = EntryUpdate { category: Some(*c), ..Default::default() };
                    s.update_entry(&b, id, &u, "p", "r").unwrap();
                }
            }
            Op::Delete(i) => {
                if let Some((b, id)) = pick(*i) {
                    s.delete_entry(&b, id, "p", "r").unwrap();
                    live.retain(|x| x.1 != id);
                }
            }
            Op::DeleteNewestThenAdd(k) => {
                if let Some((b, id)) = live.iter().max_by_key(|x| x.1).cloned() {
                    s.delete_entry(&b, id, "p", "r").unwrap();
                    live.retain(|x| x.1 != id);
                }
                add(*k, &mut live);
            }
        }
    }
    // Replay the change log alone.
    let mut replayed = Live::new();
    for d in s.deltas(0, 100_000).unwrap() {
        let (Some(id), Some((t, v))) = (d.entry_id, d.signal) else { continue };
        assert_eq!(given.get(&id), Some(&v), "record {} of entry {id} names another value", d.seq);
        if d.action == Action::Delete {
            assert!(replayed.remove(&id).is_some(), "delete of an entry never added");
        } else {
            replayed.insert(id, (d.bank_id, t, v, d.enabled, d.category));
        }
    }
    let stored: Live = s
        .signals(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, (r.bank_id, r.signal_type, r.value, r.enabled, r.category)))
        .collect();
    assert_eq!(replayed, stored);
    // Every record of an entry, deleted or not, names that entry's own value and bank.
    for c in s.log(None, 0, 100_000).unwrap() {
        if let Some(id) = c.entry_id {
            assert_eq!(c.value, Some(SignalType::Pdq.format(&given[&id])), "{c:?}");
        }
    }
}

fn replay_property(open: &dyn Fn() -> Option<Fixture>, cases: u32) {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            replay_case(open, &ops);
            Ok(())
        })
        .unwrap();
}

#[test]
fn sqlite_log_replays_to_live_entries() {
    replay_property(&|| Some(sqlite()), 48);
}

#[test]
fn postgres_log_replays_to_live_entries() {
    if postgres_url().is_none() {
        return;
    }
    replay_property(&postgres, 24);
}

#[test]
fn sqlite_reads_do_not_wait_for_a_writer() {
    let f = sqlite();
    let store: std::sync::Arc<dyn Store> = f.store.into();
    bank(&*store, "W");
    let first = store.add_entries("W", &[pdq(&rand_hashes(1, 13)[0])], "api").unwrap()[0].id();
    let seq = store.last_seq().unwrap();
    // A one-transaction import holds the writer lock between its batches.
    let mut session = store.import_session("W", "importer", true).unwrap();
    let batch: Vec<NewEntry> = rand_hashes(50, 14).iter().map(pdq).collect();
    assert_eq!(session.write_batch(&batch).unwrap().added, 50);
    // Every read answers meanwhile, and sees what is committed only.
    let (done, rx) = std::sync::mpsc::channel();
    let reader = store.clone();
    std::thread::spawn(move || {
        let s = &*reader;
        let seen = (
            s.entries("W", 0, 100).unwrap().len(),
            s.entry("W", first).unwrap().id,
            s.banks().unwrap().len(),
            s.bank("W").unwrap().name,
            s.stats("W").unwrap().entries,
            s.log(Some("W"), 0, 100).unwrap().len(),
            s.deltas(0, 100).unwrap().len(),
            s.signals(0, 100).unwrap().len(),
            s.keys().unwrap().len(),
            s.last_seq().unwrap(),
        );
        let _ = done.send(seen);
    });
    let seen = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("reads waited for the writer's lock");
    assert_eq!(seen, (1, first, 1, "W".to_string(), 1, 2, 2, 1, 0, seq));
    session.finish().unwrap();
    assert_eq!(store.stats("W").unwrap().entries, 51);
}

/// What the schema-3 fixtures' logs must read after migration (see tests/fixtures/README.md).
fn check_migrated(s: &dyn Store, reused_id: i64) {
    let h = |i: usize| Some(FIXTURE_PDQ[i].to_string());
    let md5 = Some("d41d8cd98f00b204e9800998ecf8427e".to_string());
    let log = s.log(Some("HOTLINE_NL"), 0, 100).unwrap();
    let got: Vec<_> =
        log.iter().map(|c| (c.seq, c.action, c.entry_id, c.value.clone(), c.enabled)).collect();
    use Action::*;
    let expected = vec![
        (1, CreateBank, None, None, None),
        (2, Add, Some(1), h(0), Some(true)),
        (3, Add, Some(2), h(1), Some(true)),
        (4, Add, Some(3), h(2), Some(true)),
        (5, Add, Some(4), h(3), Some(true)),
        (6, Add, Some(5), h(4), Some(true)),
        (7, Add, Some(6), md5.clone(), Some(true)),
        (8, Disable, Some(2), h(1), Some(false)),
        (9, Update, Some(3), h(2), Some(true)),
        (10, Disable, Some(4), h(3), Some(false)),
        (11, Enable, Some(4), h(3), Some(true)),
        (12, Delete, Some(6), md5, Some(false)),
        (13, Add, Some(reused_id), h(5), Some(true)),
        (14, Delete, Some(5), h(4), Some(false)),
    ];
    assert_eq!(got, expected);
    assert!(log.iter().all(|c| c.bank == "HOTLINE_NL"));
    // Migration 6 gave live entries the number of their add record: histories are whole.
    let history = |id| -> Vec<i64> {
        s.entry_history("HOTLINE_NL", id, 10).unwrap().iter().map(|c| c.seq).collect()
    };
    assert_eq!(history(4), [5, 10, 11]);
    assert_eq!(history(3), [4, 9]);
    assert_eq!(history(reused_id), [13]);
    assert_eq!(log[6].signal_type, Some(SignalType::Md5));
    assert_eq!((log[8].category, log[8].severity), (Some(Category::Baseline), Some(Severity::A)));
    // The back-filled log replays to the stored entries.
    let mut replayed = BTreeMap::new();
    for d in s.deltas(0, 100).unwrap() {
        let (Some(id), Some(sig)) = (d.entry_id, d.signal) else { continue };
        if d.action == Action::Delete {
            replayed.remove(&id);
        } else {
            replayed.insert(id, (sig, d.enabled, d.category));
        }
    }
    let stored: BTreeMap<_, _> = s
        .signals(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.id, ((r.signal_type, r.value), r.enabled, r.category)))
        .collect();
    assert_eq!(replayed, stored);
    // New ids collide with nothing ever named, and a deleted newest id is not handed out again.
    let hs = rand_hashes(2, 12);
    let a = s.add_entries("HOTLINE_NL", &[pdq(&hs[0])], "t").unwrap()[0].id();
    assert!(a > reused_id && a > 6, "new id {a}");
    s.delete_entry("HOTLINE_NL", a, "t", "newest").unwrap();
    let b = s.add_entries("HOTLINE_NL", &[pdq(&hs[1])], "t").unwrap()[0].id();
    assert!(b > a, "id {b} after deleting {a}");
    let last = s.log(None, 14, 10).unwrap();
    assert_eq!(last.first().map(|c| c.seq), Some(15));
    assert_eq!(
        last.iter().map(|c| c.value.clone()).collect::<Vec<_>>(),
        [text(&hs[0]), text(&hs[0]), text(&hs[1])]
    );
}

/// The fixtures' PDQ values, in the order the scenario adds them.
const FIXTURE_PDQ: [&str; 6] = [
    "0f0e0d0c0b0a09080706050403020100f0e1d2c3b4a5968778695a4b3c2d1e0f",
    "1111111111111111222222222222222233333333333333334444444444444444",
    "a5a5a5a5a5a5a5a55a5a5a5a5a5a5a5a0123456789abcdeffedcba9876543210",
    "ffffffffffffffff0000000000000000ffffffffffffffff0000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000ff",
    "ff00000000000000000000000000000000000000000000000000000000000000",
];

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn migrates_a_schema_3_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(fixture("spoor-v3.db"), data.join("spoor.db")).unwrap();
    let s = spoor_bank::open(&Location::DataDir(data)).unwrap();
    // Today's SQLite reused id 6 for the entry added after deleting the newest.
    check_migrated(&*s, 6);
}

#[test]
fn migrates_a_schema_3_postgres_dump() {
    let Some((url, schema)) = postgres_schema() else { return };
    let dump = std::fs::read_to_string(fixture("spoor-v3-postgres.sql")).unwrap();
    // psql meta-commands (`\restrict`) are not SQL; the schema exists already.
    let sql: String = dump
        .lines()
        .filter(|l| !l.starts_with('\\') && !l.starts_with("CREATE SCHEMA "))
        .map(|l| l.replace("spoor_fixture_v3", &schema) + "\n")
        .collect();
    let base = std::env::var("SPOOR_TEST_DATABASE_URL").unwrap();
    let mut admin = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap();
    admin.batch_execute(&sql).unwrap();
    let s = spoor_bank::open(&Location::Postgres(url)).unwrap();
    check_migrated(&*s, 7);
}

/// A minimal index follower: what the service does, in a few lines.
#[derive(Default)]
struct Follower {
    seq: i64,
    applied: usize,
    live: BTreeMap<i64, Hash256>,
    index: Option<PdqIndex>,
}

impl Follower {
    fn catch_up(&mut self, s: &dyn Store) {
        let index = self.index.get_or_insert_with(|| PdqIndex::build(Vec::new()));
        loop {
            let deltas = s.deltas(self.seq, 64).unwrap();
            if deltas.is_empty() {
                break;
            }
            for d in deltas {
                assert!(d.seq > self.seq, "sequence numbers go forward");
                self.seq = d.seq;
                let (Some(id), Some((SignalType::Pdq, v))) = (d.entry_id, d.signal) else {
                    continue;
                };
                if d.action == Action::Add {
                    self.applied += 1;
                }
                let h = Hash256::from_bytes(v.try_into().unwrap());
                let present = self.live.contains_key(&id);
                if d.enabled && !present {
                    index.insert(h, id as u64);
                    self.live.insert(id, h);
                } else if !d.enabled && present {
                    index.remove(&h, id as u64);
                    self.live.remove(&id);
                }
            }
        }
    }

    fn matches(&self, h: &Hash256) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.index.as_ref().unwrap().search(h, 0).iter().map(|hit| hit.id as i64).collect();
        ids.sort();
        ids
    }
}

trait AddedExt {
    fn id(&self) -> i64;
    fn present(&self) -> Added;
}

impl AddedExt for Added {
    fn id(&self) -> i64 {
        match *self {
            Added::New(id) | Added::Present(id) => id,
        }
    }
    fn present(&self) -> Added {
        Added::Present(self.id())
    }
}

/// A timed disable: the entry is enabled again once its time has passed, with a record saying
/// so; one that a person changed in the meantime (enabled, disabled for good, deleted) is left
/// as the person left it.
fn timed_disables_end_unless_superseded(f: Fixture) {
    let s = &*f.store;
    bank(s, "TIMED");
    let hs = rand_hashes(3, 77);
    let ids: Vec<i64> = s
        .add_entries("TIMED", &hs.iter().map(pdq).collect::<Vec<_>>(), "curator")
        .unwrap()
        .into_iter()
        .map(|a| match a {
            Added::New(id) => id,
            Added::Present(id) => panic!("{id} present"),
        })
        .collect();
    let t0 = 1_800_000_000_000;
    for &id in &ids {
        let e = spoor_bank::disable_until(s, "TIMED", id, t0, "curator", "checking a complaint")
            .unwrap();
        assert!(!e.enabled);
        assert_eq!(s.scheduled_enable(id).unwrap(), Some(t0));
    }
    let why = s.entry_history("TIMED", ids[0], 10).unwrap().pop().unwrap().reason.unwrap();
    assert!(why.starts_with("checking a complaint (until 2027-01-15"), "{why:?}");
    // A person decides about two of them before the time: one disabled for good, one deleted.
    s.set_enabled("TIMED", ids[1], true, "curator", "fine after all").unwrap();
    s.set_enabled("TIMED", ids[1], false, "curator", "abuse after all: for good").unwrap();
    s.delete_entry("TIMED", ids[2], "curator", "duplicate").unwrap();
    assert_eq!(spoor_bank::enable_due(s, t0 - 1).unwrap(), 0, "not yet");
    assert!(!s.entry("TIMED", ids[0]).unwrap().enabled);
    assert_eq!(spoor_bank::enable_due(s, t0).unwrap(), 1);
    let e = s.entry("TIMED", ids[0]).unwrap();
    assert!(e.enabled);
    let last = s.entry_history("TIMED", ids[0], 10).unwrap().pop().unwrap();
    assert_eq!(last.actor, spoor_bank::TIMED_ENABLE_ACTOR);
    assert!(last.reason.as_deref().unwrap().contains("that time has passed"), "{:?}", last.reason);
    assert!(!s.entry("TIMED", ids[1]).unwrap().enabled, "the later decision stands");
    for &id in &ids {
        assert_eq!(s.scheduled_enable(id).unwrap(), None, "every schedule is used up");
    }
    assert_eq!(spoor_bank::enable_due(s, t0 + 1).unwrap(), 0);
}

/// An exchange's changes applied twice (a pull that stopped before saving its position, then
/// ran again) change nothing the second time.
fn exchange_changes_apply_once(f: Fixture) {
    use spoor_bank::exchange::{apply, RemoteChange};
    let s = &*f.store;
    bank(s, "COPY");
    let h = rand_hashes(2, 91);
    let change = |seq: i64, action: &str, id: i64, h: &Hash256, enabled: bool| RemoteChange {
        seq,
        action: action.into(),
        entry_id: Some(id),
        signal_type: Some("pdq".into()),
        value: Some(h.to_string()),
        enabled: Some(enabled),
        category: Some("baseline".into()),
        severity: None,
        reason: Some("at the source".into()),
    };
    let page = vec![
        change(1, "add", 10, &h[0], true),
        change(2, "add", 11, &h[1], true),
        change(3, "disable", 10, &h[0], false),
        change(4, "delete", 11, &h[1], false),
    ];
    let first = apply(s, "SRC", "COPY", &page).unwrap();
    assert_eq!((first.added, first.changed, first.conflicts.len()), (2, 2, 0), "{first:?}");
    let log = s.last_seq().unwrap();
    let again = apply(s, "SRC", "COPY", &page).unwrap();
    // The disable is not applied backwards; the deleted signal (of which nothing is left here
    // to compare with) comes back by its add and goes again by its delete: the bank ends as it
    // was.
    assert_eq!((again.added, again.changed, again.conflicts.len()), (1, 1, 0), "{again:?}");
    let e = s.entry_by_value("COPY", SignalType::Pdq, &h[0].to_bytes()).unwrap().unwrap();
    assert!(
        !e.enabled
            && e.source_org.as_deref() == Some("SRC")
            && e.source_id.as_deref() == Some("10")
    );
    assert!(s.entry_by_value("COPY", SignalType::Pdq, &h[1].to_bytes()).unwrap().is_none());
    assert!(s.last_seq().unwrap() > log);
}

/// Exchanges: set up with checked fields (and audited, never with their key), leased to one
/// holder at a time, their pulls and conflicts recorded, removed with their position and
/// conflicts; a local decision kept against the source is a conflict naming the entry.
fn exchanges_set_up_leased_and_recorded(f: Fixture) {
    use spoor_bank::exchange::{apply, Conflict, ExchangeKey, NewExchange, Position, RemoteChange};
    let s = &*f.store;
    bank(s, "PARTNER");
    let key = "spoor_abc.0123456789abcdef";
    let new = |name: &str, url: &str, into: &str| NewExchange {
        name: name.into(),
        source_url: url.into(),
        remote_bank: "SHARED".into(),
        local_bank: into.into(),
        key: ExchangeKey(key.into()),
        interval_ms: 1000,
        page: 500,
    };
    for (x, what) in [
        (new("bad name", "http://127.0.0.1:1", "PARTNER"), "exchange name"),
        (new("p", "ftp://127.0.0.1:1", "PARTNER"), "http or https"),
        (new("p", "http://user:pw@127.0.0.1:1", "PARTNER"), "credentials"),
        (new("p", "http://127.0.0.1:1/?x=1", "PARTNER"), "without query"),
        (NewExchange { interval_ms: 5, ..new("p", "http://127.0.0.1:1", "PARTNER") }, "interval"),
        (NewExchange { page: 0, ..new("p", "http://127.0.0.1:1", "PARTNER") }, "page"),
        (
            NewExchange {
                key: ExchangeKey("nope".into()),
                ..new("p", "http://127.0.0.1:1", "PARTNER")
            },
            "not a Spoor key",
        ),
    ] {
        let e = s.create_exchange(&x, "admin").unwrap_err();
        assert!(matches!(e, BankError::Invalid(_)) && e.to_string().contains(what), "{e}");
    }
    assert!(matches!(
        s.create_exchange(&new("p", "http://127.0.0.1:1", "NOPE"), "admin"),
        Err(BankError::NoSuchBank(_))
    ));
    assert!(s.exchanges().unwrap().is_empty(), "nothing half-written");
    let x = s.create_exchange(&new("p", "http://127.0.0.1:1", "PARTNER"), "admin").unwrap();
    assert_eq!((x.position, x.failures, x.conflicts, x.key.0.as_str()), (0, 0, 0, key));
    assert!(!serde_json::to_string(&x).unwrap().contains(key), "the key is never serialised");
    assert!(!format!("{x:?}").contains(key), "nor shown in Debug output");
    assert!(matches!(
        s.create_exchange(&new("p", "http://127.0.0.1:2", "PARTNER"), "admin"),
        Err(BankError::Conflict(_))
    ));
    // A name a pull used for another source is not taken over.
    s.set_exchange_position(&Position {
        name: "q".into(),
        source_url: "http://127.0.0.1:9".into(),
        remote_bank: "OTHER".into(),
        local_bank: "PARTNER".into(),
        position: 5,
        updated_at: 1,
    })
    .unwrap();
    assert!(matches!(
        s.create_exchange(&new("q", "http://127.0.0.1:1", "PARTNER"), "admin"),
        Err(BankError::Conflict(_))
    ));
    // One holder at a time until its lease ends; the holder renews and lets go.
    assert!(s.lease_exchange("p", "a", 1000, 5000).unwrap());
    assert!(!s.lease_exchange("p", "b", 2000, 6000).unwrap());
    assert!(s.lease_exchange("p", "a", 3000, 8000).unwrap());
    let x = s.exchange("p").unwrap();
    assert_eq!(
        (x.running_at(7000), x.running_at(8000)),
        (Some(1000), None),
        "renewed, not restarted"
    );
    assert!(!s.lease_exchange("p", "b", 7999, 9000).unwrap());
    assert!(s.lease_exchange("p", "b", 8000, 9000).unwrap());
    assert!(s.lease_exchange("p", "b", 8500, 0).unwrap());
    assert!(s.lease_exchange("p", "a", 8600, 9000).unwrap());
    assert!(!s.lease_exchange("nope", "a", 0, 1).unwrap());
    // Pulls: a failure counts, a success clears it and keeps the last error away.
    let run = |error: Option<&str>, last: Option<i64>, added| spoor_bank::exchange::Run {
        at: 100,
        error: error.map(str::to_string),
        remote_last_seq: last,
        added,
        changed: 1,
    };
    s.exchange_ran("p", &run(Some("down"), None, 0)).unwrap();
    s.exchange_ran("p", &run(Some("down"), None, 0)).unwrap();
    let x = s.exchange("p").unwrap();
    assert_eq!((x.failures, x.last_error.as_deref(), x.last_success_at), (2, Some("down"), None));
    s.exchange_ran("p", &run(None, Some(40), 7)).unwrap();
    let x = s.exchange("p").unwrap();
    assert_eq!((x.failures, x.last_error.as_deref(), x.last_success_at), (0, None, Some(100)));
    assert_eq!((x.remote_last_seq, x.added, x.changed, x.lag()), (Some(40), 7, 3, 40));
    // A local disable wins over the source's enable: a conflict naming the entry, kept once.
    let h = rand_hashes(1, 93);
    let change = |seq: i64, action: &str, enabled: bool| RemoteChange {
        seq,
        action: action.into(),
        entry_id: Some(3),
        signal_type: Some("pdq".into()),
        value: Some(h[0].to_string()),
        enabled: Some(enabled),
        category: None,
        severity: None,
        reason: None,
    };
    apply(s, "p", "PARTNER", &[change(1, "add", true)]).unwrap();
    let e = s.entry_by_value("PARTNER", SignalType::Pdq, &h[0].to_bytes()).unwrap().unwrap();
    s.set_enabled("PARTNER", e.id, false, "curator", "false positive here").unwrap();
    let done = apply(s, "p", "PARTNER", &[change(2, "disable", false), change(3, "enable", true)])
        .unwrap();
    assert_eq!(done.conflicts.len(), 1, "{done:?}");
    let Conflict { remote_seq, entry_id, message } = done.conflicts[0].clone();
    assert_eq!((remote_seq, entry_id), (3, e.id));
    assert!(message.contains("changed here by curator"), "{message}");
    assert!(!s.entry("PARTNER", e.id).unwrap().enabled, "the local decision stands");
    s.add_exchange_conflicts("p", &done.conflicts, 10).unwrap();
    s.add_exchange_conflicts("p", &done.conflicts, 11).unwrap();
    let kept = s.exchange_conflicts("p", 0, 10).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].at, kept[0].conflict.entry_id), (10, e.id));
    assert_eq!(s.exchange("p").unwrap().conflicts, 1);
    assert!(s.exchange_conflicts("p", kept[0].id, 10).unwrap().is_empty(), "paged by id");
    // Removed with its position and conflicts; what it added stays; both steps audited.
    s.set_exchange_position(&Position {
        name: "p".into(),
        source_url: "http://127.0.0.1:1".into(),
        remote_bank: "SHARED".into(),
        local_bank: "PARTNER".into(),
        position: 3,
        updated_at: 1,
    })
    .unwrap();
    assert_eq!(s.exchange("p").unwrap().position, 3);
    s.delete_exchange("p", "admin").unwrap();
    assert!(matches!(s.exchange("p"), Err(BankError::NoSuchExchange(_))));
    assert!(matches!(s.delete_exchange("p", "admin"), Err(BankError::NoSuchExchange(_))));
    assert!(s.exchange_position("p").unwrap().is_none());
    assert!(s.exchange_conflicts("p", 0, 10).unwrap().is_empty());
    assert!(s.entry("PARTNER", e.id).is_ok());
    let audit = s.audit_records(&spoor_bank::AuditQuery::after(0, 10_000)).unwrap();
    let actions: Vec<&str> =
        audit.iter().filter(|r| r.object_kind == "exchange").map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["exchange_create", "exchange_delete"]);
    assert!(audit.iter().all(|r| !r.details.contains(key)), "no key in the log");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(f) = super::postgres() { super::$name(f) } })*
        }
    };
}

both!(
    banks_and_names,
    idempotent_add_and_import,
    strict_import_changes_nothing,
    bad_input,
    disable_enable_delete_and_deltas,
    concurrent_writers_commit_in_sequence,
    keys_and_signals,
    ids_never_reused_and_log_keeps_values,
    patch_is_all_or_nothing,
    reimport_consumes_no_ids,
    timed_disables_end_unless_superseded,
    exchange_changes_apply_once,
    exchanges_set_up_leased_and_recorded,
);

#[test]
fn export_import_round_trip_sqlite_to_sqlite() {
    export_import_round_trip(sqlite(), sqlite());
}

#[test]
fn export_import_round_trip_postgres_to_sqlite_and_back() {
    let (Some(p), Some(q)) = (postgres(), postgres()) else { return };
    export_import_round_trip(p, sqlite());
    export_import_round_trip(sqlite(), q);
}
