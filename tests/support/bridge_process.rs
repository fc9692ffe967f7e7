//! The real `mcp-auth-bridge serve` as a child process, for the tests that are about processes:
//! a replica killed with SIGKILL mid-refresh, start-up against an unreachable database,
//! SIGTERM with requests in flight. Its stdout and stderr go to a file the test can read.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running (or exited) `mcp-auth-bridge serve` process. Killed when dropped.
pub struct BridgeProcess {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:PORT`, which is also its `public_url` unless the config says otherwise.
    pub address: String,
    dir: PathBuf,
}

impl BridgeProcess {
    /// A free loopback port (bound and released: another process could take it in between, which
    /// loopback tests accept).
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
    }

    /// Writes `config_toml` to a file of its own and starts `serve --config` on it, without
    /// waiting. `port` must be the one `server.bind` names (see `free_port`).
    pub fn spawn(port: u16, config_toml: &str, env: &[(&str, &str)]) -> BridgeProcess {
        let dir = std::env::temp_dir().join(format!(
            "mab-proc-{}-{port}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("bridge.toml");
        std::fs::write(&config, config_toml).expect("write config");
        let log = std::fs::File::create(dir.join("output.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"));
        command
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("MCP_AUTH_BRIDGE_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn mcp-auth-bridge");
        BridgeProcess {
            child,
            port,
            address: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// `spawn`, then waits (at most `timeout`) until `/readyz` answers 200; panics with the
    /// process's output otherwise.
    pub async fn start(
        port: u16,
        config_toml: &str,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> BridgeProcess {
        let mut process = BridgeProcess::spawn(port, config_toml, env);
        if !process.wait_ready(timeout).await {
            panic!(
                "the bridge did not become ready within {timeout:?}:\n{}",
                process.output()
            );
        }
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Polls `/readyz` every 100 ms until it answers 200, the process exits, or `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return false;
            }
            if let Ok(r) = http.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// SIGKILL: the process dies at once, holding whatever it held (connections, locks, leases).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the process drains and exits on its own.
    pub fn terminate(&self) {
        // SAFETY: sending a signal to our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits (at most `timeout`, polling) for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Everything the process printed so far (stdout and stderr interleaved).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("output.log")).unwrap_or_default()
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `postgres://` URL for `database` on the server named by `DATABASE_URL`, optionally through
/// another port (a fault proxy). Loopback without TLS (`sslmode=disable`) unless `DATABASE_URL`
/// chose a mode: the test server is local, a TLS handshake there only costs time.
pub fn database_url_for(database: &str, port: Option<u16>) -> String {
    let mut url = url::Url::parse(&super::fault_proxy::database_url()).expect("DATABASE_URL");
    url.set_path(&format!("/{database}"));
    if let Some(port) = port {
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(port)).expect("port");
    }
    if !url.query_pairs().any(|(k, _)| k == "sslmode") {
        url.query_pairs_mut().append_pair("sslmode", "disable");
    }
    url.to_string()
}
