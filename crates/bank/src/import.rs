//! Streaming, idempotent import of hash lists.
//!
//! Formats ([`Format`]), detected from the first line or named:
//! * **lines**: one value a line, of `--signal-type` (default `pdq`); a line may also be
//!   `TYPE VALUE`, as python-threatexchange's `local_file` exchange writes it. Blank lines and
//!   lines starting with `#` are skipped.
//! * **csv**: a header naming the columns, among `signal_type`, `value` (both required),
//!   `category`, `severity`, `tags`, `source_org`, `source_id`, `added_by`, `added_at`,
//!   `verified_by`, `verified_at`, `enabled`, `disabled_by`, `disabled_at`, `disabled_reason`
//!   (and `id`, `seq`, which are ignored: they are the exporting store's own).
//! * **jsonl**: one JSON object a line with those fields, as [`crate::export`] writes it.
//! * **hma-csv**: what `threatexchange dataset --csv` writes: `signal_type,signal_str,collab,
//!   category,tags`, with ThreatExchange's type names (`video_md5`…) and categories.
//!
//! Memory is constant whatever the file: lines are read one at a time, at most [`MAX_LINE`]
//! bytes each (a longer line is rejected without being held), and written in batches.

use std::io::BufRead;

use serde::Deserialize;
use spoor_core::SignalType;

use crate::model::{parse_tags, parse_time, Category, Disabled, NewEntry, Severity};
use crate::{BankError, Store};

/// Longest accepted line, in bytes.
pub const MAX_LINE: usize = spoor_core::signal::MAX_VALUE_TEXT + 64 * 1024;

/// An import file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One value a line.
    Lines,
    /// CSV with Spoor's header.
    Csv,
    /// One JSON object a line.
    Jsonl,
    /// python-threatexchange's `dataset --csv` output.
    HmaCsv,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Lines => "lines",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::HmaCsv => "hma-csv",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lines" => Ok(Format::Lines),
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            "hma-csv" => Ok(Format::HmaCsv),
            _ => Err(format!("unknown import format {s:?}: use lines, csv, jsonl or hma-csv")),
        }
    }
}

/// Why an import stopped as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the input failed.
    #[error("cannot read the input: {0}")]
    Io(#[from] std::io::Error),
    /// The input has no lines at all.
    #[error("the input is empty: nothing to import")]
    Empty,
    /// The input is not text.
    #[error("the input looks binary (it holds NUL bytes), not a hash list")]
    Binary,
    /// A CSV header is unusable.
    #[error("line 1: {0}")]
    Header(String),
    /// `--strict` and a line was bad: nothing was imported.
    #[error("line {line}: {reason} (--strict: nothing was imported)")]
    Strict {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] BankError),
}

enum LineRead {
    Eof,
    Line,
    TooLong,
}

/// Reads one line into `buf` (without its line ending), holding at most `max` bytes.
fn read_line_bounded<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match memchr(chunk) {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(LineRead::Eof);
    }
    if too_long {
        return Ok(LineRead::TooLong);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(LineRead::Line)
}

fn memchr(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

/// One parsed line.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one at a time, never stored in bulk
pub enum Item {
    /// An entry to add.
    Entry(u64, NewEntry),
    /// A line that cannot be imported, with why.
    Rejected(u64, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    SignalType,
    Value,
    Category,
    Severity,
    Tags,
    SourceOrg,
    SourceId,
    AddedBy,
    AddedAt,
    VerifiedBy,
    VerifiedAt,
    Enabled,
    DisabledBy,
    DisabledAt,
    DisabledReason,
    Ignored,
    // hma-csv only
    Collab,
}

fn spoor_column(name: &str) -> Option<Column> {
    Some(match name {
        "signal_type" => Column::SignalType,
        "value" => Column::Value,
        "category" => Column::Category,
        "severity" => Column::Severity,
        "tags" => Column::Tags,
        "source_org" => Column::SourceOrg,
        "source_id" => Column::SourceId,
        "added_by" => Column::AddedBy,
        "added_at" => Column::AddedAt,
        "verified_by" => Column::VerifiedBy,
        "verified_at" => Column::VerifiedAt,
        "enabled" => Column::Enabled,
        "disabled_by" => Column::DisabledBy,
        "disabled_at" => Column::DisabledAt,
        "disabled_reason" => Column::DisabledReason,
        "id" | "seq" => Column::Ignored,
        _ => return None,
    })
}

fn hma_column(name: &str) -> Option<Column> {
    Some(match name {
        "signal_type" => Column::SignalType,
        "signal_str" => Column::Value,
        "collab" => Column::Collab,
        "category" => Column::Category,
        "tags" => Column::Tags,
        _ => return None,
    })
}

/// Splits one CSV record (RFC 4180 quoting; a record must fit on one line) into fields.
fn split_csv(line: &[u8], fields: &mut Vec<String>) -> Result<(), String> {
    use csv_core::ReadRecordResult as R;
    fields.clear();
    let mut rdr = csv_core::Reader::new();
    let mut out = vec![0u8; line.len() + 1];
    let mut ends = vec![0usize; line.len() + 2];
    let (mut input, mut nout, mut nend) = (line, 0, 0);
    loop {
        let (res, i, o, e) = rdr.read_record(input, &mut out[nout..], &mut ends[nend..]);
        // Field ends count from the start of the record, whatever slice this call was given.
        input = &input[i..];
        nout += o;
        nend += e;
        match res {
            R::Record => break,
            // Everything given: an empty input now tells the reader the record is over.
            R::InputEmpty if input.is_empty() && i == 0 && o == 0 && e == 0 && nend == 0 => {
                return Err("empty CSV record".into())
            }
            R::InputEmpty => continue,
            R::OutputFull | R::OutputEndsFull | R::End => return Err("malformed CSV record".into()),
        }
    }
    let mut start = 0;
    for &end in &ends[..nend] {
        let f = std::str::from_utf8(&out[start..end])
            .map_err(|_| "a field is not UTF-8 text".to_string())?;
        fields.push(f.to_string());
        start = end;
    }
    Ok(())
}

/// The fields an entry can carry, as text, before checking.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    signal_type: Option<String>,
    value: Option<String>,
    category: Option<String>,
    severity: Option<String>,
    #[serde(default, deserialize_with = "tags_field")]
    tags: Option<String>,
    source_org: Option<String>,
    source_id: Option<String>,
    added_by: Option<String>,
    added_at: Option<String>,
    verified_by: Option<String>,
    verified_at: Option<String>,
    enabled: Option<bool>,
    disabled_by: Option<String>,
    disabled_at: Option<String>,
    disabled_reason: Option<String>,
    #[serde(default, rename = "id")]
    _id: Option<serde_json::Value>,
    #[serde(default, rename = "seq")]
    _seq: Option<serde_json::Value>,
}

fn tags_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<Vec<String>> = Option::deserialize(d)?;
    Ok(v.map(|t| t.join(" ")))
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).map(|s| s.trim().to_string())
}

impl Fields {
    fn into_entry(self, default_type: SignalType) -> Result<NewEntry, String> {
        let signal_type = match nonempty(self.signal_type) {
            Some(t) => t.parse::<SignalType>().map_err(|e| e.to_string())?,
            None => default_type,
        };
        let value = nonempty(self.value).ok_or("the value is missing")?;
        let value = signal_type.parse(&value).map_err(|e| e.to_string())?;
        let mut e = NewEntry::new(signal_type, value);
        e.category = nonempty(self.category).map(|c| c.parse::<Category>()).transpose()?;
        e.severity = nonempty(self.severity).map(|c| c.parse::<Severity>()).transpose()?;
        e.tags = match self.tags {
            Some(t) => parse_tags(&t)?,
            None => Vec::new(),
        };
        e.source_org = nonempty(self.source_org);
        e.source_id = nonempty(self.source_id);
        e.added_by = nonempty(self.added_by);
        e.added_at = nonempty(self.added_at).map(|t| parse_time(&t)).transpose()?;
        e.verified_by = nonempty(self.verified_by);
        e.verified_at = nonempty(self.verified_at).map(|t| parse_time(&t)).transpose()?;
        e.enabled = self.enabled.unwrap_or(true);
        if !e.enabled {
            let by = nonempty(self.disabled_by).unwrap_or_else(|| "import".to_string());
            let at = nonempty(self.disabled_at).map(|t| parse_time(&t)).transpose()?;
            let reason = nonempty(self.disabled_reason)
                .ok_or("a disabled entry needs its disabled_reason")?;
            e.disabled = Some(Disabled { by, at: at.unwrap_or_else(crate::model::now_ms), reason });
        } else if nonempty(self.disabled_by).is_some() || nonempty(self.disabled_reason).is_some() {
            return Err("disabled_by/disabled_reason given for an enabled entry".into());
        }
        e.validate()?;
        Ok(e)
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" => Ok(true),
        "false" | "f" | "0" | "no" => Ok(false),
        _ => Err(format!("enabled is {s:?}: use true or false")),
    }
}

/// Maps a ThreatExchange signal type name to Spoor's.
fn hma_signal_type(name: &str) -> Result<SignalType, String> {
    match name.trim() {
        "pdq" => Ok(SignalType::Pdq),
        "video_md5" | "md5" => Ok(SignalType::Md5),
        "video_sha256" | "sha256" => Ok(SignalType::Sha256),
        "vpdq" => Ok(SignalType::Vpdq),
        "photodna" => Ok(SignalType::PhotoDna),
        other => Err(format!(
            "ThreatExchange signal type {other:?} is not one Spoor banks (pdq, video_md5, video_sha256, vpdq, photodna)"
        )),
    }
}

/// A streaming parser of one import input.
pub struct Reader<R> {
    input: R,
    format: Format,
    default_type: SignalType,
    columns: Vec<Column>,
    line: u64,
    buf: Vec<u8>,
    fields: Vec<String>,
    started: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader of `format`, or of the format detected from the first line when `None`.
    /// `default_type` is the signal type of lines that do not name one.
    pub fn new(
        mut input: R,
        format: Option<Format>,
        default_type: SignalType,
    ) -> Result<Self, ImportError> {
        let head = input.fill_buf()?;
        if head.is_empty() {
            return Err(ImportError::Empty);
        }
        if head.iter().take(8192).any(|&b| b == 0) {
            return Err(ImportError::Binary);
        }
        let format = match format {
            Some(f) => f,
            None => detect(head),
        };
        Ok(Reader {
            input,
            format,
            default_type,
            columns: Vec::new(),
            line: 0,
            buf: Vec::new(),
            fields: Vec::new(),
            started: false,
        })
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next entry or rejected line; `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<Item>, ImportError> {
        loop {
            match read_line_bounded(&mut self.input, &mut self.buf, MAX_LINE)? {
                LineRead::Eof => {
                    if !self.started {
                        return Err(ImportError::Empty);
                    }
                    return Ok(None);
                }
                LineRead::TooLong => {
                    self.line += 1;
                    self.started = true;
                    return Ok(Some(Item::Rejected(
                        self.line,
                        format!("the line is longer than {MAX_LINE} bytes"),
                    )));
                }
                LineRead::Line => {
                    self.line += 1;
                    let first = !self.started;
                    self.started = true;
                    let Ok(text) = std::str::from_utf8(&self.buf) else {
                        return Ok(Some(Item::Rejected(
                            self.line,
                            "the line is not UTF-8 text".into(),
                        )));
                    };
                    let text = text.strip_prefix('\u{feff}').unwrap_or(text).to_string();
                    if first && matches!(self.format, Format::Csv | Format::HmaCsv) {
                        self.header(&text)?;
                        continue;
                    }
                    if text.trim().is_empty()
                        || (self.format == Format::Lines && text.starts_with('#'))
                    {
                        continue;
                    }
                    let parsed = match self.format {
                        Format::Lines => self.parse_line(&text),
                        Format::Jsonl => serde_json::from_str::<Fields>(&text)
                            .map_err(|e| format!("not a valid entry object: {e}"))
                            .and_then(|f| f.into_entry(self.default_type)),
                        Format::Csv | Format::HmaCsv => self.parse_csv(&text),
                    };
                    return Ok(Some(match parsed {
                        Ok(e) => Item::Entry(self.line, e),
                        Err(reason) => Item::Rejected(self.line, reason),
                    }));
                }
            }
        }
    }

    fn header(&mut self, text: &str) -> Result<(), ImportError> {
        split_csv(text.as_bytes(), &mut self.fields).map_err(ImportError::Header)?;
        let hma = self.format == Format::HmaCsv;
        self.columns.clear();
        for f in &self.fields {
            let name = f.trim().to_ascii_lowercase();
            let col = if hma { hma_column(&name) } else { spoor_column(&name) };
            let col = col.ok_or_else(|| {
                ImportError::Header(format!(
                    "unknown column {name:?} in the header; {}",
                    if hma {
                        "hma-csv columns are signal_type, signal_str, collab, category, tags"
                    } else {
                        "known columns are signal_type, value, category, severity, tags, source_org, source_id, added_by, added_at, verified_by, verified_at, enabled, disabled_by, disabled_at, disabled_reason"
                    }
                ))
            })?;
            if col != Column::Ignored && self.columns.contains(&col) {
                return Err(ImportError::Header(format!("column {name:?} appears twice")));
            }
            self.columns.push(col);
        }
        if !self.columns.contains(&Column::Value) {
            return Err(ImportError::Header(format!(
                "the header has no {} column",
                if hma { "signal_str" } else { "value" }
            )));
        }
        if hma && !self.columns.contains(&Column::SignalType) {
            return Err(ImportError::Header("the header has no signal_type column".into()));
        }
        Ok(())
    }

    fn parse_line(&self, text: &str) -> Result<NewEntry, String> {
        let text = text.trim();
        let (t, v) = match text.split_once([' ', '\t']) {
            Some((t, v)) => (
                hma_signal_type(t)
                    .or_else(|_| t.parse().map_err(|e: spoor_core::SignalError| e.to_string()))?,
                v,
            ),
            None => (self.default_type, text),
        };
        let value = t.parse(v).map_err(|e| e.to_string())?;
        Ok(NewEntry::new(t, value))
    }

    fn parse_csv(&mut self, text: &str) -> Result<NewEntry, String> {
        split_csv(text.as_bytes(), &mut self.fields)?;
        if self.fields.len() != self.columns.len() {
            return Err(format!(
                "{} fields, but the header names {}",
                self.fields.len(),
                self.columns.len()
            ));
        }
        let mut f = Fields::default();
        let mut enabled = None;
        let mut hma_category = None;
        let mut collab = None;
        for (col, v) in self.columns.iter().zip(self.fields.drain(..)) {
            match col {
                Column::SignalType => f.signal_type = Some(v),
                Column::Value => f.value = Some(v),
                Column::Category => {
                    if self.format == Format::HmaCsv {
                        hma_category = Some(v)
                    } else {
                        f.category = Some(v)
                    }
                }
                Column::Severity => f.severity = Some(v),
                Column::Tags => f.tags = Some(v),
                Column::SourceOrg => f.source_org = Some(v),
                Column::SourceId => f.source_id = Some(v),
                Column::AddedBy => f.added_by = Some(v),
                Column::AddedAt => f.added_at = Some(v),
                Column::VerifiedBy => f.verified_by = Some(v),
                Column::VerifiedAt => f.verified_at = Some(v),
                Column::Enabled => enabled = Some(v),
                Column::DisabledBy => f.disabled_by = Some(v),
                Column::DisabledAt => f.disabled_at = Some(v),
                Column::DisabledReason => f.disabled_reason = Some(v),
                Column::Collab => collab = Some(v),
                Column::Ignored => {}
            }
        }
        if let Some(e) = nonempty(enabled) {
            f.enabled = Some(parse_bool(&e)?);
        }
        if self.format == Format::HmaCsv {
            let t = hma_signal_type(f.signal_type.as_deref().unwrap_or(""))?;
            f.signal_type = Some(t.name().to_string());
            f.source_org = nonempty(collab);
            // ThreatExchange's opinion categories are not a legal classification: keep them as
            // tags, and read NEGATIVE_CLASS (known harmless) as not_illegal.
            if let Some(c) = nonempty(hma_category) {
                let tag = format!("te:{}", c.to_ascii_lowercase());
                if c == "NEGATIVE_CLASS" {
                    f.category = Some("not_illegal".into());
                }
                let tags = f.tags.take().unwrap_or_default();
                f.tags = Some(format!("{tags} {tag}"));
            }
        }
        f.into_entry(self.default_type)
    }
}

/// Guesses the format from the start of the input.
pub fn detect(head: &[u8]) -> Format {
    let first = head.split(|&b| b == b'\n').find(|l| !l.iter().all(u8::is_ascii_whitespace));
    let Some(first) = first else { return Format::Lines };
    let first =
        String::from_utf8_lossy(first).trim_start_matches('\u{feff}').trim().to_ascii_lowercase();
    if first.starts_with('{') {
        Format::Jsonl
    } else if first.starts_with("signal_type,signal_str") {
        Format::HmaCsv
    } else if first.contains(',')
        && first.split(',').any(|c| c.trim() == "signal_type" || c.trim() == "value")
    {
        Format::Csv
    } else {
        Format::Lines
    }
}

/// Counts an import reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read (including skipped blank and comment lines).
    pub lines: u64,
    /// Entries stored.
    pub added: u64,
    /// Entries the bank already held.
    pub already_present: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Abort on the first bad line, leaving the bank unchanged (one transaction).
    pub strict: bool,
    /// Entries per committed batch.
    pub batch_size: usize,
    /// Who is importing (recorded as the actor and as `added_by` where the file gives none).
    pub actor: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { strict: false, batch_size: 50_000, actor: "import".into() }
    }
}

/// Imports everything `reader` yields into `bank`. `on_rejected` hears of each rejected line;
/// `on_commit` hears the running totals after each committed batch: what it has been told is
/// durable.
pub fn import<R: BufRead>(
    store: &dyn Store,
    bank: &str,
    reader: &mut Reader<R>,
    options: &ImportOptions,
    on_rejected: &mut dyn FnMut(u64, &str),
    on_commit: &mut dyn FnMut(&ImportReport),
) -> Result<ImportReport, ImportError> {
    let mut session = store.import_session(bank, &options.actor, options.strict)?;
    let mut report = ImportReport::default();
    let batch_size = options.batch_size.clamp(1, crate::MAX_BATCH);
    let mut batch = Vec::with_capacity(batch_size.min(65_536));
    loop {
        let item = reader.next_item()?;
        let done = item.is_none();
        match item {
            Some(Item::Entry(_, e)) => batch.push(e),
            Some(Item::Rejected(line, reason)) => {
                if options.strict {
                    return Err(ImportError::Strict { line, reason });
                }
                report.rejected += 1;
                on_rejected(line, &reason);
            }
            None => {}
        }
        if batch.len() >= batch_size || (done && !batch.is_empty()) {
            let out = session.write_batch(&batch)?;
            batch.clear();
            report.added += out.added;
            report.already_present += out.present;
            if !options.strict {
                report.lines = reader.line;
                on_commit(&report);
            }
        }
        if done {
            break;
        }
    }
    if report.added + report.already_present + report.rejected == 0 {
        return Err(ImportError::Empty);
    }
    session.finish()?;
    report.lines = reader.line;
    on_commit(&report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    fn items(text: &str, format: Option<Format>) -> Vec<Result<NewEntry, (u64, String)>> {
        let mut r = Reader::new(text.as_bytes(), format, SignalType::Pdq).unwrap();
        let mut out = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            out.push(match i {
                Item::Entry(_, e) => Ok(e),
                Item::Rejected(l, why) => Err((l, why)),
            });
        }
        out
    }

    #[test]
    fn detects_formats() {
        assert_eq!(detect(A.as_bytes()), Format::Lines);
        assert_eq!(detect(b"\n{\"signal_type\":\"pdq\"}"), Format::Jsonl);
        assert_eq!(detect(b"signal_type,value,category\n"), Format::Csv);
        assert_eq!(detect(b"signal_type,signal_str,collab,category,tags\n"), Format::HmaCsv);
    }

    #[test]
    fn lines_with_and_without_type() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let text = format!("# comment\n{A}\r\n\npdq {A}\nvideo_md5 {md5}\nzz\n");
        let got = items(&text, None);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].as_ref().unwrap().signal_type, SignalType::Pdq);
        assert_eq!(got[2].as_ref().unwrap().signal_type, SignalType::Md5);
        let (line, why) = got[3].as_ref().unwrap_err();
        assert_eq!(*line, 6);
        assert!(why.contains("64 hex digits"), "{why}");
    }

    #[test]
    fn csv_with_quotes_and_unknown_columns() {
        let text = format!(
            "signal_type,value,category,tags,source_org\npdq,{A},baseline,\"a,b\",\"Hotline, NL\"\n"
        );
        let got = items(&text, None);
        let e = got[0].as_ref().unwrap();
        assert_eq!(e.category, Some(Category::Baseline));
        assert_eq!(e.tags, ["a", "b"]);
        assert_eq!(e.source_org.as_deref(), Some("Hotline, NL"));
        let bad = Reader::new(
            format!("signal_type,value,colour\npdq,{A},red\n").as_bytes(),
            None,
            SignalType::Pdq,
        )
        .unwrap()
        .next_item();
        assert!(matches!(bad, Err(ImportError::Header(m)) if m.contains("colour")));
    }

    #[test]
    fn hma_csv() {
        let text = format!(
            "signal_type,signal_str,collab,category,tags\npdq,{A},Sample Data,INVESTIGATION_SEED,\nvideo_md5,d41d8cd98f00b204e9800998ecf8427e,X,NEGATIVE_CLASS,a b\nraw_text,hello,X,POSITIVE_CLASS,\n"
        );
        let got = items(&text, None);
        let e = got[0].as_ref().unwrap();
        assert_eq!(e.source_org.as_deref(), Some("Sample Data"));
        assert_eq!(e.tags, ["te:investigation_seed"]);
        let e = got[1].as_ref().unwrap();
        assert_eq!(e.signal_type, SignalType::Md5);
        assert_eq!(e.category, Some(Category::NotIllegal));
        assert!(got[2].as_ref().unwrap_err().1.contains("raw_text"));
    }

    #[test]
    fn jsonl_refuses_unknown_fields() {
        let text = format!(
            "{{\"signal_type\":\"pdq\",\"value\":\"{A}\",\"tags\":[\"x\"],\"id\":7}}\n{{\"signal_type\":\"pdq\",\"value\":\"{A}\",\"colour\":1}}\n"
        );
        let got = items(&text, None);
        assert_eq!(got[0].as_ref().unwrap().tags, ["x"]);
        assert!(got[1].as_ref().unwrap_err().1.contains("colour"));
    }

    #[test]
    fn empty_binary_and_overlong_input() {
        assert!(matches!(Reader::new(&b""[..], None, SignalType::Pdq), Err(ImportError::Empty)));
        assert!(matches!(
            Reader::new(&b"\x89PNG\0\0"[..], None, SignalType::Pdq),
            Err(ImportError::Binary)
        ));
        let mut long = vec![b'a'; MAX_LINE + 10];
        long.push(b'\n');
        long.extend_from_slice(A.as_bytes());
        let mut r =
            Reader::new(std::io::BufReader::with_capacity(4096, &long[..]), None, SignalType::Pdq)
                .unwrap();
        assert!(matches!(r.next_item().unwrap(), Some(Item::Rejected(1, _))));
        assert!(matches!(r.next_item().unwrap(), Some(Item::Entry(2, _))));
        assert!(r.next_item().unwrap().is_none());
    }
}
