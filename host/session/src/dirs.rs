//! Where tether keeps its files, following the XDG base directory spec so that tests (and users)
//! can move everything with `XDG_CONFIG_HOME`, `XDG_DATA_HOME` and `XDG_CACHE_HOME`.

use std::path::{Path, PathBuf};

/// tether's own directories: the `tether` folder inside each XDG base directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// `config.toml`, `preferences.toml`, `memory.md`.
    pub config: PathBuf,
    /// User plugins, history, the cache key.
    pub data: PathBuf,
    /// Compiled components.
    pub cache: PathBuf,
}

impl Dirs {
    /// Resolves the directories from the environment.
    pub fn from_env() -> Result<Dirs, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let pick = |var: &str, fallback: &str| -> Result<PathBuf, String> {
            match std::env::var_os(var).map(PathBuf::from) {
                // The spec says relative values are invalid and must be ignored.
                Some(dir) if dir.is_absolute() => Ok(dir),
                _ => home.as_ref().map(|h| h.join(fallback)).ok_or_else(|| {
                    format!(
                        "neither {var} nor HOME is set: cannot tell where to keep tether's files"
                    )
                }),
            }
        };
        Ok(Dirs::under(
            &pick("XDG_CONFIG_HOME", ".config")?,
            &pick("XDG_DATA_HOME", ".local/share")?,
            &pick("XDG_CACHE_HOME", ".cache")?,
        ))
    }

    /// The `tether` directories below the given base directories.
    pub fn under(config: &Path, data: &Path, cache: &Path) -> Dirs {
        Dirs {
            config: config.join("tether"),
            data: data.join("tether"),
            cache: cache.join("tether"),
        }
    }

    /// Where `tether plugin install` keeps the user's `.wasm` files.
    pub fn user_plugins(&self) -> PathBuf {
        self.data.join("plugins")
    }

    /// The hosted relay's database when `--db` is not given.
    pub fn relay_db(&self) -> PathBuf {
        self.data.join("relay.db")
    }

    /// The terminal's line-editor history.
    pub fn history(&self) -> PathBuf {
        self.data.join("history.txt")
    }

    /// The secret key that authenticates the compiled-component cache, so a tampered entry is
    /// recompiled rather than run.
    pub fn cache_key(&self) -> PathBuf {
        self.data.join("cache.key")
    }

    /// Where compiled components are cached, so a plugin is not recompiled at every start.
    pub fn components(&self) -> PathBuf {
        self.cache.join("components")
    }

    /// Theme, colour and other settings changed from inside a session, kept across sessions.
    pub fn preferences(&self) -> PathBuf {
        self.config.join("preferences.toml")
    }

    /// The memory file loaded into every conversation (what `/memory` opens).
    pub fn memory(&self) -> PathBuf {
        self.config.join("memory.md")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let d = Dirs::under(Path::new("/c"), Path::new("/d"), Path::new("/k"));
        assert_eq!(d.user_plugins(), Path::new("/d/tether/plugins"));
        assert_eq!(d.components(), Path::new("/k/tether/components"));
        assert_eq!(d.preferences(), Path::new("/c/tether/preferences.toml"));
    }
}
