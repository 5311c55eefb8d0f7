//! Exchange between Spoor instances: a bank's change log read with values by a key scoped to it
//! (`GET /v1/banks/{name}/changes`), and nothing else.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::server::{Server, Store};

fn pdq(i: u8) -> String {
    format!("{:02x}", i).repeat(32)
}

#[test]
fn an_exchange_key_reads_the_change_log_of_its_banks_only() {
    let store = Store::sqlite();
    let admin = store.key("admin", "admin", None);
    let matcher = store.key("matcher", "m", None);
    let s = Server::start(&store, &[]);
    for name in ["SHARED", "PRIVATE"] {
        let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": name}));
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    let (st, v) = s.send(
        "POST",
        Some(&admin),
        "/v1/banks/SHARED/entries",
        &json!({"entries": [
            {"signal_type": "pdq", "value": pdq(1), "category": "baseline"},
            {"signal_type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"},
        ]}),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    let id = v["results"][0]["id"].as_i64().unwrap_or_else(|| panic!("{v}"));
    let (st, v) = s.send(
        "PATCH",
        Some(&admin),
        &format!("/v1/banks/SHARED/entries/{id}"),
        &json!({"enabled": false, "reason": "a stock photo"}),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    s.send(
        "POST",
        Some(&admin),
        "/v1/banks/PRIVATE/entries",
        &json!({"entries": [{"signal_type": "pdq", "value": pdq(2)}]}),
    );

    // An exchange key must name its banks.
    let out = store.spoor(&["keys", "create", "--role", "exchange", "--name", "x0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("scoped"), "{out:?}");
    let exchange = store.key("exchange", "partner", Some("SHARED"));
    crate::server::until("the new key is known", || {
        s.get(Some(&exchange), "/v1/banks/SHARED/changes").0 == StatusCode::OK
    });

    let (st, page) = s.get(Some(&exchange), "/v1/banks/SHARED/changes");
    assert_eq!(st, StatusCode::OK, "{page}");
    let changes = page["changes"].as_array().unwrap();
    let actions: Vec<&str> = changes.iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create_bank", "add", "add", "disable"]);
    assert_eq!(changes[1]["value"], pdq(1));
    assert_eq!(changes[1]["category"], "baseline");
    assert_eq!(changes[3]["enabled"], false);
    assert_eq!(changes[3]["reason"], "a stock photo");
    assert!(changes.iter().all(|c| c["bank"].is_null()), "bank name is the path's");
    assert_eq!(page["next_after"], changes[3]["seq"]);
    assert!(page["last_seq"].as_i64() >= changes[3]["seq"].as_i64());
    assert!(!page.to_string().contains(&pdq(2)), "nothing of another bank");
    // Page by page, the same records.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (_, p) =
            s.get(Some(&exchange), &format!("/v1/banks/SHARED/changes?after={after}&limit=1"));
        let c = p["changes"].as_array().unwrap();
        if c.is_empty() {
            assert_eq!(p["next_after"], after);
            break;
        }
        seen.push(c[0]["seq"].clone());
        after = p["next_after"].as_i64().unwrap();
    }
    let all: Vec<Value> = changes.iter().map(|c| c["seq"].clone()).collect();
    assert_eq!(seen, all);

    // Outside its scope, and anything but the change log: refused.
    for (key, path, want) in [
        (&exchange, "/v1/banks/PRIVATE/changes", StatusCode::FORBIDDEN),
        (&exchange, "/v1/banks/SHARED/entries", StatusCode::FORBIDDEN),
        (&exchange, "/v1/banks", StatusCode::FORBIDDEN),
        (&exchange, &format!("/v1/match?signal_type=pdq&value={}", pdq(1)), StatusCode::FORBIDDEN),
        (&matcher, "/v1/banks/SHARED/changes", StatusCode::FORBIDDEN),
        (&exchange, "/v1/banks/SHARED/changes?limit=0", StatusCode::BAD_REQUEST),
        (&exchange, "/v1/banks/SHARED/changes?limit=10001", StatusCode::BAD_REQUEST),
        (&exchange, "/v1/banks/SHARED/changes?after=-1", StatusCode::BAD_REQUEST),
        (&exchange, "/v1/banks/SHARED/changes?colour=red", StatusCode::BAD_REQUEST),
        (&admin, "/v1/banks/NOPE/changes", StatusCode::NOT_FOUND),
    ] {
        let (st, v) = s.get(Some(key), path);
        assert_eq!(st, want, "{path}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {v}");
    }
    let (_, v) = s.get(Some(&exchange), "/v1/banks/PRIVATE/changes");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--role exchange --banks PRIVATE"),
        "{v}"
    );
    // Each read is on the audit log.
    let (_, log) = s.get(Some(&admin), "/v1/audit?action=changes_read&limit=100");
    let reads = log["records"].as_array().unwrap_or_else(|| panic!("{log}"));
    assert!(reads.len() >= 5, "{log}");
    assert!(reads.iter().all(|r| r["actor"] == "partner" && r["actor_kind"] == "key"), "{log}");
    s.stop();
}
