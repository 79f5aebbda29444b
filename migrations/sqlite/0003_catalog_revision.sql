-- One counter that moves whenever a judge or task defined through the API changes, so a
-- replica's periodic refresh reads one row instead of every definition (catalog.rs).
CREATE TABLE IF NOT EXISTS catalog_revision (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    revision    INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalog_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER IF NOT EXISTS judges_insert_bumps_catalog_revision AFTER INSERT ON judges
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS judges_update_bumps_catalog_revision AFTER UPDATE ON judges
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS judges_delete_bumps_catalog_revision AFTER DELETE ON judges
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS tasks_insert_bumps_catalog_revision AFTER INSERT ON tasks
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS tasks_update_bumps_catalog_revision AFTER UPDATE ON tasks
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS tasks_delete_bumps_catalog_revision AFTER DELETE ON tasks
BEGIN UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1; END;
