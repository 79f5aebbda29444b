//! The math judge on arbitrary (response, gold) pairs: extraction and verification finish
//! without panicking (the work budget bounds every step), agree with each other, and a plain
//! gold answer, boxed, is never "not equivalent" to itself.
//!
//! Input: `response NUL gold` (bytes; invalid UTF-8 replaced), as in `fuzz/seeds/math/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moj_math::{MathConfig, Outcome, extract_answer, verify};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (response, gold) = text.split_once('\0').unwrap_or((&text, ""));
    let config = MathConfig::default();
    let extracted = extract_answer(response, &config);
    let outcome = verify(response, gold, &config);
    match (&extracted, &outcome) {
        (None, Outcome::NoAnswer) => {}
        (Some(answer), Outcome::Equivalent { extracted })
        | (Some(answer), Outcome::NotEquivalent { extracted, .. })
        | (Some(answer), Outcome::Unverifiable { extracted, .. }) => {
            assert_eq!(answer, extracted, "verify reports what extract_answer finds")
        }
        _ => panic!("extract_answer {extracted:?} disagrees with verify {outcome:?}"),
    }
    // A plain gold answer against itself: never "not equivalent" (it may be unverifiable when
    // the budget runs out or it does not parse). Plain: no LaTeX, no delimiters, and no words
    // an extractor looks for ("The final answer is", "Answer:"), which would make the checker
    // rightly take another span of the boxed text.
    let plain = gold
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " +-*/^().,=<>".contains(c))
        && !gold.to_ascii_lowercase().contains("answer");
    if plain && !gold.trim().is_empty() {
        let own = verify(&format!("\\boxed{{{gold}}}"), gold, &config);
        assert!(
            !matches!(own, Outcome::NotEquivalent { .. }),
            "{gold:?} is not equivalent to itself: {own:?}"
        );
    }
});
