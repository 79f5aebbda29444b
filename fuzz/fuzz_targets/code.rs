//! The code judge's text routines on arbitrary input: extraction returns a slice of the
//! response (or nothing only when a fence is required), and stdout comparison is reflexive,
//! never panics, and ignores surrounding whitespace.
//!
//! Input: `response NUL expected-output` (bytes; invalid UTF-8 replaced); case-insensitive
//! comparison when the input's length is odd. Seeds: `fuzz/seeds/code/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moj_code::{Comparison, Extraction, extract, outputs_match};

const TAGS: &[&str] = &["python", "py", "python3"];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (response, other) = text.split_once('\0').unwrap_or((&text, ""));
    let case_insensitive = data.len() % 2 == 1;
    for mode in [Extraction::LastFenceOrWhole, Extraction::LastFence, Extraction::Whole] {
        match extract(response, TAGS, mode) {
            Some(code) => {
                let start = code.as_ptr() as usize - response.as_ptr() as usize;
                assert!(start + code.len() <= response.len(), "not a slice of the response");
            }
            None => assert_eq!(mode, Extraction::LastFence),
        }
    }
    let options = Comparison {
        relative_tolerance: 1e-5,
        case_insensitive,
    };
    let _ = outputs_match(response, other, options);
    let _ = outputs_match(other, response, options);
    // Reflexive unless the text holds a number that is not equal to itself (NaN spellings).
    let has_nan = response
        .split_whitespace()
        .any(|t| t.parse::<f64>().is_ok_and(f64::is_nan));
    if !has_nan {
        assert!(outputs_match(response, response, options).is_ok());
        let padded = format!("  \n{response}\n\n");
        assert!(outputs_match(&padded, response, options).is_ok());
    }
});
