//! Where the private cluster lives, and the lock that keeps two bridges off one data directory.
//!
//! Layout, under `$XDG_CACHE_HOME/mcp-auth-bridge` (or `~/.cache/mcp-auth-bridge`):
//! `pg.lock` (held by the bridge while it runs), `pg/data` (the cluster), `pg/run` (its Unix
//! socket, mode 0700: only its owner and root may connect) and `pg/postgres.log`.

use std::{
    fs::File,
    os::{fd::AsRawFd, unix::fs::PermissionsExt},
    path::{Path, PathBuf},
};

use super::account::{self, Account};

/// Where root's cluster goes when root's cache is not reachable by the `postgres` account.
const ROOT_FALLBACK: &str = "/var/tmp/mcp-auth-bridge";

#[derive(Debug)]
pub struct Location {
    pub lock: PathBuf,
    pub base: PathBuf,
    pub data: PathBuf,
    pub socket_dir: PathBuf,
    pub log: PathBuf,
}

impl Location {
    fn under(root: &Path) -> Self {
        let base = root.join("pg");
        Self {
            lock: root.join("pg.lock"),
            data: base.join("data"),
            socket_dir: base.join("run"),
            log: base.join("postgres.log"),
            base,
        }
    }

    /// Chooses and creates the directories; they are owned by `account` when the cluster runs
    /// as another user than the bridge.
    pub fn prepare(account: Option<Account>) -> Result<Self, String> {
        let cache = cache_dir()?;
        let mut root = cache.join("mcp-auth-bridge");
        create_dir(&root, 0o755)?;
        if let Some(account) = account {
            if !account::can_reach(account, &root) {
                tracing::info!(
                    cache = %root.display(),
                    fallback = ROOT_FALLBACK,
                    "the `postgres` account cannot reach root's cache; the embedded cluster lives in the fallback directory"
                );
                root = PathBuf::from(ROOT_FALLBACK);
                create_dir(&root, 0o755)?;
            }
        }
        let location = Self::under(&root);
        create_dir(&location.base, 0o700)?;
        create_dir(&location.socket_dir, 0o700)?;
        if let Some(account) = account {
            for dir in [&location.base, &location.socket_dir] {
                std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))
                    .map_err(|e| format!("chown {}: {e}", dir.display()))?;
            }
        }
        // A Unix socket path is limited to 107 bytes (sun_path).
        let socket = location.socket_dir.join(".s.PGSQL.5432");
        if socket.as_os_str().len() > 100 {
            return Err(format!(
                "the embedded cluster's socket path {} is too long for a Unix socket: set \
                 XDG_CACHE_HOME to a shorter directory",
                socket.display()
            ));
        }
        Ok(location)
    }
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache` (the XDG base directory defaults).
fn cache_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        if dir.is_absolute() {
            return Ok(dir);
        }
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache"))
        .ok_or_else(|| {
            "neither XDG_CACHE_HOME nor HOME is set: no cache directory for the embedded cluster"
                .to_string()
        })
}

fn create_dir(dir: &Path, mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))
}

/// An exclusive `flock` on `pg.lock`, released by the kernel when the bridge exits however it
/// exits (SIGKILL included), so a crash never leaves it behind.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(path: &Path, data: &Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own for the lifetime of `file`.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            Ok(Self { _file: file })
        } else {
            Err(format!(
                "the embedded PostgreSQL data directory {} is in use by another mcp-auth-bridge \
                 (it holds {}): stop that one, or give this one another cache directory \
                 (XDG_CACHE_HOME) or database.url",
                data.display(),
                path.display()
            ))
        }
    }
}
