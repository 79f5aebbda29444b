-- Judge plugins: WASI command modules uploaded through the API, content-addressed.
CREATE TABLE IF NOT EXISTS plugins (
    sha256      TEXT PRIMARY KEY,           -- lowercase hex SHA-256 of the module
    module      BLOB NOT NULL,              -- the WebAssembly binary as uploaded
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL            -- unix seconds
);
