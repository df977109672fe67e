//! The callback registry and the one delivery path.

use super::ModelAccess;
use crate::callback::{Callback, CallbackResult, JobHandle};
use bitsim_model::{CallbackId, Caller, Hresult, JobId, Manager, NotifyKind, Time};
use std::collections::BTreeMap;
use std::time::Duration;

/// A boxed callback object the registry can call.
pub trait AsCallback {
    /// The object as a [`Callback`].
    fn as_callback(&mut self) -> &mut dyn Callback;
}

impl AsCallback for Box<dyn Callback> {
    fn as_callback(&mut self) -> &mut dyn Callback {
        self.as_mut()
    }
}

impl AsCallback for Box<dyn Callback + Send> {
    fn as_callback(&mut self) -> &mut dyn Callback {
        self.as_mut()
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The object answered.
    Answered {
        /// Its HRESULT and how long it held the call.
        result: CallbackResult,
        /// The job methods it called, with their results.
        calls: Vec<(String, Hresult)>,
    },
    /// No object is registered under the id (it was dropped, or the process
    /// that registered it is gone): the call fails as a call to a dead COM
    /// server does, with `RPC_E_SERVER_UNAVAILABLE`, and the model applies its
    /// rule for a failing callback \[CB\].
    Gone,
}

impl Delivery {
    /// The HRESULT the model is told.
    pub fn hr(&self) -> Hresult {
        match self {
            Delivery::Answered { result, .. } => result.hr,
            Delivery::Gone => Hresult::RPC_E_SERVER_UNAVAILABLE,
        }
    }

    /// How long after the call the answer reaches the model.
    pub fn hold(&self) -> Duration {
        match self {
            Delivery::Answered { result, .. } => result.hold,
            Delivery::Gone => Duration::ZERO,
        }
    }

    /// The job methods the callback called.
    pub fn calls(&self) -> &[(String, Hresult)] {
        match self {
            Delivery::Answered { calls, .. } => calls,
            Delivery::Gone => &[],
        }
    }
}

/// Callback objects by the id the model knows them by
/// ([`Output::Notify`](bitsim_model::Output::Notify)'s `callback`).
pub struct Callbacks<B> {
    objects: BTreeMap<CallbackId, B>,
    next: u64,
}

impl<B> Default for Callbacks<B> {
    fn default() -> Self {
        Callbacks {
            objects: BTreeMap::new(),
            next: 1,
        }
    }
}

impl<B: AsCallback> Callbacks<B> {
    /// Registers `cb` under a fresh id (never reused).
    pub fn register(&mut self, cb: B) -> CallbackId {
        let id = CallbackId(self.next);
        self.insert(id, cb);
        id
    }

    /// Puts `cb` under `id`, replacing what was there.
    pub fn insert(&mut self, id: CallbackId, cb: B) -> Option<B> {
        self.next = self.next.max(id.0.saturating_add(1));
        self.objects.insert(id, cb)
    }

    /// Drops the object under `id` (its process or connection ended): later
    /// deliveries to `id` are [`Delivery::Gone`].
    pub fn remove(&mut self, id: CallbackId) -> Option<B> {
        self.objects.remove(&id)
    }

    /// Is an object registered under `id`?
    pub fn contains(&self, id: CallbackId) -> bool {
        self.objects.contains_key(&id)
    }

    /// Calls the object registered as `id` for the model's notification of
    /// `kind` about `job`, as BITS calls a registered COM object: the method
    /// for `kind` with a handle on the job acting as `caller` at `now`;
    /// JobError receives the job's error.
    pub fn deliver(
        &mut self,
        manager: &mut Manager,
        now: Time,
        caller: Caller,
        id: CallbackId,
        job: JobId,
        kind: NotifyKind,
    ) -> Delivery {
        let Some(cb) = self.objects.get_mut(&id) else {
            return Delivery::Gone;
        };
        let (result, calls) = call(cb.as_callback(), manager, now, caller, job, kind);
        Delivery::Answered { result, calls }
    }
}

/// Calls `cb`'s method for `kind` with a handle on `job` as `caller`.
pub(crate) fn call(
    cb: &mut dyn Callback,
    manager: &mut Manager,
    now: Time,
    caller: Caller,
    job: JobId,
    kind: NotifyKind,
) -> (CallbackResult, Vec<(String, Hresult)>) {
    let error = manager.job(job).and_then(|j| j.get_error().ok().cloned());
    let mut access = ModelAccess {
        manager,
        now,
        caller,
    };
    let mut handle = JobHandle::new(&mut access, job);
    let result = match kind {
        NotifyKind::JobTransferred => cb.job_transferred(&mut handle),
        // The model raises JobError only in ERROR, where the error exists.
        NotifyKind::JobError => match &error {
            Some(e) => cb.job_error(&mut handle, e),
            None => CallbackResult::ok(),
        },
        NotifyKind::JobModification => cb.job_modification(&mut handle),
        NotifyKind::FileTransferred(f) => cb.file_transferred(&mut handle, f),
    };
    let calls = handle.calls().to_vec();
    (result, calls)
}
