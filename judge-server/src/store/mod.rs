//! The database: PostgreSQL or SQLite through sqlx, chosen by the URL.
//!
//! It owns connections and migrations; `verdicts.rs` holds the cache rows and
//! `definitions.rs` the judges and tasks created through the API. Nothing here knows HTTP.

/// Runs the same statement on either backend: `$body` is expanded once per pool type.
/// Placeholders are written `$1`, which SQLite also reads as numbered parameters.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Database::Postgres($pool) => $body,
            Database::Sqlite($pool) => $body,
        }
    };
}

/// Runs `$body` once per backend in a transaction that can hold judge rows: `$lock` is bound to
/// the statement that reads one judge by name and holds its row until the commit (PostgreSQL
/// `FOR SHARE` or `FOR UPDATE`, as `$pg_lock` says; SQLite takes its write lock for the whole
/// transaction with `BEGIN IMMEDIATE`). `$body` commits `$tx`.
macro_rules! holding_judges {
    ($db:expr, $pg_lock:literal, |$tx:ident, $lock:ident| $body:block) => {
        match $db {
            Database::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let $lock = concat!("SELECT name FROM judges WHERE name = $1 ", $pg_lock);
                $body
            }
            Database::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $lock = "SELECT name FROM judges WHERE name = $1";
                $body
            }
        }
    };
}

mod definitions;
mod plugins;
mod verdicts;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{DatabaseConfig, redact_url_password};

pub use definitions::{StoredJudge, StoredTask};
pub use verdicts::StoredVerdict;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Database {
    /// Opens a pool. PostgreSQL pools connect lazily, so a server can start while its
    /// database is down and serve without the cache until it returns.
    pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<Database> {
        let url = config.url.as_str();
        let shown = redact_url_password(url);
        let acquire = Duration::from_secs(config.connect_timeout_secs.max(1));
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid SQLite URL {shown}"))?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(dir) = options.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the data directory {}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(acquire)
                .connect_with(options)
                .await
                .with_context(|| format!("opening SQLite database {shown}"))?;
            Ok(Database::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid PostgreSQL URL {shown}"))?
                .application_name("moj-judge-server");
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(acquire)
                .connect_lazy_with(options);
            Ok(Database::Postgres(pool))
        }
    }

    /// Applies pending migrations (PostgreSQL takes an advisory lock, so replicas may race).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Database::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Database::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
        .context("applying database migrations")
    }

    /// `SELECT 1`: whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
