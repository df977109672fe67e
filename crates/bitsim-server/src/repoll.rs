//! [`Repoll`]: a future wrapper that turns wakes raised *during* its own
//! poll into an immediate re-poll instead of a trip through the scheduler.
//!
//! hyper's HTTP/1 connection future hands each chunk of a request body to
//! the handler through a channel whose receiver lives in the same task, so
//! every chunk wakes the task while it is being polled. Tokio treats such
//! a wake as a yield: the task goes to the back of the run queue and an
//! idle worker is woken to help (tokio `runtime/task/harness.rs`,
//! `TransitionToIdle::OkNotified` → `yield_now` → `notify_parked_local`).
//! On a small machine that idle worker often steals the connection: `perf
//! stat` over 9,216 fragments of 64 KiB counted 1.15 thread migrations per
//! fragment without this wrapper and 0.54 with it. Re-polling in place does
//! the same work without the scheduler round trip; the A/B example
//! (`cargo run --release -p bitsim-server --example config_ab -- repoll`)
//! measured 64 KiB fragments taking 17–23 % longer without it on the
//! 2-vCPU development VM, and no difference with 8 MiB fragments or
//! without `fsync`.
//!
//! Wakes from elsewhere (the I/O driver, a timer, the blocking pool) while
//! the inner future is *not* being polled go straight to the task's waker.
//! Re-polls are bounded by [`MAX_REPOLLS`] and by tokio's cooperative
//! budget; past either, the wake is handed to the scheduler as before, so
//! a busy connection still yields to the others.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Re-polls per poll before a self-wake is handed to the scheduler.
pub(crate) const MAX_REPOLLS: usize = 16;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

struct Shared {
    /// `IDLE`, `POLLING` (inside the inner poll) or `WOKEN` (woken while
    /// `POLLING`).
    state: AtomicU8,
    /// The task's own waker, for wakes that arrive while `IDLE`.
    outer: Mutex<Option<Waker>>,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Absorb the wake if the inner future is being polled right now:
        // `Repoll::poll` sees `WOKEN` when the inner poll returns and
        // polls again. Otherwise forward it. One atomic transition decides,
        // so a wake racing the end of a poll is either seen there or
        // forwarded, never lost.
        if self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
        let w = self.outer.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// Wraps a future so that wakes raised while it is being polled re-poll it
/// in place (see the module docs).
pub(crate) struct Repoll<F> {
    inner: Pin<Box<F>>,
    shared: Arc<Shared>,
    waker: Waker,
}

impl<F: Future> Repoll<F> {
    pub(crate) fn new(inner: F) -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            outer: Mutex::new(None),
        });
        let waker = Waker::from(shared.clone());
        Repoll {
            inner: Box::pin(inner),
            shared,
            waker,
        }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut outer = this.shared.outer.lock().unwrap_or_else(|p| p.into_inner());
            match outer.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *outer = Some(cx.waker().clone()),
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..=MAX_REPOLLS {
            this.shared.state.store(POLLING, Ordering::Release);
            let r = this.inner.as_mut().poll(&mut inner_cx);
            let prev = this.shared.state.swap(IDLE, Ordering::AcqRel);
            if r.is_ready() {
                return r;
            }
            if prev != WOKEN {
                return Poll::Pending;
            }
            // Out of cooperative budget: the inner future's resources
            // would only return Pending again; yield to the scheduler.
            if !tokio::task::coop::has_budget_remaining() {
                break;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts how often the outer (task) waker is woken.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that wakes itself during its first `n` polls (as hyper's
    /// body channel does) and is ready after that.
    struct SelfWaking {
        left: usize,
        polls: usize,
    }
    impl Future for SelfWaking {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.left == 0 {
                return Poll::Ready(self.polls);
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future>(f: &mut Repoll<F>, count: &Arc<Count>) -> Poll<F::Output> {
        let w = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&w))
    }

    #[test]
    fn self_wakes_during_poll_repoll_in_place_without_waking_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut f = Repoll::new(SelfWaking { left: 3, polls: 0 });
        assert_eq!(poll_once(&mut f, &count), Poll::Ready(4));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn repolls_are_bounded_and_then_the_wake_goes_to_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut f = Repoll::new(SelfWaking {
            left: 1000,
            polls: 0,
        });
        assert_eq!(poll_once(&mut f, &count), Poll::Pending);
        assert_eq!(f.inner.polls, MAX_REPOLLS + 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_wake_between_polls_is_forwarded_to_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut f = Repoll::new(rx);
        assert!(poll_once(&mut f, &count).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        tx.send(7).expect("send");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            poll_once(&mut f, &count).map(Result::ok),
            Poll::Ready(Some(7))
        );
    }

    #[test]
    fn no_wake_is_lost_when_wakes_race_the_end_of_a_poll() {
        // Another thread wakes the inner future at arbitrary moments while
        // this one keeps polling: every send must end in either a re-poll
        // that sees it or a forwarded wake.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            let n = 20_000u32;
            let producer = std::thread::spawn(move || {
                for i in 0..n {
                    tx.blocking_send(i).expect("send");
                }
            });
            let got = tokio::spawn(Repoll::new(async move {
                let mut sum = 0u64;
                while let Some(i) = rx.recv().await {
                    sum += u64::from(i);
                }
                sum
            }));
            let sum = tokio::time::timeout(std::time::Duration::from_secs(30), got)
                .await
                .expect("a wake was lost: the consumer hung")
                .expect("join");
            producer.join().expect("producer");
            assert_eq!(sum, u64::from(n) * u64::from(n - 1) / 2);
        });
    }
}
