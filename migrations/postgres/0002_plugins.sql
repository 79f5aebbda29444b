-- Judge plugins: WASI command modules uploaded through the API, content-addressed.
CREATE TABLE IF NOT EXISTS plugins (
    sha256      TEXT PRIMARY KEY,           -- lowercase hex SHA-256 of the module
    module      BYTEA NOT NULL,             -- the WebAssembly binary as uploaded
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL             -- unix seconds
);
