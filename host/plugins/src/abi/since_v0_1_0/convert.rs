//! Conversions between the WIT types of this version and the host's own.

use tether_protocol::gate::{Context, gate};
use tether_protocol::{Capability, CommandInfo, Kind, Origin, Safety};

use super::tether::command::{host as wh, types as wt};
use crate::effect::{Editable, Effect};
use crate::manifest::Manifest;
use crate::queries;

pub(crate) fn manifest_from_wit(m: wt::Manifest) -> Manifest {
    Manifest {
        name: m.name,
        aliases: m.aliases,
        description: m.description,
        argument_hint: m.argument_hint,
        kind: kind_from_wit(m.kind),
        safety: Safety {
            remote_safe: m.safety.contains(wt::Safety::REMOTE_SAFE),
            bridge_safe: m.safety.contains(wt::Safety::BRIDGE_SAFE),
        },
        capabilities: m
            .capabilities
            .into_iter()
            .map(capability_from_wit)
            .collect(),
    }
}

fn kind_from_wit(k: wt::Kind) -> Kind {
    match k {
        wt::Kind::Local => Kind::Local,
        wt::Kind::Interactive => Kind::Interactive,
        wt::Kind::Prompt => Kind::Prompt,
    }
}

fn kind_to_wit(k: Kind) -> wt::Kind {
    match k {
        Kind::Local => wt::Kind::Local,
        Kind::Interactive => wt::Kind::Interactive,
        Kind::Prompt => wt::Kind::Prompt,
    }
}

fn capability_from_wit(c: wt::Capability) -> Capability {
    match c {
        wt::Capability::Session => Capability::Session,
        wt::Capability::Usage => Capability::Usage,
        wt::Capability::Transcript => Capability::Transcript,
        wt::Capability::Settings => Capability::Settings,
        wt::Capability::Commands => Capability::Commands,
        wt::Capability::Files => Capability::Files,
    }
}

fn origin_to_wit(o: Origin) -> wt::Origin {
    match o {
        Origin::Terminal => wt::Origin::Terminal,
        Origin::Bridge => wt::Origin::Bridge,
    }
}

pub(crate) fn invocation(args: String, context: Context) -> wt::Invocation {
    wt::Invocation {
        args,
        origin: origin_to_wit(context.origin()),
        remote_mode: context.remote_mode(),
    }
}

pub(crate) fn effect_from_wit(e: wt::Effect) -> Effect {
    match e {
        wt::Effect::Print(s) => Effect::Print(s),
        wt::Effect::Markdown(s) => Effect::Markdown(s),
        wt::Effect::Prompt(s) => Effect::Prompt(s),
        wt::Effect::SetTheme(s) => Effect::SetTheme(s),
        wt::Effect::SetColor(s) => Effect::SetColor(s),
        wt::Effect::SetVim(b) => Effect::SetVim(b),
        wt::Effect::SetPlanMode(b) => Effect::SetPlanMode(b),
        wt::Effect::SetStatusline(b) => Effect::SetStatusline(b),
        wt::Effect::Clear => Effect::Clear,
        wt::Effect::Exit => Effect::Exit,
        wt::Effect::CopyToClipboard(s) => Effect::CopyToClipboard(s),
        wt::Effect::AddNote(s) => Effect::AddNote(s),
        wt::Effect::Compact(s) => Effect::Compact(s),
        wt::Effect::Summarize(s) => Effect::Summarize(s),
        wt::Effect::OpenUrl(s) => Effect::OpenUrl(s),
        wt::Effect::OpenEditor(wt::Editable::Memory) => Effect::OpenEditor(Editable::Memory),
        wt::Effect::InstallPlugin(s) => Effect::InstallPlugin(s),
        wt::Effect::RemovePlugin(s) => Effect::RemovePlugin(s),
        wt::Effect::HandOff => Effect::HandOff,
        wt::Effect::NewSessionKey => Effect::NewSessionKey,
    }
}

pub(crate) fn session_to_wit(s: queries::SessionInfo) -> wh::SessionInfo {
    wh::SessionInfo {
        remote_mode: s.remote_mode,
        session_id: s.session_id,
        url: s.url,
        engine: s.engine,
        model: s.model,
        cwd: s.cwd,
        version: s.version,
    }
}

pub(crate) fn usage_to_wit(u: queries::Usage) -> wh::TokenUsage {
    wh::TokenUsage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_micros: u.cost_micros,
        turns: u.turns,
    }
}

pub(crate) fn message_to_wit(m: queries::Message) -> wh::Message {
    let role = match m.role {
        queries::Role::User => wh::Role::User,
        queries::Role::Assistant => wh::Role::Assistant,
        queries::Role::Note => wh::Role::Note,
        queries::Role::Command => wh::Role::Command,
    };
    wh::Message { role, text: m.text }
}

pub(crate) fn settings_to_wit(s: queries::Settings) -> wh::Preferences {
    let p = s.preferences;
    wh::Preferences {
        theme: p.theme,
        themes: s.themes,
        color: p.color,
        colors: s.colors,
        vim: p.vim,
        plan_mode: p.plan_mode,
        statusline: p.statusline,
        app_links: s
            .app_links
            .into_iter()
            .map(|l| wh::AppLink {
                label: l.label,
                url: l.url,
            })
            .collect(),
    }
}

/// `remote-safe` and `bridge-safe` carry the gate's decision (may it run in a `--remote` terminal,
/// over the bridge?) rather than the manifest's tags, so that a plugin describing commands (`/help`)
/// shows what the host decided instead of applying the rule again.
pub(crate) fn command_to_wit(c: CommandInfo) -> wh::CommandInfo {
    let safety = Safety {
        remote_safe: c.remote_safe,
        bridge_safe: c.bridge_safe,
    };
    let runs_in = |context| gate(c.kind, safety, context).allows();
    wh::CommandInfo {
        name: c.name,
        aliases: c.aliases,
        description: c.description,
        argument_hint: c.argument_hint,
        kind: kind_to_wit(c.kind),
        remote_safe: runs_in(Context::RemoteTerminal),
        bridge_safe: runs_in(Context::Bridge),
        source: c.source.as_str().to_string(),
        sha256: c.sha256,
    }
}

pub(crate) fn file_to_wit(f: queries::ContextFile) -> wh::ContextFile {
    wh::ContextFile {
        bytes: f.content.len() as u64,
        path: f.path,
    }
}

#[cfg(test)]
mod tests {
    use tether_protocol::CommandSource;

    use super::*;

    fn info(kind: Kind, remote_safe: bool, bridge_safe: bool) -> CommandInfo {
        CommandInfo {
            name: "x".into(),
            aliases: vec![],
            description: "d".into(),
            argument_hint: None,
            kind,
            remote_safe,
            bridge_safe,
            source: CommandSource::Stock,
            sha256: String::new(),
            capabilities: vec![],
        }
    }

    /// Plugins see where the gate lets a command run, not the tags it was given.
    #[test]
    fn commands_carry_the_gates_decision() {
        let where_ = |c: CommandInfo| {
            let w = command_to_wit(c);
            (w.remote_safe, w.bridge_safe)
        };
        assert_eq!(where_(info(Kind::Prompt, false, false)), (false, true));
        assert_eq!(where_(info(Kind::Interactive, true, true)), (true, false));
        assert_eq!(where_(info(Kind::Local, true, true)), (true, true));
        assert_eq!(where_(info(Kind::Local, false, false)), (false, false));
    }
}
