//! bitsim-windows (work in progress).
