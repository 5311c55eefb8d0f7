//! A deployment that reports, shared by the end-to-end tests of complaints and of the annual
//! report: a store with keys for an administrator, a provider's service, two reviewers,
//! another service and a lead; a reports file naming a test NCMEC and a test EU Centre on
//! 127.0.0.1; the provider's webhook with its secret; a complaint deadline.
#![allow(dead_code)] // each test file uses some of it

use std::path::Path;

use crate::receivers::{EuCentre, Ncmec, Recorder};
use crate::server::{Server, Store};

pub const USER: &str = "spoor-test";
pub const PASSWORD: &str = "test-password-7";
pub const HOOK_SECRET: &str = "provider-webhook-secret-0123";

pub fn reports_file(dir: &Path, ncmec: &Ncmec, eu: &EuCentre) -> std::path::PathBuf {
    std::fs::write(dir.join("ncmec.credentials"), format!("{USER}:{PASSWORD}\n")).unwrap();
    let text = format!(
        r#"window_seconds = 0
workers = 2
backoff_seconds = 0.05
max_backoff_seconds = 0.2
timeout_seconds = 2

[ncmec]
credentials_file = "ncmec.credentials"
base_url = "{}"

[ncmec.reporter]
email = "reports@hoster.example"

[eu_centre]
url = "{}"
signing_key_file = "eu-signing.pem"
key_id = "spoor-test-1"

[eu_centre.provider]
name = "Hoster B.V."
address = "Keizersgracht 1, 1015 CC Amsterdam, NL"
contact_email = "eu-contact@hoster.example"
legal_basis = "Regulation (EU) 2021/1232"
"#,
        ncmec.base_url(),
        eu.url()
    );
    let path = dir.join("reports.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub struct World {
    pub store: Store,
    pub flags: Vec<String>,
    pub public_key: ed25519_dalek::VerifyingKey,
    pub admin: String,
    pub hoster: String,
    pub rita: String,
    pub sam: String,
    pub other: String,
    pub lead: String,
}

pub fn world(store: Store, ncmec: &Ncmec, eu: &EuCentre, hook: &Recorder, deadline: &str) -> World {
    let dir = store.dir.path().to_path_buf();
    let signing = dir.join("eu-signing.pem");
    let out = store.spoor(&["keys", "report-keygen", "--out", signing.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let public_key =
        ed25519_dalek::VerifyingKey::from_public_key_pem(&String::from_utf8(out.stdout).unwrap())
            .unwrap();
    let secret = dir.join("hook.secret");
    std::fs::write(&secret, HOOK_SECRET).unwrap();
    let flags = vec![
        "--reports".to_string(),
        reports_file(&dir, ncmec, eu).display().to_string(),
        "--reports-loopback-only".into(),
        "--case-webhook".into(),
        hook.url(),
        "--case-webhook-secret-file".into(),
        secret.display().to_string(),
        "--complaint-deadline".into(),
        deadline.into(),
    ];
    World {
        admin: store.key("admin", "admin", None),
        hoster: store.key("matcher", "hoster", None),
        rita: store.key("reviewer", "rita", None),
        sam: store.key("reviewer", "sam", None),
        other: store.key("matcher", "other_service", None),
        lead: store.key("admin", "lead", None),
        store,
        flags,
        public_key,
    }
}

pub fn start(w: &World) -> Server {
    let flags: Vec<&str> = w.flags.iter().map(String::as_str).collect();
    Server::start(&w.store, &flags)
}
