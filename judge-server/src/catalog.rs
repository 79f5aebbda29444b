//! The catalog: the named judges and tasks this server serves.
//!
//! Definitions come from the config file (read-only) and from the database (created through
//! the API). Every `catalog_refresh_secs` the database's catalog revision (bumped by triggers
//! on every change of its judges and tasks) is read, and the definitions only when it moved, so
//! a change made through one replica reaches the others without a restart, and an unchanged
//! catalog costs one tiny query. Readers get an immutable snapshot (persistent ordered maps:
//! taking one is O(1), a change costs O(log n) and shares everything else, so a `PUT` never
//! copies the catalog); writers go through one lock.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use imbl::OrdMap;
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

#[derive(Clone, Default)]
struct Snapshot {
    judges: OrdMap<String, Arc<JudgeEntry>>,
    tasks: OrdMap<String, Arc<TaskEntry>>,
    /// The database's catalog revision this snapshot reflects (`None` before the first load).
    revision: Option<i64>,
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
    config_judges: OrdMap<String, Arc<JudgeEntry>>,
    config_tasks: OrdMap<String, Arc<TaskEntry>>,
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
        let mut config_judges = OrdMap::new();
        for (name, definition) in &config.judges {
            validate_name(name).with_context(|| format!("judges.{name}"))?;
            let entry = build_entry(&context, name, definition.clone(), Source::Config)
                .map_err(|e| anyhow::anyhow!("judges.{name}.{e}"))?;
            config_judges.insert(name.clone(), Arc::new(entry));
        }
        let mut config_tasks = OrdMap::new();
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
            revision: None,
        };
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
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    pub fn judge(&self, name: &str) -> Option<Arc<JudgeEntry>> {
        self.snapshot().judges.get(name).cloned()
    }

    pub fn task(&self, name: &str) -> Option<Arc<TaskEntry>> {
        self.snapshot().tasks.get(name).cloned()
    }

    pub fn judge_count(&self) -> usize {
        self.snapshot().judges.len()
    }

    pub fn task_count(&self) -> usize {
        self.snapshot().tasks.len()
    }

    /// Up to `limit` judges in name order, after `after` when given.
    pub fn judges_after(&self, after: Option<&str>, limit: usize) -> Vec<Arc<JudgeEntry>> {
        entries_after(&self.snapshot().judges, after, limit)
    }

    /// Up to `limit` tasks in name order, after `after` when given.
    pub fn tasks_after(&self, after: Option<&str>, limit: usize) -> Vec<Arc<TaskEntry>> {
        entries_after(&self.snapshot().tasks, after, limit)
    }

    /// Re-reads the API-managed definitions from the database when its catalog revision moved
    /// since the last load.
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let _writer = self.writer.lock().await;
        let revision = self.db.catalog_revision().await?;
        if self.snapshot().revision == Some(revision) {
            return Ok(());
        }
        self.reload_locked().await
    }

    /// Re-reads the API-managed definitions; entries whose definition did not change are kept
    /// (judges are not rebuilt), the rest of the snapshot is shared with the previous one.
    async fn reload_locked(&self) -> Result<(), sqlx::Error> {
        // The revision first: a change landing between the two reads is seen again next time.
        let revision = self.db.catalog_revision().await?;
        let stored_judges = self.db.list_judges().await?;
        let stored_tasks = self.db.list_tasks().await?;
        let previous = self.snapshot();
        let mut next = Snapshot {
            judges: self.config_judges.clone(),
            tasks: self.config_tasks.clone(),
            revision: Some(revision),
        };
        for stored in stored_judges {
            let name = stored.name.clone();
            if let Some(entry) = self.stored_judge_entry(stored, &previous) {
                next.judges.insert(name, entry);
            }
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
            let entry = match previous.tasks.get(&stored.name) {
                Some(old) if **old == entry => Arc::clone(old),
                _ => Arc::new(entry),
            };
            next.tasks.insert(stored.name, entry);
        }
        *self.current.write().expect("catalog lock") = Arc::new(next);
        self.loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The entry for a judge read from the database: the previous one when its definition did
    /// not change, else a newly built one; `None` (logged) when it cannot be served.
    fn stored_judge_entry(
        &self,
        stored: StoredJudge,
        previous: &Snapshot,
    ) -> Option<Arc<JudgeEntry>> {
        if self.config_judges.contains_key(&stored.name) {
            tracing::warn!(
                judge = stored.name,
                "a judge in the database has the name of a config-file judge; the config file wins"
            );
            return None;
        }
        let config: Value = match serde_json::from_str(&stored.config) {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(judge = stored.name, %error, "stored judge config is not JSON; skipped");
                return None;
            }
        };
        let definition = JudgeDefinition {
            kind: stored.kind,
            config,
        };
        if let Some(old) = previous
            .judges
            .get(&stored.name)
            .filter(|old| old.source == Source::Api && old.definition == definition)
        {
            return Some(Arc::clone(old));
        }
        match build_entry(&self.context, &stored.name, definition, Source::Api) {
            Ok(entry) => Some(Arc::new(entry)),
            Err(error) => {
                tracing::error!(judge = stored.name, %error, "stored judge no longer builds; skipped");
                None
            }
        }
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

    /// Applies a change this process made to a copy of the snapshot (O(1) to copy, the change
    /// O(log n)). The revision is left as it was, so the next refresh reloads once and sees
    /// this change (and any other replica's) from the database.
    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut current = self.current.write().expect("catalog lock");
        let mut next = Snapshot::clone(&current);
        change(&mut next);
        *current = Arc::new(next);
    }
}

/// Up to `limit` values of `map` whose keys follow `after`, in key order.
fn entries_after<T>(
    map: &OrdMap<String, Arc<T>>,
    after: Option<&str>,
    limit: usize,
) -> Vec<Arc<T>> {
    let range = match after {
        Some(after) => map.range::<_, str>((Bound::Excluded(after), Bound::Unbounded)),
        None => map.range::<_, str>(..),
    };
    range
        .take(limit)
        .map(|(_, entry)| Arc::clone(entry))
        .collect()
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
