//! A person at the console over plain HTTP, for the end-to-end tests: a cookie-keeping client
//! that does not follow redirects (so answers can be inspected), setup of an account from its
//! link (password, then TOTP), login, and form posts with the session's CSRF token.
#![allow(dead_code)] // each test file uses some of it

use std::collections::HashMap;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use crate::browser::{code, unix};
use crate::server::{Server, Store};

/// The password every test person is given.
pub const PASSWORD: &str = "plum tractor seventeen";

/// The value of `<… name="NAME" value="…">` in a page.
pub fn hidden(page: &str, name: &str) -> String {
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

/// A browser without a browser: cookies kept, redirects not followed.
pub struct Web {
    base: String,
    http: Client,
    cookies: HashMap<String, String>,
}

/// One answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Where a redirect points (empty when it is none).
    pub fn location(&self) -> String {
        self.headers.get(LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }
}

impl Web {
    pub fn new(base: &str) -> Self {
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Web { base: base.to_string(), http, cookies: HashMap::new() }
    }

    fn keep_cookies(&mut self, r: &Response) {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    fn take(&mut self, r: Response) -> Answer {
        self.keep_cookies(&r);
        let (status, headers) = (r.status(), r.headers().clone());
        Answer { status, headers, body: r.text().unwrap() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header())
            .send()
            .unwrap();
        self.take(r)
    }

    /// A GET whose body is bytes (a picture): status, content type, body.
    pub fn get_bytes(&mut self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send()
            .unwrap();
        self.keep_cookies(&r);
        let status = r.status();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, r.bytes().unwrap().to_vec())
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header())
            .form(form)
            .send()
            .unwrap();
        self.take(r)
    }

    /// Finishes a setup link: password, then TOTP with the code of now. Returns the secret.
    pub fn setup(&mut self, link: &str, password: &str) -> String {
        let path = &link[link.find("/setup/").unwrap()..];
        let a = self.get(path);
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let csrf = hidden(&a.body, "csrf");
        let a = self.post(
            &format!("{path}/password"),
            &[("password", password), ("confirm", password), ("csrf", &csrf)],
        );
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let secret = shown_secret(&self.get(path).body);
        let a = self
            .post(&format!("{path}/totp"), &[("code", &code(&secret, unix())), ("csrf", &csrf)]);
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        secret
    }

    /// Logs in with the code of `at`.
    pub fn login(&mut self, name: &str, password: &str, secret: &str, at: u64) -> Answer {
        let csrf = hidden(&self.get("/login").body, "csrf");
        self.post(
            "/login",
            &[("name", name), ("password", password), ("code", &code(secret, at)), ("csrf", &csrf)],
        )
    }
}

/// A person of `role`, made with `spoor users create`, set up and logged in; with their
/// session's CSRF token. The login uses the next step's code (setup spent this one).
pub fn logged_in(store: &Store, s: &Server, name: &str, role: &str) -> (Web, String) {
    let link = store.person(name, role, &s.base);
    let mut w = Web::new(&s.base);
    let secret = w.setup(&link, PASSWORD);
    let a = w.login(name, PASSWORD, &secret, unix() + 30);
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let csrf = hidden(&w.get("/").body, "csrf");
    (w, csrf)
}
