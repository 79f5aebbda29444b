//! The LLM judges against a real model: SmolLM2-135M-Instruct (GGUF) served by llama.cpp's
//! `llama-server` on loopback, judged through the real judge-server binary. A 135M model's
//! opinions are poor, so this asserts on the protocol and on determinism, not on its judgement:
//! the logprob decision (both verdict-token probabilities reported, the verdict follows them), the
//! strict text fallback, the cache (a hit never reaches the model), timeouts (an `error` in time,
//! the other judges of the batch still answer), and the same answer twice at temperature 0.
//! It also prints the model's agreement with a small labelled factuality set (for the record).

mod common;

use std::time::{Duration, Instant};

use common::llama_server::{LlamaServer, MODEL_ALIAS};
use common::{Backend, Server, server};
use judge_api::{Item, JudgeRequest, JudgeResponse, JudgeVerdict, Verdict};
use serde_json::{Value, json};

/// `cache_prompt = false`: llama-server would otherwise reuse the KV cache of the longest prefix
/// shared with the previous request, so a prompt's logits would depend on which item of the batch
/// reached it before (a different split of the prompt computes slightly different numbers, and a
/// near-tie can flip). Without it, the same prompt is computed the same way every time.
fn config(base_url: &str) -> String {
    format!(
        r#"
[llm.backends.smollm2]
base_url = "{base_url}"
model = "{MODEL_ALIAS}"
extra_body = {{ cache_prompt = false }}
timeout_ms = 300000
max_concurrent = 1

[llm.backends.smollm2_1ms]
base_url = "{base_url}"
model = "{MODEL_ALIAS}"
timeout_ms = 1
max_retries = 0

[judges.is_french]
kind = "rubric"
config = {{ backend = "smollm2", pass_token = "yes", fail_token = "no", template = "{TEMPLATE}" }}

[judges.is_french_text]
kind = "rubric"
config = {{ backend = "smollm2", pass_token = "yes", fail_token = "no", template = "{TEMPLATE}", sampling = {{ logprobs = false, max_tokens = 4 }} }}

[judges.is_french_1ms]
kind = "rubric"
config = {{ backend = "smollm2_1ms", pass_token = "yes", fail_token = "no", template = "{TEMPLATE}" }}

[judges.factuality]
kind = "factuality"
config = {{ backend = "smollm2" }}

[judges.mentions_paris]
kind = "regex"
config = {{ must_match = ["Paris"] }}
"#
    )
}

/// A yes/no question the model answers with a bare verdict word (checked on this model).
const TEMPLATE: &str = "Answer with one word, {{ pass_token }} or {{ fail_token }}. Is this sentence about France?\\n\\n{{ response }}";

const SENTENCES: [&str; 4] = [
    "Paris is the capital of France.",
    "The Eiffel Tower stands in Paris.",
    "Penguins live in Antarctica.",
    "Rust is a programming language.",
];

async fn judge(server: &Server, judges: &[&str], items: Vec<Item>, cache: bool) -> JudgeResponse {
    let request = JudgeRequest::for_judges(judges.iter().copied(), items);
    let request = if cache {
        request
    } else {
        request.without_cache()
    };
    server.client().judge(&request).await.unwrap()
}

fn items() -> Vec<Item> {
    SENTENCES
        .iter()
        .map(|s| Item::new("Write a sentence.", *s))
        .collect()
}

fn only(response: &JudgeResponse) -> Vec<&JudgeVerdict> {
    response.results.iter().map(|r| &r.judges[0]).collect()
}

fn details(verdict: &JudgeVerdict) -> &Value {
    verdict.details.as_ref().expect("details")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_model_logprobs_text_cache_timeouts_and_determinism() {
    let llama = LlamaServer::start();
    let server = server(Backend::Sqlite)
        .config(&config(&llama.base_url()))
        .start();

    // The logprob decision: both probabilities reported, the verdict follows them.
    let first = judge(&server, &["is_french"], items(), false).await;
    for (sentence, verdict) in SENTENCES.iter().zip(only(&first)) {
        assert_ne!(verdict.verdict, Verdict::Error, "{sentence}: {verdict:?}");
        let d = details(verdict);
        assert_eq!(d["method"], "logprobs", "{sentence}: {d}");
        assert_eq!(d["model"], MODEL_ALIAS);
        assert_eq!(d["threshold"], 0.5);
        let p_pass = d["p_pass"].as_f64().unwrap();
        let p_fail = d["p_fail"].as_f64().unwrap();
        assert!(
            p_pass > 0.0 && p_pass <= 1.0 && p_fail > 0.0 && p_fail <= 1.0,
            "{d}"
        );
        let fail_share = p_fail / (p_pass + p_fail);
        assert_eq!(verdict.verdict == Verdict::Fail, fail_share >= 0.5, "{d}");
        let score = verdict.score.unwrap();
        assert!(
            (score - p_pass / (p_pass + p_fail)).abs() < 1e-9,
            "{score} {d}"
        );
    }

    // Determinism at temperature 0: the same verdicts and probabilities again (uncached).
    let again = judge(&server, &["is_french"], items(), false).await;
    for (a, b) in only(&first).iter().zip(only(&again)) {
        assert_eq!(a.verdict, b.verdict);
        for p in ["p_pass", "p_fail"] {
            let (x, y) = (
                details(a)[p].as_f64().unwrap(),
                details(b)[p].as_f64().unwrap(),
            );
            assert!((x - y).abs() < 1e-3, "{p}: {x} vs {y}");
        }
        assert_eq!(details(a)["output"], details(b)["output"]);
    }

    // The text fallback (logprobs not requested): the verdict word parsed strictly, and the
    // same verdicts as the logprob decision for these clear-cut answers.
    let text = judge(&server, &["is_french_text"], items(), false).await;
    for (lp, tx) in only(&first).iter().zip(only(&text)) {
        assert_eq!(details(tx)["method"], "text", "{tx:?}");
        assert!(details(tx).get("p_pass").is_none());
        assert_eq!(tx.verdict, lp.verdict, "{tx:?} vs {lp:?}");
    }

    // The cache: a second cached request is answered without the model.
    let cold = judge(&server, &["is_french"], items(), true).await;
    assert!(only(&cold).iter().all(|v| !v.cached));
    let predicted = llama.metric("llamacpp:tokens_predicted_total");
    let warm = judge(&server, &["is_french"], items(), true).await;
    assert!(only(&warm).iter().all(|v| v.cached), "{warm:?}");
    for (a, b) in only(&cold).iter().zip(only(&warm)) {
        assert_eq!((a.verdict, &a.details), (b.verdict, &b.details));
    }
    assert_eq!(
        llama.metric("llamacpp:tokens_predicted_total"),
        predicted,
        "a cache hit reached the model"
    );

    // Timeouts: a 1 ms budget is an `error` within it (not a pass, not a hang), the other judge
    // of the batch still answers, and the server serves the next request normally.
    let started = Instant::now();
    let timed = judge(
        &server,
        &["is_french_1ms", "mentions_paris"],
        vec![Item::new("Write a sentence.", SENTENCES[0])],
        false,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let judges = &timed.results[0].judges;
    assert_eq!(judges[0].verdict, Verdict::Error, "{:?}", judges[0]);
    assert!(
        judges[0].reason.contains("did not answer within 1 ms"),
        "{:?}",
        judges[0]
    );
    assert_eq!(judges[1].verdict, Verdict::Pass);
    let after = judge(&server, &["is_french"], items(), false).await;
    assert_eq!(
        only(&after).iter().map(|v| v.verdict).collect::<Vec<_>>(),
        only(&first).iter().map(|v| v.verdict).collect::<Vec<_>>()
    );
}

/// A small labelled factuality set: (question, reference answer, response, is the response
/// factual). The test asserts the protocol on every item and prints the agreement.
const LABELLED: [(&str, &str, &str, bool); 12] = [
    (
        "What is the capital of France?",
        "Paris",
        "The capital of France is Paris.",
        true,
    ),
    (
        "What is the capital of France?",
        "Paris",
        "The capital of France is Lyon.",
        false,
    ),
    (
        "How many legs does a spider have?",
        "8",
        "A spider has eight legs.",
        true,
    ),
    (
        "How many legs does a spider have?",
        "8",
        "Spiders have six legs.",
        false,
    ),
    ("What is 7 times 6?", "42", "7 times 6 is 42.", true),
    ("What is 7 times 6?", "42", "7 times 6 is 36.", false),
    (
        "Who wrote Hamlet?",
        "William Shakespeare",
        "Hamlet was written by Shakespeare.",
        true,
    ),
    (
        "Who wrote Hamlet?",
        "William Shakespeare",
        "Hamlet was written by Charles Dickens.",
        false,
    ),
    (
        "What is the boiling point of water at sea level in Celsius?",
        "100",
        "Water boils at 100 degrees Celsius at sea level.",
        true,
    ),
    (
        "What is the boiling point of water at sea level in Celsius?",
        "100",
        "Water boils at 50 degrees Celsius at sea level.",
        false,
    ),
    (
        "Which planet is known as the Red Planet?",
        "Mars",
        "Mars is called the Red Planet.",
        true,
    ),
    (
        "Which planet is known as the Red Planet?",
        "Mars",
        "Venus is called the Red Planet.",
        false,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_model_factuality_protocol_and_agreement_on_a_labelled_set() {
    let llama = LlamaServer::start();
    let server = server(Backend::Sqlite)
        .config(&config(&llama.base_url()))
        .start();
    let items: Vec<Item> = LABELLED
        .iter()
        .map(|(question, answer, response, _)| {
            Item::new(*question, *response)
                .with_metadata(json!({ "answer": answer }).as_object().unwrap().clone())
        })
        .collect();
    let response = judge(&server, &["factuality"], items.clone(), false).await;
    let (mut agree, mut decided) = (0, 0);
    for ((question, _, answer, label), verdict) in LABELLED.iter().zip(only(&response)) {
        // Every item is decided by the protocol or is an `error` that says why; never a
        // silent pass.
        match verdict.verdict {
            Verdict::Pass | Verdict::Fail => {
                decided += 1;
                let d = details(verdict);
                assert!(d["method"] == "logprobs" || d["method"] == "text", "{d}");
                if (verdict.verdict == Verdict::Pass) == *label {
                    agree += 1;
                }
            }
            Verdict::Error => assert!(!verdict.reason.is_empty(), "{question}: {answer}"),
        }
    }
    let again = judge(&server, &["factuality"], items, false).await;
    for (first, second) in only(&response).iter().zip(only(&again)) {
        assert_eq!(
            (first.verdict, &first.reason, &first.details),
            (second.verdict, &second.reason, &second.details),
            "not deterministic at temperature 0"
        );
    }
    println!(
        "SmolLM2-135M factuality on {} labelled items: {decided} decided, {agree} agree with the label",
        LABELLED.len()
    );
}
