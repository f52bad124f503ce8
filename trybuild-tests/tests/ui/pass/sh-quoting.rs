use off_runtime::prelude::*;
use std::process::Command;

/// What `/bin/sh` prints for `script`.
fn sh_output(script: &str) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}");
    String::from_utf8(out.stdout).unwrap()
}

// Placeholders in command text, next to text, quotes or `$(…)`: each value
// reaches the command as one word of data.
fn main() {
    let value = "$(echo injected) `echo injected` \"x\" 'y' ;";
    assert_eq!(
        sh_output(&sh!("printf %s --opt={value}")),
        format!("--opt={value}")
    );
    assert_eq!(
        sh_output(&sh!("printf %s \"to: \"{value}\"!\"")),
        format!("to: {value}!")
    );
    assert_eq!(
        sh_output(&sh!("printf %s \\\"{value}\\\"")),
        format!("\"{value}\"")
    );
    assert_eq!(sh_output(&sh!("printf %s \"$(printf %s {value})\"")), value);
    assert_eq!(sh_output(&sh!("printf %s {value} # {{x}}")), value);
}
