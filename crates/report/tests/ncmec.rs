//! NCMEC documents: validity against NCMEC's schema (a real `xmllint`), content, escaping,
//! element order, limits; and the reading of NCMEC's answers.

use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use spoor_report::ncmec::{self, Environment};
use spoor_report::{FileFacts, ReportError, ReportFacts, Reporter};

const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ncmec-report.xsd");

/// 2026-11-30T12:00:00Z.
const NOW: i64 = 1_796_040_000_000;
const HOUR: i64 = 3_600_000;

/// Runs `xmllint` against NCMEC's schema on `doc`: `None` (after saying so) when xmllint is
/// missing and not required by `SPOOR_REQUIRE_XMLLINT=1`, else its verdict and messages.
fn xmllint(doc: &str) -> Option<Result<(), String>> {
    let child = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", XSD, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            if std::env::var("SPOOR_REQUIRE_XMLLINT").as_deref() == Ok("1") {
                panic!("xmllint is required (SPOOR_REQUIRE_XMLLINT=1) but cannot be run: {e}; install libxml2-utils");
            }
            // Written to the process's stderr (not the captured test output), so it shows.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: xmllint cannot be run ({e}); install libxml2-utils to validate against NCMEC's schema"
            );
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(doc.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let messages = String::from_utf8_lossy(&out.stderr).into_owned();
    Some(if out.status.success() { Ok(()) } else { Err(messages) })
}

/// Asserts that NCMEC's schema accepts `doc` (when xmllint can be run).
fn xmllint_valid(doc: &str) {
    if let Some(Err(messages)) = xmllint(doc) {
        panic!("NCMEC's schema refuses the document:\n{messages}\n{doc}");
    }
}

fn minimal_file() -> FileFacts {
    FileFacts {
        case_id: 7,
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

fn minimal_facts() -> ReportFacts {
    ReportFacts {
        report_uuid: "0b6f1c1e-8f43-4e0a-9d7e-3c1f4a2b5d60".into(),
        service: None,
        uploader_ref: None,
        files: vec![minimal_file()],
        urgent: false,
        reported_elsewhere: vec![],
    }
}

fn minimal_reporter() -> Reporter {
    Reporter {
        email: "reports@example.org".into(),
        first_name: None,
        last_name: None,
        phone: None,
        company_template: None,
        terms_of_service: None,
        legal_url: None,
    }
}

fn all_annotations() -> Vec<String> {
    ncmec::FILE_ANNOTATIONS.iter().map(|s| s.to_string()).collect()
}

fn full_file(case_id: i64, ip: &str, url: Option<&str>, viewed: bool) -> FileFacts {
    FileFacts {
        case_id,
        content_ref: Some(url.map_or_else(|| format!("item-{case_id}"), str::to_string)),
        file_name: Some(format!("holiday {case_id}.JPG")),
        uploaded_at: Some(NOW - 10 * HOUR + case_id * 1000),
        upload_ip: Some(ip.parse().unwrap()),
        md5: Some([0xab; 16]),
        sha1: Some([0x01; 20]),
        sha256: Some([0xfe; 32]),
        pdq: Some([0x5a; 32]),
        viewed_by_person: viewed,
        publicly_available: Some(case_id % 2 == 0),
        industry_class: Some(["A1", "A2", "B1", "B2"][(case_id % 4) as usize].into()),
        annotations: all_annotations(),
        known: !viewed,
        category: Some("baseline".into()),
        decided_at: NOW - HOUR,
        removed: Some(true),
    }
}

fn full_facts() -> ReportFacts {
    ReportFacts {
        report_uuid: "5d7a0d0e-3e0b-4f43-b1a8-0b7c2f1d9e11".into(),
        service: Some("Photo sharing".into()),
        uploader_ref: Some("user-4711".into()),
        files: vec![
            full_file(1, "203.0.113.9", Some("https://img.example.org/p/1?a=1&b=2"), true),
            full_file(2, "2001:db8::1", Some("http://img.example.org/p/2"), false),
            full_file(3, "::ffff:198.51.100.4", None, true),
            full_file(4, "203.0.113.9", Some("https://img.example.org/p/1?a=1&b=2"), false),
        ],
        urgent: true,
        reported_elsewhere: vec!["NCMEC".into()],
    }
}

fn full_reporter() -> Reporter {
    Reporter {
        email: "trust@example.org".into(),
        first_name: Some("Anna".into()),
        last_name: Some("de Vries".into()),
        phone: Some("+31 20 123 4567".into()),
        company_template: Some("Example B.V., Amsterdam. Legal process: legal@example.org. Data kept 1 year. 24h: +31 20 000 0000.".into()),
        terms_of_service: Some("https://example.org/terms".into()),
        legal_url: Some("https://example.org/legal".into()),
    }
}

fn parse(doc: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(doc).unwrap()
}

fn child_names(node: roxmltree::Node) -> Vec<String> {
    node.children().filter(|n| n.is_element()).map(|n| n.tag_name().name().to_string()).collect()
}

/// The texts of all elements named `name`, in document order.
fn texts(doc: &roxmltree::Document, name: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_schema_check_refuses_a_document_out_of_order() {
    let doc = ncmec::report_xml(&minimal_facts(), &minimal_reporter(), NOW).unwrap();
    let x = parse(&doc);
    let info = x.descendants().find(|n| n.has_tag_name("additionalInfo")).unwrap();
    let info_text = &doc[info.range()];
    let moved = doc.replace(info_text, "").replace("<reporter>", &format!("{info_text}<reporter>"));
    if let Some(verdict) = xmllint(&moved) {
        let messages = verdict.expect_err("an out-of-order document must be refused");
        assert!(messages.contains("additionalInfo"), "{messages}");
    }
}

#[test]
fn minimal_report_validates_and_holds_only_what_is_known() {
    let doc = ncmec::report_xml(&minimal_facts(), &minimal_reporter(), NOW).unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    assert_eq!(child_names(x.root_element()), ["incidentSummary", "reporter", "additionalInfo"]);
    assert_eq!(texts(&x, "incidentType"), [ncmec::INCIDENT_TYPE]);
    // No upload time known: the decision time.
    assert_eq!(texts(&x, "incidentDateTime"), ["2026-11-30T11:00:00Z"]);
    assert_eq!(texts(&x, "email"), ["reports@example.org"]);
    assert!(texts(&x, "escalateToHighPriority").is_empty());
    let info = &texts(&x, "additionalInfo")[0];
    assert!(info.contains("Spoor report 0b6f1c1e-8f43-4e0a-9d7e-3c1f4a2b5d60"), "{info}");
}

#[test]
fn minimal_file_details_validate() {
    let doc =
        ncmec::file_details_xml("4564654", "b0754af766b426f2928a02c651ed4b99", &minimal_file())
            .unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    assert_eq!(
        child_names(x.root_element()),
        ["reportId", "fileId", "fileName", "fileViewedByEsp", "exifViewedByEsp", "additionalInfo"]
    );
    assert_eq!(texts(&x, "reportId"), ["4564654"]);
    assert_eq!(texts(&x, "fileId"), ["b0754af766b426f2928a02c651ed4b99"]);
    assert_eq!(texts(&x, "fileName"), ["spoor-case-7"]);
    assert_eq!(texts(&x, "fileViewedByEsp"), ["false"]);
}

#[test]
fn full_report_validates_with_every_part_spoor_fills() {
    let facts = full_facts();
    let doc = ncmec::report_xml(&facts, &full_reporter(), NOW).unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    // Distinct URLs once each, in file order; the non-URL reference is not a URL.
    assert_eq!(
        texts(&x, "url"),
        ["https://img.example.org/p/1?a=1&b=2", "http://img.example.org/p/2"]
    );
    assert_eq!(texts(&x, "escalateToHighPriority"), [ncmec::ESCALATION_TEXT]);
    assert_eq!(texts(&x, "firstName"), ["Anna"]);
    assert_eq!(texts(&x, "lastName"), ["de Vries"]);
    assert_eq!(texts(&x, "phone"), ["+31 20 123 4567"]);
    assert_eq!(texts(&x, "companyTemplate").len(), 1);
    assert_eq!(texts(&x, "termsOfService"), ["https://example.org/terms"]);
    assert_eq!(texts(&x, "legalURL"), ["https://example.org/legal"]);
    assert_eq!(texts(&x, "espIdentifier"), ["user-4711"]);
    assert_eq!(texts(&x, "espService"), ["Photo sharing"]);
    // One upload event per distinct address and time: IPv4, IPv6, IPv4-mapped IPv6, and the
    // first address again at another time.
    assert_eq!(
        texts(&x, "ipAddress"),
        ["203.0.113.9", "2001:db8::1", "::ffff:198.51.100.4", "203.0.113.9"]
    );
    assert_eq!(texts(&x, "eventName"), ["Upload"; 4]);
    assert_eq!(
        texts(&x, "dateTime"),
        [
            "2026-11-30T02:00:01Z",
            "2026-11-30T02:00:02Z",
            "2026-11-30T02:00:03Z",
            "2026-11-30T02:00:04Z"
        ]
    );
    let info = &texts(&x, "additionalInfo")[0];
    assert!(info.contains("Cases: 1, 2, 3, 4"), "{info}");
    assert!(info.contains("2 matched known material, 2 newly identified"), "{info}");

    for (i, file) in facts.files.iter().enumerate() {
        let doc = ncmec::file_details_xml("4564654", &format!("f{i}"), file).unwrap();
        xmllint_valid(&doc);
        let x = parse(&doc);
        assert_eq!(texts(&x, "fileName"), [format!("spoor-case-{}.jpg", file.case_id)]);
        assert_eq!(texts(&x, "originalFileName"), [format!("holiday {}.JPG", file.case_id)]);
        assert_eq!(
            texts(&x, "uploadedToEspTimestamp"),
            [format!("2026-11-30T02:00:0{}Z", file.case_id)]
        );
        let annotations = x.descendants().find(|n| n.has_tag_name("fileAnnotations")).unwrap();
        assert_eq!(child_names(annotations), ncmec::FILE_ANNOTATIONS);
        assert_eq!(texts(&x, "industryClassification"), [file.industry_class.clone().unwrap()]);
        assert_eq!(texts(&x, "publiclyAvailable"), [file.publicly_available.unwrap().to_string()]);
        let hashes: Vec<(String, String)> = x
            .descendants()
            .filter(|n| n.has_tag_name("originalFileHash"))
            .map(|n| (n.attribute("hashType").unwrap().into(), n.text().unwrap().into()))
            .collect();
        assert_eq!(
            hashes,
            [
                ("MD5".to_string(), "ab".repeat(16)),
                ("SHA1".to_string(), "01".repeat(20)),
                ("SHA256".to_string(), "fe".repeat(32)),
                ("PDQ".to_string(), "5a".repeat(32)),
            ]
        );
        let ip: IpAddr = texts(&x, "ipAddress")[0].parse().unwrap();
        assert_eq!(Some(ip), file.upload_ip);
        match file.content_ref.as_deref() {
            Some(url) if url.starts_with("http") => {
                assert_eq!(texts(&x, "locationOfFile"), [url]);
            }
            Some(other) => {
                assert!(texts(&x, "locationOfFile").is_empty());
                assert!(texts(&x, "additionalInfo")[0].contains(other));
            }
            None => unreachable!(),
        }
    }
}

#[test]
fn file_viewed_by_esp_is_true_only_when_a_person_viewed_the_file() {
    for viewed in [false, true] {
        let file =
            FileFacts { viewed_by_person: viewed, ..full_file(2, "203.0.113.1", None, viewed) };
        let doc = ncmec::file_details_xml("1", "f", &file).unwrap();
        xmllint_valid(&doc);
        let x = parse(&doc);
        assert_eq!(texts(&x, "fileViewedByEsp"), [viewed.to_string()]);
        // Spoor never looks at EXIF data.
        assert_eq!(texts(&x, "exifViewedByEsp"), ["false"]);
    }
}

fn incident(facts: &ReportFacts, now: i64) -> String {
    let doc = ncmec::report_xml(facts, &minimal_reporter(), now).unwrap();
    texts(&parse(&doc), "incidentDateTime").remove(0)
}

#[test]
fn incident_time_is_the_newest_upload_and_never_in_the_future() {
    let mut facts = minimal_facts();
    let file = |case_id, uploaded_at: Option<i64>, decided_at| FileFacts {
        case_id,
        uploaded_at,
        decided_at,
        ..minimal_file()
    };
    facts.files = vec![
        file(1, Some(NOW - 5 * HOUR), NOW - HOUR),
        file(2, Some(NOW - 3 * HOUR + 999), NOW - 2 * HOUR),
        file(3, None, NOW - HOUR / 2),
    ];
    // The newest upload, not the newest decision; cut to the second.
    assert_eq!(incident(&facts, NOW), "2026-11-30T09:00:00Z");
    assert_eq!(ncmec::incident_time_ms(&facts, NOW), Some(NOW - 3 * HOUR + 999));
    // An upload stamped after its decision (a clock ahead) counts as the decision time.
    facts.files[0].uploaded_at = Some(NOW + 5 * HOUR);
    assert_eq!(incident(&facts, NOW), "2026-11-30T11:00:00Z");
    // Never later than now.
    assert_eq!(incident(&facts, NOW - 2 * HOUR), "2026-11-30T10:00:00Z");
    // No upload time at all: the newest decision.
    for f in &mut facts.files {
        f.uploaded_at = None;
    }
    assert_eq!(incident(&facts, NOW), "2026-11-30T11:30:00Z");
}

const NASTY: &str = "<&\"'> ]]> x";

#[test]
fn every_free_text_is_escaped_and_reads_back_exactly() {
    let text = |what: &str| format!("{what} {NASTY}");
    let mut facts = full_facts();
    facts.service = Some(text("service"));
    facts.uploader_ref = Some(text("uploader"));
    facts.report_uuid = text("uuid");
    facts.files[0].content_ref = Some(format!("https://x.example/?q={NASTY}").replace(' ', "%20"));
    facts.files[2].content_ref = Some(text("ref"));
    facts.files[2].file_name = Some(text("name"));
    let reporter = Reporter {
        email: "o'brien&co@example.org".into(),
        first_name: Some(text("first")),
        last_name: Some(text("last")),
        phone: Some(text("ph")),
        company_template: Some(text("template\r\nline\ttwo")),
        terms_of_service: Some(text("terms")),
        legal_url: Some("https://example.org/legal?a=1&b='2'".into()),
    };
    let doc = ncmec::report_xml(&facts, &reporter, NOW).unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    assert_eq!(texts(&x, "espService"), [text("service")]);
    assert_eq!(texts(&x, "espIdentifier"), [text("uploader")]);
    assert_eq!(texts(&x, "email"), ["o'brien&co@example.org"]);
    assert_eq!(texts(&x, "firstName"), [text("first")]);
    assert_eq!(texts(&x, "lastName"), [text("last")]);
    assert_eq!(texts(&x, "phone"), [text("ph")]);
    assert_eq!(texts(&x, "companyTemplate"), [text("template\r\nline\ttwo")]);
    assert_eq!(texts(&x, "termsOfService"), [text("terms")]);
    assert_eq!(texts(&x, "legalURL"), ["https://example.org/legal?a=1&b='2'"]);
    assert_eq!(texts(&x, "url")[0], facts.files[0].content_ref.clone().unwrap());
    assert!(texts(&x, "additionalInfo")[0].contains(&text("uuid")));

    let doc = ncmec::file_details_xml("12", "a&b'c", &facts.files[2]).unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    assert_eq!(texts(&x, "fileId"), ["a&b'c"]);
    assert_eq!(texts(&x, "originalFileName"), [text("name")]);
    assert!(texts(&x, "additionalInfo")[0].ends_with(&text("ref")));
}

#[test]
fn elements_come_in_the_schema_order() {
    let doc = ncmec::report_xml(&full_facts(), &full_reporter(), NOW).unwrap();
    let x = parse(&doc);
    let root = x.root_element();
    assert_eq!(
        child_names(root),
        [
            "incidentSummary",
            "internetDetails",
            "reporter",
            "personOrUserReported",
            "additionalInfo"
        ]
    );
    assert_eq!(
        child_names(child(root, "incidentSummary")),
        ["incidentType", "escalateToHighPriority", "incidentDateTime"]
    );
    let reporter = child(root, "reporter");
    assert_eq!(
        child_names(reporter),
        ["reportingPerson", "companyTemplate", "termsOfService", "legalURL"]
    );
    assert_eq!(
        child_names(child(reporter, "reportingPerson")),
        ["firstName", "lastName", "phone", "email"]
    );
    let person = child(root, "personOrUserReported");
    assert_eq!(
        child_names(person),
        [
            "espIdentifier",
            "espService",
            "ipCaptureEvent",
            "ipCaptureEvent",
            "ipCaptureEvent",
            "ipCaptureEvent"
        ]
    );
    assert_eq!(
        child_names(child(person, "ipCaptureEvent")),
        ["ipAddress", "eventName", "dateTime"]
    );

    let doc = ncmec::file_details_xml("1", "f", &full_facts().files[0]).unwrap();
    let x = parse(&doc);
    assert_eq!(
        child_names(x.root_element()),
        [
            "reportId",
            "fileId",
            "fileName",
            "originalFileName",
            "uploadedToEspTimestamp",
            "locationOfFile",
            "fileViewedByEsp",
            "exifViewedByEsp",
            "publiclyAvailable",
            "fileAnnotations",
            "industryClassification",
            "originalFileHash",
            "originalFileHash",
            "originalFileHash",
            "originalFileHash",
            "ipCaptureEvent",
            "additionalInfo"
        ]
    );
}

fn child<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    parent.children().find(|n| n.has_tag_name(name)).unwrap()
}

fn too_long(r: Result<String, ReportError>, max: usize) {
    match r {
        Err(ReportError::TooLong { max: m, .. }) => assert_eq!(m, max),
        other => panic!("expected TooLong({max}), got {other:?}"),
    }
}

#[test]
fn values_over_ncmec_limits_are_refused_not_cut() {
    let reporter = full_reporter();
    let mut facts = full_facts();
    facts.uploader_ref = Some("u".repeat(255));
    facts.service = Some("s".repeat(100));
    let doc = ncmec::report_xml(&facts, &reporter, NOW).unwrap();
    xmllint_valid(&doc);
    facts.uploader_ref = Some("u".repeat(256));
    too_long(ncmec::report_xml(&facts, &reporter, NOW), 255);
    facts.uploader_ref = None;
    facts.service = Some("é".repeat(101));
    too_long(ncmec::report_xml(&facts, &reporter, NOW), 100);

    let mut facts = full_facts();
    facts.files[0].content_ref = Some(format!("https://example.org/{}", "a".repeat(2064)));
    too_long(ncmec::report_xml(&facts, &reporter, NOW), 2083);
    too_long(ncmec::file_details_xml("1", "f", &facts.files[0]), 2083);

    let mut file = full_file(1, "203.0.113.1", None, true);
    file.file_name = Some("n".repeat(2057));
    too_long(ncmec::file_details_xml("1", "f", &file), 2056);

    let facts = full_facts();
    let with = |f: fn(&mut Reporter)| {
        let mut r = full_reporter();
        f(&mut r);
        ncmec::report_xml(&facts, &r, NOW)
    };
    too_long(with(|r| r.first_name = Some("a".repeat(101))), 100);
    too_long(with(|r| r.last_name = Some("a".repeat(101))), 100);
    too_long(with(|r| r.phone = Some("1".repeat(51))), 50);
    too_long(with(|r| r.email = format!("{}@example.org", "a".repeat(65))), 64);
    too_long(with(|r| r.email = format!("a@{}.org", "b".repeat(252))), 255);
}

#[test]
fn the_reporter_is_checked_as_a_report_would_check_it() {
    ncmec::check_reporter(&full_reporter()).unwrap();
    ncmec::check_reporter(&minimal_reporter()).unwrap();
    let mut r = full_reporter();
    r.email = "x".into();
    assert!(matches!(ncmec::check_reporter(&r), Err(ReportError::Invalid { .. })));
    r = full_reporter();
    r.phone = Some("1".repeat(51));
    assert!(matches!(ncmec::check_reporter(&r), Err(ReportError::TooLong { max: 50, .. })));
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    let facts = full_facts();
    let with = |f: fn(&mut Reporter)| {
        let mut r = full_reporter();
        f(&mut r);
        ncmec::report_xml(&facts, &r, NOW)
    };
    assert!(matches!(with(|r| r.email = "nobody".into()), Err(ReportError::Invalid { .. })));
    assert!(matches!(
        with(|r| r.email = "a b@example.org".into()),
        Err(ReportError::Invalid { .. })
    ));
    assert!(matches!(
        with(|r| r.legal_url = Some("example.org/legal".into())),
        Err(ReportError::Invalid { .. })
    ));
    assert!(matches!(
        with(|r| r.company_template = Some("bell\u{7}".into())),
        Err(ReportError::Unrepresentable { code: 7, .. })
    ));

    let mut bad = full_facts();
    bad.files[1].industry_class = Some("C1".into());
    assert!(matches!(
        ncmec::report_xml(&bad, &full_reporter(), NOW),
        Err(ReportError::Invalid { .. })
    ));
    assert!(matches!(
        ncmec::file_details_xml("1", "f", &bad.files[1]),
        Err(ReportError::Invalid { .. })
    ));
    let mut bad = full_facts();
    bad.files[0].annotations.push("sextortion".into());
    let err = ncmec::file_details_xml("1", "f", &bad.files[0]).unwrap_err();
    assert!(err.to_string().contains("generativeAi"), "{err}");
    let mut bad = full_facts();
    bad.files[0].category = Some("other".into());
    assert!(ncmec::report_xml(&bad, &full_reporter(), NOW).is_err());
    let mut bad = full_facts();
    bad.files.clear();
    assert!(matches!(ncmec::report_xml(&bad, &full_reporter(), NOW), Err(ReportError::NoFiles)));

    let file = minimal_file();
    for id in ["", "12a", "-1", "1 2", "99999999999999999999"] {
        assert!(
            matches!(ncmec::file_details_xml(id, "f", &file), Err(ReportError::Invalid { .. })),
            "{id:?}"
        );
    }
    for id in ["", " ", "a b"] {
        assert!(
            matches!(ncmec::file_details_xml("1", id, &file), Err(ReportError::Invalid { .. })),
            "{id:?}"
        );
    }
}

#[test]
fn blank_optional_values_are_left_out() {
    let mut facts = minimal_facts();
    facts.service = Some("  ".into());
    facts.uploader_ref = Some(String::new());
    let mut reporter = minimal_reporter();
    reporter.first_name = Some(String::new());
    reporter.legal_url = Some(" ".into());
    let doc = ncmec::report_xml(&facts, &reporter, NOW).unwrap();
    xmllint_valid(&doc);
    let x = parse(&doc);
    assert_eq!(child_names(x.root_element()), ["incidentSummary", "reporter", "additionalInfo"]);
    assert!(texts(&x, "firstName").is_empty());
}

#[test]
fn upload_file_names_keep_only_plain_extensions() {
    let named = |n: Option<&str>| {
        ncmec::upload_file_name(&FileFacts { file_name: n.map(str::to_string), ..minimal_file() })
    };
    assert_eq!(named(None), "spoor-case-7");
    assert_eq!(named(Some("a.PNG")), "spoor-case-7.png");
    assert_eq!(named(Some("archive.tar.gz")), "spoor-case-7.gz");
    assert_eq!(named(Some("noext")), "spoor-case-7");
    assert_eq!(named(Some("x.<script>")), "spoor-case-7");
    assert_eq!(named(Some("x.verylongext")), "spoor-case-7");
}

#[test]
fn environments() {
    assert_eq!(Environment::default(), Environment::Test);
    assert_eq!("test".parse::<Environment>().unwrap().base_url(), ncmec::TEST_BASE);
    assert_eq!("production".parse::<Environment>().unwrap().base_url(), ncmec::PRODUCTION_BASE);
    assert_eq!(ncmec::TEST_BASE, "https://exttest.cybertip.org/ispws");
    assert_eq!(ncmec::PRODUCTION_BASE, "https://report.cybertip.org/ispws");
    for bad in ["Production", "prod", "", " test"] {
        assert!(matches!(bad.parse::<Environment>(), Err(ReportError::UnknownEnvironment(_))));
    }
    assert_eq!(Environment::Production.to_string(), "production");
}

// ----- answers -----

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;

#[test]
fn a_submit_answer_gives_the_report_id() {
    let body = format!(
        "{HEAD}\n<reportResponse>\n  <responseCode>0</responseCode>\n  <responseDescription>Success</responseDescription>\n  <reportId>4564654</reportId>\n</reportResponse>\n"
    );
    let r = ncmec::parse_response(body.as_bytes()).unwrap();
    assert!(r.is_success() && !r.is_permanent() && !r.already_finished());
    assert_eq!(r.code, 0);
    assert_eq!(r.description, "Success");
    assert_eq!(r.report_id.as_deref(), Some("4564654"));
    assert_eq!(r.file_id, None);
    assert!(r.file_ids.is_empty());
}

#[test]
fn an_upload_answer_gives_the_file_id_and_hash() {
    let body = format!(
        "\u{FEFF}{HEAD}<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription><reportId>4564654</reportId><fileId>b0754af766b426f2928a02c651ed4b99</fileId><hash>fafa5efeaf3cbe3b23b2748d13e629a1</hash></reportResponse>"
    );
    let r = ncmec::parse_response(body.as_bytes()).unwrap();
    assert!(r.is_success());
    assert_eq!(r.file_id.as_deref(), Some("b0754af766b426f2928a02c651ed4b99"));
    assert_eq!(r.hash.as_deref(), Some("fafa5efeaf3cbe3b23b2748d13e629a1"));
}

#[test]
fn a_finish_answer_lists_the_files() {
    let body = format!(
        "{HEAD}<reportDoneResponse><responseCode>0</responseCode><reportId>4564654</reportId><files><fileId>b0754af766b426f2928a02c651ed4b99</fileId><fileId>c1</fileId></files></reportDoneResponse>"
    );
    let r = ncmec::parse_response(body.as_bytes()).unwrap();
    assert!(r.is_success());
    assert_eq!(r.description, "Success");
    assert_eq!(r.report_id.as_deref(), Some("4564654"));
    assert_eq!(r.file_ids, ["b0754af766b426f2928a02c651ed4b99", "c1"]);
    let empty = format!(
        "{HEAD}<reportDoneResponse><responseCode>0</responseCode><reportId>1</reportId><files/></reportDoneResponse>"
    );
    assert!(ncmec::parse_response(empty.as_bytes()).unwrap().file_ids.is_empty());
}

#[test]
fn error_codes_tell_permanent_from_passing_failures() {
    let answer = |code: i64, text: &str| {
        ncmec::parse_response(
            format!("{HEAD}<reportResponse><responseCode>{code}</responseCode><responseDescription>{text}</responseDescription></reportResponse>").as_bytes(),
        )
        .unwrap()
    };
    let r = answer(4100, "Validation failed");
    assert!(!r.is_success() && r.is_permanent() && !r.already_finished());
    assert_eq!((r.code, r.description.as_str(), r.report_id), (4100, "Validation failed", None));
    let r = answer(5102, "Report already finished");
    assert!(r.already_finished() && !r.is_success() && !r.is_permanent());
    for code in [2000, 3000, 3100, 3300, 4000, 4110, 4200, 1210, 5001, 5002, 5101] {
        assert!(answer(code, "x").is_permanent(), "{code}");
    }
    for code in [1000, 1100, 1110, 1111, 1300, 9999] {
        let r = answer(code, "x");
        assert!(!r.is_permanent() && !r.is_success(), "{code}");
    }
    let done = ncmec::parse_response(
        format!("{HEAD}<reportDoneResponse><responseCode>5102</responseCode><reportId>7</reportId><files/></reportDoneResponse>").as_bytes(),
    )
    .unwrap();
    assert!(done.already_finished());
    assert_eq!(done.description, "Report already finished");
}

#[test]
fn unreadable_answers_are_errors_never_panics() {
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        b"<reportResponse><responseCode>0</responseCode>".to_vec(),
        b"<reportResponse><responseDescription>x</responseDescription></reportResponse>".to_vec(),
        b"<reportResponse><responseCode>zero</responseCode></reportResponse>".to_vec(),
        b"<reportResponse><responseCode>0</responseCode><responseCode>1</responseCode></reportResponse>".to_vec(),
        b"<reportResponse><responseCode>0</responseCode><reportId>12x</reportId></reportResponse>".to_vec(),
        b"<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><reportResponse><responseCode>0</responseCode><responseDescription>&b;</responseDescription></reportResponse>".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"<reportResponse><responseCode>0</responseCode></reportResponse><x/>".to_vec(),
    ];
    for body in bodies {
        match ncmec::parse_response(&body) {
            Err(ReportError::MalformedResponse(why)) => assert!(!why.is_empty()),
            other => panic!("{:?} read as {other:?}", String::from_utf8_lossy(&body)),
        }
    }
}

#[test]
fn unknown_elements_in_an_answer_are_ignored() {
    let body = b"<reportResponse><responseCode> 0 </responseCode><responseDescription>Success</responseDescription><newThing>1</newThing><reportId>5</reportId></reportResponse>";
    let r = ncmec::parse_response(body).unwrap();
    assert_eq!((r.code, r.report_id.as_deref()), (0, Some("5")));
}

fn refused_with_a_reason(e: &ReportError) -> bool {
    matches!(
        e,
        ReportError::TooLong { .. }
            | ReportError::Unrepresentable { .. }
            | ReportError::Invalid { .. }
    )
}

proptest::proptest! {
    /// Any text either is refused with a reason or reads back exactly from the document; text
    /// of characters XML carries, within the limits, always reads back.
    #[test]
    fn any_text_is_refused_or_reads_back_exactly(
        service in "\\PC{0,120}|[\\x00-\\x7f]{0,40}",
        uploader in "\\PC{0,300}",
        name in "(\\PC|[\\t\\r\\n]){0,80}",
        bad in "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x{FFFE}\\x{FFFF}]",
    ) {
        let mut facts = minimal_facts();
        facts.service = Some(service.clone());
        facts.uploader_ref = Some(uploader.clone());
        facts.files[0].file_name = Some(name.clone());
        facts.files[0].content_ref = Some(name.clone());
        match ncmec::report_xml(&facts, &minimal_reporter(), NOW) {
            Ok(doc) => {
                let x = parse(&doc);
                if !service.trim().is_empty() {
                    proptest::prop_assert_eq!(texts(&x, "espService"), [service]);
                }
                if !uploader.trim().is_empty() {
                    proptest::prop_assert_eq!(texts(&x, "espIdentifier"), [uploader]);
                }
            }
            Err(e) => proptest::prop_assert!(refused_with_a_reason(&e), "{e:?}"),
        }
        let doc = ncmec::file_details_xml("1", "f", &facts.files[0]).unwrap();
        if !name.trim().is_empty() {
            let x = parse(&doc);
            proptest::prop_assert_eq!(texts(&x, "originalFileName"), [name.clone()]);
        }
        // After a visible character: a name of blanks alone (\x0b, \x0c are blanks) is no name.
        facts.files[0].file_name = Some(format!("a{name}{bad}"));
        let refused = matches!(
            ncmec::file_details_xml("1", "f", &facts.files[0]),
            Err(ReportError::Unrepresentable { .. })
        );
        proptest::prop_assert!(refused);
    }
}
