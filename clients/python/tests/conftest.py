"""Starts the real judge-server binary on loopback (SQLite in a temporary folder) for the tests.

The binary is ``$MOJ_JUDGE_SERVER_BIN``, else ``<cargo target dir>/debug/judge-server``
(scripts/test.sh builds it before running pytest). A missing binary fails the tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
API_KEY = "moj-python-client-test-key"
ADMIN_KEY = "moj-python-client-admin-key"

CONFIG = """
[judges.mentions_paris]
kind = "regex"
config = { must_match = ["Paris"] }

[judges.math_answer]
kind = "math"

[judges.final_answer_format]
kind = "regex"
config = { must_match = ["The final answer is \\\\S+"] }

[tasks.math]
judges = ["final_answer_format", "math_answer"]

[judges.always_pass]
kind = "regex"
config = { must_not_match = ["never-written-by-anyone-ZQX"] }

[judges.contains_e]
kind = "regex"
config = { must_match = ["e"] }

[judges.unit_tests]
kind = "code"

[tasks.code]
judges = ["unit_tests"]

[tasks.llm_only]
judges = ["unreachable_llm"]

# An LLM judge whose backend does not exist: every verdict is an `error`.
[llm.backends.nowhere]
base_url = "http://127.0.0.1:9/v1"
model = "none"
timeout_ms = 2000
max_retries = 0

[judges.unreachable_llm]
kind = "factuality"
config = { backend = "nowhere" }
"""


def _binary() -> Path:
    explicit = os.environ.get("MOJ_JUDGE_SERVER_BIN")
    if explicit:
        path = Path(explicit)
    else:
        metadata = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=REPO, check=True, capture_output=True, text=True,
        )
        path = Path(json.loads(metadata.stdout)["target_directory"]) / "debug" / "judge-server"
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build -p judge-server` (scripts/test.sh does)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The base URL of a running judge server (API key ``API_KEY`` required)."""
    folder = tmp_path_factory.mktemp("judge-server")
    config = folder / "moj.toml"
    config.write_text(CONFIG)
    port = _free_port()
    env = dict(
        os.environ,
        MOJ_LISTEN=f"127.0.0.1:{port}",
        MOJ_DATA_DIR=str(folder / "data"),
        MOJ_API_KEYS=API_KEY,
        MOJ_ADMIN_KEYS=ADMIN_KEY,
        DATABASE_URL=f"sqlite://{folder / 'moj.sqlite3'}?mode=rwc",
    )
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(
        [str(_binary()), "--config", str(config), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail("judge-server did not start:\n" + (folder / "server.log").read_text())
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
    # scripts/test.sh collects every server's log and checks that no key appears in any.
    collect = os.environ.get("MOJ_TEST_LOG_DIR")
    if collect:
        shutil.copy(folder / "server.log", Path(collect) / f"judge-server-pytest-{port}.log")
