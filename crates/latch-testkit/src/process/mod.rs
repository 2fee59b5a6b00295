//! The real `latch` binary as a test's server: started on a free port with a data dir of its
//! own, found ready by the line it prints (`latch listening on http://ADDR`), killed on drop.
//!
//! * [`LatchProcess`]: start, join a second node to the same database, restart after a
//!   SIGKILL, read the logs. A server that exits on its own during a test fails the test.
//! * [`backend`]: the database each process runs on, SQLite by default, PostgreSQL when
//!   `LATCH_TEST_BACKEND=postgres`, so one suite covers both.
//! * [`kill`]: SIGKILL from outside, for the crash tests that must land a kill mid-request.
//!
//! The binary is the `latch` Cargo built beside the running test (see [`latch_binary`]).

pub mod backend;
pub mod kill;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use url::Url;

/// The `latch` executable to test: the one the test runner names in `CARGO_BIN_EXE_latch` at
/// run time (nextest and recent Cargo do, for the tests of the `latch` package), else the one
/// where Cargo puts every binary of the workspace, the folder above the test's own `deps/`
/// (`cargo build --workspace` and `cargo nextest run --workspace` build it). A library cannot
/// use `env!("CARGO_BIN_EXE_latch")`: Cargo sets it only when compiling `latch`'s own tests.
pub fn latch_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_latch") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let dir = exe.parent().map(|d| if d.ends_with("deps") { d.parent().unwrap_or(d) } else { d });
    let candidate = dir.map(|d| d.join(format!("latch{}", std::env::consts::EXE_SUFFIX)));
    match candidate {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "no `latch` binary beside {} (looked for {:?}): build it first with `cargo build -p latch`",
            exe.display(),
            candidate
        ),
    }
}


/// The real `latch` binary, on a free port, with its own data dir. Killed on drop.
pub struct LatchProcess {
    child: Option<Child>,
    /// SQLite in `data_dir`, or a PostgreSQL database of this process's own.
    pub database: backend::TestDatabase,
    data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    /// Port the server listens on (stays the same across [`LatchProcess::restart`]).
    pub port: u16,
    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub base: String,
    log_path: PathBuf,
}

impl LatchProcess {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Extra flags after `serve --port P --data-dir D`.
    pub fn start_with(extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap();
        let log_path = data_dir.path().join("server.log");
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let database = backend::TestDatabase::create();
        let (child, base, port) = spawn(data_dir.path(), 0, &with_db(&database, &extra_args), &log_path);
        LatchProcess { child: Some(child), database, data_dir, extra_args, port, base, log_path }
    }

    /// A second node on `other`'s database (its SQLite file, or its PostgreSQL database).
    pub fn join(other: &LatchProcess, extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap();
        let log_path = data_dir.path().join("server.log");
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let database = backend::TestDatabase::Shared(other.database.shareable_url(other.data_dir()));
        let (child, base, port) = spawn(data_dir.path(), 0, &with_db(&database, &extra_args), &log_path);
        LatchProcess { child: Some(child), database, data_dir, extra_args, port, base, log_path }
    }

    /// Keeps the database (and SQLite's folder) alive after the process is dropped.
    pub fn database_handle_for_test(&mut self) -> (backend::TestDatabase, tempfile::TempDir) {
        self.kill();
        let db = std::mem::replace(&mut self.database, backend::TestDatabase::Sqlite);
        let dir = std::mem::replace(&mut self.data_dir, tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap());
        (db, dir)
    }

    /// The browser origin Latch allows by default: `http://localhost:PORT`.
    pub fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs another `latch` subcommand (`keys create`, `sign-in-token`…) on this server's
    /// database, as an operator would; its output.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(latch_binary());
        cmd.args(args).arg("--data-dir").arg(self.data_dir.path()).args(with_db(&self.database, &self.extra_args));
        for (k, _) in std::env::vars() {
            if k.starts_with("LATCH_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(self.data_dir.path()).stdin(Stdio::null()).output().expect("run latch")
    }

    /// Everything the server wrote on stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stop the server the hard way (SIGKILL: nothing gets flushed on the way out) and start it
    /// again on the same port with the same data dir.
    pub fn restart(&mut self) {
        self.kill();
        let args = with_db(&self.database, &self.extra_args);
        let (child, base, port) = spawn(self.data_dir.path(), self.port, &args, &self.log_path);
        assert_eq!(port, self.port, "restarted on another port");
        self.child = Some(child);
        self.base = base;
    }

    /// Restart with other extra flags (same port, same data dir).
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.extra_args = extra.iter().map(|s| s.to_string()).collect();
        self.restart();
    }

    /// Is the process still alive (it must never crash on bad input)?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// The server's process id (to signal it from a test).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("the server was started and not yet reaped")
    }

    /// Waits up to `timeout` for the server to exit by itself (after a SIGTERM the test sent)
    /// and reaps it: its exit status, or None if it is still running (it is killed then).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        let mut child = self.child.take()?;
        loop {
            if let Some(status) = child.try_wait().expect("wait for latch") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LatchProcess {
    fn drop(&mut self) {
        let crashed = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        self.kill();
        if let Some(status) = crashed
            && !std::thread::panicking()
        {
            panic!("latch exited on its own during the test ({status}):\n{}", self.logs());
        }
    }
}

fn with_db(database: &backend::TestDatabase, extra: &[String]) -> Vec<String> {
    database.args().into_iter().chain(extra.iter().cloned()).collect()
}

fn spawn(dir: &Path, port: u16, extra: &[String], log_path: &Path) -> (Child, String, u16) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).unwrap();
    let mut cmd = Command::new(latch_binary());
    cmd.arg("serve")
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone().unwrap()));
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCH_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn latch");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut log_out = log;
    std::thread::spawn(move || {
        use std::io::Write;
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log_out, "{line}");
            if let Some(rest) = line.trim().strip_prefix("latch listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    // A generous bound so that a broken build fails instead of hanging; not a timing assertion.
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => {
            let parsed = Url::parse(&url).unwrap_or_else(|e| panic!("bad listening URL {url:?}: {e}"));
            let port = parsed.port().expect("listening URL has a port");
            (child, url.trim_end_matches('/').to_string(), port)
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "latch did not print `latch listening on http://127.0.0.1:PORT`:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
        }
    }
}
