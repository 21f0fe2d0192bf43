//! corenet-compat: the portable readiness backend (placeholder until its own issue).
#![deny(missing_docs)]
