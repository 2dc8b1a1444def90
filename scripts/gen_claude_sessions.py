#!/usr/bin/env python3
"""Writes synthetic Claude Code sessions for scripts/bench_import.sh.

    gen_claude_sessions.py OUT_DIR SESSIONS KB_PER_SESSION

Each session is one `<uuid>.jsonl` file under OUT_DIR/<project>/, shaped as
Claude Code 2.1 writes them: a user turn, then one assistant line per
content block of the response, each repeating the call's usage with the
output count growing (only the last is the billed value), a tool_use, and
the user line carrying its tool_result. Deterministic (seeded), team-written.

The files get the current time as their modification time, so `tasklog
import`'s default `--compress-after 1d` leaves their tasks plain; to measure
a history older than a day, age them first, as scripts/bench_import.sh does
(its AGE, default "3 days ago"):

    find OUT_DIR -name '*.jsonl' -exec touch -d '3 days ago' {} +
"""

import json
import os
import random
import sys
import uuid


def session_lines(rng, session, target_bytes):
    size, turn = 0, 0
    ts_min = 0
    while size < target_bytes:
        ts = f"2026-11-{1 + turn // 1440 % 28:02d}T{ts_min // 60 % 24:02d}:{ts_min % 60:02d}:00.000Z"
        ts_min += 1
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
        yield {"type": "user", "uuid": f"u{turn}", "sessionId": session, "timestamp": ts,
               "message": {"role": "user", "content": text}}
        request, message = f"req_{session[:8]}_{turn}", f"msg_{session[:8]}_{turn}"
        final = rng.randint(50, 3000)
        usage = {"input_tokens": rng.randint(5, 50), "cache_read_input_tokens": rng.randint(0, 90000),
                 "cache_creation_input_tokens": rng.randint(0, 5000)}
        blocks = [{"type": "text", "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 200)))},
                  {"type": "tool_use", "id": f"toolu_{session[:8]}_{turn}", "name": "Bash",
                   "input": {"command": f"cargo test -p crate-{turn % 17}"}}]
        for i, block in enumerate(blocks):
            output = final if i == len(blocks) - 1 else rng.randint(1, final)
            yield {"type": "assistant", "uuid": f"a{turn}-{i}", "sessionId": session, "timestamp": ts,
                   "requestId": request,
                   "message": {"id": message, "model": "claude-sonnet-4-5", "role": "assistant",
                               "content": [block], "usage": dict(usage, output_tokens=output)}}
        result = " ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 400)))
        yield {"type": "user", "uuid": f"r{turn}", "sessionId": session, "timestamp": ts,
               "message": {"role": "user", "content": [
                   {"type": "tool_result", "tool_use_id": f"toolu_{session[:8]}_{turn}", "content": result}]}}
        size += len(text) + len(result) + 1500
        turn += 1


WORDS = ("the test failed because the fixture expected a trailing newline and the parser "
         "trimmed it before comparing so we restore the byte and rerun cargo build check "
         "stack trace line column offset module crate function value error warning").split()


def main():
    out, sessions, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(1)
    for s in range(sessions):
        session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        folder = os.path.join(out, f"-home-user-project-{s % 20}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{session}.jsonl"), "w") as f:
            for line in session_lines(rng, session, kb * 1000):
                f.write(json.dumps(line, separators=(",", ":")))
                f.write("\n")


if __name__ == "__main__":
    main()
