//! Finding the PostgreSQL server programs (`initdb`, `postgres`) installed on the machine: the
//! embedded cluster uses the distribution's package rather than downloading a server.

use std::path::{Path, PathBuf};

/// The directory holding both `initdb` and `postgres`.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

/// Where distributions install the server programs when they are not on `PATH`: Debian and
/// Ubuntu (`/usr/lib/postgresql/<major>/bin`), Fedora/RHEL from the PGDG repository
/// (`/usr/pgsql-<major>/bin`). The newest major version wins.
const VERSIONED_PARENTS: &[(&str, &str)] = &[("/usr/lib/postgresql", "bin"), ("/usr", "bin")];

/// `PATH` first (what the user chose), then the distributions' versioned directories.
pub fn find() -> Option<Binaries> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(versioned_dirs())
        .find_map(|dir| in_dir(&dir))
}

fn in_dir(dir: &Path) -> Option<Binaries> {
    let initdb = dir.join("initdb");
    let postgres = dir.join("postgres");
    (is_executable(&initdb) && is_executable(&postgres)).then_some(Binaries { initdb, postgres })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `/usr/lib/postgresql/17/bin`, `/usr/pgsql-16/bin`, …, newest major first.
fn versioned_dirs() -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for (parent, bin) in VERSIONED_PARENTS {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let digits = name.strip_prefix("pgsql-").unwrap_or(&name);
            if *parent == "/usr" && !name.starts_with("pgsql-") {
                continue;
            }
            if let Ok(major) = digits.parse::<u32>() {
                found.push((major, entry.path().join(bin)));
            }
        }
    }
    found.sort_by_key(|d| std::cmp::Reverse(d.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// What to do when no server programs are found: install them, or use an existing server.
pub const INSTALL_HINT: &str = "database.url = \"embedded\" runs a private PostgreSQL from the \
server programs installed on this machine (initdb and postgres, on PATH or in \
/usr/lib/postgresql/<version>/bin), and none were found. Install them (Debian/Ubuntu: \
`apt-get install postgresql`; Fedora: `dnf install postgresql-server`; macOS: `brew install \
postgresql`), or point database.url at an existing server instead, e.g. \
MCP_AUTH_BRIDGE__DATABASE__URL=postgres://postgres@127.0.0.1:5432/mcp_auth_bridge?sslmode=disable";
