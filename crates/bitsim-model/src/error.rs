//! The model's error type: a failed BITS call and its HRESULT.

use crate::hresult::Hresult;

/// A BITS method failed with this HRESULT.
///
/// Every misuse of the model returns one of these with the code Windows
/// documents for it (each call's page; [`crate::manual::sources`]); the
/// model never panics on input.
/// Success codes other than `S_OK` (such as `BG_S_PARTIAL_COMPLETE`) are
/// returned in `Ok` values, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{code}: {}", code.message())]
#[non_exhaustive]
pub struct Error {
    /// The failure HRESULT, e.g. [`Hresult::BG_E_INVALID_STATE`].
    pub code: Hresult,
}

impl Error {
    /// An error with this code.
    pub const fn new(code: Hresult) -> Error {
        Error { code }
    }
}

impl From<Error> for Hresult {
    fn from(e: Error) -> Hresult {
        e.code
    }
}

/// `Result` with the model's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
