//! The bank data model: banks, entries, the change log, and the values that describe them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use spoor_core::SignalType;

use crate::BankError;

/// Milliseconds since the Unix epoch, UTC: how every store keeps time.
pub type Millis = i64;

/// How far this process's clock is set from the system's (see [`set_clock`]).
static CLOCK_SHIFT_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn system_ms() -> Millis {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    d.as_millis() as Millis
}

/// Now, in [`Millis`]: the system's clock, moved by [`set_clock`] if it was called.
pub fn now_ms() -> Millis {
    system_ms().saturating_add(CLOCK_SHIFT_MS.load(std::sync::atomic::Ordering::Relaxed))
}

/// Sets this process's clock so that [`now_ms`] is `at` now and runs on at the system's pace
/// from there: every time a store or service records is then on that clock. For rehearsals
/// and tests that replay a period (`spoor serve --clock-start`); a service must never do it
/// on its own.
pub fn set_clock(at: Millis) {
    CLOCK_SHIFT_MS.store(at.saturating_sub(system_ms()), std::sync::atomic::Ordering::Relaxed);
}

/// Formats milliseconds as RFC 3339 in UTC with millisecond precision (`2026-11-25T08:40:00.123Z`).
pub fn format_time(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_else(|_| ms.to_string())
}

/// Parses an RFC 3339 time (any offset) to milliseconds.
pub fn parse_time(s: &str) -> Result<Millis, String> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
        format!("{s:?} is not an RFC 3339 time such as 2026-11-25T08:40:00Z ({e})")
    })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// A bank's name: 1–64 characters from `A`–`Z`, `0`–`9` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct BankName(String);

impl BankName {
    /// Checks and wraps a name.
    pub fn new(name: &str) -> Result<Self, BankError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
        if ok {
            Ok(BankName(name.to_string()))
        } else {
            Err(BankError::InvalidBankName(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BankName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a new bank is created with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBank {
    /// Unique name.
    pub name: String,
    /// What the list is, in a sentence.
    #[serde(default)]
    pub description: String,
    /// The organisation that vouches for the list (a hotline, the platform itself, a partner).
    #[serde(default)]
    pub owner: String,
    /// Whether a match from this bank needs human review before anything is done.
    #[serde(default)]
    pub review_required: bool,
    /// Largest PDQ distance that counts as a match (default 31, at most 64).
    #[serde(default)]
    pub pdq_radius: Option<u32>,
    /// Cases matching this bank's verified entries are confirmed as known material with no
    /// person viewing them: exact digests, and PDQ within this distance (default 10; `-1`
    /// never). Applies only while `review_required` is false.
    #[serde(default)]
    pub auto_confirm_distance: Option<i32>,
    /// A confirmation of a case matching this bank needs two reviewers who agree.
    #[serde(default)]
    pub four_eyes: bool,
    /// The review queue its matches go to (default `main`; see [`check_review_queue`]).
    #[serde(default)]
    pub review_queue: Option<String>,
    /// The share of lookups on HMA's routes that consult the bank (default 1; see
    /// [`check_hma_enabled_ratio`]).
    #[serde(default)]
    pub hma_enabled_ratio: Option<f64>,
}

/// Checks a bank's `hma_enabled_ratio`: HMA's `matching_enabled_ratio`, the share of lookups
/// on HMA's routes that consult the bank (each lookup flips a coin in [0, 1) and consults the
/// banks whose ratio is at least the coin). A number from 0 to 1; 0 is not a ratio Spoor keeps
/// (a bank that should match nothing is paused, with a reason), so it is refused here.
pub fn check_hma_enabled_ratio(r: f64) -> Result<(), String> {
    if r.is_finite() && r > 0.0 && r <= 1.0 {
        Ok(())
    } else {
        Err(format!(
            "hma_enabled_ratio {r} is out of range: give a share of HMA lookups greater than 0 and \
             at most 1 (1: every lookup); to stop a bank matching, pause it"
        ))
    }
}

/// PDQ distance within which a verified entry's matches are confirmed without review, unless a
/// bank says otherwise.
pub const DEFAULT_AUTO_CONFIRM_DISTANCE: u32 = 10;

/// Largest `auto_confirm_distance` a bank may set: beyond it a person must look.
pub const MAX_AUTO_CONFIRM_DISTANCE: u32 = 31;

/// Checks an `auto_confirm_distance` setting (`-1` off, else 0–31) and returns it as stored.
pub fn check_auto_confirm(d: i32) -> Result<Option<u32>, String> {
    match d {
        -1 => Ok(None),
        0..=31 => Ok(Some(d as u32)),
        _ => Err(format!(
            "auto_confirm_distance {d} is out of range: use 0-{MAX_AUTO_CONFIRM_DISTANCE} (PDQ \
             bits; exact digests always count as 0) or -1 to send every match to review"
        )),
    }
}

/// Checks a bank's `review_queue`: a queue name as [`crate::cases::check_queue`] accepts (1–32
/// characters `a-z0-9_-`), but not the senior queue, which takes escalations only.
pub fn check_review_queue(q: &str) -> Result<(), String> {
    crate::cases::check_queue(q).map_err(|e| format!("review_queue: {e}"))?;
    if q == crate::cases::SENIOR_QUEUE {
        return Err(format!(
            "review_queue {q:?} is the queue of escalations: name the team's own queue, such as \
             main or team-b"
        ));
    }
    Ok(())
}

/// Largest PDQ radius a bank may set: beyond it matches are noise.
pub const MAX_PDQ_RADIUS: u32 = 64;

/// Checks a bank's PDQ radius.
pub fn check_radius(r: u32) -> Result<(), String> {
    if r <= MAX_PDQ_RADIUS {
        Ok(())
    } else {
        Err(format!(
            "pdq_radius {r} is too large: at most {MAX_PDQ_RADIUS} (31 is PDQ's usual threshold)"
        ))
    }
}

/// A change to a bank's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankSettings {
    /// New description.
    pub description: Option<String>,
    /// New owner organisation.
    pub owner: Option<String>,
    /// Whether matches need human review.
    pub review_required: Option<bool>,
    /// New PDQ radius.
    pub pdq_radius: Option<u32>,
    /// New auto-confirm distance (`-1`: never; see [`NewBank::auto_confirm_distance`]).
    #[serde(default)]
    pub auto_confirm_distance: Option<i32>,
    /// Whether confirmations need two reviewers.
    #[serde(default)]
    pub four_eyes: Option<bool>,
    /// New review queue (see [`check_review_queue`]).
    #[serde(default)]
    pub review_queue: Option<String>,
    /// New share of HMA lookups (see [`check_hma_enabled_ratio`]).
    #[serde(default)]
    pub hma_enabled_ratio: Option<f64>,
}

impl BankSettings {
    /// Applies the settings to `b`; returns a description of what changed (empty: nothing).
    pub fn apply(&self, b: &mut Bank) -> Result<String, String> {
        let mut changed = Vec::new();
        if let Some(d) = &self.description {
            check_text("description", d, 4096)?;
            if *d != b.description {
                b.description = d.clone();
                changed.push("description".to_string());
            }
        }
        if let Some(o) = &self.owner {
            check_text("owner", o, 256)?;
            if *o != b.owner {
                b.owner = o.clone();
                changed.push("owner".to_string());
            }
        }
        if let Some(r) = self.review_required {
            if r != b.review_required {
                b.review_required = r;
                changed.push(format!("review_required={r}"));
            }
        }
        if let Some(r) = self.pdq_radius {
            check_radius(r)?;
            if r != b.pdq_radius {
                b.pdq_radius = r;
                changed.push(format!("pdq_radius={r}"));
            }
        }
        if let Some(d) = self.auto_confirm_distance {
            let d = check_auto_confirm(d)?;
            if d != b.auto_confirm_distance {
                b.auto_confirm_distance = d;
                changed.push(match d {
                    Some(d) => format!("auto_confirm_distance={d}"),
                    None => "auto_confirm_distance=off".to_string(),
                });
            }
        }
        if let Some(f) = self.four_eyes {
            if f != b.four_eyes {
                b.four_eyes = f;
                changed.push(format!("four_eyes={f}"));
            }
        }
        if let Some(q) = &self.review_queue {
            check_review_queue(q)?;
            if *q != b.review_queue {
                b.review_queue = q.clone();
                changed.push(format!("review_queue={q}"));
            }
        }
        if let Some(r) = self.hma_enabled_ratio {
            check_hma_enabled_ratio(r)?;
            if r != b.hma_enabled_ratio {
                b.hma_enabled_ratio = r;
                changed.push(format!("hma_enabled_ratio={r}"));
            }
        }
        Ok(changed.join(", "))
    }
}

/// A bank as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bank {
    /// Store-local id.
    #[serde(skip)]
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What the list is.
    pub description: String,
    /// The organisation that vouches for it.
    pub owner: String,
    /// When it was created.
    #[serde(serialize_with = "ser_time")]
    pub created_at: Millis,
    /// Whether its entries match at all.
    pub enabled: bool,
    /// Whether its matches need human review before action.
    pub review_required: bool,
    /// Largest PDQ distance that counts as a match against this bank.
    pub pdq_radius: u32,
    /// Matches of verified entries within this PDQ distance (digests: always) are confirmed
    /// without review while `review_required` is false; `None`: never.
    pub auto_confirm_distance: Option<u32>,
    /// Confirmations need two reviewers who agree.
    pub four_eyes: bool,
    /// The review queue cases matching it go to (when this bank's match is the nearest that
    /// needs review).
    pub review_queue: String,
    /// The share of lookups on HMA's routes that consult it, greater than 0 and at most 1
    /// (see [`check_hma_enabled_ratio`]); Spoor's own routes consult every enabled bank.
    pub hma_enabled_ratio: f64,
}

/// The INTERPOL-style classification hotlines give an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Illegal in every country (INTERPOL baseline).
    Baseline,
    /// Illegal under national law.
    National,
    /// Assessed and found not illegal (kept so it is never assessed again).
    NotIllegal,
}

impl Category {
    /// The name used in files and the database.
    pub fn name(self) -> &'static str {
        match self {
            Category::Baseline => "baseline",
            Category::National => "national",
            Category::NotIllegal => "not_illegal",
        }
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Ok(Category::Baseline),
            "national" => Ok(Category::National),
            "not_illegal" => Ok(Category::NotIllegal),
            _ => Err(format!(
                "unknown category {s:?}: use baseline, national or not_illegal (or leave it empty)"
            )),
        }
    }
}

/// Severity grade (UK A/B/C), optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Most severe.
    A,
    /// Middle.
    B,
    /// Least severe.
    C,
}

impl Severity {
    /// `A`, `B` or `C`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::A => "A",
            Severity::B => "B",
            Severity::C => "C",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "A" | "a" => Ok(Severity::A),
            "B" | "b" => Ok(Severity::B),
            "C" | "c" => Ok(Severity::C),
            _ => Err(format!("unknown severity {s:?}: use A, B or C (or leave it empty)")),
        }
    }
}

/// Checks one free tag: 1–64 characters from `a`–`z`, `0`–`9`, `_ - . :`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b':')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {tag:?}: tags are 1-64 characters from a-z, 0-9, '_', '-', '.', ':'"
        ))
    }
}

/// Parses tags written space- or comma-separated.
pub fn parse_tags(s: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for t in s.split([' ', ',', ';']).filter(|t| !t.is_empty()) {
        check_tag(t)?;
        if !tags.iter().any(|x| x == t) {
            tags.push(t.to_string());
        }
    }
    if tags.len() > 32 {
        return Err(format!("{} tags: at most 32 are allowed", tags.len()));
    }
    Ok(tags)
}

/// Checks a free-text field (an organisation, an actor, a reason): at most `max` bytes, no
/// control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("{field} is {} bytes long: at most {max} are allowed", value.len()));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains a control character"));
    }
    Ok(())
}

/// An entry to add to a bank, as an import line or an API request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The signal's type.
    pub signal_type: SignalType,
    /// Its canonical bytes (see [`SignalType::parse`]).
    pub value: Vec<u8>,
    /// Classification.
    pub category: Option<Category>,
    /// Severity grade.
    pub severity: Option<Severity>,
    /// Free tags.
    pub tags: Vec<String>,
    /// The organisation the entry came from.
    pub source_org: Option<String>,
    /// That organisation's own id for it.
    pub source_id: Option<String>,
    /// Who added it; the acting user when `None`.
    pub added_by: Option<String>,
    /// When it was added; now when `None`.
    pub added_at: Option<Millis>,
    /// Who verified the classification.
    pub verified_by: Option<String>,
    /// When.
    pub verified_at: Option<Millis>,
    /// Whether it matches; an entry imported disabled carries why in `disabled`.
    pub enabled: bool,
    /// Who disabled it, when and why (only when not enabled).
    pub disabled: Option<Disabled>,
}

impl NewEntry {
    /// A plain enabled entry with no classification or provenance.
    pub fn new(signal_type: SignalType, value: Vec<u8>) -> Self {
        NewEntry {
            signal_type,
            value,
            category: None,
            severity: None,
            tags: Vec::new(),
            source_org: None,
            source_id: None,
            added_by: None,
            added_at: None,
            verified_by: None,
            verified_at: None,
            enabled: true,
            disabled: None,
        }
    }

    /// Checks the free-text fields and that the value fits its type.
    pub fn validate(&self) -> Result<(), String> {
        self.signal_type.check_bytes(&self.value).map_err(|e| e.to_string())?;
        for (field, v) in [
            ("source_org", &self.source_org),
            ("source_id", &self.source_id),
            ("added_by", &self.added_by),
            ("verified_by", &self.verified_by),
        ] {
            if let Some(v) = v {
                check_text(field, v, 256)?;
            }
        }
        for t in &self.tags {
            check_tag(t)?;
        }
        if let Some(d) = &self.disabled {
            check_text("disabled_by", &d.by, 256)?;
            check_text("disabled_reason", &d.reason, 4096)?;
            if self.enabled {
                return Err("an enabled entry cannot carry disabled_* fields".into());
            }
        }
        Ok(())
    }
}

/// A change to an entry's classification or provenance (never its signal). `None` leaves a field
/// as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryUpdate {
    /// New category.
    pub category: Option<Option<Category>>,
    /// New severity.
    pub severity: Option<Option<Severity>>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
    /// New source organisation.
    pub source_org: Option<Option<String>>,
    /// New source id.
    pub source_id: Option<Option<String>>,
    /// Who verified the classification (the time is set to now when this is set).
    pub verified_by: Option<Option<String>>,
}

impl EntryUpdate {
    /// Applies the update to `e`; returns whether anything changed.
    pub fn apply(&self, e: &mut Entry, now: Millis) -> Result<bool, String> {
        let before = e.clone();
        if let Some(c) = self.category {
            e.category = c;
        }
        if let Some(s) = self.severity {
            e.severity = s;
        }
        if let Some(t) = &self.tags {
            for tag in t {
                check_tag(tag)?;
            }
            e.tags = t.clone();
        }
        if let Some(o) = &self.source_org {
            e.source_org = o.clone();
        }
        if let Some(i) = &self.source_id {
            e.source_id = i.clone();
        }
        if let Some(v) = &self.verified_by {
            if v != &e.verified_by {
                e.verified_at = v.as_ref().map(|_| now);
            }
            e.verified_by = v.clone();
        }
        for (field, v) in [
            ("source_org", &e.source_org),
            ("source_id", &e.source_id),
            ("verified_by", &e.verified_by),
        ] {
            if let Some(v) = v {
                check_text(field, v, 256)?;
            }
        }
        Ok(*e != before)
    }
}

/// Who disabled an entry, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    /// The actor.
    pub by: String,
    /// When.
    pub at: Millis,
    /// Why.
    pub reason: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Store-local id, unique across banks.
    pub id: i64,
    /// The bank's name.
    pub bank: String,
    /// The signal's type.
    pub signal_type: SignalType,
    /// Canonical bytes.
    pub value: Vec<u8>,
    /// Classification.
    pub category: Option<Category>,
    /// Severity.
    pub severity: Option<Severity>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Source organisation.
    pub source_org: Option<String>,
    /// The source's own id.
    pub source_id: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When.
    pub added_at: Millis,
    /// Who verified it.
    pub verified_by: Option<String>,
    /// When.
    pub verified_at: Option<Millis>,
    /// Whether it matches.
    pub enabled: bool,
    /// Who disabled it, when and why.
    pub disabled: Option<Disabled>,
    /// Sequence number of the last change to it.
    pub seq: i64,
}

impl Entry {
    /// The value's text form.
    pub fn value_text(&self) -> String {
        self.signal_type.format(&self.value)
    }
}

/// What a change-log record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An entry was added.
    Add,
    /// An entry was disabled (it stops matching).
    Disable,
    /// An entry was enabled again.
    Enable,
    /// An entry's classification or provenance changed (not its value).
    Update,
    /// An entry was deleted.
    Delete,
    /// A bank was created.
    CreateBank,
    /// A bank's settings changed (enabled, review, radius, description).
    UpdateBank,
}

impl Action {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::CreateBank => "create_bank",
            Action::UpdateBank => "update_bank",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "add" => Action::Add,
            "disable" => Action::Disable,
            "enable" => Action::Enable,
            "update" => Action::Update,
            "delete" => Action::Delete,
            "create_bank" => Action::CreateBank,
            "update_bank" => Action::UpdateBank,
            _ => return Err(format!("unknown change action {s:?} in the database")),
        })
    }
}

/// One record of the append-only change log: the whole truth about one change, as of that
/// change. A record never refers to mutable rows; it names the entry's signal and its state
/// right after the change, so the log alone tells what each entry was, even after it is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Sequence number: strictly increasing, in commit order.
    pub seq: i64,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: Millis,
    /// Who (a user, an API key's name, `import`…).
    pub actor: String,
    /// What.
    pub action: Action,
    /// The bank's name.
    pub bank: String,
    /// The entry, for entry actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
    /// The entry's signal type, for entry actions.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_signal_type")]
    pub signal_type: Option<SignalType>,
    /// The entry's value in its text form (hex for hashes), for entry actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether the entry matches right after this change (`false` after a delete); `None` for
    /// bank actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The entry's classification right after this change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The entry's severity right after this change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Why, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn ser_opt_signal_type<S: serde::Serializer>(
    t: &Option<SignalType>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(t.name()),
        None => s.serialize_none(),
    }
}

/// An entry's signal and state as one change record keeps them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryState<'a> {
    /// Entry id.
    pub id: i64,
    /// Signal type.
    pub signal_type: SignalType,
    /// Canonical bytes.
    pub value: &'a [u8],
    /// Whether it matches after the change.
    pub enabled: bool,
    /// Classification after the change.
    pub category: Option<Category>,
    /// Severity after the change.
    pub severity: Option<Severity>,
}

impl<'a> EntryState<'a> {
    /// The state of a stored entry.
    pub fn of(e: &'a Entry) -> Self {
        EntryState {
            id: e.id,
            signal_type: e.signal_type,
            value: &e.value,
            enabled: e.enabled,
            category: e.category,
            severity: e.severity,
        }
    }

    /// The state of an entry just added with `id`.
    pub fn added(id: i64, e: &'a NewEntry) -> Self {
        EntryState {
            id,
            signal_type: e.signal_type,
            value: &e.value,
            enabled: e.enabled,
            category: e.category,
            severity: e.severity,
        }
    }
}

/// A change record about to be written: what every store writes, built in one place
/// (`crate::write`), stored by each backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    /// Sequence number.
    pub seq: i64,
    /// When.
    pub at: Millis,
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: Action,
    /// The bank's store-local id.
    pub bank_id: i64,
    /// The bank's name.
    pub bank: &'a str,
    /// The entry, for entry actions.
    pub entry: Option<EntryState<'a>>,
    /// Why.
    pub reason: Option<&'a str>,
}

impl Record<'_> {
    /// The public form of the record.
    pub fn to_change(self) -> Change {
        let e = self.entry.as_ref();
        Change {
            seq: self.seq,
            at: self.at,
            actor: self.actor.to_string(),
            action: self.action,
            bank: self.bank.to_string(),
            entry_id: e.map(|e| e.id),
            signal_type: e.map(|e| e.signal_type),
            value: e.map(|e| e.signal_type.format(e.value)),
            enabled: e.map(|e| e.enabled),
            category: e.and_then(|e| e.category),
            severity: e.and_then(|e| e.severity),
            reason: self.reason.map(str::to_string),
        }
    }
}

/// A change as an index follows it: enough to add, remove or re-enable one signal, as of that
/// change (read from the change log alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The change's sequence number.
    pub seq: i64,
    /// What happened.
    pub action: Action,
    /// The bank's store-local id.
    pub bank_id: i64,
    /// The entry (`None` for bank actions).
    pub entry_id: Option<i64>,
    /// The entry's signal type and value (also for deletes).
    pub signal: Option<(SignalType, Vec<u8>)>,
    /// Whether the entry matches right after this change (false for deletes and bank actions).
    pub enabled: bool,
    /// The entry's classification right after this change.
    pub category: Option<Category>,
}

/// One stored signal, as a follower loads it: enough to index it and answer a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRow {
    /// Entry id.
    pub id: i64,
    /// The bank's store-local id.
    pub bank_id: i64,
    /// Signal type.
    pub signal_type: SignalType,
    /// Canonical bytes.
    pub value: Vec<u8>,
    /// Whether it matches.
    pub enabled: bool,
    /// Classification.
    pub category: Option<Category>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys.
    Admin,
    /// Create, read and change banks and entries; match; hash.
    Curator,
    /// Match (against its banks only, when scoped) and hash. Never reads a list.
    Matcher,
    /// Hash only.
    Hasher,
    /// Read the audit log (and, later, statistics). Never reads a list, never matches.
    Auditor,
    /// Read cases and decide signals-only ones (cases with media are decided in the console,
    /// where a rendition is shown). Never reads a list, never matches.
    Reviewer,
    /// Read the change log, with values, of the banks it is scoped to (another Spoor instance
    /// following them). Never matches, never changes anything.
    Exchange,
}

impl Role {
    /// The name used in flags and the database.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Curator => "curator",
            Role::Matcher => "matcher",
            Role::Hasher => "hasher",
            Role::Auditor => "auditor",
            Role::Reviewer => "reviewer",
            Role::Exchange => "exchange",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "curator" => Ok(Role::Curator),
            "matcher" => Ok(Role::Matcher),
            "hasher" => Ok(Role::Hasher),
            "auditor" => Ok(Role::Auditor),
            "reviewer" => Ok(Role::Reviewer),
            "exchange" => Ok(Role::Exchange),
            _ => Err(format!(
                "unknown role {s:?}: use admin, curator, matcher, hasher, auditor, reviewer or exchange"
            )),
        }
    }
}

/// An API key's record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Public identifier, part of the key itself.
    pub key_id: String,
    /// Unique human name, recorded as the actor of the key's changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The banks a matcher key may match against (`None`: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banks: Option<Vec<String>>,
    /// Whether a matcher key's answers carry exact distances. Off by default: exact distances
    /// let a client rebuild a banked hash bit by bit, so only keys trusted with that get them.
    #[serde(default)]
    pub show_distance: bool,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub created_at: Millis,
    /// Who revoked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// When (a revoked key authenticates nothing).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_time")]
    pub revoked_at: Option<Millis>,
}

fn ser_opt_time<S: serde::Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_time(*ms)),
        None => s.serialize_none(),
    }
}

/// Counts for one bank.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BankStats {
    /// The bank.
    pub bank: String,
    /// All entries.
    pub entries: u64,
    /// Enabled entries.
    pub enabled: u64,
    /// Disabled entries.
    pub disabled: u64,
    /// Entries per signal type.
    pub by_signal_type: std::collections::BTreeMap<String, u64>,
    /// Entries per category (`none` for unclassified).
    pub by_category: std::collections::BTreeMap<String, u64>,
    /// The last change-log sequence number for this bank.
    pub last_seq: i64,
}

impl BankStats {
    /// Adds `n` entries of one (signal type, category, enabled) group.
    pub fn add(&mut self, signal_type: &str, category: &str, enabled: bool, n: u64) {
        self.entries += n;
        if enabled {
            self.enabled += n;
        } else {
            self.disabled += n;
        }
        *self.by_signal_type.entry(signal_type.to_string()).or_default() += n;
        *self.by_category.entry(category.to_string()).or_default() += n;
    }
}

fn ser_time<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_names() {
        assert!(BankName::new("NCMEC_2026").is_ok());
        for bad in ["", "lower", "WITH SPACE", "É", &"A".repeat(65)] {
            assert!(BankName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_round_trip() {
        let ms = 1_795_000_000_123;
        let s = format_time(ms);
        assert!(s.ends_with(".123Z"), "{s}");
        assert_eq!(parse_time(&s).unwrap(), ms);
        assert_eq!(parse_time("2026-11-25T09:40:00+01:00").unwrap() % 1000, 0);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tags("a, b;c a").unwrap(), ["a", "b", "c"]);
        assert!(parse_tags("UPPER").is_err());
        assert!(
            parse_tags(&(0..33).map(|i| format!("t{i}")).collect::<Vec<_>>().join(" ")).is_err()
        );
    }
}
