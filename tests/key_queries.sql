-- Every "Key Queries" example of reference 002 (section 2.2) and every
-- query of its section 5.1, as run by tests/query_scenarios.rs and
-- scripts/bench_queries.sh. The reference gives most key queries as bare
-- clauses (`WHERE ended_at IS NULL`); each is completed with
-- `SELECT * FROM <its table>` and nothing else. Three are prose, not SQL
-- ("Spawn loop detection", "Decision effectiveness"): the queries under
-- those names are our reading of them (docs/QUERIES.md).
--
-- Format: blocks separated by a blank line; `-- name:` names the query,
-- `-- params:` gives the values of its `?` as a JSON array.

-- name: sessions.active
SELECT * FROM coordinator_sessions WHERE ended_at IS NULL;

-- name: sessions.by_time_range
-- params: ["2000-01-01", "2100-01-01"]
SELECT * FROM coordinator_sessions WHERE started_at BETWEEN ? AND ?;

-- name: sessions.failed
SELECT * FROM coordinator_sessions WHERE exit_reason = 'error';

-- name: triggers.per_session
-- params: ["ses-2026-11-22-a1"]
SELECT * FROM action_triggers WHERE session_id = ?;

-- name: triggers.github_issues
SELECT * FROM action_triggers WHERE trigger_type = 'issue_detected';

-- name: triggers.frequency
SELECT trigger_type, date(timestamp), COUNT(*) FROM action_triggers GROUP BY trigger_type, date(timestamp);

-- name: logic_flow.chain_for_task
SELECT * FROM logic_flow WHERE context_id = 'gh-450' ORDER BY timestamp;

-- name: logic_flow.slow_decisions
SELECT * FROM logic_flow WHERE duration_ms > 1000 ORDER BY duration_ms DESC;

-- name: logic_flow.distribution
SELECT decision_point, COUNT(*) FROM logic_flow GROUP BY decision_point;

-- name: tasks.active
SELECT * FROM tasks WHERE status = 'active';

-- name: tasks.completed_today
SELECT * FROM tasks WHERE status = 'completed' AND date(completed_at) = date('now');

-- name: tasks.failed
SELECT * FROM tasks WHERE status = 'failed' ORDER BY failed_at DESC;

-- name: tasks.duration
SELECT task_id, julianday(completed_at) - julianday(started_at) AS days FROM tasks;

-- name: workers.active
SELECT * FROM worker_sessions WHERE status IN ('spawned', 'running');

-- name: workers.history_for_task
-- params: ["gh-450"]
SELECT * FROM worker_sessions WHERE task_id = ?;

-- name: workers.failed
SELECT * FROM worker_sessions WHERE status = 'failed';

-- name: workers.duration
SELECT worker_id, julianday(completed_at) - julianday(spawned_at) * 24 * 60 AS minutes FROM worker_sessions;

-- name: conversations.full
-- params: ["w-abc123"]
SELECT * FROM conversations WHERE worker_id = ? ORDER BY message_index;

-- name: conversations.tool_usage
SELECT tool_name, COUNT(*) FROM conversations WHERE content_type = 'tool_use' GROUP BY tool_name;

-- name: conversations.failed_tool_calls
SELECT * FROM conversations WHERE content_type = 'tool_result' AND tool_success = FALSE;

-- name: api_calls.cost_today
SELECT SUM(estimated_cost_usd) FROM api_calls WHERE date(timestamp) = date('now');

-- name: api_calls.cost_by_model
SELECT model, SUM(estimated_cost_usd) FROM api_calls GROUP BY model;

-- name: api_calls.tokens_for_worker
-- params: ["w-abc123"]
SELECT SUM(tokens_total) FROM api_calls WHERE worker_id = ?;

-- name: api_calls.performance
-- params: ["claude-sonnet-4-5"]
SELECT AVG(tokens_per_second), AVG(time_to_first_token_ms) FROM api_calls WHERE model = ?;

-- name: worktrees.preserved
SELECT * FROM worktree_operations WHERE operation = 'preserve';

-- name: worktrees.spawn_loops
SELECT task_id, substr(timestamp, 1, 13) AS hour, COUNT(*) AS cycles FROM worktree_operations WHERE operation IN ('create', 'remove') GROUP BY task_id, substr(timestamp, 1, 13) HAVING COUNT(*) >= 6;

-- name: worktrees.decision_effectiveness
SELECT operation, COUNT(*), SUM(had_changes), SUM(worker_running) FROM worktree_operations GROUP BY operation;

-- name: system_events.errors_today
SELECT * FROM system_events WHERE severity IN ('error', 'critical') AND date(timestamp) = date('now');

-- name: system_events.by_component
SELECT * FROM system_events WHERE component = 'worktree_manager' ORDER BY timestamp DESC;

-- name: system_events.error_frequency
SELECT component, COUNT(*) FROM system_events WHERE severity = 'error' GROUP BY component;

-- name: common.cost_today
SELECT SUM(estimated_cost_usd) as cost_today
FROM api_calls
WHERE date(timestamp) = date('now');

-- name: common.cost_by_task
SELECT t.task_id, t.title, SUM(ac.estimated_cost_usd) as cost
FROM tasks t
JOIN worker_sessions ws ON ws.task_id = t.task_id
JOIN api_calls ac ON ac.worker_id = ws.worker_id
GROUP BY t.task_id
ORDER BY cost DESC;

-- name: common.worker_duration_by_status
SELECT status, AVG(julianday(completed_at) - julianday(spawned_at)) * 24 * 60 as avg_minutes
FROM worker_sessions
WHERE completed_at IS NOT NULL
GROUP BY status;

-- name: common.slowest_decisions
SELECT function_name, decision_point, AVG(duration_ms) as avg_ms
FROM logic_flow
GROUP BY function_name, decision_point
ORDER BY avg_ms DESC
LIMIT 20;

-- name: common.task_timeline
SELECT
  'task_detected' as event, detected_at as timestamp
FROM tasks WHERE task_id = 'gh-450'
UNION ALL
SELECT
  'worker_spawned', spawned_at
FROM worker_sessions WHERE task_id = 'gh-450'
UNION ALL
SELECT
  'api_call', timestamp
FROM api_calls ac
JOIN worker_sessions ws ON ac.worker_id = ws.worker_id
WHERE ws.task_id = 'gh-450'
ORDER BY timestamp;
