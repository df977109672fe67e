//! bitsim (work in progress).
