//! Entry points of the `#[recipe]` and `#[step]` attributes.
//!
//! This crate only forwards to `off-analysis`, which holds the parsing,
//! validation and code generation so that `cargo off` can share them.
