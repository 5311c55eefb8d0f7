//! `spoor bank` end to end: the real binary, on the embedded SQLite store and on a real
//! PostgreSQL (the server named by `SPOOR_TEST_DATABASE_URL`, which the test command starts).

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Where a test's store is: the flag that names it.
struct StoreFlag {
    flag: String,
    value: String,
    _dir: tempfile::TempDir,
}

impl StoreFlag {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        StoreFlag {
            flag: "--data-dir".into(),
            value: dir.path().join("data").display().to_string(),
            _dir: dir,
        }
    }

    fn postgres() -> Option<Self> {
        Some(StoreFlag {
            flag: "--database-url".into(),
            value: common::postgres_url("cli")?,
            _dir: tempfile::tempdir().unwrap(),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spoor"));
        c.arg("bank").arg(&self.flag).arg(&self.value).args(args);
        c.env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_DATABASE_URL")
            .env("SPOOR_ACTOR", "tester");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "spoor bank {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn workflow(s: StoreFlag) {
    let dir = tempfile::tempdir().unwrap();
    let hs = common::hex_hashes(200, 1);
    let list = dir.path().join("list.txt");
    let mut text: String = hs.iter().map(|h| format!("{h}\n")).collect();
    text.push_str("nothex\n");
    write(&list, &text);

    s.ok(&["create", "HOTLINE_NL", "--description", "assessed images", "--owner", "Hotline"]);
    let dup = s.run(&["create", "HOTLINE_NL"]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("exists already"));

    // Import: one bad line is reported with its number, the rest goes in; exit 2.
    let out = s.run(&["import", "HOTLINE_NL", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("list.txt:201: rejected"), "{err}");
    let summary = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!((summary["added"].as_u64(), summary["rejected"].as_u64()), (Some(200), Some(1)));
    // Again: nothing new.
    let out = s.run(&["import", "HOTLINE_NL", list.to_str().unwrap()]);
    let summary = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(
        (summary["added"].as_u64(), summary["already_present"].as_u64()),
        (Some(0), Some(200))
    );

    let stats = json(&s.ok(&["stats", "HOTLINE_NL"]));
    assert_eq!(stats["entries"], 200);
    assert_eq!(stats["by_signal_type"]["pdq"], 200);
    assert!(s.ok(&["list"]).contains("HOTLINE_NL"));

    // Export jsonl, import into another store: the same bank.
    let export = s.ok(&["export", "HOTLINE_NL"]);
    assert_eq!(export.lines().count(), 200);
    let first = json(export.lines().next().unwrap());
    assert_eq!(first["signal_type"], "pdq");
    assert_eq!(first["value"], hs[0].as_str());
    assert_eq!(first["added_by"], "tester");
    let id = first["id"].as_i64().unwrap().to_string();

    // Disable one entry with a reason: one change-log record, and it leaves the lines export.
    let before =
        json(s.ok(&["log", "HOTLINE_NL"]).lines().last().unwrap())["seq"].as_i64().unwrap();
    let change = json(&s.ok(&["disable", "HOTLINE_NL", &id, "--reason", "stock photo"]));
    assert_eq!(change["action"], "disable");
    let log = s.ok(&["log", "HOTLINE_NL", "--since", &before.to_string()]);
    assert_eq!(log.lines().count(), 1, "{log}");
    assert_eq!(json(log.trim())["reason"], "stock photo");
    let no_reason = s.run(&["enable", "HOTLINE_NL", &id, "--reason", " "]);
    assert_eq!(no_reason.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_reason.stderr).contains("reason is required"));

    let id1 = json(export.lines().nth(1).unwrap())["id"].as_i64().unwrap().to_string();
    let upd = json(&s.ok(&[
        "update",
        "HOTLINE_NL",
        &id1,
        "--category",
        "baseline",
        "--severity",
        "A",
        "--tags",
        "series:x",
        "--reason",
        "assessed",
    ]));
    assert_eq!(upd["action"], "update");
    let bad = s.run(&["update", "HOTLINE_NL", &id1, "--category", "awful", "--reason", "x"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown category"));

    let lines = s.ok(&["export", "HOTLINE_NL", "--format", "lines"]);
    assert_eq!(lines.lines().count(), 199);
    assert!(!lines.contains(&hs[0]));
    // `spoor match` against the exported list no longer matches the disabled hash.
    let against = dir.path().join("against.txt");
    write(&against, &lines);
    let queries = dir.path().join("q.txt");
    write(&queries, &format!("{}\n{}\n", hs[0], hs[1]));
    let m = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args([
            "match",
            "--radius",
            "0",
            "--against",
            against.to_str().unwrap(),
            queries.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let m = String::from_utf8(m.stdout).unwrap();
    let m: Vec<_> = m.lines().map(json).collect();
    assert_eq!(m[0]["matches"].as_array().unwrap().len(), 0);
    assert_eq!(m[1]["matches"].as_array().unwrap().len(), 1);

    // The full jsonl round trip keeps the disabled state and its reason.
    let export = s.ok(&["export", "HOTLINE_NL"]);
    let file = dir.path().join("export.jsonl");
    write(&file, &export);
    let other = StoreFlag::sqlite();
    other.ok(&["create", "COPY"]);
    other.ok(&["import", "COPY", file.to_str().unwrap(), "--strict"]);
    let strip = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| {
                let mut v = json(l);
                v.as_object_mut().unwrap().remove("id");
                v.as_object_mut().unwrap().remove("seq");
                v
            })
            .collect()
    };
    assert_eq!(strip(&other.ok(&["export", "COPY"])), strip(&export));
    let csv = s.ok(&["export", "HOTLINE_NL", "--format", "csv"]);
    assert!(csv.starts_with("id,signal_type,value,category"));
    assert_eq!(csv.lines().count(), 201);

    // --since: only the entry changed after `before`.
    let since = s.ok(&["export", "HOTLINE_NL", "--since", &before.to_string()]);
    assert_eq!(since.lines().count(), 2);
    assert!(
        since.contains("\"category\":\"baseline\",\"severity\":\"A\",\"tags\":[\"series:x\"]"),
        "{since}"
    );

    // The log shows curators each record's value and the entry's state after it, also once
    // the entry is deleted.
    let del = json(&s.ok(&["delete", "HOTLINE_NL", &id1, "--reason", "court order"]));
    assert_eq!((del["action"].as_str(), del["value"].as_str()), (Some("delete"), Some(&*hs[1])));
    let log: Vec<_> = s.ok(&["log", "HOTLINE_NL"]).lines().map(json).collect();
    let of_id1: Vec<_> = log
        .iter()
        .filter(|c| c["entry_id"].as_i64() == id1.parse().ok())
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["signal_type"].as_str().unwrap().to_string(),
                c["value"].as_str().unwrap().to_string(),
                c["enabled"].as_bool().unwrap(),
                c["category"].as_str().map(str::to_string),
            )
        })
        .collect();
    let row = |a: &str, on, c: Option<&str>| {
        (a.to_string(), "pdq".to_string(), hs[1].clone(), on, c.map(str::to_string))
    };
    assert_eq!(
        of_id1,
        [
            row("add", true, None),
            row("update", true, Some("baseline")),
            row("delete", false, Some("baseline")),
        ]
    );
    let disabled = log.iter().find(|c| c["action"] == "disable").unwrap();
    assert_eq!(
        (disabled["value"].as_str(), disabled["enabled"].as_bool()),
        (Some(&*hs[0]), Some(false))
    );
    assert!(log[0].get("value").is_none(), "a bank record names no entry: {}", log[0]);
}

fn bad_input(s: StoreFlag) {
    let dir = tempfile::tempdir().unwrap();
    let missing = s.run(&["import", "NOPE", "-"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no bank named \"NOPE\""));
    let bad_name = s.run(&["create", "lower-case"]);
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("A-Z, 0-9 and _"));

    s.ok(&["create", "B"]);
    let empty = dir.path().join("empty.txt");
    write(&empty, "");
    let out = s.run(&["import", "B", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));

    let csv = dir.path().join("x.csv");
    let hs = common::hex_hashes(3, 9);
    write(
        &csv,
        &format!(
            "signal_type,value,category\nphotodnaa,{},baseline\nmd5,{},baseline\npdq,{},national\npdq,{},secret\n",
            hs[0], hs[1], hs[2], hs[0]
        ),
    );
    let out = s.run(&["import", "B", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.csv:2: rejected: unknown signal type \"photodnaa\""), "{err}");
    assert!(err.contains("x.csv:3: rejected: expected 32 hex digits for a md5 hash"), "{err}");
    assert!(err.contains("x.csv:5: rejected: unknown category \"secret\""), "{err}");
    assert_eq!(json(String::from_utf8_lossy(&out.stdout).trim())["added"], 1);

    // --strict: the first bad line aborts, nothing is imported.
    s.ok(&["create", "STRICT"]);
    let out = s.run(&["import", "STRICT", csv.to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    assert_eq!(json(&s.ok(&["stats", "STRICT"]))["entries"], 0);

    // A binary file is refused as a whole.
    let bin = dir.path().join("x.jpg");
    std::fs::write(&bin, b"\xff\xd8\xff\xe0\0\x10JFIF\0").unwrap();
    let out = s.run(&["import", "B", bin.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("binary"));
}

/// 2 GiB without a newline on standard input: one rejected line, nothing imported, memory bounded.
fn huge_line(s: StoreFlag) {
    s.ok(&["create", "HUGE"]);
    let mut child = s
        .cmd(&["import", "HUGE", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A 2 GiB line through SQLite; on PostgreSQL, where only the store differs, 256 MiB
    // (past the line limit all the same) keeps the test short.
    let mib = if s.flag == "--data-dir" { 2048 } else { 256 };
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..mib {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("<stdin>:1: rejected: the line is longer than"), "{err}");
    assert_eq!(json(&s.ok(&["stats", "HUGE"]))["entries"], 0);
}

/// kill -9 in the middle of an import: every entry reported committed is there, no batch is half
/// written, and importing again completes the bank.
fn killed_import(s: StoreFlag) {
    let dir = tempfile::tempdir().unwrap();
    let n = 300_000;
    let batch = 5_000;
    let list = dir.path().join("big.txt");
    write(&list, &common::hex_hashes(n, 7).join("\n"));
    s.ok(&["create", "KILL"]);
    let mut child = s
        .cmd(&["import", "KILL", list.to_str().unwrap(), "--batch", &batch.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut reported = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split(": ").nth(2) {
            if line.contains("committed through line") {
                reported = rest.split(' ').next().and_then(|a| a.parse::<u64>().ok());
                break;
            }
        }
        line.clear();
    }
    let reported = reported.expect("the import reported a commit");
    // SIGKILL: no destructor, no rollback, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let count = json(&s.ok(&["stats", "KILL"]))["entries"].as_u64().unwrap();
    assert!(count >= reported, "{count} entries stored, {reported} reported committed");
    assert_eq!(count % batch, 0, "{count} entries: a batch was half written");
    assert!(count < n as u64, "the import was killed before it finished ({count})");
    let out = s.run(&["import", "KILL", list.to_str().unwrap()]);
    let summary = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(summary["added"].as_u64().unwrap() + count, n as u64);
    assert_eq!(json(&s.ok(&["stats", "KILL"]))["entries"], n as u64);
}

/// A bank's review queue: `main` unless given at creation, changed by `set` (an alias of
/// `configure`) with a reason, shown by `list --json`; bad names and the senior queue are
/// refused naming the problem, and change nothing.
fn review_queue(s: StoreFlag) {
    assert_eq!(json(&s.ok(&["create", "PLAIN"]))["review_queue"], "main");
    let b = json(&s.ok(&["create", "TEAM", "--review-queue", "team-b"]));
    assert_eq!(b["review_queue"], "team-b");
    let b = json(&s.ok(&["set", "TEAM", "--review-queue", "team-c", "--reason", "team c"]));
    assert_eq!(b["review_queue"], "team-c");
    let b = json(&s.ok(&["configure", "PLAIN", "--review-queue", "t_2", "--reason", "t2"]));
    assert_eq!(b["review_queue"], "t_2");
    for (args, says) in [
        (&["create", "BAD", "--review-queue", "Team B"][..], "invalid queue name"),
        (&["create", "BAD", "--review-queue", "senior"], "escalations"),
        (&["set", "TEAM", "--review-queue", "a/b", "--reason", "x"], "invalid queue name"),
        (&["set", "TEAM", "--review-queue", "senior", "--reason", "x"], "escalations"),
    ] {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    let listed: Vec<(String, String)> = s
        .ok(&["list", "--json"])
        .lines()
        .map(|l| {
            let b = json(l);
            (b["name"].as_str().unwrap().into(), b["review_queue"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(listed, [("PLAIN".into(), "t_2".into()), ("TEAM".into(), "team-c".into())]);
    let log: Vec<serde_json::Value> = s.ok(&["log", "TEAM"]).lines().map(json).collect();
    assert_eq!(log.len(), 2, "create and one change: {log:?}");
    assert_eq!(log[1]["reason"], "review_queue=team-c: team c");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::StoreFlag::sqlite()) })*
        }
        mod pg {
            $(#[test] fn $name() { if let Some(s) = super::StoreFlag::postgres() { super::$name(s) } })*
        }
    };
}

both!(workflow, bad_input, huge_line, killed_import, review_queue);
