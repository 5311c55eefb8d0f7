//! NCMEC CyberTipline Reporting API documents.
//!
//! The flow the delivery worker follows is `/submit` ([`report_xml`]) → `/upload` per file
//! → `/fileinfo` ([`file_details_xml`]) → `/finish`, and `/retract` on failure before finishing;
//! every answer is read with [`parse_response`].
//!
//! Documents follow NCMEC's published schema (an `xs:sequence` everywhere, so element order is
//! part of validity) and the limits its API documentation states. A value over a limit is
//! refused with [`ReportError::TooLong`], never cut: every limited field is an identifier, a
//! name, an address or a URL, which a cut would make wrong. Text without a stated limit (company
//! boilerplate, terms of service) is only checked for characters XML cannot carry
//! ([`ReportError::Unrepresentable`]). Blank optional values are left out.
//!
//! Times are written in UTC to the second (cut, never rounded up). NCMEC requires them to be in
//! the past, so: an upload time later than the file's decision time (a clock that ran ahead at
//! the provider) is written as the decision time, since a file is uploaded before it is decided
//! on; and the incident time is never later than `now_ms`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use spoor_core::{Hash256, Md5, Sha1, Sha256};

use crate::xml::{check, Writer};
use crate::{is_http_url, present, rfc3339, FileFacts, ReportError, ReportFacts, Reporter};

/// The base URL of NCMEC's test environment (the default).
pub const TEST_BASE: &str = "https://exttest.cybertip.org/ispws";
/// The base URL of NCMEC's production environment.
pub const PRODUCTION_BASE: &str = "https://report.cybertip.org/ispws";

/// The incident type of every report Spoor makes.
pub const INCIDENT_TYPE: &str = "Child Pornography (possession, manufacture, and distribution)";

/// The `fileAnnotations` flags NCMEC's schema defines, in the schema's order.
pub const FILE_ANNOTATIONS: [&str; 10] = [
    "animeDrawingVirtualHentai",
    "potentialMeme",
    "viral",
    "possibleSelfProduction",
    "physicalHarm",
    "violenceGore",
    "bestiality",
    "liveStreaming",
    "infant",
    "generativeAi",
];

/// The text of `escalateToHighPriority` for an urgent report (supplying it escalates the report).
pub const ESCALATION_TEXT: &str =
    "The reporting service marked this report urgent: there may be an immediate risk to a child.";

// Limits stated in NCMEC's API documentation (in characters).
const MAX_URL: usize = 2083;
const MAX_NAME: usize = 100;
const MAX_PHONE: usize = 50;
const MAX_EMAIL: usize = 255;
const MAX_EMAIL_LOCAL: usize = 64;
const MAX_ESP_IDENTIFIER: usize = 255;
const MAX_ESP_SERVICE: usize = 100;
const MAX_FILE_NAME: usize = 2056;

/// Which NCMEC environment reports go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// NCMEC's test environment: the default, so nothing reaches production by accident.
    #[default]
    Test,
    /// NCMEC's production environment: only when asked for explicitly.
    Production,
}

impl Environment {
    /// The base URL of the environment's API.
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::Test => TEST_BASE,
            Environment::Production => PRODUCTION_BASE,
        }
    }
}

impl FromStr for Environment {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, ReportError> {
        match s {
            "test" => Ok(Environment::Test),
            "production" => Ok(Environment::Production),
            other => Err(ReportError::UnknownEnvironment(other.to_string())),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Test => "test",
            Environment::Production => "production",
        })
    }
}

/// A file's upload time as reported: never later than its decision time (see the module docs).
fn upload_time(file: &FileFacts) -> Option<i64> {
    file.uploaded_at.map(|at| at.min(file.decided_at))
}

/// The incident time of a report: the newest upload time of its files, or the newest decision
/// time when no upload time is known; never later than `now_ms`. `None` when there are no files.
pub fn incident_time_ms(facts: &ReportFacts, now_ms: i64) -> Option<i64> {
    let newest_upload = facts.files.iter().filter_map(upload_time).max();
    let newest = newest_upload.or_else(|| facts.files.iter().map(|f| f.decided_at).max())?;
    Some(newest.min(now_ms))
}

/// The name under which a file is uploaded and described: `spoor-case-<case id>`, with the
/// original name's extension when it is a plain one (1–8 ASCII letters or digits).
pub fn upload_file_name(file: &FileFacts) -> String {
    let ext =
        present(&file.file_name).and_then(|name| name.rsplit_once('.')).map(|(_, ext)| ext).filter(
            |ext| (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()),
        );
    match ext {
        Some(ext) => format!("spoor-case-{}.{}", file.case_id, ext.to_ascii_lowercase()),
        None => format!("spoor-case-{}", file.case_id),
    }
}

fn check_email(field: &str, email: &str) -> Result<(), ReportError> {
    check(field, email, Some(MAX_EMAIL))?;
    let invalid = |reason: &str| ReportError::Invalid {
        field: field.to_string(),
        reason: format!("{email:?} {reason}; give a working address such as reports@example.org"),
    };
    let (local, domain) = email.rsplit_once('@').ok_or_else(|| invalid("has no @"))?;
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        return Err(invalid("is not an address"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("holds blanks"));
    }
    if local.chars().count() > MAX_EMAIL_LOCAL {
        return Err(ReportError::TooLong {
            field: format!("{field} (the part before @)"),
            len: local.chars().count(),
            max: MAX_EMAIL_LOCAL,
        });
    }
    Ok(())
}

fn check_url(field: &str, url: &str) -> Result<(), ReportError> {
    check(field, url, Some(MAX_URL))?;
    if !is_http_url(url) {
        return Err(ReportError::Invalid {
            field: field.to_string(),
            reason: format!("{url:?} is not an http or https URL"),
        });
    }
    Ok(())
}

/// The URL among a file's reference, when it is one.
fn file_url(file: &FileFacts) -> Option<&str> {
    present(&file.content_ref).filter(|r| is_http_url(r))
}

fn ip_capture_event(w: &mut Writer, ip: std::net::IpAddr, at: Option<&str>) {
    w.open("ipCaptureEvent");
    w.leaf("ipAddress", &ip.to_string());
    w.leaf("eventName", "Upload");
    if let Some(at) = at {
        w.leaf("dateTime", at);
    }
    w.close();
}

/// Checks the reporter configuration as [`report_xml`] does: an email address NCMEC accepts,
/// names and phone within NCMEC's limits, an `http(s)` legal URL, text XML can carry. Call it
/// when the configuration is loaded, so that a mistake shows at start-up rather than at delivery.
pub fn check_reporter(reporter: &Reporter) -> Result<(), ReportError> {
    check_email("reporter email", &reporter.email)?;
    let first_name = present(&reporter.first_name);
    let last_name = present(&reporter.last_name);
    let phone = present(&reporter.phone);
    let template = present(&reporter.company_template);
    let terms = present(&reporter.terms_of_service);
    let legal_url = present(&reporter.legal_url);
    if let Some(v) = first_name {
        check("reporter first_name", v, Some(MAX_NAME))?;
    }
    if let Some(v) = last_name {
        check("reporter last_name", v, Some(MAX_NAME))?;
    }
    if let Some(v) = phone {
        check("reporter phone", v, Some(MAX_PHONE))?;
    }
    if let Some(v) = template {
        check("reporter company_template", v, None)?;
    }
    if let Some(v) = terms {
        check("reporter terms_of_service", v, None)?;
    }
    if let Some(v) = legal_url {
        check_url("reporter legal_url", v)?;
    }

    Ok(())
}

/// The `<report>` document for `/submit`.
///
/// Incident time: the newest upload time of the report's files (the newest decision time when
/// none is known), never later than `now_ms` ([`incident_time_ms`]). The document holds the
/// `webPageIncident` URLs of the files whose `content_ref` is an `http(s)` URL, the reporter from
/// configuration, the reported user (`espIdentifier`, `espService`, one `Upload` `ipCaptureEvent`
/// per distinct upload address and time), `escalateToHighPriority` ([`ESCALATION_TEXT`]) when the
/// report is urgent, and `additionalInfo` naming Spoor's report id (`Spoor report <uuid>`) and its
/// cases.
pub fn report_xml(
    facts: &ReportFacts,
    reporter: &Reporter,
    now_ms: i64,
) -> Result<String, ReportError> {
    crate::validate(facts)?;
    check("report_uuid", &facts.report_uuid, None)?;
    let incident_ms = incident_time_ms(facts, now_ms).ok_or(ReportError::NoFiles)?;
    let incident = rfc3339("incident time", incident_ms, false)?;

    let mut urls: Vec<&str> = Vec::new();
    for (i, file) in facts.files.iter().enumerate() {
        if let Some(url) = file_url(file) {
            check_url(&format!("file {} (case {}) content_ref", i + 1, file.case_id), url)?;
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }

    check_reporter(reporter)?;
    let first_name = present(&reporter.first_name);
    let last_name = present(&reporter.last_name);
    let phone = present(&reporter.phone);
    let template = present(&reporter.company_template);
    let terms = present(&reporter.terms_of_service);
    let legal_url = present(&reporter.legal_url);

    let uploader = present(&facts.uploader_ref);
    let service = present(&facts.service);
    if let Some(v) = uploader {
        check("uploader_ref", v, Some(MAX_ESP_IDENTIFIER))?;
    }
    if let Some(v) = service {
        check("service", v, Some(MAX_ESP_SERVICE))?;
    }
    let mut events: Vec<(std::net::IpAddr, Option<String>)> = Vec::new();
    for file in &facts.files {
        if let Some(ip) = file.upload_ip {
            let at = upload_time(file)
                .map(|ms| rfc3339(&format!("case {} uploaded_at", file.case_id), ms, false))
                .transpose()?;
            if !events.contains(&(ip, at.clone())) {
                events.push((ip, at));
            }
        }
    }

    let mut w = Writer::new("report");
    w.open("incidentSummary");
    w.leaf("incidentType", INCIDENT_TYPE);
    if facts.urgent {
        w.leaf("escalateToHighPriority", ESCALATION_TEXT);
    }
    w.leaf("incidentDateTime", &incident);
    w.close();

    if !urls.is_empty() {
        w.open("internetDetails");
        w.open("webPageIncident");
        for url in &urls {
            w.leaf("url", url);
        }
        w.close();
        w.close();
    }

    w.open("reporter");
    w.open("reportingPerson");
    if let Some(v) = first_name {
        w.leaf("firstName", v);
    }
    if let Some(v) = last_name {
        w.leaf("lastName", v);
    }
    if let Some(v) = phone {
        w.leaf("phone", v);
    }
    w.leaf("email", &reporter.email);
    w.close();
    if let Some(v) = template {
        w.leaf("companyTemplate", v);
    }
    if let Some(v) = terms {
        w.leaf("termsOfService", v);
    }
    if let Some(v) = legal_url {
        w.leaf("legalURL", v);
    }
    w.close();

    if uploader.is_some() || service.is_some() || !events.is_empty() {
        w.open("personOrUserReported");
        if let Some(v) = uploader {
            w.leaf("espIdentifier", v);
        }
        if let Some(v) = service {
            w.leaf("espService", v);
        }
        for (ip, at) in &events {
            ip_capture_event(&mut w, *ip, at.as_deref());
        }
        w.close();
    }

    let cases: Vec<String> = facts.files.iter().map(|f| f.case_id.to_string()).collect();
    let known = facts.files.iter().filter(|f| f.known).count();
    w.leaf(
        "additionalInfo",
        &format!(
            "Spoor report {}. Cases: {}. Files: {} ({} matched known material, {} newly identified).",
            facts.report_uuid.trim(),
            cases.join(", "),
            facts.files.len(),
            known,
            facts.files.len() - known
        ),
    );
    Ok(w.finish())
}

/// The `<fileDetails>` document for `/fileinfo` of one uploaded (or hash-only) file.
///
/// `ncmec_report_id` is the `reportId` of `/submit`'s answer (digits), `ncmec_file_id` the
/// `fileId` of `/upload`'s. The document names the file [`upload_file_name`], gives the original
/// name, upload time and URL when known, `fileViewedByEsp` true only when a person viewed the
/// file (known material confirmed automatically says false), `exifViewedByEsp` false,
/// `publiclyAvailable` when known, the annotations and industry classification, the original
/// hashes (`hashType` `MD5`, `SHA1`, `SHA256`, `PDQ`; lower-case hex), the upload address, and an
/// `additionalInfo` naming the Spoor case and, when it is not a URL, the item's reference.
pub fn file_details_xml(
    ncmec_report_id: &str,
    ncmec_file_id: &str,
    file: &FileFacts,
) -> Result<String, ReportError> {
    crate::validate_file(file)?;
    let report_id = ncmec_report_id.trim();
    if report_id.is_empty()
        || report_id.len() > 18
        || !report_id.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ReportError::Invalid {
            field: "NCMEC report id".into(),
            reason: format!(
                "{ncmec_report_id:?} is not a CyberTipline report id (digits); pass the reportId of the /submit answer"
            ),
        });
    }
    let file_id = ncmec_file_id.trim();
    check("NCMEC file id", file_id, Some(MAX_URL))?;
    if file_id.is_empty() || file_id.chars().any(char::is_whitespace) {
        return Err(ReportError::Invalid {
            field: "NCMEC file id".into(),
            reason: format!(
                "{ncmec_file_id:?} is not a file id; pass the fileId of the /upload answer"
            ),
        });
    }
    let field = |what: &str| format!("case {} {what}", file.case_id);
    let original_name = present(&file.file_name);
    if let Some(v) = original_name {
        check(&field("file_name"), v, Some(MAX_FILE_NAME))?;
    }
    let url = file_url(file);
    if let Some(v) = url {
        check_url(&field("content_ref"), v)?;
    }
    let other_ref = present(&file.content_ref).filter(|r| !is_http_url(r));
    if let Some(v) = other_ref {
        check(&field("content_ref"), v, None)?;
    }
    let uploaded =
        upload_time(file).map(|ms| rfc3339(&field("uploaded_at"), ms, false)).transpose()?;

    let mut w = Writer::new("fileDetails");
    w.leaf("reportId", report_id);
    w.leaf("fileId", file_id);
    w.leaf("fileName", &upload_file_name(file));
    if let Some(v) = original_name {
        w.leaf("originalFileName", v);
    }
    if let Some(v) = &uploaded {
        w.leaf("uploadedToEspTimestamp", v);
    }
    if let Some(v) = url {
        w.leaf("locationOfFile", v);
    }
    w.leaf("fileViewedByEsp", bool_text(file.viewed_by_person));
    w.leaf("exifViewedByEsp", "false");
    if let Some(v) = file.publicly_available {
        w.leaf("publiclyAvailable", bool_text(v));
    }
    let flags: BTreeSet<usize> = file
        .annotations
        .iter()
        .filter_map(|a| FILE_ANNOTATIONS.iter().position(|f| f == a))
        .collect();
    if !flags.is_empty() {
        w.open("fileAnnotations");
        for i in flags {
            w.leaf(FILE_ANNOTATIONS[i], "true");
        }
        w.close();
    }
    if let Some(v) = &file.industry_class {
        w.leaf("industryClassification", v);
    }
    if let Some(v) = file.md5 {
        w.leaf_with("originalFileHash", &[("hashType", "MD5")], &Md5(v).to_string());
    }
    if let Some(v) = file.sha1 {
        w.leaf_with("originalFileHash", &[("hashType", "SHA1")], &Sha1(v).to_string());
    }
    if let Some(v) = file.sha256 {
        w.leaf_with("originalFileHash", &[("hashType", "SHA256")], &Sha256(v).to_string());
    }
    if let Some(v) = file.pdq {
        w.leaf_with(
            "originalFileHash",
            &[("hashType", "PDQ")],
            &Hash256::from_bytes(v).to_string(),
        );
    }
    if let Some(ip) = file.upload_ip {
        ip_capture_event(&mut w, ip, uploaded.as_deref());
    }
    let mut info = format!(
        "Spoor case {}: {}.",
        file.case_id,
        if file.known {
            "matched known material in a hash list"
        } else {
            "newly identified material, confirmed in review"
        }
    );
    if let Some(v) = other_ref {
        info.push_str(&format!(" Item in the service: {v}"));
    }
    w.leaf("additionalInfo", &info);
    Ok(w.finish())
}

fn bool_text(v: bool) -> &'static str {
    if v {
        "true"
    } else {
        "false"
    }
}

/// An answer of NCMEC's API: a `<reportResponse>` (to `/submit`, `/upload`, `/fileinfo`,
/// `/retract`, `/status`) or a `<reportDoneResponse>` (to `/finish`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    /// `responseCode`: 0 is success.
    pub code: i64,
    /// `responseDescription`; for a `<reportDoneResponse>`, which has none, the documented
    /// meaning of the code (empty for a code NCMEC does not document).
    pub description: String,
    /// `reportId`, when given.
    pub report_id: Option<String>,
    /// `fileId` of an upload, when given.
    pub file_id: Option<String>,
    /// `hash`: the MD5 of an uploaded file as NCMEC received it, when given.
    pub hash: Option<String>,
    /// The `files/fileId` list of a `<reportDoneResponse>`.
    pub file_ids: Vec<String>,
}

impl Response {
    /// Code 0: the request did what it asked.
    pub fn is_success(&self) -> bool {
        self.code == 0
    }

    /// Code 5102: the report was finished before (a `/finish` that is repeated after a lost
    /// answer says this; the report is done).
    pub fn already_finished(&self) -> bool {
        self.code == 5102
    }

    /// An error that retrying the same request cannot mend: authentication and authorisation
    /// (2000, 3000, 3100, 3300), invalid or malformed requests (4000, 4100, 4110, 4200), things
    /// that do not exist (1210, 5001, 5002) and a retracted report (5101). Server-side failures
    /// (1000, 1100, 1110, 1111, 1300) and codes NCMEC does not document are worth retrying.
    /// 5102 is not counted here: see [`Response::already_finished`].
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.code,
            1210 | 2000 | 3000 | 3100 | 3300 | 4000 | 4100 | 4110 | 4200 | 5001 | 5002 | 5101
        )
    }
}

/// The documented meaning of a response code.
pub fn code_meaning(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "Success",
        1000 => "Server error",
        1100 => "Save failed",
        1110 => "Upload failed",
        1111 => "File upload failed",
        1210 => "Resource not found",
        1300 => "Update failed",
        2000 => "Authentication required",
        3000 => "User is not authorized to perform this action",
        3100 => "User does not have authorization to make submissions",
        3300 => "User does not have authorization to make updates",
        4000 => "Invalid request",
        4100 => "Validation failed",
        4110 => "Malformed XML submittal",
        4200 => "Malformed file submittal",
        5001 => "Report does not exist",
        5002 => "File does not exist",
        5101 => "Report already retracted",
        5102 => "Report already finished",
        _ => return None,
    })
}

/// Reads a `<reportResponse>` or `<reportDoneResponse>` body. Anything else (not UTF-8, not
/// well-formed XML, a DTD, another root element, a missing or non-numeric `responseCode`, a
/// `reportId` that is not a number, a repeated element) is [`ReportError::MalformedResponse`].
/// Elements the schema does not name are ignored, so that an answer with new fields still reads.
pub fn parse_response(body: &[u8]) -> Result<Response, ReportError> {
    let bad = |what: String| ReportError::MalformedResponse(what);
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("it is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let doc = roxmltree::Document::parse(text).map_err(|e| bad(format!("it is not XML ({e})")))?;
    let root = doc.root_element();
    let done = match root.tag_name().name() {
        "reportResponse" => false,
        "reportDoneResponse" => true,
        other => {
            return Err(bad(format!(
                "its root element is <{other}>, not <reportResponse> or <reportDoneResponse>"
            )))
        }
    };
    let mut code = None;
    let mut description = None;
    let mut report_id = None;
    let mut file_id = None;
    let mut hash = None;
    let mut file_ids = Vec::new();
    let once = |slot: &mut Option<String>, node: roxmltree::Node| -> Result<(), ReportError> {
        if slot.is_some() {
            return Err(bad(format!("<{}> appears more than once", node.tag_name().name())));
        }
        *slot = Some(node.text().unwrap_or("").trim().to_string());
        Ok(())
    };
    for child in root.children().filter(|n| n.is_element()) {
        match child.tag_name().name() {
            "responseCode" => once(&mut code, child)?,
            "responseDescription" => once(&mut description, child)?,
            "reportId" => once(&mut report_id, child)?,
            "fileId" => once(&mut file_id, child)?,
            "hash" => once(&mut hash, child)?,
            "files" => {
                for f in child.children().filter(|n| n.is_element()) {
                    if f.tag_name().name() == "fileId" {
                        let id = f.text().unwrap_or("").trim();
                        if !id.is_empty() {
                            file_ids.push(id.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let code = code.ok_or_else(|| bad("it has no <responseCode>".into()))?;
    let code: i64 =
        code.parse().map_err(|_| bad(format!("its <responseCode> {code:?} is not a number")))?;
    let report_id = report_id.filter(|id| !id.is_empty());
    if let Some(id) = &report_id {
        if id.len() > 19 || id.parse::<i64>().is_err() {
            return Err(bad(format!("its <reportId> {id:?} is not a number")));
        }
    }
    let description = match description {
        Some(d) => d,
        None if done => code_meaning(code).unwrap_or("").to_string(),
        None => String::new(),
    };
    Ok(Response {
        code,
        description,
        report_id,
        file_id: file_id.filter(|s| !s.is_empty()),
        hash: hash.filter(|s| !s.is_empty()),
        file_ids,
    })
}
