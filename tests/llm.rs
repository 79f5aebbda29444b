//! The LLM judge kinds end to end: the real server calling a fake OpenAI-compatible backend
//! (tests/llm/fake.rs) on loopback.

mod common;
#[path = "llm/fake.rs"]
mod fake;

use std::time::{Duration, Instant};

use common::{Backend, Server, server};
use fake::Fake;
use judge_api::{ChatMessage, Item, JudgeRequest, JudgeResponse, JudgeVerdict, Prompt, Verdict};
use serde_json::{Value, json};

const KEY: &str = "sk-test-0123456789-never-logged";

/// The server's config for a fake at `url`: backend `fake` (model `model`, at most 2 requests
/// at once), backend `tight` (1 s budget, no retries) and judges over them.
fn config(url: &str, model: &str, template: &str) -> String {
    format!(
        r#"
[llm.backends.fake]
base_url = "{url}"
model = "{model}"
api_key_env = "MOJ_TEST_LLM_KEY"
headers = {{ "x-team" = "moj" }}
extra_body = {{ top_k = 1, cache_prompt = false }}
max_concurrent = 2
backoff_ms = 50
timeout_ms = 8000

[llm.backends.tight]
base_url = "{url}"
model = "fake-judge"
timeout_ms = 1000
max_retries = 0

[judges.rubric]
kind = "rubric"
config = {{ backend = "fake", template = "{template}", pass_token = "yes", fail_token = "no" }}

[judges.rubric_tight]
kind = "rubric"
config = {{ backend = "tight", template = "{{{{ response }}}}", pass_token = "yes", fail_token = "no" }}

[judges.safety]
kind = "safety"
config = {{ backend = "fake" }}

[judges.safety_chat]
kind = "safety"
config = {{ backend = "fake", format = "chat" }}

[judges.factuality]
kind = "factuality"
config = {{ backend = "fake" }}

[judges.false_refusal]
kind = "false_refusal"
config = {{ backend = "fake" }}

[judges.contains_yes]
kind = "regex"
config = {{ must_match = ["yes|slow"] }}
"#
    )
}

const TEMPLATE: &str = "{{ response }}";

fn start(url: &str) -> Server {
    server(Backend::Sqlite)
        .config(&config(url, "fake-judge", TEMPLATE))
        .env("MOJ_TEST_LLM_KEY", KEY)
        .start()
}

fn item(response: &str) -> Item {
    Item::new("Is this fine?", response)
}

async fn judge(server: &Server, judges: &[&str], items: Vec<Item>) -> JudgeResponse {
    server
        .client()
        .judge(&JudgeRequest::for_judges(judges.iter().copied(), items).without_cache())
        .await
        .unwrap()
}

/// The one verdict of each item (single-judge requests).
fn verdicts(response: &JudgeResponse) -> Vec<&JudgeVerdict> {
    response.results.iter().map(|r| &r.judges[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_from_logprobs_and_text_and_errors_for_anything_else() {
    let (fake, url) = Fake::start().await;
    let server = start(&url);
    let commands = [
        ("lp-pass", Verdict::Pass),
        ("lp-fail", Verdict::Fail),
        ("text-pass", Verdict::Pass),
        ("text-fail", Verdict::Fail),
        ("garbage", Verdict::Error),
        ("empty", Verdict::Error),
        ("chatty", Verdict::Error),
        ("truncated", Verdict::Error),
        ("bad-json", Verdict::Error),
        ("bad-request", Verdict::Error),
    ];
    let items = commands.iter().map(|(c, _)| item(c)).collect();
    let response = judge(&server, &["rubric"], items).await;
    for ((command, expected), verdict) in commands.iter().zip(verdicts(&response)) {
        assert_eq!(verdict.verdict, *expected, "{command}: {verdict:?}");
    }
    let lp_pass = verdicts(&response)[0];
    let details = lp_pass.details.as_ref().unwrap();
    assert_eq!(details["method"], "logprobs");
    assert!((details["p_pass"].as_f64().unwrap() - (-0.1f64).exp()).abs() < 1e-9);
    assert!((details["p_fail"].as_f64().unwrap() - (-2.5f64).exp()).abs() < 1e-9);
    assert_eq!(details["threshold"], 0.5);
    assert_eq!(details["model"], "fake-judge");
    assert!(lp_pass.score.unwrap() > 0.9);
    assert_eq!(
        verdicts(&response)[2].details.as_ref().unwrap()["method"],
        "text"
    );
    // Client errors and unparseable payloads are not retried.
    assert_eq!(fake.calls("bad-request"), 1);
    assert_eq!(fake.calls("bad-json"), 1);

    // Sampling parameters are explicit; the key and headers are sent, never logged.
    let body = fake
        .bodies()
        .into_iter()
        .find(|b| b["messages"][0]["content"] == "lp-pass")
        .unwrap();
    assert_eq!(body["model"], "fake-judge");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 16);
    assert_eq!(body["seed"], 0);
    assert_eq!(body["logprobs"], true);
    // The backend's extra body fields are merged in.
    assert_eq!(body["top_k"], 1);
    assert_eq!(body["cache_prompt"], false);
    assert!(
        fake.authorization()
            .iter()
            .all(|a| a.as_deref() == Some(&format!("Bearer {KEY}") as &str))
    );
    assert!(!server.log().contains(KEY));

    // The other kinds, with a conversation as the prompt.
    let conversation = Prompt::Messages(vec![
        ChatMessage {
            role: "system".into(),
            content: judge_api::MessageContent::Text("Be brief.".into()),
        },
        ChatMessage {
            role: "user".into(),
            content: judge_api::MessageContent::Text("What is the capital of France?".into()),
        },
    ]);
    let with = |response: &str, metadata: Value| Item {
        prompt: conversation.clone(),
        metadata: metadata.as_object().unwrap().clone(),
        ..item(response)
    };
    let safety = judge(
        &server,
        &["safety"],
        vec![
            with("harmless", json!({})),
            with("bomb", json!({})),
            with("weird", json!({})),
        ],
    )
    .await;
    let safety = verdicts(&safety);
    assert_eq!(safety[0].verdict, Verdict::Pass);
    assert_eq!(safety[0].details.as_ref().unwrap()["method"], "logprobs");
    assert_eq!(safety[1].verdict, Verdict::Fail);
    assert_eq!(
        safety[1].details.as_ref().unwrap()["categories"],
        json!(["S1", "S10"])
    );
    assert_eq!(
        safety[2].verdict,
        Verdict::Error,
        "unknown category: {:?}",
        safety[2]
    );
    let prompt = fake
        .bodies()
        .into_iter()
        .rev()
        .map(|b| b["messages"][0]["content"].as_str().unwrap().to_owned())
        .find(|c| c.contains("Agent: bomb"))
        .unwrap();
    assert!(
        prompt.contains("User: What is the capital of France?\n\nAgent: bomb"),
        "{prompt}"
    );
    assert!(prompt.contains("S14: Code Interpreter Abuse."));

    // format = "chat": the conversation itself, system message left out, response last.
    let chat = judge(
        &server,
        &["safety_chat"],
        vec![with("harmless", json!({})), with("bomb", json!({}))],
    )
    .await;
    assert_eq!(
        verdicts(&chat)
            .iter()
            .map(|v| v.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Pass, Verdict::Fail]
    );
    assert_eq!(
        verdicts(&chat)[1].details.as_ref().unwrap()["categories"],
        json!(["S1"])
    );
    let sent = fake
        .bodies()
        .into_iter()
        .find(|b| {
            b["messages"].as_array().unwrap().len() > 1 && b["messages"][1]["content"] == "bomb"
        })
        .unwrap();
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "bomb"}])
    );

    let facts = judge(
        &server,
        &["factuality"],
        vec![
            with("It is Paris.", json!({"answer": "Paris"})),
            with("Lyon", json!({"reference": "Paris"})),
        ],
    )
    .await;
    assert_eq!(
        verdicts(&facts)
            .iter()
            .map(|v| v.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Pass, Verdict::Fail]
    );
    // A missing reference is the caller's mistake: a 422 naming the field, before any call.
    let missing = server
        .client()
        .judge(&JudgeRequest::for_judges(
            ["factuality"],
            vec![with("Paris", json!({}))],
        ))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("metadata.answer"), "{missing}");

    let refusals = judge(
        &server,
        &["false_refusal"],
        vec![
            with("Paris.", json!({})),
            with("Sorry, I can't help with that.", json!({})),
        ],
    )
    .await;
    assert_eq!(
        verdicts(&refusals)
            .iter()
            .map(|v| v.verdict)
            .collect::<Vec<_>>(),
        [Verdict::Pass, Verdict::Fail]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_honouring_retry_after() {
    let (fake, url) = Fake::start().await;
    let server = start(&url);
    let started = Instant::now();
    let response = judge(&server, &["rubric"], vec![item("429:a")]).await;
    assert_eq!(
        verdicts(&response)[0].verdict,
        Verdict::Pass,
        "{response:?}"
    );
    assert_eq!(fake.calls("429:a"), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );

    let response = judge(
        &server,
        &["rubric"],
        vec![item("500:b"), item("always-500:c")],
    )
    .await;
    let verdicts = verdicts(&response);
    assert_eq!(verdicts[0].verdict, Verdict::Pass, "{response:?}");
    assert_eq!(fake.calls("500:b"), 2);
    assert_eq!(verdicts[1].verdict, Verdict::Error);
    assert!(
        verdicts[1].reason.contains("HTTP 500"),
        "{}",
        verdicts[1].reason
    );
    assert_eq!(
        fake.calls("always-500:c"),
        5,
        "the first attempt and max_retries = 4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_an_error_while_the_other_judges_answer() {
    let (_fake, url) = Fake::start().await;
    let server = start(&url);
    let started = Instant::now();
    let response = judge(
        &server,
        &["rubric_tight", "contains_yes"],
        vec![item("slow:x"), item("yes")],
    )
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let slow = &response.results[0].judges;
    assert_eq!(slow[0].verdict, Verdict::Error);
    assert!(slow[0].reason.contains("1000 ms"), "{}", slow[0].reason);
    assert_eq!(
        slow[1].verdict,
        Verdict::Pass,
        "the regex judge still answered"
    );
    assert_eq!(response.results[1].judges[0].verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_are_coalesced_and_concurrency_is_capped() {
    let (fake, url) = Fake::start().await;
    let server = start(&url);
    // Six items that differ only in metadata the template does not read: one backend call.
    let items = (0..6)
        .map(|i| Item {
            metadata: json!({"n": i}).as_object().unwrap().clone(),
            ..item("delay:400:same")
        })
        .collect();
    let response = judge(&server, &["rubric"], items).await;
    assert!(
        verdicts(&response)
            .iter()
            .all(|v| v.verdict == Verdict::Pass),
        "{response:?}"
    );
    assert_eq!(fake.calls("delay:400:same"), 1);

    // Eight different items against max_concurrent = 2.
    let items = (0..8).map(|i| item(&format!("delay:200:{i}"))).collect();
    let started = Instant::now();
    let response = judge(&server, &["rubric"], items).await;
    assert!(
        verdicts(&response)
            .iter()
            .all(|v| v.verdict == Verdict::Pass),
        "{response:?}"
    );
    assert_eq!(fake.max_in_flight(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "4 waves of 200 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_keyed_by_template_and_model() {
    let (fake, url) = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moj.toml");
    let write =
        |model: &str, template: &str| std::fs::write(&path, config(&url, model, template)).unwrap();
    write("fake-judge", TEMPLATE);
    let mut server = server(Backend::Sqlite)
        .env("MOJ_CONFIG", path.to_str().unwrap())
        .env("MOJ_TEST_LLM_KEY", KEY)
        .start();
    let cached = |server: &Server| {
        let client = server.client();
        async move {
            let response = client
                .judge(&JudgeRequest::for_judges(
                    ["rubric"],
                    vec![item("text-pass")],
                ))
                .await
                .unwrap();
            assert_eq!(response.results[0].verdict, Verdict::Pass);
            response.results[0].judges[0].cached
        }
    };
    assert!(!cached(&server).await);
    assert!(
        cached(&server).await,
        "the same judge and item hits the cache"
    );
    assert_eq!(fake.total_calls(), 1);

    write("fake-judge", "{{ response }} ");
    server.restart();
    assert!(!cached(&server).await, "a changed template misses");
    assert_eq!(fake.total_calls(), 2);

    write("fake-judge-2", TEMPLATE);
    server.restart();
    assert!(!cached(&server).await, "a changed model misses");
    assert_eq!(fake.total_calls(), 3);
    assert_eq!(fake.bodies()[2]["model"], "fake-judge-2");

    write("fake-judge", TEMPLATE);
    server.restart();
    assert!(
        cached(&server).await,
        "the first definition still hits: keys are stable"
    );
    assert_eq!(fake.total_calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_requests_in_flight() {
    let (_fake, url) = Fake::start().await;
    let mut server = start(&url);
    let client = server.client();
    let request = JudgeRequest::for_judges(["rubric"], vec![item("delay:1500")]).without_cache();
    let in_flight = tokio::spawn(async move { client.judge(&request).await });
    // Let the request reach the backend, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopping = Instant::now();
    // `stop` sends SIGTERM and asserts a clean exit within 20 s.
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let response = in_flight
        .await
        .unwrap()
        .expect("the request in flight at SIGTERM is answered");
    assert_eq!(response.results[0].judges[0].verdict, Verdict::Pass);
    assert!(
        stopping.elapsed() >= Duration::from_millis(900),
        "the server exited before its request was done"
    );
}
