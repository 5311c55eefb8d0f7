//! Statistics from the records, with nothing made up ([`Statistics`], a part of every
//! [`crate::Store`]).
//!
//! Figures are counted from the rows the store keeps, which retention leaves anonymous but in
//! place: cases (by the UTC day they were made, the service that sent them, and each technology
//! they matched by: `md5`, `sha1`, `sha256`, `vpdq`, `photodna`, PDQ by distance band `pdq:0`,
//! `pdq:1-10`, `pdq:11-20`, `pdq:21-31`, `pdq:32+`, or `none` for a user's flag), complaints (by
//! the day filed), reports (by the day the receiver took them), and the times from a case's
//! making to its decision and from its decision to its report. A case matched by two
//! technologies counts once for each. No personal data is read.
//!
//! Lookups and matches are kept as daily aggregates ([`UsageDay`]), added to by the service as
//! it counts them ([`Statistics::usage_add`]): per UTC day, client (the key's name) and
//! technology (a PDQ lookup counts under the band of its nearest match, `pdq:none` when nothing
//! matched).
//!
//! Error rates come with their uncertainty: [`wilson`] is the 95 % Wilson score interval of a
//! false-positive ratio, and every ratio names the number of decisions it rests on.

use serde::{Deserialize, Serialize};

use crate::model::Millis;
use crate::retention::DAY_MS;
use crate::{BankError, Result};

/// Longest period the console shows at once: a little over a year (the store and the API take
/// any period; what a query costs follows the records in it, not its length).
pub const MAX_DAYS: i64 = 400;

/// Cases of one day, service and technology.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDay {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// The service named by the submitter (empty when none).
    pub service: String,
    /// The technology (see the module documentation).
    pub technology: String,
    /// Cases made.
    pub made: u64,
    /// Decided by the banks' rules (known material, no person).
    pub auto: u64,
    /// Decided by people.
    pub reviewed: u64,
    /// Decided by the decision on the same content before.
    pub earlier: u64,
    /// Confirmed (any way).
    pub confirmed: u64,
    /// Found false positives in review.
    pub false_positive_review: u64,
    /// Found false positives on complaint (confirmed first, reversed after).
    pub false_positive_complaint: u64,
    /// Not decided yet.
    pub open: u64,
}

/// Cases of one day, each counted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTotal {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// Cases made.
    pub made: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// False positives (in review and on complaint).
    pub false_positive: u64,
    /// Not decided yet.
    pub open: u64,
    /// Cases made with content held for review (an image, a video or a file).
    pub held: u64,
}

/// One technology's error rate over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// The technology.
    pub technology: String,
    /// Decisions it rests on: confirmed cases and false positives.
    pub decisions: u64,
    /// False positives (in review and on complaint).
    pub false_positives: u64,
    /// Of those, found on complaint.
    pub on_complaint: u64,
    /// False positives over decisions (0 when there are none).
    pub ratio: f64,
    /// The 95 % Wilson interval of the ratio.
    pub ci: (f64, f64),
}

/// Error rates per technology from case rows, by technology name.
pub fn rates(cases: &[CaseDay]) -> Vec<Rate> {
    let mut by: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for c in cases {
        let e = by.entry(&c.technology).or_default();
        e.0 += c.confirmed;
        e.1 += c.false_positive_review;
        e.2 += c.false_positive_complaint;
    }
    by.into_iter()
        .map(|(t, (confirmed, review, complaint))| {
            let fp = review + complaint;
            let n = confirmed + fp;
            Rate {
                technology: t.to_string(),
                decisions: n,
                false_positives: fp,
                on_complaint: complaint,
                ratio: if n == 0 { 0.0 } else { fp as f64 / n as f64 },
                ci: wilson(fp, n),
            }
        })
        .collect()
}

/// Complaints of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintDay {
    /// The UTC day they were filed.
    pub day: String,
    /// Filed.
    pub filed: u64,
    /// Still open.
    pub open: u64,
    /// Upheld.
    pub upheld: u64,
    /// Overturned.
    pub overturned: u64,
}

/// Reports of one day and recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDay {
    /// The UTC day the receiver took them (or they were given up).
    pub day: String,
    /// `ncmec`, `eu_centre`.
    pub recipient: String,
    /// Taken by the receiver.
    pub finished: u64,
    /// Given up.
    pub dead: u64,
}

/// What [`Statistics::statistics`] reads: rows for the period, and the durations the times
/// are made of (in ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counted {
    /// Cases per day, each once.
    pub days: Vec<DayTotal>,
    /// Cases per day, service and technology.
    pub cases: Vec<CaseDay>,
    /// Complaints per day.
    pub complaints: Vec<ComplaintDay>,
    /// Reports per day and recipient.
    pub reports: Vec<ReportDay>,
    /// From making to decision, of the period's cases decided by people.
    #[serde(skip)]
    pub to_decision_ms: Vec<Millis>,
    /// From decision to the receiver taking the report, of the period's finished reports (per
    /// case reported).
    #[serde(skip)]
    pub to_report_ms: Vec<Millis>,
    /// Lookups and matches per day, client and technology.
    pub usage: Vec<UsageDay>,
    /// The first day any lookup was counted (`None`: none ever was).
    pub usage_since: Option<String>,
}

/// Lookups and matches of one day, client and technology.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageDay {
    /// The UTC day (`YYYY-MM-DD`).
    pub day: String,
    /// The key that looked up (its name).
    pub client: String,
    /// `md5`, `sha1`, `sha256`, `vpdq`, or for PDQ the band of the nearest match (`pdq:0`,
    /// `pdq:1-10`, `pdq:11-20`, `pdq:21-31`, `pdq:32+`) or `pdq:none`.
    pub technology: String,
    /// Signals looked up.
    pub lookups: u64,
    /// Bank entries they matched.
    pub matches: u64,
}

/// Counts to add to one day, client and technology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageAdd {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The key's name.
    pub client: String,
    /// As in [`UsageDay::technology`].
    pub technology: String,
    /// Lookups to add.
    pub lookups: u64,
    /// Matches to add.
    pub matches: u64,
}

/// The technology a lookup counts under: the signal type, and for PDQ the band of the nearest
/// match's distance (the cases' bands), or `pdq:none` when nothing matched.
pub fn lookup_technology(signal_type: &str, nearest: Option<u32>) -> &str {
    if signal_type != "pdq" {
        return signal_type;
    }
    match nearest {
        None => "pdq:none",
        Some(0) => "pdq:0",
        Some(1..=10) => "pdq:1-10",
        Some(11..=20) => "pdq:11-20",
        Some(21..=31) => "pdq:21-31",
        Some(_) => "pdq:32+",
    }
}

/// Checks counts to add: a client name and technology of 1–128 characters without control
/// characters, counts that fit the store.
pub fn check_usage(rows: &[UsageAdd]) -> Result<()> {
    for r in rows {
        for (what, v) in [("client", &r.client), ("technology", &r.technology)] {
            if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
                return Err(BankError::Invalid(format!(
                    "usage {what} {v:?}: give 1 to 128 characters, no control characters"
                )));
            }
        }
        if i64::try_from(r.lookups).is_err() || i64::try_from(r.matches).is_err() {
            return Err(BankError::Invalid("usage counts too large".into()));
        }
    }
    Ok(())
}

/// What every store counts.
pub trait Statistics {
    /// The records of `[from, to)` (ms since the epoch), counted as they stand now.
    fn statistics(&self, from: Millis, to: Millis) -> Result<Counted> {
        self.statistics_as_of(from, to, Millis::MAX)
    }

    /// The records of `[from, to)` counted as they stood at `as_of`: a case decided, reversed
    /// or a complaint decided from `as_of` on counts as it was before (open, confirmed, open),
    /// and a report taken from then on not at all. The annual report counts the year as it
    /// stood at its end.
    fn statistics_as_of(&self, from: Millis, to: Millis, as_of: Millis) -> Result<Counted>;

    /// Adds lookups and matches to the daily aggregates, all rows or none.
    fn usage_add(&self, rows: &[UsageAdd]) -> Result<()>;
}

/// The statement adding one row of [`UsageAdd`] (placeholders in order: day, client,
/// technology, lookups, matches).
pub(crate) fn usage_upsert(p: [&str; 5]) -> String {
    format!(
        "INSERT INTO usage_daily (day, client, technology, lookups, matches)
         VALUES ({}, {}, {}, {}, {})
         ON CONFLICT (day, client, technology) DO UPDATE
         SET lookups = usage_daily.lookups + excluded.lookups,
             matches = usage_daily.matches + excluded.matches",
        p[0], p[1], p[2], p[3], p[4]
    )
}

/// Checks a period.
pub fn check_period(from: Millis, to: Millis) -> Result<()> {
    if to <= from {
        return Err(BankError::Invalid("the period ends before it begins: give from < to".into()));
    }
    Ok(())
}

/// A day number (days since the epoch) as `YYYY-MM-DD`.
pub fn day_name(day: i64) -> String {
    crate::model::format_time(day.saturating_mul(DAY_MS)).chars().take(10).collect()
}

/// A case's technologies as kept in `cases.technologies`: the distinct names of its matches
/// (see [`lookup_technology`] for PDQ's bands), sorted, separated by a space; `None` when it
/// matched nothing.
pub fn technologies<'a>(matches: impl IntoIterator<Item = (&'a str, u32)>) -> Option<String> {
    let mut names: Vec<&str> =
        matches.into_iter().map(|(t, d)| lookup_technology(t, Some(d))).collect();
    names.sort_unstable();
    names.dedup();
    (!names.is_empty()).then(|| names.join(" "))
}

/// One row of the cases statement: a day, service and set of technologies, with its counts
/// (made, auto, reviewed, earlier, confirmed, false positive in review, on complaint, open,
/// held), as of the statement's moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CaseRow {
    pub day: i64,
    pub service: Option<String>,
    pub technologies: Option<String>,
    pub counts: [u64; 9],
}

/// Cases per day each once, and per day, service and technology (a case once for each of its
/// technologies), from the cases statement's rows.
pub(crate) fn fold(rows: Vec<CaseRow>) -> (Vec<DayTotal>, Vec<CaseDay>) {
    use std::collections::BTreeMap;
    let mut days: BTreeMap<i64, [u64; 5]> = BTreeMap::new();
    let mut cases: BTreeMap<(i64, String, String), [u64; 8]> = BTreeMap::new();
    for r in rows {
        let [made, auto, reviewed, earlier, confirmed, fp_review, fp_complaint, open, held] =
            r.counts;
        let d = days.entry(r.day).or_default();
        for (x, v) in d.iter_mut().zip([made, confirmed, fp_review + fp_complaint, open, held]) {
            *x += v;
        }
        let service = r.service.unwrap_or_default();
        let techs = r.technologies.unwrap_or_default();
        let names: Vec<&str> = techs.split(' ').filter(|t| !t.is_empty()).collect();
        let names = if names.is_empty() { vec!["none"] } else { names };
        for t in names {
            let c = cases.entry((r.day, service.clone(), t.to_string())).or_default();
            let add = [made, auto, reviewed, earlier, confirmed, fp_review, fp_complaint, open];
            for (x, v) in c.iter_mut().zip(add) {
                *x += v;
            }
        }
    }
    let days = days
        .into_iter()
        .map(|(day, [made, confirmed, false_positive, open, held])| DayTotal {
            day: day_name(day),
            made,
            confirmed,
            false_positive,
            open,
            held,
        })
        .collect();
    let cases = cases
        .into_iter()
        .map(|((day, service, technology), c)| CaseDay {
            day: day_name(day),
            service,
            technology,
            made: c[0],
            auto: c[1],
            reviewed: c[2],
            earlier: c[3],
            confirmed: c[4],
            false_positive_review: c[5],
            false_positive_complaint: c[6],
            open: c[7],
        })
        .collect();
    (days, cases)
}

/// The statements both stores run, in `{from}`/`{to}` placeholders, with every state taken as
/// it stood at `as_of` (ms; decisions, reversals and complaint outcomes recorded from then on
/// are not counted, so a period's figures can be made again later and come out the same):
/// cases (rows of [`CaseRow`]: one pass over the SQLite store's `cases_statistics` index),
/// complaints, reports, times to decision, times to report, usage, the first day of usage.
pub(crate) fn statements(from: &str, to: &str, as_of: Millis) -> [String; 7] {
    // A case's state at `as_of`: decided before it, and, for a false positive on complaint,
    // reversed before it (a case reversed later was still confirmed then).
    let decided = format!("c.decided_at < {as_of}");
    let confirmed = format!(
        "{decided} AND (c.state = 'confirmed' OR (c.state = 'false_positive' AND c.reversed_at >= {as_of}))"
    );
    let fp_review = format!("{decided} AND c.state = 'false_positive' AND c.reversed_at IS NULL");
    let fp_complaint = format!("c.state = 'false_positive' AND c.reversed_at < {as_of}");
    let open = format!("(c.decided_at IS NULL OR c.decided_at >= {as_of})");
    let k_decided = format!("k.decided_at < {as_of}");
    [
        // The day range first, as the index holds it; then the exact bounds.
        format!(
            "SELECT c.created_at / {DAY_MS}, c.service, c.technologies, COUNT(*),
                    SUM(CASE WHEN c.resolution = 'auto' AND {decided} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN c.resolution = 'review' AND {decided} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN c.resolution = 'earlier' AND {decided} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN {confirmed} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN {fp_review} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN {fp_complaint} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN {open} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN c.media_kind <> 'none' THEN 1 ELSE 0 END)
             FROM cases c
             WHERE c.created_at / {DAY_MS} >= {from} / {DAY_MS}
               AND c.created_at / {DAY_MS} <= ({to} - 1) / {DAY_MS}
               AND c.created_at >= {from} AND c.created_at < {to}
             GROUP BY c.created_at / {DAY_MS}, c.service, c.technologies"
        ),
        format!(
            "SELECT k.created_at / {DAY_MS}, COUNT(*),
                    SUM(CASE WHEN k.decided_at IS NULL OR k.decided_at >= {as_of} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN k.state = 'upheld' AND {k_decided} THEN 1 ELSE 0 END),
                    SUM(CASE WHEN k.state = 'overturned' AND {k_decided} THEN 1 ELSE 0 END)
             FROM complaints k WHERE k.created_at >= {from} AND k.created_at < {to}
             GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "SELECT COALESCE(finished_at, dead_at) / {DAY_MS}, recipient,
                    SUM(CASE WHEN state = 'finished' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END)
             FROM reports
             WHERE state IN ('finished', 'dead')
               AND COALESCE(finished_at, dead_at) >= {from} AND COALESCE(finished_at, dead_at) < {to}
               AND COALESCE(finished_at, dead_at) < {as_of}
             GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        format!(
            "SELECT c.decided_at - c.created_at FROM cases c
             WHERE c.resolution = 'review' AND c.created_at >= {from} AND c.created_at < {to}
               AND {decided}"
        ),
        format!(
            "SELECT r.finished_at - c.decided_at FROM reports r
             JOIN report_cases rc ON rc.report_id = r.id
             JOIN cases c ON c.id = rc.case_id
             WHERE r.state = 'finished' AND r.finished_at >= {from} AND r.finished_at < {to}
               AND r.finished_at < {as_of} AND c.decided_at IS NOT NULL"
        ),
        format!(
            "SELECT day, client, technology, lookups, matches FROM usage_daily
             WHERE day >= {from} / {DAY_MS} AND day * {DAY_MS} < {to}
             ORDER BY 1, 2, 3"
        ),
        "SELECT MIN(day) FROM usage_daily".to_string(),
    ]
}

pub use spoor_core::ratio::wilson;

/// The `q`-quantile (0..=1) of `v` by the nearest rank; `None` when empty. Sorts `v`.
pub fn quantile(v: &mut [Millis], q: f64) -> Option<Millis> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_counts_once_a_day_and_once_for_each_technology() {
        assert_eq!(
            technologies([("pdq", 7), ("md5", 0), ("pdq", 3), ("pdq", 0)]).as_deref(),
            Some("md5 pdq:0 pdq:1-10")
        );
        assert_eq!(technologies([]), None);
        let row = |day, service: Option<&str>, techs: Option<&str>, counts| CaseRow {
            day,
            service: service.map(str::to_string),
            technologies: techs.map(str::to_string),
            counts,
        };
        let (days, cases) = fold(vec![
            // Two cases by MD5 and by PDQ at once: one confirmed, one open.
            row(20_000, Some("photos"), Some("md5 pdq:0"), [2, 1, 0, 0, 1, 0, 0, 1, 0]),
            // A user's flag with content held, a false positive on complaint.
            row(20_000, None, None, [1, 0, 1, 0, 0, 0, 1, 0, 1]),
            row(20_001, Some("photos"), Some("md5"), [1, 0, 1, 0, 0, 1, 0, 0, 0]),
        ]);
        assert_eq!(days.len(), 2);
        let d = &days[0];
        assert_eq!((d.made, d.confirmed, d.false_positive, d.open, d.held), (3, 1, 1, 1, 1));
        assert_eq!(d.day, day_name(20_000));
        let names: Vec<(&str, &str, u64)> =
            cases.iter().map(|c| (c.service.as_str(), c.technology.as_str(), c.made)).collect();
        assert_eq!(
            names,
            [("", "none", 1), ("photos", "md5", 2), ("photos", "pdq:0", 2), ("photos", "md5", 1)]
        );
        assert_eq!(
            (cases[1].confirmed, cases[1].open, cases[0].false_positive_complaint),
            (1, 1, 1)
        );
        assert_eq!((cases[3].reviewed, cases[3].false_positive_review), (1, 1));
    }

    #[test]
    fn quantiles_are_nearest_ranks_and_periods_are_checked() {
        let mut v = vec![5, 1, 4, 2, 3];
        assert_eq!(quantile(&mut v, 0.5), Some(3));
        assert_eq!(quantile(&mut v, 0.9), Some(5));
        assert_eq!(quantile(&mut v, 0.0), Some(1));
        assert_eq!(quantile(&mut [], 0.5), None);
        assert!(check_period(10, 10).is_err());
        assert!(check_period(0, (MAX_DAYS + 1) * DAY_MS).is_ok());
        assert!(check_period(0, DAY_MS).is_ok());
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_423), "2025-12-01");
    }
}
