//! Driving the real-time driver from another loop: remote callback objects
//! and a synchronous pump.
//!
//! A front that has a loop of its own (`bitsim service --world http`, whose
//! single thread owns the driver and serves JSON-RPC clients) cannot sit in
//! [`Driver::run_until`]. It uses these instead, with the transfer tasks
//! running on a tokio runtime in the background:
//!
//! * [`Driver::set_waker`]: a closure called (on a runtime thread) whenever
//!   a transfer task has reported, so the front's loop wakes up;
//! * [`Driver::pump`]: feeds what the tasks reported to the model, fires the
//!   model's due timers and performs the outputs, without waiting;
//! * remote callback objects, as the simulator has them
//!   ([`Simulation::add_remote_callback`](crate::Simulation::add_remote_callback)):
//!   [`Driver::add_remote_callback`] registers an object that answers from
//!   outside the driver (a service's client); its notifications are queued
//!   for [`Driver::poll_remote_notification`] and the answer is reported
//!   with [`Driver::remote_callback_returned`], which the model takes from
//!   there (re-calls, the command line fallback) as for any callback. The
//!   object counts as alive for the driver core's [`Callbacks`] registry,
//!   so a removed one gets the one answer of a dead object
//!   ([`Delivery::Gone`]).
//!
//! Every call that may start a transfer (these included) must be made
//! inside the runtime's context (`Runtime::enter`).

use bitsim_model::CallbackId;
use tokio::sync::mpsc;

use super::{Driver, RtEvent};
use crate::engine::Delivery;
use crate::engine::RemoteNotification;
use crate::engine::remote::RemoteObject;

impl Driver {
    /// Registers a callback object that lives outside the driver (a client
    /// of a service): pass the id to `SetNotifyInterface`; its
    /// notifications are queued for [`Driver::poll_remote_notification`].
    pub fn add_remote_callback(&mut self) -> CallbackId {
        self.remote.add(&mut self.callbacks, Box::new(RemoteObject))
    }

    /// The object `id` is gone (its connection ended): later notifications
    /// to it fail as calls to a dead COM server do ([`Delivery::Gone`]).
    pub fn remove_callback(&mut self, id: CallbackId) {
        self.remote.remove(&mut self.callbacks, id);
    }

    /// The next notification for a remote callback object, in the order the
    /// model raised them.
    pub fn poll_remote_notification(&mut self) -> Option<RemoteNotification> {
        self.remote.poll()
    }

    /// What the remote object answered to `n` (or [`Delivery::Gone`]): fed
    /// to the model now, which applies its rule for the answer, and told
    /// to the observer ([`RtEvent::Callback`]).
    pub fn remote_callback_returned(&mut self, n: &RemoteNotification, delivery: Delivery) {
        let hr = delivery.hr();
        self.call(|m, now| m.handle_callback_result(now, n.id, hr));
        self.observe(RtEvent::Callback {
            job: n.job,
            method: n.kind.method(),
            result: hr,
        });
    }

    /// Does what is due without waiting: feeds the model every report of
    /// the transfer tasks, fires its timers due by now, performs the
    /// outputs (starting transfers, raising notifications) and persists the
    /// queue (rate-limited for progress). The front calls it when its
    /// waker fired ([`Driver::set_waker`]) and when the model's next
    /// timer ([`Driver::manager`]`.poll_timeout()`) is due.
    pub fn pump(&mut self) {
        // Bounded: a model that kept a timer due forever cannot hang the
        // caller's loop (it comes back on the next pump).
        for _ in 0..1024 {
            let reports = self.take_reports();
            let busy = self.fire_due_timers() | reports;
            self.drain();
            if !busy {
                break;
            }
        }
        self.persist(false);
    }

    /// Calls `waker` (on a runtime thread) each time transfer tasks have
    /// reported, after their reports are ready for [`Driver::pump`]: a
    /// front's loop sleeps on its own channel and sends itself a wake-up
    /// from here. Must be called inside the tokio runtime's context.
    pub fn set_waker(&mut self, waker: impl Fn() + Send + 'static) {
        // The tasks keep sending on the driver's channel; a forwarding task
        // moves each batch onto a fresh one the driver reads, then wakes.
        let (tx, rx) = mpsc::unbounded_channel();
        let mut old = std::mem::replace(&mut self.rx, rx);
        tokio::spawn(async move {
            while let Some(m) = old.recv().await {
                if tx.send(m).is_err() {
                    return;
                }
                while let Ok(m) = old.try_recv() {
                    if tx.send(m).is_err() {
                        return;
                    }
                }
                waker();
            }
        });
    }
}
