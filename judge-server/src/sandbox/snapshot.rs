//! A pre-initialised CPython: the interpreter's start-up (and the imports most test programs
//! make) runs once, its linear memory and globals are snapshotted into a new module
//! (`wasmtime-wizer`), and every run instantiates that module — copy-on-write from the
//! snapshot — and executes its program with `PyRun_SimpleStringFlags` instead of `_start`.
//!
//! Every run gets a fresh instance of the same snapshot, so nothing a run does (globals,
//! `sys.modules`, monkey-patched builtins, files in the in-memory filesystem) can reach the next
//! one: the isolation is the plain runs' own (`tests.rs` proves it).
//!
//! The runtime exports neither an initialisation function nor `PyRun_*` (VMware's build only
//! exports `_start`), so:
//! - the functions a run needs are exported by index ([`EXPORTS`]), which holds for the pinned
//!   runtime only ([`SNAPSHOT_RUNTIME_SHA256`]; another build runs without a snapshot). Their
//!   signatures are checked when the snapshot is instantiated, and a snapshot that fails its
//!   self-test is not used.
//! - initialisation is `_start` running `python -c BOOTSTRAP`; the bootstrap ends with
//!   `os._exit(75)`, which stops the guest with the interpreter initialised and its lock held
//!   (`os._exit` neither finalises nor releases the GIL), and the snapshot is taken there.
//!   The C stack of the bootstrap stays in the snapshot below the saved stack pointer; later
//!   calls run beneath it, as a C extension calling `PyRun_SimpleString` would.
//! - `random_get` is deterministic during initialisation, so the snapshot (and with it the
//!   string-hash seed every run shares) is the same on every machine. `random` is not imported
//!   by the bootstrap, so a run's `random` module still seeds itself from the run's own entropy.
//!
//! The snapshot is built once per runtime and recipe, in the background, and cached next to the
//! compiled modules; until it is ready Python runs take the plain `_start` path.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Instance, Linker, Module, OptLevel, Store, Val};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::module_cache::{DiskCache, SNAPSHOT_PREFIX};

/// The only runtime whose function indices are known: VMware's python-3.12.0.wasm.
pub const SNAPSHOT_RUNTIME_SHA256: &str =
    "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763";

/// `PyRun_SimpleStringFlags(const char *command, PyCompilerFlags *flags) -> int`.
pub const RUN_STRING: &str = "moj_run_simple_string";
/// `malloc(size_t) -> void *`.
pub const MALLOC: &str = "moj_malloc";

/// Functions of the pinned runtime exported under our names (function indices, imports
/// included). Found from their code and strings: the module has no name section.
const EXPORTS: [(&str, u32); 2] = [(RUN_STRING, 4056), (MALLOC, 11136)];

/// Exit status the bootstrap ends with; any other ending is a failed initialisation.
const BOOTSTRAP_EXIT: i32 = 75;

/// Runs at initialisation: imports what test programs commonly import (binding no name in
/// `__main__`), checks that nothing seeded `random`, flushes, and stops at `os._exit`.
const BOOTSTRAP: &str = r#"
[__import__(name) for name in (
    "abc", "array", "bisect", "cmath", "collections", "collections.abc", "copy", "dataclasses",
    "decimal", "enum", "fractions", "functools", "heapq", "io", "itertools", "json", "math",
    "numbers", "operator", "re", "string", "struct", "textwrap", "typing",
)]
if "random" in __import__("sys").modules:
    raise SystemExit("random was imported during initialisation: its seed would be shared")
__import__("sys").stdout.flush()
__import__("sys").stderr.flush()
__import__("os")._exit(75)
"#;

/// Run after a program that returned (not one that exited): what `python -c` does at exit.
pub const EPILOGUE: &str = "__import__('atexit')._run_exitfuncs()\n\
    __import__('sys').stdout.flush()\n\
    __import__('sys').stderr.flush()\n";

/// Python modules defined at initialisation, so that runs do not compile them: the code judge's
/// two harness programs (`judges/code/python_*.py`, 26 KB of Python that would otherwise cost
/// ~60 ms of compiling per item on the `-O0` interpreter). They bind no name in `__main__`;
/// the harness finds them in `sys.modules` (and compiles them itself where there is no
/// snapshot). Defining a module imports nothing and seeds nothing.
pub const PRELOADED_MODULES: &[(&str, &str)] = &[
    (
        "_moj_solution_side",
        include_str!("../judges/code/python_solution.py"),
    ),
    (
        "_moj_driver",
        include_str!("../judges/code/python_driver.py"),
    ),
];

/// The initialisation program: `BOOTSTRAP` after defining `PRELOADED_MODULES`.
fn bootstrap() -> String {
    let modules: Vec<String> = PRELOADED_MODULES
        .iter()
        .map(|(name, source)| {
            format!(
                "({}, {})",
                serde_json::to_string(name).expect("JSON"),
                serde_json::to_string(source).expect("JSON")
            )
        })
        .collect();
    format!(
        "(lambda sys: [(m := type(sys)(n), exec(compile(s, '<' + n + '>', 'exec'), m.__dict__), \
         sys.modules.__setitem__(n, m)) for n, s in ({},)])(__import__('sys'))\n{BOOTSTRAP}",
        modules.join(", ")
    )
}

/// Bumped whenever the way the snapshot is built changes (it is part of the cache key).
const RECIPE_VERSION: u32 = 2;

/// Where the snapshot of `runtime_sha256` is cached.
fn cached_path(cache_dir: &Path, runtime_sha256: &str) -> PathBuf {
    let mut recipe = Sha256::new();
    recipe.update(RECIPE_VERSION.to_le_bytes());
    recipe.update(bootstrap().as_bytes());
    for (name, index) in EXPORTS {
        recipe.update(name.as_bytes());
        recipe.update(index.to_le_bytes());
    }
    let recipe = hex::encode(recipe.finalize());
    cache_dir.join(format!(
        "{SNAPSHOT_PREFIX}{}-{}.wasm",
        &runtime_sha256[..16],
        &recipe[..16]
    ))
}

/// The snapshot module's bytes: from the cache, or built now (seconds: two compilations of a
/// 26 MB module) and cached. Concurrent builders on one machine wait for each other on a lock
/// file, so the work is done once.
pub fn load_or_build(runtime: &[u8], cache: &DiskCache) -> Result<Vec<u8>, String> {
    let runtime_sha256 = hex::encode(Sha256::digest(runtime));
    if runtime_sha256 != SNAPSHOT_RUNTIME_SHA256 {
        return Err(format!(
            "no snapshot recipe for the Python runtime with SHA-256 {runtime_sha256}"
        ));
    }
    let cache_dir = cache.dir();
    let path = cached_path(cache_dir, &runtime_sha256);
    let read = |path: &Path| {
        let bytes = std::fs::read(path).ok()?;
        cache.touch(path);
        Some(bytes)
    };
    if let Some(bytes) = read(&path) {
        return Ok(bytes);
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| format!("cannot create {}: {e}", cache_dir.display()))?;
    let lock = std::fs::File::create(path.with_extension("lock"))
        .map_err(|e| format!("cannot create the snapshot lock file: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot lock the snapshot lock file: {e}"))?;
    if let Some(bytes) = read(&path) {
        return Ok(bytes); // another process built it while we waited
    }
    let started = Instant::now();
    let bytes = build(runtime)?;
    cache
        .store(&path, &bytes)
        .map_err(|e| format!("cannot cache the snapshot at {}: {e}", path.display()))?;
    tracing::info!(
        path = %path.display(),
        bytes = bytes.len(),
        millis = started.elapsed().as_millis() as u64,
        "built the pre-initialised Python snapshot"
    );
    Ok(bytes)
}

/// Instruments the runtime, runs the bootstrap in it, and rewrites it with the resulting state.
fn build(runtime: &[u8]) -> Result<Vec<u8>, String> {
    let exported = add_func_exports(runtime, &EXPORTS)?;
    let wizer = Wizer::new();
    let (context, instrumented) = wizer
        .instrument(&exported)
        .map_err(|e| format!("cannot instrument the runtime: {e:#}"))?;
    // The instrumented module runs once: compile it fast, not well.
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::None);
    let engine = Engine::new(&config).map_err(|e| format!("snapshot engine: {e:#}"))?;
    let module = Module::new(&engine, &instrumented)
        .map_err(|e| format!("cannot compile the instrumented runtime: {e:#}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("snapshot runtime: {e}"))?;
    runtime.block_on(async {
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |wasi| wasi)
            .map_err(|e| format!("cannot link WASI: {e:#}"))?;
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtxBuilder::new()
            .args(&["python".to_owned(), "-c".to_owned(), bootstrap()])
            .stdin(MemoryInputPipe::new(Vec::new()))
            .stdout(MemoryOutputPipe::new(64 * 1024))
            .stderr(stderr.clone())
            .secure_random(rand::rngs::StdRng::seed_from_u64(0x6d6f_6a00))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(0x6d6f_6a01))
            .insecure_random_seed(0x6d6f_6a02)
            .build_p1();
        let mut store = Store::new(&engine, wasi);
        let instance = linker
            .instantiate_async(&mut store, &module)
            .await
            .map_err(|e| format!("cannot instantiate the instrumented runtime: {e:#}"))?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|e| format!("the runtime has no _start: {e:#}"))?;
        let ended = start.call_async(&mut store, ()).await;
        match ended {
            Err(error) if error.downcast_ref::<I32Exit>().map(|e| e.0) == Some(BOOTSTRAP_EXIT) => {}
            other => {
                return Err(format!(
                    "the bootstrap did not reach its end ({}): {}",
                    match other {
                        Ok(()) => "it returned".to_owned(),
                        Err(error) => format!("{error:#}"),
                    },
                    String::from_utf8_lossy(&stderr.contents())
                ));
            }
        }
        let mut state = Initialised {
            store: &mut store,
            instance,
        };
        wizer
            .snapshot(&context, &mut state)
            .await
            .map_err(|e| format!("cannot snapshot the runtime: {e:#}"))
    })
}

/// The instance after initialisation, as Wizer reads it.
struct Initialised<'a> {
    store: &'a mut Store<WasiP1Ctx>,
    instance: Instance,
}

impl InstanceState for Initialised<'_> {
    fn global_get(
        &mut self,
        name: &str,
        _type_hint: ValType,
    ) -> impl Future<Output = SnapshotVal> + Send {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .unwrap_or_else(|| {
                panic!("Wizer asked for {name}, which the instrumented module exports")
            });
        let value = match global.get(&mut *self.store) {
            Val::I32(v) => SnapshotVal::I32(v),
            Val::I64(v) => SnapshotVal::I64(v),
            Val::F32(v) => SnapshotVal::F32(v),
            Val::F64(v) => SnapshotVal::F64(v),
            Val::V128(v) => SnapshotVal::V128(v.as_u128()),
            other => {
                panic!("global {name} holds {other:?}, which Wizer rejects at instrumentation")
            }
        };
        async move { value }
    }

    fn memory_contents(
        &mut self,
        name: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .unwrap_or_else(|| {
                panic!("Wizer asked for {name}, which the instrumented module exports")
            });
        contents(memory.data(&*self.store));
        async {}
    }
}

/// `wasm` with function exports added (the export section rewritten; everything else copied).
fn add_func_exports(wasm: &[u8], exports: &[(&str, u32)]) -> Result<Vec<u8>, String> {
    const EXPORT_SECTION: u8 = 7;
    const FUNC_KIND: u8 = 0;
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a WebAssembly module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut at = 8;
    let mut found = false;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, size_len) = read_leb(&wasm[at + 1..])?;
        let body_start = at + 1 + size_len;
        let body = wasm
            .get(body_start..body_start + size as usize)
            .ok_or("truncated section")?;
        if id == EXPORT_SECTION {
            found = true;
            let (count, count_len) = read_leb(body)?;
            let mut section = Vec::new();
            write_leb(&mut section, count + exports.len() as u32);
            section.extend_from_slice(&body[count_len..]);
            for (name, index) in exports {
                write_leb(&mut section, name.len() as u32);
                section.extend_from_slice(name.as_bytes());
                section.push(FUNC_KIND);
                write_leb(&mut section, *index);
            }
            out.push(EXPORT_SECTION);
            write_leb(&mut out, section.len() as u32);
            out.extend_from_slice(&section);
        } else {
            out.extend_from_slice(&wasm[at..body_start + size as usize]);
        }
        at = body_start + size as usize;
    }
    if !found {
        return Err("the module has no export section".into());
    }
    Ok(out)
}

fn read_leb(bytes: &[u8]) -> Result<(u32, usize), String> {
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("malformed LEB128 length".into())
}

fn write_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 300, 16_384, 11_136, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb(&mut bytes, value);
            assert_eq!(read_leb(&bytes), Ok((value, bytes.len())));
        }
        assert!(read_leb(&[0x80, 0x80]).is_err());
    }

    #[test]
    fn adds_exports_that_wasmtime_sees() {
        let wasm = wat::parse_str(
            r#"(module (func $a (result i32) i32.const 7) (func $b (param i32) (result i32) local.get 0)
                (export "a" (func $a)))"#,
        )
        .unwrap();
        let rewritten = add_func_exports(&wasm, &[("first", 0), ("second", 1)]).unwrap();
        let engine = Engine::default();
        let module = Module::new(&engine, &rewritten).unwrap();
        let names: Vec<&str> = module.exports().map(|e| e.name()).collect();
        assert_eq!(names, ["a", "first", "second"]);
        assert!(add_func_exports(b"nope", &[]).is_err());
    }
}
