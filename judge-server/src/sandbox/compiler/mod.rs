//! C and C++ to WebAssembly: Debian's clang-19 with wasi-libc and libc++ for `wasm32-wasi`
//! compiles a program (in a jail: `jail.rs`), and the sandbox runs the module like any guest
//! (fresh instance per run, fuel budget, memory cap, captured stdio, no files, no sockets).
//!
//! - Found at start-up (`sandbox.clang`, default `clang-19` on the `PATH`, with `wasm-ld`, the
//!   sysroot and libc++ beside it) and only used where Landlock contains it; otherwise C and
//!   C++ are unavailable, with the reason (`/readyz` `runtimes.c` / `runtimes.cpp`).
//! - `#include <bits/stdc++.h>` works (`stdc++.h`, shipped here), precompiled once per
//!   standard so such a program compiles in ~0.25 s instead of ~1 s.
//! - Exceptions: libc++abi for wasm32-wasi is built without them, so programs are compiled
//!   with `-fno-exceptions`: `try`/`throw` is a compile error that says so, never a wrong run.
//! - Modules are cached by SHA-256 of (toolchain identity, language, standard, source), in
//!   memory and on disk: judging the same program again, or against more tests, compiles once.
//! - The stack is 8 MiB and placed first in memory, so deep recursion works and an overflow
//!   traps instead of overwriting data.
//! - `-O2` with the WebAssembly features Wasmtime runs natively (bulk memory, so `memset` and
//!   `memcpy` are single instructions; 128-bit SIMD; non-trapping float-to-int; sign extension).

mod jail;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};

use super::SandboxError;
use super::module_cache::{COMPILED_PROGRAM_PREFIX, DiskCache};
use crate::config::SandboxConfig;
pub use jail::Ended;

/// Shipped as `<bits/stdc++.h>`.
const BITS_STDCXX: &str = include_str!("stdc++.h");
/// Bumped whenever the flags below change (part of every cache key and fingerprint).
const RECIPE: &str = "moj-cc-4: -O2 -flto bulk-memory simd128 nontrapping-fptoint sign-ext \
     -fno-exceptions --stack-first stack-size=8MiB strip-all";
/// Source texts longer than this are refused before the compiler sees them.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Diagnostics kept from a compile.
const MAX_DIAGNOSTICS_BYTES: usize = 64 * 1024;
/// Bytes of compiled programs kept in memory (the least recently used go first).
const MEMORY_CACHE_BYTES: usize = 128 << 20;
/// Programs that did not compile, remembered (the same source fails again without a compile).
const FAILURE_CACHE_ENTRIES: usize = 1024;
/// The largest compiled program run (initialised static data is in the module: a program
/// with a 200 MB initialised array would otherwise fill memory and disk caches).
pub const MAX_MODULE_BYTES: usize = 16 << 20;

/// A language standard: the `-std=` flag (C++: `gnu++17` unless a judge says otherwise; C:
/// `gnu17`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum CppStandard {
    #[serde(rename = "c++14")]
    Cpp14,
    #[serde(rename = "gnu++14")]
    Gnu14,
    #[serde(rename = "c++17")]
    Cpp17,
    #[default]
    #[serde(rename = "gnu++17")]
    Gnu17,
    #[serde(rename = "c++20")]
    Cpp20,
    #[serde(rename = "gnu++20")]
    Gnu20,
    #[serde(rename = "c++23")]
    Cpp23,
    #[serde(rename = "gnu++23")]
    Gnu23,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum CStandard {
    #[serde(rename = "c99")]
    C99,
    #[serde(rename = "gnu99")]
    Gnu99,
    #[serde(rename = "c11")]
    C11,
    #[serde(rename = "gnu11")]
    Gnu11,
    #[serde(rename = "c17")]
    C17,
    #[default]
    #[serde(rename = "gnu17")]
    Gnu17,
    #[serde(rename = "c23")]
    C23,
    #[serde(rename = "gnu23")]
    Gnu23,
}

impl CppStandard {
    pub fn flag(self) -> &'static str {
        match self {
            CppStandard::Cpp14 => "c++14",
            CppStandard::Gnu14 => "gnu++14",
            CppStandard::Cpp17 => "c++17",
            CppStandard::Gnu17 => "gnu++17",
            CppStandard::Cpp20 => "c++20",
            CppStandard::Gnu20 => "gnu++20",
            CppStandard::Cpp23 => "c++2b",
            CppStandard::Gnu23 => "gnu++2b",
        }
    }
}

impl CStandard {
    pub fn flag(self) -> &'static str {
        match self {
            CStandard::C99 => "c99",
            CStandard::Gnu99 => "gnu99",
            CStandard::C11 => "c11",
            CStandard::Gnu11 => "gnu11",
            CStandard::C17 => "c17",
            CStandard::Gnu17 => "gnu17",
            CStandard::C23 => "c2x",
            CStandard::Gnu23 => "gnu2x",
        }
    }
}

/// What to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    C(CStandard),
    Cpp(CppStandard),
}

impl Dialect {
    fn file_name(self) -> &'static str {
        match self {
            Dialect::C(_) => "main.c",
            Dialect::Cpp(_) => "main.cpp",
        }
    }

    fn std_flag(self) -> String {
        match self {
            Dialect::C(standard) => format!("-std={}", standard.flag()),
            Dialect::Cpp(standard) => format!("-std={}", standard.flag()),
        }
    }
}

/// A compiled program.
#[derive(Debug, Clone)]
pub struct Program {
    pub wasm: Arc<Vec<u8>>,
    /// The compiler's warnings (empty from the cache).
    pub diagnostics: String,
    pub elapsed: Duration,
    /// Taken from the cache (memory or disk), not compiled now.
    pub cached: bool,
}

/// Why a program did not compile: the program's doing, a `fail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `errors`, `cpu_limit`, `memory_limit`, `output_limit`, `too_large`, `crash`.
    pub reason: &'static str,
    pub diagnostics: String,
    pub elapsed: Duration,
}

/// A precompiled header, built once.
type HeaderCell = Arc<OnceCell<PathBuf>>;

/// Where the toolchain's parts are.
#[derive(Debug, Clone)]
struct Toolchain {
    clang: PathBuf,
    /// `<bin>/../` of clang: the LLVM tree (wasm-ld, libc++ for wasm32-wasi, builtins).
    llvm: PathBuf,
}

pub struct Compiler {
    toolchain: Toolchain,
    /// SHA-256 over the compiler's version, the shipped header and the flags.
    identity: String,
    jail: jail::Jail,
    /// `<compiled_cache_dir>/cc-<identity>`: the include folder and precompiled headers.
    dir: PathBuf,
    /// `<dir>/modules`: compiled programs, bounded like the rest of the compiled cache.
    modules: DiskCache,
    limits: jail::Limits,
    permits: Semaphore,
    memory: Mutex<ByteBounded>,
    failures: Mutex<lru::LruCache<String, Rejected>>,
    headers: Mutex<HashMap<Dialect, HeaderCell>>,
}

/// The packages that provide the toolchain on Debian (`scripts/install-cpp-toolchain.sh`).
pub const INSTALL_HINT: &str = "install the C/C++ toolchain with scripts/install-cpp-toolchain.sh \
     (Debian: clang-19 lld-19 libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 \
     libclang-rt-19-dev-wasm32 wasi-libc)";

impl Compiler {
    /// Finds the toolchain, checks that the jail holds, and prepares the include folder.
    /// `Err` says why C and C++ are unavailable (missing toolchain, no containment).
    pub fn start(config: &SandboxConfig, cache_dir: &Path) -> Result<Compiler, String> {
        let toolchain = find_toolchain(&config.clang)?;
        let jail = jail::Jail {
            read: vec![
                toolchain.llvm.clone(),
                PathBuf::from("/usr/include/wasm32-wasi"),
                PathBuf::from("/usr/lib/wasm32-wasi"),
                // The compiler's own shared libraries and loader.
                PathBuf::from("/usr/lib/x86_64-linux-gnu"),
                PathBuf::from("/usr/lib/aarch64-linux-gnu"),
                PathBuf::from("/usr/lib64"),
                PathBuf::from("/lib64"),
                PathBuf::from("/lib/x86_64-linux-gnu"),
                PathBuf::from("/lib/aarch64-linux-gnu"),
            ],
        };
        jail::check(&jail)?;
        let version = std::process::Command::new(&toolchain.clang)
            .arg("--version")
            .env_clear()
            .output()
            .map_err(|e| format!("cannot run {}: {e}", toolchain.clang.display()))?;
        let mut hasher = Sha256::new();
        for part in [
            &version.stdout[..],
            BITS_STDCXX.as_bytes(),
            RECIPE.as_bytes(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let identity = hex::encode(hasher.finalize());
        let dir = cache_dir.join(format!("cc-{}", &identity[..16]));
        let bits = dir.join("include").join("bits");
        let header = bits.join("stdc++.h");
        // Written only when it differs: a precompiled header is invalid once its source's
        // modification time moves.
        if std::fs::read(&header).ok().as_deref() != Some(BITS_STDCXX.as_bytes()) {
            std::fs::create_dir_all(&bits)
                .and_then(|()| std::fs::write(&header, BITS_STDCXX))
                .map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        }
        let mut jail = jail;
        jail.read.push(dir.join("include"));
        jail.read.push(dir.join("headers"));
        let cpu = Duration::from_millis(config.compile_timeout_ms);
        // A quarter of the compiled cache's bound for compiled programs (~0.2 MB each).
        let modules = DiskCache::new(
            dir.join("modules"),
            config.compiled_cache_max_mb.saturating_mul(1024 * 1024) / 4,
        );
        Ok(Compiler {
            toolchain,
            identity,
            jail,
            dir,
            modules,
            limits: jail::Limits {
                cpu,
                memory_bytes: config.compile_memory_mb as u64 * 1024 * 1024,
                file_bytes: 256 << 20,
                output_bytes: MAX_DIAGNOSTICS_BYTES,
                wall: cpu * 3 + Duration::from_secs(5),
            },
            permits: Semaphore::new(config.max_concurrent_compiles.max(1)),
            memory: Mutex::new(ByteBounded::new(MEMORY_CACHE_BYTES)),
            failures: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(FAILURE_CACHE_ENTRIES).expect("non-zero"),
            )),
            headers: Mutex::new(HashMap::new()),
        })
    }

    /// Identifies the toolchain and recipe in judge fingerprints.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Compiles `source` (from the cache when the same source was compiled before).
    /// `Ok(Err(_))`: the program does not compile (its fault); `Err(_)`: the compiler could
    /// not be run, or the host was too slow for the wall-clock safety net (never the
    /// program's fault: an `error`).
    pub async fn compile(
        &self,
        dialect: Dialect,
        source: &str,
    ) -> Result<Result<Program, Rejected>, SandboxError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Ok(Err(Rejected {
                reason: "too_large",
                diagnostics: format!(
                    "the program is {} bytes; at most {MAX_SOURCE_BYTES} are compiled",
                    source.len()
                ),
                elapsed: Duration::ZERO,
            }));
        }
        let key = self.key(dialect, source);
        if let Some(wasm) = self.cached(&key) {
            return Ok(Ok(Program {
                wasm,
                diagnostics: String::new(),
                elapsed: Duration::ZERO,
                cached: true,
            }));
        }
        if let Some(rejected) = self
            .failures
            .lock()
            .ok()
            .and_then(|mut f| f.get(&key).cloned())
        {
            return Ok(Err(rejected));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SandboxError::Internal("the compiler is shut down".into()))?;
        let header = if uses_bits_header(dialect, source) {
            Some(self.precompiled_header(dialect).await?)
        } else {
            None
        };
        let compiled = self.compile_now(dialect, source, header.as_deref()).await?;
        match &compiled {
            Ok(program) => self.store(&key, &program.wasm),
            Err(rejected) => {
                if let Ok(mut failures) = self.failures.lock() {
                    failures.put(key, rejected.clone());
                }
            }
        }
        Ok(compiled)
    }

    fn key(&self, dialect: Dialect, source: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.identity.as_bytes());
        hasher.update(dialect.file_name().as_bytes());
        hasher.update(dialect.std_flag().as_bytes());
        hasher.update(source.as_bytes());
        hex::encode(hasher.finalize())
    }

    fn cached(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        if let Some(wasm) = self.memory.lock().ok()?.get(key) {
            return Some(wasm);
        }
        let path = self.module_path(key);
        let wasm = Arc::new(std::fs::read(&path).ok()?);
        self.modules.touch(&path);
        self.memory
            .lock()
            .ok()?
            .put(key.to_owned(), Arc::clone(&wasm));
        Some(wasm)
    }

    fn store(&self, key: &str, wasm: &Arc<Vec<u8>>) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.put(key.to_owned(), Arc::clone(wasm));
        }
        let path = self.module_path(key);
        if let Err(error) = self.modules.store(&path, wasm) {
            tracing::warn!(path = %path.display(), %error, "cannot cache a compiled program");
        }
    }

    fn module_path(&self, key: &str) -> PathBuf {
        self.modules
            .dir()
            .join(format!("{COMPILED_PROGRAM_PREFIX}{key}.wasm"))
    }

    /// The precompiled `<bits/stdc++.h>` for `dialect`, built on first use.
    async fn precompiled_header(&self, dialect: Dialect) -> Result<PathBuf, SandboxError> {
        let cell = {
            let mut headers = self.headers.lock().expect("not poisoned");
            Arc::clone(headers.entry(dialect).or_default())
        };
        // A failure is not kept: the next program that needs the header tries again.
        cell.get_or_try_init(|| self.build_header(dialect))
            .await
            .cloned()
            .map_err(SandboxError::Internal)
    }

    async fn build_header(&self, dialect: Dialect) -> Result<PathBuf, String> {
        let headers = self.dir.join("headers");
        let path = headers.join(format!(
            "stdc++{}.pch",
            dialect.std_flag().trim_start_matches("-std=")
        ));
        if path.is_file() {
            return Ok(path);
        }
        std::fs::create_dir_all(&headers).map_err(|e| format!("cannot create {headers:?}: {e}"))?;
        let work = tempfile::Builder::new()
            .prefix("moj-pch-")
            .tempdir()
            .map_err(|e| format!("cannot make a compile directory: {e}"))?;
        let mut args = self.common_args(dialect);
        args.extend([
            "-x".into(),
            "c++-header".into(),
            self.dir.join("include/bits/stdc++.h").display().to_string(),
            "-o".into(),
            "header.pch".into(),
        ]);
        let finished = self.run_jailed(work.path(), args).await?;
        if finished.ended != Ended::Exited(0) {
            return Err(format!(
                "precompiling <bits/stdc++.h> failed ({:?}): {}",
                finished.ended,
                String::from_utf8_lossy(&finished.stderr)
            ));
        }
        let partial = headers.join(format!("{}.partial", std::process::id()));
        std::fs::copy(work.path().join("header.pch"), &partial)
            .and_then(|_| std::fs::rename(&partial, &path))
            .map_err(|e| format!("cannot store the precompiled header: {e}"))?;
        Ok(path)
    }

    /// Flags every compile of `dialect` shares (the precompiled header's must match them).
    fn common_args(&self, dialect: Dialect) -> Vec<String> {
        let mut args = vec![
            match dialect {
                Dialect::C(_) => "--driver-mode=gcc".to_owned(),
                Dialect::Cpp(_) => "--driver-mode=g++".to_owned(),
            },
            // The linker by path: Debian's driver looks for `wasm-ld-19` on the PATH, and the
            // jail gives the compiler no PATH.
            format!(
                "-fuse-ld={}",
                self.toolchain.llvm.join("bin/wasm-ld").display()
            ),
            "--target=wasm32-wasi".to_owned(),
            "--sysroot=/usr".to_owned(),
            "-O2".to_owned(),
            "-mbulk-memory".to_owned(),
            "-msimd128".to_owned(),
            "-mnontrapping-fptoint".to_owned(),
            "-msign-ext".to_owned(),
            dialect.std_flag(),
            "-fno-color-diagnostics".to_owned(),
            // A crashing compiler would try to write a reproducer: not in the jail.
            "-fno-crash-diagnostics".to_owned(),
            "-fmessage-length=0".to_owned(),
        ];
        if let Dialect::Cpp(_) = dialect {
            args.push("-fno-exceptions".to_owned());
            args.push(format!("-I{}", self.dir.join("include").display()));
        }
        args
    }

    async fn compile_now(
        &self,
        dialect: Dialect,
        source: &str,
        header: Option<&Path>,
    ) -> Result<Result<Program, Rejected>, SandboxError> {
        let work = tempfile::Builder::new()
            .prefix("moj-cc-")
            .tempdir()
            .map_err(|e| SandboxError::Internal(format!("cannot make a compile directory: {e}")))?;
        std::fs::write(work.path().join(dialect.file_name()), source)
            .map_err(|e| SandboxError::Internal(format!("cannot write the source: {e}")))?;
        let mut args = self.common_args(dialect);
        if let Some(header) = header {
            args.extend(["-include-pch".to_owned(), header.display().to_string()]);
        }
        args.extend(
            [
                // Link-time optimisation of the program's own code: its object is bitcode, so a
                // large zero-initialised array (`int big[100000000]`) is not written out as
                // 400 MB of zeros on the way to the module (the WebAssembly object format has
                // no .bss).
                "-flto",
                dialect.file_name(),
                "-o",
                "main.wasm",
                "-Wl,--stack-first",
                "-Wl,-z,stack-size=8388608",
                "-Wl,--strip-all",
            ]
            .map(str::to_owned),
        );
        let finished = self
            .run_jailed(work.path(), args)
            .await
            .map_err(SandboxError::Internal)?;
        let mut messages = finished.stderr.clone();
        messages.extend_from_slice(&finished.stdout);
        let diagnostics = clean_diagnostics(&messages, work.path());
        let reason = match finished.ended {
            Ended::WallClock => {
                return Err(SandboxError::Internal(format!(
                    "the compiler was stopped by the wall-clock safety net after {} ms, before \
                     its CPU limit: the host is overloaded; retry",
                    finished.elapsed.as_millis()
                )));
            }
            Ended::Exited(0) => {
                let wasm = std::fs::read(work.path().join("main.wasm")).map_err(|e| {
                    SandboxError::Internal(format!("the compiler wrote no module: {e}"))
                })?;
                if wasm.len() > MAX_MODULE_BYTES {
                    return Ok(Err(Rejected {
                        reason: "too_large",
                        diagnostics: format!(
                            "the compiled program is {} MiB; at most {} MiB are run (large \
                             initialised static data is part of the module)",
                            wasm.len() >> 20,
                            MAX_MODULE_BYTES >> 20
                        ),
                        elapsed: finished.elapsed,
                    }));
                }
                return Ok(Ok(Program {
                    wasm: Arc::new(wasm),
                    diagnostics,
                    elapsed: finished.elapsed,
                    cached: false,
                }));
            }
            Ended::Signalled(libc::SIGXCPU | libc::SIGKILL) => "cpu_limit",
            Ended::Signalled(libc::SIGXFSZ) => "output_limit",
            // The driver runs the compiler proper (and the linker) as child processes, each
            // under the same limits, and reports how they ended.
            _ if child_killed_by(&diagnostics, &["Killed", "CPU time limit exceeded"]) => {
                "cpu_limit"
            }
            _ if child_killed_by(&diagnostics, &["File size limit exceeded"]) => "output_limit",
            _ if memory_exhausted(&diagnostics) => "memory_limit",
            Ended::Exited(_) => "errors",
            Ended::Signalled(_) => "crash",
        };
        Ok(Err(Rejected {
            reason,
            diagnostics,
            elapsed: finished.elapsed,
        }))
    }

    /// Runs clang in the jail, on a thread of its own (the jail is per thread).
    async fn run_jailed(&self, dir: &Path, args: Vec<String>) -> Result<jail::Finished, String> {
        let (jail, dir, clang, limits) = (
            self.jail.clone(),
            dir.to_owned(),
            self.toolchain.clang.clone(),
            self.limits.clone(),
        );
        tokio::task::spawn_blocking(move || jail::run(&jail, &dir, &clang, &args, &limits))
            .await
            .map_err(|e| format!("the compile task failed: {e}"))?
    }
}

/// Compiled programs by key, bounded by their total size; the least recently used go first.
struct ByteBounded {
    entries: lru::LruCache<String, Arc<Vec<u8>>>,
    bytes: usize,
    max_bytes: usize,
}

impl ByteBounded {
    fn new(max_bytes: usize) -> ByteBounded {
        ByteBounded {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    fn get(&mut self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: String, wasm: Arc<Vec<u8>>) {
        self.bytes += wasm.len();
        if let Some(old) = self.entries.put(key, wasm) {
            self.bytes -= old.len();
        }
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

/// Whether a C++ program includes `<bits/stdc++.h>` (then the precompiled one is used; other
/// programs are compiled as they are, so no header they did not ask for is visible to them).
fn uses_bits_header(dialect: Dialect, source: &str) -> bool {
    matches!(dialect, Dialect::Cpp(_))
        && source.lines().any(|line| {
            let line = line.trim_start();
            line.strip_prefix('#')
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix("include"))
                .is_some_and(|rest| rest.trim() == "<bits/stdc++.h>")
        })
}

/// The compiler's messages with the temporary folder's path removed.
fn clean_diagnostics(stderr: &[u8], work: &Path) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.replace(&format!("{}/", work.display()), "")
}

/// Whether the driver says a child (the compiler proper, the linker) ended on one of `signals`
/// (as strsignal names them).
fn child_killed_by(diagnostics: &str, signals: &[&str]) -> bool {
    diagnostics.lines().any(|line| {
        line.starts_with("clang: error: unable to execute command:")
            && signals.iter().any(|signal| line.ends_with(signal))
    })
}

fn memory_exhausted(diagnostics: &str) -> bool {
    ["out of memory", "std::bad_alloc", "Cannot allocate memory"]
        .iter()
        .any(|needle| diagnostics.contains(needle))
}

/// The toolchain behind `clang` (a name on the `PATH` or a path), with every part it needs.
fn find_toolchain(clang: &Path) -> Result<Toolchain, String> {
    if clang.as_os_str().is_empty() {
        return Err("C and C++ are off (sandbox.clang is empty)".to_owned());
    }
    let found = if clang.components().count() > 1 {
        Some(clang.to_owned())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(clang))
                .find(|candidate| candidate.is_file())
        })
    };
    let clang = found
        .and_then(|path| path.canonicalize().ok())
        .ok_or_else(|| format!("{} was not found; {INSTALL_HINT}", clang.display()))?;
    let llvm = clang
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| format!("{} is not in an LLVM tree", clang.display()))?;
    let needed = [
        llvm.join("bin/wasm-ld"),
        llvm.join("lib/wasm32-wasi/libc++.a"),
        llvm.join("lib/wasm32-wasi/libc++abi.a"),
        llvm.join("lib/clang"),
        PathBuf::from("/usr/include/wasm32-wasi/stdio.h"),
        PathBuf::from("/usr/lib/wasm32-wasi/libc.a"),
    ];
    if let Some(missing) = needed.iter().find(|path| !path.exists()) {
        return Err(format!(
            "the C/C++ toolchain is incomplete ({} is missing); {INSTALL_HINT}",
            missing.display()
        ));
    }
    Ok(Toolchain { clang, llvm })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_programs_that_ask_for_bits_get_the_precompiled_header() {
        let cpp = Dialect::Cpp(CppStandard::Gnu17);
        assert!(uses_bits_header(
            cpp,
            "#include <bits/stdc++.h>\nint main() {}"
        ));
        assert!(uses_bits_header(cpp, "  #  include   <bits/stdc++.h>  \n"));
        assert!(!uses_bits_header(
            cpp,
            "#include <vector>\n// #include <bits/stdc++.h>"
        ));
        assert!(!uses_bits_header(
            Dialect::C(CStandard::Gnu17),
            "#include <bits/stdc++.h>"
        ));
    }

    #[test]
    fn standards_have_their_flags_and_names() {
        let parsed: CppStandard = serde_json::from_str("\"c++20\"").unwrap();
        assert_eq!(parsed.flag(), "c++20");
        assert_eq!(CppStandard::default().flag(), "gnu++17");
        assert_eq!(CStandard::default().flag(), "gnu17");
        assert!(serde_json::from_str::<CppStandard>("\"c++98\"").is_err());
    }
}
