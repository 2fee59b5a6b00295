//! What `latch-bench` prints: a table for people, one JSON object with `--json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::{Recorder, Summary};

#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub origin: String,
    pub scenario: String,
    pub users: usize,
    pub passkeys_per_user: usize,
    pub concurrency: usize,
    pub duration_secs: f64,
    /// `--rate`: target ceremonies per second over all workers (null: as fast as possible).
    pub rate_per_sec: Option<f64>,
    pub machine: Machine,
    pub populate: Option<Phase>,
    pub sign_in: Option<Phase>,
    pub register: Option<Phase>,
    pub server: ServerInfo,
    /// Errors of every phase together.
    pub errors_total: u64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: Option<String>,
}

impl Machine {
    pub fn here() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        Machine { nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), cpu_model }
    }
}

#[derive(Debug, Serialize)]
pub struct Phase {
    /// Ceremonies finished without error (sign-ins through the token; registrations through
    /// attempt_verification; for `populate`, users with a passkey).
    pub completed: u64,
    pub elapsed_secs: f64,
    /// `completed / elapsed_secs`.
    pub per_sec: f64,
    pub error_total: u64,
    /// By FAPI error code (`errors[0].code`), or `http_<status>`, `transport`,
    /// `unexpected_response`, `authenticator`.
    pub errors: BTreeMap<String, u64>,
    /// The first message seen for each error key.
    pub error_samples: BTreeMap<String, String>,
    /// Latency per step, milliseconds.
    pub steps: BTreeMap<String, Summary>,
    /// Server CPU (user + system, all threads) used during the phase.
    pub server_cpu_secs: Option<f64>,
    /// Server CPU per completed ceremony, microseconds.
    pub server_cpu_us_per_op: Option<f64>,
    /// This generator's CPU during the phase.
    pub bench_cpu_secs: Option<f64>,
    /// TCP connections opened by the workers (one each unless the server closed some).
    pub connections: u64,
}

impl Phase {
    pub fn new(rec: &Recorder, elapsed_secs: f64, server_cpu: Option<f64>, bench_cpu: Option<f64>, connections: u64) -> Self {
        let round = |x: f64, d: f64| (x * d).round() / d;
        Phase {
            completed: rec.completed,
            elapsed_secs: round(elapsed_secs, 1000.0),
            per_sec: round(rec.completed as f64 / elapsed_secs.max(1e-9), 10.0),
            error_total: rec.error_total(),
            errors: rec.errors.clone(),
            error_samples: rec.error_samples.clone(),
            steps: rec.summaries().into_iter().map(|(s, sum)| (s.name().to_string(), sum)).collect(),
            server_cpu_secs: server_cpu.map(|c| round(c, 100.0)),
            server_cpu_us_per_op: server_cpu
                .filter(|_| rec.completed > 0)
                .map(|c| round(c * 1e6 / rec.completed as f64, 10.0)),
            bench_cpu_secs: bench_cpu.map(|c| round(c, 100.0)),
            connections,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ServerInfo {
    pub pid: Option<u32>,
    /// `VmHWM` at the end: the server's peak RSS over its whole life, KiB.
    pub peak_rss_kb: Option<u64>,
    /// `VmRSS` at the end, KiB.
    pub rss_kb: Option<u64>,
    /// SQLite files the server has open (`.db`, `.db-wal`) and their sizes at the end.
    pub db_files: Vec<DbFile>,
    pub db_bytes: Option<u64>,
    /// Growth of the database files (`.db` + `.db-wal`) during `populate`, divided by the
    /// users added: their passkeys plus sign-up, client, session and audit rows. The WAL
    /// holds whole page images until a checkpoint, so this overstates the settled size;
    /// BENCHMARKS.md measures per-table sizes with sqlite3's dbstat.
    pub db_bytes_per_populated_user: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DbFile {
    pub path: String,
    pub bytes: u64,
}

const ORDER: [&str; 10] = [
    "sign_up",
    "passkey_create",
    "passkey_attempt_verification",
    "sign_in_create",
    "sign_in_attempt_first_factor",
    "session_touch",
    "session_token",
    "sign_out",
    "ceremony",
    "authenticator (client side)",
];

fn print_phase(title: &str, what: &str, p: &Phase) {
    println!();
    println!("{title}: {} {what} in {:.2} s = {:.1}/s, {} errors", p.completed, p.elapsed_secs, p.per_sec, p.error_total);
    if let (Some(cpu), Some(per)) = (p.server_cpu_secs, p.server_cpu_us_per_op) {
        print!("  server CPU {cpu:.2} s ({per:.0} µs per {what_one})", what_one = what.trim_end_matches('s'));
        if let Some(b) = p.bench_cpu_secs {
            print!(", generator CPU {b:.2} s");
        }
        println!();
    }
    println!("  {:<32} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}", "step (ms)", "count", "mean", "p50", "p90", "p99", "max");
    for name in ORDER {
        if let Some(s) = p.steps.get(name) {
            println!(
                "  {:<32} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name, s.count, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            );
        }
    }
    for (code, n) in &p.errors {
        println!("  error {code}: {n}  e.g. {}", p.error_samples.get(code).map(String::as_str).unwrap_or(""));
    }
    if p.errors.contains_key("too_many_requests") {
        println!(
            "  hint: the server's rate limits apply; for a benchmark start it with \
             --rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 --rate-limit-sign-ups-per-hour 0"
        );
    }
}

pub fn print_text(r: &Report) {
    println!(
        "latch-bench: {} (origin {}), {} users, {} workers, {} s per phase{}",
        r.url,
        r.origin,
        r.users,
        r.concurrency,
        r.duration_secs,
        r.rate_per_sec.map(|x| format!(", paced at {x}/s")).unwrap_or_default()
    );
    println!(
        "machine: {} CPUs, {}",
        r.machine.nproc,
        r.machine.cpu_model.as_deref().unwrap_or("unknown CPU")
    );
    if let Some(p) = &r.populate {
        print_phase("populate", "users", p);
    }
    if let Some(p) = &r.sign_in {
        print_phase("sign-in", "sign-ins", p);
    }
    if let Some(p) = &r.register {
        print_phase("register", "registrations", p);
    }
    println!();
    match r.server.pid {
        Some(pid) => {
            let kb = |x: Option<u64>| x.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or("?".into());
            println!("server pid {pid}: peak RSS {} (VmHWM), RSS now {}", kb(r.server.peak_rss_kb), kb(r.server.rss_kb));
            if let Some(b) = r.server.db_bytes {
                print!("database {:.1} MiB", b as f64 / 1_048_576.0);
                if let Some(per) = r.server.db_bytes_per_populated_user {
                    print!(", grew {per:.0} bytes per populated user during populate (db + WAL)");
                }
                println!();
            }
        }
        None => println!("server process not found (pass --server-pid to report its RSS)"),
    }
}
