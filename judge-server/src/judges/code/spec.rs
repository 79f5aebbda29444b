//! The tests of one item, read from its metadata in the formats of the usual datasets, so rows
//! can be posted unchanged. Checked in order; the first present wins:
//! - HumanEval: `test` (defines `check(candidate)`) + `entry_point`
//! - MBPP: `test_list` (assert statements), optional `test_imports`, `test_setup_code`
//! - the paper's `unit_tests`: a string of asserts, or a list of them
//! - APPS: `input_output` (`{inputs, outputs, fn_name?}`, or that object as a JSON string);
//!   with `fn_name` a function call per case, else stdin/stdout
//! - `stdio`: `[{"input", "output"}]`

use serde_json::{Map, Value};

use crate::judges::InputError;

#[derive(Debug, Clone, PartialEq)]
pub enum TestSpec {
    /// Statements run after the solution, each an independent test.
    Asserts {
        /// Runs before the solution and before the tests (MBPP's imports and setup code).
        setup: String,
        /// Trusted code the tests may use, run in the test driver only (HumanEval's prompt:
        /// helpers such as `poly` that the tests call are the prompt's, not the solution's).
        prelude: String,
        /// The functions under test, the solution's even where their names are the prelude's
        /// or a builtin's (HumanEval's `entry_point`; MBPP's reference `code` defining `sum`).
        /// Any other builtin name the solution rebinds stays the tests' own.
        entry_points: Vec<String>,
        tests: Vec<String>,
    },
    /// Function calls compared with expected values (APPS with `fn_name`).
    Calls {
        function: String,
        cases: Vec<(Value, Value)>,
        /// `input_output` as the item gave it when it was a JSON string (as APPS and TACO
        /// store it): read again by the Python driver's own JSON reader, so its integers stay
        /// exact however many digits they have (`cases` holds serde_json's reading, in which
        /// integers beyond 64 bits are floats).
        source: Option<String>,
    },
    /// The program reads stdin and its stdout is compared with the expected output.
    Stdio { cases: Vec<(String, String)> },
}

/// Function-call cases as the harnesses take them: `[function, [[args, expected], ...]]`.
pub fn calls_value(function: &str, cases: &[(Value, Value)]) -> Value {
    let cases = cases
        .iter()
        .map(|(args, want)| Value::Array(vec![args.clone(), want.clone()]))
        .collect();
    Value::Array(vec![
        Value::String(function.to_owned()),
        Value::Array(cases),
    ])
}

/// What a test driver runs for asserts or calls (`TestSpec::driven`): the setup and trusted
/// prelude, the functions under test, then the assert statements or the calls.
pub struct Driven<'a> {
    pub setup: &'a str,
    pub prelude: &'a str,
    pub entry_points: &'a [String],
    pub tests: &'a [String],
    pub calls: Option<DrivenCalls<'a>>,
}

/// Call-style tests as a driver runs them (`TestSpec::Calls`).
pub struct DrivenCalls<'a> {
    pub function: &'a str,
    pub cases: &'a [(Value, Value)],
    pub source: Option<&'a str>,
}

impl TestSpec {
    /// The spec as a test driver runs it; `None` for stdio tests, which run the solution itself.
    pub fn driven(&self) -> Option<Driven<'_>> {
        match self {
            TestSpec::Asserts {
                setup,
                prelude,
                entry_points,
                tests,
            } => Some(Driven {
                setup,
                prelude,
                entry_points,
                tests,
                calls: None,
            }),
            TestSpec::Calls {
                function,
                cases,
                source,
            } => Some(Driven {
                setup: "",
                prelude: "",
                entry_points: &[],
                tests: &[],
                calls: Some(DrivenCalls {
                    function,
                    cases,
                    source: source.as_deref(),
                }),
            }),
            TestSpec::Stdio { .. } => None,
        }
    }

    pub fn count(&self) -> usize {
        match self {
            TestSpec::Asserts { tests, .. } => tests.len(),
            TestSpec::Calls { cases, .. } => cases.len(),
            TestSpec::Stdio { cases } => cases.len(),
        }
    }
}

fn error(field: &str, message: impl Into<String>) -> InputError {
    InputError {
        field: format!("metadata.{field}"),
        message: message.into(),
    }
}

fn string<'a>(
    metadata: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, InputError> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(error(field, "must be a string")),
    }
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, InputError> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| error(&format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        _ => Err(error(field, "must be a string or a list of strings")),
    }
}

fn python_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The functions an item says are under test: `entry_point`, and the top-level `def`s of its
/// reference solution `code` (MBPP rows carry one).
fn named_functions(metadata: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = metadata
        .get("entry_point")
        .and_then(Value::as_str)
        .filter(|name| python_identifier(name))
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(code) = metadata.get("code").and_then(Value::as_str) {
        for line in code.lines() {
            let Some(rest) = line.strip_prefix("def ") else {
                continue;
            };
            let name = rest.split('(').next().unwrap_or("").trim();
            if python_identifier(name) && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Reads the item's tests; malformed or missing tests are an input error (a 4xx), never a pass.
pub fn from_metadata(metadata: &Map<String, Value>) -> Result<TestSpec, InputError> {
    if let Some(test) = string(metadata, "test")? {
        return humaneval(metadata, test);
    }
    if let Some(list) = metadata.get("test_list") {
        return non_empty(mbpp(metadata, list)?, "test_list");
    }
    if let Some(unit_tests) = metadata.get("unit_tests") {
        let spec = TestSpec::Asserts {
            setup: String::new(),
            prelude: String::new(),
            entry_points: named_functions(metadata),
            tests: strings(unit_tests, "unit_tests")?,
        };
        return non_empty(spec, "unit_tests");
    }
    if let Some(io) = metadata.get("input_output") {
        return non_empty(apps(io)?, "input_output");
    }
    if let Some(cases) = metadata.get("stdio") {
        return non_empty(stdio(cases)?, "stdio");
    }
    Err(InputError {
        field: "metadata".into(),
        message: "no tests: give `test` + `entry_point` (HumanEval), `test_list` (MBPP), `unit_tests`, `input_output` (APPS) or `stdio`".into(),
    })
}

/// HumanEval: `test` defines `check(candidate)`, called with `entry_point`; the prompt's
/// helpers are the tests'.
fn humaneval(metadata: &Map<String, Value>, test: &str) -> Result<TestSpec, InputError> {
    let entry_point = string(metadata, "entry_point")?.ok_or_else(|| {
        error(
            "entry_point",
            "HumanEval tests need `entry_point` next to `test`",
        )
    })?;
    if !python_identifier(entry_point) {
        return Err(error("entry_point", "must be a Python identifier"));
    }
    Ok(TestSpec::Asserts {
        setup: String::new(),
        prelude: metadata
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        entry_points: vec![entry_point.to_owned()],
        tests: vec![format!("{test}\ncheck({entry_point})")],
    })
}

/// MBPP: `test_list` asserts, with `test_imports` and `test_setup_code` run first.
fn mbpp(metadata: &Map<String, Value>, list: &Value) -> Result<TestSpec, InputError> {
    let tests = strings(list, "test_list")?;
    let mut setup = String::new();
    if let Some(imports) = metadata.get("test_imports").filter(|v| !v.is_null()) {
        setup.push_str(&strings(imports, "test_imports")?.join("\n"));
        setup.push('\n');
    }
    if let Some(code) = string(metadata, "test_setup_code")? {
        setup.push_str(code);
    }
    Ok(TestSpec::Asserts {
        setup,
        prelude: String::new(),
        entry_points: named_functions(metadata),
        tests,
    })
}

/// APPS `input_output` (an object, or that object as a JSON string): function calls with
/// `fn_name`, else stdin/stdout cases.
fn apps(io: &Value) -> Result<TestSpec, InputError> {
    let parsed;
    let (io, source) = match io {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|e| error("input_output", format!("is a string but not JSON: {e}")))?;
            (&parsed, Some(text.clone()))
        }
        other => (other, None),
    };
    let object = io.as_object().ok_or_else(|| {
        error(
            "input_output",
            "must be an object with `inputs` and `outputs`",
        )
    })?;
    let list = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| error(&format!("input_output.{name}"), "must be a list"))
    };
    let (inputs, outputs) = (list("inputs")?, list("outputs")?);
    if inputs.len() != outputs.len() {
        return Err(error(
            "input_output",
            format!("{} inputs but {} outputs", inputs.len(), outputs.len()),
        ));
    }
    let Some(function) = object.get("fn_name").and_then(Value::as_str) else {
        let cases = inputs
            .iter()
            .zip(outputs)
            .enumerate()
            .map(|(i, (input, output))| {
                Ok((
                    apps_text(input, format!("input_output.inputs[{i}]"))?,
                    apps_text(output, format!("input_output.outputs[{i}]"))?,
                ))
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        return Ok(TestSpec::Stdio { cases });
    };
    if !python_identifier(function) {
        return Err(error("input_output.fn_name", "must be a Python identifier"));
    }
    Ok(TestSpec::Calls {
        function: function.to_owned(),
        cases: inputs
            .iter()
            .cloned()
            .zip(outputs.iter().cloned())
            .collect(),
        source,
    })
}

/// An APPS stdin or stdout: a string, or a list of lines.
fn apps_text(value: &Value, field: String) -> Result<String, InputError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Array(lines) => Ok(lines
            .iter()
            .map(|l| {
                l.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| l.to_string())
            })
            .collect::<Vec<_>>()
            .join("\n")),
        _ => Err(error(&field, "must be a string")),
    }
}

/// `stdio: [{input, output}]`.
fn stdio(cases: &Value) -> Result<TestSpec, InputError> {
    let cases = cases
        .as_array()
        .ok_or_else(|| error("stdio", "must be a list of {input, output}"))?;
    let cases = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let field = |name: &str| {
                case.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| error(&format!("stdio[{i}].{name}"), "must be a string"))
            };
            Ok((field("input")?, field("output")?))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(TestSpec::Stdio { cases })
}

fn non_empty(spec: TestSpec, field: &str) -> Result<TestSpec, InputError> {
    if spec.count() == 0 {
        Err(error(field, "has no tests"))
    } else {
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(metadata: Value) -> Result<TestSpec, InputError> {
        from_metadata(metadata.as_object().unwrap())
    }

    #[test]
    fn reads_every_format() {
        let human_eval =
            parse(json!({"test": "def check(c):\n    assert c(1) == 2", "entry_point": "inc"}))
                .unwrap();
        assert_eq!(human_eval.count(), 1);
        let mbpp = parse(json!({"test_list": ["assert f(1) == 1", "assert f(2) == 4"], "test_imports": ["import math"], "test_setup_code": ""})).unwrap();
        assert!(
            matches!(&mbpp, TestSpec::Asserts { setup, tests, .. } if setup.starts_with("import math") && tests.len() == 2)
        );
        let named = parse(json!({"test_list": ["assert sum(1, 2) == 3"], "code": "import math\ndef sum(a, b):\n    return a + b\n\ndef helper():\n    pass\n"})).unwrap();
        assert!(
            matches!(&named, TestSpec::Asserts { entry_points, .. } if entry_points == &["sum", "helper"])
        );
        assert_eq!(
            parse(json!({"unit_tests": "assert True\nassert 1"}))
                .unwrap()
                .count(),
            1
        );
        let apps =
            parse(json!({"input_output": "{\"inputs\": [\"1 2\\n\"], \"outputs\": [\"3\\n\"]}"}))
                .unwrap();
        assert_eq!(
            apps,
            TestSpec::Stdio {
                cases: vec![("1 2\n".into(), "3\n".into())]
            }
        );
        let calls = parse(
            json!({"input_output": {"inputs": [[1, 2]], "outputs": [[3]], "fn_name": "add"}}),
        )
        .unwrap();
        assert!(matches!(calls, TestSpec::Calls { ref function, .. } if function == "add"));
        let stdio = parse(json!({"stdio": [{"input": "x", "output": "y"}]})).unwrap();
        assert_eq!(stdio.count(), 1);
    }

    #[test]
    fn malformed_tests_name_the_field() {
        let field = |metadata: Value| parse(metadata).unwrap_err().field;
        assert_eq!(field(json!({})), "metadata");
        assert_eq!(field(json!({"test": "x"})), "metadata.entry_point");
        assert_eq!(
            field(json!({"test": "x", "entry_point": "a b"})),
            "metadata.entry_point"
        );
        assert_eq!(field(json!({"test_list": []})), "metadata.test_list");
        assert_eq!(
            field(json!({"test_list": ["ok", 3]})),
            "metadata.test_list[1]"
        );
        assert_eq!(field(json!({"input_output": "{"})), "metadata.input_output");
        assert_eq!(
            field(json!({"input_output": {"inputs": [1], "outputs": []}})),
            "metadata.input_output"
        );
        assert_eq!(
            field(json!({"stdio": [{"input": "x"}]})),
            "metadata.stdio[0].output"
        );
    }
}
