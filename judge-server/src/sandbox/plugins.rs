//! User-supplied WASI command modules (judge plugins), content-addressed by SHA-256.
//!
//! A module is validated and compiled once (compiled form cached on disk like the runtimes),
//! checked to import nothing but WASI preview 1 and to export `_start: () -> ()`, and kept in
//! memory, up to `sandbox.max_loaded_plugins` (the least recently used go first). Modules not
//! loaded in this process (after a restart, evicted, or uploaded through another replica) are
//! fetched through the `PluginSource` that the owner of the database installs.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, ExternType};

use super::engine::TABLE_ELEMENTS;
use super::guest::Guest;
use super::module_cache::{self, DiskCache};
use super::{Sandbox, SandboxError};

/// Fetches a module's bytes by SHA-256 (`Ok(None)`: no such module).
pub type PluginSource = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, String>> + Send>>
        + Send
        + Sync,
>;

/// Why an uploaded module was refused (the message names the problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPlugin(pub String);

pub struct Plugins {
    /// What the table holds, in messages and guest names: `plugin` (judge plugins) or
    /// `program` (compiled C/C++ programs: the same checks apply).
    what: &'static str,
    engine: Engine,
    cache: DiskCache,
    max_memory_bytes: usize,
    loaded: Mutex<Recent<Arc<Guest>>>,
    source: OnceLock<PluginSource>,
}

/// At most `capacity` values by key; inserting past it drops the one used least recently.
struct Recent<T> {
    by_key: HashMap<String, (T, u64)>,
    clock: u64,
    capacity: usize,
}

impl<T: Clone> Recent<T> {
    fn new(capacity: usize) -> Recent<T> {
        Recent {
            by_key: HashMap::new(),
            clock: 0,
            capacity: capacity.max(1),
        }
    }

    fn get(&mut self, key: &str) -> Option<T> {
        self.clock += 1;
        let (value, used) = self.by_key.get_mut(key)?;
        *used = self.clock;
        Some(value.clone())
    }

    fn insert(&mut self, key: String, value: T) {
        self.clock += 1;
        self.by_key.insert(key, (value, self.clock));
        while self.by_key.len() > self.capacity {
            let oldest = self
                .by_key
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => self.by_key.remove(&key),
                None => break,
            };
        }
    }
}

impl Plugins {
    pub fn new(
        what: &'static str,
        engine: Engine,
        cache: DiskCache,
        max_memory_bytes: usize,
        max_loaded: usize,
    ) -> Plugins {
        Plugins {
            what,
            engine,
            cache,
            max_memory_bytes,
            loaded: Mutex::new(Recent::new(max_loaded)),
            source: OnceLock::new(),
        }
    }

    /// A plugin loaded in this process (runs in flight keep an evicted one alive).
    fn cached(&self, sha256: &str) -> Option<Arc<Guest>> {
        self.loaded.lock().ok()?.get(sha256)
    }

    /// Validates and compiles `wasm` (CPU-heavy: call it off the async executor).
    pub(super) fn compile(&self, wasm: &[u8]) -> Result<Arc<Guest>, InvalidPlugin> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        if let Some(guest) = self.cached(&sha256) {
            return Ok(guest);
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(InvalidPlugin(
                "not a WebAssembly binary module (it must start with \\0asm)".into(),
            ));
        }
        let loaded = module_cache::load(&self.engine, wasm, &self.cache)
            .map_err(|e| InvalidPlugin(format!("invalid module: {e}")))?;
        for import in loaded.module.imports() {
            if import.module() != "wasi_snapshot_preview1" {
                return Err(InvalidPlugin(format!(
                    "the module imports {}::{}; a {} may import only wasi_snapshot_preview1",
                    import.module(),
                    import.name(),
                    self.what
                )));
            }
        }
        let needs = loaded.module.resources_required();
        let initial_memory = needs.max_initial_memory_size.unwrap_or(0) * 65536;
        if needs.num_memories > 1 || initial_memory > self.max_memory_bytes as u64 {
            return Err(InvalidPlugin(format!(
                "the module needs {} memories and {} MiB of initial memory; a {} gets one memory \
                 of at most {} MiB (sandbox.max_memory_mb)",
                needs.num_memories,
                initial_memory >> 20,
                self.what,
                self.max_memory_bytes >> 20
            )));
        }
        let initial_table = needs.max_initial_table_size.unwrap_or(0);
        if needs.num_tables > 4 || initial_table > TABLE_ELEMENTS as u64 {
            return Err(InvalidPlugin(format!(
                "the module needs {} tables of up to {initial_table} elements; a {} gets at \
                 most 4 tables of {TABLE_ELEMENTS} elements",
                needs.num_tables, self.what
            )));
        }
        match loaded.module.get_export("_start") {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
            _ => {
                return Err(InvalidPlugin(format!(
                    "the module has no `_start: () -> ()` export (a {} is a WASI command)",
                    self.what
                )));
            }
        }
        let guest = Guest::new(&self.engine, self.what, &loaded.module, sha256.clone())
            .map_err(InvalidPlugin)?
            .compiled();
        let guest = Arc::new(guest);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(sha256, Arc::clone(&guest));
        }
        Ok(guest)
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Sandbox {
    /// Validates and compiles a plugin module; answers its SHA-256 (lowercase hex).
    pub async fn register_plugin(self: &Arc<Self>, wasm: Vec<u8>) -> Result<String, InvalidPlugin> {
        let sandbox = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            sandbox.plugins.compile(&wasm).map(|g| g.sha256.clone())
        })
        .await
        .map_err(|e| InvalidPlugin(format!("compilation failed: {e}")))?
    }

    /// Where modules not loaded yet come from (set once, by the owner of the database).
    pub fn set_plugin_source(&self, source: PluginSource) {
        let _ = self.plugins.source.set(source);
    }

    /// The compiled plugin `sha256`, loading it through the source when needed.
    pub async fn plugin(self: &Arc<Self>, sha256: &str) -> Result<Arc<Guest>, SandboxError> {
        if !is_sha256(sha256) {
            return Err(SandboxError::Internal(format!(
                "{sha256:?} is not a SHA-256 in lowercase hex"
            )));
        }
        if let Some(guest) = self.plugins.cached(sha256) {
            return Ok(guest);
        }
        let source = self.plugins.source.get().ok_or_else(|| {
            SandboxError::Internal("no plugin store is configured in this process".into())
        })?;
        let wasm = source(sha256.to_owned())
            .await
            .map_err(|e| SandboxError::Internal(format!("cannot read plugin {sha256}: {e}")))?
            .ok_or_else(|| {
                SandboxError::RuntimeMissing(format!(
                    "plugin {sha256} is not registered (PUT /v1/plugins with the module)"
                ))
            })?;
        let sandbox = Arc::clone(self);
        let guest = tokio::task::spawn_blocking(move || sandbox.plugins.compile(&wasm))
            .await
            .map_err(|e| SandboxError::Internal(format!("compiling plugin {sha256}: {e}")))?
            .map_err(|e| SandboxError::Internal(format!("stored plugin {sha256}: {e}")))?;
        if guest.sha256 != sha256 {
            return Err(SandboxError::Internal(format!(
                "the stored plugin {sha256} has SHA-256 {}",
                guest.sha256
            )));
        }
        Ok(guest)
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn the_least_recently_used_plugin_is_dropped_past_the_bound() {
        let mut recent = Recent::new(2);
        recent.insert("a".into(), 1);
        recent.insert("b".into(), 2);
        assert_eq!(recent.get("a"), Some(1));
        recent.insert("c".into(), 3);
        assert_eq!(recent.get("b"), None, "b was used least recently");
        assert_eq!(recent.get("a"), Some(1));
        assert_eq!(recent.get("c"), Some(3));
        recent.insert("a".into(), 4);
        assert_eq!(recent.by_key.len(), 2);
        assert_eq!(recent.get("a"), Some(4));
    }
}
