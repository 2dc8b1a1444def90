-- PostgreSQL migration 1: the tables (issue 13). The same tables as the
-- SQLite index (crates/tasklog-sqlite/src/schema.rs and its migrations),
-- with `host_id` on every row: several hosts' sidecars ship into one
-- database, and two hosts may both have a task `gh-450`.
--
-- Derived data (api_calls, cost_rollup, cost_daily, conversation_blocks,
-- worker_sessions, ...) are views here (0002_views.sql), not tables kept
-- by triggers: COPY then writes `records` alone, and a view cannot drift
-- from its source.

-- The line as jsonb, or NULL when PostgreSQL cannot hold it: jsonb refuses
-- the escape \u0000 (a NUL in a string), which JSON and SQLite allow. The
-- regular expression finds a real escape (an odd run of backslashes before
-- u0000), and runs only when the cheap strpos finds the six characters.
CREATE FUNCTION tasklog_jsonb(line text) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(line, E'\\u0000') = 0
                  OR line !~ E'(^|[^\\\\])(\\\\\\\\)*\\\\u0000'
                THEN line::jsonb END
$$;

CREATE TABLE hosts (
    host_id        text PRIMARY KEY,
    first_seen_at  text NOT NULL
);

-- One row per file a host's sidecar follows: its checkpoint, committed
-- with the rows in one transaction.
CREATE TABLE files (
    file_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id     text NOT NULL,
    path        text NOT NULL,             -- relative to the host's log root
    task_id     text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('stream', 'document')),
    dev         bigint,
    ino         bigint,
    generation  bigint NOT NULL DEFAULT 1,
    "offset"    bigint NOT NULL DEFAULT 0,
    line_count  bigint NOT NULL DEFAULT 0,
    anchor_hash bigint,
    size        bigint,
    mtime_ns    bigint,
    updated_at  text NOT NULL,
    UNIQUE (host_id, path)
);

CREATE TABLE records (
    record_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id            text NOT NULL,
    file_id            bigint NOT NULL,
    task_id            text NOT NULL,
    stream             text NOT NULL,
    "offset"           bigint NOT NULL,
    line               bigint NOT NULL,
    ts                 text NOT NULL,
    ts_source          text NOT NULL,
    seq                bigint,
    id                 text,
    event              text,
    name               text,
    status             text,
    trace_id           text,
    span_id            text,
    parent_span_id     text,
    duration_ms        double precision,
    error              text,
    role               text,
    severity           text,
    component          text,
    model              text,
    provider           text,
    input_tokens       bigint,
    output_tokens      bigint,
    cache_read_tokens  bigint,
    cache_write_tokens bigint,
    cost_usd           double precision,
    tool_name          text,
    body               text NOT NULL,      -- the line exactly as written
    -- tasklog_jsonb(body), written out: a function call here is not
    -- inlined, and cost a third of COPY's time (docs/POSTGRES.md).
    doc                jsonb GENERATED ALWAYS AS (
                           CASE WHEN strpos(body, E'\\u0000') = 0
                                  OR body !~ E'(^|[^\\\\])(\\\\\\\\)*\\\\u0000'
                                THEN body::jsonb END) STORED
);
-- The second exactly-once guard, after the checkpoint compare-and-set.
CREATE UNIQUE INDEX records_file_offset ON records (host_id, file_id, "offset");

CREATE TABLE superseded_records (
    record_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id       text NOT NULL,
    file_id       bigint NOT NULL,
    generation    bigint NOT NULL,
    task_id       text NOT NULL,
    stream        text NOT NULL,
    "offset"      bigint NOT NULL,
    body          text NOT NULL,
    reason        text NOT NULL,
    superseded_at text NOT NULL
);

CREATE TABLE file_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id  text NOT NULL,
    path     text NOT NULL,
    at       text NOT NULL,
    event    text NOT NULL,
    detail   text
);

CREATE TABLE documents (
    host_id      text NOT NULL,
    task_id      text NOT NULL,
    name         text NOT NULL,
    file_id      bigint NOT NULL,
    version      bigint NOT NULL,
    body         text NOT NULL,
    content_hash text NOT NULL,
    size         bigint NOT NULL,
    updated_at   text NOT NULL,
    indexed_at   text NOT NULL,
    PRIMARY KEY (host_id, task_id, name)
);

CREATE TABLE document_history (
    history_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id       text NOT NULL,
    task_id       text NOT NULL,
    name          text NOT NULL,
    version       bigint NOT NULL,
    body          text NOT NULL,
    content_hash  text NOT NULL,
    updated_at    text NOT NULL,
    superseded_at text NOT NULL
);

CREATE TABLE ingest_errors (
    error_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id     text NOT NULL,
    task_id     text NOT NULL,
    path        text NOT NULL,
    generation  bigint NOT NULL DEFAULT 1,
    "offset"    bigint NOT NULL,
    length      bigint,
    line        bigint,
    reason      text NOT NULL,
    prefix      text,
    detected_at text NOT NULL,
    kind        text NOT NULL DEFAULT 'line' CHECK (kind IN ('line', 'file')),
    resolved_at text,
    UNIQUE (host_id, path, generation, "offset", reason)
);

CREATE TABLE tasks (
    host_id        text NOT NULL,
    task_id        text NOT NULL,
    session_id     text,
    detected_at    text,
    source         text,
    issue_number   bigint,
    issue_url      text,
    title          text,
    description    text,
    priority       bigint,
    labels         text,
    assigned_at    text,
    started_at     text,
    completed_at   text,
    failed_at      text,
    status         text,
    failure_reason text,
    pr_number      bigint,
    pr_url         text,
    commits        text,
    created_at     text,
    updated_at     text,
    first_seen_at  text NOT NULL,
    sealed         integer NOT NULL DEFAULT 0,
    document       text,
    PRIMARY KEY (host_id, task_id)
);
CREATE INDEX tasks_status ON tasks (status, detected_at);

CREATE TABLE indexer_state (
    host_id text NOT NULL,
    key     text NOT NULL,
    value   text,
    PRIMARY KEY (host_id, key)
);

-- Shared by every host: each sidecar installs its price table at start
-- (docs/POSTGRES.md). USD per million tokens.
CREATE TABLE prices (
    model                text NOT NULL,
    effective_from       text NOT NULL,
    provider             text,
    input_per_mtok       double precision NOT NULL,
    output_per_mtok      double precision NOT NULL,
    cache_read_per_mtok  double precision NOT NULL,
    cache_write_per_mtok double precision NOT NULL,
    source               text NOT NULL,
    PRIMARY KEY (model, effective_from)
);

-- SQLite's functions that the reference designs' key queries use
-- (tests/key_queries.sql): julianday() of an RFC 3339 text. date() needs
-- none: PostgreSQL reads date('...') as a cast.
CREATE FUNCTION julianday(t text) RETURNS double precision
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT extract(epoch FROM t::timestamptz)::double precision / 86400.0 + 2440587.5
$$;

-- A JSON value as SQLite's json_extract gives a number: integers as
-- bigint, true/false as 1/0, anything else NULL.
CREATE FUNCTION tasklog_int(j jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j)
               WHEN 'number' THEN CASE WHEN (j #>> '{}') ~ '^-?[0-9]{1,18}$' THEN (j #>> '{}')::bigint END
               WHEN 'boolean' THEN CASE WHEN j = 'true'::jsonb THEN 1 ELSE 0 END
           END
$$;

CREATE FUNCTION tasklog_real(j jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j)
               WHEN 'number' THEN (j #>> '{}')::double precision
               WHEN 'boolean' THEN CASE WHEN j = 'true'::jsonb THEN 1 ELSE 0 END
           END
$$;

-- The UTC day of an RFC 3339 time, as SQLite's date() gives it; the first
-- ten characters when the text is not a time.
CREATE FUNCTION tasklog_utc_day(t text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD');
EXCEPTION WHEN others THEN
    RETURN substr(t, 1, 10);
END
$$;
