//! Which reports a decided case goes into, and the effects (webhook message, reports) stored in
//! the transaction of the change that makes them.
//!
//! A case is reported when it is confirmed as illegal material (INTERPOL baseline or nationally
//! illegal, or known material confirmed by the rules), to every configured recipient. Cases of
//! one uploader on one service (as the submitter names them) join one report while it is young
//! (the window); a case with no uploader is reported alone.

use std::time::Duration;

use spoor_bank::cases::{Case, CaseState, Effects};
use spoor_bank::model::Category;
use spoor_bank::reports::ReportRequest;

use crate::webhook::{self, WebhookConfig};

/// NCMEC's CyberTipline.
pub const NCMEC: &str = "ncmec";
/// The EU Centre.
pub const EU_CENTRE: &str = "eu_centre";

/// Who receives reports, how long a report waits for more cases of its uploader, and the
/// notice the affected user gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPolicy {
    /// Recipients (`ncmec`, `eu_centre`); none: nothing is reported.
    pub recipients: Vec<String>,
    /// How long a new report collects cases of the same uploader and service.
    pub window: Duration,
    /// The user notice of a confirmed case (`None`: no notice is made).
    pub notices: Option<NoticeConfig>,
}

/// How user notices are written: in which languages, from which templates, and where users
/// complain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeConfig {
    /// The languages of every notice (each has a template), e.g. `nl`, `en`.
    pub languages: Vec<String>,
    /// Where the user can complain about the decision.
    pub complaint_url: String,
    /// The templates (built-in Dutch and English, or the deployment's).
    pub templates: spoor_report::notice::Templates,
}

/// What was found and what was done, in plain words, per language (English for a language
/// with no words of its own: its template can say them itself).
fn plain_words(lang: &str) -> (&'static str, &'static str) {
    match lang {
        "nl" => (
            "materiaal van seksueel misbruik van kinderen, dat verboden is",
            "Het item is niet langer beschikbaar en is gemeld zoals de wet voorschrijft.",
        ),
        _ => (
            "child sexual abuse material, which is illegal",
            "The item is no longer available and has been reported as the law requires.",
        ),
    }
}

/// The outbox message with the notice for the user affected by `case`, held until its "do
/// not inform" ends; `None` when the case is not confirmed as illegal.
pub fn notice_message(
    hook: &WebhookConfig,
    cfg: &NoticeConfig,
    case: &Case,
) -> Option<spoor_bank::cases::Message> {
    if !ReportPolicy::reportable(case) {
        return None;
    }
    let mut notices = Vec::with_capacity(cfg.languages.len());
    for lang in &cfg.languages {
        let (found, done) = plain_words(lang);
        let facts = spoor_report::notice::NoticeFacts {
            case_id: case.id,
            content_ref: case.meta.content_ref.clone().unwrap_or_default(),
            decided_at: case.decided_at.unwrap_or(case.created_at),
            service: case.meta.service.clone().unwrap_or_default(),
            complaint_url: cfg.complaint_url.clone(),
            found: found.into(),
            done: done.into(),
        };
        match spoor_report::notice::render(lang, &facts, &cfg.templates) {
            Ok(n) => notices
                .push(serde_json::json!({"lang": n.lang, "subject": n.subject, "body": n.body})),
            Err(e) => {
                // Checked at start; a case whose facts a template cannot take gets the others.
                tracing::error!(case = case.id, %lang, error = %e, "cannot write a user notice in this language");
            }
        }
    }
    if notices.is_empty() {
        return None;
    }
    let payload = serde_json::json!({
        "event": crate::webhook::NOTICE_EVENT,
        "case_id": case.id,
        "content_ref": case.meta.content_ref,
        "service": case.meta.service,
        "uploader_ref": case.meta.uploader_ref,
        "decided_at": case.decided_at.map(spoor_bank::model::format_time),
        "complaint_url": cfg.complaint_url,
        "notices": notices,
    });
    Some(spoor_bank::cases::Message {
        topic: crate::webhook::NOTICE_TOPIC.into(),
        dedupe_key: spoor_bank::cases::notice_key(case.id),
        target: hook.url.clone(),
        payload: payload.to_string(),
        not_before: case.no_inform.as_ref().map(|(t, _)| *t),
    })
}

impl ReportPolicy {
    /// Whether `case` is to be reported: decided as confirmed, and not classed as not illegal.
    pub fn reportable(case: &Case) -> bool {
        case.state == CaseState::Confirmed && case.category != Some(Category::NotIllegal)
    }

    /// The reports `case` goes into (none unless it is reportable).
    pub fn requests(&self, case: &Case) -> Vec<ReportRequest> {
        if self.recipients.is_empty() || !Self::reportable(case) {
            return Vec::new();
        }
        let group = case.meta.uploader_ref.as_ref().map(|u| {
            // A JSON array: no two different triples give one text.
            serde_json::json!([case.submitter, case.meta.service, u]).to_string()
        });
        let window_ms = self.window.as_millis().min(i64::MAX as u128) as i64;
        self.recipients
            .iter()
            .map(|r| ReportRequest { recipient: r.clone(), group: group.clone(), window_ms })
            .collect()
    }
}

/// A shareable [`effects`].
pub type Effector = std::sync::Arc<dyn Fn(&Case) -> Effects + Send + Sync>;

/// What a case just made or decided sets going: the webhook's message when `--case-webhook` is
/// set, and its reports under `policy`.
pub fn effects(
    hook: Option<WebhookConfig>,
    policy: ReportPolicy,
) -> impl Fn(&Case) -> Effects + Send + Sync {
    move |case| {
        let mut messages: Vec<_> =
            hook.as_ref().and_then(|h| webhook::message(h, case)).into_iter().collect();
        if let (Some(h), Some(n)) = (&hook, &policy.notices) {
            messages.extend(notice_message(h, n, case));
        }
        Effects { messages, reports: policy.requests(case) }
    }
}
