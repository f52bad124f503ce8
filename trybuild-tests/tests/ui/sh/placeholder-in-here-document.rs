use off_runtime::prelude::*;

fn motd(host: &str) -> Result<()> {
    sudo(sh!("cat > /etc/motd <<EOF\nWelcome to {host}\nEOF"))?;
    Ok(())
}

fn main() {
    let _ = motd("db1\nEOF\ntouch /tmp/pwned");
}
