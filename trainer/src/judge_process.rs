//! Runs a `judge-server` binary on a loopback port for the experiment (and tests): embedded
//! SQLite cache, a generated judge/task config, stopped when dropped.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct JudgeServerProcess {
    child: Child,
    pub url: String,
    pub log: PathBuf,
}

/// The judge-server binary next to this executable (`target/<profile>/judge-server`), or
/// `MOJ_JUDGE_SERVER_BIN`.
pub fn default_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("MOJ_JUDGE_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    // test binaries live one level deeper, in deps/
    while let Some(d) = dir {
        let candidate = d.join("judge-server");
        if candidate.exists() {
            return Ok(candidate);
        }
        dir = d
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| p.ends_with("debug") || p.ends_with("release"));
    }
    bail!(
        "judge-server binary not found next to {}; build it (`cargo build --release -p judge-server`) or set MOJ_JUDGE_SERVER_BIN",
        exe.display()
    )
}

impl JudgeServerProcess {
    /// Starts `binary serve` with `config_toml`, data (SQLite) in `data_dir`, on 127.0.0.1:<free port>,
    /// and waits until `/readyz` answers (the first start compiles the CPython WASI runtime).
    pub fn start(
        binary: &Path,
        config_toml: &str,
        data_dir: &Path,
        ready_timeout: Duration,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let config = data_dir.join("judge-server.toml");
        std::fs::write(&config, config_toml)?;
        let log = data_dir.join("judge-server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .stdin(Stdio::null());
        for (key, _) in std::env::vars() {
            if (key.starts_with("MOJ_") && !key.starts_with("MOJ_SANDBOX_"))
                || key == "DATABASE_URL"
            {
                command.env_remove(key);
            }
        }
        command
            .env("MOJ_CONFIG", &config)
            .env("MOJ_LISTEN", "127.0.0.1:0")
            .env("MOJ_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn");
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("judge-server stdout")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("judge-server listening on ") {
                    let _ = sender.send(url.trim().to_string());
                }
            }
        });
        let url = match receiver.recv_timeout(ready_timeout) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!("judge-server did not start; see {}", log.display());
            }
        };
        let mut process = JudgeServerProcess { child, url, log };
        process.wait_ready(ready_timeout)?;
        Ok(process)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let addr = self.url.trim_start_matches("http://").to_string();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                bail!("judge-server exited ({status}); see {}", self.log.display());
            }
            if readyz(&addr).unwrap_or(false) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "judge-server was not ready after {:?}; see {}",
            timeout,
            self.log.display()
        )
    }
}

fn readyz(addr: &str) -> Result<bool> {
    Ok(http_get(addr, "/readyz")?.0 == 200)
}

/// A minimal HTTP/1.1 GET (no async runtime needed): status and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP answer")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

impl JudgeServerProcess {
    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for JudgeServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
