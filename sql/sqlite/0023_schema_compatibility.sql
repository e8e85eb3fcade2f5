-- compatible-with-older-code: yes
--
-- Whether a migration leaves a schema that older code still runs on correctly (see the
-- PostgreSQL migration, 0025_schema_compatibility.sql, for the full story).
ALTER TABLE schema_version ADD COLUMN compatible_with_older_code INTEGER NOT NULL DEFAULT 0
    CHECK (compatible_with_older_code IN (0, 1));
