#!/usr/bin/env python3
"""The closing line of tests/schemathesis/run.sh from schemathesis' NDJSON event files.

    summary.py NAME.ndjson...

An operation passes in a pass when none of its scenarios failed or errored; a pass whose event
file is missing or never finished counts as one failure. Writes, beside each file,
NAME.statuses.txt: the status codes each operation answered (what the run reached). Prints
`schemathesis: N passed, M failed` and exits non-zero when M > 0.
"""

import base64
import collections
import json
import sys
from pathlib import Path

passed = failed = 0
for arg in sys.argv[1:]:
    path = Path(arg)
    name = path.stem
    if not path.exists():
        print(f"{name}: no events (the pass did not run)")
        failed += 1
        continue
    worst: dict[str, str] = {}
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    finished = False
    errors = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        kind, body = next(iter(event.items()))
        if kind == "EngineFinished":
            finished = True
        elif kind == "NonFatalError":
            errors.append(body.get("label") or "?")
        elif kind == "ScenarioFinished":
            label = body["recorder"]["label"]
            status = body["status"]
            if status in ("success", "failure", "error", "interrupted"):
                if worst.get(label) not in ("failure", "error", "interrupted"):
                    worst[label] = status
            for interaction in (body["recorder"].get("interactions") or {}).values():
                response = interaction.get("response") or {}
                code = response.get("status_code")
                if code is None:
                    continue
                err = ""
                raw = response.get("body")
                if raw and code >= 400:
                    try:
                        err = json.loads(base64.b64decode(raw))["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        err = "?"
                codes[label][f"{code} {err}".strip()] += 1
    for label in errors:
        worst[label] = "error"
    ok = sum(1 for s in worst.values() if s == "success")
    bad = sorted(label for label, s in worst.items() if s != "success")
    if not finished:
        bad.append("(the run did not finish)")
    print(f"{name}: {ok} operations passed, {len(bad)} failed" + (": " + "; ".join(bad) if bad else ""))
    passed += ok
    failed += len(bad)
    with open(path.with_suffix(".statuses.txt"), "w") as f:
        for label in sorted(codes):
            f.write(f"{label}: " + ", ".join(f"{k} x{v}" for k, v in sorted(codes[label].items())) + "\n")

print(f"schemathesis: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
