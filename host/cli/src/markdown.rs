//! Markdown for the terminal: just enough to make command output read well (headings, lists,
//! code, tables, inline code and bold). The web client renders the same text as real markdown.

use crate::palette::Palette;

pub fn render(text: &str, p: &Palette) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut fence: Option<usize> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|c| *c == '`').count();
        if let Some(open) = fence {
            if ticks >= open && trimmed[ticks..].trim().is_empty() {
                fence = None;
            } else {
                out.push(format!("  {}", p.paint(p.code, line)));
            }
            continue;
        }
        if ticks >= 3 {
            fence = Some(ticks);
            continue;
        }
        if trimmed.starts_with('|') {
            let mut table = vec![line];
            while let Some(next) = lines.peek() {
                if next.trim_start().starts_with('|') {
                    table.push(lines.next().expect("peeked"));
                } else {
                    break;
                }
            }
            out.extend(render_table(&table, p));
            continue;
        }
        let heading = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&heading) && trimmed[heading..].starts_with(' ') {
            out.push(p.paint(p.heading, &inline(trimmed[heading..].trim(), p)));
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            let indent = line.len() - trimmed.len();
            out.push(format!("{}• {}", " ".repeat(indent + 2), inline(item, p)));
        } else {
            out.push(inline(line, p));
        }
    }
    out.join("\n")
}

/// Splits a table row on the `|` that are not escaped.
fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row
        .strip_suffix('|')
        .filter(|r| !r.ends_with('\\'))
        .unwrap_or(row);
    let mut cells = vec![String::new()];
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cells.last_mut().expect("one cell").push('\\');
                if let Some(n) = chars.next() {
                    cells.last_mut().expect("one cell").push(n);
                }
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().expect("one cell").push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

fn render_table(rows: &[&str], p: &Palette) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cells(r))
        .filter(|c| !is_separator(c))
        .map(|c| c.iter().map(|cell| plain_inline(cell)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .enumerate()
        .map(|(n, row)| {
            let line: Vec<String> = (0..columns)
                .map(|i| {
                    let cell = row.get(i).map(String::as_str).unwrap_or("");
                    let pad = widths[i] - cell.chars().count();
                    if i + 1 == columns {
                        cell.to_string()
                    } else {
                        format!("{cell}{}", " ".repeat(pad))
                    }
                })
                .collect();
            let line = format!("  {}", line.join("  ").trim_end());
            if n == 0 && rows.len() > 1 {
                p.paint(p.heading, &line)
            } else {
                line
            }
        })
        .collect()
}

/// Inline markup without styling (for table cells, whose widths must be measured).
fn plain_inline(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '`' => {}
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
            }
            c => out.push(c),
        }
    }
    out
}

fn inline(text: &str, p: &Palette) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '`' => {
                let code: String = chars.by_ref().take_while(|c| *c != '`').collect();
                out.push_str(&p.paint(p.code, &code));
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut bold = String::new();
                while let Some(c) = chars.next() {
                    if c == '*' && chars.peek() == Some(&'*') {
                        chars.next();
                        break;
                    }
                    bold.push(c);
                }
                out.push_str(&p.paint(if p.heading.is_empty() { "" } else { "1" }, &bold));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Palette {
        Palette::new("mono", "default", false)
    }

    #[test]
    fn tables_align() {
        let md =
            "| Command | Description |\n|---|---|\n| `/help` | Show help |\n| /x \\| y | z |\n";
        assert_eq!(
            render(md, &plain()),
            "  Command  Description\n  /help    Show help\n  /x | y   z"
        );
    }

    #[test]
    fn blocks() {
        let md = "# Title\n- a `b`\n```\ncode | here\n```\n**bold** text";
        assert_eq!(
            render(md, &plain()),
            "Title\n  • a b\n  code | here\nbold text"
        );
    }

    #[test]
    fn colours_when_enabled() {
        let p = Palette::new("dark", "default", true);
        assert!(render("`x`", &p).contains("\x1b[33mx\x1b[0m"));
    }

    #[test]
    fn hostile_markdown_does_not_panic() {
        for md in [
            "|",
            "||",
            "| \\",
            "`unclosed",
            "**unclosed",
            "```",
            "#",
            "\\",
            "| a |\n|",
            "- ",
        ] {
            let _ = render(md, &plain());
        }
    }
}
