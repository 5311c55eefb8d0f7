//! Test receivers on 127.0.0.1 for reports: NCMEC's CyberTipline flow (`/submit`, `/upload`,
//! `/fileinfo`, `/finish`, `/retract`, with NCMEC's answer codes) and an EU Centre endpoint that
//! keeps one document per idempotency key. Either can fail a share of requests on purpose: HTTP
//! 503 before doing anything, a connection closed without an answer, HTTP 503 *after* doing the
//! work, or no answer at all until the client gives up (the work done) — the last two are the
//! failures that make a careless client send twice.
#![allow(dead_code)] // each test file uses some of it

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    fn read(conn: &TcpStream) -> Option<Request> {
        let mut reader = BufReader::new(conn.try_clone().ok()?);
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let mut parts = line.split(' ');
        let method = parts.next()?.to_string();
        let path = parts.next()?.to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).ok()?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let n: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; n];
        reader.read_exact(&mut body).ok()?;
        Some(Request { method, path, headers, body })
    }

    /// The parts of a `multipart/form-data` body: name → bytes.
    pub fn form(&self) -> HashMap<String, Vec<u8>> {
        let ct = self.headers.get("content-type").cloned().unwrap_or_default();
        let Some(boundary) = ct.split("boundary=").nth(1) else { return HashMap::new() };
        let delim = format!("--{}", boundary.trim_matches('"'));
        let mut out = HashMap::new();
        let body = &self.body;
        let mut starts = Vec::new();
        let d = delim.as_bytes();
        let mut i = 0;
        while i + d.len() <= body.len() {
            if &body[i..i + d.len()] == d {
                starts.push(i);
                i += d.len();
            } else {
                i += 1;
            }
        }
        for w in starts.windows(2) {
            let part = &body[w[0] + d.len()..w[1]];
            let part = part.strip_prefix(b"\r\n").unwrap_or(part);
            let Some(split) = part.windows(4).position(|x| x == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&part[..split]).to_string();
            let mut content = &part[split + 4..];
            content = content.strip_suffix(b"\r\n").unwrap_or(content);
            let name = head
                .split("name=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string();
            out.insert(name, content.to_vec());
        }
        out
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// How a receiver fails, as shares of all requests (each drawn at random per request).
#[derive(Debug, Clone, Copy, Default)]
pub struct Chaos {
    /// HTTP 503 before doing anything.
    pub fail_before: f64,
    /// The connection closed without an answer, nothing done.
    pub reset: f64,
    /// The work done, then HTTP 503.
    pub fail_after: f64,
    /// The work done, then no answer for this long before the connection is closed.
    pub hang_after: f64,
    /// How long a hang lasts (more than the client's timeout).
    pub hang: Duration,
}

impl Chaos {
    /// 30% of requests fail: 10% 503 before, 5% reset, 10% 503 after the work, 5% no answer
    /// after the work.
    pub fn thirty_percent(hang: Duration) -> Chaos {
        Chaos { fail_before: 0.10, reset: 0.05, fail_after: 0.10, hang_after: 0.05, hang }
    }
}

enum Fate {
    Ok,
    FailBefore,
    Reset,
    FailAfter,
    HangAfter,
}

/// A small xorshift generator: the tests need spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared<S> {
    state: Mutex<S>,
    chaos: Mutex<Chaos>,
    rng: Mutex<Rng>,
    requests: AtomicU32,
    stopped: AtomicBool,
}

fn serve<S: Send + 'static>(
    state: S,
    handle: fn(&Mutex<S>, &Request) -> (u16, String, &'static str),
) -> (u16, Arc<Shared<S>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        chaos: Mutex::new(Chaos::default()),
        rng: Mutex::new(Rng(seed)),
        requests: AtomicU32::new(0),
        stopped: AtomicBool::new(false),
    });
    let sh = shared.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let sh = sh.clone();
            std::thread::spawn(move || one(conn, &sh, handle));
        }
    });
    (port, shared)
}

fn one<S>(
    mut conn: TcpStream,
    sh: &Shared<S>,
    handle: fn(&Mutex<S>, &Request) -> (u16, String, &'static str),
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(req) = Request::read(&conn) else { return };
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let chaos = *sh.chaos.lock().unwrap();
    let fate = {
        let x = sh.rng.lock().unwrap().unit();
        let mut edge = chaos.fail_before;
        if x < edge {
            Fate::FailBefore
        } else if x < {
            edge += chaos.reset;
            edge
        } {
            Fate::Reset
        } else if x < {
            edge += chaos.fail_after;
            edge
        } {
            Fate::FailAfter
        } else if x < edge + chaos.hang_after {
            Fate::HangAfter
        } else {
            Fate::Ok
        }
    };
    let answer = |conn: &mut TcpStream, status: u16, body: &str, ct: &str| {
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    match fate {
        Fate::FailBefore => answer(&mut conn, 503, "", "text/plain"),
        Fate::Reset => {}
        Fate::FailAfter => {
            let _ = handle(&sh.state, &req);
            answer(&mut conn, 503, "", "text/plain");
        }
        Fate::HangAfter => {
            let _ = handle(&sh.state, &req);
            std::thread::sleep(chaos.hang);
        }
        Fate::Ok => {
            let (status, body, ct) = handle(&sh.state, &req);
            answer(&mut conn, status, &body, ct);
        }
    }
}

/// One report as the NCMEC receiver keeps it.
#[derive(Debug, Clone, Default)]
pub struct NcmecReport {
    /// Spoor's report uuid, read from the report's `additionalInfo`.
    pub uuid: String,
    pub xml: String,
    /// Uploaded files: (fileId, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// File details received.
    pub details: Vec<String>,
    pub finished: bool,
    pub retracted: bool,
}

/// What the NCMEC receiver knows.
#[derive(Debug, Default)]
pub struct NcmecState {
    pub credentials: String,
    pub reports: HashMap<u64, NcmecReport>,
    pub next: u64,
    /// Answer `/submit` with text that is not XML (a broken receiver).
    pub garbage_on_submit: bool,
}

impl NcmecState {
    /// Finished reports per Spoor uuid.
    pub fn finished(&self) -> HashMap<String, Vec<&NcmecReport>> {
        let mut m: HashMap<String, Vec<&NcmecReport>> = HashMap::new();
        for r in self.reports.values().filter(|r| r.finished) {
            m.entry(r.uuid.clone()).or_default().push(r);
        }
        m
    }
}

fn response(code: u32, text: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><reportResponse><responseCode>{code}</responseCode><responseDescription>{text}</responseDescription>{extra}</reportResponse>"
    )
}

fn md5_hex(b: &[u8]) -> String {
    spoor_audit_hex(&spoor_hash::digest::Digests::of(b).md5.0)
}

fn spoor_audit_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ncmec_handle(state: &Mutex<NcmecState>, req: &Request) -> (u16, String, &'static str) {
    const XML: &str = "text/xml";
    let mut st = state.lock().unwrap();
    let auth = req.headers.get("authorization").cloned().unwrap_or_default();
    let expected = format!("Basic {}", base64_encode(st.credentials.as_bytes()));
    if auth != expected {
        return (401, response(2000, "Authentication required", ""), XML);
    }
    let id_of = |req: &Request| -> Option<u64> {
        String::from_utf8(req.form().get("id")?.clone()).ok()?.trim().parse().ok()
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/ispws/submit") => {
            if st.garbage_on_submit {
                return (200, "this is not xml <<<".into(), XML);
            }
            let xml = req.text();
            if !xml.contains("<report") || !xml.contains("</report>") {
                return (400, response(4110, "Malformed XML submittal", ""), XML);
            }
            let uuid = xml
                .split("Spoor report ")
                .nth(1)
                .map(|r| r.chars().take(36).collect::<String>())
                .unwrap_or_default();
            st.next += 1;
            let id = st.next;
            st.reports.insert(id, NcmecReport { uuid, xml, ..Default::default() });
            (200, response(0, "Success", &format!("<reportId>{id}</reportId>")), XML)
        }
        ("POST", "/ispws/upload") => {
            let form = req.form();
            let Some(id) = id_of(req) else {
                return (400, response(4000, "Invalid request", ""), XML);
            };
            let Some(r) = st.reports.get_mut(&id) else {
                return (200, response(5001, "Report does not exist", ""), XML);
            };
            if r.retracted {
                return (200, response(5101, "Report already retracted", ""), XML);
            }
            if r.finished {
                return (200, response(5102, "Report already finished", ""), XML);
            }
            let bytes = form.get("file").cloned().unwrap_or_default();
            let file_id = format!("{:032x}", (id << 16) + r.files.len() as u64 + 1);
            let hash = md5_hex(&bytes);
            r.files.push((file_id.clone(), bytes));
            (
                200,
                response(
                    0,
                    "Success",
                    &format!(
                        "<reportId>{id}</reportId><fileId>{file_id}</fileId><hash>{hash}</hash>"
                    ),
                ),
                XML,
            )
        }
        ("POST", "/ispws/fileinfo") => {
            let xml = req.text();
            let id: Option<u64> = xml
                .split("<reportId>")
                .nth(1)
                .and_then(|r| r.split('<').next())
                .and_then(|v| v.trim().parse().ok());
            let Some(r) = id.and_then(|id| st.reports.get_mut(&id)) else {
                return (200, response(5001, "Report does not exist", ""), XML);
            };
            if r.finished {
                return (200, response(5102, "Report already finished", ""), XML);
            }
            r.details.push(xml);
            (200, response(0, "Success", ""), XML)
        }
        ("POST", "/ispws/finish") => {
            let Some(id) = id_of(req) else {
                return (400, response(4000, "Invalid request", ""), XML);
            };
            let Some(r) = st.reports.get_mut(&id) else {
                return (200, response(5001, "Report does not exist", ""), XML);
            };
            if r.retracted {
                return (200, response(5101, "Report already retracted", ""), XML);
            }
            let code = if r.finished { 5102 } else { 0 };
            r.finished = true;
            let files: String =
                r.files.iter().map(|(f, _)| format!("<fileId>{f}</fileId>")).collect();
            (
                200,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><reportDoneResponse><responseCode>{code}</responseCode><reportId>{id}</reportId><files>{files}</files></reportDoneResponse>"
                ),
                XML,
            )
        }
        ("POST", "/ispws/retract") => {
            let Some(id) = id_of(req) else {
                return (400, response(4000, "Invalid request", ""), XML);
            };
            let Some(r) = st.reports.get_mut(&id) else {
                return (200, response(5001, "Report does not exist", ""), XML);
            };
            if r.finished {
                return (200, response(5102, "Report already finished", ""), XML);
            }
            if r.retracted {
                return (200, response(5101, "Report already retracted", ""), XML);
            }
            r.retracted = true;
            (200, response(0, "Success", ""), XML)
        }
        _ => (404, response(1210, "Resource not found", ""), XML),
    }
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// NCMEC's CyberTipline API on 127.0.0.1, under `/ispws`.
pub struct Ncmec {
    pub port: u16,
    shared: Arc<Shared<NcmecState>>,
}

impl Ncmec {
    pub fn start(user: &str, password: &str) -> Ncmec {
        let state = NcmecState { credentials: format!("{user}:{password}"), ..Default::default() };
        let (port, shared) = serve(state, ncmec_handle);
        Ncmec { port, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/ispws", self.port)
    }

    pub fn chaos(&self, c: Chaos) {
        *self.shared.chaos.lock().unwrap() = c;
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut NcmecState) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap())
    }

    pub fn requests(&self) -> u32 {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

/// What the EU Centre receiver keeps: per idempotency key, every body received.
#[derive(Debug, Default)]
pub struct EuState {
    pub by_key: HashMap<String, Vec<(String, String)>>,
    /// Answer 422 to everything (a receiver that refuses the documents).
    pub refuse: bool,
}

fn eu_handle(state: &Mutex<EuState>, req: &Request) -> (u16, String, &'static str) {
    let mut st = state.lock().unwrap();
    if st.refuse {
        return (422, r#"{"error":"refused"}"#.into(), "application/json");
    }
    let Some(key) = req.headers.get("idempotency-key").cloned() else {
        return (400, r#"{"error":"no Idempotency-Key"}"#.into(), "application/json");
    };
    let jws = req.headers.get("jws-signature").cloned().unwrap_or_default();
    let seen = st.by_key.contains_key(&key);
    st.by_key.entry(key.clone()).or_default().push((req.text(), jws));
    if seen {
        (409, format!(r#"{{"received":"{key}","again":true}}"#), "application/json")
    } else {
        (201, format!(r#"{{"received":"{key}"}}"#), "application/json")
    }
}

/// An EU Centre endpoint on 127.0.0.1 at `/reports`.
pub struct EuCentre {
    pub port: u16,
    shared: Arc<Shared<EuState>>,
}

impl EuCentre {
    pub fn start() -> EuCentre {
        let (port, shared) = serve(EuState::default(), eu_handle);
        EuCentre { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/reports", self.port)
    }

    pub fn chaos(&self, c: Chaos) {
        *self.shared.chaos.lock().unwrap() = c;
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut EuState) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap())
    }

    pub fn requests(&self) -> u32 {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

/// What the recorder keeps: every request, in order.
#[derive(Debug, Default)]
pub struct RecorderState {
    pub got: Vec<(String, HashMap<String, String>, String)>,
}

fn recorder_handle(state: &Mutex<RecorderState>, req: &Request) -> (u16, String, &'static str) {
    state.lock().unwrap().got.push((req.path.clone(), req.headers.clone(), req.text()));
    (200, String::new(), "text/plain")
}

/// A receiver on 127.0.0.1 that takes every request (200) and keeps it: a provider's webhook.
pub struct Recorder {
    pub port: u16,
    shared: Arc<Shared<RecorderState>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let (port, shared) = serve(RecorderState::default(), recorder_handle);
        Recorder { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Bodies received with this `X-Spoor-Event`, with their headers.
    pub fn events(&self, event: &str) -> Vec<(HashMap<String, String>, String)> {
        let st = self.shared.state.lock().unwrap();
        st.got
            .iter()
            .filter(|(_, h, _)| h.get("x-spoor-event").map(String::as_str) == Some(event))
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }
}
