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

/// A value that differs for every `i` (64 hex digits).
fn nth_pdq(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5370_6f6f_7221;
    (0..4)
        .map(|_| {
            x ^= x >> 31;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 29;
            format!("{x:016x}")
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An exchange run by `spoor serve` (SQLite source, PostgreSQL follower when there is one):
/// killed mid-transfer on either side and started again, it ends with every entry once and
/// every add once; a disable at the source stops matching here within two intervals; a local
/// decision stands and is listed as a conflict; HMA's status route and the API say where it
/// is.
#[test]
fn a_served_exchange_follows_live_through_kills_and_restarts() {
    const N: u64 = 20_000;
    let source = Store::sqlite();
    assert!(source.spoor(&["bank", "create", "SHARED"]).status.success());
    let list = source.dir.path().join("hashes.txt");
    let values: Vec<String> = (0..N).map(nth_pdq).collect();
    std::fs::write(&list, values.join("\n")).unwrap();
    let out = source.spoor(&["bank", "import", "SHARED", list.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let src_admin = source.key("admin", "admin", None);
    let key = source.key("exchange", "to-local", Some("SHARED"));
    let key_file = source.dir.path().join("exchange.key");
    std::fs::write(&key_file, &key).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut s = Server::start_at(&source, &listen, &[], client());

    let local = Store::postgres().unwrap_or_else(Store::sqlite);
    assert!(local.spoor(&["bank", "create", "LOCAL"]).status.success());
    let admin = local.key("admin", "admin", None);
    let matcher = local.key("matcher", "m", None);
    let reader = local.key("exchange", "reader", Some("LOCAL"));
    let out = local.spoor(&[
        "exchange",
        "add",
        "partner",
        "--from",
        &s.base,
        "--bank",
        "SHARED",
        "--into",
        "LOCAL",
        "--key-file",
        key_file.to_str().unwrap(),
        "--interval",
        "2s",
        "--page",
        "200",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key), "the key is not shown");
    let state = |f: &Server| {
        let (st, v) = f.get(Some(&admin), "/v1/exchanges/partner");
        assert_eq!(st, StatusCode::OK, "{v}");
        v
    };
    let at = |v: &Value| v["position"].as_i64().unwrap();

    // The follower is killed as soon as it has applied its first page.
    let mut f = Server::start(&local, &["--reports-loopback-only", "--exchange-lease", "2s"]);
    crate::server::until_within("the follower begins", std::time::Duration::from_secs(60), || {
        at(&state(&f)) > 0
    });
    let _ = f.child.kill();
    let _ = f.child.wait();
    drop(f);
    let (_, src_bank) = s.get(Some(&src_admin), "/v1/banks/SHARED");
    let listed = |store: &Store| -> Value {
        let out = store.spoor(&["exchange", "list", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap()
    };
    let killed_at = at(&listed(&local));
    let (_, last) = s.get(Some(&key), "/v1/banks/SHARED/changes?limit=1");
    let last = last["last_seq"].as_i64().unwrap();
    assert!(killed_at > 0 && killed_at < last, "killed at {killed_at} of {last}: {src_bank}");

    // Started again, it goes on from there; then the source is killed under it.
    let f = Server::start(&local, &["--reports-loopback-only", "--exchange-lease", "2s"]);
    crate::server::until_within("the follower goes on", std::time::Duration::from_secs(60), || {
        at(&state(&f)) > killed_at
    });
    let _ = s.child.kill();
    let _ = s.child.wait();
    drop(s);
    crate::server::until_within(
        "the failure is recorded",
        std::time::Duration::from_secs(30),
        || state(&f)["failures"].as_i64() >= Some(1),
    );
    let v = state(&f);
    assert!(v["last_error"].as_str().is_some_and(|e| e.contains("cannot reach")), "{v}");
    let s = Server::start_at(&source, &listen, &[], client());
    crate::server::until_within(
        "the follower catches up",
        std::time::Duration::from_secs(120),
        || {
            let v = state(&f);
            at(&v) == last && v["failures"] == 0
        },
    );

    // Every entry once, with provenance; every add once on the local change log.
    let (_, bank) = f.get(Some(&admin), "/v1/banks/LOCAL");
    assert_eq!(bank["entries"].as_u64(), Some(N), "{bank}");
    let mut adds = 0;
    let mut after = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let (st, p) =
            f.get(Some(&reader), &format!("/v1/banks/LOCAL/changes?after={after}&limit=10000"));
        assert_eq!(st, StatusCode::OK, "{p}");
        let c = p["changes"].as_array().unwrap();
        if c.is_empty() {
            break;
        }
        for ch in c.iter().filter(|c| c["action"] == "add") {
            adds += 1;
            assert_eq!(ch["actor"], "exchange:partner", "{ch}");
            assert!(seen.insert(ch["value"].as_str().unwrap().to_string()), "added twice: {ch}");
        }
        after = p["next_after"].as_i64().unwrap();
    }
    assert_eq!(adds, N);
    assert!(values.iter().all(|v| seen.contains(v)), "every source entry arrived");

    // A disable at the source stops matching here within two intervals (2 s each).
    let (_, first) = s.get(Some(&src_admin), "/v1/banks/SHARED/entries?limit=2");
    let e0 = &first["entries"][0];
    let e1 = &first["entries"][1];
    let v0 = e0["value"].as_str().unwrap().to_string();
    assert_eq!(f.matches(&matcher, &v0).len(), 1);
    let (st, r) = s.send(
        "PATCH",
        Some(&src_admin),
        &format!("/v1/banks/SHARED/entries/{}", e0["id"]),
        &json!({"enabled": false, "reason": "withdrawn at the source"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    let took = crate::server::until_within(
        "the source's disable stops matching here",
        std::time::Duration::from_secs(4),
        || f.matches(&matcher, &v0).is_empty(),
    );
    eprintln!("disable at the source stopped matching at the follower in {took:?}");

    // A local decision stands against the source's change, and is listed.
    let v1 = e1["value"].as_str().unwrap();
    let m = f.matches(&matcher, v1);
    let local_id = m[0]["entry_id"].as_i64().unwrap_or_else(|| panic!("{m:?}"));
    let (st, r) = f.send(
        "PATCH",
        Some(&admin),
        &format!("/v1/banks/LOCAL/entries/{local_id}"),
        &json!({"enabled": false, "reason": "not illegal here"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    let (st, r) = s.send(
        "PATCH",
        Some(&src_admin),
        &format!("/v1/banks/SHARED/entries/{}", e1["id"]),
        &json!({"category": "baseline", "reason": "assessed"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    crate::server::until_within(
        "the conflict is listed",
        std::time::Duration::from_secs(10),
        || state(&f)["conflicts"] == 1,
    );
    let (st, c) = f.get(Some(&admin), "/v1/exchanges/partner/conflicts");
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["conflicts"][0]["entry_id"].as_i64(), Some(local_id), "{c}");
    assert!(f.matches(&matcher, v1).is_empty(), "the local disable stands");
    let out = local.spoor(&["exchange", "conflicts", "partner"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("changed here by key:admin"), "{out:?}");

    // HMA's routes and `spoor exchange list` say where it is.
    let (st, names) = f.get(Some(&admin), "/hma/c/exchanges");
    assert_eq!((st, names), (StatusCode::OK, json!(["partner"])));
    let (st, status) = f.get(Some(&admin), "/hma/c/exchange/partner/status");
    assert_eq!(st, StatusCode::OK, "{status}");
    assert_eq!(status["last_fetch_succeeded"], true, "{status}");
    assert_eq!(status["fetched_items"].as_u64(), Some(N), "{status}");
    assert!(status["last_fetch_complete_ts"].as_i64().is_some(), "{status}");
    let (st, v) = f.get(Some(&admin), "/hma/c/exchange/nope/status");
    assert_eq!(
        (st, v["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("exchange 'nope' not found"))
    );
    let text = String::from_utf8_lossy(&local.spoor(&["exchange", "list"]).stdout).to_string();
    assert!(text.contains("partner") && text.contains("1 conflicts"), "{text}");
    assert!(!text.contains(&key) && !listed(&local).to_string().contains(&key));
    f.stop();
    s.stop();
}

/// `/v1/exchanges`: admins set exchanges up and remove them, auditors read them, nobody reads
/// a key back; bad input is refused with nothing written; in loopback-only mode a source
/// elsewhere is refused.
#[test]
fn exchanges_through_the_api() {
    let store = Store::sqlite();
    assert!(store.spoor(&["bank", "create", "LOCAL"]).status.success());
    let admin = store.key("admin", "admin", None);
    let auditor = store.key("auditor", "aud", None);
    let curator = store.key("curator", "cur", None);
    let s = Server::start(&store, &["--reports-loopback-only"]);
    let key = "spoor_abc.secret-part";
    let body = |name: &str, url: &str, into: &str| {
        json!({"name": name, "source_url": url, "remote_bank": "SHARED", "local_bank": into,
               "key": key, "interval_ms": 60000})
    };
    for (b, want) in [
        (body("x", "http://10.0.0.1:80", "LOCAL"), StatusCode::FORBIDDEN),
        (body("x", "ftp://127.0.0.1:1", "LOCAL"), StatusCode::BAD_REQUEST),
        (body("x y", "http://127.0.0.1:1", "LOCAL"), StatusCode::BAD_REQUEST),
        (body("x", "http://127.0.0.1:1", "NOPE"), StatusCode::NOT_FOUND),
        (json!({"name": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"colour": "red"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (st, v) = s.send("POST", Some(&admin), "/v1/exchanges", &b);
        let ok = st == want
            || (want == StatusCode::UNPROCESSABLE_ENTITY && st == StatusCode::BAD_REQUEST);
        assert!(ok, "{b}: {st} {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    let (_, v) = s.get(Some(&admin), "/v1/exchanges");
    assert_eq!(v, json!({"exchanges": []}), "nothing half-written");
    let (st, v) =
        s.send("POST", Some(&curator), "/v1/exchanges", &body("x", "http://127.0.0.1:1", "LOCAL"));
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) =
        s.send("POST", Some(&admin), "/v1/exchanges", &body("x", "http://127.0.0.1:1", "LOCAL"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(!v.to_string().contains("secret-part"), "{v}");
    assert_eq!((v["name"].as_str(), v["position"].as_i64()), (Some("x"), Some(0)), "{v}");
    let (st, _) =
        s.send("POST", Some(&admin), "/v1/exchanges", &body("x", "http://127.0.0.1:1", "LOCAL"));
    assert_eq!(st, StatusCode::CONFLICT);
    // The follower tries it (nothing listens there) and records why it failed.
    crate::server::until_within(
        "the failed pull is recorded",
        std::time::Duration::from_secs(10),
        || s.get(Some(&auditor), "/v1/exchanges/x").1["failures"].as_i64() >= Some(1),
    );
    let (st, v) = s.get(Some(&auditor), "/v1/exchanges");
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["exchanges"][0]["last_error"].as_str().is_some(), "{v}");
    assert!(!v.to_string().contains("secret-part"), "{v}");
    assert_eq!(s.get(Some(&curator), "/v1/exchanges").0, StatusCode::FORBIDDEN);
    assert_eq!(s.get(Some(&auditor), "/v1/exchanges/x/conflicts").1, json!({"conflicts": []}));
    for path in [
        "/v1/exchanges/x/conflicts?limit=0",
        "/v1/exchanges/x/conflicts?before=-1",
        "/v1/exchanges/x/conflicts?x=1",
    ] {
        assert_eq!(s.get(Some(&admin), path).0, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(s.get(Some(&admin), "/v1/exchanges/nope").0, StatusCode::NOT_FOUND);
    let del = |k: &str, name: &str| {
        s.http
            .delete(s.url(&format!("/v1/exchanges/{name}")))
            .bearer_auth(k)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(del(&auditor, "x"), StatusCode::FORBIDDEN);
    assert_eq!(del(&admin, "x"), StatusCode::NO_CONTENT);
    assert_eq!(del(&admin, "x"), StatusCode::NOT_FOUND);
    let (_, log) = s.get(Some(&admin), "/v1/audit?limit=1000");
    let actions: Vec<&str> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["object_kind"] == "exchange")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["exchange_create", "exchange_conflicts_read", "exchange_delete"]);
    assert!(!log.to_string().contains("secret-part"));
    s.stop();
}

/// The console's exchanges page: an admin sets one up (every field checked, the problems said
/// on the page, nothing half-written; the key never shown back), sees it fail against a port
/// nothing listens on, opens its page (recorded before it is shown) and removes it; an auditor
/// reads but cannot change; a curator cannot open it.
#[test]
fn exchanges_in_the_console() {
    use crate::web::logged_in;
    let store = Store::sqlite();
    assert!(store.spoor(&["bank", "create", "LOCAL"]).status.success());
    let admin_key = store.key("admin", "api-admin", None);
    let s = Server::start(&store, &["--reports-loopback-only", "--exchange-lease", "2s"]);
    let (mut w, csrf) = logged_in(&store, &s, "ada", "admin");
    let a = w.get("/exchanges");
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("No exchanges yet.") && a.body.contains("Follow this bank"));
    assert!(a.body.contains("href=\"/exchanges\" aria-current=\"page\""), "in the navigation");

    let a = w.post(
        "/exchanges",
        &[
            ("name", ""),
            ("source_url", "https://partner.example"),
            ("remote_bank", ""),
            ("local_bank", "LOCAL"),
            ("key", ""),
            ("interval", "0"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    for said in [
        "Enter a name for the exchange",
        "connects only to loopback addresses",
        "Enter the name of the bank at the source",
        "Enter the exchange key",
        "from 1 to 86400",
    ] {
        assert!(a.body.contains(said), "{said}: {}", a.body);
    }
    assert!(a.body.contains("value=\"https://partner.example\""), "what was typed stays");
    let out = store.spoor(&["exchange", "list", "--json"]);
    assert!(out.stdout.is_empty(), "nothing half-written");

    let url = format!("http://127.0.0.1:{}", free_port());
    let a = w.post(
        "/exchanges",
        &[
            ("name", "partner"),
            ("source_url", &url),
            ("remote_bank", "SHARED"),
            ("local_bank", "LOCAL"),
            ("key", "spoor_abc.secret-part"),
            ("interval", "1"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Exchange partner set up"), "{}", a.body);
    assert!(!a.body.contains("secret-part"));
    crate::server::until_within(
        "the failing pull shows",
        std::time::Duration::from_secs(10),
        || w.get("/exchanges").body.contains("failed in a row"),
    );
    let a = w.get("/exchanges/partner");
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Conflicts (0)") && a.body.contains("cannot reach"), "{}", a.body);
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    assert!(!a.body.contains("secret-part"));
    assert_eq!(w.get("/exchanges/nope").status, StatusCode::NOT_FOUND);
    let (_, log) = s.get(Some(&admin_key), "/v1/audit?action=exchange_conflicts_view");
    assert_eq!(log["records"][0]["actor"], "ada", "{log}");

    // An auditor reads; a curator does not even read.
    let (mut au, au_csrf) = logged_in(&store, &s, "aud", "auditor");
    let a = au.get("/exchanges");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("partner") && !a.body.contains("Follow this bank"));
    let a = au
        .post("/exchanges/remove", &[("name", "partner"), ("confirm", "yes"), ("csrf", &au_csrf)]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let (mut cu, _) = logged_in(&store, &s, "cur", "curator");
    assert_eq!(cu.get("/exchanges").status, StatusCode::FORBIDDEN);
    assert!(!cu.get("/").body.contains("href=\"/exchanges\""));

    // Removing asks for a confirmation, then removes.
    let a = w.post("/exchanges/remove", &[("name", "partner"), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("Nothing was removed"));
    let a =
        w.post("/exchanges/remove", &[("name", "partner"), ("confirm", "yes"), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Exchange partner removed") && a.body.contains("No exchanges yet."));
    let (_, log) = s.get(Some(&admin_key), "/v1/audit?limit=1000");
    let by_ada: Vec<&str> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["object_kind"] == "exchange" && r["actor"] == "ada")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(by_ada, ["exchange_create", "exchange_conflicts_view", "exchange_delete"]);
    s.stop();
}

/// An admin follows a partner's bank in Chromium: sets the exchange up on the Exchanges page
/// (a refused form first), watches it bring the partner's entries, finds a conflict on the
/// exchange's page after deciding otherwise here, and removes the exchange behind its
/// confirmation. Both pages pass the accessibility checks (labels, 200 % zoom); screenshots
/// go to `target/console-screenshots/exchange*.png`.
#[test]
fn an_admin_follows_a_partner_in_the_browser() {
    use crate::browser::{browser_setup, chromedriver, code, unix, Browser};
    let Some(driver) = chromedriver() else { return };
    const N: u64 = 300;
    let source = Store::sqlite();
    assert!(source.spoor(&["bank", "create", "SHARED"]).status.success());
    let list = source.dir.path().join("hashes.txt");
    std::fs::write(&list, (0..N).map(nth_pdq).collect::<Vec<_>>().join("\n")).unwrap();
    let out = source.spoor(&["bank", "import", "SHARED", list.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let src_admin = source.key("admin", "admin", None);
    let key = source.key("exchange", "to-local", Some("SHARED"));
    let s = Server::start(&source, &[]);

    let local = Store::sqlite();
    assert!(local.spoor(&["bank", "create", "LOCAL"]).status.success());
    let admin = local.key("admin", "api-admin", None);
    let matcher = local.key("matcher", "m", None);
    let f = Server::start(&local, &["--exchange-lease", "2s"]);
    let base = f.base.clone();
    let password = "plum tractor seventeen";
    let link = local.person("ada", "admin", &base);
    let b = Browser::start(&driver);
    let secret = browser_setup(&b, &link, "ada", password, false);
    b.login(&base, "ada", password, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/", "{}", b.text());

    // The page, then a form with mistakes: refused field by field, nothing set up.
    b.click("nav a[href='/exchanges']");
    assert_eq!(b.path(), "/exchanges");
    assert!(b.text().contains("No exchanges yet."), "{}", b.text());
    b.fill("#name", "partner");
    b.fill("#source_url", "ftp://partner.example");
    b.fill("#remote_bank", "SHARED");
    b.select("#local_bank", "LOCAL");
    b.fill("#interval", "1");
    b.click("form[action='/exchanges'] button[type=submit]");
    let t = b.text();
    assert!(t.contains("There is a problem") && t.contains("Enter the exchange key"), "{t}");
    assert!(t.contains("give an http or https URL") || t.contains("http or https"), "{t}");
    assert_eq!(b.eval("return document.querySelectorAll('.error-summary li').length;"), 2);
    b.shot("exchange-refused");
    assert!(b.accessibility_problems().is_empty(), "{:?}", b.accessibility_problems());

    // Set up properly: the key is taken and never shown back.
    b.fill("#source_url", &s.base);
    assert_eq!(b.eval("return document.querySelector('#name').value;"), "partner", "kept");
    b.fill("#key", &key);
    b.click("form[action='/exchanges'] button[type=submit]");
    assert!(b.text().contains("Exchange partner set up"), "{}", b.text());
    assert!(!b.text().contains(&key));
    crate::server::until_within(
        "the page says the exchange is up to date",
        std::time::Duration::from_secs(30),
        || {
            b.go(&format!("{base}/exchanges"));
            b.text_of("#exchanges tbody tr").contains("up to date")
        },
    );
    let row = b.text_of("#exchanges tbody tr");
    assert!(row.contains(&format!("{N} added")), "{row}");
    assert_eq!(f.matches(&matcher, &nth_pdq(7)).len(), 1, "the partner's entries match here");
    b.shot("exchanges");
    let problems = b.accessibility_problems();
    assert!(problems.is_empty(), "{problems:?}");

    // Decided otherwise here, changed at the source: a conflict on the exchange's page.
    let local_id = f.matches(&matcher, &nth_pdq(7))[0]["entry_id"].as_i64().unwrap();
    let (st, r) = f.send(
        "PATCH",
        Some(&admin),
        &format!("/v1/banks/LOCAL/entries/{local_id}"),
        &json!({"enabled": false, "reason": "not illegal here"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    let (_, at_source) =
        s.get(Some(&src_admin), &format!("/v1/match?signal_type=pdq&value={}", nth_pdq(7)));
    let src_id = at_source["matches"][0]["entry_id"].as_i64().unwrap();
    let (st, r) = s.send(
        "PATCH",
        Some(&src_admin),
        &format!("/v1/banks/SHARED/entries/{src_id}"),
        &json!({"category": "baseline", "reason": "assessed"}),
    );
    assert_eq!(st, StatusCode::OK, "{r}");
    b.click("#exchanges tbody th a");
    assert_eq!(b.path(), "/exchanges/partner");
    crate::server::until_within("the conflict shows", std::time::Duration::from_secs(15), || {
        b.go(&format!("{base}/exchanges/partner"));
        b.text_of("#conflicts") == "Conflicts (1)"
    });
    let t = b.text();
    assert!(t.contains(&format!("{N} entries added")), "{t}");
    assert!(t.contains("changed here by key:api-admin"), "{t}");
    b.shot("exchange");
    let problems = b.accessibility_problems();
    assert!(problems.is_empty(), "{problems:?}");
    b.click(&format!("a[href='/banks/LOCAL/entries/{local_id}']"));
    assert!(b.text().contains("not illegal here"), "the entry's page: {}", b.text());

    // Removal asks for the confirmation first.
    b.go(&format!("{base}/exchanges"));
    b.script("document.querySelector('#exchanges details').open = true;");
    b.click("form[action='/exchanges/remove'] button[type=submit]");
    assert!(b.text().contains("partner"), "still there without the confirmation: {}", b.text());
    assert!(local.spoor(&["exchange", "list", "--json"]).stdout.len() > 2);
    b.script("document.querySelector('#exchanges details').open = true;");
    b.keys("#confirm-0", " ");
    b.click("form[action='/exchanges/remove'] button[type=submit]");
    assert!(b.text().contains("No exchanges yet."), "{}", b.text());
    b.close();
    assert_eq!(f.matches(&matcher, &nth_pdq(8)).len(), 1, "what it brought stays");
}
