//! Request and response bodies: what goes over the wire, with its OpenAPI schema. Requests refuse
//! unknown fields.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Signal types a bank stores (schema only: requests carry the name as a string).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SignalTypeName {
    /// PDQ: 64 hex digits.
    Pdq,
    /// MD5: 32 hex digits.
    Md5,
    /// SHA-1: 40 hex digits.
    Sha1,
    /// SHA-256: 64 hex digits.
    Sha256,
    /// A video's vPDQ: a JSON array of `PDQ_HEX,QUALITY,SECONDS` strings.
    Vpdq,
    /// PhotoDNA: 144 bytes as hex, base64 or comma-separated numbers.
    Photodna,
}

/// Signal types that can be matched (schema only).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MatchSignalType {
    /// PDQ: 64 hex digits.
    Pdq,
    /// MD5: 32 hex digits.
    Md5,
    /// SHA-1: 40 hex digits.
    Sha1,
    /// SHA-256: 64 hex digits.
    Sha256,
    /// A video's vPDQ: a JSON array of `PDQ_HEX,QUALITY,SECONDS` strings.
    Vpdq,
}

/// An entry's classification (schema only).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CategoryName {
    /// Illegal everywhere (the international baseline).
    Baseline,
    /// Illegal under national law.
    National,
    /// Assessed as not illegal.
    NotIllegal,
}

/// An entry's severity grade (schema only).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum SeverityName {
    /// Grade A.
    A,
    /// Grade B.
    B,
    /// Grade C.
    C,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the service answers.
    pub status: &'static str,
}

/// Whether the service is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Serving with a reachable store, a current follower and fresh keys.
    Ready,
    /// Something is wrong: see `problems`.
    NotReady,
}

/// `GET /ready`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    pub status: ReadyStatus,
    /// Whether the bank store answered a read within 2 s.
    pub store_reachable: bool,
    /// Seconds since the change log was last read successfully.
    pub follower_lag_seconds: f64,
    /// Largest lag that is still ready (`--ready-max-lag`).
    pub max_follower_lag_seconds: f64,
    /// Seconds since the API keys were last read successfully.
    pub keys_age_seconds: f64,
    /// Largest key age at which data routes still answer (`--key-max-staleness`).
    pub max_keys_age_seconds: f64,
    /// What is wrong, for people; empty when ready.
    pub problems: Vec<String>,
}

/// `POST /v1/banks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankCreate {
    /// Unique name: 1–64 characters from A–Z, 0–9 and `_`.
    #[schema(example = "HOTLINE_NL", pattern = "^[A-Z0-9_]{1,64}$")]
    pub name: String,
    /// What the list is.
    #[serde(default)]
    pub description: String,
    /// The organisation that vouches for it.
    #[serde(default)]
    pub owner: String,
    /// Whether matches need human review before action.
    #[serde(default)]
    pub review_required: bool,
    /// Largest PDQ distance that matches (default 31, at most 64).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 64)]
    pub pdq_radius: Option<u32>,
    /// Cases matching this bank's verified entries exactly, or by PDQ within this distance, are
    /// confirmed as known material with no person viewing them (while `review_required` is
    /// false). Default 10; `-1` sends every case to review.
    #[serde(default, deserialize_with = "whole_distance")]
    #[schema(minimum = -1, maximum = 31)]
    pub auto_confirm_distance: Option<i32>,
    /// A confirmation needs two reviewers who agree (disagreement goes to the senior queue).
    #[serde(default)]
    pub four_eyes: bool,
    /// The review queue of cases whose nearest match needing review is in this bank (default
    /// `main`): 1–32 characters from `a-z`, `0-9`, `_` and `-`; not `senior`, which takes
    /// escalations only.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32, example = "team-b")]
    pub review_queue: Option<String>,
    /// The share of lookups on HMA's routes (`/hma/m/lookup`) that consult this bank: HMA's
    /// `matching_enabled_ratio`, greater than 0 and at most 1 (default 1). Each such lookup
    /// flips a coin and consults the banks whose ratio is at least the coin; Spoor's own routes
    /// consult every enabled bank. To stop a bank matching, pause it.
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 1, example = 1.0)]
    pub hma_enabled_ratio: Option<f64>,
}

/// `PATCH /v1/banks/{name}`: change settings and/or pause or resume the bank, with a reason.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankPatch {
    /// Why (required, not blank, no control characters; recorded in the change log).
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
    /// `false` pauses the whole bank at once (nothing of it matches), `true` resumes it.
    pub enabled: Option<bool>,
    /// New description.
    pub description: Option<String>,
    /// New owner organisation.
    pub owner: Option<String>,
    /// Whether matches need human review.
    pub review_required: Option<bool>,
    /// Largest PDQ distance that matches (at most 64).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 64)]
    pub pdq_radius: Option<u32>,
    /// New auto-confirm distance (0–31; `-1`: every case to review).
    #[serde(default, deserialize_with = "whole_distance")]
    #[schema(minimum = -1, maximum = 31)]
    pub auto_confirm_distance: Option<i32>,
    /// Whether confirmations need two reviewers.
    pub four_eyes: Option<bool>,
    /// New review queue (1–32 characters from `a-z`, `0-9`, `_` and `-`; not `senior`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32, example = "team-b")]
    pub review_queue: Option<String>,
    /// The share of lookups on HMA's routes (`/hma/m/lookup`) that consult this bank: HMA's
    /// `matching_enabled_ratio`, greater than 0 and at most 1 (default 1). Each such lookup
    /// flips a coin and consults the banks whose ratio is at least the coin; Spoor's own routes
    /// consult every enabled bank. To stop a bank matching, pause it.
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 1, example = 1.0)]
    pub hma_enabled_ratio: Option<f64>,
}

/// A bank.
#[derive(Serialize, ToSchema)]
pub struct BankOut {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owner organisation.
    pub owner: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Whether its entries match (a paused bank matches nothing).
    pub enabled: bool,
    /// Whether matches need review.
    pub review_required: bool,
    /// Largest PDQ distance that matches.
    pub pdq_radius: u32,
    /// PDQ distance within which verified entries' matches are confirmed without review
    /// (absent: never).
    pub auto_confirm_distance: Option<u32>,
    /// Whether confirmations need two reviewers.
    pub four_eyes: bool,
    /// The review queue of cases whose nearest match needing review is in this bank.
    #[schema(example = "main")]
    pub review_queue: String,
    /// The share of lookups on HMA's routes that consult this bank (HMA's
    /// `matching_enabled_ratio` while the bank is enabled).
    #[schema(example = 1.0)]
    pub hma_enabled_ratio: f64,
}

impl From<spoor_bank::Bank> for BankOut {
    fn from(b: spoor_bank::Bank) -> Self {
        BankOut {
            name: b.name,
            description: b.description,
            owner: b.owner,
            created_at: spoor_bank::model::format_time(b.created_at),
            enabled: b.enabled,
            review_required: b.review_required,
            pdq_radius: b.pdq_radius,
            auto_confirm_distance: b.auto_confirm_distance,
            four_eyes: b.four_eyes,
            review_queue: b.review_queue,
            hma_enabled_ratio: b.hma_enabled_ratio,
        }
    }
}

/// `GET /v1/banks`.
#[derive(Serialize, ToSchema)]
pub struct BankList {
    /// Every bank, by name.
    pub banks: Vec<BankOut>,
}

/// `GET /v1/banks/{name}`: the bank and its counts.
#[derive(Serialize, ToSchema)]
pub struct BankDetail {
    /// The bank.
    #[serde(flatten)]
    pub bank: BankOut,
    /// All entries.
    pub entries: u64,
    /// Enabled entries.
    pub enabled_entries: u64,
    /// Disabled entries.
    pub disabled_entries: u64,
    /// Entries per signal type.
    pub by_signal_type: std::collections::BTreeMap<String, u64>,
    /// Entries per category.
    pub by_category: std::collections::BTreeMap<String, u64>,
    /// Newest change-log sequence number of this bank.
    pub last_seq: i64,
}

/// One entry to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryIn {
    /// `pdq`, `md5`, `sha1`, `sha256`, `vpdq` or `photodna`.
    #[schema(value_type = SignalTypeName, example = "pdq")]
    pub signal_type: String,
    /// The value's text form (hex for hashes).
    #[schema(example = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")]
    pub value: String,
    /// `baseline`, `national` or `not_illegal`.
    #[schema(value_type = Option<CategoryName>)]
    pub category: Option<String>,
    /// `A`, `B` or `C`.
    #[schema(value_type = Option<SeverityName>)]
    pub severity: Option<String>,
    /// Free tags (1–64 characters from a–z, 0–9, `_-.:`).
    #[serde(default)]
    #[schema(inline, value_type = Vec<Tag>)]
    pub tags: Vec<String>,
    /// Source organisation.
    pub source_org: Option<String>,
    /// The source's own id.
    pub source_id: Option<String>,
    /// Who verified the classification.
    pub verified_by: Option<String>,
    /// When, RFC 3339.
    pub verified_at: Option<String>,
}

/// A tag (schema only).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9_.:-]{1,64}$")]
#[allow(dead_code)]
pub struct Tag(String);

/// `POST /v1/banks/{name}/entries`: up to 100,000 entries, added all or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntriesIn {
    /// The entries.
    #[schema(max_items = 100_000)]
    pub entries: Vec<EntryIn>,
}

/// What adding one entry did.
#[derive(Serialize, ToSchema)]
pub struct EntryResult {
    /// The entry's id (the existing one when already present).
    pub id: i64,
    /// `added` or `already_present`.
    pub status: &'static str,
}

/// Response to adding entries.
#[derive(Serialize, ToSchema)]
pub struct EntriesAdded {
    /// Entries stored.
    pub added: u64,
    /// Entries the bank held already.
    pub already_present: u64,
    /// One result per entry, in request order.
    pub results: Vec<EntryResult>,
}

/// An entry as curators read it.
#[derive(Serialize, ToSchema)]
pub struct EntryOut {
    /// Id.
    pub id: i64,
    /// Signal type.
    pub signal_type: String,
    /// Value, text form.
    pub value: String,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Source organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_org: Option<String>,
    /// Source id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When, RFC 3339.
    pub added_at: String,
    /// Who verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// Whether it matches.
    pub enabled: bool,
    /// Who disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Sequence number of its last change.
    pub seq: i64,
}

impl From<spoor_bank::Entry> for EntryOut {
    fn from(e: spoor_bank::Entry) -> Self {
        use spoor_bank::model::format_time;
        EntryOut {
            id: e.id,
            signal_type: e.signal_type.name().to_string(),
            value: e.value_text(),
            category: e.category.map(|c| c.name().to_string()),
            severity: e.severity.map(|s| s.name().to_string()),
            tags: e.tags,
            source_org: e.source_org,
            source_id: e.source_id,
            added_by: e.added_by,
            added_at: format_time(e.added_at),
            verified_by: e.verified_by,
            verified_at: e.verified_at.map(format_time),
            enabled: e.enabled,
            disabled_by: e.disabled.as_ref().map(|d| d.by.clone()),
            disabled_at: e.disabled.as_ref().map(|d| format_time(d.at)),
            disabled_reason: e.disabled.map(|d| d.reason),
            seq: e.seq,
        }
    }
}

/// A page of entries.
#[derive(Serialize, ToSchema)]
pub struct EntriesPage {
    /// Entries by id.
    pub entries: Vec<EntryOut>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// A change-log record of a bank, as another instance follows it: what the entry is right after
/// the change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeOut {
    /// Sequence number, strictly increasing in commit order (store-wide: a bank's records skip
    /// the numbers of other banks' changes).
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// `add`, `disable`, `enable`, `update`, `delete`, `create_bank` or `update_bank`.
    pub action: String,
    /// The entry, for entry actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
    /// Its signal type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_type: Option<String>,
    /// Its value in text form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether it matches after the change (false after a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its classification after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Its severity after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Why, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<spoor_bank::Change> for ChangeOut {
    fn from(c: spoor_bank::Change) -> Self {
        ChangeOut {
            seq: c.seq,
            at: spoor_bank::model::format_time(c.at),
            actor: c.actor,
            action: c.action.name().to_string(),
            entry_id: c.entry_id,
            signal_type: c.signal_type.map(|t| t.name().to_string()),
            value: c.value,
            enabled: c.enabled,
            category: c.category.map(|x| x.name().to_string()),
            severity: c.severity.map(|x| x.name().to_string()),
            reason: c.reason,
        }
    }
}

/// A page of a bank's change log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangesPage {
    /// Records after `after`, oldest first.
    pub changes: Vec<ChangeOut>,
    /// Pass as `after` for the next page (the last record's `seq`, or `after` when none).
    pub next_after: i64,
    /// The store's newest sequence number: how far behind a follower at `next_after` is.
    pub last_seq: i64,
}

/// Paging of `GET /v1/banks/{name}/changes`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// Records with a sequence number greater than this (default 0: from the start).
    #[serde(default)]
    #[param(minimum = 0)]
    pub after: i64,
    /// Page size, 1–10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// Paging of `GET /v1/banks/{name}/entries`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Entries with id greater than this.
    #[serde(default)]
    pub after: i64,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// `PATCH /v1/banks/{name}/entries/{id}`: enable/disable and/or reclassify, with a reason.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryPatch {
    /// `false` stops the entry from matching, `true` lets it match again.
    pub enabled: Option<bool>,
    /// Why (required, not blank, no control characters; recorded in the change log).
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
    /// New category (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CategoryName>)]
    pub category: Option<Option<String>>,
    /// New severity (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<SeverityName>)]
    pub severity: Option<Option<String>>,
    /// New tags.
    #[schema(value_type = Option<Vec<Tag>>)]
    pub tags: Option<Vec<String>>,
    /// Who verified the classification (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub verified_by: Option<Option<String>>,
}

/// An optional whole number, also when written with a zero fraction (`4.0` is the number 4 in
/// JSON, and the schema's `integer` admits it).
fn whole_number<'de, D>(d: D) -> Result<Option<u32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let whole = match n.as_u64() {
        Some(v) => Some(v),
        None => n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64),
    };
    whole
        .and_then(|v| u32::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number 0-4294967295")))
}

/// An optional whole number −1 to 31 (an auto-confirm distance), also with a zero fraction.
fn whole_distance<'de, D>(d: D) -> Result<Option<i32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let whole = match n.as_i64() {
        Some(v) => Some(v),
        None => n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e9).map(|f| f as i64),
    };
    whole
        .and_then(|v| i32::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

/// An optional id, also written with a zero fraction (`7.0`).
pub(crate) fn whole_id<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    match n.as_i64() {
        Some(v) => Ok(Some(v)),
        None => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| Some(f as i64))
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number"))),
    }
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /v1/match` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MatchQuery {
    /// `pdq`, `md5`, `sha1`, `sha256` or `vpdq`.
    #[param(value_type = MatchSignalType)]
    pub signal_type: String,
    /// The value's text form (for vpdq the JSON array of `PDQ,QUALITY,SECONDS` strings).
    pub value: String,
}

/// One signal to match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalIn {
    /// Signal type.
    #[schema(value_type = MatchSignalType)]
    pub signal_type: String,
    /// Value.
    pub value: String,
}

/// `POST /v1/match`: up to 10,000 signals.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// The signals, answered in this order (at most 10,000).
    #[schema(max_items = 10_000)]
    pub signals: Vec<SignalIn>,
}

/// One match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatchOut {
    /// The bank.
    pub bank: String,
    /// The entry.
    pub entry_id: i64,
    /// Distance to the banked signal (0 for exact types). Only for admin and curator keys and
    /// matcher keys made with `--show-distance`: exact distances would let a client rebuild a
    /// banked hash. Absent otherwise, and for vPDQ (see the shares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    /// The entry's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Whether the bank asks for human review before action.
    pub review_required: bool,
    /// vPDQ only: percent of the query video's frames found in the banked video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_match: Option<f64>,
    /// vPDQ only: percent of the banked video's frames found in the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_match: Option<f64>,
    /// `unframed` when what is inside the upload's frame matched, not the upload as it is
    /// (`--match-unframed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "unframed")]
    pub transform: Option<String>,
}

impl From<spoor_matcher::VideoMatch> for MatchOut {
    fn from(m: spoor_matcher::VideoMatch) -> Self {
        MatchOut {
            bank: m.bank.to_string(),
            entry_id: m.entry_id,
            distance: None,
            category: m.category.map(|c| c.name().to_string()),
            review_required: m.review_required,
            query_match: Some(m.query_match),
            compared_match: Some(m.compared_match),
            transform: None,
        }
    }
}

impl MatchOut {
    /// A match as answered: with its distance only when `show_distance`.
    pub fn from_match(m: spoor_matcher::Match, show_distance: bool) -> Self {
        MatchOut {
            bank: m.bank.to_string(),
            entry_id: m.entry_id,
            distance: show_distance.then_some(m.distance),
            category: m.category.map(|c| c.name().to_string()),
            review_required: m.review_required,
            query_match: None,
            compared_match: None,
            transform: None,
        }
    }
}

/// Matches of one signal, nearest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchResponse {
    /// The matches; empty when none.
    pub matches: Vec<MatchOut>,
}

/// Matches of a batch, in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchBatchResponse {
    /// One result per signal.
    pub results: Vec<MatchResponse>,
}

/// The hashes of an uploaded file.
#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
pub struct Hashes {
    /// PDQ, when the file is an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdq: Option<String>,
    /// PDQ quality (below 50: too little detail to trust).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
    /// Width in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// MD5 of the bytes.
    pub md5: String,
    /// SHA-1 of the bytes.
    pub sha1: String,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// Why there is no PDQ (not an image, corrupt, too large).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdq_error: Option<String>,
    /// The uniform frame found around the image: left, top, right and bottom widths in pixels
    /// (only on a service run with `--match-unframed`, and only when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<[u32; 4]>,
    /// PDQ of what is inside the frame: the hash of the picture without its frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq_unframed: Option<String>,
    /// Its PDQ quality (below 50 it is not matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_unframed: Option<u8>,
}

/// `POST /v1/match/upload`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    /// The file's hashes.
    pub hashes: Hashes,
    /// Matches of any of them, nearest first.
    pub matches: Vec<MatchOut>,
}

/// Multipart form of the upload routes: exactly one field, `file`, not empty.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file (never written to disk; at least one byte).
    #[schema(value_type = String, format = Binary, min_length = 1)]
    pub file: Vec<u8>,
}

/// Filters and paging of `GET /v1/audit`. Filters combine; text filters match exactly.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Records numbered above this (default 0: from the start).
    #[serde(default)]
    #[param(minimum = 0)]
    pub after: i64,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only this actor (a person's or key's name, without its kind).
    pub actor: Option<String>,
    /// Only this action, e.g. `login`, `entry_disable`, `key_create`.
    pub action: Option<String>,
    /// Only objects of this kind, e.g. `bank`, `entry`, `key`, `user`.
    pub object_kind: Option<String>,
    /// Only this object (its name or id).
    pub object_id: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
}

/// One audit record: who did what to which object, when, chained to the record before by
/// `hash = SHA-256(prev_hash ‖ canonical bytes)`.
#[derive(Serialize, ToSchema)]
pub struct AuditRecordOut {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// When (milliseconds since the epoch).
    pub at_ms: i64,
    /// `user`, `key`, `cli`, `system` or `unspecified`.
    pub actor_kind: String,
    /// Who.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// Kind of object.
    pub object_kind: String,
    /// Which object.
    pub object_id: String,
    /// Details (a JSON object; never media, banked values or secrets).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Hash of the record before, hex (64 zeros for the first).
    pub prev_hash: String,
    /// This record's hash, hex.
    pub hash: String,
}

impl From<&spoor_audit::Record> for AuditRecordOut {
    fn from(r: &spoor_audit::Record) -> Self {
        let e = spoor_audit::ExportedRecord::from(r);
        AuditRecordOut {
            seq: e.seq,
            at: e.at,
            at_ms: e.at_ms,
            actor_kind: e.actor_kind,
            actor: e.actor,
            action: e.action,
            object_kind: e.object_kind,
            object_id: e.object_id,
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Records by number.
    pub records: Vec<AuditRecordOut>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// What a submitter says about content it sends for a case (`meta` of `POST /v1/cases`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseMetaIn {
    /// Why it is sent: `match` (it matched, or should be matched), `user_flag` (a user flagged
    /// it: a case is made even without a match), `own_initiative`.
    #[schema(pattern = "^(match|user_flag|own_initiative)$")]
    pub reason: String,
    /// The service it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub service: Option<String>,
    /// The item's id or URL in the submitter's system (sent back on the decision, so the item
    /// can be removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 2048)]
    pub content_ref: Option<String>,
    /// The uploader's opaque id in the submitter's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256)]
    pub uploader_ref: Option<String>,
    /// When it was uploaded, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
    /// The address it was uploaded from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_ip: Option<String>,
    /// Whether the whole item was publicly available (reported to NCMEC as
    /// `publiclyAvailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publicly_available: Option<bool>,
}

/// `POST /v1/cases` as JSON: a case on signals only, for submitters that must not send
/// content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSignalsRequest {
    /// What the submitter says about the content.
    pub meta: CaseMetaIn,
    /// Its signals, at least one.
    pub signals: CaseSignalsIn,
}

/// The signals of a signals-only case, one value per type (hex).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSignalsIn {
    /// PDQ: 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdq: Option<String>,
    /// MD5: 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-1: 40 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256: 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The multipart form of `POST /v1/cases`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CaseForm {
    /// The content (optional for a user flag; without it only `meta` is sent and nothing
    /// matches).
    #[schema(value_type = Option<String>, format = Binary, min_length = 1)]
    pub file: Option<Vec<u8>>,
    /// [`CaseMetaIn`] as JSON text.
    #[schema(value_type = CaseMetaIn)]
    pub meta: String,
}

/// One bank entry a case matched.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseMatchOut {
    /// The bank.
    pub bank: String,
    /// The entry.
    pub entry_id: i64,
    /// The signal type that matched.
    pub signal_type: String,
    /// The distance, only for keys that see distances: PDQ bits, 0 for digests, and for
    /// `vpdq` the share of the video's frames not found in the banked video, in whole percent
    /// (rounded up; 0: every frame found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
}

/// A legal hold on a case.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LegalHoldOut {
    /// Until when, RFC 3339.
    pub until: String,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub by: String,
}

/// A decision reversed on complaint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReversalOut {
    /// When, RFC 3339.
    pub at: String,
    /// Who re-reviewed the case.
    pub by: String,
    /// The complaint that overturned the decision.
    pub complaint_id: i64,
}

/// One decision on a case.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionOut {
    /// When, RFC 3339.
    pub at: String,
    /// Who (`user:NAME`, `key:NAME`).
    pub person: String,
    /// `confirm`, `false_positive` or `escalate`.
    pub verdict: String,
    /// Classification of a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Industry class of a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry_class: Option<String>,
    /// NCMEC file annotations of a confirmation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// The entry a false positive names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<i64>,
    /// Why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A case (never its media).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseOut {
    /// The case number.
    pub id: i64,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// Who submitted it.
    pub submitter: String,
    /// What the submitter said.
    pub meta: CaseMetaIn,
    /// `image`, `video`, `file` or `none` (signals only).
    pub media_kind: String,
    /// Whether the content is held (encrypted) for review now.
    pub media_held: bool,
    /// `queued`, `second_review`, `escalated`, `following` (open), `confirmed` or `false_positive`
    /// (decided).
    pub state: String,
    /// Its review queue.
    pub queue: String,
    /// How it was decided: `auto` (known material confirmed by the banks' rules, no person
    /// viewed it), `review` (by people), `earlier` (the decision on the same content before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// The case whose decision it took (`resolution` `earlier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_case: Option<i64>,
    /// The classification it was decided with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The industry class it was decided with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry_class: Option<String>,
    /// The annotations it was decided with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// When it was decided, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// Who decided it (`system:auto`, `system:earlier` for the rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Whether a person viewed the content (false for auto-confirmed known material and for
    /// decisions taken from earlier cases).
    pub viewed_by_person: bool,
    /// "Do not inform" (an authority's request): the user's notice is held until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_inform_until: Option<String>,
    /// The decision was reversed on complaint (the case is then a false positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed: Option<ReversalOut>,
    /// A legal hold: nothing of the case is deleted before it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<LegalHoldOut>,
    /// When retention erased the case's personal data (references, upload address and time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data_erased_at: Option<String>,
    /// Its signals (hex), as far as the content could be hashed.
    pub signals: Vec<SignalIn>,
    /// What it matched.
    pub matches: Vec<CaseMatchOut>,
    /// Every decision, oldest first.
    pub decisions: Vec<DecisionOut>,
}

/// The answer to `POST /v1/cases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseSubmitResponse {
    /// Whether a case was made (false: nothing matched and nothing was flagged, so nothing
    /// was stored).
    pub stored: bool,
    /// The case, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseOut>,
    /// What happened, in a sentence.
    pub message: String,
    /// Why the file could not be hashed as an image or a video (so that only its digests were
    /// matched), and what to do; absent when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// A page of cases.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseList {
    /// The cases, by number.
    pub cases: Vec<CaseOut>,
    /// Pass as `after` for the next page (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// `GET /v1/cases` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseListQuery {
    /// Only cases in this state.
    #[param(pattern = "^(queued|second_review|escalated|following|confirmed|false_positive)$")]
    pub state: Option<String>,
    /// Cases numbered above this (default 0).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// `POST /v1/cases/{id}/do-not-inform`: hold the affected user's notice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInformIn {
    /// Until when (RFC 3339, in the future); `null` lifts the hold (the notice goes now).
    pub until: Option<String>,
    /// The authority and its request (or why the hold is lifted).
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// `POST /v1/cases/{id}/decision`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    /// `confirm`, `false_positive` or `escalate`.
    #[schema(pattern = "^(confirm|false_positive|escalate)$")]
    pub verdict: String,
    /// For a confirmation: `baseline`, `national` or `not_illegal`.
    #[serde(default)]
    pub category: Option<String>,
    /// For a confirmation: `A1`, `A2`, `B1` or `B2`.
    #[serde(default)]
    pub industry_class: Option<String>,
    /// For a confirmation: NCMEC file annotations (`generativeAi`, `infant`,
    /// `possibleSelfProduction`, …).
    #[serde(default)]
    pub annotations: Vec<String>,
    /// For a false positive: the entry that matched wrongly.
    #[serde(default, deserialize_with = "whole_id")]
    pub entry_id: Option<i64>,
    /// Why.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub note: String,
}
