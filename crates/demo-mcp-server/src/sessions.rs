//! In-memory sessions: created by `initialize`, ended by `DELETE`, the oldest evicted when there
//! are too many (a demo server must not grow without bound).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, PoisonError},
};

pub(super) struct Sessions {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Session id → creation sequence number.
    by_id: HashMap<String, u64>,
    /// Creation sequence number → session id, oldest first.
    by_age: BTreeMap<u64, String>,
    next: u64,
}

impl Sessions {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Mutex::default(),
        }
    }

    /// Starts a session and returns its id: 256 random bits, URL-safe base64, so only visible
    /// ASCII as the transport requires.
    pub fn create(&self) -> String {
        let id = crate::random::token();
        let mut inner = self.lock();
        let seq = inner.next;
        inner.next = seq.wrapping_add(1);
        inner.by_id.insert(id.clone(), seq);
        inner.by_age.insert(seq, id.clone());
        while inner.by_id.len() > self.max {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            inner.by_id.remove(&oldest);
        }
        id
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Ends a session; `false` when it did not exist.
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.lock();
        match inner.by_id.remove(id) {
            Some(seq) => {
                inner.by_age.remove(&seq);
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked: every update is two inserts or
        // two removes with nothing in between that can panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_session_is_evicted_beyond_the_bound() {
        let sessions = Sessions::new(2);
        let first = sessions.create();
        let second = sessions.create();
        let third = sessions.create();
        assert!(!sessions.contains(&first));
        assert!(sessions.contains(&second));
        assert!(sessions.contains(&third));
    }

    #[test]
    fn a_removed_session_is_gone() {
        let sessions = Sessions::new(10);
        let id = sessions.create();
        assert!(sessions.remove(&id));
        assert!(!sessions.contains(&id));
        assert!(!sessions.remove(&id));
    }
}
