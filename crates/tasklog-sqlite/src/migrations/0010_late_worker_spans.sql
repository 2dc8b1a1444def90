-- A worker.spawn indexed after records of its worker (later in its file,
-- or in a stream indexed later) claims them. api_calls and
-- conversation_blocks are kept by insert triggers, which look the worker
-- up when the record arrives and fall back to the task when its spawn is
-- not there yet; PostgreSQL's views (and a bulk load, which fills
-- worker_spans first) look it up when read. Without this, the same files
-- gave SQLite an implicit worker_sessions row that PostgreSQL lacks
-- (FORMAT.md's example lines, issue 19).
--
-- Only rows that fell back to the task are claimed (worker_id = task_id,
-- no worker_id of their own), found through the worker_id indexes, so a
-- spawn costs a lookup per such row of its task, not a scan of records.
CREATE TRIGGER worker_spans_claim AFTER INSERT ON worker_spans
WHEN NEW.worker_id IS NOT NULL AND NEW.span_id IS NOT NULL
BEGIN
    UPDATE api_calls SET worker_id = NEW.worker_id
     WHERE worker_id = NEW.task_id
       AND EXISTS (SELECT 1 FROM records r
                    WHERE r.record_id = api_calls.call_id
                      AND r.parent_span_id = NEW.span_id
                      AND json_extract(r.body, '$.worker_id') IS NULL);
    UPDATE conversation_blocks SET worker_id = NEW.worker_id
     WHERE worker_id = NEW.task_id
       AND EXISTS (SELECT 1 FROM records r
                    WHERE r.record_id = conversation_blocks.record_id
                      AND r.parent_span_id = NEW.span_id
                      AND json_extract(r.body, '$.worker_id') IS NULL);
END;

-- Databases indexed before this migration: claim what is already there.
UPDATE api_calls SET worker_id = (
        SELECT w.worker_id FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
         WHERE r.record_id = api_calls.call_id AND w.worker_id IS NOT NULL)
 WHERE worker_id = task_id
   AND EXISTS (SELECT 1 FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
                WHERE r.record_id = api_calls.call_id AND w.worker_id IS NOT NULL
                  AND json_extract(r.body, '$.worker_id') IS NULL);
UPDATE conversation_blocks SET worker_id = (
        SELECT w.worker_id FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
         WHERE r.record_id = conversation_blocks.record_id AND w.worker_id IS NOT NULL)
 WHERE worker_id = task_id
   AND EXISTS (SELECT 1 FROM records r JOIN worker_spans w ON w.span_id = r.parent_span_id
                WHERE r.record_id = conversation_blocks.record_id AND w.worker_id IS NOT NULL
                  AND json_extract(r.body, '$.worker_id') IS NULL);
