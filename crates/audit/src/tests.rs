//! Unit tests of the record format, the verifier and checkpoints.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn chain(n: usize) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for i in 0..n {
        let prev = out.last().map(|r| (r.seq, r.hash));
        let new =
            NewRecord::new(ActorKind::User, "alice", "entry_disable", "entry", &i.to_string())
                .with_details(
                    json!({"bank": "HOTLINE", "reason": format!("r{i}"), "change_seq": i}),
                );
        out.push(Record::seal(prev, 1_700_000_000_000 + i as i64, &new).unwrap());
    }
    out
}

fn verify(records: &[Record]) -> Result<(), Break> {
    let mut v = Verifier::new();
    for r in records {
        v.push(r)?;
    }
    v.finish()
}

#[test]
fn an_untouched_chain_verifies() {
    let log = chain(50);
    assert_eq!(log[0].prev_hash, GENESIS);
    assert_eq!(log[0].seq, 1);
    assert_eq!(log[49].seq, 50);
    verify(&log).unwrap();
}

#[test]
fn a_changed_byte_is_named() {
    let mut log = chain(10);
    log[4].details = log[4].details.replace("r4", "r5");
    assert_eq!(verify(&log), Err(Break::Modified { seq: 5 }));
    let mut log = chain(10);
    log[6].at += 1;
    assert_eq!(verify(&log), Err(Break::Modified { seq: 7 }));
}

#[test]
fn a_rehashed_change_breaks_the_next_link() {
    let mut log = chain(10);
    log[4].actor = "mallory".into();
    log[4].hash = log[4].compute_hash();
    assert_eq!(verify(&log), Err(Break::Unlinked { seq: 6 }));
}

#[test]
fn a_removed_record_is_named() {
    let mut log = chain(10);
    log.remove(3);
    let err = verify(&log).unwrap_err();
    assert_eq!(err, Break::Missing { expected: 4, found: 5 });
    assert_eq!(err.seq(), 4);
    assert!(err.to_string().contains("record 4 is missing"), "{err}");
}

#[test]
fn swapped_records_are_named() {
    // Rows swapped in place: each keeps its own number.
    let mut log = chain(10);
    log.swap(2, 3);
    assert_eq!(verify(&log), Err(Break::Missing { expected: 3, found: 4 }));
    // Contents swapped between two numbers (the numbers stay in order).
    let mut log = chain(10);
    let (a, b) = (log[2].clone(), log[3].clone());
    log[2] = Record { seq: 3, ..b };
    log[3] = Record { seq: 4, ..a };
    assert_eq!(verify(&log), Err(Break::Modified { seq: 3 }));
}

#[test]
fn repeated_numbers_are_out_of_order() {
    let mut log = chain(5);
    let dup = log[2].clone();
    log.insert(3, dup);
    assert_eq!(verify(&log), Err(Break::OutOfOrder { expected: 4, found: 3 }));
}

#[test]
fn a_verifier_can_start_after_a_trusted_head() {
    let log = chain(10);
    let mut v = Verifier::after(log[4].seq, log[4].hash);
    for r in &log[5..] {
        v.push(r).unwrap();
    }
    assert_eq!(v.checked(), 5);
    assert_eq!(v.head(), Some((10, log[9].hash)));
    let mut wrong = Verifier::after(5, GENESIS);
    assert_eq!(wrong.push(&log[5]), Err(Break::Unlinked { seq: 6 }));
}

#[test]
fn checkpoints_catch_a_cut_tail_and_a_rewrite() {
    let key = generate_key().unwrap();
    let log = chain(20);
    let cp = Checkpoint::sign(&key, 15, log[14].hash, 1_800_000_000_000);
    cp.verify(Some(&key.verifying_key())).unwrap();

    // Cut after record 12: the chain alone is fine, the checkpoint is not.
    let mut v = Verifier::new();
    v.expect(&cp);
    for r in &log[..12] {
        v.push(r).unwrap();
    }
    assert_eq!(v.finish(), Err(Break::Truncated { head: 12, checkpoint: 15 }));

    // Rewritten from record 10 on, re-chained consistently.
    let mut forged: Vec<Record> = log[..9].to_vec();
    for i in 9..20 {
        let prev = forged.last().map(|r| (r.seq, r.hash));
        let new = NewRecord::new(ActorKind::User, "mallory", "login", "user", "mallory");
        forged.push(Record::seal(prev, 1, &new).unwrap());
        assert_eq!(forged[i].seq, i as i64 + 1);
    }
    verify(&forged).unwrap();
    let mut v = Verifier::new();
    v.expect(&cp);
    let err = forged.iter().try_for_each(|r| v.push(r)).unwrap_err();
    assert_eq!(err, Break::CheckpointMismatch { seq: 15 });

    // The untouched log passes with the checkpoint.
    let mut v = Verifier::new();
    v.expect(&cp);
    log.iter().try_for_each(|r| v.push(r)).unwrap();
    v.finish().unwrap();
}

#[test]
fn checkpoint_files_round_trip_and_refuse_alteration() {
    let key = generate_key().unwrap();
    let other = generate_key().unwrap();
    let cp = Checkpoint::sign(&key, 7, [9; 32], 1_800_000_000_123);
    let text = cp.to_json();
    let back = Checkpoint::from_json(&text).unwrap();
    assert_eq!(back, cp);
    back.verify(None).unwrap();
    let err = back.verify(Some(&other.verifying_key())).unwrap_err().to_string();
    assert!(err.contains("not by the trusted key"), "{err}");

    let altered = text.replace("\"seq\": 7", "\"seq\": 8");
    assert_ne!(altered, text);
    let err = Checkpoint::from_json(&altered).unwrap().verify(None).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
    assert!(Checkpoint::from_json("{}").is_err());
    assert!(Checkpoint::from_json(&text.replace("checkpoint/1", "checkpoint/9")).is_err());
}

#[test]
fn keys_round_trip_through_pem() {
    let key = generate_key().unwrap();
    let pem = key_to_pem(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let dir = std::env::temp_dir().join(format!("spoor-audit-key-{}", std::process::id()));
    std::fs::write(&dir, &pem).unwrap();
    let back = read_key(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(back.to_bytes(), key.to_bytes());
    let public = public_key_to_pem(&key.verifying_key()).unwrap();
    assert_eq!(read_public_key(&public).unwrap(), key.verifying_key());
    assert_eq!(read_public_key(&hex(key.verifying_key().as_bytes())).unwrap(), key.verifying_key());
    assert!(read_public_key("zz").is_err());
}

#[test]
fn records_are_validated() {
    let ok = NewRecord::new(ActorKind::Key, "admin", "key_create", "key", "k1");
    ok.validate().unwrap();
    for bad in [
        NewRecord { action: "Login".into(), ..ok.clone() },
        NewRecord { action: "".into(), ..ok.clone() },
        NewRecord { object_kind: "a b".into(), ..ok.clone() },
        NewRecord { actor: "".into(), ..ok.clone() },
        NewRecord { actor: "a\nb".into(), ..ok.clone() },
        NewRecord { object_id: "x".repeat(257), ..ok.clone() },
        NewRecord { details: json!([1, 2]), ..ok.clone() },
        NewRecord { details: json!({"big": "x".repeat(MAX_DETAILS)}), ..ok.clone() },
    ] {
        assert!(Record::seal(None, 0, &bad).is_err(), "{bad:?}");
    }
}

#[test]
fn actors_split_by_kind() {
    assert_eq!(ActorKind::split("key:admin"), (ActorKind::Key, "admin"));
    assert_eq!(ActorKind::split("user:alice"), (ActorKind::User, "alice"));
    assert_eq!(ActorKind::split("cli:root"), (ActorKind::Cli, "root"));
    assert_eq!(ActorKind::split("cli"), (ActorKind::Cli, "cli"));
    assert_eq!(ActorKind::split("system:retention"), (ActorKind::System, "retention"));
    assert_eq!(ActorKind::split("alice"), (ActorKind::Unspecified, "alice"));
    assert_eq!(ActorKind::split("key:"), (ActorKind::Unspecified, "key:"));
    let r = NewRecord::by("key:admin", "bank_create", "bank", "HOTLINE");
    assert_eq!((r.actor_kind, r.actor.as_str()), (ActorKind::Key, "admin"));
}

#[test]
fn canonical_json_ignores_key_order() {
    let a: serde_json::Value =
        serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"é\n"}}"#).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(r#"{ "a": {"x":"é\n", "y":[1, 2]}, "b": 1 }"#).unwrap();
    assert_eq!(canonical_json(&a), canonical_json(&b));
    assert_eq!(canonical_json(&a), r#"{"a":{"x":"é\n","y":[1,2]},"b":1}"#);
}

#[test]
fn exported_records_verify_on_their_own() {
    let log = chain(5);
    let lines: Vec<String> =
        log.iter().map(|r| serde_json::to_string(&ExportedRecord::from(r)).unwrap()).collect();
    let back: Vec<Record> = lines
        .iter()
        .map(|l| serde_json::from_str::<ExportedRecord>(l).unwrap().to_record().unwrap())
        .collect();
    assert_eq!(back, log);
    verify(&back).unwrap();
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_json_reads_back_to_itself(v in json_value()) {
        let text = canonical_json(&v);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(canonical_json(&back), text);
    }
}

/// The hash format is a contract with every log already written: this record's hash was worked
/// out by hand (Python's hashlib over the bytes the format documents), not by this crate.
#[test]
fn the_hash_format_is_fixed() {
    let new = NewRecord::new(ActorKind::User, "alice", "entry_disable", "entry", "7")
        .with_details(json!({"reason": "r", "bank": "HOTLINE"}));
    let r = Record::seal(None, 1_700_000_000_000, &new).unwrap();
    assert_eq!(hex(&r.hash), "81e3d51bbf8619c060f06c173772c4d29056871933d065addfc558d5190e06ad");
}

/// A store that hashes inside the database joins the parts around `seq`; that is the record's
/// canonical bytes, whatever the record holds.
#[test]
fn canonical_parts_join_to_the_canonical_bytes() {
    for r in chain(20) {
        let (head, tail) = r.canonical_parts();
        let joined = [head, &r.seq.to_be_bytes()[..], &tail].concat();
        assert_eq!(joined, r.canonical_bytes());
        let mut h = Sha256::new();
        h.update(r.prev_hash);
        h.update(&joined);
        assert_eq!(<[u8; 32]>::from(h.finalize()), r.hash);
    }
}
