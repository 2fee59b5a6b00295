//! `latch-bench` runs a small load against a real `latch serve` without errors.
//! No timing assertions: the figures live in BENCHMARKS.md.
//!
//! The server is the `latch` binary of the same build (the test kit finds it beside this
//! test; `cargo build --workspace` and `cargo nextest run --workspace` build it).

use std::process::Command;

use latch_testkit::process::LatchProcess;
use serde_json::Value;

#[test]
fn bench_runs_a_small_load_without_errors() {
    // Rate limits off, as for any benchmark: 20 users sign up from one IP in a second.
    let server = LatchProcess::start_with(&[
        "--rate-limit-ip-per-minute",
        "0",
        "--rate-limit-client-per-minute",
        "0",
        "--rate-limit-passkeys-per-hour",
        "0",
        "--rate-limit-sign-ups-per-hour",
        "0",
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_latch-bench"))
        .args(["--url", &server.base, "--users", "20", "--concurrency", "4", "--duration", "2", "--json"])
        .env_remove("LATCH_LOG")
        .output()
        .expect("run latch-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "latch-bench failed: {}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json prints one JSON object ({e}):\n{stdout}\nstderr: {stderr}"));

    assert_eq!(report["errors_total"], 0, "no errors: {report:#}");
    for phase in ["populate", "sign_in", "register"] {
        assert_eq!(report[phase]["error_total"], 0, "{phase} without errors: {report:#}");
        assert!(report[phase]["errors"].as_object().is_some_and(|e| e.is_empty()), "{phase}: {report:#}");
    }
    assert_eq!(report["populate"]["completed"], 20, "every user got a passkey: {report:#}");
    assert!(report["sign_in"]["completed"].as_u64().unwrap_or(0) > 0, "sign-ins completed: {report:#}");
    assert!(report["register"]["completed"].as_u64().unwrap_or(0) > 0, "registrations completed: {report:#}");

    // Every step of the sign-in as clerk-js runs it was measured.
    let steps = &report["sign_in"]["steps"];
    for step in ["sign_in_create", "sign_in_attempt_first_factor", "session_touch", "session_token", "sign_out"] {
        let s = &steps[step];
        assert!(s["count"].as_u64().unwrap_or(0) > 0, "step {step} recorded: {report:#}");
        for q in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
            assert!(s[q].is_number(), "{step}.{q}: {report:#}");
        }
    }
    for step in ["sign_up", "passkey_create", "passkey_attempt_verification"] {
        assert!(report["register"]["steps"][step]["count"].as_u64().unwrap_or(0) > 0, "step {step}: {report:#}");
    }

    // The server was found through its listening socket and its RSS read from /proc.
    assert!(report["server"]["peak_rss_kb"].as_u64().unwrap_or(0) > 0, "server peak RSS: {report:#}");
    assert!(server.logs().lines().all(|l| !l.contains("panicked")), "server logs: {}", server.logs());
}
