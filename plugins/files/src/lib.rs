//! `/files`: the files put into the conversation's context with `@path`.

use tether_sdk::prelude::*;

struct Files;

impl Command for Files {
    fn manifest() -> Manifest {
        // Bridge-safe but not remote-safe, as the Remote Control command lists have it.
        Manifest::local("files", "List the files in the conversation's context")
            .bridge_safe()
            .capability(Capability::Files)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let files = host::files()?;
        if files.is_empty() {
            return Ok(vec![Effect::print(
                "No files in context. Mention one with @path in a message to add it.",
            )]);
        }
        let items: Vec<String> = files
            .iter()
            .map(|f| format!("{} ({})", code(&f.path), size(f.bytes)))
            .collect();
        let heading = match files.len() {
            1 => "1 file in context:".to_string(),
            n => format!("{n} files in context:"),
        };
        Ok(vec![Effect::markdown(format!(
            "{heading}\n\n{}",
            markdown::bullets(&items)
        ))])
    }
}

/// Inline code that shows any path verbatim: a path with backticks gets a longer fence.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        0..KIB => format!("{bytes} B"),
        KIB..MIB => format!("{:.1} KiB", bytes as f64 / KIB as f64),
        _ => format!("{:.1} MiB", bytes as f64 / MIB as f64),
    }
}

tether_sdk::export!(Files);
