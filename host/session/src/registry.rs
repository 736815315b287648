//! The loaded commands and their names.

use std::collections::HashMap;

use tether_plugins::policy::{Identity, Mode, Policy, Refusal};
use tether_plugins::{LoadProgress, Manifest, Plugin, PluginSource, Runtime, sha256_hex};
use tether_protocol::{CommandInfo, CommandSource, gate::Context, gate::gate};

use crate::user_plugins::UserPlugins;

/// The commands a session can run, found by name or alias, and those the policy disabled.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    plugins: Vec<Plugin>,
    by_name: HashMap<String, usize>,
    /// The administrator's policy the commands were loaded under.
    policy: Policy,
    /// Commands the policy kept from loading, with why: invoking one says so.
    disabled: Vec<(String, Refusal)>,
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
        Registry::load_with(runtime, user, Policy::default(), Mode::Local, progress)
    }

    /// [`Registry::load`] under the administrator's `policy`, for a session in `mode`. A plugin
    /// the policy refuses is not compiled or instantiated: it is decided by its name (the stock
    /// crate's, the user plugin file's) and the SHA-256 of its bytes before loading, and checked
    /// again by the names its manifest declares after.
    pub fn load_with(
        runtime: &Runtime,
        user: &UserPlugins,
        policy: Policy,
        mode: Mode,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> (Registry, Vec<String>) {
        let (user_sources, mut warnings) = user.sources();
        let mut registry = Registry {
            policy,
            ..Registry::default()
        };
        let mut sources = Vec::new();
        let mut stock_count = 0;
        for mut source in stock_sources().into_iter().chain(user_sources) {
            let name = source_name(&source);
            // Hashed once here; the runtime uses the hash it is given.
            let sha = source
                .sha256
                .get_or_insert_with(|| sha256_hex(&source.bytes))
                .clone();
            let identity = Identity {
                name: &name,
                source: source.source,
                sha256: &sha,
            };
            match registry.policy.admit(identity, mode) {
                Ok(()) => {
                    stock_count += usize::from(source.source == CommandSource::Stock);
                    sources.push(source);
                }
                Err(refusal) => {
                    if matches!(refusal, Refusal::PinMismatch { .. }) {
                        warnings.push(format!("/{name} not loaded: {}", refusal.reason()));
                    }
                    registry.disabled.push((name, refusal));
                }
            }
        }
        let results = runtime.load_all(sources, progress);
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(mut plugin) => {
                    // A file renamed to pass the policy still declares its real names.
                    let refused = plugin.manifest.names().find_map(|n| {
                        let identity = Identity {
                            name: n,
                            source: plugin.source,
                            sha256: &plugin.sha256,
                        };
                        registry
                            .policy
                            .admit(identity, mode)
                            .err()
                            .map(|r| (n.to_string(), r))
                    });
                    if let Some((name, refusal)) = refused {
                        warnings.push(format!(
                            "{} not loaded: /{name} is {}",
                            plugin.label,
                            refusal.reason()
                        ));
                        registry.disabled.push((name, refusal));
                        continue;
                    }
                    let name = plugin.manifest.name.clone();
                    plugin.manifest.safety = registry.policy.safety(&name, plugin.manifest.safety);
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

    /// The administrator's policy the commands were loaded under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Why the policy kept `name` from loading, if it did.
    pub fn disabled(&self, name: &str) -> Option<&Refusal> {
        self.disabled
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// Every command the policy kept from loading, with why.
    pub fn all_disabled(&self) -> &[(String, Refusal)] {
        &self.disabled
    }

    /// The command called `name` (a name or an alias), if one is loaded.
    pub fn find(&self, name: &str) -> Option<&Plugin> {
        self.by_name.get(name).map(|i| &self.plugins[*i])
    }

    /// Every loaded command, in load order.
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

/// How `tether commands --json`, `/help` and `system_init` describe a loaded command.
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

/// The name a source is expected to declare, known before loading: the stock crate's name, or
/// the user plugin file's (`<name>.wasm`, as `tether plugin install` saves it).
fn source_name(source: &PluginSource) -> String {
    expected_name(&source.label, source.source)
}

/// [`source_name`] from a plugin's label and source (as a loaded [`Plugin`] keeps them).
pub fn expected_name(label: &str, source: CommandSource) -> String {
    match source {
        CommandSource::Stock => label.split('`').nth(1).unwrap_or(label).to_string(),
        CommandSource::User => std::path::Path::new(label)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
