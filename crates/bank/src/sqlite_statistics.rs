//! [`Statistics`] on the embedded SQLite store, read on the read pool.

use rusqlite::params;

use crate::model::Millis;
use crate::statistics::{
    self, CaseRow, ComplaintDay, Counted, ReportDay, Statistics, UsageAdd, UsageDay,
};
use crate::{Result, SqliteStore};

fn n(v: i64) -> u64 {
    v.max(0) as u64
}

impl Statistics for SqliteStore {
    fn statistics_as_of(&self, from: Millis, to: Millis, as_of: Millis) -> Result<Counted> {
        statistics::check_period(from, to)?;
        let conn = self.read()?;
        let [cases, complaints, reports, to_decision, to_report, usage, usage_since] =
            statistics::statements("?1", "?2", as_of);
        let mut out = Counted::default();
        let rows = |sql: &str| conn.prepare(sql).map_err(|e| self.err(e));
        let case_rows = rows(&cases)?
            .query_map(params![from, to], |r| {
                let mut counts = [0u64; 9];
                for (k, c) in counts.iter_mut().enumerate() {
                    *c = n(r.get(3 + k)?);
                }
                Ok(CaseRow { day: r.get(0)?, service: r.get(1)?, technologies: r.get(2)?, counts })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        (out.days, out.cases) = statistics::fold(case_rows);
        out.complaints = rows(&complaints)?
            .query_map(params![from, to], |r| {
                Ok(ComplaintDay {
                    day: statistics::day_name(r.get(0)?),
                    filed: n(r.get(1)?),
                    open: n(r.get(2)?),
                    upheld: n(r.get(3)?),
                    overturned: n(r.get(4)?),
                })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        out.reports = rows(&reports)?
            .query_map(params![from, to], |r| {
                Ok(ReportDay {
                    day: statistics::day_name(r.get(0)?),
                    recipient: r.get(1)?,
                    finished: n(r.get(2)?),
                    dead: n(r.get(3)?),
                })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        for (sql, into) in
            [(&to_decision, &mut out.to_decision_ms), (&to_report, &mut out.to_report_ms)]
        {
            *into = rows(sql)?
                .query_map(params![from, to], |r| r.get::<_, i64>(0))
                .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
        }
        out.usage = rows(&usage)?
            .query_map(params![from, to], |r| {
                Ok(UsageDay {
                    day: statistics::day_name(r.get(0)?),
                    client: r.get(1)?,
                    technology: r.get(2)?,
                    lookups: n(r.get(3)?),
                    matches: n(r.get(4)?),
                })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        out.usage_since = conn
            .query_row(&usage_since, [], |r| r.get::<_, Option<i64>>(0))
            .map_err(|e| self.err(e))?
            .map(statistics::day_name);
        Ok(out)
    }

    fn usage_add(&self, rows: &[UsageAdd]) -> Result<()> {
        statistics::check_usage(rows)?;
        if rows.is_empty() {
            return Ok(());
        }
        self.people_write(|tx| {
            let mut st = tx
                .prepare_cached(&statistics::usage_upsert(["?1", "?2", "?3", "?4", "?5"]))
                .map_err(|e| self.err(e))?;
            for r in rows {
                st.execute(params![
                    r.day,
                    r.client,
                    r.technology,
                    r.lookups as i64,
                    r.matches as i64
                ])
                .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }
}
