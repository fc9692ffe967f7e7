//! The real Python MCP server of issue 13's table: `bench/python/echo_server.py` (the official
//! `mcp` SDK's FastMCP, `MCPServer` since mcp 2, one `echo` tool, streamable HTTP, stateful
//! sessions, every answer an SSE stream written in several pieces) as a child process.
//!
//! The in-process [`crate::sse_backend`] answers in ~50 µs, so any proxy's own cost is a large
//! share of a request there and no proxy reaches 90 % of direct; the issue's goal (gateway ≥ 0.9
//! × direct at c=1) is about a server as deployed, which takes about a millisecond per request.
//!
//! The interpreter: `GATEWAY_BENCH_PYTHON` (set by `bench/gateway.sh` to its virtualenv's, with
//! `bench/python/requirements.txt` installed; set but empty when that install failed), else
//! `python3` on `PATH`; either must import `mcp` and `uvicorn`, or the row is skipped with a
//! message, like the nginx floor. The script binds a free loopback port itself and prints it, so
//! there is no race for the port. Stopped (SIGTERM, then SIGKILL) when dropped.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// The script, from the source tree (the example is built and run from it).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/python/echo_server.py");
/// The variable that names the interpreter.
pub const PYTHON_VAR: &str = "GATEWAY_BENCH_PYTHON";
/// Importing the SDK and starting uvicorn takes a second or two on a busy machine.
const START_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// How long the import check may take.
const CHECK_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The interpreter to run the server with, or why there is none.
pub fn find() -> Result<PathBuf, String> {
    find_in(std::env::var_os(PYTHON_VAR))
}

/// [`find`] with the variable's value given.
fn find_in(var: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    let python = match var {
        Some(v) if v.is_empty() => {
            return Err(format!(
                "{PYTHON_VAR} is empty (bench/gateway.sh could not install bench/python/requirements.txt)"
            ));
        }
        Some(v) => PathBuf::from(v),
        None => PathBuf::from("python3"),
    };
    let check = Command::new(&python)
        .args(["-c", "import mcp.server, uvicorn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = check.map_err(|e| format!("{} cannot be run: {e}", python.display()))?;
    let deadline = Instant::now() + CHECK_LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(python),
            Ok(Some(_)) => {
                return Err(format!(
                    "{} cannot import mcp and uvicorn",
                    python.display()
                ));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} -c 'import mcp' did not finish",
                    python.display()
                ));
            }
        }
    }
}

pub struct PythonServer {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// The SDK's version, for the report.
    pub version: String,
    /// Its stderr (uvicorn's and the SDK's warnings), shown when it fails to start.
    log: PathBuf,
}

impl PythonServer {
    pub fn start(python: &std::path::Path) -> anyhow::Result<Self> {
        let log =
            std::env::temp_dir().join(format!("gateway_bench_python_{}.log", std::process::id()));
        let version = Command::new(python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('mcp'))",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let mut child = Command::new(python)
            .arg(SCRIPT)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {} {SCRIPT}", python.display()))?;
        // The first line on stdout names the port; read on a thread so the wait is bounded.
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            // Drained until the server exits, so a late print never meets a closed pipe.
            lines.for_each(drop);
        });
        let mut server = Self {
            child,
            url: String::new(),
            version,
            log,
        };
        let line = rx.recv_timeout(START_LIMIT).unwrap_or_default();
        let Some(port) = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse::<u16>().ok())
        else {
            bail!("the Python MCP server did not start: {}", server.stderr());
        };
        server.url = format!("http://127.0.0.1:{port}/mcp");
        server.wait_ready(port)?;
        Ok(server)
    }

    /// Until uvicorn listens on the port the script bound.
    fn wait_ready(&mut self, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the Python MCP server exited ({status}): {}", self.stderr());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        bail!(
            "the Python MCP server does not listen after {START_LIMIT:?}: {}",
            self.stderr()
        )
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// User and system CPU time of the server so far, in microseconds (one process: uvicorn
    /// runs one event loop).
    pub fn cpu_micros(&self) -> (u64, u64) {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|stat| crate::ticks(&stat))
            .map_or((0, 0), |(u, s)| (u * 10_000, s * 10_000))
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SIGTERM: uvicorn's graceful shutdown (it closes idle keep-alive connections).
            // SAFETY: kill has no memory-safety preconditions; `pid` is our child's.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn an_empty_variable_or_a_missing_interpreter_skips_the_row() {
        let empty = find_in(Some("".into())).unwrap_err();
        assert!(empty.contains("is empty"), "{empty}");
        let missing = find_in(Some("/nonexistent/python3".into())).unwrap_err();
        assert!(missing.contains("cannot be run"), "{missing}");
    }

    /// Needs a Python with the SDK (`bash bench/gateway.sh` makes one; then
    /// `GATEWAY_BENCH_PYTHON=target/bench-venv/bin/python cargo test --example gateway_bench`);
    /// says so and passes without one, as the benchmark skips the row.
    #[test]
    fn the_server_answers_initialize_in_sse_and_is_gone_once_dropped() {
        let python = match find() {
            Ok(python) => python,
            Err(why) => {
                eprintln!("no Python MCP server to test: {why}");
                return;
            }
        };
        let server = PythonServer::start(&python).unwrap();
        let pid = server.child.id();
        let url = url::Url::parse(&server.url).unwrap();
        let addr = format!("127.0.0.1:{}", url.port().unwrap());
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let lower = answer.to_ascii_lowercase();
        assert!(lower.starts_with("http/1.1 200"), "{answer}");
        assert!(
            lower.contains("content-type: text/event-stream"),
            "{answer}"
        );
        assert!(lower.contains("mcp-session-id: "), "{answer}");
        assert!(
            answer.contains(r#""protocolVersion":"2025-11-25""#),
            "{answer}"
        );
        drop(server);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the server outlived its handle"
        );
    }
}
