//! Who runs the private cluster. PostgreSQL refuses to run as root, so a bridge running as
//! root runs it as the distribution's `postgres` account; anyone else runs it as themselves.

use std::{ffi::CString, path::Path};

/// The account the cluster's processes run as, when it differs from the bridge's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// The account used when the bridge runs as root.
pub const UNPRIVILEGED_NAME: &str = "postgres";

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `None` when the bridge is not root (the cluster runs as the bridge's own user);
/// `Err` when it is root and there is no `postgres` account to drop to.
pub fn for_cluster() -> Result<Option<Account>, String> {
    if !running_as_root() {
        return Ok(None);
    }
    lookup(UNPRIVILEGED_NAME).map(Some).ok_or_else(|| {
        format!(
            "PostgreSQL refuses to run as root and there is no `{UNPRIVILEGED_NAME}` account to \
             run the embedded cluster as: run the bridge as a normal user, create that account, \
             or point database.url at an existing server"
        )
    })
}

fn lookup(name: &str) -> Option<Account> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam reads a NUL-terminated name; the returned record is copied at once and
    // nothing else in the bridge calls getpw* concurrently at start-up.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return None;
        }
        Some(Account {
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
        })
    }
}

/// Whether `account` can traverse every directory from `/` down to `dir`: the cluster's data
/// directory and socket must be reachable by it. Root's own cache (`/root` is 0700) is not.
pub fn can_reach(account: Account, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|d| {
        let Ok(m) = std::fs::metadata(d) else {
            return false;
        };
        let mode = m.mode();
        if m.uid() == account.uid {
            mode & 0o100 != 0
        } else if m.gid() == account.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    })
}
