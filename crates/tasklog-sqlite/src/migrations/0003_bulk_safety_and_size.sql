-- A row inserted during a bulk load has no search entry until the load
-- ends. Handing contentless FTS5 a 'delete' for a row it never indexed
-- leaves delete markers for tokens that were never there and lowers the
-- document totals bm25 ranks by, so the delete trigger now deletes only
-- what is there (records_fts_docsize holds one row per indexed rowid).
DROP TRIGGER records_fts_delete;
CREATE TRIGGER records_fts_delete AFTER DELETE ON records
WHEN OLD.event IN ('message', 'decision', 'tool.start', 'tool.complete', 'tool.fail')
     AND EXISTS (SELECT 1 FROM records_fts_docsize WHERE id = OLD.record_id)
BEGIN
    INSERT INTO records_fts (records_fts, rowid, text) VALUES ('delete', OLD.record_id,
       CASE OLD.event
           WHEN 'message' THEN coalesce(OLD.role || ': ', '') || coalesce(json_extract(OLD.body, '$.content'), '')
           WHEN 'decision' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.reason'), '')
                || ' ' || coalesce(json_extract(OLD.body, '$.input'), '')
                || ' ' || coalesce(json_extract(OLD.body, '$.output'), '')
           WHEN 'tool.start' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.input'), '')
           WHEN 'tool.complete' THEN coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.output'), '')
           ELSE coalesce(OLD.name, '') || ' ' || coalesce(json_extract(OLD.body, '$.error'), '')
       END);
END;

-- records(ts) alone served no query of ours or of the reference designs
-- (those filter by task or event first: records_task_ts, records_event_ts)
-- and cost 0.14x of the JSONL bytes. A time range over every event scans;
-- record_id order is indexing order when recency is what is wanted.
DROP INDEX IF EXISTS records_ts;
