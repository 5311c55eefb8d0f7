//! The annual report of Reg. 2021/1232 Art. 3(1)(g)(vii): the nine items in the order the
//! regulation lists them (the order of the standard form of Implementing Regulation
//! 2024/2916), filled from the records and the deployment's own statements, as JSON
//! ([`Annual`]) and as a standalone HTML document ([`html`]) that prints to PDF.
//!
//! Nothing is estimated: a figure the records cannot support, and a statement the deployment
//! has not made, are listed in `not_recorded` with why, and shown so. Every figure carries its
//! definition ([`DEFINITIONS`]).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::{Deserialize, Serialize};
use spoor_bank::retention::Policy;
use spoor_bank::statistics::{quantile, rates, Counted};

/// What the deployment states about itself for the report (`[annual]` in its deployment
/// file): what the records cannot know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The provider's name, as published.
    pub provider: Option<String>,
    /// Whom to contact about the report.
    pub contact: Option<String>,
    /// The legal basis of the detection in the year (item 2 context), e.g. the regulation and
    /// its dates.
    pub legal_basis: Option<String>,
    /// The ground under the GDPR (item 2).
    pub gdpr_ground: Option<String>,
    /// The ground for transfers outside the EU under GDPR Chapter V (item 3).
    pub transfer_ground: Option<String>,
    /// Measures to limit errors beyond those Spoor applies itself (item 7).
    #[serde(default)]
    pub error_measures: Vec<String>,
    /// Safeguards beyond those Spoor applies itself (item 8).
    #[serde(default)]
    pub safeguards: Vec<String>,
    /// Organisations data was shared with beyond the report recipients (item 9).
    #[serde(default)]
    pub organisations: Vec<String>,
}

/// One figure of the latest `spoor eval` run quoted in item 7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalFigure {
    /// `picture` or `video`.
    #[serde(default = "picture")]
    pub medium: String,
    /// The change (`jpeg_q30`, …), or the pairs compared for false matches.
    pub what: String,
    /// The technology.
    pub technology: String,
    /// The radius.
    pub radius: Option<u32>,
    /// Count.
    pub count: u64,
    /// Of.
    pub of: u64,
}

fn picture() -> String {
    "picture".into()
}

/// The latest measurement of recall and false matches (`spoor eval --jsonl`), quoted in item 7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalQuote {
    /// Where it was read from.
    pub source: String,
    /// Pictures changed.
    pub originals: u64,
    /// Originals compared pairwise.
    pub compared: u64,
    /// Videos changed.
    #[serde(default)]
    pub videos: u64,
    /// Videos compared pairwise.
    #[serde(default)]
    pub videos_compared: u64,
    /// Recall per change (the copies that still match).
    pub recall: Vec<EvalFigure>,
    /// False matches over all pairs of distinct originals.
    pub false_matches: Vec<EvalFigure>,
}

/// A count per technology or recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// What is counted.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// Item 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataProcessed {
    /// What is processed.
    pub types: Vec<String>,
    /// Signals looked up per technology.
    pub lookups: Vec<Count>,
    /// The day lookups were counted from within the year (the year's first day, or the day
    /// counting began); absent when none was ever counted.
    pub lookups_from: Option<String>,
    /// Content submitted as cases.
    pub cases_made: u64,
    /// Of those, with content held for human review.
    pub content_held: u64,
}

/// Item 4, per technology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasesByTechnology {
    /// The technology.
    pub technology: String,
    /// Cases made.
    pub made: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Decided by the banks' rules.
    pub auto: u64,
    /// Decided by people.
    pub reviewed: u64,
    /// Decided by the decision on the same content before.
    pub earlier: u64,
}

/// Item 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cases {
    /// Cases of child sexual abuse material identified (confirmed).
    pub abuse_material: u64,
    /// Cases of solicitation identified (Spoor detects known material only).
    pub solicitation: u64,
    /// Cases made.
    pub made: u64,
    /// Not decided at the end of the year.
    pub open: u64,
    /// Per technology (a case matched by two counts for each).
    pub by_technology: Vec<CasesByTechnology>,
    /// Cases per month made (January first).
    pub per_month: Vec<u64>,
}

/// Item 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaints {
    /// Filed.
    pub filed: u64,
    /// Upheld (the decision stands).
    pub upheld: u64,
    /// Overturned (the content restored).
    pub overturned: u64,
    /// Not decided at the end of the year.
    pub open: u64,
}

/// Item 6, per technology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    /// The technology.
    pub technology: String,
    /// Decisions (confirmed and false positives).
    pub decisions: u64,
    /// False positives (in review and on complaint).
    pub false_positives: u64,
    /// Of those, found on complaint.
    pub on_complaint: u64,
    /// False positives over decisions.
    pub ratio: f64,
    /// 95 % Wilson interval, low.
    pub ci_low: f64,
    /// 95 % Wilson interval, high.
    pub ci_high: f64,
}

/// Item 7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorLimits {
    /// The measures.
    pub measures: Vec<String>,
    /// False positives over all decisions of the year.
    pub achieved: Option<Errors>,
    /// Median time from a case to its decision by people, in seconds.
    pub decision_median_s: Option<f64>,
    /// The latest measurement on benign pictures.
    pub measured: Option<EvalQuote>,
}

/// Item 8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// Each class and its period in days.
    pub periods: Vec<Count>,
    /// Why a period exceeds the legal maximum, when one does.
    pub exceed_reason: Option<String>,
    /// The safeguards.
    pub safeguards: Vec<String>,
}

/// The CSA Regulation proposal's Art. 83(1) figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsaAnnex {
    /// Removal orders received.
    pub removal_orders: u64,
    /// Average time from a removal order to acting on it, in seconds (none without orders).
    pub average_time_to_act_s: Option<f64>,
}

/// The annual report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annual {
    /// The calendar year.
    pub year: i32,
    /// When it was generated (RFC 3339).
    pub generated_at: String,
    /// The provider.
    pub provider: Option<String>,
    /// Contact.
    pub contact: Option<String>,
    /// Legal basis stated.
    pub legal_basis: Option<String>,
    /// 1. Type and volume of data processed.
    pub data_processed: DataProcessed,
    /// 2. The GDPR ground.
    pub gdpr_ground: Option<String>,
    /// 3. The transfer ground.
    pub transfer_ground: Option<String>,
    /// 4. Cases identified.
    pub cases: Cases,
    /// 5. Complaints and their outcomes.
    pub complaints: Complaints,
    /// 6. Errors per technology.
    pub errors: Vec<Errors>,
    /// 7. Measures to limit errors and the error rate achieved.
    pub error_limits: ErrorLimits,
    /// 8. Retention and safeguards.
    pub retention: Retention,
    /// 9. Organisations data was shared with, with the reports each took.
    pub organisations: Vec<Count>,
    /// Annex: the CSA Regulation proposal's Art. 83(1) figures.
    pub csa_annex: CsaAnnex,
    /// What the records or the deployment's statements do not give, and why.
    pub not_recorded: Vec<String>,
    /// Each figure's definition.
    pub definitions: Vec<Definition>,
}

/// A name and a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The figure.
    pub figure: String,
    /// Its definition.
    pub definition: String,
}

/// The definitions of the figures, in the report's order.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("data_processed.lookups", "Signals (hashes) looked up by the match routes and case intake, per technology; a PDQ lookup counts under the band of its nearest match, or pdq:none."),
    ("data_processed.cases_made", "Content a service submitted as a case because it matched a bank or a user flagged it, by the day it was made."),
    ("data_processed.content_held", "Cases whose content was held, encrypted, for human review (deleted after the decision and its grace)."),
    ("cases", "Every figure of items 4 to 7 and 9 counts the records as they stood at the end of the year (31 December, 24:00 UTC): a decision, reversal or complaint outcome recorded after it is not counted, so the report comes out the same whenever it is made."),
    ("cases.abuse_material", "Cases made in the year and confirmed as child sexual abuse material by its end (by the banks' rules, by people, or by the decision on the same content before)."),
    ("cases.solicitation", "Cases of solicitation: Spoor matches known material only and identifies none."),
    ("complaints", "Complaints filed in the year by the day filed, with their outcome: upheld (the decision stands) or overturned (the content restored, the case a false positive)."),
    ("errors", "Per technology: false positives (found in review or on complaint) over decisions (confirmed cases and false positives), with the 95 % Wilson interval; a case matched by two technologies counts for each."),
    ("error_limits.achieved", "False positives over all decisions of the year, each case once."),
    ("retention.periods", "The longest time each class of data is kept (days); a legal hold suspends deletion for the cases it names."),
    ("organisations", "Recipients that took reports in the year, with the reports each took."),
    ("csa_annex.removal_orders", "Removal orders received (the CSA Regulation proposal, Art. 83(1))."),
];

/// Spoor's own measures against errors (item 7).
pub const SPOOR_MEASURES: &[&str] = &[
    "Only hashes of known material are matched; PDQ hashes of quality below 50 are not trusted.",
    "Banks can require human review before any report; every bank entry has provenance, and a false positive disables its entry with a recorded reason.",
    "Content decided once is not shown to a reviewer again (never view twice); a decision by people is taken by one reviewer, a complaint re-reviewed by another.",
    "Complaints are decided by someone other than whoever decided the case, within a deadline that is monitored.",
];

/// Spoor's own safeguards (item 8).
pub const SPOOR_SAFEGUARDS: &[&str] = &[
    "Only hashes leave the service's process; content held for review is encrypted at rest (ChaCha20-Poly1305) and deleted after the decision.",
    "Retention is enforced hourly by the service; each run is recorded in the audit log.",
    "Every view, decision and export is recorded in a hash-chained audit log that can be verified.",
    "Access is by personal accounts with two-factor login and by API keys scoped by role; keys that may match cannot read a list.",
];

fn recipient_organisation(r: &str) -> String {
    match r {
        "ncmec" => "National Center for Missing & Exploited Children (NCMEC), United States".into(),
        "eu" | "eu_centre" => "EU Centre on Child Sexual Abuse".into(),
        other => other.to_string(),
    }
}

/// Everything the report is made of.
pub struct Inputs<'a> {
    /// The year.
    pub year: i32,
    /// The store's counts for the year (`[1 January, next 1 January)`).
    pub counted: &'a Counted,
    /// Cases per month made.
    pub per_month: Vec<u64>,
    /// Content held for review, cases.
    pub content_held: u64,
    /// The deployment's statements.
    pub deployment: &'a Deployment,
    /// The retention policy in force.
    pub policy: &'a Policy,
    /// The latest `spoor eval` measurement, if any.
    pub eval: Option<EvalQuote>,
    /// Now (RFC 3339).
    pub generated_at: String,
}

/// Builds the report.
pub fn build(i: Inputs<'_>) -> Annual {
    let c = i.counted;
    let d = i.deployment;
    let mut not_recorded = Vec::new();
    let year_start = format!("{:04}-01-01", i.year);
    let lookups = by_name(c.usage.iter().map(|u| (u.technology.clone(), u.lookups)));
    let lookups_from = match &c.usage_since {
        Some(first) if *first <= year_start => Some(year_start.clone()),
        Some(first) => {
            not_recorded
                .push(format!("1. lookups before {first}: not recorded (counting began that day)"));
            Some(first.clone())
        }
        None => {
            not_recorded.push("1. lookups: none was ever counted".into());
            None
        }
    };
    for (item, v, key) in [
        ("2. GDPR ground", &d.gdpr_ground, "gdpr_ground"),
        ("3. transfer ground", &d.transfer_ground, "transfer_ground"),
    ] {
        if v.is_none() {
            not_recorded.push(format!(
                "{item}: the deployment states none (set annual.{key} in the deployment file)"
            ));
        }
    }
    let mut techs: std::collections::BTreeMap<String, CasesByTechnology> = Default::default();
    for r in &c.cases {
        let e = techs.entry(r.technology.clone()).or_insert_with(|| CasesByTechnology {
            technology: r.technology.clone(),
            made: 0,
            confirmed: 0,
            auto: 0,
            reviewed: 0,
            earlier: 0,
        });
        e.made += r.made;
        e.confirmed += r.confirmed;
        e.auto += r.auto;
        e.reviewed += r.reviewed;
        e.earlier += r.earlier;
    }
    let sum = |f: fn(&spoor_bank::statistics::DayTotal) -> u64| c.days.iter().map(f).sum::<u64>();
    let (made, confirmed, false_positive, open) =
        (sum(|d| d.made), sum(|d| d.confirmed), sum(|d| d.false_positive), sum(|d| d.open));
    let errors: Vec<Errors> = rates(&c.cases)
        .into_iter()
        .map(|r| Errors {
            technology: r.technology,
            decisions: r.decisions,
            false_positives: r.false_positives,
            on_complaint: r.on_complaint,
            ratio: r.ratio,
            ci_low: r.ci.0,
            ci_high: r.ci.1,
        })
        .collect();
    let decisions = confirmed + false_positive;
    let on_complaint: u64 = c.cases.iter().map(|r| r.false_positive_complaint).sum::<u64>();
    let achieved = (decisions > 0).then(|| {
        let (lo, hi) = spoor_core::ratio::wilson(false_positive, decisions);
        Errors {
            technology: "all".into(),
            decisions,
            false_positives: false_positive,
            on_complaint: on_complaint.min(false_positive),
            ratio: false_positive as f64 / decisions as f64,
            ci_low: lo,
            ci_high: hi,
        }
    });
    if achieved.is_none() {
        not_recorded.push("7. error rate achieved: no decision in the year".into());
    }
    if i.eval.is_none() {
        not_recorded.push(
            "7. measured recall and false matches: no spoor eval run was given (--eval FILE)"
                .into(),
        );
    }
    let mut to_decision = c.to_decision_ms.clone();
    let mut organisations =
        by_name(c.reports.iter().map(|r| (recipient_organisation(&r.recipient), r.finished)));
    organisations.retain(|o| o.count > 0);
    for o in &d.organisations {
        if !organisations.iter().any(|x| &x.name == o) {
            organisations.push(Count { name: o.clone(), count: 0 });
        }
    }
    not_recorded.push("annex: items removed by source: Spoor records no removals yet".into());
    let measures: Vec<String> = SPOOR_MEASURES
        .iter()
        .map(|s| s.to_string())
        .chain(d.error_measures.iter().cloned())
        .collect();
    let safeguards: Vec<String> = SPOOR_SAFEGUARDS
        .iter()
        .map(|s| s.to_string())
        .chain(d.safeguards.iter().cloned())
        .collect();
    Annual {
        year: i.year,
        generated_at: i.generated_at,
        provider: d.provider.clone(),
        contact: d.contact.clone(),
        legal_basis: d.legal_basis.clone(),
        data_processed: DataProcessed {
            types: vec![
                "Hashes of images and videos (PDQ, vPDQ, MD5, SHA-1, SHA-256) matched against banks of known material".into(),
                "Content that matched or was flagged, held encrypted for human review where a bank requires it".into(),
                "Case metadata: the submitting service, its reference to the content, the uploader reference where given".into(),
            ],
            lookups,
            lookups_from,
            cases_made: made,
            content_held: i.content_held,
        },
        gdpr_ground: d.gdpr_ground.clone(),
        transfer_ground: d.transfer_ground.clone(),
        cases: Cases {
            abuse_material: confirmed,
            solicitation: 0,
            made,
            open,
            by_technology: techs.into_values().collect(),
            per_month: i.per_month,
        },
        complaints: Complaints {
            filed: c.complaints.iter().map(|k| k.filed).sum(),
            upheld: c.complaints.iter().map(|k| k.upheld).sum(),
            overturned: c.complaints.iter().map(|k| k.overturned).sum(),
            open: c.complaints.iter().map(|k| k.open).sum(),
        },
        errors,
        error_limits: ErrorLimits {
            measures,
            achieved,
            decision_median_s: quantile(&mut to_decision, 0.5).map(|ms| ms as f64 / 1000.0),
            measured: i.eval,
        },
        retention: Retention {
            periods: i
                .policy
                .classes()
                .iter()
                .map(|(n, d)| Count { name: n.to_string(), count: u64::from(*d) })
                .collect(),
            exceed_reason: i.policy.exceed_reason.clone(),
            safeguards,
        },
        organisations,
        csa_annex: CsaAnnex { removal_orders: 0, average_time_to_act_s: None },
        not_recorded,
        definitions: DEFINITIONS
            .iter()
            .map(|(f, d)| Definition { figure: f.to_string(), definition: d.to_string() })
            .collect(),
    }
}

/// What a report is made from beyond the records: the deployment's statements, the retention
/// policy in force and the latest `spoor eval` run.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The deployment's statements (`[annual]` of the deployment file).
    pub deployment: Deployment,
    /// The retention policy in force.
    pub policy: Policy,
    /// The latest `spoor eval --jsonl` run, if one was given.
    pub eval: Option<EvalQuote>,
}

/// Makes the report of `year` from the store's records as they stood at the year's end.
pub fn make(
    store: &dyn spoor_bank::statistics::Statistics,
    year: i32,
    sources: &Sources,
    now: spoor_bank::model::Millis,
) -> Result<Annual, String> {
    let start = |y: i32| {
        spoor_bank::model::parse_time(&format!("{y:04}-01-01T00:00:00Z"))
            .map_err(|e| format!("year {y}: {e}"))
    };
    if !(1970..=9998).contains(&year) {
        return Err(format!("year {year}: give a year from 1970 to 9998"));
    }
    let (from, to) = (start(year)?, start(year + 1)?);
    // The year as it stood at its end: the report comes out the same whenever it is made.
    let counted = store.statistics_as_of(from, to, to).map_err(|e| e.to_string())?;
    let mut per_month = vec![0u64; 12];
    for d in &counted.days {
        if let Ok(m) = d.day[5..7].parse::<usize>() {
            per_month[m.clamp(1, 12) - 1] += d.made;
        }
    }
    let content_held = counted.days.iter().map(|d| d.held).sum();
    Ok(build(Inputs {
        year,
        counted: &counted,
        per_month,
        content_held,
        deployment: &sources.deployment,
        policy: &sources.policy,
        eval: sources.eval.clone(),
        generated_at: spoor_bank::model::format_time(now),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentFile {
    annual: Deployment,
}

/// Reads a deployment file (TOML with an `[annual]` section, unknown keys refused).
pub fn parse_deployment(text: &str) -> Result<Deployment, String> {
    toml::from_str::<DeploymentFile>(text).map(|f| f.annual).map_err(|e| e.to_string())
}

/// Reads the recall and false-match figures of a `spoor eval --jsonl` file (`source` names it
/// in the report and in errors).
pub fn parse_eval(text: &str, source: &str) -> Result<EvalQuote, String> {
    let medium = |v: &serde_json::Value| v["medium"].as_str().unwrap_or("picture").to_string();
    let mut quote = EvalQuote {
        source: source.to_string(),
        originals: 0,
        compared: 0,
        videos: 0,
        videos_compared: 0,
        recall: Vec::new(),
        false_matches: Vec::new(),
    };
    let mut run = false;
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{source} line {}: not a spoor eval record ({e})", i + 1))?;
        let num = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let radius =
            |v: &serde_json::Value| v["radius"].as_u64().and_then(|r| u32::try_from(r).ok());
        match v["kind"].as_str() {
            Some("run") => {
                run = true;
                quote.originals = num(&v["originals"]);
                quote.compared = num(&v["compared"]);
                quote.videos = num(&v["videos"]["originals"]);
                quote.videos_compared = num(&v["videos"]["compared"]);
            }
            Some("recall")
                if v["technology"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("pdq") || t == "vpdq") =>
            {
                quote.recall.push(EvalFigure {
                    medium: medium(&v),
                    what: v["change"].as_str().unwrap_or_default().to_string(),
                    technology: v["technology"].as_str().unwrap_or_default().to_string(),
                    radius: radius(&v),
                    count: num(&v["recall"]["count"]),
                    of: num(&v["recall"]["of"]),
                })
            }
            Some("false_matches") => quote.false_matches.push(EvalFigure {
                medium: medium(&v),
                what: match (v["medium"].as_str(), v["technology"].as_str()) {
                    (Some("video"), Some("vpdq_frame")) => "pairs of frames of distinct videos",
                    (Some("video"), _) => "pairs of distinct videos",
                    _ => "pairs of distinct originals",
                }
                .into(),
                technology: v["technology"].as_str().unwrap_or_default().to_string(),
                radius: radius(&v),
                count: num(&v["rate"]["count"]),
                of: num(&v["rate"]["of"]),
            }),
            _ => {}
        }
    }
    if !run {
        return Err(format!(
            "{source} holds no spoor eval run record: give the file `spoor eval --jsonl FILE` wrote"
        ));
    }
    Ok(quote)
}

fn by_name(items: impl Iterator<Item = (String, u64)>) -> Vec<Count> {
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for (n, c) in items {
        *by.entry(n).or_default() += c;
    }
    by.into_iter().map(|(name, count)| Count { name, count }).collect()
}

/// A ratio as a percentage; the space before `%` does not break (a wrapped figure reads as two).
fn pct(x: f64) -> String {
    format!("{:.2}\u{a0}%", x * 100.0)
}

fn stated(v: &Option<String>) -> Markup {
    match v {
        Some(t) => html! { p { (t) } },
        None => html! { p class="missing" { "Not stated by the deployment." } },
    }
}

fn definition(figure: &str) -> Markup {
    match DEFINITIONS.iter().find(|(f, _)| *f == figure) {
        Some((_, d)) => html! { p class="def" { (d) } },
        None => html! {},
    }
}

/// Cases per month as bars (server-drawn SVG), with the numbers as text.
fn month_chart(per_month: &[u64]) -> Markup {
    let max = per_month.iter().copied().max().unwrap_or(0).max(1);
    const NAMES: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (w, h, bar) = (600u64, 180u64, 40u64);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h + 40) viewBox={"0 0 " (w) " " (h + 40)}
            role="img" aria-label="Cases made per month" {
            @for (k, n) in per_month.iter().enumerate() {
                @let bh = n * h / max;
                @let x = 10 + k as u64 * 49;
                rect x=(x) y=(h - bh + 10) width=(bar) height=(bh) fill="#4a6fa5" {}
                text x=(x + bar / 2) y=(h + 25) text-anchor="middle" font-size="11" { (NAMES[k % 12]) }
                text x=(x + bar / 2) y=(h - bh + 6) text-anchor="middle" font-size="10" { (n) }
            }
        }
    }
}

/// The report as a standalone HTML document (one inline stylesheet, no script, no external
/// resource), laid out to print on A4.
pub fn html(a: &Annual) -> String {
    let who = a.provider.clone().unwrap_or_else(|| "(provider not stated)".into());
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Annual report " (a.year) " — " (who) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body(a)) }
        }
    };
    doc.into_string()
}

/// The report's content (headings, tables, chart, definitions), for the standalone document
/// and for the console's page.
pub fn body(a: &Annual) -> Markup {
    let who = a.provider.clone().unwrap_or_else(|| "(provider not stated)".into());
    html! {
        h1 { "Annual report " (a.year) }
        p class="lead" { "Processing of personal data to detect, report and remove child sexual abuse online — "
            "Regulation (EU) 2021/1232, Article 3(1)(g)(vii); standard form of Implementing Regulation (EU) 2024/2916." }
        dl class="meta" {
            dt { "Provider" } dd { (who) }
            @if let Some(c) = &a.contact { dt { "Contact" } dd { (c) } }
            @if let Some(l) = &a.legal_basis { dt { "Legal basis" } dd { (l) } }
            dt { "Period" } dd { (a.year) "-01-01 to " (a.year) "-12-31 (UTC)" }
            dt { "Generated" } dd { (a.generated_at) " from the records of the deployment" }
        }
        h2 { "1. Type and volume of data processed" }
        ul { @for t in &a.data_processed.types { li { (t) } } }
        table id="item1" {
            tr { th { "Cases made" } td class="num" { (a.data_processed.cases_made) } }
            tr { th { "Of which content held for review" } td class="num" { (a.data_processed.content_held) } }
            @for x in &a.data_processed.lookups { tr { th { "Lookups, " (x.name) } td class="num" { (x.count) } } }
        }
        @match &a.data_processed.lookups_from {
            Some(d) => p class="def" { "Lookups counted from " (d) "." },
            None => p class="missing" { "No lookup was ever counted." },
        }
        (definition("data_processed.lookups"))
        (definition("data_processed.cases_made"))
        (definition("data_processed.content_held"))
        h2 { "2. Ground for the processing under Regulation (EU) 2016/679" }
        (stated(&a.gdpr_ground))
        h2 { "3. Ground for transfers outside the Union (Chapter V of Regulation (EU) 2016/679)" }
        (stated(&a.transfer_ground))
        h2 { "4. Cases of online child sexual abuse identified" }
        table id="item4" {
            tr { th { "Child sexual abuse material (confirmed cases)" } td class="num" { (a.cases.abuse_material) } }
            tr { th { "Solicitation of children" } td class="num" { (a.cases.solicitation) } }
            tr { th { "Cases made" } td class="num" { (a.cases.made) } }
            tr { th { "Not decided at the end of the year" } td class="num" { (a.cases.open) } }
        }
        (definition("cases"))
        (definition("cases.abuse_material"))
        (definition("cases.solicitation"))
        (month_chart(&a.cases.per_month))
        table id="item4-tech" {
            tr { th { "Technology" } th class="num" { "Made" } th class="num" { "Confirmed" }
                 th class="num" { "By rules" } th class="num" { "By people" } th class="num" { "As before" } }
            @for t in &a.cases.by_technology {
                tr { td { (t.technology) } td class="num" { (t.made) } td class="num" { (t.confirmed) }
                     td class="num" { (t.auto) } td class="num" { (t.reviewed) } td class="num" { (t.earlier) } }
            }
        }
        h2 { "5. Complaints and their outcome" }
        table id="item5" {
            tr { th { "Filed" } td class="num" { (a.complaints.filed) } }
            tr { th { "Upheld" } td class="num" { (a.complaints.upheld) } }
            tr { th { "Overturned (content restored)" } td class="num" { (a.complaints.overturned) } }
            tr { th { "Open at the end of the year" } td class="num" { (a.complaints.open) } }
        }
        (definition("complaints"))
        h2 { "6. Errors (false positives) per technology" }
        table id="item6" {
            tr { th { "Technology" } th class="num" { "Decisions" } th class="num" { "False positives" }
                 th class="num" { "On complaint" } th class="num" { "Ratio" } th { "95 % interval" } }
            @if a.errors.is_empty() { tr { td colspan="6" class="missing" { "No decisions in the year." } } }
            @for e in &a.errors {
                tr { td { (e.technology) } td class="num" { (e.decisions) } td class="num" { (e.false_positives) }
                     td class="num" { (e.on_complaint) } td class="num" { (pct(e.ratio)) }
                     td class="ci" { (pct(e.ci_low)) " – " (pct(e.ci_high)) } }
            }
        }
        (definition("errors"))
        h2 { "7. Measures to limit errors, and the error rate achieved" }
        ul { @for m in &a.error_limits.measures { li { (m) } } }
        @match &a.error_limits.achieved {
            Some(e) => p id="item7-achieved" { "Error rate achieved: " (e.false_positives) " false positives in "
                (e.decisions) " decisions, " (pct(e.ratio)) " (95 % interval " (pct(e.ci_low)) " – " (pct(e.ci_high)) ")." },
            None => p class="missing" { "No decision in the year: no error rate." },
        }
        (definition("error_limits.achieved"))
        @if let Some(m) = &a.error_limits.measured {
            p { "Measured on benign pictures (" (m.originals) " pictures changed in standard ways, "
                (m.compared) " compared pairwise"
                @if m.videos > 0 || m.videos_compared > 0 {
                    "; " (m.videos) " videos changed, " (m.videos_compared) " compared pairwise"
                }
                "; " (m.source) "):" }
            table id="item7-eval" {
                tr { th { "Medium" } th { "Change" } th { "Technology" } th class="num" { "Radius" } th class="num" { "Still found" } }
                @for r in &m.recall {
                    tr { td { (r.medium) } td { (r.what) } td { (r.technology) } td class="num" { (r.radius.map(|x| x.to_string()).unwrap_or_default()) }
                         td class="num" { (r.count) " of " (r.of) } }
                }
                @for f in &m.false_matches {
                    tr { td { (f.medium) } td { "false matches, " (f.what) } td { (f.technology) } td class="num" { (f.radius.map(|x| x.to_string()).unwrap_or_default()) }
                         td class="num" { (f.count) " of " (f.of) } }
                }
            }
        }
        h2 { "8. Retention and safeguards" }
        table id="item8" {
            @for p in &a.retention.periods { tr { th { (p.name) } td class="num" { (p.count) " days" } } }
        }
        @if let Some(r) = &a.retention.exceed_reason { p { "Kept longer than 365 days because: " (r) } }
        (definition("retention.periods"))
        ul { @for s in &a.retention.safeguards { li { (s) } } }
        h2 { "9. Organisations data was shared with" }
        table id="item9" {
            @if a.organisations.is_empty() { tr { td class="missing" { "None in the year." } } }
            @for o in &a.organisations { tr { th { (o.name) } td class="num" { (o.count) " reports" } } }
        }
        (definition("organisations"))
        h2 { "Annex: CSA Regulation proposal, Article 83(1)" }
        table id="annex" {
            tr { th { "Removal orders received" } td class="num" { (a.csa_annex.removal_orders) } }
            tr { th { "Average time to act on a removal order" } td class="num" {
                @match a.csa_annex.average_time_to_act_s { Some(s) => (format!("{s:.0} s")), None => "—" } } }
        }
        @if !a.not_recorded.is_empty() {
            h2 { "Not recorded" }
            ul id="not-recorded" { @for n in &a.not_recorded { li { (n) } } }
        }
    }
}

const STYLE: &str = "@page{size:A4;margin:18mm}body{font:11pt/1.45 system-ui,sans-serif;color:#1b1b1b;max-width:46em;margin:2em auto}\
h1{font-size:20pt;margin:0 0 .3em}h2{font-size:13pt;margin:1.6em 0 .4em;border-bottom:1px solid #bbb;break-after:avoid}\
.lead{color:#444}table{border-collapse:collapse;margin:.4em 0;break-inside:avoid}th,td{text-align:left;padding:.2em .8em .2em 0;border-bottom:1px solid #e3e3e3}\
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.ci{white-space:nowrap}.def{font-size:9pt;color:#555;margin:.2em 0}.missing{color:#8a4b00;font-style:italic}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dl.meta dt{font-weight:600}dl.meta dd{margin:0}";

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_bank::statistics::{DayTotal, UsageDay};

    fn inputs<'a>(c: &'a Counted, d: &'a Deployment, p: &'a Policy) -> Inputs<'a> {
        Inputs {
            year: 2026,
            counted: c,
            per_month: vec![0; 12],
            content_held: 0,
            deployment: d,
            policy: p,
            eval: None,
            generated_at: "2027-01-10T00:00:00Z".into(),
        }
    }

    #[test]
    fn what_the_records_do_not_give_is_said_never_filled_in() {
        let (d, p) = (Deployment::default(), Policy::default());
        let empty = Counted::default();
        let a = build(inputs(&empty, &d, &p));
        let missing = a.not_recorded.join("\n");
        for want in [
            "none was ever counted",
            "2. GDPR ground",
            "3. transfer ground",
            "no decision",
            "no spoor eval run",
        ] {
            assert!(missing.contains(want), "{want}: {missing}");
        }
        assert_eq!((a.cases.abuse_material, a.errors.len()), (0, 0));
        assert!(a.error_limits.achieved.is_none() && a.data_processed.lookups_from.is_none());
        // Counting that began within the year is quoted from that day, and said so.
        let c = Counted {
            usage: vec![UsageDay {
                day: "2026-06-01".into(),
                client: "k".into(),
                technology: "md5".into(),
                lookups: 7,
                matches: 1,
            }],
            usage_since: Some("2026-06-01".into()),
            days: vec![DayTotal {
                day: "2026-06-01".into(),
                made: 4,
                confirmed: 3,
                false_positive: 1,
                open: 0,
                held: 2,
            }],
            ..Default::default()
        };
        let d = Deployment { provider: Some("<b>Hoster</b>".into()), ..Default::default() };
        let a = build(inputs(&c, &d, &p));
        assert_eq!(a.data_processed.lookups, [Count { name: "md5".into(), count: 7 }]);
        assert_eq!(a.data_processed.lookups_from.as_deref(), Some("2026-06-01"));
        assert!(a.not_recorded.iter().any(|n| n.contains("lookups before 2026-06-01")));
        let e = a.error_limits.achieved.as_ref().unwrap();
        assert_eq!((e.decisions, e.false_positives), (4, 1));
        assert!(e.ci_low < 0.25 && e.ci_high > 0.25);
        let page = html(&a);
        assert!(
            page.contains("&lt;b&gt;Hoster&lt;/b&gt;") && !page.contains("<b>Hoster"),
            "text is escaped"
        );
        assert!(page.contains("Not stated by the deployment."));
    }
}
