//! The matcher against a real store: loads, follows every kind of change, honours scopes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use spoor_bank::cases;
use spoor_bank::{
    Added, ApiKey, Bank, BankSettings, BankStats, Category, Change, Delta, Entry, EntryUpdate,
    ImportSession, Location, NewBank, NewEntry, SignalRow, Store,
};
use spoor_core::{Hash256, SignalType};
use spoor_matcher::{FollowOptions, Matcher, Scope, SnapshotPolicy, Start};

fn store(dir: &std::path::Path) -> Arc<dyn Store> {
    spoor_bank::open(&Location::DataDir(dir.to_path_buf())).unwrap().into()
}

/// A store that delegates everything to a real one, with hooks to misbehave on demand.
struct Hooked {
    inner: Arc<dyn Store>,
    /// `deltas` panics once when set.
    panic_once: AtomicBool,
    /// When set, the next `banks` call reports here, then waits for a message on the receiver.
    pause_banks: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    /// `last_seq` answers this instead when ≥ 0.
    fake_last_seq: AtomicI64,
    deltas_calls: AtomicU64,
}

impl Hooked {
    fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Hooked {
            inner,
            panic_once: AtomicBool::new(false),
            pause_banks: Mutex::new(None),
            fake_last_seq: AtomicI64::new(-1),
            deltas_calls: AtomicU64::new(0),
        })
    }
}

impl spoor_bank::AuditLog for Hooked {
    fn audit_append(&self, r: &spoor_audit::NewRecord) -> spoor_bank::Result<spoor_audit::Record> {
        self.inner.audit_append(r)
    }
    fn audit_append_relaxed(
        &self,
        r: &spoor_audit::NewRecord,
    ) -> spoor_bank::Result<spoor_audit::Record> {
        self.inner.audit_append_relaxed(r)
    }
    fn audit_append_all(
        &self,
        r: &[spoor_audit::NewRecord],
    ) -> spoor_bank::Result<Vec<spoor_audit::Record>> {
        self.inner.audit_append_all(r)
    }
    fn audit_head(&self) -> spoor_bank::Result<Option<(i64, spoor_audit::Digest)>> {
        self.inner.audit_head()
    }
    fn audit_records(
        &self,
        q: &spoor_bank::AuditQuery,
    ) -> spoor_bank::Result<Vec<spoor_audit::Record>> {
        self.inner.audit_records(q)
    }
    fn audit_add_checkpoint(
        &self,
        c: &spoor_audit::Checkpoint,
        actor: &str,
    ) -> spoor_bank::Result<spoor_audit::Record> {
        self.inner.audit_add_checkpoint(c, actor)
    }
    fn audit_checkpoints(&self) -> spoor_bank::Result<Vec<spoor_audit::Checkpoint>> {
        self.inner.audit_checkpoints()
    }
}

impl spoor_bank::Cases for Hooked {
    fn set_no_inform(
        &self,
        id: i64,
        until: Option<i64>,
        reason: &str,
        actor: &str,
        now: i64,
    ) -> spoor_bank::Result<cases::Case> {
        self.inner.set_no_inform(id, until, reason, actor, now)
    }
    fn create_cases_notifying(
        &self,
        new: &[cases::NewCase],
        notify: cases::Notify<'_>,
    ) -> spoor_bank::Result<Vec<cases::Case>> {
        self.inner.create_cases_notifying(new, notify)
    }
    fn case(&self, id: i64) -> spoor_bank::Result<cases::Case> {
        self.inner.case(id)
    }
    fn cases(&self, q: &cases::CaseQuery) -> spoor_bank::Result<Vec<cases::Case>> {
        self.inner.cases(q)
    }
    fn claim_next_case(
        &self,
        queue: &str,
        person: &str,
        now: i64,
        lease_ms: i64,
    ) -> spoor_bank::Result<Option<cases::Case>> {
        self.inner.claim_next_case(queue, person, now, lease_ms)
    }
    fn release_case(&self, id: i64, person: &str, now: i64) -> spoor_bank::Result<cases::Case> {
        self.inner.release_case(id, person, now)
    }
    fn decide_case_notifying(
        &self,
        id: i64,
        person: &str,
        d: &cases::NewDecision,
        now: i64,
        require_lease: bool,
        notify: cases::Notify<'_>,
    ) -> spoor_bank::Result<cases::Case> {
        self.inner.decide_case_notifying(id, person, d, now, require_lease, notify)
    }
    fn review_view(&self, user_id: i64) -> spoor_bank::Result<cases::ReviewView> {
        self.inner.review_view(user_id)
    }
    fn set_review_view(
        &self,
        user_id: i64,
        actor: &str,
        view: cases::ReviewView,
        now: i64,
    ) -> spoor_bank::Result<()> {
        self.inner.set_review_view(user_id, actor, view, now)
    }
    fn open_case_by_sha256(&self, sha256: &[u8; 32]) -> spoor_bank::Result<Option<i64>> {
        self.inner.open_case_by_sha256(sha256)
    }
    fn decided_case_by_sha256(&self, sha256: &[u8; 32]) -> spoor_bank::Result<Option<cases::Case>> {
        self.inner.decided_case_by_sha256(sha256)
    }
    fn decided_pdqs(
        &self,
        at: i64,
        id: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<cases::DecidedPdq>> {
        self.inner.decided_pdqs(at, id, limit)
    }
    fn media_to_purge(
        &self,
        before: i64,
        now: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<(i64, String)>> {
        self.inner.media_to_purge(before, now, limit)
    }
    fn media_purged(&self, id: i64, at: i64) -> spoor_bank::Result<()> {
        self.inner.media_purged(id, at)
    }
    fn case_outcomes(
        &self,
        bank: Option<&str>,
        entry: Option<i64>,
    ) -> spoor_bank::Result<Vec<cases::Outcome>> {
        self.inner.case_outcomes(bank, entry)
    }
    fn open_case_counts(&self) -> spoor_bank::Result<Vec<(String, cases::CaseState, u64)>> {
        self.inner.open_case_counts()
    }
}

impl spoor_bank::Outbox for Hooked {
    fn outbox_claim(
        &self,
        topics: &[String],
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::OutboxItem>> {
        self.inner.outbox_claim(topics, now, lease_ms, limit)
    }
    fn outbox_add(
        &self,
        topic: &str,
        dedupe_key: &str,
        target: &str,
        payload: &str,
        now: i64,
    ) -> spoor_bank::Result<bool> {
        self.inner.outbox_add(topic, dedupe_key, target, payload, now)
    }
    fn outbox_due(
        &self,
        topic: &str,
        now: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::OutboxItem>> {
        self.inner.outbox_due(topic, now, limit)
    }
    fn outbox_delivered(&self, id: i64, now: i64) -> spoor_bank::Result<bool> {
        self.inner.outbox_delivered(id, now)
    }
    fn outbox_retry(&self, id: i64, next_attempt_at: i64, error: &str) -> spoor_bank::Result<bool> {
        self.inner.outbox_retry(id, next_attempt_at, error)
    }
    fn outbox_give_up(&self, id: i64, now: i64, error: &str) -> spoor_bank::Result<bool> {
        self.inner.outbox_give_up(id, now, error)
    }
    fn outbox_item(&self, id: i64) -> spoor_bank::Result<Option<spoor_bank::OutboxItem>> {
        self.inner.outbox_item(id)
    }
    fn outbox_counts(&self) -> spoor_bank::Result<spoor_bank::OutboxCounts> {
        self.inner.outbox_counts()
    }
    fn outbox_find(
        &self,
        q: &spoor_bank::outbox::OutboxQuery,
    ) -> spoor_bank::Result<Vec<spoor_bank::OutboxItem>> {
        self.inner.outbox_find(q)
    }
}

impl spoor_bank::statistics::Statistics for Hooked {
    fn statistics_as_of(
        &self,
        from: i64,
        to: i64,
        as_of: i64,
    ) -> spoor_bank::Result<spoor_bank::statistics::Counted> {
        self.inner.statistics_as_of(from, to, as_of)
    }
    fn usage_add(&self, rows: &[spoor_bank::statistics::UsageAdd]) -> spoor_bank::Result<()> {
        self.inner.usage_add(rows)
    }
}

impl spoor_bank::retention::Retention for Hooked {
    fn retention_apply(
        &self,
        policy: &spoor_bank::retention::Policy,
        session_max_age_ms: i64,
        now: i64,
        dry_run: bool,
        media: u64,
        actor: &str,
    ) -> spoor_bank::Result<spoor_bank::retention::RetentionCounts> {
        self.inner.retention_apply(policy, session_max_age_ms, now, dry_run, media, actor)
    }
    fn media_past_retention(
        &self,
        made_before: i64,
        now: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<(i64, String)>> {
        self.inner.media_past_retention(made_before, now, limit)
    }
    fn set_legal_hold(
        &self,
        id: i64,
        until: Option<i64>,
        reason: &str,
        actor: &str,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::cases::Case> {
        self.inner.set_legal_hold(id, until, reason, actor, now)
    }
}

impl spoor_bank::Complaints for Hooked {
    fn complaint_create(
        &self,
        new: &spoor_bank::complaints::NewComplaint,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::complaints::Complaint> {
        self.inner.complaint_create(new, now)
    }
    fn complaint(&self, id: i64) -> spoor_bank::Result<spoor_bank::complaints::Complaint> {
        self.inner.complaint(id)
    }
    fn complaints(
        &self,
        q: &spoor_bank::complaints::ComplaintQuery,
    ) -> spoor_bank::Result<Vec<spoor_bank::complaints::Complaint>> {
        self.inner.complaints(q)
    }
    fn complaint_excluded(
        &self,
        id: i64,
    ) -> spoor_bank::Result<std::collections::BTreeSet<String>> {
        self.inner.complaint_excluded(id)
    }
    fn complaint_decide(
        &self,
        id: i64,
        person: &str,
        d: &spoor_bank::complaints::ComplaintDecision,
        now: i64,
        notify: spoor_bank::complaints::ComplaintNotify<'_>,
    ) -> spoor_bank::Result<(spoor_bank::complaints::Complaint, spoor_bank::cases::Case)> {
        self.inner.complaint_decide(id, person, d, now, notify)
    }
    fn complaint_counts(
        &self,
        overdue_before: i64,
    ) -> spoor_bank::Result<spoor_bank::complaints::ComplaintCounts> {
        self.inner.complaint_counts(overdue_before)
    }
    fn follow_up_done(
        &self,
        id: i64,
        actor: &str,
        note: &str,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::OutboxItem> {
        self.inner.follow_up_done(id, actor, note, now)
    }
}

impl spoor_bank::Reports for Hooked {
    fn reports_claim(
        &self,
        worker: &str,
        recipients: &[String],
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::Report>> {
        self.inner.reports_claim(worker, recipients, now, lease_ms, limit)
    }
    fn report_step(
        &self,
        id: i64,
        worker: &str,
        step: &spoor_bank::reports::ReportStep,
        now: i64,
        lease_ms: i64,
    ) -> spoor_bank::Result<bool> {
        self.inner.report_step(id, worker, step, now, lease_ms)
    }
    fn report_finished(
        &self,
        id: i64,
        worker: &str,
        receipt: &str,
        now: i64,
    ) -> spoor_bank::Result<bool> {
        self.inner.report_finished(id, worker, receipt, now)
    }
    fn report_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        failure: spoor_bank::reports::Failure,
        now: i64,
    ) -> spoor_bank::Result<bool> {
        self.inner.report_failed(id, worker, error, failure, now)
    }
    fn report_retry(
        &self,
        id: i64,
        actor: &str,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::Report> {
        self.inner.report_retry(id, actor, now)
    }
    fn report(&self, id: i64) -> spoor_bank::Result<spoor_bank::Report> {
        self.inner.report(id)
    }
    fn reports(
        &self,
        q: &spoor_bank::reports::ReportQuery,
    ) -> spoor_bank::Result<Vec<spoor_bank::Report>> {
        self.inner.reports(q)
    }
    fn reports_of_case(&self, case_id: i64) -> spoor_bank::Result<Vec<spoor_bank::Report>> {
        self.inner.reports_of_case(case_id)
    }
    fn report_counts(&self) -> spoor_bank::Result<Vec<(String, spoor_bank::ReportState, u64)>> {
        self.inner.report_counts()
    }
}

impl Store for Hooked {
    fn entries_page(
        &self,
        bank: &str,
        filter: &spoor_bank::browse::EntryFilter,
        after_id: i64,
        limit: usize,
        max_scan: usize,
    ) -> spoor_bank::Result<spoor_bank::browse::EntryPage> {
        self.inner.entries_page(bank, filter, after_id, limit, max_scan)
    }
    fn count_disabled(&self, bank: &str) -> spoor_bank::Result<u64> {
        self.inner.count_disabled(bank)
    }
    fn entry_by_value(
        &self,
        bank: &str,
        signal_type: spoor_core::SignalType,
        value: &[u8],
    ) -> spoor_bank::Result<Option<spoor_bank::Entry>> {
        self.inner.entry_by_value(bank, signal_type, value)
    }
    fn entry_history(
        &self,
        bank: &str,
        id: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::Change>> {
        self.inner.entry_history(bank, id, limit)
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn create_bank(&self, bank: &NewBank, actor: &str) -> spoor_bank::Result<Bank> {
        self.inner.create_bank(bank, actor)
    }
    fn banks(&self) -> spoor_bank::Result<Vec<Bank>> {
        let hook = self.pause_banks.lock().unwrap().take();
        if let Some((reached, release)) = hook {
            reached.send(()).unwrap();
            release.recv().unwrap();
        }
        self.inner.banks()
    }
    fn bank(&self, name: &str) -> spoor_bank::Result<Bank> {
        self.inner.bank(name)
    }
    fn set_bank_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<Bank> {
        self.inner.set_bank_enabled(name, enabled, actor, reason)
    }
    fn configure_bank(
        &self,
        name: &str,
        settings: &BankSettings,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<Bank> {
        self.inner.configure_bank(name, settings, actor, reason)
    }
    fn stats(&self, name: &str) -> spoor_bank::Result<BankStats> {
        self.inner.stats(name)
    }
    fn add_entries(
        &self,
        bank: &str,
        entries: &[NewEntry],
        actor: &str,
    ) -> spoor_bank::Result<Vec<Added>> {
        self.inner.add_entries(bank, entries, actor)
    }
    fn import_session(
        &self,
        bank: &str,
        actor: &str,
        one_transaction: bool,
    ) -> spoor_bank::Result<Box<dyn ImportSession + '_>> {
        self.inner.import_session(bank, actor, one_transaction)
    }
    fn entry(&self, bank: &str, id: i64) -> spoor_bank::Result<Entry> {
        self.inner.entry(bank, id)
    }
    fn entries(&self, bank: &str, after_id: i64, limit: usize) -> spoor_bank::Result<Vec<Entry>> {
        self.inner.entries(bank, after_id, limit)
    }
    fn set_enabled(
        &self,
        bank: &str,
        id: i64,
        enabled: bool,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<Option<Change>> {
        self.inner.set_enabled(bank, id, enabled, actor, reason)
    }
    fn update_entry(
        &self,
        bank: &str,
        id: i64,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<(Entry, Option<Change>)> {
        self.inner.update_entry(bank, id, update, actor, reason)
    }
    fn patch_entry(
        &self,
        bank: &str,
        id: i64,
        enabled: Option<bool>,
        update: &EntryUpdate,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<(Entry, Vec<Change>)> {
        self.inner.patch_entry(bank, id, enabled, update, actor, reason)
    }
    fn delete_entry(
        &self,
        bank: &str,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> spoor_bank::Result<Change> {
        self.inner.delete_entry(bank, id, actor, reason)
    }
    fn export(
        &self,
        bank: &str,
        since: Option<i64>,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> spoor_bank::Result<u64> {
        self.inner.export(bank, since, sink)
    }
    fn log(&self, bank: Option<&str>, since: i64, limit: usize) -> spoor_bank::Result<Vec<Change>> {
        self.inner.log(bank, since, limit)
    }
    fn deltas(&self, since: i64, limit: usize) -> spoor_bank::Result<Vec<Delta>> {
        self.deltas_calls.fetch_add(1, Ordering::SeqCst);
        if self.panic_once.swap(false, Ordering::SeqCst) {
            panic!("injected follower fault");
        }
        self.inner.deltas(since, limit)
    }
    fn schedule_enable(&self, bank: &str, id: i64, until: i64, seq: i64) -> spoor_bank::Result<()> {
        self.inner.schedule_enable(bank, id, until, seq)
    }
    fn scheduled_enable(&self, id: i64) -> spoor_bank::Result<Option<i64>> {
        self.inner.scheduled_enable(id)
    }
    fn due_enables(
        &self,
        now: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::TimedDisable>> {
        self.inner.due_enables(now, limit)
    }
    fn clear_enable(&self, id: i64) -> spoor_bank::Result<()> {
        self.inner.clear_enable(id)
    }
    fn last_seq(&self) -> spoor_bank::Result<i64> {
        match self.fake_last_seq.load(Ordering::SeqCst) {
            n if n >= 0 => Ok(n),
            _ => self.inner.last_seq(),
        }
    }
    fn signals(&self, after_id: i64, limit: usize) -> spoor_bank::Result<Vec<SignalRow>> {
        self.inner.signals(after_id, limit)
    }
    fn create_key(&self, key: &ApiKey, secret_hash: &[u8; 32]) -> spoor_bank::Result<()> {
        self.inner.create_key(key, secret_hash)
    }
    fn keys(&self) -> spoor_bank::Result<Vec<(ApiKey, Vec<u8>)>> {
        self.inner.keys()
    }
    fn revoke_key(&self, name: &str, actor: &str) -> spoor_bank::Result<ApiKey> {
        self.inner.revoke_key(name, actor)
    }
}

fn pdq_entries(seeds: std::ops::Range<u64>) -> Vec<NewEntry> {
    seeds.map(|k| NewEntry::new(SignalType::Pdq, hash(k).to_bytes().to_vec())).collect()
}

fn new_id(added: &[Added]) -> i64 {
    match added[0] {
        Added::New(id) => id,
        other => panic!("not added: {other:?}"),
    }
}

fn hash(seed: u64) -> Hash256 {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    Hash256::from_words([next(), next(), next(), next()])
}

fn near(h: &Hash256, bits: usize) -> Hash256 {
    let mut n = *h;
    for k in 0..bits {
        n.flip_bit(k * 7);
    }
    n
}

/// Adds entries none of which the bank holds yet; their new ids, in order.
fn add_new(s: &dyn Store, bank: &str, entries: &[NewEntry]) -> Vec<i64> {
    s.add_entries(bank, entries, "t")
        .unwrap()
        .iter()
        .map(|a| match a {
            Added::New(id) => *id,
            Added::Present(id) => panic!("entry {id} was already in bank {bank}"),
        })
        .collect()
}

fn create(s: &dyn Store, name: &str) {
    s.create_bank(&NewBank { name: name.into(), ..Default::default() }, "t").unwrap();
}

#[test]
fn loads_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    create(&*s, "B");
    let mut e = NewEntry::new(SignalType::Pdq, hash(1).to_bytes().to_vec());
    e.category = Some(Category::Baseline);
    let id1 = match s.add_entries("A", &[e], "t").unwrap()[0] {
        spoor_bank::Added::New(id) => id,
        _ => unreachable!(),
    };
    s.add_entries("B", &[NewEntry::new(SignalType::Md5, vec![9; 16])], "t").unwrap();

    let m = Matcher::load(s.clone()).unwrap();
    let got = m.match_pdq(&near(&hash(1), 10), &Scope::All);
    assert_eq!(got.len(), 1);
    assert_eq!((&*got[0].bank, got[0].entry_id, got[0].distance), ("A", id1, 10));
    assert_eq!(got[0].category, Some(Category::Baseline));
    assert!(m.match_pdq(&near(&hash(1), 32), &Scope::All).is_empty(), "beyond radius 31");
    assert_eq!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).len(), 1);
    let only_a = Scope::Banks(HashSet::from(["A".to_string()]));
    assert!(m.match_signal(SignalType::Md5, &[9; 16], &only_a).is_empty(), "scope");

    // Added later: found after a catch-up; the same hash in two banks matches twice.
    s.add_entries("B", &[NewEntry::new(SignalType::Pdq, hash(1).to_bytes().to_vec())], "t")
        .unwrap();
    assert_eq!(m.catch_up().unwrap(), 1);
    let got = m.match_pdq(&hash(1), &Scope::All);
    assert_eq!(got.iter().map(|g| &*g.bank).collect::<Vec<_>>(), ["A", "B"]);

    // Disabled, then enabled again; applying twice changes nothing.
    s.set_enabled("A", id1, false, "t", "stock photo").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);
    s.set_enabled("A", id1, true, "t", "reviewed").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 2);
    assert_eq!(m.stats().pdq_entries, 2);

    // A paused bank matches nothing; resumed, it matches again.
    s.set_bank_enabled("B", false, "t", "list under review").unwrap();
    m.catch_up().unwrap();
    assert!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).is_empty());
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);
    s.set_bank_enabled("B", true, "t", "reviewed").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_signal(SignalType::Md5, &[9; 16], &Scope::All).len(), 1);

    // Deleted.
    s.delete_entry("A", id1, "t", "court order").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_pdq(&hash(1), &Scope::All).len(), 1);

    // A fresh matcher agrees with the one that followed.
    let fresh = Matcher::load(s.clone()).unwrap();
    assert_eq!(fresh.match_pdq(&hash(1), &Scope::All), m.match_pdq(&hash(1), &Scope::All));
    assert_eq!(fresh.stats().pdq_entries, m.stats().pdq_entries);
}

#[test]
fn a_follower_sees_changes_from_another_connection_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "LIVE");
    let m = Arc::new(Matcher::load(store(dir.path())).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let follower = m.follow(Duration::from_millis(50), stop.clone());
    for k in 0..20u64 {
        let h = hash(100 + k);
        s.add_entries("LIVE", &[NewEntry::new(SignalType::Pdq, h.to_bytes().to_vec())], "t")
            .unwrap();
        let t = Instant::now();
        while m.match_pdq(&h, &Scope::All).is_empty() {
            assert!(t.elapsed() < Duration::from_secs(1), "not visible within 1 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    follower.join().unwrap();
}

#[test]
fn many_changes_fold_into_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "BIG");
    let m = Matcher::load(s.clone()).unwrap();
    let entries: Vec<NewEntry> = (0..20_000)
        .map(|k| NewEntry::new(SignalType::Pdq, hash(1000 + k).to_bytes().to_vec()))
        .collect();
    s.add_entries("BIG", &entries, "t").unwrap();
    assert_eq!(m.catch_up().unwrap(), 20_000);
    for k in (0..20_000).step_by(997) {
        assert_eq!(m.match_pdq(&near(&hash(1000 + k), 5), &Scope::All).len(), 1);
    }
    // A snapshot of more entries than one piece of its metadata section (16,384).
    let snap = dir.path().join("matcher.snapshot");
    m.write_snapshot(&snap).unwrap();
    let (again, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
    assert!(matches!(how, Start::Snapshot { caught_up: 0, .. }), "{how:?}");
    assert_eq!(again.stats().pdq_entries, 20_000);
    for k in (0..20_000).step_by(997) {
        assert_eq!(again.match_pdq(&near(&hash(1000 + k), 5), &Scope::All).len(), 1);
    }
}

#[test]
fn videos_match_through_the_frame_index() {
    use spoor_core::vpdq::{format, VpdqFrame};
    use spoor_matcher::VpdqThresholds;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "VIDEOS");
    let video = |seeds: std::ops::Range<u64>| -> Vec<VpdqFrame> {
        seeds.map(|k| VpdqFrame { hash: hash(k), quality: 90, timestamp: k as f64 }).collect()
    };
    let a = video(0..40);
    let b = video(1000..1030);
    let mut ids = Vec::new();
    for v in [&a, &b] {
        let value = SignalType::Vpdq.parse(&format(v)).unwrap();
        match s.add_entries("VIDEOS", &[NewEntry::new(SignalType::Vpdq, value)], "t").unwrap()[0] {
            spoor_bank::Added::New(id) => ids.push(id),
            _ => unreachable!(),
        }
    }
    let m = Matcher::load(s.clone()).unwrap();
    assert_eq!(m.stats().video_entries, 2);
    let t = VpdqThresholds::default();
    // The first half of video a, re-encoded (a few bits off each frame), as the query.
    let query: Vec<VpdqFrame> =
        a[..20].iter().map(|f| VpdqFrame { hash: near(&f.hash, 6), ..*f }).collect();
    let got = m.match_vpdq(&query, &t, &Scope::All);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].entry_id, got[0].query_match, got[0].compared_match), (ids[0], 100.0, 50.0));
    // Unrelated frames match nothing; low-quality frames are ignored.
    assert!(m.match_vpdq(&video(5000..5020), &t, &Scope::All).is_empty());
    let dark: Vec<VpdqFrame> = query.iter().map(|f| VpdqFrame { quality: 10, ..*f }).collect();
    assert!(m.match_vpdq(&dark, &t, &Scope::All).is_empty());
    // Disabled, then added later: the index follows.
    s.set_enabled("VIDEOS", ids[0], false, "t", "wrong video").unwrap();
    m.catch_up().unwrap();
    assert!(m.match_vpdq(&query, &t, &Scope::All).is_empty());
    let c = video(7000..7010);
    let value = SignalType::Vpdq.parse(&format(&c)).unwrap();
    s.add_entries("VIDEOS", &[NewEntry::new(SignalType::Vpdq, value)], "t").unwrap();
    m.catch_up().unwrap();
    assert_eq!(m.match_vpdq(&c, &t, &Scope::All).len(), 1);
}

#[test]
fn replaying_the_whole_log_over_a_loaded_state_changes_nothing() {
    // A load notes the sequence number before reading the signals, so changes committed
    // meanwhile are applied twice. Here every change is: the store claims an empty log.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    let ids = add_new(&*s, "A", &pdq_entries(0..50));
    s.add_entries("A", &[NewEntry::new(SignalType::Sha1, vec![3; 20])], "t").unwrap();
    for &id in &ids[..10] {
        s.set_enabled("A", id, false, "t", "stock photo").unwrap();
    }
    for &id in &ids[..5] {
        s.set_enabled("A", id, true, "t", "reviewed").unwrap();
    }
    for &id in &ids[40..] {
        s.delete_entry("A", id, "t", "court order").unwrap();
    }
    let hooked = Hooked::new(s.clone());
    hooked.fake_last_seq.store(0, Ordering::SeqCst);
    let replayed = Matcher::load(hooked.clone()).unwrap();
    let plain = Matcher::load(s.clone()).unwrap();
    assert!(replayed.stats().changes_applied > 60, "the whole log was applied again");
    assert_eq!(replayed.stats().pdq_entries, 35);
    assert_eq!(replayed.stats().exact_entries, 1);
    assert_eq!(replayed.stats().pdq_entries, plain.stats().pdq_entries);
    for k in 0..50u64 {
        let got = replayed.match_pdq(&hash(k), &Scope::All);
        assert_eq!(got, plain.match_pdq(&hash(k), &Scope::All), "entry {k}");
        let live = (k < 5) || (10..40).contains(&k);
        assert_eq!(got.len(), usize::from(live), "entry {k}");
    }
}

#[test]
fn a_search_never_returns_an_entry_whose_disable_was_applied_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    let id = new_id(&s.add_entries("A", &pdq_entries(7..8), "t").unwrap());
    let m = Arc::new(Matcher::load(s.clone()).unwrap());
    // The sequence number of a disable once it is applied, until the next enable starts
    // being applied; -1 otherwise. Each disable has its own number, so equal readings before
    // and after a search mean the whole search ran while that disable was in effect.
    let disabled = Arc::new(AtomicI64::new(-1));
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (m, stop, disabled) = (m.clone(), stop.clone(), disabled.clone());
        std::thread::spawn(move || {
            let (mut checked, mut during) = (0u64, 0u64);
            while !stop.load(Ordering::SeqCst) {
                let before = disabled.load(Ordering::SeqCst);
                let found = !m.match_pdq(&near(&hash(7), 3), &Scope::All).is_empty();
                let after = disabled.load(Ordering::SeqCst);
                if before >= 0 && before == after {
                    assert!(!found, "entry found after its disable (seq {before}) was applied");
                    during += 1;
                }
                checked += 1;
            }
            (checked, during)
        })
    };
    for round in 0..200 {
        let enable = round % 2 == 1;
        let c = s.set_enabled("A", id, enable, "t", "toggle").unwrap().unwrap();
        if enable {
            disabled.store(-1, Ordering::SeqCst);
        }
        m.catch_up().unwrap();
        if !enable {
            disabled.store(c.seq, Ordering::SeqCst);
        }
        let found = !m.match_pdq(&hash(7), &Scope::All).is_empty();
        assert_eq!(found, enable, "round {round}");
    }
    stop.store(true, Ordering::SeqCst);
    let (checked, during) = searcher.join().unwrap();
    assert!(checked > 0 && during > 0, "{checked} searches, {during} while disabled");
}

#[test]
fn a_search_completes_while_a_ten_thousand_change_catch_up_is_paused_halfway() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    let hooked = Hooked::new(s.clone());
    let m = Arc::new(Matcher::load(hooked.clone()).unwrap());
    // One batch of 10,000 changes with a bank change in its middle.
    s.add_entries("A", &pdq_entries(0..5000), "t").unwrap();
    create(&*s, "B");
    s.add_entries("B", &pdq_entries(5000..9999), "t").unwrap();
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    *hooked.pause_banks.lock().unwrap() = Some((reached_tx, release_rx));
    let follower = {
        let m = m.clone();
        std::thread::spawn(move || m.catch_up().unwrap())
    };
    // The catch-up is now stopped inside the batch, at the bank change.
    reached.recv_timeout(Duration::from_secs(60)).expect("the catch-up reached the bank change");
    let (done_tx, done) = mpsc::channel();
    let searcher = {
        let m = m.clone();
        std::thread::spawn(move || {
            let first_half = m.match_pdq(&hash(10), &Scope::All).len();
            let second_half = m.match_pdq(&hash(6000), &Scope::All).len();
            done_tx.send((first_half, second_half)).unwrap();
        })
    };
    // The searches finish while the batch is still being applied (the catch-up cannot go on
    // until `release`): they wait for no batch. The timeout only turns a hang into a failure.
    let (first_half, second_half) =
        done.recv_timeout(Duration::from_secs(60)).expect("a search waited for the catch-up");
    assert_eq!((first_half, second_half), (1, 0), "changes before the pause are visible");
    assert!(!follower.is_finished());
    release.send(()).unwrap();
    assert_eq!(follower.join().unwrap(), 10_000);
    searcher.join().unwrap();
    assert_eq!(m.match_pdq(&hash(6000), &Scope::All).len(), 1);
    assert_eq!(m.stats().pdq_entries, 9999);
}

#[test]
fn a_panicking_follower_is_restarted_from_its_last_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    s.add_entries("A", &pdq_entries(0..3), "t").unwrap();
    let hooked = Hooked::new(s.clone());
    let m = Arc::new(Matcher::load(hooked.clone()).unwrap());
    let seq = m.seq();
    hooked.panic_once.store(true, Ordering::SeqCst);
    s.add_entries("A", &pdq_entries(3..4), "t").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let options = FollowOptions {
        interval: Duration::from_millis(10),
        restart_backoff: Duration::from_millis(10),
        snapshot: None,
    };
    let follower = m.follow_with(options, stop.clone());
    let t = Instant::now();
    while m.match_pdq(&hash(3), &Scope::All).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "the follower did not come back");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(m.stats().follower_restarts, 1);
    assert!(!hooked.panic_once.load(Ordering::SeqCst), "the fault was hit");
    assert_eq!(m.seq(), seq + 1, "resumed after the last change applied, none skipped");
    assert_eq!(m.stats().pdq_entries, 4);
    // It keeps following.
    s.add_entries("A", &pdq_entries(4..5), "t").unwrap();
    let t = Instant::now();
    while m.match_pdq(&hash(4), &Scope::All).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "not following after the restart");
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    follower.join().unwrap();
}

#[test]
fn a_snapshot_start_equals_a_full_load_and_applies_the_changes_since() {
    use spoor_core::vpdq::{format, VpdqFrame};
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    create(&*s, "B");
    let ids = add_new(&*s, "A", &pdq_entries(0..300));
    s.add_entries("B", &[NewEntry::new(SignalType::Md5, vec![9; 16])], "t").unwrap();
    let frames: Vec<VpdqFrame> = (0..20)
        .map(|k| VpdqFrame { hash: hash(900 + k), quality: 90, timestamp: k as f64 })
        .collect();
    let video = SignalType::Vpdq.parse(&format(&frames)).unwrap();
    s.add_entries("B", &[NewEntry::new(SignalType::Vpdq, video)], "t").unwrap();
    s.set_enabled("A", ids[0], false, "t", "stock photo").unwrap();
    let m = Matcher::load(s.clone()).unwrap();
    let snap = dir.path().join("matcher.snapshot");
    assert_eq!(m.write_snapshot(&snap).unwrap(), m.seq());
    // Changes after the snapshot.
    s.set_enabled("A", ids[1], false, "t", "stock photo").unwrap();
    s.delete_entry("A", ids[2], "t", "court order").unwrap();
    s.add_entries("A", &pdq_entries(1000..1010), "t").unwrap();
    s.set_bank_enabled("B", false, "t", "paused").unwrap();
    s.set_bank_enabled("B", true, "t", "resumed").unwrap();

    let (fast, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
    assert!(matches!(how, Start::Snapshot { caught_up: 14, .. }), "{how:?}");
    let full = Matcher::load(s.clone()).unwrap();
    assert_eq!(fast.seq(), full.seq());
    let (a, b) = (fast.stats(), full.stats());
    assert_eq!(
        (a.pdq_entries, a.exact_entries, a.video_entries, a.banks),
        (b.pdq_entries, b.exact_entries, b.video_entries, b.banks)
    );
    assert_eq!(a.pdq_entries, 297 + 10);
    for k in (0..300).chain(1000..1010) {
        let q = near(&hash(k), 3);
        assert_eq!(fast.match_pdq(&q, &Scope::All), full.match_pdq(&q, &Scope::All), "{k}");
    }
    assert_eq!(fast.match_signal(SignalType::Md5, &[9; 16], &Scope::All).len(), 1);
    let t = spoor_matcher::VpdqThresholds::default();
    assert_eq!(
        fast.match_vpdq(&frames, &t, &Scope::All),
        full.match_vpdq(&frames, &t, &Scope::All)
    );
    assert_eq!(fast.match_vpdq(&frames, &t, &Scope::All).len(), 1);
}

#[test]
fn a_damaged_foreign_or_missing_snapshot_falls_back_to_a_full_load() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    s.add_entries("A", &pdq_entries(0..100), "t").unwrap();
    let m = Matcher::load(s.clone()).unwrap();
    let snap = dir.path().join("matcher.snapshot");
    let full = |how: Start| match how {
        Start::Full { reason } => reason,
        other => panic!("the snapshot was used: {other:?}"),
    };

    // Missing.
    let (_, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
    assert!(full(how).contains("no snapshot"));

    m.write_snapshot(&snap).unwrap();
    let good = std::fs::read(&snap).unwrap();
    assert!(spoor_matcher::check_snapshot(&good[..]).is_ok());
    // Damaged anywhere: a flipped bit, a cut, another version.
    for pos in [9usize, 30, good.len() / 3, good.len() / 2, good.len() - 2] {
        let mut bad = good.clone();
        bad[pos] ^= 0x04;
        std::fs::write(&snap, &bad).unwrap();
        let (loaded, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
        let reason = full(how);
        assert!(reason.contains("snapshot"), "{reason}");
        assert_eq!(loaded.stats().pdq_entries, 100);
    }
    std::fs::write(&snap, &good[..good.len() - 9]).unwrap();
    full(Matcher::load_with_snapshot(s.clone(), &snap).unwrap().1);
    let mut other_version = good.clone();
    other_version[8] = 99;
    std::fs::write(&snap, &other_version).unwrap();
    assert!(full(Matcher::load_with_snapshot(s.clone(), &snap).unwrap().1).contains("version 99"));

    // Of another store: one whose log ends before the snapshot, and one whose log holds
    // another change at the snapshot's number.
    std::fs::write(&snap, &good).unwrap();
    let other = tempfile::tempdir().unwrap();
    let o = store(other.path());
    create(&*o, "A");
    let reason = full(Matcher::load_with_snapshot(o.clone(), &snap).unwrap().1);
    assert!(reason.contains("does not belong to this store"), "{reason}");
    o.add_entries("A", &pdq_entries(500..600), "t").unwrap();
    assert_eq!(o.last_seq().unwrap(), s.last_seq().unwrap());
    let (loaded, how) = Matcher::load_with_snapshot(o.clone(), &snap).unwrap();
    assert!(full(how).contains("does not belong to this store"));
    assert_eq!(loaded.match_pdq(&hash(550), &Scope::All).len(), 1);
    assert!(loaded.match_pdq(&hash(50), &Scope::All).is_empty());

    // And the intact one is used.
    let (_, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
    assert!(matches!(how, Start::Snapshot { caught_up: 0, .. }), "{how:?}");
}

#[test]
fn the_follower_writes_snapshots_every_n_changes_and_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    create(&*s, "A");
    let m = Arc::new(Matcher::load(s.clone()).unwrap());
    let snap = dir.path().join("snap").join("matcher.snapshot");
    std::fs::create_dir_all(snap.parent().unwrap()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let options = FollowOptions {
        interval: Duration::from_millis(10),
        snapshot: Some(SnapshotPolicy { path: snap.clone(), every_changes: 50, on_shutdown: true }),
        ..FollowOptions::default()
    };
    let follower = m.follow_with(options, stop.clone());
    s.add_entries("A", &pdq_entries(0..10), "t").unwrap();
    let t = Instant::now();
    while m.stats().pdq_entries < 10 {
        assert!(t.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!snap.exists(), "10 changes are fewer than 50");
    s.add_entries("A", &pdq_entries(10..70), "t").unwrap();
    let t = Instant::now();
    while !snap.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no snapshot after 50 changes");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.add_entries("A", &pdq_entries(70..75), "t").unwrap();
    let t = Instant::now();
    while m.stats().pdq_entries < 75 {
        assert!(t.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    follower.join().unwrap();
    // The shutdown snapshot holds everything: a start from it applies nothing.
    let (loaded, how) = Matcher::load_with_snapshot(s.clone(), &snap).unwrap();
    assert!(matches!(how, Start::Snapshot { caught_up: 0, .. }), "{how:?}");
    assert_eq!(loaded.stats().pdq_entries, 75);
    // Entries added while following (in the index's delta when written) are found.
    for k in [0, 42, 74] {
        assert_eq!(loaded.match_pdq(&near(&hash(k), 4), &Scope::All).len(), 1, "{k}");
    }
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(snap.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

/// People and sessions are not the matcher's business: the wrapper passes them through.
impl spoor_bank::exchange::Exchanges for Hooked {
    fn create_exchange(
        &self,
        x: &spoor_bank::exchange::NewExchange,
        actor: &str,
    ) -> spoor_bank::Result<spoor_bank::exchange::Exchange> {
        self.inner.create_exchange(x, actor)
    }
    fn delete_exchange(&self, name: &str, actor: &str) -> spoor_bank::Result<()> {
        self.inner.delete_exchange(name, actor)
    }
    fn exchanges(&self) -> spoor_bank::Result<Vec<spoor_bank::exchange::Exchange>> {
        self.inner.exchanges()
    }
    fn exchange(&self, name: &str) -> spoor_bank::Result<spoor_bank::exchange::Exchange> {
        self.inner.exchange(name)
    }
    fn exchange_ran(&self, name: &str, run: &spoor_bank::exchange::Run) -> spoor_bank::Result<()> {
        self.inner.exchange_ran(name, run)
    }
    fn add_exchange_conflicts(
        &self,
        name: &str,
        conflicts: &[spoor_bank::exchange::Conflict],
        at: spoor_bank::model::Millis,
    ) -> spoor_bank::Result<()> {
        self.inner.add_exchange_conflicts(name, conflicts, at)
    }
    fn exchange_conflicts(
        &self,
        name: &str,
        before: i64,
        limit: usize,
    ) -> spoor_bank::Result<Vec<spoor_bank::exchange::ConflictRecord>> {
        self.inner.exchange_conflicts(name, before, limit)
    }
    fn lease_exchange(
        &self,
        name: &str,
        holder: &str,
        now: spoor_bank::model::Millis,
        until: spoor_bank::model::Millis,
    ) -> spoor_bank::Result<bool> {
        self.inner.lease_exchange(name, holder, now, until)
    }
    fn exchange_position(
        &self,
        name: &str,
    ) -> spoor_bank::Result<Option<spoor_bank::exchange::Position>> {
        self.inner.exchange_position(name)
    }
    fn set_exchange_position(&self, p: &spoor_bank::exchange::Position) -> spoor_bank::Result<()> {
        self.inner.set_exchange_position(p)
    }
}

impl spoor_bank::People for Hooked {
    fn create_user_in_queues(
        &self,
        name: &str,
        role: spoor_bank::PersonRole,
        queues: &[String],
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: i64,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.create_user_in_queues(name, role, queues, actor, setup_hash, setup_expires_at)
    }
    fn set_user_queues(
        &self,
        name: &str,
        queues: &[String],
        actor: &str,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.set_user_queues(name, queues, actor)
    }
    fn user(&self, name: &str) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.user(name)
    }
    fn user_by_id(&self, id: i64) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.user_by_id(id)
    }
    fn users(&self) -> spoor_bank::Result<Vec<spoor_bank::User>> {
        self.inner.users()
    }
    fn user_by_setup_token(
        &self,
        setup_hash: &[u8; 32],
        now: i64,
    ) -> spoor_bank::Result<Option<spoor_bank::User>> {
        self.inner.user_by_setup_token(setup_hash, now)
    }
    fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.set_password(user_id, password_hash, now)
    }
    fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.set_totp_secret(user_id, secret)
    }
    fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.confirm_totp(user_id, step, now)
    }
    fn record_login_failure(
        &self,
        user_id: i64,
        now: i64,
        max_failures: u32,
        lockout_ms: i64,
    ) -> spoor_bank::Result<spoor_bank::people::FailedLogin> {
        self.inner.record_login_failure(user_id, now, max_failures, lockout_ms)
    }
    fn record_login_success(&self, user_id: i64, step: i64, now: i64) -> spoor_bank::Result<bool> {
        self.inner.record_login_success(user_id, step, now)
    }
    fn disable_user(
        &self,
        name: &str,
        actor: &str,
        reason: &str,
        now: i64,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.disable_user(name, actor, reason, now)
    }
    fn reset_user(
        &self,
        name: &str,
        actor: &str,
        setup_hash: &[u8; 32],
        setup_expires_at: i64,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.reset_user(name, actor, setup_hash, setup_expires_at)
    }
    fn set_user_role(
        &self,
        name: &str,
        role: spoor_bank::PersonRole,
        actor: &str,
    ) -> spoor_bank::Result<spoor_bank::User> {
        self.inner.set_user_role(name, role, actor)
    }
    fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8; 32],
        csrf_token: &str,
        now: i64,
        address: Option<&str>,
        user_agent: Option<&str>,
    ) -> spoor_bank::Result<spoor_bank::Session> {
        self.inner.create_session(user_id, token_hash, csrf_token, now, address, user_agent)
    }
    fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now: i64,
        limits: spoor_bank::SessionLimits,
    ) -> spoor_bank::Result<spoor_bank::SessionLookup> {
        self.inner.touch_session(token_hash, now, limits)
    }
    fn delete_session(&self, token_hash: &[u8; 32]) -> spoor_bank::Result<bool> {
        self.inner.delete_session(token_hash)
    }
    fn delete_user_sessions(&self, user_id: i64) -> spoor_bank::Result<u64> {
        self.inner.delete_user_sessions(user_id)
    }
}
