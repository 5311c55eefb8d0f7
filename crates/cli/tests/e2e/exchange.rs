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

fn entries(store: &Store, bank: &str) -> Vec<Value> {
    let out = store.spoor(&["bank", "export", bank, "--format", "jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn pull(
    local: &Store,
    s: &Server,
    key_file: &std::path::Path,
    page: &str,
) -> (bool, Value, String) {
    let out = local.spoor(&[
        "exchange",
        "pull",
        "PARTNER",
        "--from",
        &s.base,
        "--bank",
        "SHARED",
        "--into",
        "LOCAL",
        "--key-file",
        key_file.to_str().unwrap(),
        "--page",
        page,
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or(Value::Null);
    (out.status.success(), summary, err)
}

/// A bank followed from one instance (SQLite) into another (PostgreSQL when there is one):
/// entries arrive with provenance, follow the source's disables and deletes, and a local
/// person's decision is never undone (a conflict is reported instead); pulling again repeats
/// nothing, and pages of any size give the same bank.
#[test]
fn a_pull_follows_the_source_and_local_decisions_win() {
    let source = Store::sqlite();
    let admin = source.key("admin", "admin", None);
    let s = Server::start(&source, &[]);
    s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "SHARED"}));
    let add = |v: Value| {
        let (st, r) =
            s.send("POST", Some(&admin), "/v1/banks/SHARED/entries", &json!({"entries": [v]}));
        assert_eq!(st, StatusCode::OK, "{r}");
        r["results"][0]["id"].as_i64().unwrap()
    };
    let patch = |id: i64, body: Value| {
        let (st, r) =
            s.send("PATCH", Some(&admin), &format!("/v1/banks/SHARED/entries/{id}"), &body);
        assert_eq!(st, StatusCode::OK, "{r}");
    };
    let e1 = add(json!({"signal_type": "pdq", "value": pdq(1), "category": "baseline"}));
    let e2 = add(json!({"signal_type": "pdq", "value": pdq(2)}));
    let e3 = add(json!({"signal_type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}));
    let e4 = add(json!({"signal_type": "pdq", "value": pdq(3)}));
    patch(e4, json!({"enabled": false, "reason": "withdrawn before sharing"}));
    let key = source.key("exchange", "to-local", Some("SHARED"));
    let key_file = source.dir.path().join("exchange.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();

    let local = Store::postgres().unwrap_or_else(Store::sqlite);
    assert!(local.spoor(&["bank", "create", "LOCAL"]).status.success());
    let mine = NewLocal::add(&local, &pdq(5));
    crate::server::until("the exchange key is known", || {
        s.get(Some(&key), "/v1/banks/SHARED/changes?limit=1").0 == StatusCode::OK
    });

    let (ok, sum, err) = pull(&local, &s, &key_file, "10000");
    assert!(ok, "{err}");
    assert_eq!((sum["added"].as_u64(), sum["conflicts"].as_u64()), (Some(4), Some(0)), "{sum}");
    let got = entries(&local, "LOCAL");
    let by_value = |v: &str| {
        got.iter()
            .find(|e| e["value"] == v)
            .cloned()
            .unwrap_or_else(|| panic!("{v} not in {got:?}"))
    };
    let one = by_value(&pdq(1));
    assert_eq!(
        (one["source_org"].as_str(), one["source_id"].as_str()),
        (Some("PARTNER"), Some(e1.to_string().as_str()))
    );
    assert_eq!(one["category"], "baseline");
    assert_eq!(by_value(&pdq(3))["enabled"], false, "disabled at the source, disabled here");

    // A local curator decides about e2; the source changes its mind about everything.
    let local_two = by_value(&pdq(2))["id"].as_i64().unwrap();
    let out = local.spoor(&[
        "bank",
        "disable",
        "LOCAL",
        &local_two.to_string(),
        "--reason",
        "not abuse here",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    patch(e1, json!({"enabled": false, "reason": "a false positive at the source"}));
    patch(e2, json!({"enabled": false, "reason": "checking"}));
    patch(e2, json!({"enabled": true, "reason": "checked"}));
    let (st, r) = s.send(
        "PATCH",
        Some(&admin),
        &format!("/v1/banks/SHARED/entries/{e4}"),
        &json!({"enabled": true, "reason": "shared after all"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    let out =
        source.spoor(&["bank", "delete", "SHARED", &e3.to_string(), "--reason", "a duplicate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e5 = add(json!({"signal_type": "pdq", "value": pdq(5)}));
    patch(e5, json!({"enabled": false, "reason": "disabled at the source"}));

    let (ok, sum, err) = pull(&local, &s, &key_file, "2");
    assert!(ok, "{err}");
    let got = entries(&local, "LOCAL");
    let state =
        |v: &str| got.iter().find(|e| e["value"] == v).map(|e| e["enabled"].as_bool().unwrap());
    assert_eq!(state(&pdq(1)), Some(false), "the source's disable is followed");
    assert_eq!(state(&pdq(2)), Some(false), "the local decision stands");
    assert_eq!(state(&pdq(3)), Some(true), "the source's enable is followed");
    assert_eq!(state(&pdq(5)), Some(true), "a local entry is never changed by the source");
    assert_eq!(got.iter().find(|e| e["value"] == pdq(5)).unwrap()["id"], mine);
    assert_eq!(state("d41d8cd98f00b204e9800998ecf8427e"), None, "the source's delete is followed");
    assert!(sum["conflicts"].as_u64() >= Some(2), "{sum} {err}");
    assert!(err.contains("not abuse here") || err.contains("changed here by"), "{err}");
    assert!(err.contains("of another origin"), "{err}");

    // Again: nothing new, nothing repeated.
    let (ok, again, err) = pull(&local, &s, &key_file, "10000");
    assert!(ok, "{err}");
    assert_eq!((again["added"].as_u64(), again["changed"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(again["position"], sum["position"]);
    assert_eq!(entries(&local, "LOCAL").len(), got.len());

    // Refusals say why.
    std::fs::write(&key_file, "spoor_000000000000_nope\n").unwrap();
    let (ok, _, err) = pull(&local, &s, &key_file, "10");
    assert!(!ok && err.contains("401"), "{err}");
    let out = local.spoor(&[
        "exchange",
        "pull",
        "PARTNER",
        "--from",
        &s.base,
        "--bank",
        "OTHER",
        "--into",
        "LOCAL",
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("follows"), "{out:?}");
    s.stop();
}

/// An entry added by a local curator.
struct NewLocal;

impl NewLocal {
    fn add(store: &Store, value: &str) -> Value {
        let file = store.dir.path().join("mine.txt");
        std::fs::write(&file, format!("{value}\n")).unwrap();
        let out =
            store.spoor(&["bank", "import", "LOCAL", file.to_str().unwrap(), "--format", "lines"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id =
            entries(store, "LOCAL").iter().find(|e| e["value"] == value).unwrap()["id"].clone();
        id
    }
}
