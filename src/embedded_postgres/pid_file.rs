//! `postmaster.pid` left behind by a crash. PostgreSQL removes a stale one itself unless its PID
//! now belongs to another live process (PID reuse after a reboot or in a container), where it
//! refuses to start. The bridge holds the directory lock, so any postmaster still on this data
//! directory is an orphan of an earlier bridge; anything else is stale.

use std::{
    path::Path,
    time::{Duration, Instant},
};

/// How long an orphaned postmaster gets to finish its fast shutdown.
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// Makes the data directory startable: removes a stale `postmaster.pid`, and stops (fast mode)
/// a postmaster an earlier, killed bridge left running on it.
pub fn recover(data: &Path) -> Result<(), String> {
    let pid_file = data.join("postmaster.pid");
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let pid = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 && serves(pid, data) => stop_orphan(pid, data),
        _ => {
            tracing::warn!(file = %pid_file.display(), "removing a stale postmaster.pid (the embedded cluster did not stop cleanly last time)");
            std::fs::remove_file(&pid_file)
                .map_err(|e| format!("remove stale {}: {e}", pid_file.display()))
        }
    }
}

/// Whether `pid` is a live process whose working directory is `data` (a postmaster `chdir`s to
/// its data directory).
fn serves(pid: i32, data: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    match (cwd, std::fs::canonicalize(data)) {
        (Ok(cwd), Ok(data)) => cwd == data,
        _ => false,
    }
}

fn stop_orphan(pid: i32, data: &Path) -> Result<(), String> {
    tracing::warn!(
        pid,
        "a postmaster from an earlier run still serves the embedded data directory; stopping it (fast mode)"
    );
    // SAFETY: kill with a pid read from the data directory we hold the lock of.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let deadline = Instant::now() + ORPHAN_GRACE;
    while Instant::now() < deadline {
        if !serves(pid, data) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "PostgreSQL (PID {pid}) from an earlier run still serves {} after {ORPHAN_GRACE:?}: stop \
         it (`pg_ctl stop -D {}`) and start again",
        data.display(),
        data.display()
    ))
}
