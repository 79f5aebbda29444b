//! Compiled guests cached on disk, keyed by the wasm's SHA-256 and the engine's compatibility
//! hash, so a restart deserialises in milliseconds instead of recompiling (tens of seconds for
//! CPython). The folder is bounded: past `sandbox.compiled_cache_max_mb`, the entries used least
//! recently go (a new server version, a new runtime or a deleted plugin leaves entries nobody
//! loads again).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::config::SandboxConfig;

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

/// A crashed writer's partial file is removed once it is this old.
const STALE_PARTIAL: Duration = Duration::from_secs(3600);

/// The folder of cached compiled modules and Python snapshots, and its size bound.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DiskCache {
    pub fn new(dir: PathBuf, max_bytes: u64) -> DiskCache {
        DiskCache { dir, max_bytes }
    }

    /// `sandbox.compiled_cache_dir` bounded by `sandbox.compiled_cache_max_mb`.
    pub fn of(config: &SandboxConfig) -> DiskCache {
        DiskCache::new(
            config.compiled_cache_dir.clone(),
            config.compiled_cache_max_mb.saturating_mul(1024 * 1024),
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Marks an entry as used now: eviction removes the entries used least recently.
    pub fn touch(&self, path: &Path) {
        if let Err(error) = set_modified(path, SystemTime::now()) {
            tracing::debug!(path = %path.display(), %error, "cannot mark a cache entry as used");
        }
    }

    /// Writes `bytes` at `path` (in this folder) atomically, then evicts past the bound.
    pub fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, path))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&partial);
            })?;
        self.evict(path);
        Ok(())
    }

    /// Removes the least recently used entries (never `keep`) until the folder is within its
    /// bound, with their lock files, and partial files left by crashed writers.
    fn evict(&self, keep: &Path) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for entry in listing.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(now);
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if extension.starts_with("partial-") {
                if now.duration_since(modified).unwrap_or_default() > STALE_PARTIAL {
                    let _ = std::fs::remove_file(&path);
                }
            } else if is_entry(&path) {
                entries.push((modified, meta.len(), path));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            // Unlinking is safe for servers that have the file mapped: they keep their copy.
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    total -= len;
                    let _ = std::fs::remove_file(path.with_extension("lock"));
                    tracing::info!(path = %path.display(), bytes = len, "evicted a compiled module cache entry used least recently");
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot evict a cache entry")
                }
            }
        }
        if total > self.max_bytes {
            tracing::warn!(
                dir = %self.dir.display(),
                bytes = total,
                max_bytes = self.max_bytes,
                "the compiled module cache is over its bound with only the newest entry left; raise sandbox.compiled_cache_max_mb"
            );
        }
    }
}

/// Sets a file's modification time (what eviction orders entries by).
fn set_modified(path: &Path, time: SystemTime) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
}

/// What this cache writes: compiled modules and Python snapshots. Nothing else in the folder is
/// ever evicted (it may be a runtime folder a user pointed the cache at).
fn is_entry(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".cwasm")
        || ((name.starts_with(SNAPSHOT_PREFIX) || name.starts_with(COMPILED_PROGRAM_PREFIX))
            && name.ends_with(".wasm"))
}

/// The file name prefix of C/C++ programs compiled to WebAssembly (`compiler/`).
pub const COMPILED_PROGRAM_PREFIX: &str = "cc-";

/// The file name prefix of cached Python snapshots (`snapshot.rs`).
pub const SNAPSHOT_PREFIX: &str = "python-snapshot-";

/// Compiles `wasm` (or loads its compiled form from `cache`).
pub fn load(engine: &Engine, wasm: &[u8], cache: &DiskCache) -> Result<Loaded, String> {
    let started = Instant::now();
    let sha256 = sha256_hex(wasm);
    let cache_dir = cache.dir();
    let path: PathBuf = cache_dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)));
    let from_cache = |path: &Path| -> Option<Module> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file was written by `Engine::precompile_module` of an engine with the same
        // compatibility hash (it is in the name), into a directory this server owns.
        match unsafe { Module::deserialize_file(engine, path) } {
            Ok(module) => {
                cache.touch(path);
                Some(module)
            }
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
    if let Err(error) = cache.store(&path, &compiled) {
        tracing::warn!(dir = %cache_dir.display(), %error, "cannot cache the compiled module; the next start compiles again");
    }
    Ok(Loaded {
        module,
        sha256,
        origin: Origin::Compiled,
        millis: started.elapsed().as_millis(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path, name: &str, bytes: usize, age_secs: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        set_modified(&path, SystemTime::now() - Duration::from_secs(age_secs)).unwrap();
        path
    }

    #[test]
    fn the_least_recently_used_entries_go_first_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_owned(), 2500);
        let oldest = entry(dir.path(), "a-1.cwasm", 1000, 300);
        let oldest_lock = entry(dir.path(), "a-1.lock", 0, 300);
        let snapshot = entry(dir.path(), "python-snapshot-x-y.wasm", 1000, 200);
        let used = entry(dir.path(), "b-1.cwasm", 1000, 100);
        // Not this cache's files: a runtime and a file a user left there.
        let runtime = entry(dir.path(), "python-3.12.0.wasm", 5000, 1000);
        let other = entry(dir.path(), "notes.txt", 5000, 1000);
        let crashed = entry(dir.path(), "c-1.partial-77", 1000, 2 * 3600);
        let writing = entry(dir.path(), "d-1.partial-78", 1000, 1);

        // A hit makes an old entry the most recently used.
        cache.touch(&snapshot);
        let new = dir.path().join("e-1.cwasm");
        cache.store(&new, &[1u8; 1000]).unwrap();

        // 4000 bytes of entries over a 2500 bound: the two least recently used go.
        for (path, kept) in [
            (&oldest, false),
            (&oldest_lock, false),
            (&used, false),
            (&snapshot, true),
            (&new, true),
            (&runtime, true),
            (&other, true),
            (&crashed, false),
            (&writing, true),
        ] {
            assert_eq!(path.exists(), kept, "{}", path.display());
        }
        assert_eq!(std::fs::read(&new).unwrap(), vec![1u8; 1000]);
        assert!(
            !dir.path()
                .join(format!("e-1.partial-{}", std::process::id()))
                .exists()
        );
    }

    #[test]
    fn the_newest_entry_stays_even_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_owned(), 10);
        let old = entry(dir.path(), "a-1.cwasm", 100, 60);
        let new = dir.path().join("b-1.cwasm");
        cache.store(&new, &[0u8; 100]).unwrap();
        assert!(!old.exists());
        assert!(new.exists());
    }

    #[test]
    fn a_cached_module_is_loaded_from_disk_and_marked_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_owned(), 1 << 30);
        let engine = Engine::default();
        let wasm = wat::parse_str("(module (func (export \"f\")))").unwrap();
        let first = load(&engine, &wasm, &cache).unwrap();
        assert_eq!(first.origin, Origin::Compiled);
        let path = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| is_entry(p))
            .unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        set_modified(&path, long_ago).unwrap();
        let second = load(&engine, &wasm, &cache).unwrap();
        assert_eq!(second.origin, Origin::FromDiskCache);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(modified > long_ago + Duration::from_secs(60));
    }
}
