//! SIGKILL for a running [`LatchProcess`](super::LatchProcess) while requests are in flight.
//!
//! The harness keeps its `Child` to itself and kills only on `restart`/drop; a crash test
//! needs the kill to land in the middle of a request stream, from a task of its own. The
//! server is found by its command line (`latch serve … --data-dir DIR`, DIR unique to the
//! process) in `/proc`, and killed with `kill -s KILL`: nothing gets flushed on the way out.
//! `LatchProcess::restart` then reaps it and starts a new server on the same data dir.

use std::path::Path;
use std::process::Command;

/// The pid of the live `latch serve` whose `--data-dir` is `data_dir`.
pub fn server_pid(data_dir: &Path) -> Option<u32> {
    let want = data_dir.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_latch_serve = args.first().is_some_and(|a| a.ends_with(b"latch")) && args.iter().any(|a| *a == b"serve");
        let has_dir = args.windows(2).any(|w| w[0] == b"--data-dir" && w[1] == want);
        if is_latch_serve && has_dir && !is_zombie(pid) {
            return Some(pid);
        }
    }
    None
}

fn is_zombie(pid: u32) -> bool {
    // /proc/PID/stat: "pid (comm) S …"; comm may hold spaces and parentheses, so read after the last ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// SIGKILL the server of `data_dir`; panics if there is none to kill.
pub fn sigkill_server(data_dir: &Path) -> u32 {
    let pid = server_pid(data_dir).unwrap_or_else(|| panic!("no live `latch serve --data-dir {}`", data_dir.display()));
    let status = Command::new("kill")
        .args(["-s", "KILL", &pid.to_string()])
        .status()
        .or_else(|_| Command::new("sh").args(["-c", &format!("kill -9 {pid}")]).status())
        .expect("run kill");
    assert!(status.success(), "kill -s KILL {pid} failed: {status}");
    pid
}

/// Waits until `pid` is gone or a zombie: the kill has landed. (A generous bound, so that a
/// loaded machine does not fail the test; not a timing assertion.)
pub fn wait_dead(pid: u32) {
    for _ in 0..5000 {
        if is_zombie(pid) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    panic!("latch (pid {pid}) still running 10 s after SIGKILL");
}
