-- 6: file-level diagnostics told apart from quarantined lines, and marked
-- resolved when they no longer hold.
--
-- A quarantined line or document version is history: the bytes stay in the
-- file as they were, so its row stays. A file-level diagnostic (a stream or
-- document that cannot be opened, a symbolic link where a file or a task
-- folder should be) describes the file as it is now; once the file reads
-- again, or is gone, the indexer sets `resolved_at` instead of leaving a
-- stale "Permission denied" in `status` and `show`. If the condition comes
-- back, the same row is opened again.
ALTER TABLE ingest_errors ADD COLUMN kind TEXT NOT NULL DEFAULT 'line'
    CHECK (kind IN ('line', 'file'));
ALTER TABLE ingest_errors ADD COLUMN resolved_at TEXT;

-- Before this migration, file-level rows were the only ones without a length.
UPDATE ingest_errors SET kind = 'file' WHERE length IS NULL;

-- The indexer loads the open ones at start; status lists them.
CREATE INDEX ingest_errors_open_files ON ingest_errors(path)
    WHERE kind = 'file' AND resolved_at IS NULL;
