//! Colours for each theme. A theme changes how everything is drawn; `/color` changes only the
//! assistant's replies. `NO_COLOR` or a non-terminal output turns all colour off.

/// ANSI SGR parameters for each role; empty means "draw plainly".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    pub accent: &'static str,
    pub dim: &'static str,
    pub error: &'static str,
    pub heading: &'static str,
    pub code: &'static str,
    pub note: &'static str,
    pub reply: &'static str,
}

impl Palette {
    pub fn new(theme: &str, color: &str, enabled: bool) -> Palette {
        if !enabled || theme == "mono" {
            return Palette {
                accent: "",
                dim: "",
                error: "",
                heading: "",
                code: "",
                note: "",
                reply: "",
            };
        }
        let mut p = match theme {
            "light" => Palette {
                accent: "34",
                dim: "90",
                error: "31",
                heading: "1;34",
                code: "35",
                note: "33",
                reply: "",
            },
            "high-contrast" => Palette {
                accent: "1;96",
                dim: "97",
                error: "1;91",
                heading: "1;4;97",
                code: "1;93",
                note: "1;95",
                reply: "97",
            },
            _ => Palette {
                accent: "36",
                dim: "2",
                error: "31",
                heading: "1;36",
                code: "33",
                note: "35",
                reply: "",
            },
        };
        if let Some(code) = color_code(color) {
            p.reply = code;
        }
        p
    }

    pub fn paint(&self, style: &str, text: &str) -> String {
        if style.is_empty() || text.is_empty() {
            text.to_string()
        } else {
            format!("\x1b[{style}m{text}\x1b[0m")
        }
    }
}

fn color_code(color: &str) -> Option<&'static str> {
    Some(match color {
        "cyan" => "36",
        "green" => "32",
        "magenta" => "35",
        "yellow" => "33",
        "blue" => "34",
        "red" => "31",
        "white" => "97",
        _ => return None,
    })
}

pub fn color_enabled(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_differ_and_mono_is_plain() {
        let dark = Palette::new("dark", "default", true);
        let light = Palette::new("light", "default", true);
        assert_ne!(dark, light);
        let mono = Palette::new("mono", "red", true);
        assert_eq!(mono.paint(mono.error, "x"), "x");
        assert_eq!(
            Palette::new("dark", "red", false).paint("31", "x"),
            "\x1b[31mx\x1b[0m"
        );
    }

    #[test]
    fn color_changes_replies_only() {
        let a = Palette::new("dark", "default", true);
        let b = Palette::new("dark", "green", true);
        assert_eq!(b.reply, "32");
        assert_eq!(
            Palette {
                reply: a.reply,
                ..b.clone()
            },
            a
        );
    }
}
