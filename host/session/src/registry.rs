//! The loaded commands and their names.

use std::collections::HashMap;

use tether_plugins::{LoadProgress, Manifest, Plugin, PluginSource, Runtime};
use tether_protocol::{CommandInfo, CommandSource, gate::Context, gate::gate};

use crate::user_plugins::UserPlugins;

#[derive(Debug, Default, Clone)]
pub struct Registry {
    plugins: Vec<Plugin>,
    by_name: HashMap<String, usize>,
}

/// The sources of the embedded stock commands.
pub fn stock_sources() -> Vec<PluginSource> {
    tether_stock::STOCK
        .iter()
        .map(|p| PluginSource::stock(p.crate_name, p.bytes, p.sha256))
        .collect()
}

/// The first name of `new` already taken by a command in `existing`, if any.
pub fn clash<'a>(
    existing: impl IntoIterator<Item = &'a Manifest>,
    new: &Manifest,
) -> Option<(String, String)> {
    for other in existing {
        if let Some(name) = new.names().find(|n| other.names().any(|m| m == *n)) {
            return Some((name.to_string(), other.name.clone()));
        }
    }
    None
}

impl Registry {
    /// Loads the stock commands and the user's plugins. A user plugin that fails to load or clashes
    /// is skipped with a warning; the session starts regardless.
    pub fn load(
        runtime: &Runtime,
        user: &UserPlugins,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> (Registry, Vec<String>) {
        let (user_sources, mut warnings) = user.sources();
        let mut sources = stock_sources();
        let stock_count = sources.len();
        sources.extend(user_sources);
        let results = runtime.load_all(sources, progress);
        let mut registry = Registry::default();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(plugin) => {
                    if let Err(e) = registry.insert(plugin) {
                        warnings.push(e);
                    }
                }
                Err(e) if i < stock_count => {
                    warnings.push(format!("stock command not loaded: {e}"))
                }
                Err(e) => warnings.push(format!("skipped a user plugin: {e}")),
            }
        }
        (registry, warnings)
    }

    /// Adds a plugin unless one of its names is taken.
    pub fn insert(&mut self, plugin: Plugin) -> Result<(), String> {
        if let Some((name, owner)) =
            clash(self.plugins.iter().map(|p| &p.manifest), &plugin.manifest)
        {
            let whose = match self.find(&owner).map(|p| p.source) {
                Some(CommandSource::Stock) => "a stock command",
                _ => "another installed plugin",
            };
            return Err(format!(
                "{} declares /{name}, which is already taken by {whose} (/{owner}); rename the plugin",
                plugin.label
            ));
        }
        let index = self.plugins.len();
        for name in plugin.manifest.names() {
            self.by_name.insert(name.to_string(), index);
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// Removes a command by name or alias, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Plugin> {
        let index = *self.by_name.get(name)?;
        let plugin = self.plugins.remove(index);
        self.by_name.clear();
        for (i, p) in self.plugins.iter().enumerate() {
            for n in p.manifest.names() {
                self.by_name.insert(n.to_string(), i);
            }
        }
        Some(plugin)
    }

    pub fn find(&self, name: &str) -> Option<&Plugin> {
        self.by_name.get(name).map(|i| &self.plugins[*i])
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// The commands the gate allows in `context`, sorted by name.
    pub fn available(&self, context: Context) -> Vec<CommandInfo> {
        let mut list: Vec<CommandInfo> = self
            .plugins
            .iter()
            .filter(|p| gate(p.manifest.kind, p.manifest.safety, context).allows())
            .map(info)
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

pub fn info(p: &Plugin) -> CommandInfo {
    let m = &p.manifest;
    CommandInfo {
        name: m.name.clone(),
        aliases: m.aliases.clone(),
        description: m.description.clone(),
        argument_hint: m.argument_hint.clone(),
        kind: m.kind,
        remote_safe: m.safety.remote_safe,
        bridge_safe: m.safety.bridge_safe,
        source: p.source,
        sha256: p.sha256.clone(),
        capabilities: m.capabilities.clone(),
    }
}
