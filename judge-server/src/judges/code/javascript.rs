//! The JavaScript harness: QuickJS-ng for WASI, run as `qjs --std -e PROGRAM`.
//!
//! One program serves both test styles. It captures the builtins it needs, installs the test
//! and Node-style globals, then evaluates the item's setup and the solution with
//! `std.evalScript` (global scope, so `let`/`const`/`class` declarations are visible to tests).
//!
//! What tests may use (assert style: `unit_tests`, `test_list`, HumanEval `test` +
//! `entry_point`; each test runs as the body of its own function, synchronously):
//! - `assert(value, message?)`, `console.assert(value, message?)` (unlike Node's, it throws), and
//!   the Node `assert` module as `assert.*` or `require("assert" | "node:assert" |
//!   "assert/strict" | "node:assert/strict")`: `ok`, `equal`, `notEqual`, `strictEqual`,
//!   `notStrictEqual`, `deepEqual`, `deepStrictEqual`, `notDeepEqual`, `notDeepStrictEqual`,
//!   `throws`, `fail` (the `strict` flavour maps `equal` to `strictEqual` and so on). Deep
//!   equality covers primitives, arrays and plain objects; other objects (Map, Set, Date, class
//!   instances) are equal only when identical, so a deep comparison never passes by accident.
//! - APPS `fn_name` cases call the named global function and compare like the Python harness
//!   (numbers within 1e-5 relative, arrays element-wise, `[result]` against the expected list).
//!
//! stdin/stdout programs may read input with `readline()` (a line, `null` at the end),
//! `std.in.readAsString()`, `require("fs").readFileSync(0 | "/dev/stdin")`,
//! `process.stdin.on("data" | "end", ...)` or `require("readline").createInterface(...)` (`on("line"
//! | "close")` and `for await`), and write with `console.log`, `print` or
//! `process.stdout.write`; `process.exit(code)` ends the run. `module.exports`/`exports` exist,
//! so CommonJS-style solutions load; ES module syntax (`import`/`export`) does not.
//!
//! Reward-hack resistance (as for Python): the nonce arrives on stdin and is read before the
//! solution runs, so it lives only in a closure the solution cannot reach (the program text does
//! not contain it and stdin is not seekable). The report is written through captured
//! `std.out.puts`, built with string concatenation only, and the run ends with a captured
//! `std.exit(0)` right after it. `assert`, `console`, `console.assert` and `require` are
//! non-writable, non-configurable globals, so a solution cannot replace or shadow them (trying is
//! an error before the tests run). `std.exit(0)`, `process.exit(0)`, a thrown value or a fake
//! "PASS" line all leave no valid report and fail.
//!
//! The solution and the tests share one QuickJS realm (unlike Python's two instances,
//! `harness.rs`): JavaScript offers a solution no frame introspection (strict-mode `caller` is
//! poisoned), no heap enumeration and no operator overloading for `===`, so what the tests share
//! with it is the realm's mutable state: the intrinsics (`JSON.stringify`, `Math.random`,
//! `Array.prototype.join`, iterator prototypes, ...) and the global bindings naming them.
//! `harden` freezes those before the solution runs (after the item's trusted setup), and makes
//! every global binding non-writable and non-configurable; assignments that would only shadow an
//! inherited property on the solution's own objects (`this.name` in an Error subclass,
//! `P.prototype.toString = ...`) still work. A solution that patches a builtin fails to load
//! (strict code) or patches nothing (sloppy code); redeclaring a builtin global's name
//! (`function print() {}`, `var escape`), which Node would allow, fails to load. Cost: ~4.5 ms
//! per run (docs/benchmarks.md). stdio programs run unhardened: their output is compared
//! outside.

use serde_json::{Value, json};

use super::harness::{Harness, Invocation, TestJob, TestRun, literal};
use super::spec::calls_value;
use crate::sandbox::Language;

pub struct JavaScript;

pub static JAVASCRIPT: JavaScript = JavaScript;

pub(super) const TEMPLATE: &str = r#"(data) => {
"use strict";
const G = globalThis, apply = Reflect.apply, O = Object;
const defineProperty = O.defineProperty, freeze = O.freeze, keys = O.keys, is = O.is;
const getPrototypeOf = O.getPrototypeOf, hasOwn = O.prototype.hasOwnProperty;
const isArray = Array.isArray, isInteger = Number.isInteger, isFinite = Number.isFinite, ObjectProto = O.prototype, ArrayProto = Array.prototype;
const Str = String, Fn = Function, Err = Error, Prom = Promise, stringify = JSON.stringify;
const encode = encodeURIComponent, slice = Str.prototype.slice, split = Str.prototype.split;
const charCodeAt = Str.prototype.charCodeAt, resolve = Prom.resolve, then = Prom.prototype.then;
const S = std, evalScript = S.evalScript, input = S.in, out = S.out, err = S.err, exit = S.exit;
const getline = input.getline, readAsString = input.readAsString, puts = out.puts, flush = out.flush;
const getOwnPropertyNames = O.getOwnPropertyNames, getOwnPropertySymbols = O.getOwnPropertySymbols;
const getOwnPropertyDescriptor = O.getOwnPropertyDescriptor, TypeErr = TypeError;
const push = ArrayProto.push, pop = ArrayProto.pop, concat = ArrayProto.concat;
const tests = data.mode === "tests";
const nonce = tests ? apply(getline, input, []) : "";
const text = (value) => { try { return Str(value); } catch (e) { return "<unprintable>"; } };
const show = (value) => { try { const s = stringify(value); if (typeof s === "string") return s; } catch (e) {} return text(value); };
const describe = (error) => {
  try { if (error !== null && typeof error === "object") return text(error.name) + ": " + text(error.message); } catch (e) {}
  return text(error);
};
const DIGITS = "0123456789abcdef";
const hex = (value) => {
  let s = apply(slice, text(value), [0, 2000]);
  try { s = encode(s); } catch (e) { s = "%3Cunencodable%3E"; }
  let h = "";
  for (let i = 0; i < s.length; i++) {
    const c = apply(charCodeAt, s, [i]);
    if (c === 37) { h += apply(slice, s, [i + 1, i + 3]); i += 2; } else { h += DIGITS[c >> 4] + DIGITS[c & 15]; }
  }
  return h;
};
let lastAssertion = null;
class AssertionError extends Err {}
const fail = (message, fallback) => {
  const error = new AssertionError(message === undefined ? fallback : text(message));
  defineProperty(error, "name", { value: "AssertionError" });
  lastAssertion = error;
  throw error;
};
const plain = (v) => { const p = getPrototypeOf(v); return p === ObjectProto || p === ArrayProto || p === null; };
const deep = (a, b, strict) => {
  if (strict ? is(a, b) : (a == b || is(a, b))) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (!plain(a) || !plain(b) || isArray(a) !== isArray(b)) return false;
  if (strict && getPrototypeOf(a) !== getPrototypeOf(b)) return false;
  const ka = keys(a), kb = keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (!apply(hasOwn, b, [k]) || !deep(a[k], b[k], strict)) return false;
  }
  return true;
};
const close = (got, want) => {
  if (is(got, want) || got === want) return true;
  if (typeof got === "number" && typeof want === "number") {
    // Infinity is within any relative tolerance of any number (Infinity <= 1e-5 * Infinity).
    if (isInteger(want) || !isFinite(got)) return false;
    const scale = got < 0 ? -got : got, other = want < 0 ? -want : want, d = got - want;
    return (d < 0 ? -d : d) <= 1e-5 * (scale > other ? scale : other > 1e-300 ? other : 1e-300);
  }
  if (typeof got !== "object" || typeof want !== "object" || got === null || want === null) return false;
  if (!plain(got) || !plain(want) || isArray(got) !== isArray(want)) return false;
  const kg = keys(got), kw = keys(want);
  if (kg.length !== kw.length) return false;
  for (let i = 0; i < kw.length; i++) {
    const k = kw[i];
    if (!apply(hasOwn, got, [k]) || !close(got[k], want[k])) return false;
  }
  return true;
};
const makeAssert = (strict) => {
  const assert = (value, message) => { if (!value) fail(message, "assertion failed: " + show(value)); };
  const eq = (a, b) => strict ? is(a, b) : a == b;
  assert.ok = assert;
  assert.fail = (message) => fail(message, "failed");
  assert.equal = (a, b, m) => { if (!eq(a, b)) fail(m, show(a) + " == " + show(b)); };
  assert.notEqual = (a, b, m) => { if (eq(a, b)) fail(m, show(a) + " != " + show(b)); };
  assert.strictEqual = (a, b, m) => { if (!is(a, b)) fail(m, show(a) + " === " + show(b)); };
  assert.notStrictEqual = (a, b, m) => { if (is(a, b)) fail(m, show(a) + " !== " + show(b)); };
  assert.deepEqual = (a, b, m) => { if (!deep(a, b, strict)) fail(m, show(a) + " deepEqual " + show(b)); };
  assert.deepStrictEqual = (a, b, m) => { if (!deep(a, b, true)) fail(m, show(a) + " deepStrictEqual " + show(b)); };
  assert.notDeepEqual = (a, b, m) => { if (deep(a, b, strict)) fail(m, show(a) + " notDeepEqual " + show(b)); };
  assert.notDeepStrictEqual = (a, b, m) => { if (deep(a, b, true)) fail(m, show(a) + " notDeepStrictEqual " + show(b)); };
  assert.throws = (fn, expected, m) => {
    try { fn(); } catch (e) { return; }
    fail(typeof expected === "string" ? expected : m, "missing expected exception");
  };
  assert.AssertionError = AssertionError;
  return assert;
};
const assert = makeAssert(false), strictAssert = makeAssert(true);
assert.strict = strictAssert;
strictAssert.strict = strictAssert;
freeze(assert); freeze(strictAssert); freeze(AssertionError); freeze(AssertionError.prototype);
const stdinText = () => { const t = apply(readAsString, input, []); return typeof t === "string" ? t : ""; };
const stdinLines = () => {
  const lines = apply(split, stdinText(), ["\n"]);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.length -= 1;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length > 0 && apply(charCodeAt, l, [l.length - 1]) === 13) lines[i] = apply(slice, l, [0, -1]);
  }
  return lines;
};
const later = (fn) => { apply(then, apply(resolve, Prom, [undefined]), [fn]); };
const emitter = (deliver) => {
  const handlers = {}; let scheduled = false;
  const self = {
    on(event, fn) {
      if (!apply(hasOwn, handlers, [event])) handlers[event] = [];
      handlers[event][handlers[event].length] = fn;
      if (!scheduled) { scheduled = true; later(() => deliver((event, ...args) => { const list = handlers[event] || []; for (let i = 0; i < list.length; i++) list[i](...args); })); }
      return self;
    },
    setEncoding() { return self; }, resume() { return self; }, close() { return self; },
  };
  self.once = self.on; self.addListener = self.on;
  return self;
};
const fs = freeze({
  readFileSync(file) {
    if (file === 0 || file === "/dev/stdin") return stdinText();
    throw new Err("ENOENT: no such file or directory, open '" + text(file) + "'");
  },
});
const readlineModule = freeze({
  createInterface() {
    const rl = emitter((emit) => { const lines = stdinLines(); for (let i = 0; i < lines.length; i++) emit("line", lines[i]); emit("close"); });
    rl[Symbol.asyncIterator] = () => {
      const lines = stdinLines(); let i = 0;
      return { next: () => apply(resolve, Prom, [i < lines.length ? { value: lines[i++], done: false } : { value: undefined, done: true }]) };
    };
    return rl;
  },
});
const modules = { assert, "node:assert": assert, "assert/strict": strictAssert, "node:assert/strict": strictAssert,
  fs, "node:fs": fs, readline: readlineModule, "node:readline": readlineModule };
const require = (name) => {
  if (typeof name === "string" && apply(hasOwn, modules, [name])) return modules[name];
  throw new Err("Cannot find module '" + text(name) + "' (this sandbox offers assert, fs and readline)");
};
const process = {
  argv: ["node", "main.js"], env: {}, platform: "wasi", exitCode: undefined,
  exit: (code) => exit(code === undefined ? 0 : code),
  stdout: { write: (s) => { apply(puts, out, [text(s)]); return true; } },
  stderr: { write: (s) => { apply(puts, err, [text(s)]); return true; } },
  stdin: emitter((emit) => { const t = stdinText(); if (t !== "") emit("data", t); emit("end"); }),
};
const install = (name, value) => defineProperty(G, name, { value, writable: !tests, configurable: !tests, enumerable: false });
const console = G.console;
install("assert", assert);
install("require", require);
install("readline", () => apply(getline, input, []));
install("process", process);
defineProperty(console, "assert", { value: (value, message) => { if (!value) fail(message, "console.assert failed"); }, writable: !tests, configurable: !tests });
install("console", console);
const commonjs = { exports: {} };
defineProperty(G, "module", { value: commonjs, writable: true, configurable: true });
defineProperty(G, "exports", { value: commonjs.exports, writable: true, configurable: true });
if (!tests) { evalScript(data.solution); return; }
const report = (line) => { apply(puts, out, ["\n" + nonce + " " + line + "\n"]); apply(flush, out, []); exit(0); };
// Properties code assigns on its own objects, shadowing an inherited one (`this.name = ...` in
// an Error subclass, `P.prototype.toString = ...`): on a frozen prototype such an assignment
// would fail, so there they become accessors whose setter defines the property on the receiver.
const OVERRIDABLE = ["constructor", "name", "message", "toString", "valueOf", "toLocaleString", "toJSON"];
const tame = (proto, key, made) => {
  const d = getOwnPropertyDescriptor(proto, key);
  if (d === undefined || !apply(hasOwn, d, ["value"]) || !d.configurable) return;
  const value = d.value;
  const get = function () { return value; };
  const set = function (v) {
    if (this === proto) throw new TypeErr("Cannot assign to read only property '" + key + "' of a frozen intrinsic");
    defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
  };
  defineProperty(proto, key, { get, set, enumerable: d.enumerable, configurable: false });
  apply(push, made, [get, set]);
};
// Everything the tests share with the solution, frozen before it runs (a realm-wide walk costs
// ~7 ms of QuickJS-in-WebAssembly per run, so the intrinsics are reached by name instead): every
// global binding becomes non-writable and non-configurable (`globalThis.JSON = ...`, `var JSON`
// and `let JSON` are refused); every global object or function is frozen with its `prototype`,
// the members of global namespaces (JSON, Math, Reflect, console, std, os, process, ...) with
// theirs, and the prototypes only instances lead to (iterators, generators, typed arrays). The
// solution's own globals are still added; CommonJS `module` and `exports` stay writable.
const harden = () => {
  // QuickJS-ng's V8-style stack API: a setter for `Error.prepareStackTrace` survives freezing,
  // and with it `new Error().stack` hands out every frame's function, the tests' own source
  // included. Both become plain read-only values before anything is frozen.
  const stackLimit = Err.stackTraceLimit;
  try { defineProperty(Err, "prepareStackTrace", { value: undefined, writable: false, configurable: false }); } catch (e) {}
  try { defineProperty(Err, "stackTraceLimit", { value: stackLimit, writable: false, configurable: false }); } catch (e) {}
  const roots = [], prototypes = [], made = [];
  const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";
  const ownKeys = (v) => apply(concat, getOwnPropertyNames(v), [getOwnPropertySymbols(v)]);
  const dataValue = (o, k) => { try { const d = getOwnPropertyDescriptor(o, k); return d !== undefined && apply(hasOwn, d, ["value"]) ? d.value : undefined; } catch (e) { return undefined; } };
  const add = (v) => {
    if (!isObject(v) || v === G) return;
    apply(push, roots, [v]);
    if (typeof v === "function") {
      const p = dataValue(v, "prototype");
      if (isObject(p)) { apply(push, roots, [p]); apply(push, prototypes, [p]); }
    }
  };
  const globals = ownKeys(G);
  for (let i = 0; i < globals.length; i++) {
    const k = globals[i];
    if (k === "module" || k === "exports") continue;
    const d = getOwnPropertyDescriptor(G, k);
    const isData = apply(hasOwn, d, ["value"]);
    try { defineProperty(G, k, isData ? { writable: false, configurable: false } : { configurable: false }); } catch (e) {}
    if (!isData) continue;
    const v = d.value;
    add(v);
    if (typeof v === "object" && v !== null && v !== G) {
      const members = ownKeys(v);
      for (let j = 0; j < members.length; j++) add(dataValue(v, members[j]));
    }
  }
  const hidden = [
    function* () {}, async function () {}, async function* () {},
    [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](),
    ""[Symbol.iterator](), (function* () {})(), Int8Array,
  ];
  for (let i = 0; i < hidden.length; i++) {
    for (let p = getPrototypeOf(hidden[i]); p !== null && p !== ObjectProto; p = getPrototypeOf(p)) { add(p); apply(push, prototypes, [p]); }
  }
  for (let i = 0; i < prototypes.length; i++) {
    for (let j = 0; j < OVERRIDABLE.length; j++) { try { tame(prototypes[i], OVERRIDABLE[j], made); } catch (e) {} }
  }
  for (let i = 0; i < made.length; i++) freeze(made[i]);
  for (let i = 0; i < roots.length; i++) { try { freeze(roots[i]); } catch (e) {} }
};
try {
  evalScript(data.setup);
} catch (error) {
  report("L:" + hex(describe(error)));
}
// HumanEval's prompt (trusted, like the setup): its helpers (`poly` next to `findZero`) are
// what the tests call, whatever the solution defines under those names; only the entry point
// is the solution's. The prompt usually ends inside the entry point's unfinished body, so it
// is evaluated as it is, else closed with a brace; a prompt that does neither is skipped.
const helperNames = [], helperValues = [];
const declared = /^[ \t]*(?:export\s+)?(?:async\s+)?(?:function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|let|var|class)\s+([A-Za-z_$][\w$]*))/gm;
for (let m = declared.exec(data.prelude); m !== null; m = declared.exec(data.prelude)) {
  const name = m[1] || m[2];
  if (data.entryPoints.indexOf(name) < 0 && helperNames.indexOf(name) < 0) helperNames[helperNames.length] = name;
}
if (helperNames.length > 0) {
  const bodies = [data.prelude, data.prelude + "\n}"];
  for (let i = 0; i < bodies.length; i++) {
    try {
      const values = apply(Fn(bodies[i] + "\nreturn [" + helperNames.join(", ") + "];"), undefined, []);
      for (let j = 0; j < values.length; j++) helperValues[j] = values[j];
      break;
    } catch (e) {}
  }
  if (helperValues.length === 0) helperNames.length = 0;
}
harden();
try {
  evalScript(data.solution);
} catch (error) {
  report("L:" + hex(describe(error)));
}
let outcomes = "";
const record = (code) => { outcomes += (outcomes === "" ? "" : ",") + code; };
const failed = (error) => record(error === lastAssertion && error !== null ? "A" + hex(error.message) : "E" + hex(describe(error)));
for (let i = 0; i < data.tests.length; i++) {
  try {
    const test = apply(Fn, undefined, apply(concat, helperNames, [[data.tests[i]]]));
    apply(test, undefined, helperValues);
    record("P");
  } catch (error) { failed(error); }
}
if (data.calls !== null) {
  const name = data.calls[0], cases = data.calls[1];
  for (let i = 0; i < cases.length; i++) {
    try {
      const args = cases[i][0], want = cases[i][1];
      const fn = apply(Fn("return " + name), undefined, []);
      const got = isArray(args) ? apply(fn, undefined, args) : fn(args);
      if (close(got, want) || close([got], want)) record("P");
      else record("A" + hex("returned " + show(got) + ", expected " + show(want)));
    } catch (error) { failed(error); }
  }
}
report("T:" + outcomes);
}"#;

impl Harness for JavaScript {
    fn language(&self) -> Language {
        Language::JavaScript
    }

    fn fence_tags(&self) -> &'static [&'static str] {
        &["javascript", "js", "node", "nodejs", "mjs"]
    }

    fn tests(&self, job: &TestJob) -> Option<TestRun> {
        let (solution, nonce) = (job.solution, job.nonce);
        let driven = job.spec.driven()?;
        let calls = driven
            .calls
            .map_or(Value::Null, |c| calls_value(c.function, c.cases));
        let data = json!({
            "mode": "tests", "setup": driven.setup, "prelude": driven.prelude,
            "entryPoints": driven.entry_points, "solution": solution, "tests": driven.tests,
            "calls": calls,
        });
        Some(TestRun::Single(Invocation {
            args: program(&data),
            stdin: format!("{nonce}\n").into_bytes(),
        }))
    }

    fn stdio(&self, solution: &str, input: &str) -> Invocation {
        Invocation {
            args: program(&json!({"mode": "stdio", "solution": solution})),
            stdin: input.as_bytes().to_vec(),
        }
    }

    fn is_memory_error(&self, message: &str) -> bool {
        message.contains("out of memory")
    }
}

/// `qjs --std -e (TEMPLATE)(JSON.parse("..."))`: the data is one JSON string literal parsed
/// before the solution runs, so no text of the item can change the harness.
fn program(data: &Value) -> Vec<String> {
    let json = serde_json::to_string(data).expect("JSON");
    vec![
        "--std".to_owned(),
        "-e".to_owned(),
        format!("({TEMPLATE})(JSON.parse({}));\n", literal(&json)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judges::code::spec::TestSpec;

    #[test]
    fn the_nonce_travels_on_stdin_only() {
        let spec = TestSpec::Asserts {
            setup: String::new(),
            prelude: String::new(),
            entry_points: Vec::new(),
            tests: vec!["assert(f() === 1)".into()],
        };
        fn job<'a>(solution: &'a str, spec: &'a TestSpec, nonce: &'a str) -> TestJob<'a> {
            TestJob {
                solution,
                spec,
                nonce,
                relative_tolerance: 1e-5,
            }
        }
        let solution = "const f = () => 1; // \"})();";
        let Some(TestRun::Single(run)) = JAVASCRIPT.tests(&job(solution, &spec, "MOJ-abc")) else {
            panic!("JavaScript runs its tests in one instance");
        };
        assert_eq!(run.stdin, b"MOJ-abc\n");
        assert_eq!(&run.args[..2], ["--std", "-e"]);
        assert!(!run.args.iter().any(|a| a.contains("MOJ-abc")));
        assert!(run.args[2].contains(r#"const f = () => 1; // \\\"})();"#));
        let stdio = TestSpec::Stdio { cases: Vec::new() };
        assert!(JAVASCRIPT.tests(&job("x", &stdio, "n")).is_none());
        assert_eq!(JAVASCRIPT.stdio("x", "in").stdin, b"in");
    }
}
