//! The outbox on both stores: idempotent enqueueing, what is due and in what order, retries,
//! final states that are never due again, conditional marks (of two workers marking one item,
//! one is told `false`, also from many threads on PostgreSQL), and bad input refused with
//! nothing written.
//!
//! PostgreSQL runs in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped
//! with a notice without it, failing when `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use std::sync::Arc;

use spoor_bank::outbox::{MAX_DEDUPE_KEY, MAX_PAYLOAD, MAX_TARGET};
use spoor_bank::{BankError, Location, OutboxCounts, Store};

const T: &str = "case_decided";
const URL: &str = "http://127.0.0.1:9/hook";

fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = spoor_bank::open(&Location::DataDir(dir.path().join("data"))).unwrap();
    (Arc::from(store), dir)
}

fn both(test: fn(Arc<dyn Store>)) {
    let (s, _dir) = sqlite();
    test(s);
    if let Some((url, _)) = common::postgres_schema() {
        test(Arc::from(spoor_bank::open(&Location::Postgres(url)).unwrap()));
    }
}

fn ids(s: &dyn Store, now: i64) -> Vec<i64> {
    s.outbox_due(T, now, 100).unwrap().iter().map(|i| i.id).collect()
}

fn the_id(s: &dyn Store, key: &str) -> i64 {
    s.outbox_due(T, i64::MAX, 1000).unwrap().into_iter().find(|i| i.dedupe_key == key).unwrap().id
}

#[test]
fn enqueueing_is_idempotent() {
    both(|s| {
        assert!(s.outbox_add(T, "case_decided:1", URL, r#"{"a":1}"#, 1000).unwrap());
        assert!(!s.outbox_add(T, "case_decided:1", URL, r#"{"a":2}"#, 2000).unwrap());
        assert!(!s.outbox_add("other", "case_decided:1", "http://x", "{}", 3000).unwrap());
        let due = s.outbox_due(T, 5000, 10).unwrap();
        assert_eq!(due.len(), 1);
        let i = &due[0];
        assert_eq!(
            (i.topic.as_str(), i.dedupe_key.as_str(), i.target.as_str(), i.payload.as_str()),
            (T, "case_decided:1", URL, r#"{"a":1}"#),
            "the first enqueue is kept"
        );
        assert_eq!((i.created_at, i.next_attempt_at, i.attempts), (1000, 1000, 0));
        assert_eq!((i.last_error.as_deref(), i.delivered_at, i.gave_up_at), (None, None, None));
        assert_eq!(s.outbox_item(i.id).unwrap().as_ref(), Some(i));
        // Still a no-op once delivered.
        assert!(s.outbox_delivered(i.id, 6000).unwrap());
        assert!(!s.outbox_add(T, "case_decided:1", URL, "{}", 7000).unwrap());
        assert_eq!(
            s.outbox_counts().unwrap(),
            OutboxCounts { pending: 0, delivered: 1, gave_up: 0 }
        );
    });
}

#[test]
fn due_items_come_oldest_first_and_only_when_due() {
    both(|s| {
        for (k, at) in [("c", 300), ("a", 100), ("b", 200), ("d", 100)] {
            assert!(s.outbox_add(T, k, URL, "{}", at).unwrap());
        }
        assert!(s.outbox_add("report", "r", URL, "{}", 50).unwrap());
        let (a, b, c, d) = (the_id(&*s, "a"), the_id(&*s, "b"), the_id(&*s, "c"), the_id(&*s, "d"));
        assert!(ids(&*s, 99).is_empty(), "nothing is due before its time");
        assert_eq!(ids(&*s, 100), vec![a, d], "same time: by id");
        assert_eq!(ids(&*s, 250), vec![a, d, b]);
        assert_eq!(ids(&*s, 300), vec![a, d, b, c]);
        assert_eq!(s.outbox_due(T, 300, 2).unwrap().len(), 2, "the limit is kept");
        assert!(s.outbox_due(T, 300, 0).unwrap().is_empty());
        // Reading claims nothing: the same items again.
        assert_eq!(ids(&*s, 300), vec![a, d, b, c]);
        // Topics are apart.
        let r = s.outbox_due("report", 300, 10).unwrap();
        assert_eq!(r.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), ["r"]);
        assert!(matches!(s.outbox_due(T, 300, 100_000), Err(BankError::Invalid(_))));
    });
}

#[test]
fn a_retry_counts_the_attempt_and_moves_the_time() {
    both(|s| {
        s.outbox_add(T, "a", URL, "{}", 100).unwrap();
        s.outbox_add(T, "b", URL, "{}", 200).unwrap();
        let a = the_id(&*s, "a");
        let b = the_id(&*s, "b");
        assert!(s.outbox_retry(a, 1100, "HTTP 500").unwrap());
        let i = s.outbox_item(a).unwrap().unwrap();
        assert_eq!((i.attempts, i.next_attempt_at), (1, 1100));
        assert_eq!(i.last_error.as_deref(), Some("HTTP 500"));
        assert!(i.pending());
        assert_eq!(ids(&*s, 1000), vec![b], "not due before its new time");
        assert_eq!(ids(&*s, 1100), vec![b, a], "then after those due earlier");
        assert!(s.outbox_retry(a, 3100, "connection refused\n").unwrap());
        let i = s.outbox_item(a).unwrap().unwrap();
        assert_eq!((i.attempts, i.next_attempt_at), (2, 3100));
        assert_eq!(i.last_error.as_deref(), Some("connection refused "));
        assert_eq!(i.created_at, 100, "made when it was made");
        let long = "x".repeat(100_000);
        assert!(s.outbox_retry(a, 3200, &long).unwrap(), "a long error is cut, not refused");
        assert!(s.outbox_item(a).unwrap().unwrap().last_error.unwrap().len() <= 2048);
        assert!(!s.outbox_retry(999_999, 1, "x").unwrap(), "no such item");
        assert_eq!(s.outbox_item(999_999).unwrap(), None);
    });
}

#[test]
fn delivered_and_given_up_items_are_never_due_again() {
    both(|s| {
        s.outbox_add(T, "a", URL, "{}", 100).unwrap();
        s.outbox_add(T, "b", URL, "{}", 100).unwrap();
        s.outbox_add(T, "c", URL, "{}", 100).unwrap();
        let (a, b, c) = (the_id(&*s, "a"), the_id(&*s, "b"), the_id(&*s, "c"));
        assert!(s.outbox_delivered(a, 500).unwrap());
        assert!(s.outbox_give_up(b, 600, "HTTP 404 for 72 h").unwrap());
        assert_eq!(ids(&*s, i64::MAX), vec![c]);
        let ia = s.outbox_item(a).unwrap().unwrap();
        assert_eq!((ia.delivered_at, ia.gave_up_at, ia.attempts), (Some(500), None, 0));
        let ib = s.outbox_item(b).unwrap().unwrap();
        assert_eq!((ib.delivered_at, ib.gave_up_at, ib.attempts), (None, Some(600), 1));
        assert_eq!(ib.last_error.as_deref(), Some("HTTP 404 for 72 h"));
        // Marked once: every later mark is refused and changes nothing.
        assert!(!s.outbox_delivered(a, 700).unwrap());
        assert!(!s.outbox_retry(a, 100, "late").unwrap());
        assert!(!s.outbox_give_up(a, 700, "late").unwrap());
        assert!(!s.outbox_delivered(b, 700).unwrap());
        assert!(!s.outbox_retry(b, 100, "late").unwrap());
        assert_eq!(s.outbox_item(a).unwrap().unwrap(), ia);
        assert_eq!(s.outbox_item(b).unwrap().unwrap(), ib);
        assert_eq!(ids(&*s, i64::MAX), vec![c]);
        assert_eq!(
            s.outbox_counts().unwrap(),
            OutboxCounts { pending: 1, delivered: 1, gave_up: 1 }
        );
    });
}

#[test]
fn of_many_workers_marking_one_item_exactly_one_succeeds() {
    both(|s| {
        for n in 0..20 {
            s.outbox_add(T, &format!("k{n}"), URL, "{}", 100).unwrap();
        }
        // Every worker reads the same due items (nothing is claimed) and marks each.
        let due = s.outbox_due(T, 100, 100).unwrap();
        assert_eq!(due.len(), 20);
        let wins: Vec<usize> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let (s, due) = (s.clone(), &due);
                    scope.spawn(move || {
                        let mut won = 0;
                        for i in due {
                            let ok = if w % 2 == 0 {
                                s.outbox_delivered(i.id, 200).unwrap()
                            } else {
                                s.outbox_give_up(i.id, 200, "gone").unwrap()
                            };
                            won += usize::from(ok);
                        }
                        won
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().sum::<usize>(), 20, "each item marked exactly once: {wins:?}");
        let c = s.outbox_counts().unwrap();
        assert_eq!((c.pending, c.delivered + c.gave_up), (0, 20));
        assert!(ids(&*s, i64::MAX).is_empty());
    });
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    both(|s| {
        let long_key = "k".repeat(MAX_DEDUPE_KEY + 1);
        let long_url = format!("http://x/{}", "u".repeat(MAX_TARGET));
        let big = "p".repeat(MAX_PAYLOAD + 1);
        for (topic, key, target, payload) in [
            ("", "k", URL, "{}"),
            ("Case Decided", "k", URL, "{}"),
            ("case-decided", "k", URL, "{}"),
            (T, "", URL, "{}"),
            (T, " ", URL, "{}"),
            (T, long_key.as_str(), URL, "{}"),
            (T, "k\u{0}", URL, "{}"),
            (T, "k", "", "{}"),
            (T, "k", long_url.as_str(), "{}"),
            (T, "k", URL, big.as_str()),
        ] {
            match s.outbox_add(topic, key, target, payload, 100) {
                Err(BankError::Invalid(m)) => assert!(!m.is_empty()),
                other => panic!("{topic:?} {:?}: {other:?}", &key[..key.len().min(10)]),
            }
        }
        assert_eq!(s.outbox_counts().unwrap(), OutboxCounts::default());
        // The largest allowed sizes are taken.
        let key = "k".repeat(MAX_DEDUPE_KEY);
        let payload = "p".repeat(MAX_PAYLOAD);
        assert!(s.outbox_add(T, &key, URL, &payload, 100).unwrap());
        assert_eq!(s.outbox_due(T, 100, 1).unwrap()[0].payload.len(), MAX_PAYLOAD);
    });
}

/// A claim hands each due item to one worker while it lasts: a second claim gets the others,
/// a claim past the lease gets it again, and a retry ends the claim (due again at its time).
fn claims_hand_each_item_to_one_worker_body(s: Arc<dyn Store>) {
    let topics = vec!["case_decided".to_string(), "user_notice".to_string()];
    for (i, topic) in ["case_decided", "user_notice", "other"].iter().enumerate() {
        assert!(s.outbox_add(topic, &format!("k{i}"), "http://127.0.0.1:9/", "{}", 1_000).unwrap());
    }
    let first = s.outbox_claim(&topics, 2_000, 10_000, 1).unwrap();
    assert_eq!(first.len(), 1);
    let second = s.outbox_claim(&topics, 2_000, 10_000, 10).unwrap();
    assert_eq!(second.len(), 1, "the other topic's item is not claimed: {second:?}");
    assert_ne!(first[0].id, second[0].id);
    assert!(s.outbox_claim(&topics, 11_999, 10_000, 10).unwrap().is_empty(), "claims hold");
    let again = s.outbox_claim(&topics, 12_001, 10_000, 10).unwrap();
    assert_eq!(again.len(), 2, "lease over: claimable again");
    assert!(s.outbox_retry(first[0].id, 13_000, "HTTP 503").unwrap());
    let after_retry = s.outbox_claim(&topics, 13_000, 10_000, 10).unwrap();
    assert_eq!(after_retry.iter().map(|i| i.id).collect::<Vec<_>>(), vec![first[0].id]);
    assert!(s.outbox_delivered(second[0].id, 14_000).unwrap());
    assert!(s
        .outbox_claim(&topics, 99_000, 10_000, 10)
        .unwrap()
        .iter()
        .all(|i| i.id != second[0].id));
}

#[test]
fn claims_hand_each_item_to_one_worker() {
    both(claims_hand_each_item_to_one_worker_body);
}
