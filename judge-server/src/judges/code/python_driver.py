# The test driver of a Python test run (`harness.rs`). It runs in a fresh sandbox instance of its
# own: the item's tests (HumanEval `check`, MBPP asserts, unit tests, APPS calls), their
# randomness, the comparisons and the report are here, where the solution cannot reach them.
# The solution's top-level functions and classes are proxies: each call crosses to the
# solution's instance (`python_solution.py`) as plain data and its result comes back through a
# strict decoder (None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset,
# the standard Counter, OrderedDict, deque, Fraction and Decimal, and handles for any other
# object, such as instances of the solution's own classes, whose methods are forwarded and whose
# equality is identity). Nothing the solution returns runs code here: no `__eq__` of its
# choosing, no int subclass, no frames.
#
# The report, on the driver's stderr: one line "<nonce> L:<hex>" (the solution did not load) or
# "<nonce> T:<outcome>,<outcome>,..." with P (passed), A<hex> (assertion / wrong value), E<hex>.
#
# Everything but `_moj_drive` is defined once, when the pre-initialised CPython is built
# (`sandbox/snapshot.rs`); a run only calls `_moj_drive`.
import builtins as _builtins
import collections as _collections
import decimal as _decimal
import fractions as _fractions
import io as _io
import json as _json
import math as _math
import os as _os
import sys as _moj_sys

_FLOOD_LIMIT = 16 << 20
_GONE = "the solution's process ended (exit, crash, time or memory limit)"


class _Sink:
    """Where the tests' own prints go (not the request pipe)."""

    closed = False
    encoding = "utf-8"

    def write(self, data):
        return len(data)

    def flush(self):
        pass

    def isatty(self):
        return False


class _SolutionGone(Exception):
    pass


class _CannotCross(Exception):
    pass


class _SolutionException(Exception):
    pass


class _Link:
    """The pipe to the solution's instance and what the current test saw through it."""

    def __init__(self, prefix):
        self.pending = b""
        self.frame = prefix.encode()
        # Problems fail the current test whatever the test does with the exception (a test
        # may swallow exceptions; it cannot swallow these).
        self.problems = []
        self.gone = None
        # Types of the objects the solution handed over as handles during the current test.
        self.handed = []
        self.handles = [None]

    def problem(self, message, kind=_CannotCross):
        self.problems.append(message)
        raise kind(message)

    def readline(self):
        """The next line from the solution (at most `_FLOOD_LIMIT` bytes; b"" at the end)."""
        while True:
            end = self.pending.find(b"\n", 0, _FLOOD_LIMIT)
            if end >= 0:
                line, self.pending = self.pending[:end + 1], self.pending[end + 1:]
                return line
            if len(self.pending) >= _FLOOD_LIMIT:
                line, self.pending = self.pending[:_FLOOD_LIMIT], self.pending[_FLOOD_LIMIT:]
                return line
            chunk = _os.read(0, 65536)
            if not chunk:
                line, self.pending = self.pending, b""
                return line
            self.pending += chunk

    def receive(self):
        skipped = 0
        while True:
            line = self.readline()
            if not line:
                self.gone = _GONE
                self.problem(self.gone, _SolutionGone)
            if line.startswith(self.frame) and line.endswith(b"\n"):
                return _json.loads(line[len(self.frame):])
            skipped += len(line)
            if skipped > _FLOOD_LIMIT:
                self.gone = "the solution wrote more than 16 MiB of stray output to its stdout"
                self.problem(self.gone, _SolutionGone)

    def call(self, request, args=(), kwargs=None, handle=None, stop_iteration=False):
        if self.gone:
            self.problem(self.gone, _SolutionGone)
        request["args"] = [_encode(self, a) for a in args]
        request["kwargs"] = [[k, _encode(self, v)] for k, v in (kwargs or {}).items()]
        try:
            data = (_json.dumps(request) + "\n").encode()
            while data:
                data = data[_os.write(1, data):]
        except OSError:
            self.gone = _GONE
            self.problem(self.gone, _SolutionGone)
        reply = self.receive()
        self.handles.append(handle)
        raised = None
        try:
            if type(reply) is not dict:
                raise ValueError("malformed reply")
            if "ok" in reply:
                value = _decode(self, reply["ok"])
                for index, now in reply.get("mut", []):
                    _copy_back(args[index], _decode(self, now))
                return value
            if "raise" in reply:
                name, text, bases = reply["raise"]
                raised = StopIteration() if stop_iteration and name == "StopIteration" else (
                    _rebuild(name, text, bases))
            else:
                raise ValueError("malformed reply")
        except (ValueError, TypeError, KeyError, IndexError) as error:
            message = "the solution's reply could not be read: %s" % error
        finally:
            self.handles.pop()
        if raised is not None:
            raise raised
        self.problem(message)


def _number(value):
    if type(value) not in (int, float):
        raise ValueError("malformed number")
    return value


def _pairs(link, body):
    result = []
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise ValueError("malformed mapping")
        result.append((_decode(link, pair[0]), _decode(link, pair[1])))
    return result


_PLAIN = (type(None), bool, int, float, str)


def _decode(link, value):
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [_decode(link, item) for item in value]
    if kind is not dict or len(value) not in (1, 2):
        raise ValueError("malformed value")
    if "h" in value:
        handle, name = value["h"], value.get("c")
        if type(handle) is not int or type(name) is not str:
            raise ValueError("malformed handle")
        link.handed.append(name)
        return _Handle(link, handle, name)
    ((tag, body),) = value.items()
    if tag == "m" and type(body) is str:
        return _BoundMethod(link, link.handles[-1], body)
    if tag in ("b", "ba", "dec"):
        if type(body) is not str:
            raise ValueError("malformed " + tag)
        if tag == "b":
            return bytes.fromhex(body)
        if tag == "ba":
            return bytearray.fromhex(body)
        return _decimal.Decimal(body)
    if type(body) is not list:
        raise ValueError("malformed " + tag)
    if tag == "t":
        return tuple(_decode(link, item) for item in body)
    if tag == "d":
        return dict(_pairs(link, body))
    if tag == "cnt":
        return _collections.Counter(dict(_pairs(link, body)))
    if tag == "od":
        return _collections.OrderedDict(_pairs(link, body))
    if tag == "s":
        return {_decode(link, item) for item in body}
    if tag == "z":
        return frozenset(_decode(link, item) for item in body)
    if tag == "dq":
        return _collections.deque(_decode(link, item) for item in body)
    if tag == "cx" and len(body) == 2:
        return complex(_number(body[0]), _number(body[1]))
    if tag == "fr" and len(body) == 2 and all(type(x) is int for x in body):
        return _fractions.Fraction(body[0], body[1])
    raise ValueError("unknown tag")


def _encode(link, value):
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [_encode(link, item) for item in value]
    if kind is tuple:
        return {"t": [_encode(link, item) for item in value]}
    if kind is dict or kind is _collections.defaultdict:
        return {"d": [[_encode(link, k), _encode(link, v)] for k, v in value.items()]}
    if kind is _collections.Counter:
        return {"cnt": [[_encode(link, k), _encode(link, v)] for k, v in value.items()]}
    if kind is _collections.OrderedDict:
        return {"od": [[_encode(link, k), _encode(link, v)] for k, v in value.items()]}
    if kind is set:
        return {"s": [_encode(link, item) for item in value]}
    if kind is frozenset:
        return {"z": [_encode(link, item) for item in value]}
    if kind is _collections.deque:
        return {"dq": [_encode(link, item) for item in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is bytearray:
        return {"ba": value.hex()}
    if kind is complex:
        return {"cx": [value.real, value.imag]}
    if kind is _fractions.Fraction:
        return {"fr": [value.numerator, value.denominator]}
    if kind is _decimal.Decimal:
        return {"dec": str(value)}
    if kind is _Handle:
        return {"h": object.__getattribute__(value, "_h")}
    link.problem("a test passes a value of type %s to the solution, which cannot cross"
                 % kind.__qualname__)


def _rebuild(name, message, bases):
    base = _SolutionException
    for candidate in bases if type(bases) is list else []:
        found = getattr(_builtins, str(candidate), None)
        if (isinstance(found, type) and issubclass(found, Exception)
                and not issubclass(found, (StopIteration, StopAsyncIteration))):
            base = found
            break
    if type(name) is not str or not name.isidentifier():
        name = "SolutionException"
    try:
        kind = base if getattr(base, "__name__", None) == name else type(name, (base,), {})
        return kind(str(message))
    except Exception:
        return _SolutionException(name + ": " + str(message))


def _copy_back(original, now):
    if type(original) is list and type(now) is list:
        original[:] = now
    elif type(original) is dict and type(now) is dict:
        original.clear()
        original.update(now)
    elif type(original) is set and type(now) is set:
        original.clear()
        original.update(now)
    elif type(original) is bytearray and type(now) is bytearray:
        original[:] = now
    else:
        raise ValueError("mutation of another type")


class _Remote:
    """A top-level function or class of the solution's."""

    __slots__ = ("_link", "_name")

    def __init__(self, link, name):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        return self._link.call({"op": "call", "name": self._name}, args, kwargs)

    def __repr__(self):
        return "<solution's %s>" % self._name


class _BoundMethod:
    __slots__ = ("_link", "_h", "_name")

    def __init__(self, link, handle, name):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_h", handle)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        return self._link.call({"op": "method", "h": self._h, "name": self._name}, args,
                               kwargs, handle=self._h)

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)


class _Handle:
    """An object of the solution's: attribute reads and method calls are forwarded; equality
    is identity (the solution does not decide what equals its objects)."""

    __slots__ = ("_link", "_h", "_c")

    def __init__(self, link, handle, name):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_h", handle)
        object.__setattr__(self, "_c", name)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        handle = object.__getattribute__(self, "_h")
        link = object.__getattribute__(self, "_link")
        return link.call({"op": "getattr", "h": handle, "name": name}, handle=handle)

    def _dunder(self, name, *args, stop=False):
        handle = object.__getattribute__(self, "_h")
        link = object.__getattribute__(self, "_link")
        return link.call({"op": "dunder", "h": handle, "name": name}, args, handle=handle,
                         stop_iteration=stop)

    def __len__(self):
        return self._dunder("__len__")

    def __getitem__(self, key):
        return self._dunder("__getitem__", key)

    def __setitem__(self, key, value):
        self._dunder("__setitem__", key, value)

    def __delitem__(self, key):
        self._dunder("__delitem__", key)

    def __contains__(self, key):
        return self._dunder("__contains__", key)

    def __iter__(self):
        return self._dunder("__iter__")

    def __next__(self):
        return self._dunder("__next__", stop=True)

    def __str__(self):
        return self._dunder("__str__")

    def __repr__(self):
        return self._dunder("__repr__")

    def __bool__(self):
        return self._dunder("__bool__")

    def __call__(self, *args):
        return self._dunder("__call__", *args)

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return object.__getattribute__(self, "_h")


def _same(got, want, tolerance):
    """APPS call results: integers exactly, floats within the relative tolerance (finite ones
    only), strings and booleans exactly, tuples as lists, element by element."""
    if type(want) is bool or want is None or type(want) is str:
        return type(got) is type(want) and got == want
    if type(want) is int:
        return type(got) is int and got == want
    if type(want) is float:
        # Infinity is within any relative tolerance of any float (inf <= tolerance * inf), and
        # NaN compares with nothing: a non-finite result never matches a (finite) expected one.
        if type(got) is float and not _math.isfinite(got):
            return False
        if type(got) not in (int, float):
            return False
        if got == want:
            return True
        return abs(got - want) <= tolerance * max(abs(got), abs(want), 1e-300)
    if type(want) is list:
        if type(got) is tuple:
            got = list(got)
        return (type(got) is list and len(got) == len(want)
                and all(_same(g, w, tolerance) for g, w in zip(got, want)))
    if type(want) is dict:
        # JSON keys are strings: the result's keys as strings must be exactly the expected
        # ones, one to one ({1: 5, "1": 5} must not answer {"1": 5, "2": 7}).
        return (type(got) is dict and len(got) == len(want)
                and len({str(k) for k in got}) == len(got)
                and all(str(k) in want for k in got)
                and all(_same(v, want[str(k)], tolerance) for k, v in got.items()))
    return False


def _hex(text):
    return str(text)[:2000].encode("utf-8", "replace").hex()


def _opaque(link):
    if not link.handed:
        return ""
    kinds = sorted(set(link.handed))[:3]
    return (" (the solution returned objects of type %s: only None, bool, int, float, complex, "
            "str, bytes, list, tuple, dict and set cross to the tests as values; other objects "
            "cross as opaque handles, equal only to themselves)" % ", ".join(kinds))


def _outcome(link, test):
    """One test's outcome: P, A<hex> or E<hex>."""
    del link.problems[:]
    del link.handed[:]
    try:
        test()
        outcome = "P"
    except AssertionError as error:
        outcome = "A" + _hex(str(error) + _opaque(link))
    except BaseException as error:
        outcome = "E" + _hex(type(error).__name__ + ": " + str(error) + _opaque(link))
    if link.problems:
        outcome = "E" + _hex(link.problems[0])
    return outcome


_CONVENTIONAL_ALIASES = {
    ("np", "numpy"), ("pd", "pandas"), ("sp", "scipy"), ("plt", "matplotlib.pyplot"),
    ("it", "itertools"), ("ft", "functools"), ("op", "operator"), ("dt", "datetime"),
    ("coll", "collections"), ("hq", "heapq"), ("bs", "bisect"),
}


def _module_alias(name, module):
    """Whether `name` may stand for `module` in the tests: its own name, its last dotted part
    (`import os.path`), or a conventional alias (`np` for numpy)."""
    return (name == module or name == module.split(".")[0] or name == module.rsplit(".", 1)[-1]
            or (name, module) in _CONVENTIONAL_ALIASES)


def _namespace(link, first, setup, prelude, must_proxy):
    """The tests' namespace: setup, the trusted prelude, then proxies of the solution's names
    (and the driver's own copies of the modules it imported); an error message instead when the
    solution or the setup did not load."""
    if type(first) is not dict or not ("ready" in first or "load_failed" in first):
        return "the program ended before its functions could be called"
    if "load_failed" in first:
        return str(first["load_failed"])
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(setup, "<test setup>", "exec"), namespace)
    except BaseException as error:
        return "the test setup raised: " + type(error).__name__ + ": " + str(error)
    if prelude:
        # The item's prompt (HumanEval): helpers the tests call are the prompt's, not the
        # solution's. A prompt that does not run on its own is skipped.
        try:
            exec(compile(prelude, "<prompt>", "exec"), namespace)
        except BaseException:
            pass
    exports = first["ready"] if type(first["ready"]) is dict else {}
    for name, kind in exports.items():
        if type(name) is not str or not name.isidentifier() or type(kind) is not str:
            continue
        # What the tests already have (setup, prelude) and the builtins they use (`len`,
        # `abs`, `sorted`, ...) stay theirs: a solution that defines `len` does not decide
        # what the tests measure. The functions under test are the solution's whatever their
        # names (`must_proxy`).
        taken = name in namespace or hasattr(_builtins, name) or name.startswith("__")
        if taken and name not in must_proxy:
            continue
        if kind.startswith("module:"):
            module = kind[len("module:"):]
            # The solution does not choose what a name in the tests means: a module it
            # imported is bound under the module's own name (or a conventional alias), never
            # as `import numpy as math` would have it.
            if not _module_alias(name, module):
                continue
            try:
                __import__(module)
                namespace[name] = _moj_sys.modules[module]
            except BaseException:
                pass
        else:
            namespace[name] = _Remote(link, name)
    return namespace


def _moj_drive(nonce, prefix, setup, prelude, must_proxy, tests, calls, tolerance, _sys=_moj_sys):
    _sys.set_int_max_str_digits(0)
    # The tests' own prints must not reach the request pipe.
    _sys.stdout = _sys.stderr = _Sink()

    def report(line):
        data = ("\n" + nonce + " " + line + "\n").encode()
        while data:
            data = data[_os.write(2, data):]

    link = _Link(prefix)
    first = None
    try:
        first = link.receive()
    except _SolutionGone:
        pass
    namespace = _namespace(link, first, setup, prelude, must_proxy)
    if type(namespace) is str:
        report("L:" + _hex(namespace))
        return
    outcomes = []
    for index, test in enumerate(tests):
        code = compile(test, "<test %d>" % index, "exec")
        outcomes.append(_outcome(link, lambda: exec(code, namespace)))
    if calls is not None:
        function_name, cases = calls

        def call(args, want):
            function = namespace.get(function_name)
            if function is None:
                raise NameError("the solution defines no function %r" % function_name)
            got = function(*args) if type(args) is list else function(args)
            if not (_same(got, want, tolerance) or _same([got], want, tolerance)):
                raise AssertionError("returned %r, expected %r" % (got, want))

        for args, want in cases:
            outcomes.append(_outcome(link, lambda: call(args, want)))
    report("T:" + ",".join(outcomes))
