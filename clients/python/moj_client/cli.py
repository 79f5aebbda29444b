"""``moj-judge``: score a JSONL file of items against a judge server.

    moj-judge --task math in.jsonl > out.jsonl
    moj-judge --judges ifeval_strict,no_ai_disclaimer - < in.jsonl

Each input line is an item (``prompt``, ``response``, optional ``metadata`` and ``id``); each
output line is its result (``id``, ``verdict``, ``judges``), in input order. The file is read
and checked before anything is sent: a bad line stops the run naming the line. A refused batch
names the line of the item the server refused. Exit codes: 0 done, 1 the server refused or could
not be reached, 2 bad input."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, TextIO

from moj_client.client import JudgeClient, JudgeError

_ITEM = re.compile(r"^items\[(\d+)\]")


class InputError(Exception):
    pass


def read_items(lines: Iterable[str]) -> List[Dict[str, Any]]:
    """The items of a JSONL stream (blank lines skipped); :class:`InputError` names a bad line."""
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"line {number}: not JSON: {err}") from None
        if not isinstance(item, dict):
            raise InputError(f"line {number}: an item must be a JSON object")
        if not isinstance(item.get("response"), str):
            raise InputError(f"line {number}: `response` (a string) is required")
        item.setdefault("id", number)
        item["_line"] = number
        items.append(item)
    return items


def score(
    items: List[Dict[str, Any]],
    client: JudgeClient,
    out: TextIO,
    task: Optional[str],
    judges: Optional[List[str]],
    cache: bool,
    batch_size: int,
    progress: Optional[TextIO],
) -> int:
    """Scores ``items`` batch by batch, writing each result line as its batch returns."""
    passed = failed = errors = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        body = [{k: v for k, v in item.items() if k != "_line"} for item in chunk]
        try:
            results = client.judge(body, task=task, judges=judges, cache=cache)
        except JudgeError as err:
            raise JudgeError(_name_line(str(err), err, chunk), status=err.status, body=err.body) from None
        for result in results:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            verdict = result.get("verdict")
            passed += verdict == "pass"
            failed += verdict == "fail"
            errors += verdict not in ("pass", "fail")
        out.flush()
        if progress is not None:
            done = start + len(chunk)
            progress.write(f"\rmoj-judge: {done}/{len(items)} items, {passed} pass, {failed} fail, {errors} error")
            progress.flush()
    if progress is not None:
        progress.write("\n")
    return errors


def _name_line(message: str, err: JudgeError, chunk: List[Dict[str, Any]]) -> str:
    detail = err.body.get("error", {}) if isinstance(err.body, dict) else {}
    match = _ITEM.match(str(detail.get("field") or ""))
    if match and int(match.group(1)) < len(chunk):
        return f"line {chunk[int(match.group(1))]['_line']}: {detail.get('message', message)} ({detail.get('field')})"
    return message


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="moj-judge", description="Score a JSONL file of items with a moj judge server.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--task", help="a task (a named mixture of judges)")
    target.add_argument("--judges", help="comma-separated judge names")
    parser.add_argument("input", nargs="?", default="-", help="JSONL file of items, or - for stdin (default)")
    parser.add_argument("--url", help="server URL (default $MOJ_JUDGE_URL or http://127.0.0.1:8080)")
    parser.add_argument("--api-key", help="API key (default $MOJ_API_KEY)")
    parser.add_argument("--batch-size", type=int, default=256, help="items per request (default 256)")
    parser.add_argument("--no-cache", action="store_true", help="bypass the verdict cache")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    judges = [j.strip() for j in args.judges.split(",") if j.strip()] if args.judges else None
    try:
        if args.input == "-":
            items = read_items(sys.stdin)
        else:
            with open(args.input, encoding="utf-8") as handle:
                items = read_items(handle)
    except (InputError, OSError) as err:
        print(f"moj-judge: {err}", file=sys.stderr)
        return 2
    client = JudgeClient(base_url=args.url, api_key=args.api_key)
    progress = None if args.quiet or not sys.stderr.isatty() else sys.stderr
    try:
        score(items, client, sys.stdout, args.task, judges, not args.no_cache, args.batch_size, progress)
    except JudgeError as err:
        print(f"moj-judge: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
