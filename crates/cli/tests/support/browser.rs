//! A real headless Chromium for the console's end-to-end tests, driven through Debian's
//! chromedriver on 127.0.0.1 (fantoccini), with screenshots written under
//! `target/console-screenshots/`; and the authenticator codes a person types at login.
//!
//! Without Chromium a browser test is skipped with a notice, unless `SPOOR_REQUIRE_BROWSER=1`
//! (as in the test command), when it fails.
#![allow(dead_code)] // each test file uses some of it

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::server;

/// The authenticator: RFC 6238 codes from a base32 secret, computed with `totp-rs`.
pub fn code(secret_b32: &str, unix: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret_b32.replace(' ', "")).to_bytes().unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).unwrap().generate(unix)
}

/// Seconds since the epoch, now.
pub fn unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// chromedriver on a free loopback port, stopped on drop.
pub struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver; `None` (with a notice) when Chromium is not installed, unless
/// `SPOOR_REQUIRE_BROWSER=1`: then it panics.
pub fn chromedriver() -> Option<Driver> {
    let found = std::path::Path::new("/usr/bin/chromedriver").exists()
        && std::path::Path::new("/usr/bin/chromium").exists();
    if !found {
        if std::env::var("SPOOR_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("/usr/bin/chromium or /usr/bin/chromedriver is missing but SPOOR_REQUIRE_BROWSER=1: install the Debian packages chromium and chromium-driver (scripts/test.sh does)");
        }
        eprintln!("notice: the console's browser test is skipped: Chromium is not installed (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("/usr/bin/chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    server::until_within("chromedriver listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
}

/// Where screenshots go: `target/console-screenshots/`.
pub fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A browser session with a profile of its own (so two people can be logged in at once), with
/// the runtime its client needs; every call blocks until done.
pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    pub c: fantoccini::Client,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new Chromium session through `driver`.
    pub fn start(driver: &Driver) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let profile_dir = tempfile::tempdir().unwrap();
        let profile = profile_dir.path().display().to_string();
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--force-color-profile=srgb",
                    "--window-size=1200,1000", format!("--user-data-dir={profile}"),
                ],
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = rt
            .block_on(
                fantoccini::ClientBuilder::new(connector).capabilities(caps).connect(&driver.url),
            )
            .expect("a Chromium session through chromedriver");
        Browser { rt, c, shots: screenshots(), _profile: profile_dir }
    }

    /// Opens `url`.
    pub fn go(&self, url: &str) {
        self.rt.block_on(self.c.goto(url)).unwrap();
    }

    /// The current page's path and query.
    pub fn path(&self) -> String {
        let u = self.rt.block_on(self.c.current_url()).unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        let body = self.rt.block_on(self.c.find(fantoccini::Locator::Css("body"))).unwrap();
        self.rt.block_on(body.text()).unwrap()
    }

    /// Types `value` into the field `css`, after clearing it.
    pub fn fill(&self, css: &str, value: &str) {
        let e = self.find(css);
        self.rt.block_on(e.clear()).unwrap();
        self.rt.block_on(e.send_keys(value)).unwrap();
    }

    /// The element `css` (it must be there).
    pub fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.rt
            .block_on(self.c.find(fantoccini::Locator::Css(css)))
            .unwrap_or_else(|e| panic!("no {css} on {}: {e}", self.path()))
    }

    /// Clicks a button that submits a form, and waits for the answer's page to be loaded (the
    /// old page's root element goes stale).
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.next_page(|| self.rt.block_on(e.click()).unwrap());
    }

    /// Presses keys in the element `css` (a space ticks a radio button or a checkbox).
    pub fn keys(&self, css: &str, keys: &str) {
        let e = self.find(css);
        self.rt.block_on(e.send_keys(keys)).unwrap();
    }

    /// Presses Enter on the element `css` (in a field it submits the form, on a button it
    /// presses it), from the keyboard, and waits for the answer's page.
    pub fn press_enter(&self, css: &str) {
        let e = self.find(css);
        let enter = char::from(fantoccini::key::Key::Enter).to_string();
        self.next_page(|| self.rt.block_on(e.send_keys(&enter)).unwrap());
    }

    /// Does `act`, then waits until the page it leads to is loaded.
    fn next_page(&self, act: impl FnOnce()) {
        let old = self.rt.block_on(self.c.find(fantoccini::Locator::Css("html"))).unwrap();
        act();
        server::until_within("the next page", Duration::from_secs(10), || {
            self.rt.block_on(old.tag_name()).is_err()
        });
        self.rt.block_on(self.c.wait().for_element(fantoccini::Locator::Css("body"))).unwrap();
    }

    /// Chooses the option `value` of the list `css`.
    pub fn select(&self, css: &str, value: &str) {
        let e = self.find(css);
        self.rt.block_on(e.select_by_value(value)).unwrap();
    }

    /// The text of the element `css`.
    pub fn text_of(&self, css: &str) -> String {
        let e = self.find(css);
        self.rt.block_on(e.text()).unwrap()
    }

    /// Runs a script.
    pub fn script(&self, js: &str) {
        self.rt.block_on(self.c.execute(js, vec![])).unwrap();
    }

    /// Runs a script and returns what it returns.
    pub fn eval(&self, js: &str) -> serde_json::Value {
        self.rt.block_on(self.c.execute(js, vec![])).unwrap()
    }

    /// The pixels of the picture the `<img>` `css` shows, as the browser decoded it from what
    /// the server sent (drawn at its own size on a canvas and read back; no new request).
    /// Waits up to 10 s for it to be loaded.
    pub fn shown_image(&self, css: &str) -> image::RgbaImage {
        let selector = serde_json::to_string(css).unwrap();
        server::until_within("the picture is loaded", Duration::from_secs(10), || {
            self.eval(&format!(
                "const i = document.querySelector({selector});
                 return !!i && i.complete && i.naturalWidth > 0;"
            )) == serde_json::Value::Bool(true)
        });
        let got = self.eval(&format!(
            "const i = document.querySelector({selector});
             const c = document.createElement('canvas');
             c.width = i.naturalWidth; c.height = i.naturalHeight;
             const g = c.getContext('2d');
             g.drawImage(i, 0, 0);
             const d = g.getImageData(0, 0, c.width, c.height).data;
             let hex = '';
             for (let k = 0; k < d.length; k++) hex += d[k].toString(16).padStart(2, '0');
             return [c.width, c.height, hex];"
        ));
        let (w, h) = (got[0].as_u64().unwrap() as u32, got[1].as_u64().unwrap() as u32);
        let hex = got[2].as_str().unwrap();
        let bytes =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        image::RgbaImage::from_raw(w, h, bytes.collect()).expect("width × height × 4 bytes")
    }

    /// Accessibility checks of the page shown: every visible control has a label (or an
    /// `aria-label`), and at 200 % zoom (the window's CSS width halved, as zooming does) the
    /// page reflows instead of scrolling sideways. Returns the problems found.
    pub fn accessibility_problems(&self) -> Vec<String> {
        let unlabelled = self.eval(
            "return [...document.querySelectorAll('input, select, textarea, button')]
                .filter(e => e.type !== 'hidden')
                .filter(e => e.tagName === 'BUTTON' ? !e.textContent.trim()
                    : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML.slice(0, 80));",
        );
        let mut problems: Vec<String> = unlabelled
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("no label: {}", e.as_str().unwrap()))
            .collect();
        let size = self.rt.block_on(self.c.get_window_size()).unwrap();
        self.rt.block_on(self.c.set_window_size(600, size.1 as u32)).unwrap();
        let overflow = self.eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        );
        if overflow.as_i64().unwrap_or(0) > 0 {
            let wide = self.eval(
                "const w = document.documentElement.clientWidth;
                 return [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > w + 1)
                    .filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap')))
                    .slice(-3).map(e => e.outerHTML.slice(0, 100));",
            );
            problems.push(format!("scrolls sideways by {overflow} px at 200 % zoom: {wide}"));
        }
        self.rt.block_on(self.c.set_window_size(size.0 as u32, size.1 as u32)).unwrap();
        problems
    }

    /// Saves a screenshot of the window as `NAME.png`.
    pub fn shot(&self, name: &str) {
        let png = self.rt.block_on(self.c.screenshot()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Logs in on the login page with a name, password and code.
    pub fn login(&self, base: &str, name: &str, password: &str, code: &str) {
        self.go(&format!("{base}/login"));
        self.fill("#name", name);
        self.fill("#password", password);
        self.fill("#code", code);
        self.click("form[action='/login'] button[type=submit]");
    }

    /// Ends the session.
    pub fn close(self) {
        let Browser { rt, c, .. } = self;
        let _ = rt.block_on(c.close());
    }
}

/// Setup in the browser: the password (a short and a common one refused first), then TOTP
/// from the secret shown on the page (a wrong code refused first). Returns the secret.
/// `shots`: screenshots of the refusal and the TOTP step.
pub fn browser_setup(b: &Browser, link: &str, name: &str, password: &str, shots: bool) -> String {
    b.go(link);
    assert!(b.text().contains("Choose a password"), "{}", b.text());
    b.fill("#password", "too short");
    b.fill("#confirm", "too short");
    b.click("button[type=submit]");
    let t = b.text();
    assert!(t.contains("There is a problem") && t.contains("at least 12 characters"), "{t}");
    if shots {
        b.shot("setup-password-refused");
    }
    b.fill("#password", "qwerty123456");
    b.fill("#confirm", "qwerty123456");
    b.click("button[type=submit]");
    assert!(b.text().contains("one of the most common"), "{}", b.text());
    b.fill("#password", password);
    b.fill("#confirm", password);
    b.click("button[type=submit]");
    let t = b.text();
    assert!(t.contains("Set up your authenticator app"), "{t}");
    assert!(t.contains(name));
    if shots {
        b.shot("setup-totp");
    }
    let secret = b.text_of("#totp-secret").replace(' ', "");
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    // A wrong code is refused, on the page.
    let good = code(&secret, unix());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    b.fill("#code", wrong);
    b.click("button[type=submit]");
    assert!(b.text().contains("The code is not right"), "{}", b.text());
    b.fill("#code", &code(&secret, unix()));
    b.click("button[type=submit]");
    assert_eq!(b.path(), "/login?setup=done", "{}", b.text());
    assert!(b.text().contains("Your account is ready"));
    secret
}
