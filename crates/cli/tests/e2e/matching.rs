//! `spoor match` end to end: the real binary on real files.

use spoor_core::Hash256;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn regtest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq/reg-test-input")
}

fn spoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoor")).args(args).output().expect("run spoor")
}

fn hashes(path: &PathBuf) -> Vec<(usize, Hash256)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.trim().parse().unwrap()))
        .collect()
}

/// The expected output, by brute force.
fn brute(list: &[(usize, Hash256)], queries: &[(usize, Hash256)], r: u32) -> String {
    let mut out = String::new();
    for (qn, q) in queries {
        let mut m: Vec<(u32, usize)> =
            list.iter().map(|(n, h)| (h.distance(q), *n)).filter(|(d, _)| *d <= r).collect();
        m.sort();
        let items: Vec<String> =
            m.iter().map(|(d, n)| format!("{{\"line\":{n},\"distance\":{d}}}")).collect();
        out.push_str(&format!("{{\"query\":{qn},\"matches\":[{}]}}\n", items.join(",")));
    }
    out
}

#[test]
fn matches_the_reference_lists_exactly() {
    let (hay, needles) = (regtest().join("haystack.txt"), regtest().join("needles.txt"));
    let list = hashes(&hay);
    let queries = hashes(&needles);
    for r in [0, 10, 31, 32, 64] {
        for threads in ["1", "3"] {
            let out = spoor(&[
                "match",
                "--against",
                hay.to_str().unwrap(),
                "--radius",
                &r.to_string(),
                "-j",
                threads,
                needles.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8(out.stdout).unwrap(), brute(&list, &queries, r), "r={r}");
        }
    }
}

#[test]
fn queries_from_stdin_and_the_list_against_itself() {
    let hay = regtest().join("haystack.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["match", "--against", hay.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read(&hay).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let list = hashes(&hay);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), brute(&list, &list, 31));
}

#[test]
fn malformed_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    let list = dir.path().join("list.txt");
    std::fs::write(&list, format!("{good}\n{good}0\n\n{}\n", &good[..60])).unwrap();
    let queries = dir.path().join("q.txt");
    std::fs::write(&queries, format!("{good}\nnot a hash\n{good}\n")).unwrap();
    let (l, q) = (list.to_str().unwrap(), queries.to_str().unwrap());

    let out = spoor(&["match", "--against", l, q]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("{l}:2:")) && err.contains("expected 64 hex digits"), "{err}");
    assert!(err.contains("--skip-invalid"), "{err}");
    assert!(out.stdout.is_empty());

    let out = spoor(&["match", "--against", l, "--skip-invalid", q]);
    assert_eq!(out.status.code(), Some(2), "skipped lines still make the exit status 2");
    let err = String::from_utf8(out.stderr).unwrap();
    for place in [format!("{l}:2:"), format!("{l}:4:"), format!("{q}:2:")] {
        assert!(err.contains(&place), "{place} not in {err}");
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout,
        "{\"query\":1,\"matches\":[{\"line\":1,\"distance\":0}]}\n{\"query\":3,\"matches\":[{\"line\":1,\"distance\":0}]}\n"
    );

    let out = spoor(&["match", "--against", "/no/such/list", q]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /no/such/list"));
}

/// vPDQ lines (the bank text form) in both files: videos match videos by frame shares.
#[test]
fn video_lines_match_by_frame_shares() {
    let dir = tempfile::tempdir().unwrap();
    let h = |k: u64| {
        let mut s = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        Hash256::from_words([next(), next(), next(), next()])
    };
    let video = |r: std::ops::Range<u64>| {
        let frames: Vec<String> = r.map(|k| format!("\"{},90,{k}.000\"", h(k))).collect();
        format!("[{}]", frames.join(","))
    };
    let list = dir.path().join("list.txt");
    std::fs::write(&list, format!("{}\n{}\n{}\n", h(1000), video(0..40), video(100..120))).unwrap();
    let queries = dir.path().join("q.txt");
    std::fs::write(&queries, format!("{}\n{}\n{}\n", video(0..20), h(1000), video(500..510)))
        .unwrap();
    let out = spoor(&["match", "--against", list.to_str().unwrap(), queries.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"query\":1,\"matches\":[{\"line\":2,\"query_match\":100.0,\"compared_match\":50.0}]}\n\
         {\"query\":2,\"matches\":[{\"line\":1,\"distance\":0}]}\n\
         {\"query\":3,\"matches\":[]}\n"
    );
    // A stricter compared share drops the half-covered video.
    let out = spoor(&[
        "match",
        "--against",
        list.to_str().unwrap(),
        queries.to_str().unwrap(),
        "--vpdq-compared-match",
        "60",
    ]);
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("{\"query\":1,\"matches\":[]}"));
}
