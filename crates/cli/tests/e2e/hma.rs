//! HMA's routes (`/hma/…`) through the real service: what an HMA client (Coop, scripts written
//! for HMA) sends, answered in HMA's shapes from Spoor's banks, with keys on, on both stores.

use reqwest::blocking::{multipart, RequestBuilder};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::server::{bridge, until, Server, Store};

const BANK: &str = "HMA_BANK";

struct Hma<'a> {
    s: &'a Server,
    prefix: &'a str,
}

impl Hma<'_> {
    fn url(&self, path: &str) -> String {
        self.s.url(&format!("{}{path}", self.prefix))
    }

    fn answer(req: RequestBuilder, key: Option<&str>) -> (StatusCode, Value) {
        let req = match key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        let resp = req.send().unwrap();
        let status = resp.status();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn get(&self, key: Option<&str>, path: &str) -> (StatusCode, Value) {
        Self::answer(self.s.http.get(self.url(path)), key)
    }

    fn json(&self, method: &str, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let req = match method {
            "POST" => self.s.http.post(self.url(path)),
            "PUT" => self.s.http.put(self.url(path)),
            _ => unreachable!(),
        };
        Self::answer(req.json(body), Some(key))
    }

    fn delete(&self, key: &str, path: &str) -> (StatusCode, Value) {
        Self::answer(self.s.http.delete(self.url(path)), Some(key))
    }

    /// A multipart upload in HMA's form: the file in a field named after its content type.
    fn upload(
        &self,
        key: &str,
        path: &str,
        field: &str,
        bytes: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut form = multipart::Form::new()
            .part(field.to_string(), multipart::Part::bytes(bytes).file_name("blob"));
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        Self::answer(self.s.http.post(self.url(path)).multipart(form), Some(key))
    }
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_else(|| panic!("not HMA's error shape: {v}"))
}

/// Waits until a lookup answers `want` (the index follows the banks' change log).
fn lookup_until(h: &Hma, key: &str, path: &str, want: &Value) {
    until(&format!("{path} answers {want}"), || h.get(Some(key), path).1 == *want);
}

/// HMA's coin: a bank at ratio ½ consults a lookup when the coin (CPython's
/// `random.Random(seed).random()` for a seeded lookup) is at most ½; `bypass_coinflip` consults
/// it always, `raw_lookup` has no coin, and unseeded lookups consult it about half the time.
fn coin_flips(h: &Hma, s: &Server, curator: &str, seer: &str, admin: &str, pdq: &str, id: i64) {
    let bank = format!("/c/bank/{BANK}");
    let hit = json!({BANK: [{"bank_content_id": id, "distance": "0"}]});
    let (st, v) = h.json("PUT", curator, &bank, &json!({"enabled_ratio": "0.5"}));
    assert_eq!((st, v), (StatusCode::OK, json!({"matching_enabled_ratio": 0.5, "name": BANK})));
    let lookup = |seed: &str| format!("/m/lookup?signal_type=pdq&signal={pdq}&seed={seed}");
    // CPython: random.Random("abc").random() = 0.772…, random.Random("content-1").random() = 0.079…
    lookup_until(h, seer, &lookup("abc"), &json!({}));
    assert_eq!(h.get(Some(seer), &lookup("content-1")).1, hit);
    assert_eq!(h.get(Some(seer), &format!("{}&bypass_coinflip=true", lookup("abc"))).1, hit);
    let (st, v) = h.get(Some(seer), &format!("{}&bypass_coinflip=maybe", lookup("abc")));
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = h.get(Some(seer), &format!("/m/raw_lookup?signal_type=pdq&signal={pdq}"));
    assert_eq!(v, json!({"matches": [id]}), "raw_lookup flips no coin");
    let photo = bridge("aaa-orig.jpg");
    let (_, v) = h.upload(seer, "/m/lookup?seed=abc", "photo", photo.clone(), &[]);
    assert_eq!(v["pdq"], json!({}), "{v}");
    let (_, v) = h.upload(seer, "/m/lookup?seed=abc&bypass_coinflip=true", "photo", photo, &[]);
    assert_eq!(v["pdq"][BANK][0]["bank_content_id"], id, "{v}");
    // Unseeded: a fresh coin each time. 200 lookups at ½: 100 ± 7 expected; outside 50–150 is
    // a broken coin, not bad luck (p < 10⁻¹²).
    let plain = format!("/m/lookup?signal_type=pdq&signal={pdq}");
    let hits = (0..200).filter(|_| h.get(Some(seer), &plain).1 == hit).count();
    assert!((50..=150).contains(&hits), "{hits} of 200 unseeded lookups consulted a bank at ½");
    // Spoor's own matching consults the bank every time; the ratio shows in its bank.
    let (_, v) = s.get(Some(admin), &format!("/v1/banks/{BANK}"));
    assert_eq!(v["hma_enabled_ratio"], 0.5, "{v}");
    for _ in 0..20 {
        assert_eq!(s.matches(admin, pdq).len(), 1, "/v1/match consults every enabled bank");
    }
    let (st, v) = s.send(
        "PATCH",
        Some(admin),
        &format!("/v1/banks/{BANK}"),
        &json!({"reason": "test", "hma_enabled_ratio": 0}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "a ratio of 0 is a pause: {v}");
    // Back to every lookup.
    let (_, v) = h.json("PUT", curator, &bank, &json!({"enabled_ratio": 1}));
    assert_eq!(v, json!({"matching_enabled_ratio": 1.0, "name": BANK}));
    lookup_until(h, seer, &lookup("abc"), &hit);
}

fn flow(store: Store) {
    let admin = store.key("admin", "admin", None);
    let curator = store.key("curator", "curator", None);
    let matcher = store.key("matcher", "plain", None);
    let seer = store.key_with("matcher", "seer", &["--show-distance"]);
    let out = store.spoor(&["bank", "create", "OTHER"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let elsewhere = store.key("matcher", "elsewhere", Some("OTHER"));
    let hasher = store.key("hasher", "hasher", None);
    // The test looks the same hash up again and again near another it looked up: a probe, to
    // the detector, were its threshold the default.
    let s = Server::start(&store, &["--probe-threshold", "100000"]);
    let h = Hma { s: &s, prefix: "/hma" };

    // Status needs no key; everything else does, and refuses in HMA's shape.
    assert_eq!(h.get(None, "/status"), (StatusCode::OK, Value::String("I-AM-ALIVE".into())));
    assert_eq!(h.get(None, "/status/live").0, StatusCode::OK);
    let (st, v) = h.get(None, "/c/banks");
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(message(&v).contains("API key"), "{v}");
    let (st, v) = h.get(Some(&matcher), "/c/banks");
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    message(&v);

    // Banks.
    let (st, v) = h.json("POST", &curator, "/c/banks", &json!({"name": BANK}));
    assert_eq!(
        (st, v),
        (StatusCode::CREATED, json!({"matching_enabled_ratio": 1.0, "name": BANK}))
    );
    let (st, v) = h.json("POST", &curator, "/c/banks", &json!({"name": BANK}));
    assert_eq!((st, message(&v)), (StatusCode::FORBIDDEN, "Bank already exists"));
    // Coop sends the ratio as a string; a bank made paused says so.
    let (st, v) =
        h.json("POST", &curator, "/c/banks", &json!({"name": "PAUSED", "enabled_ratio": "0"}));
    assert_eq!(
        (st, v),
        (StatusCode::CREATED, json!({"matching_enabled_ratio": 0.0, "name": "PAUSED"}))
    );
    // A fraction is kept, as HMA keeps it.
    let (st, v) =
        h.json("POST", &curator, "/c/banks", &json!({"name": "HALF", "enabled_ratio": 0.25}));
    assert_eq!(
        (st, v),
        (StatusCode::CREATED, json!({"matching_enabled_ratio": 0.25, "name": "HALF"}))
    );
    let (_, v) = s.get(Some(&admin), "/v1/banks/HALF");
    assert_eq!(
        (v["hma_enabled_ratio"].clone(), v["enabled"].clone()),
        (json!(0.25), json!(true)),
        "{v}"
    );
    for (body, says) in [
        (json!({"name": "lower"}), "UPPER_WITH_UNDERSCORE"),
        (json!({"name": "MORE", "enabled_ratio": 1.5}), "is not a share of lookups"),
        (json!({"name": "LESS", "enabled_ratio": "-0.1"}), "is not a share of lookups"),
    ] {
        let (st, v) = h.json("POST", &curator, "/c/banks", &body);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(message(&v).contains(says), "{v}");
    }
    let (st, v) = h.json("POST", &curator, "/c/banks", &json!({"name": "X", "colour": "red"}));
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("colour"), "{v}");
    let (_, v) = h.get(Some(&curator), "/c/banks");
    assert_eq!(v.as_array().unwrap().len(), 4, "{v}");
    let (st, v) = h.get(Some(&curator), "/c/bank/NOPE");
    assert_eq!((st, message(&v)), (StatusCode::NOT_FOUND, "bank 'NOPE' not found"));

    // Content by file: the photo's PDQ, as Spoor's own hashing gives it.
    let orig = bridge("aaa-orig.jpg");
    let (st, v) = h.upload(
        &curator,
        &format!("/c/bank/{BANK}/content"),
        "photo",
        orig.clone(),
        &[("metadata", r#"{"content_id": "src-1"}"#)],
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    let photo_id = v["id"].as_i64().unwrap();
    let pdq = v["signals"]["pdq"].as_str().unwrap().to_string();
    let (_, spoor) = s.upload(Some(&admin), "/v1/hash", orig.clone());
    assert_eq!(pdq, spoor["pdq"].as_str().unwrap());
    // Content by signal: HMA's video_md5, normalised.
    let (st, v) = h.json(
        "POST",
        &curator,
        &format!("/c/bank/{BANK}/signal"),
        &json!({"video_md5": " D41D8CD98F00B204E9800998ECF8427E "}),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["signals"], json!({"video_md5": "d41d8cd98f00b204e9800998ecf8427e"}));
    let md5_id = v["id"].as_i64().unwrap();
    assert_ne!(md5_id, photo_id);
    // What Spoor keeps no place for is refused, naming why; nothing is added.
    for (extra, says) in [
        (r#"{"content_uri": "https://example.invalid/x.jpg"}"#, "no link to media"),
        (r#"{"json": {"a": 1}}"#, "no free-form data"),
        ("not json", "must be valid JSON"),
    ] {
        let (st, v) = h.upload(
            &curator,
            &format!("/c/bank/{BANK}/content"),
            "photo",
            bridge("blur-a-lot.jpg"),
            &[("metadata", extra)],
        );
        assert_eq!(st, StatusCode::BAD_REQUEST, "{extra}: {v}");
        assert!(message(&v).contains(says), "{v}");
    }
    let (st, v) =
        h.json("POST", &curator, &format!("/c/bank/{BANK}/signal"), &json!({"pdq": "ABC"}));
    assert_eq!(
        (st, message(&v)),
        (StatusCode::BAD_REQUEST, "Invalid pdq signal: invalid PDQ hash")
    );
    let (st, v) = h.json("POST", &curator, &format!("/c/bank/{BANK}/signal"), &json!({}));
    assert_eq!((st, message(&v)), (StatusCode::BAD_REQUEST, "No signals given"));
    let (st, v) = h.json("POST", &curator, "/c/bank/NOPE/signal", &json!({"pdq": pdq}));
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) =
        h.upload(&curator, &format!("/c/bank/{BANK}/content"), "picture", orig.clone(), &[]);
    assert_eq!((st, message(&v)), (StatusCode::BAD_REQUEST, "no such content_type: 'picture'"));
    let (_, stats) = s.get(Some(&admin), &format!("/v1/banks/{BANK}"));
    assert_eq!(stats["entries"], 2, "{stats}");

    // Reading content back.
    let (st, v) =
        h.get(Some(&curator), &format!("/c/bank/{BANK}/content/{photo_id}?include_signals=true"));
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({
            "bank": {"matching_enabled_ratio": 1.0, "name": BANK},
            "disable_until_ts": 1,
            "id": photo_id,
            "metadata": {"collab": null, "content_id": "src-1", "content_uri": null, "json": null},
            "original_media_uri": null,
            "signals": {"pdq": pdq},
        })
    );
    let (st, v) = h.get(Some(&curator), &format!("/c/bank/{BANK}/content/999999"));
    assert_eq!((st, message(&v)), (StatusCode::NOT_FOUND, "content '999999' not found"));

    // Lookups: by signal, by file, raw; distances only for keys that may see them.
    let by_signal = format!("/m/lookup?signal_type=pdq&signal={pdq}");
    lookup_until(
        &h,
        &seer,
        &by_signal,
        &json!({BANK: [{"bank_content_id": photo_id, "distance": "0"}]}),
    );
    assert_eq!(h.get(Some(&matcher), &by_signal).1, json!({BANK: [{"bank_content_id": photo_id}]}));
    assert_eq!(
        h.get(Some(&elsewhere), &by_signal).1,
        json!({}),
        "a key scoped to OTHER matches only OTHER"
    );
    assert_eq!(h.get(Some(&seer), &format!("{by_signal}&banks=OTHER")).1, json!({}));
    lookup_until(
        &h,
        &seer,
        "/m/lookup?signal_type=video_md5&signal=d41d8cd98f00b204e9800998ecf8427e",
        &json!({BANK: [{"bank_content_id": md5_id, "distance": "-"}]}),
    );
    let (st, v) = h.upload(&seer, "/m/lookup", "photo", bridge("blur-a-little.jpg"), &[]);
    assert_eq!(st, StatusCode::OK, "{v}");
    let hit = &v["pdq"][BANK][0];
    assert_eq!(hit["bank_content_id"], photo_id, "{v}");
    let d: u32 = hit["distance"].as_str().unwrap().parse().unwrap();
    assert!(d > 0 && d <= 31, "{v}");
    let (_, v) = h.get(Some(&seer), &format!("/m/raw_lookup?signal_type=pdq&signal={pdq}"));
    assert_eq!(v, json!({"matches": [photo_id]}));
    let (_, v) = h.get(
        Some(&seer),
        &format!("/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=true"),
    );
    assert_eq!(v, json!({"matches": [{"bank_content_id": photo_id, "distance": "0"}]}));
    let (st, v) = h.get(
        Some(&matcher),
        &format!("/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=true"),
    );
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(message(&v).contains("--show-distance"), "{v}");
    for (path, says) in [
        ("/m/lookup?signal_type=pdq&signal=abc", "invalid signal: invalid PDQ hash"),
        ("/m/lookup?signal_type=sha1&signal=abc", "No such SignalType 'sha1'"),
        ("/m/lookup?signal_type=pdq", "Either url or both signal and signal_type are required"),
        ("/m/lookup?url=http://127.0.0.1:9/x.jpg", "fetches no media by URL"),
    ] {
        let (st, v) = h.get(Some(&seer), path);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(message(&v).contains(says), "{path}: {v}");
    }
    // The same through a key in the path, for clients that cannot send a header; the key shows
    // in no metric label.
    let (st, v) = h.get(None, &format!("/k/{seer}{by_signal}"));
    assert_eq!(
        (st, v),
        (StatusCode::OK, json!({BANK: [{"bank_content_id": photo_id, "distance": "0"}]}))
    );
    let (st, v) = h.get(None, "/k/spoor_not_a_key/c/banks");
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    message(&v);
    let metrics = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("/hma/k/{key}/m/lookup"), "the route is counted");
    assert!(!metrics.contains(&seer), "a key in the path leaked into /metrics");

    // Compare, index status, types.
    let other = format!("{}{}", &pdq[..63], if pdq.ends_with('0') { "1" } else { "0" });
    let (_, v) = h.json("POST", &seer, "/m/compare", &json!({"pdq": [pdq, other]}));
    let bits = (u8::from_str_radix(&pdq[63..], 16).unwrap()
        ^ u8::from_str_radix(&other[63..], 16).unwrap())
    .count_ones();
    assert_eq!(v, json!({"pdq": [true, {"distance": bits}]}));
    let (st, v) = h.json("POST", &seer, "/m/compare", &json!({"pdq": [pdq]}));
    assert_eq!(
        (st, message(&v)),
        (StatusCode::BAD_REQUEST, "Comparison hash list length must be exactly 2")
    );
    let (_, v) = h.get(Some(&seer), "/m/index/status");
    assert_eq!(
        (v["pdq"]["present"].as_bool(), v["pdq"]["size"].as_u64()),
        (Some(true), Some(1)),
        "{v}"
    );
    assert_eq!(v["video_md5"]["size"], 1, "{v}");
    let (st, _) = h.get(Some(&seer), "/m/index/status?signal_type=tmk");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get(Some(&curator), "/c/signal_type").1,
        json!([{"enabled_ratio": 1.0, "name": "pdq"}, {"enabled_ratio": 1.0, "name": "video_md5"}])
    );
    assert_eq!(
        h.get(Some(&curator), "/c/content_type").1,
        json!([{"enabled": true, "name": "photo"}, {"enabled": true, "name": "video"}])
    );
    let (_, v) = h.get(Some(&curator), "/c/signal_type/index");
    assert_eq!(v["pdq"]["index_size"], 1, "{v}");

    // A false positive disabled the HMA way: matching stops, the note is the recorded reason.
    let content = format!("/c/bank/{BANK}/content/{photo_id}");
    let (st, v) = h.json(
        "PUT",
        &curator,
        &content,
        &json!({"disable_until_ts": 0, "note": "a holiday photo"}),
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["disable_until_ts"], 0, "{v}");
    assert_eq!(v["user_metadata"], json!({"content_id": "src-1"}));
    lookup_until(&h, &seer, &by_signal, &json!({}));
    let (_, log) = s.get(Some(&admin), "/v1/audit?limit=500");
    assert!(log.to_string().contains("a holiday photo"), "the reason is on the record: {log}");
    let (st, v) = h.json("PUT", &curator, &content, &json!({"disable_until_ts": 4102444800u64}));
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).contains("less than 5 years"), "{v}");
    // Disabled until a time: it matches again when the time comes, on its own.
    let (st, _) = h.json("PUT", &curator, &content, &json!({"disable_until_ts": 1}));
    assert_eq!(st, StatusCode::OK);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let until = now + 3;
    let (st, v) = h.json("PUT", &curator, &content, &json!({"disable_until_ts": until}));
    assert_eq!((st, v["disable_until_ts"].as_u64()), (StatusCode::OK, Some(until)), "{v}");
    assert_eq!(h.get(Some(&curator), &content).1["disable_until_ts"].as_u64(), Some(until));
    lookup_until(&h, &seer, &by_signal, &json!({}));
    let matching = json!({BANK: [{"bank_content_id": photo_id, "distance": "0"}]});
    crate::server::until_within(
        "the timed disable ends",
        std::time::Duration::from_secs(10),
        || h.get(Some(&seer), &by_signal).1 == matching,
    );
    assert_eq!(h.get(Some(&curator), &content).1["disable_until_ts"], 1);
    let (_, log) = s.get(Some(&admin), "/v1/audit?limit=500");
    assert!(log.to_string().contains("that time has passed"), "{log}");
    // Disabled for good before the time comes: it stays disabled.
    h.json("PUT", &curator, &content, &json!({"disable_until_ts": now + 2}));
    h.json("PUT", &curator, &content, &json!({"disable_until_ts": 0}));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(h.get(Some(&curator), &content).1["disable_until_ts"], 0);
    let (st, _) = h.json("PUT", &curator, &content, &json!({"disable_until_ts": -1}));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v) = h.json("PUT", &curator, &content, &json!({"disable_until_ts": "1"}));
    assert_eq!((st, v["disable_until_ts"].clone()), (StatusCode::OK, json!(1)));
    lookup_until(
        &h,
        &seer,
        &by_signal,
        &json!({BANK: [{"bank_content_id": photo_id, "distance": "0"}]}),
    );

    // A bank paused and resumed through its ratio; renaming and deleting banks are refused.
    let (_, v) = h.json("PUT", &curator, &format!("/c/bank/{BANK}"), &json!({"enabled_ratio": 0}));
    assert_eq!(v, json!({"matching_enabled_ratio": 0.0, "name": BANK}));
    lookup_until(&h, &seer, &by_signal, &json!({}));
    let (_, v) = h.json("PUT", &curator, &format!("/c/bank/{BANK}"), &json!({"enabled": true}));
    assert_eq!(v["matching_enabled_ratio"], 1.0);
    lookup_until(
        &h,
        &seer,
        &by_signal,
        &json!({BANK: [{"bank_content_id": photo_id, "distance": "0"}]}),
    );
    coin_flips(&h, &s, &curator, &seer, &admin, &pdq, photo_id);
    let (st, v) = h.json("PUT", &curator, &format!("/c/bank/{BANK}"), &json!({"name": "RENAMED"}));
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = h.json("PUT", &curator, "/c/bank/NOPE", &json!({"enabled": true}));
    assert_eq!((st, message(&v)), (StatusCode::NOT_FOUND, "Bank not found"));
    let (st, v) = h.delete(&curator, &format!("/c/bank/{BANK}"));
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(message(&v).contains("Pause it"), "{v}");

    // Deleting content: once, then nothing left to delete.
    assert_eq!(
        h.delete(&curator, &format!("/c/bank/{BANK}/content/{md5_id}")).1,
        json!({"deleted": 1})
    );
    assert_eq!(
        h.delete(&curator, &format!("/c/bank/{BANK}/content/{md5_id}")).1,
        json!({"deleted": 0})
    );
    lookup_until(
        &h,
        &seer,
        "/m/lookup?signal_type=video_md5&signal=d41d8cd98f00b204e9800998ecf8427e",
        &json!({}),
    );

    // Hashing: any key that may hash; a video's MD5 without decoding it.
    let (st, v) = h.upload(&hasher, "/h/hash", "photo", orig, &[]);
    assert_eq!((st, v), (StatusCode::OK, json!({"pdq": pdq})));
    let video = b"not really a video, and HMA does not look".to_vec();
    let md5 = spoor_hash::digest::Digests::of(&video).md5.to_string();
    let (st, v) = h.upload(&hasher, "/h/hash", "video", video, &[]);
    assert_eq!((st, v), (StatusCode::OK, json!({"video_md5": md5})));
    let (st, v) =
        h.upload(&hasher, "/h/hash?types=video_md5", "photo", bridge("aaa-orig.jpg"), &[]);
    assert_eq!(
        (st, message(&v)),
        (StatusCode::BAD_REQUEST, "signal type 'video_md5' doesn't exist or is disabled")
    );
    let (st, v) = h.get(Some(&hasher), "/h/hash?url=http://127.0.0.1:9/x.jpg");
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    s.stop();
}

#[test]
fn hma_clients_work_unchanged_on_sqlite() {
    flow(Store::sqlite());
}

#[test]
fn hma_clients_work_unchanged_on_postgres() {
    if let Some(store) = Store::postgres() {
        flow(store);
    }
}

#[test]
fn hma_routes_move_or_go() {
    let store = Store::sqlite();
    let s = Server::start(&store, &["--hma-prefix", "/compat/"]);
    let h = Hma { s: &s, prefix: "/compat" };
    assert_eq!(h.get(None, "/status").0, StatusCode::OK);
    assert_eq!(s.get(None, "/hma/status").0, StatusCode::NOT_FOUND);
    s.stop();
    let s = Server::start(&store, &["--no-hma"]);
    assert_eq!(s.get(None, "/hma/status").0, StatusCode::NOT_FOUND);
    s.stop();
    let out = store.spoor(&["serve", "--hma-prefix", "/v1", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one of Spoor's own paths"));
}

/// A key in the path appears in no log line, even at the debug level where each request is
/// logged.
#[test]
fn keys_in_paths_stay_out_of_the_log() {
    use std::io::Read as _;
    let store = Store::sqlite();
    let key = store.key("matcher", "m", None);
    let log = store.dir.path().join("serve.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["serve", store.flag, &store.value, "--listen", "127.0.0.1:0"])
        .env("SPOOR_LOG", "debug")
        .env_remove("SPOOR_DATA_DIR")
        .env_remove("SPOOR_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut text = String::new();
    crate::server::until_within("serving", std::time::Duration::from_secs(20), || {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("serving on ")
    });
    let base = text.split("serving on ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let http = reqwest::blocking::Client::new();
    let url =
        format!("{base}/hma/k/{key}/m/lookup?signal_type=video_md5&signal={}", "0".repeat(32));
    assert_eq!(http.get(url).send().unwrap().status(), StatusCode::OK);
    let bad = format!("{base}/hma/k/{key}x/c/banks");
    assert_eq!(http.get(bad).send().unwrap().status(), StatusCode::UNAUTHORIZED);
    crate::server::until("the requests are logged", || {
        std::fs::read_to_string(&log).unwrap().matches("/hma/k/…/").count() >= 4
    });
    let _ = child.kill();
    let _ = child.wait();
    let mut all = String::new();
    std::fs::File::open(&log).unwrap().read_to_string(&mut all).unwrap();
    assert!(all.contains("uri=/hma/k/…/m/lookup"), "{all}");
    assert!(!all.contains(&key[..20]), "the key is in the log:\n{all}");
}

/// `url=` with `--fetch-allow`: names and literals that lead inside are refused before any
/// connection (a listener on 127.0.0.1 counts the connections it gets: none), as are hosts not
/// allowed. What a fetch that is allowed does is tested in `spoor_server::fetch` against a
/// resolver the test controls.
#[test]
fn urls_that_lead_inside_are_refused_before_connecting() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            for c in listener.incoming() {
                if c.is_ok() {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let store = Store::sqlite();
    let key = store.key("admin", "admin", None);
    let s = Server::start(&store, &["--fetch-allow", "localhost,127.0.0.1,::1,media.example"]);
    let h = Hma { s: &s, prefix: "/hma" };
    for (url, says) in [
        (format!("http://localhost:{port}/x.jpg"), "a loopback address: refused before connecting"),
        (format!("http://127.0.0.1:{port}/x.jpg"), "127.0.0.1, a loopback address"),
        (format!("http://[::1]:{port}/x.jpg"), "::1, a loopback address"),
        (format!("http://elsewhere.example:{port}/x.jpg"), "not among the hosts"),
        (format!("ftp://media.example:{port}/x.jpg"), "only http and https"),
    ] {
        for path in [format!("/h/hash?url={url}"), format!("/m/lookup?url={url}")] {
            let (st, v) = h.get(Some(&key), &path);
            assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
            assert!(message(&v).contains("Invalid or unsafe URL provided"), "{path}: {v}");
            assert!(message(&v).contains(says), "{path}: {v}");
        }
    }
    let out = h.json("POST", &key, "/c/banks", &json!({"name": "B"}));
    assert_eq!(out.0, StatusCode::CREATED);
    let (st, v) = Hma::answer(
        s.http.post(h.url(&format!("/c/bank/B/content?url=http://localhost:{port}/x.jpg"))),
        Some(&key),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).contains("loopback"), "{v}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "a refused URL was connected to");
    s.stop();
    let out =
        store.spoor(&["serve", "--fetch-allow", "http://x.example/", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not URLs"), "{out:?}");
}
