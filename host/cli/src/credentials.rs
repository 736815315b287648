//! The saved relay login: `$XDG_CONFIG_HOME/tether/credentials.json`, mode 0600, written
//! atomically (a temporary file renamed over the old one) so a crash never leaves half a token.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tether_bridge::Credentials;
use tether_session::Dirs;

pub fn path(dirs: &Dirs) -> PathBuf {
    dirs.config.join("credentials.json")
}

pub fn load(dirs: &Dirs) -> Result<Option<Credentials>> {
    let path = path(dirs);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let credentials = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a saved login; remove it and run `tether login` again",
            path.display()
        )
    })?;
    Ok(Some(credentials))
}

pub fn save(dirs: &Dirs, credentials: &Credentials) -> Result<()> {
    write_private(&path(dirs), &serde_json::to_vec_pretty(credentials)?)
}

pub fn remove(dirs: &Dirs) -> Result<bool> {
    match std::fs::remove_file(path(dirs)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).context("cannot remove the saved login"),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("the credentials path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
