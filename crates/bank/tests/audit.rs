//! The audit log in both stores: what the store records itself, the chain under concurrent
//! appends, filters, checkpoints, and tampering by someone with direct database access (who
//! drops the append-only triggers first), which verification must catch and name.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::Arc;

use serde_json::json;
use spoor_audit::{generate_key, ActorKind, Break, Checkpoint, NewRecord};
use spoor_bank::audit::verify;
use spoor_bank::import::{import, ImportOptions, Reader};
use spoor_bank::{AuditQuery, EntryUpdate, Location, NewBank, NewEntry, Role, Store};
use spoor_core::{Hash256, SignalType};

struct Fixture {
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

/// Direct access to the database, as an intruder or a careless administrator would have.
enum Raw {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Raw {
    fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Raw::Postgres(url) => {
                let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
                c.batch_execute(sql).unwrap();
            }
        }
    }

    fn try_exec(&self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Raw::Postgres(url) => {
                let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
                c.batch_execute(sql).map_err(|e| format!("{e:?}"))
            }
        }
    }

    /// Drops the triggers that make the log append-only.
    fn unprotect(&self) {
        match self {
            Raw::Sqlite(_) => self.exec(
                "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;
                 DROP TRIGGER audit_checkpoints_append_only_delete;",
            ),
            Raw::Postgres(_) => self.exec(
                "DROP TRIGGER audit_append_only ON audit;
                 DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints;",
            ),
        }
    }
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = spoor_bank::open(&Location::DataDir(data.clone())).unwrap();
    Fixture { store: Arc::from(store), raw: Raw::Sqlite(data.join("spoor.db")), _dir: Some(dir) }
}

fn postgres() -> Option<Fixture> {
    let (url, _) = common::postgres_schema()?;
    let store = spoor_bank::open(&Location::Postgres(url.clone())).unwrap();
    Some(Fixture { store: Arc::from(store), raw: Raw::Postgres(url), _dir: None })
}

fn both(test: fn(Fixture)) {
    test(sqlite());
    if let Some(f) = postgres() {
        test(f);
    }
}

fn pdq(h: &Hash256) -> NewEntry {
    NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec())
}

fn all(store: &dyn Store) -> Vec<spoor_audit::Record> {
    store.audit_records(&AuditQuery::after(0, 10_000)).unwrap()
}

fn verified(store: &dyn Store) -> spoor_bank::VerifyReport {
    verify(store, &[], None, &mut |_| {}).unwrap()
}

fn login(n: usize) -> NewRecord {
    NewRecord::new(ActorKind::User, "alice", "login", "user", "alice")
        .with_details(json!({"address": "127.0.0.1", "n": n}))
}

/// Every bank and key change is audited with the change-log number it made, in the same
/// transaction; details never carry a banked value.
fn store_changes_are_audited(f: Fixture) {
    let s = &*f.store;
    let hs = common::hashes(5, 7);
    s.create_bank(&NewBank { name: "HOTLINE".into(), ..Default::default() }, "key:admin").unwrap();
    s.add_entries("HOTLINE", &hs[..3].iter().map(pdq).collect::<Vec<_>>(), "user:carol").unwrap();
    // Nothing new: no record.
    s.add_entries("HOTLINE", &[pdq(&hs[0])], "user:carol").unwrap();
    let id = s.entries("HOTLINE", 0, 1).unwrap()[0].id;
    s.set_enabled("HOTLINE", id, false, "user:carol", "stock photo").unwrap();
    s.update_entry(
        "HOTLINE",
        id,
        &EntryUpdate { tags: Some(vec!["stock".into()]), ..Default::default() },
        "user:carol",
        "tagged",
    )
    .unwrap();
    s.delete_entry("HOTLINE", id, "cli:root", "duplicate").unwrap();
    s.set_bank_enabled("HOTLINE", false, "key:admin", "audit").unwrap();
    let text: String = hs[3..].iter().map(|h| format!("{h}\n")).collect();
    let mut reader = Reader::new(text.as_bytes(), None, SignalType::Pdq).unwrap();
    let opts = ImportOptions { strict: false, batch_size: 10, actor: "cli:root".into() };
    import(s, "HOTLINE", &mut reader, &opts, &mut |_, _| {}, &mut |_| {}).unwrap();
    let key = spoor_bank::ApiKey {
        key_id: "0a0b0c0d0e0f".into(),
        name: "hoster".into(),
        role: Role::Matcher,
        banks: None,
        created_by: "user:dana".into(),
        created_at: 1,
        revoked_by: None,
        revoked_at: None,
        show_distance: false,
    };
    s.create_key(&key, &[7; 32]).unwrap();
    s.revoke_key("hoster", "user:dana").unwrap();
    // Revoking again changes nothing and records nothing.
    s.revoke_key("hoster", "user:dana").unwrap();

    let log = all(s);
    let actions: Vec<(&str, &str, &str)> =
        log.iter().map(|r| (r.action.as_str(), r.actor_kind.as_str(), r.actor.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("bank_create", "key", "admin"),
            ("entries_add", "user", "carol"),
            ("entry_disable", "user", "carol"),
            ("entry_update", "user", "carol"),
            ("entry_delete", "cli", "root"),
            ("bank_pause", "key", "admin"),
            ("entries_import", "cli", "root"),
            ("key_create", "user", "dana"),
            ("key_revoke", "user", "dana"),
        ]
    );
    let changes = s.log(None, 0, 100).unwrap();
    let seq_of = |r: &spoor_audit::Record, field: &str| r.details_json()[field].as_i64().unwrap();
    assert_eq!(seq_of(&log[0], "change_seq"), changes[0].seq);
    assert_eq!(log[1].details_json()["added"], 3);
    assert_eq!((seq_of(&log[1], "first_change_seq"), seq_of(&log[1], "last_change_seq")), (2, 4));
    for (r, c) in log[2..6].iter().zip(&changes[4..8]) {
        assert_eq!(seq_of(r, "change_seq"), c.seq, "{r:?}");
    }
    assert_eq!(log[2].object_id, id.to_string());
    assert_eq!(log[2].details_json()["reason"], "stock photo");
    assert_eq!(log[6].details_json()["added"], 2);
    assert_eq!(log[7].details_json()["role"], "matcher");
    // No banked value, in any form, in any record.
    for h in &hs {
        let hex = h.to_string();
        for r in &log {
            assert!(!r.details.contains(&hex) && !r.object_id.contains(&hex), "{r:?}");
        }
    }
    let report = verified(s);
    assert_eq!((report.records, report.broken), (9, None));
}

#[test]
fn sqlite_store_changes_are_audited() {
    store_changes_are_audited(sqlite());
}

#[test]
fn postgres_store_changes_are_audited() {
    if let Some(f) = postgres() {
        store_changes_are_audited(f);
    }
}

/// A refused write leaves no audit record; an invalid audit record is refused whole.
fn refused_writes_leave_nothing(f: Fixture) {
    let s = &*f.store;
    s.create_bank(&NewBank { name: "B".into(), ..Default::default() }, "key:admin").unwrap();
    let before = all(s).len();
    assert!(s.set_bank_enabled("B", false, "key:admin", " ").is_err());
    assert!(s.set_enabled("B", 12345, false, "key:admin", "x").is_err());
    let mut bad = login(1);
    bad.action = "Not Valid".into();
    let err = s.audit_append(&bad).unwrap_err().to_string();
    assert!(err.contains("action"), "{err}");
    assert!(s.audit_append_all(&[login(1), bad]).is_err());
    assert_eq!(all(s).len(), before);
}

#[test]
fn refused_writes_leave_nothing_on_both_stores() {
    both(refused_writes_leave_nothing);
}

/// Appends from many threads (and, on PostgreSQL, many pooled connections) interleaved with
/// bank writes keep one unbroken chain.
fn concurrent_appends_keep_one_chain(f: Fixture) {
    f.store.create_bank(&NewBank { name: "C".into(), ..Default::default() }, "key:a").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = f.store.clone();
            std::thread::spawn(move || {
                let hs = common::hashes(20, 100 + t);
                for (i, h) in hs.iter().enumerate() {
                    // Page views are appended relaxed, changes flushed: one chain all the same.
                    if i % 2 == 0 {
                        store.audit_append(&login(i)).unwrap();
                    } else {
                        store.audit_append_relaxed(&login(i)).unwrap();
                    }
                    if i % 4 == 0 {
                        store.add_entries("C", &[pdq(h)], "key:a").unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let log = all(&*f.store);
    assert_eq!(log.len(), 1 + 4 * 20 + 4 * 5);
    assert!(log.iter().enumerate().all(|(i, r)| r.seq == i as i64 + 1));
    let report = verified(&*f.store);
    assert_eq!(report.broken, None);
    assert_eq!(report.head, f.store.audit_head().unwrap());
}

#[test]
fn concurrent_appends_keep_one_chain_on_both_stores() {
    both(concurrent_appends_keep_one_chain);
}

/// A relaxed append (on PostgreSQL, hashed inside the server from hex-encoded values) keeps
/// every text exactly, however it is quoted, and returns the record the store holds.
fn relaxed_appends_keep_awkward_text(f: Fixture) {
    let s = &*f.store;
    let texts = [
        "it's",
        "a\\b",
        "$$; DROP TABLE audit; --",
        "é ✓ 𝄞",
        "', 'x'); COMMIT; SELECT ('",
        "\\'' E'\\x41'",
    ];
    let mut returned = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let rec =
            NewRecord::new(ActorKind::User, &format!("o'neil{i}"), "entries_search", "bank", t)
                .with_details(json!({"query": t, "quote": "\"\\", "nul": "\u{0}", "n": i}));
        returned.push(s.audit_append_relaxed(&rec).unwrap());
    }
    let log = all(s);
    assert_eq!(log, returned);
    for (r, t) in log.iter().zip(texts) {
        assert_eq!(r.object_id, t);
        assert_eq!(r.details_json()["query"], t);
        assert_eq!(r.details_json()["nul"], "\u{0}");
    }
    assert_eq!(verified(s).broken, None);
}

#[test]
fn relaxed_appends_keep_awkward_text_on_both_stores() {
    both(relaxed_appends_keep_awkward_text);
}

fn filters_and_pages(f: Fixture) {
    let s = &*f.store;
    let mut batch = vec![];
    for i in 0..30 {
        let actor = if i % 3 == 0 { "bob" } else { "alice" };
        let action = if i % 2 == 0 { "login" } else { "entries_view" };
        batch.push(NewRecord::new(ActorKind::User, actor, action, "bank", &format!("B{}", i % 5)));
    }
    s.audit_append_all(&batch).unwrap();
    let q = |q: AuditQuery| s.audit_records(&q).unwrap();
    let base = AuditQuery::after(0, 100);
    assert_eq!(q(AuditQuery { actor: Some("bob".into()), ..base.clone() }).len(), 10);
    let bob_logins =
        q(AuditQuery { actor: Some("bob".into()), action: Some("login".into()), ..base.clone() });
    assert_eq!(bob_logins.len(), 5);
    assert!(bob_logins.iter().all(|r| r.actor == "bob" && r.action == "login"));
    let kind = |k: &str| AuditQuery { actor_kind: Some(k.into()), ..base.clone() };
    assert_eq!(q(kind("user")).len(), 30);
    assert_eq!(q(AuditQuery { actor: Some("bob".into()), ..kind("key") }).len(), 0);
    let b2 = q(AuditQuery {
        object_kind: Some("bank".into()),
        object_id: Some("B2".into()),
        ..base.clone()
    });
    assert_eq!(b2.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 8, 13, 18, 23, 28]);
    let page = q(AuditQuery { after: 10, limit: 5, ..base.clone() });
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [11, 12, 13, 14, 15]);
    let back = q(AuditQuery { before: Some(11), newest_first: true, limit: 3, ..base.clone() });
    assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [10, 9, 8]);
    let at = all(s)[0].at;
    assert_eq!(q(AuditQuery { since: Some(at + 1), ..base.clone() }).len(), 0);
    assert_eq!(q(AuditQuery { until: Some(at + 1), ..base.clone() }).len(), 30);
    for limit in [0, 10_001] {
        assert!(s.audit_records(&AuditQuery::after(0, limit)).is_err());
    }
}

#[test]
fn filters_and_pages_on_both_stores() {
    both(filters_and_pages);
}

/// The log is append-only for the store's own user: updates, deletes (and on PostgreSQL
/// truncation) are refused by the database.
fn the_database_refuses_changes(f: Fixture) {
    f.store.audit_append(&login(1)).unwrap();
    for sql in ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"] {
        let err = f.raw.try_exec(sql).unwrap_err();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if matches!(f.raw, Raw::Postgres(_)) {
        let err = f.raw.try_exec("TRUNCATE audit").unwrap_err();
        assert!(err.contains("append-only"), "{err}");
    }
    assert_eq!(verified(&*f.store).broken, None);
}

#[test]
fn the_database_refuses_changes_on_both_stores() {
    both(the_database_refuses_changes);
}

/// Tampering by someone who dropped the triggers: each kind is caught and named.
fn tampering_is_named(make: fn() -> Option<Fixture>) {
    let setup = || {
        let f = make()?;
        let recs: Vec<_> = (0..20).map(login).collect();
        f.store.audit_append_all(&recs).unwrap();
        assert_eq!(verified(&*f.store).broken, None);
        f.raw.unprotect();
        Some(f)
    };
    // One byte of one record's details.
    let Some(f) = setup() else { return };
    f.raw.exec("UPDATE audit SET details = replace(details, '\"n\":7', '\"n\":8') WHERE seq = 8");
    assert_eq!(verified(&*f.store).broken, Some(Break::Modified { seq: 8 }));

    // A record deleted.
    let f = setup().unwrap();
    f.raw.exec("DELETE FROM audit WHERE seq = 5");
    let broken = verified(&*f.store).broken.unwrap();
    assert_eq!(broken, Break::Missing { expected: 5, found: 6 });
    assert!(broken.to_string().contains("record 5 is missing"));

    // Two records swapped (their numbers exchanged).
    let f = setup().unwrap();
    f.raw.exec(
        "UPDATE audit SET seq = -1 WHERE seq = 11; UPDATE audit SET seq = 11 WHERE seq = 12;
         UPDATE audit SET seq = 12 WHERE seq = -1;",
    );
    assert_eq!(verified(&*f.store).broken, Some(Break::Modified { seq: 11 }));

    // The tail cut after a checkpoint: the chain alone still fits, the checkpoint does not.
    let f = setup().unwrap();
    let key = generate_key().unwrap();
    let (seq, hash) = f.store.audit_head().unwrap().unwrap();
    let cp = Checkpoint::sign(&key, seq, hash, 1);
    f.store.audit_add_checkpoint(&cp, "cli:root").unwrap();
    f.raw.exec("DELETE FROM audit WHERE seq > 17; DELETE FROM audit_checkpoints");
    let chain_only = verified(&*f.store);
    assert_eq!((chain_only.broken, chain_only.records), (None, 17));
    let with_export =
        verify(&*f.store, std::slice::from_ref(&cp), Some(&key.verifying_key()), &mut |_| {});
    assert_eq!(with_export.unwrap().broken, Some(Break::Truncated { head: 17, checkpoint: 20 }));

    // With the checkpoint kept in the store, and the log rewritten instead of cut.
    let f = setup().unwrap();
    let (seq, hash) = f.store.audit_head().unwrap().unwrap();
    f.store.audit_add_checkpoint(&Checkpoint::sign(&key, seq, hash, 1), "cli:root").unwrap();
    f.raw.exec("DELETE FROM audit WHERE seq > 15");
    assert_eq!(verified(&*f.store).broken, Some(Break::Truncated { head: 15, checkpoint: 20 }));
}

#[test]
fn tampering_is_named_on_sqlite() {
    tampering_is_named(|| Some(sqlite()));
}

#[test]
fn tampering_is_named_on_postgres() {
    tampering_is_named(postgres);
}

/// A checkpoint must name a record of this log with its hash, and carry a valid signature;
/// stored checkpoints are checked against the trusted key when one is given.
fn checkpoints_are_checked(f: Fixture) {
    let s = &*f.store;
    s.audit_append_all(&(0..3).map(login).collect::<Vec<_>>()).unwrap();
    let key = generate_key().unwrap();
    let other = generate_key().unwrap();
    let (seq, hash) = s.audit_head().unwrap().unwrap();
    assert!(s.audit_add_checkpoint(&Checkpoint::sign(&key, seq, [1; 32], 1), "cli:x").is_err());
    assert!(s.audit_add_checkpoint(&Checkpoint::sign(&key, 99, hash, 1), "cli:x").is_err());
    let mut forged = Checkpoint::sign(&key, seq, hash, 1);
    forged.at += 1;
    assert!(s.audit_add_checkpoint(&forged, "cli:x").is_err());
    let rec = s.audit_add_checkpoint(&Checkpoint::sign(&key, seq, hash, 1), "cli:x").unwrap();
    assert_eq!((rec.action.as_str(), rec.seq), ("audit_checkpoint", seq + 1));
    assert_eq!(s.audit_checkpoints().unwrap().len(), 1);
    let report = verify(s, &[], Some(&key.verifying_key()), &mut |_| {}).unwrap();
    assert_eq!((report.broken, report.checkpoints), (None, 1));
    let err = verify(s, &[], Some(&other.verifying_key()), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("not by the trusted key"), "{err}");
}

#[test]
fn checkpoints_are_checked_on_both_stores() {
    both(checkpoints_are_checked);
}
