"""The API contract: Schemathesis (PyPI) generates requests from the running server's
/openapi.json — schema-driven examples, boundary values, fuzzed bodies and stateful sequences
(create a judge, use it, delete it) — with an admin key, and checks every answer: no 5xx, the
status code is documented, the body and headers match the schema, a request without a key is
refused, schema-invalid requests are rejected. Fixed seed: a failure reproduces.

Excluded check: `positive_data_acceptance` — a request can match the schema and still be refused
by design (an unknown judge or task name, more judges than `limits.max_judges`); those 4xx are
asserted in tests/api.rs instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ADMIN_KEY


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path):
    st = Path(sys.executable).parent / "st"
    report = tmp_path / "schemathesis.txt"
    run = subprocess.run(
        [
            str(st), "run", f"{server}/openapi.json",
            "--checks", "all",
            "--exclude-checks", "positive_data_acceptance",
            "-H", f"Authorization: Bearer {ADMIN_KEY}",
            "--max-examples", os.environ.get("MOJ_SCHEMATHESIS_EXAMPLES", "40"),
            "--seed", "20261124",
            "--request-timeout", "30",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=900,
        env=dict(
            os.environ,
            SCHEMATHESIS_HOOKS="schemathesis_hooks",
            PYTHONPATH=str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        ),
    )
    report.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "API Operations:" in run.stdout
