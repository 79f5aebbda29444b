//! Backpressure end to end: with every scoring slot busy and no queue, the server answers 503
//! with Retry-After instead of queueing without limit, and serves again once a slot frees.

mod common;

use std::time::Duration;

use common::{Backend, post_raw, server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_server_answers_503_with_retry_after() {
    let server = server(Backend::Sqlite)
        .config(
            r#"
[judges.slow]
kind = "python"
config = { timeout_ms = 20000, source = "import time\ndef judge(prompt, response, metadata):\n    t = time.time()\n    while time.time() < t + 3:\n        pass\n    return True\n" }

[judges.fast]
kind = "refusal"
"#,
        )
        .env("MOJ_LIMITS_MAX_CONCURRENT_BATCHES", "1")
        .env("MOJ_LIMITS_MAX_CONCURRENT_SMALL_BATCHES", "1")
        .env("MOJ_LIMITS_MAX_QUEUED_BATCHES", "0")
        .start();
    let slow_body =
        json!({"judges": ["slow"], "cache": false, "items": [{"response": "x"}]}).to_string();
    let busy = {
        let url = server.url("/v1/judge");
        tokio::spawn(async move {
            common::http()
                .post(url)
                .header("content-type", "application/json")
                .body(slow_body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // Wait until the slow batch holds the only slot.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = common::metrics(&server).await;
        if metrics.contains("moj_batches_in_flight 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow batch never started:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = common::http()
        .post(server.url("/v1/judge"))
        .header("content-type", "application/json")
        .body(json!({"judges": ["fast"], "items": [{"response": "Sure."}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(busy.await.unwrap(), 200);
    // The slot is free again.
    let (status, _) = post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["fast"], "items": [{"response": "Sure."}]}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let metrics = common::metrics(&server).await;
    assert!(metrics.contains("moj_rejected_busy_total 1"), "{metrics}");
}
