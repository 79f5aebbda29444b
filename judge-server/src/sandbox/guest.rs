//! One WASI command module, pre-instantiated, and one execution of it in a fresh store:
//! fixed argv, no environment, no preopened directories (so no host files and no sockets),
//! in-memory stdin/stdout/stderr with byte caps, memory and table limits, and a deadline.

use std::time::{Duration, Instant};

use wasmtime::{
    Engine, InstancePre, Linker, Module, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder,
    Trap, UpdateDeadline,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::OutputStream;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::engine::TABLE_ELEMENTS;
use super::{Exit, RunLimits, RunOutput, SandboxError};

pub struct RunState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    memory_denied: bool,
}

/// Delegates to `StoreLimits` and records a denied memory growth, so a MemoryError can be
/// told apart from other exceptions.
impl ResourceLimiter for RunState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.memory_denied = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

pub struct Guest {
    pub name: &'static str,
    /// SHA-256 of the guest's wasm: identifies the runtime in judge fingerprints.
    pub sha256: String,
    pre: InstancePre<RunState>,
}

impl Guest {
    pub fn new(
        engine: &Engine,
        name: &'static str,
        module: &Module,
        sha256: String,
    ) -> Result<Guest, String> {
        let mut linker: Linker<RunState> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut RunState| &mut state.wasi)
            .map_err(|e| format!("cannot link WASI: {e:#}"))?;
        let pre = linker
            .instantiate_pre(module)
            .map_err(|e| format!("cannot pre-instantiate {name}: {e:#}"))?;
        Ok(Guest { name, sha256, pre })
    }

    /// Runs `_start` once in a fresh store. Errors are infrastructure failures; whatever the
    /// program does (exit codes, traps, timeouts) is in the `RunOutput`.
    pub async fn run(
        &self,
        argv: &[String],
        stdin: Vec<u8>,
        limits: &RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        let started = Instant::now();
        let stdout = MemoryOutputPipe::new(limits.output_bytes);
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let wasi = WasiCtxBuilder::new()
            .args(argv)
            .stdin(MemoryInputPipe::new(stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let state = RunState {
            wasi,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(TABLE_ELEMENTS)
                .instances(1)
                .memories(1)
                .tables(4)
                .build(),
            memory_denied: false,
        };
        let mut store = Store::new(self.pre.module().engine(), state);
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        let deadline = started + limits.timeout;
        // A full stdout/stderr ends the run at the next tick: some interpreters (QuickJS)
        // ignore failed writes and would otherwise flood until the deadline.
        let (mut watch_out, mut watch_err) = (stdout.clone(), stderr.clone());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            let full = watch_out.check_write().is_err() || watch_err.check_write().is_err();
            if full || Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let instance = self.pre.instantiate_async(&mut store).await.map_err(|e| {
            SandboxError::Internal(format!("cannot instantiate {}: {e:#}", self.name))
        })?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|e| SandboxError::Internal(format!("{} has no _start: {e:#}", self.name)))?;
        // The epoch callback interrupts running guest code; this outer timeout also ends
        // runs blocked in a host call (e.g. a long sleep).
        let outcome = tokio::time::timeout(
            limits.timeout + Duration::from_millis(50),
            start.call_async(&mut store, ()),
        )
        .await;
        let stdout_full = stdout.contents().len() >= limits.output_bytes;
        let stderr_full = stderr.contents().len() >= limits.output_bytes;
        let exit = match outcome {
            Err(_elapsed) => Exit::Timeout,
            Ok(Ok(())) => Exit::Code(0),
            Ok(Err(error)) => {
                if let Some(code) = error.downcast_ref::<I32Exit>() {
                    Exit::Code(code.0)
                } else if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                    Exit::Timeout
                } else if matches!(error.downcast_ref::<Trap>(), Some(Trap::StackOverflow)) {
                    Exit::Trap("wasm stack overflow".into())
                } else {
                    Exit::Trap(trap_reason(&format!("{error:?}")))
                }
            }
        };
        let exit = if stdout_full || stderr_full {
            Exit::OutputLimit
        } else {
            exit
        };
        let memory_denied = store.data().memory_denied;
        drop(store);
        Ok(RunOutput {
            exit,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
            memory_denied,
            elapsed: started.elapsed(),
        })
    }
}

/// One line saying why a guest stopped: the error's causes without the wasm backtrace
/// (`{:?}` of a trap is "error while executing at wasm backtrace: <frames> Caused by: <causes>").
fn trap_reason(debug: &str) -> String {
    let headline = debug.lines().next().unwrap_or("trap").trim();
    let causes: Vec<&str> = debug
        .split_once("Caused by:")
        .map(|(_, causes)| {
            causes
                .lines()
                .map(|line| {
                    line.trim()
                        .trim_start_matches(|c: char| c.is_ascii_digit() || c == ':')
                })
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if causes.is_empty() {
        headline.to_owned()
    } else {
        causes.join(": ")
    }
}

#[cfg(test)]
mod trap_reason_tests {
    use super::trap_reason;

    #[test]
    fn keeps_the_causes_without_the_backtrace() {
        let debug = "error while executing at wasm backtrace:\n    0:   0x1b - <unknown>!_start\n\nCaused by:\n    0: invalid flags\n    1: bad rights";
        assert_eq!(trap_reason(debug), "invalid flags: bad rights");
        let single = "error while executing at wasm backtrace:\n    0: 0x1 - f\n\nCaused by:\n    memory fault at 0x7fffffff";
        assert_eq!(trap_reason(single), "memory fault at 0x7fffffff");
        assert_eq!(
            trap_reason("wasm trap: out of bounds memory access"),
            "wasm trap: out of bounds memory access"
        );
    }
}
