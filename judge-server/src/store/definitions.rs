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
    /// The catalog revision: moves (by triggers, `0003_catalog_revision.sql`) whenever a judge
    /// or task row changes.
    pub async fn catalog_revision(&self) -> Result<i64, sqlx::Error> {
        let revision: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT revision FROM catalog_revision WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        Ok(revision)
    }

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

    /// Stores `task` if every API judge it names (`api_judges`) exists, checked and written in
    /// one transaction that holds those judges' rows (PostgreSQL `FOR SHARE`; SQLite's write
    /// lock), so a replica deleting one of them at the same time either waits and then sees
    /// the task (`delete_judge_unless_used`), or deletes first and this finds the judge gone.
    /// `Err(missing)` names the judges that do not exist.
    pub async fn upsert_task_if_judges_exist(
        &self,
        task: &StoredTask,
        api_judges: &[String],
    ) -> Result<Result<(), Vec<String>>, sqlx::Error> {
        let judges = serde_json::to_string(&task.judges).expect("strings serialise");
        holding_judges!(self, "FOR SHARE", |tx, lock| {
            let mut missing = Vec::new();
            for name in api_judges {
                let exists: Option<String> = sqlx::query_scalar(lock)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    missing.push(name.clone());
                }
            }
            if !missing.is_empty() {
                return Ok(Err(missing));
            }
            sqlx::query(
                "INSERT INTO tasks (name, judges, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET judges = excluded.judges, \
                 updated_at = excluded.updated_at",
            )
            .bind(&task.name)
            .bind(&judges)
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(Ok(()))
    }

    /// Deletes an API judge unless a task names it, in one transaction that holds the judge's
    /// row (see `upsert_task_if_judges_exist`). `Ok(Ok(existed))`, or `Ok(Err(tasks))` naming
    /// the tasks that use it.
    pub async fn delete_judge_unless_used(
        &self,
        name: &str,
    ) -> Result<Result<bool, Vec<String>>, sqlx::Error> {
        let users = |tasks: Vec<(String, String)>| -> Vec<String> {
            tasks
                .into_iter()
                .filter(|(_, judges)| {
                    serde_json::from_str::<Vec<String>>(judges)
                        .map_or(true, |judges| judges.iter().any(|j| j == name))
                })
                .map(|(task, _)| task)
                .collect()
        };
        holding_judges!(self, "FOR UPDATE", |tx, lock| {
            let exists: Option<String> = sqlx::query_scalar(lock)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(Ok(false));
            }
            let tasks: Vec<(String, String)> =
                sqlx::query_as("SELECT name, judges FROM tasks ORDER BY name")
                    .fetch_all(&mut *tx)
                    .await?;
            let users = users(tasks);
            if !users.is_empty() {
                return Ok(Err(users));
            }
            sqlx::query("DELETE FROM judges WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(Ok(true))
    }
}
