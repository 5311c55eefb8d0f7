//! [`Statistics`] on the embedded SQLite store, read on the read pool.

use rusqlite::params;

use crate::model::Millis;
use crate::statistics::{self, CaseDay, ComplaintDay, Counted, DayTotal, ReportDay, Statistics};
use crate::{Result, SqliteStore};

fn n(v: i64) -> u64 {
    v.max(0) as u64
}

impl Statistics for SqliteStore {
    fn statistics(&self, from: Millis, to: Millis) -> Result<Counted> {
        statistics::check_period(from, to)?;
        let conn = self.read()?;
        let [days, cases, complaints, reports, to_decision, to_report] =
            statistics::statements("?1", "?2");
        let mut out = Counted::default();
        let rows = |sql: &str| conn.prepare(sql).map_err(|e| self.err(e));
        out.days = rows(&days)?
            .query_map(params![from, to], |r| {
                Ok(DayTotal {
                    day: statistics::day_name(r.get(0)?),
                    made: n(r.get(1)?),
                    confirmed: n(r.get(2)?),
                    false_positive: n(r.get(3)?),
                    open: n(r.get(4)?),
                })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        out.cases = rows(&cases)?
            .query_map(params![from, to], |r| {
                Ok(CaseDay {
                    day: statistics::day_name(r.get(0)?),
                    service: r.get(1)?,
                    technology: r.get(2)?,
                    made: n(r.get(3)?),
                    auto: n(r.get(4)?),
                    reviewed: n(r.get(5)?),
                    earlier: n(r.get(6)?),
                    confirmed: n(r.get(7)?),
                    false_positive_review: n(r.get(8)?),
                    false_positive_complaint: n(r.get(9)?),
                    open: n(r.get(10)?),
                })
            })
            .and_then(|i| i.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
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
        Ok(out)
    }
}
