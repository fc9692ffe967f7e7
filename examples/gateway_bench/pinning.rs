//! Which CPUs the benchmark's threads may run on, and how much CPU time they used.
//!
//! The benchmark runs two tokio runtimes: one for the bridge, one for everything else (load
//! generator, demo MCP server, fake IdP). Their threads register here as they start, so a layout
//! can be applied to each group (`sched_setaffinity`) and the bridge's own CPU time read from
//! `/proc/self/task/<tid>/stat`.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};

/// The thread ids of one group.
#[derive(Clone, Default)]
pub struct Group(Arc<Mutex<Vec<libc::pid_t>>>);

impl Group {
    /// Adds the calling thread.
    pub fn register_current(&self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        if let Ok(mut tids) = self.0.lock() {
            tids.push(tid);
        }
    }

    fn tids(&self) -> Vec<libc::pid_t> {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Lets every thread of the group run on `cpus` only (threads it starts later inherit it).
    pub fn pin(&self, cpus: &[usize]) -> anyhow::Result<()> {
        // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it (cpu < 1024).
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in cpus {
            if cpu >= 1024 {
                bail!("cpu {cpu} out of range");
            }
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        for tid in self.tids() {
            // SAFETY: `set` is a valid cpu_set_t of the size given.
            let rc = unsafe {
                libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
            };
            if rc != 0 {
                // A blocking-pool thread may have exited since it registered.
                let error = std::io::Error::last_os_error();
                if error.raw_os_error() != Some(libc::ESRCH) {
                    return Err(error).with_context(|| format!("sched_setaffinity({tid})"));
                }
            }
        }
        Ok(())
    }

    /// User and system CPU time of the group's live threads so far, in microseconds.
    pub fn cpu_micros(&self) -> (u64, u64) {
        self.tids()
            .into_iter()
            .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok())
            .filter_map(|stat| crate::ticks(&stat))
            .fold((0, 0), |(user, system), (u, s)| {
                (user + u * 10_000, system + s * 10_000)
            })
    }
}

/// A multi-thread runtime whose threads (workers and blocking pool) join `group`.
pub fn runtime(name: &str, group: &Group) -> anyhow::Result<tokio::runtime::Runtime> {
    let group = group.clone();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .on_thread_start(move || group.register_current())
        .enable_all()
        .build()?)
}

/// The CPUs this process may use.
pub fn cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..1024)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}
