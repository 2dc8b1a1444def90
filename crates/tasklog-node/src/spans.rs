//! Open tool calls and planning cycles. The Rust spans are consumed by
//! `complete`/`fail`; a second close throws instead of writing twice.

use napi::{Error, Result, Status};
use napi_derive::napi;

use crate::{js_error, parse};

/// An open tool call: `tool.start` is on disk.
#[napi]
pub struct NativeToolSpan {
    span: Option<tasklog_writer::ToolSpan>,
    span_id: String,
    traceparent: String,
}

impl NativeToolSpan {
    pub(crate) fn new(span: tasklog_writer::ToolSpan) -> NativeToolSpan {
        NativeToolSpan {
            span_id: span.span_id().to_owned(),
            traceparent: span.traceparent(),
            span: Some(span),
        }
    }

    fn take(&mut self) -> Result<tasklog_writer::ToolSpan> {
        self.span.take().ok_or_else(|| {
            Error::new(
                Status::GenericFailure,
                format!("tool call {} is already closed", self.span_id),
            )
        })
    }
}

#[napi]
impl NativeToolSpan {
    /// The span id shared by the start and end rows.
    #[napi(getter)]
    pub fn span_id(&self) -> String {
        self.span_id.clone()
    }

    /// The `traceparent` for a child process run by this tool.
    #[napi(getter)]
    pub fn traceparent(&self) -> String {
        self.traceparent.clone()
    }

    /// Whether the end row was written.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.span.is_none()
    }

    /// Writes `tool.complete` with the output (JSON text).
    #[napi]
    pub fn complete(&mut self, output: Option<String>) -> Result<()> {
        let output = parse(output)?;
        self.take()?.complete(output).map_err(js_error)
    }

    /// Writes `tool.fail` with the error (JSON text).
    #[napi]
    pub fn fail(&mut self, error: Option<String>) -> Result<()> {
        let error = parse(error)?;
        self.take()?.fail(error).map_err(js_error)
    }
}

/// An open planning cycle: `cycle.start` is on disk.
#[napi]
pub struct NativeCycleSpan {
    span: Option<tasklog_writer::CycleSpan>,
    span_id: String,
}

impl NativeCycleSpan {
    pub(crate) fn new(span: tasklog_writer::CycleSpan) -> NativeCycleSpan {
        NativeCycleSpan {
            span_id: span.span_id().to_owned(),
            span: Some(span),
        }
    }
}

#[napi]
impl NativeCycleSpan {
    /// The span id shared by the start and end rows.
    #[napi(getter)]
    pub fn span_id(&self) -> String {
        self.span_id.clone()
    }

    /// Whether the end row was written.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.span.is_none()
    }

    /// Writes `cycle.complete` with the status and outcome (JSON text).
    #[napi]
    pub fn complete(&mut self, status: String, outcome: Option<String>) -> Result<()> {
        let outcome = parse(outcome)?;
        let span = self.span.take().ok_or_else(|| {
            Error::new(
                Status::GenericFailure,
                format!("cycle {} is already closed", self.span_id),
            )
        })?;
        span.complete(&status, outcome).map_err(js_error)
    }
}
