//! The BITS job model.
