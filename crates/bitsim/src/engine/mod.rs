//! The driver core every front shares: what a driver does with the model
//! that is not moving bytes or keeping time.
//!
//! * [`Callbacks`]: the registry of callback objects and the one path by
//!   which a model notification reaches one ([`Callbacks::deliver`]): the
//!   method for the event, a [`JobHandle`](crate::JobHandle) acting as the
//!   registrant, and what BITS sees when the object is gone.
//! * [`Effects`] and [`drain`]: the one dispatch of the model's
//!   [`Output`](bitsim_model::Output)s to what a front performs.
//! * [`ModelView`] and [`ModelAccess`]: the job as a callback or an
//!   application sees it through the model, with BITS's access rules
//!   ([`Manager::job_as`](bitsim_model::Manager::job_as)); a front that
//!   implements [`ModelBacked`] gets its [`JobAccess`](crate::JobAccess)
//!   from the one implementation there.
//!
//! * [`RemoteNotification`]: callback objects that answer from outside the
//!   driver (a service's clients), whose notifications a driver queues for
//!   its front instead of calling them.
//!
//! The simulator and the real-time driver differ only in how they perform
//! the model's effects (a virtual world or real HTTP) and in their clocks.

mod access;
pub(crate) mod callbacks;
mod effects;
pub(crate) mod remote;

pub use access::{ModelAccess, ModelBacked, ModelView};
pub use callbacks::{AsCallback, Callbacks, Delivery};
pub use effects::{Effects, drain, perform};
pub use remote::RemoteNotification;
