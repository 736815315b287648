//! Hostile input against the real plugin runtime: "each a clear error and the process carries on".
//!
//! Every test provokes one kind of misbehaviour, checks that it comes back as exactly the expected
//! [`PluginError`] variant with a message a user can understand (naming the plugin and saying what
//! happened), and then checks that the very same `Runtime` and `Plugin` still run `/hostile ok`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use tether_plugins::{
    Call, ContextFile, Effect, HostQueries, LoadProgress, Manifest, Message, Plugin, PluginError,
    PluginSource, Role, Runtime, RuntimeOptions, SessionInfo, Settings, Usage,
};
use tether_plugins::{Limits, sha256_hex};
use tether_protocol::{Capabilities, Capability, CommandInfo, CommandSource, Kind, gate::Context};

// ---------------------------------------------------------------------------------------------
// Test doubles and helpers
// ---------------------------------------------------------------------------------------------

/// A test double of the session's side of the host queries: fixed, recognisable answers.
struct FixedQueries;

impl HostQueries for FixedQueries {
    fn session(&self) -> SessionInfo {
        SessionInfo {
            remote_mode: false,
            session_id: None,
            url: None,
            engine: "fixed-engine".into(),
            model: "fixed-model".into(),
            cwd: "/nowhere".into(),
            version: "0.0.0-test".into(),
        }
    }
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: 10,
            output_tokens: 20,
            cost_micros: 30,
            turns: 1,
        }
    }
    fn transcript(&self, limit: usize) -> Vec<Message> {
        let all = vec![
            Message {
                role: Role::User,
                text: "a secret the plugin must not read".into(),
            },
            Message {
                role: Role::Assistant,
                text: "a reply".into(),
            },
        ];
        let skip = all.len().saturating_sub(limit);
        all.into_iter().skip(skip).collect()
    }
    fn settings(&self) -> Settings {
        Settings::default()
    }
    fn commands(&self) -> Vec<CommandInfo> {
        Vec::new()
    }
    fn files(&self) -> Vec<ContextFile> {
        Vec::new()
    }
}

/// The hostile fixture compiled to native code by wasmtime itself, with the runtime's own
/// settings (epoch interruption, optimised for speed): code an engine like ours would load, were
/// it not refused.
fn native_code_of_the_fixture() -> Vec<u8> {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    wasmtime::Engine::new(&config)
        .expect("a wasmtime engine")
        .precompile_component(tether_fixtures::fixture("hostile").bytes)
        .expect("precompiling the fixture")
}

const HOSTILE_LABEL: &str = "hostile fixture";

fn hostile_source() -> PluginSource {
    let f = tether_fixtures::fixture("hostile");
    PluginSource {
        label: HOSTILE_LABEL.into(),
        source: CommandSource::User,
        bytes: Cow::Borrowed(f.bytes),
        sha256: Some(f.sha256.into()),
    }
}

fn source_of(label: &str, bytes: Vec<u8>) -> PluginSource {
    PluginSource::user(label, bytes)
}

/// A runtime without a cache: every load compiles.
fn uncached_runtime() -> Runtime {
    Runtime::new(RuntimeOptions::default()).expect("the runtime starts")
}

fn cached_runtime(cache_dir: &Path, key_file: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache_dir.to_path_buf()),
        key_file: Some(key_file.to_path_buf()),
    })
    .expect("the runtime starts")
}

/// A runtime with `/hostile` loaded.
fn hostile() -> (Runtime, Plugin) {
    let runtime = uncached_runtime();
    let plugin = runtime
        .load(hostile_source())
        .expect("the hostile fixture loads");
    assert_eq!(plugin.manifest.name, "hostile");
    (runtime, plugin)
}

fn run_with(
    runtime: &Runtime,
    plugin: &Plugin,
    args: &str,
    granted: Capabilities,
    limits: Limits,
) -> Result<Vec<Effect>, PluginError> {
    runtime.run(Call {
        plugin: plugin.clone(),
        args: args.to_string(),
        context: Context::Local,
        granted,
        limits,
        queries: Arc::new(FixedQueries),
    })
}

fn run(runtime: &Runtime, plugin: &Plugin, args: &str) -> Result<Vec<Effect>, PluginError> {
    run_with(
        runtime,
        plugin,
        args,
        Capabilities::all(),
        Limits::default(),
    )
}

/// The process carries on: the same runtime and plugin still work.
#[track_caller]
fn assert_still_runs(runtime: &Runtime, plugin: &Plugin) {
    let effects = run(runtime, plugin, "ok").expect("`ok` still runs after the misbehaviour");
    assert_eq!(effects, vec![Effect::Print("still fine".into())]);
}

/// The message names the plugin and says what happened.
#[track_caller]
fn assert_clear(err: &PluginError, what: &[&str]) {
    let text = err.to_string();
    assert!(
        text.starts_with("/hostile ") || text.starts_with("/hostile: "),
        "the message should start by naming /hostile: {text:?}"
    );
    for w in what {
        assert!(text.contains(w), "{text:?} should mention {w:?}");
    }
    assert!(
        !text.contains('\n'),
        "an error is one line in the transcript: {text:?}"
    );
    assert!(text.len() < 1024, "an error is short: {} bytes", text.len());
}

/// A loaded runtime still loads and runs `/hostile` after a failed load.
#[track_caller]
fn assert_runtime_still_loads(runtime: &Runtime) {
    let plugin = runtime
        .load(hostile_source())
        .expect("the runtime still loads good plugins after a bad one");
    assert_still_runs(runtime, &plugin);
}

#[track_caller]
fn expect_not_a_component(runtime: &Runtime, label: &str, bytes: Vec<u8>) -> String {
    match runtime.load(source_of(label, bytes)) {
        Err(e @ PluginError::NotAComponent { .. }) => {
            let PluginError::NotAComponent { origin, reason } = &e else {
                unreachable!()
            };
            assert_eq!(origin, label);
            assert!(!reason.trim().is_empty(), "a reason is given");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("{label} is not a WebAssembly component: ")),
                "{text:?}"
            );
            assert!(!text.contains('\n'), "one line: {text:?}");
            reason.clone()
        }
        other => panic!("{label}: expected NotAComponent, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Misbehaviour during a call
// ---------------------------------------------------------------------------------------------

#[test]
fn endless_loop_is_stopped_at_the_deadline_as_timeout_and_the_runtime_carries_on() {
    let (runtime, plugin) = hostile();
    let limits = Limits {
        call_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let started = Instant::now();
    let err = run_with(&runtime, &plugin, "loop", Capabilities::all(), limits).unwrap_err();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "a 200 ms deadline stops the loop promptly, took {took:?}"
    );
    assert!(
        took >= Duration::from_millis(150),
        "the loop ran until the deadline, took {took:?}"
    );
    match &err {
        PluginError::Timeout { name, limit } => {
            assert_eq!(name, "hostile");
            assert_eq!(*limit, Duration::from_millis(200));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_clear(&err, &["took longer than 0.2s", "stopped"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn endless_loop_under_the_default_limits_times_out_after_two_seconds() {
    let (runtime, plugin) = hostile();
    let started = Instant::now();
    let err = run(&runtime, &plugin, "loop").unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, PluginError::Timeout { name, limit } if name == "hostile" && *limit == Duration::from_secs(2)),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "took {took:?}"
    );
    assert_clear(&err, &["took longer than 2s"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn unbounded_memory_growth_stops_at_the_default_32_mib_as_out_of_memory() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "grow").unwrap_err();
    match &err {
        PluginError::OutOfMemory { name, limit } => {
            assert_eq!(name, "hostile");
            assert_eq!(*limit, 32 * 1024 * 1024);
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    assert_clear(&err, &["more than its 32 MiB of memory", "stopped"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn unbounded_memory_growth_stops_at_a_lower_policy_limit_as_out_of_memory() {
    let (runtime, plugin) = hostile();
    let limits = Limits {
        memory_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let err = run_with(&runtime, &plugin, "grow", Capabilities::all(), limits).unwrap_err();
    assert!(
        matches!(&err, PluginError::OutOfMemory { name, limit } if name == "hostile" && *limit == 8 << 20),
        "{err:?}"
    );
    assert_clear(&err, &["8 MiB"]);
    // The lower limit applied to that call only; `ok` under it works too.
    let effects = run_with(&runtime, &plugin, "ok", Capabilities::all(), limits).unwrap();
    assert_eq!(effects, vec![Effect::Print("still fine".into())]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn a_panic_is_a_trap_that_shows_the_panic_message() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "trap").unwrap_err();
    match &err {
        PluginError::Trap { name, message } => {
            assert_eq!(name, "hostile");
            assert!(message.contains("boom, on purpose"), "{message:?}");
            assert!(message.contains("panicked at"), "{message:?}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
    assert_clear(&err, &["crashed", "boom, on purpose"]);
    assert_still_runs(&runtime, &plugin);
}

/// The session runs commands from async code (the CLI drives it with `block_on`), so a call made
/// with a tokio runtime entered on the thread must behave exactly like one made without.
#[tokio::test]
async fn a_panic_inside_a_tokio_runtime_is_still_a_trap() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "trap").unwrap_err();
    assert!(
        matches!(&err, PluginError::Trap { message, .. } if message.contains("boom, on purpose")),
        "{err:?}"
    );
    assert_still_runs(&runtime, &plugin);
}

#[tokio::test]
async fn misbehaviour_without_stderr_output_inside_a_tokio_runtime_is_contained() {
    let (runtime, plugin) = hostile();
    let quick = Limits {
        call_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    for args in ["loop", "grow", "recurse", "flood", "undeclared", "fail"] {
        run_with(&runtime, &plugin, args, Capabilities::all(), quick).expect_err(args);
    }
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn unbounded_recursion_is_a_stack_overflow_trap_not_a_host_crash() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "recurse").unwrap_err();
    match &err {
        PluginError::Trap { name, message } => {
            assert_eq!(name, "hostile");
            assert!(
                message.contains("stack"),
                "says the stack ran out: {message:?}"
            );
        }
        other => panic!("expected Trap, got {other:?}"),
    }
    assert_clear(&err, &["crashed", "stack"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn four_mib_of_text_is_refused_as_output_too_large() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "flood").unwrap_err();
    match &err {
        PluginError::OutputTooLarge { name, bytes, limit } => {
            assert_eq!(name, "hostile");
            assert_eq!(*bytes, 4 << 20);
            assert_eq!(*limit, 256 * 1024);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    assert_clear(&err, &["4096 KiB", "limit of 256 KiB", "nothing was shown"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn four_hundred_thousand_tiny_effects_are_refused_as_output_too_large() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "many").unwrap_err();
    match &err {
        PluginError::OutputTooLarge { name, bytes, limit } => {
            assert_eq!(name, "hostile");
            assert_eq!(*bytes, 400_000);
            assert_eq!(*limit, 256 * 1024);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    assert_clear(&err, &["limit of 256 KiB", "nothing was shown"]);
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn calling_an_undeclared_query_is_capability_not_declared() {
    let (runtime, plugin) = hostile();
    assert!(
        !plugin
            .manifest
            .capabilities
            .contains(&Capability::Transcript),
        "the fixture must not declare transcript for this test to mean anything"
    );
    // Everything granted: the refusal comes from the manifest, not from the policy.
    let err = run(&runtime, &plugin, "undeclared").unwrap_err();
    match &err {
        PluginError::CapabilityNotDeclared { name, capability } => {
            assert_eq!(name, "hostile");
            assert_eq!(*capability, Capability::Transcript);
        }
        other => panic!("expected CapabilityNotDeclared, got {other:?}"),
    }
    assert_clear(&err, &["`transcript`", "without declaring it"]);
    assert!(!err.to_string().contains("secret"), "nothing was read");
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn a_declared_but_ungranted_query_fails_politely_saying_it_is_not_granted() {
    let (runtime, plugin) = hostile();
    assert!(plugin.manifest.capabilities.contains(&Capability::Session));
    let err = run_with(
        &runtime,
        &plugin,
        "ungranted",
        Capabilities::NONE,
        Limits::default(),
    )
    .unwrap_err();
    match &err {
        PluginError::Failed { name, message } => {
            assert_eq!(name, "hostile");
            assert!(message.contains("`session`"), "{message:?}");
            assert!(message.contains("not granted"), "{message:?}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_clear(&err, &["`session` capability is not granted"]);
    assert!(
        !err.to_string().contains("fixed-engine"),
        "the query was not answered"
    );
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn a_declared_and_granted_query_is_answered_by_the_host() {
    let (runtime, plugin) = hostile();
    let effects = run(&runtime, &plugin, "ungranted").unwrap();
    assert_eq!(effects, vec![Effect::Print("session fixed-engine".into())]);
}

#[test]
fn a_command_error_is_failed_with_the_plugins_own_message() {
    let (runtime, plugin) = hostile();
    let err = run(&runtime, &plugin, "fail").unwrap_err();
    match &err {
        PluginError::Failed { name, message } => {
            assert_eq!(name, "hostile");
            assert_eq!(message, "this command failed politely");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(err.to_string(), "/hostile: this command failed politely");
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn every_misbehaviour_in_a_row_leaves_the_same_plugin_working() {
    let (runtime, plugin) = hostile();
    let quick = Limits {
        call_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    for args in [
        "loop",
        "grow",
        "trap",
        "recurse",
        "flood",
        "many",
        "undeclared",
        "fail",
        "no-such-behaviour",
    ] {
        let err = run_with(&runtime, &plugin, args, Capabilities::all(), quick).expect_err(args);
        assert!(err.to_string().starts_with("/hostile"), "{args}: {err}");
        assert_still_runs(&runtime, &plugin);
    }
}

#[test]
fn a_huge_error_message_is_cut_to_the_output_limit() {
    // The fixture echoes an unknown behaviour in its error, so a long argument makes a long error.
    let (runtime, plugin) = hostile();
    let limits = Limits {
        output_bytes: 1024,
        ..Limits::default()
    };
    let args = "x".repeat(100_000);
    let err = run_with(&runtime, &plugin, &args, Capabilities::all(), limits).unwrap_err();
    match &err {
        PluginError::Failed { name, message } => {
            assert_eq!(name, "hostile");
            assert!(message.starts_with("unknown behaviour `xxx"), "{message:?}");
            assert!(
                message.len() <= 1024,
                "cut to the limit: {} bytes",
                message.len()
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn a_huge_error_message_in_multibyte_text_is_cut_to_the_output_limit_in_bytes() {
    let (runtime, plugin) = hostile();
    let limits = Limits {
        output_bytes: 1024,
        ..Limits::default()
    };
    let args = "\u{1F4A3}".repeat(10_000);
    let err = run_with(&runtime, &plugin, &args, Capabilities::all(), limits).unwrap_err();
    let PluginError::Failed { message, .. } = &err else {
        panic!("expected Failed, got {err:?}");
    };
    assert!(
        message.len() <= 1024,
        "the limit is in bytes; the message has {} bytes",
        message.len()
    );
    assert_still_runs(&runtime, &plugin);
}

// ---------------------------------------------------------------------------------------------
// Files that are not plugins
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift), so that a failure is reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_not_a_component() {
    let runtime = uncached_runtime();
    let bytes = noise(64 * 1024, 0x5eed);
    assert_ne!(&bytes[..4], b"\0asm");
    let reason = expect_not_a_component(&runtime, "random.wasm", bytes);
    assert!(reason.contains("magic bytes"), "{reason:?}");
    assert_runtime_still_loads(&runtime);
}

#[test]
fn an_empty_file_is_not_a_component() {
    let runtime = uncached_runtime();
    let reason = expect_not_a_component(&runtime, "empty.wasm", Vec::new());
    assert!(reason.contains("magic bytes"), "{reason:?}");
    assert_runtime_still_loads(&runtime);
}

#[test]
fn a_core_module_is_not_a_component_and_the_message_says_how_to_build_one() {
    let runtime = uncached_runtime();
    let reason = expect_not_a_component(&runtime, "core.wasm", b"\0asm\x01\0\0\0".to_vec());
    assert!(reason.contains("core WebAssembly module"), "{reason:?}");
    assert!(reason.contains("wasm32-wasip2"), "{reason:?}");
    assert_runtime_still_loads(&runtime);
}

#[test]
fn a_truncated_component_is_not_a_component() {
    let runtime = uncached_runtime();
    let whole = tether_fixtures::fixture("hostile").bytes;
    let half = whole[..whole.len() / 2].to_vec();
    let reason = expect_not_a_component(&runtime, "half.wasm", half);
    assert!(
        !reason.contains("magic bytes"),
        "it has the magic: {reason:?}"
    );
    assert_runtime_still_loads(&runtime);
}

#[test]
fn a_component_with_garbage_after_the_header_is_not_a_component() {
    let runtime = uncached_runtime();
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend(noise(4096, 42));
    expect_not_a_component(&runtime, "garbage.wasm", bytes);
    assert_runtime_still_loads(&runtime);
}

#[test]
fn an_elf_file_is_not_a_component() {
    let runtime = uncached_runtime();
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend(noise(1024, 7));
    let reason = expect_not_a_component(&runtime, "program", elf);
    assert!(reason.contains("magic bytes"), "{reason:?}");
    assert_runtime_still_loads(&runtime);
}

#[test]
fn precompiled_native_code_is_refused_rather_than_loaded() {
    // A `.cwasm` made by wasmtime itself: native code must never be accepted as a plugin file.
    let runtime = uncached_runtime();
    let precompiled = native_code_of_the_fixture();
    assert_eq!(&precompiled[..4], b"\x7fELF", "wasmtime writes ELF");
    let reason = expect_not_a_component(&runtime, "hostile.cwasm", precompiled);
    assert!(reason.contains("magic bytes"), "{reason:?}");
    assert_runtime_still_loads(&runtime);
}

#[test]
fn an_empty_component_is_the_wrong_world() {
    // The smallest valid component: a header and nothing else, so no `manifest` or `run` export.
    let runtime = uncached_runtime();
    let empty = b"\0asm\x0d\0\x01\0".to_vec();
    match runtime.load(source_of("empty-component.wasm", empty)) {
        Err(e @ PluginError::WrongWorld { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with(
                    "empty-component.wasm does not implement tether:command@0.1.0 (build it with tether-sdk): "
                ),
                "{text:?}"
            );
            let PluginError::WrongWorld { reason, .. } = &e else {
                unreachable!()
            };
            assert!(!reason.trim().is_empty());
            assert!(!text.contains('\n'), "{text:?}");
        }
        other => panic!("expected WrongWorld, got {other:?}"),
    }
    assert_runtime_still_loads(&runtime);
}

// ---------------------------------------------------------------------------------------------
// The compiled-code cache
// ---------------------------------------------------------------------------------------------

struct CacheDirs {
    _tmp: tempfile::TempDir,
    cache: PathBuf,
    key: PathBuf,
}

fn cache_dirs() -> CacheDirs {
    let tmp = tempfile::tempdir().unwrap();
    CacheDirs {
        cache: tmp.path().join("components"),
        key: tmp.path().join("cache.key"),
        _tmp: tmp,
    }
}

/// The cache file of the hostile fixture (there is exactly one entry).
fn cache_file(dir: &Path) -> PathBuf {
    let sha = tether_fixtures::fixture("hostile").sha256;
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "one cache entry: {entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(name.starts_with(sha), "{name} is keyed by the SHA-256");
    entries[0].clone()
}

/// What loading `/hostile` with `load_all` reported, and the plugin.
fn load_reporting(runtime: &Runtime) -> (Plugin, Vec<LoadProgress>) {
    let mut events = Vec::new();
    let mut results = runtime.load_all(vec![hostile_source()], &mut |p| events.push(p));
    assert_eq!(results.len(), 1);
    let plugin = results.remove(0).expect("hostile loads");
    (plugin, events)
}

fn compiled(events: &[LoadProgress]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, LoadProgress::Compiled { .. }))
}

fn announced(events: &[LoadProgress]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, LoadProgress::CompileStarted { .. }))
}

/// A load that neither announces nor does any compiling: the entry was valid.
#[track_caller]
fn assert_cache_hit(runtime: &Runtime) {
    let (plugin, events) = load_reporting(runtime);
    assert!(
        events.is_empty(),
        "a cache hit compiles nothing and reports nothing: {events:?}"
    );
    assert_still_runs(runtime, &plugin);
}

#[test]
fn the_first_load_compiles_and_announces_it_and_the_second_is_a_cache_hit() {
    let dirs = cache_dirs();
    let runtime = cached_runtime(&dirs.cache, &dirs.key);
    let (plugin, events) = load_reporting(&runtime);
    assert!(
        matches!(
            events.first(),
            Some(LoadProgress::CompileStarted { count: Some(1) })
        ),
        "{events:?}"
    );
    assert!(compiled(&events), "{events:?}");
    assert!(
        matches!(events.last(), Some(LoadProgress::Finished)),
        "{events:?}"
    );
    assert_still_runs(&runtime, &plugin);
    cache_file(&dirs.cache);
    assert_cache_hit(&runtime);
    // A new process (a new runtime with the same files) hits the cache too.
    assert_cache_hit(&cached_runtime(&dirs.cache, &dirs.key));
}

/// Loads through a cache whose entry has been damaged by `damage`: the load must still succeed by
/// recompiling, the entry must be valid again afterwards, and a further load must be a hit.
fn survives_damaged_cache(damage: impl FnOnce(&Path)) {
    let dirs = cache_dirs();
    {
        let runtime = cached_runtime(&dirs.cache, &dirs.key);
        let (plugin, _) = load_reporting(&runtime);
        assert_still_runs(&runtime, &plugin);
    }
    let file = cache_file(&dirs.cache);
    let good = std::fs::read(&file).unwrap();
    damage(&file);
    let damaged = std::fs::read(&file).unwrap_or_default();
    assert_ne!(good, damaged, "the damage changed the file");

    let runtime = cached_runtime(&dirs.cache, &dirs.key);
    let (plugin, events) = load_reporting(&runtime);
    assert!(
        compiled(&events),
        "a damaged entry is recompiled, not loaded: {events:?}"
    );
    assert_still_runs(&runtime, &plugin);

    let rewritten = std::fs::read(cache_file(&dirs.cache)).unwrap();
    assert_ne!(rewritten, damaged, "the damaged entry was replaced");
    assert!(rewritten.starts_with(b"TTHRC001"), "a tether cache entry");
    assert_cache_hit(&runtime);
    assert_cache_hit(&cached_runtime(&dirs.cache, &dirs.key));
}

#[test]
fn a_cache_entry_with_flipped_bytes_is_rejected_and_recompiled() {
    survives_damaged_cache(|file| {
        let mut bytes = std::fs::read(file).unwrap();
        let len = bytes.len();
        // In the MAC, the manifest and the compiled code.
        for i in [10, 60, len / 2, len - 1] {
            bytes[i] ^= 0xff;
        }
        std::fs::write(file, bytes).unwrap();
    });
}

#[test]
fn a_cache_entry_with_one_flipped_bit_in_the_code_is_rejected_and_recompiled() {
    survives_damaged_cache(|file| {
        let mut bytes = std::fs::read(file).unwrap();
        let at = bytes.len() * 3 / 4;
        bytes[at] ^= 0x01;
        std::fs::write(file, bytes).unwrap();
    });
}

#[test]
fn a_truncated_cache_entry_is_rejected_and_recompiled() {
    survives_damaged_cache(|file| {
        let bytes = std::fs::read(file).unwrap();
        std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
    });
}

#[test]
fn an_empty_cache_entry_is_rejected_and_recompiled() {
    survives_damaged_cache(|file| std::fs::write(file, b"").unwrap());
}

#[test]
fn native_code_planted_in_the_cache_is_rejected_and_recompiled() {
    // Someone replaced the entry with wasmtime's own precompiled code: valid native code, but not
    // authenticated with our key, so it must not be mapped.
    survives_damaged_cache(|file| {
        std::fs::write(file, native_code_of_the_fixture()).unwrap();
    });
}

#[test]
fn a_cache_entry_written_with_another_key_is_rejected_and_recompiled() {
    let dirs = cache_dirs();
    let other_key = dirs.key.with_file_name("other.key");
    {
        let theirs = cached_runtime(&dirs.cache, &other_key);
        let (plugin, events) = load_reporting(&theirs);
        assert!(compiled(&events));
        assert_still_runs(&theirs, &plugin);
    }
    let planted = std::fs::read(cache_file(&dirs.cache)).unwrap();

    let mine = cached_runtime(&dirs.cache, &dirs.key);
    let (plugin, events) = load_reporting(&mine);
    assert!(
        compiled(&events),
        "an entry made with another key is recompiled: {events:?}"
    );
    assert_still_runs(&mine, &plugin);
    let rewritten = std::fs::read(cache_file(&dirs.cache)).unwrap();
    assert_ne!(rewritten, planted, "the foreign entry was replaced by ours");
    assert_cache_hit(&mine);
    assert_cache_hit(&cached_runtime(&dirs.cache, &dirs.key));
}

#[test]
fn loading_a_damaged_cache_entry_brackets_its_recompile_with_start_and_finish() {
    // A surface shows a counter between `CompileStarted` and `Finished`; a recompile caused by a
    // damaged entry should be announced like any other compile, or the counter is left on screen.
    let dirs = cache_dirs();
    load_reporting(&cached_runtime(&dirs.cache, &dirs.key));
    let file = cache_file(&dirs.cache);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let (_, events) = load_reporting(&cached_runtime(&dirs.cache, &dirs.key));
    assert!(compiled(&events), "{events:?}");
    assert!(announced(&events), "the recompile is announced: {events:?}");
    assert!(
        matches!(
            events.first(),
            Some(LoadProgress::CompileStarted { count: None })
        ),
        "a count nobody could know is not guessed: {events:?}"
    );
    assert!(
        matches!(events.last(), Some(LoadProgress::Finished)),
        "the recompile is finished: {events:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

#[test]
fn a_looping_call_does_not_hold_up_another_call_on_the_same_runtime() {
    let (runtime, plugin) = hostile();
    let loop_limit = Duration::from_millis(1500);
    let limits = Limits {
        call_timeout: loop_limit,
        ..Limits::default()
    };
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let looping = s.spawn(|| {
            start.wait();
            let began = Instant::now();
            let result = run_with(&runtime, &plugin, "loop", Capabilities::all(), limits);
            (result, began.elapsed())
        });
        let quick = s.spawn(|| {
            start.wait();
            // Let the loop get going first.
            std::thread::sleep(Duration::from_millis(100));
            let began = Instant::now();
            let result = run(&runtime, &plugin, "ok");
            (result, began.elapsed())
        });
        let (ok, ok_took) = quick.join().unwrap();
        let (looped, loop_took) = looping.join().unwrap();
        assert_eq!(ok.unwrap(), vec![Effect::Print("still fine".into())]);
        assert!(
            ok_took < Duration::from_millis(1000),
            "`ok` did not wait for the loop: {ok_took:?}"
        );
        assert!(
            matches!(looped, Err(PluginError::Timeout { .. })),
            "{looped:?}"
        );
        assert!(
            loop_took < Duration::from_secs(4),
            "the loop still timed out on time: {loop_took:?}"
        );
    });
    assert_still_runs(&runtime, &plugin);
}

#[test]
fn two_loops_at_once_both_time_out() {
    let (runtime, plugin) = hostile();
    let limits = Limits {
        call_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let began = Instant::now();
                    let r = run_with(&runtime, &plugin, "loop", Capabilities::all(), limits);
                    (r, began.elapsed())
                })
            })
            .collect();
        for h in handles {
            let (r, took) = h.join().unwrap();
            assert!(matches!(r, Err(PluginError::Timeout { .. })), "{r:?}");
            assert!(took < Duration::from_secs(3), "{took:?}");
        }
    });
    assert_still_runs(&runtime, &plugin);
}

// ---------------------------------------------------------------------------------------------
// The stock plugins
// ---------------------------------------------------------------------------------------------

/// The manifests of every stock plugin, loaded once for the stock tests.
fn stock_manifests() -> &'static [(&'static str, Manifest)] {
    static MANIFESTS: OnceLock<Vec<(&'static str, Manifest)>> = OnceLock::new();
    MANIFESTS.get_or_init(|| {
        let runtime = uncached_runtime();
        let sources = tether_stock::STOCK
            .iter()
            .map(|p| PluginSource::stock(p.crate_name, p.bytes, p.sha256))
            .collect();
        let results = runtime.load_all(sources, &mut |_| {});
        tether_stock::STOCK
            .iter()
            .zip(results)
            .map(|(p, r)| match r {
                Ok(plugin) => {
                    assert_eq!(plugin.source, CommandSource::Stock);
                    (p.crate_name, plugin.manifest)
                }
                Err(e) => panic!("stock plugin {} does not load: {e}", p.crate_name),
            })
            .collect()
    })
}

#[test]
fn every_stock_plugin_loads_and_its_manifest_validates() {
    assert!(!tether_stock::STOCK.is_empty());
    for p in tether_stock::STOCK {
        assert_eq!(
            sha256_hex(p.bytes),
            p.sha256,
            "{}: the embedded SHA-256 is the bytes' hash",
            p.crate_name
        );
    }
    let manifests = stock_manifests();
    assert_eq!(manifests.len(), tether_stock::STOCK.len());
    for (crate_name, manifest) in manifests {
        manifest
            .validate()
            .unwrap_or_else(|e| panic!("{crate_name}: {e}"));
        assert_eq!(
            manifest.name.replace('-', "_"),
            crate_name.replace('-', "_"),
            "each crate is named after its command"
        );
    }
}

#[test]
fn stock_command_names_and_aliases_are_unique() {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, manifest) in stock_manifests() {
        for name in manifest.names() {
            if let Some(owner) = seen.insert(name, &manifest.name) {
                panic!(
                    "/{name} is declared by both /{owner} and /{}",
                    manifest.name
                );
            }
        }
    }
}

#[test]
fn stock_safety_tags_and_kinds_match_the_design_table() {
    // name: (remote_safe, bridge_safe, kind)
    const R: bool = true;
    const B: bool = true;
    const NO: bool = false;
    let expected: BTreeMap<&str, (bool, bool, Kind)> = [
        ("session", (R, NO, Kind::Local)),
        ("mobile", (R, NO, Kind::Local)),
        ("exit", (R, NO, Kind::Local)),
        ("clear", (R, B, Kind::Local)),
        ("help", (R, NO, Kind::Local)),
        ("theme", (R, NO, Kind::Local)),
        ("color", (R, NO, Kind::Local)),
        ("vim", (R, NO, Kind::Local)),
        ("cost", (R, B, Kind::Local)),
        ("usage", (R, NO, Kind::Local)),
        ("copy", (R, NO, Kind::Local)),
        ("btw", (R, NO, Kind::Local)),
        ("feedback", (R, NO, Kind::Local)),
        ("plan", (R, NO, Kind::Local)),
        ("keybindings", (R, NO, Kind::Local)),
        ("statusline", (R, NO, Kind::Local)),
        ("stickers", (R, NO, Kind::Local)),
        ("compact", (NO, B, Kind::Local)),
        ("summary", (NO, B, Kind::Local)),
        ("release-notes", (NO, B, Kind::Local)),
        ("files", (NO, B, Kind::Local)),
        ("plugin", (NO, NO, Kind::Local)),
        ("memory", (NO, NO, Kind::Interactive)),
        ("desktop", (NO, NO, Kind::Local)),
    ]
    .into_iter()
    .collect();
    let actual: BTreeMap<&str, (bool, bool, Kind)> = stock_manifests()
        .iter()
        .map(|(_, m)| {
            (
                m.name.as_str(),
                (m.safety.remote_safe, m.safety.bridge_safe, m.kind),
            )
        })
        .collect();
    let expected_names: BTreeSet<&str> = expected.keys().copied().collect();
    let actual_names: BTreeSet<&str> = actual.keys().copied().collect();
    assert_eq!(
        actual_names, expected_names,
        "the stock commands are exactly those of the table"
    );
    for (name, tags) in &expected {
        assert_eq!(
            actual[name], *tags,
            "/{name}: (remote_safe, bridge_safe, kind)"
        );
    }
}
