//! A recipe that runs one cheap command many times: the workload of `cargo xtask bench
//! metrics` (`true`, where what is measured is the cost of each operation's event) and of
//! `cargo xtask bench push` (`--command /bin/true`, what one operation costs with and
//! without `--push`).
//!
//! ```text
//! cargo run -p offregister_example --example offregister_repeat -- -H web1 --count 200
//! ```

use off_runtime::prelude::*;

/// Run a cheap command on the host, again and again.
#[recipe]
mod offregister_repeat {
    use super::*;

    /// Run COMMAND COUNT times.
    #[step]
    fn repeat(
        /// How many times
        #[arg(default = 200)]
        count: u32,
        /// The command
        #[arg(default = "true")]
        command: String,
    ) -> Result<()> {
        for _ in 0..count {
            run(command.as_str())?;
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    offregister_repeat::main()
}
