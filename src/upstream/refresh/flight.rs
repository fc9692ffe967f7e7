//! Single flight: concurrent callers with the same key share one in-flight refresh.
//!
//! The work runs in its own task, not in the first caller's future: a caller that gives up
//! (its client disconnected) must not cancel a refresh between the IdP's answer and the commit,
//! or a rotated refresh token would be lost. The entry leaves the map when the work ends (or
//! panics), so the next caller after it starts afresh and re-reads what was stored.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};

type Flight<T> = Shared<BoxFuture<'static, T>>;
type Map<K, T> = Arc<Mutex<HashMap<K, (u64, Flight<T>)>>>;

pub struct Flights<K, T: Clone> {
    map: Map<K, T>,
    next: Arc<AtomicU64>,
}

impl<K, T: Clone> Clone for Flights<K, T> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            next: self.next.clone(),
        }
    }
}

/// Whether a caller started the work or joined someone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

fn lock<K, T>(map: &Mutex<HashMap<K, T>>) -> MutexGuard<'_, HashMap<K, T>> {
    // Nothing panics while the lock is held; a poisoned map is still consistent.
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the flight's entry when its task ends, normally or by panic.
struct Landing<K: Hash + Eq, T: Clone> {
    map: Map<K, T>,
    key: K,
    id: u64,
}

impl<K: Hash + Eq, T: Clone> Drop for Landing<K, T> {
    fn drop(&mut self) {
        let mut map = lock(&self.map);
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

impl<K, T: Clone> Default for Flights<K, T> {
    fn default() -> Self {
        Self {
            map: Arc::default(),
            next: Arc::default(),
        }
    }
}

impl<K, T> Flights<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// Joins the flight for `key`, or starts `work` as one. `on_panic` is what everyone gets
    /// if the work's task dies.
    pub async fn join(
        &self,
        key: K,
        work: impl FnOnce() -> BoxFuture<'static, T>,
        on_panic: T,
    ) -> (T, Role) {
        let (flight, role) = {
            let mut map = lock(&self.map);
            match map.get(&key) {
                Some((_, flight)) => (flight.clone(), Role::Follower),
                None => {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let landing = Landing {
                        map: self.map.clone(),
                        key: key.clone(),
                        id,
                    };
                    let work = work();
                    let task = tokio::spawn(async move {
                        let _landing = landing;
                        work.await
                    });
                    let flight = async move { task.await.unwrap_or(on_panic) }
                        .boxed()
                        .shared();
                    map.insert(key, (id, flight.clone()));
                    (flight, Role::Leader)
                }
            }
        };
        (flight.await, role)
    }

    /// Flights in the air (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        lock(&self.map).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_callers_start_a_new_one() {
        let flights: Flights<u8, u32> = Flights::default();
        let runs = Arc::new(AtomicU64::new(0));
        let call = || {
            let runs = runs.clone();
            flights.join(
                1,
                move || {
                    async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) as u32
                    }
                    .boxed()
                },
                u32::MAX,
            )
        };
        let all = futures_util::future::join_all((0..20).map(|_| call())).await;
        assert!(all.iter().all(|(v, _)| *v == 0));
        let leaders = all.iter().filter(|(_, r)| *r == Role::Leader).count();
        assert_eq!(leaders, 1);
        assert_eq!(flights.in_flight(), 0);
        assert_eq!(call().await, (1, Role::Leader));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_work() {
        let flights: Flights<u8, u32> = Flights::default();
        let done = Arc::new(AtomicU64::new(0));
        let d = done.clone();
        let call = flights.join(
            1,
            move || {
                async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    d.fetch_add(1, Ordering::SeqCst);
                    7
                }
                .boxed()
            },
            0,
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), call)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_run_gives_the_fallback_and_leaves_the_map() {
        let flights: Flights<u8, u32> = Flights::default();
        let (value, _) = flights
            .join(1, || async { panic!("boom") }.boxed(), 99)
            .await;
        assert_eq!(value, 99);
        assert_eq!(flights.in_flight(), 0);
    }
}
