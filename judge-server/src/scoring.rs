//! Scoring a batch with a mixture of judges: cache lookups (one batched query), judges run
//! concurrently on their misses (each item input judged once per judge even if repeated),
//! fresh verdicts stored, verdicts combined per item.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use judge_api::{BatchStats, Item, ItemResult, JudgeResponse, JudgeVerdict, Verdict};
use serde_json::Value;

use crate::cache::key::{input_digest, verdict_key};
use crate::cache::{Key, VerdictCache};
use crate::catalog::JudgeEntry;
use crate::client::ClientId;
use crate::judges::{InputError, Judgement};
use crate::metrics::Metrics;

pub struct Scorer {
    /// `None` when the cache is disabled in config.
    cache: Option<Arc<VerdictCache>>,
    metrics: Arc<Metrics>,
    judge_timeout: Duration,
}

/// An item a judge refused before scoring: `items[index].<field>`.
#[derive(Debug)]
pub struct InvalidItem {
    pub index: usize,
    pub judge: String,
    pub error: InputError,
}

impl Scorer {
    pub fn new(
        cache: Option<Arc<VerdictCache>>,
        metrics: Arc<Metrics>,
        judge_timeout: Duration,
    ) -> Self {
        Scorer {
            cache,
            metrics,
            judge_timeout,
        }
    }

    /// Every judge checks every item's input before anything is scored.
    pub fn validate(judges: &[Arc<JudgeEntry>], items: &[Item]) -> Result<(), InvalidItem> {
        for (index, item) in items.iter().enumerate() {
            for entry in judges {
                entry.judge.check_item(item).map_err(|error| InvalidItem {
                    index,
                    judge: entry.name.clone(),
                    error,
                })?;
            }
        }
        Ok(())
    }

    /// Scores `items` with `judges`: plan (cache lookups, duplicates), run the judges on what
    /// is left, store the fresh verdicts, assemble the answer.
    pub async fn score(
        &self,
        judges: &[Arc<JudgeEntry>],
        items: Vec<Item>,
        use_cache: bool,
        client: ClientId,
    ) -> JudgeResponse {
        let started = Instant::now();
        let cache = self.cache.as_ref().filter(|_| use_cache);
        self.metrics.items.inc_by(items.len() as u64);
        let ids: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(i, item)| item.id.clone().unwrap_or_else(|| Value::from(i)))
            .collect();
        let items: Vec<Arc<Item>> = items.into_iter().map(Arc::new).collect();
        let mut stats = BatchStats {
            items: items.len() as u64,
            ..BatchStats::default()
        };
        let mut plan = plan(judges, &items, cache, &mut stats).await;
        let fresh = self
            .run_judges(judges, &items, &mut plan, client, &mut stats)
            .await;
        if let Some(cache) = cache {
            let entries = fresh
                .iter()
                .map(|(key, kind, judgement)| (*key, *kind, judgement))
                .collect();
            if !cache.put_many(entries).await {
                stats.cache_errors += 1;
            }
        }
        let results = self.assemble(ids, plan.grid, &mut stats);
        stats.micros = started.elapsed().as_micros() as u64;
        JudgeResponse { results, stats }
    }

    /// Runs every judge on its misses, concurrently, in this batch's own lane of the sandbox
    /// queue (clients, and each client's batches, take turns there); fills the plan's grid and
    /// returns the fresh verdicts to store.
    async fn run_judges(
        &self,
        judges: &[Arc<JudgeEntry>],
        items: &[Arc<Item>],
        plan: &mut Plan,
        client: ClientId,
        stats: &mut BatchStats,
    ) -> Vec<(Key, &'static str, Judgement)> {
        let lane = crate::sandbox::queue::new_batch(client);
        let running: Vec<_> = judges
            .iter()
            .zip(&plan.work)
            .map(|(entry, todo)| {
                let entry = Arc::clone(entry);
                let batch: Vec<Arc<Item>> = todo.iter().map(|&i| Arc::clone(&items[i])).collect();
                let timeout = self.judge_timeout;
                Running(tokio::spawn(
                    crate::sandbox::queue::LANE.scope(lane, async move {
                        run_judge(&entry, &batch, timeout).await
                    }),
                ))
            })
            .collect();
        let mut fresh = Vec::new();
        for (j, mut handle) in running.into_iter().enumerate() {
            let entry = &judges[j];
            let judgements = match (&mut handle.0).await {
                Ok(judgements) => judgements,
                Err(error) => {
                    vec![Judgement::error(format!("judge crashed: {error}")); plan.work[j].len()]
                }
            };
            for (&i, judgement) in plan.work[j].iter().zip(judgements) {
                stats.cache_misses += 1;
                self.metrics
                    .record_judge_time(&entry.name, judgement.micros);
                plan.grid[j][i] = Some(answer_verdict(&entry.name, &judgement));
                fresh.push((plan.keys[j][i], entry.judge.fingerprint().kind, judgement));
            }
            for &(i, first) in &plan.copies[j] {
                plan.grid[j][i] = plan.grid[j][first]
                    .clone()
                    .map(|v| JudgeVerdict { micros: 0, ..v });
            }
        }
        fresh
    }

    /// Each item's verdicts (the grid's column), combined; the counts in `stats`.
    fn assemble(
        &self,
        ids: Vec<Value>,
        mut grid: Vec<Vec<Option<JudgeVerdict>>>,
        stats: &mut BatchStats,
    ) -> Vec<ItemResult> {
        let mut results = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            let verdicts: Vec<JudgeVerdict> = grid
                .iter_mut()
                .map(|column| column[i].take().expect("every (judge, item) has a verdict"))
                .collect();
            for verdict in &verdicts {
                self.metrics.record_verdict(&verdict.name, verdict.verdict);
            }
            let verdict = Verdict::combine(verdicts.iter().map(|v| v.verdict));
            match verdict {
                Verdict::Pass => stats.pass += 1,
                Verdict::Fail => stats.fail += 1,
                Verdict::Error => stats.error += 1,
            }
            results.push(ItemResult {
                id,
                verdict,
                judges: verdicts,
            });
        }
        results
    }
}

/// Where every (judge, item) verdict comes from: `grid[j][i]` filled from the cache, by a
/// judge's run on `work[j]` (the distinct inputs it has to judge), or copied from an
/// identical item (`copies[j]`: (item, the first item with its input)).
struct Plan {
    keys: Vec<Vec<Key>>,
    grid: Vec<Vec<Option<JudgeVerdict>>>,
    work: Vec<Vec<usize>>,
    copies: Vec<Vec<(usize, usize)>>,
}

/// The plan for a batch: one key per (judge, item), one batched cache lookup, duplicates found.
async fn plan(
    judges: &[Arc<JudgeEntry>],
    items: &[Arc<Item>],
    cache: Option<&Arc<VerdictCache>>,
    stats: &mut BatchStats,
) -> Plan {
    let inputs: Vec<Key> = items.iter().map(|item| input_digest(item)).collect();
    let keys: Vec<Vec<Key>> = judges
        .iter()
        .map(|entry| {
            let fingerprint = entry.judge.fingerprint();
            inputs
                .iter()
                .map(|input| verdict_key(fingerprint, input))
                .collect()
        })
        .collect();
    let lookup = match cache {
        Some(cache) => {
            let unique: Vec<Key> = keys
                .iter()
                .flatten()
                .copied()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            cache.get_many(&unique).await
        }
        None => Default::default(),
    };
    stats.cache_errors += u64::from(lookup.failed);
    let mut plan = Plan {
        grid: vec![vec![None; items.len()]; judges.len()],
        work: vec![Vec::new(); judges.len()],
        copies: vec![Vec::new(); judges.len()],
        keys,
    };
    for (j, entry) in judges.iter().enumerate() {
        let mut first_seen: HashMap<Key, usize> = HashMap::new();
        for (i, key) in plan.keys[j].iter().enumerate() {
            if let Some(hit) = lookup.found.get(key) {
                stats.cache_hits += 1;
                plan.grid[j][i] = Some(JudgeVerdict {
                    cached: true,
                    ..answer_verdict(&entry.name, hit)
                });
            } else if let Some(&first) = first_seen.get(key) {
                stats.deduplicated += 1;
                plan.copies[j].push((i, first));
            } else {
                first_seen.insert(*key, i);
                plan.work[j].push(i);
            }
        }
    }
    plan
}

/// A judgement as the answer shows it (fresh: `cached` is false).
fn answer_verdict(name: &str, judgement: &Judgement) -> JudgeVerdict {
    JudgeVerdict {
        name: name.to_owned(),
        verdict: judgement.verdict,
        score: judgement.score,
        reason: judgement.reason.clone(),
        cached: false,
        micros: judgement.micros,
        details: judgement.details.clone(),
    }
}

/// A judge's task on a batch, aborted when dropped: a client that hangs up drops the request's
/// future, and with it every judge still working for it (queued sandbox runs are removed,
/// running ones interrupted, rule judges told to stop: see `judges/sandboxed.rs`, `rule.rs`).
struct Running<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One judge on one batch, bounded in time; always exactly one judgement per item.
async fn run_judge(entry: &JudgeEntry, batch: &[Arc<Item>], timeout: Duration) -> Vec<Judgement> {
    if batch.is_empty() {
        return Vec::new();
    }
    match tokio::time::timeout(timeout, entry.judge.judge_batch(batch)).await {
        Ok(judgements) if judgements.len() == batch.len() => judgements,
        Ok(judgements) => {
            tracing::error!(
                judge = entry.name,
                got = judgements.len(),
                want = batch.len(),
                "judge returned the wrong number of judgements"
            );
            vec![
                Judgement::error(format!(
                    "judge returned {} judgements for {} items",
                    judgements.len(),
                    batch.len()
                ));
                batch.len()
            ]
        }
        Err(_) => vec![
            Judgement::error(format!("judge timed out after {} ms", timeout.as_millis()));
            batch.len()
        ],
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use judge_api::{Source, Verdict};

    use super::*;
    use crate::config::{CacheConfig, DatabaseConfig};
    use crate::judges::{Fingerprint, Judge};
    use crate::store::Database;

    /// Fails on "fail", errs on "error", else passes; counts the items it saw.
    struct Scripted {
        fingerprint: Fingerprint,
        seen: AtomicUsize,
        delay: Duration,
    }

    #[async_trait]
    impl Judge for Scripted {
        fn fingerprint(&self) -> &Fingerprint {
            &self.fingerprint
        }

        async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
            self.seen.fetch_add(items.len(), Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            items
                .iter()
                .map(|item| {
                    if item.response.contains("fail") {
                        Judgement::fail("nope")
                    } else if item.response.contains("error") {
                        Judgement::error("backend down")
                    } else {
                        Judgement::pass("fine")
                    }
                })
                .collect()
        }
    }

    fn entry(name: &str, delay: Duration) -> (Arc<JudgeEntry>, Arc<Scripted>) {
        let judge = Arc::new(Scripted {
            fingerprint: Fingerprint::of("scripted", 1, &name),
            seen: AtomicUsize::new(0),
            delay,
        });
        let entry = JudgeEntry {
            name: name.into(),
            definition: judge_api::JudgeDefinition {
                kind: "scripted".into(),
                config: Value::Null,
            },
            source: Source::Config,
            judge: Arc::clone(&judge) as Arc<dyn Judge>,
        };
        (Arc::new(entry), judge)
    }

    async fn scorer(timeout: Duration) -> (Scorer, Database) {
        let db = Database::connect(&DatabaseConfig {
            url: "sqlite::memory:".into(),
            max_connections: 1,
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        db.migrate().await.unwrap();
        let metrics = Arc::new(Metrics::new());
        let cache = VerdictCache::new(&CacheConfig::default(), db.clone(), Arc::clone(&metrics));
        (Scorer::new(Some(Arc::new(cache)), metrics, timeout), db)
    }

    fn batch(responses: &[&str]) -> Vec<Item> {
        responses.iter().map(|r| Item::new("p", *r)).collect()
    }

    /// Scores one item per response (prompt "p") with `judges`, as the internal client.
    async fn score(
        scorer: &Scorer,
        judges: &[Arc<JudgeEntry>],
        responses: &[&str],
        use_cache: bool,
    ) -> JudgeResponse {
        scorer
            .score(judges, batch(responses), use_cache, ClientId::INTERNAL)
            .await
    }

    #[tokio::test]
    async fn errors_combine_below_fail_and_are_never_cached() {
        let (scorer, db) = scorer(Duration::from_secs(5)).await;
        let (a, a_judge) = entry("a", Duration::ZERO);
        let (b, _) = entry("b", Duration::ZERO);
        let judges = vec![a, b];
        let responses = ["ok", "an error", "fail and error", "fail"];
        let first = score(&scorer, &judges, &responses, true).await;
        let verdicts: Vec<_> = first.results.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![Verdict::Pass, Verdict::Error, Verdict::Fail, Verdict::Fail]
        );
        assert_eq!(
            (first.stats.pass, first.stats.fail, first.stats.error),
            (1, 2, 1)
        );
        // Two judges x three non-error items are stored; error verdicts are not.
        assert_eq!(db.count_verdicts().await.unwrap(), 6);
        let second = score(&scorer, &judges, &responses, true).await;
        assert_eq!(second.stats.cache_hits, 6);
        assert_eq!(second.stats.cache_misses, 2, "errors are judged again");
        assert_eq!(a_judge.seen.load(Ordering::SeqCst), 4 + 1);
    }

    #[tokio::test]
    async fn a_slow_judge_times_out_as_error_while_others_answer() {
        let (scorer, db) = scorer(Duration::from_millis(50)).await;
        let (fast, _) = entry("fast", Duration::ZERO);
        let (slow, _) = entry("slow", Duration::from_secs(5));
        let answer = score(&scorer, &[fast, slow], &["ok", "fail"], true).await;
        let first = &answer.results[0];
        assert_eq!(first.verdict, Verdict::Error);
        assert_eq!(first.judges[0].verdict, Verdict::Pass);
        assert_eq!(first.judges[1].verdict, Verdict::Error);
        assert!(first.judges[1].reason.contains("timed out"));
        assert_eq!(
            answer.results[1].verdict,
            Verdict::Fail,
            "a fail outranks the other judge's error"
        );
        assert_eq!(
            db.count_verdicts().await.unwrap(),
            2,
            "only the fast judge's verdicts are stored"
        );
    }

    #[tokio::test]
    async fn bypass_neither_reads_nor_writes() {
        let (scorer, db) = scorer(Duration::from_secs(5)).await;
        let (a, a_judge) = entry("a", Duration::ZERO);
        let judges = [a];
        score(&scorer, &judges, &["ok"], false).await;
        assert_eq!(db.count_verdicts().await.unwrap(), 0);
        score(&scorer, &judges, &["ok"], true).await;
        let answer = score(&scorer, &judges, &["ok"], false).await;
        assert_eq!(answer.stats.cache_hits, 0);
        assert_eq!(a_judge.seen.load(Ordering::SeqCst), 3);
    }
}
