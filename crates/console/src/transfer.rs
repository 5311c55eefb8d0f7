//! Import and export through the browser (administrators and curators).
//!
//! **Import** (`/banks/<name>/import`): the file is streamed from the upload straight into the
//! same importer `spoor bank import` uses (formats detected or chosen; lines, CSV, JSON lines,
//! HMA's CSV), batch by batch, each batch one transaction recorded in the change log and the
//! audit log with the person as actor. Nothing of the file is kept on disk or in memory beyond
//! the batch being written. The upload advances only as fast as batches commit, so the
//! browser's upload progress is the import's; the import's own page (`/banks/<name>/imports/
//! <id>`) shows the committed counts and the first rejected lines, refreshing itself while the
//! import runs. Imports are listed per server process (a replica shows its own).
//!
//! **Export** (`/banks/<name>/export`): the bank's entries as JSON lines, CSV or plain lines,
//! streamed from the store as a download; recorded in the audit log (durably) before the first
//! byte is sent.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_bank::export::{ExportFormat, Exporter};
use spoor_bank::import::{self, Format, ImportError, ImportOptions, ImportReport, Reader};
use spoor_bank::model::{format_time, now_ms};
use spoor_bank::BankError;
use spoor_core::{SignalType, ALL_SIGNAL_TYPES};

use crate::banks::{bank_path, done, thousands, when};
use crate::layout::{self, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// Rejected lines an import's page lists (the counts cover them all).
const SHOWN_REJECTS: usize = 20;
/// Imports remembered per process.
const KEPT_IMPORTS: usize = 50;

/// Where an import stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Reading and committing.
    Running,
    /// Finished: every line read.
    Done,
    /// Stopped: what went wrong. Batches committed before stay.
    Failed(String),
}

/// One import's progress, as its page shows it.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Committed counts so far.
    pub report: ImportReport,
    /// Bytes of the file received.
    pub bytes: u64,
    /// The first rejected lines: line number and why.
    pub rejected: Vec<(u64, String)>,
    /// Where it stands.
    pub phase: Phase,
    /// When it ended.
    pub finished_at: Option<i64>,
}

/// One import started in the console.
#[derive(Debug)]
pub struct ImportJob {
    /// Its number in this process.
    pub id: u64,
    /// The bank.
    pub bank: String,
    /// Who started it.
    pub by: String,
    /// The file's name as the browser gave it.
    pub file: String,
    /// The format asked for (`auto`: detected).
    pub format: String,
    /// When it started.
    pub started_at: i64,
    progress: Mutex<Progress>,
}

impl ImportJob {
    /// A copy of the progress now.
    pub fn progress(&self) -> Progress {
        self.progress.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The imports of this process, newest last.
#[derive(Default)]
pub struct Imports {
    next: AtomicU64,
    jobs: Mutex<VecDeque<Arc<ImportJob>>>,
}

impl Imports {
    fn start(&self, bank: &str, by: &str, file: &str, format: &str) -> Arc<ImportJob> {
        let job = Arc::new(ImportJob {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            bank: bank.to_string(),
            by: by.to_string(),
            file: file.to_string(),
            format: format.to_string(),
            started_at: now_ms(),
            progress: Mutex::new(Progress {
                report: ImportReport::default(),
                bytes: 0,
                rejected: Vec::new(),
                phase: Phase::Running,
                finished_at: None,
            }),
        });
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.push_back(job.clone());
        // Forget the oldest finished ones beyond the bound; running ones stay.
        while jobs.len() > KEPT_IMPORTS {
            match jobs.iter().position(|j| j.progress().phase != Phase::Running) {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
        job
    }

    /// The imports of `bank`, newest first.
    pub fn of(&self, bank: &str) -> Vec<Arc<ImportJob>> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.iter().rev().filter(|j| j.bank == bank).cloned().collect()
    }

    fn get(&self, bank: &str, id: u64) -> Option<Arc<ImportJob>> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.iter().find(|j| j.id == id && j.bank == bank).cloned()
    }
}

/// A blocking reader over the chunks the upload handler sends.
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    chunk: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(msg)) => return Err(std::io::Error::other(msg)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

const FORMATS: &[(&str, &str)] = &[
    ("auto", "Detect from the first line"),
    ("lines", "One value a line"),
    ("csv", "CSV with Spoor's header"),
    ("jsonl", "JSON lines"),
    ("hma-csv", "HMA / ThreatExchange CSV"),
];

fn imports_table(jobs: &[Arc<ImportJob>]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="table" {
                caption class="visually-hidden" { "Imports into this bank" }
                thead { tr {
                    th scope="col" { "Import" } th scope="col" { "File" } th scope="col" { "By" }
                    th scope="col" { "Started" } th scope="col" { "State" }
                    th scope="col" class="num" { "Lines" } th scope="col" class="num" { "Added" }
                    th scope="col" class="num" { "Already present" } th scope="col" class="num" { "Rejected" }
                } }
                tbody {
                    @for j in jobs {
                        @let p = j.progress();
                        tr {
                            td { a href={ (bank_path(&j.bank)) "/imports/" (j.id) } { "#" (j.id) } }
                            td { (j.file) }
                            td { (j.by) }
                            td { (when(j.started_at)) }
                            td { (phase_text(&p.phase)) }
                            td class="num" { (thousands(p.report.lines)) }
                            td class="num" { (thousands(p.report.added)) }
                            td class="num" { (thousands(p.report.already_present)) }
                            td class="num" { (thousands(p.report.rejected)) }
                        }
                    }
                }
            }
        }
    }
}

fn phase_text(p: &Phase) -> Markup {
    match p {
        Phase::Running => html! { span class="tag" { "running" } },
        Phase::Done => html! { span class="tag tag--ok" { "done" } },
        Phase::Failed(_) => html! { span class="tag tag--warn" { "stopped" } },
    }
}

fn import_page(v: &Viewer, bank: &str, jobs: &[Arc<ImportJob>], errors: &[FieldError]) -> Markup {
    let path = bank_path(bank);
    let running = jobs.iter().any(|j| j.progress().phase == Phase::Running);
    let body = html! {
        (layout::error_summary(errors))
        p { a href=(path) { "← Bank " (bank) } }
        h1 { "Import into " (bank) }
        p { "Entries the bank already holds are counted, not added twice. Each batch is committed and recorded as it is read, so an import that stops keeps what it committed; with \"all or nothing\" a single bad line leaves the bank unchanged." }
        form method="post" action={ (path) "/import?csrf=" (v.session.csrf_token) } enctype="multipart/form-data" class="narrow" {
            div class="form-group" {
                label class="label" for="format" { "Format" }
                select class="select" id="format" name="format" {
                    @for (value, label) in FORMATS { option value=(value) { (label) } }
                }
            }
            div class="form-group" {
                label class="label" for="signal_type" { "Signal type of lines that do not name one" }
                select class="select" id="signal_type" name="signal_type" {
                    @for t in ALL_SIGNAL_TYPES { option value=(t.name()) { (t.name()) } }
                }
            }
            div class="checkbox" {
                input type="checkbox" id="strict" name="strict" value="on";
                label for="strict" { "All or nothing: stop at the first bad line and add nothing" }
            }
            @let err = layout::error_of(errors, "file");
            div class=(if err.is_some() { "form-group form-group--error" } else { "form-group" }) {
                label class="label" for="file" { "File" }
                @if let Some(e) = err { p class="field-error" id="file-error" { (e) } }
                input class="file" type="file" id="file" name="file" required;
            }
            button type="submit" class="button" { "Import" }
        }
        @if !jobs.is_empty() {
            h2 { "Imports into " (bank) }
            p class="hint" { "Started on this server process." @if running { " This page refreshes itself while an import runs." } }
            (imports_table(jobs))
        }
    };
    layout::page_refreshing(
        Some(v),
        "/banks",
        &format!("Import into {bank}"),
        running.then_some(2),
        body,
    )
}

/// `GET /banks/<name>/import`.
pub async fn import_form(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
) -> Response {
    let n = name.clone();
    if let Err(r) = done(state.blocking(move |store| store.bank(&n)).await) {
        return r;
    }
    let jobs = state.imports.of(&name);
    layout::html_response(StatusCode::OK, import_page(&v, &name, &jobs, &[]))
}

fn refuse(
    v: &Viewer,
    state: &ConsoleState,
    bank: &str,
    status: StatusCode,
    msg: String,
) -> Response {
    let jobs = state.imports.of(bank);
    layout::html_response(status, import_page(v, bank, &jobs, &[FieldError::new("file", msg)]))
}

/// `POST /banks/<name>/import?csrf=…` (multipart: `format`, `signal_type`, `strict`, then
/// `file`).
pub async fn import_upload(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let n = name.clone();
    if let Err(r) = done(state.blocking(move |store| store.bank(&n)).await) {
        return r;
    }
    let (mut format, mut signal_type, mut strict) = (None, SignalType::Pdq, false);
    let mut field = loop {
        match multipart.next_field().await {
            Ok(Some(f)) if f.name() == Some("file") => break f,
            Ok(Some(f)) => {
                let key = f.name().unwrap_or("").to_string();
                let value = match f.text().await {
                    Ok(t) if t.len() <= 64 => t,
                    _ => String::new(),
                };
                match key.as_str() {
                    "format" if value == "auto" => format = None,
                    "format" => match value.parse::<Format>() {
                        Ok(f) => format = Some(f),
                        Err(m) => {
                            return refuse(&v, &state, &name, StatusCode::UNPROCESSABLE_ENTITY, m)
                        }
                    },
                    "signal_type" => match value.parse::<SignalType>() {
                        Ok(t) => signal_type = t,
                        Err(_) => {
                            return refuse(
                                &v,
                                &state,
                                &name,
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "Choose a signal type from the list".into(),
                            )
                        }
                    },
                    "strict" => strict = true,
                    _ => {}
                }
            }
            Ok(None) => {
                return refuse(
                    &v,
                    &state,
                    &name,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Choose a file to import".into(),
                )
            }
            Err(e) => {
                return refuse(
                    &v,
                    &state,
                    &name,
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The upload could not be read ({e}): choose the file and send it again"
                    ),
                )
            }
        }
    };
    let file_name: String = field
        .file_name()
        .unwrap_or("upload")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let file_name = if file_name.is_empty() { "upload".to_string() } else { file_name };
    let job =
        state.imports.start(&name, &v.user.name, &file_name, format.map_or("auto", Format::name));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(8);
    let max = state.config.max_import_bytes;
    let importing = {
        let (job, bank, actor) = (job.clone(), name.clone(), v.actor());
        let file = file_name.clone();
        state.blocking(move |store| {
            let input = BufReader::with_capacity(1 << 18, ChunkReader { rx, chunk: Bytes::new() });
            let result = Reader::new(input, format, signal_type).and_then(|mut reader| {
                let opts = ImportOptions { strict, batch_size: 10_000, actor };
                let mut on_rejected = |line: u64, why: &str| {
                    job.update(|p| {
                        if p.rejected.len() < SHOWN_REJECTS {
                            p.rejected.push((line, why.to_string()));
                        }
                    });
                };
                let mut on_commit = |r: &ImportReport| job.update(|p| p.report = *r);
                import::import(store, &bank, &mut reader, &opts, &mut on_rejected, &mut on_commit)
            });
            let phase = match result {
                Ok(r) => {
                    job.update(|p| p.report = r);
                    Phase::Done
                }
                Err(e) => Phase::Failed(failure_text(&e, &file)),
            };
            job.update(|p| {
                p.phase = phase;
                p.finished_at = Some(now_ms());
            });
        })
    };
    // Feed the upload to the importer; stop when it stops reading.
    let feeding = async {
        let mut total = 0u64;
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    total += c.len() as u64;
                    job.update(|p| p.bytes = total);
                    if total > max {
                        let _ = tx
                            .send(Err(format!(
                                "the file is larger than this console accepts ({max} bytes): \
                                 import it with `spoor bank import`, or split it"
                            )))
                            .await;
                        break;
                    }
                    if tx.send(Ok(c)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(format!("the upload was cut off ({e})"))).await;
                    break;
                }
            }
        }
        drop(tx);
    };
    let (_, imported) = tokio::join!(feeding, importing);
    if let Err(r) = imported {
        return r;
    }
    Redirect::to(&format!("{}/imports/{}", bank_path(&name), job.id)).into_response()
}

fn failure_text(e: &ImportError, file: &str) -> String {
    match e {
        ImportError::Store(BankError::Invalid(m)) => format!("{file}: {m}"),
        e => format!("{file}: {e}"),
    }
}

/// `GET /banks/<name>/imports/<id>`.
pub async fn import_status(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(job) = id.parse::<u64>().ok().and_then(|id| state.imports.get(&name, id)) else {
        return layout::error_page(
            StatusCode::NOT_FOUND,
            "No such import",
            "This server process has no import with that number (imports are listed by the \
             process that ran them, and forgotten when it restarts). The bank's import page \
             lists those it knows.",
        );
    };
    let p = job.progress();
    let running = p.phase == Phase::Running;
    let body = html! {
        p { a href={ (bank_path(&name)) "/import" } { "← Imports into " (name) } }
        h1 { "Import #" (job.id) " into " (name) " " (phase_text(&p.phase)) }
        @match &p.phase {
            Phase::Running => { p role="status" { "Importing: the counts below are what has been committed so far. This page refreshes itself." } }
            Phase::Done => { div class="notice" role="status" id="import-done" { p { "The import is finished." } } }
            Phase::Failed(msg) => {
                div class="error-summary" role="alert" tabindex="-1" id="import-failed" {
                    h2 class="error-summary__title" { "The import stopped" }
                    p { (msg) }
                    p { "Batches committed before it stopped stay in the bank (the counts below); importing the same file again adds only what is missing." }
                }
            }
        }
        dl class="summary" {
            div { dt { "File" } dd { (job.file) } }
            div { dt { "Format" } dd { (job.format) } }
            div { dt { "Started" } dd { (when(job.started_at)) " by " (job.by) } }
            @if let Some(f) = p.finished_at { div { dt { "Ended" } dd { (when(f)) } } }
            div { dt { "Received" } dd { (thousands(p.bytes)) " bytes" } }
            div { dt { "Lines read" } dd id="lines" { (thousands(p.report.lines)) } }
            div { dt { "Added" } dd id="added" { (thousands(p.report.added)) } }
            div { dt { "Already present" } dd id="present" { (thousands(p.report.already_present)) } }
            div { dt { "Rejected" } dd id="rejected" { (thousands(p.report.rejected)) } }
        }
        @if !p.rejected.is_empty() {
            h2 { "Rejected lines" }
            @if p.report.rejected as usize > p.rejected.len() { p class="hint" { "The first " (p.rejected.len()) "." } }
            div class="table-wrap" {
                table class="table" {
                    caption class="visually-hidden" { "Rejected lines" }
                    thead { tr { th scope="col" class="num" { "Line" } th scope="col" { "Why" } } }
                    tbody { @for (line, why) in &p.rejected { tr { td class="num" { (line) } td { (why) } } } }
                }
            }
        }
        p { a href=(bank_path(&name)) { "Go to the bank's entries" } }
    };
    layout::html_response(
        StatusCode::OK,
        layout::page_refreshing(
            Some(&v),
            "/banks",
            &format!("Import #{} into {name}", job.id),
            running.then_some(1),
            body,
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Export.

/// The export form's query.
#[derive(Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(default)]
    signal_type: String,
    #[serde(default)]
    since: String,
}

fn export_page(v: &Viewer, bank: &str, errors: &[FieldError], q: &ExportQuery) -> Markup {
    let path = bank_path(bank);
    let body = html! {
        (layout::error_summary(errors))
        p { a href=(path) { "← Bank " (bank) } }
        h1 { "Export " (bank) }
        p { "The download is recorded in the audit log, with who took it and in which form. Keep the file as carefully as the bank itself." }
        form method="get" action={ (path) "/export/download" } novalidate class="narrow" {
            div class="form-group" {
                label class="label" for="format" { "Format" }
                select class="select" id="format" name="format" {
                    option value="jsonl" selected[q.format != "csv" && q.format != "lines"] { "JSON lines: every field, disabled entries too" }
                    option value="csv" selected[q.format == "csv"] { "CSV: every field, disabled entries too" }
                    option value="lines" selected[q.format == "lines"] { "Plain lines: the enabled values of one signal type" }
                }
            }
            div class="form-group" {
                label class="label" for="signal_type" { "Signal type (plain lines only)" }
                select class="select" id="signal_type" name="signal_type" {
                    @for t in ALL_SIGNAL_TYPES { option value=(t.name()) selected[q.signal_type == t.name()] { (t.name()) } }
                }
            }
            (layout::field(errors, "since", "since", "Only entries changed after change number",
                Some("Leave empty for the whole bank."), "text", &q.since, "off"))
            button type="submit" class="button" { "Download" }
        }
    };
    layout::page(Some(v), "/banks", &format!("Export {bank}"), body)
}

/// `GET /banks/<name>/export`.
pub async fn export_form(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
) -> Response {
    let n = name.clone();
    match done(state.blocking(move |store| store.bank(&n)).await) {
        Ok(_) => layout::html_response(
            StatusCode::OK,
            export_page(&v, &name, &[], &ExportQuery::default()),
        ),
        Err(r) => r,
    }
}

/// A writer that sends what it is given, in chunks, to the response body.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(Ok(chunk)).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was cancelled")
            })?;
        }
        Ok(())
    }
}

/// `GET /banks/<name>/export/download?format=&signal_type=&since=`.
pub async fn export_download(
    State(state): State<ConsoleState>,
    v: Viewer,
    Path(name): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let mut errors = Vec::new();
    let format = match q.format.as_str() {
        "" | "jsonl" => ExportFormat::Jsonl,
        "csv" => ExportFormat::Csv,
        "lines" => ExportFormat::Lines,
        _ => {
            errors.push(FieldError::new("format", "Choose a format from the list"));
            ExportFormat::Jsonl
        }
    };
    let lines_type = match q.signal_type.as_str() {
        "" => SignalType::Pdq,
        t => t.parse::<SignalType>().unwrap_or_else(|_| {
            errors.push(FieldError::new("signal_type", "Choose a signal type from the list"));
            SignalType::Pdq
        }),
    };
    let since = match q.since.trim() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "since",
                    "Enter a change number (a whole number, 0 or more), or leave it empty",
                ));
                None
            }
        },
    };
    let n = name.clone();
    let bank = match done(state.blocking(move |store| store.bank(&n)).await) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !errors.is_empty() {
        return layout::html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            export_page(&v, &bank.name, &errors, &q),
        );
    }
    // Recorded, durably, before anything is sent: an export never happens unrecorded.
    let (person, b) = (v.user.name.clone(), bank.name.clone());
    let details = json!({
        "format": format.name(),
        "since": since,
        "signal_type": matches!(format, ExportFormat::Lines).then(|| lines_type.name()),
        "via": "console",
    });
    let recorded = state
        .blocking(move |store| {
            let rec = spoor_audit::NewRecord::new(
                spoor_audit::ActorKind::User,
                &person,
                "bank_export",
                "bank",
                &b,
            )
            .with_details(details);
            store.audit_append(&rec).map(drop)
        })
        .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot record an export; it is not sent");
            return layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The export cannot be made now",
                "Every export is recorded in the audit log first, and the log could not be \
                 written. Try again in a moment.",
            );
        }
        Err(r) => return r,
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = state.store.clone();
    let b = bank.name.clone();
    let who = v.user.name.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter { tx: tx.clone(), buf: Vec::with_capacity(1 << 16) };
        let result = Exporter::new(&mut w, format, lines_type).and_then(|mut ex| {
            let n = store.export(&b, since, &mut |e| ex.write(e)).map_err(std::io::Error::other)?;
            ex.finish()?;
            Ok(n)
        });
        let result = result.and_then(|n| w.flush().map(|()| n));
        match result {
            Ok(n) => tracing::info!(bank = %b, user = %who, entries = n, "console export sent"),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::info!(bank = %b, user = %who, "console export cancelled by the browser");
            }
            Err(e) => {
                tracing::error!(bank = %b, error = %e, "a console export failed midway");
                // The body ends in an error: the browser marks the download failed.
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let ext = match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
        ExportFormat::Lines => "txt",
    };
    let ctype = match format {
        ExportFormat::Jsonl => "application/x-ndjson",
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Lines => "text/plain; charset=utf-8",
    };
    let stamp: String = format_time(now_ms())[..10].chars().filter(|c| *c != '-').collect();
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}-{stamp}.{ext}\"", bank.name))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Whether a console request may run longer than the service's request time limit: imports
/// and export downloads, which take as long as the file.
pub fn long_running(method: &axum::http::Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/banks/") else { return false };
    let Some((_, tail)) = rest.split_once('/') else { return false };
    (method == axum::http::Method::POST && tail == "import")
        || (method == axum::http::Method::GET && tail == "export/download")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_reader_reads_across_chunks_and_reports_a_cut() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b""))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"cde"))).unwrap();
        tx.try_send(Err("cut".to_string())).unwrap();
        let mut r = ChunkReader { rx, chunk: Bytes::new() };
        let mut got = vec![0u8; 4];
        assert_eq!(r.read(&mut got).unwrap(), 2);
        assert_eq!(r.read(&mut got).unwrap(), 3);
        assert_eq!(&got[..3], b"cde");
        assert_eq!(r.read(&mut got).unwrap_err().to_string(), "cut");
        drop(tx);
        assert_eq!(r.read(&mut got).unwrap(), 0, "the end of the upload");
    }

    #[test]
    fn only_imports_and_downloads_run_long() {
        use axum::http::Method;
        assert!(long_running(&Method::POST, "/banks/A/import"));
        assert!(long_running(&Method::GET, "/banks/A/export/download"));
        assert!(!long_running(&Method::GET, "/banks/A/import"));
        assert!(!long_running(&Method::POST, "/banks/A/entries/1"));
        assert!(!long_running(&Method::POST, "/v1/banks/A/import"));
        assert!(!long_running(&Method::GET, "/banks/A/export"));
    }

    #[test]
    fn imports_are_kept_to_a_bound_but_running_ones_stay() {
        let imports = Imports::default();
        let first = imports.start("A", "u", "f", "auto");
        for _ in 0..KEPT_IMPORTS + 5 {
            let j = imports.start("A", "u", "f", "auto");
            j.update(|p| p.phase = Phase::Done);
        }
        let kept = imports.of("A");
        assert_eq!(kept.len(), KEPT_IMPORTS);
        assert!(kept.iter().any(|j| j.id == first.id), "a running import is never forgotten");
        assert!(imports.of("B").is_empty());
        assert!(imports.get("A", first.id).is_some() && imports.get("B", first.id).is_none());
    }
}
