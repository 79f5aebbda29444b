//! Judges and tasks created through the API, persisted so they survive restarts and are
//! shared by every replica on the same database.

use sqlx::Row;

use super::{Database, now_unix};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredJudge {
    pub name: String,
    pub kind: String,
    /// JSON text of the config as given.
    pub config: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredTask {
    pub name: String,
    pub judges: Vec<String>,
}

impl Database {
    pub async fn list_judges(&self) -> Result<Vec<StoredJudge>, sqlx::Error> {
        let rows = on_pool!(self, |pool| {
            sqlx::query("SELECT name, kind, config FROM judges ORDER BY name")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| {
                    Ok(StoredJudge {
                        name: row.try_get("name")?,
                        kind: row.try_get("kind")?,
                        config: row.try_get("config")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        Ok(rows)
    }

    pub async fn upsert_judge(&self, judge: &StoredJudge) -> Result<(), sqlx::Error> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO judges (name, kind, config, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config, \
                 updated_at = excluded.updated_at",
            )
            .bind(&judge.name)
            .bind(&judge.kind)
            .bind(&judge.config)
            .bind(now_unix())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Deletes a judge; returns whether it existed.
    pub async fn delete_judge(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM judges WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    pub async fn list_tasks(&self) -> Result<Vec<StoredTask>, sqlx::Error> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT name, judges FROM tasks ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(name, judges)| {
                let judges = serde_json::from_str(&judges).map_err(|e| {
                    sqlx::Error::Decode(
                        format!("task {name:?} has an invalid judge list: {e}").into(),
                    )
                })?;
                Ok(StoredTask { name, judges })
            })
            .collect()
    }

    pub async fn upsert_task(&self, task: &StoredTask) -> Result<(), sqlx::Error> {
        let judges = serde_json::to_string(&task.judges).expect("strings serialise");
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO tasks (name, judges, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET judges = excluded.judges, updated_at = excluded.updated_at",
            )
            .bind(&task.name)
            .bind(&judges)
            .bind(now_unix())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    pub async fn delete_task(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM tasks WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }
}
