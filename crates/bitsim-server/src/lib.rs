//! bitsim-server (work in progress).
