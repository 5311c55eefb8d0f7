//! The EU Centre report: a versioned JSON document with one field per point of Art. 13(1) of the
//! CSA Regulation proposal (COM(2022) 209), and its detached Ed25519 signature.
//!
//! Article numbers will move in the final text, so the mapping from points to fields lives in
//! one place, [`POINTS`]: each entry names the point, the document field, what the point asks
//! for, and builds the field's value. [`document`] is that table applied to the facts; the schema
//! ([`SCHEMA`]) requires exactly these fields.
//!
//! Spoor sends hashes and references, never the media itself: point (c) says so with
//! `"media_included": false`. Unknown values are `null`, never left out, so that "not known" and
//! "forgotten" cannot be confused.
//!
//! The signature is a JWS with detached content (RFC 7515 Appendix F) of algorithm `EdDSA` with
//! Ed25519 (RFC 8037): `BASE64URL(header)..BASE64URL(signature)`, the header being
//! `{"alg":"EdDSA","kid":…}` and the signing input `BASE64URL(header) '.' BASE64URL(body)` over
//! the exact bytes sent. The report's UUID (`report_id`) is the delivery's idempotency key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use spoor_core::{Hash256, Md5, Sha1, Sha256};

use crate::{present, FileFacts, Provider, ReportError, ReportFacts};

/// The document version carried in the document (`"version"`).
pub const VERSION: &str = "1";

/// The JSON Schema (draft 2020-12) of version [`VERSION`] of the document.
pub const SCHEMA: &str = include_str!("../schemas/eu-report-v1.schema.json");

/// The JSON Schema (draft 2020-12) of version 1 of the follow-up document ([`follow_up`]).
pub const FOLLOW_UP_SCHEMA: &str = include_str!("../schemas/eu-follow-up-v1.schema.json");

/// The text that the points of [`POINTS`] refer to.
pub const POINTS_OF: &str =
    "Proposal for a Regulation laying down rules to prevent and combat child sexual abuse, COM(2022) 209, Article 13(1)";

/// What the builders of [`POINTS`] read.
struct Input<'a> {
    facts: &'a ReportFacts,
    provider: &'a Provider,
    now_ms: i64,
}

/// One point of Art. 13(1) and the document field that answers it.
pub struct Point {
    /// The point, as cited: `"13(1)(a)"`.
    pub article: &'static str,
    /// The top-level field of the document that answers it.
    pub field: &'static str,
    /// What the point asks for, in the proposal's words (shortened).
    pub asks: &'static str,
    build: fn(&Input) -> Value,
}

/// The mapping from the points of Art. 13(1) to the document's fields: the one place to change
/// when the final text renumbers them.
pub const POINTS: [Point; 11] = [
    Point {
        article: "13(1)(a)",
        field: "provider",
        asks: "identification details of the provider and, where applicable, its legal representative",
        build: provider,
    },
    Point {
        article: "13(1)(b)",
        field: "issued",
        asks: "the date, time stamp and electronic signature of the provider",
        build: issued,
    },
    Point {
        article: "13(1)(c)",
        field: "content",
        asks: "all content data, including images, videos and text",
        build: content,
    },
    Point {
        article: "13(1)(d)",
        field: "other_data",
        asks: "all other available data related to the potential online child sexual abuse",
        build: other_data,
    },
    Point {
        article: "13(1)(e)",
        field: "material",
        asks: "whether the potential abuse concerns known or new child sexual abuse material or the solicitation of children",
        build: material,
    },
    Point {
        article: "13(1)(f)",
        field: "location",
        asks: "information concerning the geographic location related to the potential abuse, such as the IP address",
        build: location,
    },
    Point {
        article: "13(1)(g)",
        field: "user",
        asks: "information concerning the identity of any user involved",
        build: user,
    },
    Point {
        article: "13(1)(h)",
        field: "reported_elsewhere",
        asks: "whether the provider has also reported it to a public authority or other entity of a third country, and which",
        build: reported_elsewhere,
    },
    Point {
        article: "13(1)(i)",
        field: "removal",
        asks: "where it concerns material, whether the provider has removed or disabled access to it",
        build: removal,
    },
    Point {
        article: "13(1)(j)",
        field: "urgent",
        asks: "whether the provider considers that the report requires urgent action",
        build: urgent,
    },
    Point {
        article: "13(1)(k)",
        field: "legal_basis",
        asks: "a reference to this Regulation as the legal basis for reporting",
        build: legal_basis,
    },
];

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// RFC 3339 with milliseconds, or `null` for a time no date can hold.
fn time(ms: i64) -> Value {
    crate::rfc3339("time", ms, true).map_or(Value::Null, Value::String)
}

fn per_file(input: &Input, f: impl Fn(&FileFacts) -> Map<String, Value>) -> Value {
    Value::Array(
        input
            .facts
            .files
            .iter()
            .map(|file| {
                let mut m = Map::new();
                m.insert("case_id".into(), json!(file.case_id));
                m.extend(f(file));
                Value::Object(m)
            })
            .collect(),
    )
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("builders pass objects"),
    }
}

fn provider(input: &Input) -> Value {
    provider_of(input.provider)
}

fn provider_of(p: &Provider) -> Value {
    json!({
        "name": p.name,
        "address": p.address,
        "contact_email": p.contact_email,
        "legal_representative": opt(present(&p.legal_representative)),
    })
}

fn issued(input: &Input) -> Value {
    issued_at(input.now_ms)
}

fn issued_at(now_ms: i64) -> Value {
    json!({
        "at": time(now_ms),
        "signature": {"form": "jws-detached", "alg": "EdDSA"},
    })
}

fn content(input: &Input) -> Value {
    per_file(input, |file| {
        object(json!({
            "content_ref": opt(present(&file.content_ref)),
            "file_name": opt(present(&file.file_name)),
            "media_included": false,
            "hashes": {
                "md5": file.md5.map(|h| Md5(h).to_string()),
                "sha1": file.sha1.map(|h| Sha1(h).to_string()),
                "sha256": file.sha256.map(|h| Sha256(h).to_string()),
                "pdq": file.pdq.map(|h| Hash256::from_bytes(h).to_string()),
            },
        }))
    })
}

fn other_data(input: &Input) -> Value {
    per_file(input, |file| {
        object(json!({
            "uploaded_at": file.uploaded_at.map_or(Value::Null, time),
            "decided_at": time(file.decided_at),
            "viewed_by_person": file.viewed_by_person,
            "publicly_available": file.publicly_available,
            "industry_class": file.industry_class,
            "annotations": file.annotations,
        }))
    })
}

fn material(input: &Input) -> Value {
    per_file(input, |file| {
        object(json!({
            "kind": if file.known { "known_csam" } else { "new_csam" },
            "category": file.category,
        }))
    })
}

fn location(input: &Input) -> Value {
    Value::Array(
        input
            .facts
            .files
            .iter()
            .filter_map(|file| {
                file.upload_ip.map(|ip| {
                    json!({
                        "case_id": file.case_id,
                        "ip": ip.to_string(),
                        "event": "upload",
                        "at": file.uploaded_at.map_or(Value::Null, time),
                    })
                })
            })
            .collect(),
    )
}

fn user(input: &Input) -> Value {
    json!({
        "service": opt(present(&input.facts.service)),
        "uploader_ref": opt(present(&input.facts.uploader_ref)),
    })
}

fn reported_elsewhere(input: &Input) -> Value {
    json!(input.facts.reported_elsewhere)
}

fn removal(input: &Input) -> Value {
    per_file(input, |file| object(json!({ "removed": file.removed })))
}

fn urgent(input: &Input) -> Value {
    json!(input.facts.urgent)
}

fn legal_basis(input: &Input) -> Value {
    json!(input.provider.legal_basis)
}

/// Checks the provider configuration: name, address, contact address and legal basis are given
/// (the schema requires them). Call it when the configuration is loaded.
pub fn check_provider(provider: &Provider) -> Result<(), ReportError> {
    for (field, value) in [
        ("provider name", &provider.name),
        ("provider address", &provider.address),
        ("provider contact_email", &provider.contact_email),
        ("provider legal_basis", &provider.legal_basis),
    ] {
        if value.trim().is_empty() {
            return Err(ReportError::Invalid {
                field: field.into(),
                reason: "it is empty; set it in the EU Centre configuration".into(),
            });
        }
    }
    if !provider.contact_email.contains('@') {
        return Err(ReportError::Invalid {
            field: "provider contact_email".into(),
            reason: format!("{:?} is not an email address", provider.contact_email),
        });
    }
    Ok(())
}

/// The EU Centre report document: `version`, `report_id` (Spoor's report UUID, the idempotency
/// key) and one field per point of [`POINTS`]. It cannot fail: values are written as given, so
/// call [`crate::validate`] first; a time outside the years 1–9999 is written as `null`.
pub fn document(facts: &ReportFacts, provider: &Provider, now_ms: i64) -> Value {
    let input = Input { facts, provider, now_ms };
    let mut doc = Map::new();
    doc.insert("version".into(), json!(VERSION));
    doc.insert("report_id".into(), json!(facts.report_uuid));
    for point in &POINTS {
        doc.insert(point.field.into(), (point.build)(&input));
    }
    Value::Object(doc)
}

/// A file a follow-up withdraws: its case, the submitter's reference and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawn {
    /// Spoor's case id.
    pub case_id: i64,
    /// The submitter's reference of the content.
    pub content_ref: Option<String>,
    /// MD5 of the content.
    pub md5: Option<[u8; 16]>,
    /// SHA-1 of the content.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the content.
    pub sha256: Option<[u8; 32]>,
    /// PDQ of the content.
    pub pdq: Option<[u8; 32]>,
}

/// What a follow-up says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// Spoor's id of this follow-up (a UUID): the idempotency key of its delivery.
    pub follow_up_id: String,
    /// The `report_id` of the report it follows up.
    pub report_id: String,
    /// The files withdrawn (at least one).
    pub withdrawn: Vec<Withdrawn>,
    /// Whether every file of the report is withdrawn.
    pub report_withdrawn: bool,
    /// Why the decision was reversed.
    pub reason: String,
    /// When the complaint was decided (ms since the epoch).
    pub decided_at: i64,
}

/// The follow-up document telling the receiver of a report that files it named were found
/// not to be child sexual abuse material on complaint (schema [`FOLLOW_UP_SCHEMA`]); signed
/// and sent like a report. Refused without a withdrawn file or a reason.
pub fn follow_up(f: &FollowUp, provider: &Provider, now_ms: i64) -> Result<Value, ReportError> {
    let invalid = |field: &str, reason: &str| ReportError::Invalid {
        field: field.into(),
        reason: reason.into(),
    };
    if f.withdrawn.is_empty() {
        return Err(invalid("withdrawn", "a follow-up withdraws at least one file"));
    }
    if f.reason.trim().is_empty() {
        return Err(invalid("reason", "a follow-up says why the decision was reversed"));
    }
    if f.follow_up_id.is_empty() || f.report_id.is_empty() {
        return Err(invalid("follow_up_id", "a follow-up names itself and its report"));
    }
    let withdrawn: Vec<Value> = f
        .withdrawn
        .iter()
        .map(|w| {
            json!({
                "case_id": w.case_id,
                "content_ref": opt(present(&w.content_ref)),
                "hashes": {
                    "md5": w.md5.map(|h| Md5(h).to_string()),
                    "sha1": w.sha1.map(|h| Sha1(h).to_string()),
                    "sha256": w.sha256.map(|h| Sha256(h).to_string()),
                    "pdq": w.pdq.map(|h| Hash256::from_bytes(h).to_string()),
                },
            })
        })
        .collect();
    Ok(json!({
        "version": VERSION,
        "kind": "reversed_on_complaint",
        "follow_up_id": f.follow_up_id,
        "report_id": f.report_id,
        "provider": provider_of(provider),
        "issued": issued_at(now_ms),
        "withdrawn": withdrawn,
        "report_withdrawn": f.report_withdrawn,
        "reason": f.reason,
        "decided_at": time(f.decided_at),
    }))
}

const MAX_HEADER: usize = 4096;

/// A detached JWS (RFC 7515 Appendix F; `EdDSA`, RFC 8037) over the exact `body` bytes, with
/// `key_id` as its `kid`.
pub fn sign(body: &[u8], key: &SigningKey, key_id: &str) -> String {
    let header = json!({"alg": "EdDSA", "kid": key_id});
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(body));
    let signature = key.sign(input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The JWS's protected header, checked: an object with `"alg": "EdDSA"`, no `crit` and no
/// unencoded payload (`"b64": false`).
fn header(jws: &str) -> Result<(&str, Map<String, Value>, &str), ReportError> {
    let bad = |what: &str| ReportError::MalformedSignature(what.to_string());
    let mut parts = jws.split('.');
    let (Some(h), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("it does not have three parts separated by dots"));
    };
    if !payload.is_empty() {
        return Err(bad("its payload part is not empty (the body travels beside it)"));
    }
    if h.len() > MAX_HEADER {
        return Err(bad("its header is too long"));
    }
    let raw = URL_SAFE_NO_PAD.decode(h).map_err(|_| bad("its header is not base64url"))?;
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&raw) else {
        return Err(bad("its header is not a JSON object"));
    };
    if fields.get("alg") != Some(&json!("EdDSA")) {
        return Err(bad("its header's alg is not EdDSA"));
    }
    if fields.contains_key("crit") {
        return Err(bad("its header has critical extensions this verifier does not know"));
    }
    if fields.get("b64").is_some_and(|b| b != &json!(true)) {
        return Err(bad("its header asks for an unencoded payload"));
    }
    Ok((h, fields, sig))
}

/// The `kid` of a detached JWS made by [`sign`], to pick the key to verify it with.
pub fn key_id(jws: &str) -> Result<String, ReportError> {
    let (_, fields, _) = header(jws)?;
    match fields.get("kid") {
        Some(Value::String(kid)) => Ok(kid.clone()),
        _ => Err(ReportError::MalformedSignature("its header has no kid".to_string())),
    }
}

/// Checks a detached JWS made by [`sign`] against the exact `body` bytes and `key` (strict
/// Ed25519 verification: no malleable signatures, no weak keys).
pub fn verify(body: &[u8], jws: &str, key: &VerifyingKey) -> Result<(), ReportError> {
    let (h, _, sig) = header(jws)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| ReportError::MalformedSignature("its signature is not base64url".into()))?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| {
        ReportError::MalformedSignature("its signature is not 64 bytes long".into())
    })?;
    let signature = ed25519_dalek::Signature::from_bytes(&sig);
    let input = format!("{h}.{}", URL_SAFE_NO_PAD.encode(body));
    key.verify_strict(input.as_bytes(), &signature).map_err(|_| ReportError::BadSignature)
}
