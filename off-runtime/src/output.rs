//! What every operation returns.

use std::time::Duration;

/// The result of an operation, as Fabric's `run` returns it, plus whether the
/// operation changed the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output, exactly as the command wrote it (lossily decoded as UTF-8).
    pub stdout: String,
    /// Standard error, exactly as the command wrote it.
    pub stderr: String,
    /// Exit code; 0 for operations that are not commands.
    pub code: i32,
    /// Whether the operation changed the target. Commands always count as a
    /// change (off cannot know what they did); file and package operations
    /// report `false` when the target already was as asked.
    pub changed: bool,
    pub duration: Duration,
}

impl Output {
    /// Standard output without its trailing newlines, as Fabric returns it.
    pub fn text(&self) -> &str {
        self.stdout.trim_end_matches(['\n', '\r'])
    }

    pub fn success(&self) -> bool {
        self.code == 0
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}
