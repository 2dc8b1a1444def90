#!/usr/bin/env python3
"""Peer tools on the benchmark corpus: sqlite-utils insert --nl and DuckDB
read_json_auto, the tools a user would reach for instead of tasklog.

Prints JSON lines in the same shape as the Rust benchmarks:
  python3 scripts/bench_peers.py CORPUS_DIR RECORDS [OUT_JSONL]
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time


def emit(rows, out):
    for row in rows:
        line = json.dumps(row)
        print(line)
        if out:
            with open(out, "a") as f:
                f.write(line + "\n")


def main():
    corpus, records = sys.argv[1], int(sys.argv[2])
    out = sys.argv[3] if len(sys.argv) > 3 else None
    files = sorted(glob.glob(os.path.join(corpus, "*", "events.jsonl")))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "peer.db")
        started = time.monotonic()
        cat = subprocess.Popen(["cat", *files], stdout=subprocess.PIPE)
        sqlite_utils = os.path.join(os.path.dirname(sys.executable), "sqlite-utils")
        subprocess.run([sqlite_utils, "insert", db, "records", "-", "--nl"], stdin=cat.stdout, check=True)
        cat.wait()
        elapsed = time.monotonic() - started
        rows.append({"name": "peer: sqlite-utils insert --nl", "value": records / elapsed, "unit": "records/s",
                     "baseline": None, "baseline_value": None, "ratio": None, "target": ""})
        import duckdb  # installed by scripts/bench.sh into its venv

        started = time.monotonic()
        con = duckdb.connect(os.path.join(tmp, "peer.duckdb"))
        con.execute(f"CREATE TABLE records AS SELECT * FROM read_json_auto('{corpus}/*/events.jsonl', format='newline_delimited', union_by_name=true)")
        n = con.execute("SELECT count(*) FROM records").fetchone()[0]
        elapsed = time.monotonic() - started
        assert n == records, (n, records)
        rows.append({"name": "peer: DuckDB read_json_auto", "value": records / elapsed, "unit": "records/s",
                     "baseline": None, "baseline_value": None, "ratio": None, "target": ""})
    emit(rows, out)


if __name__ == "__main__":
    main()
