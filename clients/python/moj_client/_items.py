"""Turning the shapes RL frameworks pass around into judge items."""

from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List, Optional, Union

# Text that chat templates put after an assistant turn: a response decoded with its special
# tokens (OpenRLHF's `query`) ends with one of these, which no judge should see.
END_OF_TURN = (
    "<|im_end|>",  # ChatML: Qwen, SmolLM2
    "<|eot_id|>",  # Llama 3
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",  # Phi-3
    "<end_of_turn>",  # Gemma
    "<｜end▁of▁sentence｜>",  # DeepSeek
    "</s>",  # Llama 2, Mistral
    "<eos>",
)


def judge_target(task: Optional[str], judges: Optional[Iterable[str]]) -> Dict[str, Any]:
    """``{"task": ..., "judges": [...]}`` with exactly one of them set (else ``ValueError``)."""
    if (task is None) == (judges is None):
        raise ValueError("give exactly one of task= and judges=")
    return {"task": task, "judges": list(judges) if judges is not None else None}


def as_prompt(prompt: Any) -> Union[str, List[Dict[str, Any]]]:
    """A prompt as the server takes it: a string, or OpenAI-style messages (kept as a
    conversation so the judges see it, not a pre-templated string). A message whose content
    is ``None`` (an assistant tool call) has empty text, never the text "None"."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and all(isinstance(m, dict) for m in prompt):
        return [{"role": str(m.get("role", "user")), "content": message_text(m)} for m in prompt]
    raise TypeError(f"a prompt must be a string or a list of messages, got {type(prompt).__name__}")


def message_text(message: Dict[str, Any]) -> str:
    """A message's text: its string content, the text parts of a content list, or "" for
    ``None`` (tool calls)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    raise TypeError(f"message content must be a string, a list of parts or None, got {type(content).__name__}")


def as_response(completion: Any) -> str:
    """A completion as text: a string, or the content of the last assistant message of a
    conversational completion (TRL passes ``[{"role": "assistant", "content": ...}]``)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        assistant = [m for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return message_text((assistant or list(completion))[-1])
    raise TypeError(
        f"a completion must be a string or a list of messages, got {type(completion).__name__}"
    )


def strip_end_of_turn(text: str) -> str:
    """``text`` without its trailing end-of-turn tokens (and the whitespace between them);
    unchanged when it ends with none."""
    rest, removed = text, False
    while True:
        candidate = rest.rstrip()
        token = next((t for t in END_OF_TURN if candidate.endswith(t)), None)
        if token is None:
            return candidate if removed else text
        rest, removed = candidate[: -len(token)], True


def response_after_prompt(query: str, prompt: str) -> str:
    """The response part of a prompt+response text (OpenRLHF's ``query``), end-of-turn tokens
    removed."""
    response = query[len(prompt) :] if prompt and query.startswith(prompt) else query
    return strip_end_of_turn(response)


def to_json(value: Any) -> Any:
    """``value`` as JSON data (numpy scalars and arrays become Python ones), or raises
    :class:`TypeError` for objects that have no JSON form (never ``str(obj)``: a repr with an
    address would change every item's cache key on every call)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist") and callable(value.tolist):
        return to_json(value.tolist())
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (dict, list, tuple)):
        return to_json(value.item())
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no JSON form")


_warned: set = set()


def metadata_from(columns: Dict[str, Any]) -> Dict[str, Any]:
    """The JSON-able columns of one row as metadata. A column with no JSON form is left out
    (one warning per column), never sent as ``str(obj)``."""
    out = {}
    for key, value in columns.items():
        try:
            out[key] = to_json(value)
        except TypeError as err:
            if key not in _warned:
                _warned.add(key)
                warnings.warn(f"moj: column {key!r} is not sent as metadata: {err}", RuntimeWarning, stacklevel=3)
    return out
