//! Complaints end to end: the real binary on 127.0.0.1 with a provider's webhook, a test NCMEC
//! and a test EU Centre. A confirmed case is reported to both; the person affected complains
//! through the provider; the reviewer who confirmed the case is refused; another overturns:
//! the provider's restore webhook arrives (HMAC checked), the case is reversed and counted as
//! a false positive for its entry, the EU Centre gets a signed follow-up, and NCMEC's
//! follow-up waits for a person, who records it once. Bad complaints are refused with what is
//! wrong; a complaint past its deadline is counted overdue and recorded.
//!
//! Only 127.0.0.1 is connected to (the service resolves no name: `--reports-loopback-only`).

use crate::receivers;
use crate::server;
use crate::world;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use receivers::{EuCentre, Ncmec, Recorder};
use server::{until_within, Server, Store};
use world::{start, world, World, HOOK_SECRET, PASSWORD, USER};

fn md5(n: u64) -> String {
    format!("{:032x}", 0x5eed_0000u128 + u128::from(n))
}

/// A bank whose matches need review, holding the MD5s of items 1 to 3.
fn bank(s: &Server, admin: &str) {
    let (st, v) = s.send(
        "POST",
        Some(admin),
        "/v1/banks",
        &json!({"name": "KNOWN", "review_required": true}),
    );
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries: Vec<Value> = (1..=3)
        .map(|n| json!({"signal_type": "md5", "value": md5(n), "category": "baseline"}))
        .collect();
    let (st, v) =
        s.send("POST", Some(admin), "/v1/banks/KNOWN/entries", &json!({"entries": entries}));
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entries live", || {
        let (_, v) = s.get(Some(admin), &format!("/v1/match?signal_type=md5&value={}", md5(3)));
        v["matches"].as_array().is_some_and(|m| !m.is_empty())
    });
}

/// Submits item `n` (signals only) and returns the case.
fn case(s: &Server, hoster: &str, n: u64) -> Value {
    let body = json!({"meta": {"reason": "match", "service": "photos",
            "content_ref": format!("https://photos.example/item-{n}"), "uploader_ref": "user-7"},
        "signals": {"md5": md5(n)}});
    let (st, v) = s.send("POST", Some(hoster), "/v1/cases", &body);
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["case"]["state"], "queued", "{v}");
    v["case"].clone()
}

fn confirm(s: &Server, reviewer: &str, id: i64) {
    let d = json!({"verdict": "confirm", "category": "baseline"});
    let (st, v) = s.send("POST", Some(reviewer), &format!("/v1/cases/{id}/decision"), &d);
    assert_eq!(st, StatusCode::OK, "{v}");
}

fn metrics(s: &Server) -> String {
    s.http.get(s.url("/metrics")).send().unwrap().text().unwrap()
}

/// The value of the first `/metrics` line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

/// Webhook bodies of `event`, each signature checked.
fn events(hook: &Recorder, event: &str) -> Vec<Value> {
    hook.events(event)
        .into_iter()
        .map(|(h, b)| {
            let ts: i64 = h["x-spoor-timestamp"].parse().unwrap();
            assert!(
                spoor_server::webhook::verify(
                    HOOK_SECRET.as_bytes(),
                    ts,
                    b.as_bytes(),
                    &h["x-spoor-signature"]
                ),
                "the provider can check every message"
            );
            serde_json::from_str(&b).unwrap()
        })
        .collect()
}

fn reports_of(s: &Server, admin: &str, case: i64) -> Vec<Value> {
    let (st, v) = s.get(Some(admin), "/v1/reports?limit=100");
    assert_eq!(st, StatusCode::OK, "{v}");
    v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cases"].as_array().unwrap().iter().any(|c| c == case))
        .cloned()
        .collect()
}

/// The whole path of an overturn, with the refusals on the way.
#[test]
fn an_overturn_restores_reverses_counts_and_follows_up() {
    let (ncmec, eu, hook) = (Ncmec::start(USER, PASSWORD), EuCentre::start(), Recorder::start());
    let w = world(Store::sqlite(), &ncmec, &eu, &hook, "7d");
    let s = start(&w);
    bank(&s, &w.admin);
    let c1 = case(&s, &w.hoster, 1);
    let id = c1["id"].as_i64().unwrap();
    let entry = c1["matches"][0]["entry_id"].as_i64().unwrap();
    let open = case(&s, &w.hoster, 2)["id"].as_i64().unwrap();
    confirm(&s, &w.rita, id);
    until_within("both reports finished", Duration::from_secs(20), || {
        let r = reports_of(&s, &w.admin, id);
        r.len() == 2 && r.iter().all(|r| r["state"] == "finished")
    });
    let reports = reports_of(&s, &w.admin, id);
    let eu_report = reports.iter().find(|r| r["recipient"] == "eu_centre").unwrap().clone();
    let ncmec_report = reports.iter().find(|r| r["recipient"] == "ncmec").unwrap().clone();
    let eu_before = eu.with(|st| st.by_key.len());

    // Bad complaints say what is wrong.
    let post = |body: &Value| s.send("POST", Some(&w.hoster), "/v1/complaints", body);
    let good =
        json!({"case_id": id, "complainant": "user-7", "text": "My own photo.\nPlease check."});
    for (body, status, says) in [
        (json!({"complainant": "user-7", "text": "t"}), 400, "case_id or by content_ref"),
        (
            json!({"case_id": id, "content_ref": "x", "complainant": "u", "text": "t"}),
            400,
            "one of the two",
        ),
        (json!({"case_id": id, "complainant": "u", "text": "t", "urgent": true}), 400, "urgent"),
        (json!({"case_id": id, "complainant": "u", "text": "  \n "}), 400, "text"),
        (json!({"case_id": id, "complainant": "", "text": "t"}), 400, "complainant"),
        (json!({"case_id": id, "complainant": "u", "text": "bell\u{7}"}), 400, "control"),
        (json!({"case_id": 99_999, "complainant": "u", "text": "t"}), 404, "no case"),
        (
            json!({"content_ref": "https://photos.example/none", "complainant": "u", "text": "t"}),
            404,
            "content_ref",
        ),
        (json!({"case_id": open, "complainant": "u", "text": "t"}), 409, "no decision"),
    ] {
        let (st, v) = post(&body);
        assert_eq!(st.as_u16(), status, "{body}: {v}");
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(says), "{body}: {m}");
    }
    let raw = s
        .http
        .post(s.url("/v1/complaints"))
        .bearer_auth(&w.hoster)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let (st, _) = s.send("POST", Some(&w.rita), "/v1/complaints", &good);
    assert_eq!(st, StatusCode::FORBIDDEN, "reviewer keys do not file complaints");

    // Filed by the provider's own reference of the content.
    let (st, k) = post(&json!({"content_ref": "https://photos.example/item-1",
        "complainant": "user-7", "text": "My own photo.\nPlease check."}));
    assert_eq!(st, StatusCode::CREATED, "{k}");
    assert_eq!((k["case_id"].as_i64(), k["state"].as_str()), (Some(id), Some("open")));
    assert_eq!(k["overdue"], false);
    let kid = k["id"].as_i64().unwrap();
    let (st, v) = post(&good);
    assert_eq!(st, StatusCode::CONFLICT, "one open complaint per case: {v}");
    let (st, _) = s.get(Some(&w.other), &format!("/v1/complaints/{kid}"));
    assert_eq!(st, StatusCode::NOT_FOUND, "another service's complaint is not shown");
    let (st, v) = s.get(Some(&w.hoster), &format!("/v1/complaints/{kid}"));
    assert_eq!((st, v["text"].as_str()), (StatusCode::OK, Some("My own photo.\nPlease check.")));

    // The reviewer who confirmed the case may not decide the complaint.
    let path = format!("/v1/complaints/{kid}/decision");
    let overturn = json!({"outcome": "overturned", "reason": "A landscape.", "entry_id": entry});
    let (st, v) = s.send("POST", Some(&w.rita), &path, &overturn);
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("took part"), "{v}");
    for (body, status) in [
        (json!({"outcome": "maybe", "reason": "r"}), 400),
        (json!({"outcome": "overturned", "reason": "r"}), 409),
        (json!({"outcome": "overturned", "reason": "r", "entry_id": 777}), 409),
        (json!({"outcome": "overturned", "reason": " ", "entry_id": entry}), 400),
        (json!({"outcome": "upheld", "reason": "r", "extra": 1}), 400),
    ] {
        let (st, v) = s.send("POST", Some(&w.sam), &path, &body);
        assert_eq!(st.as_u16(), status, "{body}: {v}");
    }
    let (st, v) = s.send("POST", Some(&w.sam), "/v1/complaints/4242/decision", &overturn);
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = s.get(Some(&w.admin), &format!("/v1/complaints/{kid}"));
    assert_eq!(v["state"], "open", "refusals change nothing: {st} {v}");

    let (st, v) = s.send("POST", Some(&w.sam), &path, &overturn);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!((v["state"].as_str(), v["entry_id"].as_i64()), (Some("overturned"), Some(entry)));
    let (st, v) = s.send("POST", Some(&w.sam), &path, &overturn);
    assert_eq!(st, StatusCode::CONFLICT, "decided once: {v}");

    // The case is reversed, a false positive on complaint for its entry.
    let (_, c) = s.get(Some(&w.admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["state"], "false_positive", "{c}");
    assert_eq!(c["reversed"]["complaint_id"], kid);
    assert_eq!(c["reversed"]["by"], "key:sam");
    // The provider is told to restore the content, and of the outcome, signed.
    until_within("the restore webhook", Duration::from_secs(10), || {
        !events(&hook, "case.restore").is_empty() && !events(&hook, "complaint.decided").is_empty()
    });
    let restore = &events(&hook, "case.restore")[0];
    assert_eq!(restore["case_id"], id);
    assert_eq!(restore["content_ref"], "https://photos.example/item-1");
    assert_eq!(restore["complaint_id"], kid);
    let told = &events(&hook, "complaint.decided")[0];
    assert_eq!(
        (told["outcome"].as_str(), told["complainant"].as_str()),
        (Some("overturned"), Some("user-7"))
    );
    assert_eq!(told["reason"], "A landscape.");
    // The EU Centre gets a signed follow-up naming its report.
    until_within("the EU Centre follow-up", Duration::from_secs(10), || {
        eu.with(|st| st.by_key.len()) == eu_before + 1
    });
    let (body, jws) = eu.with(|st| {
        let fresh: Vec<_> = st
            .by_key
            .values()
            .filter_map(|v| {
                let doc: Value = serde_json::from_str(&v[0].0).ok()?;
                (doc["kind"] == "reversed_on_complaint").then(|| v[0].clone())
            })
            .collect();
        assert_eq!(fresh.len(), 1);
        fresh[0].clone()
    });
    spoor_report::eu::verify(body.as_bytes(), &jws, &w.public_key).expect("signed");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["report_id"], eu_report["uuid"]);
    assert_eq!(doc["withdrawn"][0]["case_id"], id);
    assert_eq!(doc["withdrawn"][0]["hashes"]["md5"], md5(1));
    assert_eq!(doc["report_withdrawn"], true);
    // NCMEC's follow-up waits for a person, who records it once.
    let (st, v) = s.get(Some(&w.admin), "/v1/follow-ups?pending=true");
    assert_eq!(st, StatusCode::OK, "{v}");
    let list = v["follow_ups"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let f = &list[0];
    assert_eq!((f["recipient"].as_str(), f["how"].as_str()), (Some("ncmec"), Some("by_hand")));
    assert_eq!(f["details"]["receiver_report_id"], ncmec_report["remote_id"]);
    assert_eq!(f["details"]["hashes"]["md5"], md5(1));
    let fid = f["id"].as_i64().unwrap();
    let done = format!("/v1/follow-ups/{fid}/done");
    let (st, _) = s.send("POST", Some(&w.sam), &done, &json!({"note": "x"}));
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) =
        s.send("POST", Some(&w.admin), &done, &json!({"note": "emailed NCMEC, ticket 8812"}));
    assert_eq!((st, v["state"].as_str()), (StatusCode::OK, Some("done")), "{v}");
    let (st, _) = s.send("POST", Some(&w.admin), &done, &json!({"note": "again"}));
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, v) = s.get(Some(&w.admin), "/v1/follow-ups");
    assert_eq!(v["follow_ups"].as_array().unwrap().len(), 2, "{st} {v}");

    // Counted: the entry's false positive on complaint, the complaint's outcome.
    until_within("the gauges", Duration::from_secs(15), || {
        let m = metrics(&s);
        metric(&m, "spoor_complaints{state=\"overturned\"}") == Some(1.0)
            && m.lines().any(|l| {
                l.starts_with("spoor_case_outcomes")
                    && l.contains("outcome=\"false_positive_on_complaint\"")
                    && l.ends_with(" 1")
            })
    });
    let m = metrics(&s);
    assert!(m.contains("spoor_complaint_decision_seconds"), "time to decision is measured");
    let (_, a) = s.get(Some(&w.admin), "/v1/audit?limit=1000");
    let actions: Vec<&str> =
        a["records"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for want in ["complaint_create", "complaint_decide", "follow_up_done"] {
        assert_eq!(actions.iter().filter(|a| **a == want).count(), 1, "{want}: {actions:?}");
    }
    let text = a.to_string();
    assert!(!text.contains("Please check"), "the complainant's words stay out of the audit log");

    // Lookups of one client, counted per technology: a digest found and one not, and a
    // batch with a digest found, a PDQ hash found nowhere and an unknown digest.
    let (st, _) = s.get(Some(&w.other), &format!("/v1/match?signal_type=md5&value={}", md5(1)));
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.get(Some(&w.other), &format!("/v1/match?signal_type=md5&value={}", md5(99)));
    assert_eq!(st, StatusCode::OK);
    let batch = json!({"signals": [
        {"signal_type": "md5", "value": md5(2)},
        {"signal_type": "pdq", "value": "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"},
        {"signal_type": "md5", "value": md5(98)},
    ]});
    let (st, r) = s.send("POST", Some(&w.other), "/v1/match", &batch);
    assert_eq!(st, StatusCode::OK, "{r}");

    // The statistics of the day say the same, with the error rate's uncertainty.
    let today = spoor_bank::model::format_time(spoor_bank::model::now_ms())[..10].to_string();
    let (st, v) = s.get(Some(&w.admin), &format!("/v1/statistics?from={today}&to={today}"));
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut lookups: Vec<(String, u64, u64)> = v["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["client"] == "other_service" && u["day"] == today.as_str())
        .map(|u| {
            let t = u["technology"].as_str().unwrap().to_string();
            (t, u["lookups"].as_u64().unwrap(), u["matches"].as_u64().unwrap())
        })
        .collect();
    lookups.sort();
    assert_eq!(lookups, [("md5".into(), 4, 2), ("pdq:none".into(), 1, 0)], "{v}");
    assert!(v["not_recorded"].as_array().unwrap().is_empty(), "counting began today: {v}");
    let m = metrics(&s);
    assert!(m.contains("spoor_lookups_total{technology=\"pdq:none\"}"), "/metrics counts lookups");
    let md5_rows: Vec<&Value> =
        v["cases"].as_array().unwrap().iter().filter(|r| r["technology"] == "md5").collect();
    let sum = |f: &str| md5_rows.iter().map(|r| r[f].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("made"), sum("open"), sum("false_positive_complaint")), (2, 1, 1), "{v}");
    let rate = v["error_rates"].as_array().unwrap().iter().find(|r| r["technology"] == "md5");
    let rate = rate.unwrap();
    assert_eq!((rate["decisions"].as_u64(), rate["false_positives"].as_u64()), (Some(1), Some(1)));
    assert!(rate["ci_low"].as_f64().unwrap() > 0.2 && rate["ci_high"] == 1.0, "{rate}");
    let filed: u64 =
        v["complaints"].as_array().unwrap().iter().map(|c| c["filed"].as_u64().unwrap()).sum();
    assert_eq!(filed, 1);
    let finished: u64 =
        v["reports"].as_array().unwrap().iter().map(|r| r["finished"].as_u64().unwrap()).sum();
    assert_eq!(finished, 2, "one to NCMEC, one to the EU Centre: {v}");
    assert_eq!(v["to_decision"]["count"], 1);
    let (st, _) = s.get(Some(&w.hoster), &format!("/v1/statistics?from={today}&to={today}"));
    assert_eq!(st, StatusCode::FORBIDDEN, "matcher keys read no statistics");
    let (st, _) = s.get(Some(&w.admin), "/v1/statistics?from=2026-13-01&to=2026-12-31");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, e) =
        s.get(Some(&w.admin), &format!("/v1/statistics?from={today}&to={today}&as_of=someday"));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().unwrap().contains("as_of"), "{e}");
    // As the records stood before today: nothing of today yet.
    let (st, then) =
        s.get(Some(&w.admin), &format!("/v1/statistics?from={today}&to={today}&as_of=2000-01-01"));
    assert_eq!((st, then["as_of"].as_str()), (StatusCode::OK, Some("2000-01-01")), "{then}");
    let md5_then: Vec<&Value> =
        then["cases"].as_array().unwrap().iter().filter(|r| r["technology"] == "md5").collect();
    let at = |f: &str| md5_then.iter().map(|r| r[f].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        (at("made"), at("open"), at("confirmed"), at("false_positive_complaint")),
        (2, 2, 0, 0)
    );
    let (st, v2) = s.get(Some(&w.admin), "/v1/statistics?from=2020-01-01&to=2030-12-31");
    assert_eq!((st, &v2["days"]), (StatusCode::OK, &v["days"]), "a long period holds the same");
    let (st, v3) = s.get(Some(&w.admin), "/v1/statistics?from=2026-12-31&to=2026-01-01");
    assert_eq!(st, StatusCode::OK, "an empty period: {v3}");
    assert!(v3["cases"].as_array().unwrap().is_empty());

    // The annual report of this year says the same as the statistics, item by item.
    let year = &today[..4];
    let (_, y) =
        s.get(Some(&w.admin), &format!("/v1/statistics?from={year}-01-01&to={year}-12-31"));
    annual_report_agrees(&w, year, &y);
    s.stop();
}

fn annual_report_agrees(w: &World, year: &str, stats: &Value) {
    let dir = w.store.dir.path();
    let deployment = dir.join("deployment.toml");
    std::fs::write(
        &deployment,
        "[annual]\nprovider = \"Example Hosting B.V.\"\ngdpr_ground = \"Art. 6(1)(e) GDPR\"\n\
         organisations = [\"Offlimits\"]\n",
    )
    .unwrap();
    let out = w.store.spoor(&[
        "reports",
        "annual",
        "--year",
        year,
        "--deployment",
        deployment.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = |rows: &Value, f: &str| -> u64 {
        rows.as_array().unwrap().iter().map(|r| r[f].as_u64().unwrap()).sum()
    };
    // Item 1 and 4: cases made, confirmed, open, held; per month.
    assert_eq!(a["data_processed"]["cases_made"].as_u64(), Some(sum(&stats["days"], "made")));
    assert_eq!(a["data_processed"]["content_held"].as_u64(), Some(sum(&stats["days"], "held")));
    assert_eq!(a["cases"]["abuse_material"].as_u64(), Some(sum(&stats["days"], "confirmed")));
    assert_eq!(a["cases"]["open"].as_u64(), Some(sum(&stats["days"], "open")));
    assert_eq!(
        sum(
            &a["cases"]["per_month"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| json!({"n": n}))
                .collect::<Value>(),
            "n"
        ),
        sum(&stats["days"], "made")
    );
    assert_eq!(a["cases"]["solicitation"], 0);
    // Item 1: lookups per technology, the statistics' rows summed.
    let lookups = a["data_processed"]["lookups"].as_array().unwrap();
    for l in lookups {
        let t = l["name"].as_str().unwrap();
        let want: u64 = stats["lookups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["technology"] == t)
            .map(|u| u["lookups"].as_u64().unwrap())
            .sum();
        assert_eq!(l["count"].as_u64(), Some(want), "{t}");
    }
    // Items 2, 3: stated or listed as not stated.
    assert_eq!(a["gdpr_ground"], "Art. 6(1)(e) GDPR");
    let missing = a["not_recorded"].to_string();
    assert!(missing.contains("3. transfer ground"), "{missing}");
    // Item 5 and 6: complaints, and each technology's error rate, as the statistics give them.
    for (k, f) in
        [("filed", "filed"), ("upheld", "upheld"), ("overturned", "overturned"), ("open", "open")]
    {
        assert_eq!(a["complaints"][k].as_u64(), Some(sum(&stats["complaints"], f)), "{k}");
    }
    for r in stats["error_rates"].as_array().unwrap() {
        let e = a["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["technology"] == r["technology"])
            .unwrap();
        for (k, f) in [
            ("decisions", "decisions"),
            ("false_positives", "false_positives"),
            ("ci_low", "ci_low"),
            ("ci_high", "ci_high"),
        ] {
            assert_eq!(e[k], r[f], "{k} of {}", r["technology"]);
        }
    }
    // Item 9: the recipients that took reports, and the organisation the deployment names.
    let orgs = a["organisations"].as_array().unwrap();
    let taken = |name: &str| {
        orgs.iter()
            .find(|o| o["name"].as_str().unwrap().contains(name))
            .map(|o| o["count"].as_u64().unwrap())
    };
    assert_eq!(taken("NCMEC"), Some(1), "{orgs:?}");
    assert_eq!(taken("EU Centre"), Some(1), "{orgs:?}");
    assert_eq!(taken("Offlimits"), Some(0), "{orgs:?}");
    // Item 8: the retention periods in force (the legal maxima here).
    assert!(a["retention"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "case_personal_days" && p["count"] == 365));
    // The HTML shows the same numbers.
    let html_path = dir.join("annual.html");
    let out = w.store.spoor(&[
        "report",
        "annual",
        "--year",
        year,
        "--format",
        "html",
        "--out",
        html_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&html_path).unwrap();
    let cell = |id: &str, label: &str| -> String {
        let table =
            html.split(&format!("id=\"{id}\"")).nth(1).unwrap().split("</table>").next().unwrap();
        let row = table.split(label).nth(1).unwrap_or_else(|| panic!("{label} in {id}"));
        row.split("class=\"num\">").nth(1).unwrap().split('<').next().unwrap().to_string()
    };
    assert_eq!(
        cell("item4", "Child sexual abuse material"),
        a["cases"]["abuse_material"].to_string()
    );
    assert_eq!(cell("item5", "Overturned"), a["complaints"]["overturned"].to_string());
    assert_eq!(cell("item1", "Cases made"), a["data_processed"]["cases_made"].to_string());
    assert!(!html.contains("<script"), "no script in the report");
    let generated = 2 + annual_pdf_agrees(w, year, &a);
    // Generating it is recorded; a bad deployment file is refused with what is wrong.
    let out = w.store.spoor(&["audit", "log", "--action", "annual_report"]);
    assert_eq!(
        generated,
        String::from_utf8_lossy(&out.stdout).lines().count(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = w.store.spoor(&["reports", "annual", "--year", "1969"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("1970..=9998"), "{err}");
    std::fs::write(&deployment, "[annual]\nprovidr = \"typo\"\n").unwrap();
    let out = w.store.spoor(&["reports", "annual", "--deployment", deployment.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Item 7 quotes a spoor eval run's figures as they are; anything else is refused.
    let eval = dir.join("eval.jsonl");
    std::fs::write(
        &eval,
        concat!(
            r#"{"kind":"run","originals":10,"compared":900,"videos":{"originals":3,"compared":40}}"#, "\n",
            r#"{"kind":"recall","medium":"picture","change":"mirror","technology":"pdq_dihedral_exact","radius":31,"recall":{"count":10,"of":10}}"#, "\n",
            r#"{"kind":"recall","medium":"picture","change":"mirror","technology":"md5","radius":null,"recall":{"count":0,"of":10}}"#, "\n",
            r#"{"kind":"recall","medium":"video","change":"h264_crf40","technology":"vpdq","radius":31,"recall":{"count":3,"of":3}}"#, "\n",
            r#"{"kind":"false_matches","technology":"pdq","radius":31,"rate":{"count":1,"of":404550}}"#, "\n",
            r#"{"kind":"false_matches","medium":"video","technology":"vpdq_frame","radius":31,"rate":{"count":2,"of":90000}}"#, "\n",
        ),
    )
    .unwrap();
    let out =
        w.store.spoor(&["reports", "annual", "--year", year, "--eval", eval.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &a["error_limits"]["measured"];
    assert_eq!((m["originals"].as_u64(), m["compared"].as_u64()), (Some(10), Some(900)));
    assert_eq!((m["videos"].as_u64(), m["videos_compared"].as_u64()), (Some(3), Some(40)));
    assert_eq!(m["recall"].as_array().unwrap().len(), 2, "perceptual figures only: {m}");
    assert_eq!(
        (m["recall"][0]["count"].as_u64(), m["recall"][0]["radius"].as_u64()),
        (Some(10), Some(31))
    );
    assert_eq!(
        (m["recall"][0]["medium"].as_str(), m["recall"][1]["medium"].as_str()),
        (Some("picture"), Some("video"))
    );
    assert_eq!(m["recall"][1]["technology"], "vpdq");
    assert_eq!(m["false_matches"][0]["of"].as_u64(), Some(404_550));
    assert_eq!(m["false_matches"][1]["what"], "pairs of frames of distinct videos");
    let html = w.store.spoor(&[
        "reports",
        "annual",
        "--year",
        year,
        "--eval",
        eval.to_str().unwrap(),
        "--format",
        "html",
    ]);
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(html.contains("3 videos changed, 40 compared pairwise"), "{html}");
    for (text, want) in [
        ("not json\n", "not a spoor eval record"),
        ("{\"kind\":\"copy\"}\n", "no spoor eval run record"),
    ] {
        std::fs::write(&eval, text).unwrap();
        let out = w.store.spoor(&["reports", "annual", "--eval", eval.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(2) && err.contains(want), "{err}");
    }
}

/// A complaint left past the deadline is counted overdue, shown so, and recorded once; an
/// upheld complaint changes nothing but is told; a second complaint about the same case
/// excludes whoever decided the first.
#[test]
fn overdue_complaints_are_counted_and_upheld_ones_change_nothing() {
    let (ncmec, eu, hook) = (Ncmec::start(USER, PASSWORD), EuCentre::start(), Recorder::start());
    let w = world(Store::sqlite(), &ncmec, &eu, &hook, "2s");
    let s = start(&w);
    bank(&s, &w.admin);
    let id = case(&s, &w.hoster, 3)["id"].as_i64().unwrap();
    confirm(&s, &w.rita, id);
    let (st, k) = s.send(
        "POST",
        Some(&w.hoster),
        "/v1/complaints",
        &json!({"case_id": id, "complainant": "user-9", "text": "Not me."}),
    );
    assert_eq!(st, StatusCode::CREATED, "{k}");
    let kid = k["id"].as_i64().unwrap();
    // The deadline watch records it (every second); a scrape may show the gauge before that.
    let recorded = || {
        let (_, a) = s.get(Some(&w.admin), "/v1/audit?action=complaints_overdue&limit=10");
        a["records"].as_array().unwrap().len()
    };
    until_within("overdue recorded", Duration::from_secs(20), || recorded() > 0);
    assert_eq!(metric(&metrics(&s), "spoor_complaints_overdue"), Some(1.0));
    let (_, v) = s.get(Some(&w.admin), &format!("/v1/complaints/{kid}"));
    assert_eq!(v["overdue"], true, "{v}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(recorded(), 1, "recorded once, not at every check");
    let (st, v) = s.get(Some(&w.admin), "/v1/complaints?state=open");
    assert_eq!((st, v["complaints"].as_array().unwrap().len()), (StatusCode::OK, 1), "{v}");
    let (st, _) = s.get(Some(&w.admin), "/v1/complaints?state=lost");
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let upheld = json!({"outcome": "upheld", "reason": "The content is what was decided."});
    let (st, v) = s.send("POST", Some(&w.sam), &format!("/v1/complaints/{kid}/decision"), &upheld);
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, c) = s.get(Some(&w.admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["state"], "confirmed");
    assert!(c.get("reversed").is_none(), "{c}");
    until_within("the outcome told", Duration::from_secs(10), || {
        events(&hook, "complaint.decided").iter().any(|e| e["outcome"] == "upheld")
    });
    assert!(events(&hook, "case.restore").is_empty(), "nothing to restore");
    let (st, _) = s.get(Some(&w.admin), "/v1/follow-ups?pending=true");
    assert_eq!(st, StatusCode::OK);

    let (st, again) = s.send(
        "POST",
        Some(&w.hoster),
        "/v1/complaints",
        &json!({"case_id": id, "complainant": "user-9", "text": "Please look once more."}),
    );
    assert_eq!(st, StatusCode::CREATED, "{again}");
    let path = format!("/v1/complaints/{}/decision", again["id"]);
    let (st, _) = s.send("POST", Some(&w.sam), &path, &upheld);
    assert_eq!(st, StatusCode::FORBIDDEN, "sam decided the first complaint");
    let (st, v) = s.send("POST", Some(&w.lead), &path, &upheld);
    assert_eq!(st, StatusCode::OK, "{v}");
    s.stop();
}

/// The PDF (printed by headless Chromium) holds the same numbers as the JSON (`pdftotext`); its
/// first page is rendered to `target/annual-report-1.png` for people to look at. Returns how
/// many reports it generated (0 when Chromium or poppler is missing and not required).
fn annual_pdf_agrees(w: &World, year: &str, a: &Value) -> usize {
    let have = |tool: &str| std::process::Command::new(tool).arg("-v").output().is_ok();
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let required = std::env::var("SPOOR_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromium), true) = (chromium, have("pdftotext") && have("pdftoppm")) else {
        assert!(!required, "Chromium and poppler-utils (pdftotext, pdftoppm) are required");
        eprintln!("skipping the annual report PDF: Chromium or poppler-utils is missing");
        return 0;
    };
    let pdf = w.store.dir.path().join("annual.pdf");
    let deployment = w.store.dir.path().join("deployment.toml");
    let out = w.store.spoor(&[
        "reports",
        "annual",
        "--year",
        year,
        "--format",
        "pdf",
        "--chromium",
        chromium,
        "--deployment",
        deployment.to_str().unwrap(),
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains(&format!("Annual report {year}")), "{text}");
    assert!(text.contains("Example Hosting B.V."), "{text}");
    let line = |label: &str| -> String {
        let l =
            text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {text}"));
        l.split_whitespace().last().unwrap().to_string()
    };
    assert_eq!(
        line("Child sexual abuse material (confirmed cases)"),
        a["cases"]["abuse_material"].to_string()
    );
    assert_eq!(line("Overturned (content restored)"), a["complaints"]["overturned"].to_string());
    assert_eq!(
        line("Of which content held for review"),
        a["data_processed"]["content_held"].to_string()
    );
    let png =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/annual-report");
    let st = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(&png)
        .status()
        .unwrap();
    assert!(st.success());
    1
}
