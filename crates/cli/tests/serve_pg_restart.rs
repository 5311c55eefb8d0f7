//! `spoor serve` across a restart of its PostgreSQL server. A test binary of its own: test
//! binaries run one after another, so stopping the shared test server here cannot break the
//! PostgreSQL tests of other files, which run in parallel threads within their binary.

mod common;
#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use server::{until, until_within, Server, Store};

/// PostgreSQL restarted under a running service: `/ready` is 503 while it is down; once it is
/// back, a key revoked and an entry disabled after the restart take effect within 5 s and
/// `/ready` is 200. Needs `SPOOR_TEST_PG_STOP` and `SPOOR_TEST_PG_START` (programs that stop and
/// start the test server on the same port; `scripts/pg.sh` exports them).
#[test]
fn postgres_restart_under_a_running_service() {
    let (Ok(stop), Ok(start)) =
        (std::env::var("SPOOR_TEST_PG_STOP"), std::env::var("SPOOR_TEST_PG_START"))
    else {
        if std::env::var("SPOOR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("SPOOR_TEST_PG_STOP and SPOOR_TEST_PG_START are not set but SPOOR_REQUIRE_POSTGRES=1 (scripts/pg.sh exports them)");
        }
        eprintln!("notice: PostgreSQL restart test skipped: SPOOR_TEST_PG_STOP and SPOOR_TEST_PG_START are not set");
        return;
    };
    let Some(store) = Store::postgres() else { return };
    let curator = store.key("curator", "c", None);
    let matcher = store.key("matcher", "m", None);
    let doomed = store.key("matcher", "doomed", None);
    let admin = store.key("admin", "a", None);
    let s = Server::start(&store, &["--ready-max-lag", "2"]);
    s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "HOTLINE"}));
    let banked = common::hex_hash(4242);
    let (_, r) = s.send(
        "POST",
        Some(&curator),
        "/v1/banks/HOTLINE/entries",
        &json!({"entries": [{"signal_type": "pdq", "value": banked}]}),
    );
    let id = r["results"][0]["id"].as_i64().unwrap().to_string();
    until("banked", || s.matches(&matcher, &banked).len() == 1);
    assert_eq!(s.get(None, "/ready").0, StatusCode::OK);
    // A read of the entries is a view record (on a connection not tested before use).
    let entries = "/v1/banks/HOTLINE/entries";
    assert_eq!(s.get(Some(&curator), entries).0, StatusCode::OK);

    let run = |program: &str| {
        let st = std::process::Command::new(program).status().unwrap();
        assert!(st.success(), "{program} failed");
    };
    run(&stop);
    until_within("not ready while the database is down", Duration::from_secs(10), || {
        s.get(None, "/ready").0 == StatusCode::SERVICE_UNAVAILABLE
    });
    run(&start);
    // The first view after the restart: the idle connection died with the server, and the
    // record goes again on a new one, once.
    let (st, v) = s.get(Some(&curator), entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, log) = s.get(Some(&admin), "/v1/audit?action=entries_read");
    assert_eq!(log["records"].as_array().map(Vec::len), Some(2), "{log}");
    let out = store.spoor(&["keys", "revoke", "doomed"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = store.spoor(&["bank", "disable", "HOTLINE", &id, "--reason", "after the restart"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pdq = format!("/v1/match?signal_type=pdq&value={banked}");
    until_within("revoked key refused", Duration::from_secs(5), || {
        s.get(Some(&doomed), &pdq).0 == StatusCode::UNAUTHORIZED
    });
    until_within("disabled entry stops matching", Duration::from_secs(5), || {
        s.matches(&matcher, &banked).is_empty()
    });
    until_within("ready again", Duration::from_secs(5), || {
        s.get(None, "/ready").0 == StatusCode::OK
    });
    s.stop();
}
