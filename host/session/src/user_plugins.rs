//! Plugins the user installed: `.wasm` files in the data directory, one per command, named after
//! the command so that `remove` needs no index.

use std::path::{Path, PathBuf};

use tether_plugins::{Plugin, PluginSource, Runtime};
use tether_protocol::CommandSource;

use crate::registry::{Registry, clash};

/// The directory of user-installed plugins, one `<name>.wasm` per command.
pub struct UserPlugins {
    dir: PathBuf,
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    /// The installed plugin, loaded.
    pub plugin: Plugin,
    /// The SHA-256 of the version it replaced, when it was an update.
    pub replaced: Option<String>,
}

impl UserPlugins {
    /// The plugins kept in `dir`.
    pub fn new(dir: PathBuf) -> UserPlugins {
        UserPlugins { dir }
    }

    /// The directory the plugins live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the plugin for command `name` lives.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    /// The installed files, sorted by name, and warnings for those that cannot be read.
    pub fn sources(&self) -> (Vec<PluginSource>, Vec<String>) {
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (sources, warnings),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", self.dir.display()));
                return (sources, warnings);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => sources.push(PluginSource::user(path.display().to_string(), bytes)),
                Err(e) => warnings.push(format!("cannot read {}: {e}", path.display())),
            }
        }
        (sources, warnings)
    }

    /// Validates `file` as a plugin (it must load, and its names must not be taken by a stock
    /// command or another plugin), then copies it in. Installing a new version of an installed
    /// plugin replaces it.
    pub fn install(
        &self,
        runtime: &Runtime,
        registry: &Registry,
        file: &Path,
    ) -> Result<Installed, String> {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let plugin = runtime
            .load(PluginSource::user(
                file.display().to_string(),
                bytes.clone(),
            ))
            .map_err(|e| e.to_string())?;
        let name = plugin.manifest.name.clone();
        let previous = registry
            .find(&name)
            .filter(|p| p.source == CommandSource::User && p.manifest.name == name);
        let others = registry
            .plugins()
            .iter()
            .filter(|p| !(p.source == CommandSource::User && p.manifest.name == name))
            .map(|p| &p.manifest);
        if let Some((taken, owner)) = clash(others, &plugin.manifest) {
            let whose = match registry.find(&owner).map(|p| p.source) {
                Some(CommandSource::Stock) => "the stock command",
                _ => "the installed plugin",
            };
            return Err(format!(
                "cannot install {}: it declares /{taken}, which is {whose} /{owner}. Choose another name in its manifest.",
                file.display()
            ));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut tmp, &bytes)?;
            tmp.persist(self.path_of(&name)).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| format!("cannot write {}: {e}", self.path_of(&name).display()))?;
        let mut plugin = plugin;
        plugin.label = self.path_of(&name).display().to_string();
        Ok(Installed {
            plugin,
            replaced: previous.map(|p| p.sha256.clone()),
        })
    }

    /// Removes an installed plugin by its name (or one of its aliases).
    pub fn remove(&self, registry: &Registry, name: &str) -> Result<String, String> {
        let name = name.trim_start_matches('/');
        match registry.find(name) {
            Some(p) if p.source == CommandSource::Stock => Err(format!(
                "/{name} is a stock command; stock commands cannot be removed"
            )),
            Some(p) => {
                // The label of a user plugin is the file it was loaded from.
                let path = PathBuf::from(&p.label);
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                Ok(p.manifest.name.clone())
            }
            None => Err(format!(
                "no installed plugin is called /{name}; `tether plugin list` shows them"
            )),
        }
    }
}
