//! People and sessions, one suite run against both stores: SQLite in a temporary directory, and
//! PostgreSQL in a fresh schema of the server named by `SPOOR_TEST_DATABASE_URL` (skipped with a
//! notice without it, unless `SPOOR_REQUIRE_POSTGRES=1`).

mod common;

use spoor_bank::people::{Expiry, SecretToken, DEFAULT_SETUP_TTL_MS};
use spoor_bank::{model::now_ms, Location, PersonRole, SessionLimits, SessionLookup, Store, User};

struct Fixture {
    store: Box<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::DataDir(dir.path().join("data"));
    Fixture { store: spoor_bank::open(&location).unwrap(), _dir: Some(dir) }
}

fn postgres() -> Option<Fixture> {
    let (url, _) = common::postgres_schema()?;
    Some(Fixture { store: spoor_bank::open(&Location::Postgres(url)).unwrap(), _dir: None })
}

/// Runs a test body against both stores.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                let f = super::sqlite();
                ($body)(&*f.store);
            }
            #[test]
            fn postgres() {
                if let Some(f) = super::postgres() {
                    ($body)(&*f.store);
                }
            }
        }
    };
}

const PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
const MIN: i64 = 60_000;

fn new_user(store: &dyn Store, name: &str, role: PersonRole) -> (User, SecretToken) {
    let t = SecretToken::generate().unwrap();
    let u = store
        .create_user(name, role, "cli:test", &t.hash, now_ms() + DEFAULT_SETUP_TTL_MS)
        .unwrap();
    (u, t)
}

/// A person who finished setup (password, TOTP confirmed at step 100).
fn ready_user(store: &dyn Store, name: &str, role: PersonRole) -> User {
    let (u, _) = new_user(store, name, role);
    store.set_password(u.id, PHC, now_ms()).unwrap();
    store.set_totp_secret(u.id, &[9; 20]).unwrap();
    store.confirm_totp(u.id, 100, now_ms()).unwrap()
}

fn err(r: spoor_bank::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

both!(create_find_and_list, |store: &dyn Store| {
    let (u, t) = new_user(store, "reviewer1", PersonRole::Reviewer);
    assert_eq!(u.role, PersonRole::Reviewer);
    assert_eq!(u.created_by, "cli:test");
    assert!(!u.setup_done());
    assert_eq!(u.state(now_ms()), "setup pending");
    assert_eq!(store.user("reviewer1").unwrap(), u);
    assert_eq!(store.user_by_id(u.id).unwrap(), u);
    assert_eq!(store.user_by_setup_token(&t.hash, now_ms()).unwrap().unwrap().id, u.id);
    // A wrong token finds nobody; the right one past its expiry finds nobody either.
    let other = SecretToken::generate().unwrap();
    assert!(store.user_by_setup_token(&other.hash, now_ms()).unwrap().is_none());
    let exp = u.setup_expires_at.unwrap();
    assert!(store.user_by_setup_token(&t.hash, exp).unwrap().is_none());
    assert_eq!(u.state(exp), "setup expired");

    new_user(store, "admin", PersonRole::Admin);
    let names: Vec<_> = store.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["admin", "reviewer1"]);

    let e =
        err(store.create_user("reviewer1", PersonRole::Admin, "cli", &other.hash, now_ms() + 1000));
    assert!(e.contains("exists already"), "{e}");
    let e =
        err(store.create_user("Bad Name", PersonRole::Admin, "cli", &other.hash, now_ms() + 1000));
    assert!(e.contains("invalid person name"), "{e}");
    let e = err(store.create_user("fine", PersonRole::Admin, "cli", &other.hash, now_ms() - 1));
    assert!(e.contains("not in the future"), "{e}");
    let e = err(store.user("nobody"));
    assert!(e.contains("no person named") && e.contains("spoor users list"), "{e}");
    assert_eq!(store.users().unwrap().len(), 2, "refused writes wrote nothing");
});

both!(setup_flow_spends_the_token_once, |store: &dyn Store| {
    let (u, t) = new_user(store, "curator1", PersonRole::Curator);
    let e = err(store.confirm_totp(u.id, 5, now_ms()));
    assert!(e.contains("no password or no TOTP secret"), "{e}");
    let e = err(store.set_password(u.id, "plain text", now_ms()));
    assert!(e.contains("argon2id"), "{e}");
    let e = err(store.set_totp_secret(u.id, &[1; 8]));
    assert!(e.contains("16 to 64"), "{e}");
    let u1 = store.set_password(u.id, PHC, 1234).unwrap();
    assert_eq!(u1.password_hash.as_deref(), Some(PHC));
    assert_eq!(u1.password_set_at, Some(1234));
    // Still in setup: the link still works (TOTP is next).
    assert!(store.user_by_setup_token(&t.hash, now_ms()).unwrap().is_some());
    store.set_totp_secret(u.id, &[1; 20]).unwrap();
    let u2 = store.set_totp_secret(u.id, &[2; 20]).unwrap();
    assert_eq!(
        u2.totp_secret.as_deref(),
        Some(&[2u8; 20][..]),
        "an unconfirmed secret is replaced"
    );
    let done = store.confirm_totp(u.id, 777, now_ms()).unwrap();
    assert!(done.setup_done());
    assert_eq!(done.totp_last_step, Some(777));
    assert_eq!(done.setup_expires_at, None);
    assert_eq!(done.state(now_ms()), "active");
    // The token is spent, and setup steps are refused from now on.
    assert!(store.user_by_setup_token(&t.hash, now_ms()).unwrap().is_none());
    for e in [
        err(store.set_password(u.id, PHC, now_ms())),
        err(store.set_totp_secret(u.id, &[3; 20])),
        err(store.confirm_totp(u.id, 900, now_ms())),
    ] {
        assert!(e.contains("not in setup") && e.contains("spoor users reset"), "{e}");
    }
    assert_eq!(store.user("curator1").unwrap().totp_secret.as_deref(), Some(&[2u8; 20][..]));
});

both!(lockout_after_repeated_failures, |store: &dyn Store| {
    let u = ready_user(store, "a1", PersonRole::Admin);
    let now = now_ms();
    for i in 1..=2 {
        let f = store.record_login_failure(u.id, now, 3, 15 * MIN).unwrap();
        assert_eq!((f.failed_logins, f.locked_until), (i, None));
    }
    assert_eq!(store.user("a1").unwrap().failed_logins, 2);
    let f = store.record_login_failure(u.id, now, 3, 15 * MIN).unwrap();
    assert_eq!(f.failed_logins, 3);
    assert_eq!(f.locked_until, Some(now + 15 * MIN));
    let locked = store.user("a1").unwrap();
    assert!(locked.locked_at(now + 15 * MIN - 1));
    assert!(!locked.locked_at(now + 15 * MIN));
    assert_eq!(locked.state(now), "locked");
    // A success clears the count and the lock.
    assert!(store.record_login_success(u.id, 200, now).unwrap());
    let u = store.user("a1").unwrap();
    assert_eq!((u.failed_logins, u.locked_until), (0, None));
    let e = err(store.record_login_failure(u.id, now, 0, MIN));
    assert!(e.contains("at least one failure"), "{e}");
});

both!(a_totp_step_is_accepted_once, |store: &dyn Store| {
    let u = ready_user(store, "r1", PersonRole::Reviewer);
    // Setup confirmed step 100: neither it nor an earlier one logs in.
    assert!(!store.record_login_success(u.id, 100, now_ms()).unwrap());
    assert!(!store.record_login_success(u.id, 99, now_ms()).unwrap());
    assert!(store.record_login_success(u.id, 101, now_ms()).unwrap());
    assert!(!store.record_login_success(u.id, 101, now_ms()).unwrap());
    assert_eq!(store.user("r1").unwrap().totp_last_step, Some(101));
    assert!(err(store.record_login_success(999_999, 5, now_ms())).contains("no person with id"));
});

both!(sessions_time_out, |store: &dyn Store| {
    let u = ready_user(store, "au", PersonRole::Auditor);
    let limits = SessionLimits { idle_ms: 10 * MIN, max_age_ms: 60 * MIN };
    let t0 = 1_000_000;
    let tok = SecretToken::generate().unwrap();
    let csrf = "c".repeat(43);
    let s = store
        .create_session(u.id, &tok.hash, &csrf, t0, Some("127.0.0.1"), Some("Browser\n1.0"))
        .unwrap();
    assert_eq!(s.user_agent.as_deref(), Some("Browser1.0"), "control characters are dropped");
    // Used every 9 minutes: alive until the absolute timeout, then gone for good.
    let mut t = t0;
    for _ in 0..6 {
        t += 9 * MIN;
        match store.touch_session(&tok.hash, t, limits).unwrap() {
            SessionLookup::Active { session, user } => {
                assert_eq!(session.last_seen_at, t);
                assert_eq!(session.csrf_token, csrf);
                assert_eq!(user.name, "au");
            }
            other => panic!("{other:?}"),
        }
    }
    t += 9 * MIN;
    match store.touch_session(&tok.hash, t, limits).unwrap() {
        SessionLookup::Expired { user, why } => {
            assert_eq!((user.id, why), (u.id, Expiry::MaxAge));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.touch_session(&tok.hash, t, limits).unwrap(), SessionLookup::Unknown);

    // Idle: one minute too long.
    let tok2 = SecretToken::generate().unwrap();
    store.create_session(u.id, &tok2.hash, &csrf, t0, None, None).unwrap();
    assert!(matches!(
        store.touch_session(&tok2.hash, t0 + 10 * MIN, limits).unwrap(),
        SessionLookup::Active { .. }
    ));
    assert!(matches!(
        store.touch_session(&tok2.hash, t0 + 20 * MIN + 1, limits).unwrap(),
        SessionLookup::Expired { why: Expiry::Idle, .. }
    ));
    assert_eq!(store.touch_session(&tok2.hash, t0, limits).unwrap(), SessionLookup::Unknown);

    // Logout deletes one session.
    let tok3 = SecretToken::generate().unwrap();
    store.create_session(u.id, &tok3.hash, &csrf, t0, None, None).unwrap();
    assert!(store.delete_session(&tok3.hash).unwrap());
    assert!(!store.delete_session(&tok3.hash).unwrap());
    assert_eq!(store.touch_session(&tok3.hash, t0, limits).unwrap(), SessionLookup::Unknown);

    let e = err(store.create_session(u.id, &tok3.hash, "short", t0, None, None));
    assert!(e.contains("CSRF"), "{e}");
    let e = err(store.touch_session(&tok3.hash, t0, SessionLimits { idle_ms: 0, max_age_ms: 1 }));
    assert!(e.contains("positive"), "{e}");
});

both!(no_session_before_setup, |store: &dyn Store| {
    let (u, _) = new_user(store, "pending", PersonRole::Admin);
    let tok = SecretToken::generate().unwrap();
    let e = err(store.create_session(u.id, &tok.hash, &"c".repeat(20), now_ms(), None, None));
    assert!(e.contains("not set up"), "{e}");
});

both!(disable_and_reset_log_out_everywhere, |store: &dyn Store| {
    let limits = SessionLimits::default();
    let u = ready_user(store, "c1", PersonRole::Curator);
    let csrf = "c".repeat(32);
    let toks: Vec<_> = (0..3).map(|_| SecretToken::generate().unwrap()).collect();
    for t in &toks {
        store.create_session(u.id, &t.hash, &csrf, now_ms(), None, None).unwrap();
    }
    let other = ready_user(store, "c2", PersonRole::Curator);
    let other_tok = SecretToken::generate().unwrap();
    store.create_session(other.id, &other_tok.hash, &csrf, now_ms(), None, None).unwrap();

    // Reset: password and TOTP gone, every session gone, a new link works and the old state
    // cannot log in.
    let link = SecretToken::generate().unwrap();
    let r = store.reset_user("c1", "admin", &link.hash, now_ms() + MIN).unwrap();
    assert!(r.password_hash.is_none() && r.totp_secret.is_none() && r.totp_last_step.is_none());
    assert!(!r.setup_done());
    for t in &toks {
        assert_eq!(store.touch_session(&t.hash, now_ms(), limits).unwrap(), SessionLookup::Unknown);
    }
    assert_eq!(store.user_by_setup_token(&link.hash, now_ms()).unwrap().unwrap().id, u.id);
    // Another person's session is untouched.
    assert!(matches!(
        store.touch_session(&other_tok.hash, now_ms(), limits).unwrap(),
        SessionLookup::Active { .. }
    ));
    assert_eq!(store.delete_user_sessions(other.id).unwrap(), 1);

    // Disable: a reason is required; it spends the link and is final.
    let e = err(store.disable_user("c1", "admin", " ", now_ms()));
    assert!(e.contains("reason is required"), "{e}");
    let d = store.disable_user("c1", "admin", "left the team", 4242).unwrap();
    let dis = d.disabled.clone().unwrap();
    assert_eq!((dis.by.as_str(), dis.at, dis.reason.as_str()), ("admin", 4242, "left the team"));
    assert_eq!(d.state(now_ms()), "disabled");
    assert!(store.user_by_setup_token(&link.hash, now_ms()).unwrap().is_none());
    let e = err(store.disable_user("c1", "admin", "again", now_ms()));
    assert!(e.contains("disabled already"), "{e}");
    let e = err(store.reset_user("c1", "admin", &link.hash, now_ms() + MIN));
    assert!(e.contains("disabled, for good"), "{e}");
    let e = err(store.set_user_role("c1", PersonRole::Admin, "admin"));
    assert!(e.contains("disabled, for good"), "{e}");
});

both!(disabling_ends_live_sessions, |store: &dyn Store| {
    let u = ready_user(store, "d1", PersonRole::Reviewer);
    let tok = SecretToken::generate().unwrap();
    store.create_session(u.id, &tok.hash, &"c".repeat(32), now_ms(), None, None).unwrap();
    store.disable_user("d1", "admin", "account compromised", now_ms()).unwrap();
    assert_eq!(
        store.touch_session(&tok.hash, now_ms(), SessionLimits::default()).unwrap(),
        SessionLookup::Unknown
    );
});

both!(role_changes, |store: &dyn Store| {
    ready_user(store, "x1", PersonRole::Reviewer);
    let u = store.set_user_role("x1", PersonRole::Auditor, "admin").unwrap();
    assert_eq!(u.role, PersonRole::Auditor);
    assert_eq!(store.user("x1").unwrap().role, PersonRole::Auditor);
    assert!(err(store.set_user_role("nobody", PersonRole::Admin, "admin")).contains("no person"));
});

both!(account_changes_are_audited_with_them_and_refusals_are_not, |store: &dyn Store| {
    let log = |store: &dyn Store| -> Vec<(String, String, String, String)> {
        store
            .audit_records(&spoor_bank::AuditQuery::after(0, 1000))
            .unwrap()
            .into_iter()
            .map(|r| (format!("{}:{}", r.actor_kind, r.actor), r.action, r.object_id, r.details))
            .collect()
    };
    let (_, _) = new_user(store, "a1", PersonRole::Reviewer);
    store.set_user_role("a1", PersonRole::Curator, "user:boss").unwrap();
    store.reset_user("a1", "cli:root", &[9u8; 32], now_ms() + MIN).unwrap();
    store.disable_user("a1", "user:boss", "left the team", now_ms()).unwrap();
    let got = log(store);
    let actions: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(actions, ["user_create", "user_role", "user_reset", "user_disable"], "{got:?}");
    assert!(got.iter().all(|r| r.2 == "a1"));
    assert_eq!((got[1].0.as_str(), got[2].0.as_str()), ("user:boss", "cli:root"));
    assert!(got[1].3.contains("\"from\":\"reviewer\"") && got[1].3.contains("\"to\":\"curator\""));
    assert!(got[3].3.contains("left the team"));
    // Refused changes write no record.
    assert!(store.disable_user("a1", "user:boss", "again", now_ms()).is_err());
    assert!(store.set_user_role("a1", PersonRole::Admin, "user:boss").is_err());
    assert!(store
        .create_user("a1", PersonRole::Admin, "user:boss", &[1u8; 32], now_ms() + MIN)
        .is_err());
    assert_eq!(log(store).len(), 4);
    let report = spoor_bank::audit::verify(store, &[], None, &mut |_| {}).unwrap();
    assert!(report.broken.is_none() && report.records == 4, "{report:?}");
});

both!(starting_views_of_reviewers, |store: &dyn Store| {
    use spoor_bank::cases::ReviewView;
    let (u, _) = new_user(store, "rita", PersonRole::Reviewer);
    let (other, _) = new_user(store, "ravi", PersonRole::Reviewer);
    // Nothing set: the strongest blur, in greyscale.
    assert_eq!(store.review_view(u.id).unwrap(), ReviewView { blur: 4, colour: false });
    let set = ReviewView { blur: 2, colour: true };
    store.set_review_view(u.id, "user:rita", set, 1_000).unwrap();
    assert_eq!(store.review_view(u.id).unwrap(), set);
    assert_eq!(store.review_view(other.id).unwrap(), ReviewView::default(), "one person's only");
    store.set_review_view(u.id, "user:rita", ReviewView { blur: 3, colour: false }, 2_000).unwrap();
    assert_eq!(store.review_view(u.id).unwrap(), ReviewView { blur: 3, colour: false });
    // Refused: a blur step that does not exist, a person who does not exist; nothing changes.
    let e =
        err(store.set_review_view(u.id, "user:rita", ReviewView { blur: 5, colour: false }, 3_000));
    assert!(e.contains("blur step 5"), "{e}");
    assert!(store.set_review_view(u.id + 1000, "user:rita", set, 3_000).is_err());
    assert_eq!(store.review_view(u.id).unwrap(), ReviewView { blur: 3, colour: false });
    // Each change is recorded by the person who made it.
    let mut q = spoor_bank::AuditQuery::after(0, 100);
    q.action = Some("review_view_set".into());
    let recs = store.audit_records(&q).unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.actor == "rita" && r.object_id == u.id.to_string()));
    assert!(recs[0].details.contains("\"blur\":2"), "{}", recs[0].details);
});

both!(people_are_limited_to_review_queues, |store: &dyn Store| {
    let records = |store: &dyn Store| -> Vec<(String, String, String)> {
        store
            .audit_records(&spoor_bank::AuditQuery::after(0, 1000))
            .unwrap()
            .into_iter()
            .map(|r| (r.action, r.object_id, r.details))
            .collect()
    };
    let qs = |q: &[&str]| q.iter().map(|q| q.to_string()).collect::<Vec<_>>();
    // Made limited: kept sorted, once each, and read back so.
    let t = SecretToken::generate().unwrap();
    let u = store
        .create_user_in_queues(
            "team.b",
            PersonRole::Reviewer,
            &qs(&["team-b", "main", "team-b"]),
            "cli:test",
            &t.hash,
            now_ms() + MIN,
        )
        .unwrap();
    assert_eq!(u.queues, qs(&["main", "team-b"]));
    assert_eq!(store.user("team.b").unwrap().queues, u.queues);
    assert!(u.reviews_queue("team-b") && u.reviews_queue("main") && !u.reviews_queue("team-c"));
    // An account made without a list takes every queue.
    let (all, _) = new_user(store, "every.q", PersonRole::Reviewer);
    assert!(all.queues.is_empty() && all.reviews_queue("team-c"));
    // Changed, then opened to every queue again; each change audited with before and after.
    let u = store.set_user_queues("team.b", &qs(&["team-c"]), "user:boss").unwrap();
    assert_eq!(
        (u.queues.clone(), store.user("team.b").unwrap().queues),
        (qs(&["team-c"]), u.queues)
    );
    let u = store.set_user_queues("team.b", &[], "user:boss").unwrap();
    assert!(u.queues.is_empty() && store.user("team.b").unwrap().queues.is_empty());
    let got = records(store);
    let actions: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, ["user_create", "user_create", "user_queues", "user_queues"], "{got:?}");
    assert!(got[0].2.contains("\"queues\":[\"main\",\"team-b\"]"), "{got:?}");
    assert!(!got[1].2.contains("queues"), "an account of every queue says nothing: {got:?}");
    assert!(got[2].2.contains("\"from\":[\"main\",\"team-b\"]"), "{got:?}");
    assert!(got[2].2.contains("\"to\":[\"team-c\"]"), "{got:?}");
    assert!(got[3].2.contains("\"from\":[\"team-c\"]") && got[3].2.contains("\"to\":\"every\""));
    // Refused, writing nothing: bad names, the senior queue, too many, unknown or disabled
    // people, and a new account with a bad list.
    for (bad, says) in [
        (qs(&["Team B"]), "invalid queue name"),
        (qs(&["senior"]), "administrators"),
        (qs(&[""]), "invalid queue name"),
        ((0..33).map(|i| format!("q{i}")).collect(), "at most 32"),
    ] {
        let e = err(store.set_user_queues("team.b", &bad, "user:boss"));
        assert!(e.contains(says), "{bad:?}: {e}");
    }
    assert!(err(store.set_user_queues("nobody", &qs(&["main"]), "user:boss")).contains("nobody"));
    store.disable_user("every.q", "user:boss", "left", now_ms()).unwrap();
    assert!(err(store.set_user_queues("every.q", &qs(&["main"]), "user:boss")).contains("disabled"));
    let e = err(store.create_user_in_queues(
        "c1",
        PersonRole::Reviewer,
        &qs(&["senior"]),
        "cli:test",
        &[3u8; 32],
        now_ms() + MIN,
    ));
    assert!(e.contains("administrators"), "{e}");
    assert!(err(store.user("c1")).contains("no person"));
    assert_eq!(records(store).len(), 5, "only the disable was added");
    assert!(store.user("team.b").unwrap().queues.is_empty());
});
