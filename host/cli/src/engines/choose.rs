//! Which engine answers: one pure rule, so that every combination of flag, config file and
//! environment can be tested. An explicit choice (flag or TETHER_ENGINE, then the config file)
//! wins; otherwise the first configured provider; otherwise `echo`, with a hint saying how to
//! configure a real one.

use crate::args::EngineChoice;
use crate::engines::config::Config;

/// Why this engine: shown with `-v`, and used for the hint when nothing is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `--engine` or `TETHER_ENGINE`.
    Asked,
    /// `engine = …` in config.toml.
    Config,
    /// The provider's API key is in the environment.
    KeyInEnvironment,
    /// The provider has a section in config.toml.
    Configured,
    /// Nothing is configured.
    Fallback,
}

pub fn choose(
    asked: Option<EngineChoice>,
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> (EngineChoice, Why) {
    if let Some(choice) = asked {
        return (choice, Why::Asked);
    }
    if let Some(choice) = config.engine {
        return (choice, Why::Config);
    }
    let has = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    if has(config.anthropic.key_var(ANTHROPIC_KEY)) {
        return (EngineChoice::Anthropic, Why::KeyInEnvironment);
    }
    if has(config.openai_or_default().key_var(OPENAI_KEY)) {
        return (EngineChoice::Openai, Why::KeyInEnvironment);
    }
    if config.openai.is_some() {
        return (EngineChoice::Openai, Why::Configured);
    }
    if config.exec.is_some() {
        return (EngineChoice::Exec, Why::Configured);
    }
    (EngineChoice::Echo, Why::Fallback)
}

/// The providers' usual key variables.
pub const ANTHROPIC_KEY: &str = "ANTHROPIC_API_KEY";
pub const OPENAI_KEY: &str = "OPENAI_API_KEY";

/// The one-line hint shown when `echo` was picked because nothing else is configured.
pub const FALLBACK_HINT: &str = "no model configured, so replies repeat what you type: set \
    ANTHROPIC_API_KEY or OPENAI_API_KEY, or choose an engine with --engine (see tether --help)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::config::{ExecSection, Provider};
    use EngineChoice::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn every_source_in_order() {
        let empty = Config::default();
        let none = env(&[]);
        let both = env(&[("ANTHROPIC_API_KEY", "a"), ("OPENAI_API_KEY", "o")]);
        let openai_key = env(&[("OPENAI_API_KEY", "o")]);
        let blank = env(&[("ANTHROPIC_API_KEY", "  ")]);
        let usual_key = env(&[("ANTHROPIC_API_KEY", "a")]);
        let work_key = env(&[("WORK_KEY", "a")]);
        let with_engine = Config {
            engine: Some(Exec),
            ..Config::default()
        };
        let with_openai = Config {
            openai: Some(Provider::default()),
            ..Config::default()
        };
        let with_exec = Config {
            exec: Some(ExecSection {
                command: vec!["agent".into()],
            }),
            ..Config::default()
        };
        let custom_var = Config {
            anthropic: Provider {
                api_key_env: Some("WORK_KEY".into()),
                ..Provider::default()
            },
            ..Config::default()
        };
        type Case<'a> = (
            Option<EngineChoice>,
            &'a Config,
            &'a dyn Fn(&str) -> Option<String>,
            (EngineChoice, Why),
        );
        let cases: Vec<Case> = vec![
            (Some(Echo), &with_engine, &both, (Echo, Why::Asked)),
            (Some(Openai), &empty, &none, (Openai, Why::Asked)),
            (None, &with_engine, &both, (Exec, Why::Config)),
            (None, &empty, &both, (Anthropic, Why::KeyInEnvironment)),
            (None, &empty, &openai_key, (Openai, Why::KeyInEnvironment)),
            (None, &with_openai, &none, (Openai, Why::Configured)),
            (None, &with_exec, &none, (Exec, Why::Configured)),
            (None, &empty, &none, (Echo, Why::Fallback)),
            (None, &empty, &blank, (Echo, Why::Fallback)),
            // A renamed key variable: the usual one no longer counts.
            (None, &custom_var, &usual_key, (Echo, Why::Fallback)),
            (
                None,
                &custom_var,
                &work_key,
                (Anthropic, Why::KeyInEnvironment),
            ),
        ];
        for (asked, config, env, expected) in cases {
            assert_eq!(choose(asked, config, env), expected, "{asked:?} {config:?}");
        }
    }
}
