//! The verdict cache: an in-memory LRU in front of the database.
//!
//! Only `pass` / `fail` are cached. A database outage never fails a request: lookups become
//! misses, writes are dropped, both are counted in metrics and logged at most once per
//! interval. Retention is enforced by [`spawn_pruner`].

pub mod key;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_api::Verdict;
use lru::LruCache;
use serde_json::Value;

use crate::config::CacheConfig;
use crate::judges::Judgement;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{Database, StoredVerdict, now_unix};
pub use key::Key;

/// A stored verdict as the judge gave it (the time it took is not kept: 0).
fn judgement_of(stored: StoredVerdict) -> Judgement {
    Judgement {
        verdict: stored.verdict,
        score: stored.score,
        // Rows stored before verdicts were bounded are bounded on the way out.
        reason: crate::judges::clip_reason(stored.reason),
        details: stored
            .details
            .and_then(|text| serde_json::from_str(&text).ok())
            .map(crate::judges::bounded_details),
        micros: 0,
    }
}

/// What a batched lookup found.
#[derive(Debug, Default)]
pub struct Lookup {
    pub found: HashMap<Key, Judgement>,
    /// The database could not be asked: keys missing from `found` may still be stored there.
    pub failed: bool,
}

/// The in-memory LRU, bounded by entries and by bytes.
struct Memory {
    entries: LruCache<Key, Judgement>,
    bytes: usize,
    max_bytes: usize,
}

impl Memory {
    /// What an entry costs: its key, its fixed fields, its reason and its details as JSON.
    fn cost(verdict: &Judgement) -> usize {
        let details = verdict
            .details
            .as_ref()
            .map_or(0, |d| serde_json::to_string(d).map_or(0, |s| s.len()));
        std::mem::size_of::<Key>()
            + std::mem::size_of::<Judgement>()
            + verdict.reason.len()
            + details
    }

    fn put(&mut self, key: Key, verdict: Judgement) {
        self.bytes += Memory::cost(&verdict);
        if let Some((_, old)) = self.entries.push(key, verdict) {
            self.bytes -= Memory::cost(&old);
        }
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, old)) => self.bytes -= Memory::cost(&old),
                None => break,
            }
        }
    }
}

pub struct VerdictCache {
    memory: Option<Mutex<Memory>>,
    db: Database,
    metrics: Arc<Metrics>,
    db_timeout: Duration,
    outage_log: ThrottledLog,
}

impl VerdictCache {
    pub fn new(config: &CacheConfig, db: Database, metrics: Arc<Metrics>) -> VerdictCache {
        VerdictCache {
            memory: NonZeroUsize::new(config.memory_entries)
                .filter(|_| config.memory_max_mb > 0)
                .map(|n| {
                    Mutex::new(Memory {
                        entries: LruCache::new(n),
                        bytes: 0,
                        max_bytes: config.memory_max_mb << 20,
                    })
                }),
            db,
            metrics,
            db_timeout: Duration::from_millis(config.db_timeout_ms.max(1)),
            outage_log: ThrottledLog::new(config.outage_log_interval_secs),
        }
    }

    /// Looks up many keys: the memory LRU first, then one database query for the rest.
    pub async fn get_many(&self, keys: &[Key]) -> Lookup {
        let mut lookup = Lookup::default();
        let mut missing = Vec::new();
        match &self.memory {
            Some(memory) => {
                let mut memory = memory.lock().expect("cache lock");
                for key in keys {
                    match memory.entries.get(key) {
                        Some(hit) => {
                            lookup.found.insert(*key, hit.clone());
                        }
                        None => missing.push(*key),
                    }
                }
            }
            None => missing.extend_from_slice(keys),
        }
        if !missing.is_empty() {
            match tokio::time::timeout(self.db_timeout, self.db.lookup_verdicts(&missing)).await {
                Ok(Ok(stored)) => {
                    let fetched: Vec<(Key, Judgement)> = stored
                        .into_iter()
                        .map(|(key, row)| (key, judgement_of(row)))
                        .collect();
                    self.remember(fetched.iter().cloned());
                    lookup.found.extend(fetched);
                }
                Ok(Err(error)) => {
                    lookup.failed = true;
                    self.database_trouble("lookup", &error.to_string());
                }
                Err(_) => {
                    lookup.failed = true;
                    self.database_trouble("lookup", "timed out");
                }
            }
        }
        let hits = lookup.found.len() as u64;
        let outcome = |o| crate::metrics::OutcomeLabels { outcome: o };
        self.metrics
            .cache_lookups
            .get_or_create(&outcome("hit"))
            .inc_by(hits);
        self.metrics
            .cache_lookups
            .get_or_create(&outcome("miss"))
            .inc_by(keys.len() as u64 - hits);
        lookup
    }

    /// Stores fresh verdicts (errors are skipped); returns false if the database write failed.
    pub async fn put_many(&self, entries: Vec<(Key, &'static str, &Judgement)>) -> bool {
        let now = now_unix();
        let rows: Vec<StoredVerdict> = entries
            .iter()
            .filter(|(_, _, j)| j.verdict != Verdict::Error)
            .map(|(key, kind, judgement)| StoredVerdict {
                key: *key,
                judge_kind: (*kind).to_owned(),
                verdict: judgement.verdict,
                score: judgement.score,
                reason: judgement.reason.clone(),
                details: judgement.details.as_ref().map(Value::to_string),
                created_at: now,
            })
            .collect();
        if rows.is_empty() {
            return true;
        }
        self.remember(rows.iter().map(|row| (row.key, judgement_of(row.clone()))));
        match tokio::time::timeout(self.db_timeout, self.db.insert_verdicts(rows)).await {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                self.database_trouble("insert", &error.to_string());
                false
            }
            Err(_) => {
                self.database_trouble("insert", "timed out");
                false
            }
        }
    }

    fn remember(&self, entries: impl Iterator<Item = (Key, Judgement)>) {
        if let Some(memory) = &self.memory {
            let mut memory = memory.lock().expect("cache lock");
            for (key, verdict) in entries {
                memory.put(key, verdict);
            }
        }
    }

    fn database_trouble(&self, operation: &'static str, error: &str) {
        self.metrics.cache_error(operation);
        if let Some(suppressed) = self.outage_log.should_log() {
            tracing::warn!(
                operation,
                error,
                suppressed,
                "verdict cache unavailable; scoring without it"
            );
        }
    }

    /// Deletes verdicts older than `max_age`.
    pub async fn prune(&self, max_age: Duration) -> Result<u64, sqlx::Error> {
        let cutoff = now_unix() - max_age.as_secs() as i64;
        let pruned = self.db.prune_verdicts(cutoff).await?;
        self.metrics.cache_pruned.inc_by(pruned);
        Ok(pruned)
    }
}

/// Lets one log line through per interval and counts the ones it held back.
struct ThrottledLog {
    interval_secs: i64,
    last: AtomicI64,
    suppressed: AtomicI64,
}

impl ThrottledLog {
    fn new(interval_secs: u64) -> Self {
        ThrottledLog {
            interval_secs: interval_secs as i64,
            last: AtomicI64::new(i64::MIN / 2),
            suppressed: AtomicI64::new(0),
        }
    }

    /// `Some(number held back since the last line)` when a line may be written now.
    fn should_log(&self) -> Option<i64> {
        let now = now_unix();
        let last = self.last.load(Ordering::Relaxed);
        if now - last >= self.interval_secs
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Prunes expired verdicts every `prune_interval_secs` until shutdown (no-op if `max_age_secs` is 0).
pub fn spawn_pruner(cache: Arc<VerdictCache>, config: &CacheConfig, mut shutdown: Shutdown) {
    if config.max_age_secs == 0 || !config.enabled {
        return;
    }
    let max_age = Duration::from_secs(config.max_age_secs);
    let every = Duration::from_secs(config.prune_interval_secs.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait() => return,
            }
            match cache.prune(max_age).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned expired verdicts"),
                Err(error) => cache.database_trouble("prune", &error.to_string()),
            }
        }
    });
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    fn verdict(details_bytes: usize) -> Judgement {
        Judgement {
            verdict: Verdict::Pass,
            score: None,
            reason: String::new(),
            details: Some(Value::String("x".repeat(details_bytes))),
            micros: 0,
        }
    }

    #[test]
    fn the_memory_cache_is_bounded_in_bytes() {
        let mut memory = Memory {
            entries: LruCache::new(NonZeroUsize::new(1_000).unwrap()),
            bytes: 0,
            max_bytes: 100_000,
        };
        for i in 0..200u8 {
            memory.put([i; 32], verdict(4_000));
        }
        assert!(memory.bytes <= 100_000, "{}", memory.bytes);
        assert!(memory.entries.len() < 30, "{}", memory.entries.len());
        assert!(memory.entries.contains(&[199u8; 32]), "the newest stays");
        // Replacing an entry does not count it twice.
        let before = memory.bytes;
        memory.put([199u8; 32], verdict(4_000));
        assert_eq!(memory.bytes, before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_log_lets_one_line_through_per_interval() {
        let log = ThrottledLog::new(3600);
        assert_eq!(log.should_log(), Some(0));
        assert_eq!(log.should_log(), None);
        assert_eq!(log.should_log(), None);
        log.last.store(now_unix() - 4000, Ordering::Relaxed);
        assert_eq!(log.should_log(), Some(2));
    }
}
