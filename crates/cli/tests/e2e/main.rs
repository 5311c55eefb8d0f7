//! Spoor end to end: the real `spoor` binary, its service on 127.0.0.1 and its console, driven
//! the way people and other systems use them. One test binary (one build and one link) with a
//! module per subject; shared harnesses are `common` (pictures, PostgreSQL schemas), `server`
//! (a store and `spoor serve`), `browser` (Chromium), `web` (a person over plain HTTP), `world`
//! (a deployment that reports) and `receivers` (test NCMEC and EU Centre endpoints).

#[path = "../support/browser.rs"]
mod browser;
#[path = "../common/mod.rs"]
mod common;
#[path = "../../src/bench_receivers.rs"]
mod receivers;
#[path = "../support/server.rs"]
mod server;
#[path = "../support/web.rs"]
mod web;
#[path = "../support/world.rs"]
mod world;

mod annual_year;
mod audit;
mod bank;
mod cases;
mod complaints;
mod console;
mod console_complaints;
mod console_reports;
mod exchange;
mod hash;
mod hma;
mod matching;
mod reports;
mod retention;
mod review_browser;
mod scan;
mod scan_submit;
mod serve;
mod serve_load;
mod users;
mod video;
mod video_cases;
mod webhook;
