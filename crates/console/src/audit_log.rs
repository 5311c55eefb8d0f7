//! `/audit` (administrators and auditors): the deployment's audit log, newest first, 100
//! records a page, paged by cursor (`before=SEQ`), with a filter by actor, action, object and
//! time; and `POST /audit/verify`, which recomputes the whole hash chain (with the checkpoints
//! stored in the log) as `spoor audit verify` does and shows what it found.
//!
//! Opening a page of the log is audited (`audit_view`, with the filter), as a record of what was
//! viewed (not waiting for the disk flush); a verification is audited (`audit_verify`, with its
//! outcome). One verification runs at a time; it runs on a blocking thread (a million records
//! take a few seconds).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use spoor_audit::{ActorKind, Record};
use spoor_bank::model::{format_time, parse_time, Millis};
use spoor_bank::{AuditQuery, BankError};

use crate::audit::{self, Actor};
use crate::layout::{self, csrf_field, FieldError};
use crate::session::Viewer;
use crate::ConsoleState;

/// Records a page.
pub const PAGE: usize = 100;

/// Longest details text shown whole in the table.
const DETAILS_SHOWN: usize = 160;

/// The filter form, as the query string gives it (every field may be empty).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Filter {
    actor: String,
    action: String,
    object_kind: String,
    object_id: String,
    from: String,
    to: String,
    before: String,
}

impl Filter {
    fn trimmed(mut self) -> Filter {
        for f in [
            &mut self.actor,
            &mut self.action,
            &mut self.object_kind,
            &mut self.object_id,
            &mut self.from,
            &mut self.to,
            &mut self.before,
        ] {
            *f = f.trim().to_string();
        }
        self
    }

    /// The query string of this filter (without `before`), for paging links.
    fn query_string(&self) -> String {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("object_kind", &self.object_kind),
            ("object_id", &self.object_id),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The filter as audited.
    fn details(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("object_kind", &self.object_kind),
            ("object_id", &self.object_id),
            ("from", &self.from),
            ("to", &self.to),
            ("before", &self.before),
        ] {
            if !v.is_empty() {
                m.insert(k.to_string(), json!(v));
            }
        }
        json!({ "filter": m })
    }

    /// The store query this filter asks for (newest first, one more than a page), or the errors
    /// of its fields.
    fn query(&self) -> Result<AuditQuery, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (field, label, v) in [
            ("actor", "The actor", &self.actor),
            ("action", "The action", &self.action),
            ("object_kind", "The object kind", &self.object_kind),
            ("object_id", "The object id", &self.object_id),
        ] {
            if v.len() > 256 || v.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    field,
                    format!("{label} is too long or holds a control character: shorten it"),
                ));
            }
        }
        let from = time_field(&mut errors, "from", "From", &self.from);
        let to = time_field(&mut errors, "to", "To", &self.to);
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                errors.push(FieldError::new("to", "To must be later than From"));
            }
        }
        let before = match self.before.as_str() {
            "" => None,
            b => match b.parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.push(FieldError::new(
                        "filter",
                        format!("The page asked for (before={b:?}) is not a record number: start again from the newest records"),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |s: &String| (!s.is_empty()).then(|| s.clone());
        let (actor_kind, actor) = match self.actor.as_str() {
            "" => (None, None),
            a => match ActorKind::split(a) {
                (ActorKind::Unspecified, name) => (None, Some(name.to_string())),
                (kind, name) => (Some(kind.name().to_string()), Some(name.to_string())),
            },
        };
        Ok(AuditQuery {
            after: 0,
            before,
            newest_first: true,
            actor,
            actor_kind,
            action: text(&self.action),
            object_kind: text(&self.object_kind),
            object_id: text(&self.object_id),
            since: from,
            until: to,
            limit: PAGE + 1,
        })
    }
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A date (`2026-11-30`) or a date and time (`2026-11-30T08:40`, seconds optional), as HTML
/// date and datetime-local inputs send them, read as UTC.
pub fn parse_utc(s: &str) -> Result<Millis, String> {
    let full = match s.len() {
        10 => format!("{s}T00:00:00Z"),
        16 => format!("{s}:00Z"),
        _ => format!("{s}Z"),
    };
    parse_time(&full)
        .map_err(|_| format!("{s:?} is not a date and time such as 2026-11-30T08:40 (UTC)"))
}

fn time_field(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    label: &str,
    v: &str,
) -> Option<Millis> {
    if v.is_empty() {
        return None;
    }
    match parse_utc(v) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(FieldError::new(field, format!("{label}: {e}")));
            None
        }
    }
}

/// The details text for a table cell: whole when short, else cut at a character boundary.
fn shorten(details: &str) -> (String, bool) {
    if details.chars().count() <= DETAILS_SHOWN {
        return (details.to_string(), false);
    }
    let cut: String = details.chars().take(DETAILS_SHOWN).collect();
    (format!("{cut}…"), true)
}

fn actor_of(r: &Record) -> String {
    if r.actor_kind == "cli" && r.actor == "cli" {
        "cli".to_string()
    } else {
        format!("{}:{}", r.actor_kind, r.actor)
    }
}

/// One page of records, with the cursors of the pages either side.
struct Page {
    records: Vec<Record>,
    /// `before` of the older page.
    older: Option<i64>,
    /// The newer page: `Some(None)` is the newest page (no `before`).
    newer: Option<Option<i64>>,
}

fn read_page(store: &dyn spoor_bank::Store, q: &AuditQuery) -> Result<Page, BankError> {
    let mut records = store.audit_records(q)?;
    let older = if records.len() > PAGE {
        records.truncate(PAGE);
        records.last().map(|r| r.seq)
    } else {
        None
    };
    let newer = match (q.before, records.first()) {
        (None, _) => None,
        (Some(before), top) => {
            let top = top.map_or(before - 1, |r| r.seq);
            let above = AuditQuery {
                after: top,
                before: None,
                newest_first: false,
                limit: PAGE + 1,
                ..q.clone()
            };
            let above = store.audit_records(&above)?;
            match above.len() {
                0 => None,
                n if n <= PAGE => Some(None),
                _ => Some(Some(above[PAGE].seq)),
            }
        }
    };
    Ok(Page { records, older, newer })
}

/// What a verification found, as shown.
pub enum Verified {
    /// The chain is whole.
    Intact { records: u64, head: Option<(i64, String)>, checkpoints: usize },
    /// The first record that does not fit.
    Broken { what: String, seq: i64, records: u64 },
    /// The check could not be made.
    Failed(String),
}

fn verify_notice(v: &Verified) -> Markup {
    html! {
        @match v {
            Verified::Intact { records, head, checkpoints } => {
                div class="notice notice--important" role="status" {
                    h2 { "The audit log is intact" }
                    p id="verify-result" {
                        @match head {
                            Some((seq, hash)) => {
                                "intact: " (records) " records, head seq " (seq) ", hash "
                                code class="hash" { (hash) }
                            }
                            None => { "intact: the log is empty" }
                        }
                        " (" (checkpoints) " checkpoints checked)"
                    }
                }
            }
            Verified::Broken { what, seq, records } => {
                div class="error-summary" role="alert" aria-labelledby="verify-title" tabindex="-1" autofocus {
                    h2 id="verify-title" class="error-summary__title" { "The audit log does not fit together" }
                    p id="verify-result" {
                        "broken at record " (seq) ": " (what) " (" (records) " records before it fit)"
                    }
                    p { "Keep this page and tell whoever looks after the database: the log was \
                         changed outside Spoor." }
                }
            }
            Verified::Failed(msg) => {
                div class="error-summary" role="alert" aria-labelledby="verify-title" tabindex="-1" autofocus {
                    h2 id="verify-title" class="error-summary__title" { "The check could not be made" }
                    p id="verify-result" { "not checked: " (msg) }
                }
            }
        }
    }
}

fn render(
    v: &Viewer,
    filter: &Filter,
    page: Option<&Page>,
    errors: &[FieldError],
    verified: Option<&Verified>,
) -> Markup {
    let qs = filter.query_string();
    let link = |before: Option<i64>| {
        let mut parts = Vec::new();
        if !qs.is_empty() {
            parts.push(qs.clone());
        }
        if let Some(b) = before {
            parts.push(format!("before={b}"));
        }
        if parts.is_empty() {
            "/audit".to_string()
        } else {
            format!("/audit?{}", parts.join("&"))
        }
    };
    let body = html! {
        @if let Some(vr) = verified { (verify_notice(vr)) }
        (layout::error_summary(errors))
        h1 { "Audit log" }
        p {
            "Every change to banks, keys and accounts, every login and what people viewed, \
             newest first. Each record is chained to the one before it by its hash. Opening \
             this page is recorded too. Times are UTC."
        }
        form method="post" action="/audit/verify" class="narrow" {
            (csrf_field(v))
            p class="hint" { "Recompute the whole chain and check the stored checkpoints (a million records take a few seconds)." }
            button type="submit" class="button button--secondary" { "Verify chain" }
        }
        h2 id="filter" tabindex="-1" { "Filter" }
        form method="get" action="/audit" novalidate class="filter" {
            div class="filter__fields" {
                (layout::field(errors, "actor", "actor", "Actor",
                    Some("A name, or kind:name such as user:j.smith or key:hoster."),
                    "text", &filter.actor, "off"))
                (layout::field(errors, "action", "action", "Action",
                    Some("For example login, key_create, entry_disable."), "text", &filter.action, "off"))
                (layout::field(errors, "object_kind", "object_kind", "Object kind",
                    Some("bank, entry, key, user, page…"), "text", &filter.object_kind, "off"))
                (layout::field(errors, "object_id", "object_id", "Object id", None,
                    "text", &filter.object_id, "off"))
                (layout::field(errors, "from", "from", "From (UTC)", Some("At or after."),
                    "datetime-local", &filter.from, "off"))
                (layout::field(errors, "to", "to", "To (UTC)", Some("Before."),
                    "datetime-local", &filter.to, "off"))
            }
            button type="submit" class="button" { "Filter" }
            " "
            a href="/audit" { "Clear the filter" }
        }
        @if let Some(p) = page {
            (pager(p, &link))
            div class="table-wrap" {
                table class="table table--audit" {
                    caption class="visually-hidden" { "Audit records, newest first" }
                    thead { tr {
                        th scope="col" class="num" { "Seq" } th scope="col" { "Time (UTC)" }
                        th scope="col" { "Actor" } th scope="col" { "Action" }
                        th scope="col" { "Object" } th scope="col" { "Details" }
                    } }
                    tbody {
                        @if p.records.is_empty() {
                            tr { td colspan="6" { "No records match." } }
                        }
                        @for r in &p.records {
                            @let (details, cut) = shorten(&r.details);
                            tr {
                                td class="num" { (r.seq) }
                                td class="nowrap" { (format_time(r.at).replace('T', " ").trim_end_matches('Z')) }
                                td { (actor_of(r)) }
                                td { code { (r.action) } }
                                td { (r.object_kind) ":" (r.object_id) }
                                td class="details" {
                                    @if cut {
                                        code title=(r.details) { (details) }
                                    } @else {
                                        code { (details) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager(p, &link))
        }
    };
    layout::page(Some(v), "/audit", "Audit log", body)
}

fn pager(p: &Page, link: &dyn Fn(Option<i64>) -> String) -> Markup {
    html! {
        @if p.newer.is_some() || p.older.is_some() {
            nav class="pager" aria-label="Pages of the audit log" {
                @if let Some(n) = p.newer { a href=(link(n)) rel="prev" { "← Newer" } }
                " "
                @if let Some(o) = p.older { a href=(link(Some(o))) rel="next" { "Older →" } }
            }
        }
    }
}

fn store_down(e: BankError) -> Response {
    layout::store_down(&e, "audit", "The audit log cannot be read now")
}

/// The page for `filter`, audited as viewed when it was read.
async fn show(
    state: &ConsoleState,
    v: &Viewer,
    filter: Filter,
    verified: Option<Verified>,
) -> Response {
    let q = match filter.query() {
        Ok(q) => q,
        Err(errors) => {
            let page = render(v, &filter, None, &errors, verified.as_ref());
            return layout::html_response(StatusCode::UNPROCESSABLE_ENTITY, page);
        }
    };
    let (details, audit_it) = (filter.details(), verified.is_none());
    if audit_it {
        // Recorded before it is shown; not shown when it cannot be recorded.
        if let Err(r) = state.record_view(v, "audit_view", "audit", "log", details).await {
            return r;
        }
    }
    let read = state.blocking(move |store| read_page(store, &q)).await;
    match read {
        Ok(Ok(page)) => layout::html_response(
            StatusCode::OK,
            render(v, &filter, Some(&page), &[], verified.as_ref()),
        ),
        Ok(Err(e)) => store_down(e),
        Err(r) => r,
    }
}

/// `GET /audit`.
pub async fn page(
    State(state): State<ConsoleState>,
    v: Viewer,
    Query(filter): Query<Filter>,
) -> Response {
    show(&state, &v, filter.trimmed(), None).await
}

/// One verification at a time: each reads the whole log.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// `POST /audit/verify`: verifies the whole chain and the stored checkpoints (no trusted key:
/// each checkpoint's own signature is checked), audits the outcome, and shows it above the
/// newest records.
pub async fn verify(State(state): State<ConsoleState>, v: Viewer) -> Response {
    let Ok(permit) = VERIFYING.acquire().await else {
        return store_down(BankError::Invalid("the verification queue is closed".into()));
    };
    let name = v.user.name.clone();
    let done = state
        .blocking(move |store| {
            let started = std::time::Instant::now();
            let report = spoor_bank::audit::verify(store, &[], None, &mut |_| {});
            let (verified, details) = match report {
                Ok(r) => match r.broken {
                    None => {
                        let head = r.head.map(|(s, h)| (s, spoor_audit::hex(&h)));
                        let details = json!({
                            "outcome": "intact",
                            "records": r.records,
                            "head_seq": head.as_ref().map(|h| h.0),
                            "head_hash": head.as_ref().map(|h| h.1.clone()),
                            "checkpoints": r.checkpoints,
                        });
                        (
                            Verified::Intact {
                                records: r.records,
                                head,
                                checkpoints: r.checkpoints,
                            },
                            details,
                        )
                    }
                    Some(b) => {
                        let details = json!({
                            "outcome": "broken",
                            "seq": b.seq(),
                            "break": b.to_string(),
                            "records": r.records,
                        });
                        (
                            Verified::Broken {
                                what: b.to_string(),
                                seq: b.seq(),
                                records: r.records,
                            },
                            details,
                        )
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "the audit log could not be verified");
                    let details = json!({ "outcome": "not_checked", "error": e.to_string() });
                    (Verified::Failed(e.to_string()), details)
                }
            };
            tracing::info!(
                user = %name,
                outcome = %details["outcome"],
                elapsed_ms = started.elapsed().as_millis() as u64,
                "audit log verified from the console"
            );
            audit::record(store, Actor::Person(&name), "audit_verify", "audit", "log", details);
            verified
        })
        .await;
    drop(permit);
    match done {
        Ok(verified) => show(&state, &v, Filter::default(), Some(verified)).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pairs: &[(&str, &str)]) -> Filter {
        let q: String =
            pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
        let f: Filter = from_query(&q);
        f.trimmed()
    }

    fn from_query(q: &str) -> Filter {
        let uri: axum::http::Uri = format!("/audit?{q}").parse().unwrap();
        Query::<Filter>::try_from_uri(&uri).unwrap().0
    }

    #[test]
    fn times_are_read_as_utc() {
        assert_eq!(parse_utc("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_utc("1970-01-01T00:01").unwrap(), 60_000);
        assert_eq!(parse_utc("1970-01-01T00:01:02").unwrap(), 62_000);
        assert!(parse_utc("yesterday").is_err());
        assert!(parse_utc("1970-13-01T00:00").is_err());
        assert!(parse_utc("1970-01-01T00:00Z").is_err());
    }

    #[test]
    fn filters_become_queries() {
        let q = filter(&[("actor", " user:ann "), ("action", "login"), ("before", "42")])
            .query()
            .unwrap();
        assert_eq!(
            (q.actor.as_deref(), q.actor_kind.as_deref(), q.action.as_deref()),
            (Some("ann"), Some("user"), Some("login"))
        );
        assert_eq!((q.before, q.newest_first, q.limit), (Some(42), true, PAGE + 1));
        assert_eq!(q.object_kind, None);
        let q = filter(&[("actor", "hoster")]).query().unwrap();
        assert_eq!((q.actor.as_deref(), q.actor_kind), (Some("hoster"), None));

        let e = filter(&[("from", "2026-11-30T10:00"), ("to", "2026-11-30T09:00")])
            .query()
            .unwrap_err();
        assert_eq!(e.iter().map(|e| e.field).collect::<Vec<_>>(), ["to"]);
        let e = filter(&[("from", "soon"), ("before", "-3"), ("action", &"a".repeat(300))])
            .query()
            .unwrap_err();
        assert_eq!(e.iter().map(|e| e.field).collect::<Vec<_>>(), ["action", "from", "filter"]);
    }

    #[test]
    fn links_keep_the_filter() {
        let f = filter(&[("actor", "user:a b"), ("action", "login"), ("before", "9")]);
        assert_eq!(f.query_string(), "actor=user%3Aa%20b&action=login");
        assert_eq!(f.details()["filter"]["before"], "9");
        assert!(f.details()["filter"].get("object_id").is_none());
    }

    #[test]
    fn long_details_are_cut() {
        assert_eq!(shorten("{}"), ("{}".to_string(), false));
        let long = format!("{{\"a\":\"{}\"}}", "é".repeat(300));
        let (s, cut) = shorten(&long);
        assert!(cut && s.ends_with('…') && s.chars().count() == DETAILS_SHOWN + 1);
    }
}
