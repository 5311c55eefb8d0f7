//! `spoor scan --submit`: files that matched through a Spoor service are sent to its case intake
//! (`POST /v1/cases`) with their bytes, alongside the scan.
//!
//! A few sender threads take jobs from a bounded queue (when it is full the scan waits for
//! them: memory stays bounded however many files match), read the file again, check it is the
//! one that was hashed, and send it. Transient failures (no connection, a timeout, 429, 5xx) are
//! retried with exponential backoff (or the service's `Retry-After`) a bounded number of times;
//! any other answer is final and reported on the file's record. Results come back on a channel
//! the scan's printer reads, in the order they finish. Each sender runs the asynchronous HTTP
//! client on a runtime of its own and holds a large body back briefly after the request's head,
//! so that a refusal the service sends before reading the body (413, 403) is what is reported.

use std::future::Future as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use spoor_server::wire::{CaseMetaIn, CaseSubmitResponse};

/// Why a job was not (or no longer) tried.
const INTERRUPTED: &str = "not sent: the scan was interrupted";
/// Jobs waiting for a sender, at most (the scan waits when the queue is full).
const QUEUE: usize = 64;
/// First retry delay; each further retry doubles it, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Longest wait between two attempts (a longer `Retry-After` is cut to this).
const MAX_DELAY: Duration = Duration::from_secs(60);

/// How submissions are made.
#[derive(Debug, Clone)]
pub struct Options {
    /// The service's base URL (without `/v1/...`).
    pub base: String,
    /// The API key (admin, curator or matcher).
    pub key: String,
    /// `meta.service`.
    pub service: Option<String>,
    /// When given: `content_ref` is this followed by the file's path below the scanned root it
    /// was found under (percent-encoded); otherwise the file's absolute path.
    pub content_ref_prefix: Option<String>,
    /// The scanned roots, absolute (for `content_ref_prefix`).
    pub roots: Vec<PathBuf>,
    /// Sender threads (requests in flight at most).
    pub concurrency: usize,
    /// Retries of a transient failure after the first attempt.
    pub retries: u32,
    /// Files larger than this are not read (the scan's `--max-file-size`).
    pub max_file_size: u64,
    /// Set when the scan is interrupted: jobs not yet sent fail at once, and nothing is
    /// retried.
    pub stop: Arc<AtomicBool>,
}

/// A case the service made (or found) for a file, as reported on its record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CaseRef {
    /// The case number.
    pub id: i64,
    /// `queued`, `second_review`, `escalated`, `confirmed` or `false_positive`.
    pub state: String,
    /// `auto` (known material, no person viewed it), `earlier` (the decision on the same content
    /// before), `review`; absent while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// The case whose decision it took (`resolution` `earlier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earlier_case: Option<i64>,
    /// The file was submitted by an earlier scan (remembered in `--cache`) and not sent again;
    /// `state` is the case's state now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub submitted_before: bool,
    /// The file was not sent: another file of this scan with the same bytes (this path) made
    /// this case, which is still open; a second case would show a reviewer the same content
    /// twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_content_as: Option<String>,
}

impl CaseRef {
    fn of(c: spoor_server::wire::CaseOut, submitted_before: bool) -> Self {
        CaseRef {
            id: c.id,
            state: c.state,
            resolution: c.resolution,
            earlier_case: c.earlier_case,
            submitted_before,
            same_content_as: None,
        }
    }
}

/// What became of one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service made a case.
    Case(CaseRef),
    /// The service stored nothing (it found no match itself); its message.
    NotStored(String),
    /// The submission failed for good (after retries, for a transient failure).
    Failed(String),
}

/// One file to send, with what the caller wants back with its outcome.
pub struct Job<T> {
    /// The file, as found.
    pub path: PathBuf,
    /// Its MD5 when it was hashed: a file changed since is not sent.
    pub md5: Option<[u8; 16]>,
    /// The case an earlier scan made for this very file: it is looked up, not sent again
    /// (sent when the service does not know it).
    pub known_case: Option<i64>,
    /// Given back with the outcome.
    pub token: T,
}

/// A job done.
pub struct Done<T> {
    /// The job's token.
    pub token: T,
    /// What happened.
    pub outcome: Outcome,
}

/// The sender threads and their queues.
pub struct Submitter<T> {
    jobs: Option<Sender<Job<T>>>,
    done: Receiver<Done<T>>,
    threads: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Submitter<T> {
    /// Starts `options.concurrency` sender threads.
    pub fn start(options: Options) -> anyhow::Result<Self> {
        let (jobs, jobs_rx) = crossbeam_channel::bounded::<Job<T>>(QUEUE);
        // Unbounded: at most QUEUE + concurrency results wait here while the printer is
        // blocked handing over a job, so a sender never waits on the printer.
        let (done_tx, done) = crossbeam_channel::unbounded::<Done<T>>();
        let url = format!("{}/v1/cases", options.base.trim_end_matches('/'));
        let threads = (0..options.concurrency.max(1))
            .map(|i| {
                let client = Client::new(url.clone(), options.clone())?;
                let (rx, tx) = (jobs_rx.clone(), done_tx.clone());
                std::thread::Builder::new()
                    .name(format!("spoor-submit-{i}"))
                    .spawn(move || {
                        for job in rx.iter() {
                            // A panic fails its job, never the scan waiting for the result.
                            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                || match job.known_case {
                                    Some(id) => client.known(id, &job.path, job.md5),
                                    None => client.submit(&job.path, job.md5),
                                },
                            ))
                            .unwrap_or_else(|_| {
                                Outcome::Failed(
                                    "internal error while submitting (a bug: please report it); \
                                     scan again"
                                        .into(),
                                )
                            });
                            if tx.send(Done { token: job.token, outcome }).is_err() {
                                return;
                            }
                        }
                    })
                    .context("cannot start a submission thread")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Submitter { jobs: Some(jobs), done, threads })
    }

    /// Queues a job; waits while the queue is full.
    pub fn send(&self, job: Job<T>) -> anyhow::Result<()> {
        self.jobs
            .as_ref()
            .expect("not closed")
            .send(job)
            .map_err(|_| anyhow::anyhow!("the submission threads stopped"))
    }

    /// Results as they finish.
    pub fn done(&self) -> &Receiver<Done<T>> {
        &self.done
    }

    /// Closes and waits for the sender threads (after the results were read).
    pub fn join(mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One sender thread's client. The asynchronous client on a runtime of the thread's own, not
/// the blocking one: a service that refuses an upload before reading it (413, 403) answers and
/// closes while the body is still being sent, and only the asynchronous client still hands over
/// that answer (the blocking one reports the broken connection instead).
struct Client {
    url: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    options: Options,
}

/// One attempt's failure.
enum Attempt {
    /// Worth trying again (after the service's `Retry-After`, when it said one).
    Transient(String, Option<Duration>),
    /// Final.
    Permanent(String),
}

impl Client {
    fn new(url: String, options: Options) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the submission runtime")?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { url, http, rt, options })
    }

    /// Sends a request and reads the whole answer: its status, body and `Retry-After`. No
    /// answer (or a cut one) is a passing failure.
    fn exchange(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>, Option<Duration>), Attempt> {
        self.rt.block_on(async move {
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_builder() => {
                    return Err(Attempt::Permanent(format!("cannot build the request: {e}")))
                }
                Err(e) => {
                    return Err(Attempt::Transient(
                        format!("the service could not be reached: {}", error_chain(&e)),
                        None,
                    ))
                }
            };
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match resp.bytes().await {
                Ok(b) => Ok((status, b.to_vec(), retry_after)),
                Err(e) => Err(Attempt::Transient(
                    format!("the service's answer was cut off: {}", error_chain(&e)),
                    None,
                )),
            }
        })
    }

    fn submit(&self, path: &Path, md5: Option<[u8; 16]>) -> Outcome {
        if self.options.stop.load(Ordering::Relaxed) {
            return Outcome::Failed(INTERRUPTED.into());
        }
        let bytes = match read_file(path, self.options.max_file_size) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(e),
        };
        if let Some(want) = md5 {
            let mut h = spoor_hash::digest::Hasher::new(spoor_hash::digest::Which {
                md5: true,
                sha1: false,
                sha256: false,
            });
            h.update(&bytes);
            if h.finish().0.map(|m| m.0) != Some(want) {
                return Outcome::Failed(
                    "the file changed after it was hashed: not sent; scan it again".into(),
                );
            }
        }
        let meta = CaseMetaIn {
            reason: "match".into(),
            service: self.options.service.clone(),
            content_ref: Some(content_ref(
                path,
                &self.options.roots,
                self.options.content_ref_prefix.as_deref(),
            )),
            ..Default::default()
        };
        let meta = match serde_json::to_string(&meta) {
            Ok(m) => m,
            Err(e) => return Outcome::Failed(format!("cannot write the case's meta: {e}")),
        };
        let name = path.file_name().map_or("file".into(), |n| n.to_string_lossy().into_owned());
        // Each try holds a large body back longer: on a loaded machine a refusal may take more
        // than the first hold to arrive, and a body sent into a closed connection loses it.
        let tries = std::cell::Cell::new(0u32);
        self.retrying(|| {
            let hold = HOLD.saturating_mul(1 << tries.get().min(4));
            tries.set(tries.get() + 1);
            self.attempt(&bytes, &meta, &name, hold)
        })
        .unwrap_or_else(Outcome::Failed)
    }

    /// The case an earlier scan made for the file, as it is now; the file is submitted when
    /// the service does not know that case (another service, or its cases were removed).
    fn known(&self, id: i64, path: &Path, md5: Option<[u8; 16]>) -> Outcome {
        match self.retrying(|| self.lookup(id)) {
            Ok(Some(c)) => Outcome::Case(c),
            Ok(None) => self.submit(path, md5),
            Err(e) => {
                Outcome::Failed(format!("cannot read case {id}, made by an earlier scan: {e}"))
            }
        }
    }

    /// Runs `f` until it succeeds, fails for good, or has failed for a passing reason
    /// `retries + 1` times, waiting in between.
    fn retrying<R>(&self, mut f: impl FnMut() -> Result<R, Attempt>) -> Result<R, String> {
        let mut attempt = 0u32;
        loop {
            let (err, retry_after) = match f() {
                Ok(r) => return Ok(r),
                Err(Attempt::Permanent(e)) => return Err(e),
                Err(Attempt::Transient(e, retry_after)) => (e, retry_after),
            };
            let tries = attempt + 1;
            let plural = if tries == 1 { "" } else { "s" };
            if attempt >= self.options.retries {
                return Err(format!(
                    "{err}; gave up after {tries} attempt{plural}: check the service and scan \
                     again"
                ));
            }
            // Wait, but not past an interruption.
            let until = std::time::Instant::now() + delay(attempt, retry_after);
            while std::time::Instant::now() < until {
                if self.options.stop.load(Ordering::Relaxed) {
                    return Err(format!("{err}; {tries} attempt{plural}, then {INTERRUPTED}"));
                }
                std::thread::sleep(
                    Duration::from_millis(50).min(until - std::time::Instant::now()),
                );
            }
            attempt += 1;
        }
    }

    /// `GET /v1/cases/{id}`: `None` when the service has no such case for this key.
    fn lookup(&self, id: i64) -> Result<Option<CaseRef>, Attempt> {
        let req = self.http.get(format!("{}/{id}", self.url)).bearer_auth(&self.options.key);
        let (status, body, retry_after) = self.exchange(req)?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(refusal(status, &body, retry_after));
        }
        let c: spoor_server::wire::CaseOut = serde_json::from_slice(&body).map_err(|e| {
            Attempt::Permanent(format!(
                "the service's answer ({status}) is not a case ({e}): is --server a Spoor \
                 service of this version?"
            ))
        })?;
        Ok(Some(CaseRef::of(c, true)))
    }

    fn attempt(
        &self,
        bytes: &[u8],
        meta: &str,
        name: &str,
        hold: Duration,
    ) -> Result<Outcome, Attempt> {
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap(Held::new(bytes, hold)),
            bytes.len() as u64,
        )
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .map_err(|e| Attempt::Permanent(format!("cannot build the request: {e}")))?;
        let form =
            reqwest::multipart::Form::new().text("meta", meta.to_string()).part("file", part);
        let req = self.http.post(&self.url).bearer_auth(&self.options.key).multipart(form);
        let (status, body, retry_after) = self.exchange(req)?;
        if status.is_success() {
            let answer: CaseSubmitResponse = serde_json::from_slice(&body).map_err(|e| {
                Attempt::Permanent(format!(
                    "the service's answer ({status}) is not a case ({e}): is --server a Spoor \
                     service of this version?"
                ))
            })?;
            return Ok(match (answer.stored, answer.case) {
                (true, Some(c)) => Outcome::Case(CaseRef::of(c, false)),
                _ => Outcome::NotStored(answer.message),
            });
        }
        Err(refusal(status, &body, retry_after))
    }
}

/// Files up to this size are sent at once: they fit in the connection's buffers, so a refusal
/// sent before the service reads them still reaches the client.
const SMALL: usize = 64 << 10;
/// How long a larger file is held back after the request's head on the first try (doubled on
/// each retry, up to 16 times), for a refusal the service sends before reading any body (401,
/// 403, 413, 503 for too many uploads) to arrive first (what `Expect: 100-continue` does in
/// clients that support it).
const HOLD: Duration = Duration::from_millis(250);

/// A request body sent whole, after [`HOLD`] when it is larger than [`SMALL`] (the timer
/// starts when the body is first asked for, on the runtime).
struct Held {
    hold: Option<Duration>,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    data: Option<axum::body::Bytes>,
}

impl Held {
    fn new(bytes: &[u8], hold: Duration) -> Self {
        Held {
            hold: (bytes.len() > SMALL).then_some(hold),
            wait: None,
            data: Some(axum::body::Bytes::copy_from_slice(bytes)),
        }
    }
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Some(hold) = self.hold.take() {
            self.wait = Some(Box::pin(tokio::time::sleep(hold)));
        }
        if let Some(wait) = self.wait.as_mut() {
            std::task::ready!(wait.as_mut().poll(cx));
            self.wait = None;
        }
        std::task::Poll::Ready(self.data.take().map(|d| Ok(http_body::Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// An answer other than success: 429 and 5xx pass (retried), anything else is final.
fn refusal(status: reqwest::StatusCode, body: &[u8], retry_after: Option<Duration>) -> Attempt {
    let message = serde_json::from_slice::<spoor_server::error::ErrorBody>(body)
        .map(|e| e.error.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect());
    let text = format!("{status}: {message}");
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Attempt::Transient(text, retry_after)
    } else {
        Attempt::Permanent(format!("{text}{}", hint(status)))
    }
}

/// What to do about a final refusal, beyond the service's message.
fn hint(status: reqwest::StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => " (submitting cases needs an admin, curator or matcher key: see spoor keys)",
        413 => " (the service's --max-upload is smaller than this file)",
        _ => "",
    }
}

/// An error with its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = c.source();
    }
    s
}

/// The wait before retry `attempt + 1`: the service's `Retry-After` when it gave one, else
/// [`FIRST_DELAY`] doubled per attempt; at most [`MAX_DELAY`], with up to 20 % jitter added so
/// that senders do not retry in step.
fn delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = retry_after.unwrap_or_else(|| FIRST_DELAY.saturating_mul(1 << attempt.min(16)));
    let base = base.min(MAX_DELAY);
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 5000.0);
    base + jitter
}

/// Reads a whole file, refusing one larger than `max`.
fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open to submit: {e}"))?;
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read to submit: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than --max-file-size ({max} bytes): not sent"));
    }
    Ok(bytes)
}

/// The `content_ref` of a file: its absolute path, or with a prefix, the prefix followed by its
/// path below the root it was found under, each segment percent-encoded (a root that is the
/// file itself gives its name).
pub fn content_ref(path: &Path, roots: &[PathBuf], prefix: Option<&str>) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(prefix) = prefix else {
        return abs.to_string_lossy().into_owned();
    };
    let below = roots
        .iter()
        .filter_map(|r| abs.strip_prefix(r).ok())
        .min_by_key(|rel| rel.components().count())
        .filter(|rel| rel.components().count() > 0)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| abs.file_name().map(PathBuf::from).unwrap_or_default());
    let rel: Vec<String> =
        below.components().map(|c| percent_encode(&c.as_os_str().to_string_lossy())).collect();
    format!("{prefix}{}", rel.join("/"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_refs_are_absolute_paths_or_the_prefix_and_the_path_below_the_root() {
        let root = PathBuf::from("/srv/www");
        let file = Path::new("/srv/www/img/a b#1.jpg");
        assert_eq!(content_ref(file, std::slice::from_ref(&root), None), "/srv/www/img/a b#1.jpg");
        assert_eq!(
            content_ref(file, std::slice::from_ref(&root), Some("https://cdn.example/")),
            "https://cdn.example/img/a%20b%231.jpg"
        );
        // The deepest root a file is under decides; a root that is the file gives its name.
        let roots = [PathBuf::from("/srv"), root];
        assert_eq!(content_ref(file, &roots, Some("x:")), "x:img/a%20b%231.jpg");
        assert_eq!(content_ref(file, &[file.to_path_buf()], Some("x:")), "x:a%20b%231.jpg");
        assert_eq!(percent_encode("é/ü"), "%C3%A9%2F%C3%BC");
    }

    #[test]
    fn retries_wait_longer_each_time_and_follow_retry_after_within_bounds() {
        for attempt in 0..6 {
            let d = delay(attempt, None);
            let base = FIRST_DELAY * (1 << attempt);
            assert!(d >= base && d <= base.mul_f64(1.2), "{attempt}: {d:?}");
        }
        assert!(delay(30, None) <= MAX_DELAY.mul_f64(1.2));
        let d = delay(0, Some(Duration::from_secs(3)));
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_secs_f64(3.6), "{d:?}");
        assert!(delay(0, Some(Duration::from_secs(86_400))) <= MAX_DELAY.mul_f64(1.2));
    }

    #[test]
    fn files_over_the_limit_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [7u8; 100]).unwrap();
        assert_eq!(read_file(&p, 100).unwrap().len(), 100);
        assert!(read_file(&p, 99).unwrap_err().contains("--max-file-size"));
        assert!(read_file(&dir.path().join("none"), 9).unwrap_err().contains("cannot open"));
    }
}
