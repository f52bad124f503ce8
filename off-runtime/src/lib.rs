//! off runtime
