//! The process's heap policy. A training step allocates and frees the same large activation
//! buffers every step. By default glibc serves blocks over 32 MiB with fresh `mmap`s and gives
//! freed memory at the top of the heap back to the system, so every step pays a page fault and
//! a kernel page clear for each 4 KiB of activations: over half of a SmolLM2 training step in
//! `perf`. [`keep_freed_memory`] makes glibc keep freed memory for reuse instead. The process
//! then holds its peak heap until it exits, as a GPU caching allocator does. Set
//! `MOJ_RETURN_FREED_MEMORY=1` to keep glibc's defaults.

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

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod allocator {
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

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_policy() {
        assert!(allocator::keep_freed_memory());
    }
}
