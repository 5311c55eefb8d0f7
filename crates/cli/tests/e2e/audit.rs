//! `spoor audit` end to end, on the embedded SQLite store and on PostgreSQL: verification of an
//! untouched log, tampering by someone with database access (triggers dropped first) caught and
//! named, checkpoints catching a cut tail, exports verified on their own.

use crate::common;
use crate::server;

use server::Store;

fn run(store: &Store, args: &[&str]) -> (i32, String, String) {
    let out = store.spoor(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs SQL on the store's database directly, as an intruder would.
fn raw(store: &Store, sql: &str) {
    if store.flag == "--data-dir" {
        let db = std::path::Path::new(&store.value).join("spoor.db");
        rusqlite::Connection::open(db).unwrap().execute_batch(sql).unwrap();
    } else {
        let mut c = ::postgres::Client::connect(&store.value, ::postgres::NoTls).unwrap();
        c.batch_execute(sql).unwrap();
    }
}

fn unprotect(store: &Store) {
    if store.flag == "--data-dir" {
        raw(
            store,
            "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;
             DROP TRIGGER audit_checkpoints_append_only_delete;",
        );
    } else {
        raw(
            store,
            "DROP TRIGGER audit_append_only ON audit;
             DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints;",
        );
    }
}

/// A bank with a few changes: 12 audit records.
fn activity(store: &Store) {
    let (code, _, err) = run(store, &["bank", "create", "HOTLINE"]);
    assert_eq!(code, 0, "{err}");
    for i in 0..5 {
        let hex = common::hex_hash(i);
        let list = store.dir.path().join(format!("list{i}.txt"));
        std::fs::write(&list, format!("{hex}\n")).unwrap();
        let (code, _, err) = run(store, &["bank", "import", "HOTLINE", list.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    for id in ["1", "2", "3"] {
        let (code, _, err) =
            run(store, &["bank", "disable", "HOTLINE", id, "--reason", "stock photo"]);
        assert_eq!(code, 0, "{err}");
    }
    store.key("matcher", "hoster", None);
    let (code, _, err) = run(store, &["keys", "revoke", "hoster"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(store, &["audit", "log", "--limit", "1000"]);
    assert_eq!((code, out.lines().count()), (0, 11), "{out}");
}

fn audit_commands(store: Store) {
    activity(&store);
    let (code, out, err) = run(&store, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("intact: 11 records, head 11"), "{out}");

    // Filters.
    let (_, out, _) = run(&store, &["audit", "log", "--action", "entry_disable"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["object_kind"].as_str(), first["object_id"].as_str()),
        (Some("entry"), Some("1"))
    );
    assert_eq!(first["details"]["reason"], "stock photo");
    let (_, out, _) =
        run(&store, &["audit", "log", "--object-kind", "key", "--object-id", "hoster"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, _, err) = run(&store, &["audit", "log", "--limit", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("limit"), "{err}");

    // Keys and checkpoints.
    let dir = store.dir.path();
    let key = dir.join("audit.key");
    let (code, public_hex, err) = run(&store, &["audit", "keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(public_hex.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (code, _, err) = run(&store, &["audit", "keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("never overwritten"), "{err}");
    let cp = dir.join("cp.json");
    let (code, _, err) = run(
        &store,
        &["audit", "checkpoint", "--key", key.to_str().unwrap(), "--out", cp.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let pubkey = format!("{}.pub", key.display());
    let (code, out, _) = run(
        &store,
        &["audit", "verify", "--checkpoint", cp.to_str().unwrap(), "--public-key", &pubkey],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 checkpoints checked"), "{out}");
    // Another key is not trusted.
    let other = dir.join("other.key");
    run(&store, &["audit", "keygen", "--out", other.to_str().unwrap()]);
    let (code, _, err) =
        run(&store, &["audit", "verify", "--public-key", &format!("{}.pub", other.display())]);
    assert_eq!(code, 2);
    assert!(err.contains("not by the trusted key"), "{err}");

    // An export verifies on its own, and a changed export does not.
    let export = dir.join("audit.jsonl");
    let (code, _, err) = run(&store, &["audit", "export", "--out", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(
        &store,
        &[
            "audit",
            "verify",
            "--file",
            export.to_str().unwrap(),
            "--checkpoint",
            cp.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("intact: 13 records"), "{out}");
    let text = std::fs::read_to_string(&export).unwrap();
    let changed = dir.join("changed.jsonl");
    std::fs::write(&changed, text.replacen("stock photo", "stock photos", 1)).unwrap();
    let (code, out, _) = run(&store, &["audit", "verify", "--file", changed.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 7 was modified"), "{out}");

    // Tampering in the database, each kind named.
    unprotect(&store);
    raw(
        &store,
        "UPDATE audit SET details = replace(details, 'stock photo', 'stock phot0') WHERE seq = 8",
    );
    let (code, out, _) = run(&store, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("broken: record 8 was modified"), "{out}");
    raw(
        &store,
        "UPDATE audit SET details = replace(details, 'stock phot0', 'stock photo') WHERE seq = 8",
    );
    assert_eq!(run(&store, &["audit", "verify"]).0, 0);
    raw(&store, "DELETE FROM audit WHERE seq = 4");
    let (code, out, _) = run(&store, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 4 is missing"), "{out}");
}

#[test]
fn audit_commands_on_sqlite() {
    audit_commands(Store::sqlite());
}

#[test]
fn audit_commands_on_postgres() {
    if let Some(store) = Store::postgres() {
        audit_commands(store);
    }
}

/// Cutting the tail, and the stored checkpoints with it, is caught by a checkpoint kept
/// elsewhere; the chain alone cannot tell.
fn cut_tail(store: Store) {
    activity(&store);
    let key = store.dir.path().join("k");
    run(&store, &["audit", "keygen", "--out", key.to_str().unwrap()]);
    let cp = store.dir.path().join("cp.json");
    let (code, _, err) = run(
        &store,
        &["audit", "checkpoint", "--key", key.to_str().unwrap(), "--out", cp.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    unprotect(&store);
    raw(&store, "DELETE FROM audit WHERE seq > 9; DELETE FROM audit_checkpoints;");
    let (code, out, _) = run(&store, &["audit", "verify"]);
    assert_eq!(code, 0, "the chain alone cannot tell: {out}");
    let (code, out, _) = run(&store, &["audit", "verify", "--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ends at record 9") && out.contains("tail was cut"), "{out}");
}

#[test]
fn cut_tail_on_sqlite() {
    cut_tail(Store::sqlite());
}

#[test]
fn cut_tail_on_postgres() {
    if let Some(store) = Store::postgres() {
        cut_tail(store);
    }
}

#[test]
fn a_checkpoint_of_an_empty_log_is_refused() {
    let store = Store::sqlite();
    let key = store.dir.path().join("k");
    run(&store, &["audit", "keygen", "--out", key.to_str().unwrap()]);
    let (code, _, err) = run(&store, &["audit", "checkpoint", "--key", key.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("the audit log is empty"), "{err}");
    let (code, _, err) = run(&store, &["audit", "checkpoint", "--key", "/nonexistent/key"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the key file"), "{err}");
}
