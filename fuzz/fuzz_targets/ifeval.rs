//! The IFEval checks on arbitrary specs and responses: parsing a spec never panics, every
//! check runs to the end on any response, twice with the same result, and a strict pass is
//! always a loose pass.
//!
//! Input: `instruction-id NUL kwargs NUL response` (bytes; invalid UTF-8 replaced); an unknown
//! id picks one of the known ones by its length. Seeds: `fuzz/seeds/ifeval/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moj_ifeval::{INSTRUCTION_IDS, check, parse_instructions};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let (id, kwargs, response) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let id = if INSTRUCTION_IDS.contains(&id) {
        id
    } else {
        INSTRUCTION_IDS[id.len() % INSTRUCTION_IDS.len()]
    };
    // kwargs as the fuzzer wrote them when they are JSON, else as one string value per
    // common argument name, so both the parser and the checks get exercised.
    let kwargs: Value = serde_json::from_str(kwargs).unwrap_or_else(|_| {
        json!({
            "keywords": [kwargs], "keyword": kwargs, "forbidden_words": [kwargs],
            "end_phrase": kwargs, "first_word": kwargs, "prompt_to_repeat": kwargs,
            "section_spliter": kwargs, "language": kwargs, "letter": kwargs,
        })
    });
    let Ok(instructions) = parse_instructions(&json!([id]), &json!([kwargs])) else {
        return;
    };
    let first = check(response, &instructions);
    let second = check(response, &instructions);
    assert_eq!(first.len(), instructions.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.strict, a.loose), (b.strict, b.loose), "{id}: not deterministic");
        assert!(!a.strict || a.loose, "{id}: strict pass but loose fail");
    }
});
