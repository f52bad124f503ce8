//! A recipe that runs one cheap command many times: the workload of `cargo xtask bench
//! metrics`, where what is measured is the cost of each operation's event.
//!
//! ```text
//! cargo run -p offregister_example --example offregister_repeat -- -H web1 --count 200
//! ```

use off_runtime::prelude::*;

/// Run `true` on the host, again and again.
#[recipe]
mod offregister_repeat {
    use super::*;

    /// Run `true` COUNT times.
    #[step]
    fn repeat(
        /// How many times
        #[arg(default = 200)]
        count: u32,
    ) -> Result<()> {
        for _ in 0..count {
            run("true")?;
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    offregister_repeat::main()
}
