//! One invocation of a plugin: what the caller asks for, and the checks on what comes back.

use std::sync::Arc;
use tether_protocol::text::truncate_bytes;

use tether_protocol::{Capabilities, gate::Context};

use crate::effect::Effect;
use crate::error::PluginError;
use crate::limits::Limits;
use crate::loader::Plugin;
use crate::queries::HostQueries;
use crate::runtime::Inner;
use crate::sandbox::{self, CallerState};

/// One invocation of a plugin. Owned, because it runs on a pool thread.
pub struct Call {
    /// The command to run.
    pub plugin: Plugin,
    /// Everything typed after the command's name.
    pub args: String,
    /// Where it was invoked, as the gate saw it.
    pub context: Context,
    /// What the policy grants; intersected with what the manifest declares.
    pub granted: Capabilities,
    /// What the call may use, after the policy lowered them.
    pub limits: Limits,
    /// Answers the host queries the command makes.
    pub queries: Arc<dyn HostQueries>,
}

/// Runs `call` in a sandbox and checks its result against the call's limits.
pub(crate) fn execute(inner: &Inner, call: Call) -> Result<Vec<Effect>, PluginError> {
    let manifest = &call.plugin.manifest;
    let declared = manifest.declared();
    let caller = CallerState {
        name: manifest.name.clone(),
        declared,
        granted: declared.intersect(call.granted),
        queries: call.queries,
        undeclared: None,
    };
    let (args, context) = (call.args, call.context);
    let returned = sandbox::run(
        &inner.wasmtime,
        &inner.ticker,
        &call.plugin.pre,
        caller,
        call.limits,
        |command, store| command.run(store, args, context),
    )?;
    let effects = returned.map_err(|message| PluginError::Failed {
        name: manifest.name.clone(),
        message: truncate_bytes(message, call.limits.output_bytes),
    })?;
    let bytes: usize = effects.iter().map(Effect::text_len).sum();
    if bytes > call.limits.output_bytes {
        return Err(PluginError::OutputTooLarge {
            name: manifest.name.clone(),
            bytes,
            limit: call.limits.output_bytes,
        });
    }
    Ok(effects)
}
