//! Recipe analysis shared by the `#[recipe]` macro and `cargo off`.
