//! The EU Centre document: valid against its schema, one field per point of Art. 13(1), and a
//! detached signature that verifies only the exact bytes with the right key.

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use spoor_report::eu;
use spoor_report::{FileFacts, Provider, ReportError, ReportFacts};

/// 2026-11-30T12:00:00Z.
const NOW: i64 = 1_796_040_000_000;
const HOUR: i64 = 3_600_000;

fn schema() -> Value {
    serde_json::from_str(eu::SCHEMA).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema())
        .expect("the schema compiles")
}

fn assert_valid(doc: &Value) {
    let v = validator();
    let errors: Vec<String> =
        v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

fn provider() -> Provider {
    Provider {
        name: "Example B.V.".into(),
        address: "Herengracht 1, 1015 BA Amsterdam, NL".into(),
        contact_email: "eu-reports@example.org".into(),
        legal_representative: None,
        legal_basis: "Regulation (EU) 2021/1232".into(),
    }
}

fn minimal_file() -> FileFacts {
    FileFacts {
        case_id: 1,
        content_ref: None,
        file_name: None,
        uploaded_at: None,
        upload_ip: None,
        md5: None,
        sha1: None,
        sha256: None,
        pdq: None,
        viewed_by_person: false,
        publicly_available: None,
        industry_class: None,
        annotations: vec![],
        known: true,
        category: None,
        decided_at: NOW - HOUR,
        removed: None,
    }
}

fn minimal() -> ReportFacts {
    ReportFacts {
        report_uuid: "0b6f1c1e-8f43-4e0a-9d7e-3c1f4a2b5d60".into(),
        service: None,
        uploader_ref: None,
        files: vec![minimal_file()],
        urgent: false,
        reported_elsewhere: vec![],
    }
}

fn full() -> ReportFacts {
    let file = |case_id: i64, ip: &str, known: bool| FileFacts {
        case_id,
        content_ref: Some(format!("https://img.example.org/p/{case_id}")),
        file_name: Some(format!("f{case_id}.jpg")),
        uploaded_at: Some(NOW - 5 * HOUR + case_id),
        upload_ip: Some(ip.parse().unwrap()),
        md5: Some([1; 16]),
        sha1: Some([2; 20]),
        sha256: Some([3; 32]),
        pdq: Some([4; 32]),
        viewed_by_person: !known,
        publicly_available: Some(true),
        industry_class: Some("A1".into()),
        annotations: vec!["generativeAi".into(), "infant".into()],
        known,
        category: Some(if known { "baseline" } else { "national" }.into()),
        decided_at: NOW - HOUR,
        removed: Some(known),
    };
    ReportFacts {
        report_uuid: "5d7a0d0e-3e0b-4f43-b1a8-0b7c2f1d9e11".into(),
        service: Some("Photo sharing".into()),
        uploader_ref: Some("user-4711".into()),
        files: vec![
            file(1, "203.0.113.9", true),
            file(2, "2001:db8::1", false),
            file(3, "::ffff:198.51.100.4", false),
        ],
        urgent: true,
        reported_elsewhere: vec!["NCMEC".into()],
    }
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    jsonschema::meta::validate(&schema()).expect("the schema follows its meta-schema");
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["properties"]["version"]["const"], eu::VERSION);
}

#[test]
fn minimal_and_full_documents_validate() {
    spoor_report::validate(&minimal()).unwrap();
    spoor_report::validate(&full()).unwrap();
    let doc = eu::document(&minimal(), &provider(), NOW);
    assert_valid(&doc);
    assert_eq!(doc["version"], "1");
    assert_eq!(doc["report_id"], "0b6f1c1e-8f43-4e0a-9d7e-3c1f4a2b5d60");
    assert_eq!(doc["provider"]["legal_representative"], Value::Null);
    assert_eq!(doc["location"], json!([]));
    assert_eq!(doc["user"], json!({"service": null, "uploader_ref": null}));
    assert_eq!(doc["content"][0]["hashes"]["md5"], Value::Null);
    assert_eq!(doc["removal"], json!([{"case_id": 1, "removed": null}]));

    let mut p = provider();
    p.legal_representative = Some("Rep GmbH, Berlin".into());
    let doc = eu::document(&full(), &p, NOW);
    assert_valid(&doc);
    assert_eq!(doc["provider"]["legal_representative"], "Rep GmbH, Berlin");
    assert_eq!(doc["issued"]["at"], "2026-11-30T12:00:00.000Z");
    assert_eq!(doc["content"][1]["hashes"]["pdq"], "04".repeat(32));
    assert_eq!(doc["content"][0]["media_included"], false);
    assert_eq!(doc["other_data"][0]["uploaded_at"], "2026-11-30T07:00:00.001Z");
    assert_eq!(doc["other_data"][1]["viewed_by_person"], true);
    assert_eq!(
        doc["material"],
        json!([
            {"case_id": 1, "kind": "known_csam", "category": "baseline"},
            {"case_id": 2, "kind": "new_csam", "category": "national"},
            {"case_id": 3, "kind": "new_csam", "category": "national"}
        ])
    );
    assert_eq!(doc["location"][1]["ip"], "2001:db8::1");
    assert_eq!(doc["location"][2]["ip"], "::ffff:198.51.100.4");
    assert_eq!(doc["location"][0]["event"], "upload");
    assert_eq!(doc["user"], json!({"service": "Photo sharing", "uploader_ref": "user-4711"}));
    assert_eq!(doc["reported_elsewhere"], json!(["NCMEC"]));
    assert_eq!(doc["removal"][1]["removed"], false);
    assert_eq!(doc["urgent"], true);
    assert_eq!(doc["legal_basis"], "Regulation (EU) 2021/1232");
}

#[test]
fn provider_configuration_is_checked() {
    eu::check_provider(&provider()).unwrap();
    let with = |f: fn(&mut Provider)| {
        let mut p = provider();
        f(&mut p);
        eu::check_provider(&p)
    };
    for bad in [
        with(|p| p.name = " ".into()),
        with(|p| p.address = String::new()),
        with(|p| p.legal_basis = String::new()),
        with(|p| p.contact_email = "nobody".into()),
    ] {
        assert!(matches!(bad, Err(ReportError::Invalid { .. })), "{bad:?}");
    }
    let mut facts = minimal();
    facts.report_uuid = "x".repeat(65);
    assert!(spoor_report::validate(&facts).is_err());
    let mut facts = minimal();
    facts.files[0].decided_at = i64::MAX;
    assert!(matches!(spoor_report::validate(&facts), Err(ReportError::TimeOutOfRange { .. })));
    let mut facts = minimal();
    facts.files[0].uploaded_at = Some(i64::MIN);
    assert!(matches!(spoor_report::validate(&facts), Err(ReportError::TimeOutOfRange { .. })));
}

#[test]
fn the_schema_refuses_what_it_should() {
    let v = validator();
    let good = eu::document(&full(), &provider(), NOW);
    let broken = |f: fn(&mut Value)| {
        let mut d = good.clone();
        f(&mut d);
        d
    };
    for (why, doc) in [
        ("an extra field", broken(|d| d["extra"] = json!(1))),
        (
            "a missing point",
            broken(|d| {
                d.as_object_mut().unwrap().remove("urgent");
            }),
        ),
        ("another version", broken(|d| d["version"] = json!("2"))),
        ("an unknown class", broken(|d| d["other_data"][0]["industry_class"] = json!("C1"))),
        ("a bad time", broken(|d| d["issued"]["at"] = json!("yesterday"))),
        ("a bad address", broken(|d| d["location"][0]["ip"] = json!("300.1.1.1"))),
        (
            "an upper-case hash",
            broken(|d| d["content"][0]["hashes"]["md5"] = json!("AB".repeat(16))),
        ),
        ("no files", broken(|d| d["content"] = json!([]))),
        ("media claimed", broken(|d| d["content"][0]["media_included"] = json!(true))),
    ] {
        assert!(!v.is_valid(&doc), "the schema accepts {why}");
    }
}

#[test]
fn every_point_of_article_13_1_has_its_field() {
    let letters: Vec<&str> = eu::POINTS.iter().map(|p| p.article).collect();
    let expected: Vec<String> = "abcdefghijk".chars().map(|c| format!("13(1)({c})")).collect();
    assert_eq!(letters, expected);

    let schema = schema();
    let required: Vec<&str> =
        schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let doc = eu::document(&full(), &provider(), NOW);
    let doc_fields: Vec<&String> = doc.as_object().unwrap().keys().collect();
    // The document has exactly version, report_id and one field per point.
    assert_eq!(doc_fields.len(), 2 + eu::POINTS.len());
    let mut fields = std::collections::BTreeSet::new();
    for point in &eu::POINTS {
        assert!(fields.insert(point.field), "{} is used twice", point.field);
        assert!(doc.get(point.field).is_some(), "document lacks {}", point.field);
        assert!(required.contains(&point.field), "schema does not require {}", point.field);
        let described =
            schema["properties"][point.field]["description"].as_str().unwrap_or_default();
        assert!(
            described.starts_with(&format!("Art. {}:", point.article)),
            "schema's description of {} does not name {}",
            point.field,
            point.article
        );
        assert!(!point.asks.is_empty());
    }
    assert_eq!(required.len(), 2 + eu::POINTS.len());
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&eu::document(&full(), &provider(), NOW)).unwrap()
}

#[test]
fn a_signature_verifies_the_exact_body_with_its_key() {
    let body = body();
    let jws = eu::sign(&body, &key(7), "spoor-2026-11");
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(parts[1].is_empty(), "detached: no payload in the JWS");
    eu::verify(&body, &jws, &key(7).verifying_key()).unwrap();
    assert_eq!(eu::key_id(&jws).unwrap(), "spoor-2026-11");
    // Deterministic (Ed25519) and the header is the documented one.
    assert_eq!(jws, eu::sign(&body, &key(7), "spoor-2026-11"));
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "kid": "spoor-2026-11"}));
}

#[test]
fn a_changed_byte_another_key_or_a_malformed_jws_fail() {
    let body = body();
    let jws = eu::sign(&body, &key(7), "k");
    let public = key(7).verifying_key();
    for i in [0, body.len() / 2, body.len() - 1] {
        let mut changed = body.clone();
        changed[i] ^= 0x01;
        assert!(
            matches!(eu::verify(&changed, &jws, &public), Err(ReportError::BadSignature)),
            "byte {i}"
        );
    }
    let mut longer = body.clone();
    longer.push(b' ');
    assert!(matches!(eu::verify(&longer, &jws, &public), Err(ReportError::BadSignature)));
    assert!(matches!(
        eu::verify(&body, &jws, &key(8).verifying_key()),
        Err(ReportError::BadSignature)
    ));

    let (header, sig) = jws.split_once("..").unwrap();
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body);
    let mut flipped_sig = sig.to_string().into_bytes();
    flipped_sig[3] = if flipped_sig[3] == b'A' { b'B' } else { b'A' };
    let flipped_sig = String::from_utf8(flipped_sig).unwrap();
    for (why, bad) in [
        ("empty", String::new()),
        ("two parts", format!("{header}.{sig}")),
        ("four parts", format!("{header}...{sig}")),
        ("attached payload", format!("{header}.{payload}.{sig}")),
        ("header not base64url", format!("{header}!..{sig}")),
        (
            "header not JSON",
            format!("{}..{sig}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("nope")),
        ),
        ("alg none", format!("{}..{sig}", b64(&json!({"alg": "none", "kid": "k"})))),
        ("alg HS256", format!("{}..{sig}", b64(&json!({"alg": "HS256", "kid": "k"})))),
        ("crit", format!("{}..{sig}", b64(&json!({"alg": "EdDSA", "crit": ["x"], "x": 1})))),
        ("b64 false", format!("{}..{sig}", b64(&json!({"alg": "EdDSA", "b64": false})))),
        ("short signature", format!("{header}..{}", &sig[..40])),
        ("signature not base64url", format!("{header}..{sig}=")),
        ("padded header", format!("{header}=..{sig}")),
    ] {
        assert!(
            matches!(eu::verify(&body, &bad, &public), Err(ReportError::MalformedSignature(_))),
            "{why}: {:?}",
            eu::verify(&body, &bad, &public)
        );
    }
    // A signature of the right shape that is not the body's.
    assert!(matches!(
        eu::verify(&body, &format!("{header}..{flipped_sig}"), &public),
        Err(ReportError::BadSignature)
    ));
    // Another kid in the header changes the signed bytes.
    let other = format!("{}..{sig}", b64(&json!({"alg": "EdDSA", "kid": "other"})));
    assert!(matches!(eu::verify(&body, &other, &public), Err(ReportError::BadSignature)));
}

fn follow_up_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(eu::FOLLOW_UP_SCHEMA).expect("the schema is JSON");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the follow-up schema compiles")
}

/// A follow-up withdrawing files of a report is valid against its own schema, with and without
/// the optional parts; one with no file, no reason or no ids is refused, and the schema
/// refuses unknown fields and a missing one.
#[test]
fn follow_ups_are_valid_against_their_schema() {
    let v = follow_up_validator();
    let full = eu::Withdrawn {
        case_id: 12,
        content_ref: Some("photo-881".into()),
        md5: Some([0x11; 16]),
        sha1: Some([0x22; 20]),
        sha256: Some([0x33; 32]),
        pdq: Some([0x44; 32]),
    };
    let bare = eu::Withdrawn {
        case_id: 13,
        content_ref: None,
        md5: None,
        sha1: None,
        sha256: None,
        pdq: None,
    };
    let f = eu::FollowUp {
        follow_up_id: "7d0f0d53-6d36-4c1e-9a55-1b8f0c1d2e3f".into(),
        report_id: "0b6f6a1e-3a3c-4f0e-8d4a-8f7e2d1c0b9a".into(),
        withdrawn: vec![full, bare],
        report_withdrawn: true,
        reason: "A landscape photograph: the list entry matched wrongly.".into(),
        decided_at: NOW - HOUR,
    };
    let doc = eu::follow_up(&f, &provider(), NOW).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    assert_eq!(doc["report_id"], json!(f.report_id));
    assert_eq!(doc["withdrawn"][0]["hashes"]["sha256"], json!("33".repeat(32)));
    assert_eq!(doc["withdrawn"][1]["hashes"]["md5"], Value::Null);
    assert_eq!(doc["issued"]["at"], json!("2026-11-30T12:00:00.000Z"));

    let mut extra = doc.clone();
    extra["extra"] = json!(1);
    assert!(!v.is_valid(&extra), "unknown fields are refused");
    let mut missing = doc.clone();
    missing.as_object_mut().unwrap().remove("reason");
    assert!(!v.is_valid(&missing), "every field is required");

    for bad in [
        eu::FollowUp { withdrawn: vec![], ..f.clone() },
        eu::FollowUp { reason: " ".into(), ..f.clone() },
        eu::FollowUp { report_id: String::new(), ..f.clone() },
    ] {
        assert!(matches!(eu::follow_up(&bad, &provider(), NOW), Err(ReportError::Invalid { .. })));
    }
}
