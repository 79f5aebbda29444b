# The solution's side of a Python test run (`harness.rs`). It runs in its own sandbox instance,
# next to nothing but the solution: the tests, their randomness, the comparisons and the report
# live in the driver's instance (`python_driver.py`), which this side reaches only through its
# stdout (replies) and stdin (requests), one JSON line each. Whatever the solution does to this
# file's code or data only changes the answers it gives, which it chooses anyway.
#
# Protocol. First line out: {"ready": {name: "function" | "class" | "module:<name>"}} (the
# solution's top-level callables and imported modules), or {"load_failed": "Type: message"}.
# Then per request:
#   {"op": "call", "name": n, "args": [...], "kwargs": [[k, v], ...]}
#   {"op": "method", "h": id, "name": attribute, "args": ..., "kwargs": ...}
#   {"op": "getattr", "h": id, "name": attribute}
#   {"op": "dunder", "h": id, "name": "__len__" | ..., "args": [...]}
# a reply {"ok": value, "mut": [[index, value], ...]} | {"raise": [type, message, [bases]]}.
# Values are encoded by `_encode` below and decoded strictly by the driver; any other object
# (instances of the solution's classes, generators, functions, ...) stays here as a handle.
#
# Everything but `_moj_serve` is defined once, when the pre-initialised CPython is built
# (`sandbox/snapshot.rs`); a run only calls `_moj_serve`.
import collections as _collections
import decimal as _decimal
import fractions as _fractions
import io as _io
import json as _json
import os as _os
import sys as _moj_sys
import types as _types


class _CaptureBytes:
    """The solution's stdout and stderr bytes: the first 64 KiB (of both together) go to the
    real stderr (for the verdict's details), the rest is dropped; closing or flooding them is
    harmless. Writes go straight to file descriptor 2: no buffer, no codec."""

    def __init__(self, left):
        self.left = left
        self.closed = False

    def write(self, data):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        data = bytes(data)
        keep = min(len(data), self.left[0])
        if keep > 0:
            self.left[0] -= keep
            try:
                _os.write(2, data[:keep])
            except Exception:
                pass
        return len(data)

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def writable(self):
        return True

    def readable(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        raise _io.UnsupportedOperation("fileno")


class _CaptureText(_CaptureBytes):
    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, left):
        super().__init__(left)
        self.buffer = _CaptureBytes(left)

    def write(self, text):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if type(text) is not str:
            raise TypeError("write() argument must be str, not " + type(text).__name__)
        super().write(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def close(self):
        self.closed = True


def _lines(fd):
    """Lines read from `fd` with plain `read`s (no buffered file object to build)."""
    pending = b""
    while True:
        end = pending.find(b"\n")
        if end >= 0:
            line, pending = pending[:end + 1], pending[end + 1:]
            yield line
            continue
        chunk = _os.read(fd, 65536)
        if not chunk:
            if pending:
                yield pending
            return
        pending += chunk


def _write_all(fd, data):
    while data:
        data = data[_os.write(fd, data):]


def _describe(error):
    try:
        text = str(error)
    except BaseException:
        text = "<unprintable>"
    return type(error).__name__ + ": " + text[:2000]


def _pairs(handles, mapping):
    return [[_encode(handles, k), _encode(handles, v)] for k, v in dict.items(mapping)]


def _encode(handles, value):
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if kind is list:
        return [_encode(handles, item) for item in value]
    if kind is tuple:
        return {"t": [_encode(handles, item) for item in value]}
    if kind is dict or kind is _collections.defaultdict:
        return {"d": _pairs(handles, value)}
    if kind is set:
        return {"s": [_encode(handles, item) for item in value]}
    if kind is frozenset:
        return {"z": [_encode(handles, item) for item in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is bytearray:
        return {"ba": value.hex()}
    if kind is complex:
        return {"cx": [value.real, value.imag]}
    if kind is _collections.Counter:
        return {"cnt": _pairs(handles, value)}
    if kind is _collections.OrderedDict:
        return {"od": _pairs(handles, value)}
    if kind is _collections.deque:
        return {"dq": [_encode(handles, item) for item in value]}
    if kind is _fractions.Fraction:
        return {"fr": [value.numerator, value.denominator]}
    if kind is _decimal.Decimal:
        return {"dec": str(value)}
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return _encode(handles, value.item())
    # Anything else (the solution's own objects, generators, functions, regex matches, ...)
    # stays here; the tests get a handle.
    handles[id(value)] = value
    return {"h": id(value), "c": kind.__module__ + "." + kind.__qualname__}


def _decode(handles, value):
    if type(value) is list:
        return [_decode(handles, item) for item in value]
    if type(value) is not dict:
        return value
    ((tag, body),) = value.items()
    if tag == "t":
        return tuple(_decode(handles, item) for item in body)
    if tag in ("d", "cnt", "od"):
        kind = {"d": dict, "cnt": _collections.Counter, "od": _collections.OrderedDict}[tag]
        return kind((_decode(handles, k), _decode(handles, v)) for k, v in body)
    if tag == "s":
        return {_decode(handles, item) for item in body}
    if tag == "z":
        return frozenset(_decode(handles, item) for item in body)
    if tag == "b":
        return bytes.fromhex(body)
    if tag == "ba":
        return bytearray.fromhex(body)
    if tag == "cx":
        return complex(body[0], body[1])
    if tag == "dq":
        return _collections.deque(_decode(handles, item) for item in body)
    if tag == "fr":
        return _fractions.Fraction(body[0], body[1])
    if tag == "dec":
        return _decimal.Decimal(body)
    if tag == "h":
        return handles[body]
    raise ValueError("unknown tag " + tag)


_DUNDERS = {
    "__len__": len,
    "__getitem__": lambda o, k: o[k],
    "__setitem__": lambda o, k, v: o.__setitem__(k, v),
    "__delitem__": lambda o, k: o.__delitem__(k),
    "__contains__": lambda o, k: k in o,
    "__iter__": iter,
    "__next__": next,
    "__str__": str,
    "__repr__": repr,
    "__bool__": bool,
    "__call__": lambda o, *a: o(*a),
}


def _answer(namespace, handles, request):
    op = request["op"]
    if op == "getattr":
        value = getattr(handles[request["h"]], request["name"])
        if callable(value) and not isinstance(value, type):
            return {"ok": {"m": request["name"]}}
        return {"ok": _encode(handles, value)}
    arguments = request.get("args", [])
    args = [_decode(handles, a) for a in arguments]
    kwargs = {k: _decode(handles, v) for k, v in request.get("kwargs", [])}
    if op == "call":
        target = namespace[request["name"]]
    elif op == "method":
        target = getattr(handles[request["h"]], request["name"])
    elif op == "dunder":
        target = _DUNDERS[request["name"]]
        args.insert(0, handles[request["h"]])
        arguments = [None] + arguments
    else:
        raise ValueError("unknown op " + op)
    result = target(*args, **kwargs)
    reply = {"ok": _encode(handles, result)}
    mutated = []
    for index, arg in enumerate(args):
        if index < len(arguments) and type(arg) in (list, dict, set, bytearray):
            now = _encode(handles, arg)
            if _json.dumps(now) != _json.dumps(arguments[index]):
                mutated.append([index - (op == "dunder"), now])
    if mutated:
        reply["mut"] = mutated
    return reply


def _exports(namespace, before):
    """The solution's top-level functions and classes, and the modules it imported."""
    exports = {}
    for name, value in list(namespace.items()):
        if name.startswith("__") or before.get(name, exports) is value:
            continue
        if isinstance(value, _types.ModuleType):
            # The tests may use what the solution imported (`sys.getsizeof`): the driver
            # imports its own copy of the module.
            exports[name] = "module:" + value.__name__
        elif getattr(value, "__module__", None) == "typing":
            continue
        elif isinstance(value, type):
            exports[name] = "class"
        elif callable(value):
            exports[name] = "function"
    return exports


def _moj_serve(prefix, setup, solution, _sys=_moj_sys):
    _sys.set_int_max_str_digits(0)
    frame = prefix.encode()
    left = [65536]
    _sys.stdout = _sys.__stdout__ = _CaptureText(left)
    _sys.stderr = _sys.__stderr__ = _CaptureText(left)
    _sys.stdin = _sys.__stdin__ = _io.StringIO("")

    def send(message):
        _write_all(1, b"\n" + frame + _json.dumps(message).encode() + b"\n")

    namespace = {"__name__": "__main__"}
    try:
        exec(compile(setup, "<test setup>", "exec"), namespace)
        before = dict(namespace)
        exec(compile(solution, "<solution>", "exec"), namespace)
    except BaseException as error:
        send({"load_failed": _describe(error)})
        return
    handles = {}
    send({"ready": _exports(namespace, before)})
    for line in _lines(0):
        request = _json.loads(line)
        try:
            reply = _answer(namespace, handles, request)
        except BaseException as error:
            bases = [b.__name__ for b in type(error).__mro__ if b.__module__ == "builtins"]
            reply = {"raise": [type(error).__name__, _describe(error).split(": ", 1)[1], bases]}
        send(reply)
