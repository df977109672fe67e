//! Workspace-level tests for bitsim live in `tests/`; this library is empty.
