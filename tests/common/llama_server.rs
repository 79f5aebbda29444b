//! llama.cpp's `llama-server` serving SmolLM2-135M-Instruct (GGUF) on a loopback port, for the
//! tests that need a real model: `scripts/fetch-llama-cpp.sh` builds the binary and
//! `scripts/fetch-smollm2.sh` installs the model (scripts/test.sh runs both). Missing pieces fail
//! the test with the command that provides them; nothing is skipped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The model alias the server answers to (the `model` field of chat requests).
pub const MODEL_ALIAS: &str = "smollm2-135m";

fn cache_dir() -> PathBuf {
    std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"))
}

/// SmolLM2-135M-Instruct.Q4_1.gguf: `MOJ_SMOLLM2_GGUF`, else where fetch-smollm2.sh puts it.
pub fn smollm2_gguf() -> PathBuf {
    let path = std::env::var("MOJ_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("moj/models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-smollm2.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A llama.cpp tool (`llama-server`, `llama-bench`, ...): `MOJ_LLAMA_CPP_BIN/<name>`, else the
/// folder fetch-llama-cpp.sh builds into.
pub fn llama_cpp_tool(name: &str) -> PathBuf {
    let dir = std::env::var("MOJ_LLAMA_CPP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("moj/llama.cpp-11434.0.0/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-llama-cpp.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running llama-server; killed on drop.
pub struct LlamaServer {
    child: Child,
    pub port: u16,
}

impl LlamaServer {
    /// Starts llama-server on SmolLM2 with one slot, two threads and its Prometheus metrics,
    /// and waits until `/health` answers 200.
    pub fn start() -> LlamaServer {
        LlamaServer::start_with(&smollm2_gguf(), &[])
    }

    /// The same on another GGUF file, with extra llama-server arguments.
    pub fn start_with(gguf: &std::path::Path, extra: &[&str]) -> LlamaServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(llama_cpp_tool("llama-server"))
            .arg("-m")
            .arg(gguf)
            .args(["--alias", MODEL_ALIAS, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["-c", "2048", "-t", "2", "-np", "1", "--jinja", "--no-webui"])
            .arg("--metrics")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("llama-server starts");
        let server = LlamaServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if matches!(server.get("/health"), Some((200, _))) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("llama-server did not become healthy on port {port} within 120 s");
    }

    /// The OpenAI-compatible base URL (`.../v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// A plain HTTP/1.0 request: the status and body, or `None` when nothing answers.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .ok()?;
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_owned();
        Some((status, body))
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request("GET", path, None)
    }

    /// POSTs JSON and parses the JSON answer (panics on a non-200 status).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let (status, text) = self
            .request("POST", path, Some(&body.to_string()))
            .unwrap_or_else(|| panic!("llama-server did not answer POST {path}"));
        assert_eq!(status, 200, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A counter from llama-server's Prometheus metrics (e.g. `llamacpp:tokens_predicted_total`).
    pub fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").expect("llama-server /metrics answers");
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("metric {name} missing from llama-server /metrics"))
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
