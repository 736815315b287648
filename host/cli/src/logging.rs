//! What `TETHER_LOG` and `-v` turn on. A bare level is meant for tether: applied to every
//! target, `debug` with a cold plugin cache printed a quarter of a million lines of
//! cranelift's and wasmtime's own logging. So a bare level reaches tether's crates only, and
//! dependencies stay at `warn` unless named (`TETHER_LOG=debug,cranelift=debug`).

use std::str::FromStr;

use tracing::level_filters::LevelFilter;

/// The crates of tether, as their events' targets start.
pub const TETHER_TARGETS: [&str; 8] = [
    "tether",
    "tether_bridge",
    "tether_engines",
    "tether_plugins",
    "tether_protocol",
    "tether_relay",
    "tether_session",
    "tether_stock",
];

/// The filter directives for `TETHER_LOG` (when set and not blank) or else `-v` given `verbose`
/// times: nothing but errors by default, tether's information with `-v`, its debugging with
/// `-vv`.
pub fn spec(tether_log: Option<&str>, verbose: u8) -> String {
    match tether_log.filter(|s| !s.trim().is_empty()) {
        Some(spec) => directives(spec),
        None => directives(match verbose {
            0 => "error",
            1 => "info",
            _ => "debug",
        }),
    }
}

/// `spec` with each bare level more verbose than `warn` turned into `warn` plus that level for
/// each of tether's crates (except those `spec` names itself). Directives that name a target
/// are kept as they are, and so are bare `warn`, `error` and `off`.
pub fn directives(spec: &str) -> String {
    let parts: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let named: Vec<&str> = parts
        .iter()
        .filter(|p| bare_level(p).is_none())
        .map(|p| target_of(p))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        match bare_level(part) {
            Some(level) if level > LevelFilter::WARN => {
                out.push("warn".into());
                out.extend(
                    TETHER_TARGETS
                        .iter()
                        .filter(|t| !named.contains(t))
                        .map(|t| format!("{t}={}", part.to_ascii_lowercase())),
                );
            }
            _ => out.push(part.to_string()),
        }
    }
    out.join(",")
}

/// The level of a directive that names no target (`debug`, `INFO`, `3`).
fn bare_level(directive: &str) -> Option<LevelFilter> {
    LevelFilter::from_str(directive).ok()
}

/// The target a directive names: `cranelift` in `cranelift=debug`, `h2` in `h2[conn]=trace`.
fn target_of(directive: &str) -> &str {
    let end = directive.find(['=', '[']).unwrap_or(directive.len());
    &directive[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tether_at(level: &str) -> String {
        TETHER_TARGETS
            .iter()
            .map(|t| format!("{t}={level}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn a_bare_level_is_for_tether_and_dependencies_stay_at_warn() {
        assert_eq!(directives("debug"), format!("warn,{}", tether_at("debug")));
        assert_eq!(directives("TRACE"), format!("warn,{}", tether_at("trace")));
        assert_eq!(directives(" info "), format!("warn,{}", tether_at("info")));
        // Numeric levels are levels too.
        assert_eq!(directives("4"), format!("warn,{}", tether_at("4")));
    }

    #[test]
    fn quiet_levels_and_named_targets_are_kept() {
        for spec in ["warn", "error", "off", "cranelift=debug", "h2[conn]=trace"] {
            assert_eq!(directives(spec), spec);
        }
        assert_eq!(
            directives("debug,cranelift=debug"),
            format!("warn,{},cranelift=debug", tether_at("debug"))
        );
        // A tether crate the spec names keeps what the spec says.
        let got = directives("debug,tether_plugins=warn");
        assert!(got.ends_with(",tether_plugins=warn"), "{got}");
        assert_eq!(got.matches("tether_plugins=").count(), 1, "{got}");
        assert!(got.contains("tether_session=debug"), "{got}");
        // Blanks between commas are dropped.
        assert_eq!(directives(" , warn,,"), "warn");
        assert_eq!(directives(""), "");
    }

    #[test]
    fn the_environment_wins_over_verbosity() {
        assert_eq!(spec(None, 0), "error");
        assert_eq!(spec(None, 1), format!("warn,{}", tether_at("info")));
        assert_eq!(spec(None, 2), format!("warn,{}", tether_at("debug")));
        assert_eq!(spec(None, 9), spec(None, 2));
        assert_eq!(spec(Some("cranelift=debug"), 2), "cranelift=debug");
        assert_eq!(spec(Some("  "), 1), spec(None, 1));
    }

    #[test]
    fn every_spec_is_one_the_filter_accepts() {
        for s in [
            "debug",
            "debug,cranelift=debug",
            "info,h2[conn]=trace",
            "off",
        ] {
            let built = directives(s);
            assert!(
                tracing_subscriber::EnvFilter::try_new(&built).is_ok(),
                "{built}"
            );
        }
    }
}
