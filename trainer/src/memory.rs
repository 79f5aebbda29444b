//! The process's heap policy. A training step allocates and frees the same large activation
//! buffers every step. By default glibc serves blocks over 32 MiB with fresh `mmap`s and gives
//! freed memory at the top of the heap back to the system, so every step pays a page fault and
//! a kernel page clear for each 4 KiB of activations: over half of a SmolLM2 training step in
//! `perf`. [`keep_freed_memory`] makes glibc keep freed memory for reuse instead. The process
//! then holds its peak heap until it exits, as a GPU caching allocator does. Set
//! `MOJ_RETURN_FREED_MEMORY=1` to keep glibc's defaults.
//!
//! Between stages (SFT, reward model, RL) [`release_freed`] hands the kept memory back, and
//! [`Peak`] measures a stage's peak resident set size.

use serde::Serialize;
use std::ffi::OsStr;

/// Set to anything but `0` to keep the allocator's defaults.
pub const OPT_OUT_ENV: &str = "MOJ_RETURN_FREED_MEMORY";

/// Applies the policy unless `MOJ_RETURN_FREED_MEMORY` opts out. Returns whether it now holds
/// (always false where the allocator is not glibc's). Call it once, at start-up.
pub fn keep_freed_memory() -> bool {
    wanted(std::env::var_os(OPT_OUT_ENV).as_deref()) && allocator::keep_freed_memory()
}

/// The same policy for another process, as glibc's `GLIBC_TUNABLES` environment variable.
pub const GLIBC_TUNABLES: &str =
    "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:glibc.malloc.arena_max=1";

fn wanted(opt_out: Option<&OsStr>) -> bool {
    opt_out.is_none_or(|value| value == "0")
}

/// Returns the freed memory the heap kept to the system (glibc's `malloc_trim`), so one stage's
/// peak does not stay resident through the next.
pub fn release_freed() {
    allocator::release_freed();
}

/// A peak resident-set measurement, started by [`Peak::start`].
pub struct Peak(());

impl Peak {
    /// Restarts the kernel's peak counter (`VmHWM`, reset to the resident set now by writing
    /// 5 to `/proc/self/clear_refs`). Memory the heap keeps counts as resident: call
    /// [`release_freed`] first to measure a stage on its own.
    pub fn start() -> Self {
        // Without the reset (non-Linux, old kernels) the reading is the process's peak so far.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Peak(())
    }

    /// The peak resident set since [`Peak::start`], in MiB (`None` where `/proc` is absent).
    pub fn mib(&self) -> Option<f64> {
        status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0)
    }
}

/// The resident set now, in MiB.
pub fn resident_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|kib| kib as f64 / 1024.0)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, field)
}

fn kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Memory this process can still get, in MiB: the kernel's `MemAvailable`, capped by the
/// cgroup's `memory.max` less what the cgroup already uses (containers).
pub fn available_mib() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut available = kib_field(&meminfo, "MemAvailable:")? as f64 / 1024.0;
    let cgroup = |file: &str| -> Option<f64> {
        let text = std::fs::read_to_string(format!("/sys/fs/cgroup/{file}")).ok()?;
        text.trim()
            .parse::<f64>()
            .ok()
            .map(|b| b / (1024.0 * 1024.0))
    };
    if let (Some(max), Some(used)) = (cgroup("memory.max"), cgroup("memory.current")) {
        available = available.min(max - used);
    }
    Some(available)
}

/// Peak resident set of each stage of a run, in MiB.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StagePeaks {
    pub sft_mib: Option<f64>,
    pub reward_model_mib: Option<f64>,
    /// Greedy generation and judging of the evaluation prompts (the SFT start's evaluation).
    pub generation_mib: Option<f64>,
    /// The largest of every RL step of every run.
    pub rl_step_mib: Option<f64>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod allocator {
    pub fn release_freed() {
        // SAFETY: malloc_trim only walks glibc's own heap under its locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    pub fn keep_freed_memory() -> bool {
        // SAFETY: mallopt only sets glibc's allocator parameters (under its own locks).
        unsafe {
            // Every block from the heap, never from its own mmap.
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                // Freed memory stays in the heap (-1: never trim).
                && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
                // One heap, so memory one thread frees is reused by the others.
                && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod allocator {
    pub fn release_freed() {}

    pub fn keep_freed_memory() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opt_out_is_honoured() {
        assert!(wanted(None));
        assert!(wanted(Some(OsStr::new("0"))));
        assert!(!wanted(Some(OsStr::new("1"))));
        assert!(!wanted(Some(OsStr::new("yes"))));
    }

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\ttrainer\nVmHWM:\t  123456 kB\nVmRSS:\t   2048 kB\n";
        assert_eq!(kib_field(status, "VmHWM:"), Some(123456));
        assert_eq!(kib_field(status, "VmRSS:"), Some(2048));
        assert_eq!(kib_field(status, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_peak_sees_a_large_allocation() {
        assert!(resident_mib().unwrap() > 0.0);
        release_freed();
        let before = resident_mib().unwrap();
        let peak = Peak::start();
        let block = vec![1u8; 256 << 20];
        assert!(block.iter().step_by(4096).all(|b| *b == 1));
        let during = peak.mib().unwrap();
        drop(block);
        release_freed();
        assert!(
            during >= before + 200.0,
            "peak {during} MiB, before {before} MiB"
        );
        assert!(available_mib().unwrap() > 0.0);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_policy() {
        assert!(allocator::keep_freed_memory());
    }
}
