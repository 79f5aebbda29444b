"""Turning the shapes RL frameworks pass around into judge items."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Union


def as_prompt(prompt: Any) -> Union[str, List[Dict[str, Any]]]:
    """A prompt as the server takes it: a string, or OpenAI-style messages (kept as a
    conversation so the judges see it, not a pre-templated string)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    raise TypeError(f"a prompt must be a string or a list of messages, got {type(prompt).__name__}")


def as_response(completion: Any) -> str:
    """A completion as text: a string, or the content of the last assistant message of a
    conversational completion (TRL passes ``[{"role": "assistant", "content": ...}]``)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    raise TypeError(
        f"a completion must be a string or a list of messages, got {type(completion).__name__}"
    )


def jsonable(value: Any) -> Any:
    """A value the server can take as metadata (numpy scalars and arrays become Python ones)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
