//! The exceptions: `TasklogError` for everything, `RefusedError` (a subclass)
//! when the caller's input was refused and nothing was written.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

create_exception!(
    tasklog,
    TasklogError,
    PyException,
    "A tasklog write failed. The message is the Rust writer's, with the file it concerns."
);
create_exception!(
    tasklog,
    RefusedError,
    TasklogError,
    "The input was refused (bad name, not a JSON object, bad envelope field); nothing was written."
);

/// A refusal raised by the binding itself (conversion of Python values).
pub fn refused(message: String) -> PyErr {
    RefusedError::new_err(message)
}

/// The writer's error as an exception, its whole source chain in the
/// message (the Rust `Display` of an I/O error names the file and the
/// operation; the OS reason is its source).
pub fn from_writer(e: tasklog_writer::Error) -> PyErr {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_refusal() {
        RefusedError::new_err(message)
    } else {
        TasklogError::new_err(message)
    }
}
