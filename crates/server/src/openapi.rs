//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types.

use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes;
use crate::wire::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Spoor",
        description = "Match media against banks of known abuse material by hash. Only hashes are kept; uploads are hashed in memory and dropped (a video is read by ffmpeg from a private temporary file removed at once), except content a case holds for review, encrypted. Every route but /health, /ready, /metrics and /openapi.json needs `Authorization: Bearer <API key>`; what a key may do depends on its role (admin, curator, matcher, hasher, auditor, reviewer). The key is checked before any request body is read. A matcher key can never read a list: its match answers carry no distances unless the key was made with `--show-distance`, and a key whose queries walk in small steps around earlier ones (probing for a banked hash) is stopped (429).",
    ),
    paths(
        routes::health,
        routes::ready,
        routes::metrics,
        routes::openapi,
        routes::create_bank,
        routes::list_banks,
        routes::get_bank,
        routes::patch_bank,
        routes::add_entries,
        routes::list_entries,
        routes::bank_changes,
        crate::exchanges_api::list,
        crate::exchanges_api::get_exchange,
        crate::exchanges_api::create,
        crate::exchanges_api::delete,
        crate::exchanges_api::conflicts,
        routes::audit_log,
        routes::patch_entry,
        routes::match_get,
        routes::match_post,
        routes::match_upload,
        routes::hash,
        crate::cases::submit,
        crate::cases::list,
        crate::cases::get_case,
        crate::cases::decide,
        crate::cases::no_inform,
        crate::reports_api::list,
        crate::reports_api::get_report,
        crate::reports_api::retry,
        crate::retention::legal_hold,
        crate::statistics_api::statistics,
        crate::complaining::file,
        crate::complaining::list,
        crate::complaining::get_complaint,
        crate::complaining::decide,
        crate::complaining::follow_ups,
        crate::complaining::follow_up_done,
    ),
    components(schemas(
        AuditRecordOut, AuditPage, ErrorBody, ErrorDetail, Health, Ready, ReadyStatus, BankCreate, BankPatch, BankOut, BankList, BankDetail, EntryIn,
        EntriesIn, EntryResult, EntriesAdded, EntryOut, EntriesPage, EntryPatch, SignalIn,
        ChangeOut, ChangesPage,
        MatchRequest, MatchOut, MatchResponse, MatchBatchResponse, Hashes, UploadResponse,
        UploadForm, SignalTypeName, MatchSignalType, CategoryName, SeverityName, Tag,
        CaseMetaIn, CaseSignalsRequest, CaseForm, CaseMatchOut, DecisionOut, CaseOut,
        CaseSubmitResponse, CaseList, DecisionIn, NoInformIn, crate::reports_api::ReportOut,
        crate::reports_api::ReportList, crate::complaining::ComplaintIn,
        crate::complaining::ComplaintOut, crate::complaining::ComplaintList,
        crate::complaining::ComplaintDecisionIn, crate::complaining::FollowUpOut,
        crate::complaining::FollowUpList, crate::complaining::FollowUpDoneIn,
        crate::wire::ReversalOut, crate::wire::LegalHoldOut, crate::retention::LegalHoldIn,
        crate::statistics_api::StatisticsOut, crate::statistics_api::ErrorRate,
        crate::statistics_api::Times, crate::exchanges_api::ExchangeOut,
        crate::exchanges_api::ExchangeList, crate::exchanges_api::ExchangeIn,
        crate::exchanges_api::ConflictOut, crate::exchanges_api::ConflictList,
    )),
    modifiers(&Security, &Constraints),
    tags(
        (name = "service", description = "Health, readiness, metrics, this document"),
        (name = "banks", description = "Hash banks (curators and admins)"),
        (name = "entries", description = "Bank entries (curators and admins)"),
        (name = "match", description = "Matching signals and uploads"),
        (name = "hash", description = "Hashing only"),
        (name = "exchanges", description = "Banks of other Spoor instances followed here (admins; auditors read)"),
        (name = "audit", description = "The hash-chained audit log (admins and auditors)"),
        (name = "cases", description = "Content submitted for action: matched, decided by the banks' rules or by people, never viewed twice"),
        (name = "complaints", description = "Complaints against decisions, re-reviewed by someone who took no part in them: upheld, or overturned (the case reversed, the content restored, receivers told)"),
        (name = "statistics", description = "Figures from the records: cases per technology, error rates with their uncertainty, complaints, reports, times (admins and auditors)"),
        (name = "reports", description = "Reports of confirmed cases to NCMEC and the EU Centre: delivery, receipts, retry (admins; auditors read)"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("spoor_<key id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// Text without control characters (what `check_text` in the bank store refuses).
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// One PDQ frame of a vPDQ value: `PDQ_HEX,QUALITY,SECONDS`.
const VPDQ_FRAME: &str = "[0-9a-fA-F]{64},(100|[1-9]?[0-9]),[0-9]{1,9}(\\.[0-9]{1,6})?";

/// A byte, 0–255, in decimal.
const BYTE: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// A character of a queue name other than `c` (a lower-case letter), as a class.
fn queue_char_but(c: char) -> String {
    let before = match c {
        'a' => String::new(),
        'b' => "a".to_string(),
        _ => format!("a-{}", (c as u8 - 1) as char),
    };
    let after = match c {
        'z' => String::new(),
        'y' => "z".to_string(),
        _ => format!("{}-z", (c as u8 + 1) as char),
    };
    format!("[{before}{after}0-9_-]")
}

/// A bank's review queue: a queue name (1–32 characters `a-z0-9_-`) other than the senior
/// queue's. Patterns have no look-ahead everywhere, so the one excluded name is spelt out: any
/// other length, or a name of its length that differs from it at some first character.
fn review_queue_pattern() -> String {
    const C: &str = "[a-z0-9_-]";
    let senior = spoor_bank::cases::SENIOR_QUEUE;
    let n = senior.len();
    let mut alternatives = vec![format!("{C}{{1,{}}}", n - 1), format!("{C}{{{},32}}", n + 1)];
    for (i, c) in senior.char_indices() {
        let rest = n - i - 1;
        let tail = if rest > 0 { format!("{C}{{{rest}}}") } else { String::new() };
        alternatives.push(format!("{}{}{tail}", &senior[..i], queue_char_but(c)));
    }
    format!("^(?:{})$", alternatives.join("|"))
}

/// The value pattern of each signal type, and what it is.
fn value_patterns(photodna: bool) -> Vec<(&'static str, String, &'static str)> {
    let mut v = vec![
        ("pdq", "^[0-9a-fA-F]{64}$".to_string(), "PDQ: 64 hex digits."),
        ("md5", "^[0-9a-fA-F]{32}$".to_string(), "MD5: 32 hex digits."),
        ("sha1", "^[0-9a-fA-F]{40}$".to_string(), "SHA-1: 40 hex digits."),
        ("sha256", "^[0-9a-fA-F]{64}$".to_string(), "SHA-256: 64 hex digits."),
        (
            "vpdq",
            format!("^\\[\"{VPDQ_FRAME}\"(,\"{VPDQ_FRAME}\")*\\]$"),
            "vPDQ: a JSON array (as text) of 1 to 86,400 `PDQ_HEX,QUALITY,SECONDS` strings, \
             quality 0-100, seconds >= 0.",
        ),
    ];
    if photodna {
        v.push((
            "photodna",
            format!("^([0-9a-fA-F]{{288}}|[A-Za-z0-9+/]{{192}}|({BYTE},){{143}}{BYTE})$"),
            "PhotoDNA: 144 bytes as 288 hex digits, 192 base64 characters or 144 \
             comma-separated numbers 0-255.",
        ));
    }
    v
}

/// The constraints the service checks that the derived schemas cannot say by themselves.
struct Constraints;

impl Modify for Constraints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut doc = serde_json::to_value(&*openapi).expect("the document serialises");
        constrain(&mut doc);
        *openapi = serde_json::from_value(doc).expect("the constrained document is OpenAPI");
    }
}

fn error_ref() -> Value {
    json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

fn set_text(prop: &mut Value, max: usize) {
    prop["maxLength"] = json!(max);
    prop["pattern"] = json!(NO_CONTROL);
    let d = prop["description"].as_str().unwrap_or("").to_string();
    prop["description"] =
        json!(format!("{d} At most {max} bytes as UTF-8, no control characters.")
            .trim()
            .to_string());
}

/// Splits `name` into one variant per signal type, tied by a discriminator on `signal_type`.
fn per_type(schemas: &mut Value, name: &str, photodna: bool) {
    let base = schemas[name].clone();
    let mut one_of = Vec::new();
    let mut mapping = Map::new();
    for (t, pattern, what) in value_patterns(photodna) {
        let mut v = base.clone();
        let variant = format!("{name}{}", capitalised(t));
        v["properties"]["signal_type"] = json!({"type": "string", "enum": [t]});
        v["properties"]["value"] =
            json!({"type": "string", "pattern": pattern, "description": what});
        v["additionalProperties"] = json!(false);
        v["title"] = json!(variant);
        let reference = format!("#/components/schemas/{variant}");
        one_of.push(json!({"$ref": reference}));
        mapping.insert(t.to_string(), json!(reference));
        schemas[&variant] = v;
    }
    schemas[name] = json!({
        "description": base["description"],
        "oneOf": one_of,
        "discriminator": {"propertyName": "signal_type", "mapping": mapping},
    });
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

fn constrain(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for (schema, field, max) in [
        ("BankCreate", "description", 4096),
        ("BankCreate", "owner", 256),
        ("BankPatch", "description", 4096),
        ("BankPatch", "owner", 256),
        ("EntryIn", "source_org", 256),
        ("EntryIn", "source_id", 256),
        ("EntryIn", "verified_by", 256),
        ("EntryPatch", "verified_by", 256),
    ] {
        set_text(&mut schemas[schema]["properties"][field], max);
    }
    schemas["EntryIn"]["properties"]["verified_at"]["pattern"] = json!(RFC3339);
    for schema in ["BankCreate", "BankPatch"] {
        schemas[schema]["properties"]["review_queue"]["pattern"] = json!(review_queue_pattern());
    }
    cases_constraints(schemas);
    complaints_constraints(schemas);
    schemas["UploadForm"]["additionalProperties"] = json!(false);
    schemas["CaseForm"]["additionalProperties"] = json!(false);
    per_type(schemas, "EntryIn", true);
    per_type(schemas, "SignalIn", false);

    // `GET /v1/match`: the pair as one exploded query object, so the value follows its type.
    let get = &mut doc["paths"]["/v1/match"]["get"];
    get["parameters"] = json!([{
        "name": "signal",
        "in": "query",
        "required": true,
        "style": "form",
        "explode": true,
        "description": "`signal_type` and `value` as two query parameters.",
        "schema": {"$ref": "#/components/schemas/SignalIn"},
    }]);

    // Statuses every route can answer: 408 past `--request-timeout`; with a key, 401, 403, 429
    // and 503 (stale keys, too busy); with a JSON body, 400, 413 and 415.
    let paths = doc["paths"].as_object_mut().expect("paths");
    for item in paths.values_mut() {
        for op in item.as_object_mut().expect("path item").values_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let secured = op.contains_key("security");
            let json_body =
                op.get("requestBody").and_then(|b| b["content"].get("application/json")).is_some();
            let multipart = op.get("requestBody").is_some() && !json_body;
            let responses =
                op.get_mut("responses").and_then(Value::as_object_mut).expect("responses");
            let mut add = |status: &str, description: &str| {
                responses.entry(status).or_insert_with(|| {
                    let mut r = error_ref();
                    r["description"] = json!(description);
                    r
                });
            };
            add("408", "The request took longer than `--request-timeout`");
            if secured {
                add("401", "No key, or an unknown, revoked or expired one");
                add("403", "The key's role may not use this route");
                add("429", "Over the key's rate limit, or the key was stopped for probing");
                add("503", "Keys stale, too busy, or the bank store failed: try again later");
            }
            if json_body || multipart {
                add("400", "The body is malformed or a field is invalid (the message names it)");
                add("413", "The body is larger than the server accepts");
            }
            if json_body {
                add("415", "The body is not `application/json`");
            }
        }
    }
}

/// An IPv4 address in dotted decimal, or an IPv6 address written out in full (the service also
/// takes the shortened IPv6 forms).
const IP_ADDRESS: &str = "^(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4})$";

/// Case intake and decisions: what `spoor_bank::cases` checks, said in the schemas.
/// Control characters other than tab, line feed and carriage return, as a class body.
const CONTROL_BUT_LINES: &str = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f";
/// Every control character, as a class body.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
/// White space as the service trims it (Unicode `White_Space`), as a class body.
const SPACE: &str = "\\t\\n\\r \\u000b\\u000c\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// Text that is not blank, without the control characters `control` names.
fn not_blank(control: &str) -> String {
    format!("^[^{control}]*[^{control}{SPACE}][^{control}]*$")
}

/// A person's free text: at least one visible character, line breaks and tabs allowed.
fn free_text(description: &Value, max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
           "pattern": not_blank(CONTROL_BUT_LINES),
           "description": format!("{} At most {max} bytes as UTF-8; line breaks and tabs allowed, no other control characters; not blank.",
               description.as_str().unwrap_or("")).trim().to_string()})
}

fn complaints_constraints(schemas: &mut Value) {
    let base = schemas["ComplaintIn"].clone();
    let props = &base["properties"];
    let complainant = json!({"type": "string", "minLength": 1, "maxLength": 256,
        "pattern": not_blank(CONTROL),
        "description": format!("{} At most 256 bytes as UTF-8, no control characters; not blank.",
            props["complainant"]["description"].as_str().unwrap_or(""))});
    let text = free_text(&props["text"]["description"], 10_000);
    let by_case = json!({"type": "object", "title": "ComplaintByCase",
        "required": ["case_id", "complainant", "text"], "additionalProperties": false,
        "properties": {"case_id": {"type": "integer", "format": "int64", "minimum": 1,
                                   "description": "The case, by number."},
                       "complainant": complainant, "text": text}});
    let by_ref = json!({"type": "object", "title": "ComplaintByContentRef",
        "required": ["content_ref", "complainant", "text"], "additionalProperties": false,
        "properties": {"content_ref": free_text(&props["content_ref"]["description"], 1024),
                       "complainant": complainant, "text": text}});
    schemas["ComplaintIn"] = json!({
        "description": "A complaint about a decided case, named by its number or by the content reference it was submitted with.",
        "oneOf": [by_case, by_ref],
    });
    let d = &mut schemas["ComplaintDecisionIn"];
    d["properties"]["outcome"] = json!({"type": "string", "enum": ["upheld", "overturned"],
        "description": "`upheld` (the decision stands) or `overturned` (it was wrong: the case is reversed)."});
    let reason = free_text(&d["properties"]["reason"]["description"], 4096);
    d["properties"]["reason"] = reason;
    d["additionalProperties"] = json!(false);
    set_text(&mut schemas["FollowUpDoneIn"]["properties"]["note"], 4096);
    schemas["FollowUpDoneIn"]["additionalProperties"] = json!(false);
}

fn cases_constraints(schemas: &mut Value) {
    let meta = &mut schemas["CaseMetaIn"]["properties"];
    meta["reason"] = json!({"type": "string", "enum": ["match", "user_flag", "own_initiative"],
        "description": meta["reason"]["description"]});
    for (field, max) in [("service", 128), ("content_ref", 2048), ("uploader_ref", 256)] {
        set_text(&mut meta[field], max);
        meta[field]["minLength"] = json!(1);
    }
    meta["uploaded_at"]["pattern"] = json!(RFC3339);
    meta["upload_ip"]["pattern"] = json!(IP_ADDRESS);
    schemas["CaseMetaIn"]["additionalProperties"] = json!(false);
    schemas["NoInformIn"]["properties"]["until"]["pattern"] = json!(RFC3339);
    schemas["NoInformIn"]["additionalProperties"] = json!(false);
    schemas["LegalHoldIn"]["properties"]["until"]["pattern"] = json!(RFC3339);
    schemas["LegalHoldIn"]["additionalProperties"] = json!(false);
    let signals = &mut schemas["CaseSignalsIn"];
    for (t, pattern, what) in value_patterns(false) {
        if signals["properties"].get(t).is_some() {
            signals["properties"][t] =
                json!({"type": "string", "pattern": pattern, "description": what});
        }
    }
    signals["minProperties"] = json!(1);
    signals["additionalProperties"] = json!(false);
    // A decision's fields follow its verdict: one variant each, tied by a discriminator.
    let base = schemas["DecisionIn"].clone();
    let note = {
        let mut n = base["properties"]["note"].clone();
        set_text(&mut n, 4096);
        n
    };
    let annotations: Vec<&str> =
        spoor_bank::cases::Annotation::ALL.iter().map(|a| a.name()).collect();
    let classes: Vec<&str> =
        spoor_bank::cases::IndustryClass::ALL.iter().map(|a| a.name()).collect();
    let variant = |verdict: &str, props: Value, required: &[&str]| {
        let mut p = props;
        p["verdict"] = json!({"type": "string", "enum": [verdict]});
        p["note"] = note.clone();
        let mut req = vec!["verdict"];
        req.extend_from_slice(required);
        json!({"type": "object", "properties": p, "required": req, "additionalProperties": false,
               "title": format!("Decision{}", capitalised(verdict))})
    };
    schemas["DecisionConfirm"] = variant(
        "confirm",
        json!({
            "category": {"type": "string", "enum": ["baseline", "national", "not_illegal"]},
            "industry_class": {"type": ["string", "null"], "enum": classes.iter().map(|c| json!(c)).chain([Value::Null]).collect::<Vec<_>>()},
            "annotations": {"type": "array", "uniqueItems": true, "items": {"type": "string", "enum": annotations}},
        }),
        &["category"],
    );
    schemas["DecisionFalsePositive"] = variant(
        "false_positive",
        json!({"entry_id": {"type": ["integer", "null"], "format": "int64"}}),
        &[],
    );
    schemas["DecisionEscalate"] = variant("escalate", json!({}), &[]);
    schemas["DecisionIn"] = json!({
        "description": base["description"],
        "oneOf": [
            {"$ref": "#/components/schemas/DecisionConfirm"},
            {"$ref": "#/components/schemas/DecisionFalsePositive"},
            {"$ref": "#/components/schemas/DecisionEscalate"},
        ],
        "discriminator": {"propertyName": "verdict", "mapping": {
            "confirm": "#/components/schemas/DecisionConfirm",
            "false_positive": "#/components/schemas/DecisionFalsePositive",
            "escalate": "#/components/schemas/DecisionEscalate",
        }},
    });
}

/// An RFC 3339 time with a valid day of its month (29 February is left out of the pattern).
const RFC3339: &str = "^[0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn each_signal_type_has_its_own_value_pattern() {
        let d = doc();
        let s = &d["components"]["schemas"];
        assert_eq!(s["SignalIn"]["discriminator"]["propertyName"], "signal_type");
        assert_eq!(s["SignalIn"]["oneOf"].as_array().unwrap().len(), 5);
        assert_eq!(s["EntryIn"]["oneOf"].as_array().unwrap().len(), 6);
        assert_eq!(s["SignalInMd5"]["properties"]["signal_type"]["enum"], json!(["md5"]));
        assert_eq!(s["SignalInMd5"]["properties"]["value"]["pattern"], "^[0-9a-fA-F]{32}$");
        assert_eq!(s["EntryInSha1"]["properties"]["value"]["pattern"], "^[0-9a-fA-F]{40}$");
        assert_eq!(s["EntryInMd5"]["additionalProperties"], false);
        assert_eq!(
            s["EntryInMd5"]["discriminator"],
            Value::Null,
            "variants are plain objects; the discriminator is on the union"
        );
    }

    #[test]
    fn value_patterns_agree_with_the_parsers() {
        use spoor_core::SignalType;
        let frame = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let samples = [
            ("pdq", frame.to_string()),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e".to_string()),
            ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709".to_string()),
            ("sha256", frame.to_uppercase()),
            ("vpdq", format!("[\"{frame},100,0.000\",\"{frame},7,12\"]")),
            ("photodna", vec!["255"; 144].join(",")),
            ("photodna", "0a".repeat(144)),
            ("photodna", "A/+z".repeat(48)),
        ];
        for (t, pattern, _) in value_patterns(true) {
            let re = regex::Regex::new(&pattern).unwrap();
            for (st, v) in samples.iter().filter(|(st, _)| *st == t) {
                assert!(re.is_match(v), "{st}: {v} does not match {pattern}");
                st.parse::<SignalType>().unwrap().parse(v).unwrap();
            }
            // A value of another length is refused by both.
            let wrong = "0".repeat(if t == "md5" { 64 } else { 32 });
            assert!(!re.is_match(&wrong), "{t}: {wrong} matches {pattern}");
            assert!(t.parse::<SignalType>().unwrap().parse(&wrong).is_err(), "{t}: {wrong}");
        }
    }

    #[test]
    fn free_text_forbids_control_characters() {
        let d = doc();
        let s = &d["components"]["schemas"];
        for (schema, field) in [("BankCreate", "owner"), ("BankPatch", "description")] {
            assert_eq!(s[schema]["properties"][field]["pattern"], NO_CONTROL, "{schema}.{field}");
        }
        assert_eq!(s["EntryInPdq"]["properties"]["source_org"]["maxLength"], 256);
        assert_eq!(s["EntryPatch"]["properties"]["verified_by"]["pattern"], NO_CONTROL);
    }

    /// The complaint's free text patterns take exactly what the service takes: not blank (as
    /// Rust trims), no control characters but line breaks and tabs (none at all for the
    /// complainant), on seeded random texts over an alphabet of the hard cases.
    #[test]
    fn complaint_text_patterns_agree_with_the_service() {
        let d = doc();
        let s = &d["components"]["schemas"];
        let by_case = &s["ComplaintIn"]["oneOf"][0]["properties"];
        let by_ref = &s["ComplaintIn"]["oneOf"][1]["properties"];
        assert_eq!(s["ComplaintIn"]["oneOf"][0]["required"][0], "case_id");
        assert_eq!(by_ref["content_ref"]["maxLength"], 1024);
        assert_eq!(by_case["text"]["maxLength"], 10_000);
        let unescape = |p: &Value| -> regex::Regex {
            // JSON Schema patterns are ECMA-262: `\uXXXX` escapes, which `regex` writes `\x{XXXX}`.
            let p = p.as_str().unwrap();
            let mut out = String::new();
            let mut it = p.char_indices().peekable();
            while let Some((i, c)) = it.next() {
                if c == '\\' && p[i + 1..].starts_with('u') {
                    out.push_str(&format!("\\x{{{}}}", &p[i + 2..i + 6]));
                    for _ in 0..5 {
                        it.next();
                    }
                } else {
                    out.push(c);
                }
            }
            regex::Regex::new(&out).unwrap()
        };
        let text = unescape(&by_case["text"]["pattern"]);
        let who = unescape(&by_case["complainant"]["pattern"]);
        let reason = unescape(&s["ComplaintDecisionIn"]["properties"]["reason"]["pattern"]);
        let free_ok = |t: &str| {
            !t.trim().is_empty()
                && !t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        };
        let who_ok = |t: &str| !t.trim().is_empty() && !t.chars().any(char::is_control);
        let alphabet = [
            'a', ' ', '\n', '\r', '\t', '\u{0}', '\u{7}', '\u{b}', '\u{85}', '\u{a0}', '\u{2028}',
            '\u{3000}', '\u{feff}', '\u{9f}', 'é', '\u{200b}',
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in 0..20_000 {
            let len = n % 5;
            let t: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(text.is_match(&t), free_ok(&t), "text {t:?}");
            assert_eq!(reason.is_match(&t), free_ok(&t), "reason {t:?}");
            assert_eq!(who.is_match(&t), who_ok(&t), "complainant {t:?}");
        }
    }

    #[test]
    fn bounds_match_the_service() {
        let d = doc();
        let s = &d["components"]["schemas"];
        assert_eq!(
            s["MatchRequest"]["properties"]["signals"]["maxItems"],
            crate::routes::MAX_MATCH_BATCH
        );
        assert_eq!(s["EntriesIn"]["properties"]["entries"]["maxItems"], spoor_bank::MAX_BATCH);
        assert_eq!(s["BankCreate"]["properties"]["pdq_radius"]["maximum"], 64);
        let params =
            d["paths"]["/v1/banks/{name}/entries"]["get"]["parameters"].as_array().unwrap();
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&json!(1), &json!(1000))
        );
    }

    #[test]
    fn banks_name_their_review_queue() {
        let d = doc();
        let s = &d["components"]["schemas"];
        for schema in ["BankCreate", "BankPatch"] {
            let q = &s[schema]["properties"]["review_queue"];
            assert_eq!((&q["minLength"], &q["maxLength"]), (&json!(1), &json!(32)), "{schema}");
            assert_eq!(q["pattern"], json!(review_queue_pattern()), "{schema}");
        }
        // The pattern takes exactly what the store takes: names near "senior" of every kind,
        // and seeded random names over an alphabet that includes characters refused.
        let re = regex::Regex::new(&review_queue_pattern()).unwrap();
        let ok = |q: &str| spoor_bank::model::check_review_queue(q).is_ok();
        let mut tried = vec![String::new(), "q".repeat(32), "q".repeat(33), "senior".into()];
        for i in 0..6 {
            for c in "abcdefghijklmnopqrstuvwxyz0123456789_-A ".chars() {
                let mut v: Vec<char> = "senior".chars().collect();
                v[i] = c;
                tried.push(v.iter().collect());
            }
            tried.push(format!("{}x", &"senior"[..=i]));
            tried.push("senior"[..i].to_string());
            tried.push(format!("senior{}", "x".repeat(i + 1)));
        }
        let alphabet: Vec<char> = "senioraz09_-A /".chars().collect();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 9) as usize;
            tried.push((0..len).map(|k| alphabet[((x >> (8 + 4 * k)) % 15) as usize]).collect());
        }
        for q in &tried {
            assert_eq!(re.is_match(q), ok(q), "{q:?}");
        }
        assert!(re.is_match("main") && re.is_match("team-b") && !re.is_match("senior"));
        let out = &s["BankOut"];
        assert_eq!(out["properties"]["review_queue"]["type"], "string");
        assert!(out["required"].as_array().unwrap().contains(&json!("review_queue")));
    }

    #[test]
    fn every_status_is_documented() {
        let d = doc();
        let paths = d["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let r = &op["responses"];
                assert!(r.get("408").is_some(), "{method} {path}: 408");
                if op.get("security").is_some() {
                    for s in ["401", "429", "503"] {
                        assert!(r.get(s).is_some(), "{method} {path}: {s}");
                    }
                }
                if op["requestBody"]["content"].get("application/json").is_some() {
                    for s in ["400", "413", "415"] {
                        assert!(r.get(s).is_some(), "{method} {path}: {s}");
                        assert_eq!(
                            r[s]["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path}: {s}"
                        );
                    }
                }
            }
        }
        assert!(d["paths"]["/v1/match"]["post"]["responses"].get("415").is_some());
    }

    #[test]
    fn match_get_takes_the_signal_as_one_object() {
        let d = doc();
        let params = d["paths"]["/v1/match"]["get"]["parameters"].as_array().unwrap();
        assert_eq!(params.len(), 1);
        assert_eq!(params[0]["explode"], true);
        assert_eq!(params[0]["schema"]["$ref"], "#/components/schemas/SignalIn");
    }
}
