//! Test hosts for end-to-end tests.
