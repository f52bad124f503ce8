//! A recipe that runs `/bin/true` many times: the workload of `cargo xtask bench push`, where
//! what is measured is what one operation costs with and without `--push`.
//!
//! ```text
//! cargo run -p offregister_example --example offregister_true -- -H web1 --count 1000 --push
//! ```

use off_runtime::prelude::*;

/// Run `/bin/true` on the host, again and again.
#[recipe]
mod offregister_true {
    use super::*;

    /// Run `/bin/true` COUNT times.
    #[step]
    fn repeat(
        /// How many times
        #[arg(default = 200)]
        count: u32,
    ) -> Result<()> {
        for _ in 0..count {
            run("/bin/true")?;
        }
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    offregister_true::main()
}
