//! Cases: content a service submitted because it matched a bank or was flagged, and the
//! decisions people (or the rules) made about it ([`Cases`], a part of every [`crate::Store`]).
//!
//! A case is made *open* in a review queue, or *decided* at once: confirmed as known material
//! by the rules of the banks it matched (no person views it), or given the decision of content
//! decided before (never view twice). An open case is claimed by one reviewer at a time with a
//! lease; its decisions follow [`transition`]: a confirmation on a four-eyes bank waits for a
//! second reviewer who agrees, any disagreement goes to the senior queue.
//!
//! Invariants (tested on both stores in `tests/cases.rs`): a case is claimed by at most one
//! person while the lease holds, and "review next" gives a person the case they already hold
//! before another; a decided case takes no further decision; a decision by someone who does not
//! hold the case changes nothing; the two confirmations of a four-eyes case come from two
//! people; every creation, claim, release and decision writes its audit record in the same
//! transaction, and a refused one writes none.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use spoor_core::SignalType;

use crate::model::{format_time, Category, Millis};
use crate::{BankError, Result};

/// The queue cases go to unless a bank says otherwise.
pub const MAIN_QUEUE: &str = "main";
/// The queue escalated cases and disagreements go to.
pub const SENIOR_QUEUE: &str = "senior";
/// How long a claim lasts unless renewed: 15 minutes.
pub const DEFAULT_LEASE_MS: Millis = 15 * 60 * 1000;
/// Longest free text of a case or decision (a note, a reference).
pub const MAX_NOTE: usize = 4096;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? } $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// Every value, in the order shown to people.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The name used in the API, forms and the database.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                    format!("unknown {} {s:?}: use one of {}", $what, names.join(", "))
                })
            }
        }
    };
}

pub(crate) use named_enum;

named_enum!(
    /// Why the submitter sent the content.
    CaseReason {
        /// It matched (the submitter's own matching, or it expects Spoor's).
        Match = "match",
        /// A user flagged it (CSA Regulation proposal Art. 12(3)): a case even without a match.
        UserFlag = "user_flag",
        /// The service looked at it on its own initiative.
        OwnInitiative = "own_initiative",
    } "reason"
);

named_enum!(
    /// Where a case is.
    CaseState {
        /// Waiting for a reviewer.
        Queued = "queued",
        /// Confirmed once on a four-eyes bank: waiting for a second reviewer.
        SecondReview = "second_review",
        /// With the senior queue (escalated, or two reviewers disagreed).
        Escalated = "escalated",
        /// The same content as an open case (its lead, `earlier_case`): takes the lead's
        /// decision when it is made, and is never reviewed itself (never view twice).
        Following = "following",
        /// Confirmed: by the rules (known material), by people, or by an earlier decision.
        Confirmed = "confirmed",
        /// The match was wrong.
        FalsePositive = "false_positive",
    } "case state"
);

impl CaseState {
    /// Whether the case still waits for a person.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Queued
                | CaseState::SecondReview
                | CaseState::Escalated
                | CaseState::Following
        )
    }
}

named_enum!(
    /// How a decided case was decided.
    Resolution {
        /// By the banks' rules, with no person viewing it (known material).
        Auto = "auto",
        /// By people in review.
        Review = "review",
        /// By the decision on content decided before (same SHA-256, or PDQ within 8).
        Earlier = "earlier",
    } "resolution"
);

named_enum!(
    /// What kind of media a case holds.
    MediaKind {
        /// A still image (hashed with PDQ and digests).
        Image = "image",
        /// A video.
        Video = "video",
        /// Bytes that are not media Spoor decodes (digests only).
        File = "file",
        /// No content: the submitter sent signals only.
        None = "none",
    } "media kind"
);

named_enum!(
    /// A reviewer's decision.
    Verdict {
        /// The content is what the classification says.
        Confirm = "confirm",
        /// The match was wrong: the named entry should not have matched.
        FalsePositive = "false_positive",
        /// A senior reviewer should decide.
        Escalate = "escalate",
    } "verdict"
);

named_enum!(
    /// The industry classification of a confirmed file (NCMEC's `industryClassification`).
    IndustryClass {
        /// Prepubescent minor, sex act.
        A1 = "A1",
        /// Prepubescent minor, lascivious exhibition.
        A2 = "A2",
        /// Pubescent minor, sex act.
        B1 = "B1",
        /// Pubescent minor, lascivious exhibition.
        B2 = "B2",
    } "industry class"
);

named_enum!(
    /// NCMEC file annotations a reviewer may add.
    Annotation {
        /// Drawn, animated or virtual.
        AnimeDrawingVirtualHentai = "animeDrawingVirtualHentai",
        /// Physical harm.
        PhysicalHarm = "physicalHarm",
        /// Violence or gore.
        ViolenceGore = "violenceGore",
        /// Bestiality.
        Bestiality = "bestiality",
        /// Live streaming.
        LiveStreaming = "liveStreaming",
        /// An infant.
        Infant = "infant",
        /// Made by generative AI.
        GenerativeAi = "generativeAi",
        /// Shared as a meme.
        PotentialMeme = "potentialMeme",
        /// Spreading widely.
        Viral = "viral",
        /// Possibly self-produced.
        PossibleSelfProduction = "possibleSelfProduction",
    } "annotation"
);

/// What the submitter says about the content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaseMeta {
    /// Why it was sent.
    pub reason: Option<CaseReason>,
    /// The service it came from (the submitter's name for it).
    pub service: Option<String>,
    /// The item's id or URL in the submitter's system.
    pub content_ref: Option<String>,
    /// The uploader's opaque id in the submitter's system.
    pub uploader_ref: Option<String>,
    /// When it was uploaded.
    pub uploaded_at: Option<Millis>,
    /// The address it was uploaded from.
    pub upload_ip: Option<String>,
    /// Whether the whole content was publicly available (NCMEC's `publiclyAvailable`).
    pub publicly_available: Option<bool>,
}

impl CaseMeta {
    /// Checks the free texts and the address.
    pub fn validate(&self) -> Result<()> {
        for (field, v, max) in [
            ("service", &self.service, 128),
            ("content_ref", &self.content_ref, 2048),
            ("uploader_ref", &self.uploader_ref, 256),
        ] {
            if let Some(v) = v {
                crate::model::check_text(field, v, max).map_err(BankError::Invalid)?;
                if v.is_empty() {
                    return Err(BankError::Invalid(format!(
                        "meta.{field}: empty; leave it out when there is none"
                    )));
                }
            }
        }
        if let Some(ip) = &self.upload_ip {
            ip.parse::<std::net::IpAddr>().map_err(|_| {
                BankError::Invalid(format!(
                    "meta.upload_ip {ip:?} is not an IP address (for example 192.0.2.7 or 2001:db8::7)"
                ))
            })?;
        }
        Ok(())
    }
}

/// The signals of a case's content (none when the content could not be hashed that way).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaseSignals {
    /// MD5 of the bytes.
    pub md5: Option<[u8; 16]>,
    /// SHA-1 of the bytes.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the bytes.
    pub sha256: Option<[u8; 32]>,
    /// PDQ of the image.
    pub pdq: Option<[u8; 32]>,
    /// PDQ's quality (0–100).
    pub pdq_quality: Option<u8>,
}

/// One bank entry a case's content matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseMatch {
    /// The bank's name.
    pub bank: String,
    /// The entry.
    pub entry_id: i64,
    /// The signal type that matched.
    #[serde(serialize_with = "ser_signal_type")]
    pub signal_type: SignalType,
    /// Hamming distance for PDQ, 0 for digests; for vPDQ the share of the video's frames not
    /// found in the banked video, in whole percent rounded up (0: every frame found).
    pub distance: u32,
}

/// The media a case holds for review (in the media vault, encrypted; never in the database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseMedia {
    /// The vault's id for it.
    pub id: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// How a new case starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// In a review queue.
    Queue(String),
    /// Confirmed as known material by the banks' rules, with no person viewing it.
    AutoConfirm {
        /// The classification of the entry that decided it.
        category: Option<Category>,
    },
    /// With the decision of an earlier, decided case (never view twice).
    Earlier(i64),
    /// The same content as this open case: it follows that case and takes its decision when it
    /// is made (or at once, when the case was decided meanwhile).
    Follow(i64),
}

/// A case to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// Who submitted it (`key:NAME`, `user:NAME`).
    pub submitter: String,
    /// What the submitter says about it.
    pub meta: CaseMeta,
    /// What kind of content it is.
    pub media_kind: MediaKind,
    /// The content, when held for review.
    pub media: Option<CaseMedia>,
    /// Its signals.
    pub signals: CaseSignals,
    /// What it matched.
    pub matches: Vec<CaseMatch>,
    /// How it starts.
    pub start: Start,
}

/// A decision to record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    /// What the reviewer decided.
    pub verdict: Option<Verdict>,
    /// For a confirmation: INTERPOL-style classification.
    #[serde(default)]
    pub category: Option<Category>,
    /// For a confirmation: the industry classification.
    #[serde(default)]
    pub industry_class: Option<IndustryClass>,
    /// For a confirmation: NCMEC file annotations.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// For a false positive: the entry that should not have matched.
    #[serde(default)]
    pub entry_id: Option<i64>,
    /// Why (free text).
    #[serde(default)]
    pub note: String,
}

impl NewDecision {
    /// Checks the decision against the case it is for.
    pub fn validate(&self, case: &Case) -> Result<Verdict> {
        let bad = |m: String| Err(BankError::Invalid(m));
        let Some(verdict) = self.verdict else {
            return bad("verdict: missing: use confirm, false_positive or escalate".into());
        };
        crate::model::check_text("note", &self.note, MAX_NOTE).map_err(BankError::Invalid)?;
        let confirm_only = self.category.is_some()
            || self.industry_class.is_some()
            || !self.annotations.is_empty();
        match verdict {
            Verdict::Confirm => {
                if self.category.is_none() {
                    return bad("category: a confirmation needs a classification: baseline, \
                                national or not_illegal"
                        .into());
                }
                if self.entry_id.is_some() {
                    return bad("entry_id: only a false positive names an entry".into());
                }
            }
            Verdict::FalsePositive => {
                if confirm_only {
                    return bad("a false positive takes no classification or annotations".into());
                }
                match (self.entry_id, case.matches.is_empty()) {
                    // These depend on the case, not on the request alone: conflicts.
                    (Some(id), _) if !case.matches.iter().any(|m| m.entry_id == id) => {
                        return Err(BankError::Conflict(format!(
                            "entry_id {id} did not match case {}: name one of its matches",
                            case.id
                        )));
                    }
                    (None, false) => {
                        return Err(BankError::Conflict(format!(
                            "entry_id: case {} matched bank entries, so a false positive names \
                             the one that matched wrongly",
                            case.id
                        )))
                    }
                    _ => {}
                }
            }
            Verdict::Escalate => {
                if confirm_only || self.entry_id.is_some() {
                    return bad("an escalation takes a note only".into());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(a) = self.annotations.iter().find(|a| !seen.insert(**a)) {
            return bad(format!("annotations: {a} is named twice"));
        }
        Ok(verdict)
    }
}

/// A decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Store-wide id.
    pub id: i64,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: Millis,
    /// Who (`user:NAME`, `key:NAME`).
    pub person: String,
    /// What.
    pub verdict: Verdict,
    /// Classification of a confirmation.
    pub category: Option<Category>,
    /// Industry class of a confirmation.
    pub industry_class: Option<IndustryClass>,
    /// Annotations of a confirmation.
    pub annotations: Vec<Annotation>,
    /// The entry a false positive names.
    pub entry_id: Option<i64>,
    /// Why.
    pub note: String,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// Store-wide id.
    pub id: i64,
    /// When it was made.
    #[serde(serialize_with = "ser_time")]
    pub created_at: Millis,
    /// Who submitted it.
    pub submitter: String,
    /// What the submitter said.
    pub meta: CaseMeta,
    /// What kind of content.
    pub media_kind: MediaKind,
    /// The content while held for review.
    pub media: Option<CaseMedia>,
    /// When the held content was deleted.
    pub media_purged_at: Option<Millis>,
    /// Its signals.
    pub signals: CaseSignals,
    /// Where it is.
    pub state: CaseState,
    /// Its queue.
    pub queue: String,
    /// Who holds it, until when.
    pub lease: Option<(String, Millis)>,
    /// How it was decided, once decided.
    pub resolution: Option<Resolution>,
    /// The earlier case whose decision it took.
    pub earlier_case: Option<i64>,
    /// The classification it was decided with.
    pub category: Option<Category>,
    /// The industry class it was decided with.
    pub industry_class: Option<IndustryClass>,
    /// The annotations it was decided with.
    pub annotations: Vec<Annotation>,
    /// When it was decided.
    pub decided_at: Option<Millis>,
    /// By whom (`system:auto` and `system:earlier` for the rules).
    pub decided_by: Option<String>,
    /// What it matched.
    pub matches: Vec<CaseMatch>,
    /// Every decision, oldest first.
    pub decisions: Vec<Decision>,
    /// "Do not inform" (an authority's request): the user's notice is held until then, with
    /// the reason given.
    pub no_inform: Option<(Millis, String)>,
    /// Reversed by an overturned complaint (the case is then a false positive).
    pub reversal: Option<Reversal>,
    /// A legal hold: nothing of the case is deleted until it ends.
    pub hold: Option<crate::retention::LegalHold>,
    /// When its personal data was erased by retention.
    pub personal_purged_at: Option<Millis>,
}

/// A decision reversed on complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reversal {
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: Millis,
    /// By whom (the re-reviewer).
    pub by: String,
    /// The complaint that overturned the decision.
    pub complaint: i64,
}

impl Case {
    /// Who holds the case at `now`, if anyone.
    pub fn holder(&self, now: Millis) -> Option<&str> {
        self.lease.as_ref().filter(|(_, until)| *until > now).map(|(who, _)| who.as_str())
    }
}

/// What [`transition`] decides a decision does to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// The state after.
    pub state: CaseState,
    /// The queue after.
    pub queue: String,
    /// Whether the case is decided by it (and then with what).
    pub closes: bool,
}

/// What a decision by `person` does to `case` (pure; the stores call it in the transaction
/// that records the decision). `four_eyes`: a bank the case matched asks for two reviewers.
pub fn transition(case: &Case, person: &str, d: &NewDecision, four_eyes: bool) -> Result<Next> {
    let verdict = d.validate(case)?;
    let conflict = |m: String| Err(BankError::Conflict(m));
    if !case.state.is_open() {
        return conflict(format!(
            "case {} was decided already ({}): a decided case takes no further decision",
            case.id, case.state
        ));
    }
    if case.state == CaseState::Following {
        return conflict(format!(
            "case {} is the same content as case {}: it takes that case's decision; decide case {}",
            case.id,
            case.earlier_case.unwrap_or_default(),
            case.earlier_case.unwrap_or_default()
        ));
    }
    let next = |state, queue: &str, closes| Ok(Next { state, queue: queue.to_string(), closes });
    match (case.state, verdict) {
        (CaseState::Escalated, Verdict::Escalate) => {
            conflict(format!("case {} is with the senior queue already", case.id))
        }
        (_, Verdict::Escalate) => next(CaseState::Escalated, SENIOR_QUEUE, false),
        (CaseState::SecondReview, v) => {
            let first =
                case.decisions.iter().rev().find(|x| x.verdict == Verdict::Confirm).ok_or_else(
                    || BankError::Invalid(format!("case {} lost its first review", case.id)),
                )?;
            if first.person == person {
                return conflict(format!(
                    "case {} needs a second reviewer: you made the first confirmation",
                    case.id
                ));
            }
            let agrees = v == Verdict::Confirm
                && first.category == d.category
                && first.industry_class == d.industry_class;
            if agrees {
                next(CaseState::Confirmed, &case.queue, true)
            } else {
                next(CaseState::Escalated, SENIOR_QUEUE, false)
            }
        }
        (CaseState::Queued, Verdict::Confirm) if four_eyes => {
            next(CaseState::SecondReview, &case.queue, false)
        }
        (_, Verdict::Confirm) => next(CaseState::Confirmed, &case.queue, true),
        (_, Verdict::FalsePositive) => next(CaseState::FalsePositive, &case.queue, true),
    }
}

/// The audit record of a person's new starting view.
pub(crate) fn review_view_audit(
    actor: &str,
    user_id: i64,
    view: ReviewView,
) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(actor, "review_view_set", "user", &user_id.to_string())
        .with_details(serde_json::json!({"blur": view.blur, "colour": view.colour}))
}

/// The audit record of a following case decided with its lead's decision.
pub(crate) fn followed_audit(follower: &Case, lead: &Case) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by("system:earlier", "case_decide", "case", &follower.id.to_string())
        .with_details(serde_json::json!({
            "verdict": "followed",
            "state": follower.state.name(),
            "earlier_case": lead.id,
            "category": follower.category.map(|c| c.name()),
        }))
}

/// How decided cases came out for matches of one bank, signal type and distance band: the
/// error rates of real decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The bank.
    pub bank: String,
    /// The signal type that matched.
    #[serde(serialize_with = "ser_signal_type")]
    pub signal_type: SignalType,
    /// `exact` for digests, `video` for vPDQ; for PDQ `0`, `1-10`, `11-20`, `21-31` or `32+`
    /// bits.
    pub band: String,
    /// Confirmed by people.
    pub confirmed_reviewed: u64,
    /// Confirmed by the banks' rules, no person viewing.
    pub confirmed_auto: u64,
    /// Found to be false positives (in review, or later on complaint).
    pub false_positive: u64,
    /// Of those, found on complaint: confirmed first, reversed when the person affected
    /// complained.
    pub false_positive_on_complaint: u64,
}

impl Outcome {
    /// False positives as a share of decided matches (0 when none).
    pub fn false_positive_ratio(&self) -> f64 {
        let all = self.confirmed_reviewed + self.confirmed_auto + self.false_positive;
        if all == 0 {
            0.0
        } else {
            self.false_positive as f64 / all as f64
        }
    }
}

/// The `SELECT` both stores run for [`Cases::case_outcomes`]; `{b}` and `{e}` are the
/// placeholders of the bank name and the entry id.
pub(crate) fn outcomes_sql(b: &str, e: &str) -> String {
    format!(
        "SELECT bk.name, m.signal_type,
                CASE WHEN m.signal_type = 'vpdq' THEN 'video'
                     WHEN m.signal_type <> 'pdq' THEN 'exact'
                     WHEN m.distance = 0 THEN '0'
                     WHEN m.distance <= 10 THEN '1-10'
                     WHEN m.distance <= 20 THEN '11-20'
                     WHEN m.distance <= 31 THEN '21-31'
                     ELSE '32+' END AS band,
                SUM(CASE WHEN c.state = 'confirmed' AND c.resolution <> 'auto' THEN 1 ELSE 0 END),
                SUM(CASE WHEN c.state = 'confirmed' AND c.resolution = 'auto' THEN 1 ELSE 0 END),
                SUM(CASE WHEN c.state = 'false_positive' THEN 1 ELSE 0 END),
                SUM(CASE WHEN c.state = 'false_positive' AND c.reversed_at IS NOT NULL
                         THEN 1 ELSE 0 END)
         FROM case_matches m
         JOIN cases c ON c.id = m.case_id
         JOIN banks bk ON bk.id = m.bank_id
         WHERE c.decided_at IS NOT NULL AND ({b} IS NULL OR bk.name = {b})
           AND ({e} IS NULL OR m.entry_id = {e})
         GROUP BY bk.name, m.signal_type, band
         ORDER BY bk.name, m.signal_type, band"
    )
}

/// An [`Outcome`] from its row.
pub(crate) fn outcome_from(
    (bank, t, band, reviewed, auto, fp, reversed): (String, String, String, i64, i64, i64, i64),
) -> Result<Outcome> {
    Ok(Outcome {
        bank,
        signal_type: t.parse().map_err(|e| {
            BankError::Invalid(format!("the database holds a bad signal type: {e}"))
        })?,
        band,
        confirmed_reviewed: reviewed.max(0) as u64,
        confirmed_auto: auto.max(0) as u64,
        false_positive: fp.max(0) as u64,
        false_positive_on_complaint: reversed.max(0) as u64,
    })
}

/// A decided case's PDQ: when it was decided, the case, the hash.
pub type DecidedPdq = (Millis, i64, [u8; 32]);

/// Which cases to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseQuery {
    /// Only cases in this state.
    pub state: Option<CaseState>,
    /// Only cases submitted by this actor.
    pub submitter: Option<String>,
    /// Cases with id above this.
    pub after: i64,
    /// At most this many.
    pub limit: usize,
}

/// Longest page of cases.
pub const MAX_CASE_PAGE: usize = 500;

/// Checks a queue name: 1–32 characters `a-z0-9_-`.
pub fn check_queue(q: &str) -> Result<()> {
    let ok = !q.is_empty()
        && q.len() <= 32
        && q.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(BankError::Invalid(format!(
            "invalid queue name {q:?}: use 1-32 characters from a-z, 0-9, '_' and '-'"
        )))
    }
}

/// A message for another system, stored in the outbox in the same transaction as the case
/// change it tells of: it is never lost when the change is kept, never stored when it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The outbox topic (`case_decided`).
    pub topic: String,
    /// What makes it unique: a message whose key is in the outbox already is not stored again.
    pub dedupe_key: String,
    /// Where it goes (a URL).
    pub target: String,
    /// What is sent.
    pub payload: String,
    /// Not sent before this time (a user notice held by "do not inform").
    pub not_before: Option<Millis>,
}

/// What a case just made or decided sets going, stored in the same transaction as the change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Messages for the outbox (the submitter's webhook).
    pub messages: Vec<Message>,
    /// Reports the case goes into ([`crate::reports`]).
    pub reports: Vec<crate::reports::ReportRequest>,
}

impl From<Option<Message>> for Effects {
    fn from(m: Option<Message>) -> Self {
        Effects { messages: m.into_iter().collect(), reports: Vec::new() }
    }
}

/// Says what a case just made or decided sets going: the submitter's webhook message, reports.
pub type Notify<'a> = &'a (dyn Fn(&Case) -> Effects + Sync);

/// The [`Notify`] that sets nothing going.
pub fn silent(_: &Case) -> Effects {
    Effects::default()
}

/// Weakest blur step (none); the strongest is [`STRONGEST_BLUR`].
pub const STRONGEST_BLUR: u8 = 4;

/// A reviewer's starting view of a case's picture: what the first picture of each case they
/// take is made with, before they reveal more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReviewView {
    /// Blur step, [`STRONGEST_BLUR`] (the default) to 0 (none).
    pub blur: u8,
    /// Colour shown (default: greyscale).
    pub colour: bool,
}

impl Default for ReviewView {
    fn default() -> Self {
        ReviewView { blur: STRONGEST_BLUR, colour: false }
    }
}

impl ReviewView {
    /// Checks the blur step.
    pub fn check(&self) -> Result<()> {
        if self.blur > STRONGEST_BLUR {
            return Err(BankError::Invalid(format!(
                "blur step {} is out of range: use 0 (none) to {STRONGEST_BLUR} (strongest)",
                self.blur
            )));
        }
        Ok(())
    }
}

/// What every store does with cases.
pub trait Cases {
    /// Makes a case (and its `case_create` audit record, in the same transaction).
    fn create_case(&self, new: &NewCase) -> Result<Case> {
        Ok(self.create_cases(std::slice::from_ref(new))?.remove(0))
    }
    /// Makes several cases in ONE transaction, each with its audit record (a submission burst
    /// pays one commit): all of them or, when one is refused, none.
    fn create_cases(&self, new: &[NewCase]) -> Result<Vec<Case>> {
        self.create_cases_notifying(new, &silent)
    }
    /// [`Cases::create_cases`], storing in the same transaction the outbox message `notify`
    /// gives for each case made (a case decided at once: auto-confirmed, or decided before).
    fn create_cases_notifying(&self, new: &[NewCase], notify: Notify<'_>) -> Result<Vec<Case>>;
    /// One case, with its matches and decisions.
    fn case(&self, id: i64) -> Result<Case>;
    /// Cases by id, with their matches and decisions.
    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>>;
    /// The starting view of the person with this user id ([`ReviewView::default`] when they
    /// set none).
    fn review_view(&self, user_id: i64) -> Result<ReviewView>;
    /// Sets a person's starting view; `actor` (`user:NAME`) is recorded (`review_view_set`).
    fn set_review_view(
        &self,
        user_id: i64,
        actor: &str,
        view: ReviewView,
        now: Millis,
    ) -> Result<()>;
    /// "Review next": the case `person` holds in `queue` if any (its lease renewed), else the
    /// oldest open case of `queue` no one holds and `person` has not reviewed, claimed for
    /// `lease_ms` (audited `case_claim`); `None` when the queue is empty.
    fn claim_next_case(
        &self,
        queue: &str,
        person: &str,
        now: Millis,
        lease_ms: Millis,
    ) -> Result<Option<Case>>;
    /// Gives a held case back to its queue (audited `case_release`).
    fn release_case(&self, id: i64, person: &str, now: Millis) -> Result<Case>;
    /// Records a decision (audited `case_decide`). With `require_lease` the person must hold
    /// the case; without, no one else may hold it.
    fn decide_case(
        &self,
        id: i64,
        person: &str,
        decision: &NewDecision,
        now: Millis,
        require_lease: bool,
    ) -> Result<Case> {
        self.decide_case_notifying(id, person, decision, now, require_lease, &silent)
    }
    /// [`Cases::decide_case`], storing in the same transaction the outbox message `notify`
    /// gives for the case as decided.
    fn decide_case_notifying(
        &self,
        id: i64,
        person: &str,
        decision: &NewDecision,
        now: Millis,
        require_lease: bool,
        notify: Notify<'_>,
    ) -> Result<Case>;
    /// Sets (or, with `None`, lifts) "do not inform" on a case: its user notice is held until
    /// `until` (an authority's request, `reason` recorded; audited `case_no_inform`). A notice
    /// waiting in the outbox is held too, in the same transaction.
    fn set_no_inform(
        &self,
        id: i64,
        until: Option<Millis>,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<Case>;
    /// The open case (queued, in second review or escalated; never a following one) whose
    /// content has this SHA-256, the oldest if several.
    fn open_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<i64>>;
    /// The newest decided case whose content has this SHA-256.
    fn decided_case_by_sha256(&self, sha256: &[u8; 32]) -> Result<Option<Case>>;
    /// Decided cases' PDQ hashes in the order they were decided: those decided after `(at,
    /// id)` (time, then case id), at most `limit`, as `(decided_at, id, pdq)` (to keep an index
    /// of decided content; a reader re-reads a few seconds back, because decisions of several
    /// replicas commit in an order their times do not quite follow).
    fn decided_pdqs(&self, at: Millis, id: i64, limit: usize) -> Result<Vec<DecidedPdq>>;
    /// Open cases per queue and state.
    fn open_case_counts(&self) -> Result<Vec<(String, CaseState, u64)>>;
    /// How decided cases came out, per bank, signal type and distance band; only `bank`'s, or
    /// only matches of `entry`, when given.
    fn case_outcomes(&self, bank: Option<&str>, entry: Option<i64>) -> Result<Vec<Outcome>>;
    /// Decided cases decided before `decided_before` that still name held media, oldest
    /// first: `(case, media id)`. A case in a report its receiver has not taken yet (pending,
    /// under way or dead) is not listed: its content is what the report sends.
    /// A case under a legal hold in force at `now`, or with an open complaint, is not listed.
    fn media_to_purge(
        &self,
        decided_before: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(i64, String)>>;
    /// Records that a case's held media is gone (its media id cleared, the time kept).
    fn media_purged(&self, id: i64, at: Millis) -> Result<()>;
}

/// The audit record of a decision.
pub(crate) fn decision_audit(person: &str, case: &Case, d: &NewDecision) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(person, "case_decide", "case", &case.id.to_string()).with_details(
        serde_json::json!({
            "verdict": d.verdict.map(|v| v.name()),
            "state": case.state.name(),
            "queue": case.queue,
            "category": d.category.map(|c| c.name()),
            "industry_class": d.industry_class.map(|c| c.name()),
            "annotations": d.annotations.iter().map(|a| a.name()).collect::<Vec<_>>(),
            "entry_id": d.entry_id,
        }),
    )
}

/// The outbox dedupe key of a case's user notice.
pub fn notice_key(case: i64) -> String {
    format!("user_notice:{case}")
}

/// Checks a "do not inform" request.
pub(crate) fn check_no_inform(until: Option<Millis>, reason: &str, now: Millis) -> Result<()> {
    check_until(
        until,
        ("the reason", reason),
        now,
        "\"do not inform\" needs a reason, set or lifted: name the authority and its request",
        "\"do not inform\" needs an end in the future",
    )
}

/// Checks a hold on a case that lasts until a time ("do not inform", a legal hold): a reason,
/// whether it is set or lifted, and an end in the future; `no_reason` and `past` say what is
/// wrong.
pub(crate) fn check_until(
    until: Option<Millis>,
    (field, reason): (&str, &str),
    now: Millis,
    no_reason: &str,
    past: &str,
) -> Result<()> {
    crate::model::check_text(field, reason, MAX_NOTE).map_err(BankError::Invalid)?;
    if reason.trim().is_empty() {
        return Err(BankError::Invalid(no_reason.into()));
    }
    if until.is_some_and(|t| t <= now) {
        return Err(BankError::Invalid(past.into()));
    }
    Ok(())
}

/// The audit record of "do not inform" set or lifted.
pub(crate) fn no_inform_audit(actor: &str, case: &Case) -> spoor_audit::NewRecord {
    spoor_audit::NewRecord::by(actor, "case_no_inform", "case", &case.id.to_string()).with_details(
        serde_json::json!({
            "until": case.no_inform.as_ref().map(|(t, _)| crate::model::format_time(*t)),
            "reason": case.no_inform.as_ref().map(|(_, r)| r.clone()),
        }),
    )
}

/// The audit record of a new case.
pub(crate) fn create_audit(case: &Case) -> spoor_audit::NewRecord {
    let banks: std::collections::BTreeSet<&str> =
        case.matches.iter().map(|m| m.bank.as_str()).collect();
    spoor_audit::NewRecord::by(&case.submitter, "case_create", "case", &case.id.to_string())
        .with_details(serde_json::json!({
            "reason": case.meta.reason.map(|r| r.name()),
            "state": case.state.name(),
            "queue": case.queue,
            "resolution": case.resolution.map(|r| r.name()),
            "earlier_case": case.earlier_case,
            "media": case.media_kind.name(),
            "matches": case.matches.len(),
            "banks": banks,
        }))
}

/// Checks who may decide a case now.
pub(crate) fn check_holder(case: &Case, person: &str, now: Millis, require: bool) -> Result<()> {
    match case.holder(now) {
        Some(h) if h == person => Ok(()),
        Some(_) if case.state.is_open() => Err(BankError::Conflict(format!(
            "case {} is held by another reviewer: take the next case instead",
            case.id
        ))),
        None if require && case.state.is_open() => Err(BankError::Conflict(format!(
            "case {} is not held by you: claim it with \"review next\" first (a claim lasts 15 \
             minutes)",
            case.id
        ))),
        _ => Ok(()),
    }
}

/// Checks a new case before it is written.
pub(crate) fn check_new(new: &NewCase) -> Result<()> {
    crate::check_actor(&new.submitter)?;
    new.meta.validate()?;
    if let Start::Queue(q) = &new.start {
        check_queue(q)?;
    }
    if new.media.is_some() && new.media_kind == MediaKind::None {
        return Err(BankError::Invalid("a case with media needs its media kind".into()));
    }
    if new.matches.is_empty() && new.meta.reason != Some(CaseReason::UserFlag) {
        return Err(BankError::Invalid(
            "a case needs a match or a user flag: nothing matched and the reason is not user_flag"
                .into(),
        ));
    }
    Ok(())
}

/// Parses an enum stored as text, as a store error when the database holds something else.
pub(crate) fn parse_stored<T: FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(|e: String| BankError::Invalid(format!("the database holds {e}")))
}

/// Annotations to and from their stored JSON array.
pub(crate) fn annotations_text(a: &[Annotation]) -> Option<String> {
    (!a.is_empty())
        .then(|| serde_json::to_string(&a.iter().map(|a| a.name()).collect::<Vec<_>>()).ok())
        .flatten()
}

/// See [`annotations_text`].
pub(crate) fn annotations_from(text: Option<String>) -> Result<Vec<Annotation>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let names: Vec<String> = serde_json::from_str(&text)
        .map_err(|e| BankError::Invalid(format!("the database holds bad annotations: {e}")))?;
    names.iter().map(|n| parse_stored(n)).collect()
}

fn ser_signal_type<S: serde::Serializer>(
    t: &SignalType,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

fn opt<T: FromStr<Err = String>>(v: Option<String>) -> Result<Option<T>> {
    v.map(|s| parse_stored(&s)).transpose()
}

fn ser_time<S: serde::Serializer>(ms: &Millis, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*ms))
}

/// Copies a fixed-size digest out of stored bytes.
pub(crate) fn fixed<const N: usize>(v: Option<Vec<u8>>) -> Result<Option<[u8; N]>> {
    v.map(|v| {
        <[u8; N]>::try_from(v.as_slice()).map_err(|_| {
            BankError::Invalid(format!("the database holds a {}-byte digest, not {N}", v.len()))
        })
    })
    .transpose()
}

/// The columns of `cases` every store reads, in the order of [`RawCase`].
pub(crate) const CASE_COLUMNS: &str = "id, created_at, submitter, reason, service, content_ref, \
     uploader_ref, uploaded_at, upload_ip, media_kind, media_id, media_bytes, media_purged_at, \
     md5, sha1, sha256, pdq, pdq_quality, state, queue, lease_holder, lease_until, resolution, \
     earlier_case, category, industry_class, annotations, decided_at, decided_by, \
     publicly_available, no_inform_until, no_inform_reason, reversed_at, reversed_by, \
     reversed_complaint, hold_until, hold_reason, hold_by, personal_purged_at";

/// A `cases` row as both stores read it (columns of [`CASE_COLUMNS`]).
pub(crate) struct RawCase {
    pub id: i64,
    pub created_at: Millis,
    pub submitter: String,
    pub reason: Option<String>,
    pub service: Option<String>,
    pub content_ref: Option<String>,
    pub uploader_ref: Option<String>,
    pub uploaded_at: Option<Millis>,
    pub upload_ip: Option<String>,
    pub media_kind: String,
    pub media_id: Option<String>,
    pub media_bytes: Option<i64>,
    pub media_purged_at: Option<Millis>,
    pub md5: Option<Vec<u8>>,
    pub sha1: Option<Vec<u8>>,
    pub sha256: Option<Vec<u8>>,
    pub pdq: Option<Vec<u8>>,
    pub pdq_quality: Option<i64>,
    pub state: String,
    pub queue: String,
    pub lease_holder: Option<String>,
    pub lease_until: Option<Millis>,
    pub resolution: Option<String>,
    pub earlier_case: Option<i64>,
    pub category: Option<String>,
    pub industry_class: Option<String>,
    pub annotations: Option<String>,
    pub decided_at: Option<Millis>,
    pub decided_by: Option<String>,
    pub publicly_available: Option<bool>,
    pub no_inform_until: Option<Millis>,
    pub no_inform_reason: Option<String>,
    pub reversed_at: Option<Millis>,
    pub reversed_by: Option<String>,
    pub reversed_complaint: Option<i64>,
    pub hold_until: Option<Millis>,
    pub hold_reason: Option<String>,
    pub hold_by: Option<String>,
    pub personal_purged_at: Option<Millis>,
}

impl RawCase {
    /// The case, without its matches and decisions.
    pub(crate) fn into_case(self) -> Result<Case> {
        Ok(Case {
            id: self.id,
            created_at: self.created_at,
            submitter: self.submitter,
            meta: CaseMeta {
                reason: opt(self.reason)?,
                service: self.service,
                content_ref: self.content_ref,
                uploader_ref: self.uploader_ref,
                uploaded_at: self.uploaded_at,
                upload_ip: self.upload_ip,
                publicly_available: self.publicly_available,
            },
            media_kind: parse_stored(&self.media_kind)?,
            media: match (self.media_id, self.media_bytes) {
                (Some(id), Some(bytes)) => Some(CaseMedia { id, bytes: bytes.max(0) as u64 }),
                _ => None,
            },
            media_purged_at: self.media_purged_at,
            signals: CaseSignals {
                md5: fixed(self.md5)?,
                sha1: fixed(self.sha1)?,
                sha256: fixed(self.sha256)?,
                pdq: fixed(self.pdq)?,
                pdq_quality: self.pdq_quality.map(|q| q.clamp(0, 100) as u8),
            },
            state: parse_stored(&self.state)?,
            queue: self.queue,
            lease: self.lease_holder.zip(self.lease_until),
            resolution: opt(self.resolution)?,
            earlier_case: self.earlier_case,
            category: self.category.map(|c| c.parse().map_err(BankError::Invalid)).transpose()?,
            industry_class: opt(self.industry_class)?,
            annotations: annotations_from(self.annotations)?,
            decided_at: self.decided_at,
            decided_by: self.decided_by,
            matches: Vec::new(),
            decisions: Vec::new(),
            no_inform: self.no_inform_until.map(|t| (t, self.no_inform_reason.unwrap_or_default())),
            reversal: match (self.reversed_at, self.reversed_complaint) {
                (Some(at), Some(complaint)) => {
                    Some(Reversal { at, by: self.reversed_by.unwrap_or_default(), complaint })
                }
                _ => None,
            },
            hold: self.hold_until.map(|until| crate::retention::LegalHold {
                until,
                reason: self.hold_reason.unwrap_or_default(),
                by: self.hold_by.unwrap_or_default(),
            }),
            personal_purged_at: self.personal_purged_at,
        })
    }
}

/// A `case_decisions` row as both stores read it.
pub(crate) struct RawDecision {
    pub id: i64,
    pub at: Millis,
    pub person: String,
    pub verdict: String,
    pub category: Option<String>,
    pub industry_class: Option<String>,
    pub annotations: Option<String>,
    pub entry_id: Option<i64>,
    pub note: String,
}

impl RawDecision {
    pub(crate) fn into_decision(self) -> Result<Decision> {
        Ok(Decision {
            id: self.id,
            at: self.at,
            person: self.person,
            verdict: parse_stored(&self.verdict)?,
            category: self.category.map(|c| c.parse().map_err(BankError::Invalid)).transpose()?,
            industry_class: self.industry_class.map(|c| parse_stored(&c)).transpose()?,
            annotations: annotations_from(self.annotations)?,
            entry_id: self.entry_id,
            note: self.note,
        })
    }
}

/// What a new case's row holds, from how it starts: state, queue, resolution, earlier case,
/// classification, decided by.
pub(crate) struct Opening {
    pub state: CaseState,
    pub queue: String,
    pub resolution: Option<Resolution>,
    pub earlier: Option<i64>,
    pub category: Option<Category>,
    pub industry_class: Option<IndustryClass>,
    pub annotations: Vec<Annotation>,
    pub decided_by: Option<&'static str>,
}

impl Opening {
    /// `earlier`: the earlier case, read in the same transaction, when the case starts with
    /// its decision.
    pub(crate) fn of(start: &Start, earlier: Option<&Case>) -> Result<Opening> {
        Ok(match start {
            Start::Queue(q) => Opening {
                state: CaseState::Queued,
                queue: q.clone(),
                resolution: None,
                earlier: None,
                category: None,
                industry_class: None,
                annotations: Vec::new(),
                decided_by: None,
            },
            Start::AutoConfirm { category } => Opening {
                state: CaseState::Confirmed,
                queue: MAIN_QUEUE.into(),
                resolution: Some(Resolution::Auto),
                earlier: None,
                category: *category,
                industry_class: None,
                annotations: Vec::new(),
                decided_by: Some("system:auto"),
            },
            Start::Follow(id) if earlier.is_some_and(|e| e.state.is_open()) => {
                let e = earlier.expect("checked");
                Opening {
                    state: CaseState::Following,
                    queue: e.queue.clone(),
                    resolution: None,
                    // A lead never follows: one that does is followed through its own lead.
                    earlier: Some(if e.state == CaseState::Following {
                        e.earlier_case.ok_or(BankError::NoSuchCase(*id))?
                    } else {
                        *id
                    }),
                    category: None,
                    industry_class: None,
                    annotations: Vec::new(),
                    decided_by: None,
                }
            }
            Start::Earlier(id) | Start::Follow(id) => {
                let e = earlier.ok_or(BankError::NoSuchCase(*id))?;
                if e.state.is_open() {
                    return Err(BankError::Conflict(format!(
                        "case {id} is not decided: a new case can take only a decided case's \
                         decision"
                    )));
                }
                Opening {
                    state: e.state,
                    queue: e.queue.clone(),
                    resolution: Some(Resolution::Earlier),
                    earlier: Some(*id),
                    category: e.category,
                    industry_class: e.industry_class,
                    annotations: e.annotations.clone(),
                    decided_by: Some("system:earlier"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(state: CaseState) -> Case {
        Case {
            id: 7,
            created_at: 0,
            submitter: "key:hoster".into(),
            meta: CaseMeta::default(),
            media_kind: MediaKind::Image,
            media: None,
            media_purged_at: None,
            signals: CaseSignals::default(),
            state,
            queue: MAIN_QUEUE.into(),
            lease: None,
            resolution: None,
            earlier_case: None,
            category: None,
            industry_class: None,
            annotations: vec![],
            decided_at: None,
            decided_by: None,
            matches: vec![CaseMatch {
                bank: "B".into(),
                entry_id: 3,
                signal_type: SignalType::Pdq,
                distance: 20,
            }],
            decisions: vec![],
            no_inform: None,
            reversal: None,
            hold: None,
            personal_purged_at: None,
        }
    }

    fn confirm(c: Category) -> NewDecision {
        NewDecision { verdict: Some(Verdict::Confirm), category: Some(c), ..Default::default() }
    }

    #[test]
    fn decisions_are_checked_against_their_case() {
        let c = case(CaseState::Queued);
        let fp = |id| NewDecision {
            verdict: Some(Verdict::FalsePositive),
            entry_id: id,
            ..Default::default()
        };
        assert!(fp(Some(3)).validate(&c).is_ok());
        assert!(fp(Some(4)).validate(&c).unwrap_err().to_string().contains("did not match"));
        assert!(fp(None).validate(&c).is_err());
        assert!(NewDecision { verdict: Some(Verdict::Confirm), ..Default::default() }
            .validate(&c)
            .unwrap_err()
            .to_string()
            .contains("classification"));
        assert!(NewDecision::default().validate(&c).is_err());
        let twice = NewDecision {
            annotations: vec![Annotation::Infant, Annotation::Infant],
            ..confirm(Category::Baseline)
        };
        assert!(twice.validate(&c).unwrap_err().to_string().contains("twice"));
        let esc = NewDecision { category: Some(Category::Baseline), ..fp(None) };
        assert!(NewDecision { verdict: Some(Verdict::Escalate), ..esc }.validate(&c).is_err());
    }

    #[test]
    fn four_eyes_needs_two_people_who_agree() {
        let mut c = case(CaseState::Queued);
        let first = transition(&c, "user:a", &confirm(Category::Baseline), true).unwrap();
        assert_eq!(first.state, CaseState::SecondReview);
        assert!(!first.closes);
        c.state = CaseState::SecondReview;
        c.decisions.push(Decision {
            id: 1,
            at: 0,
            person: "user:a".into(),
            verdict: Verdict::Confirm,
            category: Some(Category::Baseline),
            industry_class: None,
            annotations: vec![],
            entry_id: None,
            note: String::new(),
        });
        let same = transition(&c, "user:a", &confirm(Category::Baseline), true);
        assert!(matches!(same, Err(BankError::Conflict(_))));
        let agree = transition(&c, "user:b", &confirm(Category::Baseline), true).unwrap();
        assert_eq!((agree.state, agree.closes), (CaseState::Confirmed, true));
        let differ = transition(&c, "user:b", &confirm(Category::National), true).unwrap();
        assert_eq!((differ.state, differ.queue.as_str()), (CaseState::Escalated, SENIOR_QUEUE));
        let fp = NewDecision {
            verdict: Some(Verdict::FalsePositive),
            entry_id: Some(3),
            ..Default::default()
        };
        assert_eq!(transition(&c, "user:b", &fp, true).unwrap().state, CaseState::Escalated);
    }

    #[test]
    fn decided_cases_take_no_decision() {
        for s in [CaseState::Confirmed, CaseState::FalsePositive] {
            let r = transition(&case(s), "user:a", &confirm(Category::Baseline), false);
            assert!(matches!(r, Err(BankError::Conflict(_))), "{s}");
        }
        let c = case(CaseState::Queued);
        assert_eq!(
            transition(&c, "user:a", &confirm(Category::Baseline), false).unwrap().state,
            CaseState::Confirmed
        );
        let esc = NewDecision { verdict: Some(Verdict::Escalate), ..Default::default() };
        assert_eq!(transition(&c, "user:a", &esc, false).unwrap().queue, SENIOR_QUEUE);
        let c = case(CaseState::Escalated);
        assert!(transition(&c, "user:a", &esc, false).is_err());
        assert!(transition(&c, "user:a", &confirm(Category::National), true).unwrap().closes);
    }

    #[test]
    fn names_round_trip() {
        for v in Annotation::ALL {
            assert_eq!(v.name().parse::<Annotation>().unwrap(), *v);
        }
        assert!("A3".parse::<IndustryClass>().unwrap_err().contains("A1, A2, B1, B2"));
        let json = serde_json::to_string(&Annotation::GenerativeAi).unwrap();
        assert_eq!(json, "\"generativeAi\"");
        assert_eq!(serde_json::to_string(&IndustryClass::B1).unwrap(), "\"B1\"");
    }
}
