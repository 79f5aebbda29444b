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
# Values are encoded by `encode` below and decoded strictly by the driver; any other object
# (instances of the solution's classes, generators, functions, ...) stays here as a handle.
import sys as _moj_sys


def _moj_serve(prefix, setup, solution, _sys=_moj_sys):
    import io
    import json
    import types

    _sys.set_int_max_str_digits(0)
    dumps, loads = json.dumps, json.loads
    requests = open(0, "rb", closefd=False)
    replies = open(1, "wb", buffering=0, closefd=False)
    diagnostics = open(2, "wb", buffering=0, closefd=False)
    frame = prefix.encode()

    class Capture(io.RawIOBase):
        """The solution's stdout and stderr: the first 64 KiB go to the real stderr (for the
        verdict's details), the rest is dropped; closing or flooding them is harmless."""

        left = [65536]

        def writable(self):
            return True

        def write(self, data):
            size = len(data)
            keep = min(size, Capture.left[0])
            if keep > 0:
                Capture.left[0] -= keep
                try:
                    diagnostics.write(bytes(data[:keep]))
                except Exception:
                    pass
            return size

    def text_capture():
        return io.TextIOWrapper(
            io.BufferedWriter(Capture()), encoding="utf-8", errors="backslashreplace",
            write_through=True,
        )

    _sys.stdout = _sys.__stdout__ = text_capture()
    _sys.stderr = _sys.__stderr__ = text_capture()
    _sys.stdin = _sys.__stdin__ = io.StringIO("")

    def send(message):
        replies.write(b"\n" + frame + dumps(message).encode() + b"\n")

    def describe(error):
        try:
            text = str(error)
        except BaseException:
            text = "<unprintable>"
        return type(error).__name__ + ": " + text[:2000]

    namespace = {"__name__": "__main__"}
    try:
        exec(compile(setup, "<test setup>", "exec"), namespace)
        before = dict(namespace)
        exec(compile(solution, "<solution>", "exec"), namespace)
    except BaseException as error:
        send({"load_failed": describe(error)})
        return

    exports = {}
    for name, value in list(namespace.items()):
        if name.startswith("__") or before.get(name, exports) is value:
            continue
        if isinstance(value, types.ModuleType):
            # The tests may use what the solution imported (`sys.getsizeof`): the driver
            # imports its own copy of the module.
            exports[name] = "module:" + value.__name__
            continue
        if getattr(value, "__module__", None) == "typing":
            continue
        if isinstance(value, type):
            exports[name] = "class"
        elif callable(value):
            exports[name] = "function"

    handles = {}

    import collections
    import fractions
    import decimal

    def pairs(mapping):
        return [[encode(k), encode(v)] for k, v in dict.items(mapping)]

    def encode(value):
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is list:
            return [encode(item) for item in value]
        if kind is tuple:
            return {"t": [encode(item) for item in value]}
        if kind is dict:
            return {"d": pairs(value)}
        if kind is set:
            return {"s": [encode(item) for item in value]}
        if kind is frozenset:
            return {"z": [encode(item) for item in value]}
        if kind is bytes:
            return {"b": value.hex()}
        if kind is bytearray:
            return {"ba": value.hex()}
        if kind is complex:
            return {"cx": [value.real, value.imag]}
        if kind is collections.Counter:
            return {"cnt": pairs(value)}
        if kind is collections.OrderedDict:
            return {"od": pairs(value)}
        if kind is collections.defaultdict:
            return {"d": pairs(value)}
        if kind is collections.deque:
            return {"dq": [encode(item) for item in value]}
        if kind is fractions.Fraction:
            return {"fr": [value.numerator, value.denominator]}
        if kind is decimal.Decimal:
            return {"dec": str(value)}
        if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0:
            return encode(value.item())
        # Anything else (the solution's own objects, generators, functions, regex matches,
        # ...) stays here; the tests get a handle.
        handles[id(value)] = value
        return {"h": id(value), "c": kind.__module__ + "." + kind.__qualname__}

    def decode(value):
        if type(value) is list:
            return [decode(item) for item in value]
        if type(value) is not dict:
            return value
        ((tag, body),) = value.items()
        if tag == "t":
            return tuple(decode(item) for item in body)
        if tag in ("d", "cnt", "od"):
            kind = {"d": dict, "cnt": collections.Counter, "od": collections.OrderedDict}[tag]
            return kind((decode(k), decode(v)) for k, v in body)
        if tag == "s":
            return {decode(item) for item in body}
        if tag == "z":
            return frozenset(decode(item) for item in body)
        if tag == "b":
            return bytes.fromhex(body)
        if tag == "ba":
            return bytearray.fromhex(body)
        if tag == "cx":
            return complex(body[0], body[1])
        if tag == "dq":
            return collections.deque(decode(item) for item in body)
        if tag == "fr":
            return fractions.Fraction(body[0], body[1])
        if tag == "dec":
            return decimal.Decimal(body)
        if tag == "h":
            return handles[body]
        raise ValueError("unknown tag " + tag)

    dunders = {
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

    def answer(request):
        op = request["op"]
        if op == "getattr":
            value = getattr(handles[request["h"]], request["name"])
            if callable(value) and not isinstance(value, type):
                return {"ok": {"m": request["name"]}}
            return {"ok": encode(value)}
        arguments = request.get("args", [])
        args = [decode(a) for a in arguments]
        kwargs = {k: decode(v) for k, v in request.get("kwargs", [])}
        if op == "call":
            target = namespace[request["name"]]
        elif op == "method":
            target = getattr(handles[request["h"]], request["name"])
        elif op == "dunder":
            function = dunders[request["name"]]
            args.insert(0, handles[request["h"]])
            arguments = [None] + arguments
            target = function
        else:
            raise ValueError("unknown op " + op)
        result = target(*args, **kwargs)
        reply = {"ok": encode(result)}
        mutated = []
        for index, arg in enumerate(args):
            if index < len(arguments) and type(arg) in (list, dict, set, bytearray):
                now = encode(arg)
                if dumps(now) != dumps(arguments[index]):
                    mutated.append([index - (op == "dunder"), now])
        if mutated:
            reply["mut"] = mutated
        return reply

    send({"ready": exports})
    while True:
        line = requests.readline()
        if not line:
            return
        request = loads(line)
        try:
            reply = answer(request)
        except BaseException as error:
            bases = [b.__name__ for b in type(error).__mro__ if b.__module__ == "builtins"]
            reply = {"raise": [type(error).__name__, describe(error).split(": ", 1)[1], bases]}
        send(reply)
