//! `latch-bench`: a load generator for a running Latch, over its real HTTP API.
//!
//!     latch-bench --url http://127.0.0.1:8080 --users 1000 --concurrency 16 --duration 10
//!
//! 1. Populate: `--users` new users, each with one passkey, registered concurrently over FAPI
//!    by the test kit's software authenticator (real ES256 through OpenSSL), with a progress bar.
//! 2. Sign-in (`--scenario sign-in|both`): for `--duration` seconds, `--concurrency` workers,
//!    each a browser with its own keep-alive connection and cookie jar, run the discoverable
//!    sign-in as clerk-js does (create → attempt_first_factor → touch → tokens) and sign out.
//! 3. Register (`--scenario register|both`): the same workers sign up new users and create a
//!    passkey for each, for `--duration` seconds.
//!
//! The report: ceremonies per second, p50/p90/p99/max per step, errors by FAPI code, server
//! CPU per ceremony, peak RSS and database size (through /proc, see [`server`]).

mod driver;
mod http;
mod report;
mod server;
mod stats;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use latch_testkit::webauthn::{Authenticator, SoftPasskey};
use url::Url;

use driver::{Ctx, Plan};
use http::{Tab, Target};
use report::{DbFile, Machine, Phase, Report, ServerInfo};
use stats::Recorder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    SignIn,
    Register,
    Both,
}

/// The load generator allocates as the server does (many small, short-lived strings and JSON
/// values per request); mimalloc keeps its own CPU per ceremony, which the report shows,
/// comparable with the figures in BENCHMARKS.md, measured when it ran inside `latch`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load a running Latch: populate users with passkeys, then measure sign-ins and registrations.
#[derive(Debug, Clone, Parser)]
#[command(name = "latch-bench", version)]
pub struct BenchArgs {
    /// The Latch to load, e.g. http://127.0.0.1:8080 (http only).
    #[arg(long)]
    pub url: String,
    /// Users to create before the sign-in phase.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Passkeys each populated user registers (sign-ins use all of them, round robin).
    #[arg(long, default_value_t = 1)]
    pub passkeys_per_user: usize,
    /// Concurrent workers (each one connection, one cookie jar).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// The page origin sent in `Origin` and clientDataJSON; default http://localhost:<port of --url>.
    #[arg(long)]
    pub origin: Option<String>,
    /// The RP ID used when the server's options name none; default: the origin's host.
    #[arg(long)]
    pub rp_id: Option<String>,
    #[arg(long, value_enum, default_value_t = Scenario::Both)]
    pub scenario: Scenario,
    /// Target ceremonies per second over all workers (0: as fast as possible). Workers are
    /// paced closed-loop: a late ceremony starts at once, without bursting to catch up.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Workers for populating users (default: --concurrency).
    #[arg(long)]
    pub populate_concurrency: Option<usize>,
    /// The server's pid, for RSS and CPU; default: the process listening on the URL's port.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn main() -> std::process::ExitCode {
    let args = BenchArgs::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, without a backtrace: these are messages for people.
            eprintln!("latch-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.passkeys_per_user == 0 {
        bail!("--passkeys-per-user must be at least 1");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.duration.is_nan() || args.duration <= 0.0 {
        bail!("--duration must be positive");
    }
    let url = Url::parse(&args.url).with_context(|| format!("--url {:?} is not a URL", args.url))?;
    if url.scheme() != "http" {
        bail!("--url must be http:// (latch-bench speaks plain HTTP/1.1)");
    }
    let host = url.host_str().context("--url has no host")?.to_string();
    let port = url.port_or_known_default().context("--url has no port")?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let origin = args.origin.clone().unwrap_or_else(|| format!("http://localhost:{port}"));
    let origin_host = Url::parse(&origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .with_context(|| format!("--origin {origin:?} is not an origin"))?;
    let rp_id = args.rp_id.clone().unwrap_or(origin_host);
    let target = Arc::new(Target {
        addr,
        host: format!("{}:{port}", url.host_str().unwrap_or("localhost")),
        origin: origin.clone(),
    });

    // Is it there, and is it Latch?
    let mut probe = Tab::new(target.clone());
    probe
        .get("/environment")
        .await
        .map_err(|f| anyhow::anyhow!("{} does not answer GET /v1/environment: {} {}", args.url, f.key, f.detail))?;
    drop(probe);

    let pid = args.server_pid.or_else(|| server::find_listener(port));
    let run_id = format!("b{:08x}", rand::random::<u32>());
    let ctx = Arc::new(Ctx { target, auth: Authenticator::new(&origin, &rp_id), run_id });
    let wants_sign_in = matches!(args.scenario, Scenario::SignIn | Scenario::Both);
    let wants_register = matches!(args.scenario, Scenario::Register | Scenario::Both);
    let interval =
        (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));

    let db_bytes = |pid: Option<u32>| {
        pid.map(server::database_files).filter(|f| !f.is_empty()).map(|f| f.iter().map(|(_, b)| b).sum::<u64>())
    };

    // ---- populate ----------------------------------------------------------------------------
    let mut populate = None;
    let mut passkeys: Vec<Arc<SoftPasskey>> = Vec::new();
    let mut db_per_user = None;
    if wants_sign_in {
        if args.users == 0 {
            bail!("the sign-in scenario needs --users of at least 1");
        }
        let workers = args.populate_concurrency.unwrap_or(args.concurrency).clamp(1, args.users);
        let progress = if args.json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(args.users as u64) };
        progress.set_style(
            indicatif::ProgressStyle::with_template("populating {bar:40} {pos}/{len} users, {per_sec}, eta {eta}")
                .expect("valid template"),
        );
        let db_before = db_bytes(pid);
        let meter = Meter::start(pid);
        let next = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (ctx, next, progress) = (ctx.clone(), next.clone(), progress.clone());
                tokio::spawn(driver::populate_worker(ctx, next, args.users, args.passkeys_per_user, progress))
            })
            .collect();
        let mut rec = Recorder::default();
        let mut made: Vec<(usize, Vec<SoftPasskey>)> = Vec::with_capacity(args.users);
        for h in handles {
            let (r, m) = h.await?;
            rec.merge(&r);
            made.extend(m);
        }
        progress.finish_and_clear();
        let phase = meter.finish(&rec, workers as u64);
        made.sort_by_key(|(i, _)| *i);
        let users_made = made.len();
        passkeys = made.into_iter().flat_map(|(_, p)| p).map(Arc::new).collect();
        if let (Some(before), Some(after)) = (db_before, db_bytes(pid))
            && users_made > 0
        {
            db_per_user = Some((after.saturating_sub(before) as f64 / users_made as f64).round());
        }
        if passkeys.is_empty() {
            let report = phase;
            bail!(
                "no user could be created; errors: {:?} {:?}",
                report.errors,
                report.error_samples
            );
        }
        populate = Some(phase);
    }

    // ---- sign-in -----------------------------------------------------------------------------
    let mut sign_in = None;
    if wants_sign_in {
        // Worker w owns passkeys w, w+C, w+2C…; with fewer users than workers they share.
        let c = args.concurrency;
        let shares: Vec<Vec<Arc<SoftPasskey>>> = (0..c)
            .map(|w| {
                let mine: Vec<_> = passkeys.iter().skip(w).step_by(c).cloned().collect();
                if mine.is_empty() { vec![passkeys[w % passkeys.len()].clone()] } else { mine }
            })
            .collect();
        let meter = Meter::start(pid);
        let plan = Plan { deadline: Instant::now() + Duration::from_secs_f64(args.duration), interval };
        let handles: Vec<_> =
            shares.into_iter().map(|mine| tokio::spawn(driver::sign_in_worker(ctx.clone(), mine, plan))).collect();
        let mut rec = Recorder::default();
        let mut connections = 0;
        for h in handles {
            let (r, n) = h.await?;
            rec.merge(&r);
            connections += n;
        }
        sign_in = Some(meter.finish(&rec, connections));
    }

    // ---- register ----------------------------------------------------------------------------
    let mut register = None;
    if wants_register {
        let meter = Meter::start(pid);
        let plan = Plan { deadline: Instant::now() + Duration::from_secs_f64(args.duration), interval };
        let handles: Vec<_> =
            (0..args.concurrency).map(|w| tokio::spawn(driver::register_worker(ctx.clone(), w, plan))).collect();
        let mut rec = Recorder::default();
        let mut connections = 0;
        for h in handles {
            let (r, n) = h.await?;
            rec.merge(&r);
            connections += n;
        }
        register = Some(meter.finish(&rec, connections));
    }

    // ---- report ------------------------------------------------------------------------------
    let files = pid.map(server::database_files).unwrap_or_default();
    let server_info = ServerInfo {
        pid,
        peak_rss_kb: pid.and_then(server::peak_rss_kb),
        rss_kb: pid.and_then(server::rss_kb),
        db_bytes: (!files.is_empty()).then(|| files.iter().map(|(_, b)| b).sum()),
        db_files: files.into_iter().map(|(p, bytes)| DbFile { path: p.display().to_string(), bytes }).collect(),
        db_bytes_per_populated_user: db_per_user,
    };
    let errors_total = [&populate, &sign_in, &register].iter().filter_map(|p| p.as_ref()).map(|p| p.error_total).sum();
    let report = Report {
        url: args.url.clone(),
        origin,
        scenario: format!("{:?}", args.scenario).to_lowercase(),
        users: args.users,
        passkeys_per_user: args.passkeys_per_user,
        concurrency: args.concurrency,
        duration_secs: args.duration,
        rate_per_sec: (args.rate > 0.0).then_some(args.rate),
        machine: Machine::here(),
        populate,
        sign_in,
        register,
        server: server_info,
        errors_total,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        report::print_text(&report);
    }
    Ok(())
}

/// Wall time and CPU (server's and ours) over one phase.
struct Meter {
    pid: Option<u32>,
    started: Instant,
    server_cpu: Option<f64>,
    bench_cpu: Option<f64>,
}

impl Meter {
    fn start(pid: Option<u32>) -> Self {
        Meter {
            pid,
            started: Instant::now(),
            server_cpu: pid.and_then(|p| server::cpu_secs(&p.to_string())),
            bench_cpu: server::cpu_secs("self"),
        }
    }

    fn finish(self, rec: &Recorder, connections: u64) -> Phase {
        let elapsed = self.started.elapsed().as_secs_f64();
        let server_cpu = self
            .server_cpu
            .zip(self.pid.and_then(|p| server::cpu_secs(&p.to_string())))
            .map(|(a, b)| b - a);
        let bench_cpu = self.bench_cpu.zip(server::cpu_secs("self")).map(|(a, b)| b - a);
        Phase::new(rec, elapsed, server_cpu, bench_cpu, connections)
    }
}
