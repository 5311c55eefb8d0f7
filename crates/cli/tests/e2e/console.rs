//! The console end to end: the real `spoor serve` on 127.0.0.1 and `spoor users`, driven over
//! plain HTTP (headers, cookies, CSRF, lockout, limits, 404s) and in a real headless Chromium
//! through Debian's chromedriver (setup, login, roles, CSRF, timeouts, API keys, the audit log),
//! with screenshots of the main pages written under `target/console-screenshots/`.
//!
//! Without Chromium the browser test is skipped with a notice, unless `SPOOR_REQUIRE_BROWSER=1`
//! (as in the test command), when it fails.

use crate::browser;
use crate::common;
use crate::server;

use std::collections::HashMap;
use std::time::Duration;

use browser::{browser_setup, chromedriver, code, unix, Browser};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use server::{Server, Store};

/// The value of `<… name="NAME" value="…">` in a page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} field in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The TOTP secret shown for manual entry.
fn shown_secret(page: &str) -> String {
    let at = page.find("id=\"totp-secret\">").expect("the secret is shown as text");
    let rest = &page[at + 17..];
    rest[..rest.find('<').unwrap()].replace(' ', "")
}

/// A cookie-keeping HTTP client that does not follow redirects, so answers can be inspected.
struct Web {
    base: String,
    http: Client,
    cookies: HashMap<String, String>,
    /// Every `Set-Cookie` seen, as sent.
    set_cookies: Vec<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Web {
    fn new(base: &str) -> Self {
        Self::with_client(base, Client::builder())
    }

    fn with_client(base: &str, b: reqwest::blocking::ClientBuilder) -> Self {
        let http = b
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Web { base: base.to_string(), http, cookies: HashMap::new(), set_cookies: Vec::new() }
    }

    fn take(&mut self, r: Response) -> Answer {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap().to_string();
            let (kv, _) = c.split_once(';').unwrap_or((&c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
            self.set_cookies.push(c);
        }
        let status = r.status();
        let headers = r.headers().clone();
        Answer { status, headers, body: r.text().unwrap() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn get(&mut self, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header())
            .send()
            .unwrap();
        self.take(r)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_from(path, form, None)
    }

    /// A post whose browser says where it comes from (`Sec-Fetch-Site`).
    fn post_from(&mut self, path: &str, form: &[(&str, &str)], site: Option<&str>) -> Answer {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header());
        if let Some(site) = site {
            req = req.header("Sec-Fetch-Site", site);
        }
        let r = req.form(form).send().unwrap();
        self.take(r)
    }

    /// Finishes a setup link over HTTP: password, then TOTP with the code of now. Returns the
    /// base32 secret.
    fn setup(&mut self, link: &str, password: &str) -> String {
        let path = &link[link.find("/setup/").unwrap()..];
        let a = self.get(path);
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let csrf = hidden(&a.body, "csrf");
        let a = self.post(
            &format!("{path}/password"),
            &[("password", password), ("confirm", password), ("csrf", &csrf)],
        );
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let a = self.get(path);
        let secret = shown_secret(&a.body);
        let a = self
            .post(&format!("{path}/totp"), &[("code", &code(&secret, unix())), ("csrf", &csrf)]);
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.headers[LOCATION], "/login?setup=done");
        secret
    }

    /// Logs in with the code of `unix` (the code of the next step logs in right after setup,
    /// whose code may not be used twice).
    fn login(&mut self, name: &str, password: &str, secret: &str, at: u64) -> Answer {
        let a = self.get("/login");
        let csrf = hidden(&a.body, "csrf");
        self.post(
            "/login",
            &[("name", name), ("password", password), ("code", &code(secret, at)), ("csrf", &csrf)],
        )
    }
}

const PASSWORD: &str = "plum tractor seventeen";

/// The audit log of the test's store: `(actor_kind:actor, action, object_id, details)` per
/// record, oldest first.
fn audit(store: &Store) -> Vec<(String, String, String, String)> {
    let location = match store.flag {
        "--data-dir" => spoor_bank::Location::DataDir(store.value.clone().into()),
        _ => spoor_bank::Location::Postgres(store.value.clone()),
    };
    let st = spoor_bank::open(&location).unwrap();
    st.audit_records(&spoor_bank::AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .map(|r| (format!("{}:{}", r.actor_kind, r.actor), r.action, r.object_id, r.details))
        .collect()
}

/// The records of one action.
fn audited(store: &Store, action: &str) -> Vec<(String, String, String, String)> {
    audit(store).into_iter().filter(|r| r.1 == action).collect()
}

#[test]
fn headers_cookies_and_not_found_pages() {
    let store = Store::sqlite();
    let s = Server::start(&store, &[]);
    let mut w = Web::new(&s.base);

    let a = w.get("/login");
    assert_eq!(a.status, StatusCode::OK);
    let h = &a.headers;
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let pre = &w.set_cookies[0];
    assert!(pre.starts_with("spoor_pre="), "{pre}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(pre.contains(flag), "{pre}");
    }
    assert!(!pre.contains("Secure"), "plain HTTP: no Secure flag: {pre}");
    assert!(!a.body.contains("<script"), "no script in pages");
    for label in ["for=\"name\"", "for=\"password\"", "for=\"code\""] {
        assert!(a.body.contains(label), "every control has a label: {label}");
    }

    // The stylesheet: at a versioned path, cacheable for good; another name is a 404.
    let css_at = a.body.find("/static/console-").unwrap();
    let css_path = &a.body[css_at..css_at + a.body[css_at..].find('"').unwrap()];
    let c = w.get(css_path);
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.headers["content-type"], "text/css; charset=utf-8");
    assert!(c.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(c.body.contains(":focus-visible"), "a visible focus style");
    assert_eq!(w.get("/static/console-000000000000.css").status, StatusCode::NOT_FOUND);

    // Pages need a session.
    let a = w.get("/");
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[LOCATION], "/login");
    let a = w.get("/users");
    assert_eq!(
        (a.status, a.headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );

    // Unknown routes: a page for browsers, the API's JSON error for API clients.
    let a = w.get("/no/such/page");
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("<h1>Page not found</h1>"), "{}", a.body);
    assert_eq!(a.headers["x-frame-options"], "DENY");
    let r = s.http.get(s.url("/no/such/page")).header("Accept", "application/json").send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let (st, v) = s.get(None, "/v1/nothing");
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // The API is unchanged: keyed routes still answer JSON 401 without a key.
    let (st, v) = s.get(None, "/v1/banks");
    assert_eq!((st, v["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    // A setup link that does not exist.
    let a = w.get("/setup/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("This setup link does not work"));
    s.stop();
}

#[test]
fn sessions_csrf_lockout_and_logout_everywhere() {
    let store = Store::sqlite();
    let s = Server::start(
        &store,
        &["--max-failed-logins", "5", "--lockout", "15m", "--login-attempts-per-minute", "1000"],
    );
    let admin_link = store.person("admin1", "admin", &s.base);
    let mut w = Web::new(&s.base);

    // Setup refuses weak passwords with a message on the page.
    let path = &admin_link[admin_link.find("/setup/").unwrap()..];
    let a = w.get(path);
    let csrf = hidden(&a.body, "csrf");
    for (pw, msg) in [
        ("short", "at least 12 characters"),
        ("password1234", "most common"),
        ("admin1 is my name", "must not contain your name"),
    ] {
        let a = w.post(
            &format!("{path}/password"),
            &[("password", pw), ("confirm", pw), ("csrf", &csrf)],
        );
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains(msg), "{pw}: {}", a.body);
        assert!(a.body.contains("There is a problem") && a.body.contains("href=\"#password\""));
    }
    // Without the pre-session token nothing happens.
    let a = w.post(&format!("{path}/password"), &[("password", PASSWORD), ("confirm", PASSWORD)]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Not finished: no login yet.
    let a = w.get("/login");
    let c = hidden(&a.body, "csrf");
    let a = w.post(
        "/login",
        &[("name", "admin1"), ("password", PASSWORD), ("code", "123456"), ("csrf", &c)],
    );
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let secret = w.setup(&admin_link, PASSWORD);
    // The link is spent.
    assert_eq!(w.get(path).status, StatusCode::NOT_FOUND);

    // Login: a session cookie with the right flags, then the dashboard.
    let a = w.login("admin1", PASSWORD, &secret, unix() + 30);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[LOCATION], "/");
    let sc = w.set_cookies.iter().rev().find(|c| c.starts_with("spoor_session=")).unwrap().clone();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(sc.contains(flag), "{sc}");
    }
    assert!(!sc.contains("Max-Age"), "a browser-session cookie: {sc}");
    let a = w.get("/");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("admin1") && a.body.contains("Dashboard"));
    assert_eq!(a.headers["cache-control"], "no-store");
    let session_csrf = hidden(&a.body, "csrf");

    // CSRF: a form without the token, or with another, changes nothing.
    let a = w.post("/users", &[("name", "mallory"), ("role", "admin")]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("This form could not be accepted"));
    let a = w.post(
        "/users",
        &[("name", "mallory"), ("role", "admin"), ("csrf", "x".repeat(43).as_str())],
    );
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The right token from another site: refused too.
    let form = [("name", "mallory"), ("role", "admin"), ("csrf", session_csrf.as_str())];
    let a = w.post_from("/users", &form, Some("cross-site"));
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let listed = String::from_utf8(store.spoor(&["users", "list"]).stdout).unwrap();
    assert!(!listed.contains("mallory"), "{listed}");
    let a = w.post("/logout", &[]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(w.get("/").status, StatusCode::OK, "still logged in");
    // With the token it works: the setup link is shown once.
    let a = w.post("/users", &[("name", "rev1"), ("role", "reviewer"), ("csrf", &session_csrf)]);
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains(&format!("{}/setup/", s.base)), "{}", a.body);
    // Bad input: a message on the page, nothing written.
    let a = w.post("/users", &[("name", "Bad Name"), ("role", "nobody"), ("csrf", &session_csrf)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("href=\"#name\"") && a.body.contains("href=\"#role\""), "{}", a.body);

    // Lockout: five failures in a row lock the account; then even the right code is refused,
    // with the same message.
    let mut other = Web::new(&s.base);
    for i in 0..5 {
        let a = other.login("admin1", "wrong password!!", &secret, unix());
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(a.body.contains("The name, password or code is not right"));
    }
    let list = String::from_utf8(store.spoor(&["users", "list"]).stdout).unwrap();
    assert!(
        list.lines().any(|l| l.contains("\"admin1\"") && l.contains("\"state\":\"locked\"")),
        "{list}"
    );
    let a = other.login("admin1", PASSWORD, &secret, unix() + 30);
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("The name, password or code is not right"));
    // An unknown name reads the same.
    let a = other.login("nobody", PASSWORD, &secret, unix());
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("The name, password or code is not right"));

    // A reset logs the person out everywhere.
    assert_eq!(w.get("/").status, StatusCode::OK);
    let out = store.spoor(&["users", "reset", "admin1"]);
    assert!(out.status.success());
    let a = w.get("/");
    assert_eq!(
        (a.status, a.headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );

    // The audit log has each of these, and never a password, code or token.
    let log = audit(&store);
    let actions: Vec<&str> = log.iter().map(|r| r.1.as_str()).collect();
    for a in [
        "user_create",
        "setup_password",
        "setup_totp",
        "login",
        "login_failed",
        "lockout",
        "user_reset",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let created = audited(&store, "user_create");
    assert!(created[0].0.starts_with("cli:"), "made by the command line: {created:?}");
    assert_eq!(created[1].0, "user:admin1", "made in the console by admin1: {created:?}");
    assert_eq!(created[1].2, "rev1");
    let failed = audited(&store, "login_failed");
    assert!(
        failed.iter().any(|r| r.3.contains("\"reason\":\"password\"") && r.3.contains("127.0.0.1")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|r| r.2 == "(unknown)" && r.3.contains("unknown_name")),
        "{failed:?}"
    );
    assert!(failed.iter().any(|r| r.3.contains("\"reason\":\"locked\"")), "{failed:?}");
    assert_eq!(audited(&store, "lockout").len(), 1);
    let text = format!("{log:?}");
    for secret_thing in [PASSWORD, "wrong password!!", secret.as_str(), session_csrf.as_str()] {
        assert!(!text.contains(secret_thing), "the audit log holds {secret_thing:?}");
    }
    assert!(!text.contains("nobody"), "a login name that is no account is not recorded");
    s.stop();
}

#[test]
fn attempts_are_limited_per_address() {
    let store = Store::sqlite();
    let s = Server::start(&store, &["--login-attempts-per-minute", "3"]);
    let mut w = Web::new(&s.base);
    let a = w.get("/login");
    let csrf = hidden(&a.body, "csrf");
    let form = [("name", "x"), ("password", "y"), ("code", "000000"), ("csrf", csrf.as_str())];
    for _ in 0..3 {
        assert_eq!(w.post("/login", &form).status, StatusCode::UNAUTHORIZED);
    }
    let a = w.post("/login", &form);
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers["retry-after"], "60");
    assert!(a.body.contains("Too many attempts"));
    s.stop();
}

#[test]
fn over_tls_cookies_are_secure_and_host_prefixed() {
    let store = Store::sqlite();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert_file, key_file) =
        (store.dir.path().join("cert.pem"), store.dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let trusting = || {
        Client::builder().add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap(),
        )
    };
    let s = Server::start_with(
        &store,
        &["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()],
        trusting().build().unwrap(),
    );
    let link = store.person("tls.admin", "admin", &s.base);
    let mut w = Web::with_client(&s.base, trusting());
    let a = w.get("/login");
    assert_eq!(a.status, StatusCode::OK);
    let pre = &w.set_cookies[0];
    assert!(pre.starts_with("__Host-spoor_pre=") && pre.contains("; Secure"), "{pre}");
    let secret = w.setup(&link, PASSWORD);
    let a = w.login("tls.admin", PASSWORD, &secret, unix() + 30);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let sc = w.set_cookies.iter().find(|c| c.starts_with("__Host-spoor_session=")).unwrap();
    assert!(
        sc.contains("; Secure") && sc.contains("HttpOnly") && sc.contains("SameSite=Strict"),
        "{sc}"
    );
    assert_eq!(w.get("/").status, StatusCode::OK);
    s.stop();
}

// ----- API keys and the audit log -----

/// A person of `role`, set up and logged in over HTTP; with their session's CSRF token.
fn logged_in(store: &Store, s: &Server, name: &str, role: &str) -> (Web, String) {
    let link = store.person(name, role, &s.base);
    let mut w = Web::new(&s.base);
    let secret = w.setup(&link, PASSWORD);
    let a = w.login(name, PASSWORD, &secret, unix() + 30);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let csrf = hidden(&w.get("/").body, "csrf");
    (w, csrf)
}

/// The text of the element with `id` (up to its first tag).
fn text_of_id(page: &str, id: &str) -> String {
    // The element's text, its tags stripped (an element holding no element of its own name).
    let marker = format!("id=\"{id}\"");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no #{id} in {page}"));
    let open = page[..at].rfind('<').unwrap();
    let name: String = page[open + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let start = at + page[at..].find('>').unwrap() + 1;
    let end = start + page[start..].find(&format!("</{name}>")).unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in page[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_string()
}

/// The keys' JSON lines from `spoor keys list`.
fn listed_keys(store: &Store) -> Vec<serde_json::Value> {
    let out = store.spoor(&["keys", "list"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn keys_page_creates_shows_once_and_revokes() {
    let store = Store::sqlite();
    for bank in ["HOTLINE", "OTHER"] {
        assert!(store.spoor(&["bank", "create", bank]).status.success());
    }
    let s = Server::start(&store, &["--login-attempts-per-minute", "100"]);
    let (mut w, csrf) = logged_in(&store, &s, "admin.kim", "admin");
    let a = w.get("/keys");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<h1>API keys</h1>") && a.body.contains("No keys yet."), "{}", a.body);
    assert!(a.body.contains("within about a second"), "the page says when keys take effect");
    assert!(a.body.contains("value=\"HOTLINE\"") && a.body.contains("value=\"OTHER\""));
    assert!(a.body.contains("href=\"/keys\" aria-current=\"page\""), "in the navigation");

    // A matcher key scoped to one bank: shown once, working within a second and a half.
    let a = w.post(
        "/keys",
        &[
            ("name", "hoster"),
            ("role", "matcher"),
            ("banks", "HOTLINE"),
            ("show_distance", "yes"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("shown only this once"), "{}", a.body);
    let key = text_of_id(&a.body, "new-key");
    assert!(key.starts_with("spoor_"), "{key}");
    let pdq = common::hex_hash(7);
    let took = server::until_within("the new key works", Duration::from_millis(1500), || {
        s.get(Some(&key), &format!("/v1/match?signal_type=pdq&value={pdq}")).0 == StatusCode::OK
    });
    eprintln!("the new key worked after {took:?}");
    let keys = listed_keys(&store);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        (&keys[0]["name"], &keys[0]["role"], &keys[0]["banks"], &keys[0]["show_distance"]),
        (
            &serde_json::json!("hoster"),
            &serde_json::json!("matcher"),
            &serde_json::json!(["HOTLINE"]),
            &serde_json::json!(true)
        )
    );
    assert_eq!(keys[0]["created_by"], "user:admin.kim");
    // Never shown again.
    let a = w.get("/keys");
    assert!(a.body.contains(">hoster<") && a.body.contains(">HOTLINE<"), "{}", a.body);
    assert!(!a.body.contains(&key) && !a.body.contains("new-key"), "the key is shown once");

    // Bad input: 422, a message on the page, nothing written.
    let bad: &[(&[(&str, &str)], &str)] = &[
        (&[("name", ""), ("role", "matcher")], "Enter a name for the key"),
        (&[("name", "   "), ("role", "hasher")], "Enter a name for the key"),
        (&[("name", "hoster"), ("role", "matcher")], "exists already"),
        (&[("name", "bell\u{7}"), ("role", "matcher")], "control character"),
        (&[("name", &"x".repeat(300)), ("role", "matcher")], "at most 256"),
        (&[("name", "k2"), ("role", "owner")], "owner is not one of"),
        (
            &[("name", "k2"), ("role", "matcher"), ("banks", "NOPE")],
            "no bank named &quot;NOPE&quot;",
        ),
        (
            &[("name", "k2"), ("role", "curator"), ("banks", "HOTLINE")],
            "matcher and exchange keys only",
        ),
        (&[("name", "k2"), ("role", "hasher"), ("show_distance", "yes")], "matcher keys only"),
    ];
    for (form, msg) in bad {
        let mut form = form.to_vec();
        form.push(("csrf", &csrf));
        let a = w.post("/keys", &form);
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {}", a.body);
        assert!(
            a.body.contains("There is a problem") && a.body.contains(msg),
            "{form:?}: {}",
            a.body
        );
        assert!(!a.body.contains("new-key"), "{form:?}");
    }
    for (form, msg) in [
        (vec![("name", "nobody"), ("confirm", "yes")], "There is no API key named"),
        (vec![("name", "hoster")], "tick the box"),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let a = w.post("/keys/revoke", &form);
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {}", a.body);
        assert!(a.body.contains(msg), "{form:?}: {}", a.body);
    }
    assert_eq!(listed_keys(&store).len(), 1, "nothing written");
    assert!(listed_keys(&store)[0].get("revoked_at").is_none());
    assert_eq!(audited(&store, "key_create").len(), 1);
    assert!(audited(&store, "key_revoke").is_empty());
    // Without the CSRF token: refused.
    assert_eq!(
        w.post("/keys", &[("name", "k3"), ("role", "hasher")]).status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(listed_keys(&store).len(), 1);

    // Revoke: the API refuses the key within a second and a half; a second revoke is refused.
    let a = w.post("/keys/revoke", &[("name", "hoster"), ("confirm", "yes"), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("is revoked"), "{}", a.body);
    let took =
        server::until_within("the revoked key is refused", Duration::from_millis(1500), || {
            s.get(Some(&key), &format!("/v1/match?signal_type=pdq&value={pdq}")).0
                == StatusCode::UNAUTHORIZED
        });
    eprintln!("the revoked key was refused after {took:?}");
    let a = w.post("/keys/revoke", &[("name", "hoster"), ("confirm", "yes"), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("was revoked already, by user:admin.kim"), "{}", a.body);
    assert!(w.get("/keys").body.contains("tag--warn\">revoked<"));

    // Audited once each, by the store, in the person's name; the key itself never.
    let created = audited(&store, "key_create");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!((created[0].0.as_str(), created[0].2.as_str()), ("user:admin.kim", "hoster"));
    assert!(created[0].3.contains("HOTLINE") && created[0].3.contains("\"role\":\"matcher\""));
    let revoked = audited(&store, "key_revoke");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!((revoked[0].0.as_str(), revoked[0].2.as_str()), ("user:admin.kim", "hoster"));
    let secret = key.rsplit('_').next().unwrap();
    assert!(!format!("{:?}", audit(&store)).contains(secret), "the key is never audited");

    // A reviewer and a curator get the 403 page, and it is recorded.
    for (name, role) in [("rev.rob", "reviewer"), ("cur.cat", "curator")] {
        let (mut other, other_csrf) = logged_in(&store, &s, name, role);
        assert!(!other.get("/").body.contains("href=\"/keys\""), "no link for {role}");
        let a = other.get("/keys");
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{role}");
        assert!(a.body.contains("You cannot open this page"), "{}", a.body);
        let a =
            other.post("/keys", &[("name", "sneaky"), ("role", "admin"), ("csrf", &other_csrf)]);
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{role}");
    }
    assert_eq!(listed_keys(&store).len(), 1, "nothing written by the refused roles");
    let forbidden = audited(&store, "forbidden");
    for who in ["user:rev.rob", "user:cur.cat"] {
        assert!(
            forbidden.iter().filter(|r| r.0 == who && r.2 == "/keys").count() == 2,
            "{who}: {forbidden:?}"
        );
    }
    s.stop();
}

/// Runs SQL on the test store's SQLite database directly, as someone with database access would.
fn raw_sql(store: &Store, sql: &str) {
    let db = std::path::Path::new(&store.value).join("spoor.db");
    rusqlite::Connection::open(db).unwrap().execute_batch(sql).unwrap();
}

#[test]
fn audit_page_filters_pages_and_verifies() {
    let store = Store::sqlite();
    assert!(store.spoor(&["bank", "create", "HOTLINE"]).status.success());
    {
        // 150 records of one action, written straight to the store.
        let st =
            spoor_bank::open(&spoor_bank::Location::DataDir(store.value.clone().into())).unwrap();
        let notes: Vec<_> = (0..150)
            .map(|i| {
                spoor_audit::NewRecord::by("cli:seeder", "seed_note", "note", &i.to_string())
                    .with_details(serde_json::json!({ "i": i, "text": "x".repeat(300) }))
            })
            .collect();
        st.audit_append_all(&notes).unwrap();
    }
    let s = Server::start(&store, &["--login-attempts-per-minute", "100"]);
    let (mut w, csrf) = logged_in(&store, &s, "aud.ada", "auditor");
    let rows = |body: &str| body.matches("<td class=\"num\">").count();

    // Newest first, 100 a page, an "Older" link; no "Newer" on the newest page.
    let a = w.get("/audit");
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("<h1>Audit log</h1>") && a.body.contains("href=\"/audit\" aria-current")
    );
    assert_eq!(rows(&a.body), 100);
    assert!(a.body.contains("Older") && !a.body.contains("Newer"), "{}", a.body);
    assert!(
        a.body.contains("<code title=\"{"),
        "long details are cut in the cell, whole in its title"
    );

    // Filter by action, then page with `before`.
    let a = w.get("/audit?action=seed_note");
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(rows(&a.body), 100);
    assert_eq!(a.body.matches("<code>seed_note</code>").count(), 100);
    assert!(a.body.contains("cli:seeder") && a.body.contains("note:149"), "newest first");
    let at = a.body.find("href=\"/audit?action=seed_note&amp;before=").expect("an Older link");
    let href = &a.body[at + 6..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let b = w.get(&href);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(rows(&b.body), 50, "{href}");
    assert!(
        b.body.contains("note:49") && b.body.contains("note:0") && !b.body.contains("note:50<")
    );
    assert!(b.body.contains("Newer") && !b.body.contains("Older"), "{}", b.body);
    assert!(b.body.contains("href=\"/audit?action=seed_note\""), "back to the newest page");
    let a = w.get("/audit?action=no_such_action");
    assert!(a.body.contains("No records match."));
    let a = w.get("/audit?actor=user%3Aaud.ada&action=login");
    assert_eq!(rows(&a.body), 1, "{}", a.body);

    // Bad filters: 422 and what is wrong.
    let a = w.get("/audit?from=yesterday");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("is not a date and time") && a.body.contains("href=\"#from\""));
    let a = w.get("/audit?from=2026-11-30T10%3A00&to=2026-11-30T09%3A00");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("To must be later than From"), "{}", a.body);
    let a = w.get("/audit?before=x");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = w.get("/audit?from=2000-01-01T00%3A00&to=2000-01-02");
    assert!(a.body.contains("No records match."), "{}", a.body);

    // Each page shown was audited, with its filter.
    let views = audited(&store, "audit_view");
    assert_eq!(views.len(), 6, "{views:?}");
    assert!(views.iter().all(|v| v.0 == "user:aud.ada"));
    assert!(views[1].3.contains("\"action\":\"seed_note\""), "{views:?}");
    assert!(views[2].3.contains("\"before\""), "{views:?}");

    // Verify: intact, and audited.
    let a = w.post("/audit/verify", &[("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let result = text_of_id(&a.body, "verify-result");
    assert!(result.starts_with("intact: ") && result.contains(" records, head seq "), "{result}");
    let verified = audited(&store, "audit_verify");
    assert_eq!(verified.len(), 1);
    assert!(verified[0].3.contains("\"outcome\":\"intact\""), "{verified:?}");
    assert_eq!(w.post("/audit/verify", &[]).status, StatusCode::FORBIDDEN, "CSRF");

    // Someone with database access changes record 5: verify names it.
    raw_sql(
        &store,
        "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;
         UPDATE audit SET details = '{\"i\":999}' WHERE seq = 5;",
    );
    let a = w.post("/audit/verify", &[("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::OK);
    let result = text_of_id(&a.body, "verify-result");
    assert!(result.starts_with("broken at record 5: record 5 was modified"), "{result}");
    assert!(a.body.contains("The audit log does not fit together"));
    let verified = audited(&store, "audit_verify");
    assert_eq!(verified.len(), 2);
    assert!(
        verified[1].3.contains("\"outcome\":\"broken\"") && verified[1].3.contains("\"seq\":5"),
        "{verified:?}"
    );

    // An admin may open it too; a curator may not.
    let (mut admin, _) = logged_in(&store, &s, "admin.al", "admin");
    assert_eq!(admin.get("/audit").status, StatusCode::OK);
    let (mut cur, cur_csrf) = logged_in(&store, &s, "cur.cy", "curator");
    assert_eq!(cur.get("/audit").status, StatusCode::FORBIDDEN);
    assert_eq!(cur.post("/audit/verify", &[("csrf", &cur_csrf)]).status, StatusCode::FORBIDDEN);
    assert_eq!(audited(&store, "audit_verify").len(), 2);
    s.stop();
}

#[test]
fn in_the_browser() {
    let Some(driver) = chromedriver() else { return };
    let store = Store::sqlite();
    // Two people set up and log in from one address within a minute.
    let s = Server::start(&store, &["--login-attempts-per-minute", "100"]);
    let b = Browser::start(&driver);
    let base = s.base.clone();

    b.go(&format!("{base}/login"));
    b.shot("login");
    let admin_link = store.person("admin.ann", "admin", &base);
    let secret = browser_setup(&b, &admin_link, "admin.ann", PASSWORD, true);

    // A wrong code: refused with the one message.
    let good = code(&secret, unix() + 30);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    b.login(&base, "admin.ann", PASSWORD, wrong);
    assert_eq!(b.path(), "/login");
    let t = b.text();
    assert!(t.contains("The name, password or code is not right"), "{t}");
    b.shot("login-refused");

    // The right one: the dashboard, with name, role and the admin's navigation.
    b.login(&base, "admin.ann", PASSWORD, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/");
    let t = b.text();
    assert!(t.contains("Dashboard") && t.contains("admin.ann") && t.contains("People"), "{t}");
    assert!(t.contains("Counted by this server process"), "{t}");
    b.shot("dashboard");

    // API keys: make one, shown once; then the audit log, verified intact.
    b.go(&format!("{base}/keys"));
    assert!(b.text().contains("within about a second"), "{}", b.text());
    b.fill("#name", "hoster");
    b.click("form[action='/keys'] button[type=submit]");
    assert!(b.text_of("#new-key").starts_with("spoor_"), "{}", b.text());
    b.shot("keys");
    b.go(&format!("{base}/audit"));
    assert!(b.text().contains("key_create"), "{}", b.text());
    b.click("form[action='/audit/verify'] button[type=submit]");
    let verified = b.text_of("#verify-result");
    assert!(verified.starts_with("intact: ") && verified.contains("head seq"), "{verified}");
    b.shot("audit");

    // People: add a reviewer; the link is shown once.
    b.go(&format!("{base}/users"));
    b.shot("people");
    b.fill("#name", "rev.rita");
    let role = b.rt.block_on(b.c.find(fantoccini::Locator::Css("#role"))).unwrap();
    b.rt.block_on(role.select_by_value("reviewer")).unwrap();
    b.click("form[action='/users'] button[type=submit]");
    let rev_link = b.text_of("#setup-link");
    assert!(rev_link.starts_with(&format!("{base}/setup/")), "{rev_link}");
    b.shot("people-link-shown");

    // A form posted without its CSRF token is refused, and does nothing.
    b.go(&format!("{base}/users"));
    b.fill("#name", "mallory");
    b.script("document.querySelector(\"form[action='/users'] input[name=csrf]\").remove()");
    b.click("form[action='/users'] button[type=submit]");
    assert!(b.text().contains("This form could not be accepted"), "{}", b.text());
    b.shot("csrf-refused");
    let listed = String::from_utf8(store.spoor(&["users", "list"]).stdout).unwrap();
    assert!(!listed.contains("mallory") && listed.contains("rev.rita"), "{listed}");

    // Logout.
    b.go(&format!("{base}/"));
    b.click("form[action='/logout'] button");
    assert_eq!(b.path(), "/login?logged_out=1");
    assert!(b.text().contains("You have logged out"));
    b.go(&format!("{base}/"));
    assert_eq!(b.path(), "/login");

    // The reviewer sets up, logs in, and cannot open People: the 403 page.
    let rev_secret = browser_setup(&b, &rev_link, "rev.rita", PASSWORD, false);
    b.login(&base, "rev.rita", PASSWORD, &code(&rev_secret, unix() + 30));
    assert_eq!(b.path(), "/");
    assert!(!b.text().contains("People"), "no link to a page the role cannot open");
    b.go(&format!("{base}/users"));
    let t = b.text();
    assert!(t.contains("You cannot open this page") && t.contains("reviewer"), "{t}");
    b.shot("forbidden");
    // Nor the API keys page.
    b.go(&format!("{base}/keys"));
    assert!(b.text().contains("You cannot open this page"), "{}", b.text());
    b.click("form[action='/logout'] button");

    // Another administrator reads the audit log: each of these actions is there, and the
    // chain verifies intact.
    let boss_link = store.person("admin.bea", "admin", &base);
    let boss_secret = Web::new(&base).setup(&boss_link, PASSWORD);
    b.login(&base, "admin.bea", PASSWORD, &code(&boss_secret, unix() + 30));
    assert_eq!(b.path(), "/");
    b.go(&format!("{base}/audit"));
    let t = b.text();
    for action in [
        "login_failed",
        "login",
        "key_create",
        "user_create",
        "logout",
        "setup_totp",
        "forbidden",
        "audit_verify",
    ] {
        assert!(t.contains(action), "the audit page shows {action}: {t}");
    }
    assert!(t.contains("/keys") && t.contains("user:rev.rita"), "{t}");
    b.click("form[action='/audit/verify'] button[type=submit]");
    let verified = b.text_of("#verify-result");
    assert!(verified.starts_with("intact: "), "{verified}");
    b.shot("audit-verified");
    // Every page an administrator opens has a label on every control and reflows at 200 %.
    for page in ["/", "/users", "/keys", "/audit", "/banks"] {
        b.go(&format!("{base}{page}"));
        let problems = b.accessibility_problems();
        assert!(problems.is_empty(), "{page}: {problems:?}");
    }
    b.click("form[action='/logout'] button");
    assert!(b.path().starts_with("/login"), "{}", b.path());
    let problems = b.accessibility_problems();
    assert!(problems.is_empty(), "the login page: {problems:?}");
    b.close();
    let forbidden = audited(&store, "forbidden");
    assert_eq!(forbidden.len(), 2, "{forbidden:?}");
    assert_eq!((forbidden[0].0.as_str(), forbidden[0].2.as_str()), ("user:rev.rita", "/users"));
    assert_eq!((forbidden[1].0.as_str(), forbidden[1].2.as_str()), ("user:rev.rita", "/keys"));
    assert_eq!(audited(&store, "logout")[0].0, "user:admin.ann");
    s.stop();

    // A session past its idle timeout goes back to the login page.
    let store2 = Store::sqlite();
    let s2 = Server::start(&store2, &["--session-idle-timeout", "2s"]);
    let b = Browser::start(&driver);
    let link = store2.person("idle.ian", "curator", &s2.base);
    let secret = Web::new(&s2.base).setup(&link, PASSWORD);
    b.login(&s2.base, "idle.ian", PASSWORD, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/");
    std::thread::sleep(Duration::from_millis(2600));
    b.go(&format!("{}/", s2.base));
    assert_eq!(b.path(), "/login?expired=idle");
    assert!(b.text().contains("Your session ended"), "{}", b.text());
    b.shot("session-expired");
    b.close();
    let expired = audited(&store2, "session_expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert!(expired[0].0 == "user:idle.ian" && expired[0].3.contains("idle"), "{expired:?}");
    s2.stop();
}

impl Web {
    /// A multipart form post (an import), with the CSRF token in the query as the page's form
    /// has it.
    fn post_multipart(&mut self, path: &str, form: reqwest::blocking::multipart::Form) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header())
            .multipart(form)
            .send()
            .unwrap();
        self.take(r)
    }

    /// The session's CSRF token, from any page with a form.
    fn csrf(&mut self) -> String {
        let a = self.get("/banks");
        hidden(&a.body, "csrf")
    }
}

/// A PDQ hash (64 hex digits) from a number, and the same with `flips` bits flipped.
fn pdq_hex(i: u64, flips: usize) -> String {
    let mut h = spoor_core::Hash256::from_bytes(
        spoor_core::SignalType::Pdq.parse(&common::hex_hash(i + 1)).unwrap().try_into().unwrap(),
    );
    for bit in 0..flips {
        h.flip_bit(bit * 7);
    }
    h.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Location` of an answer.
fn location(a: &Answer) -> String {
    a.headers.get(LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// A curator's day on the banks pages, over HTTP: create a bank (bad names refused), import a
/// file streamed into the importer (one bad line rejected; without the form's token nothing
/// happens), list and filter entries page by page, find an entry by a near PDQ hash, open it,
/// disable it with a required reason (it stops matching through the API within a second),
/// reclassify it, pause and resume the bank, export it. Each view and change is audited with
/// the person as actor; a reviewer cannot open the banks pages.
#[test]
fn curators_work_on_banks_in_the_console() {
    let store = Store::sqlite();
    let matcher = store.key("matcher", "m", None);
    let s = Server::start(&store, &["--login-attempts-per-minute", "100"]);
    let link = store.person("cur.cora", "curator", &s.base);
    let mut w = Web::new(&s.base);
    let secret = w.setup(&link, PASSWORD);
    assert_eq!(w.login("cur.cora", PASSWORD, &secret, unix() + 30).status, StatusCode::SEE_OTHER);
    let csrf = w.csrf();

    // A new bank: bad inputs are refused on the page and write nothing.
    for (name, radius, says) in [
        ("lower", "31", "invalid bank name"),
        ("", "31", "Enter a name"),
        ("HOTLINE", "99", "too large"),
        ("HOTLINE", "ten", "whole number"),
    ] {
        let a = w.post("/banks", &[("name", name), ("radius", radius), ("csrf", &csrf)]);
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{name} {radius}");
        assert!(a.body.contains(says), "{says}: {}", a.body);
    }
    let listed = String::from_utf8(store.spoor(&["bank", "list"]).stdout).unwrap();
    assert!(!listed.contains("HOTLINE"), "{listed}");
    let a = w.post(
        "/banks",
        &[("name", "HOTLINE"), ("radius", "20"), ("owner", "Hotline NL"), ("csrf", &csrf)],
    );
    assert_eq!(
        (a.status, location(&a).as_str()),
        (StatusCode::SEE_OTHER, "/banks/HOTLINE?done=created")
    );
    let a = w.post("/banks", &[("name", "HOTLINE"), ("radius", "20"), ("csrf", &csrf)]);
    assert!(a.body.contains("exists already"), "{}", a.body);

    // Import: 120 PDQ hashes and 5 MD5s, one bad line.
    let mut file = String::new();
    for i in 0..120 {
        file.push_str(&format!("{}\n", pdq_hex(i, 0)));
    }
    for i in 0..5u8 {
        file.push_str(&format!("md5 {}\n", format!("{i:02x}").repeat(16)));
    }
    file.push_str("not a hash\n");
    let form = || {
        reqwest::blocking::multipart::Form::new()
            .text("format", "auto")
            .text("signal_type", "pdq")
            .part(
                "file",
                reqwest::blocking::multipart::Part::bytes(file.clone().into_bytes())
                    .file_name("list.txt"),
            )
    };
    let a = w.post_multipart("/banks/HOTLINE/import", form());
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no token, no import: {}", a.body);
    let a = w.post_multipart(&format!("/banks/HOTLINE/import?csrf={csrf}"), form());
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let job = location(&a);
    assert!(job.starts_with("/banks/HOTLINE/imports/"), "{job}");
    let a = w.get(&job);
    assert!(a.body.contains("The import is finished"), "{}", a.body);
    assert!(
        a.body.contains("id=\"added\">125<") && a.body.contains("id=\"rejected\">1<"),
        "{}",
        a.body
    );
    assert!(a.body.contains("not a hash") || a.body.contains("line"), "the rejected line is named");
    let a = w.get("/banks/HOTLINE/import");
    assert!(a.body.contains("list.txt") && a.body.contains("cur.cora"), "{}", a.body);

    // The entries, 50 a page, by cursor; a filter by type.
    let a = w.get("/banks/HOTLINE");
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.body.matches("/banks/HOTLINE/entries/").count(), 50, "one page");
    let next = a.body.split("rel=\"next\"").next().unwrap();
    let next = &next[next.rfind("href=\"").unwrap() + 6..];
    let next = next[..next.find('"').unwrap()].replace("&amp;", "&");
    assert!(next.starts_with("/banks/HOTLINE?after="), "{next}");
    let a = w.get(&next);
    assert_eq!(a.body.matches("/banks/HOTLINE/entries/").count(), 50);
    let a = w.get("/banks/HOTLINE?type=md5");
    assert_eq!(a.body.matches("/banks/HOTLINE/entries/").count(), 5, "{}", a.body);
    assert!(!a.body.contains("rel=\"next\""));
    let a = w.get("/banks/HOTLINE?type=gif&state=sideways");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("Choose a signal type from the list"), "{}", a.body);

    // Search by a PDQ hash 3 bits away: the entry, at distance 3.
    server::until("the matcher has the imported entries", || {
        !s.matches(&matcher, &pdq_hex(7, 0)).is_empty()
    });
    let a = w.get(&format!("/banks/HOTLINE?q={}", pdq_hex(7, 3)));
    assert!(a.body.contains("PDQ distance 3"), "{}", a.body);
    let href = a.body.split("Found 1").nth(1).unwrap();
    let href = &href[href.find("href=\"").unwrap() + 6..];
    let entry = href[..href.find('"').unwrap()].to_string();
    let id: i64 = entry.rsplit('/').next().unwrap().parse().unwrap();
    let a = w.get(&format!("/banks/HOTLINE?q={id}"));
    assert_eq!(location(&a), entry, "an id goes to the entry");
    let a = w.get("/banks/HOTLINE?q=%3Cnot-a-hash%3E");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The entry: provenance and history; disabling needs a reason.
    let a = w.get(&entry);
    assert!(a.body.contains(&pdq_hex(7, 0)) && a.body.contains("user:cur.cora"), "{}", a.body);
    assert!(a.body.contains(">add<"), "the history starts with the add: {}", a.body);
    let a = w.post(&entry, &[("op", "disable"), ("reason", "  "), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("Give a reason"), "{}", a.body);
    assert_eq!(s.matches(&matcher, &pdq_hex(7, 0)).len(), 1, "still matching");
    let a =
        w.post(&entry, &[("op", "disable"), ("reason", "stock photo, not abuse"), ("csrf", &csrf)]);
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, format!("{entry}?done=disabled")));
    let took =
        server::until_within("the disabled entry stops matching", Duration::from_secs(1), || {
            s.matches(&matcher, &pdq_hex(7, 0)).is_empty()
        });
    eprintln!("the disabled entry stopped matching after {took:?}");
    let a = w.get(&format!("{entry}?done=disabled"));
    assert!(
        a.body.contains("stock photo, not abuse") && a.body.contains(">disable<"),
        "{}",
        a.body
    );
    let a = w.get("/banks/HOTLINE?state=disabled");
    assert_eq!(a.body.matches("/banks/HOTLINE/entries/").count(), 1);

    // Reclassify, with bad fields refused first.
    let a = w.post(
        &entry,
        &[("op", "reclassify"), ("category", "evil"), ("reason", "x"), ("csrf", &csrf)],
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = w.post(
        &entry,
        &[
            ("op", "reclassify"),
            ("category", "not_illegal"),
            ("severity", ""),
            ("tags", "stock"),
            ("verified", "on"),
            ("reason", "assessed again"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(location(&a), format!("{entry}?done=reclassified"));
    let a = w.get(&entry);
    assert!(a.body.contains("not_illegal") && a.body.contains(">update<"), "{}", a.body);

    // Settings and pause/resume, each with a reason.
    let a = w.post(
        "/banks/HOTLINE/settings",
        &[("description", "d"), ("owner", "o"), ("radius", "31"), ("reason", ""), ("csrf", &csrf)],
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = w.post(
        "/banks/HOTLINE/settings",
        &[
            ("description", "d"),
            ("owner", "o"),
            ("radius", "31"),
            ("reason", "wider"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(location(&a), "/banks/HOTLINE?done=settings");
    let a = w.post(
        "/banks/HOTLINE/state",
        &[("enabled", "false"), ("state_reason", "audit"), ("csrf", &csrf)],
    );
    assert_eq!(location(&a), "/banks/HOTLINE?done=paused");
    server::until("a paused bank matches nothing", || {
        s.matches(&matcher, &pdq_hex(8, 0)).is_empty()
    });
    let a = w.get("/banks/HOTLINE");
    assert!(a.body.contains("paused"));
    let a = w.post(
        "/banks/HOTLINE/state",
        &[("enabled", "true"), ("state_reason", "done"), ("csrf", &csrf)],
    );
    assert_eq!(location(&a), "/banks/HOTLINE?done=resumed");
    server::until("a resumed bank matches", || !s.matches(&matcher, &pdq_hex(8, 0)).is_empty());

    // Export: every entry as JSON lines, as a download.
    let a = w.get("/banks/HOTLINE/export/download?format=jsonl");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.headers["content-disposition"].to_str().unwrap().contains("HOTLINE-"));
    assert_eq!(a.body.lines().count(), 125);
    let a = w.get("/banks/HOTLINE/export/download?format=lines&signal_type=md5");
    assert_eq!(a.body.lines().count(), 5);
    let a = w.get("/banks/HOTLINE/export/download?format=xml");
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A reviewer cannot open the banks pages.
    let rlink = store.person("rev.rob", "reviewer", &s.base);
    let mut r = Web::new(&s.base);
    let rsecret = r.setup(&rlink, PASSWORD);
    r.login("rev.rob", PASSWORD, &rsecret, unix() + 30);
    assert_eq!(r.get("/banks/HOTLINE").status, StatusCode::FORBIDDEN);
    assert_eq!(r.get(&entry).status, StatusCode::FORBIDDEN);
    s.stop();

    // Every view and change is on the audit log, by the person.
    let log = audit(&store);
    let by_cora =
        |action: &str| log.iter().filter(|r| r.1 == action && r.0 == "user:cur.cora").count();
    assert_eq!(by_cora("bank_create"), 1);
    assert!(by_cora("entries_import") >= 1);
    assert!(by_cora("entries_view") >= 4, "{log:?}");
    assert_eq!(by_cora("entries_search"), 1);
    assert!(by_cora("entry_view") >= 3);
    assert_eq!(by_cora("entry_disable"), 1);
    assert_eq!(by_cora("entry_update"), 1);
    assert_eq!(by_cora("bank_pause") + by_cora("bank_resume"), 2);
    assert_eq!(by_cora("bank_export"), 2, "the refused export is not one");
    let forbidden: Vec<_> =
        log.iter().filter(|r| r.1 == "forbidden" && r.0 == "user:rev.rob").collect();
    assert_eq!(forbidden.len(), 2);
    let search = log.iter().find(|r| r.1 == "entries_search").unwrap();
    assert!(!search.3.contains(&pdq_hex(7, 3)), "a searched hash is never recorded: {}", search.3);
}

/// In Chromium: a curator makes a bank, imports a file through the browser, finds an entry by
/// its hash, and disables it with a reason; the entry stops matching through the API within a
/// second. Screenshots of the bank pages.
#[test]
fn a_curator_disables_an_entry_in_the_browser() {
    let Some(driver) = chromedriver() else { return };
    let store = Store::sqlite();
    let matcher = store.key("matcher", "m", None);
    let s = Server::start(&store, &[]);
    let base = s.base.clone();
    let link = store.person("cur.carl", "curator", &base);
    let secret = Web::new(&base).setup(&link, PASSWORD);
    let b = Browser::start(&driver);
    b.login(&base, "cur.carl", PASSWORD, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/");

    b.go(&format!("{base}/banks"));
    b.fill("#name", "HOTLINE");
    b.fill("#owner", "Hotline NL");
    b.click("form[action='/banks'] button[type=submit]");
    assert_eq!(b.path(), "/banks/HOTLINE?done=created", "{}", b.text());

    // Import a file through the browser.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hotline-list.txt");
    let lines: String = (0..80).map(|i| format!("{}\n", pdq_hex(i, 0))).collect();
    std::fs::write(&file, format!("{lines}oops\n")).unwrap();
    b.go(&format!("{base}/banks/HOTLINE/import"));
    b.shot("bank-import");
    let input = b.rt.block_on(b.c.find(fantoccini::Locator::Css("#file"))).unwrap();
    b.rt.block_on(input.send_keys(&file.display().to_string())).unwrap();
    b.click("form[enctype='multipart/form-data'] button[type=submit]");
    assert!(b.path().starts_with("/banks/HOTLINE/imports/"), "{}", b.path());
    server::until_within("the import page says it is finished", Duration::from_secs(10), || {
        b.text().contains("The import is finished")
    });
    assert_eq!(b.text_of("#added"), "80");
    assert_eq!(b.text_of("#rejected"), "1");
    b.shot("bank-import-done");

    b.go(&format!("{base}/banks"));
    b.shot("banks");
    b.go(&format!("{base}/banks/HOTLINE"));
    b.shot("bank");
    server::until("the matcher has the entries", || {
        !s.matches(&matcher, &pdq_hex(3, 0)).is_empty()
    });
    b.fill("#q", &pdq_hex(3, 2));
    b.click("form[role=search] button[type=submit]");
    assert!(b.text().contains("PDQ distance 2"), "{}", b.text());
    b.shot("bank-search");
    b.click("#results + .table-wrap td a");
    assert!(b.path().starts_with("/banks/HOTLINE/entries/"), "{}", b.path());
    assert!(b.text().contains(&pdq_hex(3, 0)));
    b.shot("entry");
    // The bank pages have a label on every control and reflow at 200 % zoom.
    for page in [
        format!("{base}/banks"),
        format!("{base}/banks/HOTLINE"),
        format!("{base}/banks/HOTLINE/import"),
        format!("{base}/banks/HOTLINE/export"),
        format!("{base}/banks/HOTLINE/settings"),
        format!("{base}{}", b.path()),
    ] {
        b.go(&page);
        let problems = b.accessibility_problems();
        assert!(problems.is_empty(), "{page}: {problems:?}");
    }
    // The checks see what they look for: an unlabelled field and a page too wide.
    b.script(
        "const i = document.createElement('input'); document.querySelector('main').append(i);
         const d = document.createElement('div'); d.style.width = '900px'; d.textContent = 'x';
         document.querySelector('main').append(d);",
    );
    let problems = b.accessibility_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");

    // Disable with a reason: refused without one, then done; the API stops matching.
    b.click("#disable");
    assert!(b.text().contains("Give a reason"), "{}", b.text());
    b.fill("#reason", "stock photo, not abuse");
    b.click("#disable");
    assert!(b.path().ends_with("?done=disabled"), "{}", b.path());
    let took = server::until_within(
        "the disabled entry stops matching through the API",
        Duration::from_secs(1),
        || s.matches(&matcher, &pdq_hex(3, 0)).is_empty(),
    );
    eprintln!("stopped matching {took:?} after the page confirmed");
    assert!(b.text().contains("stock photo, not abuse"));
    b.shot("entry-disabled");
    b.close();
    s.stop();
    let disabled = audited(&store, "entry_disable");
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0].0, "user:cur.carl");
}

// ----- Review -----

impl Web {
    fn get_bytes(&mut self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send()
            .unwrap();
        let status = r.status();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, r.bytes().unwrap().to_vec())
    }
}

/// Submits `bytes` as a case through the API; the case as answered.
fn submit_case(s: &Server, key: &str, bytes: &[u8], item: &str) -> serde_json::Value {
    let meta = serde_json::json!({"reason": "match", "content_ref": item});
    let form = reqwest::blocking::multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", reqwest::blocking::multipart::Part::bytes(bytes.to_vec()).file_name("x"));
    let r = s.http.post(s.url("/v1/cases")).bearer_auth(key).multipart(form).send().unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<serde_json::Value>().unwrap()["case"].clone()
}

/// A reviewer's day, over HTTP: a case made through the API is in the queue; "review next"
/// gives it to one reviewer and not to a second while the lease holds; only the holder gets
/// its picture, a greyscale, blurred rendition at most 320 px (R = G = B, high-frequency
/// energy far below the original's); a reveal is recorded and lowers the blur; a confirmation
/// without a classification is refused on the page; a valid one decides the case, and the same
/// picture submitted again takes that decision without reaching the queue, leaving every
/// exposure counter as it was. A false positive becomes a curator's task whose one-click
/// disable stops the entry matching within a second. Every step is audited by the person.
#[test]
fn reviewers_review_cases_in_the_console() {
    use common::{energy, flip, picture};
    let store = Store::sqlite();
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let s = Server::start(
        &store,
        &["--media-key-file", media_key.to_str().unwrap(), "--exposure-guide", "1"],
    );
    let (pic_a, pic_b) = (picture(21, 0), picture(22, 0));
    let pdq = |bytes: &[u8]| -> String {
        let (st, v) = s.upload(Some(&admin), "/v1/hash", bytes.to_vec());
        assert_eq!(st, StatusCode::OK, "{v}");
        v["pdq"].as_str().unwrap().to_string()
    };
    let (pdq_a, pdq_b) = (pdq(&pic_a), pdq(&pic_b));
    let (st, v) =
        s.send("POST", Some(&admin), "/v1/banks", &serde_json::json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = serde_json::json!({"entries": [
        {"signal_type": "pdq", "value": flip(&pdq_a, 20), "category": "baseline", "verified_by": "a"},
        {"signal_type": "pdq", "value": flip(&pdq_b, 20), "category": "baseline", "verified_by": "a"},
    ]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/HOTLINE/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    let entry_b = v["results"][1]["id"].as_i64().unwrap();
    server::until("entries live", || s.matches(&admin, &flip(&pdq_b, 20)).len() == 1);
    let case_a = submit_case(&s, &hoster, &pic_a, "item-a");
    assert_eq!(case_a["state"], "queued");
    let id_a = case_a["id"].as_i64().unwrap();

    let (mut r1, csrf1) = logged_in(&store, &s, "rita", "reviewer");
    let (mut r2, csrf2) = logged_in(&store, &s, "ravi", "reviewer");
    let a = r1.get("/review");
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Review next in main"), "{}", a.body);
    assert!(!a.body.contains("next-senior"), "a reviewer has no senior queue");
    // Review next: the case to rita; nothing for ravi while her lease holds.
    let a = r1.post("/review/next", &[("queue", "main"), ("csrf", &csrf1)]);
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, format!("/cases/{id_a}")));
    let a = r2.post("/review/next", &[("queue", "main"), ("csrf", &csrf2)]);
    assert_eq!(location(&a), "/review?done=empty");
    let a = r2.get(&format!("/cases/{id_a}"));
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("/rendition"), "only the holder sees the picture");
    assert_eq!(r2.get_bytes(&format!("/cases/{id_a}/rendition")).0, StatusCode::NOT_FOUND);
    let a = r2.post(
        &format!("/cases/{id_a}/decide"),
        &[("verdict", "confirm"), ("category", "baseline"), ("csrf", &csrf2)],
    );
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "a non-holder cannot decide");
    assert!(a.body.contains("held by another reviewer"), "{}", a.body);

    // The holder's picture: small, grey, blurred.
    let a = r1.get(&format!("/cases/{id_a}"));
    assert!(a.body.contains(&format!("/cases/{id_a}/rendition")), "{}", a.body);
    assert!(a.body.contains("item-a"));
    // The picture on this page counts at once, in the page's box and in its header.
    assert!(
        text_of_id(&a.body, "exposure").contains("seen 1 item and made 0 reveals"),
        "{}",
        a.body
    );
    assert!(
        text_of_id(&a.body, "exposure-today").contains("Today: 1 item, 0 reveals"),
        "{}",
        a.body
    );
    let again = r1.get(&format!("/cases/{id_a}"));
    assert!(
        text_of_id(&again.body, "exposure").contains("seen 1 item"),
        "the same case counts once"
    );
    let (st, ctype, png) = r1.get_bytes(&format!("/cases/{id_a}/rendition?v=4g"));
    assert_eq!((st, ctype.as_str()), (StatusCode::OK, "image/png"));
    let shown = image::load_from_memory(&png).unwrap();
    assert!(shown.width().max(shown.height()) <= 320);
    let rgb = shown.to_rgb8();
    assert!(rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "greyscale: R = G = B");
    let original = image::load_from_memory(&pic_a).unwrap().to_luma8();
    let (e_orig, e_shown) = (energy(&original), energy(&shown.to_luma8()));
    assert!(e_shown < e_orig * 0.05, "blurred: energy {e_shown} vs original {e_orig}");
    // One reveal step: recorded, and the next picture is sharper.
    let a = r1.post(&format!("/cases/{id_a}/reveal"), &[("op", "less_blur"), ("csrf", &csrf1)]);
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let (_, _, png3) = r1.get_bytes(&format!("/cases/{id_a}/rendition?v=3g"));
    let e3 = energy(&image::load_from_memory(&png3).unwrap().to_luma8());
    assert!(e3 > e_shown, "less blur: {e3} > {e_shown}");
    let a = r1.get("/review");
    assert!(
        a.body.contains("seen <strong>1</strong> item and made <strong>1</strong> reveal"),
        "{}",
        a.body
    );
    // The guide (1 item here) is reached: rita is asked to take a break, the team lead told.
    assert!(a.body.contains("reached today's guide"), "{}", a.body);
    // Her counter is on every page she opens, not only the review pages; ravi's says nothing
    // seen; people who do not review have none.
    let home = r1.get("/");
    assert_eq!(
        text_of_id(&home.body, "exposure-today"),
        "Today: 1 item, 1 reveal – take a break",
        "{}",
        home.body
    );
    assert_eq!(text_of_id(&r2.get("/").body, "exposure-today"), "Today: 0 items, 0 reveals");
    let (mut curator, _) = logged_in(&store, &s, "cora", "curator");
    assert!(!curator.get("/").body.contains("exposure-today"));
    let (mut lead, _) = logged_in(&store, &s, "lena", "admin");
    let a = lead.get("/review");
    assert!(a.body.contains("Reached today's exposure guide: rita."), "{}", a.body);
    assert!(!a.body.contains("ravi"), "ravi saw nothing");
    // A confirmation needs a classification; then it decides.
    let a = r1.post(&format!("/cases/{id_a}/decide"), &[("verdict", "confirm"), ("csrf", &csrf1)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("classification"), "{}", a.body);
    let a = r1.post(
        &format!("/cases/{id_a}/decide"),
        &[
            ("verdict", "confirm"),
            ("category", "baseline"),
            ("industry_class", "A2"),
            ("annotations", "generativeAi"),
            ("annotations", "viral"),
            ("note", "as banked"),
            ("csrf", &csrf1),
        ],
    );
    assert_eq!(
        (a.status, location(&a)),
        (StatusCode::SEE_OTHER, format!("/review?done=decided&case={id_a}"))
    );
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id_a}"));
    assert_eq!(
        (c["state"].as_str(), c["industry_class"].as_str()),
        (Some("confirmed"), Some("A2"))
    );
    assert_eq!(c["annotations"], serde_json::json!(["generativeAi", "viral"]));
    assert_eq!(c["viewed_by_person"], true);
    assert_eq!(
        r1.get_bytes(&format!("/cases/{id_a}/rendition")).0,
        StatusCode::NOT_FOUND,
        "a decided case's content is not shown"
    );

    // Never view twice: the same picture again takes the decision; no one's exposure moves.
    let before: Vec<String> = [&mut r1, &mut r2]
        .into_iter()
        .map(|w| text_of_id(&w.get("/review").body, "exposure"))
        .collect();
    let again = submit_case(&s, &hoster, &picture(21, 3), "item-a-again");
    assert_eq!(
        (again["resolution"].as_str(), again["earlier_case"].as_i64()),
        (Some("earlier"), Some(id_a))
    );
    assert_eq!(again["viewed_by_person"], false);
    let after: Vec<String> = [&mut r1, &mut r2]
        .into_iter()
        .map(|w| text_of_id(&w.get("/review").body, "exposure"))
        .collect();
    assert_eq!(before, after);
    let a = r2.post("/review/next", &[("queue", "main"), ("csrf", &csrf2)]);
    assert_eq!(location(&a), "/review?done=empty", "nothing reached the queue");

    // Ravi's starting view: blur 2 in colour, recorded; a blur step that does not exist is
    // refused.
    let a = r2.post("/review/view", &[("blur", "9"), ("csrf", &csrf2)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = r2.post("/review/view", &[("blur", "2"), ("colour", "on"), ("csrf", &csrf2)]);
    assert_eq!(location(&a), "/review?done=view");
    let page = r2.get("/review").body;
    assert!(page.contains(r#"<option value="2" selected>"#), "{page}");
    assert!(page.contains(r#"id="start-colour" name="colour" value="on" checked"#), "{page}");

    // A false positive: ravi names the entry; a curator disables it with one click.
    let case_b = submit_case(&s, &hoster, &pic_b, "item-b");
    let id_b = case_b["id"].as_i64().unwrap();
    let a = r2.post("/review/next", &[("queue", "main"), ("csrf", &csrf2)]);
    assert_eq!(location(&a), format!("/cases/{id_b}"));
    // The match's entry as banked, and how cases matching it were decided (none yet).
    let page = r2.get(&format!("/cases/{id_b}")).body;
    assert!(page.contains("<td>baseline, verified by a</td>"), "{page}");
    assert!(page.contains("<td>none decided yet</td>"), "{page}");
    // His first picture of it is made with his starting view: less blurred, in colour.
    assert!(page.contains(&format!("/cases/{id_b}/rendition?v=2c")), "{page}");
    let (_, _, png) = r2.get_bytes(&format!("/cases/{id_b}/rendition?v=2c"));
    let shown = image::load_from_memory(&png).unwrap().to_rgb8();
    assert!(shown.pixels().any(|p| p[0] != p[1] || p[1] != p[2]), "in colour");
    let a = r2.post(
        &format!("/cases/{id_b}/decide"),
        &[
            ("verdict", "false_positive"),
            ("entry_id", &entry_b.to_string()),
            ("note", "a test card"),
            ("csrf", &csrf2),
        ],
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (mut cur, csrf_c) = logged_in(&store, &s, "carla", "curator");
    assert_eq!(r2.get("/review/false-positives").status, StatusCode::FORBIDDEN);
    let a = cur.get("/review/false-positives");
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains(&format!("disable-{id_b}")) && a.body.contains("a test card"),
        "{}",
        a.body
    );
    assert_eq!(cur.get("/review").status, StatusCode::FORBIDDEN, "curators do not review");
    let a = cur.post(&format!("/review/false-positives/{id_b}/disable"), &[("csrf", &csrf_c)]);
    assert_eq!(location(&a), "/review/false-positives?done=disabled");
    let took =
        server::until("the false positive stops matching", || s.matches(&admin, &pdq_b).is_empty());
    eprintln!("the entry stopped matching {took:?} after the one-click disable");
    assert!(!cur.get("/review/false-positives").body.contains(&format!("disable-{id_b}")));
    let page = r2.get(&format!("/cases/{id_b}")).body;
    assert!(page.contains("<td>baseline, verified by a, disabled</td>"), "{page}");
    assert!(page.contains("<td>0 confirmed, 1 false positive</td>"), "{page}");

    // The record, person by person.
    let log = audit(&store);
    let did = |who: &str, action: &str| log.iter().filter(|r| r.0 == who && r.1 == action).count();
    assert_eq!(did("user:rita", "case_claim"), 1);
    assert!(did("user:rita", "case_view") >= 2);
    assert_eq!(did("user:rita", "case_rendition"), 2);
    assert_eq!(did("user:rita", "case_reveal"), 1);
    assert_eq!(did("user:rita", "case_decide"), 1);
    assert_eq!(did("user:ravi", "review_view_set"), 1);
    let ravi_saw: Vec<&str> = log
        .iter()
        .filter(|r| r.0 == "user:ravi" && r.1 == "case_rendition")
        .map(|r| r.2.as_str())
        .collect();
    assert_eq!(ravi_saw, [id_b.to_string()], "ravi never saw rita's case, only his own");
    assert_eq!(did("user:ravi", "case_decide"), 1);
    assert_eq!(did("user:carla", "entry_disable"), 1);
    let reason = log.iter().find(|r| r.1 == "entry_disable").unwrap();
    assert!(reason.3.contains(&format!("case {id_b}")), "{reason:?}");
    s.stop();
}

/// Review queues per team, in the console: a bank set to `team-b` (by `spoor bank create`)
/// sends its matches' cases there; an administrator limits one reviewer to `main` (the
/// command line) and another to `team-b` (the people page, where a bad list is refused); the
/// reviewer of `main` neither sees `team-b` nor may take it (403, audited `forbidden`), the
/// reviewer of `team-b` takes the case; the bank's queue round-trips through its settings form,
/// which refuses bad names with a form error.
fn reviewers_take_cases_of_their_own_queues(store: Store) {
    use common::{flip, picture};
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = store.spoor(&["bank", "create", "TEAM", "--review-queue", "team-b"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let media_dir = store.dir.path().join("media");
    let s = Server::start(
        &store,
        &[
            "--media-key-file",
            media_key.to_str().unwrap(),
            "--media-dir",
            media_dir.to_str().unwrap(),
        ],
    );
    let pic = picture(51, 0);
    let (st, v) = s.upload(Some(&admin), "/v1/hash", pic.clone());
    assert_eq!(st, StatusCode::OK, "{v}");
    let near = flip(v["pdq"].as_str().unwrap(), 20);
    let entries = serde_json::json!({"entries": [{"signal_type": "pdq", "value": near}]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/TEAM/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entry live", || s.matches(&admin, &near).len() == 1);
    let case = submit_case(&s, &hoster, &pic, "team-item");
    assert_eq!((case["state"].as_str(), case["queue"].as_str()), (Some("queued"), Some("team-b")));
    let id = case["id"].as_i64().unwrap();

    let (mut mia, csrf_m) = logged_in(&store, &s, "mia", "reviewer");
    let (mut bo, csrf_b) = logged_in(&store, &s, "bo", "reviewer");
    let (mut lead, csrf_l) = logged_in(&store, &s, "lead", "admin");
    let out = store.spoor(&["users", "set-queues", "mia", "--queues", "main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a = lead.post("/users/bo/queues", &[("queues", "team-b, senior"), ("csrf", &csrf_l)]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("administrators"), "{}", a.body);
    let a = lead.post("/users/bo/queues", &[("queues", "Team B"), ("csrf", &csrf_l)]);
    assert!(a.body.contains("invalid queue name"), "{}", a.body);
    assert_eq!(text_of_id(&a.body, "queues-of-bo"), "every queue", "nothing changed");
    let a = lead.post("/users/bo/queues", &[("queues", " team-b "), ("csrf", &csrf_l)]);
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("bo now takes cases from team-b."), "{}", a.body);
    assert_eq!(text_of_id(&a.body, "queues-of-mia"), "main");
    assert_eq!(text_of_id(&a.body, "queues-of-bo"), "team-b");
    assert_eq!(text_of_id(&a.body, "queues-of-lead"), "every queue");
    // Adding a person with their queues; a bad list is an error on the form, adding no one.
    let add = |q: &'static str| [("name", "cy"), ("role", "reviewer"), ("queues", q)];
    let a = lead.post("/users", &[&add("main, senior")[..], &[("csrf", &csrf_l)]].concat());
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of_id(&a.body, "queues-error").contains("administrators"), "{}", a.body);
    assert!(!a.body.contains("queues-of-cy"), "no one added");
    let a = lead.post("/users", &[&add("team-b,main")[..], &[("csrf", &csrf_l)]].concat());
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(text_of_id(&a.body, "queues-of-cy"), "main, team-b");

    // mia reviews main: team-b is neither shown nor hers to take.
    let a = mia.get("/review");
    assert!(a.body.contains("next-main") && !a.body.contains("team-b"), "{}", a.body);
    let a = mia.post("/review/next", &[("queue", "team-b"), ("csrf", &csrf_m)]);
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("team-b") && a.body.contains("ask an administrator"), "{}", a.body);
    let a = mia.post("/review/next", &[("queue", "main"), ("csrf", &csrf_m)]);
    assert_eq!(location(&a), "/review?done=empty");
    // bo reviews team-b: shown with its one waiting case, and his to take.
    let a = bo.get("/review");
    assert!(a.body.contains("next-team-b") && !a.body.contains("next-main"), "{}", a.body);
    assert!(a.body.contains("<td>team-b</td><td class=\"num\">1</td>"), "{}", a.body);
    let a = bo.post("/review/next", &[("queue", "team-b"), ("csrf", &csrf_b)]);
    assert_eq!((a.status, location(&a)), (StatusCode::SEE_OTHER, format!("/cases/{id}")));
    // The administrator sees every queue, the senior one too.
    let a = lead.get("/review");
    for q in ["next-main", "next-team-b", "next-senior"] {
        assert!(a.body.contains(q), "{q}: {}", a.body);
    }
    let forbidden = audited(&store, "forbidden");
    assert_eq!(forbidden.len(), 1, "{forbidden:?}");
    assert_eq!((forbidden[0].0.as_str(), forbidden[0].2.as_str()), ("user:mia", "/review/next"));
    assert!(forbidden[0].3.contains("\"queue\":\"team-b\""), "{forbidden:?}");
    let queues = audited(&store, "user_queues");
    let who: Vec<(&str, &str)> = queues.iter().map(|r| (r.0.as_str(), r.2.as_str())).collect();
    assert!(who.contains(&("user:lead", "bo")) && who.len() == 2, "{queues:?}");
    let made = audited(&store, "user_create");
    let cy = made.iter().find(|r| r.2 == "cy").unwrap();
    assert!(cy.3.contains(r#""queues":["main","team-b"]"#), "{cy:?}");

    // The bank's queue in its settings form: shown, bad names refused on the form, changed.
    let a = lead.get("/banks/TEAM/settings");
    assert!(a.body.contains("value=\"team-b\""), "{}", a.body);
    assert!(a.body.contains("<label class=\"label\" for=\"review_queue\">Review queue</label>"));
    assert!(a
        .body
        .contains("<label class=\"label\" for=\"hma_ratio\">Share of HMA lookups</label>"));
    assert!(
        a.body.contains(
            "class=\"input\" id=\"hma_ratio\" name=\"hma_ratio\" type=\"text\" value=\"1\""
        ),
        "{}",
        a.body
    );
    let form = |q: &'static str, ratio: &'static str, csrf: &str| {
        vec![
            ("description", String::new()),
            ("owner", String::new()),
            ("radius", "31".into()),
            ("auto_confirm", "10".into()),
            ("review_queue", q.into()),
            ("hma_ratio", ratio.into()),
            ("reason", "team c takes over".into()),
            ("csrf", csrf.into()),
        ]
    };
    for (bad, says) in [("Team C", "invalid queue name"), ("senior", "escalations")] {
        let f = form(bad, "1", &csrf_l);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = lead.post("/banks/TEAM/settings", &f);
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(text_of_id(&a.body, "review_queue-error").contains(says), "{bad}: {}", a.body);
    }
    // HMA's ratio: a share above 0 and at most 1; 0 is a pause, made with its own form.
    for bad in ["0", "1.5", "half", "-1"] {
        let f = form("team-c", bad, &csrf_l);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = lead.post("/banks/TEAM/settings", &f);
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            text_of_id(&a.body, "hma_ratio-error").contains("greater than 0"),
            "{bad}: {}",
            a.body
        );
        assert!(a.body.contains(&format!("value=\"{bad}\"")), "what was typed stays: {bad}");
    }
    assert!(!lead.get("/banks/TEAM").body.contains("id=\"hma-ratio\""), "not shown at 1");
    let f = form("team-c", "0.5", &csrf_l);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = lead.post("/banks/TEAM/settings", &f);
    assert_eq!(location(&a), "/banks/TEAM?done=settings");
    let page = lead.get("/banks/TEAM").body;
    assert_eq!(text_of_id(&page, "review-queue"), "team-c");
    assert_eq!(text_of_id(&page, "hma-ratio"), "0.5");
    let (_, v) = s.get(Some(&admin), "/v1/banks/TEAM");
    assert_eq!(v["review_queue"], "team-c", "{v}");
    assert_eq!(v["hma_enabled_ratio"], 0.5, "{v}");
    let settled = audited(&store, "bank_configure");
    assert!(settled.iter().any(|r| r.3.contains("hma_enabled_ratio=0.5")), "{settled:?}");
    s.stop();
}

#[test]
fn reviewers_take_cases_of_their_own_queues_on_sqlite() {
    reviewers_take_cases_of_their_own_queues(Store::sqlite());
}

#[test]
fn reviewers_take_cases_of_their_own_queues_on_postgres() {
    if let Some(store) = Store::postgres() {
        reviewers_take_cases_of_their_own_queues(store);
    }
}
