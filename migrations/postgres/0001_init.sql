-- Verdict cache: one row per (judge fingerprint, canonical item input).
CREATE TABLE IF NOT EXISTS verdicts (
    key         BYTEA PRIMARY KEY,          -- SHA-256(fingerprint digest || input digest)
    judge_kind  TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('pass', 'fail')),
    score       DOUBLE PRECISION,
    reason      TEXT NOT NULL,
    details     TEXT,                       -- JSON
    created_at  BIGINT NOT NULL             -- unix seconds
);
CREATE INDEX IF NOT EXISTS verdicts_created_at ON verdicts (created_at);

-- Judges and tasks created through the API.
CREATE TABLE IF NOT EXISTS judges (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    config      TEXT NOT NULL,              -- JSON, as given
    updated_at  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS tasks (
    name        TEXT PRIMARY KEY,
    judges      TEXT NOT NULL,              -- JSON array of judge names
    updated_at  BIGINT NOT NULL
);
