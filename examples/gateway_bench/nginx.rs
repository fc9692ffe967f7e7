//! The floor of "one more hop": a private nginx as a plain reverse proxy (no authentication)
//! in front of the same backends, so the gateway's cost is judged against a proxy that
//! checks nothing (issue 13).
//!
//! Its own prefix, configuration, pid file, logs and temp paths in a temporary directory;
//! `daemon off`, so the master is this process's child; a loopback port; keep-alive to the
//! client and to the upstreams (`keepalive` pool, HTTP/1.1, `Connection: ""`), `access_log off`,
//! `worker_processes auto` (one worker per CPU, as the bridge has one tokio worker per CPU) and
//! `proxy_buffering off` for the streaming backends (each event passed on as it arrives, as the
//! gateway does), and the upstream's own `Host` (the Python SDK's DNS-rebinding guard accepts
//! `127.0.0.1:*` only, not nginx's default, the upstream block's name). Stopped (SIGTERM, then SIGKILL for the master and its workers) when dropped.

use std::{
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// How long nginx may take to start (listen, fork its workers) and to stop.
const START_LIMIT: Duration = Duration::from_secs(10);
const STOP_LIMIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// The `nginx` binary: on `PATH`, else Debian's `/usr/sbin/nginx` (not on a user's `PATH`).
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// One backend behind nginx: `/{name}` proxies to `url` (`http://127.0.0.1:P/mcp`).
pub struct Route<'a> {
    pub name: &'a str,
    pub url: &'a str,
    /// Answers in SSE, several writes: passed on unbuffered.
    pub streaming: bool,
}

pub struct Nginx {
    master: Child,
    workers: Vec<libc::pid_t>,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`; each [`Route`] at `/{name}`.
    pub base: String,
    pub version: String,
}

impl Nginx {
    /// Starts nginx in front of `routes`.
    pub fn start(binary: &Path, routes: &[Route<'_>]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("gateway_bench_nginx_{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // A free loopback port (released just before nginx binds it).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = config(&dir, port, routes)?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config)?;
        let version = Command::new(binary)
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .unwrap_or_default();
        let master = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut nginx = Self {
            master,
            workers: Vec::new(),
            dir,
            base: format!("http://127.0.0.1:{port}"),
            version,
        };
        nginx.wait_ready(port)?;
        Ok(nginx)
    }

    /// Until the port accepts and the workers are forked.
    fn wait_ready(&mut self, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while Instant::now() < deadline {
            if let Some(status) = self.master.try_wait()? {
                bail!("nginx exited ({status}): {}", self.error_log());
            }
            let pid = libc::pid_t::try_from(self.master.id())?;
            self.workers = children(pid);
            if !self.workers.is_empty()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        bail!(
            "nginx not ready after {START_LIMIT:?}: {}",
            self.error_log()
        )
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// User and system CPU time of the worker processes so far, in microseconds (the master
    /// only waits for signals).
    pub fn cpu_micros(&self) -> (u64, u64) {
        self.workers
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| crate::ticks(&stat))
            .fold((0, 0), |(user, system), (u, s)| {
                (user + u * 10_000, system + s * 10_000)
            })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Ok(pid) = libc::pid_t::try_from(self.master.id()) else {
            return;
        };
        // SIGTERM: nginx's fast shutdown (master and workers).
        // SAFETY: kill has no memory-safety preconditions; `pid` is our child's.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_LIMIT;
        let mut exited = false;
        while Instant::now() < deadline {
            if matches!(self.master.try_wait(), Ok(Some(_))) {
                exited = true;
                break;
            }
            std::thread::sleep(POLL);
        }
        if !exited {
            let _ = self.master.kill();
            let _ = self.master.wait();
        }
        for worker in &self.workers {
            // A worker outlives a killed master; ESRCH when it is already gone.
            // SAFETY: as above; these were the master's children.
            unsafe { libc::kill(*worker, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `host:port` of a `http://host:port/mcp` URL.
fn upstream(url: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(url)?;
    Ok(format!(
        "{}:{}",
        url.host_str().context("no host")?,
        url.port_or_known_default().context("no port")?
    ))
}

/// The child processes of `pid` (Linux's `/proc/PID/task/PID/children`).
fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn config(dir: &Path, port: u16, routes: &[Route<'_>]) -> anyhow::Result<String> {
    let d = dir.display();
    let mut upstreams = String::new();
    let mut locations = String::new();
    for route in routes {
        let (name, host) = (route.name, upstream(route.url)?);
        let path = url::Url::parse(route.url)?.path().to_owned();
        upstreams.push_str(&format!(
            "    upstream {name} {{ server {host}; keepalive 128; keepalive_requests 10000000; }}\n"
        ));
        let buffering = if route.streaming {
            "\n            proxy_buffering off;"
        } else {
            ""
        };
        locations.push_str(&format!(
            r#"        location = /{name} {{
            proxy_pass http://{name}{path};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {host};{buffering}
        }}
"#
        ));
    }
    Ok(format!(
        r#"daemon off;
master_process on;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
{upstreams}    server {{
        listen 127.0.0.1:{port};
{locations}    }}
}}
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_keeps_its_upstream_host_and_streams_unbuffered() {
        let routes = [
            Route {
                name: "fast",
                url: "http://127.0.0.1:7001/mcp",
                streaming: false,
            },
            Route {
                name: "python",
                url: "http://127.0.0.1:7002/mcp",
                streaming: true,
            },
        ];
        let conf = config(Path::new("/tmp/x"), 9000, &routes).unwrap();
        let location = |name: &str| {
            let start = conf.find(&format!("location = /{name} {{")).unwrap();
            conf[start..].split('}').next().unwrap().to_owned()
        };
        let (fast, python) = (location("fast"), location("python"));
        // The Python SDK answers 421 to any Host but 127.0.0.1:* (its DNS-rebinding guard),
        // and nginx would send the upstream block's name.
        assert!(fast.contains("proxy_set_header Host 127.0.0.1:7001;"));
        assert!(python.contains("proxy_set_header Host 127.0.0.1:7002;"));
        assert!(python.contains("proxy_pass http://python/mcp;"));
        assert!(python.contains("proxy_buffering off;"));
        assert!(!fast.contains("proxy_buffering"));
        assert!(conf.contains("upstream python { server 127.0.0.1:7002;"));
        assert!(conf.contains("listen 127.0.0.1:9000;"));
    }
}
