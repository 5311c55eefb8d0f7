//! `spoor serve` test harness, shared by the end-to-end test files: a store (SQLite in a temp
//! dir, or a fresh PostgreSQL schema), the real binary started on 127.0.0.1:0, and a client.
#![allow(dead_code)] // each test file uses some of it

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common;

pub struct Store {
    pub flag: &'static str,
    pub value: String,
    pub dir: tempfile::TempDir,
}

impl Store {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Store { flag: "--data-dir", value: dir.path().join("data").display().to_string(), dir }
    }

    pub fn postgres() -> Option<Self> {
        Some(Store {
            flag: "--database-url",
            value: common::postgres_url("srv")?,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    pub fn spoor(&self, args: &[&str]) -> std::process::Output {
        let (cmd, rest) = args.split_first().unwrap();
        Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg(cmd)
            .arg(self.flag)
            .arg(&self.value)
            .args(rest)
            .env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_DATABASE_URL")
            .output()
            .unwrap()
    }

    pub fn key(&self, role: &str, name: &str, banks: Option<&str>) -> String {
        let mut extra = Vec::new();
        if let Some(b) = banks {
            extra.extend(["--banks", b]);
        }
        self.key_with(role, name, &extra)
    }

    /// Makes a key with more flags (`--show-distance`).
    pub fn key_with(&self, role: &str, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["keys", "create", "--role", role, "--name", name];
        args.extend(extra);
        let out = self.spoor(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
    }
}

impl Store {
    /// `spoor users create`: the setup link (last line of standard output).
    pub fn person(&self, name: &str, role: &str, base_url: &str) -> String {
        let out = self.spoor(&[
            "users",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--base-url",
            base_url,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
    }
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub http: Client,
}

impl Server {
    pub fn start(store: &Store, extra: &[&str]) -> Server {
        Self::start_with(
            store,
            extra,
            Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        )
    }

    /// Starts with a given HTTP client (one that trusts a test certificate, say).
    pub fn start_with(store: &Store, extra: &[&str], http: Client) -> Server {
        Self::start_at(store, "127.0.0.1:0", extra, http)
    }

    /// Starts listening on `listen` (a fixed port, for a restart where others know it).
    pub fn start_at(store: &Store, listen: &str, extra: &[&str], http: Client) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .args([
                "serve",
                store.flag,
                &store.value,
                "--listen",
                listen,
                "--follow-interval-ms",
                "50",
            ])
            .args(extra)
            .env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let base = loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "spoor serve exited before serving");
            eprint!("[serve] {line}");
            if let Some(rest) = line.split("serving on ").nth(1) {
                break rest.split(' ').next().unwrap().to_string();
            }
        };
        // Keep draining stderr (into the test's output) so the server never blocks on a full
        // pipe.
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                eprint!("[serve] {line}");
                line.clear();
            }
        });
        Server { child, base, http }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.base.split("://").nth(1).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, key: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn send(
        &self,
        method: &str,
        key: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut req = match method {
            "POST" => self.http.post(self.url(path)),
            "PATCH" => self.http.patch(self.url(path)),
            "PUT" => self.http.put(self.url(path)),
            "DELETE" => self.http.delete(self.url(path)),
            _ => unreachable!(),
        };
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.json(body).send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn upload(&self, key: Option<&str>, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let form =
            multipart::Form::new().part("file", multipart::Part::bytes(bytes).file_name("x.jpg"));
        let mut req = self.http.post(self.url(path)).multipart(form);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn matches(&self, key: &str, pdq: &str) -> Vec<Value> {
        let (s, v) = self.get(Some(key), &format!("/v1/match?signal_type=pdq&value={pdq}"));
        assert_eq!(s, StatusCode::OK, "{v}");
        v["matches"].as_array().unwrap().clone()
    }

    pub fn stop(mut self) {
        // SIGTERM: graceful shutdown, exit status 0.
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "spoor serve exited with {status} on SIGTERM");
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bridge(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pdq/bridge-mods")
        .join(name);
    std::fs::read(p).unwrap()
}

pub fn until(what: &str, ok: impl FnMut() -> bool) -> Duration {
    until_within(what, Duration::from_secs(2), ok)
}

/// Waits for `ok` at most `limit`; returns how long it took.
pub fn until_within(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

/// Sends an upload of `n` bytes over a raw connection and returns the status code: the server
/// answers 413 and closes as soon as the limit is passed, which an HTTP client still sending its
/// body reports as a broken connection instead.
pub fn raw_upload(s: &Server, key: &str, n: usize) -> u16 {
    use std::io::{Read, Write};
    let addr = s.addr();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let boundary = "spoorboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = head.len() + n + tail.len();
    let req = format!(
        "POST /v1/hash HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let _ = c.write_all(req.as_bytes());
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(&vec![b'x'; n]);
    let _ = c.write_all(tail.as_bytes());
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}
