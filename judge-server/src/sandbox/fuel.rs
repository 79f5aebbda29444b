//! Time limits that mean the same on every machine: a run's `timeout` is a budget of Wasmtime
//! fuel (one unit per WebAssembly instruction executed), not of wall-clock time, so a correct
//! program judged while the host is busy gets the same verdict as on an idle host. Running out
//! of fuel is the program's fault (`Exit::Timeout`, a cacheable `fail`); the wall-clock limit
//! that remains (`WALL_FACTOR` times the budget plus `WALL_SLACK`) is only a safety net, and its
//! expiry is the host's problem (`Exit::WallClock`, an `error` that is never cached).
//!
//! Sleeping is charged to the same budget: `poll_oneoff` on clocks alone (what `time.sleep`
//! and `setTimeout`-style waits compile to) returns at once, costs the fuel the wait would have
//! been worth, and moves the guest's clocks (`VirtualClock`) forward by the wait, so a program
//! cannot trade a `fail` for an `error` by sleeping past the safety net, and a sleeping
//! program costs the host nothing. Polls on file descriptors are refused (`ENOTSUP`): no
//! sandboxed guest has any descriptor worth polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::{Caller, Linker};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Fuel per millisecond of budget: what CPython 3.12 for WASI executes per millisecond on the
/// reference machine, the 2-vCPU CI host, idle (measured there on 2026-12-03 with
/// `MOJ_BENCH_ONLY=fuel cargo bench -p judge-server --bench sandbox`: 5.6-5.8 million
/// per ms for an integer loop, string work and dict/list work started from `_start`, 5.7-6.0
/// million from the pre-initialised snapshot). The figure is fixed here, not measured at
/// start-up, so that `timeout_ms` means the same amount of work on every machine: a program
/// that needs 2 s on the reference machine passes a 5 s limit on a host 8 times busier too.
pub const FUEL_PER_MS: u64 = 5_000_000;

/// The safety net: a run still going after this many times its budget (plus `WALL_SLACK`) of
/// wall-clock time is stopped and answered `error`.
pub const WALL_FACTOR: u32 = 10;
/// The same for compiled modules (C/C++ programs, plugins): their instructions take much more
/// or much less time than an interpreter's average one (`MOJ_BENCH_ONLY=cpp`: 1.1 million
/// per ms for `std::map` work, 4-6 million for sorting and sieving, 24 million for a DP
/// loop), so a memory-bound program needs a wider net to end on its budget, not the net.
pub const COMPILED_WALL_FACTOR: u32 = 30;
pub const WALL_SLACK: Duration = Duration::from_secs(5);

/// CPU time a run may use, in multiples of its budget: past it the run ends as out of time
/// (`Exit::Timeout`, a `fail`), like running out of fuel. Fuel counts instructions; a program
/// can make each one cost far more than the budget assumes (a pointer chase through 200 MB
/// misses the cache on every load: ~130x the time per instruction; host calls that stat
/// files), and without this it would hold a core until the wall-clock net and get `error`.
/// Normal programs use 0.2-4.5x their budget's CPU time (`MOJ_BENCH_ONLY=cpp`, CPython ~1x),
/// so the cap only ends pathological ones, on any machine.
pub const CPU_FACTOR: u32 = 8;

/// How much fuel a guest runs between two yields to its worker's executor (about 2 ms of
/// budget): where the safety net's deadline and a dropped request are noticed, and where the
/// two runs of a pair take turns. Fuel yields replace epoch interruption, whose check on every
/// loop back-edge cost compiled programs ~20 % (docs/benchmarks.md).
pub const YIELD_FUEL: u64 = 2 * FUEL_PER_MS;

/// The fuel a budget of `timeout` buys.
pub fn fuel_for(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_mul(FUEL_PER_MS)
}

/// The wall-clock safety net for a budget of `timeout` (`factor`: `WALL_FACTOR`, or
/// `COMPILED_WALL_FACTOR` for compiled modules).
pub fn wall_limit(timeout: Duration, factor: u32) -> Duration {
    timeout.saturating_mul(factor) + WALL_SLACK
}

/// A run's clocks: the host's, plus the time the run has slept (`poll_oneoff` below).
#[derive(Clone)]
pub struct VirtualClock {
    started: Instant,
    slept_nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    pub fn new() -> VirtualClock {
        VirtualClock {
            started: Instant::now(),
            slept_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    fn slept(&self) -> Duration {
        Duration::from_nanos(self.slept_nanos.load(Ordering::Relaxed))
    }

    fn sleep(&self, nanos: u64) {
        self.slept_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn monotonic_nanos(&self) -> u64 {
        u64::try_from((self.started.elapsed() + self.slept()).as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_nanos(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from((now + self.slept()).as_nanos()).unwrap_or(u64::MAX)
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.monotonic_nanos()
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.wall_nanos())
    }
}

/// A store's data that carries its run's clock.
pub trait Clocked {
    fn clock(&self) -> &VirtualClock;
}

const SUBSCRIPTION_BYTES: u32 = 48;
/// Subscriptions one `poll_oneoff` may wait on, and the fuel each costs.
const MAX_SUBSCRIPTIONS: u32 = 1024;
const SUBSCRIPTION_FUEL: u64 = 500;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const EVENT_BYTES: u32 = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const ABSTIME: u16 = 1;

/// The WASI errno values this `poll_oneoff` answers.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(i32)]
enum Errno {
    Success = 0,
    Fault = 21,
    Inval = 28,
    Notsup = 58,
}

/// Replaces WASI's `poll_oneoff` in `linker` (after `add_to_linker_async`) with the fuel-charged
/// sleep described above.
pub fn link_virtual_sleep<T: Clocked + super::host_work::Metered + Send + 'static>(
    linker: &mut Linker<T>,
) -> Result<(), String> {
    super::host_work::replace_wasi(
        linker,
        "poll_oneoff",
        |mut caller: Caller<'_, T>,
         subscriptions: i32,
         events: i32,
         count: i32,
         written: i32|
         -> wasmtime::Result<i32> {
            caller.data_mut().host_calls().started();
            virtual_poll(
                &mut caller,
                subscriptions as u32,
                events as u32,
                count as u32,
                written as u32,
            )
            .map(|errno| errno as i32)
        },
    )
}

/// One clock subscription: its userdata and how long it waits from `clock`'s now, in
/// nanoseconds.
fn read_clock(memory: &[u8], at: usize, clock: &VirtualClock) -> Option<Result<(u64, u64), Errno>> {
    let bytes = memory.get(at..at + SUBSCRIPTION_BYTES as usize)?;
    let userdata = u64::from_le_bytes(bytes[0..8].try_into().ok()?);
    if bytes[8] != EVENTTYPE_CLOCK {
        return Some(Err(Errno::Notsup));
    }
    let id = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
    let timeout = u64::from_le_bytes(bytes[24..32].try_into().ok()?);
    let flags = u16::from_le_bytes(bytes[40..42].try_into().ok()?);
    if flags & ABSTIME == 0 {
        return Some(Ok((userdata, timeout)));
    }
    let now = match id {
        CLOCK_MONOTONIC => clock.monotonic_nanos(),
        CLOCK_REALTIME => clock.wall_nanos(),
        _ => return Some(Err(Errno::Notsup)),
    };
    Some(Ok((userdata, timeout.saturating_sub(now))))
}

fn virtual_poll<T: Clocked>(
    caller: &mut Caller<'_, T>,
    subscriptions: u32,
    events: u32,
    count: u32,
    written: u32,
) -> wasmtime::Result<Errno> {
    // A program waits on a few clocks at a time; a million subscriptions in one call is host
    // work (and memory) the budget would not see: refused, and each one charged.
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Ok(Errno::Inval);
    }
    super::host_work::spend(&mut *caller, u64::from(count) * SUBSCRIPTION_FUEL)?;
    let Some(memory) = caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
    else {
        return Ok(Errno::Fault);
    };
    let mut clocks = Vec::with_capacity(count.min(64) as usize);
    for index in 0..count {
        let at = subscriptions as usize + (index * SUBSCRIPTION_BYTES) as usize;
        match read_clock(memory.data(&*caller), at, caller.data().clock()) {
            None => return Ok(Errno::Fault),
            Some(Err(errno)) => return Ok(errno),
            Some(Ok(clock)) => clocks.push(clock),
        }
    }
    let shortest = clocks.iter().map(|&(_, ns)| ns).min().unwrap_or(0);
    charge(caller, shortest)?;
    caller.data().clock().sleep(shortest);
    let mut fired = 0u32;
    for (userdata, _) in clocks.iter().filter(|&&(_, ns)| ns == shortest) {
        let mut event = [0u8; EVENT_BYTES as usize];
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        event[10] = EVENTTYPE_CLOCK;
        let at = events as usize + (fired * EVENT_BYTES) as usize;
        if memory.write(&mut *caller, at, &event).is_err() {
            return Ok(Errno::Fault);
        }
        fired += 1;
    }
    if memory
        .write(&mut *caller, written as usize, &fired.to_le_bytes())
        .is_err()
    {
        return Ok(Errno::Fault);
    }
    Ok(Errno::Success)
}

/// Takes the fuel a wait of `nanos` is worth; a wait longer than what is left ends the run as
/// out of fuel, exactly as computing for that long would.
fn charge<T>(caller: &mut Caller<'_, T>, nanos: u64) -> wasmtime::Result<()> {
    let cost =
        u64::try_from(u128::from(nanos) * u128::from(FUEL_PER_MS) / 1_000_000).unwrap_or(u64::MAX);
    super::host_work::spend(caller, cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_and_safety_nets() {
        assert_eq!(fuel_for(Duration::from_millis(5)), 5 * FUEL_PER_MS);
        assert_eq!(fuel_for(Duration::MAX), u64::MAX);
        assert_eq!(
            wall_limit(Duration::from_secs(5), WALL_FACTOR),
            Duration::from_secs(5 * u64::from(WALL_FACTOR)) + WALL_SLACK
        );
    }

    #[test]
    fn reads_clocks_and_refuses_the_rest() {
        let clock = VirtualClock::new();
        let mut memory = vec![0u8; 96];
        memory[0..8].copy_from_slice(&7u64.to_le_bytes());
        memory[16..20].copy_from_slice(&CLOCK_MONOTONIC.to_le_bytes());
        memory[24..32].copy_from_slice(&1_000u64.to_le_bytes());
        assert_eq!(read_clock(&memory, 0, &clock), Some(Ok((7, 1_000))));
        // An absolute deadline: the wait from now (a deadline in the past is no wait).
        memory[40] = 1;
        assert_eq!(read_clock(&memory, 0, &clock), Some(Ok((7, 0))));
        let later = clock.monotonic_nanos() + 60_000_000_000;
        memory[24..32].copy_from_slice(&later.to_le_bytes());
        let Some(Ok((_, wait))) = read_clock(&memory, 0, &clock) else {
            panic!("a monotonic deadline is read");
        };
        assert!(wait > 59_000_000_000 && wait <= 60_000_000_000, "{wait}");
        // Sleeping moves the clock.
        clock.sleep(wait);
        assert!(read_clock(&memory, 0, &clock) == Some(Ok((7, 0))));
        memory[48 + 8] = 1; // fd_read
        assert_eq!(read_clock(&memory, 48, &clock), Some(Err(Errno::Notsup)));
        assert_eq!(read_clock(&memory, 90, &clock), None, "out of bounds");
    }
}
