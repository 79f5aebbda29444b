//! Configuration: a TOML file (`MOJ_CONFIG`) plus environment overrides, with a sane default
//! for every limit.
//!
//! Environment: `MOJ_LISTEN`, `MOJ_DATA_DIR`, `DATABASE_URL`, `MOJ_API_KEYS`, `MOJ_ADMIN_KEYS`,
//! `MOJ_ALLOW_UNAUTHENTICATED`, and `MOJ_<SECTION>_<KEY>` for any key of the `[server]`,
//! `[limits]`, `[cache]` and `[database]` sections (e.g. `MOJ_LIMITS_MAX_ITEMS=512`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use judge_api::{JudgeDefinition, TaskDefinition};
use serde::{Deserialize, Serialize};

mod env;
use env::apply_env;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: Limits,
    pub cache: CacheConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub sandbox: SandboxConfig,
    /// OpenAI-compatible backends for the LLM judge kinds.
    pub llm: LlmConfig,
    /// Judges declared in the file: read-only through the API.
    pub judges: BTreeMap<String, JudgeDefinition>,
    /// Tasks declared in the file: read-only through the API.
    pub tasks: BTreeMap<String, TaskDefinition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// Where the embedded SQLite database lives (and the runtimes, when neither
    /// `XDG_CACHE_HOME` nor `HOME` is set).
    pub data_dir: PathBuf,
    /// Seconds to let in-flight requests finish after SIGTERM / Ctrl-C.
    pub shutdown_grace_secs: u64,
    /// How often the judge and task definitions are re-read from the database, so that
    /// changes made through another replica are served here too.
    pub catalog_refresh_secs: u64,
    pub log_format: LogFormat,
}

/// How the server writes its log (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event (for log collectors).
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("moj-data"),
            shutdown_grace_secs: 30,
            catalog_refresh_secs: 5,
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Most items in one `POST /v1/judge`.
    pub max_items: usize,
    /// Most judges in one mixture (request or task).
    pub max_judges: usize,
    /// Largest prompt (all message text) and largest response, each, in bytes.
    pub max_field_bytes: usize,
    /// Largest metadata object of one item, in bytes of JSON.
    pub max_metadata_bytes: usize,
    /// Batches scored at the same time.
    pub max_concurrent_batches: usize,
    /// Batches of at most this many items are small: they have slots of their own
    /// (`max_concurrent_small_batches`), so big batches, however many, never hold every slot
    /// and a one-item request is not refused behind them.
    pub small_batch_items: usize,
    /// Small batches scored at the same time, besides `max_concurrent_batches`.
    pub max_concurrent_small_batches: usize,
    /// Batches allowed to wait for a slot; beyond that the server answers 503 with Retry-After.
    pub max_queued_batches: usize,
    /// How long a batch may wait for a slot before the server answers 503.
    pub queue_timeout_ms: u64,
    /// Time one judge may take on one batch; past it its items are `error`.
    pub judge_timeout_ms: u64,
    /// Largest judge config (JSON bytes) accepted by `PUT /v1/judges/{name}`.
    pub max_judge_config_bytes: usize,
    /// A client must send a request's headers within this time, or the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A client must send a request's whole body within this time, or gets a 408.
    pub body_read_timeout_ms: u64,
    /// A response write may wait this long for a client that does not read before the
    /// connection is closed.
    pub response_write_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            max_body_bytes: 64 * 1024 * 1024,
            max_items: 8192,
            max_judges: 32,
            max_field_bytes: 1024 * 1024,
            max_metadata_bytes: 1024 * 1024,
            max_concurrent_batches: 4 * cores,
            small_batch_items: 8,
            max_concurrent_small_batches: 4 * cores,
            max_queued_batches: 256,
            queue_timeout_ms: 30_000,
            judge_timeout_ms: 120_000,
            header_read_timeout_ms: 30_000,
            body_read_timeout_ms: 60_000,
            response_write_timeout_ms: 30_000,
            max_judge_config_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Master switch: with `false`, nothing is read from or written to the cache.
    pub enabled: bool,
    /// Entries of the in-memory LRU in front of the database (0 disables it).
    pub memory_entries: usize,
    /// Bytes the in-memory LRU may hold (reasons and details counted), in MiB: whichever of
    /// the two bounds is reached first evicts the least recently used entries.
    pub memory_max_mb: usize,
    /// Verdicts older than this are pruned (0 keeps them forever).
    pub max_age_secs: u64,
    pub prune_interval_secs: u64,
    /// While the database is down, at most one log line per this many seconds.
    pub outage_log_interval_secs: u64,
    /// Time a cache lookup or write may take before the batch goes on without it.
    pub db_timeout_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            memory_entries: 200_000,
            memory_max_mb: 256,
            max_age_secs: 30 * 24 * 3600,
            prune_interval_secs: 3600,
            outage_log_interval_secs: 30,
            db_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://...`; empty: a SQLite file in the data directory.
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
            connect_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
}

/// The WebAssembly sandbox that runs generated code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Where `python-3.12.0.wasm` is installed (sandboxes/python/fetch.sh puts it there).
    /// Empty: `$XDG_CACHE_HOME/moj/runtimes` (or `~/.cache/moj/runtimes`).
    pub runtime_dir: PathBuf,
    /// Where compiled modules are cached. Empty: `<runtime_dir>/compiled`.
    pub compiled_cache_dir: PathBuf,
    /// Bound on that folder: past it, the entries used least recently are removed (the
    /// newest always stays). CPython 3.12 with its snapshot takes about 200 MB, the optional
    /// CPython 3.15 about 300 MB, a plugin its size times a few.
    pub compiled_cache_max_mb: u64,
    /// Worker threads running guests (default: the number of cores).
    pub workers: usize,
    /// Runs allowed to wait for a worker; past that a run fails as `error` (queue full).
    pub max_queued_runs: usize,
    /// Upper bounds a judge config may ask for.
    pub max_timeout_ms: u64,
    pub max_memory_mb: usize,
    pub max_output_bytes: usize,
    /// Judge plugins kept compiled in memory; past it the least recently used is dropped (and
    /// loaded again from the disk cache or the database when it is next used).
    pub max_loaded_plugins: usize,
    /// Run Python from a pre-initialised snapshot of the interpreter (built once in the
    /// background at first start and cached in `compiled_cache_dir`; runs use the plain
    /// start-up until it is ready). `false`: every run starts CPython from `_start`.
    pub python_snapshot: bool,
    /// The C/C++ compiler (`sandbox/compiler`): a name on the `PATH` or a path to Debian's
    /// clang-19 with its wasm32-wasi parts (`scripts/install-cpp-toolchain.sh`). Empty: C and
    /// C++ are off.
    pub clang: PathBuf,
    /// CPU time one compile may use; past it the program fails to compile (`cpu_limit`).
    pub compile_timeout_ms: u64,
    /// Address space one compile may use (`memory_limit` past it).
    pub compile_memory_mb: usize,
    /// Compiles running at once (default: the number of cores); others wait their turn.
    pub max_concurrent_compiles: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            runtime_dir: PathBuf::new(),
            compiled_cache_dir: PathBuf::new(),
            compiled_cache_max_mb: 2048,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queued_runs: 4096,
            max_timeout_ms: 120_000,
            max_memory_mb: 1024,
            max_output_bytes: 16 * 1024 * 1024,
            max_loaded_plugins: 256,
            python_snapshot: true,
            clang: PathBuf::from("clang-19"),
            compile_timeout_ms: 20_000,
            compile_memory_mb: 2048,
            max_concurrent_compiles: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// `[llm.backends.<name>]`: OpenAI-compatible chat-completions endpoints the LLM judges call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    pub backends: BTreeMap<String, LlmBackendConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmBackendConfig {
    /// E.g. `http://vllm:8000/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The `model` sent with every request (part of every LLM judge's fingerprint).
    pub model: String,
    /// The NAME of an environment variable holding the API key (sent as a bearer token).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra fields merged into every request body, as OpenAI clients' `extra_body` (vLLM's
    /// `top_k` or `repetition_penalty`, llama.cpp's `cache_prompt`). Part of the fingerprint of
    /// every judge using this backend; the fields the judges set themselves are refused.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    /// Budget for one judge request, retries and backoff included.
    #[serde(default = "default_llm_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests in flight to this backend at once.
    #[serde(default = "default_llm_max_concurrent")]
    pub max_concurrent: usize,
    /// Attempts after the first one, for transient failures only.
    #[serde(default = "default_llm_max_retries")]
    pub max_retries: u32,
    /// First backoff delay; doubled on each retry, with jitter.
    #[serde(default = "default_llm_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Estimated as prompt bytes / 4 + max_tokens per request.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
}

fn default_llm_timeout_ms() -> u64 {
    60_000
}

fn default_llm_max_concurrent() -> usize {
    16
}

fn default_llm_max_retries() -> u32 {
    4
}

fn default_llm_backoff_ms() -> u64 {
    250
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Keys that may score and read. Prefer `MOJ_API_KEYS` to keep keys out of files.
    pub api_keys: Vec<String>,
    /// Keys that may also create, change and delete judges and tasks.
    pub admin_keys: Vec<String>,
    /// Allow a non-loopback listen address without any key.
    pub allow_unauthenticated: bool,
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        !self.api_keys.is_empty() || !self.admin_keys.is_empty()
    }
}

impl Config {
    /// Reads the file named by `path` (if any), then applies the process environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        let mut doc = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut doc, env)?;
        let mut config: Config = doc
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.resolve_defaults(env);
        config.validate()?;
        Ok(config)
    }

    fn resolve_defaults(&mut self, env: &[(String, String)]) {
        if self.sandbox.runtime_dir.as_os_str().is_empty() {
            let var = |name: &str| {
                env.iter()
                    .find(|(k, v)| k == name && !v.is_empty())
                    .map(|(_, v)| PathBuf::from(v))
            };
            let cache = var("XDG_CACHE_HOME")
                .or_else(|| var("HOME").map(|home| home.join(".cache")))
                .unwrap_or_else(|| self.server.data_dir.clone());
            self.sandbox.runtime_dir = cache.join("moj").join("runtimes");
        }
        if self.sandbox.compiled_cache_dir.as_os_str().is_empty() {
            self.sandbox.compiled_cache_dir = self.sandbox.runtime_dir.join("compiled");
        }
        if self.database.url.is_empty() {
            let file = self.server.data_dir.join("moj.sqlite3");
            self.database.url = format!("sqlite://{}?mode=rwc", file.display());
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_items", l.max_items),
            ("limits.max_judges", l.max_judges),
            ("limits.max_field_bytes", l.max_field_bytes),
            ("limits.max_metadata_bytes", l.max_metadata_bytes),
            ("limits.max_concurrent_batches", l.max_concurrent_batches),
            (
                "limits.max_concurrent_small_batches",
                l.max_concurrent_small_batches,
            ),
            ("limits.max_judge_config_bytes", l.max_judge_config_bytes),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        for (name, value) in [
            ("limits.judge_timeout_ms", l.judge_timeout_ms),
            ("limits.header_read_timeout_ms", l.header_read_timeout_ms),
            ("limits.body_read_timeout_ms", l.body_read_timeout_ms),
            (
                "limits.response_write_timeout_ms",
                l.response_write_timeout_ms,
            ),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if self.sandbox.workers == 0
            || self.sandbox.max_memory_mb == 0
            || self.sandbox.max_timeout_ms == 0
        {
            bail!(
                "sandbox.workers, sandbox.max_memory_mb and sandbox.max_timeout_ms must be at least 1"
            );
        }
        if self.server.catalog_refresh_secs == 0 {
            bail!("server.catalog_refresh_secs must be at least 1");
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            bail!(
                "database.url (DATABASE_URL) must start with sqlite:, postgres:// or postgresql://"
            );
        }
        for key in self.auth.api_keys.iter().chain(&self.auth.admin_keys) {
            if key.len() < 8 {
                bail!("API keys must be at least 8 characters long");
            }
        }
        for (name, backend) in &self.llm.backends {
            if !(backend.base_url.starts_with("http://")
                || backend.base_url.starts_with("https://"))
            {
                bail!("llm.backends.{name}.base_url must start with http:// or https://");
            }
            if backend.model.is_empty() {
                bail!("llm.backends.{name}.model must not be empty");
            }
            if backend.timeout_ms == 0
                || backend.max_concurrent == 0
                || backend.requests_per_minute == Some(0)
                || backend.tokens_per_minute == Some(0)
            {
                bail!(
                    "llm.backends.{name}: timeout_ms, max_concurrent, requests_per_minute and tokens_per_minute must be at least 1"
                );
            }
        }
        for (name, task) in &self.tasks {
            if task.judges.is_empty() {
                bail!("tasks.{name}.judges must name at least one judge");
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().with_context(|| {
            format!(
                "server.listen (MOJ_LISTEN) {:?} is not an IP:port",
                self.server.listen
            )
        })
    }

    /// The configuration as TOML, with keys redacted (for `check-config`).
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        let redact = |keys: &mut Vec<String>| {
            for key in keys.iter_mut() {
                *key = "<redacted>".into();
            }
        };
        redact(&mut copy.auth.api_keys);
        redact(&mut copy.auth.admin_keys);
        copy.database.url = redact_url_password(&copy.database.url);
        for backend in copy.llm.backends.values_mut() {
            for value in backend.headers.values_mut() {
                *value = "<redacted>".into();
            }
        }
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:<redacted>@host/db`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    let credentials = &rest[..at];
    match credentials.find(':') {
        Some(colon) => format!(
            "{}{}:<redacted>{}",
            &url[..scheme_end + 3],
            &credentials[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn llm_backends_parse_validate_and_hide_header_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moj.toml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write(
            "[llm.backends.guard]\nbase_url = \"http://vllm:8000/v1\"\nmodel = \"meta-llama/Llama-Guard-3-8B\"\napi_key_env = \"VLLM_KEY\"\nheaders = { \"x-secret\" = \"hdr-value-1234\" }\nrequests_per_minute = 600\n",
        );
        let config = Config::load_with_env(Some(&path), &[]).unwrap();
        let guard = &config.llm.backends["guard"];
        assert_eq!(guard.api_key_env.as_deref(), Some("VLLM_KEY"));
        assert_eq!(
            (guard.timeout_ms, guard.max_concurrent, guard.max_retries),
            (60_000, 16, 4)
        );
        assert_eq!(guard.requests_per_minute, Some(600));
        assert_eq!(guard.tokens_per_minute, None);
        let shown = config.to_redacted_toml();
        assert!(!shown.contains("hdr-value-1234") && shown.contains("x-secret"));

        for bad in [
            "base_url = \"vllm:8000\"\nmodel = \"m\"",
            "base_url = \"http://h/v1\"\nmodel = \"\"",
            "base_url = \"http://h/v1\"\nmodel = \"m\"\nmax_concurrent = 0",
            "base_url = \"http://h/v1\"\nmodel = \"m\"\napi_key = \"inline keys are refused\"",
        ] {
            write(&format!("[llm.backends.b]\n{bad}\n"));
            assert!(Config::load_with_env(Some(&path), &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_use_sqlite_in_the_data_dir() {
        let config = Config::load_with_env(None, &env(&[("MOJ_DATA_DIR", "/tmp/x")])).unwrap();
        assert_eq!(config.database.url, "sqlite:///tmp/x/moj.sqlite3?mode=rwc");
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert!(!config.auth.enabled());
    }

    #[test]
    fn environment_overrides_file_and_generic_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moj.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_items = 10\n[judges.no_sorry]\nkind = \"regex\"\nconfig = { must_not_match = [\"sorry\"] }\n",
        )
        .unwrap();
        let config = Config::load_with_env(
            Some(&path),
            &env(&[
                ("MOJ_LIMITS_MAX_ITEMS", "20"),
                ("MOJ_CACHE_ENABLED", "false"),
                ("MOJ_API_KEYS", "key-one-1234, key-two-5678"),
                ("DATABASE_URL", "postgres://u:pw@h/db"),
                ("MOJ_TEST_SOMETHING", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(config.limits.max_items, 20);
        assert!(!config.cache.enabled);
        assert_eq!(config.auth.api_keys, vec!["key-one-1234", "key-two-5678"]);
        assert_eq!(config.judges["no_sorry"].kind, "regex");
        let shown = config.to_redacted_toml();
        assert!(!shown.contains("key-one-1234"));
        assert!(!shown.contains(":pw@"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let error = Config::load_with_env(None, &env(&[("MOJ_LIMITS_MAX_ITMES", "3")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_itmes"), "{error}");
        let error = Config::load_with_env(None, &env(&[("MOJ_LIMITS_MAX_ITEMS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("limits.max_items"), "{error}");
        let error = Config::load_with_env(None, &env(&[("MOJ_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("MOJ_LISTEN"), "{error}");
        let error = Config::load_with_env(None, &env(&[("MOJ_ALLOW_UNAUTHENTICATED", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("MOJ_ALLOW_UNAUTHENTICATED"), "{error}");
    }

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact_url_password("postgres://me:secret@db:5432/x"),
            "postgres://me:<redacted>@db:5432/x"
        );
        assert_eq!(
            redact_url_password("postgres://me@db/x"),
            "postgres://me@db/x"
        );
        assert_eq!(redact_url_password("sqlite://a.db"), "sqlite://a.db");
    }
}
