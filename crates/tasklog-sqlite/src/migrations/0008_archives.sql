-- 8: monthly archives. The tasks whose rows moved (or are moving) to an
-- archive database, `archive/<db stem>-YYYY-MM.db` beside this one. Written
-- only by `tasklog archive` and `unarchive` (archive.rs); the sidecar does
-- not index these tasks back; `--archives` readers count an archived
-- task's rows from its archive only when `state` is 'archived', so a move
-- interrupted at any instant counts every task once:
--   'moving'   the rows are still here (maybe copied to the archive too);
--   'archived' the rows are in the archive only.
-- An archive database has the same schema (this table stays empty there).
CREATE TABLE archived_tasks (
    task_id    TEXT PRIMARY KEY,
    month      TEXT NOT NULL,             -- YYYY-MM (UTC) the task finished in
    state      TEXT NOT NULL CHECK (state IN ('moving', 'archived')),
    updated_at TEXT NOT NULL
);
CREATE INDEX archived_tasks_month ON archived_tasks(month, state);
