//! The terminal machine's browser, editor and clipboard.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;

/// Opens a URL with `$BROWSER`, or the platform's opener. Returns what was run, or why not.
pub fn url(url: &str) -> Result<String, String> {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
    Command::new(&opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| opener.clone())
        .map_err(|e| format!("cannot run `{opener}` to open {url}: {e}; open it yourself"))
}

/// Edits a file in `$VISUAL`, `$EDITOR` or `vi`, in the foreground, creating the file first so
/// that the editor opens it rather than an empty buffer with no name.
pub fn editor(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if !path.exists() {
        std::fs::write(path, "").map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    // `$EDITOR` may carry arguments (`code --wait`).
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let status = Command::new(program)
        .args(parts)
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run `{editor}`: {e}; set $EDITOR"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{editor}` exited with {status}"))
    }
}

/// The OSC 52 sequence that asks the terminal to set its clipboard. It travels inside the
/// terminal stream, so it works over SSH and tmux (with `set-clipboard on`).
pub fn osc52(text: &str) -> String {
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

pub fn write_osc52(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52(""), "\x1b]52;c;\x07");
    }
}
