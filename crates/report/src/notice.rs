//! The notice for the affected user on a confirmed case: what was found, what was done, the
//! reasons, how to complain, and the right to go to the data protection authority and to court.
//!
//! Notices are rendered from plain-text templates, one per language. Built-in templates exist
//! for Dutch (`nl`) and English (`en`); a deployment replaces them or adds languages with
//! [`Templates::set`]. A template's first line is `Subject: …`, then an empty line, then the body.
//! `{name}` is replaced by the fact of that name ([`PLACEHOLDERS`]); `{{` and `}}` write literal
//! braces; any other name is refused, when the template is set and when it is rendered.

use std::collections::BTreeMap;

use crate::ReportError;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] =
    ["case_id", "content_ref", "decided_at", "service", "complaint_url", "found", "done"];

const BUILTIN: [(&str, &str); 2] = [
    ("en", include_str!("../templates/notice-en.txt")),
    ("nl", include_str!("../templates/notice-nl.txt")),
];

/// The facts a notice tells.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoticeFacts {
    /// The confirmed case.
    pub case_id: i64,
    /// The item's id or URL in the provider's system, as the user knows it.
    pub content_ref: String,
    /// When the case was confirmed (unix milliseconds).
    pub decided_at: i64,
    /// The provider's service the item was on.
    pub service: String,
    /// Where the user can complain about the decision.
    pub complaint_url: String,
    /// What was found, in plain words (in the notice's language).
    pub found: String,
    /// What was done, in plain words (in the notice's language), e.g. that the item was removed.
    pub done: String,
}

/// A rendered notice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// The notice's language.
    pub lang: String,
    /// The subject line.
    pub subject: String,
    /// The body.
    pub body: String,
}

/// Notice templates by language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    by_lang: BTreeMap<String, String>,
}

impl Default for Templates {
    /// The built-in Dutch and English templates.
    fn default() -> Self {
        Templates {
            by_lang: BUILTIN
                .iter()
                .map(|(lang, text)| (lang.to_string(), text.to_string()))
                .collect(),
        }
    }
}

impl Templates {
    /// The built-in Dutch and English templates.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Sets (or replaces) the template of `lang`, after checking it: a subject line, an empty
    /// line, a body, and only known placeholders.
    pub fn set(&mut self, lang: &str, text: &str) -> Result<(), ReportError> {
        split(lang, text)?;
        fill(lang, text, &|_| Some(String::new()))?;
        self.by_lang.insert(lang.to_string(), text.to_string());
        Ok(())
    }

    /// The languages that have a template.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.by_lang.keys().map(String::as_str)
    }
}

fn bad(lang: &str, reason: &str) -> ReportError {
    ReportError::BadTemplate { template: lang.to_string(), reason: reason.to_string() }
}

/// The subject and body of a template.
fn split<'a>(lang: &str, text: &'a str) -> Result<(&'a str, &'a str), ReportError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Subject:")
        .ok_or_else(|| bad(lang, "its first line does not start with \"Subject:\""))?
        .trim();
    let body = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))
        .ok_or_else(|| bad(lang, "the subject line is not followed by an empty line"))?;
    if subject.is_empty() || body.trim().is_empty() {
        return Err(bad(lang, "its subject or body is empty"));
    }
    Ok((subject, body))
}

/// `text` with every `{name}` replaced by `value(name)`; an unknown name is an error.
fn fill(
    lang: &str,
    text: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ReportError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err(bad(lang, "it has a lone \"}\" (write \"}}\" for a brace)"));
        } else {
            let end =
                tail.find('}').ok_or_else(|| bad(lang, "it has a \"{\" that is never closed"))?;
            let name = &tail[1..end];
            match value(name).filter(|_| PLACEHOLDERS.contains(&name)) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(ReportError::UnknownPlaceholder {
                        template: lang.to_string(),
                        name: name.to_string(),
                        known: PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", "),
                    })
                }
            }
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `ms` as `YYYY-MM-DD HH:MM UTC`.
fn when(ms: i64) -> Result<String, ReportError> {
    let t = crate::rfc3339("decided_at", ms, false)?;
    Ok(format!("{} {} UTC", &t[..10], &t[11..16]))
}

/// The notice of `facts` in `lang`, from `templates`.
pub fn render(
    lang: &str,
    facts: &NoticeFacts,
    templates: &Templates,
) -> Result<Notice, ReportError> {
    let text = templates.by_lang.get(lang).ok_or_else(|| ReportError::UnknownLanguage {
        lang: lang.to_string(),
        known: templates.languages().collect::<Vec<_>>().join(", "),
    })?;
    let decided = when(facts.decided_at)?;
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "case_id" => facts.case_id.to_string(),
            "content_ref" => facts.content_ref.clone(),
            "decided_at" => decided.clone(),
            "service" => facts.service.clone(),
            "complaint_url" => facts.complaint_url.clone(),
            "found" => facts.found.clone(),
            "done" => facts.done.clone(),
            _ => return None,
        })
    };
    let (subject, body) = split(lang, text)?;
    Ok(Notice {
        lang: lang.to_string(),
        // A value never breaks the subject line.
        subject: fill(lang, subject, &value)?.replace(['\r', '\n'], " "),
        body: fill(lang, body, &value)?,
    })
}
