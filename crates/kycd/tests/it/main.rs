//! Black-box integration suite: every test spawns the real `kycd` binary with a fresh data
//! directory (SQLite by default; a fresh PostgreSQL database per server when
//! `KYCD_TEST_DATABASE_URL` is set) and talks to it over HTTP and the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod harness;

mod flow;

mod anonymize;
mod backup;
mod bad_input;
mod boldsign;
mod cancel;
mod capture_browser;
mod capture_page;
mod checkout;
mod cli;
mod console;
mod console_browser;
mod crash;
mod cross_tenant;
mod decision;
mod duplicates;
mod erasure;
mod evidence;
mod exhaustion;
mod faces;
mod hostile;
mod lifecycle;
mod liveness;
mod logs;
mod master_key;
mod metrics;
mod openapi;
mod races;
mod ratelimit;
mod retention;
mod scale_out;
mod skribble;
mod ssrf_accounts;
mod start_token;
mod storage;
mod tenancy;
mod tenant_policy;
mod transmit;
mod webhooks;
mod workers;
mod writable;
