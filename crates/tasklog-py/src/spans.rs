//! Open tool calls and planning cycles.
//!
//! The Rust spans are consumed by `complete`/`fail`; here they sit in a
//! mutex so a second close raises instead of writing a second end row.

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::convert::{opt_json, to_json};
use crate::errors::{from_writer, TasklogError};

/// An open tool call: `tool.start` is written; `complete` or `fail`
/// writes the end row with the same `span_id` and the `duration_ms`.
#[pyclass(module = "tasklog._native", frozen)]
pub struct ToolSpan {
    span: Mutex<Option<tasklog_writer::ToolSpan>>,
    span_id: String,
    traceparent: String,
}

impl ToolSpan {
    pub fn new(span: tasklog_writer::ToolSpan) -> ToolSpan {
        ToolSpan {
            span_id: span.span_id().to_owned(),
            traceparent: span.traceparent(),
            span: Mutex::new(Some(span)),
        }
    }

    fn take(&self) -> PyResult<tasklog_writer::ToolSpan> {
        self.span
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                TasklogError::new_err(format!("tool call {} is already closed", self.span_id))
            })
    }
}

#[pymethods]
impl ToolSpan {
    /// The span id shared by the start and end rows.
    #[getter]
    fn span_id(&self) -> &str {
        &self.span_id
    }

    /// The `traceparent` for a child process whose records nest under this call.
    #[getter]
    fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// Whether `complete` or `fail` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.span
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Writes `tool.complete` with the tool's output.
    #[pyo3(signature = (output = None))]
    fn complete(&self, py: Python<'_>, output: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let output = opt_json(output)?;
        let span = self.take()?;
        py.detach(|| span.complete(output)).map_err(from_writer)
    }

    /// Writes `tool.fail` with the error (a message or any JSON value).
    fn fail(&self, py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<()> {
        let error = to_json(error)?;
        let span = self.take()?;
        py.detach(|| span.fail(error)).map_err(from_writer)
    }
}

/// An open planning cycle: `cycle.start` is written; `complete` writes
/// `cycle.complete` with the status and the duration.
#[pyclass(module = "tasklog._native", frozen)]
pub struct CycleSpan {
    span: Mutex<Option<tasklog_writer::CycleSpan>>,
    span_id: String,
}

impl CycleSpan {
    pub fn new(span: tasklog_writer::CycleSpan) -> CycleSpan {
        CycleSpan {
            span_id: span.span_id().to_owned(),
            span: Mutex::new(Some(span)),
        }
    }
}

#[pymethods]
impl CycleSpan {
    /// The span id shared by the start and end rows.
    #[getter]
    fn span_id(&self) -> &str {
        &self.span_id
    }

    /// Writes `cycle.complete` (`status`: ok, failed, aborted).
    #[pyo3(signature = (status = "ok", outcome = None))]
    fn complete(
        &self,
        py: Python<'_>,
        status: &str,
        outcome: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = opt_json(outcome)?;
        let span = self
            .span
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                TasklogError::new_err(format!("cycle {} is already closed", self.span_id))
            })?;
        py.detach(|| span.complete(status, outcome))
            .map_err(from_writer)
    }
}
