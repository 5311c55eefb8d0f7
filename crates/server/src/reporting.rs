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

/// Who receives reports, and how long a report waits for more cases of its uploader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPolicy {
    /// Recipients (`ncmec`, `eu_centre`); none: nothing is reported.
    pub recipients: Vec<String>,
    /// How long a new report collects cases of the same uploader and service.
    pub window: Duration,
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
    move |case| Effects {
        messages: hook.as_ref().and_then(|h| webhook::message(h, case)).into_iter().collect(),
        reports: policy.requests(case),
    }
}
