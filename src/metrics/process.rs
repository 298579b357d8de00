//! Process CPU time, resident memory and open file descriptors, read from `/proc/self` at scrape
//! time (Linux; elsewhere the series are simply absent). The names are the ones every Prometheus
//! client library uses, so stock dashboards work.
//!
//! Why by hand: the `/proc` reads are a dozen lines; a process-metrics crate would bring `procfs`
//! and its dependencies for them.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every architecture
/// Linux exports to user space (the kernel ABI fixes it; `sysconf` would need `unsafe`).
const USER_HZ: f64 = 100.0;

#[derive(Debug)]
pub(super) struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(cpu) = cpu_seconds() {
            let help = "User and system CPU time spent, seconds";
            put(
                &mut encoder,
                "process_cpu_seconds",
                help,
                &ConstCounter::new(cpu),
            )?;
        }
        if let Some(rss) = resident_bytes() {
            let help = "Resident memory size, bytes";
            put(
                &mut encoder,
                "process_resident_memory_bytes",
                help,
                &ConstGauge::new(rss),
            )?;
        }
        if let Some(fds) = open_fds() {
            put(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                &ConstGauge::new(fds),
            )?;
        }
        Ok(())
    }
}

fn put(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// utime + stime from `/proc/self/stat` (fields 14 and 15; counted after the `)` that closes
/// the command name, which may itself contain spaces and parentheses).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// `VmRSS` from `/proc/self/status`, in kB there (no page size needed).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn open_fds() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    // One of them is the directory handle doing the counting.
    Some(n.saturating_sub(1) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        assert!(super::cpu_seconds().is_some());
        assert!(super::resident_bytes().unwrap() > 1024 * 1024);
        assert!(super::open_fds().unwrap() >= 3);
    }
}
