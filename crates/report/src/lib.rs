//! Report documents: what Spoor sends about confirmed cases, built from plain facts.
//!
//! - [`ncmec`]: the CyberTipline `<report>` and `<fileDetails>` XML documents, exactly as NCMEC's
//!   published schema requires (element order included), and the reading of NCMEC's answers.
//! - [`eu`]: the EU Centre report (CSA Regulation proposal, Art. 13(1)(a)–(k)) as a versioned JSON
//!   document with its own JSON Schema, and its detached Ed25519 JWS signature.
//! - [`notice`]: the notice for the affected user, in Dutch and English, from replaceable templates.
//!
//! The crate is pure: no I/O, no network, no store and no clock. The present time is passed in as
//! `now_ms` (unix milliseconds, UTC) wherever a document needs it. Every refusal is a
//! [`ReportError`] whose message says what is wrong and what to do.

use std::net::IpAddr;

pub mod eu;
pub mod ncmec;
pub mod notice;
mod xml;

/// What a report says about one file (one confirmed case).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileFacts {
    /// Spoor's id of the confirmed case this file belongs to.
    pub case_id: i64,
    /// The item's id or URL in the provider's system. An `http(s)` URL is reported as a URL.
    pub content_ref: Option<String>,
    /// The file's name as the uploader gave it.
    pub file_name: Option<String>,
    /// When the file was uploaded to the service (unix milliseconds).
    pub uploaded_at: Option<i64>,
    /// The address the file was uploaded from.
    pub upload_ip: Option<IpAddr>,
    /// MD5 of the file as uploaded.
    pub md5: Option<[u8; 16]>,
    /// SHA-1 of the file as uploaded.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the file as uploaded.
    pub sha256: Option<[u8; 32]>,
    /// PDQ of the image (for a video, of its representative frame).
    pub pdq: Option<[u8; 32]>,
    /// A person viewed the file in review (NCMEC `fileViewedByEsp`).
    pub viewed_by_person: bool,
    /// The whole file was publicly accessible, when the submitter said so.
    pub publicly_available: Option<bool>,
    /// Industry classification: `"A1"`, `"A2"`, `"B1"` or `"B2"`.
    pub industry_class: Option<String>,
    /// NCMEC `fileAnnotations` flag names, e.g. `"generativeAi"` (see [`ncmec::FILE_ANNOTATIONS`]).
    pub annotations: Vec<String>,
    /// Matched known material (auto-confirmed) rather than newly found.
    pub known: bool,
    /// `"baseline"` (INTERPOL baseline) or `"national"` (illegal in the country of the deployment).
    pub category: Option<String>,
    /// When the case was confirmed (unix milliseconds).
    pub decided_at: i64,
    /// Whether the provider removed or disabled the file, when known.
    pub removed: Option<bool>,
}

/// What one report says: one uploader on one service, one or more files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportFacts {
    /// Spoor's own id of the report (UUID text); also the EU Centre's idempotency key.
    pub report_uuid: String,
    /// The provider's product or service the files were uploaded to.
    pub service: Option<String>,
    /// The uploader's id in the provider's system.
    pub uploader_ref: Option<String>,
    /// The files (confirmed cases) the report is about; at least one.
    pub files: Vec<FileFacts>,
    /// Urgent action is needed (for instance an immediate risk to a child).
    pub urgent: bool,
    /// Third-country authorities or organisations also told (e.g. `"NCMEC"`).
    pub reported_elsewhere: Vec<String>,
}

/// The reporting person and company boilerplate, from configuration (a file the operator writes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reporter {
    /// The reporting person's email address (required by NCMEC).
    pub email: String,
    /// The reporting person's first name.
    pub first_name: Option<String>,
    /// The reporting person's last name.
    pub last_name: Option<String>,
    /// The reporting person's phone number.
    pub phone: Option<String>,
    /// Company boilerplate: company information, how to serve legal process, data retention,
    /// a 24-hour emergency phone number.
    pub company_template: Option<String>,
    /// The terms of service relevant to the reports.
    pub terms_of_service: Option<String>,
    /// A URL of a page with further information (`http` or `https`).
    pub legal_url: Option<String>,
}

/// Who the provider is, for the EU Centre (Art. 13(1)(a)), from configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The provider's legal name.
    pub name: String,
    /// The provider's postal address.
    pub address: String,
    /// The provider's contact point for the EU Centre.
    pub contact_email: String,
    /// The provider's legal representative in the Union, when it has one.
    pub legal_representative: Option<String>,
    /// The legal basis of the detection and the report, e.g. `"Regulation (EU) 2021/1232"`: a
    /// dated setting of the deployment, changed when the law changes.
    pub legal_basis: String,
}

/// Why a document could not be built or read. Each message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report with no files.
    #[error("the report has no files: a report is about at least one confirmed case; add its cases before building it")]
    NoFiles,
    /// A value longer than the receiver accepts.
    #[error("{field} is {len} characters long, more than the {max} the receiver accepts; shorten it where it is set (Spoor does not cut it)")]
    TooLong {
        /// Which value.
        field: String,
        /// Its length in characters.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// A character an XML document cannot carry.
    #[error("{field} holds the character U+{code:04X}, which an XML document cannot carry; remove control characters from it where it is set")]
    Unrepresentable {
        /// Which value.
        field: String,
        /// The character's code point.
        code: u32,
    },
    /// A value the receiver would refuse.
    #[error("{field} is not valid: {reason}")]
    Invalid {
        /// Which value.
        field: String,
        /// What is wrong with it and what to do.
        reason: String,
    },
    /// A time that cannot be written as a date.
    #[error("{field} ({ms} ms since 1970) is not a date between the years 1 and 9999; check the stored time or the clock")]
    TimeOutOfRange {
        /// Which time.
        field: String,
        /// The time given.
        ms: i64,
    },
    /// An NCMEC environment name that is neither `test` nor `production`.
    #[error("unknown NCMEC environment {0:?}: say \"test\" or \"production\"")]
    UnknownEnvironment(String),
    /// An answer from NCMEC that is not a readable `<reportResponse>` or `<reportDoneResponse>`.
    #[error("the NCMEC answer is not readable: {0}; keep the body and its Request-ID header for NCMEC's help desk")]
    MalformedResponse(String),
    /// A JWS that is not a detached EdDSA JWS.
    #[error("the signature is not a detached EdDSA JWS: {0}; sign with spoor's eu::sign or a compatible signer")]
    MalformedSignature(String),
    /// A signature that does not match the body and the key.
    #[error("the signature does not verify: the body was changed after signing or it was signed with another key; check the key id and resend the exact signed bytes")]
    BadSignature,
    /// A notice template naming a placeholder that does not exist.
    #[error("notice template {template:?} uses the unknown placeholder {{{name}}}: use only {known} (write {{{{ and }}}} for literal braces)")]
    UnknownPlaceholder {
        /// Which template (its language).
        template: String,
        /// The unknown name.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A notice template that is not well formed.
    #[error("notice template {template:?} is not well formed: {reason}")]
    BadTemplate {
        /// Which template (its language).
        template: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A notice language with no template.
    #[error("there is no notice template for language {lang:?}: use one of {known} or add a template for it")]
    UnknownLanguage {
        /// The language asked for.
        lang: String,
        /// The languages that have a template.
        known: String,
    },
}

/// The industry classification values NCMEC accepts (A: prepubescent, B: pubescent; 1: sexual
/// act, 2: lascivious exhibition).
pub const INDUSTRY_CLASSES: [&str; 4] = ["A1", "A2", "B1", "B2"];

/// The material categories a file may carry.
pub const CATEGORIES: [&str; 2] = ["baseline", "national"];

/// Checks the facts' closed-vocabulary values (industry class, category, annotations), that
/// times are dates (years 1–9999), that the report id is short text, and that the report has
/// files. [`ncmec::report_xml`] and [`ncmec::file_details_xml`] check this
/// themselves; call it before [`eu::document`], which cannot fail and writes values as given.
pub fn validate(facts: &ReportFacts) -> Result<(), ReportError> {
    if facts.files.is_empty() {
        return Err(ReportError::NoFiles);
    }
    let uuid = &facts.report_uuid;
    if uuid.trim().is_empty() || uuid.chars().count() > 64 || uuid.chars().any(char::is_control) {
        return Err(ReportError::Invalid {
            field: "report_uuid".into(),
            reason: format!("{uuid:?} is not a report id; give the report its UUID"),
        });
    }
    for file in &facts.files {
        validate_file(file)?;
    }
    Ok(())
}

pub(crate) fn validate_file(file: &FileFacts) -> Result<(), ReportError> {
    let at = |what: &str| format!("case {} {what}", file.case_id);
    rfc3339(&at("decided_at"), file.decided_at, true)?;
    if let Some(ms) = file.uploaded_at {
        rfc3339(&at("uploaded_at"), ms, true)?;
    }
    if let Some(class) = &file.industry_class {
        if !INDUSTRY_CLASSES.contains(&class.as_str()) {
            return Err(ReportError::Invalid {
                field: at("industry_class"),
                reason: format!("{class:?} is not one of A1, A2, B1, B2"),
            });
        }
    }
    if let Some(category) = &file.category {
        if !CATEGORIES.contains(&category.as_str()) {
            return Err(ReportError::Invalid {
                field: at("category"),
                reason: format!("{category:?} is not \"baseline\" or \"national\""),
            });
        }
    }
    for flag in &file.annotations {
        if !ncmec::FILE_ANNOTATIONS.contains(&flag.as_str()) {
            return Err(ReportError::Invalid {
                field: at("annotations"),
                reason: format!(
                    "{flag:?} is not an NCMEC file annotation; use one of {}",
                    ncmec::FILE_ANNOTATIONS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// `ms` as an RFC 3339 UTC time. `millis` keeps the milliseconds; without it the time is cut to
/// the second below (never later than `ms`).
pub(crate) fn rfc3339(field: &str, ms: i64, millis: bool) -> Result<String, ReportError> {
    let out_of_range = || ReportError::TimeOutOfRange { field: field.to_string(), ms };
    let secs = ms.div_euclid(1000);
    let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| out_of_range())?;
    if !(1..=9999).contains(&t.year()) {
        return Err(out_of_range());
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if millis {
        s.push_str(&format!(".{:03}", ms.rem_euclid(1000)));
    }
    s.push('Z');
    Ok(s)
}

/// Whether `s` is an absolute `http` or `https` URL with a host and no blanks or controls.
pub(crate) fn is_http_url(s: &str) -> bool {
    let starts = |p: &[u8]| s.as_bytes().get(..p.len()).is_some_and(|b| b.eq_ignore_ascii_case(p));
    let rest = if starts(b"https://") {
        &s[8..]
    } else if starts(b"http://") {
        &s[7..]
    } else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    !authority.is_empty()
        && !authority.starts_with(':')
        && !authority.starts_with('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A non-blank optional value, or `None`.
pub(crate) fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_and_cuts_to_the_second() {
        assert_eq!(rfc3339("t", 0, false).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339("t", 1_764_539_131_999, false).unwrap(), "2025-11-30T21:45:31Z");
        assert_eq!(rfc3339("t", 1_764_539_131_999, true).unwrap(), "2025-11-30T21:45:31.999Z");
        assert_eq!(rfc3339("t", -1, true).unwrap(), "1969-12-31T23:59:59.999Z");
        assert!(matches!(rfc3339("t", i64::MAX, false), Err(ReportError::TimeOutOfRange { .. })));
        assert!(matches!(
            rfc3339("t", 253_402_300_800_000, false),
            Err(ReportError::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn http_urls_are_told_from_ids() {
        for url in
            ["https://example.org/a?b=1&c=2", "HTTP://x", "http://x:80/p#f", "http://éxample.org/ü"]
        {
            assert!(is_http_url(url), "{url}");
        }
        for not in [
            "item-123",
            "ftp://x/y",
            "https://",
            "https:///path",
            "http://a b",
            "https://x/\n",
            "http",
            "é",
        ] {
            assert!(!is_http_url(not), "{not}");
        }
    }
}
