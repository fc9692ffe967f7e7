//! Wake-ups a request's task gives itself while it drives its upstream connection, absorbed.
//!
//! hyper's connection talks to its `SendRequest`, response future and body over channels, and
//! each hand-off wakes the other side. With both sides in one task (`upstream_client.rs`),
//! those wake the very task that is running: tokio then re-queues it as a yield once the poll
//! returns, and may wake a parked worker thread (a futex) to come and steal it, for nothing.
//! Polled through a [`Driving`] context, a wake-up that arrives during the poll only asks for
//! one more round of polling, on the spot; a wake-up between polls (the socket became
//! readable) goes to the task's real waker as usual.

use std::{
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

/// The waker a request's upstream connection is polled with. One per request.
pub(super) struct Driving {
    shared: Arc<Shared>,
    waker: Waker,
}

impl Driving {
    pub(super) fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&shared));
        Self { shared, waker }
    }

    /// Polls `f` on behalf of the task polling with `cx`, again at once if it woke the task.
    pub(super) fn poll<T>(
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_instead_of_waking_the_task() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let driving = Driving::new();
        let mut rounds = 0;

        let polled = driving.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            if rounds < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(rounds)
            }
        });

        assert_eq!(polled, Poll::Ready(3));
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_between_polls_wakes_the_task() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let driving = Driving::new();
        let mut registered = None;

        let polled: Poll<()> = driving.poll(&mut Context::from_waker(&waker), |cx| {
            registered = Some(cx.waker().clone());
            Poll::Pending
        });
        registered.expect("polled once").wake();

        assert_eq!(polled, Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_task_that_always_wakes_itself_yields_after_a_few_rounds() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let driving = Driving::new();
        let mut rounds = 0;

        let polled: Poll<()> = driving.poll(&mut Context::from_waker(&waker), |cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });

        assert_eq!(polled, Poll::Pending);
        assert_eq!(rounds, MAX_ROUNDS);
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
    }
}
