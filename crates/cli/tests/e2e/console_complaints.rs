//! The console's complaints pages end to end, over plain HTTP against the real `spoor serve`:
//! a picture matched a bank, rita confirmed it in review, and its uploader complains through
//! the provider. Rita sees the complaint but not as hers to decide: no form, no picture, and a
//! forged decision is refused (403). Sam re-reviews it: the complainant's words (escaped), the
//! case's matches and decisions, the picture at the strongest blur in greyscale, a reveal that
//! comes back to the complaint, then the overturn with the entry that matched wrongly. The case
//! page then shows the reversal and the complaint; the picture is no longer shown to anyone.
//! Bad forms are refused on the page; auditors have no complaints pages; every page is audited.

use crate::common;
use crate::server;
use crate::web;

use reqwest::StatusCode;
use serde_json::{json, Value};

use server::{Server, Store};
use web::logged_in;

#[test]
fn complaints_are_re_reviewed_in_the_console_by_someone_else() {
    use common::{flip, picture};
    let store = Store::sqlite();
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let s = Server::start(&store, &["--media-key-file", media_key.to_str().unwrap()]);
    let pic = picture(31, 0);
    let (st, v) = s.upload(Some(&admin), "/v1/hash", pic.clone());
    assert_eq!(st, StatusCode::OK, "{v}");
    let pdq = v["pdq"].as_str().unwrap().to_string();
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = json!({"entries": [
        {"signal_type": "pdq", "value": flip(&pdq, 20), "category": "baseline", "verified_by": "a"},
    ]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/HOTLINE/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    let entry = v["results"][0]["id"].as_i64().unwrap();
    server::until("entry live", || s.matches(&admin, &flip(&pdq, 20)).len() == 1);
    let meta = json!({"reason": "match", "content_ref": "item-31", "service": "photos"});
    let form = reqwest::blocking::multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", reqwest::blocking::multipart::Part::bytes(pic).file_name("x.png"));
    let r = s.http.post(s.url("/v1/cases")).bearer_auth(&hoster).multipart(form).send().unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().unwrap()["case"]["id"].as_i64().unwrap();

    // Rita confirms it in review.
    let (mut rita, csrf_r) = logged_in(&store, &s, "rita", "reviewer");
    let a = rita.post("/review/next", &[("queue", "main"), ("csrf", &csrf_r)]);
    assert_eq!(a.location(), format!("/cases/{id}"));
    let a = rita.post(
        &format!("/cases/{id}/decide"),
        &[("verdict", "confirm"), ("category", "baseline"), ("csrf", &csrf_r)],
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    // The uploader complains through the provider.
    let (st, k) = s.send(
        "POST",
        Some(&hoster),
        "/v1/complaints",
        &json!({"case_id": id, "complainant": "user-31",
                "text": "This is a <b>landscape</b> I took.\nPlease look again."}),
    );
    assert_eq!(st, StatusCode::CREATED, "{k}");
    let kid = k["id"].as_i64().unwrap();

    // Rita took part: not hers to decide, no picture, a forged decision refused.
    let a = rita.get("/complaints");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&format!("/complaints/{kid}")), "{}", a.body);
    assert!(a.body.contains("no: you took part in the decision"), "{}", a.body);
    let a = rita.get(&format!("/complaints/{kid}"));
    assert!(a.body.contains("id=\"excluded\""), "{}", a.body);
    assert!(!a.body.contains("/decide\""), "no decision form for rita");
    assert!(!a.body.contains("/rendition"), "no picture for rita");
    assert_eq!(rita.get_bytes(&format!("/cases/{id}/rendition")).0, StatusCode::NOT_FOUND);
    let a = rita.post(
        &format!("/complaints/{kid}/decide"),
        &[("outcome", "upheld"), ("reason", "It is what I saw."), ("csrf", &csrf_r)],
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("took part in the decision"), "{}", a.body);

    // Sam re-reviews it.
    let (mut sam, csrf_s) = logged_in(&store, &s, "sam", "reviewer");
    let a = sam.get("/complaints");
    assert!(a.body.contains(">yes<"), "{}", a.body);
    let a = sam.get(&format!("/complaints/{kid}"));
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("This is a &lt;b&gt;landscape&lt;/b&gt; I took.\nPlease look again."),
        "{}",
        a.body
    );
    assert!(a.body.contains(&format!("/cases/{id}/rendition")), "the re-reviewer sees the picture");
    assert!(a.body.contains("user:rita"), "the decision complained about is shown");
    let (st, ct, png) = sam.get_bytes(&format!("/cases/{id}/rendition"));
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "image/png"));
    let grey = image::load_from_memory(&png).unwrap().to_rgb8();
    assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "greyscale first");
    let a = sam.post(
        &format!("/cases/{id}/reveal"),
        &[("op", "less_blur"), ("back", &format!("/complaints/{kid}")), ("csrf", &csrf_s)],
    );
    assert_eq!(a.location(), format!("/complaints/{kid}"), "back to the complaint");
    let a = sam.post(
        &format!("/cases/{id}/reveal"),
        &[("op", "colour"), ("back", "https://elsewhere.example/"), ("csrf", &csrf_s)],
    );
    assert_eq!(a.location(), format!("/cases/{id}"), "never back to another site");
    // Bad forms are refused on the page, with what is wrong.
    let path = format!("/complaints/{kid}/decide");
    let a = sam.post(&path, &[("reason", "x"), ("csrf", &csrf_s)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("Choose upheld or overturned"), "{}", a.body);
    let a = sam
        .post(&path, &[("outcome", "overturned"), ("reason", "A landscape."), ("csrf", &csrf_s)]);
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.body.contains("names the one"), "{}", a.body);
    let a = sam.post(&path, &[("outcome", "overturned"), ("reason", "A landscape.")]);
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no form without its token");
    let a = sam.post(
        &path,
        &[
            ("outcome", "overturned"),
            ("reason", "A landscape: the entry matched wrongly."),
            ("entry_id", &entry.to_string()),
            ("csrf", &csrf_s),
        ],
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), format!("/complaints?done=overturned&complaint={kid}"));
    let a = sam.get(&a.location());
    assert!(a.body.contains("id=\"done\""), "{}", a.body);

    // The case shows its reversal and its complaint; the picture is shown to no one now.
    let a = sam.get(&format!("/cases/{id}"));
    assert!(a.body.contains("id=\"reversed\""), "{}", a.body);
    assert!(a.body.contains(&format!("Complaint {kid}")), "{}", a.body);
    assert_eq!(sam.get_bytes(&format!("/cases/{id}/rendition")).0, StatusCode::NOT_FOUND);
    let a = sam.get(&format!("/complaints/{kid}"));
    assert!(a.body.contains("overturned") && !a.body.contains("/decide\""), "{}", a.body);
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id}"));
    assert_eq!(
        (c["state"].as_str(), c["reversed"]["by"].as_str()),
        (Some("false_positive"), Some("user:sam"))
    );

    // An administrator puts the case under a legal hold from its page; others may not.
    let a = sam.post(
        &format!("/cases/{id}/legal-hold"),
        &[("until", "2099-01-01T00:00:00Z"), ("reason", "order 17"), ("csrf", &csrf_s)],
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN, "reviewers set no holds");
    let (mut ada, csrf_a) = logged_in(&store, &s, "ada", "admin");
    assert!(ada.get(&format!("/cases/{id}")).body.contains("Put under legal hold"));
    let a = ada.post(
        &format!("/cases/{id}/legal-hold"),
        &[("until", "next week"), ("reason", "order 17"), ("csrf", &csrf_a)],
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let a = ada.post(
        &format!("/cases/{id}/legal-hold"),
        &[("until", "2099-01-01T00:00:00Z"), ("reason", "court order 17"), ("csrf", &csrf_a)],
    );
    assert_eq!(a.location(), format!("/cases/{id}"), "{}", a.body);
    let a = ada.get(&format!("/cases/{id}"));
    assert!(
        a.body.contains("id=\"legal-hold\"") && a.body.contains("court order 17"),
        "{}",
        a.body
    );
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["legal_hold"]["by"], "user:ada");

    // Auditors have no complaints pages; unknown complaints are 404.
    let (mut audrey, _) = logged_in(&store, &s, "audrey", "auditor");
    assert_eq!(audrey.get("/complaints").status, StatusCode::FORBIDDEN);
    // Auditors read the statistics: the overturn is a false positive on complaint for PDQ at
    // distance 11-20, with its interval; reviewers have no statistics page.
    // The API's read writes the lookups counted so far (the service does so every minute).
    let (st, _) = s.get(Some(&admin), "/v1/statistics?from=2026-01-01&to=2099-12-31");
    assert_eq!(st, StatusCode::OK);
    let a = audrey.get("/statistics");
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let lookups = a.body.split("id=\"stats-lookups\"").nth(1).unwrap_or_default();
    let lookups = lookups.split("</table>").next().unwrap_or_default();
    assert!(
        lookups.contains("pdq:11-20") && lookups.contains("md5"),
        "case intake counts its lookups: {lookups}"
    );
    assert!(a.body.contains("id=\"stats-rates\"") && a.body.contains("pdq:11-20"), "{}", a.body);
    assert!(a.body.contains("1 complaints: 0 upheld, 1 overturned, 0 open"), "{}", a.body);
    assert!(a.body.contains("100.0 %"), "{}", a.body);
    assert_eq!(audrey.get("/statistics?from=2026-02-30").status, StatusCode::BAD_REQUEST);
    assert_eq!(sam.get("/statistics").status, StatusCode::FORBIDDEN);
    assert_eq!(sam.get("/complaints/999").status, StatusCode::NOT_FOUND);
    assert_eq!(sam.get("/complaints/x").status, StatusCode::NOT_FOUND);
    assert_eq!(sam.get("/complaints?state=lost").status, StatusCode::BAD_REQUEST);

    // Every page and step is in the audit log, by the person.
    let (_, a) = s.get(Some(&admin), "/v1/audit?limit=1000");
    let by = |actor: &str, action: &str| {
        a["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["actor"] == actor && r["action"] == action)
            .count()
    };
    assert!(by("sam", "complaint_view") >= 2);
    assert!(by("sam", "complaints_view") >= 1);
    assert!(by("sam", "case_rendition") >= 1);
    assert_eq!(by("sam", "case_reveal"), 2);
    assert_eq!(by("sam", "complaint_decide"), 1);
    assert_eq!(by("rita", "complaint_decide"), 0);
    assert_eq!(by("ada", "case_legal_hold"), 1);
    assert_eq!(by("audrey", "statistics_view"), 1);
    s.stop();
}
