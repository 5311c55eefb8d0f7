//! Browsing a bank's entries as a person does in the console: pages filtered by signal type,
//! category and state, whose cost stays bounded however large the bank and however rare the
//! filter's entries (a page examines at most `max_scan` entries, then says where to go on);
//! an entry's whole history from the change log; an entry found by its exact signal.

use spoor_core::SignalType;

use crate::{Category, Entry};

/// Most entries one page returns.
pub const MAX_PAGE: usize = 1000;

/// Which of a bank's entries to show. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only entries of this signal type.
    pub signal_type: Option<SignalType>,
    /// Only entries of this category.
    pub category: CategoryFilter,
    /// Only enabled (`true`) or disabled (`false`) entries.
    pub enabled: Option<bool>,
}

/// A filter on the category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CategoryFilter {
    /// Any category, or none.
    #[default]
    Any,
    /// Entries with no category.
    Uncategorised,
    /// Entries of this category.
    Is(Category),
}

/// One page of a bank's entries.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPage {
    /// Matching entries, by id.
    pub entries: Vec<Entry>,
    /// Where the next page starts (pass as `after_id`); `None` when the bank holds no more.
    /// A page may hold fewer than `limit` entries and still have a next one, when it reached
    /// its scanning bound first.
    pub next_after: Option<i64>,
}

impl EntryFilter {
    /// Whether the filter passes every entry.
    pub fn is_empty(&self) -> bool {
        self.signal_type.is_none() && self.category == CategoryFilter::Any && self.enabled.is_none()
    }

    /// SQL conditions on the entries table aliased `e`, with placeholders from `ph` (numbered
    /// after `first`), and their text parameters.
    pub(crate) fn conditions(
        &self,
        first: usize,
        ph: impl Fn(usize) -> String,
        disabled_sql: &str,
        enabled_sql: &str,
    ) -> (String, Vec<String>) {
        let mut conds = Vec::new();
        let mut params = Vec::new();
        if let Some(t) = self.signal_type {
            params.push(t.name().to_string());
            conds.push(format!("e.signal_type = {}", ph(first + params.len())));
        }
        match self.category {
            CategoryFilter::Any => {}
            CategoryFilter::Uncategorised => conds.push("e.category IS NULL".into()),
            CategoryFilter::Is(c) => {
                params.push(c.name().to_string());
                conds.push(format!("e.category = {}", ph(first + params.len())));
            }
        }
        match self.enabled {
            None => {}
            Some(true) => conds.push(enabled_sql.into()),
            Some(false) => conds.push(disabled_sql.into()),
        }
        let sql = conds.iter().map(|c| format!(" AND {c}")).collect::<String>();
        (sql, params)
    }
}

pub(crate) fn check_page(limit: usize, max_scan: usize) -> crate::Result<()> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(crate::BankError::Invalid(format!(
            "limit {limit} is out of range: ask for 1 to {MAX_PAGE} entries"
        )));
    }
    if max_scan < limit {
        return Err(crate::BankError::Invalid(format!(
            "max_scan {max_scan} is below the limit {limit}"
        )));
    }
    Ok(())
}

/// Where the next page starts: after the last entry when the page is full; otherwise after
/// the scanned window when there is one and the bank goes on past it; otherwise nowhere.
pub(crate) fn next_after(
    entries: &[Entry],
    limit: usize,
    window_end: Option<i64>,
    bank_max: impl FnOnce() -> crate::Result<Option<i64>>,
) -> crate::Result<Option<i64>> {
    if entries.len() == limit {
        return Ok(entries.last().map(|e| e.id));
    }
    match window_end {
        None => Ok(None),
        Some(end) => Ok(bank_max()?.filter(|&max| max > end).map(|_| end)),
    }
}
