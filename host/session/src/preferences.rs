//! How the session looks and behaves: theme, reply colour, key bindings, plan mode, status line.
//! Everything but plan mode persists in `preferences.toml`, a file tether writes itself (the
//! hand-written `config.toml` is never rewritten, so its comments survive).
//!
//! The type itself is the plugin runtime's ([`Preferences`]), because commands read it too; this
//! module adds what only the session does with it: the choices, storing it, checking it.

use std::path::Path;

pub use tether_plugins::Preferences;

/// The themes `/theme` offers; the first is the default.
pub const THEMES: [&str; 4] = ["dark", "light", "mono", "high-contrast"];
/// The reply colours `/color` offers; the first is the default.
pub const COLORS: [&str; 8] = [
    "default", "cyan", "green", "magenta", "yellow", "blue", "red", "white",
];

/// Preferences kept in `preferences.toml`.
pub trait Stored: Sized {
    /// Reads the file; a missing file gives the defaults, a damaged one the defaults and a warning
    /// (the file is rewritten on the next change).
    fn load(path: &Path) -> (Self, Option<String>);

    /// Writes the file atomically.
    fn save(&self, path: &Path) -> std::io::Result<()>;
}

impl Stored for Preferences {
    fn load(path: &Path) -> (Preferences, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Preferences::default(), None);
            }
            Err(e) => {
                return (
                    Preferences::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                );
            }
        };
        match toml::from_str::<Preferences>(&text) {
            Ok(p) => match validate(&p) {
                Ok(()) => (p, None),
                Err(e) => (
                    Preferences::default(),
                    Some(format!("{}: {e}; using the defaults", path.display())),
                ),
            },
            Err(e) => (
                Preferences::default(),
                Some(format!(
                    "{} is not valid ({}); using the defaults",
                    path.display(),
                    e.message()
                )),
            ),
        }
    }

    fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn validate(p: &Preferences) -> Result<(), String> {
    check_theme(&p.theme)?;
    check_color(&p.color)
}

/// `Ok` if `name` is one of [`THEMES`], else why not, for the user.
pub fn check_theme(name: &str) -> Result<(), String> {
    if THEMES.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown theme `{name}`: choose one of {}",
            THEMES.join(", ")
        ))
    }
}

/// `Ok` if `name` is one of [`COLORS`], else why not, for the user.
pub fn check_color(name: &str) -> Result<(), String> {
    if COLORS.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown color `{name}`: choose one of {}",
            COLORS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_first_choices() {
        let p = Preferences::default();
        assert_eq!((p.theme.as_str(), p.color.as_str()), (THEMES[0], COLORS[0]));
        validate(&p).unwrap();
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        assert_eq!(Preferences::load(&path), (Preferences::default(), None));
        let p = Preferences {
            theme: "light".into(),
            vim: true,
            plan_mode: true,
            ..Default::default()
        };
        p.save(&path).unwrap();
        let (loaded, warning) = Preferences::load(&path);
        assert_eq!(warning, None);
        assert_eq!(
            loaded,
            Preferences {
                plan_mode: false,
                ..p
            }
        );
    }

    #[test]
    fn hostile_files_fall_back_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        for bad in [
            "theme = ",
            "theme = 'neon'",
            "colour = 'red'",
            "vim = 'yes'",
            "\0\u{7f}",
        ] {
            std::fs::write(&path, bad).unwrap();
            let (p, warning) = Preferences::load(&path);
            assert_eq!(p, Preferences::default(), "{bad}");
            assert!(warning.unwrap().contains("p.toml"), "{bad}");
        }
    }
}
