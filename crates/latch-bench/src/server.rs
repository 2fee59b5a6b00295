//! What the generator can see of the server process through /proc (Linux only; everything
//! here is best effort and becomes `null` in the report when unavailable).
//!
//! * The pid: `--server-pid`, else the process holding the listening socket of the URL's
//!   port: the `LISTEN` row of /proc/net/tcp{,6} for that port gives a socket inode, and the
//!   process with a /proc/PID/fd link to `socket:[INODE]` owns it (needs the same user, or root).
//! * Peak RSS: `VmHWM` of /proc/PID/status (the high-water mark over the process lifetime);
//!   current RSS: `VmRSS`.
//! * CPU time: utime + stime of /proc/PID/stat, all threads, in clock ticks (USER_HZ = 100).
//! * Database size: the sizes of the files the process has open whose names end in `.db`,
//!   `.db-wal` (SQLite); PostgreSQL runs elsewhere and shows nothing here.

use std::path::{Path, PathBuf};

/// Linux reports /proc times in USER_HZ, 100 on every architecture Linux supports today.
const USER_HZ: f64 = 100.0;

pub fn find_listener(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let local_port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| Path::new(i) == link)
            {
                return Some(pid);
            }
        }
    }
    None
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// `VmHWM`: peak resident set size, KiB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// `VmRSS`: resident set size now, KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

/// User + system CPU seconds used so far by every thread of `pid` ("self" for this process).
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 0 is state (field 3 of stat); utime is field 14 and stime 15 → 11 and 12.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// SQLite files the process has open: (path, bytes).
pub fn database_files(pid: u32) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<(PathBuf, u64)> = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return out };
    for fd in fds.flatten() {
        let Ok(link) = std::fs::read_link(fd.path()) else { continue };
        let name = link.to_string_lossy();
        if (name.ends_with(".db") || name.ends_with(".db-wal")) && !out.iter().any(|(p, _)| *p == link) {
            let size = std::fs::metadata(&link).map(|m| m.len()).unwrap_or(0);
            out.push((link, size));
        }
    }
    out.sort();
    out
}
