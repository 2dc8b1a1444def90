//! Writing one import: what a source file adds to its task (the verbatim
//! lines, the normalized events, the open model calls that may still grow)
//! and the bookkeeping that makes a crashed run resume exactly once. Split
//! from `import.rs`, which finds and loads the sources.

use super::*;

impl Importer {
    /// Imports `imported` (the source's complete part) into `task`, whose
    /// import record is `state`. `resume`: the intent of a crashed run of
    /// this same import, whose records are skipped.
    #[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
    pub(super) fn apply(
        &mut self,
        task: &Task,
        mut state: ImportState,
        path: &Path,
        imported: &[u8],
        format: Format,
        parsed: &Parsed,
        report: &mut FileReport,
        resume: Option<&Pending>,
        stat: Option<(u64, u64)>,
    ) -> Result<()> {
        let werr = |e| Error::write(path, e);
        let task_ref = task;
        let task_id = task.id().as_str().to_owned();
        // A writer of its own for this run: the writer keeps every stream it
        // appended to open, and an `-open` stream this run deletes must not
        // be written through a handle an earlier run opened (its records
        // would go to the deleted file). Dropping it closes those handles.
        let writer =
            Writer::open(self.writer.root(), self.writer.options().clone()).map_err(werr)?;
        let task = &writer
            .task(&task_id)
            .map_err(werr)?
            .with_trace(task.trace().clone());
        let session = parsed.session_id.clone().unwrap_or_else(|| file_stem(path));
        let path_text = path.display().to_string();
        let (index, from) = match state.find(&path_text, imported, parsed.document) {
            Match::Same(i) => {
                let e = &mut state.sources[i];
                let from = e.units as usize;
                let now_stat = (stat.map(|s| s.0), stat.map(|s| s.1));
                if stat.is_some()
                    && e.path == path_text
                    && (e.file_len, e.file_mtime_ns) != now_stat
                {
                    // Remember the file as it is now, so the next run can
                    // tell it is unchanged without reading it.
                    (e.file_len, e.file_mtime_ns) = now_stat;
                    save_state(task, &mut state).map_err(werr)?;
                    if let (Some(stat), Some(cache)) = (stat, self.stat_cache.as_mut()) {
                        let hit = CachedStat {
                            stat,
                            format: Some(format),
                            task: Some(task_id.clone()),
                        };
                        cache.insert(path_text.clone(), hit);
                    }
                }
                report.parse_errors.retain(|p| p.line > from);
                report.action = Action::Unchanged;
                report.reason = Some("already imported, unchanged".into());
                return Ok(());
            }
            Match::Rewritten(_) => {
                tracing::warn!(
                    path = %path.display(),
                    task = %task_id,
                    "rewritten since it was imported (not an append): importing its task again from the start"
                );
                let (fresh, others) = self
                    .begin_reimport(task, &state, &path_text, imported, format)
                    .map_err(werr)?;
                drop(writer);
                self.apply(
                    task_ref, fresh, path, imported, format, parsed, report, None, stat,
                )?;
                report.reason = Some(
                    "rewritten since it was imported (not an append): imported again from its start, with the other sources of its task; the earlier rows are superseded".into(),
                );
                self.finish_reimport(task.dir(), others);
                return Ok(());
            }
            Match::Grown(i) => (Some(i), state.sources[i].units as usize),
            Match::New => (None, 0),
        };
        let name = match index {
            Some(i) => state.sources[i].name.clone(),
            None => state.free_name(&match &parsed.agent_id {
                Some(agent) => source::task_id("agent", agent),
                None => SOURCE_NAME.to_owned(),
            }),
        };
        let open_name = open_stream(&name);
        // A task compressed since its last import (`tasklog compress`,
        // `[retention] compress_after`) whose session was resumed: its
        // streams become plain again before the intent records their
        // lengths and anything is appended or an open stream replaced.
        for stream in [name.as_str(), open_name.as_str(), EVENTS_STREAM] {
            if !(parsed.document && stream == name) {
                task.writer()
                    .decompress_stream(task.id().as_str(), stream)
                    .map_err(werr)?;
            }
        }
        let retracting = state.open.values().any(|c| c.source == name);
        if resume.is_none() {
            // The intent, before anything is appended (journal.rs).
            let intent = Intent {
                path: &path_text,
                imported,
                format,
                document: parsed.document,
                name: &name,
                open_name: &open_name,
                retracting,
            };
            record_intent(task, &mut state, &intent).map_err(werr)?;
        }
        let mut written = Totals::default();
        let retracted = self.retract_open(task, &name, &mut state, format)?;
        let mut out = Appender::new(self.abort_after, self.appended);
        if let Some(p) = resume {
            out.resume(task.dir(), p).map_err(|e| {
                Error::io(task.dir(), "reading streams of an interrupted import", e)
            })?;
        }
        let verbatim = index.map_or(self.keep_source, |i| {
            state.sources[i].verbatim != Some(false)
        });
        if !verbatim {
            // Not copied (`--no-source`): the events are all there is.
        } else if parsed.document {
            task.put_json(&name, imported, Durability::Default)
                .map_err(werr)?;
        } else {
            for line in parsed.lines.iter().filter(|l| l.number > from) {
                out.append(&name, || append_verbatim(task, &name, line))
                    .map_err(werr)?;
                written.source_records += 1;
            }
        }
        let file_name = format!("{name}.{}", if parsed.document { "json" } else { "jsonl" });
        let origin = Origin {
            source: &file_name,
            task: &task_id,
        };
        let step = EventStep {
            task,
            format,
            from,
            name: &name,
            open_name: &open_name,
            origin: &origin,
        };
        self.write_events(&step, &parsed.events, &mut state, &mut out, &mut written)
            .map_err(werr)?;
        let before = index.and_then(|i| state.sources[i].aggregate);
        let aggregate = match &parsed.aggregate {
            Some(agg) => Some(
                write_aggregate(
                    task,
                    agg,
                    before,
                    parsed.units,
                    &origin,
                    &mut written,
                    &mut out,
                )
                .map_err(werr)?,
            ),
            None => None,
        };
        let now = now_rfc3339();
        self.appended = out.written();
        state.totals = state.totals.minus(&retracted);
        state.totals.add(&written);
        let (first_ts, last_ts) = parsed.time_span();
        let entry = SourceEntry {
            path: path_text.clone(),
            kind: if parsed.document { "document" } else { "jsonl" }.into(),
            name,
            format: Some(format),
            format_version: parsed.format_version.clone(),
            bytes: imported.len() as u64,
            units: parsed.units as u64,
            xxh3: fingerprint(imported),
            imported_at: index
                .map_or_else(|| now.clone(), |i| state.sources[i].imported_at.clone()),
            updated_at: now.clone(),
            unknown_types: parsed.unknown_types.clone(),
            parse_errors: parsed
                .parse_errors
                .iter()
                .map(|(l, m)| format!("{l}: {m}"))
                .collect(),
            aggregate,
            first_ts,
            last_ts,
            models: parsed.models(),
            file_len: stat.map(|s| s.0),
            file_mtime_ns: stat.map(|s| s.1),
            verbatim: (!verbatim).then_some(false),
        };
        match index {
            Some(i) => state.sources[i] = entry,
            None => state.sources.push(entry),
        }
        state.format = Some(format);
        state.session_id = Some(session);
        let sealed = task.dir().join("result.json").exists();
        let seal = (!self.defer_seal || parsed.ended) && parsed.agent_id.is_none();
        let outcome = parsed.outcome.as_ref().filter(|_| seal || sealed);
        let status = facts::status(
            outcome.map(|o| o.status.as_str()),
            !seal && !sealed,
            state.totals.failed_tool_calls,
        );
        update_task_doc(task, format, &state, &path_text, parsed, &status).map_err(werr)?;
        if written.events > 0 && seal {
            if let Some(outcome) = &parsed.outcome {
                let mut result = outcome.result.clone();
                if let Value::Object(map) = &mut result {
                    map.insert("metrics".into(), metrics(&state.totals));
                }
                let finished = last_time(&state);
                write_result(task, &status, result, finished.as_deref()).map_err(werr)?;
            }
        }
        if let (Some(stat), Some(cache)) = (stat, self.stat_cache.as_mut()) {
            let hit = CachedStat {
                stat,
                format: Some(format),
                task: Some(task_id.clone()),
            };
            cache.insert(path_text.clone(), hit);
        }
        state.importer = format!("tasklog-import {}", env!("CARGO_PKG_VERSION"));
        state.first_imported_at.get_or_insert_with(|| now.clone());
        state.last_imported_at = Some(now);
        save_state(task, &mut state).map_err(werr)?;
        if sealed && written.source_records + written.events > 0 {
            nudge_watcher(task.dir());
        }
        report.action = if index.is_some() {
            Action::Appended
        } else {
            Action::Imported
        };
        report.written = written.minus(&retracted);
        Ok(())
    }

    /// Writes the normalized events not written before: keyed events once
    /// per key (a call still open goes to the `-open` stream), unkeyed ones
    /// of lines past `from`.
    fn write_events(
        &mut self,
        step: &EventStep<'_>,
        events: &[crate::model::Norm],
        state: &mut ImportState,
        out: &mut Appender,
        written: &mut Totals,
    ) -> std::result::Result<(), tasklog_writer::Error> {
        for norm in events {
            // Keyed events are matched by key, not by line: an open call
            // taken back above comes from a line imported before, and a
            // document element imported before can gain parts (a tool
            // call's end, a re-written message). Unkeyed events of lines
            // already imported were written then.
            let keyed_call = matches!(norm.body, Body::LlmCall(_)) && norm.key.is_some();
            if norm.key.is_none() && norm.line <= step.from {
                continue;
            }
            if let Some(key) = &norm.key {
                if state.seen.contains(key) || (keyed_call && state.open.contains_key(key)) {
                    continue;
                }
                if step.format == Format::ClaudeCode
                    && keyed_call
                    && !self.claude_keys().insert(key.clone())
                {
                    continue; // imported with another session (a resumed one)
                }
            }
            let stream = match (&norm.body, &norm.key) {
                (Body::LlmCall(call), Some(key)) if norm.open => {
                    state.open.insert(
                        key.clone(),
                        OpenCall {
                            source: step.name.to_owned(),
                            usage: call.usage,
                            cost_usd: call.cost_usd.unwrap_or(0.0),
                        },
                    );
                    step.open_name
                }
                (_, key) => {
                    if let Some(key) = key {
                        state.mark_seen(key);
                    }
                    EVENTS_STREAM
                }
            };
            out.append(stream, || {
                emit::write_to(step.task, stream, norm, step.origin)
            })?;
            written.events += 1;
            match &norm.body {
                Body::LlmCall(call) => written.count_llm(&call.usage, call.cost_usd),
                Body::ToolStart { .. } => written.tool_calls += 1,
                Body::ToolEnd { ok: false, .. } => written.failed_tool_calls += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes the `-open` stream of source `name` and forgets its calls,
    /// so they are written again from the grown source. Returns what the
    /// deleted records had counted.
    fn retract_open(
        &mut self,
        task: &Task,
        name: &str,
        state: &mut ImportState,
        format: Format,
    ) -> Result<Totals> {
        let mine: Vec<String> = state
            .open
            .iter()
            .filter(|(_, c)| c.source == name)
            .map(|(k, _)| k.clone())
            .collect();
        let mut retracted = Totals::default();
        if mine.is_empty() {
            return Ok(retracted);
        }
        let file = format!("{}.jsonl", open_stream(name));
        // Set aside, not removed, until its replacement is written (see
        // `rewrite::retire`); already gone after a crash that retired it.
        rewrite::retire(task.dir(), &file)
            .map_err(|e| Error::io(task.dir().join(&file), "replacing open model calls", e))?;
        for key in mine {
            if let Some(call) = state.open.remove(&key) {
                retracted.events += 1;
                retracted.count_llm(&call.usage, Some(call.cost_usd));
            }
            if format == Format::ClaudeCode {
                self.claude_keys().remove(&key);
            }
        }
        Ok(retracted)
    }
}
