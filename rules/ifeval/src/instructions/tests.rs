//! One pass and one fail case (strict mode) per instruction id, through the public API, and
//! every `SpecError` path.

use serde_json::{Value, json};

use crate::{Mode, SpecError, all_passed, check, parse_instructions};

fn strict(id: &str, kwargs: Value, response: &str) -> bool {
    let ins = parse_instructions(&json!([id]), &json!([kwargs])).expect("valid instruction");
    assert_eq!(ins[0].id(), id);
    check(response, &ins)[0].strict
}

fn pass_fail(id: &str, kwargs: Value, pass: &str, fail: &str) {
    assert!(
        strict(id, kwargs.clone(), pass),
        "{id} should pass on {pass:?}"
    );
    assert!(!strict(id, kwargs, fail), "{id} should fail on {fail:?}");
}

#[test]
fn keywords() {
    pass_fail(
        "keywords:existence",
        json!({"keywords": ["Cat", "dog"]}),
        "A DOG and a cat.",
        "A cat only.",
    );
    pass_fail(
        "keywords:frequency",
        json!({"keyword": " the ", "frequency": 2, "relation": "at least"}),
        "The theme",
        "the end",
    );
    pass_fail(
        "keywords:frequency",
        json!({"keyword": "a", "frequency": 2, "relation": "less than"}),
        "a b",
        "a a",
    );
    pass_fail(
        "keywords:forbidden_words",
        json!({"forbidden_words": ["cat"]}),
        "Cats concatenate.",
        "A Cat.",
    );
    pass_fail(
        "keywords:letter_frequency",
        json!({"letter": "A", "let_frequency": 3, "let_relation": "at least"}),
        "Aaa",
        "aa",
    );
}

#[test]
fn language() {
    let en = "This sentence is clearly written in the English language, about the weather.";
    let fr = "Cette phrase est clairement écrite en français, à propos du temps qu'il fait.";
    pass_fail(
        "language:response_language",
        json!({"language": "fr"}),
        fr,
        en,
    );
    // langdetect finds no features in digits: counted as followed, as in the reference.
    assert!(strict(
        "language:response_language",
        json!({"language": "fr"}),
        "12345"
    ));
    pass_fail(
        "change_case:english_capital",
        json!({}),
        &en.to_uppercase(),
        en,
    );
    assert!(!strict(
        "change_case:english_capital",
        json!({}),
        &fr.to_uppercase()
    ));
    pass_fail(
        "change_case:english_lowercase",
        json!({}),
        &en.to_lowercase(),
        en,
    );
    assert!(!strict(
        "change_case:english_lowercase",
        json!({}),
        &fr.to_lowercase()
    ));
}

#[test]
fn lengths() {
    let s = json!({"num_sentences": 2, "relation": "less than"});
    pass_fail(
        "length_constraints:number_sentences",
        s,
        "Dr. Smith arrived.",
        "One. Two.",
    );
    pass_fail(
        "length_constraints:number_paragraphs",
        json!({"num_paragraphs": 2}),
        "a\n***\nb",
        "a\n***\n***\nb",
    );
    let w = json!({"num_words": 3, "relation": "at least"});
    pass_fail(
        "length_constraints:number_words",
        w,
        "it's a test",
        "two words",
    );
    let n = json!({"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"});
    pass_fail(
        "length_constraints:nth_paragraph_first_word",
        n,
        "First.\n\n\"Then, more.",
        "First.\n\nNext.",
    );
}

#[test]
fn detectable_content_and_format() {
    pass_fail(
        "detectable_content:number_placeholders",
        json!({"num_placeholders": 2}),
        "[a] [b]",
        "[a]",
    );
    pass_fail(
        "detectable_content:postscript",
        json!({"postscript_marker": "P.S."}),
        "Hi\np.s. bye",
        "Hi\nPS bye",
    );
    pass_fail(
        "detectable_content:postscript",
        json!({"postscript_marker": "P.P.S"}),
        "Hi\nP. P. S x",
        "Hi\nP.S. x",
    );
    pass_fail(
        "detectable_format:number_bullet_lists",
        json!({"num_bullets": 2}),
        "* a\n- b",
        "* a\n** b",
    );
    pass_fail(
        "detectable_format:constrained_response",
        json!({}),
        "So: My answer is maybe.",
        "My answer is yes",
    );
    pass_fail(
        "detectable_format:number_highlighted_sections",
        json!({"num_highlights": 2}),
        "*a* **b**",
        "*a* * *",
    );
    let sec = json!({"section_spliter": "Section", "num_sections": 2});
    pass_fail(
        "detectable_format:multiple_sections",
        sec,
        "Section 1 a\nSection 2 b",
        "Section 1 a\nsection 2 b",
    );
    pass_fail(
        "detectable_format:json_format",
        json!({}),
        "```json\n{\"a\": NaN}\n```",
        "{\"a\": 1,}",
    );
    pass_fail(
        "detectable_format:title",
        json!({}),
        "<<Poem>>\ntext",
        "<< >>\ntext",
    );
}

#[test]
fn combination_startend_case_punctuation() {
    pass_fail(
        "combination:two_responses",
        json!({}),
        "A\n******\nB",
        "A\n******\nA",
    );
    let p = json!({"prompt_to_repeat": "Say hi."});
    pass_fail(
        "combination:repeat_prompt",
        p,
        "  SAY HI. Hi!",
        "Hi. Say hi.",
    );
    pass_fail(
        "startend:end_checker",
        json!({"end_phrase": "Bye."}),
        "Ok. \"bye.\"\n",
        "Bye. Ok.",
    );
    let c = json!({"capital_frequency": 2, "capital_relation": "at least"});
    pass_fail(
        "change_case:capital_word_frequency",
        c,
        "I CANNOT.",
        "Only ONE here.",
    );
    pass_fail(
        "punctuation:no_comma",
        json!({}),
        "No commas，here",
        "One, two",
    );
    pass_fail("startend:quotation", json!({}), " \"quoted\" ", "\"");
}

#[test]
fn strict_needs_non_empty_and_loose_tries_variants() {
    let ins = parse_instructions(
        &json!(["punctuation:no_comma", "startend:quotation"]),
        &json!([{}, {}]),
    )
    .unwrap();
    let r = check(" \n\t", &ins);
    assert!(
        !r[0].strict && !r[0].loose,
        "an empty response follows nothing"
    );
    let r = check("Sure, here it is:\n\"No commas here\"", &ins);
    assert!(!r[0].strict && r[0].loose && !r[1].strict && r[1].loose);
    assert!(!all_passed(&r, Mode::Strict) && all_passed(&r, Mode::Loose));
    assert_eq!(r[0].id, "punctuation:no_comma");
    assert!(r[0].passed(Mode::Loose) && !r[0].passed(Mode::Strict));
    // Removing `*` is one of the loose variants.
    let h = parse_instructions(
        &json!(["startend:end_checker"]),
        &json!([{"end_phrase": "the end"}]),
    )
    .unwrap();
    assert!(
        !check("This is **the end**", &h)[0].strict && check("This is **the end**", &h)[0].loose
    );
}

fn error(ids: Value, kwargs: Value) -> SpecError {
    parse_instructions(&ids, &kwargs).expect_err("must be rejected")
}

fn kw_error(id: &str, kwargs: Value) -> SpecError {
    error(json!([id]), json!([kwargs]))
}

#[test]
fn spec_errors_on_structure() {
    assert_eq!(error(json!("x"), json!([])).field, "instruction_id_list");
    assert_eq!(error(json!([]), json!({})).field, "kwargs");
    assert_eq!(
        error(json!(["punctuation:no_comma"]), json!([])).field,
        "kwargs"
    );
    assert_eq!(
        error(json!(["punctuation:no_comma", 3]), json!([{}, {}])).field,
        "instruction_id_list[1]"
    );
    let e = error(
        json!(["punctuation:no_comma", "keywords:unknown"]),
        json!([{}, {}]),
    );
    assert_eq!(e.field, "instruction_id_list[1]");
    assert!(e.message.contains("unknown instruction id"));
    assert_eq!(
        error(json!(["punctuation:no_comma"]), json!(["x"])).field,
        "kwargs[0]"
    );
    assert_eq!(e.to_string(), format!("{}: {}", e.field, e.message));
}

#[test]
fn spec_errors_on_arguments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "length_constraints:number_words",
            json!({"relation": "at least"}),
            "kwargs[0].num_words",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": "5", "relation": "at least"}),
            "kwargs[0].num_words",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": 5.5, "relation": "at least"}),
            "kwargs[0].num_words",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": -1, "relation": "at least"}),
            "kwargs[0].num_words",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": 5, "relation": "at most"}),
            "kwargs[0].relation",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": 5, "relation": 1}),
            "kwargs[0].relation",
        ),
        (
            "length_constraints:number_words",
            json!({"num_words": 5, "relation": "at least", "x": 1}),
            "kwargs[0].x",
        ),
        (
            "punctuation:no_comma",
            json!({"keywords": ["a"]}),
            "kwargs[0].keywords",
        ),
        (
            "keywords:existence",
            json!({"keywords": []}),
            "kwargs[0].keywords",
        ),
        (
            "keywords:existence",
            json!({"keywords": "cat"}),
            "kwargs[0].keywords",
        ),
        (
            "keywords:existence",
            json!({"keywords": ["a", 3]}),
            "kwargs[0].keywords[1]",
        ),
        (
            "keywords:existence",
            json!({"keywords": ["a", "(?<=x)b"]}),
            "kwargs[0].keywords[1]",
        ),
        (
            "keywords:forbidden_words",
            json!({"forbidden_words": ["a", "b("]}),
            "kwargs[0].forbidden_words[1]",
        ),
        (
            "keywords:frequency",
            json!({"keyword": "  ", "frequency": 1, "relation": "at least"}),
            "kwargs[0].keyword",
        ),
        (
            "keywords:letter_frequency",
            json!({"letter": "ab", "let_frequency": 1, "let_relation": "at least"}),
            "kwargs[0].letter",
        ),
        (
            "keywords:letter_frequency",
            json!({"letter": " ", "let_frequency": 1, "let_relation": "at least"}),
            "kwargs[0].letter",
        ),
        (
            "language:response_language",
            json!({"language": "xx"}),
            "kwargs[0].language",
        ),
        (
            "length_constraints:nth_paragraph_first_word",
            json!({"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"}),
            "kwargs[0].nth_paragraph",
        ),
        (
            "length_constraints:nth_paragraph_first_word",
            json!({"num_paragraphs": 2, "nth_paragraph": 0, "first_word": "a"}),
            "kwargs[0].nth_paragraph",
        ),
        (
            "detectable_content:postscript",
            json!({"postscript_marker": ""}),
            "kwargs[0].postscript_marker",
        ),
        (
            "detectable_format:multiple_sections",
            json!({"section_spliter": "S(", "num_sections": 1}),
            "kwargs[0].section_spliter",
        ),
        (
            "combination:repeat_prompt",
            json!({"prompt_to_repeat": null}),
            "kwargs[0].prompt_to_repeat",
        ),
        (
            "startend:end_checker",
            json!({"end_phrase": " "}),
            "kwargs[0].end_phrase",
        ),
        (
            "change_case:capital_word_frequency",
            json!({"capital_frequency": 3}),
            "kwargs[0].capital_relation",
        ),
    ];
    for (id, kwargs, field) in cases {
        let e = kw_error(id, kwargs.clone());
        assert_eq!(e.field, field, "{id} {kwargs}: {}", e.message);
        assert!(!e.message.is_empty());
    }
}

#[test]
fn every_id_is_known() {
    let kwargs = |id: &str| match id {
        "keywords:existence" => json!({"keywords": ["a"]}),
        "keywords:frequency" => json!({"keyword": "a", "frequency": 1, "relation": "at least"}),
        "keywords:forbidden_words" => json!({"forbidden_words": ["a"]}),
        "keywords:letter_frequency" => {
            json!({"letter": "a", "let_frequency": 1, "let_relation": "at least"})
        }
        "language:response_language" => json!({"language": "en"}),
        "length_constraints:number_sentences" => {
            json!({"num_sentences": 1, "relation": "at least"})
        }
        "length_constraints:number_paragraphs" => json!({"num_paragraphs": 1}),
        "length_constraints:number_words" => json!({"num_words": 1, "relation": "at least"}),
        "length_constraints:nth_paragraph_first_word" => {
            json!({"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "a"})
        }
        "detectable_content:number_placeholders" => json!({"num_placeholders": 1}),
        "detectable_content:postscript" => json!({"postscript_marker": "P.S."}),
        "detectable_format:number_bullet_lists" => json!({"num_bullets": 1}),
        "detectable_format:number_highlighted_sections" => json!({"num_highlights": 1}),
        "detectable_format:multiple_sections" => {
            json!({"section_spliter": "Section", "num_sections": 1})
        }
        "combination:repeat_prompt" => json!({"prompt_to_repeat": "a"}),
        "startend:end_checker" => json!({"end_phrase": "a"}),
        "change_case:capital_word_frequency" => {
            json!({"capital_frequency": 1, "capital_relation": "at least"})
        }
        _ => json!({}),
    };
    for id in super::spec::INSTRUCTION_IDS {
        let ins = parse_instructions(&json!([id]), &json!([kwargs(id)]))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(ins[0].id(), id);
        // Arguments the instruction does not take are rejected.
        let mut extra = kwargs(id);
        extra["unused"] = json!(1);
        assert_eq!(kw_error(id, extra).field, "kwargs[0].unused");
    }
}

#[test]
fn null_kwargs_are_ignored_like_the_hugging_face_copy() {
    let kwargs = json!([{"num_words": 2, "relation": "less than", "keywords": null, "language": null}, null]);
    let ins = parse_instructions(
        &json!(["length_constraints:number_words", "punctuation:no_comma"]),
        &kwargs,
    )
    .unwrap();
    assert_eq!(ins.len(), 2);
    assert!(check("one", &ins).iter().all(|r| r.strict));
}

#[test]
fn repeated_ids_give_one_result_each() {
    let ids = json!(["keywords:existence", "keywords:existence"]);
    let ins =
        parse_instructions(&ids, &json!([{"keywords": ["a"]}, {"keywords": ["zzz"]}])).unwrap();
    let r = check("a b", &ins);
    assert_eq!((r.len(), r[0].strict, r[1].strict), (2, true, false));
}
