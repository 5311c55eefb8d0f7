//! The console's reports pages end to end: the real `spoor serve` on 127.0.0.1 reports one
//! confirmed case to NCMEC at a closed loopback port (nothing listens: with `max_attempts = 1`
//! the report is given up after its first attempt) and to a test EU Centre (which takes it, so
//! it has a receipt). People at the console over plain HTTP: an administrator sees the counts,
//! the dead report with its error, retries it (recorded `report_retry`, sent again), reads
//! the receipt; an auditor reads but has no retry button and a forged retry is refused and
//! recorded; a reviewer cannot open the reports pages and sees only the recipient and state of
//! a case's reports. Bad filters, unknown reports, forms without their token and the pages'
//! headers are checked too.

use crate::browser;
use crate::receivers;
use crate::server;
use crate::web;

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::multipart;
use reqwest::StatusCode;
use serde_json::{json, Value};

use browser::{browser_setup, chromedriver, code, unix, Browser};
use receivers::EuCentre;
use server::{until_within, Server, Store};
use web::{logged_in, Answer};

/// A provider name found only in the EU Centre document (never on a console page).
const PROVIDER: &str = "Harbour Hosting Ltd";
/// An uploader found only in the case and the documents sent.
const UPLOADER: &str = "uploader-4711";

/// The reports file: NCMEC at a closed port of 127.0.0.1 (`/ispws`), the EU Centre at `eu`,
/// one attempt before a report is given up.
fn reports_file(dir: &Path, eu: &EuCentre) -> std::path::PathBuf {
    std::fs::write(dir.join("ncmec.credentials"), "spoor-test:test-password-7\n").unwrap();
    let text = format!(
        r#"window_seconds = 0
workers = 2
max_attempts = 1
backoff_seconds = 0.05
max_backoff_seconds = 0.2
timeout_seconds = 2

[ncmec]
credentials_file = "ncmec.credentials"
base_url = "http://127.0.0.1:9/ispws"

[ncmec.reporter]
email = "reports@hoster.example"
first_name = "Trust"
last_name = "Safety"

[eu_centre]
url = "{}"
signing_key_file = "eu-signing.pem"
key_id = "spoor-test-1"

[eu_centre.provider]
name = "{PROVIDER}"
address = "1 Quay Street, Dublin, IE"
contact_email = "eu-contact@hoster.example"
legal_basis = "Regulation (EU) 2021/1232"
"#,
        eu.url()
    );
    let path = dir.join("reports.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the service with reports, banks the MD5 of a file as verified known material, and
/// submits that file as a case (confirmed at once). Returns the server, the admin key and the
/// case's id.
fn serve_with_a_confirmed_case(store: &Store, eu: &EuCentre) -> (Server, String, i64) {
    let dir = store.dir.path();
    let media_key = dir.join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let signing = dir.join("eu-signing.pem");
    let out = store.spoor(&["keys", "report-keygen", "--out", signing.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reports = reports_file(dir, eu);
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let media_dir = dir.join("media");
    let s = Server::start(
        store,
        &[
            "--media-key-file",
            media_key.to_str().unwrap(),
            "--media-dir",
            media_dir.to_str().unwrap(),
            "--reports",
            reports.to_str().unwrap(),
            "--reports-loopback-only",
        ],
    );
    let bytes = b"spoor console reports test file\n".to_vec();
    let md5 = spoor_audit::hex(&spoor_hash::digest::Digests::of(&bytes).md5.0);
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "KNOWN"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entry = json!({"signal_type": "md5", "value": md5, "category": "baseline",
        "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"});
    let (st, v) =
        s.send("POST", Some(&admin), "/v1/banks/KNOWN/entries", &json!({"entries": [entry]}));
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("the entry is live", || {
        let (_, v) = s.get(Some(&admin), &format!("/v1/match?signal_type=md5&value={md5}"));
        v["matches"].as_array().is_some_and(|m| !m.is_empty())
    });
    let meta = json!({"reason": "match", "service": "photos",
        "content_ref": "https://photos.example/item-1", "uploader_ref": UPLOADER,
        "uploaded_at": "2026-11-30T10:00:00Z", "upload_ip": "192.0.2.7"});
    let form = multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", multipart::Part::bytes(bytes).file_name("upload.bin"));
    let resp = s.http.post(s.url("/v1/cases")).bearer_auth(&hoster).multipart(form).send().unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: Value = resp.json().unwrap();
    assert_eq!(v["case"]["state"], "confirmed", "{v}");
    let case = v["case"]["id"].as_i64().unwrap();
    (s, admin, case)
}

/// Waits until NCMEC's report is given up and the EU Centre's finished; returns both.
fn one_dead_one_finished(s: &Server, admin: &str) -> (Value, Value) {
    until_within("one report dead, one finished", Duration::from_secs(20), || {
        let r = api_reports(s, admin);
        let states: Vec<&str> = r.iter().map(|r| r["state"].as_str().unwrap()).collect();
        r.len() == 2 && states.contains(&"dead") && states.contains(&"finished")
    });
    let all = api_reports(s, admin);
    let ncmec = all.iter().find(|r| r["recipient"] == "ncmec").unwrap().clone();
    let eu = all.iter().find(|r| r["recipient"] == "eu_centre").unwrap().clone();
    assert_eq!((ncmec["state"].as_str(), eu["state"].as_str()), (Some("dead"), Some("finished")));
    (ncmec, eu)
}

/// Every report, through the API.
fn api_reports(s: &Server, admin: &str) -> Vec<Value> {
    let (st, v) = s.get(Some(admin), "/v1/reports?limit=1000");
    assert_eq!(st, StatusCode::OK, "{v}");
    v["reports"].as_array().unwrap().clone()
}

/// The audit records of `action` (optionally of one object), through the API.
fn api_audit(s: &Server, admin: &str, action: &str, object_id: Option<i64>) -> Vec<Value> {
    let mut path = format!("/v1/audit?action={action}&limit=1000");
    if let Some(id) = object_id {
        path.push_str(&format!("&object_id={id}"));
    }
    let (st, v) = s.get(Some(admin), &path);
    assert_eq!(st, StatusCode::OK, "{v}");
    v["records"].as_array().unwrap().clone()
}

/// Text as the console's templates escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn no_store(a: &Answer) {
    assert_eq!(a.headers["cache-control"], "no-store");
    assert!(a.headers["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[test]
fn reports_pages_show_delivery_and_admins_retry_dead_reports() {
    let store = Store::sqlite();
    let eu = EuCentre::start();
    let (s, admin, case) = serve_with_a_confirmed_case(&store, &eu);

    // NCMEC's is given up after one attempt; the EU Centre's is taken.
    let (ncmec, eu_report) = one_dead_one_finished(&s, &admin);
    let (dead, taken) = (ncmec["id"].as_i64().unwrap(), eu_report["id"].as_i64().unwrap());
    let error = ncmec["last_error"].as_str().unwrap().to_string();
    assert!(!error.is_empty());
    assert_eq!(api_audit(&s, &admin, "report_dead", Some(dead)).len(), 1);

    let (mut ada, ada_csrf) = logged_in(&store, &s, "ada", "admin");
    let (mut aud, aud_csrf) = logged_in(&store, &s, "aud", "auditor");
    let (mut rev, _) = logged_in(&store, &s, "rev", "reviewer");

    // The administrator's list: counts, the dead report marked with its error and a retry
    // button, the finished one without; cases linked.
    let a = ada.get("/reports");
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    no_store(&a);
    assert!(a.body.contains("href=\"/reports\" aria-current=\"page\""), "in the navigation");
    assert!(a.body.contains("id=\"report-counts\""), "{}", a.body);
    assert!(
        a.body
            .contains("href=\"/reports?state=dead&amp;recipient=ncmec\" class=\"count--dead\">1<"),
        "the dead count links to the dead reports: {}",
        a.body
    );
    assert!(a.body.contains(&format!("class=\"row--dead\" id=\"report-{dead}\"")), "{}", a.body);
    assert!(a.body.contains(&format!("id=\"report-{taken}\"")));
    assert!(!a.body.contains(&format!("class=\"row--dead\" id=\"report-{taken}\"")));
    let start: String = error.chars().take(60).collect();
    assert!(a.body.contains(&escaped(&start)), "the last error {error:?} in {}", a.body);
    assert!(a.body.contains(&format!("id=\"retry-{dead}\"")));
    assert!(!a.body.contains(&format!("id=\"retry-{taken}\"")), "only dead reports are retried");
    assert!(a.body.contains(&format!("<a href=\"/cases/{case}\">{case}</a>")));
    let remote = eu_report["remote_id"].as_str();
    if let Some(remote) = remote {
        assert!(a.body.contains(&escaped(remote)));
    }

    // Filters by state and recipient.
    let a = ada.get("/reports?state=dead");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&format!("id=\"report-{dead}\"")));
    assert!(!a.body.contains(&format!("id=\"report-{taken}\"")));
    assert!(a.body.contains("<option value=\"dead\" selected>"), "the filter is kept");
    let a = ada.get("/reports?recipient=eu_centre");
    assert!(a.body.contains(&format!("id=\"report-{taken}\"")));
    assert!(!a.body.contains(&format!("id=\"report-{dead}\"")));
    let a = ada.get("/reports?state=finished&recipient=ncmec");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("No reports match."), "{}", a.body);
    let a = ada.get(&format!("/reports?after={dead}&state=dead"));
    assert!(a.body.contains("No reports match.") && a.body.contains("First page"));

    // Bad filters: 400 with what is wrong and what to do; unknown reports: 404.
    let a = ada.get("/reports?state=lost");
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    no_store(&a);
    assert!(
        a.body.contains("There is no report state &quot;lost&quot;: choose one of pending, open, finishing, finished, dead"),
        "{}",
        a.body
    );
    assert!(a.body.contains("href=\"#state\""), "the error leads to the field");
    let a = ada.get("/reports?recipient=fbi");
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("No reports go to &quot;fbi&quot;: choose one of eu_centre, ncmec"));
    let a = ada.get("/reports?after=soon");
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("start again from the first page"));
    let a = ada.get("/reports?state=dead&state=open");
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    no_store(&a);
    assert!(a.body.contains("a field given twice"), "{}", a.body);
    let a = ada.get("/reports/999999");
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    no_store(&a);
    assert!(a.body.contains("There is no report number 999999"), "{}", a.body);
    assert_eq!(ada.get("/reports/abc").status, StatusCode::NOT_FOUND);

    // The finished report's page: the receipt, never the document sent.
    let a = ada.get(&format!("/reports/{taken}"));
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    no_store(&a);
    let receipt: Value = serde_json::from_str(eu_report["receipt"].as_str().unwrap()).unwrap();
    let pretty = serde_json::to_string_pretty(&receipt).unwrap();
    assert!(
        a.body.contains(&format!("<pre class=\"pre\" id=\"receipt\">{}</pre>", escaped(&pretty))),
        "{}",
        a.body
    );
    assert!(a.body.contains(eu_report["uuid"].as_str().unwrap()));
    assert!(a.body.contains(&format!("<a href=\"/cases/{case}\">{case}</a>")));
    assert!(!a.body.contains(PROVIDER) && !a.body.contains(UPLOADER), "no document: {}", a.body);
    assert!(!a.body.contains("id=\"retry-"));
    eu.with(|st| {
        let sent = st.by_key.values().next().unwrap()[0].0.clone();
        assert!(sent.contains(PROVIDER), "the document names the provider: {sent}");
    });

    // The dead report's page: the whole error, a retry button.
    let a = ada.get(&format!("/reports/{dead}"));
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .body
        .contains(&format!("<pre class=\"pre\" id=\"last-error\">{}</pre>", escaped(&error))));
    assert!(a.body.contains("— (not opened at NCMEC)"));
    assert!(a.body.contains(&format!("id=\"retry-{dead}\"")));
    assert!(a.body.contains("None yet: the receiver has not taken the report."));

    // Each page shown was recorded first.
    let views = api_audit(&s, &admin, "reports_view", None);
    assert!(
        views.iter().any(|r| r["actor"] == "ada" && r["details"]["filter"]["state"] == "dead"),
        "{views:?}"
    );
    assert!(views.iter().all(|r| r["actor_kind"] == "user"));
    let views = api_audit(&s, &admin, "report_view", Some(taken));
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(
        (views[0]["actor"].as_str(), views[0]["details"]["state"].as_str()),
        (Some("ada"), Some("finished"))
    );

    // A retry without the form's token changes nothing.
    let a = ada.post(&format!("/reports/{dead}/retry"), &[("from", "list")]);
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = ada.post(&format!("/reports/{dead}/retry"), &[("from", "list"), ("csrf", "forged")]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(api_audit(&s, &admin, "report_retry", None).is_empty());
    let (_, v) = s.get(Some(&admin), &format!("/v1/reports/{dead}"));
    assert_eq!(v["state"], "dead");

    // The auditor reads the list and the pages, without a retry button; cases are numbers.
    let a = aud.get("/reports");
    assert_eq!(a.status, StatusCode::OK);
    no_store(&a);
    assert!(a.body.contains("href=\"/reports\""), "in the auditor's navigation");
    assert!(a.body.contains(&format!("class=\"row--dead\" id=\"report-{dead}\"")));
    assert!(!a.body.contains("id=\"retry-") && !a.body.contains("/retry"), "{}", a.body);
    assert!(!a.body.contains("href=\"/cases/"), "auditors do not open cases");
    let a = aud.get(&format!("/reports/{dead}"));
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("id=\"last-error\"") && !a.body.contains("id=\"retry-"));
    // A retry the auditor forges (with their own valid token) is refused and recorded.
    let a = aud.post(&format!("/reports/{dead}/retry"), &[("from", "list"), ("csrf", &aud_csrf)]);
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    no_store(&a);
    let forbidden = api_audit(&s, &admin, "forbidden", None);
    assert!(
        forbidden.iter().any(|r| r["actor"] == "aud"
            && r["object_id"] == format!("/reports/{dead}/retry")
            && r["details"]["role"] == "auditor"),
        "{forbidden:?}"
    );
    assert!(api_audit(&s, &admin, "report_retry", None).is_empty());

    // The reviewer: no reports pages, not in the navigation.
    for path in ["/reports".to_string(), format!("/reports/{dead}")] {
        let a = rev.get(&path);
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        no_store(&a);
    }
    assert!(!rev.get("/").body.contains("href=\"/reports\""));
    // The case page lists the case's reports: their recipient and state, no link.
    let a = rev.get(&format!("/cases/{case}"));
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("id=\"case-reports\""), "{}", a.body);
    assert!(
        a.body.contains("To NCMEC CyberTipline: <span class=\"tag tag--warn\">dead</span>"),
        "{}",
        a.body
    );
    assert!(a.body.contains("To EU Centre: <span class=\"tag tag--ok\">finished</span>"));
    assert!(!a.body.contains("href=\"/reports/"));
    // …and links them for those who read reports.
    let a = ada.get(&format!("/cases/{case}"));
    assert!(
        a.body.contains(&format!(
            "<a href=\"/reports/{dead}\">Report {dead}</a> to NCMEC CyberTipline"
        )),
        "{}",
        a.body
    );
    assert!(a
        .body
        .contains(&format!("<a href=\"/reports/{taken}\">Report {taken}</a> to EU Centre")));

    // The administrator retries: back to the list with a notice; recorded by the person; the
    // report is sent again (and, the port still closed, given up again).
    let a = ada.post(&format!("/reports/{dead}/retry"), &[("from", "list"), ("csrf", &ada_csrf)]);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), format!("/reports?done=retried&report={dead}"));
    let retries = api_audit(&s, &admin, "report_retry", None);
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(
        (
            retries[0]["actor_kind"].as_str(),
            retries[0]["actor"].as_str(),
            retries[0]["object_id"].as_str()
        ),
        (Some("user"), Some("ada"), Some(dead.to_string().as_str()))
    );
    let a = ada.get(&a.location());
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&format!("Report {dead} will be sent again")), "{}", a.body);
    until_within("the retried report attempted again", Duration::from_secs(10), || {
        api_audit(&s, &admin, "report_dead", Some(dead)).len() == 2
    });
    let (_, v) = s.get(Some(&admin), &format!("/v1/reports/{dead}"));
    assert_eq!((v["state"].as_str(), v["attempts"].as_i64()), (Some("dead"), Some(1)), "{v}");

    // From the report's page, back to it; a report that is not dead is not retried.
    let a = ada.post(&format!("/reports/{dead}/retry"), &[("from", "report"), ("csrf", &ada_csrf)]);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), format!("/reports/{dead}?done=retried"));
    let a = ada.post(&format!("/reports/{taken}/retry"), &[("from", "list"), ("csrf", &ada_csrf)]);
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert!(
        a.body.contains(&format!("report {taken} is finished: only a dead report is retried")),
        "{}",
        a.body
    );
    let a = ada.post("/reports/999999/retry", &[("csrf", &ada_csrf)]);
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(api_audit(&s, &admin, "report_retry", None).len(), 2);
    s.stop();
}

/// In Chromium: an administrator finds the reports through the navigation, filters them,
/// retries the dead report with its button (a real form post), and every reports page has a
/// label on each control and reflows at 200 % zoom. Screenshots: `reports*.png`.
#[test]
fn reports_pages_in_the_browser() {
    let Some(driver) = chromedriver() else { return };
    let store = Store::sqlite();
    let eu = EuCentre::start();
    let (s, admin, case) = serve_with_a_confirmed_case(&store, &eu);
    let (ncmec, eu_report) = one_dead_one_finished(&s, &admin);
    let (dead, taken) = (ncmec["id"].as_i64().unwrap(), eu_report["id"].as_i64().unwrap());
    let b = Browser::start(&driver);
    let base = s.base.clone();
    let link = store.person("bea", "admin", &base);
    let secret = browser_setup(&b, &link, "bea", web::PASSWORD, false);
    b.login(&base, "bea", web::PASSWORD, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/");

    b.click("nav a[href='/reports']");
    assert_eq!(b.path(), "/reports");
    let t = b.text();
    assert!(t.contains("Reports by recipient and state") && t.contains("tcp connect error"), "{t}");
    b.shot("reports");
    b.select("#state", "dead");
    b.click("form.filter button[type=submit]");
    assert_eq!(b.path(), "/reports?state=dead&recipient=");
    assert!(b.text().contains(&format!("Retry report {dead}")));
    assert!(!b.text().contains("EU Centre\tfinished"));
    b.click(&format!("#retry-{dead}"));
    assert_eq!(b.path(), format!("/reports?done=retried&report={dead}"));
    assert!(b.text_of("#done").contains(&format!("Report {dead} will be sent again")));
    let (st, v) = s.get(Some(&admin), "/v1/audit?action=report_retry");
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["records"][0]["actor"], "bea", "{v}");

    for page in [
        "/reports".to_string(),
        "/reports?state=lost".to_string(),
        format!("/reports/{dead}"),
        format!("/reports/{taken}"),
        format!("/cases/{case}"),
    ] {
        b.go(&format!("{base}{page}"));
        let problems = b.accessibility_problems();
        assert!(problems.is_empty(), "{page}: {problems:?}");
    }
    b.go(&format!("{base}/reports/{taken}"));
    assert!(b.text_of("#receipt").contains(eu_report["uuid"].as_str().unwrap()));
    b.shot("report-finished");
    b.go(&format!("{base}/reports?state=lost"));
    assert!(b.text().contains("There is a problem"));
    b.shot("reports-bad-filter");
    b.close();
    s.stop();
}
