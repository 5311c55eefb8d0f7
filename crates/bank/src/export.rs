//! Export writers: jsonl (every field, what [`crate::import`] reads back into the same bank),
//! lines (the values alone, for `spoor match --against`), and CSV with Spoor's header.

use std::io::{self, Write};

use serde::Serialize;
use spoor_core::SignalType;

use crate::model::format_time;
use crate::Entry;

/// An export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object an entry.
    Jsonl,
    /// One value a line, of one signal type.
    Lines,
    /// CSV with a header.
    Csv,
}

impl ExportFormat {
    /// The name used in flags and records.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Lines => "lines",
            ExportFormat::Csv => "csv",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "lines" => Ok(ExportFormat::Lines),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(format!("unknown export format {s:?}: use jsonl, lines or csv")),
        }
    }
}

/// The JSON form of an entry.
#[derive(Serialize)]
pub struct EntryJson<'a> {
    id: i64,
    signal_type: &'static str,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    source_org: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_id: Option<&'a str>,
    added_by: &'a str,
    added_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_at: Option<String>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<&'a str>,
    seq: i64,
}

impl<'a> From<&'a Entry> for EntryJson<'a> {
    fn from(e: &'a Entry) -> Self {
        EntryJson {
            id: e.id,
            signal_type: e.signal_type.name(),
            value: e.value_text(),
            category: e.category.map(|c| c.name()),
            severity: e.severity.map(|s| s.name()),
            tags: &e.tags,
            source_org: e.source_org.as_deref(),
            source_id: e.source_id.as_deref(),
            added_by: &e.added_by,
            added_at: format_time(e.added_at),
            verified_by: e.verified_by.as_deref(),
            verified_at: e.verified_at.map(format_time),
            enabled: e.enabled,
            disabled_by: e.disabled.as_ref().map(|d| d.by.as_str()),
            disabled_at: e.disabled.as_ref().map(|d| format_time(d.at)),
            disabled_reason: e.disabled.as_ref().map(|d| d.reason.as_str()),
            seq: e.seq,
        }
    }
}

/// CSV header written by [`Exporter`] in CSV mode.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "signal_type",
    "value",
    "category",
    "severity",
    "tags",
    "source_org",
    "source_id",
    "added_by",
    "added_at",
    "verified_by",
    "verified_at",
    "enabled",
    "disabled_by",
    "disabled_at",
    "disabled_reason",
    "seq",
];

/// Writes entries in one format.
pub struct Exporter<W: Write> {
    format: ExportFormat,
    lines_type: SignalType,
    out: ExportOut<W>,
    /// Entries skipped because lines mode writes one signal type (or only enabled entries).
    pub skipped: u64,
}

enum ExportOut<W: Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Exporter<W> {
    /// An exporter; `lines_type` is the signal type lines mode writes (other entries, and
    /// disabled ones, are skipped there: a lines file is a list to match against).
    pub fn new(out: W, format: ExportFormat, lines_type: SignalType) -> io::Result<Self> {
        let out = match format {
            ExportFormat::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(out);
                w.write_record(CSV_HEADER)?;
                ExportOut::Csv(Box::new(w))
            }
            _ => ExportOut::Plain(out),
        };
        Ok(Exporter { format, lines_type, out, skipped: 0 })
    }

    /// Writes one entry.
    pub fn write(&mut self, e: &Entry) -> io::Result<()> {
        match (&mut self.out, self.format) {
            (ExportOut::Plain(w), ExportFormat::Jsonl) => {
                serde_json::to_writer(&mut *w, &EntryJson::from(e))?;
                w.write_all(b"\n")
            }
            (ExportOut::Plain(w), _) => {
                if e.signal_type != self.lines_type || !e.enabled {
                    self.skipped += 1;
                    return Ok(());
                }
                w.write_all(e.value_text().as_bytes())?;
                w.write_all(b"\n")
            }
            (ExportOut::Csv(w), _) => {
                let j = EntryJson::from(e);
                let opt = |s: Option<&str>| s.unwrap_or("").to_string();
                w.write_record([
                    j.id.to_string(),
                    j.signal_type.to_string(),
                    j.value,
                    opt(j.category),
                    opt(j.severity),
                    j.tags.join(" "),
                    opt(j.source_org),
                    opt(j.source_id),
                    j.added_by.to_string(),
                    j.added_at,
                    opt(j.verified_by),
                    j.verified_at.unwrap_or_default(),
                    j.enabled.to_string(),
                    opt(j.disabled_by),
                    j.disabled_at.unwrap_or_default(),
                    opt(j.disabled_reason),
                    j.seq.to_string(),
                ])
                .map_err(io::Error::other)
            }
        }
    }

    /// Flushes and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self.out {
            ExportOut::Plain(mut w) => {
                w.flush()?;
                Ok(w)
            }
            ExportOut::Csv(w) => (*w).into_inner().map_err(|e| io::Error::other(e.to_string())),
        }
    }
}
