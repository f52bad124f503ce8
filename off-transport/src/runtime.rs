//! The async runtime behind the blocking operations API.
//!
//! Recipes are plain synchronous Rust (as Fabric tasks are), and each host runs
//! on its own OS thread; the SSH and process I/O underneath is async. One
//! shared runtime serves every host thread through [`block_on`].

use std::future::Future;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("off-io")
            .enable_all()
            .build()
            .expect("cannot start the I/O runtime")
    })
}

/// Runs `future` to completion on the shared runtime from a host thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Enters the shared runtime's context, for setting up what must be
/// registered with its drivers from a plain thread (signal handlers).
pub(crate) fn enter() -> tokio::runtime::EnterGuard<'static> {
    runtime().enter()
}
