//! Judge plugin modules, content-addressed by SHA-256 (an upload of the same bytes is a no-op).

use sqlx::Row;

use super::{Database, now_unix};

impl Database {
    /// Stores a module under its SHA-256; returns whether it was new.
    pub async fn put_plugin(&self, sha256: &str, module: &[u8]) -> Result<bool, sqlx::Error> {
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO plugins (sha256, module, size, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(sha256)
            .bind(module)
            .bind(module.len() as i64)
            .bind(now_unix())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// The module stored under `sha256`, if any.
    pub async fn plugin_module(&self, sha256: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let module = on_pool!(self, |pool| {
            sqlx::query("SELECT module FROM plugins WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(pool)
                .await?
                .map(|row| row.try_get::<Vec<u8>, _>("module"))
                .transpose()?
        });
        Ok(module)
    }
}
