//! Python objects to JSON values and back.
//!
//! The conversion is strict where `json.dumps` is lenient, because the
//! indexer would refuse what `json.dumps` lets through: a NaN or infinity,
//! a string with a lone surrogate, an integer beyond 64 bits, a non-string
//! key or an object nested deeper than the format allows
//! ([`tasklog_format::MAX_DEPTH`]) is refused before anything is written.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Number, Value};

use crate::errors::refused;

/// Converts `obj` (dict, list, tuple, str, int, float, bool, None) to JSON.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    convert(obj, 0)
}

/// Converts a dict to a JSON object; anything else is refused.
pub fn to_object(obj: &Bound<'_, PyAny>) -> PyResult<Map<String, Value>> {
    match obj.cast::<PyDict>() {
        Ok(dict) => dict_to_map(dict, 1),
        Err(_) => Err(refused(format!(
            "a record must be a dict, not {}",
            type_name(obj)
        ))),
    }
}

/// `None` or a dict, for the optional `details`/`fields` arguments.
pub fn opt_object(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Map<String, Value>> {
    match obj {
        None => Ok(Map::new()),
        Some(o) if o.is_none() => Ok(Map::new()),
        Some(o) => to_object(o),
    }
}

/// `None` (JSON null) or any convertible value.
pub fn opt_json(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    obj.map_or(Ok(Value::Null), to_json)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth >= tasklog_format::MAX_DEPTH {
        return Err(refused(format!(
            "value nested deeper than {} levels",
            tasklog_format::MAX_DEPTH
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_str()
            .map(|s| Value::String(s.to_owned()))
            .map_err(|e| refused(format!("string is not valid UTF-8 (lone surrogate?): {e}")));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(refused(format!(
            "integer {} does not fit in 64 bits",
            obj.str().map(|s| s.to_string()).unwrap_or_default()
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| refused(format!("{v} is not a JSON number")));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict_to_map(dict, depth + 1).map(Value::Object);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            out.push(convert(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(tuple.len());
        for item in tuple.iter() {
            out.push(convert(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    Err(refused(format!(
        "{} is not JSON (dict, list, tuple, str, int, float, bool or None)",
        type_name(obj)
    )))
}

fn dict_to_map(dict: &Bound<'_, PyDict>, depth: usize) -> PyResult<Map<String, Value>> {
    let mut map = Map::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let key = match k.cast::<PyString>() {
            Ok(s) => s
                .to_str()
                .map_err(|e| refused(format!("key: {e}")))?
                .to_owned(),
            Err(_) => return Err(refused(format!("keys must be str, not {}", type_name(&k)))),
        };
        let value = convert(&v, depth)?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Converts a JSON value to Python objects (dicts keep the file's key order).
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
}
