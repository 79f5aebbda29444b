//! Properties of extraction and verification on generated input: nothing panics or runs away
//! on arbitrary text (the work budget bounds every step), an answer always equals itself
//! however it is wrapped, and different integers never compare equal.

use moj_math::{MathConfig, Outcome, extract_answer, verify};
use proptest::prelude::*;

/// Text that looks like math: digits, operators, LaTeX commands and braces, dollars, words.
fn mathy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[0-9]{1,6}",
            Just("\\frac{".to_owned()),
            Just("\\sqrt{".to_owned()),
            Just("\\boxed{".to_owned()),
            Just("\\pi".to_owned()),
            Just("^".to_owned()),
            Just("}".to_owned()),
            Just("{".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just("$".to_owned()),
            "[+*/.,=-]",
            Just("The final answer is ".to_owned()),
            Just("Answer: ".to_owned()),
            "[a-z ]{1,5}",
            Just("\n".to_owned()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// An exact answer and a spelling of it.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|n| n.to_string()),
        (1i64..1000, 1i64..1000).prop_map(|(a, b)| format!("\\frac{{{a}}}{{{b}}}")),
        (1i64..1000, 1i64..1000).prop_map(|(a, b)| format!("{a}/{b}")),
        (0i64..100_000, 1u32..4).prop_map(|(n, d)| format!(
            "{}.{:0width$}",
            n,
            7,
            width = d as usize
        )),
        (1i64..50).prop_map(|n| format!("\\sqrt{{{n}}}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(response in any::<String>(), gold in any::<String>()) {
        let config = MathConfig::default();
        let _ = extract_answer(&response, &config);
        let _ = verify(&response, &gold, &config);
    }

    #[test]
    fn math_like_text_never_panics(response in mathy(), gold in mathy()) {
        let config = MathConfig::default();
        let _ = extract_answer(&response, &config);
        let _ = verify(&response, &gold, &config);
    }

    #[test]
    fn an_answer_equals_itself_in_every_wrapping(gold in answer(), filler in "[a-z ]{0,30}") {
        let config = MathConfig::default();
        for response in [
            format!("{filler}. The final answer is {gold}"),
            format!("{filler} \\boxed{{{gold}}}"),
            format!("{filler}\nThe final answer is ${gold}$."),
        ] {
            let outcome = verify(&response, &gold, &config);
            prop_assert!(outcome.is_equivalent(), "{response:?} vs {gold:?}: {outcome:?}");
        }
    }

    #[test]
    fn different_integers_are_not_equivalent(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
        prop_assume!(a != b);
        let outcome = verify(&format!("The final answer is {a}"), &b.to_string(), &MathConfig::default());
        prop_assert!(
            matches!(outcome, Outcome::NotEquivalent { .. }),
            "{a} vs {b}: {outcome:?}"
        );
    }
}

/// Found by the `math` fuzz target: `\begin` followed by a multi-byte character (no `{`) sliced
/// the answer inside that character and panicked.
#[test]
fn begin_without_an_environment_is_unverifiable_not_a_panic() {
    let config = MathConfig::default();
    for response in [
        "Answer: \\begin\u{fffd}rac{2}{3}",
        "The final answer is \\begin é{2}{3}",
        "\\boxed{\\begin\u{1F600}}",
    ] {
        let outcome = verify(response, "2", &config);
        assert!(
            !outcome.is_equivalent(),
            "{response:?} is not a matrix: {outcome:?}"
        );
    }
}
