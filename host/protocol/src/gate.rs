//! The safety gate: may this command be listed and run here?
//!
//! One pure function, so that the terminal, the bridge worker, `tether commands` and the tests all
//! apply exactly the same rule. The administrator's policy narrows a command's [`Safety`] before it
//! reaches the gate (see [`Safety::narrowed_by`]); the gate itself never widens anything.

use crate::command::{Kind, Origin, Safety};

/// Where a command is being listed or invoked. An enum rather than `(origin, remote_mode)` because
/// a bridge invocation outside remote mode cannot happen: there is no bridge then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Typed in the terminal of a session that is not published.
    Local,
    /// Typed in the terminal of a session started with `--remote`.
    RemoteTerminal,
    /// Sent by a remote client over the bridge.
    Bridge,
}

impl Context {
    /// Every context, for exhaustive tests of the gate.
    pub const ALL: [Context; 3] = [Context::Local, Context::RemoteTerminal, Context::Bridge];

    /// Builds the context from the two facts a caller knows. A bridge origin implies remote mode.
    pub fn new(origin: Origin, remote_mode: bool) -> Context {
        match (origin, remote_mode) {
            (Origin::Bridge, _) => Context::Bridge,
            (Origin::Terminal, true) => Context::RemoteTerminal,
            (Origin::Terminal, false) => Context::Local,
        }
    }

    /// Where the invocation came from.
    pub fn origin(self) -> Origin {
        match self {
            Context::Bridge => Origin::Bridge,
            Context::Local | Context::RemoteTerminal => Origin::Terminal,
        }
    }

    /// Whether the session was started with `--remote`.
    pub fn remote_mode(self) -> bool {
        !matches!(self, Context::Local)
    }
}

/// Why a known command may not run where it was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Typed in the terminal of a `--remote` session, and not remote-safe.
    NotInRemoteMode,
    /// Arrived over the bridge and the bridge does not allow it.
    NotOverBridge,
}

impl Refusal {
    /// The exact text shown to whoever invoked the command. The bridge text is part of the
    /// contract with remote clients and must not change.
    pub fn message(self, name: &str) -> String {
        match self {
            Refusal::NotInRemoteMode => format!("/{name} isn't available in remote mode."),
            Refusal::NotOverBridge => format!("/{name} isn't available over Remote Control."),
        }
    }
}

/// What the gate decided for one command in one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// List it and run it.
    Run,
    /// Hide it from listings; invoking it answers [`Refusal::message`] and calls no model.
    Refuse(Refusal),
}

impl Decision {
    /// Whether the command may be listed and run.
    pub fn allows(self) -> bool {
        self == Decision::Run
    }
}

/// The rule every surface obeys (docs/architecture.md, "The gate"):
/// - in the terminal of a local session, every loaded command runs;
/// - in the terminal of a `--remote` session, only remote-safe commands;
/// - over the bridge, `prompt` always, `interactive` never, `local` only if bridge-safe.
pub fn gate(kind: Kind, safety: Safety, context: Context) -> Decision {
    match context {
        Context::Local => Decision::Run,
        Context::RemoteTerminal if safety.remote_safe => Decision::Run,
        Context::RemoteTerminal => Decision::Refuse(Refusal::NotInRemoteMode),
        Context::Bridge => match kind {
            Kind::Prompt => Decision::Run,
            Kind::Local if safety.bridge_safe => Decision::Run,
            Kind::Local | Kind::Interactive => Decision::Refuse(Refusal::NotOverBridge),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of kind × tags × origin × remote mode, against the rule written out as a
    /// table. The table is spelled independently of `gate` so that a slip in one shows in the other.
    #[test]
    fn exhaustive() {
        let mut checked = 0;
        for kind in Kind::ALL {
            for safety in Safety::ALL {
                for origin in Origin::ALL {
                    for remote_mode in [false, true] {
                        let expected_run = match (origin, remote_mode) {
                            (Origin::Terminal, false) => true,
                            (Origin::Terminal, true) => safety.remote_safe,
                            (Origin::Bridge, _) => {
                                kind == Kind::Prompt || (kind == Kind::Local && safety.bridge_safe)
                            }
                        };
                        let decision = gate(kind, safety, Context::new(origin, remote_mode));
                        assert_eq!(
                            decision.allows(),
                            expected_run,
                            "{kind:?} {safety:?} {origin:?} remote={remote_mode}"
                        );
                        if let Decision::Refuse(refusal) = decision {
                            let expected = if origin == Origin::Bridge {
                                Refusal::NotOverBridge
                            } else {
                                Refusal::NotInRemoteMode
                            };
                            assert_eq!(refusal, expected);
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 4 * 2 * 2);
    }

    #[test]
    fn interactive_never_over_bridge_even_when_tagged() {
        let all = Safety {
            remote_safe: true,
            bridge_safe: true,
        };
        assert_eq!(
            gate(Kind::Interactive, all, Context::Bridge),
            Decision::Refuse(Refusal::NotOverBridge)
        );
    }

    #[test]
    fn prompt_over_bridge_needs_no_tag() {
        assert!(gate(Kind::Prompt, Safety::default(), Context::Bridge).allows());
    }

    #[test]
    fn refusal_texts_are_exact() {
        assert_eq!(
            Refusal::NotOverBridge.message("memory"),
            "/memory isn't available over Remote Control."
        );
        assert_eq!(
            Refusal::NotInRemoteMode.message("plugin"),
            "/plugin isn't available in remote mode."
        );
    }

    #[test]
    fn context_round_trips() {
        for origin in Origin::ALL {
            for remote in [false, true] {
                let c = Context::new(origin, remote);
                assert_eq!(c.origin(), origin);
                assert_eq!(c.remote_mode(), remote || origin == Origin::Bridge);
            }
        }
    }
}
