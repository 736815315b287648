//! `@path` mentions: files the user puts into the conversation's context.

use std::io::Read;
use std::path::{Path, PathBuf};

pub use tether_plugins::ContextFile;
use tether_protocol::Origin;

/// Files larger than this are refused: the context is for source files and notes, and a
/// mistyped `@/var/log/huge.log` must not stall the session.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The `@path` tokens of `text`: an `@` at the start or after white space, up to the next white
/// space, without trailing punctuation. `a@b.c` (an e-mail address) is not a mention.
pub fn mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let Some(path) = word.strip_prefix('@') else {
            continue;
        };
        let path = path.trim_end_matches(|c: char| ",.;:!?)\"'".contains(c));
        if !path.is_empty() && !out.iter().any(|p: &String| p == path) {
            out.push(path.to_string());
        }
    }
    out
}

/// The mentions in a message from `origin` that read files: the local user's only. The files are
/// the terminal machine's, so a remote client's `@/etc/shadow` (or `@~/.ssh/id_ed25519`) is plain
/// text for the model, and nothing is read or added to the context.
pub fn mentions_from(text: &str, origin: Origin) -> Vec<String> {
    match origin {
        Origin::Terminal => mentions(text),
        Origin::Bridge => Vec::new(),
    }
}

/// Reads a mentioned file relative to `cwd`, with a message fit for the user if it cannot be used.
pub fn read(cwd: &Path, path: &str) -> Result<ContextFile, String> {
    let full: PathBuf = cwd.join(path);
    let meta = std::fs::metadata(&full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("@{path}: no such file"),
        _ => format!("@{path}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!(
            "@{path} is a directory; mention the files in it instead"
        ));
    }
    // A device or a FIFO reports no size and may never end (`@/dev/zero`).
    if !meta.is_file() {
        return Err(format!(
            "@{path} is not a regular file; only files can be put into context"
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "@{path} is {} KiB, over the {} KiB limit for files in context",
            meta.len() / 1024,
            MAX_FILE_BYTES / 1024
        ));
    }
    // Read at most one byte over the limit: the file may have grown since it was measured.
    let mut bytes = Vec::new();
    std::fs::File::open(&full)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("@{path}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "@{path} is over the {} KiB limit for files in context",
            MAX_FILE_BYTES / 1024
        ));
    }
    let content = String::from_utf8(bytes)
        .map_err(|_| format!("@{path} is not a text file (not UTF-8); it was not added"))?;
    Ok(ContextFile {
        path: path.to_string(),
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions() {
        assert_eq!(
            mentions("look at @src/main.rs, and @a.txt."),
            ["src/main.rs", "a.txt"]
        );
        assert_eq!(mentions("mail me@example.com"), Vec::<String>::new());
        assert_eq!(mentions("@ alone @x @x"), ["x"]);
        assert!(mentions("").is_empty());
    }

    #[test]
    fn only_the_local_users_mentions_read_files() {
        let text = "see @/etc/shadow and @../secret.txt";
        assert_eq!(
            mentions_from(text, Origin::Terminal),
            ["/etc/shadow", "../secret.txt"]
        );
        assert!(mentions_from(text, Origin::Bridge).is_empty());
    }

    #[test]
    fn reads_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("bin"), [0xff, 0xfe, 0]).unwrap();
        std::fs::write(
            dir.path().join("big"),
            vec![b'x'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        assert_eq!(read(dir.path(), "a.txt").unwrap().content, "hello");
        assert!(
            read(dir.path(), "nope")
                .unwrap_err()
                .contains("no such file")
        );
        assert!(
            read(dir.path(), "bin")
                .unwrap_err()
                .contains("not a text file")
        );
        assert!(read(dir.path(), "big").unwrap_err().contains("limit"));
        assert!(read(dir.path(), ".").unwrap_err().contains("directory"));
        assert!(
            read(dir.path(), "/dev/zero")
                .unwrap_err()
                .contains("not a regular file")
        );
    }
}
