//! The `ifeval` and `math` judges end to end through the real server: IFEval rows and math
//! pairs posted unchanged, verdicts as the references label them, bad metadata as 4xx.

mod common;

use common::{Backend, Server, post_raw, server};
use judge_api::{Item, JudgeRequest, Verdict};
use serde_json::{Map, Value, json};

const CONFIG: &str = r#"
[judges.ifeval_strict]
kind = "ifeval"

[judges.ifeval_loose]
kind = "ifeval"
config = { mode = "loose" }

[judges.math]
kind = "math"
"#;

fn start() -> Server {
    server(Backend::Sqlite).config(CONFIG).start()
}

fn shared_rows(path: &str) -> Vec<Value> {
    let full = format!(
        "{}/../../shared/conformance/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("conformance data {full} is missing: {e}"));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn metadata(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifeval_rows_posted_unchanged_get_the_reference_verdicts() {
    let server = start();
    let rows = shared_rows("ifeval/gpt4-responses.jsonl");
    let items: Vec<Item> = rows
        .iter()
        .map(|row| {
            Item::new(
                row["prompt"].as_str().unwrap(),
                row["response"].as_str().unwrap(),
            )
            .with_id(row["key"].clone())
            .with_metadata(metadata(
                json!({"instruction_id_list": row["instruction_id_list"], "kwargs": row["kwargs"]}),
            ))
        })
        .collect();
    let answer = server
        .client()
        .judge(&JudgeRequest::for_judges(
            ["ifeval_strict", "ifeval_loose"],
            items,
        ))
        .await
        .unwrap();
    let mut disagreements = Vec::new();
    for (row, result) in rows.iter().zip(&answer.results) {
        for (judge, expected) in result.judges.iter().zip([
            &row["expected_prompt_strict"],
            &row["expected_prompt_loose"],
        ]) {
            let want = if expected.as_bool().unwrap() {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            if judge.verdict != want {
                disagreements.push(format!(
                    "{} {}: want {want}, got {} ({})",
                    row["key"], judge.name, judge.verdict, judge.reason
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    let details = answer.results[0].judges[0].details.as_ref().unwrap();
    assert!(
        details["instructions"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifeval_bad_instructions_are_422_naming_the_field() {
    let server = start();
    let cases = [
        (
            json!({"instruction_id_list": ["keywords:telepathy"], "kwargs": [{}]}),
            "items[0].metadata.instruction_id_list[0]",
        ),
        (
            json!({"instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"relation": "at least"}]}),
            "items[0].metadata.kwargs[0].num_words",
        ),
        (
            json!({"kwargs": [{}]}),
            "items[0].metadata.instruction_id_list",
        ),
    ];
    for (meta, field) in cases {
        let body = json!({"judges": ["ifeval_strict"], "items": [{"prompt": "p", "response": "r", "metadata": meta}]});
        let (status, answer) = post_raw(&server, "/v1/judge", body.to_string()).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_answers_are_extracted_and_compared() {
    let server = start();
    let cases: Vec<(&str, Value, Verdict, &str)> = vec![
        (
            "3 + 4 = 7. The final answer is 7",
            json!("7"),
            Verdict::Pass,
            "matches",
        ),
        (
            "So we get \\boxed{\\frac{1}{2}}.",
            json!(0.5),
            Verdict::Pass,
            "matches",
        ),
        (
            "The final answer is $\\dfrac12$",
            json!("\\frac{1}{2}"),
            Verdict::Pass,
            "matches",
        ),
        (
            "The final answer is 1,000,000",
            json!(1000000),
            Verdict::Pass,
            "matches",
        ),
        (
            "The final answer is \\frac{1}{2004!}",
            json!("\\frac{1}{2006!}"),
            Verdict::Fail,
            "does not match",
        ),
        (
            "The final answer is 4\\sqrt{2}",
            json!("4"),
            Verdict::Fail,
            "does not match",
        ),
        (
            "I think it is seven.",
            json!("7"),
            Verdict::Fail,
            "no final answer",
        ),
        (
            "The final answer is 2^{10^{10}}",
            json!("3"),
            Verdict::Fail,
            "could not be verified",
        ),
    ];
    let items = cases
        .iter()
        .map(|(response, answer, _, _)| {
            Item::new("q", *response).with_metadata(metadata(json!({"answer": answer})))
        })
        .collect();
    let answer = server
        .client()
        .judge(&JudgeRequest::for_judges(["math"], items))
        .await
        .unwrap();
    for ((response, _, want, reason), result) in cases.iter().zip(&answer.results) {
        let verdict = &result.judges[0];
        assert_eq!(verdict.verdict, *want, "{response}: {verdict:?}");
        assert!(
            verdict.reason.contains(reason),
            "{response}: {}",
            verdict.reason
        );
    }
    let (status, body) = post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["math"], "items": [{"response": "The final answer is 1"}]}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("items[0].metadata.answer"))
    );
    let bad = common::http()
        .put(server.url("/v1/judges/m2"))
        .json(&json!({"kind": "math", "config": {"extract": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_pairs_through_http_agree_with_the_crate_conformance() {
    let server = start();
    let rows = shared_rows("math/pairs.jsonl");
    let items: Vec<Item> = rows
        .iter()
        .map(|row| {
            Item::new("q", row["response"].as_str().unwrap())
                .with_metadata(metadata(json!({"answer": row["gold"]})))
        })
        .collect();
    let answer = server
        .client()
        .judge(&JudgeRequest::for_judges(["math"], items))
        .await
        .unwrap();
    let agree = rows
        .iter()
        .zip(&answer.results)
        .filter(|(row, result)| {
            row["expected"].as_bool().unwrap() == (result.verdict == Verdict::Pass)
        })
        .count();
    // rules/math/tests/conformance.rs lists the 37 accepted disagreements (math-verify misreading
    // unwrapped LaTeX after "The final answer is"); the HTTP path must give the same verdicts.
    assert_eq!(
        rows.len() - agree,
        37,
        "agreement through HTTP differs from the crate's conformance"
    );
}
