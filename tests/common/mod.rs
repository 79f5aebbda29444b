//! Shared helpers for the end-to-end tests: start the real `judge-server` binary on a
//! loopback port against a fresh SQLite file or a fresh PostgreSQL database.
#![allow(dead_code)]

pub mod llama_server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use judge_api::{JudgeClient, RetryPolicy};
use serde_json::Value;

pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_judge-server");

/// The PostgreSQL server the tests use (a database is created per test).
pub fn postgres_admin_url() -> String {
    std::env::var("MOJ_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database created for one test and dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

fn run_blocking<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    future: F,
) -> T {
    // A private runtime on its own thread: callable from sync code and from inside tokio tests.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    })
    .join()
    .expect("helper thread")
}

impl TestDatabase {
    pub fn create(backend: Backend, dir: &Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.join("moj-test.sqlite3").display()
                ),
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("moj_test_{}", unique_suffix());
                let admin = postgres_admin_url();
                let statement = format!("CREATE DATABASE {name}");
                let created = run_blocking(async move {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&admin).await?;
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                });
                if let Err(error) = created {
                    panic!(
                        "PostgreSQL is required for these tests and is not usable at {}: {error}. \
                         Start it (see .ci/run) or set MOJ_TEST_POSTGRES_URL.",
                        postgres_admin_url()
                    );
                }
                let base = postgres_admin_url();
                let root = base
                    .rsplit_once('/')
                    .map_or(base.as_str(), |(root, _)| root);
                TestDatabase {
                    url: format!("{root}/{name}"),
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Runs a SQL statement against this database and returns rows affected.
    pub fn execute(&self, statement: &str) -> u64 {
        let url = self.url.clone();
        let statement = statement.to_owned();
        let is_pg = self.url.starts_with("postgres");
        run_blocking(async move {
            use sqlx::Connection;
            if is_pg {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .unwrap()
                    .rows_affected()
            } else {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .unwrap()
                    .rows_affected()
            }
        })
    }

    /// `SELECT COUNT(*)` style scalar query.
    pub fn scalar(&self, query: &str) -> i64 {
        let url = self.url.clone();
        let query = query.to_owned();
        let is_pg = self.url.starts_with("postgres");
        run_blocking(async move {
            use sqlx::Connection;
            if is_pg {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(query))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
            } else {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(query))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
            }
        })
    }

    pub fn verdict_rows(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM verdicts")
    }

    /// Drops the PostgreSQL database now, disconnecting its clients (simulates losing it).
    pub fn drop_now(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let admin = postgres_admin_url();
            run_blocking(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await;
                }
            });
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// A running `judge-server serve` process.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub db: TestDatabase,
    env: Vec<(String, String)>,
    pub log_path: PathBuf,
}

pub struct ServerBuilder {
    backend: Backend,
    env: Vec<(String, String)>,
    config: Option<String>,
    shared_database: Option<String>,
}

pub fn server(backend: Backend) -> ServerBuilder {
    ServerBuilder {
        backend,
        env: Vec::new(),
        config: None,
        shared_database: None,
    }
}

impl ServerBuilder {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// TOML written to a config file passed with `--config`.
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    /// Uses `other`'s database (a second replica); `other` owns it and drops it.
    pub fn sharing_database_of(mut self, other: &Server) -> Self {
        self.shared_database = Some(other.db.url.clone());
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = match self.shared_database {
            Some(url) => TestDatabase { url, pg_name: None },
            None => TestDatabase::create(self.backend, dir.path()),
        };
        let mut env = vec![
            ("MOJ_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("MOJ_DATA_DIR".to_owned(), dir.path().display().to_string()),
            ("DATABASE_URL".to_owned(), db.url.clone()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ];
        if let Some(config) = &self.config {
            let path = dir.path().join("moj.toml");
            std::fs::write(&path, config).unwrap();
            env.push(("MOJ_CONFIG".to_owned(), path.display().to_string()));
        }
        env.extend(self.env);
        let log_path = dir.path().join("server.log");
        let mut server = Server {
            child: None,
            base: String::new(),
            dir,
            db,
            env,
            log_path,
        };
        server.spawn().unwrap_or_else(|error| panic!("{error}"));
        server
    }
}

/// Runs the binary with the given environment; returns (exit success, stdout, stderr).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(SERVER_BIN);
    command.args(args);
    scrub_env(&mut command);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scrub_env(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("MOJ_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
}

impl Server {
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let mut command = Command::new(SERVER_BIN);
        command
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log)
            .stdin(Stdio::null());
        scrub_env(&mut command);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {SERVER_BIN}: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("judge-server listening on ") {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => {
                self.base = url;
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "judge-server did not start; its log:\n{}",
                    self.log()
                ))
            }
        }
    }

    /// Sets (or replaces) an environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// The server process's id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after [`Server::kill`] or [`Server::stop`].
    pub fn start_again(&mut self) {
        self.spawn().unwrap_or_else(|error| panic!("{error}"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn client(&self) -> JudgeClient {
        JudgeClient::new(&self.base)
            .unwrap()
            .with_retry(RetryPolicy::none())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` (no key), its body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        http()
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "judge-server exited with {status}; log:\n{}",
                        self.log()
                    );
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("judge-server did not stop within 20 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops and starts again with the same data directory, database and environment.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|error| panic!("{error}"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // scripts/test.sh collects every server's log and checks that no key appears in any.
        if let Ok(dir) = std::env::var("MOJ_TEST_LOG_DIR") {
            let name = format!("judge-server-{}.log", unique_suffix());
            let _ = std::fs::copy(&self.log_path, Path::new(&dir).join(name));
        }
    }
}

/// A plain HTTP client for requests the typed client cannot express (malformed bodies...).
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// The server's Prometheus text.
pub async fn metrics(server: &Server) -> String {
    http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// GETs `path` (no key) and returns (status, parsed body).
pub async fn get_raw(server: &Server, path: &str) -> (u16, Value) {
    let response = http().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// POSTs raw bytes as JSON and returns (status, parsed body).
pub async fn post_raw(server: &Server, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    post_raw_as(server, path, body, None).await
}

/// [`post_raw`] with a bearer key.
pub async fn post_raw_as(
    server: &Server,
    path: &str,
    body: impl Into<reqwest::Body>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = http()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}
