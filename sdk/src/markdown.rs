//! Small helpers for building markdown output that renders the same in the terminal and in the
//! web client.

/// Escapes characters that markdown would otherwise interpret, for text that must show verbatim.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A fenced code block; the fence grows if the text itself contains backtick fences.
pub fn code_block(language: &str, text: &str) -> String {
    let longest = text
        .lines()
        .map(|l| l.trim_start().chars().take_while(|c| *c == '`').count())
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{language}\n{}\n{fence}",
        text.trim_end_matches('\n')
    )
}

/// A table with a header row. Cells are escaped so that `|` in a cell cannot break the table.
pub fn table<R: AsRef<[String]>>(headers: &[&str], rows: &[R]) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .map(|c| escape(c).replace('\n', " "))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// A bullet list, one item a line.
pub fn bullets<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|i| format!("- {}\n", i.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a*b_c`d|e"), "a\\*b\\_c\\`d\\|e");
    }

    #[test]
    fn fence_grows() {
        assert_eq!(code_block("", "x"), "```\nx\n```");
        assert_eq!(
            code_block("md", "````\ny\n````"),
            "`````md\n````\ny\n````\n`````"
        );
    }

    #[test]
    fn tables() {
        let t = table(&["a", "b"], &[vec!["1".to_string(), "x|y".to_string()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
    }
}
