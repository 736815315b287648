//! The command line, as scripts use it: `tether -p`, `tether commands`, `tether plugin`, run as
//! plain processes with pipes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tether_e2e::{Output, Tether, examples};

const STOCK: [&str; 24] = [
    "session",
    "mobile",
    "exit",
    "clear",
    "help",
    "theme",
    "color",
    "vim",
    "cost",
    "usage",
    "copy",
    "btw",
    "feedback",
    "plan",
    "keybindings",
    "statusline",
    "stickers",
    "compact",
    "summary",
    "release-notes",
    "files",
    "plugin",
    "memory",
    "desktop",
];

const REMOTE_SAFE: [&str; 17] = [
    "session",
    "mobile",
    "exit",
    "clear",
    "help",
    "theme",
    "color",
    "vim",
    "cost",
    "usage",
    "copy",
    "btw",
    "feedback",
    "plan",
    "keybindings",
    "statusline",
    "stickers",
];

const BRIDGE_SAFE: [&str; 6] = [
    "clear",
    "compact",
    "cost",
    "summary",
    "release-notes",
    "files",
];

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Parses the JSON array a `--json` listing printed.
#[track_caller]
fn json_array(out: &Output) -> Vec<Value> {
    out.assert_success();
    match serde_json::from_str(&out.stdout) {
        Ok(Value::Array(items)) => items,
        other => panic!("not a JSON array ({other:?}): {out}"),
    }
}

fn names(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|c| c["name"].as_str().expect("a name").to_string())
        .collect()
}

fn by_name<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("/{name} is not listed in {items:?}"))
}

/// The echo engine's reply to `said`.
fn echo_reply(said: &str) -> String {
    format!("No model is configured, so this is the offline echo engine. You said: {said}")
}

/// Writes `bytes` into `dir/name` and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The user plugin files installed.
fn installed_files(t: &Tether) -> Vec<String> {
    match std::fs::read_dir(t.plugins_dir()) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

// --- Help and version -------------------------------------------------------------------------

#[test]
fn version_names_the_binary_and_its_version() {
    let out = Tether::new().run(["--version"]);
    out.assert_success();
    assert_eq!(out.stdout.trim(), "tether 0.1.0", "{out}");
}

#[test]
fn help_describes_print_mode_and_the_subcommands() {
    let out = Tether::new().run(["--help"]);
    out.assert_success();
    for wanted in ["Usage: tether", "--print", "--engine", "commands", "plugin"] {
        assert!(out.stdout.contains(wanted), "no {wanted:?} in {out}");
    }
}

#[test]
fn commands_help_lists_its_options() {
    let out = Tether::new().run(["commands", "--help"]);
    out.assert_success();
    for wanted in ["--remote", "--origin", "--json", "terminal", "bridge"] {
        assert!(out.stdout.contains(wanted), "no {wanted:?} in {out}");
    }
}

#[test]
fn plugin_help_lists_install_list_and_remove() {
    let out = Tether::new().run(["plugin", "--help"]);
    out.assert_success();
    for wanted in ["install", "list", "remove"] {
        assert!(out.stdout.contains(wanted), "no {wanted:?} in {out}");
    }
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = Tether::new().run(["frobnicate"]);
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(out.stderr.contains("frobnicate"), "{out}");
}

// --- Print mode -------------------------------------------------------------------------------

#[test]
fn print_mode_answers_with_the_echo_engine() {
    let out = Tether::new().print("hello");
    out.assert_success();
    assert!(out.stdout.contains("No model is configured"), "{out}");
    assert!(out.stdout.contains("You said: hello"), "{out}");
    assert_eq!(out.stdout, format!("{}\n", echo_reply("hello")), "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn session_outside_remote_mode_says_so_exactly() {
    let out = Tether::new().print("/session");
    out.assert_success();
    assert_eq!(
        out.stdout, "Not in remote mode. Start with tether --remote to use this command.\n",
        "{out}"
    );
}

#[test]
fn an_unknown_slash_command_is_plain_text_for_the_engine() {
    let out = Tether::new().print("/nosuch thing");
    out.assert_success();
    assert!(out.stdout.contains("You said: /nosuch thing"), "{out}");
}

#[test]
fn an_unknown_theme_fails_on_stderr_and_changes_nothing() {
    let t = Tether::new();
    let out = t.print("/theme neon");
    out.assert_failure();
    assert!(out.stderr.contains("There is no theme \"neon\""), "{out}");
    assert!(
        out.stderr.contains("dark, light, mono, high-contrast"),
        "{out}"
    );
    assert_eq!(out.stdout.trim(), "", "{out}");
    assert!(
        !t.config_dir().join("preferences.toml").exists(),
        "preferences were written"
    );
}

#[test]
fn a_known_theme_is_set_and_saved() {
    let t = Tether::new();
    let out = t.print("/theme Light");
    out.assert_success();
    assert_eq!(out.stdout, "Theme set to light.\n", "{out}");
    let prefs = std::fs::read_to_string(t.config_dir().join("preferences.toml")).unwrap();
    assert!(prefs.contains("theme = \"light\""), "{prefs}");
}

#[test]
fn btw_adds_a_note_and_asks_no_model() {
    let out = Tether::new().print("/btw remember the milk");
    out.assert_success();
    assert!(out.stdout.contains("note: remember the milk"), "{out}");
    assert!(!out.stdout.contains("You said"), "{out}");
}

#[test]
fn release_notes_include_the_first_version() {
    let out = Tether::new().print("/release-notes");
    out.assert_success();
    assert!(out.stdout.contains("0.1.0"), "{out}");
}

#[test]
fn stickers_print_ascii_art() {
    let out = Tether::new().print("/stickers");
    out.assert_success();
    assert!(out.stdout.lines().count() > 10, "{out}");
    assert!(out.stdout.contains("tether --remote"), "{out}");
}

#[test]
fn cost_of_the_echo_engine_is_zero() {
    let out = Tether::new().print("/cost");
    out.assert_success();
    assert!(out.stdout.contains("$0.0000"), "{out}");
    assert!(out.stdout.contains("echo/echo"), "{out}");
}

#[test]
fn help_lists_the_local_commands() {
    let out = Tether::new().print("/help");
    out.assert_success();
    for wanted in ["/session", "/vim", "/desktop", "/memory"] {
        assert!(out.stdout.contains(wanted), "no {wanted} in {out}");
    }
}

#[test]
fn desktop_fails_when_the_session_is_not_published() {
    let out = Tether::new().print("/desktop");
    out.assert_failure();
    assert!(out.stderr.contains("not published"), "{out}");
    assert!(out.stderr.contains("--remote"), "{out}");
    assert_eq!(out.stdout.trim(), "", "{out}");
}

#[test]
fn memory_without_a_terminal_says_where_the_file_is_instead_of_starting_an_editor() {
    let t = Tether::new();
    let out = t.print("/memory");
    out.assert_failure();
    assert!(out.stderr.contains("interactive terminal"), "{out}");
    assert!(out.stderr.contains("memory.md"), "{out}");
    assert_eq!(out.stdout, "", "{out}");
}

#[test]
fn a_mentioned_file_is_read_without_complaint() {
    let t = Tether::new();
    std::fs::write(t.cwd().join("notes.txt"), "buy milk\n").unwrap();
    let out = t.print("summarize @notes.txt");
    out.assert_success();
    assert_eq!(
        out.stdout,
        format!("{}\n", echo_reply("summarize @notes.txt")),
        "{out}"
    );
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn a_missing_mentioned_file_is_reported_but_the_reply_still_comes() {
    let out = Tether::new().print("summarize @missing.txt");
    assert!(out.stderr.contains("@missing.txt: no such file"), "{out}");
    assert!(
        out.stdout.contains("You said: summarize @missing.txt"),
        "{out}"
    );
    // `-p` exits non-zero when anything went wrong (see `tether --help`).
    out.assert_failure();
}

// --- Listing commands -------------------------------------------------------------------------

#[test]
fn commands_json_describes_every_stock_command() {
    let items = json_array(&Tether::new().run(["commands", "--json"]));
    assert_eq!(names(&items), set(&STOCK));
    assert_eq!(items.len(), STOCK.len(), "a name is listed twice");
    let listed: Vec<&str> = items.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "not sorted by name");
    for c in &items {
        let name = &c["name"];
        assert!(
            c["aliases"]
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "{c}"
        );
        assert!(
            c["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty() && !d.contains('\n')),
            "{c}"
        );
        assert!(
            matches!(c["kind"].as_str(), Some("local" | "interactive" | "prompt")),
            "{c}"
        );
        assert!(c["remote_safe"].is_boolean(), "{c}");
        assert!(c["bridge_safe"].is_boolean(), "{c}");
        assert_eq!(c["source"], "stock", "{name}");
        let sha = c["sha256"].as_str().unwrap_or_default();
        assert!(
            sha.len() == 64 && sha.chars().all(|ch| matches!(ch, '0'..='9' | 'a'..='f')),
            "{name}: sha256 {sha:?}"
        );
    }
    assert_eq!(by_name(&items, "memory")["kind"], "interactive");
    assert_eq!(
        by_name(&items, "clear")["aliases"],
        serde_json::json!(["reset", "new"])
    );
}

#[test]
fn commands_remote_json_lists_exactly_the_remote_safe_ones() {
    let items = json_array(&Tether::new().run(["commands", "--remote", "--json"]));
    assert_eq!(names(&items), set(&REMOTE_SAFE));
    assert!(items.iter().all(|c| c["remote_safe"] == true), "{items:?}");
}

#[test]
fn commands_over_the_bridge_lists_exactly_the_bridge_safe_local_ones() {
    let items =
        json_array(&Tether::new().run(["commands", "--remote", "--origin", "bridge", "--json"]));
    assert_eq!(names(&items), set(&BRIDGE_SAFE));
    for c in &items {
        assert_eq!(c["kind"], "local", "{c}");
        assert_eq!(c["bridge_safe"], true, "{c}");
    }
}

#[test]
fn commands_table_tags_each_command() {
    let out = Tether::new().run(["commands", "--origin", "bridge"]);
    out.assert_success();
    let clear = out
        .stdout
        .lines()
        .find(|l| l.starts_with("/clear "))
        .unwrap_or_else(|| panic!("no /clear row in {out}"));
    assert!(
        clear.contains("[local, remote-safe, bridge-safe]"),
        "{clear}"
    );
    assert!(!out.stdout.contains("/vim "), "{out}");
}

// --- The plugin cache -------------------------------------------------------------------------

#[test]
fn first_start_reports_compiling_and_the_second_does_not() {
    let t = Tether::cold();
    let first = t.print("/cost");
    first.assert_success();
    assert!(first.stderr.contains("compiling"), "{first}");
    assert!(first.stdout.contains("$0.0000"), "{first}");
    let second = t.print("/cost");
    second.assert_success();
    assert!(!second.stderr.contains("compiling"), "{second}");
    assert_eq!(second.stdout, first.stdout);
}

#[test]
fn corrupted_cache_entries_are_recompiled_and_commands_still_work() {
    let t = Tether::cold();
    t.print("/cost").assert_success();
    let components = t.cache_dir().join("components");
    let mut corrupted = Vec::new();
    for entry in std::fs::read_dir(&components).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 64, "{} is too small", path.display());
        let (first, middle, last) = (0, bytes.len() / 2, bytes.len() - 1);
        for i in [first, middle, last] {
            bytes[i] ^= 0xff;
        }
        std::fs::write(&path, &bytes).unwrap();
        corrupted.push((path, bytes));
    }
    assert_eq!(
        corrupted.len(),
        STOCK.len(),
        "one cache entry per stock plugin"
    );

    let out = t.print("/cost");
    out.assert_success();
    assert!(out.stdout.contains("$0.0000"), "{out}");
    // At most a word about compiling: no error, no warning, no crash.
    for line in out.stderr.lines() {
        assert!(
            line.contains("compil"),
            "unexpected on stderr: {line:?}\n{out}"
        );
    }
    // Every entry was replaced by a good one: the next start loads them all from the cache.
    for (path, bad) in &corrupted {
        let now = std::fs::read(path).unwrap_or_default();
        assert!(
            !now.is_empty() && now != *bad,
            "{} was not rewritten",
            path.display()
        );
    }
    let help = t.print("/help");
    help.assert_success();
    assert!(help.stdout.contains("/session"), "{help}");
    assert!(!help.stderr.contains("compiling"), "{help}");
}

// --- Plugins: the examples --------------------------------------------------------------------

#[test]
fn the_hello_example_installs_lists_runs_and_removes() {
    let t = Tether::new();
    let install = t.run([Path::new("plugin"), Path::new("install"), &examples().hello]);
    install.assert_success();
    assert!(install.stdout.contains("Installed /hello"), "{install}");
    assert_eq!(installed_files(&t), ["hello.wasm"]);

    let list = json_array(&t.run(["plugin", "list", "--json"]));
    let hello = by_name(&list, "hello");
    assert_eq!(hello["source"], "user", "{hello}");
    assert_eq!(hello["kind"], "local", "{hello}");
    assert_eq!(list.len(), STOCK.len() + 1);
    assert_eq!(list[0]["name"], "hello", "user plugins come first");

    let greet = t.print("/hello phone");
    greet.assert_success();
    assert!(greet.stdout.contains("Hello, phone!"), "{greet}");
    assert!(greet.stdout.contains("echo engine"), "{greet}");

    let remove = t.run(["plugin", "remove", "hello"]);
    remove.assert_success();
    assert!(remove.stdout.contains("Removed /hello."), "{remove}");
    assert!(installed_files(&t).is_empty());
    let list = json_array(&t.run(["plugin", "list", "--json"]));
    assert!(!names(&list).contains("hello"));
    // Gone: the text goes to the engine again.
    assert!(
        t.print("/hello phone")
            .stdout
            .contains("You said: /hello phone")
    );
}

#[test]
fn installing_the_same_plugin_again_updates_it() {
    let t = Tether::new();
    let args = [Path::new("plugin"), Path::new("install"), &examples().hello];
    t.run(args).assert_success();
    let again = t.run(args);
    again.assert_success();
    assert!(again.stdout.contains("Updated /hello"), "{again}");
    assert_eq!(installed_files(&t), ["hello.wasm"]);
}

#[test]
fn the_explain_example_is_a_prompt_that_runs_an_echo_turn() {
    let t = Tether::new();
    t.run([
        Path::new("plugin"),
        Path::new("install"),
        &examples().explain,
    ])
    .assert_success();
    let out = t.print("/explain monads");
    out.assert_success();
    assert!(
        out.stdout
            .contains("You said: Explain the following topic to me: monads"),
        "{out}"
    );
    let usage = t.print("/explain");
    usage.assert_failure();
    assert!(usage.stderr.contains("Usage: /explain <topic>"), "{usage}");
}

#[test]
fn installed_examples_are_offered_over_the_bridge() {
    let t = Tether::new();
    for wasm in [&examples().hello, &examples().explain] {
        t.run([Path::new("plugin"), Path::new("install"), wasm])
            .assert_success();
    }
    let items = json_array(&t.run(["commands", "--remote", "--origin", "bridge", "--json"]));
    let mut expected = set(&BRIDGE_SAFE);
    expected.extend(["hello".to_string(), "explain".to_string()]);
    assert_eq!(names(&items), expected);
    let hello = by_name(&items, "hello");
    assert_eq!(hello["kind"], "local");
    assert_eq!(hello["bridge_safe"], true);
    assert_eq!(hello["source"], "user");
    assert_eq!(by_name(&items, "explain")["kind"], "prompt");
}

#[test]
fn stock_commands_cannot_be_removed() {
    let t = Tether::new();
    let out = t.run(["plugin", "remove", "help"]);
    out.assert_failure();
    assert!(out.stderr.contains("/help is a stock command"), "{out}");
    assert!(out.stderr.contains("cannot be removed"), "{out}");
    assert!(t.print("/help").stdout.contains("/session"));
}

#[test]
fn removing_a_plugin_that_is_not_installed_fails() {
    let out = Tether::new().run(["plugin", "remove", "nosuch"]);
    out.assert_failure();
    assert!(
        out.stderr.contains("no installed plugin is called /nosuch"),
        "{out}"
    );
}

#[test]
fn installing_files_that_are_not_components_fails_and_installs_nothing() {
    let t = Tether::new();
    // Deterministic noise, and text.
    let noise: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let random = write(t.cwd(), "random.wasm", &noise);
    let text = write(t.cwd(), "notes.wasm", b"just some text\n");
    for file in [random, text] {
        let out = t.run([Path::new("plugin"), Path::new("install"), &file]);
        out.assert_failure();
        assert!(
            out.stderr.contains("is not a WebAssembly component"),
            "{out}"
        );
        assert!(out.stderr.contains(&*file.to_string_lossy()), "{out}");
        assert_eq!(out.stdout, "", "{out}");
        assert!(installed_files(&t).is_empty(), "{:?}", installed_files(&t));
    }
    let list = json_array(&t.run(["plugin", "list", "--json"]));
    assert!(list.iter().all(|c| c["source"] == "stock"));
}

#[test]
fn installing_a_file_that_does_not_exist_fails() {
    let t = Tether::new();
    let out = t.run(["plugin", "install", "nope.wasm"]);
    out.assert_failure();
    assert!(out.stderr.contains("cannot read nope.wasm"), "{out}");
}

#[test]
fn a_plugin_claiming_a_stock_name_is_refused() {
    let t = Tether::new();
    let clash = write(
        t.cwd(),
        "clash.wasm",
        tether_fixtures::fixture("clash").bytes,
    );
    let out = t.run([Path::new("plugin"), Path::new("install"), &clash]);
    out.assert_failure();
    assert!(out.stderr.contains("/help"), "{out}");
    assert!(out.stderr.contains("stock"), "{out}");
    assert!(installed_files(&t).is_empty());
    let help = t.print("/help");
    assert!(!help.stdout.contains("not the real help"), "{help}");
}

// --- Plugins that misbehave -------------------------------------------------------------------

/// Installs the `hostile` fixture (which misbehaves as its argument says).
fn with_hostile() -> Tether {
    let t = Tether::new();
    let file = write(
        t.cwd(),
        "hostile.wasm",
        tether_fixtures::fixture("hostile").bytes,
    );
    t.run([Path::new("plugin"), Path::new("install"), &file])
        .assert_success();
    t
}

#[test]
fn misbehaving_plugins_are_stopped_with_a_reason_and_tether_carries_on() {
    let t = with_hostile();
    for (behaviour, reason) in [
        ("loop", "took longer than 2s and was stopped"),
        ("grow", "more than its 32 MiB of memory"),
        ("recurse", "call stack exhausted"),
        ("flood", "over its limit of 256 KiB"),
        ("many", "over its limit of 256 KiB"),
        ("undeclared", "without declaring it in its manifest"),
        ("fail", "this command failed politely"),
    ] {
        let out = t.print(&format!("/hostile {behaviour}"));
        // A handled error: exit code 1, not a crash of tether itself (101, or a signal).
        assert_eq!(out.code(), Some(1), "/hostile {behaviour}: {out}");
        assert!(out.stderr.contains(reason), "/hostile {behaviour}: {out}");
        assert!(
            !out.stderr.contains("panicked"),
            "/hostile {behaviour}: {out}"
        );
        assert_eq!(out.stdout, "", "/hostile {behaviour}: {out}");
    }
    let ok = t.print("/hostile ok");
    ok.assert_success();
    assert_eq!(ok.stdout, "still fine\n", "{ok}");
}

#[test]
fn a_panicking_plugin_is_reported_and_tether_survives() {
    let t = with_hostile();
    let out = t.print("/hostile trap");
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("boom, on purpose"), "{out}");
    assert!(!out.stderr.contains("Cannot start a runtime"), "{out}");
}

#[test]
fn a_clashing_plugin_copied_in_by_hand_is_skipped_with_a_warning() {
    let t = Tether::new();
    std::fs::create_dir_all(t.plugins_dir()).unwrap();
    write(
        &t.plugins_dir(),
        "help.wasm",
        tether_fixtures::fixture("clash").bytes,
    );
    let out = t.print("/help");
    out.assert_success();
    assert!(out.stderr.contains("warning"), "{out}");
    assert!(out.stderr.contains("/help"), "{out}");
    assert!(
        out.stdout.contains("/session"),
        "the real /help answers: {out}"
    );
    assert!(!out.stdout.contains("not the real help"), "{out}");
}

// --- Settings and signals ---------------------------------------------------------------------

#[test]
fn a_damaged_preferences_file_warns_and_uses_the_defaults() {
    let t = Tether::new();
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(t.config_dir().join("preferences.toml"), "theme = 'neon'\n").unwrap();
    let out = t.print("/theme");
    out.assert_success();
    assert!(out.stderr.contains("warning"), "{out}");
    assert!(out.stderr.contains("preferences.toml"), "{out}");
    assert!(out.stdout.contains("dark (current)"), "{out}");
}

#[test]
fn plan_mode_is_not_kept_between_runs_but_the_theme_is() {
    let t = Tether::new();
    t.print("/plan on").assert_success();
    t.print("/theme light").assert_success();
    let out = t.print("hi");
    out.assert_success();
    assert!(!out.stdout.contains("plan mode"), "{out}");
    assert!(t.print("/theme").stdout.contains("light (current)"));
}

#[test]
fn sigint_interrupts_print_mode_with_exit_code_130() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let t = Tether::new().echo_delay_ms(300);
    let mut child = t
        .command([
            "-p",
            "a long message that takes a while to echo back word by word",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("No model") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => {
                let _ = child.kill();
                panic!("no reply began: {:?}", String::from_utf8_lossy(&seen));
            }
        }
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tether did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.extend(chunk);
    }
    let out = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("[interrupted]"), "{out}");
    assert!(
        !out.contains("You said"),
        "the reply was not interrupted: {out}"
    );
}

#[test]
fn debug_logging_with_a_cold_cache_is_tethers_own() {
    // Compiling the stock plugins used to log a quarter of a million lines of cranelift's.
    let out = Tether::cold().env("TETHER_LOG", "debug").print("/help");
    out.assert_success();
    let lines = out.stderr.lines().count();
    assert!(out.stderr.contains("compiling"), "a cold start: {out}");
    assert!(lines < 100, "{lines} lines of logs");
    assert!(!out.stderr.contains("cranelift"), "{}", out.stderr);
}

#[test]
fn feedback_opens_a_prefilled_issue_in_the_browser() {
    use std::os::unix::fs::PermissionsExt;

    let t = Tether::new();
    let opened = t.cwd().join("opened.txt");
    let browser = write(
        t.cwd(),
        "browser.sh",
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()).as_bytes(),
    );
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = t.env("BROWSER", &browser);
    let out = t.print("/feedback great tool");
    out.assert_success();
    let url = "https://github.com/tether-rs/tether/issues/new?title=great%20tool&body=great%20tool";
    assert!(out.stdout.contains("Thanks! Send it here"), "{out}");
    assert!(out.stdout.contains(&format!("Opening {url}")), "{out}");
    // The browser runs in the background: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !opened.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let got = std::fs::read_to_string(&opened).unwrap_or_default();
    assert!(got.starts_with(url), "the browser was given {got:?}");
}

#[test]
fn without_home_or_xdg_directories_tether_says_why_it_cannot_start() {
    let t = Tether::new()
        .env_remove("HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME");
    let out = t.print("hello");
    out.assert_failure();
    assert!(
        out.stderr
            .contains("neither XDG_CONFIG_HOME nor HOME is set"),
        "{out}"
    );
    assert_eq!(out.stdout, "", "{out}");
}

#[test]
fn relative_xdg_directories_are_ignored_in_favour_of_home() {
    let t = Tether::new();
    let t = t.env("XDG_DATA_HOME", "relative/data");
    let file = write(
        t.cwd(),
        "hostile.wasm",
        tether_fixtures::fixture("hostile").bytes,
    );
    t.run([Path::new("plugin"), Path::new("install"), &file])
        .assert_success();
    assert!(
        t.home()
            .join(".local/share/tether/plugins/hostile.wasm")
            .is_file(),
        "not installed under $HOME/.local/share"
    );
    assert!(!t.cwd().join("relative").exists());
}

#[test]
fn piped_input_runs_line_by_line_until_exit() {
    let t = Tether::new();
    let out = t.run_with_input(
        std::iter::empty::<&str>(),
        "hello\n\n/btw noted\n/copy\n/exit\nnever sent\n",
    );
    out.assert_success();
    let reply = echo_reply("hello");
    // Without a terminal, /copy gives the text itself to the script.
    assert_eq!(
        out.stdout,
        format!(
            "{reply}\n✎ note: noted\n{reply}\nCopied {} characters to the clipboard.\n",
            reply.chars().count()
        ),
        "{out}"
    );
    assert!(!out.stdout.contains("never sent"), "{out}");
}

/// Without a terminal, each line is answered as soon as it is read: a program can write a line,
/// read the reply, then write the next, without closing its end of the pipe.
#[test]
fn piped_lines_are_answered_one_by_one_as_they_arrive() {
    let t = Tether::new();
    let mut proc = tether_e2e::process::Proc::spawn("tether", t.command(Vec::<&str>::new()));
    proc.line("first line");
    proc.expect_stdout("You said: first line");
    proc.line("second line");
    proc.expect_stdout("You said: second line");
    proc.close_stdin();
    assert!(proc.wait_exit(std::time::Duration::from_secs(20)).success());
}
