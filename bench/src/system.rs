//! Readings from `/proc`: what machine the figures come from, and a process's memory.

use serde_json::{json, Value};

pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem_kb = kib_field("/proc/meminfo", "MemTotal:");
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0).round(),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// `VmHWM` / `VmRSS` of a process, in KiB.
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    kib_field(&format!("/proc/{pid}/status"), field)
}

/// The value of the `field` line of a `/proc` file of `Field: value kB` lines (0 if absent).
fn kib_field(path: &str, field: &str) -> u64 {
    let [value] = kib_fields(path, [field]);
    value
}

/// [`kib_field`] for several fields, from one read of the file.
fn kib_fields<const N: usize>(path: &str, fields: [&str; N]) -> [u64; N] {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    fields.map(|field| {
        text.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    })
}

/// Wait, at most `max`, until this machine is quiet: a second with its cores at least 90 %
/// idle and at most 32 MiB of page cache left to write. What an earlier part left running
/// (writeback, the removal of its data directory, the kernel reclaiming its page cache) must
/// not fall on the next part's first measures. Returns the seconds waited.
pub async fn settle(max: std::time::Duration) -> f64 {
    let start = std::time::Instant::now();
    let _ = std::process::Command::new("sync").status();
    let mut before = cpu_times();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = cpu_times();
        let idle = match (before, now) {
            (Some((i0, t0)), Some((i1, t1))) => i1.saturating_sub(i0) as f64 / t1.saturating_sub(t0).max(1) as f64,
            _ => 1.0,
        };
        if (idle >= 0.9 && unwritten_kib() <= 32 * 1024) || start.elapsed() >= max {
            return start.elapsed().as_secs_f64();
        }
        before = now;
    }
}

/// Idle and total jiffies of all cores (`/proc/stat`'s first line; I/O wait is not idle).
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    Some((*v.get(3)?, v.iter().take(8).sum()))
}

/// Dirty and under-writeback page cache, in KiB.
fn unwritten_kib() -> u64 {
    let [dirty, writeback] = kib_fields("/proc/meminfo", ["Dirty:", "Writeback:"]);
    dirty + writeback
}
