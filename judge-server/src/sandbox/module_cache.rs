//! Compiled guests cached on disk, keyed by the wasm's SHA-256 and the engine's compatibility
//! hash, so a restart deserialises in milliseconds instead of recompiling (tens of seconds for
//! CPython).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// How a module was obtained, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    FromDiskCache,
}

pub struct Loaded {
    pub module: Module,
    pub sha256: String,
    pub origin: Origin,
    pub millis: u128,
}

fn engine_key(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

pub fn sha256_hex(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// Compiles `wasm` (or loads its compiled form from `cache_dir`).
pub fn load(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> Result<Loaded, String> {
    let started = Instant::now();
    let sha256 = sha256_hex(wasm);
    let path: PathBuf = cache_dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)));
    let from_cache = |path: &Path| -> Option<Module> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file was written by `Engine::precompile_module` of an engine with the same
        // compatibility hash (it is in the name), into a directory this server owns.
        match unsafe { Module::deserialize_file(engine, path) } {
            Ok(module) => Some(module),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "discarding an unusable compiled module");
                None
            }
        }
    };
    let cached = |module| Loaded {
        module,
        sha256: sha256.clone(),
        origin: Origin::FromDiskCache,
        millis: started.elapsed().as_millis(),
    };
    if let Some(module) = from_cache(&path) {
        return Ok(cached(module));
    }
    // Servers starting together on one machine compile a module once: the others wait for
    // the lock, then load what the first one wrote.
    let _lock = std::fs::create_dir_all(cache_dir)
        .and_then(|()| std::fs::File::create(path.with_extension("lock")))
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|error| tracing::warn!(dir = %cache_dir.display(), %error, "cannot lock the module cache; compiling without the lock"))
        .ok();
    if let Some(module) = from_cache(&path) {
        return Ok(cached(module));
    }
    let compiled = engine
        .precompile_module(wasm)
        .map_err(|e| format!("cannot compile the module: {e:#}"))?;
    // SAFETY: the bytes were just produced by this engine.
    let module = unsafe { Module::deserialize(engine, &compiled) }
        .map_err(|e| format!("cannot load the compiled module: {e:#}"))?;
    if let Err(error) = std::fs::create_dir_all(cache_dir).and_then(|_| {
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, &compiled)?;
        std::fs::rename(&partial, &path)
    }) {
        tracing::warn!(dir = %cache_dir.display(), %error, "cannot cache the compiled module; the next start compiles again");
    }
    Ok(Loaded {
        module,
        sha256,
        origin: Origin::Compiled,
        millis: started.elapsed().as_millis(),
    })
}
