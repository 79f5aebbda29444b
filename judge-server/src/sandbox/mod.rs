//! The WebAssembly sandbox: runs untrusted guests (CPython and QuickJS for WASI) in-process
//! under Wasmtime.
//! It knows nothing about judging: callers give argv, stdin and limits, and get the exit,
//! stdout and stderr back.
//!
//! One engine per process; each guest compiled once (cached on disk) and pre-instantiated;
//! every run gets a fresh store. Runs execute on a fixed pool of worker threads (one async
//! executor each) fed by a bounded queue: when the queue is full, `run` fails with `Busy`.

mod engine;
mod guest;
mod module_cache;
mod plugins;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use wasmtime::Engine;

use crate::config::SandboxConfig;
pub use guest::Guest;
pub use module_cache::Origin;
pub use plugins::{InvalidPlugin, PluginSource};

/// File name of the CPython runtime inside `sandbox.runtime_dir`.
pub const PYTHON_WASM: &str = "python-3.12.0.wasm";
/// File name of the QuickJS-ng runtime inside `sandbox.runtime_dir`.
pub const QUICKJS_WASM: &str = "quickjs.wasm";

/// An interpreter the sandbox can run. Adding one: a variant here, its file and fetch script
/// below, and `sandboxes/<name>/fetch.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    JavaScript,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
        }
    }

    /// The guest's argv[0].
    fn program(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "qjs",
        }
    }

    /// The runtime's file name inside `sandbox.runtime_dir`.
    pub fn runtime_file(self) -> &'static str {
        match self {
            Language::Python => PYTHON_WASM,
            Language::JavaScript => QUICKJS_WASM,
        }
    }

    /// The script that installs the runtime.
    fn fetch_script(self) -> &'static str {
        match self {
            Language::Python => "sandboxes/python/fetch.sh",
            Language::JavaScript => "sandboxes/js/fetch.sh",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-run limits.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Wall-clock budget of the run, CPython's start-up included.
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
    Timeout,
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

type Job =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

pub struct Sandbox {
    /// One entry per `Language::ALL`, in that order: the guest, or how to install it.
    guests: Vec<Result<Arc<Guest>, String>>,
    plugins: plugins::Plugins,
    queue: SyncSender<Job>,
    queue_capacity: usize,
    pub workers: usize,
    limits: SandboxConfig,
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
            max_instances: (workers * 2 + 2) as u32,
        })?;
        let mut guests = Vec::with_capacity(Language::ALL.len());
        let mut python_report = None;
        for language in Language::ALL {
            match load(
                &engine,
                language,
                &config.runtime_dir,
                &config.compiled_cache_dir,
            ) {
                Ok((guest, report)) => {
                    if language == Language::Python {
                        python_report = Some(report);
                    }
                    guests.push(Ok(Arc::new(guest)));
                }
                Err(message) => {
                    tracing::warn!(language = language.name(), %message, "a sandbox runtime is unavailable; code judges in that language will answer error");
                    guests.push(Err(message));
                }
            }
        }
        let (queue, jobs) = sync_channel::<Job>(config.max_queued_runs);
        let jobs = Arc::new(Mutex::new(jobs));
        for index in 0..workers {
            spawn_worker(index, Arc::clone(&jobs))?;
        }
        let sandbox = Sandbox {
            guests,
            plugins: plugins::Plugins::new(
                engine.clone(),
                config.compiled_cache_dir.clone(),
                config.max_memory_mb * 1024 * 1024,
            ),
            queue,
            queue_capacity: config.max_queued_runs,
            workers,
            limits: config.clone(),
        };
        Ok((sandbox, python_report))
    }

    /// The configured upper bounds (judge configs are checked against them).
    pub fn limits(&self) -> &SandboxConfig {
        &self.limits
    }

    /// The SHA-256 of the runtime that runs `language`, when it is installed.
    pub fn runtime_sha256(&self, language: Language) -> Option<&str> {
        self.guests[language.index()]
            .as_ref()
            .ok()
            .map(|guest| guest.sha256.as_str())
    }

    /// Whether the runtime for `language` is installed (else the message saying how to get it).
    pub fn availability(&self, language: Language) -> Result<(), String> {
        self.guests[language.index()]
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }

    /// Runs `language`'s interpreter with `args` (after argv[0]) and `stdin`.
    pub async fn run(
        &self,
        language: Language,
        args: &[String],
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        let guest = self.guests[language.index()]
            .as_ref()
            .map_err(|m| SandboxError::RuntimeMissing(m.clone()))?;
        let mut argv = vec![language.program().to_owned()];
        argv.extend_from_slice(args);
        self.run_guest(Arc::clone(guest), argv, stdin, limits).await
    }

    /// Runs a plugin module (argv `["plugin"]`) with `stdin`.
    pub async fn run_plugin(
        &self,
        guest: &Arc<Guest>,
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        self.run_guest(Arc::clone(guest), vec!["plugin".to_owned()], stdin, limits)
            .await
    }

    async fn run_guest(
        &self,
        guest: Arc<Guest>,
        argv: Vec<String>,
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        if limits.memory_bytes > self.limits.max_memory_mb * 1024 * 1024 {
            return Err(SandboxError::Internal(format!(
                "memory limit {} MiB is above sandbox.max_memory_mb",
                limits.memory_bytes / (1024 * 1024)
            )));
        }
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = reply.send(guest.run(&argv, stdin, &limits).await);
            })
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(SandboxError::Busy(self.queue_capacity)),
            Err(TrySendError::Disconnected(_)) => {
                return Err(SandboxError::Internal("the sandbox workers stopped".into()));
            }
        }
        result.await.unwrap_or_else(|_| {
            Err(SandboxError::Internal(
                "a sandbox worker died during the run".into(),
            ))
        })
    }
}

fn load(
    engine: &Engine,
    language: Language,
    runtime_dir: &Path,
    cache_dir: &Path,
) -> Result<(Guest, LoadReport), String> {
    let path: PathBuf = runtime_dir.join(language.runtime_file());
    let wasm = std::fs::read(&path).map_err(|error| {
        format!(
            "the {} runtime {} is not installed ({error}); run {} {} \
             (or set sandbox.runtime_dir / MOJ_SANDBOX_RUNTIME_DIR)",
            language.name(),
            path.display(),
            language.fetch_script(),
            runtime_dir.display()
        )
    })?;
    let loaded = module_cache::load(engine, &wasm, cache_dir)?;
    tracing::info!(
        language = language.name(),
        runtime = %path.display(),
        sha256 = loaded.sha256,
        origin = ?loaded.origin,
        millis = loaded.millis as u64,
        "sandbox runtime loaded"
    );
    let report = LoadReport {
        origin: loaded.origin,
        millis: loaded.millis,
    };
    let guest = Guest::new(engine, language.name(), &loaded.module, loaded.sha256)?;
    Ok((guest, report))
}

fn spawn_worker(index: usize, jobs: Arc<Mutex<Receiver<Job>>>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a sandbox worker: {e}"))?;
    std::thread::Builder::new()
        .name(format!("moj-sandbox-{index}"))
        .spawn(move || {
            loop {
                let job = match jobs.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                runtime.block_on(job());
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start a sandbox worker: {e}"))
}

#[cfg(test)]
mod tests;
