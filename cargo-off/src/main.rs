//! `cargo off`: tooling for off recipe crates.
use clap::Parser;

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// Tooling for off recipe crates.
    #[command(subcommand)]
    Off(OffCommand),
}

#[derive(clap::Subcommand)]
enum OffCommand {}

fn main() {
    let Cargo::Off(command) = Cargo::parse();
    match command {}
}
