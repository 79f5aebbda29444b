"""The OpenRLHF-compatible get_reward and SandboxFusion-compatible run_code endpoints, over
plain HTTP against the real server (the real frameworks' own code calls them in
tests/frameworks/)."""

from __future__ import annotations

import base64
import json

import requests

from conftest import API_KEY

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
CHATML_PROMPT = "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"


def post(url, body, **kwargs):
    return requests.post(url, json=body, headers=HEADERS, timeout=120, **kwargs)


def test_get_reward_speaks_openrlhf(server):
    answer = post(
        f"{server}/v1/tasks/math/get_reward",
        {
            "query": [CHATML_PROMPT + "The final answer is 5<|im_end|>", CHATML_PROMPT + "The final answer is 6<|im_end|>\n<|endoftext|>"],
            "prompts": [CHATML_PROMPT, CHATML_PROMPT],
            "labels": ["5", "5"],
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rewards"] == [1.0, 0.0] and body["scores"] == [1.0, 0.0]
    assert body["extra_logs"]["moj_pass"] == [1.0, 0.0]
    assert body["extra_logs"]["moj/math_answer"] == [1.0, 0.0]
    # A different label field, and extra per-query lists become metadata.
    answer = post(
        f"{server}/v1/tasks/math/get_reward?label_key=gold",
        {"query": ["q The final answer is 7"], "prompts": ["q "], "labels": ["7"]},
    )
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "answer[0]"


def test_get_reward_never_makes_up_a_reward(server):
    body = {"query": ["q Paris"], "prompts": ["q "], "labels": ["Paris"]}
    refused = post(f"{server}/v1/tasks/mentions_nothing/get_reward", body)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "name"
    error = post(f"{server}/v1/tasks/llm_only/get_reward", body)
    assert error.status_code == 502
    assert "unreachable_llm" in error.json()["error"]["message"]
    assert error.json()["error"]["field"] == "query[0]"
    # The status line says it too (OpenRLHF's aiohttp client logs that, not the body).
    assert "unreachable_llm" in error.reason and error.reason.startswith("moj judge_error")
    mapped = post(f"{server}/v1/tasks/llm_only/get_reward?error_reward=-1", body)
    assert mapped.status_code == 200 and mapped.json()["rewards"] == [-1.0]
    assert mapped.json()["extra_logs"]["moj_error"] == [1.0]
    missing = post(f"{server}/v1/tasks/math/get_reward", {"query": ["q x"], "prompts": ["q "], "labels": [""]})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "labels[0]"
    wrong_length = post(f"{server}/v1/tasks/math/get_reward", {"query": ["a", "b"], "prompts": ["a"]})
    assert wrong_length.status_code == 422 and wrong_length.json()["error"]["field"] == "prompts"
    anonymous = requests.post(f"{server}/v1/tasks/math/get_reward", json=body, timeout=10)
    assert anonymous.status_code == 401


def run(server, **body):
    answer = post(f"{server}/run_code", body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_run_code_statuses_follow_sandboxfusion(server):
    ok = run(server, code="import sys\nprint(int(sys.stdin.read()) * 2, __name__)", stdin="21", language="python")
    assert ok["status"] == "Success" and ok["compile_result"] is None
    assert ok["run_result"]["status"] == "Finished" and ok["run_result"]["return_code"] == 0
    assert ok["run_result"]["stdout"] == "42 __main__\n"
    assert ok["run_result"]["execution_time"] > 0
    failed = run(server, code="raise SystemExit(3)", language="python")
    assert failed["status"] == "Failed" and failed["run_result"]["return_code"] == 3
    crashed = run(server, code="1/0", language="python")
    assert crashed["status"] == "Failed" and "ZeroDivisionError" in crashed["run_result"]["stderr"]
    slow = run(server, code="while True: pass", language="python", run_timeout=1)
    assert slow["status"] == "Failed" and slow["run_result"]["status"] == "TimeLimitExceeded"
    js = run(server, code="console.log(6 * 7)", language="nodejs")
    assert js["status"] == "Success" and js["run_result"]["stdout"] == "42\n"


def test_run_code_files_in_and_out(server):
    data = base64.b64encode(b"3 4\n").decode()
    out = run(
        server,
        code="a, b = map(int, open('data/in.txt').read().split())\nopen('out.txt', 'w').write(str(a * b))\nprint('ok')",
        files={"data/in.txt": data},
        fetch_files=["out.txt", "missing.txt"],
    )
    assert out["status"] == "Success", out
    assert base64.b64decode(out["files"]["out.txt"]) == b"12"
    assert "missing.txt" not in out["files"]
    # The directory is the program's whole file system: no host file is reachable.
    escape = run(server, code="print(open('/etc/passwd').read())", files={"x": ""})
    assert escape["status"] == "Failed" and "root:" not in (escape["run_result"]["stdout"] or "")
    # Links the program makes cannot take fetch_files outside its directory.
    linked = run(
        server,
        code="import os\nfor target, name in [('/etc', 'a'), ('../../../../etc', 'b'), ('/etc/passwd', 'c')]:\n"
        "    try:\n        os.symlink(target, name)\n    except OSError as e:\n        print(name, e)\n",
        files={"x": ""},
        fetch_files=["a/passwd", "b/passwd", "c"],
    )
    assert linked["files"] == {}, linked
    # Writing past the quota ends the run (the host's disk is not the program's).
    flood = run(server, code="f = open('big', 'wb')\nwhile True: f.write(b'x' * 1048576)", files={"x": ""}, run_timeout=20)
    assert flood["status"] == "Failed" and flood["run_result"]["status"] == "Error"


def test_run_code_refuses_what_it_cannot_do_by_field(server):
    def refused(body):
        answer = post(f"{server}/run_code", body)
        assert answer.status_code == 422, answer.text
        return answer.json()["error"]["field"]

    assert refused({"code": "package main", "language": "go"}) == "language"
    assert refused({"code": "print(1)", "run_timeout": 100000}) == "run_timeout"
    assert refused({"code": "print(1)", "memory_limit_MB": 1 << 20}) == "memory_limit_MB"
    assert refused({"code": "print(1)", "files": {"../x": ""}}) == "files.../x"
    assert refused({"code": "print(1)", "files": {"x": "not base64!"}}) == "files.x"
    assert refused({"code": "print(1)", "fetch_files": ["../../etc/passwd"]}) == "fetch_files[0]"
    assert refused({"code": "print(1)", "files": {"a": "", "a/b": ""}}) == "files.a/b"
    metrics = requests.get(f"{server}/metrics", timeout=10).text
    assert 'moj_run_code_total{language="python",status="Success"}' in metrics
