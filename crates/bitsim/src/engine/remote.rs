//! Callback objects that answer from outside the driver (a service's
//! clients, a COM program): the driver queues their notifications instead
//! of calling them, and the front reports each answer back.

use std::collections::{BTreeSet, VecDeque};

use bitsim_model::{CallbackId, JobId, NotificationId, NotifyKind, UserId};

use super::{AsCallback, Callbacks, Delivery};
use crate::callback::Callback;
use crate::trace::TraceEvent;

/// A notification for a callback object that answers from outside the
/// driver: the front sends it to the object and reports the answer with
/// the driver's `remote_callback_returned`
/// ([`Simulation`](crate::Simulation::remote_callback_returned), or the
/// real-time driver's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteNotification {
    /// The model's notification.
    pub id: NotificationId,
    /// The job.
    pub job: JobId,
    /// The registrant (the callback acts as this user).
    pub user: UserId,
    /// The object.
    pub callback: CallbackId,
    /// Which method.
    pub kind: NotifyKind,
    /// The user's notifications outstanding with this one.
    pub outstanding: usize,
}

impl RemoteNotification {
    /// The answer `delivery` to this notification as the trace records it:
    /// the call with its result and the handler's calls, then the return.
    /// One definition for every front that serves remote objects.
    pub fn answer_events(&self, delivery: &Delivery) -> [TraceEvent; 2] {
        let method = self.kind.method();
        [
            callback_event(method, &self.user, delivery, None, self.outstanding),
            TraceEvent::CallbackReturned {
                method: method.into(),
                user: self.user.0.clone(),
            },
        ]
    }
}

/// The trace's record of a callback call: `method` of `user`'s object,
/// its result and the calls its handler made (`"Method -> HRESULT"`),
/// how long it held (`None`: no hold), and the user's notifications
/// outstanding with it. Local and remote deliveries both write it so.
pub(crate) fn callback_event(
    method: &str,
    user: &UserId,
    delivery: &Delivery,
    hold: Option<String>,
    outstanding: usize,
) -> TraceEvent {
    TraceEvent::Callback {
        method: method.into(),
        user: user.0.clone(),
        result: delivery.hr(),
        hold,
        calls: delivery
            .calls()
            .iter()
            .map(|(c, h)| format!("{c} -> {h}"))
            .collect(),
        outstanding,
    }
}

/// The object behind a remote callback id: never called (the driver hands
/// its notifications to the front), registered so that
/// [`Callbacks::deliver`] and the registry's ids know the object is alive.
pub(crate) struct RemoteObject;
impl Callback for RemoteObject {}

/// A driver's remote objects and their notifications waiting to be sent.
#[derive(Default)]
pub(crate) struct RemoteObjects {
    ids: BTreeSet<CallbackId>,
    pending: VecDeque<RemoteNotification>,
}

impl RemoteObjects {
    /// Registers `object` (a boxed [`RemoteObject`]) in `callbacks` as a
    /// remote object.
    pub(crate) fn add<B: AsCallback>(
        &mut self,
        callbacks: &mut Callbacks<B>,
        object: B,
    ) -> CallbackId {
        let id = callbacks.register(object);
        self.ids.insert(id);
        id
    }

    /// The object `id` is gone: removed from `callbacks` too, so later
    /// notifications to it fail as calls to a dead COM server do
    /// ([`Delivery::Gone`]).
    pub(crate) fn remove<B: AsCallback>(&mut self, callbacks: &mut Callbacks<B>, id: CallbackId) {
        callbacks.remove(id);
        self.ids.remove(&id);
    }

    /// Whether `callback` is a remote object.
    pub(crate) fn is_remote(&self, callback: CallbackId) -> bool {
        self.ids.contains(&callback)
    }

    /// Queues `n` for [`RemoteObjects::poll`].
    pub(crate) fn queue(&mut self, n: RemoteNotification) {
        self.pending.push_back(n);
    }

    /// The next notification, in the order the model raised them.
    pub(crate) fn poll(&mut self) -> Option<RemoteNotification> {
        self.pending.pop_front()
    }
}
