//! Browsing entries on both stores: filtered pages with a bounded scan give, page after page,
//! exactly the entries a plain filter of the whole bank gives; exact lookups; entry histories.

mod common;

use spoor_bank::browse::{CategoryFilter, EntryFilter};
use spoor_bank::{Action, Category, EntryUpdate, Location, NewBank, NewEntry, Store};
use spoor_core::{Hash256, SignalType};

fn sqlite() -> (Box<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (spoor_bank::open(&Location::DataDir(dir.path().join("data"))).unwrap(), dir)
}

fn postgres() -> Option<Box<dyn Store>> {
    let (url, _) = common::postgres_schema()?;
    Some(spoor_bank::open(&Location::Postgres(url)).unwrap())
}

fn hash(i: u64) -> Hash256 {
    common::hashes(1, i)[0]
}

/// Two banks whose entries interleave by id: mixed types and categories, some disabled.
fn fill(s: &dyn Store) {
    for name in ["A", "B"] {
        s.create_bank(&NewBank { name: name.into(), ..Default::default() }, "cli:t").unwrap();
    }
    for i in 0..300u64 {
        let bank = if i % 4 == 3 { "B" } else { "A" };
        let mut e = if i % 5 == 0 {
            NewEntry::new(SignalType::Md5, i.to_be_bytes().repeat(2))
        } else {
            NewEntry::new(SignalType::Pdq, hash(i).to_bytes().to_vec())
        };
        e.category = match i % 7 {
            0 => Some(Category::National),
            1 | 2 => None,
            _ => Some(Category::Baseline),
        };
        s.add_entries(bank, &[e], "cli:t").unwrap();
    }
    let ids: Vec<i64> = s.entries("A", 0, 1000).unwrap().iter().map(|e| e.id).collect();
    for id in ids.iter().step_by(17) {
        s.set_enabled("A", *id, false, "cli:t", "false positive").unwrap();
    }
}

fn filters() -> Vec<EntryFilter> {
    let mut out = vec![EntryFilter::default()];
    for signal_type in [None, Some(SignalType::Pdq), Some(SignalType::Md5)] {
        for category in [
            CategoryFilter::Any,
            CategoryFilter::Uncategorised,
            CategoryFilter::Is(Category::National),
            CategoryFilter::Is(Category::NotIllegal),
        ] {
            for enabled in [None, Some(true), Some(false)] {
                out.push(EntryFilter { signal_type, category, enabled });
            }
        }
    }
    out
}

fn passes(f: &EntryFilter, e: &spoor_bank::Entry) -> bool {
    f.signal_type.is_none_or(|t| t == e.signal_type)
        && match f.category {
            CategoryFilter::Any => true,
            CategoryFilter::Uncategorised => e.category.is_none(),
            CategoryFilter::Is(c) => e.category == Some(c),
        }
        && f.enabled.is_none_or(|on| on == e.enabled)
}

fn paging_equals_filtering(s: &dyn Store) {
    fill(s);
    let all = s.entries("A", 0, 1000).unwrap();
    assert_eq!(all.len(), 225);
    let disabled = all.iter().filter(|e| !e.enabled).count() as u64;
    assert!(disabled > 0);
    assert_eq!(s.count_disabled("A").unwrap(), disabled);
    assert_eq!(s.count_disabled("B").unwrap(), 0);
    assert!(s.count_disabled("nope").is_err());
    for f in filters() {
        let want: Vec<i64> = all.iter().filter(|e| passes(&f, e)).map(|e| e.id).collect();
        for (limit, max_scan) in [(7, 20), (1, 1), (50, 1000)] {
            let mut got = Vec::new();
            let mut after = 0;
            let mut pages = 0;
            loop {
                let page = s.entries_page("A", &f, after, limit, max_scan).unwrap();
                assert!(page.entries.len() <= limit);
                assert!(page.entries.iter().all(|e| e.bank == "A" && passes(&f, e)));
                got.extend(page.entries.iter().map(|e| e.id));
                pages += 1;
                assert!(pages < 1000, "paging does not end: {f:?}");
                match page.next_after {
                    Some(n) => {
                        assert!(n > after, "{f:?}");
                        after = n;
                    }
                    None => break,
                }
            }
            assert_eq!(got, want, "{f:?} limit {limit} scan {max_scan}");
        }
    }
    // Bounded: a filter no entry passes still answers each page after `max_scan` entries.
    let none =
        EntryFilter { category: CategoryFilter::Is(Category::NotIllegal), ..Default::default() };
    let page = s.entries_page("A", &none, 0, 10, 20).unwrap();
    assert!(page.entries.is_empty());
    assert!(page.next_after.is_some());
    for (limit, scan) in [(0, 10), (1001, 2000), (10, 5)] {
        assert!(s.entries_page("A", &none, 0, limit, scan).is_err());
    }
    assert!(s.entries_page("NOPE", &none, 0, 10, 10).is_err());
}

#[test]
fn paging_equals_filtering_on_sqlite() {
    let (s, _dir) = sqlite();
    paging_equals_filtering(&*s);
}

#[test]
fn paging_equals_filtering_on_postgres() {
    if let Some(s) = postgres() {
        paging_equals_filtering(&*s);
    }
}

fn lookups_and_history(s: &dyn Store) {
    fill(s);
    let h = hash(1).to_bytes();
    let e = s.entry_by_value("A", SignalType::Pdq, &h).unwrap().unwrap();
    assert_eq!(e.value, h.to_vec());
    assert!(s.entry_by_value("B", SignalType::Pdq, &h).unwrap().is_none());
    assert!(s.entry_by_value("A", SignalType::Md5, &h).unwrap().is_none());

    s.set_enabled("A", e.id, false, "user:carol", "stock photo").unwrap();
    s.set_enabled("A", e.id, true, "user:carol", "reviewed again").unwrap();
    s.update_entry(
        "A",
        e.id,
        &EntryUpdate { category: Some(Some(Category::National)), ..Default::default() },
        "user:carol",
        "reclassified",
    )
    .unwrap();
    let live: Vec<Action> =
        s.entry_history("A", e.id, 100).unwrap().iter().map(|c| c.action).collect();
    assert_eq!(live, [Action::Add, Action::Disable, Action::Enable, Action::Update]);
    s.delete_entry("A", e.id, "user:dana", "duplicate").unwrap();
    let history = s.entry_history("A", e.id, 100).unwrap();
    let actions: Vec<Action> = history.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [Action::Add, Action::Disable, Action::Enable, Action::Update, Action::Delete]
    );
    assert!(history.iter().all(|c| c.entry_id == Some(e.id)));
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(history[3].reason.as_deref(), Some("reclassified"));
    assert_eq!(s.entry_history("A", e.id, 2).unwrap().len(), 2);
    // Another bank's view of the same id is empty.
    assert!(s.entry_history("B", e.id, 100).unwrap().is_empty());
}

#[test]
fn lookups_and_history_on_sqlite() {
    let (s, _dir) = sqlite();
    lookups_and_history(&*s);
}

#[test]
fn lookups_and_history_on_postgres() {
    if let Some(s) = postgres() {
        lookups_and_history(&*s);
    }
}

/// After a bulk import the PostgreSQL store refreshes the table's statistics, so the first
/// pages of a freshly imported bank are planned for its size (not sorted whole).
#[test]
fn a_bulk_import_leaves_fresh_statistics_on_postgres() {
    let Some((url, _)) = common::postgres_schema() else { return };
    let s = spoor_bank::open(&Location::Postgres(url.clone())).unwrap();
    s.create_bank(&NewBank { name: "BULK".into(), ..Default::default() }, "cli:t").unwrap();
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let analysed = |c: &mut ::postgres::Client| -> bool {
        c.query_one(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables
             WHERE relname = 'entries' AND schemaname = current_schema()",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(!analysed(&mut client), "not analysed before the import");
    let mut session = s.import_session("BULK", "cli:t", false).unwrap();
    let batch: Vec<NewEntry> = common::hashes(10_000, 77)
        .iter()
        .map(|h| NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec()))
        .collect();
    session.write_batch(&batch).unwrap();
    session.finish().unwrap();
    assert!(analysed(&mut client), "analysed after an import of 10,000 entries");
}
