//! Properties of the IFEval checks on generated input: instruction parsing rejects bad kwargs
//! with an error (never a panic), every check runs on arbitrary text without panicking, verdicts
//! are deterministic, and a strict pass is always a loose pass.

use moj_ifeval::{INSTRUCTION_IDS as IDS, Mode, all_passed, check, parse_instructions};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A JSON value of the kinds kwargs hold (numbers, strings, lists, nulls, objects).
fn kwarg_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..50).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z*#\\[\\] ]{0,12}".prop_map(Value::from),
        Just(json!("less than")),
        Just(json!("at least")),
        Just(json!("en")),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Value::from)
    })
}

/// kwargs objects using the argument names IFEval's instructions read, plus stray ones.
fn kwargs() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("num_words"),
        Just("relation"),
        Just("num_sentences"),
        Just("num_paragraphs"),
        Just("nth_paragraph"),
        Just("first_word"),
        Just("keywords"),
        Just("keyword"),
        Just("frequency"),
        Just("forbidden_words"),
        Just("letter"),
        Just("let_frequency"),
        Just("let_relation"),
        Just("language"),
        Just("num_placeholders"),
        Just("postscript_marker"),
        Just("num_bullets"),
        Just("num_highlights"),
        Just("section_spliter"),
        Just("num_sections"),
        Just("prompt_to_repeat"),
        Just("end_phrase"),
        Just("capital_frequency"),
        Just("capital_relation"),
        Just("stray"),
    ];
    proptest::collection::btree_map(names, kwarg_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// Responses with the structure the checks look at: paragraphs, bullets, highlights, JSON,
/// titles, quotes, sections, placeholders, postscripts, commas, capitals, and arbitrary text.
fn response() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        "[A-Za-z ,.!?]{0,40}",
        Just("\n\n".to_owned()),
        Just("***\n".to_owned()),
        Just("* bullet\n".to_owned()),
        Just("*highlight*".to_owned()),
        Just("<<Title>>".to_owned()),
        Just("\"".to_owned()),
        Just("SECTION 1\n".to_owned()),
        Just("[placeholder]".to_owned()),
        Just("P.S. ".to_owned()),
        Just("```json\n{\"a\": 1}\n```".to_owned()),
        Just("{\"a\": [1, 2]}".to_owned()),
        Just("My answer is yes.".to_owned()),
        Just("ÉÀ ß ǅ İ ﬁ".to_owned()),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

/// The arguments each instruction takes, with plausible generated values.
fn valid_kwargs(id: &'static str) -> BoxedStrategy<Value> {
    let n = || (1i64..6).prop_map(Value::from);
    let relation = || prop_oneof![Just(json!("less than")), Just(json!("at least"))];
    let word = || "[a-z]{1,8}".prop_map(Value::from);
    let words = || proptest::collection::vec("[a-z]{1,8}", 1..3).prop_map(Value::from);
    match id {
        "keywords:existence" => words().prop_map(|k| json!({ "keywords": k })).boxed(),
        "keywords:frequency" => (word(), n(), relation())
            .prop_map(|(k, f, r)| json!({ "keyword": k, "frequency": f, "relation": r }))
            .boxed(),
        "keywords:forbidden_words" => words()
            .prop_map(|k| json!({ "forbidden_words": k }))
            .boxed(),
        "keywords:letter_frequency" => ("[a-z]", n(), relation())
            .prop_map(|(l, f, r)| json!({ "letter": l, "let_frequency": f, "let_relation": r }))
            .boxed(),
        "language:response_language" => prop_oneof![Just("en"), Just("fr"), Just("ja"), Just("hi")]
            .prop_map(|l| json!({ "language": l }))
            .boxed(),
        "length_constraints:number_sentences" => (n(), relation())
            .prop_map(|(c, r)| json!({ "num_sentences": c, "relation": r }))
            .boxed(),
        "length_constraints:number_paragraphs" => {
            n().prop_map(|c| json!({ "num_paragraphs": c })).boxed()
        }
        "length_constraints:number_words" => (n(), relation())
            .prop_map(|(c, r)| json!({ "num_words": c, "relation": r }))
            .boxed(),
        "length_constraints:nth_paragraph_first_word" => (2i64..5, 1i64..3, word())
            .prop_map(
                |(p, nth, w)| json!({ "num_paragraphs": p, "nth_paragraph": nth, "first_word": w }),
            )
            .boxed(),
        "detectable_content:number_placeholders" => {
            n().prop_map(|c| json!({ "num_placeholders": c })).boxed()
        }
        "detectable_content:postscript" => prop_oneof![Just("P.S."), Just("P.P.S")]
            .prop_map(|m| json!({ "postscript_marker": m }))
            .boxed(),
        "detectable_format:number_bullet_lists" => {
            n().prop_map(|c| json!({ "num_bullets": c })).boxed()
        }
        "detectable_format:number_highlighted_sections" => {
            n().prop_map(|c| json!({ "num_highlights": c })).boxed()
        }
        "detectable_format:multiple_sections" => {
            (prop_oneof![Just("SECTION"), Just("Section")], n())
                .prop_map(|(s, c)| json!({ "section_spliter": s, "num_sections": c }))
                .boxed()
        }
        "combination:repeat_prompt" => "[A-Za-z][A-Za-z ?]{0,19}"
            .prop_map(|p| json!({ "prompt_to_repeat": p }))
            .boxed(),
        "startend:end_checker" => "[A-Za-z][A-Za-z .]{0,11}"
            .prop_map(|e| json!({ "end_phrase": e }))
            .boxed(),
        "change_case:capital_word_frequency" => (n(), relation())
            .prop_map(|(c, r)| json!({ "capital_frequency": c, "capital_relation": r }))
            .boxed(),
        _ => Just(json!({})).boxed(),
    }
}

/// One to three instructions with valid arguments.
fn valid_spec() -> impl Strategy<Value = (Value, Value)> {
    proptest::collection::vec(proptest::sample::select(IDS.to_vec()), 1..4).prop_flat_map(|ids| {
        let kwargs: Vec<BoxedStrategy<Value>> = ids.iter().map(|id| valid_kwargs(id)).collect();
        (Just(Value::from(ids)), kwargs.prop_map(Value::from))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn every_check_runs_on_generated_responses((ids, kwargs) in valid_spec(), text in response()) {
        let instructions = parse_instructions(&ids, &kwargs)
            .map_err(|e| TestCaseError::fail(format!("{ids} {kwargs}: {e}")))?;
        let first = check(&text, &instructions);
        prop_assert_eq!(first.len(), instructions.len());
        for result in &first {
            prop_assert!(!result.strict || result.loose, "strict pass without loose pass: {:?}", result);
        }
        prop_assert_eq!(check(&text, &instructions), first, "not deterministic");
    }

    #[test]
    fn parsing_never_panics_and_checks_never_panic(
        picks in proptest::collection::vec(0usize..IDS.len(), 1..4),
        args in proptest::collection::vec(kwargs(), 4),
        text in response(),
    ) {
        let ids = Value::from(picks.iter().map(|&i| IDS[i]).collect::<Vec<_>>());
        let kwargs = Value::from(args[..picks.len()].to_vec());
        if let Ok(instructions) = parse_instructions(&ids, &kwargs) {
            let first = check(&text, &instructions);
            prop_assert_eq!(first.len(), instructions.len());
            for result in &first {
                prop_assert!(!result.strict || result.loose, "strict pass without loose pass: {:?}", result);
            }
            prop_assert!(!all_passed(&first, Mode::Strict) || all_passed(&first, Mode::Loose));
            prop_assert_eq!(check(&text, &instructions), first, "not deterministic");
        }
    }

    #[test]
    fn malformed_specs_are_errors(ids in kwarg_value(), kwargs in kwarg_value()) {
        let _ = parse_instructions(&ids, &kwargs);
    }
}
