//! What `--diff` shows for a file: a unified diff of the host's current
//! content against what the run would write, and the mode or owner it would
//! set. A secret's content is never shown, only whether it would change.

use similar::TextDiff;

/// A file as it is on the host, or as the run would leave it.
pub(crate) struct FileView<'a> {
    pub content: &'a [u8],
    /// Permission bits; `None` when the run leaves them as they are.
    pub mode: Option<u32>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// The diff of the file at `path` on `host` from `before` (`None`: absent)
/// to `after`; `None` when nothing would change. `secret` hides the content.
pub(crate) fn file_diff(
    host: &str,
    path: &str,
    before: Option<&FileView<'_>>,
    after: &FileView<'_>,
    secret: bool,
) -> Option<String> {
    let mut out = String::new();
    let old_content = before.map(|b| b.content);
    if old_content != Some(after.content) {
        if secret {
            out.push_str(&format!("{path}: <secret: changed>\n"));
        } else {
            out.push_str(&content_diff(host, path, old_content, after.content));
        }
    }
    if let Some(before) = before {
        let attributes = [
            ("mode", before.mode.map(octal), after.mode.map(octal)),
            (
                "owner",
                before.owner.map(str::to_string),
                after.owner.map(str::to_string),
            ),
            (
                "group",
                before.group.map(str::to_string),
                after.group.map(str::to_string),
            ),
        ];
        for (name, old, new) in attributes {
            if let (Some(old), Some(new)) = (old, new)
                && old != new
            {
                out.push_str(&format!("{path}: {name} {old} -> {new}\n"));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn octal(mode: u32) -> String {
    format!("{mode:04o}")
}

/// A unified diff with three lines of context; a file that is not text is
/// only said to differ.
fn content_diff(host: &str, path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let old_label = match old {
        Some(_) => format!("{path} (on {host})"),
        None => "/dev/null (absent)".to_string(),
    };
    let new_label = format!("{path} (this run)");
    let (Ok(old_text), Ok(new_text)) = (
        std::str::from_utf8(old.unwrap_or_default()),
        std::str::from_utf8(new),
    ) else {
        return format!("{path}: binary content differs\n");
    };
    let diff = TextDiff::from_lines(old_text, new_text);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old_label, &new_label)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(content: &[u8]) -> FileView<'_> {
        FileView {
            content,
            mode: None,
            owner: None,
            group: None,
        }
    }

    #[test]
    fn a_changed_line_is_a_unified_diff() {
        let before = view(b"a\nb\nc\n");
        let after = view(b"a\nB\nc\n");
        let diff = file_diff("root@db1", "/etc/x", Some(&before), &after, false).unwrap();
        assert_eq!(
            diff,
            "--- /etc/x (on root@db1)\n+++ /etc/x (this run)\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(file_diff("h", "/etc/x", Some(&after), &after, false), None);
    }

    #[test]
    fn a_new_file_a_secret_and_attributes() {
        let diff = file_diff("h", "/etc/new", None, &view(b"x\n"), false).unwrap();
        assert!(
            diff.starts_with("--- /dev/null (absent)\n+++ /etc/new (this run)\n"),
            "{diff}"
        );
        assert!(diff.ends_with("+x\n"), "{diff}");
        let hidden = file_diff("h", "/p", Some(&view(b"old-pw")), &view(b"new-pw"), true).unwrap();
        assert_eq!(hidden, "/p: <secret: changed>\n");
        let before = FileView {
            mode: Some(0o644),
            owner: Some("root"),
            ..view(b"same")
        };
        let after = FileView {
            mode: Some(0o600),
            owner: Some("root"),
            ..view(b"same")
        };
        let diff = file_diff("h", "/p", Some(&before), &after, true).unwrap();
        assert_eq!(diff, "/p: mode 0644 -> 0600\n");
        assert_eq!(
            file_diff("h", "/b", Some(&view(b"\xff")), &view(b"\xfe"), false).unwrap(),
            "/b: binary content differs\n"
        );
    }
}
