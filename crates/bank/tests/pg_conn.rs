//! PostgreSQL connections: the TLS modes against the throwaway server of `scripts/pg.sh` (which
//! serves TLS with a certificate signed by the CA in `SPOOR_TEST_PG_CA`), and a store that keeps
//! working across a restart of its server (`SPOOR_TEST_PG_STOP` / `SPOOR_TEST_PG_START`).
//!
//! Without those variables the tests fail when `SPOOR_REQUIRE_POSTGRES=1` (as in the test
//! command) and are skipped with a notice otherwise. Every test that talks to the server holds
//! [`SERVER`], so the restart test never pulls the server from under another test.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use spoor_bank::{BankError, NewBank, PgOptions, PostgresStore, Store};

static SERVER: Mutex<()> = Mutex::new(());

/// The throwaway server, and the lock that keeps it to this test.
struct Server {
    url: String,
    ca: PathBuf,
    stop: PathBuf,
    start: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

fn server() -> Option<Server> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let names = [
        "SPOOR_TEST_DATABASE_URL",
        "SPOOR_TEST_PG_CA",
        "SPOOR_TEST_PG_STOP",
        "SPOOR_TEST_PG_START",
    ];
    let missing: Vec<&str> = names.iter().copied().filter(|n| var(n).is_none()).collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not set: run scripts/test.sh, or `source scripts/pg.sh; spoor_pg_start` first",
            missing.join(", ")
        );
        if std::env::var("SPOOR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("SPOOR_REQUIRE_POSTGRES=1 but {why}");
        }
        eprintln!("notice: PostgreSQL connection tests skipped: {why}");
        return None;
    }
    let lock = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    Some(Server {
        url: var(names[0])?,
        ca: var(names[1])?.into(),
        stop: var(names[2])?.into(),
        start: var(names[3])?.into(),
        _lock: lock,
    })
}

static N: AtomicU32 = AtomicU32::new(0);

impl Server {
    /// A fresh schema, and the URL (plus `extra` parameters) whose sessions use it and carry an
    /// application name of their own, so the server's view of them can be looked up.
    fn url(&self, extra: &str) -> (String, String) {
        let tag = format!("t{}_c{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut admin = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {tag} CASCADE; CREATE SCHEMA {tag}"))
            .unwrap();
        let sep = if self.url.contains('?') { '&' } else { '?' };
        let url =
            format!("{}{sep}options=-csearch_path%3D{tag}&application_name={tag}{extra}", self.url);
        (url, tag)
    }

    /// Whether each of the server's sessions named `tag` is encrypted (at least one must exist).
    fn sessions_encrypted(&self, tag: &str) -> Vec<bool> {
        let mut admin = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        let rows = admin
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = $1",
                &[&tag],
            )
            .unwrap();
        let ssl: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
        assert!(!ssl.is_empty(), "the store has no open session named {tag}");
        ssl
    }

    fn run(&self, script: &Path) {
        let status = Command::new(script).status().unwrap();
        assert!(status.success(), "{} failed: {status}", script.display());
    }
}

/// `sslrootcert=PATH`, percent-encoded.
fn root_cert(path: &Path) -> String {
    let mut out = String::from("&sslrootcert=");
    for b in path.to_str().unwrap().bytes() {
        if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn new_bank(name: &str) -> NewBank {
    NewBank {
        name: name.into(),
        description: "connection test".into(),
        owner: "Hotline".into(),
        review_required: false,
        pdq_radius: None,
        ..Default::default()
    }
}

fn connect_err(url: &str) -> BankError {
    match PostgresStore::connect(url) {
        Ok(_) => panic!("connecting to {url} should have failed"),
        Err(e) => e,
    }
}

#[test]
fn verify_full_with_the_servers_ca_is_encrypted() {
    let Some(server) = server() else { return };
    let (url, tag) = server.url(&format!("&sslmode=verify-full{}", root_cert(&server.ca)));
    let store = PostgresStore::connect(&url).unwrap();
    store.create_bank(&new_bank("TLS_FULL"), "tester").unwrap();
    assert_eq!(store.bank("TLS_FULL").unwrap().name, "TLS_FULL");
    let ssl = server.sessions_encrypted(&tag);
    assert!(ssl.iter().all(|s| *s), "sessions of a verify-full store: {ssl:?}");
}

#[test]
fn verify_ca_and_require_are_encrypted() {
    let Some(server) = server() else { return };
    for mode in [format!("&sslmode=verify-ca{}", root_cert(&server.ca)), "&sslmode=require".into()]
    {
        let (url, tag) = server.url(&mode);
        let store = PostgresStore::connect(&url).unwrap();
        assert!(store.banks().unwrap().is_empty());
        let ssl = server.sessions_encrypted(&tag);
        assert!(ssl.iter().all(|s| *s), "sessions with {mode}: {ssl:?}");
    }
}

#[test]
fn disable_is_not_encrypted() {
    let Some(server) = server() else { return };
    let (url, tag) = server.url("&sslmode=disable");
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store.banks().unwrap().is_empty());
    let ssl = server.sessions_encrypted(&tag);
    assert!(ssl.iter().all(|s| !*s), "sessions with sslmode=disable: {ssl:?}");
}

/// Makes a CA that signed nothing the server has.
fn foreign_ca(dir: &Path) -> PathBuf {
    let cnf = dir.join("ca.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = some other CA\n\
         [ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\n",
    )
    .unwrap();
    let ca = dir.join("other-ca.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-new", "-config"])
        .arg(&cnf)
        .args(["-extensions", "ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-nodes", "-days", "2", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("the openssl command (scripts/pg.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl could not make a CA: {}: {stderr}", out.status);
    ca
}

#[test]
fn a_ca_that_did_not_sign_the_server_is_refused() {
    let Some(server) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let other = foreign_ca(dir.path());
    for mode in ["verify-full", "verify-ca", "require"] {
        let (url, _) = server.url(&format!("&sslmode={mode}{}", root_cert(&other)));
        match connect_err(&url) {
            BankError::Connection { problem, target } => {
                assert!(problem.contains("not trusted"), "{mode}: {problem}");
                assert!(problem.contains("not signed by a trusted CA"), "{mode}: {problem}");
                assert!(problem.contains(&other.display().to_string()), "{mode}: {problem}");
                assert!(target.contains("127.0.0.1"), "{target}");
            }
            other => panic!("{mode} with a foreign CA: expected a TLS refusal, got {other}"),
        }
    }
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some(server) = server() else { return };
    // Connect to 127.0.0.1 while naming another host: the certificate does not name it.
    let (url, tag) = server.url(&format!("&hostaddr=127.0.0.1{}", root_cert(&server.ca)));
    let url = url.replacen("@127.0.0.1:", "@db.example.net:", 1);
    match connect_err(&format!("{url}&sslmode=verify-full")) {
        BankError::Connection { problem, .. } => {
            assert!(problem.contains("does not name this host"), "{problem}");
            assert!(problem.contains("verify-full"), "{problem}");
        }
        other => panic!("verify-full with a wrong host name: expected a refusal, got {other}"),
    }
    let store = PostgresStore::connect(&format!("{url}&sslmode=verify-ca")).unwrap();
    assert!(store.banks().unwrap().is_empty());
    assert!(server.sessions_encrypted(&tag).iter().all(|s| *s));
}

#[test]
fn scram_over_tls_is_bound_to_the_servers_certificate() {
    let Some(server) = server() else { return };
    let mut admin = postgres::Client::connect(&server.url, postgres::NoTls).unwrap();
    // scripts/pg.sh lets this role in only with SCRAM over TLS.
    admin
        .batch_execute(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spoor_scram') THEN
                 CREATE ROLE spoor_scram LOGIN SUPERUSER;
               END IF;
             END $$;
             ALTER ROLE spoor_scram PASSWORD 'scram-test-password'",
        )
        .unwrap();
    // channel_binding=require fails unless SCRAM-SHA-256-PLUS succeeded, which needs the hash of
    // the certificate the server really presented.
    let (url, tag) = server.url("&sslmode=require&channel_binding=require");
    let url = url.replacen("postgres@", "spoor_scram:scram-test-password@", 1);
    let store = PostgresStore::connect(&url).unwrap();
    assert!(store.banks().unwrap().is_empty());
    assert!(server.sessions_encrypted(&tag).iter().all(|s| *s));
    assert!(!store.describe().contains("scram-test-password"), "{}", store.describe());
    let wrong = url.replacen(":scram-test-password@", ":wrong@", 1);
    // Without channel binding on offer the server is not trusted with the password.
    let trusting = url.replacen("sslmode=require", "sslmode=disable", 1);
    match connect_err(&trusting) {
        BankError::Connection { problem, .. } => {
            assert!(problem.contains("channel binding"), "{problem}")
        }
        other => panic!("channel_binding=require without TLS: expected a refusal, got {other}"),
    }
    let e = connect_err(&wrong).to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong@"), "{e}");
}

#[test]
fn a_server_without_tls_is_named_as_such() {
    // A listener that answers PostgreSQL's SSLRequest with "N" (no TLS), as a server with
    // ssl=off does.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 8];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(b"N").unwrap();
        request
    });
    let e = connect_err(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=require"));
    let request = fake.join().unwrap();
    assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "not an SSLRequest");
    match e {
        BankError::Connection { problem, .. } => {
            assert!(problem.contains("does not support SSL"), "{problem}")
        }
        other => panic!("expected a 'does not support SSL' error, got {other}"),
    }
}

#[test]
fn a_server_that_is_not_there_is_unreachable_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let e = connect_err(&format!("postgres://u:secret@127.0.0.1:{port}/db?sslmode=disable"));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(matches!(e, BankError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("unreachable") && text.contains("check that it is running"), "{text}");
    assert!(!text.contains("secret"), "the password leaked: {text}");
}

#[test]
fn a_store_survives_a_restart_of_its_server() {
    let Some(server) = server() else { return };
    let (url, _) = server.url("");
    let options = PgOptions { max_connections: 4, ..PgOptions::default() };
    let store = std::sync::Arc::new(PostgresStore::connect_with(&url, &options).unwrap());
    store.create_bank(&new_bank("BEFORE"), "tester").unwrap();
    // Open every connection of the pool, so all of them break with the server.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    store.banks().unwrap();
                }
            })
        })
        .collect();
    busy.into_iter().for_each(|t| t.join().unwrap());

    server.run(&server.stop);
    // Start the server again however this test ends, for the tests that follow.
    struct Restart<'a>(&'a Server, bool);
    impl Drop for Restart<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = Command::new(&self.0.start).status();
            }
        }
    }
    let mut restart = Restart(&server, false);

    let started = Instant::now();
    let read = store.banks();
    let write = store.create_bank(&new_bank("DURING"), "tester");
    let took = started.elapsed();
    for (what, result) in [("read", read.map(|_| ())), ("write", write.map(|_| ()))] {
        match result {
            Err(e @ BankError::Unreachable { .. }) => {
                assert!(e.to_string().contains("is unreachable"), "{e}")
            }
            Err(other) => panic!("a {what} while the server is down: {other}"),
            Ok(()) => panic!("a {what} while the server is down succeeded"),
        }
    }
    assert!(took < Duration::from_secs(8), "two calls took {took:?} to fail");

    server.run(&server.start);
    restart.1 = true;
    let back = Instant::now();
    let mut attempts = 0;
    while store.banks().is_err() {
        attempts += 1;
        assert!(back.elapsed() < Duration::from_secs(5), "not working 5 s after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    let recovered = back.elapsed();
    eprintln!("calls failed after {took:?}; working again {recovered:?} after the restart");
    assert!(recovered < Duration::from_secs(5), "working again only after {recovered:?}");
    // Every later call works: no broken connection is handed out again.
    store.create_bank(&new_bank("AFTER"), "tester").unwrap();
    for _ in 0..20 {
        let names: Vec<String> = store.banks().unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["AFTER", "BEFORE"], "after {attempts} failed attempts");
    }
    assert_eq!(store.bank("AFTER").unwrap().description, "connection test");
}

#[test]
fn pooled_writers_number_their_changes_in_commit_order() {
    let Some(server) = server() else { return };
    let (url, _) = server.url("");
    let store = std::sync::Arc::new(PostgresStore::connect(&url).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.create_bank(&new_bank(&format!("W{t}_{i}")), "tester").unwrap();
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|t| t.join().unwrap());
    let seqs: Vec<i64> = store.log(None, 0, 1000).unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
    assert_eq!(store.banks().unwrap().len(), 40);
}
