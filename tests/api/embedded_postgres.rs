//! `database.url = "embedded"` with real processes: `mcp-auth-bridge serve` on `config/dev.toml`
//! (its default is `embedded`) with a temporary XDG_CACHE_HOME, the private cluster started from
//! the machine's PostgreSQL server programs (CI installs them: `.ci/run`), then stopped.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::support::bridge_process::BridgeProcess;

/// initdb on a loaded CI machine can take a while.
const FIRST_START: Duration = Duration::from_secs(180);

/// A short (Unix socket paths are limited) cache directory any account can traverse, as `/tmp`
/// is: when the tests run as root the cluster runs as `postgres`.
struct Cache(PathBuf);

impl Cache {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = PathBuf::from(format!(
            "/tmp/mab-pg-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cache(dir)
    }
    fn env(&self) -> [(&'static str, &str); 1] {
        [("XDG_CACHE_HOME", self.0.to_str().unwrap())]
    }
    fn data(&self) -> PathBuf {
        self.0.join("mcp-auth-bridge/pg/data")
    }
    fn socket(&self) -> PathBuf {
        self.0.join("mcp-auth-bridge/pg/run/.s.PGSQL.5432")
    }
    /// The postmaster's PID from its lock file, if it has one.
    fn postmaster_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The README's configuration, on its own port.
fn dev_config(port: u16) -> String {
    std::fs::read_to_string("config/dev.toml")
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
}

/// Whether `pid` is a live process (not a zombie waiting for its new parent to reap it).
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

async fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn start(cache: &Cache) -> BridgeProcess {
    let port = BridgeProcess::free_port();
    BridgeProcess::start(port, &dev_config(port), &cache.env(), FIRST_START).await
}

#[tokio::test]
async fn embedded_cluster_serves_refuses_a_second_bridge_and_stops_with_sigterm() {
    // Arrange: the README's configuration, nothing set up.
    let cache = Cache::new();

    // Act: first run (initdb, start, create the database, migrate).
    let mut bridge = start(&cache).await;

    // Assert: ready on a private socket; no TCP listener of its own is needed.
    let pid = cache
        .postmaster_pid()
        .expect("postmaster.pid while running");
    assert!(alive(pid));
    assert!(cache.socket().exists(), "{}", bridge.output());

    // A second bridge on the same cache directory says so and leaves the cluster alone.
    let port2 = BridgeProcess::free_port();
    let mut second = BridgeProcess::spawn(port2, &dev_config(port2), &cache.env());
    let status = second
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the second bridge exits");
    assert!(!status.success());
    assert!(
        second
            .output()
            .contains("in use by another mcp-auth-bridge"),
        "{}",
        second.output()
    );
    assert!(alive(pid));
    assert!(bridge.wait_ready(Duration::from_secs(5)).await);

    // SIGTERM: the bridge drains, stops the cluster (fast mode) and exits cleanly.
    bridge.terminate();
    let status = bridge
        .wait_exit(Duration::from_secs(60))
        .await
        .expect("the bridge exits after SIGTERM");
    assert!(status.success(), "{status}: {}", bridge.output());
    assert!(!alive(pid), "the postmaster outlived the bridge");
    assert!(!cache.data().join("postmaster.pid").exists());
    assert!(!cache.socket().exists());
}

#[tokio::test]
async fn sigkill_of_the_bridge_stops_the_cluster_and_a_stale_pid_file_does_not_block_the_next_start()
 {
    // Arrange: a running bridge with its cluster.
    let cache = Cache::new();
    let mut bridge = start(&cache).await;
    let pid = cache
        .postmaster_pid()
        .expect("postmaster.pid while running");

    // Act: SIGKILL: no chance to clean up; the kernel tells the postmaster (parent-death signal).
    bridge.kill9();

    // Assert: the postmaster does not outlive the bridge.
    assert!(
        wait_gone(pid, Duration::from_secs(30)).await,
        "postmaster {pid} still runs after its bridge was killed"
    );

    // Arrange: a crash that left postmaster.pid behind, naming a PID that now belongs to another
    // live process (PID reuse): PostgreSQL alone would refuse to start.
    let lock_file = cache.data().join("postmaster.pid");
    std::fs::write(
        &lock_file,
        format!(
            "{}\n{}\n0\n5432\n/nonexistent\n\n0 0\nready   \n",
            std::process::id(),
            cache.data().display()
        ),
    )
    .unwrap();

    // Act: the next start.
    let port = BridgeProcess::free_port();
    let mut again = BridgeProcess::spawn(port, &dev_config(port), &cache.env());

    // Assert: it recovers and serves.
    assert!(
        again.wait_ready(Duration::from_secs(120)).await,
        "{}",
        again.output()
    );
    let new_pid = cache.postmaster_pid().expect("postmaster.pid");
    assert_ne!(new_pid, std::process::id() as i32);
    again.terminate();
    assert!(again.wait_exit(Duration::from_secs(60)).await.is_some());
    assert!(!alive(new_pid));
    assert!(!Path::new(&lock_file).exists());
}

#[test]
fn embedded_is_refused_outside_dev_mode() {
    // Arrange: the dev configuration with dev mode off.
    let dir = std::env::temp_dir().join(format!("mab-emb-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bridge.toml");
    std::fs::write(
        &config,
        dev_config(8080).replace("dev_mode = true", "dev_mode = false"),
    )
    .unwrap();

    // Act
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env_remove("MCP_AUTH_BRIDGE__DATABASE__URL")
        .env_remove("MCP_AUTH_BRIDGE_CONFIG")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // Assert: a configuration error (exit 2) naming the key and the rule.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("database.url"), "{stderr}");
    assert!(stderr.contains("only for dev_mode"), "{stderr}");
}
