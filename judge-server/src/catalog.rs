//! The catalog: the named judges and tasks this server serves.
//!
//! Definitions come from the config file (read-only) and from the database (created through
//! the API). The database part is re-read every `catalog_refresh_secs`, so a change made
//! through one replica reaches the others without a restart. Readers get an immutable
//! snapshot; writers go through one lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use judge_api::{JudgeDefinition, JudgeInfo, Source, TaskDefinition, TaskInfo};
use serde_json::Value;

use crate::config::Config;
use crate::judges::{self, ConfigError, Judge, JudgeContext};
use crate::shutdown::Shutdown;
use crate::store::{Database, StoredJudge, StoredTask};

pub struct JudgeEntry {
    pub name: String,
    pub definition: JudgeDefinition,
    pub source: Source,
    pub judge: Arc<dyn Judge>,
}

impl JudgeEntry {
    pub fn info(&self) -> JudgeInfo {
        let fingerprint = self.judge.fingerprint();
        JudgeInfo {
            name: self.name.clone(),
            kind: self.definition.kind.clone(),
            config: fingerprint.config.clone(),
            fingerprint: fingerprint.hex(),
            source: self.source,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskEntry {
    pub name: String,
    pub judges: Vec<String>,
    pub source: Source,
}

impl TaskEntry {
    pub fn info(&self) -> TaskInfo {
        TaskInfo {
            name: self.name.clone(),
            judges: self.judges.clone(),
            source: self.source,
        }
    }
}

#[derive(Default)]
struct Snapshot {
    judges: HashMap<String, Arc<JudgeEntry>>,
    tasks: HashMap<String, Arc<TaskEntry>>,
}

/// Why a catalog change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "invalid name {0:?}: use 1-128 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("{0}")]
    InvalidConfig(ConfigError),
    #[error("{what} {name:?} is declared in the config file and cannot be changed through the API")]
    ReadOnly { what: &'static str, name: String },
    #[error("{what} {name:?} does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("judge {name:?} is used by task(s) {}", tasks.join(", "))]
    InUse { name: String, tasks: Vec<String> },
    #[error("judges[{index}]: unknown judge {name:?}")]
    UnknownJudge { index: usize, name: String },
    #[error("{0}")]
    InvalidJudgeList(JudgeListProblem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub struct Catalog {
    db: Database,
    context: JudgeContext,
    config_judges: HashMap<String, Arc<JudgeEntry>>,
    config_tasks: HashMap<String, Arc<TaskEntry>>,
    current: RwLock<Arc<Snapshot>>,
    writer: tokio::sync::Mutex<()>,
    loaded: AtomicBool,
    max_judges: usize,
}

/// What is wrong with a mixture's judge list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JudgeListProblem {
    #[error("judges: a mixture needs at least one judge")]
    Empty,
    #[error("judges: {len} judges; at most {max} (limits.max_judges)")]
    TooMany { len: usize, max: usize },
    #[error("judges[{index}]: judge {name:?} is listed twice")]
    Duplicate { index: usize, name: String },
}

/// The rules for a mixture's judge list, wherever one is defined (the config file, `PUT
/// /v1/tasks`, a request's `judges`): at least one judge, at most `max_judges`, none twice
/// (a task naming a judge twice would make every request naming it fail).
pub fn validate_judge_list(judges: &[String], max_judges: usize) -> Result<(), JudgeListProblem> {
    if judges.is_empty() {
        return Err(JudgeListProblem::Empty);
    }
    if judges.len() > max_judges {
        return Err(JudgeListProblem::TooMany {
            len: judges.len(),
            max: max_judges,
        });
    }
    let mut seen = std::collections::HashSet::new();
    match judges.iter().enumerate().find(|(_, j)| !seen.insert(*j)) {
        Some((index, name)) => Err(JudgeListProblem::Duplicate {
            index,
            name: name.clone(),
        }),
        None => Ok(()),
    }
}

pub fn validate_name(name: &str) -> Result<(), CatalogError> {
    let mut chars = name.chars();
    let valid = name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidName(name.to_owned()))
    }
}

fn build_entry(
    context: &JudgeContext,
    name: &str,
    definition: JudgeDefinition,
    source: Source,
) -> Result<JudgeEntry, ConfigError> {
    let judge = judges::build(&definition.kind, &definition.config, context)?;
    Ok(JudgeEntry {
        name: name.to_owned(),
        definition,
        source,
        judge,
    })
}

impl Catalog {
    /// Builds the config-file judges and tasks; fails on any invalid one, naming it.
    pub fn new(config: &Config, db: Database, context: JudgeContext) -> anyhow::Result<Catalog> {
        let mut config_judges = HashMap::new();
        for (name, definition) in &config.judges {
            validate_name(name).with_context(|| format!("judges.{name}"))?;
            let entry = build_entry(&context, name, definition.clone(), Source::Config)
                .map_err(|e| anyhow::anyhow!("judges.{name}.{e}"))?;
            config_judges.insert(name.clone(), Arc::new(entry));
        }
        let mut config_tasks = HashMap::new();
        for (name, task) in &config.tasks {
            validate_name(name).with_context(|| format!("tasks.{name}"))?;
            validate_judge_list(&task.judges, config.limits.max_judges)
                .with_context(|| format!("tasks.{name}"))?;
            for judge in &task.judges {
                if !config_judges.contains_key(judge) {
                    bail!(
                        "tasks.{name}.judges: {judge:?} is not a judge declared in the config file"
                    );
                }
            }
            let entry = TaskEntry {
                name: name.clone(),
                judges: task.judges.clone(),
                source: Source::Config,
            };
            config_tasks.insert(name.clone(), Arc::new(entry));
        }
        let snapshot = Snapshot {
            judges: config_judges.clone(),
            tasks: config_tasks.clone(),
        };
        // Judge plugins not loaded in this process yet come from the database.
        if let Some(sandbox) = &context.sandbox {
            let db = db.clone();
            sandbox.set_plugin_source(Arc::new(move |sha256: String| {
                let db = db.clone();
                Box::pin(async move { db.plugin_module(&sha256).await.map_err(|e| e.to_string()) })
            }));
        }
        Ok(Catalog {
            db,
            context,
            config_judges,
            config_tasks,
            current: RwLock::new(Arc::new(snapshot)),
            writer: tokio::sync::Mutex::new(()),
            loaded: AtomicBool::new(false),
            max_judges: config.limits.max_judges,
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().expect("catalog lock"))
    }

    /// Whether the database definitions have been loaded at least once.
    /// The shared services judges are built with.
    pub fn context(&self) -> &JudgeContext {
        &self.context
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    pub fn judge(&self, name: &str) -> Option<Arc<JudgeEntry>> {
        self.snapshot().judges.get(name).cloned()
    }

    pub fn task(&self, name: &str) -> Option<Arc<TaskEntry>> {
        self.snapshot().tasks.get(name).cloned()
    }

    pub fn judges(&self) -> Vec<Arc<JudgeEntry>> {
        let mut all: Vec<_> = self.snapshot().judges.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn tasks(&self) -> Vec<Arc<TaskEntry>> {
        let mut all: Vec<_> = self.snapshot().tasks.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Re-reads the API-managed definitions from the database.
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let _writer = self.writer.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<(), sqlx::Error> {
        let stored_judges = self.db.list_judges().await?;
        let stored_tasks = self.db.list_tasks().await?;
        let previous = self.snapshot();
        let mut next = Snapshot {
            judges: self.config_judges.clone(),
            tasks: self.config_tasks.clone(),
        };
        for stored in stored_judges {
            if self.config_judges.contains_key(&stored.name) {
                tracing::warn!(
                    judge = stored.name,
                    "a judge in the database has the name of a config-file judge; the config file wins"
                );
                continue;
            }
            let config: Value = match serde_json::from_str(&stored.config) {
                Ok(config) => config,
                Err(error) => {
                    tracing::error!(judge = stored.name, %error, "stored judge config is not JSON; skipped");
                    continue;
                }
            };
            let definition = JudgeDefinition {
                kind: stored.kind,
                config,
            };
            let reusable = previous
                .judges
                .get(&stored.name)
                .filter(|old| old.source == Source::Api && old.definition == definition);
            let entry = match reusable {
                Some(old) => Arc::clone(old),
                None => match build_entry(&self.context, &stored.name, definition, Source::Api) {
                    Ok(entry) => Arc::new(entry),
                    Err(error) => {
                        tracing::error!(judge = stored.name, %error, "stored judge no longer builds; skipped");
                        continue;
                    }
                },
            };
            next.judges.insert(stored.name, entry);
        }
        for stored in stored_tasks {
            if self.config_tasks.contains_key(&stored.name) {
                tracing::warn!(
                    task = stored.name,
                    "a task in the database has the name of a config-file task; the config file wins"
                );
                continue;
            }
            let entry = TaskEntry {
                name: stored.name.clone(),
                judges: stored.judges,
                source: Source::Api,
            };
            next.tasks.insert(stored.name, Arc::new(entry));
        }
        *self.current.write().expect("catalog lock") = Arc::new(next);
        self.loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Creates or replaces an API judge. Returns the entry and whether it was new.
    pub async fn put_judge(
        &self,
        name: &str,
        definition: JudgeDefinition,
    ) -> Result<(Arc<JudgeEntry>, bool), CatalogError> {
        validate_name(name)?;
        if self.config_judges.contains_key(name) {
            return Err(CatalogError::ReadOnly {
                what: "judge",
                name: name.into(),
            });
        }
        let entry = Arc::new(
            build_entry(&self.context, name, definition.clone(), Source::Api)
                .map_err(CatalogError::InvalidConfig)?,
        );
        let _writer = self.writer.lock().await;
        let stored = StoredJudge {
            name: name.to_owned(),
            kind: definition.kind.clone(),
            config: definition.config.to_string(),
        };
        self.db.upsert_judge(&stored).await?;
        let created = self.judge(name).is_none();
        self.update(|snapshot| {
            snapshot.judges.insert(name.to_owned(), Arc::clone(&entry));
        });
        Ok((entry, created))
    }

    pub async fn delete_judge(&self, name: &str) -> Result<(), CatalogError> {
        if self.config_judges.contains_key(name) {
            return Err(CatalogError::ReadOnly {
                what: "judge",
                name: name.into(),
            });
        }
        let _writer = self.writer.lock().await;
        // Ask the database, not the snapshot, in the transaction that deletes: another replica
        // may be adding a task that uses this judge right now.
        match self.db.delete_judge_unless_used(name).await? {
            Ok(true) => {}
            Ok(false) => {
                return Err(CatalogError::NotFound {
                    what: "judge",
                    name: name.into(),
                });
            }
            Err(tasks) => {
                return Err(CatalogError::InUse {
                    name: name.into(),
                    tasks,
                });
            }
        }
        self.update(|snapshot| {
            snapshot.judges.remove(name);
        });
        Ok(())
    }

    /// Creates or replaces an API task. Returns the entry and whether it was new.
    pub async fn put_task(
        &self,
        name: &str,
        definition: TaskDefinition,
    ) -> Result<(Arc<TaskEntry>, bool), CatalogError> {
        validate_name(name)?;
        if self.config_tasks.contains_key(name) {
            return Err(CatalogError::ReadOnly {
                what: "task",
                name: name.into(),
            });
        }
        validate_judge_list(&definition.judges, self.max_judges)
            .map_err(CatalogError::InvalidJudgeList)?;
        let _writer = self.writer.lock().await;
        if definition.judges.iter().any(|j| self.judge(j).is_none()) {
            // Perhaps created through another replica since the last refresh.
            self.reload_locked().await?;
        }
        if let Some((index, name)) = definition
            .judges
            .iter()
            .enumerate()
            .find(|(_, j)| self.judge(j).is_none())
        {
            return Err(CatalogError::UnknownJudge {
                index,
                name: name.clone(),
            });
        }
        // The API judges it names must still exist when the task is written (checked in the
        // same transaction: a replica may be deleting one of them).
        let api_judges: Vec<String> = definition
            .judges
            .iter()
            .filter(|j| !self.config_judges.contains_key(j.as_str()))
            .cloned()
            .collect();
        let stored = StoredTask {
            name: name.to_owned(),
            judges: definition.judges.clone(),
        };
        if let Err(missing) = self
            .db
            .upsert_task_if_judges_exist(&stored, &api_judges)
            .await?
        {
            self.reload_locked().await?;
            let index = definition
                .judges
                .iter()
                .position(|j| missing.contains(j))
                .unwrap_or(0);
            return Err(CatalogError::UnknownJudge {
                index,
                name: definition.judges[index].clone(),
            });
        }
        let entry = Arc::new(TaskEntry {
            name: name.to_owned(),
            judges: definition.judges,
            source: Source::Api,
        });
        let created = self.task(name).is_none();
        self.update(|snapshot| {
            snapshot.tasks.insert(name.to_owned(), Arc::clone(&entry));
        });
        Ok((entry, created))
    }

    pub async fn delete_task(&self, name: &str) -> Result<(), CatalogError> {
        if self.config_tasks.contains_key(name) {
            return Err(CatalogError::ReadOnly {
                what: "task",
                name: name.into(),
            });
        }
        let _writer = self.writer.lock().await;
        if !self.db.delete_task(name).await? {
            return Err(CatalogError::NotFound {
                what: "task",
                name: name.into(),
            });
        }
        self.update(|snapshot| {
            snapshot.tasks.remove(name);
        });
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut current = self.current.write().expect("catalog lock");
        let mut next = Snapshot {
            judges: current.judges.clone(),
            tasks: current.tasks.clone(),
        };
        change(&mut next);
        *current = Arc::new(next);
    }
}

/// Re-reads the database definitions every `every` until shutdown.
pub fn spawn_refresher(catalog: Arc<Catalog>, every: Duration, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait() => return,
            }
            if let Err(error) = catalog.refresh().await {
                tracing::warn!(%error, "could not refresh judges and tasks from the database");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted_to_safe_characters() {
        for good in ["math", "ifeval-strict", "a.b_c-1", "X"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "../etc",
            "-x",
            "a b",
            "a/b",
            "na;me",
            "ñ",
            "'; DROP TABLE judges; --",
            long.as_str(),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
