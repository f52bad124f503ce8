//! The tests live in `tests/`: `sessions.rs` runs every shell session of
//! `docs/*.md` and `README.md` (see docs/testing.md, "What runs which doc").
