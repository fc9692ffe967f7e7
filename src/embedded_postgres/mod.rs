//! `database.url = "embedded"` (dev mode only): a private PostgreSQL cluster started from the
//! server programs installed on the machine, so a first run needs no database set-up.
//!
//! The cluster lives under the user's cache directory ([`location`]), listens only on a Unix
//! socket in a 0700 directory of its own (no TCP port, so it never collides with a server on
//! 5432), trusts local connections (only the socket's owner and root can reach it), and is
//! stopped in fast mode when the bridge exits. This is process management, not SQL: the store
//! only sees the `postgres://…?host=<socket dir>` URL it gets.
//!
//! Lifetimes: the [`EmbeddedPostgres`] guard stops the cluster when dropped (normal exit, SIGTERM
//! or SIGINT after draining, a start-up error). When the bridge is killed with SIGKILL, the
//! postmaster gets SIGINT from the kernel (`PR_SET_PDEATHSIG`, set in the child before `exec`)
//! and shuts down in fast mode; a later start also stops any postmaster still serving the data
//! directory and removes a stale `postmaster.pid` ([`pid_file`]). The postmaster runs in its own
//! process group, so a terminal's Ctrl-C reaches only the bridge, which stops the cluster after
//! draining its requests.

mod account;
mod binaries;
mod location;
mod pid_file;

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{config::DatabaseConfig, domain::Secret};

use self::{account::Account, binaries::Binaries, location::Location};

pub use crate::config::embedded::{EMBEDDED, is_embedded};

/// The database the bridge uses in the private cluster (created at start-up like any other).
const DATABASE: &str = "mcp_auth_bridge";
/// The port only names the socket file (`.s.PGSQL.5432`); there is no TCP listener.
const SOCKET_PORT: u16 = 5432;
/// `initdb` takes a few seconds; a slow disk gets this long.
const INITDB_TIMEOUT: Duration = Duration::from_secs(120);
/// Crash recovery after an unclean stop can take a while on a big WAL.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Fast shutdown rolls back open transactions and checkpoints; then SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure to start the private cluster; the message says what to do.
#[derive(Debug, thiserror::Error)]
#[error("embedded PostgreSQL: {0}")]
pub struct EmbeddedError(String);

/// When `database.url` is `embedded`, starts the private cluster and points `database.url` at
/// it; the returned guard stops the cluster when dropped. Otherwise does nothing.
///
/// Must run on the thread that lives as long as the bridge (the main thread): the kernel sends
/// the parent-death signal when the *thread* that spawned the postmaster exits.
pub fn attach(database: &mut DatabaseConfig) -> Result<Option<EmbeddedPostgres>, EmbeddedError> {
    if !is_embedded(database.url.expose()) {
        return Ok(None);
    }
    let cluster = EmbeddedPostgres::start()?;
    database.url = Secret::new(cluster.url.clone());
    Ok(Some(cluster))
}

/// The running postmaster; stopped (fast mode) when dropped.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Child,
    url: String,
    data: std::path::PathBuf,
    // Released after the child is stopped (fields drop after `Drop::drop`).
    _lock: location::DirLock,
}

impl EmbeddedPostgres {
    fn start() -> Result<Self, EmbeddedError> {
        let binaries = binaries::find().ok_or_else(|| err(binaries::INSTALL_HINT))?;
        let account = account::for_cluster().map_err(EmbeddedError)?;
        let location = Location::prepare(account).map_err(EmbeddedError)?;
        let lock =
            location::DirLock::acquire(&location.lock, &location.data).map_err(EmbeddedError)?;
        if !location.data.join("PG_VERSION").is_file() {
            init(&binaries, account, &location)?;
        }
        pid_file::recover(&location.data).map_err(EmbeddedError)?;
        let mut child = spawn_postmaster(&binaries, account, &location)?;
        if let Err(e) = wait_ready(&mut child, &location) {
            stop(&mut child);
            return Err(e);
        }
        let url = url_for(&location.socket_dir);
        tracing::info!(
            data = %location.data.display(),
            socket = %location.socket_dir.display(),
            log = %location.log.display(),
            "embedded PostgreSQL started (dev mode)"
        );
        Ok(Self {
            child,
            url,
            data: location.data,
            _lock: lock,
        })
    }

    /// The data directory (tests look at its `postmaster.pid`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        stop(&mut self.child);
        tracing::info!("embedded PostgreSQL stopped");
    }
}

fn err(message: impl Into<String>) -> EmbeddedError {
    EmbeddedError(message.into())
}

/// `postgres://postgres@localhost/mcp_auth_bridge?host=<socket dir>`: sqlx takes a `host`
/// parameter that is a path as the Unix socket's directory.
fn url_for(socket_dir: &Path) -> String {
    let dir = socket_dir.to_string_lossy();
    let host = percent_encoding::utf8_percent_encode(&dir, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "postgres://postgres@localhost/{DATABASE}?host={host}&port={SOCKET_PORT}&sslmode=disable"
    )
}

/// A command that runs as `account` (when the bridge is root) with its output in the log.
fn command(program: &Path, account: Option<Account>, log: &Path) -> Result<Command, EmbeddedError> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| err(format!("open {}: {e}", log.display())))?;
    let out2 = out
        .try_clone()
        .map_err(|e| err(format!("open {}: {e}", log.display())))?;
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).stdout(out).stderr(out2);
    if let Some(account) = account {
        // std drops the supplementary groups too when a root parent sets a uid.
        command.uid(account.uid).gid(account.gid);
    }
    Ok(command)
}

/// Creates the cluster: superuser `postgres`, trust for local connections (the socket directory
/// is 0700, so "local" means its owner and root), UTF-8, C locale (present on every machine).
fn init(
    binaries: &Binaries,
    account: Option<Account>,
    location: &Location,
) -> Result<(), EmbeddedError> {
    if location.data.exists() {
        // An interrupted initdb: nothing of value, the directory is ours.
        std::fs::remove_dir_all(&location.data).map_err(|e| {
            err(format!(
                "remove incomplete {}: {e}",
                location.data.display()
            ))
        })?;
    }
    tracing::info!(data = %location.data.display(), "creating the embedded PostgreSQL cluster (first run)");
    let mut child = command(&binaries.initdb, account, &location.log)?
        .arg("-D")
        .arg(&location.data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .spawn()
        .map_err(|e| err(format!("run {}: {e}", binaries.initdb.display())))?;
    let deadline = Instant::now() + INITDB_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(err(format!(
                    "initdb failed ({status}):\n{}",
                    log_tail(&location.log)
                )));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "initdb did not finish within {INITDB_TIMEOUT:?}"
                )));
            }
            Err(e) => return Err(err(format!("initdb: {e}"))),
        }
    }
}

fn spawn_postmaster(
    binaries: &Binaries,
    account: Option<Account>,
    location: &Location,
) -> Result<Child, EmbeddedError> {
    let mut command = command(&binaries.postgres, account, &location.log)?;
    command
        .arg("-D")
        .arg(&location.data)
        .arg("-k")
        .arg(&location.socket_dir)
        .args(["-p", &SOCKET_PORT.to_string()])
        .args(["-c", "listen_addresses="])
        .args(["-c", "unix_socket_permissions=0700"])
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe. It runs after std's setuid/setgid, which would clear the setting.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| err(format!("run {}: {e}", binaries.postgres.display())))
}

/// Waits until `postmaster.pid` says `ready` (its 8th line, PM_STATUS), the postmaster exits
/// (another one holds the directory, a bad configuration), or [`READY_TIMEOUT`].
fn wait_ready(child: &mut Child, location: &Location) -> Result<(), EmbeddedError> {
    let pid_file = location.data.join("postmaster.pid");
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(format!(
                "postgres exited at start-up ({status}); its log ({}):\n{}",
                location.log.display(),
                log_tail(&location.log)
            )));
        }
        let ready = std::fs::read_to_string(&pid_file)
            .map(|t| t.lines().nth(7).is_some_and(|l| l.trim() == "ready"))
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(err(format!(
        "postgres was not ready within {READY_TIMEOUT:?}; its log ({}):\n{}",
        location.log.display(),
        log_tail(&location.log)
    )))
}

/// Fast shutdown (SIGINT): sessions are rolled back, a checkpoint written, the socket and
/// `postmaster.pid` removed. SIGKILL after [`STOP_TIMEOUT`].
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signalling our own, not yet reaped, child.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::warn!("embedded PostgreSQL did not stop within {STOP_TIMEOUT:?}; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of the cluster's log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines
        .get(lines.len().saturating_sub(20)..)
        .unwrap_or_default();
    tail.join("\n")
}
