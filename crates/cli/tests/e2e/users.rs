//! `spoor users` end to end: the real binary on a store in a temporary directory (and on
//! PostgreSQL when `SPOOR_TEST_DATABASE_URL` is set).

use crate::server;

use serde_json::Value;
use server::Store;
use spoor_bank::people::token_hash;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "status {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn list(store: &Store) -> Vec<Value> {
    ok(&store.spoor(&["users", "list"])).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The token of a setup link: what follows `/setup/`.
fn token_of(link: &str) -> &str {
    link.rsplit_once("/setup/").unwrap().1
}

fn users(store: Store) {
    let out = ok(&store.spoor(&["users", "create", "--name", "reviewer1", "--role", "reviewer"]));
    let link = out.lines().last().unwrap();
    assert!(link.starts_with("http://127.0.0.1:5100/setup/"), "{link}");
    let token = token_of(link);
    assert_eq!(token.len(), 43, "{link}");

    let out = ok(&store.spoor(&[
        "users",
        "create",
        "--name",
        "ann.admin",
        "--role",
        "admin",
        "--base-url",
        "https://spoor.example.org/",
    ]));
    let admin_link = out.lines().last().unwrap().to_string();
    assert!(admin_link.starts_with("https://spoor.example.org/setup/"), "{admin_link}");
    assert_ne!(token_of(&admin_link), token);

    // The store knows the link by its hash only; it leads to the right person.
    let location = match store.flag {
        "--data-dir" => spoor_bank::Location::DataDir(store.value.clone().into()),
        _ => spoor_bank::Location::Postgres(store.value.clone()),
    };
    let st = spoor_bank::open(&location).unwrap();
    let u = st.user_by_setup_token(&token_hash(token), spoor_bank::model::now_ms()).unwrap();
    assert_eq!(u.unwrap().name, "reviewer1");

    let all = list(&store);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["name"], "ann.admin");
    assert_eq!(all[1]["role"], "reviewer");
    assert_eq!(all[1]["state"], "setup pending");
    for u in &all {
        let text = u.to_string();
        assert!(!text.contains("password_hash") && !text.contains("totp_secret"), "{text}");
    }

    // Refusals name the problem.
    let e = failed(&store.spoor(&["users", "create", "--name", "reviewer1", "--role", "admin"]));
    assert!(e.contains("exists already"), "{e}");
    let e = failed(&store.spoor(&["users", "create", "--name", "Bad Name", "--role", "admin"]));
    assert!(e.contains("invalid person name"), "{e}");
    let e = failed(&store.spoor(&["users", "create", "--name", "x", "--role", "matcher"]));
    assert!(e.contains("unknown role"), "{e}");
    let e = failed(&store.spoor(&[
        "users",
        "create",
        "--name",
        "y",
        "--role",
        "admin",
        "--base-url",
        "ftp://x",
    ]));
    assert!(e.contains("http://"), "{e}");

    // Role change, reset (a new link; the old one stops working), disable (a reason is needed).
    let out = ok(&store.spoor(&["users", "role", "reviewer1", "auditor"]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["role"], "auditor");
    let out = ok(&store.spoor(&["users", "reset", "reviewer1"]));
    let new_link = out.lines().last().unwrap();
    assert!(new_link.contains("/setup/"), "{new_link}");
    let now = spoor_bank::model::now_ms();
    assert!(st.user_by_setup_token(&token_hash(token), now).unwrap().is_none());
    assert!(st.user_by_setup_token(&token_hash(token_of(new_link)), now).unwrap().is_some());

    let e = String::from_utf8_lossy(&store.spoor(&["users", "disable", "reviewer1"]).stderr)
        .to_string();
    assert!(e.contains("--reason"), "{e}");
    let out = ok(&store.spoor(&["users", "disable", "reviewer1", "--reason", "left the team"]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["state"], "disabled");
    assert_eq!(v["disabled"]["reason"], "left the team");
    let e = failed(&store.spoor(&["users", "reset", "reviewer1"]));
    assert!(e.contains("disabled, for good"), "{e}");
    let e = failed(&store.spoor(&["users", "disable", "nobody", "--reason", "x"]));
    assert!(e.contains("no person named"), "{e}");

    // Each change is in the audit log, by the operator, without the links' tokens.
    let log = st.audit_records(&spoor_bank::AuditQuery::after(0, 1000)).unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.actor_kind.as_str(), r.action.as_str(), r.object_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("cli", "user_create", "reviewer1"),
            ("cli", "user_create", "ann.admin"),
            ("cli", "user_role", "reviewer1"),
            ("cli", "user_reset", "reviewer1"),
            ("cli", "user_disable", "reviewer1"),
        ]
    );
    assert!(log[2].details.contains("auditor") && log[4].details.contains("left the team"));
    let text = format!("{log:?}");
    assert!(!text.contains(token) && !text.contains(token_of(new_link)), "no token is recorded");
}

#[test]
fn users_sqlite() {
    users(Store::sqlite());
}

#[test]
fn users_postgres() {
    if let Some(store) = Store::postgres() {
        users(store);
    }
}

/// Review queues: a person made limited to some queues is listed with them; `set-queues`
/// changes them or with `--all` opens every queue; bad lists are refused naming the problem and
/// change nothing; each change is audited by the operator.
fn queues(store: Store) {
    let out = ok(&store.spoor(&[
        "users",
        "create",
        "--name",
        "team.b",
        "--role",
        "reviewer",
        "--queues",
        "team-b,main",
    ]));
    assert!(out.lines().last().unwrap().contains("/setup/"), "{out}");
    ok(&store.spoor(&["users", "create", "--name", "every1", "--role", "reviewer"]));
    let all = list(&store);
    assert_eq!(all[0]["name"], "every1");
    assert!(all[0].get("queues").is_none(), "every queue: no list shown: {}", all[0]);
    assert_eq!(all[1]["queues"], serde_json::json!(["main", "team-b"]));

    let out = ok(&store.spoor(&["users", "set-queues", "every1", "--queues", "team-c"]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["queues"], serde_json::json!(["team-c"]));
    let out = ok(&store.spoor(&["users", "set-queues", "team.b", "--all"]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v.get("queues").is_none(), "{v}");

    for (args, says) in [
        (&["users", "set-queues", "every1", "--queues", "Team C"][..], "invalid queue name"),
        (&["users", "set-queues", "every1", "--queues", "main,senior"], "administrators"),
        (&["users", "set-queues", "nobody", "--queues", "main"], "no person named"),
        (&["users", "create", "--name", "z", "--role", "reviewer", "--queues", "a b"], "invalid"),
    ] {
        let e = failed(&store.spoor(args));
        assert!(e.contains(says), "{args:?}: {e}");
    }
    let e = store.spoor(&["users", "set-queues", "every1"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("--queues"), "--queues or --all");
    let e = store.spoor(&["users", "set-queues", "every1", "--queues", "a", "--all"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("cannot be used with"));
    assert_eq!(list(&store)[0]["queues"], serde_json::json!(["team-c"]), "unchanged");

    let location = match store.flag {
        "--data-dir" => spoor_bank::Location::DataDir(store.value.clone().into()),
        _ => spoor_bank::Location::Postgres(store.value.clone()),
    };
    let st = spoor_bank::open(&location).unwrap();
    let log = st.audit_records(&spoor_bank::AuditQuery::after(0, 1000)).unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.actor_kind.as_str(), r.action.as_str(), r.object_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("cli", "user_create", "team.b"),
            ("cli", "user_create", "every1"),
            ("cli", "user_queues", "every1"),
            ("cli", "user_queues", "team.b"),
        ]
    );
    assert!(log[0].details.contains(r#""queues":["main","team-b"]"#), "{}", log[0].details);
    assert!(log[3].details.contains(r#""to":"every""#), "{}", log[3].details);
}

#[test]
fn queues_sqlite() {
    queues(Store::sqlite());
}

#[test]
fn queues_postgres() {
    if let Some(store) = Store::postgres() {
        queues(store);
    }
}
