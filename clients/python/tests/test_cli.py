"""moj-judge, the console script the wheel installs, against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import API_KEY


def moj_judge(server, *args, stdin=None):
    exe = shutil.which("moj-judge", path=str(Path(sys.executable).parent)) or "moj-judge"
    env = dict(os.environ, MOJ_JUDGE_URL=server, MOJ_API_KEY=API_KEY)
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_scores_a_jsonl_file_in_order(server, tmp_path):
    lines = [
        {"prompt": "2+3?", "response": "The final answer is 5", "metadata": {"answer": "5"}},
        {"prompt": "2+3?", "response": "The final answer is 6", "metadata": {"answer": "5"}, "id": "b"},
        {"prompt": "2+3?", "response": "The final answer is 5", "metadata": {"answer": "5"}},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    done = moj_judge(server, "--task", "math", "--batch-size", "2", str(path))
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["verdict"] for r in results] == ["pass", "fail", "pass"]
    assert [r["id"] for r in results] == [1, "b", 3]
    piped = moj_judge(server, "--judges", "mentions_paris", "-", stdin='{"response": "Paris"}\n')
    assert json.loads(piped.stdout)["verdict"] == "pass"


def test_bad_input_and_refusals_name_the_line(server, tmp_path):
    bad = moj_judge(server, "--task", "math", "-", stdin='{"response": "x"}\nnot json\n')
    assert bad.returncode == 2 and "line 2" in bad.stderr and bad.stdout == ""
    refused = moj_judge(server, "--task", "math", "-", stdin='{"response": "x", "metadata": {"answer": "1"}}\n{"response": "y"}\n')
    assert refused.returncode == 1
    assert "line 2" in refused.stderr and "metadata.answer" in refused.stderr
