//! The interactive session, driven through a pseudo-terminal as a person would: typing, Enter,
//! Escape, Ctrl-C and Ctrl-D, and reading what a terminal would show.

use base64::Engine as _;
use tether_e2e::hostile::{ESCAPES, SHOWN, assert_not_obeyed};
use tether_e2e::{Pty, Tether, cursor_row, escaped, find};

/// The echo engine's reply to `said`.
fn echo_reply(said: &str) -> String {
    format!("No model is configured, so this is the offline echo engine. You said: {said}")
}

/// Starts `tether` and waits for the banner and the first prompt.
fn start(t: &Tether) -> Pty {
    let mut pty = t.spawn_pty(std::iter::empty::<&str>());
    pty.expect("tether");
    pty.expect("engine echo");
    pty.expect_prompt("› ");
    pty
}

/// Types `line`, waits for `reply` and the next empty prompt.
fn say(pty: &mut Pty, line: &str, reply: &str) -> String {
    pty.send_line(line);
    let seen = pty.expect(reply);
    pty.expect_prompt("› ");
    seen
}

#[test]
fn a_message_gets_an_echo_reply_and_ctrl_d_exits_cleanly() {
    let t = Tether::new();
    let mut pty = start(&t);
    assert!(
        pty.screen().contains("tether 0.1.0 · engine echo"),
        "{}",
        pty.screen()
    );
    pty.send_line("hello");
    pty.expect(&echo_reply("hello"));
    pty.expect_prompt("› ");
    pty.send("\x04");
    let status = pty.wait_exit();
    assert!(status.success(), "Ctrl-D exited with {status:?}");
}

#[test]
fn ctrl_c_interrupts_a_streaming_reply_and_the_prompt_comes_back() {
    let t = Tether::new().echo_delay_ms(300);
    let mut pty = start(&t);
    pty.mark();
    pty.send_line("please tell me a very long story about the sea and the ships upon it");
    // The first words have streamed in; the rest would take seconds more.
    pty.expect("No model is");
    pty.send("\x03");
    let seen = pty.expect("[interrupted]");
    assert!(
        !seen.contains("You said"),
        "the whole reply came before Ctrl-C took effect: {seen:?}"
    );
    pty.expect_prompt("› ");
    // The session goes on, at full speed again for a short reply.
    pty.send_line("again");
    pty.timeout = std::time::Duration::from_secs(40);
    pty.expect("You said: again");
    pty.expect_prompt("› ");
}

#[test]
fn vim_switches_the_line_editor_to_vi_keys_and_back() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send_line("/vim");
    pty.expect("Vim mode on");
    pty.expect_prompt("[I] › ");
    // Escape: vi normal mode.
    pty.send("\x1b");
    pty.expect_prompt("[N] › ");
    // `i` inserts again; typed text and Enter work.
    pty.send("i");
    pty.expect_prompt("[I] › ");
    pty.send("typed in vi");
    pty.wait_screen("the typed text on the prompt row", |s| {
        cursor_row(s).starts_with("[I] › typed in vi")
    });
    pty.send("\r");
    pty.expect("You said: typed in vi");
    pty.expect_prompt("[I] › ");
    pty.send_line("/vim off");
    pty.expect("Vim mode off");
    pty.expect_prompt("› ");
    assert!(
        !pty.cursor_row().contains('['),
        "the vi indicator is still shown: {:?}",
        pty.cursor_row()
    );
    // The setting persists.
    let prefs = std::fs::read_to_string(t.config_dir().join("preferences.toml")).unwrap();
    assert!(prefs.contains("vim = false"), "{prefs}");
}

#[test]
fn copy_puts_the_last_reply_on_the_clipboard_with_osc_52() {
    let t = Tether::new();
    let mut pty = start(&t);
    say(&mut pty, "hello", "You said: hello");
    pty.mark();
    pty.send_line("/copy");
    let reply = echo_reply("hello");
    pty.expect(&format!("Copied {} characters", reply.chars().count()));
    pty.expect_prompt("› ");
    let osc = format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(&reply)
    );
    let raw = pty.raw_since_mark();
    assert!(
        find(&raw, osc.as_bytes()).is_some(),
        "no OSC 52 with the reply in: {}",
        escaped(&raw)
    );
}

/// The raw output of one exchange, and where in it the reply's line is.
struct Reply {
    raw: Vec<u8>,
    /// From the reply marker `● ` to the end of its line.
    line: std::ops::Range<usize>,
}

impl Reply {
    fn line(&self) -> &[u8] {
        &self.raw[self.line.clone()]
    }
}

/// Says `said` and returns the bytes tether printed for the reply.
fn reply(pty: &mut Pty, said: &str) -> Reply {
    pty.mark();
    pty.send_line(said);
    pty.expect(&format!("You said: {said}"));
    pty.expect_prompt("› ");
    let raw = pty.raw_since_mark();
    let start = find(&raw, "● ".as_bytes()).expect("the reply marker");
    let end = start + find(&raw[start..], b"\n").expect("the end of the reply");
    Reply {
        raw,
        line: start..end,
    }
}

#[test]
fn color_and_theme_change_how_replies_are_drawn() {
    let t = Tether::new();
    let mut pty = start(&t);

    // The default (dark theme): the marker in cyan, the reply text plain.
    let plain = reply(&mut pty, "one");
    assert!(
        find(&plain.raw, "\x1b[36m● ".as_bytes()).is_some(),
        "{}",
        escaped(&plain.raw)
    );
    assert!(
        find(plain.line(), b"\x1b[32m").is_none(),
        "{}",
        escaped(plain.line())
    );

    say(&mut pty, "/color green", "Response color set to green.");
    let green = reply(&mut pty, "two");
    for word in ["No ", "model ", "said: ", "two"] {
        let painted = format!("\x1b[32m{word}\x1b[0m");
        assert!(
            find(green.line(), painted.as_bytes()).is_some(),
            "{word:?} is not green in: {}",
            escaped(green.line())
        );
    }

    say(&mut pty, "/theme mono", "Theme set to mono.");
    let mono = reply(&mut pty, "three");
    assert!(
        find(mono.line(), b"\x1b[").is_none(),
        "escape codes in a mono reply: {}",
        escaped(mono.line())
    );
    assert!(
        find(&mono.raw, "\x1b[36m● ".as_bytes()).is_none(),
        "the marker is still coloured: {}",
        escaped(&mono.raw)
    );
}

#[test]
fn statusline_shows_engine_and_tokens_beside_the_prompt() {
    let t = Tether::new();
    let mut pty = start(&t);
    assert!(
        !pty.cursor_row().contains("tokens"),
        "a status line before it was turned on: {:?}",
        pty.cursor_row()
    );
    pty.send_line("/statusline on");
    pty.expect("Status line on");
    pty.expect_prompt("› ");
    pty.wait_screen("the status line on the prompt row", |s| {
        let row = cursor_row(s);
        row.contains("echo/echo") && row.contains("0 tokens") && row.trim_end().ends_with("$0.0000")
    });
    // It is on the right: far from the prompt.
    let row = pty.cursor_row();
    let at = row.find("echo/echo").unwrap();
    assert!(row[..at].trim() == "›", "{row:?}");
    assert!(at > 60, "the status line is not on the right: {row:?}");
    // And it counts: after a turn the tokens are no longer zero.
    say(&mut pty, "count me", "You said: count me");
    pty.wait_screen("a non-zero token count", |s| {
        let row = cursor_row(s);
        row.contains("tokens") && !row.contains(" 0 tokens")
    });
}

#[test]
fn btw_adds_a_note_without_a_model_turn() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.mark();
    pty.send_line("/btw remember the milk");
    pty.expect("note: remember the milk");
    pty.expect_prompt("› ");
    let text = pty.text_since_mark();
    assert!(!text.contains("You said"), "{text:?}");
    assert!(!text.contains('●'), "a reply was started: {text:?}");
}

#[test]
fn clear_forgets_the_replies_so_copy_has_nothing_to_copy() {
    let t = Tether::new();
    let mut pty = start(&t);
    say(&mut pty, "hello", "You said: hello");
    pty.mark();
    pty.send_line("/clear");
    pty.expect("Conversation cleared.");
    pty.expect_prompt("› ");
    assert!(
        find(&pty.raw_since_mark(), b"\x1b[2J").is_some(),
        "the screen was not cleared"
    );
    assert!(!pty.screen().contains("You said"), "{}", pty.screen());
    pty.send_line("/copy");
    pty.expect("Nothing to copy yet");
    pty.expect_prompt("› ");
}

#[test]
fn exit_command_ends_the_session_with_success() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send_line("/exit");
    let status = pty.wait_exit();
    assert!(status.success(), "/exit exited with {status:?}");
}

#[test]
fn mentioned_files_are_listed_by_files() {
    let t = Tether::new();
    std::fs::write(t.cwd().join("notes.txt"), "buy milk\n").unwrap();
    let mut pty = start(&t);
    say(
        &mut pty,
        "summarize @notes.txt",
        "You said: summarize @notes.txt",
    );
    say(&mut pty, "/files", "1 file in context:");
    assert!(pty.screen().contains("notes.txt (9 B)"), "{}", pty.screen());
}

#[test]
fn tab_completes_slash_commands() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send("/stat");
    pty.send("\t");
    pty.wait_screen("/statusline completed", |s| {
        cursor_row(s).starts_with("› /statusline")
    });
}

#[test]
fn ctrl_c_at_the_prompt_abandons_the_line() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send("half a thought");
    pty.wait_screen("the typed text", |s| {
        cursor_row(s).starts_with("› half a thought")
    });
    pty.send("\x03");
    pty.expect_prompt("› ");
    pty.mark();
    say(&mut pty, "whole", "You said: whole");
    let text = pty.text_since_mark();
    assert!(!text.contains("half a thought"), "{text:?}");
}

#[test]
fn alt_enter_inserts_a_new_line_into_the_message() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send("first line\x1b\rsecond line");
    pty.wait_screen("two lines being edited", |s| {
        s.contents().contains("› first line\n  second line")
    });
    pty.send("\r");
    pty.expect("You said: first line");
    pty.expect("second line");
    pty.expect_prompt("› ");
}

#[test]
fn history_recalls_a_message_from_an_earlier_session() {
    let t = Tether::new();
    let mut first = start(&t);
    say(
        &mut first,
        "remember this line",
        "You said: remember this line",
    );
    first.send_line("/exit");
    assert!(first.wait_exit().success());

    let mut second = start(&t);
    second.send("\x1b[A");
    second.wait_screen("the earlier message recalled by Up", |s| {
        cursor_row(s).starts_with("› /exit")
    });
    second.send("\x1b[A");
    second.wait_screen("the message before it", |s| {
        cursor_row(s).starts_with("› remember this line")
    });
}

#[test]
fn vi_keys_are_remembered_by_the_next_session() {
    let t = Tether::new();
    let mut first = start(&t);
    first.send_line("/vim on");
    first.expect("Vim mode on");
    first.expect_prompt("[I] › ");
    first.send("\x04");
    assert!(first.wait_exit().success());

    let mut second = t.spawn_pty(std::iter::empty::<&str>());
    second.expect("engine echo");
    second.expect_prompt("[I] › ");
}

#[test]
fn plan_mode_shows_on_the_prompt_and_in_the_reply() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send_line("/plan");
    pty.expect("Plan mode on");
    pty.expect_prompt("plan › ");
    pty.send_line("refactor it");
    pty.expect("(plan mode: I would only propose a plan)");
    pty.expect("You said: refactor it");
    pty.expect_prompt("plan › ");
    pty.send_line("/plan off");
    pty.expect("Plan mode off.");
    pty.expect_prompt("› ");
}

#[test]
fn no_color_turns_every_colour_off() {
    let t = Tether::new().env("NO_COLOR", "1");
    let mut pty = start(&t);
    say(&mut pty, "/color green", "Response color set to green.");
    pty.mark();
    say(&mut pty, "plain please", "You said: plain please");
    let raw = pty.raw_since_mark();
    let start = find(&raw, "● ".as_bytes()).expect("the reply marker");
    let end = start + find(&raw[start..], b"\n").expect("the end of the reply");
    assert!(
        find(&raw[start.saturating_sub(8)..end], b"\x1b[3").is_none(),
        "colour with NO_COLOR: {}",
        escaped(&raw[start.saturating_sub(8)..end])
    );
}

#[test]
fn help_in_the_session_lists_the_commands() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send_line("/help");
    pty.expect("Type /help <command> for details.");
    pty.expect_prompt("› ");
    let screen = pty.screen();
    for wanted in [
        "Command",
        "/session",
        "/vim [on|off]",
        "/memory",
        "/clear (also /reset, /new)",
    ] {
        assert!(screen.contains(wanted), "no {wanted:?} in\n{screen}");
    }
}

#[test]
fn memory_opens_the_editor_and_the_session_goes_on() {
    let t = Tether::new();
    let mut pty = start(&t);
    pty.send_line("/memory");
    pty.expect("Saved ");
    pty.expect("memory.md.");
    pty.expect_prompt("› ");
    assert!(t.config_dir().join("memory.md").is_file());
    say(&mut pty, "still here", "You said: still here");
}

/// Installs the `hostile` fixture from inside the session with `/plugin install`.
fn install_hostile(t: &Tether, pty: &mut Pty) {
    let file = t.cwd().join("hostile.wasm");
    std::fs::write(&file, tether_fixtures::fixture("hostile").bytes).unwrap();
    pty.send_line("/plugin install hostile.wasm");
    pty.expect("Installed /hostile");
    pty.expect_prompt("› ");
}

#[test]
fn a_plugin_installed_in_the_session_completes_and_runs() {
    let t = Tether::new();
    let mut pty = start(&t);
    install_hostile(&t, &mut pty);
    pty.send("/hos\t");
    pty.wait_screen("/hostile completed", |s| {
        cursor_row(s).starts_with("› /hostile")
    });
    pty.send("ok\r");
    pty.expect("still fine");
    pty.expect_prompt("› ");
    assert!(t.plugins_dir().join("hostile.wasm").is_file());

    // Removed in the session: gone from the session at once, and from the disk.
    say(&mut pty, "/plugin remove hostile", "Removed /hostile.");
    assert!(!t.plugins_dir().join("hostile.wasm").exists());
    say(&mut pty, "/hostile ok", "You said: /hostile ok");

    // A plugin that takes a stock name is refused here too.
    std::fs::write(
        t.cwd().join("clash.wasm"),
        tether_fixtures::fixture("clash").bytes,
    )
    .unwrap();
    say(
        &mut pty,
        "/plugin install clash.wasm",
        "which is the stock command /help",
    );
    say(&mut pty, "/help", "Type /help <command> for details.");
}

#[test]
fn the_session_survives_plugins_that_misbehave() {
    let t = Tether::new();
    let mut pty = start(&t);
    install_hostile(&t, &mut pty);
    for (behaviour, reason) in [
        ("fail", "this command failed politely"),
        ("loop", "took longer than 2s and was stopped"),
        ("grow", "more than its 32 MiB of memory"),
        ("flood", "over its limit of 256 KiB"),
    ] {
        pty.send_line(&format!("/hostile {behaviour}"));
        pty.expect(reason);
        pty.expect_prompt("› ");
    }
    say(&mut pty, "/hostile ok", "still fine");
    say(&mut pty, "are you there", "You said: are you there");
}

#[test]
fn a_panicking_plugin_does_not_end_the_session() {
    let t = Tether::new();
    let mut pty = start(&t);
    install_hostile(&t, &mut pty);
    pty.send_line("/hostile trap");
    pty.expect("boom, on purpose");
    pty.expect_prompt("› ");
    say(&mut pty, "are you there", "You said: are you there");
}

#[test]
fn ctrl_c_while_a_plugin_runs_does_not_end_the_session() {
    let t = Tether::new();
    std::fs::write(
        t.cwd().join("hostile.wasm"),
        tether_fixtures::fixture("hostile").bytes,
    )
    .unwrap();
    t.run(["plugin", "install", "hostile.wasm"])
        .assert_success();
    // The first command of a session, when no Ctrl-C handler may be installed yet, and a later one.
    let mut pty = start(&t);
    for _ in 0..2 {
        pty.send_line("/hostile loop");
        pty.expect("/hostile loop");
        std::thread::sleep(std::time::Duration::from_millis(300));
        pty.send("\x03");
        pty.expect_prompt("› ");
    }
    say(&mut pty, "still there", "You said: still there");
}

/// The agent's permission prompt in an interactive terminal: one key answers, and the prompt
/// comes back for the next message.
#[test]
fn the_agents_permission_prompt_is_answered_with_one_key() {
    let t = Tether::new();
    let agent = env!("CARGO_BIN_EXE_tether-fixture-agent");
    let mut pty = t.spawn_pty(["--engine", "exec", "--exec-command", agent]);
    pty.expect("engine exec");
    pty.expect_prompt("› ");
    pty.send_line("tool: Bash ls");
    pty.expect("the agent wants to use Bash");
    pty.expect("Allow? press y to allow, n to deny");
    pty.send("y");
    pty.expect("allowed here");
    pty.expect(r#"allowed: {"command":"ls"}"#);
    pty.expect_prompt("› ");
    pty.send_line("tool: Bash ls");
    pty.expect("the agent wants to use Bash");
    pty.send("n");
    pty.expect("denied: The user denied this in the terminal.");
    pty.expect_prompt("› ");
    // The keys went to the question, not to the next line.
    pty.send_line("and then");
    pty.expect("You said: and then");
}

// ---------------------------------------------------------------------------------------------
// Text from elsewhere is shown, never obeyed

#[test]
fn a_models_reply_and_a_providers_error_are_shown_not_obeyed() {
    use tether_engines::test_support::{Answer, Provider, Wire};
    let error = serde_json::json!({"type": "error", "error": {
        "type": "invalid_request_error", "message": format!("refused {ESCAPES}")}});
    let provider = Provider::start(
        Wire::Anthropic,
        vec![
            Answer::text(&format!("Here it is: {ESCAPES} done.")),
            Answer::Error {
                status: 400,
                body: error.to_string(),
            },
        ],
    );
    let t = Tether::new().env("ANTHROPIC_API_KEY", "sk-ant-test-0123456789");
    let mut pty = t.spawn_pty(["--base-url", &provider.base_url]);
    pty.expect("engine anthropic");
    pty.expect_prompt("› ");
    pty.mark();
    pty.send_line("hi");
    pty.expect(&format!("Here it is: {SHOWN} done."));
    pty.expect_prompt("› ");
    // The error quotes the provider: whether the engine already dropped the controls or the
    // terminal shows them, none is obeyed.
    pty.send_line("again");
    pty.expect("refused <");
    pty.expect("2J>");
    let raw = pty.raw_since_mark();
    assert_not_obeyed(&pty, &raw);
    // The screen was not cleared, and tether's own styling still works.
    let screen = pty.screen();
    assert!(screen.contains("engine anthropic"), "{screen}");
    assert!(
        find(&raw, "\x1b[36m● ".as_bytes()).is_some(),
        "{}",
        escaped(&raw)
    );
}

#[test]
fn print_mode_on_a_terminal_shows_a_reply_with_escapes_not_obeyed() {
    let t = Tether::new();
    let mut pty = t.spawn_pty(["-p", &format!("say {ESCAPES}")]);
    pty.expect(&format!("You said: say {SHOWN}"));
    assert!(pty.wait_exit().success());
    let raw = pty.raw_since_mark();
    assert_not_obeyed(&pty, &raw);
}

#[test]
fn a_plugins_output_is_shown_not_obeyed_and_tethers_styling_stays() {
    let t = Tether::new();
    let mut pty = start(&t);
    install_hostile(&t, &mut pty);
    pty.mark();
    pty.send_line("/hostile escapes");
    let shown = "plugin<^[]52;c;cGx1Z2lu^G^[]0;plugin-title^G^[[2J<U+009B>31m>end";
    // As text, then as markdown (bold, then inline code).
    pty.expect(shown);
    pty.expect(&format!("md {shown}"));
    pty.expect_prompt("› ");
    let raw = pty.raw_since_mark();
    assert_not_obeyed(&pty, &raw);
    for styled in ["\x1b[1mmd\x1b[0m", "\x1b[33mplugin<^[]52"] {
        assert!(
            find(&raw, styled.as_bytes()).is_some(),
            "no {styled:?} in {}",
            escaped(&raw)
        );
    }
    assert!(
        pty.screen().contains("Installed /hostile"),
        "{}",
        pty.screen()
    );
}
