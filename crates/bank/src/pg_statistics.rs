//! [`Statistics`] on PostgreSQL.

use crate::model::Millis;
use crate::statistics::{
    self, CaseRow, ComplaintDay, Counted, ReportDay, Statistics, UsageAdd, UsageDay,
};
use crate::{PostgresStore, Result};

fn n(v: i64) -> u64 {
    v.max(0) as u64
}

impl Statistics for PostgresStore {
    fn statistics_as_of(&self, from: Millis, to: Millis, as_of: Millis) -> Result<Counted> {
        statistics::check_period(from, to)?;
        let mut c = self.lock()?;
        // Counts cast to BIGINT: PostgreSQL sums integers as NUMERIC.
        let [cases_sql, complaints_sql, reports_sql, to_decision, to_report, usage_sql, since_sql] =
            statistics::statements("$1::BIGINT", "$2::BIGINT", as_of).map(|s| {
                s.replace("SUM(", "CAST(SUM(")
                    .replace(" ELSE 0 END)", " ELSE 0 END) AS BIGINT)")
                    .replace("COUNT(*)", "CAST(COUNT(*) AS BIGINT)")
            });
        let p: [&(dyn postgres::types::ToSql + Sync); 2] = [&from, &to];
        let rows = c
            .query(&cases_sql, &p)?
            .iter()
            .map(|r| {
                let mut counts = [0u64; 9];
                for (k, x) in counts.iter_mut().enumerate() {
                    *x = n(r.get(3 + k));
                }
                CaseRow { day: r.get(0), service: r.get(1), technologies: r.get(2), counts }
            })
            .collect();
        let (days, cases) = statistics::fold(rows);
        let complaints = c
            .query(&complaints_sql, &p)?
            .iter()
            .map(|r| ComplaintDay {
                day: statistics::day_name(r.get(0)),
                filed: n(r.get(1)),
                open: n(r.get(2)),
                upheld: n(r.get(3)),
                overturned: n(r.get(4)),
            })
            .collect();
        let reports = c
            .query(&reports_sql, &p)?
            .iter()
            .map(|r| ReportDay {
                day: statistics::day_name(r.get(0)),
                recipient: r.get(1),
                finished: n(r.get(2)),
                dead: n(r.get(3)),
            })
            .collect();
        let to_decision_ms = c.query(&to_decision, &p)?.iter().map(|r| r.get(0)).collect();
        let to_report_ms = c.query(&to_report, &p)?.iter().map(|r| r.get(0)).collect();
        let usage = c
            .query(&usage_sql, &p)?
            .iter()
            .map(|r| UsageDay {
                day: statistics::day_name(r.get(0)),
                client: r.get(1),
                technology: r.get(2),
                lookups: n(r.get(3)),
                matches: n(r.get(4)),
            })
            .collect();
        let usage_since =
            c.query_one(&since_sql, &[])?.get::<_, Option<i64>>(0).map(statistics::day_name);
        Ok(Counted {
            days,
            cases,
            complaints,
            reports,
            to_decision_ms,
            to_report_ms,
            usage,
            usage_since,
        })
    }

    fn usage_add(&self, rows: &[UsageAdd]) -> Result<()> {
        statistics::check_usage(rows)?;
        if rows.is_empty() {
            return Ok(());
        }
        let sql = statistics::usage_upsert(["$1", "$2", "$3", "$4", "$5"]);
        self.people_write(|tx| {
            let st = tx.prepare(&sql)?;
            for r in rows {
                tx.execute(
                    &st,
                    &[&r.day, &r.client, &r.technology, &(r.lookups as i64), &(r.matches as i64)],
                )?;
            }
            Ok(())
        })
    }
}
