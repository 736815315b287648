//! `tether policy check`: what the administrator's policy does, before a user meets it. For
//! each plugin tether knows (stock and installed), whether it loads in a local session, in a
//! remote one, and whether a phone may run it over the bridge, each with its reason; and whether
//! `@` mentions read files in each kind of session.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};
use tether_plugins::Limits;
use tether_plugins::policy::{self, Identity, Mode, Policy};
use tether_protocol::gate::{Context, gate};
use tether_protocol::{CommandSource, Kind};
use tether_session::registry::expected_name;
use tether_session::{Registry, user_plugins::UserPlugins};

use crate::startup;

/// One answer: yes, or no and why.
fn verdict(result: Result<(), String>) -> Value {
    match result {
        Ok(()) => json!({ "loads": true }),
        Err(why) => json!({ "loads": false, "why": why }),
    }
}

pub fn check(file: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let paths: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_path_buf()],
        None => policy::paths(std::env::var_os("TETHER_POLICY").map(Into::into)),
    };
    if let Some(f) = file
        && !f.exists()
    {
        eprintln!("tether: {} does not exist", f.display());
        return Ok(ExitCode::FAILURE);
    }
    let policy = match policy::load(&paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tether: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let files: Vec<Value> = paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| json!({ "path": p.display().to_string(), "writable_by_you": writable_by_user(p) }))
        .collect();

    // Every plugin tether knows, loaded without any policy, to show what the policy changes.
    let dirs = tether_session::Dirs::from_env().map_err(anyhow::Error::msg)?;
    let runtime = startup::runtime(&dirs)?;
    let (registry, _) = Registry::load(
        &runtime,
        &UserPlugins::new(dirs.user_plugins()),
        &mut |_| {},
    );
    let plugins: Vec<Value> = registry
        .plugins()
        .iter()
        .map(|p| {
            let m = &p.manifest;
            // As loading decides: by the file's name first, then by every name it declares.
            let file_name = expected_name(&p.label, p.source);
            let admitted = |mode| {
                let id = Identity {
                    name: &file_name,
                    source: p.source,
                    sha256: &p.sha256,
                };
                policy
                    .admit(id, mode)
                    .and_then(|()| {
                        policy.admit_declared(&m.name, &m.aliases, p.source, &p.sha256, mode)
                    })
                    .map_err(|r| r.reason())
            };
            let safety = policy.safety(&m.name, m.safety);
            let remote = admitted(Mode::Remote).and_then(|()| {
                gate(m.kind, safety, Context::RemoteTerminal)
                    .allows()
                    .then_some(())
                    .ok_or_else(|| "the plugin is not remote-safe".to_string())
            });
            // The bridge reaches the commands of a remote session; its own rule is the gate's.
            let bridge = admitted(Mode::Remote).and_then(|()| {
                if gate(m.kind, safety, Context::Bridge).allows() {
                    Ok(())
                } else if m.kind == Kind::Interactive {
                    Err("interactive commands never run over the bridge".into())
                } else if m.safety.bridge_safe {
                    Err("terminal-only by the policy ([plugins.<name>] terminal_only)".into())
                } else {
                    Err("the plugin is not bridge-safe".into())
                }
            });
            let limits = policy.limits(&m.name, Limits::default());
            json!({
                "name": m.name,
                "source": if p.source == CommandSource::Stock { "stock" } else { "user" },
                "sha256": p.sha256,
                "local": verdict(admitted(Mode::Local)),
                "remote": verdict(remote),
                "bridge": verdict(bridge),
                "capabilities": policy.capabilities(&m.name).intersect(m.declared()).iter()
                    .map(|c| format!("{c:?}").to_lowercase()).collect::<Vec<_>>(),
                "limits": {
                    "memory_bytes": limits.memory_bytes,
                    "timeout_ms": limits.call_timeout.as_millis() as u64,
                    "output_bytes": limits.output_bytes,
                },
            })
        })
        .collect();
    let unknown = named_but_unknown(&policy, &registry);
    let reads = |mode| match policy.mentions_read_files(mode) {
        Ok(()) => json!({ "reads_files": true }),
        Err(why) => json!({ "reads_files": false, "why": why }),
    };
    let mentions = json!({
        "read_files": policy.read_files().as_str(),
        "local": reads(Mode::Local),
        "remote": reads(Mode::Remote),
    });
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "files": files,
                "mentions": mentions,
                "plugins": plugins,
                "unknown_names": unknown,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Built whole and written once: a reader that stops early (`| head`) is not an error.
    let mut text = String::new();
    macro_rules! outln {
        ($($arg:tt)*) => {{
            use std::fmt::Write as _;
            let _ = writeln!(text, $($arg)*);
        }};
    }
    if files.is_empty() {
        outln!(
            "No policy file ({}): tether's own rules apply.",
            paths_list(&paths)
        );
    }
    for f in &files {
        outln!("Policy: {} (valid)", f["path"].as_str().unwrap_or_default());
        if f["writable_by_you"] == true {
            outln!(
                "warning: {} is writable by you, so it does not bind you: make it root-owned and not writable by others",
                f["path"].as_str().unwrap_or_default()
            );
        }
    }
    for name in &unknown {
        outln!("note: the policy names /{name}, which no installed plugin declares");
    }
    let yes_no = |v: &Value| {
        if v["loads"] == true {
            "yes".to_string()
        } else {
            format!("no ({})", v["why"].as_str().unwrap_or_default())
        }
    };
    outln!("");
    let reads_files = |v: &Value| {
        if v["reads_files"] == true {
            "read files".to_string()
        } else {
            format!("read nothing ({})", v["why"].as_str().unwrap_or_default())
        }
    };
    outln!(
        "@ file mentions\n  local:  {}\n  remote: {}\n",
        reads_files(&mentions["local"]),
        reads_files(&mentions["remote"]),
    );
    for p in &plugins {
        outln!(
            "/{} [{}]\n  local:  {}\n  remote: {}\n  bridge: {}",
            p["name"].as_str().unwrap_or_default(),
            p["source"].as_str().unwrap_or_default(),
            yes_no(&p["local"]),
            yes_no(&p["remote"]),
            yes_no(&p["bridge"]),
        );
    }
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn paths_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the policy mentions that no plugin declares (a typo, or a plugin not installed here).
fn named_but_unknown(policy: &Policy, registry: &Registry) -> Vec<String> {
    let mut names: Vec<String> = policy
        .files()
        .iter()
        .flat_map(|f| {
            f.remote
                .allow
                .iter()
                .flatten()
                .chain(&f.remote.deny)
                .chain(f.plugins.keys())
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|n| registry.find(n).is_none())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the current user could change `path`. Root administers the machine, so a file root
/// can write is not a finding.
fn writable_by_user(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path; access() and geteuid() have no other
    // preconditions.
    unsafe { libc::geteuid() != 0 && libc::access(c.as_ptr(), libc::W_OK) == 0 }
}
