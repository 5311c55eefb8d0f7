//! Retention end to end with the real binary: cases with held content made through the API,
//! one put under a legal hold (bad holds refused), then `spoor retention run` as at 12 months
//! and a day later: the dry run changes nothing and counts what the run then does; the run
//! erases the personal data of every case not held and deletes their held content from the
//! media directory; the held case stays whole until its hold ends; the audit chain verifies
//! after each run. A policy above 12 months without a reason stops `spoor serve` and `spoor
//! retention run` with a message saying what to do.

use crate::server;

use std::path::Path;

use reqwest::blocking::multipart;
use reqwest::StatusCode;
use serde_json::{json, Value};

use server::{Server, Store};

const DAY_MS: i64 = 86_400_000;

fn files_in(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    n += 1;
                }
            }
        }
    }
    n
}

fn bytes(n: usize) -> Vec<u8> {
    format!("spoor retention test file {n}\n").into_bytes()
}

fn md5(n: usize) -> String {
    spoor_audit::hex(&spoor_hash::digest::Digests::of(&bytes(n)).md5.0)
}

fn run(store: &Store, args: &[&str]) -> (bool, Value, String) {
    let mut all = vec!["retention", "run"];
    all.extend(args);
    let out = store.spoor(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = stdout.lines().last().and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default();
    (out.status.success(), v, String::from_utf8_lossy(&out.stderr).to_string())
}

fn case_of(store: &Store, id: i64) -> spoor_bank::cases::Case {
    let s = spoor_bank::open(&spoor_bank::Location::DataDir(store.value.clone().into())).unwrap();
    s.case(id).unwrap()
}

#[test]
fn a_year_and_a_day_later_personal_data_and_content_are_gone_but_held_cases_stay() {
    let store = Store::sqlite();
    let dir = store.dir.path().to_path_buf();
    let key = dir.join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success());
    let media_dir = dir.join("media");
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let s = Server::start(
        &store,
        &["--media-key-file", key.to_str().unwrap(), "--media-dir", media_dir.to_str().unwrap()],
    );
    let (st, v) = s.send(
        "POST",
        Some(&admin),
        "/v1/banks",
        &json!({"name": "KNOWN", "review_required": true}),
    );
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries: Vec<Value> = (0..3)
        .map(|n| json!({"signal_type": "md5", "value": md5(n), "category": "baseline"}))
        .collect();
    let (st, v) =
        s.send("POST", Some(&admin), "/v1/banks/KNOWN/entries", &json!({"entries": entries}));
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entries live", || {
        let (_, v) = s.get(Some(&admin), &format!("/v1/match?signal_type=md5&value={}", md5(2)));
        v["matches"].as_array().is_some_and(|m| !m.is_empty())
    });
    let ids: Vec<i64> = (0..3)
        .map(|n| {
            let meta = json!({"reason": "match", "service": "photos",
                "content_ref": format!("https://photos.example/item-{n}"),
                "uploader_ref": format!("user-{n}"), "upload_ip": "192.0.2.7"});
            let form = multipart::Form::new()
                .text("meta", meta.to_string())
                .part("file", multipart::Part::bytes(bytes(n)).file_name("upload.bin"));
            let r = s.http.post(s.url("/v1/cases")).bearer_auth(&hoster).multipart(form).send();
            let v: Value = r.unwrap().json().unwrap();
            assert_eq!(v["case"]["media_held"], true, "{v}");
            v["case"]["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(files_in(&media_dir), 3);

    // A legal hold on the last case, for 500 days; bad holds are refused.
    let now = spoor_bank::model::now_ms();
    let hold_end = now + 500 * DAY_MS;
    let path = format!("/v1/cases/{}/legal-hold", ids[2]);
    let until = spoor_bank::model::format_time(hold_end);
    for (body, status) in [
        (json!({"until": until, "reason": " "}), StatusCode::BAD_REQUEST),
        (json!({"until": "2020-01-01T00:00:00Z", "reason": "order"}), StatusCode::BAD_REQUEST),
        (json!({"until": until, "reason": "order", "extra": 1}), StatusCode::BAD_REQUEST),
        (json!({"until": "tomorrow", "reason": "order"}), StatusCode::BAD_REQUEST),
    ] {
        let (st, v) = s.send("POST", Some(&admin), &path, &body);
        assert_eq!(st, status, "{body}: {v}");
    }
    let (st, _) = s.send("POST", Some(&hoster), &path, &json!({"until": until, "reason": "x"}));
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.send(
        "POST",
        Some(&admin),
        "/v1/cases/9999/legal-hold",
        &json!({"until": until, "reason": "x"}),
    );
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = s.send(
        "POST",
        Some(&admin),
        &path,
        &json!({"until": until, "reason": "court order 2026/17"}),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["legal_hold"]["reason"], "court order 2026/17");
    s.stop();

    let key_flag = key.to_str().unwrap();
    let media_flag = media_dir.to_str().unwrap();
    let later = spoor_bank::model::format_time(now + 366 * DAY_MS);
    let (ok, dry, err) = run(
        &store,
        &["--dry-run", "--now", &later, "--media-key-file", key_flag, "--media-dir", media_flag],
    );
    assert!(ok, "{err}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        (dry["counts"]["case_personal"].as_u64(), dry["counts"]["media"].as_u64()),
        (Some(2), Some(2)),
        "{dry}"
    );
    assert_eq!(dry["counts"]["held_back"], 1);
    assert_eq!(files_in(&media_dir), 3, "a dry run deletes nothing");
    assert!(case_of(&store, ids[0]).meta.uploader_ref.is_some());
    let (ok, done, err) =
        run(&store, &["--now", &later, "--media-key-file", key_flag, "--media-dir", media_flag]);
    assert!(ok, "{err}");
    assert_eq!(done["counts"], dry["counts"], "the run does what the dry run counted");
    for id in &ids[..2] {
        let c = case_of(&store, *id);
        assert!(c.meta.content_ref.is_none() && c.meta.uploader_ref.is_none(), "{c:?}");
        assert!(c.meta.upload_ip.is_none() && c.media.is_none() && c.personal_purged_at.is_some());
    }
    let held = case_of(&store, ids[2]);
    assert_eq!(held.meta.uploader_ref.as_deref(), Some("user-2"));
    assert!(held.media.is_some());
    assert_eq!(files_in(&media_dir), 1, "only the held case's content is left");
    let out = store.spoor(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // After the hold ends, the held case goes too.
    let after = spoor_bank::model::format_time(hold_end + DAY_MS);
    let (ok, v, err) =
        run(&store, &["--now", &after, "--media-key-file", key_flag, "--media-dir", media_flag]);
    assert!(ok, "{err}");
    assert_eq!(
        (v["counts"]["case_personal"].as_u64(), v["counts"]["media"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(files_in(&media_dir), 0);
    assert!(case_of(&store, ids[2]).meta.uploader_ref.is_none());
    let out = store.spoor(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Above 12 months without a reason: refused, with what to do; with a reason: accepted.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[retention]\ncase_personal_days = 400\n").unwrap();
    let (ok, _, err) = run(&store, &["--retention", bad.to_str().unwrap(), "--dry-run"]);
    assert!(!ok && err.contains("exceed_reason") && err.contains("12 months"), "{err}");
    let out =
        store.spoor(&["serve", "--listen", "127.0.0.1:0", "--retention", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exceed_reason"));
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[retention]\ncase_personal_dayz = 30\n").unwrap();
    let (ok, _, err) = run(&store, &["--retention", typo.to_str().unwrap(), "--dry-run"]);
    assert!(!ok && err.contains("case_personal_dayz"), "{err}");
    let why = dir.join("why.toml");
    std::fs::write(
        &why,
        "[retention]\ncase_personal_days = 400\nexceed_reason = \"proceedings 2026/17\"\n",
    )
    .unwrap();
    let (ok, v, err) = run(&store, &["--retention", why.to_str().unwrap(), "--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(v["dry_run"], true);
}
