//! The code judge's pure text routines, kept apart from the sandbox so that they can be
//! property-tested and fuzzed on their own (`fuzz/`):
//!
//! - [`extract`]: the program in a model's response (the last fenced block in the language,
//!   else the whole response);
//! - [`outputs_match`]: a program's stdout against the expected output, line by line, with a
//!   relative tolerance for numbers.
//!
//! ```
//! use moj_code::{Comparison, Extraction, extract, outputs_match};
//!
//! let response = "Sure:\n```python\nprint(1 / 3)\n```\n";
//! assert_eq!(extract(response, &["python"], Extraction::LastFence), Some("print(1 / 3)\n"));
//!
//! let options = Comparison { relative_tolerance: 1e-5, case_insensitive: false };
//! assert!(outputs_match("0.3333333\n", "0.33333334", options).is_ok());
//! ```

mod compare;
mod extract;

pub use compare::{Comparison, outputs_match};
pub use extract::{Extraction, extract};
