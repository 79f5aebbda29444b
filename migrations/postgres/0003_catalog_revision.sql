-- One counter that moves whenever a judge or task defined through the API changes, so a
-- replica's periodic refresh reads one row instead of every definition (catalog.rs).
CREATE TABLE IF NOT EXISTS catalog_revision (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    revision    BIGINT NOT NULL
);
INSERT INTO catalog_revision (id, revision) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION bump_catalog_revision() RETURNS trigger AS $$
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER judges_bump_catalog_revision
    AFTER INSERT OR UPDATE OR DELETE ON judges
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_revision();
CREATE TRIGGER tasks_bump_catalog_revision
    AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_revision();
