//! The host's view of a command's manifest, independent of the WIT version it came from.

use serde::{Deserialize, Serialize};
use tether_protocol::{Capabilities, Capability, Kind, Safety, validate_name};

/// What a command says about itself. Cached with its compiled code, so it is serialisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The name, without the slash.
    pub name: String,
    /// Other names that invoke it.
    pub aliases: Vec<String>,
    /// One line, for `/help` and completion menus.
    pub description: String,
    /// What the argument looks like (`<text>`, `[on|off]`).
    pub argument_hint: Option<String>,
    /// What it does, which decides where it may run.
    pub kind: Kind,
    /// Where it claims it may run; a policy may narrow it.
    pub safety: Safety,
    /// Every host query it may call.
    pub capabilities: Vec<Capability>,
}

const MAX_DESCRIPTION: usize = 200;
const MAX_HINT: usize = 64;
const MAX_ALIASES: usize = 8;

impl Manifest {
    /// Rejects what would confuse users or other commands: bad names, a name repeated as an
    /// alias, multi-line or oversized descriptions.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name)?;
        if self.aliases.len() > MAX_ALIASES {
            return Err(format!("more than {MAX_ALIASES} aliases"));
        }
        for (i, alias) in self.aliases.iter().enumerate() {
            validate_name(alias).map_err(|e| format!("alias: {e}"))?;
            if *alias == self.name || self.aliases[..i].contains(alias) {
                return Err(format!("alias `{alias}` is repeated"));
            }
        }
        check_line("description", &self.description, MAX_DESCRIPTION)?;
        if self.description.trim().is_empty() {
            return Err("the description is empty".into());
        }
        if let Some(hint) = &self.argument_hint {
            check_line("argument hint", hint, MAX_HINT)?;
        }
        Ok(())
    }

    /// Every name that invokes the command.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The capabilities it declares, as a set.
    pub fn declared(&self) -> Capabilities {
        self.capabilities.iter().copied().collect()
    }
}

fn check_line(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("the {what} is longer than {max} characters"));
    }
    if text.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the {what} must be one line of text without control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Manifest {
        Manifest {
            name: "hello".into(),
            aliases: vec!["hi".into()],
            description: "Say hello".into(),
            argument_hint: Some("<name>".into()),
            kind: Kind::Local,
            safety: Safety::default(),
            capabilities: vec![],
        }
    }

    #[test]
    fn accepts_good() {
        good().validate().unwrap();
    }

    #[test]
    fn rejects_hostile() {
        type Case = (fn(&mut Manifest), &'static str);
        let cases: Vec<Case> = vec![
            (|m| m.name = "Hello".into(), "lowercase"),
            (|m| m.name = "".into(), "1 to 32"),
            (|m| m.aliases = vec!["hello".into()], "repeated"),
            (|m| m.aliases = vec!["hi".into(), "hi".into()], "repeated"),
            (|m| m.aliases = vec!["../x".into()], "alias"),
            (|m| m.description = "a\nb".into(), "one line"),
            (|m| m.description = "\x1b[31mred".into(), "control"),
            (|m| m.description = "x".repeat(500), "longer"),
            (|m| m.description = " ".into(), "empty"),
            (|m| m.argument_hint = Some("\r".into()), "argument hint"),
            (
                |m| m.aliases = (0..9).map(|i| format!("a{i}")).collect(),
                "aliases",
            ),
        ];
        for (mutate, expected) in cases {
            let mut m = good();
            mutate(&mut m);
            let err = m.validate().unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }
}
