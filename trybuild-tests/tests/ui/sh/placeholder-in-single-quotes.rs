use off_runtime::prelude::*;

fn create_extension(name: &str) -> Result<()> {
    sudo_as("postgres", sh!("psql -c 'create extension {name}'"))?;
    Ok(())
}

fn main() {
    let _ = create_extension("x'; touch /tmp/pwned; '");
}
