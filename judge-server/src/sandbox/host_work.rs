//! Work a guest makes the host do, charged to the run's fuel budget (`fuel.rs`), so that it
//! cannot outrun its budget in host calls that execute no WebAssembly instructions.
//!
//! Fuel counts the guest's own instructions. A host call costs the guest one `call`, but the
//! host may work much longer: a loop of `sched_yield` or `clock_time_get` runs ~6 instructions
//! per call against ~0.2-1 µs of host work, and one `random_get` of 16 MB fills 16 MB. Without
//! a charge, such a program reaches the wall-clock safety net before its fuel runs out, which
//! turns its `fail` (budget used up, cacheable) into an `error` (never cached, excluded from
//! training) and holds a worker for ten times its budget. So every host call costs
//! `HOST_CALL_FUEL` (`HostCalls`: counted as it starts, charged as it returns), and
//! `random_get` is implemented here, charging `RANDOM_BYTE_FUEL` per byte before filling
//! anything. Both
//! figures are deterministic, like the rest of the budget, and generous against what the
//! host work takes on the reference machine (`MOJ_BENCH_ONLY=fuel cargo bench -p judge-server
//! --bench sandbox` measures both), so a program that calls the host a lot runs out of fuel
//! before the safety net, never after.

use std::time::{Duration, Instant};

use wasmtime::{
    AsContextMut, CallHook, CallHookHandler, Caller, IntoFunc, Linker, Store, StoreContextMut, Trap,
};

/// Fuel per host call: 0.4 µs of budget (`fuel::FUEL_PER_MS`), about three times what a cheap
/// WASI call takes on the reference machine (`sched_yield`: 128 ns, release build, 2026-12-05).
pub const HOST_CALL_FUEL: u64 = 2_000;

/// Fuel per byte `random_get` fills: 2 ns of budget a byte, against 0.3 ns measured on the
/// reference machine (16 MB in 4.8 ms, 2026-12-05).
pub const RANDOM_BYTE_FUEL: u64 = 10;

/// The largest `random_get` served at once (what wasmtime's own WASI allows for one call of
/// `get-random-bytes`); a longer request is `EINVAL`, as WASI hosts may answer.
const MAX_RANDOM_BYTES: u32 = 64 << 20;

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

/// A run's host calls as they happen: counted when one starts (WASI's context is looked up
/// once per call, `started`), charged when it returns (the store's call hook, which also fires
/// for Wasmtime's own libcalls, such as a fuel yield or `memory.copy`: those start no host
/// call here, so they are not charged).
#[derive(Default)]
pub struct HostCalls {
    started: u64,
}

impl HostCalls {
    /// A host call starts (before it runs).
    pub fn started(&mut self) {
        self.started += 1;
    }

    /// Calls started since the last return, cleared.
    fn returned(&mut self) -> u64 {
        std::mem::take(&mut self.started)
    }
}

/// A store's data that counts its host calls.
pub trait Metered {
    fn host_calls(&mut self) -> &mut HostCalls;
}

/// Takes `cost` from the run's fuel; a cost above what is left ends the run as out of fuel,
/// exactly as executing that many instructions would.
pub fn spend(mut store: impl AsContextMut, cost: u64) -> wasmtime::Result<()> {
    let mut store = store.as_context_mut();
    let left = store.get_fuel()?;
    if cost > left {
        store.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    store.set_fuel(left - cost)?;
    Ok(())
}

/// Charges `HOST_CALL_FUEL` for every host call the guest made, as it returns; then asks
/// `stop` whether the run must end now (a full output, the safety net's deadline: the run is
/// interrupted, and its owner says why); then yields to the worker's executor when
/// `HOST_YIELD_INTERVAL` has passed since the hook last did.
///
/// The yield is needed because charging resets Wasmtime's countdown to its next fuel yield
/// (`Store::set_fuel` injects a whole `fuel::YIELD_FUEL` again), so a guest calling the host
/// more often than every `YIELD_FUEL` instructions would never yield: its CPU cap, a dropped
/// request and the other run of a pair are all looked at only when it does (found with a
/// CPython 3.15 loop over `os.stat`, which ran into the wall-clock net at 15 s instead of its
/// 8 s CPU cap).
pub fn charge_host_calls<T: Metered + Send + 'static>(
    store: &mut Store<T>,
    stop: impl FnMut() -> bool + Send + 'static,
) {
    store.call_hook_async(HostCallHook {
        stop: std::sync::Mutex::new(stop),
        last_yield: std::sync::Mutex::new(Instant::now()),
    });
}

/// How often a guest that keeps calling the host yields to its worker's executor at the
/// least: about what `fuel::YIELD_FUEL` is worth in time.
pub const HOST_YIELD_INTERVAL: Duration = Duration::from_millis(2);

/// The store's call hook (`charge_host_calls`).
struct HostCallHook<S> {
    stop: std::sync::Mutex<S>,
    last_yield: std::sync::Mutex<Instant>,
}

impl<S: FnMut() -> bool + Send> HostCallHook<S> {
    /// Whether the run must end now (`stop`).
    fn must_stop(&self) -> bool {
        let mut stop = self
            .stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (*stop)()
    }

    /// Whether `HOST_YIELD_INTERVAL` has passed since the last yield (and if so, a yield
    /// starts now).
    fn yield_due(&self) -> bool {
        let mut last = self
            .last_yield
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if now.duration_since(*last) < HOST_YIELD_INTERVAL {
            return false;
        }
        *last = now;
        true
    }
}

#[async_trait::async_trait]
impl<T: Metered + Send, S: FnMut() -> bool + Send> CallHookHandler<T> for HostCallHook<S> {
    async fn handle_call_event(
        &self,
        mut store: StoreContextMut<'_, T>,
        hook: CallHook,
    ) -> wasmtime::Result<()> {
        if !matches!(hook, CallHook::ReturningFromHost) {
            return Ok(());
        }
        let calls = store.data_mut().host_calls().returned();
        if calls == 0 {
            return Ok(());
        }
        spend(&mut store, calls * HOST_CALL_FUEL)?;
        if self.must_stop() {
            return Err(Trap::Interrupt.into());
        }
        if self.yield_due() {
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

/// Replaces WASI's `random_get` in `linker` (after `add_to_linker_async`) with one that charges
/// `RANDOM_BYTE_FUEL` per byte before it fills the guest's buffer from the host's thread RNG.
pub fn link_charged_random<T: Metered + Send + 'static>(
    linker: &mut Linker<T>,
) -> Result<(), String> {
    replace_wasi(
        linker,
        "random_get",
        |mut caller: Caller<'_, T>, buf: i32, len: i32| -> wasmtime::Result<i32> {
            random_get(&mut caller, buf as u32, len as u32)
        },
    )
}

/// Replaces WASI preview 1's function `name` in `linker` (after `add_to_linker_async`).
pub fn replace_wasi<T: 'static, Params, Results>(
    linker: &mut Linker<T>,
    name: &str,
    func: impl IntoFunc<T, Params, Results>,
) -> Result<(), String> {
    linker.allow_shadowing(true);
    linker
        .func_wrap("wasi_snapshot_preview1", name, func)
        .map_err(|e| format!("cannot link {name}: {e:#}"))?;
    linker.allow_shadowing(false);
    Ok(())
}

fn random_get<T: Metered>(caller: &mut Caller<'_, T>, buf: u32, len: u32) -> wasmtime::Result<i32> {
    caller.data_mut().host_calls().started();
    if len > MAX_RANDOM_BYTES {
        return Ok(ERRNO_INVAL);
    }
    spend(&mut *caller, u64::from(len) * RANDOM_BYTE_FUEL)?;
    let Some(memory) = caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
    else {
        return Ok(ERRNO_FAULT);
    };
    let (start, end) = (buf as usize, buf as usize + len as usize);
    let Some(bytes) = memory.data_mut(&mut *caller).get_mut(start..end) else {
        return Ok(ERRNO_FAULT);
    };
    rand::fill(bytes);
    Ok(ERRNO_SUCCESS)
}
