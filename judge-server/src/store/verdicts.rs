//! Verdict cache rows: batched lookups (one query per batch) and batched inserts.

use std::collections::HashMap;

use judge_api::Verdict;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::Database;

/// SQLite binds at most 32,766 parameters per statement; stay well below.
const SQLITE_KEYS_PER_QUERY: usize = 30_000;
/// Rows per SQLite INSERT statement (7 parameters each).
const SQLITE_ROWS_PER_INSERT: usize = 2_000;
/// Bytes of bound data per PostgreSQL statement. sqlx 0.9.0 no longer sets TCP_NODELAY
/// (sqlx issue #4335, fixed upstream after 0.9.0), so a statement written to the socket in
/// several pieces (TLS records are 16 KiB) waits ~40 ms for a delayed ACK. Statements kept
/// under one record go out in one write: a 1,000-key lookup takes 3 round trips of well under
/// a millisecond each on loopback instead of one of ~48 ms. Revisit when sqlx sets it again.
const PG_STATEMENT_BYTES: usize = 12 * 1024;
/// Bytes one key takes in a bound BYTEA[] (length prefix + digest).
const PG_KEY_BYTES: usize = 4 + 32;

/// A cached `pass` / `fail` (errors are never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVerdict {
    pub key: [u8; 32],
    pub judge_kind: String,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub reason: String,
    /// JSON text.
    pub details: Option<String>,
    pub created_at: i64,
}

fn parse_verdict(text: &str) -> Result<Verdict, sqlx::Error> {
    match text {
        "pass" => Ok(Verdict::Pass),
        "fail" => Ok(Verdict::Fail),
        other => Err(sqlx::Error::Decode(
            format!("unexpected verdict {other:?} in the cache").into(),
        )),
    }
}

fn row_key(bytes: Vec<u8>) -> Result<[u8; 32], sqlx::Error> {
    bytes
        .try_into()
        .map_err(|_| sqlx::Error::Decode("cache key is not 32 bytes".into()))
}

macro_rules! decode_row {
    ($row:expr) => {{
        let row = $row;
        StoredVerdict {
            key: row_key(row.try_get("key")?)?,
            judge_kind: row.try_get("judge_kind")?,
            verdict: parse_verdict(row.try_get::<&str, _>("verdict")?)?,
            score: row.try_get("score")?,
            reason: row.try_get("reason")?,
            details: row.try_get("details")?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

impl Database {
    /// The stored verdicts for `keys` (absent keys are simply missing from the map).
    pub async fn lookup_verdicts(
        &self,
        keys: &[[u8; 32]],
    ) -> Result<HashMap<[u8; 32], StoredVerdict>, sqlx::Error> {
        let mut found = HashMap::new();
        if keys.is_empty() {
            return Ok(found);
        }
        match self {
            Database::Postgres(pool) => {
                for chunk in keys.chunks(PG_STATEMENT_BYTES / PG_KEY_BYTES) {
                    let chunk: Vec<Vec<u8>> = chunk.iter().map(|k| k.to_vec()).collect();
                    // A join against unnest($1) rather than `key = ANY($1)`: on a table whose
                    // statistics are stale (a fresh cache) the planner may pick a sequential scan,
                    // and ANY over a parameter array is then compared linearly per row (measured:
                    // 30-60 ms for 341 keys over 10k rows); the join probes the primary key or
                    // hashes, linear either way.
                    let rows = sqlx::query(
                        "SELECT v.key, v.judge_kind, v.verdict, v.score, v.reason, v.details, v.created_at \
                         FROM unnest($1::bytea[]) AS wanted(key) JOIN verdicts v ON v.key = wanted.key",
                    )
                    .bind(chunk)
                    .fetch_all(pool)
                    .await?;
                    for row in rows {
                        let stored = decode_row!(row);
                        found.insert(stored.key, stored);
                    }
                }
            }
            Database::Sqlite(pool) => {
                for chunk in keys.chunks(SQLITE_KEYS_PER_QUERY) {
                    let mut query = QueryBuilder::<Sqlite>::new(
                        "SELECT key, judge_kind, verdict, score, reason, details, created_at \
                         FROM verdicts WHERE key IN (",
                    );
                    let mut list = query.separated(", ");
                    for key in chunk {
                        list.push_bind(key.to_vec());
                    }
                    query.push(")");
                    for row in query.build().fetch_all(pool).await? {
                        let stored = decode_row!(row);
                        found.insert(stored.key, stored);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Stores verdicts; a key already present is left as it is (first writer wins), so
    /// concurrent identical requests on several replicas store one row.
    ///
    /// Rows are written in key order inside one transaction, so concurrent writers of
    /// overlapping batches take row locks in the same order and cannot deadlock.
    pub async fn insert_verdicts(&self, mut rows: Vec<StoredVerdict>) -> Result<u64, sqlx::Error> {
        rows.sort_unstable_by_key(|row| row.key);
        rows.dedup_by(|a, b| a.key == b.key);
        let rows = rows.as_slice();
        let chunks = match self {
            Database::Postgres(_) => chunks_by_size(rows, PG_STATEMENT_BYTES),
            Database::Sqlite(_) => rows.chunks(SQLITE_ROWS_PER_INSERT).collect(),
        };
        // One transaction for all chunks: one commit (one WAL flush) per batch.
        on_pool!(self, |pool| {
            let mut transaction = pool.begin().await?;
            let mut inserted = 0;
            for chunk in chunks {
                let mut query = QueryBuilder::new(
                    "INSERT INTO verdicts (key, judge_kind, verdict, score, reason, details, created_at) ",
                );
                push_rows(&mut query, chunk);
                query.push(" ON CONFLICT (key) DO NOTHING");
                inserted += query
                    .build()
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
            }
            transaction.commit().await?;
            Ok(inserted)
        })
    }

    /// Deletes verdicts created before `cutoff` (unix seconds); returns how many.
    pub async fn prune_verdicts(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM verdicts WHERE created_at < $1")
                .bind(cutoff)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
    }

    /// Number of cached verdicts.
    pub async fn count_verdicts(&self) -> Result<i64, sqlx::Error> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM verdicts")
                .fetch_one(pool)
                .await
        })
    }
}

/// Approximate bytes a row binds on the wire.
fn row_bytes(row: &StoredVerdict) -> usize {
    7 * 4
        + 32
        + row.judge_kind.len()
        + 4
        + 8
        + row.reason.len()
        + row.details.as_ref().map_or(0, String::len)
        + 8
}

/// Consecutive runs of rows whose bound data stays under `budget` (a larger row goes alone).
fn chunks_by_size(rows: &[StoredVerdict], budget: usize) -> Vec<&[StoredVerdict]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let size = row_bytes(row);
        if i > start && bytes + size > budget {
            chunks.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

fn push_rows<DB>(query: &mut QueryBuilder<DB>, rows: &[StoredVerdict])
where
    DB: sqlx::Database,
    for<'a> Vec<u8>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<f64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push_values(rows, |mut values, row| {
        values
            .push_bind(row.key.to_vec())
            .push_bind(row.judge_kind.clone())
            .push_bind(row.verdict.as_str().to_owned())
            .push_bind(row.score)
            .push_bind(row.reason.clone())
            .push_bind(row.details.clone())
            .push_bind(row.created_at);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(reason_len: usize) -> StoredVerdict {
        StoredVerdict {
            key: [0; 32],
            judge_kind: "regex".into(),
            verdict: Verdict::Pass,
            score: None,
            reason: "r".repeat(reason_len),
            details: None,
            created_at: 0,
        }
    }

    #[test]
    fn chunks_respect_the_budget_and_keep_every_row() {
        let rows: Vec<_> = (0..100).map(|i| row(i * 10)).collect();
        let chunks = chunks_by_size(&rows, 2_000);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 100);
        for chunk in &chunks {
            let bytes: usize = chunk.iter().map(row_bytes).sum();
            assert!(chunk.len() == 1 || bytes <= 2_000, "{bytes}");
        }
        let huge = vec![row(10), row(50_000), row(10)];
        let chunks = chunks_by_size(&huge, 2_000);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
        assert!(chunks_by_size(&[], 10).is_empty());
    }
}
