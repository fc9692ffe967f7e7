//! Wake-ups a task gives itself while it is being polled, absorbed: polled again on the spot.
//!
//! tokio treats a task woken during its own poll as a yield: once the poll returns, the task
//! goes to the back of its worker's queue, where another worker may steal it, and a parked
//! worker is woken (a futex) to come and do so. Two places wake themselves on every request:
//!
//! - the gateway's upstream connection (`gateway/upstream_client.rs`): hyper's connection talks
//!   to its `SendRequest`, response future and body over channels, and with both sides in the
//!   request's task each hand-off wakes the very task that is running;
//! - the accepted connection (`serve.rs`): hyper's server hands the request body to the handler
//!   over a channel too, and a handler that reads it (the gateway forwarding it upstream)
//!   signals the connection's dispatcher, i.e. its own task.
//!
//! On a 2-CPU machine at one request at a time, that was a futex wake of the other worker and a
//! migration of the connection to it on most requests (`perf record -e sched:sched_wakeup` on
//! the gateway benchmark: 99 % of the wakes between the bridge's workers came from tokio's
//! `yield_now` after such a poll), each worker sleeping and waking once per request where nginx
//! sleeps once. Polled through [`SelfWakes`], a wake-up that arrives during the poll only asks
//! for one more round of polling; a wake-up between polls (a socket became readable) goes to
//! the task's real waker as usual.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use futures_util::task::AtomicWaker;

/// Rounds of polling at most per poll, when every round wakes the task again; then it yields
/// to the scheduler like any task that woke itself.
const MAX_ROUNDS: usize = 8;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

struct Shared {
    state: AtomicU8,
    /// The task's waker, as of its last poll.
    task: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

/// The waker a future is polled with so that its own wake-ups are absorbed. One per request's
/// upstream exchange, one per accepted connection.
pub(crate) struct SelfWakes {
    shared: Arc<Shared>,
    waker: Waker,
}

impl SelfWakes {
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&shared));
        Self { shared, waker }
    }

    /// Polls `f` on behalf of the task polling with `cx`, again at once if it woke the task
    /// (at most [`MAX_ROUNDS`] times; then the task yields as any task that woke itself).
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.shared.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..MAX_ROUNDS {
            self.shared.state.store(POLLING, Ordering::Release);
            let polled = f(&mut inner);
            let woken = self.shared.state.swap(IDLE, Ordering::AcqRel) == WOKEN;
            if polled.is_ready() || !woken {
                return polled;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs `future` with its own wake-ups absorbed (see the module docs): for a task's whole
/// future, such as an accepted connection.
pub(crate) async fn absorbing<F: Future>(future: F) -> F::Output {
    let wakes = SelfWakes::new();
    let mut future = pin!(future);
    poll_fn(|cx| wakes.poll(cx, |cx| future.as_mut().poll(cx))).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task that counts how often it is woken.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Task {
        fn new() -> (Arc<Self>, Waker) {
            let task = Arc::new(Self::default());
            let waker = Waker::from(Arc::clone(&task));
            (task, waker)
        }

        fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A poll that wakes its task on its first two rounds and is ready on the third.
    fn ready_on_the_third_round() -> impl FnMut(&mut Context<'_>) -> Poll<usize> {
        let mut rounds = 0;
        move |cx| {
            rounds += 1;
            if rounds < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(rounds)
            }
        }
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_instead_of_waking_the_task() {
        let (task, waker) = Task::new();

        let polled =
            SelfWakes::new().poll(&mut Context::from_waker(&waker), ready_on_the_third_round());

        assert_eq!(polled, Poll::Ready(3));
        assert_eq!(task.wakes(), 0);
    }

    #[test]
    fn a_wake_between_polls_wakes_the_task() {
        let (task, waker) = Task::new();
        let mut registered = None;

        let polled: Poll<()> = SelfWakes::new().poll(&mut Context::from_waker(&waker), |cx| {
            registered = Some(cx.waker().clone());
            Poll::Pending
        });
        registered.expect("polled once").wake();

        assert_eq!(polled, Poll::Pending);
        assert_eq!(task.wakes(), 1);
    }

    #[test]
    fn a_task_that_always_wakes_itself_yields_after_a_few_rounds() {
        let (task, waker) = Task::new();
        let mut rounds = 0;

        let polled: Poll<()> = SelfWakes::new().poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });

        assert_eq!(polled, Poll::Pending);
        assert_eq!(rounds, MAX_ROUNDS);
        assert_eq!(task.wakes(), 1);
    }

    #[test]
    fn a_whole_future_that_wakes_itself_completes_in_one_poll_of_its_task() {
        let (task, waker) = Task::new();
        let mut absorbed = pin!(absorbing(poll_fn(ready_on_the_third_round())));

        let polled = absorbed.as_mut().poll(&mut Context::from_waker(&waker));

        assert_eq!(polled, Poll::Ready(3));
        assert_eq!(task.wakes(), 0);
    }
}
