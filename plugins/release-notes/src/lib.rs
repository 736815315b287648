//! `/release-notes [all|<version>]`: what changed in each version of tether.

use tether_sdk::prelude::*;

struct ReleaseNotes;

/// Embedded at build time: a plugin cannot read files, and the notes belong to this build anyway.
const CHANGELOG: &str = include_str!("../../../CHANGELOG.md");
const NEWEST: usize = 3;

impl Command for ReleaseNotes {
    fn manifest() -> Manifest {
        // Bridge-safe but not remote-safe, as the Remote Control command lists have it.
        Manifest::local("release-notes", "Show what changed in each version")
            .argument_hint("[all|<version>]")
            .bridge_safe()
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        notes(CHANGELOG, &call.args).map(|text| vec![Effect::markdown(text)])
    }
}

fn notes(changelog: &str, args: &str) -> Result<String, String> {
    let sections = sections(changelog);
    if sections.is_empty() || args.eq_ignore_ascii_case("all") {
        return Ok(changelog.trim().to_string());
    }
    if args.is_empty() {
        let newest: Vec<&str> = sections.iter().take(NEWEST).map(|s| s.trim()).collect();
        return Ok(newest.join("\n\n"));
    }
    let wanted = args.trim_start_matches('v');
    sections
        .iter()
        .find(|s| version(s) == wanted)
        .map(|s| s.trim().to_string())
        .ok_or_else(|| {
            let known: Vec<&str> = sections.iter().map(|s| version(s)).collect();
            format!(
                "No release notes for {args}. Known versions: {}. Type /release-notes <version>, or /release-notes all.",
                known.join(", ")
            )
        })
}

/// Each `## ` section, heading included, newest (first in the file) first.
fn sections(changelog: &str) -> Vec<&str> {
    let starts: Vec<usize> = changelog
        .match_indices("## ")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || changelog.as_bytes()[i - 1] == b'\n')
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| &changelog[start..starts.get(n + 1).copied().unwrap_or(changelog.len())])
        .collect()
}

/// `0.1.0` from `## 0.1.0 (unreleased)` (or from `## v0.1.0 - …`).
fn version(section: &str) -> &str {
    section["## ".len()..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches('v')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str =
        "# Changelog\n\n## 0.4.0\n- d\n\n## 0.3.0\n- c\n\n## 0.2.0\n- b\n\n## 0.1.0 (first)\n- a\n";

    #[test]
    fn newest_three_by_default() {
        let text = notes(LOG, "").unwrap();
        assert!(text.starts_with("## 0.4.0") && text.contains("## 0.2.0"));
        assert!(!text.contains("0.1.0"));
    }

    #[test]
    fn one_version_or_a_helpful_error() {
        assert_eq!(notes(LOG, "v0.1.0").unwrap(), "## 0.1.0 (first)\n- a");
        let err = notes(LOG, "9.9").unwrap_err();
        assert!(err.contains("0.4.0, 0.3.0, 0.2.0, 0.1.0"), "{err}");
    }

    #[test]
    fn all_or_no_sections_is_everything() {
        assert_eq!(notes(LOG, "all").unwrap(), LOG.trim());
        assert_eq!(notes("just text\n", "").unwrap(), "just text");
    }
}

tether_sdk::export!(ReleaseNotes);
