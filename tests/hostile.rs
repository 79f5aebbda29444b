//! Hostile input against the real server, on SQLite and PostgreSQL: deeply nested JSON, huge
//! numbers, invalid UTF-8, NUL bytes, SQL metacharacters and path traversal in names, quotes and
//! control characters in every field. Each answer is a 2xx or a 4xx with a JSON error body —
//! never a 5xx, never a dropped connection — and the server answers a normal request afterwards.
//! (Malformed JSON, wrong types, size limits and unknown fields: tests/api.rs. Generated
//! requests against the OpenAPI schema: clients/python/tests/test_openapi_schemathesis.py.)

mod common;

use common::{Backend, Server, server};
use serde_json::{Value, json};

const SCORER_KEY: &str = "scorer-key-0123456789";
const ADMIN_KEY: &str = "admin-key-0123456789";

const CONFIG: &str = r#"
[judges.mentions_paris]
kind = "regex"
config = { must_match = ["Paris"] }

[judges.math_answer]
kind = "math"
"#;

/// A 2xx, or a 4xx whose body is a JSON error with a message.
fn assert_handled(what: &str, status: u16, body: &Value) {
    assert!(status < 500, "{what}: {status} {body}");
    if status >= 400 {
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {status} without a JSON error body: {body}"
        );
    }
}

async fn hostile_requests_are_answered_not_crashed(backend: Backend) {
    let server = server(backend)
        .config(CONFIG)
        .env("MOJ_ADMIN_KEYS", ADMIN_KEY)
        .env("MOJ_API_KEYS", SCORER_KEY)
        .start();
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(ADMIN_KEY);
    let http = common::http();

    // Deeply nested JSON: 100,000 levels in metadata, in a body under the size limit.
    let depth = 100_000;
    let nested = format!(
        r#"{{"judges":["mentions_paris"],"items":[{{"response":"Paris","metadata":{{"deep":{}{}}}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let (status, body) = post_with_key(&server, nested).await;
    assert_handled("nested JSON", status, &body);
    assert_eq!(status, 400, "{body}");

    // Huge numbers, NUL bytes, control characters, quotes and SQL in every field.
    let nasty = "Paris'); DROP TABLE verdicts; --\u{0}\u{1}\u{7f}\"\\ \u{202e}\u{fffd}";
    let request = json!({
        "judges": ["mentions_paris", "math_answer"],
        "items": [
            {"id": nasty, "prompt": nasty, "response": nasty,
             "metadata": {"answer": nasty, nasty: [1e308, -1e308, 123456789012345678901234567890u128.to_string()]}},
            {"prompt": [{"role": nasty, "content": nasty}], "response": "The final answer is 1e999999999",
             "metadata": {"answer": "99999999999999999999999999999999999999999999999999"}},
            {"response": "\u{0}", "metadata": {"answer": "123456789012345678901234567890"}},
        ]
    });
    // A gold answer as a JSON integer past 2^64 is kept exact (it reaches the judge as its
    // digits): the right answer passes, one a unit away fails, and so does the float the
    // integer would have been read as.
    let exact = r#"{"judges": ["math_answer"], "items": [
        {"id": 1, "response": "The final answer is 123456789012345678901234567890", "metadata": {"answer": 123456789012345678901234567890}},
        {"id": 2, "response": "The final answer is 123456789012345678901234567891", "metadata": {"answer": 123456789012345678901234567890}},
        {"id": 3, "response": "The final answer is 123456789012345677877719597056", "metadata": {"answer": 123456789012345678901234567890}},
        {"id": 18446744073709551616, "response": "The final answer is -99999999999999999999", "metadata": {"answer": -99999999999999999999}}]}"#;
    let (status, body) = post_with_key(&server, exact.to_owned()).await;
    assert_handled("big integers", status, &body);
    assert_eq!(status, 200, "{body}");
    let verdicts: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "fail", "fail", "pass"], "{body}");
    assert_eq!(body["results"][3]["id"], "18446744073709551616", "{body}");
    // A float literal that large holds no exact integer: the math judge refuses it (naming the
    // field) instead of judging against another number.
    let lossy = json!({"judges": ["math_answer"], "items": [
        {"response": "The final answer is 123456789012345678901234567890",
         "metadata": {"answer": 123456789012345678901234567890.0}},
    ]});
    let (status, body) = post_with_key(&server, lossy.to_string()).await;
    assert_handled("a lossy number", status, &body);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "items[0].metadata.answer", "{body}");
    for round in 0..2 {
        let (status, body) = post_with_key(&server, request.to_string()).await;
        assert_handled("nasty fields", status, &body);
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["id"], nasty, "the id comes back byte for byte");
        assert_eq!(results[0]["judges"][0]["verdict"], "pass");
        if round == 1 {
            // The second round is served from the cache: the NUL bytes were stored and read back.
            assert_eq!(results[0]["judges"][0]["cached"], true, "{body}");
        }
    }
    // A number JSON cannot hold as f64.
    let (status, body) = post_with_key(
        &server,
        r#"{"judges":["math_answer"],"items":[{"response":"The final answer is 1","metadata":{"answer":1e400}}]}"#.to_owned(),
    )
    .await;
    assert_handled("1e400", status, &body);

    // Invalid UTF-8 in the body.
    let mut bytes = br#"{"judges":["mentions_paris"],"items":[{"response":""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc0, 0x80]);
    bytes.extend_from_slice(br#""}]}"#);
    let response = http
        .post(server.url("/v1/judge"))
        .bearer_auth(SCORER_KEY)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_handled("invalid UTF-8", status, &body);
    assert_eq!(status, 400, "{body}");

    // SQL metacharacters, path traversal, NUL and overlong names: refused, nothing created.
    for name in [
        "x'; DROP TABLE judges; --",
        "../../etc/passwd",
        "..",
        "a/b",
        "a\u{0}b",
        "%2e%2e%2f",
        &"n".repeat(129),
    ] {
        let url = format!(
            "{}/v1/judges/{}",
            server.base,
            name.replace('%', "%25")
                .replace('/', "%2F")
                .replace('\u{0}', "%00")
        );
        let response = admin(http.put(&url))
            .json(&json!({"kind": "regex", "config": {"must_match": ["a"]}}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status == 400 || status == 404,
            "name {name:?}: {status} {body}"
        );
    }
    let list: Value = admin(http.get(server.url("/v1/judges")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["judges"].as_array().unwrap().len(), 2, "{list}");

    // A task whose judge list is SQL: refused as unknown judges.
    let response = admin(http.put(server.url("/v1/tasks/t1")))
        .json(&json!({"judges": ["mentions_paris'; DELETE FROM verdicts; --"]}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "{status}");

    still_healthy_with_key(&server).await;
}

async fn post_with_key(server: &Server, body: String) -> (u16, Value) {
    common::post_raw_as(server, "/v1/judge", body, Some(SCORER_KEY)).await
}

async fn still_healthy_with_key(server: &Server) {
    let (status, body) = post_with_key(
        server,
        json!({"judges": ["mentions_paris"], "items": [{"prompt": "Capital?", "response": "Paris"}]})
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["verdict"], "pass");
}

on_both_backends!(hostile_requests_are_answered_not_crashed);

/// Slow clients: headers that never finish close the connection after
/// `limits.header_read_timeout_ms`; a body that never finishes is a 408 after
/// `limits.body_read_timeout_ms`; other clients are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_are_served() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_LIMITS_HEADER_READ_TIMEOUT_MS", "500")
        .env("MOJ_LIMITS_BODY_READ_TIMEOUT_MS", "500")
        .start();
    let address = server.base.trim_start_matches("http://").to_owned();

    // Half a request line and one header, then silence.
    let mut slow_headers = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow_headers
        .write_all(b"POST /v1/judge HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Full headers, 10 of the 1,000 body bytes announced, then silence.
    let mut slow_body = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/judge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"judges\":",
        )
        .await
        .unwrap();
    let started = Instant::now();

    // Meanwhile a normal client is served.
    let (status, body) = common::post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["mentions_paris"], "items": [{"response": "Paris"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        slow_headers.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes a connection whose headers never finish");
    assert!(
        read.is_err() || answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow_body.read_to_end(&mut answer))
        .await
        .expect("the server answers a body that never finishes")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
}
