use crate::{Capability, Kind, Manifest, Safety};

impl Manifest {
    fn new(kind: Kind, name: &str, description: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            aliases: Vec::new(),
            description: description.to_string(),
            argument_hint: None,
            kind,
            safety: Safety::empty(),
            capabilities: Vec::new(),
        }
    }

    /// A command that runs and returns text and effects.
    pub fn local(name: &str, description: &str) -> Manifest {
        Manifest::new(Kind::Local, name, description)
    }

    /// A command that needs the local terminal UI. It never runs over the bridge.
    pub fn interactive(name: &str, description: &str) -> Manifest {
        Manifest::new(Kind::Interactive, name, description)
    }

    /// A command that expands to text sent to the model as a user turn (return
    /// [`Effect::prompt`](crate::Effect::prompt)). It always runs over the bridge.
    pub fn prompt(name: &str, description: &str) -> Manifest {
        Manifest::new(Kind::Prompt, name, description)
    }

    /// Another name that invokes this command.
    pub fn alias(mut self, alias: &str) -> Manifest {
        self.aliases.push(alias.to_string());
        self
    }

    /// What the argument looks like, shown in completion menus: `<text>`, `[on|off]`.
    pub fn argument_hint(mut self, hint: &str) -> Manifest {
        self.argument_hint = Some(hint.to_string());
        self
    }

    /// Listed and runnable in a session started with `tether --remote`.
    pub fn remote_safe(mut self) -> Manifest {
        self.safety |= Safety::REMOTE_SAFE;
        self
    }

    /// May run when a remote client sends it over the bridge (`local` commands only).
    pub fn bridge_safe(mut self) -> Manifest {
        self.safety |= Safety::BRIDGE_SAFE;
        self
    }

    /// Declares a host query the command calls. Calling an undeclared one traps.
    pub fn capability(mut self, capability: Capability) -> Manifest {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder() {
        let m = Manifest::local("hello", "Say hello")
            .alias("hi")
            .argument_hint("<name>")
            .remote_safe()
            .bridge_safe()
            .capability(Capability::Usage)
            .capability(Capability::Usage);
        assert_eq!(m.kind, Kind::Local);
        assert_eq!(m.aliases, ["hi"]);
        assert!(m.safety.contains(Safety::REMOTE_SAFE | Safety::BRIDGE_SAFE));
        assert_eq!(m.capabilities, [Capability::Usage]);
    }
}
