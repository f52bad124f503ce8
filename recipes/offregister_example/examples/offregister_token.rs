//! A recipe with secrets: an API token written through sudo as a `Secret`, by a login user whose
//! sudo needs a password. Neither the token nor the sudo password is ever shown, written to
//! `--events` or pushed to a `--metrics` server.
//!
//! ```text
//! OFF_TOKEN=… OFF_SUDO_PASSWORD=… cargo run -p offregister_example --example offregister_token -- -H deploy@web1
//! ```

use off_runtime::prelude::*;

/// Install an API token for a service.
#[recipe]
mod offregister_token {
    use super::*;

    /// Write the token, readable by root only.
    #[step]
    fn install(
        /// Where the token goes
        #[arg(default = "/etc/off-token")]
        path: String,
        /// The token: give it as OFF_TOKEN, never on the command line
        token: String,
    ) -> Result<()> {
        let token = Secret::new(token);
        put(&token, remote_path(&path).mode(0o600).sudo())?;
        sudo(sh!("test -s {path}"))?;
        // A recipe hands a secret to a command on its standard input; this one also puts it on
        // a command line by hand, which events and metrics redact all the same.
        run(format!("test -n '{}'", token.expose()))?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    offregister_token::main()
}
