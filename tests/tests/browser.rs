//! The web client (`/code/<session-id>`) in a real headless Chromium: a browser paired with
//! `tether --remote` on its embedded relay, or logged in to a hosted `tether relay serve`, talks
//! with the terminal's echo engine through the page's composer, as a person would.
//!
//! The page's DOM contract: `#messages` holds `.msg` elements (`user` with `data-origin`
//! `terminal | client`, `assistant` with `data-message-id` and `streaming` while deltas arrive,
//! `command` with `error` for errors, `notice`), each with `data-seq`; `#composer`, `#input`
//! (Enter sends, Shift+Enter is a new line), `#send`, `#stop` (enabled while running), `#state`
//! (`idle | running | waiting for approval`), `#worker` (`online | offline`), `#connection`
//! (`data-state` `live | connecting | reconnecting`), `#completions` (`li[data-name]`, shown when
//! the input starts with `/`), `#title`, and `window.tetherStats`.
//!
//! One browser runs at a time (see `tether_e2e::browser`); every process is killed when its test
//! ends, passed or not. Without Chromium the tests fail in CI and are skipped elsewhere.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tether_e2e::Tether;
use tether_e2e::browser::{Browser, Options};
use tether_e2e::http::{header, request};
use tether_e2e::process::{Hosted, PASSWORD, Relay, Remote, free_port, reply_to};

/// What the page shows of every message: class, seq, origin, message id, text.
const MESSAGES: &str = "return [...document.querySelectorAll('#messages .msg')].map(m => ({ \
    class: m.className, seq: m.dataset.seq ?? null, origin: m.dataset.origin ?? null, \
    message_id: m.dataset.messageId ?? null, text: m.textContent }))";

/// The text of the finished assistant message that contains `arguments[0]`, if there is one.
const FINISHED_REPLY: &str = "return [...document.querySelectorAll('#messages .msg.assistant:not(.streaming)')] \
    .map(m => m.textContent).find(t => t.includes(arguments[0])) ?? null";

/// Whether a `.msg.user` with `data-origin = arguments[1]` says `arguments[0]`.
const USER_MESSAGE: &str = "return [...document.querySelectorAll('#messages .msg.user')] \
    .some(m => m.dataset.origin === arguments[1] && m.textContent.includes(arguments[0]))";

async fn launch(name: &str) -> Option<Browser> {
    Browser::launch(name, Options::default()).await
}

/// The messages on the page (see [`MESSAGES`]).
async fn messages(b: &Browser) -> Vec<Value> {
    b.js(MESSAGES, vec![])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the finished (not streaming) reply to `said`; returns its text.
async fn wait_reply(b: &Browser, said: &str) -> String {
    let v = b
        .wait_js(
            &format!("the finished reply to {said:?}"),
            FINISHED_REPLY,
            vec![json!(format!("You said: {said}"))],
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Waits for `said` as a user message from `origin` (`client` or `terminal`).
async fn wait_user(b: &Browser, said: &str, origin: &str) {
    b.wait_js(
        &format!("the user message {said:?} from the {origin}"),
        USER_MESSAGE,
        vec![json!(said), json!(origin)],
    )
    .await;
}

/// Waits until the page is connected, the terminal online and nothing runs.
async fn wait_ready(b: &Browser) {
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#worker", "online").await;
    b.wait_text("#state", "idle").await;
}

/// Types `said`, presses Enter, and waits for its reply; returns the reply's text.
async fn converse(b: &Browser, said: &str) -> String {
    b.say(said).await;
    wait_user(b, said, "client").await;
    let reply = wait_reply(b, said).await;
    b.wait_text("#state", "idle").await;
    reply
}

/// `tether --remote` on its embedded relay on loopback, and the browser paired with it through
/// the QR code's URL: on the session's page, connected.
async fn paired(b: &Browser, t: &Tether) -> (Remote, String, String) {
    paired_with(b, t, &[]).await
}

/// [`paired`], with more arguments for `tether --remote`.
async fn paired_with(b: &Browser, t: &Tether, args: &[&str]) -> (Remote, String, String) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let remote = Remote::start(t, &all);
    let (base, session, secret) = remote.parts();
    assert!(secret.is_some(), "no pairing secret in {}", remote.url);
    b.goto(&remote.url).await;
    let page = format!("{base}/code/{session}");
    // The secret leaves the address bar.
    b.wait_js(
        &format!("the address {page}"),
        "return location.href === arguments[0]",
        vec![json!(page)],
    )
    .await;
    b.wait_for("#messages").await;
    wait_ready(b).await;
    (remote, base, session)
}

/// Logs the browser in through the `/login` form, which then goes to `next`.
async fn log_in(b: &Browser, relay: &str, next: &str) {
    b.goto(&format!("{relay}/login?next={next}")).await;
    b.type_into("#username", "alice").await;
    b.type_into("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_js(
        &format!("{relay}{next} after logging in"),
        "return location.href === arguments[0]",
        vec![json!(format!("{relay}{next}"))],
    )
    .await;
}

/// Fails unless every message appears once: no `data-seq` and no `data-message-id` twice.
#[track_caller]
fn assert_no_duplicates(shown: &[Value]) {
    let dump = serde_json::to_string_pretty(shown).unwrap();
    let mut seqs = HashSet::new();
    let mut ids = HashSet::new();
    for m in shown {
        if let Some(seq) = m["seq"].as_str().filter(|s| !s.is_empty()) {
            assert!(seqs.insert(seq.to_owned()), "seq {seq} twice:\n{dump}");
        }
        if let Some(id) = m["message_id"].as_str() {
            assert!(ids.insert(id.to_owned()), "message {id} twice:\n{dump}");
        }
    }
}

/// How many messages whose class contains `kind` include `text`.
fn count(shown: &[Value], kind: &str, text: &str) -> usize {
    shown
        .iter()
        .filter(|m| {
            m["class"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .any(|c| c == kind)
                && m["text"].as_str().unwrap_or("").contains(text)
        })
        .count()
}

// ---------------------------------------------------------------------------------------------
// a. The embedded relay: pair, converse from both sides, reload

#[tokio::test]
async fn embedded_relay_the_browser_pairs_converses_and_reloads() {
    let Some(b) = launch("embedded_relay").await else {
        return;
    };
    let t = Tether::new().echo_delay_ms(20);
    let (mut remote, _base, session) = paired(&b, &t).await;
    assert!(
        b.text("#title").await.is_some_and(|t| !t.trim().is_empty()),
        "no title"
    );
    assert!(session.starts_with("session_local_"), "{session}");

    // The browser speaks: its message, then the reply streamed in.
    let reply = converse(&b, "hello from the browser").await;
    assert!(
        reply.contains(&reply_to("hello from the browser")),
        "{reply}"
    );
    remote
        .proc
        .expect_stdout("› (remote) hello from the browser\n");
    let stats = b.stats().await;
    assert!(
        stats["paintDelays"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "no paint delays recorded for a streamed reply: {stats}"
    );

    // The terminal speaks: the page shows the line, marked as typed there, and the reply.
    remote.proc.line("typed in the terminal");
    wait_user(&b, "typed in the terminal", "terminal").await;
    wait_reply(&b, "typed in the terminal").await;
    b.wait_text("#state", "idle").await;

    // The input is empty again, and Shift+Enter makes a new line rather than sending.
    let input = b
        .js("return document.querySelector('#input').value", vec![])
        .await;
    assert_eq!(input, json!(""), "the input was not cleared");
    b.type_into("#input", "first line\nsecond line").await;
    let input = b
        .js("return document.querySelector('#input').value", vec![])
        .await;
    assert_eq!(input, json!("first line\nsecond line"));
    assert_eq!(count(&messages(&b).await, "user", "first line"), 0);
    b.say("").await;
    wait_user(&b, "first line\nsecond line", "client").await;
    // Markdown renders the line break as <br>: no newline in the text.
    let reply = wait_reply(&b, "first line").await;
    assert!(reply.contains("second line"), "{reply}");
    b.wait_text("#state", "idle").await;

    // A reload shows the history once.
    let before = messages(&b).await;
    assert_no_duplicates(&before);
    assert_eq!(count(&before, "user", "hello from the browser"), 1);
    assert_eq!(
        count(&before, "assistant", "You said: hello from the browser"),
        1
    );
    assert_eq!(count(&before, "user", "typed in the terminal"), 1);
    assert_eq!(
        count(&before, "assistant", "You said: typed in the terminal"),
        1
    );
    b.reload().await;
    b.wait_attr("#connection", "data-state", "live").await;
    wait_reply(&b, "first line").await;
    // Let a late replay arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = messages(&b).await;
    assert_no_duplicates(&after);
    let strip = |v: &[Value]| -> Vec<(String, String)> {
        v.iter()
            .map(|m| {
                let class = m["class"].as_str().unwrap_or("").to_owned();
                (class, m["text"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    assert_eq!(
        strip(&after),
        strip(&before),
        "the history changed across a reload"
    );
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// b. A hosted relay: log in through the form, open the session from the list, converse

#[tokio::test]
async fn hosted_relay_the_browser_logs_in_opens_the_session_and_converses_over_sse_and_ws() {
    let Some(b) = launch("hosted_relay").await else {
        return;
    };
    let h = Hosted::with(Tether::new().echo_delay_ms(20), "127.0.0.1:0", &[]);
    let (remote, session) = h.remote(&[]);
    let relay = h.relay.url.clone();

    // Not logged in: the session list sends the browser to the login form.
    b.goto(&format!("{relay}/code")).await;
    b.wait_for("form[action='/login'] #username").await;
    log_in(&b, &relay, "/code").await;
    let link = format!("a[href='/code/{session}']");
    b.click(&link).await;
    b.wait_js(
        "the session's page",
        "return location.pathname === arguments[0]",
        vec![json!(format!("/code/{session}"))],
    )
    .await;
    wait_ready(&b).await;
    // This time with the Send button rather than Enter.
    b.type_into("#input", "hello from the hosted page").await;
    b.click("#send").await;
    wait_user(&b, "hello from the hosted page", "client").await;
    let reply = wait_reply(&b, "hello from the hosted page").await;
    assert!(
        reply.contains(&reply_to("hello from the hosted page")),
        "{reply}"
    );
    b.wait_text("#state", "idle").await;
    // The terminal shows what the page sent.
    remote
        .proc
        .expect_stdout("› (remote) hello from the hosted page\n");

    // The same page over a WebSocket instead of SSE.
    b.goto(&format!("{relay}/code/{session}?transport=ws"))
        .await;
    wait_ready(&b).await;
    wait_reply(&b, "hello from the hosted page").await;
    converse(&b, "hello over a websocket").await;
    remote
        .proc
        .expect_stdout("› (remote) hello over a websocket\n");
    let shown = messages(&b).await;
    assert_no_duplicates(&shown);
    assert_eq!(count(&shown, "user", "hello from the hosted page"), 1);
    assert_eq!(count(&shown, "user", "hello over a websocket"), 1);
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// c. Slash commands: completions list what the bridge allows; a refused one says so

#[tokio::test]
async fn completions_offer_only_bridge_commands_and_a_refused_one_says_so() {
    let Some(b) = launch("slash_commands").await else {
        return;
    };
    let t = Tether::new().echo_delay_ms(20);
    let allowed = bridge_commands(&t);
    let (_remote, _, _) = paired(&b, &t).await;

    b.type_into("#input", "/").await;
    b.wait_js(
        "the completions",
        "const c = document.querySelector('#completions'); \
         return !!c && c.checkVisibility() && c.querySelectorAll('li[data-name]').length > 0",
        vec![],
    )
    .await;
    let offered: BTreeSet<String> = b
        .js(
            "return [...document.querySelectorAll('#completions li[data-name]')].map(li => li.dataset.name)",
            vec![],
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().trim_start_matches('/').to_owned())
        .collect();
    assert!(
        offered.contains("cost") || offered.contains("clear"),
        "{offered:?}"
    );
    assert!(!offered.contains("plugin"), "{offered:?}");
    assert_eq!(
        offered, allowed,
        "the completions are not the commands a client may run"
    );

    // Narrowing: only names starting with what was typed.
    b.type_into("#input", "co").await;
    b.wait_js(
        "completions for /co",
        "const names = [...document.querySelectorAll('#completions li[data-name]')].map(li => li.dataset.name.replace(/^\\//, '')); \
         return names.length > 0 && names.every(n => n.startsWith('co'))",
        vec![],
    )
    .await;

    // Choosing one fills the input.
    b.click("#completions li[data-name='cost']").await;
    b.wait_js(
        "the chosen command in the input",
        "return document.querySelector('#input').value.trim() === '/cost'",
        vec![],
    )
    .await;

    // A refused command: the refusal, and no reply from the model.
    b.find("#input").await.clear().await.unwrap();
    b.say("/plugin").await;
    let refusal = "/plugin isn't available over Remote Control.";
    b.wait_js(
        "the refusal",
        "return [...document.querySelectorAll('#messages .msg.command')].some(m => m.textContent.includes(arguments[0]))",
        vec![json!(refusal)],
    )
    .await;
    // A marker: once its reply is there, any reply to /plugin would be too.
    converse(&b, "after the refusal").await;
    let shown = messages(&b).await;
    let assistant = shown
        .iter()
        .filter(|m| m["class"].as_str().unwrap_or("").contains("assistant"))
        .count();
    assert_eq!(
        assistant,
        1,
        "the model answered /plugin:\n{}",
        serde_json::to_string_pretty(&shown).unwrap()
    );
    b.close().await;
}

/// The names of the commands a client may run (`tether commands --json --origin bridge --remote`).
fn bridge_commands(t: &Tether) -> BTreeSet<String> {
    let out = t.run(["commands", "--json", "--origin", "bridge", "--remote"]);
    out.assert_success();
    let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    list.iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// d. Markup in messages is text, and the page's policy allows no inline script

#[tokio::test]
async fn markup_and_javascript_links_in_messages_do_not_run() {
    let Some(b) = launch("xss").await else {
        return;
    };
    let t = Tether::new().echo_delay_ms(5);
    let (_remote, base, session) = paired(&b, &t).await;
    b.console().await;

    let markup = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"#;
    b.say(markup).await;
    wait_user(&b, markup, "client").await;
    // The reply is markdown, whose emphasis may take underscores: wait for the tags.
    let reply = wait_reply(&b, r#"<img src=x onerror="window."#).await;
    assert!(
        reply.contains("<script>window.") && reply.contains("</script>"),
        "the markup is not shown as text: {reply}"
    );

    let link = "[x](javascript:window.__xss=3)";
    b.say(link).await;
    wait_user(&b, link, "client").await;
    // Rendered as markdown: the link's text, and no link.
    wait_reply(&b, "x").await;
    // A positive control: an https link does become one.
    let safe = "[safe](https://example.com/a)";
    b.say(safe).await;
    wait_user(&b, safe, "client").await;
    wait_reply(&b, "safe").await;
    b.wait_text("#state", "idle").await;
    b.settle().await;
    let links = b
        .js(
            "return [...document.querySelectorAll('#messages .msg.assistant a')].map(a => [a.getAttribute('href'), a.rel, a.textContent])",
            vec![],
        )
        .await;
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1, "the links in the replies: {links:?}");
    assert_eq!(links[0][0], "https://example.com/a", "{links:?}");
    assert_eq!(links[0][2], "safe", "{links:?}");
    assert!(
        links[0][1].as_str().unwrap().contains("noopener"),
        "{links:?}"
    );
    // No link anywhere on the page runs script.
    let hrefs = b
        .js(
            "return [...document.querySelectorAll('#messages a')].map(a => a.getAttribute('href'))",
            vec![],
        )
        .await;
    for href in hrefs.as_array().unwrap() {
        let href = href.as_str().unwrap_or("").trim().to_ascii_lowercase();
        assert!(
            !href.starts_with("javascript:") && !href.starts_with("data:"),
            "a script link in the page: {href}"
        );
    }
    assert_eq!(
        b.js("return typeof window.__xss", vec![]).await,
        json!("undefined")
    );
    assert_eq!(
        b.count("#messages img, #messages script, #messages iframe, #messages [onerror]")
            .await,
        0,
        "markup from a message became elements"
    );
    let shown = messages(&b).await;
    assert_eq!(count(&shown, "user", markup), 1, "not shown literally");
    assert_eq!(count(&shown, "user", link), 1, "not shown literally");
    let console = b.console().await;
    assert!(
        !console
            .iter()
            .any(|l| l.contains("Content Security Policy") || l.contains("Content-Security-Policy")),
        "the page tried something its policy refused:\n{}",
        console.join("\n")
    );

    // The page's policy: scripts only from the relay itself, nothing inline.
    // The login cookie is named for the relay's port.
    let host = base.trim_start_matches("http://");
    let name = format!("tether_login_{}", host.rsplit(':').next().unwrap());
    let cookie = b
        .client()
        .get_named_cookie(&name)
        .await
        .expect("the login cookie");
    let (status, head, body) = request(
        host,
        "GET",
        &format!("/code/{session}"),
        &[("Cookie", &format!("{name}={}", cookie.value()))],
        "",
    );
    assert_eq!(status, 200, "{head}\n{body}");
    let csp = header(&head, "content-security-policy").expect("no Content-Security-Policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_owned)
    };
    let scripts = directive("script-src")
        .or_else(|| directive("default-src"))
        .unwrap_or_else(|| panic!("no script-src nor default-src: {csp}"));
    for unsafe_source in ["'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:"] {
        assert!(
            !scripts.split_whitespace().any(|s| s == unsafe_source),
            "{scripts} allows {unsafe_source}"
        );
    }
    // The transcript it renders for browsers without scripts escapes the markup too.
    assert!(
        !body.contains("<img src=x") && !body.contains("<script>window"),
        "unescaped markup in the page:\n{body}"
    );
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// e. The relay restarts while the page is open

#[tokio::test]
async fn the_page_reconnects_across_a_relay_restart_without_duplicates() {
    let Some(b) = launch("relay_restart").await else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let h = Hosted::with(Tether::new().echo_delay_ms(20), &listen, &[]);
    let (_remote, session) = h.remote(&[]);
    let relay = h.relay.url.clone();
    // Logged in as the HTTP helper was (the form has a test of its own).
    b.use_cookie(&relay, &h.cookie).await;
    b.goto(&format!("{relay}/code/{session}")).await;
    wait_ready(&b).await;
    converse(&b, "before the restart").await;

    h.relay.terminate();
    b.wait_attr("#connection", "data-state", "reconnecting")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Relay::start(&h.t, &h.db, &listen, &[]);
    assert_eq!(restarted.url, relay);
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#worker", "online").await;
    converse(&b, "after the restart").await;
    // Let anything replayed late arrive before counting.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let shown = messages(&b).await;
    assert_no_duplicates(&shown);
    for said in ["before the restart", "after the restart"] {
        assert_eq!(count(&shown, "user", said), 1, "{said}");
        assert_eq!(
            count(&shown, "assistant", &format!("You said: {said}")),
            1,
            "{said}"
        );
    }
    b.close().await;
    drop(restarted);
}

// ---------------------------------------------------------------------------------------------
// f. A phone's viewport

#[tokio::test]
async fn on_a_phone_viewport_the_conversation_fits() {
    let Some(b) = Browser::launch("phone", Options::phone(390, 844, 2.0)).await else {
        return;
    };
    // The same path on every run, so that the screenshot only changes when the page does.
    let t = Tether::new()
        .echo_delay_ms(5)
        .in_cwd(std::env::temp_dir().join("my-project"));
    let (_remote, _, _) = paired(&b, &t).await;
    assert_eq!(b.js("return window.innerWidth", vec![]).await, json!(390));

    converse(&b, "Can you show me a list and some code?").await;
    let markdown = "Sure:\n\n- first item\n- second item with `inline code`\n\n```\nfn main() {\n    println!(\"hi\");\n}\n```";
    b.say(markdown).await;
    b.wait_js(
        "the rendered markdown reply",
        "const m = [...document.querySelectorAll('#messages .msg.assistant:not(.streaming)')].pop(); \
         return !!m && m.textContent.includes('second item') && !!m.querySelector('pre') && m.querySelectorAll('li').length === 2",
        vec![],
    )
    .await;
    b.wait_text("#state", "idle").await;

    // The composer is on screen, and nothing is wider than the phone.
    let fits = b
        .js(
            "const r = document.querySelector('#composer').getBoundingClientRect(); \
             const i = document.querySelector('#input').getBoundingClientRect(); \
             return { composer: [r.left, r.top, r.right, r.bottom], input: [i.left, i.top, i.right, i.bottom], \
                      height: innerHeight, width: innerWidth, scroll: document.documentElement.scrollWidth }",
            vec![],
        )
        .await;
    let f = |k: &str, i: usize| fits[k][i].as_f64().unwrap();
    for k in ["composer", "input"] {
        assert!(
            f(k, 0) >= 0.0 && f(k, 1) >= 0.0 && f(k, 2) <= 390.0 && f(k, 3) <= 844.0,
            "#{k} is not within the viewport: {fits}"
        );
    }
    assert!(
        fits["scroll"].as_f64().unwrap() <= 390.0,
        "the page overflows horizontally: {fits}"
    );

    let shot = b.screenshot("phone").await;
    let docs = tether_e2e::repo_root()
        .join("docs")
        .join("screenshot-phone.png");
    std::fs::copy(&shot, &docs).unwrap();
    let size = std::fs::metadata(&docs).unwrap().len();
    assert!(size < 300_000, "{} is {size} bytes", docs.display());
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// g. The stop button

#[tokio::test]
async fn the_stop_button_interrupts_a_reply() {
    let Some(b) = launch("stop_button").await else {
        return;
    };
    let t = Tether::new().echo_delay_ms(300);
    let (_remote, _, _) = paired(&b, &t).await;
    assert_eq!(
        b.js("return document.querySelector('#stop').disabled", vec![])
            .await,
        json!(true),
        "#stop is enabled while idle"
    );
    let long = "please give me a long answer with many many words so that there is time to stop it";
    b.say(long).await;
    b.wait_text("#state", "running").await;
    b.wait_for("#messages .msg.assistant.streaming").await;
    b.wait_js(
        "#stop enabled",
        "return !document.querySelector('#stop').disabled",
        vec![],
    )
    .await;
    b.click("#stop").await;
    b.wait_text("#state", "idle").await;
    b.wait_gone("#messages .msg.assistant.streaming").await;
    // The mark comes with the next frame's render, a moment after the state.
    let last = b
        .wait_js(
            "the reply marked interrupted",
            "const m = [...document.querySelectorAll('#messages .msg.assistant')].pop(); \
             return (m.classList.contains('interrupted') || m.textContent.includes('[interrupted]')) \
               && { class: m.className, text: m.textContent }",
            vec![],
        )
        .await;
    let text = last["text"].as_str().unwrap();
    assert!(
        !text.contains(&reply_to(long)),
        "it was not cut short: {last}"
    );
    assert_eq!(
        b.js("return document.querySelector('#stop').disabled", vec![])
            .await,
        json!(true),
        "#stop is still enabled"
    );
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// h. An agent's permission request: the Allow/Deny card

#[tokio::test]
async fn an_approval_card_answers_the_agent_and_goes_away() {
    let Some(b) = launch("approval_card").await else {
        return;
    };
    let t = Tether::new();
    let agent = env!("CARGO_BIN_EXE_tether-fixture-agent");
    let (remote, _, _) = paired_with(&b, &t, &["--engine", "exec", "--exec-command", agent]).await;
    b.say("tool: Bash ls").await;
    b.wait_text("#state", "waiting for approval").await;
    b.wait_for("#approvals .approval[data-request-id] button.allow")
        .await;
    let card = b
        .js(
            "const c = document.querySelector('#approvals .approval');              return { title: c.querySelector('.approval-title').textContent,                       input: c.querySelector('pre')?.textContent }",
            vec![],
        )
        .await;
    assert_eq!(card["title"], "Allow Bash?", "{card}");
    assert_eq!(card["input"], "ls", "{card}");
    b.click("#approvals .approval button.allow").await;
    b.wait_gone("#approvals .approval").await;
    let reply = b
        .wait_js(
            "the agent's reply after the approval",
            FINISHED_REPLY,
            vec![json!("allowed:")],
        )
        .await;
    assert!(
        reply
            .as_str()
            .unwrap()
            .contains(r#"allowed: {"command":"ls"}"#),
        "{reply}"
    );
    b.wait_text("#state", "idle").await;
    remote.proc.expect_stdout("allowed on a connected device");

    // Answered in the terminal instead: the card goes away and the page says where.
    let mut remote = remote;
    b.say("tool: Bash ls").await;
    b.wait_for("#approvals .approval button.deny").await;
    remote.proc.line("n");
    b.wait_gone("#approvals .approval").await;
    b.wait_js(
        "the notice saying the terminal answered",
        "return document.body.textContent.includes('Denied Bash in the terminal')",
        vec![],
    )
    .await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// i. A turn the model refused: the message is marked not sent, and Retry sends it again

#[tokio::test]
async fn a_refused_message_is_marked_not_sent_and_retry_sends_it_again() {
    use tether_engines::test_support::{Answer, Provider, Wire};
    let Some(b) = launch("refused_retry").await else {
        return;
    };
    let provider = Provider::start(
        Wire::OpenAi,
        vec![
            Answer::Error {
                status: 400,
                body: r#"{"error":{"message":"The response was filtered.","type":"invalid_request_error","code":"content_filter"}}"#.into(),
            },
            Answer::text("Hello from the model."),
        ],
    );
    let t = Tether::new();
    let (_remote, _, _) = paired_with(
        &b,
        &t,
        &["--engine", "openai", "--base-url", &provider.base_url],
    )
    .await;
    let said = "something the filter blocks";
    b.say(said).await;
    b.wait_for("#messages .msg.user.failed.unsent button.retry")
        .await;
    b.wait_text("#state", "idle").await;
    let failed = b
        .js(
            "return document.querySelector('#messages .msg.user.unsent').textContent",
            vec![],
        )
        .await;
    let failed = failed.as_str().unwrap_or_default();
    assert!(failed.contains(said), "{failed}");
    assert!(
        failed.contains("was filtered") && failed.contains("Not sent"),
        "{failed}"
    );
    let shown = messages(&b).await;
    assert!(
        !shown.iter().any(|m| {
            let class = m["class"].as_str().unwrap_or_default();
            class.contains("assistant") || class.contains("command")
        }),
        "the error is on the message, with no empty reply: {shown:?}"
    );

    b.click("#messages .msg.user.unsent button.retry").await;
    b.wait_js(
        "the reply to the message sent again",
        FINISHED_REPLY,
        vec![json!("Hello from the model.")],
    )
    .await;
    let requests = provider.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let users: Vec<&str> = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(users, [said], "sent once, not twice");
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// A page left open keeps only the latest event ids

#[tokio::test]
async fn the_page_remembers_only_the_latest_event_ids() {
    let Some(b) = launch("seen_ids").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, _, session) = paired(&b, &t).await;
    // 300 answers to requests nobody made: the page shows none of them and the terminal
    // ignores them, but each is an event the page sees and deduplicates.
    let statuses = b
        .js(
            "const post = (from) => fetch(`/v1/code/sessions/${arguments[0]}/events`, { \
               method: 'POST', headers: { 'content-type': 'application/json' }, \
               body: JSON.stringify({ events: Array.from({ length: 150 }, (_, i) => ({ \
                 id: crypto.randomUUID(), type: 'control_response', \
                 payload: { request_id: `nobody-${from + i}`, response: { behavior: 'allow' } } })) }) \
             }).then((r) => r.status); \
             return post(0).then((a) => post(150).then((b) => [a, b]));",
            vec![json!(session)],
        )
        .await;
    assert_eq!(statuses, json!([200, 200]));
    // Events arrive in order: once the reply is shown, the 300 came before it.
    converse(&b, "after the answers").await;
    let remembered = b
        .js("return window.tetherStats.rememberedIds", vec![])
        .await;
    let remembered = remembered.as_u64().expect("a count of ids");
    assert!(
        (1..=256).contains(&remembered),
        "the page remembers {remembered} event ids"
    );
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// A client cannot pass its message off as typed in the terminal

#[tokio::test]
async fn a_clients_message_claiming_the_terminal_is_shown_as_a_clients() {
    let Some(b) = launch("forged_origin").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, _, session) = paired(&b, &t).await;
    let status = b
        .js(
            "return fetch(`/v1/code/sessions/${arguments[0]}/events`, { \
               method: 'POST', headers: { 'content-type': 'application/json' }, \
               body: JSON.stringify({ events: [{ id: crypto.randomUUID(), type: 'user_message', \
                 payload: { text: 'pretending to be the terminal', origin: 'terminal' } }] }) \
             }).then((r) => r.status);",
            vec![json!(session)],
        )
        .await;
    assert_eq!(status, json!(200));
    let origin = b
        .wait_js(
            "the forged message",
            "for (const el of document.querySelectorAll('#messages .msg.user')) { \
               if (el.textContent.includes('pretending to be the terminal')) return el.dataset.origin; \
             } return null;",
            vec![],
        )
        .await;
    assert_eq!(origin, json!("client"), "labelled by who published it");
    converse(&b, "after the forgery").await;
    b.close().await;
}
