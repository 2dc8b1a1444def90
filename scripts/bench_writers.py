#!/usr/bin/env python3
"""Per-append cost of the writers, in one run (docs/PERFORMANCE.md, "Python
and Node writers"): the Rust writer, the Python binding, the Node binding,
and each language's naive locked append (the FORMAT.md section 7 snippets),
all appending the same record. Run by scripts/bench_writers.sh with the
Python that has the binding installed.

Target: each binding within 2x the Rust writer plus the language's call
overhead (an empty call into the native module), and faster than its
language's snippet.
"""

import argparse
import fcntl
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import tasklog

CONTENT = "step: looking at the failing test and the stack trace it printed"


def per_call_ns(fn, n, rounds):
    times = []
    for r in range(rounds):
        t = time.perf_counter_ns()
        fn(r, n)
        times.append((time.perf_counter_ns() - t) / n)
    return statistics.median(times)


# ---- the FORMAT.md 7.2 snippet (stamping version), verbatim in behaviour ----
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_last = (0, 0)


def ulid():
    global _last
    ms = time.time_ns() // 1_000_000
    if ms > _last[0]:
        _last = (ms, secrets.randbits(80))
    else:
        _last = (_last[0], _last[1] + 1)
    n = (_last[0] << 80) | _last[1]
    return "".join(CROCKFORD[(n >> (125 - 5 * i)) & 31] for i in range(26))


def now_ts():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def last_seq(fd, end):
    start = max(0, end - (1 << 20))
    buf = os.pread(fd, end - start, start)
    lines = buf[: buf.rfind(b"\n") + 1].split(b"\n")[:-1]
    for raw in reversed(lines[1:] if start else lines):
        try:
            seq = json.loads(raw).get("seq")
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(seq, float) and seq.is_integer():
            seq = int(seq)
        if type(seq) is int and seq >= 0:
            return seq
    return 0


def append_line(path, record):
    """FORMAT.md 7.2's minimal snippet: locked, no stamping."""
    line = json.dumps(record, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8") + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b"\n":
            line = b"\n" + line
        try:
            if os.write(fd, line) != len(line):
                raise OSError("short write")
        except OSError:
            os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)


def append_record(path, fields):
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        end = os.fstat(fd).st_size
        torn = end > 0 and os.pread(fd, 1, end - 1) != b"\n"
        head = {"v": 1, "ts": now_ts(), "seq": last_seq(fd, end) + 1, "id": ulid()}
        record = {k: v for k, v in head.items() if k not in fields} | fields
        line = json.dumps(record, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8") + b"\n"
        if torn:
            line = b"\n" + line
        try:
            if os.write(fd, line) != len(line):
                raise OSError("short write")
        except OSError:
            os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)


NODE = r"""
const { Writer } = require(process.argv[1]);
const fs = require('node:fs');
const path = require('node:path');
const [root, n, rounds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const CONTENT = %s;
const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
function nowTs() { return new Date().toISOString().replace('Z', '000Z'); }
function appendLine(p, record) {   // FORMAT.md 7.3, verbatim in behaviour
  const line = Buffer.from(JSON.stringify({ v: 1, ts: nowTs(), ...record }) + '\n', 'utf8');
  const fd = fs.openSync(p, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o644);
  try {
    const k = fs.writeSync(fd, line);
    if (k !== line.length) throw new Error('short write');
  } finally { fs.closeSync(fd); }
}
function perCall(fn) {
  const t = [];
  for (let r = 0; r < rounds; r++) {
    const s = process.hrtime.bigint(); fn(r); t.push(Number(process.hrtime.bigint() - s) / n);
  }
  t.sort((a, b) => a - b); return t[Math.floor(t.length / 2)];
}
const binding = perCall((r) => {
  const task = new Writer(path.join(root, `b${r}`)).task('bench');
  for (let i = 0; i < n; i++) task.append('events', { event: 'message', role: 'assistant', content: CONTENT, i });
});
const naive = perCall((r) => {
  fs.mkdirSync(path.join(root, `n${r}`, 'bench'), { recursive: true });
  const p = path.join(root, `n${r}`, 'bench', 'events.jsonl');
  for (let i = 0; i < n; i++) appendLine(p, { event: 'message', task_id: 'bench', role: 'assistant', content: CONTENT, i });
});
const task = new Writer(path.join(root, 'o')).task('bench');
const nat = task._native;
const overhead = perCall(() => { for (let i = 0; i < n; i++) nat.id; });
console.log(JSON.stringify({ binding, naive, overhead }));
""" % json.dumps(CONTENT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rust", default="target/release/bench_writers")
    ap.add_argument("--node-module", required=True)
    ap.add_argument("--json", help="append the figures to this JSON lines file")
    a = ap.parse_args()
    n, rounds = a.records, a.rounds

    rust = json.loads(subprocess.run([a.rust, "--records", str(n), "--rounds", str(rounds)],
                                     check=True, capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as root:
        def py_binding(r, n):
            task = tasklog.Writer(os.path.join(root, f"b{r}")).task("bench")
            for i in range(n):
                task.append("events", {"event": "message", "role": "assistant", "content": CONTENT, "i": i})

        def py_naive(r, n):
            d = os.path.join(root, f"n{r}", "bench")
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "events.jsonl")
            for i in range(n):
                append_record(p, {"event": "message", "task_id": "bench", "role": "assistant",
                                  "content": CONTENT, "i": i})

        def py_minimal(r, n):
            d = os.path.join(root, f"m{r}", "bench")
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "events.jsonl")
            for i in range(n):
                append_line(p, {"event": "message", "task_id": "bench", "role": "assistant",
                                "content": CONTENT, "i": i})

        nat = tasklog.Writer(os.path.join(root, "o")).task("bench")._native

        def py_overhead(r, n):
            for _ in range(n):
                nat.trace_id

        py = {
            "binding": per_call_ns(py_binding, n, rounds),
            "naive": per_call_ns(py_naive, n // 4, rounds),
            "minimal": per_call_ns(py_minimal, n, rounds),
            "overhead": per_call_ns(py_overhead, n, rounds),
        }
        node = json.loads(subprocess.run(
            ["node", "-e", NODE, a.node_module, root, str(n), str(rounds)],
            check=True, capture_output=True, text=True).stdout)

    r = rust["rust_writer_ns"]
    rows = [
        ("Rust writer, Task::append", r, "flock+write", rust["rust_flock_write_ns"], ""),
    ]
    for lang, f in (("Python", py), ("Node", node)):
        bound = 2 * r + f["overhead"]
        rows.append((f"{lang} binding, append", f["binding"], "Rust writer", r,
                     f"<= 2x Rust + call overhead ({bound:.0f} ns): "
                     + ("met" if f["binding"] <= bound else "missed")))
        rows.append((f"{lang} binding, append", f["binding"], f"{lang} FORMAT.md 7 stamping" if lang == "Python" else "Node FORMAT.md 7.3 snippet", f["naive"],
                     "< 1x: " + ("met" if f["binding"] < f["naive"] else "missed")))
        if "minimal" in f:
            rows.append((f"{lang} binding, append", f["binding"], f"{lang} 7.2 minimal (no stamp)",
                         f["minimal"], "< 1x: " + ("met" if f["binding"] < f["minimal"] else "missed")))
        rows.append((f"{lang} empty native call", f["overhead"], "", None, ""))
    print(f"{n} records x {rounds} rounds (snippet: Python {n // 4}), medians, ns per call")
    print(f"{'figure':<34} {'ns':>9}  {'baseline':<28} {'ns':>9} {'ratio':>7}  target")
    for name, v, bname, b, target in rows:
        ratio = f"{v / b:.2f}x" if b else ""
        bs = f"{b:.0f}" if b else ""
        print(f"{name:<34} {v:>9.0f}  {bname:<28} {bs:>9} {ratio:>7}  {target}")
    if a.json:
        with open(a.json, "a") as out:
            for name, v, bname, b, target in rows:
                out.write(json.dumps({"name": name, "value": v, "unit": "ns/append", "baseline": bname or None,
                                      "baseline_value": b, "ratio": v / b if b else None, "target": target}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
