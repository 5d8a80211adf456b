//! CPU time and memory of the running process, read from `/proc/self` (Linux only; elsewhere every
//! figure reads as zero).

use std::fmt;

/// Clock ticks per second of the `utime`/`stime` fields of `/proc/<pid>/stat` (`USER_HZ`, 100 on
/// every Linux architecture). CPU figures therefore have a resolution of 10 ms.
const TICKS_PER_SECOND: f64 = 100.0;

/// What a process has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcStats {
    /// User plus system CPU time of all its threads, living and gone.
    pub cpu_seconds: f64,
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`) since start or the last [`reset_peak_rss`], KiB.
    pub peak_rss_kib: u64,
}

impl ProcStats {
    /// Reads the figures of this process.
    pub fn current() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self {
            cpu_seconds: cpu_seconds(),
            rss_kib: status_kib(&status, "VmRSS:"),
            peak_rss_kib: status_kib(&status, "VmHWM:"),
        }
    }

    /// Parses what [`fmt::Display`] wrote: `cpu=<seconds> rss=<KiB> hwm=<KiB>`.
    pub fn parse(line: &str) -> Option<Self> {
        let mut stats = Self::default();
        let mut seen = 0;
        for field in line.split_whitespace() {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            match key {
                "cpu" => stats.cpu_seconds = value.parse().ok()?,
                "rss" => stats.rss_kib = value.parse().ok()?,
                "hwm" => stats.peak_rss_kib = value.parse().ok()?,
                _ => continue,
            }
            seen += 1;
        }
        (seen == 3).then_some(stats)
    }
}

impl fmt::Display for ProcStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu={:.2} rss={} hwm={}",
            self.cpu_seconds, self.rss_kib, self.peak_rss_kib
        )
    }
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS, so the next reading is the peak of
/// what follows. Returns false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    // Fields after it start at field 3 (`state`); `utime` is field 14 and `stime` field 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    ticks as f64 / TICKS_PER_SECOND
}

fn status_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_agree() {
        let stats = ProcStats {
            cpu_seconds: 1.25,
            rss_kib: 2048,
            peak_rss_kib: 4096,
        };
        assert_eq!(ProcStats::parse(&stats.to_string()), Some(stats));
        assert_eq!(ProcStats::parse("cpu=1 rss=2"), None);
    }

    #[test]
    fn reads_something_on_linux() {
        if cfg!(target_os = "linux") {
            let stats = ProcStats::current();
            assert!(stats.rss_kib > 0);
            assert!(stats.peak_rss_kib >= stats.rss_kib);
        }
    }
}
