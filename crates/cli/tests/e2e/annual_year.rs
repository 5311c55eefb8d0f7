//! A year of a provider's activity replayed through the real service and CLI on both stores,
//! on a clock the test sets (`spoor serve --clock-start`: one run of the service a month, and
//! one in the next January): cases matched by MD5 and by PDQ in every distance band, confirmed
//! by the banks' rules, by people and by earlier decisions; false positives in review and on
//! complaint; complaints upheld, overturned and left open; reports to a test NCMEC and a test
//! EU Centre; lookups; retention applied between the months. `spoor reports annual` is then
//! checked number by number against what the test counted itself, in JSON, HTML and PDF, and
//! what was decided after the year's end changes none of its figures.
//!
//! Only 127.0.0.1 is connected to.

use crate::receivers;
use crate::server;
use crate::web;
use crate::world;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use receivers::{EuCentre, Ncmec, Recorder};
use server::{until_within, Server, Store};
use world::{world, World, PASSWORD, USER};

/// Cases made in month `m` (1 to 12): 2,220 in the year, and the resubmissions among them.
fn cases_in(m: u32) -> u32 {
    120 + 10 * m
}

/// Complaints filed a month.
const COMPLAINTS_A_MONTH: usize = 6;

/// SplitMix64: the same year on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn hex(&mut self, bytes: usize) -> String {
        (0..bytes / 8).map(|_| format!("{:016x}", self.next())).collect()
    }

    /// `hex` with `bits` distinct bits flipped.
    fn flip(&mut self, hex: &str, bits: u32) -> String {
        let mut v: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let mut done = std::collections::HashSet::new();
        while done.len() < bits as usize {
            let b = (self.next() % (v.len() as u64 * 8)) as usize;
            if done.insert(b) {
                v[b / 8] ^= 1 << (b % 8);
            }
        }
        v.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where a case stood at the end of the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stood {
    Open,
    Confirmed,
    FalsePositiveReview,
    FalsePositiveComplaint,
}

/// What a reviewer will decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Confirm,
    FalsePositive,
    Never,
}

#[derive(Debug, Clone)]
struct Case {
    id: i64,
    month: u32,
    technology: String,
    signals: Value,
    entry: i64,
    /// `auto`, `review` or `earlier`, once decided within the year.
    resolution: Option<&'static str>,
    stood: Stood,
    fate: Fate,
    /// Confirmed in the year (so reported to both recipients within it).
    reported: bool,
    /// From its making to its decision by people, within the year.
    to_decision_ms: Option<i64>,
    /// Taken for a complaint or as the content of a resubmission: not taken again.
    used: bool,
}

#[derive(Debug, Default)]
struct Complaints {
    filed: u64,
    upheld: u64,
    overturned: u64,
    open: u64,
}

struct Year {
    year: i32,
    w: World,
    rng: Rng,
    cases: Vec<Case>,
    /// Cases waiting for a reviewer (their index in `cases`).
    review: Vec<usize>,
    /// Complaints waiting for a decision: (complaint id, case index).
    complaints_open: Vec<(i64, usize)>,
    complaints: Complaints,
    lookups: BTreeMap<String, u64>,
    /// Unused banked MD5s and PDQ hashes of the review bank and the rules bank.
    known_md5: Vec<(String, i64)>,
    auto_md5: Vec<(String, i64)>,
    known_pdq: Vec<(String, i64)>,
    /// Confirmed within the year so far (each reported to both recipients).
    reported: u64,
    /// Reports the receivers had taken at the end of December.
    taken_in_year: (u64, u64),
}

fn ms(t: &Value) -> i64 {
    spoor_bank::model::parse_time(t.as_str().unwrap()).unwrap()
}

fn band(d: u32) -> &'static str {
    spoor_bank::statistics::lookup_technology("pdq", Some(d))
}

impl Year {
    fn count(&mut self, technology: &str) {
        *self.lookups.entry(technology.to_string()).or_default() += 1;
    }

    /// Banks: KNOWN (review required) with MD5s and PDQ hashes, AUTO (known material, decided
    /// by the rules) with MD5s; enough for every case of the year, each its own entry.
    fn banks(&mut self, s: &Server) {
        let admin = self.w.admin.clone();
        for (name, review) in [("KNOWN", true), ("AUTO", false)] {
            let mut bank = json!({"name": name, "review_required": review});
            if !review {
                bank["auto_confirm_distance"] = json!(0);
            }
            let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &bank);
            assert_eq!(st, StatusCode::CREATED, "{v}");
        }
        let add = |s: &Server, bank: &str, kind: &str, values: Vec<String>| {
            let mut out = Vec::new();
            for chunk in values.chunks(500) {
                let entries: Vec<Value> = chunk
                    .iter()
                    .map(|v| {
                        json!({"signal_type": kind, "value": v, "category": "baseline",
                            "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"})
                    })
                    .collect();
                let (st, r) = s.send(
                    "POST",
                    Some(&admin),
                    &format!("/v1/banks/{bank}/entries"),
                    &json!({"entries": entries}),
                );
                assert_eq!(st, StatusCode::OK, "{r}");
                let ids = r["results"].as_array().expect("one result per entry");
                assert_eq!(ids.len(), chunk.len(), "{r}");
                out.extend(
                    chunk.iter().cloned().zip(ids.iter().map(|e| e["id"].as_i64().unwrap())),
                );
            }
            out
        };
        let md5s: Vec<String> = (0..1400).map(|_| self.rng.hex(16)).collect();
        let autos: Vec<String> = (0..900).map(|_| self.rng.hex(16)).collect();
        let pdqs: Vec<String> = (0..700).map(|_| self.rng.hex(32)).collect();
        self.known_md5 = add(s, "KNOWN", "md5", md5s);
        self.auto_md5 = add(s, "AUTO", "md5", autos);
        self.known_pdq = add(s, "KNOWN", "pdq", pdqs);
        let want = (self.known_md5.len() + self.auto_md5.len(), self.known_pdq.len());
        until_within("every entry in the index", Duration::from_secs(30), || {
            let m = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
            let g = |name: &str| -> usize {
                m.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .unwrap_or(0.0) as usize
            };
            (g("spoor_index_exact_entries"), g("spoor_index_pdq_entries")) == want
        });
    }

    /// Makes one case with `signals`; returns the answer's case.
    fn submit(&mut self, s: &Server, n: usize, signals: &Value) -> Value {
        let body = json!({"meta": {"reason": "match", "service": "photos",
            "content_ref": format!("https://photos.example/{}/item-{n}", self.year),
            "uploader_ref": format!("user-{n}")},
            "signals": signals});
        let (st, v) = s.send("POST", Some(&self.w.hoster), "/v1/cases", &body);
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["case"].clone()
    }

    /// The cases of month `m`.
    fn make_cases(&mut self, s: &Server, m: u32) {
        for i in 0..cases_in(m) {
            let n = self.cases.len();
            let sha256 = self.rng.hex(32);
            // One in ten resubmits content decided before (when there is some).
            let source = (i % 10 == 9)
                .then(|| {
                    self.cases.iter().position(|c| {
                        !c.used
                            && c.resolution == Some("review")
                            && c.stood == Stood::Confirmed
                            && c.technology == "md5"
                    })
                })
                .flatten();
            let (signals, technology, entry, kind) = if let Some(k) = source {
                self.cases[k].used = true;
                let c = &self.cases[k];
                (c.signals.clone(), "md5".to_string(), c.entry, "earlier")
            } else {
                match i % 10 {
                    0..=2 | 9 => {
                        let (md5, entry) = self.auto_md5.pop().unwrap();
                        (json!({"md5": md5, "sha256": sha256}), "md5".into(), entry, "auto")
                    }
                    3..=6 => {
                        let (md5, entry) = self.known_md5.pop().unwrap();
                        (json!({"md5": md5, "sha256": sha256}), "md5".into(), entry, "review")
                    }
                    _ => {
                        let (pdq, entry) = self.known_pdq.pop().unwrap();
                        let d = [0, 6, 15, 27][(i / 10 % 4) as usize];
                        let q = self.rng.flip(&pdq, d);
                        (json!({"pdq": q, "sha256": sha256}), band(d).into(), entry, "review")
                    }
                }
            };
            let c = self.submit(s, n, &signals);
            self.count(&technology);
            self.count("sha256");
            let matched: Vec<i64> = c["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["entry_id"].as_i64().unwrap())
                .collect();
            assert_eq!(matched, [entry], "{c}");
            let fate = match self.rng.next() % 20 {
                0..=1 => Fate::FalsePositive,
                2 => Fate::Never,
                _ => Fate::Confirm,
            };
            let mut case = Case {
                id: c["id"].as_i64().unwrap(),
                month: m,
                technology,
                signals,
                entry,
                resolution: None,
                stood: Stood::Open,
                fate,
                reported: false,
                to_decision_ms: None,
                used: false,
            };
            match kind {
                "review" => {
                    assert_eq!(c["state"], "queued", "{c}");
                    self.review.push(n);
                }
                other => {
                    assert_eq!(
                        (c["state"].as_str(), c["resolution"].as_str()),
                        (Some("confirmed"), Some(other)),
                        "{c}"
                    );
                    case.resolution = Some(if other == "auto" { "auto" } else { "earlier" });
                    case.stood = Stood::Confirmed;
                    case.reported = true;
                    case.used = other == "earlier";
                    self.reported += 1;
                }
            }
            self.cases.push(case);
        }
    }

    /// Decides the waiting cases (as their fate says); within the year or after it.
    fn review(&mut self, s: &Server, in_year: bool, only: Option<usize>) {
        let waiting = std::mem::take(&mut self.review);
        let cut = only.unwrap_or(waiting.len()).min(waiting.len());
        let (now, later) = waiting.split_at(cut);
        self.review = later.to_vec();
        for &k in now {
            let c = &self.cases[k];
            let body = match c.fate {
                Fate::Never => {
                    self.review.push(k);
                    continue;
                }
                Fate::Confirm => json!({"verdict": "confirm", "category": "baseline"}),
                Fate::FalsePositive => json!({"verdict": "false_positive", "entry_id": c.entry}),
            };
            let (st, v) =
                s.send("POST", Some(&self.w.rita), &format!("/v1/cases/{}/decision", c.id), &body);
            assert_eq!(st, StatusCode::OK, "{v}");
            if !in_year {
                continue;
            }
            let c = &mut self.cases[k];
            c.resolution = Some("review");
            c.to_decision_ms = Some(ms(&v["decided_at"]) - ms(&v["created_at"]));
            if c.fate == Fate::Confirm {
                assert_eq!(v["state"], "confirmed", "{v}");
                c.stood = Stood::Confirmed;
                c.reported = true;
                self.reported += 1;
            } else {
                assert_eq!(v["state"], "false_positive", "{v}");
                c.stood = Stood::FalsePositiveReview;
            }
        }
    }

    /// Complaints about confirmed cases not taken for anything else.
    fn complain(&mut self, s: &Server) {
        let mut picked = 0;
        for k in 0..self.cases.len() {
            if picked == COMPLAINTS_A_MONTH {
                break;
            }
            let c = &self.cases[k];
            if c.used || c.stood != Stood::Confirmed || c.resolution == Some("earlier") {
                continue;
            }
            let body = json!({"case_id": c.id, "complainant": format!("user-{k}"),
                "text": "This is my own picture."});
            let (st, v) = s.send("POST", Some(&self.w.hoster), "/v1/complaints", &body);
            assert_eq!(st, StatusCode::CREATED, "{v}");
            self.cases[k].used = true;
            self.complaints_open.push((v["id"].as_i64().unwrap(), k));
            self.complaints.filed += 1;
            self.complaints.open += 1;
            picked += 1;
        }
        assert_eq!(picked, COMPLAINTS_A_MONTH, "enough confirmed cases to complain about");
    }

    /// Decides the waiting complaints: every other one overturned.
    fn decide_complaints(&mut self, s: &Server, in_year: bool) {
        for (j, (id, k)) in std::mem::take(&mut self.complaints_open).into_iter().enumerate() {
            let overturn = j % 2 == 1;
            let body = if overturn {
                json!({"outcome": "overturned", "reason": "A landscape.", "entry_id": self.cases[k].entry})
            } else {
                json!({"outcome": "upheld", "reason": "Known material."})
            };
            let (st, v) =
                s.send("POST", Some(&self.w.sam), &format!("/v1/complaints/{id}/decision"), &body);
            assert_eq!(st, StatusCode::OK, "{v}");
            if !in_year {
                continue;
            }
            self.complaints.open -= 1;
            if overturn {
                self.complaints.overturned += 1;
                self.cases[k].stood = Stood::FalsePositiveComplaint;
            } else {
                self.complaints.upheld += 1;
            }
        }
    }

    /// A batch of lookups by another service: banked digests and hashes in every band, and
    /// signals found nowhere.
    fn look_up(&mut self, s: &Server) {
        let mut signals = Vec::new();
        for _ in 0..4 {
            let (md5, _) = self.auto_md5.pop().unwrap();
            signals.push(json!({"signal_type": "md5", "value": md5}));
            signals.push(json!({"signal_type": "md5", "value": self.rng.hex(16)}));
            self.count("md5");
            self.count("md5");
        }
        for d in [0, 4, 12, 22, 31] {
            let (pdq, _) = self.known_pdq.pop().unwrap();
            signals.push(json!({"signal_type": "pdq", "value": self.rng.flip(&pdq, d)}));
            self.count(band(d));
        }
        for _ in 0..3 {
            signals.push(json!({"signal_type": "pdq", "value": self.rng.hex(32)}));
            self.count("pdq:none");
            signals
                .push(json!({"signal_type": "sha1", "value": self.rng.hex(24)[..40].to_string()}));
            self.count("sha1");
        }
        let (st, v) =
            s.send("POST", Some(&self.w.other), "/v1/match", &json!({"signals": signals}));
        assert_eq!(st, StatusCode::OK, "{v}");
    }

    /// Waits until both receivers took a report of every case confirmed so far.
    fn delivered(&self, ncmec: &Ncmec, eu: &EuCentre) -> (u64, u64) {
        let taken = || {
            let n = ncmec.with(|st| st.reports.values().filter(|r| r.finished).count()) as u64;
            let e = eu.with(|st| {
                st.by_key
                    .values()
                    .filter(|v| {
                        serde_json::from_str::<Value>(&v[0].0)
                            .is_ok_and(|d| d["kind"] != "reversed_on_complaint")
                    })
                    .count()
            }) as u64;
            (n, e)
        };
        until_within("every report taken", Duration::from_secs(120), || {
            taken() == (self.reported, self.reported)
        });
        taken()
    }

    /// One run of the service in month `m` (13: the next January).
    fn month(&mut self, m: u32, ncmec: &Ncmec, eu: &EuCentre) {
        let (y, mm) = if m == 13 { (self.year + 1, 1) } else { (self.year, m) };
        let day = 1 + (m * 7) % 27;
        let at = format!("{y:04}-{mm:02}-{day:02}T09:00:00Z");
        let mut flags: Vec<&str> = self.w.flags.iter().map(String::as_str).collect();
        flags.extend(["--clock-start", &at]);
        let s = Server::start(&self.w.store, &flags);
        if m == 1 {
            self.banks(&s);
        }
        let in_year = m <= 12;
        self.review(&s, in_year, None);
        self.decide_complaints(&s, in_year);
        if in_year {
            self.make_cases(&s, m);
            if m == 12 {
                // Half of December's are decided within it, the rest in January.
                let half = self.review.len() / 2;
                self.review(&s, true, Some(half));
            }
            self.complain(&s);
            self.look_up(&s);
            let taken = self.delivered(ncmec, eu);
            if m == 12 {
                self.taken_in_year = taken;
            }
        }
        s.stop();
        // Retention as at a day later, between the runs: it erases personal data, never a
        // count.
        let next = format!("{y:04}-{mm:02}-{:02}T09:00:00Z", day + 1);
        let out = self.w.store.spoor(&[
            "retention",
            "run",
            "--retention",
            self.w.store.dir.path().join("retention.toml").to_str().unwrap(),
            "--now",
            &next,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The 95 % Wilson score interval, as a statistician would compute it by hand.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n, p) = (1.959_963_984_540_054_f64, n as f64, k as f64 / n as f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

fn a_year(store: Store) {
    let (ncmec, eu, hook) = (Ncmec::start(USER, PASSWORD), EuCentre::start(), Recorder::start());
    let w = world(store, &ncmec, &eu, &hook, "60d");
    // The year after this one: the service's clock may only move forward past the records
    // the keys' creation just made.
    let this: i32 =
        spoor_bank::model::format_time(spoor_bank::model::now_ms())[..4].parse().unwrap();
    let dir = w.store.dir.path().to_path_buf();
    std::fs::write(
        dir.join("retention.toml"),
        "[retention]\ncase_personal_days = 90\ncomplaint_days = 60\nreport_document_days = 30\n\
         outbox_days = 7\nmedia_days = 30\n",
    )
    .unwrap();
    let mut y = Year {
        year: this + 1,
        w,
        rng: Rng(0x5eed_2027),
        cases: Vec::new(),
        review: Vec::new(),
        complaints_open: Vec::new(),
        complaints: Complaints::default(),
        lookups: BTreeMap::new(),
        known_md5: Vec::new(),
        auto_md5: Vec::new(),
        known_pdq: Vec::new(),
        reported: 0,
        taken_in_year: (0, 0),
    };
    let started = std::time::Instant::now();
    for m in 1..=13 {
        y.month(m, &ncmec, &eu);
    }
    eprintln!("a year of {} cases replayed in {:?}", y.cases.len(), started.elapsed());
    // The clock cannot be set back behind the records.
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["serve", y.w.store.flag, &y.w.store.value, "--listen", "127.0.0.1:0"])
        .args(["--clock-start", &format!("{}-06-01T00:00:00Z", y.year)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    until_within("serve refuses a clock set back", Duration::from_secs(20), || {
        serve.try_wait().unwrap().is_some()
    });
    let out = serve.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("only") && err.contains("forward"), "{err}");

    let year = y.year.to_string();
    let deployment = dir.join("deployment.toml");
    std::fs::write(
        &deployment,
        "[annual]\nprovider = \"Example Hosting B.V.\"\ngdpr_ground = \"Art. 6(1)(e) GDPR\"\n\
         transfer_ground = \"Art. 49(1)(d) GDPR\"\norganisations = [\"Offlimits\"]\n",
    )
    .unwrap();
    let retention = dir.join("retention.toml");
    let common_args = [
        "--year",
        &year,
        "--deployment",
        deployment.to_str().unwrap(),
        "--retention",
        retention.to_str().unwrap(),
    ];
    let mut args = vec!["reports", "annual"];
    args.extend(common_args);
    let out = y.w.store.spoor(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_json(&y, &a);
    let html_path = dir.join("annual.html");
    let mut args =
        vec!["reports", "annual", "--format", "html", "--out", html_path.to_str().unwrap()];
    args.extend(common_args);
    let out = y.w.store.spoor(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_text(&std::fs::read_to_string(&html_path).unwrap(), &a, "HTML");
    let pdf_path = dir.join("annual.pdf");
    let mut args =
        vec!["reports", "annual", "--format", "pdf", "--out", pdf_path.to_str().unwrap()];
    args.extend(common_args);
    let out = y.w.store.spoor(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", pdf_path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (Debian poppler-utils; scripts/test.sh installs it)");
    assert!(text.status.success());
    check_text(&String::from_utf8_lossy(&text.stdout), &a, "PDF");
    // Made again, it says the same (but for when it was made).
    let mut args = vec!["reports", "annual"];
    args.extend(common_args);
    let again: Value = serde_json::from_slice(&y.w.store.spoor(&args).stdout).unwrap();
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["generated_at"] = Value::Null;
        v
    };
    assert_eq!(strip(&again), strip(&a));
    console(&y, &a, &[deployment.to_str().unwrap(), retention.to_str().unwrap()]);
    let out = y.w.store.spoor(&["audit", "log", "--action", "annual_report", "--limit", "100"]);
    let formats: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["details"]["format"].to_string())
        .collect();
    assert_eq!(
        formats,
        ["json", "html", "pdf", "json", "console", "json", "html"].map(|f| format!("\"{f}\"")),
        "each report made is recorded"
    );
}

/// The console shows the same report to an auditor and gives it as JSON and as a document;
/// people who do not read statistics see none of it; a bad year or format is refused.
fn console(y: &Year, a: &Value, files: &[&str; 2]) {
    let year = y.year;
    // On the system's clock the year is still to come: shown as the records stand, and said.
    let s = Server::start(&y.w.store, &["--deployment", files[0], "--retention", files[1]]);
    let (mut audrey, _) = web::logged_in(&y.w.store, &s, "audrey", "auditor");
    let page = audrey.get(&format!("/statistics/annual?year={year}"));
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    check_text(&page.body, a, "console");
    assert!(page.body.contains("id=\"annual-not-over\""), "the year is not over on this clock");
    assert!(!page.body.contains("<style"), "the console's one stylesheet (CSP)");
    let (st, ctype, bytes) =
        audrey.get_bytes(&format!("/statistics/annual/download?format=json&year={year}"));
    assert_eq!((st, ctype.as_str()), (StatusCode::OK, "application/json"));
    let mut got: Value = serde_json::from_slice(&bytes).unwrap();
    got["generated_at"] = Value::Null;
    let mut want = a.clone();
    want["generated_at"] = Value::Null;
    assert_eq!(got, want, "the console's report is the command's");
    let (st, ctype, bytes) =
        audrey.get_bytes(&format!("/statistics/annual/download?format=html&year={year}"));
    assert_eq!((st, ctype.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    check_text(&String::from_utf8(bytes).unwrap(), a, "downloaded document");
    for (path, says) in [
        ("/statistics/annual?year=1969".to_string(), "is not a year to report on"),
        ("/statistics/annual?year=%3Cb%3E".to_string(), "&lt;b&gt; is not a year"),
        (format!("/statistics/annual/download?format=xls&year={year}"), "is not a format"),
    ] {
        let r = audrey.get(&path);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(r.body.contains(says), "{path}: {}", r.body);
    }
    let (mut rev, _) = web::logged_in(&y.w.store, &s, "reviewer1", "reviewer");
    assert_eq!(rev.get(&format!("/statistics/annual?year={year}")).status, StatusCode::FORBIDDEN);
    s.stop();
}

/// Every figure of the JSON report against the test's own counts.
fn check_json(y: &Year, a: &Value) {
    let in_year: Vec<&Case> = y.cases.iter().collect();
    let count = |f: &dyn Fn(&Case) -> bool| in_year.iter().filter(|c| f(c)).count() as u64;
    let made = in_year.len() as u64;
    let confirmed = count(&|c| c.stood == Stood::Confirmed);
    let fp_review = count(&|c| c.stood == Stood::FalsePositiveReview);
    let fp_complaint = count(&|c| c.stood == Stood::FalsePositiveComplaint);
    let open = count(&|c| c.stood == Stood::Open);
    assert_eq!(made, confirmed + fp_review + fp_complaint + open);
    assert!(open > 0 && fp_review > 0 && fp_complaint > 0, "every kind happens");
    let dp = &a["data_processed"];
    assert_eq!(dp["cases_made"].as_u64(), Some(made));
    assert_eq!(dp["content_held"].as_u64(), Some(0), "signals only");
    // Counting began with the first run of the service, on 8 January: said so, not filled in.
    assert_eq!(dp["lookups_from"], format!("{}-01-08", y.year));
    let lookups: BTreeMap<String, u64> = dp["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_string(), l["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(lookups, y.lookups, "lookups per technology");
    assert_eq!(a["gdpr_ground"], "Art. 6(1)(e) GDPR");
    assert_eq!(a["transfer_ground"], "Art. 49(1)(d) GDPR");
    // Item 4.
    let c = &a["cases"];
    assert_eq!(c["abuse_material"].as_u64(), Some(confirmed));
    assert_eq!(c["solicitation"].as_u64(), Some(0));
    assert_eq!(c["made"].as_u64(), Some(made));
    assert_eq!(c["open"].as_u64(), Some(open));
    let per_month: Vec<u64> =
        (1..=12).map(|m| in_year.iter().filter(|c| c.month == m).count() as u64).collect();
    assert_eq!(c["per_month"], json!(per_month));
    let mut techs: BTreeMap<String, [u64; 7]> = BTreeMap::new();
    for k in &in_year {
        let t = techs.entry(k.technology.clone()).or_default();
        t[0] += 1;
        t[1] += u64::from(k.stood == Stood::Confirmed);
        t[2] += u64::from(k.resolution == Some("auto"));
        t[3] += u64::from(k.resolution == Some("review"));
        t[4] += u64::from(k.resolution == Some("earlier"));
        t[5] += u64::from(k.stood == Stood::FalsePositiveReview);
        t[6] += u64::from(k.stood == Stood::FalsePositiveComplaint);
    }
    assert_eq!(techs.len(), 5, "md5 and the four PDQ bands: {techs:?}");
    let by_tech = c["by_technology"].as_array().unwrap();
    assert_eq!(by_tech.len(), techs.len(), "{by_tech:?}");
    for (t, n) in &techs {
        let r = by_tech.iter().find(|r| r["technology"] == t.as_str()).unwrap();
        let got: Vec<u64> = ["made", "confirmed", "auto", "reviewed", "earlier"]
            .iter()
            .map(|f| r[*f].as_u64().unwrap())
            .collect();
        assert_eq!(got, n[..5], "{t}");
    }
    // Item 5.
    let k = &a["complaints"];
    let want = &y.complaints;
    assert_eq!(
        [&k["filed"], &k["upheld"], &k["overturned"], &k["open"]].map(|v| v.as_u64().unwrap()),
        [want.filed, want.upheld, want.overturned, want.open]
    );
    assert!(want.open > 0 && want.upheld > 0 && want.overturned > 0);
    assert_eq!(want.filed, fp_complaint + want.upheld + want.open, "one overturn, one reversal");
    // Item 6: each technology's error rate and interval.
    let errors = a["errors"].as_array().unwrap();
    assert_eq!(errors.len(), techs.len());
    for (t, n) in &techs {
        let e = errors.iter().find(|e| e["technology"] == t.as_str()).unwrap();
        let (fp, decisions) = (n[5] + n[6], n[1] + n[5] + n[6]);
        assert_eq!(e["decisions"].as_u64(), Some(decisions), "{t}");
        assert_eq!(e["false_positives"].as_u64(), Some(fp), "{t}");
        assert_eq!(e["on_complaint"].as_u64(), Some(n[6]), "{t}");
        assert!(close(&e["ratio"], fp as f64 / decisions as f64), "{t}: {e}");
        let (lo, hi) = wilson(fp, decisions);
        assert!(close(&e["ci_low"], lo) && close(&e["ci_high"], hi), "{t}: {e} vs {lo} {hi}");
    }
    // Item 7: over all decisions, each case once; the median time to a decision by people.
    let all = &a["error_limits"]["achieved"];
    let (fp, decisions) = (fp_review + fp_complaint, confirmed + fp_review + fp_complaint);
    assert_eq!(
        (all["decisions"].as_u64(), all["false_positives"].as_u64()),
        (Some(decisions), Some(fp))
    );
    assert_eq!(all["on_complaint"].as_u64(), Some(fp_complaint));
    let (lo, hi) = wilson(fp, decisions);
    assert!(close(&all["ci_low"], lo) && close(&all["ci_high"], hi), "{all}");
    let mut times: Vec<i64> = in_year.iter().filter_map(|c| c.to_decision_ms).collect();
    times.sort_unstable();
    let median = times[(times.len() as f64 * 0.5).ceil() as usize - 1];
    assert!(close(&a["error_limits"]["decision_median_s"], median as f64 / 1000.0));
    assert!(median > 20 * 86_400_000, "decided in the next month's run: {median} ms");
    // Item 8: the policy in force.
    let periods: BTreeMap<&str, u64> = a["retention"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        periods,
        BTreeMap::from([
            ("case_personal_days", 90),
            ("complaint_days", 60),
            ("report_document_days", 30),
            ("outbox_days", 7),
            ("media_days", 30)
        ])
    );
    // Item 9: what each receiver took within the year, and what the test expected it to.
    assert_eq!(y.taken_in_year, (y.reported_in_year(), y.reported_in_year()));
    let orgs: BTreeMap<&str, u64> = a["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(orgs.len(), 3, "{orgs:?}");
    let took = |name: &str| orgs.iter().find(|(k, _)| k.contains(name)).map(|(_, v)| *v);
    assert_eq!(took("NCMEC"), Some(y.taken_in_year.0));
    assert_eq!(took("EU Centre"), Some(y.taken_in_year.1));
    assert_eq!(took("Offlimits"), Some(0));
    // The annex: no removal orders exist yet.
    assert_eq!(a["csa_annex"]["removal_orders"], 0);
    assert!(a["csa_annex"]["average_time_to_act_s"].is_null());
    let missing = a["not_recorded"].to_string();
    assert!(!missing.contains("GDPR ground"), "{missing}");
    assert!(missing.contains(&format!("lookups before {}-01-08", y.year)), "{missing}");
}

impl Year {
    /// Cases confirmed within the year, each reported once to each recipient.
    fn reported_in_year(&self) -> u64 {
        self.cases.iter().filter(|c| c.reported).count() as u64
    }
}

/// The HTML or the PDF's text shows the JSON's numbers.
fn check_text(text: &str, a: &Value, what: &str) {
    // Numbers, with the labels that precede them on their line or in their row.
    let flat: String = {
        let no_tags = regex_lite_strip(text);
        no_tags.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // The label then the figure; in the PDF a long label may wrap in its cell, its last
    // words then coming after the figure on the page's next line.
    let has = |label: &str, n: &dyn std::fmt::Display| {
        let words: Vec<&str> = label.split_whitespace().collect();
        let found = (1..=words.len()).rev().any(|i| {
            let want = format!("{} {n} {}", words[..i].join(" "), words[i..].join(" "));
            flat.contains(want.trim_end())
        });
        assert!(found, "{what}: {label:?} then {n} not in\n{flat}");
    };
    let dp = &a["data_processed"];
    has("Cases made", &dp["cases_made"]);
    has("Of which content held for review", &dp["content_held"]);
    for l in dp["lookups"].as_array().unwrap() {
        has(&format!("Lookups, {}", l["name"].as_str().unwrap()), &l["count"]);
    }
    has("Child sexual abuse material (confirmed cases)", &a["cases"]["abuse_material"]);
    has("Solicitation of children", &a["cases"]["solicitation"]);
    has("Not decided at the end of the year", &a["cases"]["open"]);
    for t in a["cases"]["by_technology"].as_array().unwrap() {
        let row = ["made", "confirmed", "auto", "reviewed", "earlier"]
            .iter()
            .map(|f| t[*f].to_string())
            .collect::<Vec<_>>()
            .join(" ");
        has(t["technology"].as_str().unwrap(), &row);
    }
    let k = &a["complaints"];
    has("Filed", &k["filed"]);
    has("Upheld", &k["upheld"]);
    has("Overturned (content restored)", &k["overturned"]);
    has("Open at the end of the year", &k["open"]);
    for e in a["errors"].as_array().unwrap() {
        let row = format!(
            "{} {} {} {:.2} %", // the space before % does not break (split as whitespace)
            e["decisions"],
            e["false_positives"],
            e["on_complaint"],
            e["ratio"].as_f64().unwrap() * 100.0
        );
        has(e["technology"].as_str().unwrap(), &row);
    }
    let all = &a["error_limits"]["achieved"];
    let achieved =
        format!("{} false positives in {} decisions", all["false_positives"], all["decisions"]);
    assert!(flat.contains(&achieved), "{what}: {achieved:?}");
    for p in a["retention"]["periods"].as_array().unwrap() {
        has(p["name"].as_str().unwrap(), &format!("{} days", p["count"]));
    }
    for o in a["organisations"].as_array().unwrap() {
        has(o["name"].as_str().unwrap(), &format!("{} reports", o["count"]));
    }
    has("Removal orders received", &a["csa_annex"]["removal_orders"]);
    // Every month's bar is labelled with its number.
    let months =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    for (m, n) in months.iter().zip(a["cases"]["per_month"].as_array().unwrap()) {
        assert!(flat.contains(&n.to_string()) && flat.contains(m), "{what}: {m} {n}");
    }
}

/// Text without its HTML tags and with its few entities read (the PDF's text has none).
fn regex_lite_strip(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
}

#[test]
fn a_year_on_sqlite_is_reported_as_it_happened() {
    a_year(Store::sqlite());
}

#[test]
fn a_year_on_postgres_is_reported_as_it_happened() {
    if let Some(store) = Store::postgres() {
        a_year(store);
    }
}
