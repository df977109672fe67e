//! The bitsim manual: how BITS maps onto bitsim's code, in prose.
//!
//! * [`architecture`]: the crates, the model's contract with its drivers,
//!   one event's path from the world through the model to a callback, and
//!   why an event's cost does not grow with the number of jobs.
//! * [`adding_a_rule`]: where a new BITS rule goes, and its tests.
//! * [`decisions`]: every place where the documentation is silent and what
//!   bitsim does there, with the reason.
//! * [`sources`]: every Microsoft page and [MC-BUP] section cited, by tag.
//! * The transition table is [`crate::TRANSITIONS`]; each row cites its
//!   sources, which [`crate::sources::source_url`] resolves. HRESULTs are
//!   [`crate::HRESULT_TABLE`]; transient-vs-fatal is [`crate::classify()`].

pub mod architecture {
    #![doc = include_str!("architecture.md")]
}

pub mod adding_a_rule {
    #![doc = include_str!("adding_a_rule.md")]
}

pub mod decisions {
    #![doc = include_str!("decisions.md")]
}

pub mod sources {
    #![doc = include_str!("sources.md")]
}
