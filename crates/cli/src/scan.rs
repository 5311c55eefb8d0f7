//! `spoor scan`: walk storage in parallel, hash the media found, report what matches a bank.
//!
//! Every walker thread hashes the files it finds (as ripgrep searches them); one printer thread
//! counts, prints, batches queries to a server, and writes the cache. Only hashes leave the
//! process, except with `--submit`: then the files that matched through the server are sent to
//! its case intake (`submit.rs`), and nothing else.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Args};
use serde::Serialize;
use spoor_bank::import::{Item, Reader};
use spoor_core::{Hash256, SignalType};
use spoor_index::PdqIndex;
use spoor_matcher::{Matcher, Scope};

use crate::hash::{parse_size, OutputFormat};
use crate::submit;

/// Arguments of `spoor scan`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["bank_file", "data_dir", "database_url", "server"])))]
pub struct ScanArgs {
    /// Files and directories to scan (recursively, hidden files included, no ignore rules).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Match against a hash list file: one hex hash a line, or a bank export (jsonl, csv).
    #[arg(long, value_name = "LIST")]
    pub bank_file: Option<PathBuf>,
    /// Match against the banks of the local SQLite store in this directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Match against the banks of a PostgreSQL store.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Only these banks of the store (repeatable) [default: all enabled banks].
    #[arg(long = "bank", value_name = "NAME")]
    pub banks: Vec<String>,
    /// Match through a Spoor service: only hashes are sent, in batches (with --submit, the
    /// files that matched are sent too).
    #[arg(long, value_name = "URL", requires = "key")]
    pub server: Option<String>,
    /// API key (a matcher key) for --server.
    #[arg(long, env = "SPOOR_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Send every file that matched through --server to the service's case intake
    /// (`POST /v1/cases`, reason `match`), bytes and all, and report the case it made. Files
    /// that matched nothing are never sent: only their hashes leave. Needs --server and a key
    /// that may submit cases (admin, curator or matcher).
    #[arg(long)]
    pub submit: bool,
    /// With --submit: the case's `service` (your service's name).
    #[arg(long, value_name = "NAME", requires = "submit")]
    pub service: Option<String>,
    /// With --submit: the case's `content_ref` is this prefix followed by the file's path below
    /// the scanned PATH (percent-encoded), e.g. https://cdn.example/ [default: the file's
    /// absolute path].
    #[arg(long, value_name = "PREFIX", requires = "submit")]
    pub content_ref_prefix: Option<String>,
    /// With --submit: submissions in flight at most.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u8).range(1..=8))]
    pub submit_concurrency: u8,
    /// With --submit: retries of a submission that failed for a passing reason (no
    /// connection, a timeout, 429, 5xx), with growing waits (or the service's Retry-After).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=20))]
    pub submit_retries: u32,
    /// Output format [default: text on a terminal, jsonl otherwise].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Also print media files that matched nothing.
    #[arg(long)]
    pub all: bool,
    /// Largest PDQ distance that matches (a bank's own radius still applies to store banks).
    #[arg(long, default_value_t = 31, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub radius: u32,
    /// Also match rotated and mirrored copies (the 8 dihedral variants of each image);
    /// `--dihedral=exact` hashes the eight turned and mirrored pixel grids themselves, so that
    /// lossless turns of textured images match too (eight hashes' work per image).
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "dct", value_name = "HOW")]
    pub dihedral: Option<crate::hash::DihedralHow>,
    /// Also match what is inside a uniform frame around an image (a border of any colour,
    /// letterbox or pillarbox bars): such copies are reported with the transform `unframed`.
    #[arg(long)]
    pub unframed: bool,
    /// Worker threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Remember (path, size, mtime) → hashes here, so a re-scan hashes only what changed.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Skip paths matching this glob (repeatable), e.g. '*.log' or 'proc/**'.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Follow symbolic links (loops are detected); by default links are not followed.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Skip files larger than this (suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Video frames hashed a second for vPDQ (a number, or `all`).
    #[arg(long, value_name = "N|all", default_value = "1", value_parser = crate::hash::parse_fps)]
    pub vpdq_fps: crate::hash::VpdqFps,
    /// The ffmpeg program that decodes videos.
    #[arg(long, env = "SPOOR_FFMPEG", value_name = "PATH", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// Refuse images with more pixels than this (checked from the header).
    #[arg(long, value_name = "PIXELS", default_value_t = spoor_media::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
}

/// What a file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Video,
    Other,
}

impl Kind {
    fn code(self) -> i64 {
        match self {
            Kind::Image => 1,
            Kind::Video => 2,
            Kind::Other => 0,
        }
    }
    fn from_code(c: i64) -> Kind {
        match c {
            1 => Kind::Image,
            2 => Kind::Video,
            _ => Kind::Other,
        }
    }
}

/// The hashes of one file.
#[derive(Debug, Clone, Default)]
struct FileHashes {
    pdq: Option<Hash256>,
    quality: Option<u8>,
    dihedral: Option<[Hash256; 8]>,
    /// Whether `dihedral` holds the hashes of the turned pixel grids (`--dihedral=exact`).
    dihedral_exact: bool,
    /// Whether the image was looked at for a frame (`--unframed`), and the hash of what is
    /// inside the frame it has, if any (of PDQ quality 50 or more).
    frame_checked: bool,
    unframed: Option<Hash256>,
    md5: Option<[u8; 16]>,
    sha1: Option<[u8; 20]>,
    sha256: Option<[u8; 32]>,
    vpdq: Option<Vec<spoor_core::vpdq::VpdqFrame>>,
}

impl FileHashes {
    fn set_digests(&mut self, hasher: spoor_hash::digest::Hasher) {
        let (md5, sha1, sha256) = hasher.finish();
        self.md5 = md5.map(|m| m.0);
        self.sha1 = sha1.map(|m| m.0);
        self.sha256 = sha256.map(|m| m.0);
    }

    /// The digests computed, with their types.
    fn digests(&self) -> Vec<(SignalType, &[u8])> {
        let mut v: Vec<(SignalType, &[u8])> = Vec::new();
        if let Some(m) = &self.md5 {
            v.push((SignalType::Md5, m));
        }
        if let Some(s) = &self.sha1 {
            v.push((SignalType::Sha1, s));
        }
        if let Some(s) = &self.sha256 {
            v.push((SignalType::Sha256, s));
        }
        v
    }
}

/// One match, as printed.
#[derive(Debug, Clone, Default, Serialize)]
struct MatchOut {
    bank: String,
    entry_id: i64,
    /// Absent when the service does not show distances to the key (see `--show-distance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    distance: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    /// Which rotation/mirror of the file matched, when not the original (`--dihedral`), or
    /// `unframed` when what is inside its frame matched (`--unframed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    transform: Option<&'static str>,
    /// Videos: percent of the file's frames found in the banked video.
    #[serde(skip_serializing_if = "Option::is_none")]
    query_match: Option<f64>,
    /// Videos: percent of the banked video's frames found in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    compared_match: Option<f64>,
}

/// What a worker found for one file.
struct Found {
    path: PathBuf,
    key: Option<(String, u64, i64)>,
    kind: Kind,
    result: Result<FileHashes, String>,
    cached: bool,
    matches: Vec<MatchOut>,
    /// What became of its submission (`--submit`).
    submission: Option<submit::Outcome>,
}

/// A hash list file, indexed: ids are line numbers.
struct ListIndex {
    name: String,
    pdq: PdqIndex,
    exact: HashMap<(SignalType, Vec<u8>), Vec<u64>>,
    videos: Vec<(u64, Vec<spoor_core::vpdq::VpdqFrame>)>,
}

impl ListIndex {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader =
            Reader::new(std::io::BufReader::with_capacity(1 << 18, f), None, SignalType::Pdq)
                .with_context(|| format!("cannot read {}", path.display()))?;
        let mut pdq = Vec::new();
        let mut videos = Vec::new();
        let mut exact: HashMap<(SignalType, Vec<u8>), Vec<u64>> = HashMap::new();
        while let Some(item) =
            reader.next_item().with_context(|| format!("cannot read {}", path.display()))?
        {
            match item {
                Item::Entry(_, e) if !e.enabled => {}
                Item::Entry(line, e) => match e.signal_type {
                    SignalType::Pdq => {
                        let b: [u8; 32] = e.value.as_slice().try_into().expect("checked length");
                        pdq.push((Hash256::from_bytes(b), line));
                    }
                    SignalType::Vpdq => {
                        let text = String::from_utf8_lossy(&e.value);
                        if let Ok(frames) = spoor_core::vpdq::parse(&text) {
                            videos.push((line, frames));
                        }
                    }
                    SignalType::Md5 | SignalType::Sha1 | SignalType::Sha256 => {
                        exact.entry((e.signal_type, e.value)).or_default().push(line)
                    }
                    _ => {}
                },
                Item::Rejected(line, why) => {
                    bail!("{}:{line}: {why}", path.display())
                }
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ListIndex {
            name: path.display().to_string(),
            pdq: PdqIndex::build_parallel(pdq, threads),
            exact,
            videos,
        })
    }
}

enum Source {
    List(Box<ListIndex>),
    Store(Arc<Matcher>, Scope),
    Server(ServerClient),
}

fn pdq_variants(h: &FileHashes, dihedral: bool) -> Vec<(Hash256, Option<&'static str>)> {
    let mut v = Vec::new();
    if let Some(p) = h.pdq {
        v.push((p, None));
    }
    if let (true, Some(d)) = (dihedral, &h.dihedral) {
        for (i, name) in spoor_hash::pdq::DIHEDRAL_NAMES.iter().enumerate().skip(1) {
            v.push((d[i], Some(*name)));
        }
    }
    // Present only when this scan asked for it (`--unframed`).
    if let Some(u) = h.unframed {
        v.push((u, Some(UNFRAMED)));
    }
    v
}

/// The transform named on a match of what is inside an image's frame.
const UNFRAMED: &str = "unframed";

/// Keeps the nearest match per (bank, entry), nearest first.
fn finish_matches(mut m: Vec<MatchOut>) -> Vec<MatchOut> {
    m.sort_by(|a, b| (&a.bank, a.entry_id, a.distance).cmp(&(&b.bank, b.entry_id, b.distance)));
    m.dedup_by(|a, b| a.bank == b.bank && a.entry_id == b.entry_id);
    m.sort_by(|a, b| (a.distance, &a.bank, a.entry_id).cmp(&(b.distance, &b.bank, b.entry_id)));
    m
}

impl Source {
    /// Whether videos are worth decoding: the source may hold vPDQ signals.
    fn wants_vpdq(&self) -> bool {
        match self {
            Source::List(l) => !l.videos.is_empty(),
            Source::Store(m, _) => m.stats().video_entries > 0,
            Source::Server(_) => true,
        }
    }

    /// Whether SHA-1 and SHA-256 are worth computing: the source may hold them.
    fn wants_sha(&self) -> bool {
        match self {
            Source::List(l) => l.exact.keys().any(|(t, _)| *t != SignalType::Md5),
            Source::Store(m, _) => m.stats().exact_entries > 0,
            Source::Server(_) => true,
        }
    }

    /// Local matching (list or store); the server is asked in batches by the printer.
    fn match_local(&self, h: &FileHashes, radius: u32, dihedral: bool) -> Vec<MatchOut> {
        let mut out = Vec::new();
        match self {
            Source::List(list) => {
                for (q, transform) in pdq_variants(h, dihedral) {
                    for hit in list.pdq.search(&q, radius) {
                        out.push(MatchOut {
                            bank: list.name.clone(),
                            entry_id: hit.id as i64,
                            distance: Some(hit.distance),
                            category: None,
                            transform,
                            query_match: None,
                            compared_match: None,
                        });
                    }
                }
                for (t, v) in h.digests() {
                    if let Some(lines) = list.exact.get(&(t, v.to_vec())) {
                        out.extend(lines.iter().map(|&l| MatchOut {
                            bank: list.name.clone(),
                            entry_id: l as i64,
                            distance: Some(0),
                            category: None,
                            transform: None,
                            query_match: None,
                            compared_match: None,
                        }));
                    }
                }
            }
            Source::Store(m, scope) => {
                for (q, transform) in pdq_variants(h, dihedral) {
                    out.extend(
                        m.match_pdq(&q, scope).into_iter().filter(|x| x.distance <= radius).map(
                            |x| MatchOut {
                                bank: x.bank.to_string(),
                                entry_id: x.entry_id,
                                distance: Some(x.distance),
                                category: x.category.map(|c| c.name().to_string()),
                                transform,
                                ..Default::default()
                            },
                        ),
                    );
                }
                for (t, v) in h.digests() {
                    out.extend(m.match_signal(t, v, scope).into_iter().map(|x| MatchOut {
                        bank: x.bank.to_string(),
                        entry_id: x.entry_id,
                        distance: Some(0),
                        category: x.category.map(|c| c.name().to_string()),
                        ..Default::default()
                    }));
                }
            }
            Source::Server(_) => {}
        }
        if let Some(frames) = &h.vpdq {
            let t = spoor_matcher::VpdqThresholds::default();
            match self {
                Source::List(list) => {
                    let tv = spoor_vpdq::Thresholds::default();
                    for (line, banked) in &list.videos {
                        let m = spoor_vpdq::compare(frames, banked, &tv);
                        if m.is_match {
                            out.push(MatchOut {
                                bank: list.name.clone(),
                                entry_id: *line as i64,
                                query_match: Some(m.query_match),
                                compared_match: Some(m.compared_match),
                                ..Default::default()
                            });
                        }
                    }
                }
                Source::Store(m, scope) => {
                    out.extend(m.match_vpdq(frames, &t, scope).into_iter().map(|x| MatchOut {
                        bank: x.bank.to_string(),
                        entry_id: x.entry_id,
                        category: x.category.map(|c| c.name().to_string()),
                        query_match: Some(x.query_match),
                        compared_match: Some(x.compared_match),
                        ..Default::default()
                    }));
                }
                Source::Server(_) => {}
            }
        }
        finish_matches(out)
    }
}

/// Batches hashes to `POST /v1/match` of a Spoor service.
struct ServerClient {
    url: String,
    key: String,
    http: reqwest::blocking::Client,
}

impl ServerClient {
    fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot set up the HTTP client")?;
        let client = ServerClient {
            url: format!("{}/v1/match", base.trim_end_matches('/')),
            key: key.to_string(),
            http,
        };
        // Fail early on a wrong URL or key, before walking anything.
        client.query(&[]).with_context(|| format!("cannot use the Spoor service at {base}"))?;
        Ok(client)
    }

    /// Sends every signal of `files` in one request; returns the matches per file. Answers are
    /// read with the service's own wire types: a field the service leaves out (a distance it does
    /// not show this key) stays absent, never a made-up value.
    fn query(&self, files: &[(&FileHashes, bool)]) -> anyhow::Result<Vec<Vec<MatchOut>>> {
        use spoor_server::wire::{MatchBatchResponse, MatchRequest, SignalIn};
        let mut signals = Vec::new();
        let mut owner = Vec::new();
        for (i, (h, dihedral)) in files.iter().enumerate() {
            for (q, transform) in pdq_variants(h, *dihedral) {
                signals.push(SignalIn { signal_type: "pdq".into(), value: q.to_string() });
                owner.push((i, transform));
            }
            if let Some(frames) = &h.vpdq {
                let value = spoor_core::vpdq::format(frames);
                signals.push(SignalIn { signal_type: "vpdq".into(), value });
                owner.push((i, None));
            }
            for (t, v) in h.digests() {
                signals.push(SignalIn { signal_type: t.name().into(), value: t.format(v) });
                owner.push((i, None));
            }
        }
        let sent = signals.len();
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&MatchRequest { signals })
            .send()
            .context("the request failed")?;
        let status = resp.status();
        let body = resp.bytes().context("cannot read the answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<spoor_server::error::ErrorBody>(&body)
                .map(|e| e.error.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            bail!("{status}: {message}");
        }
        let answer: MatchBatchResponse = serde_json::from_slice(&body)
            .context("the answer is not what a Spoor service sends (a wrong --server URL?)")?;
        if answer.results.len() != sent {
            bail!(
                "the service answered {} results for {sent} signals: is --server a Spoor service of this version?",
                answer.results.len()
            );
        }
        let mut out: Vec<Vec<MatchOut>> = (0..files.len()).map(|_| Vec::new()).collect();
        for ((i, transform), r) in owner.into_iter().zip(answer.results) {
            for m in r.matches {
                out[i].push(MatchOut {
                    bank: m.bank,
                    entry_id: m.entry_id,
                    distance: m.distance,
                    category: m.category,
                    transform,
                    query_match: m.query_match,
                    compared_match: m.compared_match,
                });
            }
        }
        Ok(out.into_iter().map(finish_matches).collect())
    }
}

/// The scan cache: an SQLite file of (path, size, mtime) → hashes.
struct Cache {
    conn: rusqlite::Connection,
}

/// What a scan needs of a cached file: a cached entry without it is hashed again.
#[derive(Clone, Copy)]
struct Needs {
    dihedral: bool,
    exact: bool,
    unframed: bool,
    sha: bool,
    vpdq: bool,
}

const CACHE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, kind INTEGER NOT NULL,
    pdq BLOB, quality INTEGER, dihedral BLOB, md5 BLOB, sha1 BLOB, sha256 BLOB, vpdq TEXT,
    framed INTEGER, unframed BLOB, dihedral_exact INTEGER);
CREATE TABLE IF NOT EXISTS submitted (
    path TEXT NOT NULL, server TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    case_id INTEGER NOT NULL, PRIMARY KEY (path, server))";

impl Cache {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("cannot open the cache {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(CACHE_SCHEMA)
            .with_context(|| format!("{} is not a spoor scan cache", path.display()))?;
        // Caches written before frames were looked for: `framed` NULL (not looked at).
        let has_frames = conn
            .prepare("SELECT 1 FROM pragma_table_info('files') WHERE name = 'framed'")?
            .exists([])?;
        if !has_frames {
            conn.execute_batch(
                "ALTER TABLE files ADD COLUMN framed INTEGER; ALTER TABLE files ADD COLUMN unframed BLOB;",
            )
            .with_context(|| format!("cannot bring the cache {} up to date", path.display()))?;
        }
        // And before exact turns were kept: `dihedral_exact` NULL (the DCT's variants).
        let has_exact = conn
            .prepare("SELECT 1 FROM pragma_table_info('files') WHERE name = 'dihedral_exact'")?
            .exists([])?;
        if !has_exact {
            conn.execute_batch("ALTER TABLE files ADD COLUMN dihedral_exact INTEGER;")
                .with_context(|| format!("cannot bring the cache {} up to date", path.display()))?;
        }
        Ok(Cache { conn })
    }

    fn get(&self, path: &str, size: u64, mtime: i64, needs: Needs) -> Option<(Kind, FileHashes)> {
        let Needs { dihedral, exact, unframed, sha, vpdq } = needs;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, pdq, quality, dihedral, md5, sha1, sha256, vpdq, framed, unframed, dihedral_exact FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3")
            .ok()?;
        let row = stmt
            .query_row(rusqlite::params![path, size as i64, mtime], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<Vec<u8>>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                    r.get::<_, Option<i64>>(10)?,
                ))
            })
            .ok()?;
        let kind = Kind::from_code(row.0);
        let dihedral_hashes = row.3.and_then(|d| {
            let hs: Vec<Hash256> = d
                .chunks_exact(32)
                .map(|c| Hash256::from_bytes(c.try_into().expect("32 bytes")))
                .collect();
            <[Hash256; 8]>::try_from(hs).ok()
        });
        if kind != Kind::Other && sha && row.6.is_none() {
            return None; // hashed without SHA, which this scan needs
        }
        if kind == Kind::Video && vpdq && row.7.is_none() {
            return None; // digested without vPDQ, which this scan needs
        }
        if kind == Kind::Image && dihedral && dihedral_hashes.is_none() {
            return None; // the cached entry lacks what this scan needs
        }
        if kind == Kind::Image && dihedral && exact != (row.10 == Some(1)) {
            return None; // turned the other way (from the DCT, or exactly)
        }
        if kind == Kind::Image && unframed && row.8.is_none() {
            return None; // not looked at for a frame, which this scan needs
        }
        Some((
            kind,
            FileHashes {
                pdq: row.1.and_then(|b| <[u8; 32]>::try_from(b).ok()).map(Hash256::from_bytes),
                quality: row.2.map(|q| q as u8),
                dihedral_exact: dihedral_hashes.is_some() && row.10 == Some(1),
                dihedral: dihedral_hashes,
                frame_checked: unframed && row.8.is_some(),
                // What this scan did not ask for is not matched.
                unframed: row
                    .9
                    .filter(|_| unframed)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(Hash256::from_bytes),
                md5: row.4.and_then(|b| <[u8; 16]>::try_from(b).ok()),
                sha1: row.5.and_then(|b| <[u8; 20]>::try_from(b).ok()),
                sha256: row.6.and_then(|b| <[u8; 32]>::try_from(b).ok()),
                vpdq: row.7.and_then(|t| spoor_core::vpdq::parse(&t).ok()),
            },
        ))
    }

    /// The case a `--submit` scan made for this file (unchanged since) through `server`.
    fn submitted(&self, path: &str, server: &str, size: u64, mtime: i64) -> Option<i64> {
        self.conn
            .prepare_cached(
                "SELECT case_id FROM submitted WHERE path = ?1 AND server = ?2 AND size = ?3 \
                 AND mtime_ns = ?4",
            )
            .and_then(|mut s| {
                s.query_row(rusqlite::params![path, server, size as i64, mtime], |r| r.get(0))
            })
            .ok()
    }

    /// Remembers the case made for a file, so that a re-scan does not send it again.
    fn remember(
        &self,
        path: &str,
        server: &str,
        size: u64,
        mtime: i64,
        case_id: i64,
    ) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO submitted (path, server, size, mtime_ns, case_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![path, server, size as i64, mtime, case_id])?;
        Ok(())
    }

    fn put_all(&mut self, rows: &[(String, u64, i64, Kind, FileHashes)]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, kind, pdq, quality, dihedral, md5, sha1, sha256, vpdq, framed, unframed, dihedral_exact)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for (path, size, mtime, kind, h) in rows {
                let dihedral: Option<Vec<u8>> =
                    h.dihedral.map(|d| d.iter().flat_map(|x| x.to_bytes()).collect());
                stmt.execute(rusqlite::params![
                    path,
                    *size as i64,
                    mtime,
                    kind.code(),
                    h.pdq.map(|p| p.to_bytes().to_vec()),
                    h.quality.map(i64::from),
                    dihedral,
                    h.md5.map(|m| m.to_vec()),
                    h.sha1.map(|m| m.to_vec()),
                    h.sha256.map(|m| m.to_vec()),
                    h.vpdq.as_deref().map(spoor_core::vpdq::format),
                    h.frame_checked.then_some(i64::from(h.unframed.is_some())),
                    h.unframed.map(|u| u.to_bytes().to_vec()),
                    h.dihedral.map(|_| i64::from(h.dihedral_exact)),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

struct Worker {
    options: spoor_media::Options,
    max_file_size: u64,
    dihedral: bool,
    /// The turns are hashed from the pixel grids (`--dihedral=exact`).
    exact: bool,
    unframed: bool,
    sha: bool,
    vpdq: Option<spoor_vpdq::Options>,
}

impl Worker {
    fn hash(&self, path: &Path, size: u64) -> Result<(Kind, FileHashes), String> {
        let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let mut head = [0u8; crate::files::HEAD];
        let n =
            crate::files::read_head(&mut f, &mut head).map_err(|e| format!("cannot read: {e}"))?;
        let head = &head[..n];
        let kind = if spoor_media::sniff(head).is_some() {
            Kind::Image
        } else if spoor_media::video::is_video(head) {
            Kind::Video
        } else {
            return Ok((Kind::Other, FileHashes::default()));
        };
        if size > self.max_file_size {
            return Err(format!(
                "{size} bytes: larger than --max-file-size ({})",
                self.max_file_size
            ));
        }
        let mut h = FileHashes::default();
        match kind {
            Kind::Image => {
                let mut bytes = Vec::with_capacity(size as usize + 1);
                bytes.extend_from_slice(head);
                (&mut f)
                    .take(self.max_file_size + 1 - head.len() as u64)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot read: {e}"))?;
                let image =
                    spoor_media::decode(&bytes, &self.options).map_err(|e| e.to_string())?;
                if self.dihedral && self.exact {
                    let p = spoor_hash::pdq::pdq(image.pixels());
                    h.pdq = Some(p.hash);
                    h.quality = Some(p.quality);
                    h.dihedral = Some(spoor_hash::pdq::pdq_dihedral_exact(image.pixels()).hashes);
                    h.dihedral_exact = true;
                } else if self.dihedral {
                    let (original, d) = spoor_hash::pdq::pdq_with_dihedral(image.pixels());
                    h.pdq = Some(original);
                    h.quality = Some(d.quality);
                    h.dihedral = Some(d.hashes);
                } else {
                    let p = spoor_hash::pdq::pdq(image.pixels());
                    h.pdq = Some(p.hash);
                    h.quality = Some(p.quality);
                }
                if self.unframed {
                    h.frame_checked = true;
                    h.unframed = spoor_hash::pdq::frame::pdq_unframed(image.pixels())
                        .filter(|(_, p)| p.quality >= spoor_hash::pdq::MIN_MATCH_QUALITY)
                        .map(|(_, p)| p.hash);
                }
                let mut md5 = spoor_hash::digest::Hasher::new(spoor_hash::digest::Which {
                    md5: true,
                    sha1: self.sha,
                    sha256: self.sha,
                });
                md5.update(&bytes);
                h.set_digests(md5);
            }
            Kind::Video => {
                let mut md5 = spoor_hash::digest::Hasher::new(spoor_hash::digest::Which {
                    md5: true,
                    sha1: self.sha,
                    sha256: self.sha,
                });
                md5.update(head);
                crate::files::digest_rest(&mut f, &mut md5)
                    .map_err(|e| format!("cannot read: {e}"))?;
                h.set_digests(md5);
                if let Some(opts) = &self.vpdq {
                    let v = spoor_vpdq::hash_file(path, opts).map_err(|e| e.to_string())?;
                    h.vpdq = Some(v.features());
                }
            }
            Kind::Other => {}
        }
        Ok((kind, h))
    }
}

#[derive(Serialize)]
struct Record<'a> {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpdq_frames: Option<usize>,
    matches: &'a [MatchOut],
    /// The case the service made for the file (`--submit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<&'a submit::CaseRef>,
    /// Why the file could not be submitted (`--submit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    case_error: Option<&'a str>,
    /// The service stored nothing for the file: its message (`--submit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    case_not_stored: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorRecord {
    path: String,
    error: String,
}

#[derive(Default)]
struct Counts {
    files: u64,
    media: u64,
    hashed: u64,
    cached: u64,
    matched: u64,
    errors: u64,
    /// Submissions (`--submit`).
    cases: CaseCounts,
}

/// What became of the submissions.
#[derive(Default)]
struct CaseCounts {
    made: u64,
    queued: u64,
    auto: u64,
    earlier: u64,
    before: u64,
    shared: u64,
    not_stored: u64,
    failed: u64,
}

impl CaseCounts {
    fn add(&mut self, o: &submit::Outcome) {
        match o {
            submit::Outcome::Case(c) if c.same_content_as.is_some() => self.shared += 1,
            submit::Outcome::Case(c) if c.submitted_before => self.before += 1,
            submit::Outcome::Case(c) => {
                self.made += 1;
                match c.resolution.as_deref() {
                    Some("auto") => self.auto += 1,
                    Some("earlier") => self.earlier += 1,
                    _ => self.queued += 1,
                }
            }
            submit::Outcome::NotStored(_) => self.not_stored += 1,
            submit::Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// Runs `spoor scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let threads = crate::threads(args.threads);
    if args.submit && args.server.is_none() {
        bail!(
            "--submit sends the files that matched to a Spoor service's case intake: give the \
             service with --server URL and a key that may submit cases with --key (or SPOOR_KEY)"
        );
    }
    let source = if let Some(list) = &args.bank_file {
        Source::List(Box::new(ListIndex::load(list)?))
    } else if let Some(url) = &args.server {
        Source::Server(ServerClient::new(url, args.key.as_deref().unwrap_or_default())?)
    } else {
        let location = match (&args.data_dir, &args.database_url) {
            (Some(d), _) => spoor_bank::Location::DataDir(d.clone()),
            (None, Some(u)) => spoor_bank::Location::Postgres(u.clone()),
            _ => unreachable!("clap requires one source"),
        };
        if let spoor_bank::Location::DataDir(d) = &location {
            if !d.join("spoor.db").exists() {
                bail!("{} holds no Spoor store (no spoor.db): check --data-dir", d.display());
            }
        }
        let store: Arc<dyn spoor_bank::Store> = spoor_bank::open(&location)?.into();
        for b in &args.banks {
            store.bank(b)?;
        }
        let matcher = Arc::new(Matcher::load(store)?);
        let scope = if args.banks.is_empty() {
            Scope::All
        } else {
            Scope::Banks(args.banks.iter().cloned().collect())
        };
        Source::Store(matcher, scope)
    };
    let source = Arc::new(source);
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Text
    } else {
        OutputFormat::Jsonl
    });

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C ends the process at once; the first lets the scan save what it did.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }

    let mut walker = ignore::WalkBuilder::new(&args.paths[0]);
    for p in &args.paths[1..] {
        walker.add(p);
    }
    walker
        .standard_filters(false)
        .hidden(false)
        .follow_links(args.follow_symlinks)
        .threads(threads);
    if !args.exclude.is_empty() {
        let mut o = ignore::overrides::OverrideBuilder::new("/");
        for g in &args.exclude {
            o.add(&format!("!{g}")).with_context(|| format!("invalid --exclude glob {g:?}"))?;
        }
        walker.overrides(o.build()?);
    }
    for p in &args.paths {
        if std::fs::symlink_metadata(p).is_err() {
            bail!("{}: no such file or directory", p.display());
        }
    }

    let (tx, rx) = crossbeam_channel::bounded::<Found>(4096);
    let worker = Arc::new(Worker {
        options: spoor_media::Options {
            limits: spoor_media::Limits {
                max_pixels: args.max_pixels,
                max_file_bytes: args.max_file_size,
            },
            ..Default::default()
        },
        max_file_size: args.max_file_size,
        dihedral: args.dihedral.is_some(),
        exact: args.dihedral == Some(crate::hash::DihedralHow::Exact),
        unframed: args.unframed,
        sha: source.wants_sha(),
        vpdq: source.wants_vpdq().then(|| spoor_vpdq::Options {
            fps: args.vpdq_fps.0,
            video: spoor_vpdq::VideoOptions {
                ffmpeg: args.ffmpeg.clone(),
                max_pixels: args.max_pixels,
                ..Default::default()
            },
        }),
    });
    let cache_path = args.cache.clone();
    if let Some(p) = &cache_path {
        Cache::open(p)?; // create it (and its table) before the workers read it
    }
    let radius = args.radius;
    let dihedral = args.dihedral.is_some();
    let walk = {
        let stop = stop.clone();
        let source = source.clone();
        std::thread::spawn(move || {
            walker.build_parallel().run(|| {
                let tx = tx.clone();
                let worker = worker.clone();
                let source = source.clone();
                let stop = stop.clone();
                let cache = cache_path.as_deref().and_then(|p| Cache::open(p).ok());
                Box::new(move |entry| {
                    if stop.load(Ordering::Relaxed) {
                        return ignore::WalkState::Quit;
                    }
                    let found = match entry {
                        Err(e) => Found {
                            path: error_path(&e),
                            key: None,
                            kind: Kind::Other,
                            result: Err(walk_error(&e)),
                            cached: false,
                            matches: Vec::new(),
                            submission: None,
                        },
                        Ok(entry) => {
                            let Some(ft) = entry.file_type() else {
                                return ignore::WalkState::Continue;
                            };
                            if ft.is_dir() || ft.is_symlink() {
                                return ignore::WalkState::Continue; // a link not followed
                            }
                            if !ft.is_file() {
                                return ignore::WalkState::Continue; // sockets, fifos, devices
                            }
                            scan_one(
                                entry.path(),
                                &worker,
                                cache.as_ref(),
                                &source,
                                radius,
                                dihedral,
                            )
                        }
                    };
                    if tx.send(found).is_err() {
                        return ignore::WalkState::Quit;
                    }
                    ignore::WalkState::Continue
                })
            });
        })
    };

    let mut counts = Counts::default();
    let mut cache = args.cache.as_deref().map(Cache::open).transpose()?;
    let mut pending_cache = Vec::new();
    let mut pending_server: Vec<Found> = Vec::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .expect("static template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last_flush = Instant::now();
    let mut subs = if args.submit {
        let roots = args
            .paths
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let sender = submit::Submitter::<Found>::start(submit::Options {
            base: args.server.clone().unwrap_or_default(),
            key: args.key.clone().unwrap_or_default(),
            service: args.service.clone(),
            content_ref_prefix: args.content_ref_prefix.clone(),
            roots,
            concurrency: usize::from(args.submit_concurrency),
            retries: args.submit_retries,
            max_file_size: args.max_file_size,
            stop: stop.clone(),
        })?;
        Some(Submissions {
            sender,
            server: args.server.as_deref().unwrap_or_default().trim_end_matches('/').to_string(),
            by_content: HashMap::new(),
            in_flight: 0,
        })
    } else {
        None
    };
    let done = subs.as_ref().map_or_else(crossbeam_channel::never, |s| s.sender.done().clone());
    let (format, all) = (format, args.all);
    // A file that matched goes to the submitter (waiting while its queue is full) and is
    // printed when its submission is done; any other file is printed at once.
    let emit = |f: Found,
                counts: &mut Counts,
                out: &mut dyn Write,
                cache: Option<&Cache>,
                subs: Option<&mut Submissions>|
     -> anyhow::Result<()> {
        match subs {
            Some(s) if f.result.is_ok() && !f.matches.is_empty() => {
                s.offer(f, cache, &mut |f| print_submitted(f, counts, out, format, all))
            }
            _ => print_found(&f, counts, out, format, all),
        }
    };
    loop {
        let found = crossbeam_channel::select! {
            recv(rx) -> found => match found {
                Ok(found) => found,
                Err(_) => break,
            },
            recv(done) -> d => {
                if let (Ok(d), Some(s)) = (d, subs.as_mut()) {
                    s.finish(d, cache.as_ref(), &mut |f| {
                        print_submitted(f, &mut counts, &mut out, format, all)
                    })?;
                }
                continue;
            }
        };
        counts.files += 1;
        if let (true, Some((path, size, mtime)), Ok(h)) =
            (cache.is_some(), &found.key, &found.result)
        {
            if !found.cached {
                pending_cache.push((path.clone(), *size, *mtime, found.kind, h.clone()));
            }
        }
        if matches!(&*source, Source::Server(_))
            && found.result.is_ok()
            && found.kind != Kind::Other
        {
            pending_server.push(found);
            if pending_server.len() >= 256 {
                flush_server(&source, &mut pending_server, dihedral, &mut |f| {
                    emit(f, &mut counts, &mut out, cache.as_ref(), subs.as_mut())
                })?;
            }
        } else {
            emit(found, &mut counts, &mut out, cache.as_ref(), subs.as_mut())?;
        }
        if last_flush.elapsed() > Duration::from_secs(1) || pending_cache.len() >= 4096 {
            if let Some(c) = cache.as_mut() {
                c.put_all(&pending_cache)?;
                pending_cache.clear();
            }
            out.flush().ok();
            last_flush = Instant::now();
            if let Some(bar) = &progress {
                bar.set_message(format!(
                    "{} files, {} media, {} matched, {} errors{}",
                    counts.files,
                    counts.media,
                    counts.matched,
                    counts.errors,
                    if args.submit {
                        format!(", {} cases made", counts.cases.made)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    walk.join().map_err(|_| anyhow::anyhow!("the walker panicked"))?;
    flush_server(&source, &mut pending_server, dihedral, &mut |f| {
        emit(f, &mut counts, &mut out, cache.as_ref(), subs.as_mut())
    })?;
    if let Some(c) = cache.as_mut() {
        c.put_all(&pending_cache)?;
    }
    if let Some(mut s) = subs {
        out.flush().ok();
        // Files waiting for one of the same content are queued as results come in: close the
        // queue only once nothing is in flight.
        while s.in_flight > 0 {
            let Ok(d) = done.recv() else { break };
            s.finish(d, cache.as_ref(), &mut |f| {
                print_submitted(f, &mut counts, &mut out, format, all)
            })?;
        }
        s.sender.join();
    }
    out.flush().ok();
    drop(out);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "spoor: {} files, {} media ({} hashed, {} from the cache), {} matched, {} errors in {:.2} s ({:.0} files/s){}",
        counts.files,
        counts.media,
        counts.hashed,
        counts.cached,
        counts.matched,
        counts.errors,
        secs,
        counts.files as f64 / secs.max(1e-9),
        if stop.load(Ordering::Relaxed) { "; interrupted: what was hashed is kept in the cache" } else { "" }
    );
    if args.submit {
        let c = &counts.cases;
        eprintln!(
            "spoor: cases: {} made ({} queued for review, {} auto-confirmed as known material, {} decided before), {} submitted by an earlier scan (not sent again), {} with the same content as a file whose case is open (not sent), {} not stored by the service, {} failed{}",
            c.made,
            c.queued,
            c.auto,
            c.earlier,
            c.before,
            c.shared,
            c.not_stored,
            c.failed,
            if c.failed > 0 { ": the failed files are listed (case_error; FAILED in text), scan again once the cause is fixed" } else { "" }
        );
    }
    Ok(if counts.cases.failed > 0 {
        ExitCode::from(2)
    } else if counts.matched > 0 {
        ExitCode::from(1)
    } else if counts.errors > 0 || stop.load(Ordering::Relaxed) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn error_path(e: &ignore::Error) -> PathBuf {
    match e {
        ignore::Error::WithPath { path, .. } => path.clone(),
        ignore::Error::WithDepth { err, .. } => error_path(err),
        ignore::Error::WithLineNumber { err, .. } => error_path(err),
        ignore::Error::Loop { child, .. } => child.clone(),
        _ => PathBuf::new(),
    }
}

fn walk_error(e: &ignore::Error) -> String {
    match e {
        ignore::Error::WithPath { err, .. } => walk_error(err),
        ignore::Error::WithDepth { err, .. } => walk_error(err),
        ignore::Error::Loop { ancestor, .. } => {
            format!("symbolic link loop back to {}", ancestor.display())
        }
        ignore::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "no such file or directory (a dangling link?)".into()
        }
        other => other.to_string(),
    }
}

fn scan_one(
    path: &Path,
    worker: &Worker,
    cache: Option<&Cache>,
    source: &Source,
    radius: u32,
    dihedral: bool,
) -> Found {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Found {
                path: path.to_path_buf(),
                key: None,
                kind: Kind::Other,
                result: Err(format!("cannot read: {e}")),
                cached: false,
                matches: Vec::new(),
                submission: None,
            }
        }
    };
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    let abs =
        std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
    let needs = Needs {
        dihedral,
        exact: worker.exact,
        unframed: worker.unframed,
        sha: worker.sha,
        vpdq: worker.vpdq.is_some(),
    };
    let cached = cache.and_then(|c| c.get(&abs, size, mtime, needs));
    let (was_cached, result) = match cached {
        Some((kind, h)) => (true, Ok((kind, h))),
        None => (false, worker.hash(path, size)),
    };
    match result {
        Ok((kind, h)) => {
            let matches = if kind == Kind::Other {
                Vec::new()
            } else {
                source.match_local(&h, radius, dihedral)
            };
            Found {
                path: path.to_path_buf(),
                key: Some((abs, size, mtime)),
                kind,
                result: Ok(h),
                cached: was_cached,
                matches,
                submission: None,
            }
        }
        Err(e) => Found {
            path: path.to_path_buf(),
            key: None,
            kind: Kind::Image,
            result: Err(e),
            cached: false,
            matches: Vec::new(),
            submission: None,
        },
    }
}

fn flush_server(
    source: &Source,
    pending: &mut Vec<Found>,
    dihedral: bool,
    emit: &mut dyn FnMut(Found) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Source::Server(client) = source else { return Ok(()) };
    if pending.is_empty() {
        return Ok(());
    }
    let hashes: Vec<(&FileHashes, bool)> = pending
        .iter()
        .map(|f| (f.result.as_ref().expect("only hashed files are queued"), dihedral))
        .collect();
    let results = client.query(&hashes).context("matching through the service failed")?;
    for (mut f, m) in pending.drain(..).zip(results) {
        f.matches = m;
        emit(f)?;
    }
    Ok(())
}

/// `--submit` in the printer: files that matched go to the senders, one file per content at a
/// time. A file with the same content as one whose case is still open is not sent (that would
/// put the same picture before a reviewer twice) but reported with that case; after a decided
/// case or a failure, it is sent on its own.
struct Submissions {
    sender: submit::Submitter<Found>,
    /// The service, as cache entries name it.
    server: String,
    /// Per content seen in this scan (SHA-256, else MD5).
    by_content: HashMap<Vec<u8>, Shared>,
    /// Jobs handed to the senders and not yet finished.
    in_flight: usize,
}

/// A content's first file in this scan: in flight (with the files of the same content waiting
/// for it), or done.
enum Shared {
    Pending { first: PathBuf, waiting: Vec<Found> },
    Done { first: PathBuf, outcome: submit::Outcome },
}

fn content_key(f: &Found) -> Option<Vec<u8>> {
    let h = f.result.as_ref().ok()?;
    h.sha256.map(|s| s.to_vec()).or_else(|| h.md5.map(|m| m.to_vec()))
}

impl Submissions {
    /// Takes a file that matched: sends it, holds it until the file of the same content is
    /// done, or reports that file's open case.
    fn offer(
        &mut self,
        mut f: Found,
        cache: Option<&Cache>,
        print: &mut dyn FnMut(Found) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        // The case intake matches the file itself (PDQ, vPDQ and digests): content that
        // matched only as a rotated or mirrored copy, or inside its frame, would be sent for
        // nothing.
        if f.matches.iter().all(|m| m.transform.is_some()) {
            f.submission = Some(submit::Outcome::NotStored(
                "not sent: it matched only as a rotated or mirrored copy (--dihedral) or inside \
                 its frame (--unframed), which the service's case intake does not match; submit \
                 it yourself if it needs a case"
                    .into(),
            ));
            return print(f);
        }
        if let Some(k) = content_key(&f) {
            match self.by_content.get_mut(&k) {
                None => {
                    let first = f.path.clone();
                    self.by_content.insert(k, Shared::Pending { first, waiting: Vec::new() });
                }
                Some(Shared::Pending { waiting, .. }) => {
                    waiting.push(f);
                    return Ok(());
                }
                Some(Shared::Done { first, outcome: submit::Outcome::Case(c) })
                    if c.resolution.is_none() =>
                {
                    // Remembered too: whichever of the files a re-scan meets first finds the
                    // case.
                    if let (Some(cache), Some((path, size, mtime))) = (cache, &f.key) {
                        cache.remember(path, &self.server, *size, *mtime, c.id)?;
                    }
                    f.submission = Some(submit::Outcome::Case(submit::CaseRef {
                        same_content_as: Some(first.display().to_string()),
                        submitted_before: false,
                        ..c.clone()
                    }));
                    return print(f);
                }
                Some(Shared::Done { .. }) => {}
            }
        }
        let known_case = match (cache, &f.key) {
            (Some(c), Some((path, size, mtime))) => c.submitted(path, &self.server, *size, *mtime),
            _ => None,
        };
        let md5 = f.result.as_ref().ok().and_then(|h| h.md5);
        self.sender.send(submit::Job { path: f.path.clone(), md5, known_case, token: f })?;
        self.in_flight += 1;
        Ok(())
    }

    /// A submission is done: remembered in the cache, printed, and the files of the same
    /// content that waited for it go on.
    fn finish(
        &mut self,
        d: submit::Done<Found>,
        cache: Option<&Cache>,
        print: &mut dyn FnMut(Found) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut f = d.token;
        if let (Some(c), Some((path, size, mtime)), submit::Outcome::Case(case)) =
            (cache, &f.key, &d.outcome)
        {
            if !case.submitted_before {
                c.remember(path, &self.server, *size, *mtime, case.id)?;
            }
        }
        let mut waiting = Vec::new();
        if let Some(k) = content_key(&f) {
            if let Some(Shared::Pending { first, waiting: w }) = self.by_content.get_mut(&k) {
                if *first == f.path {
                    waiting = std::mem::take(w);
                    let first = first.clone();
                    self.by_content.insert(k, Shared::Done { first, outcome: d.outcome.clone() });
                }
            }
        }
        f.submission = Some(d.outcome);
        print(f)?;
        for w in waiting {
            self.offer(w, cache, print)?;
        }
        Ok(())
    }
}

/// Prints a file whose submission is settled, counting its outcome.
fn print_submitted(
    f: Found,
    c: &mut Counts,
    out: &mut dyn Write,
    format: OutputFormat,
    all: bool,
) -> anyhow::Result<()> {
    if let Some(o) = &f.submission {
        c.cases.add(o);
    }
    print_found(&f, c, out, format, all)
}

fn print_found(
    f: &Found,
    c: &mut Counts,
    out: &mut dyn Write,
    format: OutputFormat,
    all: bool,
) -> anyhow::Result<()> {
    let path = f.path.display().to_string();
    let h = match &f.result {
        Err(e) => {
            c.errors += 1;
            match format {
                OutputFormat::Jsonl => writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&ErrorRecord { path, error: e.clone() })?
                )?,
                OutputFormat::Text => writeln!(out, "ERROR  {path}: {e}")?,
            }
            return Ok(());
        }
        Ok(h) => h,
    };
    if f.kind == Kind::Other {
        return Ok(());
    }
    c.media += 1;
    if f.cached {
        c.cached += 1;
    } else {
        c.hashed += 1;
    }
    if !f.matches.is_empty() {
        c.matched += 1;
    } else if !all {
        return Ok(());
    }
    match format {
        OutputFormat::Jsonl => {
            let rec = Record {
                path,
                pdq: h.pdq.map(|p| p.to_string()),
                quality: h.quality,
                md5: h.md5.map(|m| spoor_core::Md5(m).to_string()),
                sha1: h.sha1.map(|m| spoor_core::Sha1(m).to_string()),
                sha256: h.sha256.map(|m| spoor_core::Sha256(m).to_string()),
                vpdq_frames: h.vpdq.as_ref().map(Vec::len),
                matches: &f.matches,
                case: match &f.submission {
                    Some(submit::Outcome::Case(c)) => Some(c),
                    _ => None,
                },
                case_error: match &f.submission {
                    Some(submit::Outcome::Failed(e)) => Some(e),
                    _ => None,
                },
                case_not_stored: match &f.submission {
                    Some(submit::Outcome::NotStored(m)) => Some(m),
                    _ => None,
                },
            };
            writeln!(out, "{}", serde_json::to_string(&rec)?)?;
        }
        OutputFormat::Text => {
            if f.matches.is_empty() {
                writeln!(out, "-      {path}")?;
            }
            for m in &f.matches {
                writeln!(
                    out,
                    "MATCH  {path}  {}#{}{}{}{}",
                    m.bank,
                    m.entry_id,
                    m.distance.map(|d| format!(" distance {d}")).unwrap_or_default(),
                    m.category.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
                    m.transform.map(|t| format!(" ({t})")).unwrap_or_default()
                        + &match (m.query_match, m.compared_match) {
                            (Some(q), Some(c)) => format!(" video {q:.0}%/{c:.0}% of frames"),
                            _ => String::new(),
                        }
                )?;
            }
            match &f.submission {
                Some(submit::Outcome::Case(c)) => writeln!(
                    out,
                    "CASE   {path}  #{} {}{}{}{}",
                    c.id,
                    c.state,
                    c.resolution.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                    c.earlier_case.map(|e| format!(" as case #{e}")).unwrap_or_default(),
                    if c.submitted_before { ", submitted by an earlier scan" } else { "" }
                        .to_string()
                        + &c.same_content_as
                            .as_deref()
                            .map(|p| format!(", same content as {p}"))
                            .unwrap_or_default()
                )?,
                Some(submit::Outcome::NotStored(m)) => writeln!(out, "NOCASE {path}: {m}")?,
                Some(submit::Outcome::Failed(e)) => writeln!(out, "FAILED {path}: {e}")?,
                None => {}
            }
        }
    }
    Ok(())
}
