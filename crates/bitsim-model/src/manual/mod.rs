//! The bitsim-model manual: how the model maps BITS onto code.
//!
//! * [`decisions`]: every place where the documentation is silent and what
//!   the model does there, with the reason.
//! * The transition table is [`crate::TRANSITIONS`]; each row cites its
//!   sources, which [`crate::sources::source_url`] resolves.
//! * HRESULTs are [`crate::HRESULT_TABLE`]; transient-vs-fatal is
//!   [`crate::classify()`].

pub mod decisions {
    #![doc = include_str!("decisions.md")]
}
