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
import sys as _moj_sys


def _moj_drive(nonce, prefix, setup, prelude, must_proxy, tests, calls, tolerance, _sys=_moj_sys):
    import builtins
    import io
    import json

    _sys.set_int_max_str_digits(0)
    requests = open(1, "wb", buffering=0, closefd=False)
    replies = open(0, "rb", closefd=False)
    report_to = open(2, "wb", buffering=0, closefd=False)
    frame = prefix.encode()
    flood_limit = 16 << 20

    class Sink(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            return len(data)

    # The tests' own prints must not reach the request pipe.
    _sys.stdout = io.TextIOWrapper(io.BufferedWriter(Sink()), write_through=True)
    _sys.stderr = io.TextIOWrapper(io.BufferedWriter(Sink()), write_through=True)

    def encode_text(text):
        return str(text)[:2000].encode("utf-8", "replace").hex()

    def report(line):
        report_to.write(("\n" + nonce + " " + line + "\n").encode())

    # Problems that fail the current test whatever the test does with the exception (a test may
    # swallow exceptions; it cannot swallow these).
    problems = []
    gone = []
    # Types of the objects the solution handed over as handles during the current test.
    handed = []

    class SolutionGone(Exception):
        pass

    class CannotCross(Exception):
        pass

    class SolutionException(Exception):
        pass

    def problem(message, kind=CannotCross):
        problems.append(message)
        raise kind(message)

    def receive():
        skipped = 0
        while True:
            line = replies.readline(flood_limit)
            if not line:
                gone.append("the solution's process ended (exit, crash, time or memory limit)")
                problem(gone[0], SolutionGone)
            if line.startswith(frame) and line.endswith(b"\n"):
                return json.loads(line[len(frame):])
            skipped += len(line)
            if skipped > flood_limit:
                gone.append("the solution wrote more than 16 MiB of stray output to its stdout")
                problem(gone[0], SolutionGone)

    import collections
    import fractions
    import decimal
    import importlib

    def number(value):
        if type(value) not in (int, float):
            raise ValueError("malformed number")
        return value

    def pairs(body):
        result = []
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed mapping")
            result.append((decode(pair[0]), decode(pair[1])))
        return result

    def decode(value):
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is list:
            return [decode(item) for item in value]
        if kind is not dict or len(value) not in (1, 2):
            raise ValueError("malformed value")
        if "h" in value:
            handle, name = value["h"], value.get("c")
            if type(handle) is not int or type(name) is not str:
                raise ValueError("malformed handle")
            handed.append(name)
            return Handle(handle, name)
        ((tag, body),) = value.items()
        if tag == "m" and type(body) is str:
            return BoundMethod(current_handle[-1], body)
        if tag in ("b", "ba", "dec"):
            if type(body) is not str:
                raise ValueError("malformed " + tag)
            if tag == "b":
                return bytes.fromhex(body)
            if tag == "ba":
                return bytearray.fromhex(body)
            return decimal.Decimal(body)
        if type(body) is not list:
            raise ValueError("malformed " + tag)
        if tag == "t":
            return tuple(decode(item) for item in body)
        if tag == "d":
            return dict(pairs(body))
        if tag == "cnt":
            return collections.Counter(dict(pairs(body)))
        if tag == "od":
            return collections.OrderedDict(pairs(body))
        if tag == "s":
            return {decode(item) for item in body}
        if tag == "z":
            return frozenset(decode(item) for item in body)
        if tag == "dq":
            return collections.deque(decode(item) for item in body)
        if tag == "cx" and len(body) == 2:
            return complex(number(body[0]), number(body[1]))
        if tag == "fr" and len(body) == 2 and all(type(x) is int for x in body):
            return fractions.Fraction(body[0], body[1])
        raise ValueError("unknown tag")

    def encode(value):
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is list:
            return [encode(item) for item in value]
        if kind is tuple:
            return {"t": [encode(item) for item in value]}
        if kind is dict or kind is collections.defaultdict:
            return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
        if kind is collections.Counter:
            return {"cnt": [[encode(k), encode(v)] for k, v in value.items()]}
        if kind is collections.OrderedDict:
            return {"od": [[encode(k), encode(v)] for k, v in value.items()]}
        if kind is set:
            return {"s": [encode(item) for item in value]}
        if kind is frozenset:
            return {"z": [encode(item) for item in value]}
        if kind is collections.deque:
            return {"dq": [encode(item) for item in value]}
        if kind is bytes:
            return {"b": value.hex()}
        if kind is bytearray:
            return {"ba": value.hex()}
        if kind is complex:
            return {"cx": [value.real, value.imag]}
        if kind is fractions.Fraction:
            return {"fr": [value.numerator, value.denominator]}
        if kind is decimal.Decimal:
            return {"dec": str(value)}
        if kind is Handle:
            return {"h": object.__getattribute__(value, "_h")}
        problem("a test passes a value of type %s to the solution, which cannot cross"
                % kind.__qualname__)

    def rebuild(name, message, bases):
        base = SolutionException
        for candidate in bases if type(bases) is list else []:
            found = getattr(builtins, str(candidate), None)
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
            return SolutionException(name + ": " + str(message))

    current_handle = [None]

    def rpc(request, args=(), kwargs=None, handle=None, stop_iteration=False):
        if gone:
            problem(gone[0], SolutionGone)
        request["args"] = [encode(a) for a in args]
        request["kwargs"] = [[k, encode(v)] for k, v in (kwargs or {}).items()]
        try:
            requests.write((json.dumps(request) + "\n").encode())
        except OSError:
            gone.append("the solution's process ended (exit, crash, time or memory limit)")
            problem(gone[0], SolutionGone)
        reply = receive()
        current_handle.append(handle)
        raised = None
        try:
            if type(reply) is not dict:
                raise ValueError("malformed reply")
            if "ok" in reply:
                value = decode(reply["ok"])
                for index, now in reply.get("mut", []):
                    copy_back(args[index], decode(now))
                return value
            if "raise" in reply:
                name, text, bases = reply["raise"]
                raised = StopIteration() if stop_iteration and name == "StopIteration" else (
                    rebuild(name, text, bases))
            else:
                raise ValueError("malformed reply")
        except (ValueError, TypeError, KeyError, IndexError) as error:
            message = "the solution's reply could not be read: %s" % error
        finally:
            current_handle.pop()
        if raised is not None:
            raise raised
        problem(message)

    def copy_back(original, now):
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

    class Remote:
        __slots__ = ("_name",)

        def __init__(self, name):
            object.__setattr__(self, "_name", name)

        def __call__(self, *args, **kwargs):
            return rpc({"op": "call", "name": self._name}, args, kwargs)

        def __repr__(self):
            return "<solution's %s>" % self._name

    class BoundMethod:
        __slots__ = ("_h", "_name")

        def __init__(self, handle, name):
            object.__setattr__(self, "_h", handle)
            object.__setattr__(self, "_name", name)

        def __call__(self, *args, **kwargs):
            return rpc({"op": "method", "h": self._h, "name": self._name}, args, kwargs,
                       handle=self._h)

        def __eq__(self, other):
            return self is other

        def __hash__(self):
            return id(self)

    class Handle:
        """An object of the solution's: attribute reads and method calls are forwarded;
        equality is identity (the solution does not decide what equals its objects)."""

        __slots__ = ("_h", "_c")

        def __init__(self, handle, name):
            object.__setattr__(self, "_h", handle)
            object.__setattr__(self, "_c", name)

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            handle = object.__getattribute__(self, "_h")
            return rpc({"op": "getattr", "h": handle, "name": name}, handle=handle)

        def _dunder(self, name, *args, stop=False):
            handle = object.__getattribute__(self, "_h")
            return rpc({"op": "dunder", "h": handle, "name": name}, args, handle=handle,
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

    def same(got, want):
        """APPS call results: integers exactly, floats within the relative tolerance, strings
        and booleans exactly, tuples as lists, element by element."""
        if type(want) is bool or want is None or type(want) is str:
            return type(got) is type(want) and got == want
        if type(want) is int:
            return type(got) is int and got == want
        if type(want) is float:
            if type(got) not in (int, float):
                return False
            if got == want:
                return True
            return abs(got - want) <= tolerance * max(abs(got), abs(want), 1e-300)
        if type(want) is list:
            if type(got) is tuple:
                got = list(got)
            return (type(got) is list and len(got) == len(want)
                    and all(same(g, w) for g, w in zip(got, want)))
        if type(want) is dict:
            return (type(got) is dict and len(got) == len(want)
                    and all(str(k) in want for k in got)
                    and all(same(v, want[str(k)]) for k, v in got.items()))
        return False

    namespace = {"__name__": "__main__"}
    first = None
    try:
        first = receive()
    except SolutionGone:
        pass
    if type(first) is not dict or not ("ready" in first or "load_failed" in first):
        report("L:" + encode_text("the program ended before its functions could be called"))
        return
    if "load_failed" in first:
        report("L:" + encode_text(first["load_failed"]))
        return
    try:
        exec(compile(setup, "<test setup>", "exec"), namespace)
    except BaseException as error:
        report("L:" + encode_text("the test setup raised: " + type(error).__name__ + ": "
                                  + str(error)))
        return
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
        if name in namespace and name not in must_proxy:
            continue
        if kind.startswith("module:"):
            # The driver's own copy of a module the solution imported.
            try:
                namespace[name] = importlib.import_module(kind[len("module:"):])
            except BaseException:
                pass
        else:
            namespace[name] = Remote(name)

    outcomes = []

    def run(test):
        del problems[:]
        del handed[:]
        try:
            test()
            outcome = "P"
        except AssertionError as error:
            outcome = "A" + encode_text(str(error) + opaque())
        except BaseException as error:
            outcome = "E" + encode_text(type(error).__name__ + ": " + str(error) + opaque())
        if problems:
            outcome = "E" + encode_text(problems[0])
        outcomes.append(outcome)

    def opaque():
        if not handed:
            return ""
        kinds = sorted(set(handed))[:3]
        return (" (the solution returned objects of type %s: only None, bool, int, float, "
                "complex, str, bytes, list, tuple, dict and set cross to the tests as values; "
                "other objects cross as opaque handles, equal only to themselves)"
                % ", ".join(kinds))

    for index, test in enumerate(tests):
        code = compile(test, "<test %d>" % index, "exec")
        run(lambda: exec(code, namespace))
    if calls is not None:
        function_name, cases = calls

        def call(args, want):
            function = namespace.get(function_name)
            if function is None:
                raise NameError("the solution defines no function %r" % function_name)
            got = function(*args) if type(args) is list else function(args)
            if not (same(got, want) or same([got], want)):
                raise AssertionError("returned %r, expected %r" % (got, want))

        for args, want in cases:
            run(lambda: call(args, want))
    report("T:" + ",".join(outcomes))
