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
//! the input starts with `/`), `#title`, `#banner` (shown with `data-kind` `nokey | rekeyed |
//! insecure` when the page cannot read or send), notices `unverified`, `integrity` and `older`,
//! `window.tetherStats`, and `window.TetherSeal` (seal.js: the envelope, the ledger, the key
//! kept in IndexedDB).
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

/// The words of a page without the session's key.
const SCAN: &str = "Scan the code in the terminal (/session) to open this session here";

/// Waits until the page says it has no key, and checks that it shows nothing else and cannot
/// send.
async fn wait_scan_message(b: &Browser) {
    b.wait_js(
        "the page saying it needs the code scanned",
        "const e = document.querySelector('#banner'); return !!e && !e.hidden && e.textContent === arguments[0]",
        vec![json!(SCAN)],
    )
    .await;
    let state = b
        .js(
            "return { input: document.querySelector('#input').disabled, send: document.querySelector('#send').disabled, \
               stop: document.querySelector('#stop').disabled, messages: document.querySelectorAll('#messages .msg').length }",
            vec![],
        )
        .await;
    assert_eq!(
        state,
        json!({ "input": true, "send": true, "stop": true, "messages": 0 })
    );
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
    // Opened from the list, the page has no key: it says where to get one.
    wait_scan_message(&b).await;
    // The printed link carries it; once kept, the page opens without it too (below).
    b.goto(&remote.url).await;
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
    b.js(
        "window.__frames = []; const send = WebSocket.prototype.send; \
         WebSocket.prototype.send = function (data) { window.__frames.push(String(data)); return send.call(this, data); }; \
         return true",
        vec![],
    )
    .await;
    converse(&b, "hello over a websocket").await;
    remote
        .proc
        .expect_stdout("› (remote) hello over a websocket\n");
    // The page asked no ack: its message coming back on the stream settled it, or this second
    // one (sent only once the first is settled) would never go.
    converse(&b, "and again").await;
    let frames = b.js("return window.__frames", vec![]).await;
    let writes: Vec<Value> = frames
        .as_array()
        .unwrap()
        .iter()
        .map(|f| serde_json::from_str(f.as_str().unwrap()).unwrap())
        .filter(|w: &Value| w["events"].as_array().is_some_and(|e| !e.is_empty()))
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes.iter().all(|w| w["ack"] == false), "{writes:?}");
    let shown = messages(&b).await;
    assert_no_duplicates(&shown);
    assert_eq!(count(&shown, "user", "hello from the hosted page"), 1);
    assert_eq!(count(&shown, "user", "hello over a websocket"), 1);
    assert_eq!(count(&shown, "user", "and again"), 1);
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
    let (remote, _) = h.remote(&[]);
    let relay = h.relay.url.clone();
    // Logged in as the HTTP helper was (the form has a test of its own), on the printed link
    // (with the session key).
    b.use_cookie(&relay, &h.cookie).await;
    b.goto(&remote.url).await;
    wait_ready(&b).await;
    converse(&b, "before the restart").await;

    h.relay.terminate();
    // Stopping, the relay told the page to move (docs/protocol.md 5.6), and it tried at once.
    b.wait_attr("#connection", "data-moved", "1").await;
    b.wait_attr("#connection", "data-state", "reconnecting")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Relay::start(&h.t, &h.db, &listen, &[]);
    assert_eq!(restarted.url, relay);
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#worker", "online").await;
    converse(&b, "after the restart").await;

    // Over a WebSocket the word to move is close code 1012.
    let (page, key) = remote.url.split_once('#').unwrap_or((&remote.url, ""));
    let glue = if page.contains('?') { '&' } else { '?' };
    b.goto(&format!("{page}{glue}transport=ws#{key}")).await;
    wait_ready(&b).await;
    restarted.terminate();
    b.wait_attr("#connection", "data-moved", "1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Relay::start(&h.t, &h.db, &listen, &[]);
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#worker", "online").await;
    converse(&b, "after the second restart").await;
    // Let anything replayed late arrive before counting.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let shown = messages(&b).await;
    assert_no_duplicates(&shown);
    for said in [
        "before the restart",
        "after the restart",
        "after the second restart",
    ] {
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
    // Every moment a reply stops streaming, with the text it shows then: a finished-looking reply
    // must never show the text of a frame before its last (the idle state and the last pieces
    // can come in one batch). Frames come late here, as on a busy phone, so the pieces that
    // follow the first one arrive between two frames.
    b.js(
        "const frame = window.requestAnimationFrame.bind(window);
         window.requestAnimationFrame = f => setTimeout(() => frame(f), 250);
         window.finishedTexts = [];
         new MutationObserver(records => {
           for (const r of records) {
             if (r.oldValue?.split(' ').includes('streaming') && !r.target.classList.contains('streaming'))
               window.finishedTexts.push(r.target.textContent);
           }
         }).observe(document.querySelector('#messages'),
                    { subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true });",
        vec![],
    )
    .await;
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
    let finished = b.js("return window.finishedTexts", vec![]).await;
    let finished: Vec<&str> = finished
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        finished
            .last()
            .is_some_and(|t| t.contains(r#"allowed: {"command":"ls"}"#)),
        "the reply looked finished before it showed all its text: {finished:?}"
    );
    for text in &finished {
        assert!(
            !text.contains("allowed") || text.contains(r#"allowed: {"command":"ls"}"#),
            "a reply looked finished with part of its text: {text:?} (all: {finished:?})"
        );
    }
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
    // 300 answers to requests nobody made, sealed as another device of the account would: the
    // page shows none of them and the terminal ignores them, but each is an event the page
    // sees and deduplicates.
    let statuses = b
        .js(
            &with_seal_tools(
                "const batch = (from) => Promise.all(Array.from({ length: 150 }, (_, i) => \
                   sealed('control_response', { request_id: `nobody-${from + i}`, response: { behavior: 'allow' } }, \
                     't_answers', from + i + 1))); \
                 return [await post(await batch(0)), await post(await batch(150))];",
            ),
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
    // Sealed with the session's key, as another device of the account could.
    let status = b
        .js(
            &with_seal_tools(
                "return post([await sealed('user_message', \
                   { text: 'pretending to be the terminal', origin: 'terminal' }, 't_forger', 1)]);",
            ),
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

// ---------------------------------------------------------------------------------------------
// End-to-end encryption in the page (seal.js, docs/protocol.md §4.7)

/// `tether --remote` on its embedded relay and the browser on its link, with a session key in
/// the fragment (the printed one; a made-up one if the terminal printed none, so that what is
/// tested here does not depend on the terminal sealing): the page's `TetherSeal` is loaded and
/// the key kept. Returns the process, the relay's address and the session id.
async fn sealed_page(b: &Browser, t: &Tether) -> (Remote, String, String) {
    let remote = Remote::start(t, &["--listen", "127.0.0.1:0"]);
    let (base, session, _) = remote.parts();
    let link = if remote.url.contains("#k=") {
        remote.url.clone()
    } else {
        format!("{}#k={}", remote.url, "A".repeat(42) + "E")
    };
    b.goto(&link).await;
    b.wait_js(
        "the page without the key in its address",
        "return location.pathname === arguments[0] && location.hash === '' && !!window.TetherSeal",
        vec![json!(format!("/code/{session}"))],
    )
    .await;
    b.wait_js(
        "the key kept",
        "return window.TetherSeal.recall(arguments[0]).then(k => !!k)",
        vec![json!(session)],
    )
    .await;
    (remote, base, session)
}

/// In the page: `keys` and `g` of the session `arguments[0]` as kept in IndexedDB, `post(events)`
/// (the relay's status), and `sealed(type, payload, from, n, change)`: an event of this
/// session sealed as a client, `change(ctx)` first altering where it is sealed for.
const SEAL_TOOLS: &str = "const S = window.TetherSeal; const session = arguments[0]; \
    const kept = await S.recall(session); const keys = await S.deriveKeys(kept.key); const g = kept.g; \
    const post = (events) => fetch(`/v1/code/sessions/${session}/events`, { method: 'POST', \
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) }).then((r) => r.status); \
    const sealed = async (type, payload, from, n, change) => { const id = crypto.randomUUID(); \
      const ctx = { session, id, type, source: 'client', g }; if (change) change(ctx); \
      return { id, type, payload: await S.seal(keys, ctx, from, n, payload) }; };";

/// `SEAL_TOOLS` and then `body`, as one async script.
fn with_seal_tools(body: &str) -> String {
    format!("return (async () => {{ {SEAL_TOOLS} {body} }})()")
}

#[tokio::test]
async fn the_page_opens_the_known_answer_vector() {
    let Some(b) = launch("known_answer").await else {
        return;
    };
    let path = tether_e2e::repo_root().join("host/seal/tests/vector.json");
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("the vector is JSON");
    let t = Tether::new();
    let (_remote, _, _) = sealed_page(&b, &t).await;
    let out = b
        .js(
            "return (async () => { const v = arguments[0]; const S = window.TetherSeal; \
               const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join(''); \
               const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16)); \
               const f = S.parseFragment('#' + v.fragment); \
               const hkdf = await S.importKey(f.raw); \
               const raw = await S.testing.deriveExtractable(hkdf); \
               const keys = await S.deriveKeys(hkdf); \
               const ctx = { session: v.session_id, id: v.event_id, type: v.type, source: v.source, g: v.generation }; \
               const ev = { seq: 1, id: v.event_id, type: v.type, source: v.source, created_at: '2026-12-02T00:00:00Z', payload: v.envelope }; \
               const why = async (change, session = v.session_id, k = keys, g = v.generation) => { \
                 const e = JSON.parse(JSON.stringify(ev)); change(e); const o = await S.open(k, g, session, e); return o.ok ? 'opened' : o.why; }; \
               const flip = (e) => { const ct = S.b64url.decode(e.payload.ct); ct[5] ^= 1; e.payload.ct = S.b64url.encode(ct); }; \
               const a = await S.seal(keys, ctx, v.sender, v.counter, v.payload); \
               const b = await S.seal(keys, ctx, v.sender, v.counter, v.payload); \
               const other = await S.deriveKeys(await S.importKey(crypto.getRandomValues(new Uint8Array(32)))); \
               return { \
                 fragment: { key: S.b64url.encode(f.raw), g: f.g }, \
                 worker_key_hex: hex(await crypto.subtle.exportKey('raw', raw.worker)), \
                 client_key_hex: hex(await crypto.subtle.exportKey('raw', raw.client)), \
                 extractable: [hkdf.extractable, keys.worker.extractable, keys.client.extractable], \
                 aad: S.associatedData(v.session_id, v.event_id, v.type, v.source, v.generation), \
                 plaintext: new TextDecoder().decode(S.testing.plaintext(v.sender, v.counter, v.payload)), \
                 envelope: await S.testing.sealWithNonce(keys, ctx, v.sender, v.counter, v.payload, unhex(v.nonce_hex)), \
                 opened: await S.open(keys, v.generation, v.session_id, ev), \
                 refused: { \
                   flipped: await why(flip), \
                   session: await why(() => {}, 'session_00000000-0000-4000-8000-000000000000'), \
                   event: await why((e) => { e.id = '5a6f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b'; }), \
                   type: await why((e) => { e.type = 'control_response'; }), \
                   source: await why((e) => { e.source = 'worker'; }), \
                   relay: await why((e) => { e.source = 'relay'; }), \
                   nonce: await why((e) => { const n = S.b64url.decode(e.payload.nonce); n[0] ^= 1; e.payload.nonce = S.b64url.encode(n); }), \
                   claimed_generation: await why((e) => { e.payload.g = v.generation - 1; }, v.session_id, keys, v.generation - 1), \
                   newer: await why((e) => { e.payload.g = v.generation + 1; }), \
                   older: await why((e) => { e.payload.g = v.generation - 1; }), \
                   unsealed: await why((e) => { e.payload = v.payload; }), \
                   version: await why((e) => { e.payload.v = 2; }), \
                   short: await why((e) => { e.payload.ct = e.payload.ct.slice(0, 20); }), \
                   other_key: await why(() => {}, v.session_id, other), \
                 }, \
                 fresh_nonces: a.nonce !== b.nonce && a.ct !== b.ct, \
                 fresh_opens: (await S.open(keys, v.generation, v.session_id, { ...ev, payload: a })).ok, \
               }; })()",
            vec![vector.clone()],
        )
        .await;
    assert_eq!(out["fragment"]["key"], vector["key_b64url"], "{out}");
    assert_eq!(out["fragment"]["g"], vector["generation"], "{out}");
    assert_eq!(out["worker_key_hex"], vector["worker_key_hex"], "{out}");
    assert_eq!(out["client_key_hex"], vector["client_key_hex"], "{out}");
    assert_eq!(
        out["extractable"],
        json!([false, false, false]),
        "the page's keys can be read back"
    );
    assert_eq!(out["aad"], vector["aad"], "{out}");
    assert_eq!(out["plaintext"], vector["plaintext"], "{out}");
    assert_eq!(
        out["envelope"], vector["envelope"],
        "sealed with the vector's nonce"
    );
    assert_eq!(out["opened"]["ok"], true, "{out}");
    assert_eq!(out["opened"]["payload"], vector["payload"], "{out}");
    assert_eq!(out["opened"]["from"], vector["sender"], "{out}");
    assert_eq!(out["opened"]["n"], vector["counter"], "{out}");
    let refused = &out["refused"];
    for (case, why) in [
        ("flipped", "forged"),
        ("session", "forged"),
        ("event", "forged"),
        ("type", "forged"),
        ("source", "forged"),
        ("relay", "forged"),
        ("nonce", "forged"),
        ("claimed_generation", "forged"),
        ("newer", "newer"),
        ("older", "older"),
        ("unsealed", "unsealed"),
        ("version", "unsealed"),
        ("short", "unsealed"),
        ("other_key", "forged"),
    ] {
        assert_eq!(refused[case], why, "{case}: {out}");
    }
    assert_eq!(out["fresh_nonces"], true, "a nonce was reused: {out}");
    assert_eq!(out["fresh_opens"], true, "{out}");

    // The backend of plain-HTTP pages (the vendored noble files) gives the same bytes, and
    // each backend opens what the other sealed.
    let noble = b
        .js(
            "return (async () => { const v = arguments[0]; const S = window.TetherSeal; \
               const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''); \
               const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16)); \
               const f = S.parseFragment('#' + v.fragment); \
               const keys = await S.deriveKeys(await S.testing.nobleKey(f.raw)); \
               const web = await S.deriveKeys(await S.importKey(f.raw)); \
               const ctx = { session: v.session_id, id: v.event_id, type: v.type, source: v.source, g: v.generation }; \
               const ev = (payload) => ({ seq: 1, id: v.event_id, type: v.type, source: v.source, created_at: 'x', payload }); \
               const flipped = JSON.parse(JSON.stringify(v.envelope)); \
               const ct = S.b64url.decode(flipped.ct); ct[5] ^= 1; flipped.ct = S.b64url.encode(ct); \
               const fresh = await S.seal(keys, ctx, v.sender, v.counter, v.payload); \
               return { backend: keys.backend.name, \
                 worker_key_hex: hex(keys.worker), client_key_hex: hex(keys.client), \
                 envelope: await S.testing.sealWithNonce(keys, ctx, v.sender, v.counter, v.payload, unhex(v.nonce_hex)), \
                 opened: await S.open(keys, v.generation, v.session_id, ev(v.envelope)), \
                 flipped: (await S.open(keys, v.generation, v.session_id, ev(flipped))).why, \
                 webcrypto_opens_noble: (await S.open(web, v.generation, v.session_id, ev(fresh))).ok, \
                 noble_opens_webcrypto: (await S.open(keys, v.generation, v.session_id, \
                   ev(await S.seal(web, ctx, v.sender, v.counter, v.payload)))).ok, \
               }; })()",
            vec![vector.clone()],
        )
        .await;
    assert_eq!(noble["backend"], "noble", "{noble}");
    assert_eq!(noble["worker_key_hex"], vector["worker_key_hex"], "{noble}");
    assert_eq!(noble["client_key_hex"], vector["client_key_hex"], "{noble}");
    assert_eq!(noble["envelope"], vector["envelope"], "{noble}");
    assert_eq!(noble["opened"]["ok"], true, "{noble}");
    assert_eq!(noble["opened"]["payload"], vector["payload"], "{noble}");
    assert_eq!(noble["flipped"], "forged", "{noble}");
    assert_eq!(noble["webcrypto_opens_noble"], true, "{noble}");
    assert_eq!(noble["noble_opens_webcrypto"], true, "{noble}");

    // The fragment is read strictly: no key from anything but 43 canonical characters.
    let k = vector["key_b64url"].as_str().unwrap();
    let cut = &k[..42];
    let mut hostile = vec![
        format!("k={cut}"),
        format!("k={k}A"),
        format!("k={cut}+"),
        format!("k={cut}="),
        format!("k={cut}B"),
        format!("k={cut}/"),
        "k=".to_owned(),
        format!("k={k}&k={k}"),
        format!("k={k}&g="),
        format!("k={k}&g=-1"),
        format!("k={k}&g=1e3"),
        format!("k={k}&g=99999999999"),
        format!("k={k}&g=1&g=2"),
        format!("k={}", k.replace('A', "%41")),
    ];
    hostile.push(format!("k=%20{cut}"));
    let parsed = b
        .js(
            "return arguments[0].map((f) => window.TetherSeal.parseFragment('#' + f)) \
               .map((p) => p === null ? 'none' : p.error ? 'error' : 'key')",
            vec![json!(hostile)],
        )
        .await;
    for (fragment, got) in hostile.iter().zip(parsed.as_array().unwrap()) {
        assert_eq!(got, "error", "#{fragment}");
    }
    let fine = b
        .js(
            "const S = window.TetherSeal; return [S.parseFragment(''), S.parseFragment('#g=1'), \
               S.parseFragment('#x=1&' + arguments[0] + '&y'), S.parseFragment('#' + arguments[0] + '&g=7')] \
               .map((p) => p === null ? null : p.error || [S.b64url.encode(p.raw), p.g])",
            vec![json!(format!("k={k}"))],
        )
        .await;
    assert_eq!(fine, json!([null, null, [k, 0], [k, 7]]));
    b.close().await;
}

#[tokio::test]
async fn the_pages_ledger_judges_counters_as_the_terminal_does() {
    let Some(b) = launch("ledger").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, _, _) = sealed_page(&b, &t).await;
    // The same sequences as tether-seal's own ledger tests (host/seal/src/ledger.rs).
    let run = |steps: Value| {
        let b = &b;
        async move {
            b.js(
                "const l = new window.TetherSeal.Ledger(); \
                 return arguments[0].map(([sender, n]) => { \
                   if (sender === 'TRUNCATED') { l.truncated(); return 'truncated'; } \
                   const v = l.observe(sender, n); return v.order === 'gap' ? 'gap ' + v.missing : v.order; })",
                vec![steps],
            )
            .await
        }
    };
    let orders = run(json!([
        ["a", 1],
        ["a", 2],
        ["a", 2],
        ["a", 1],
        ["a", 6],
        ["a", 4],
        ["a", 4],
        ["a", 3],
        ["a", 5],
        ["a", 5],
        ["a", 7],
        ["b", 1],
        ["b", 3],
        ["a", 8]
    ]))
    .await;
    assert_eq!(
        orders,
        json!([
            "fresh", "fresh", "repeat", "repeat", "gap 3", "late", "repeat", "late", "late",
            "repeat", "fresh", "fresh", "gap 1", "fresh"
        ])
    );
    // A sender's first event must be 1, unless the stream said history was trimmed.
    let orders = run(json!([
        ["late-joiner", 4],
        ["late-joiner", 1],
        ["known", 1],
        ["TRUNCATED", 0],
        ["known", 40],
        ["known", 42],
        ["new", 9],
        ["new", 11]
    ]))
    .await;
    assert_eq!(
        orders,
        json!([
            "gap 3",
            "late",
            "fresh",
            "truncated",
            "fresh",
            "gap 1",
            "fresh",
            "gap 1"
        ])
    );
    // Two events swapped: a gap, then a late one.
    let orders = run(json!([["w", 1], ["w", 3], ["w", 2]])).await;
    assert_eq!(orders, json!(["fresh", "gap 1", "late"]));
    // Bounded: the oldest of 1,024 missing ranges is forgotten (read as a repeat), the newest
    // kept; the oldest of 4,096 senders is forgotten (it starts over).
    let bounds = b
        .js(
            "const l = new window.TetherSeal.Ledger(); \
             for (let n = 0; n < 1034; n++) l.observe('g', 2 * n + 1); \
             const forgotten = l.observe('g', 2).order; const kept = l.observe('g', 2 * 1033).order; \
             for (let s = 0; s < 4106; s++) l.observe('s' + s, 1); \
             return [forgotten, kept, l.senders.size, l.observe('s0', 1).order, l.observe('s4105', 1).order]",
            vec![],
        )
        .await;
    assert_eq!(bounds, json!(["repeat", "late", 4096, "fresh", "repeat"]));
    b.close().await;
}

#[tokio::test]
async fn events_that_do_not_open_are_never_shown_and_gaps_are_said() {
    let Some(b) = launch("unverified").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, _, session) = sealed_page(&b, &t).await;
    wait_ready(&b).await;
    b.settle().await;
    let before = b.count("#messages .msg.notice.unverified").await;
    let statuses = b
        .js(
            &with_seal_tools(
                "const msg = (text) => ({ text, origin: 'client' }); \
                 const flipped = await sealed('user_message', msg('marker-flipped'), 't_x', 1); \
                 const ct = S.b64url.decode(flipped.payload.ct); ct[3] ^= 4; flipped.payload.ct = S.b64url.encode(ct); \
                 const events = [ \
                   { id: crypto.randomUUID(), type: 'user_message', payload: msg('marker-plain') }, \
                   flipped, \
                   await sealed('user_message', msg('marker-moved'), 't_x', 1, (c) => { c.session = 'session_00000000-0000-4000-8000-000000000000'; }), \
                   await sealed('user_message', msg('marker-retyped'), 't_x', 1, (c) => { c.type = 'control_response'; }), \
                   await sealed('user_message', 'not an object', 't_x', 1), \
                   await sealed('user_message', msg('first of another device'), 't_other', 1), \
                   await sealed('user_message', msg('after a gap'), 't_other', 3), \
                   await sealed('user_message', msg('held back'), 't_other', 2), \
                   await sealed('user_message', msg('marker-replayed'), 't_other', 2), \
                 ]; \
                 return post(events);",
            ),
            vec![json!(session)],
        )
        .await;
    assert_eq!(statuses, json!(200));
    wait_user(&b, "held back", "client").await;
    b.settle().await;
    let shown = messages(&b).await;
    let dump = serde_json::to_string_pretty(&shown).unwrap();
    let page = b
        .js("return document.body.textContent", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for marker in [
        "marker-plain",
        "marker-flipped",
        "marker-moved",
        "marker-retyped",
        "marker-replayed",
        "not an object",
    ] {
        assert!(!page.contains(marker), "{marker} is on the page:\n{dump}");
    }
    let unverified = b.count("#messages .msg.notice.unverified").await - before;
    assert_eq!(unverified, 5, "{dump}");
    assert!(
        shown
            .iter()
            .filter(|m| m["class"].as_str().unwrap_or("").contains("unverified"))
            .all(|m| m["text"] == "A message could not be verified"),
        "{dump}"
    );
    // In stream order: the first, the warning about the gap and the message after it, the
    // warning about the late one and the message; the replay dropped without a word.
    // (The terminal's replies to them aside.)
    let order: Vec<&str> = shown
        .iter()
        .filter(|m| !m["class"].as_str().unwrap_or("").contains("assistant"))
        .filter_map(|m| m["text"].as_str())
        .filter_map(|t| {
            [
                "first of another device",
                "Some messages from another device are missing: the relay dropped or reordered them.",
                "after a gap",
                "A message from another device arrived out of order",
                "held back",
            ]
            .into_iter()
            .find(|s| t.contains(s))
        })
        .collect();
    assert_eq!(
        order,
        [
            "first of another device",
            "Some messages from another device are missing: the relay dropped or reordered them.",
            "after a gap",
            "A message from another device arrived out of order",
            "held back",
        ],
        "{dump}"
    );

    // An envelope of a newer generation: this device's key was replaced.
    let status = b
        .js(
            &with_seal_tools(
                "return post([await sealed('user_message', { text: 'x', origin: 'client' }, 't_x', 1, (c) => { c.g = g + 1; })]);",
            ),
            vec![json!(session)],
        )
        .await;
    assert_eq!(status, json!(200));
    b.wait_js(
        "the banner saying the key changed",
        "const e = document.querySelector('#banner'); return !!e && !e.hidden && e.textContent === arguments[0]",
        vec![json!("The terminal changed this session's key (/session revoke). Scan the new code in the terminal to keep reading here.")],
    )
    .await;
    assert_eq!(
        b.js(
            "return [document.querySelector('#input').disabled, document.querySelector('#send').disabled]",
            vec![]
        )
        .await,
        json!([true, true]),
        "the composer still sends"
    );
    b.close().await;
}

#[tokio::test]
async fn a_scanned_link_survives_the_login_and_a_reload_and_a_browser_without_it_reads_nothing() {
    let h = Hosted::with(Tether::new().echo_delay_ms(20), "127.0.0.1:0", &[]);
    let (remote, session) = h.remote(&[]);
    let relay = h.relay.url.clone();
    assert!(
        remote.url.contains("#k="),
        "no key in the link {}",
        remote.url
    );
    let page = format!("/code/{session}");
    {
        let Some(b) = launch("scan_login_reload").await else {
            return;
        };
        // Not logged in: the link goes to the login form, and its fragment with it, across the
        // post and the redirect back.
        b.goto(&remote.url).await;
        b.wait_for("form[action^='/login'] #username").await;
        assert!(
            b.url().await.contains("#k="),
            "the key was lost on the way to the form"
        );
        b.type_into("#username", "alice").await;
        b.type_into("#password", PASSWORD).await;
        b.click("button[type=submit]").await;
        b.wait_js(
            "the session's page, its key out of the address bar",
            "return location.pathname === arguments[0] && location.hash === ''",
            vec![json!(page)],
        )
        .await;
        wait_ready(&b).await;
        converse(&b, "hello through the login").await;

        // Kept as a CryptoKey that cannot be read back, for this session only.
        let kept = b
            .js(
                "return (async () => { const k = await window.TetherSeal.recall(arguments[0]); \
                   const exported = await crypto.subtle.exportKey('raw', k.key).then(() => 'exported', () => 'refused'); \
                   return { g: k.g, extractable: k.key.extractable, algorithm: k.key.algorithm.name, exported, \
                     other: await window.TetherSeal.recall('session_00000000-0000-4000-8000-000000000000') }; })()",
                vec![json!(session)],
            )
            .await;
        assert_eq!(
            kept,
            json!({ "g": 0, "extractable": false, "algorithm": "HKDF", "exported": "refused", "other": null })
        );

        // A reload (the address has no fragment now) still reads the conversation, and the
        // page still talks.
        b.reload().await;
        wait_ready(&b).await;
        wait_reply(&b, "hello through the login").await;
        converse(&b, "hello after the reload").await;
        let shown = messages(&b).await;
        assert_no_duplicates(&shown);
        assert_eq!(count(&shown, "user", "hello through the login"), 1);
        assert!(
            !shown.iter().any(|m| {
                let class = m["class"].as_str().unwrap_or("");
                class.contains("unverified") || class.contains("integrity")
            }),
            "{shown:?}"
        );
        b.close().await;
    }

    // Another browser of the same account, opened from /code without the fragment: nothing of
    // the conversation, and no way to send.
    let Some(b) = launch("scan_second_browser").await else {
        return;
    };
    b.use_cookie(&relay, &h.cookie).await;
    b.goto(&format!("{relay}/code")).await;
    b.click(&format!("a[href='{page}']")).await;
    wait_scan_message(&b).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = b
        .js("return document.body.textContent", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!text.contains("hello through the login"), "{text}");
    assert_eq!(b.count("#messages .msg").await, 0);
    b.close().await;
}

#[tokio::test]
async fn after_the_key_is_revoked_the_old_page_can_no_longer_read_or_send() {
    let Some(b) = launch("revoked_key").await else {
        return;
    };
    let h = Hosted::with(Tether::new().echo_delay_ms(20), "127.0.0.1:0", &[]);
    let (mut remote, session) = h.remote(&[]);
    b.use_cookie(&h.relay.url, &h.cookie).await;
    b.goto(&remote.url).await;
    wait_ready(&b).await;
    converse(&b, "before the revoke").await;

    // A link with a key someone else made, of the generation this page keeps: not taken, and
    // the page says so; the conversation still reads with the kept key.
    let forged = |g: u32| {
        let key = tether_seal::SessionKey::generate(g).unwrap();
        format!("{}/code/{session}#{}", h.relay.url, key.fragment())
    };
    b.goto(&forged(0)).await;
    b.wait_js(
        "the note that the link's key was not used",
        "return [...document.querySelectorAll('#messages .notice')].some(n => n.textContent.includes('kept its key'))",
        vec![],
    )
    .await;
    wait_ready(&b).await;
    wait_reply(&b, "before the revoke").await;

    remote.proc.line("/session revoke");
    let page = format!("{}/code/{session}#k=", h.relay.url);
    let link = remote
        .proc
        .wait_until("the new link", Duration::from_secs(20), |out, _| {
            let at = out.rfind(&page)?;
            let link: String = out[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            link.ends_with("&g=1").then_some(link)
        });
    // The terminal's next event is of the new generation: this page's key is out of date.
    b.wait_js(
        "the banner saying the key changed",
        "const e = document.querySelector('#banner'); return !!e && !e.hidden && e.dataset.kind === 'rekeyed'",
        vec![],
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('#input').disabled", vec![])
            .await,
        json!(true)
    );
    remote.proc.line("typed after the revoke");
    remote
        .proc
        .expect_stdout("You said: typed after the revoke");
    // A message sealed with the old key, as the old page would have sent it: not run.
    let status = b
        .js(
            &with_seal_tools(
                "return post([await sealed('user_message', { text: 'sent with the old key', origin: 'client' }, 't_old', 1)]);",
            ),
            vec![json!(session)],
        )
        .await;
    assert_eq!(status, json!(200));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let text = b
        .js("return document.body.textContent", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!text.contains("typed after the revoke"), "{text}");
    assert!(
        !remote.proc.stdout().contains("sent with the old key\n"),
        "the terminal ran a message sealed with the revoked key:\n{}",
        remote.proc.stdout()
    );

    // A newer generation from a link someone else made: the page asks, and a "no" keeps its key.
    b.goto(&forged(7)).await;
    let asked = b.answer_dialog(false).await;
    assert!(asked.contains("anyone can make such a link"), "{asked}");
    b.wait_js(
        "the note that the link's key was not used",
        "return [...document.querySelectorAll('#messages .notice')].some(n => n.textContent.includes('kept its key'))",
        vec![],
    )
    .await;

    // The new code scanned on the same page: asked, and yes. The new generation is kept and
    // read, what came before is one note.
    b.goto(&link).await;
    b.answer_dialog(true).await;
    b.wait_js(
        "the page without the new key in its address",
        "return location.hash === '' && document.querySelector('#banner').hidden",
        vec![],
    )
    .await;
    wait_ready(&b).await;
    wait_user(&b, "typed after the revoke", "terminal").await;
    let note = b
        .wait_js(
            "the note about the earlier events",
            "const e = document.querySelector('#messages .msg.notice.older'); return e && e.textContent",
            vec![],
        )
        .await;
    assert!(
        note.as_str()
            .unwrap_or_default()
            .ends_with("earlier events were sealed with a previous key and cannot be shown here."),
        "{note}"
    );
    assert_eq!(b.count("#messages .msg.notice.older").await, 1);
    let shown = messages(&b).await;
    assert_eq!(count(&shown, "user", "before the revoke"), 0, "{shown:?}");
    let kept = b
        .js(
            "return window.TetherSeal.recall(arguments[0]).then((k) => k.g)",
            vec![json!(session)],
        )
        .await;
    assert_eq!(kept, json!(1));
    converse(&b, "with the new key").await;
    remote.proc.expect_stdout("› (remote) with the new key\n");
    b.close().await;
}

#[tokio::test]
async fn what_the_page_sends_is_sealed_once_and_resent_as_is() {
    let Some(b) = launch("sealed_sending").await else {
        return;
    };
    let t = Tether::new().echo_delay_ms(5);
    let (_remote, _, session) = paired(&b, &t).await;
    // The first post of a message fails (503): the retry sends the very same ciphertext, and
    // no post carries the words.
    b.js(
        "window.__bodies = []; const real = window.fetch; let failed = false; \
         window.fetch = function (url, init) { \
           if (init && init.method === 'POST' && String(url).endsWith('/events')) { \
             window.__bodies.push(init.body); \
             if (!failed) { failed = true; return Promise.resolve(new Response('{}', { status: 503, headers: { 'retry-after': '1' } })); } \
           } \
           return real.apply(this, arguments); }; return true",
        vec![],
    )
    .await;
    converse(&b, "sent twice, sealed once").await;
    let bodies = b.js("return window.__bodies", vec![]).await;
    let bodies: Vec<&str> = bodies
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0], bodies[1], "the retry was sealed again");
    let sent: Value = serde_json::from_str(bodies[0]).unwrap();
    let payload = &sent["events"][0]["payload"];
    assert!(
        payload["v"] == 1 && payload["ct"].is_string() && payload["nonce"].is_string(),
        "{sent}"
    );
    assert!(!bodies[0].contains("sent twice"), "{sent}");

    // A message left pending by the page before a reload that the relay already has is not
    // sealed again (it comes back with the replay): the page's next message is its sender's
    // first, so no device sees a gap.
    let id = b
        .js(
            "return [...document.querySelectorAll('#messages .msg.user')].find((m) => m.textContent.includes('sent twice')).dataset.eventId",
            vec![],
        )
        .await;
    b.js(
        "sessionStorage.setItem('tether.pending.' + arguments[0], JSON.stringify([{ id: arguments[1], text: 'sent twice, sealed once' }])); return true",
        vec![json!(session), id],
    )
    .await;
    b.reload().await;
    wait_ready(&b).await;
    wait_reply(&b, "sent twice, sealed once").await;
    converse(&b, "the first of this load").await;
    let shown = messages(&b).await;
    assert_eq!(
        count(&shown, "user", "sent twice, sealed once"),
        1,
        "{shown:?}"
    );
    assert!(
        !shown
            .iter()
            .any(|m| m["class"].as_str().unwrap_or("").contains("integrity")),
        "{}",
        serde_json::to_string_pretty(&shown).unwrap()
    );
    b.close().await;
}

#[tokio::test]
async fn on_plain_http_from_another_machine_the_page_decrypts_with_the_vendored_library() {
    let t = Tether::new();
    let mut remote = Remote::start(&t, &["--listen", "0.0.0.0:0"]);
    let (base, session, _) = remote.parts();
    if base.starts_with("http://127.") || base.starts_with("http://[::1]") {
        eprintln!("note: skipping: this machine has no address but loopback ({base})");
        return;
    }
    let Some(b) = launch("insecure_context").await else {
        return;
    };
    // WebCrypto exists only in secure contexts; plain HTTP to a LAN address is not one, and
    // there the page opens and seals with the noble files the relay serves.
    b.goto(&remote.url).await;
    wait_ready(&b).await;
    let context = b
        .js(
            "return { secure: window.isSecureContext, subtle: !!(window.crypto && crypto.subtle), \
               path: location.pathname, hash: location.hash }",
            vec![],
        )
        .await;
    assert_eq!(
        context,
        json!({ "secure": false, "subtle": false, "path": format!("/code/{session}"), "hash": "" })
    );
    let reply = converse(&b, "over plain http").await;
    assert!(reply.ends_with("You said: over plain http"), "{reply}");
    remote.proc.expect_stdout("› (remote) over plain http\n");
    // The terminal's words open too, and a reload reads the history with the kept key.
    remote.proc.line("typed in the terminal");
    wait_user(&b, "typed in the terminal", "terminal").await;
    b.reload().await;
    wait_ready(&b).await;
    wait_reply(&b, "typed in the terminal").await;
    wait_reply(&b, "over plain http").await;
    assert_eq!(
        b.count("#messages .notice.unverified").await,
        0,
        "{}",
        b.dump().await
    );
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// Notifications: the service worker shows a pushed call, opened with the session key

/// Deliver `data` (the relay's push message as the browser has it once decrypted) to the page's
/// service worker, as a push service would (DevTools' `ServiceWorker.deliverPushMessage`), until
/// `until` (run on the notifications shown, [`SHOWN`]) answers something truthy, which it
/// returns. DevTools hands a message to the worker once and does not say whether it arrived: on
/// a loaded machine one now and then is lost, so it is sent again. Each message replaces or
/// closes by tag, so a second copy changes nothing.
async fn push_until(b: &Browser, origin: &str, data: &str, what: &str, until: &str) -> Value {
    // The first registration of a fresh profile.
    let params = json!({"origin": origin, "registrationId": "0", "data": data});
    let check = format!("{SHOWN}.then(a => ({until})(a))");
    for _ in 0..5 {
        b.cdp("ServiceWorker.deliverPushMessage", params.clone())
            .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(4);
        while std::time::Instant::now() < deadline {
            let got = b.js(&check, vec![]).await;
            let falsy = match &got {
                Value::Null | Value::Bool(false) => true,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::String(s) => s.is_empty(),
                _ => false,
            };
            if !falsy {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("the service worker never showed {what}");
}

/// The notifications the service worker shows now.
const SHOWN: &str = "return navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({ \
     title: n.title, body: n.body, tag: n.tag, actions: (n.actions || []).map(a => a.action), data: n.data })))";

#[tokio::test]
async fn a_pushed_call_shows_the_sealed_text_and_its_answer_reaches_the_agent() {
    let Some(b) = launch("push_notification").await else {
        return;
    };
    let t = Tether::new();
    let agent = env!("CARGO_BIN_EXE_tether-fixture-agent");
    let (remote, base, session) =
        paired_with(&b, &t, &["--engine", "exec", "--exec-command", agent]).await;
    // The page offers notifications (a secure context: loopback).
    b.wait_js(
        "the notify button",
        "const n = document.querySelector('#notify'); return !!n && !n.hidden && n.dataset.state",
        vec![],
    )
    .await;
    b.cdp("ServiceWorker.enable", json!({})).await;
    b.cdp(
        "Browser.grantPermissions",
        json!({"origin": base, "permissions": ["notifications"]}),
    )
    .await;
    b.js(
        "return navigator.serviceWorker.register('/sw.js').then(() => true)",
        vec![],
    )
    .await;
    // Active, and controlling the page (its `activate` claims it): ready for pushes.
    b.wait_js(
        "the service worker in charge",
        "return Notification.permission === 'granted' && !!navigator.serviceWorker.controller",
        vec![],
    )
    .await;
    b.say("tool: Bash ls").await;
    b.wait_for("#approvals .approval[data-request-id] button.allow")
        .await;
    let request = b
        .js(
            "return document.querySelector('#approvals .approval').dataset.requestId",
            vec![],
        )
        .await;
    let request = request.as_str().unwrap().to_owned();

    // The worker's text, sealed as the worker seals it: opened by the service worker only.
    let key = tether_e2e::seal::key_of(&remote.url);
    let mut sealer = tether_seal::Sealer::new(
        &key,
        &session,
        tether_seal::Direction::Worker,
        tether_seal::sender_id("n_"),
    );
    let sealed = sealer
        .seal(
            &request,
            "notification",
            &json!({"title": "Allow Bash?", "body": "ls"}),
        )
        .unwrap();
    let call = json!({"v": 1, "session": session, "title": "my-project", "kind": "permission", "tag": request, "sealed": sealed});
    let shown = push_until(
        &b,
        &base,
        &call.to_string(),
        "the call",
        "a => a.length && a",
    )
    .await;
    assert_eq!(shown.as_array().unwrap().len(), 1, "{shown}");
    let n = &shown[0];
    assert_eq!(n["title"], "Allow Bash?", "{n}");
    assert_eq!(n["body"], "ls", "{n}");
    assert_eq!(n["tag"], format!("{session}:{request}"), "{n}");
    assert_eq!(n["actions"], json!(["allow", "deny"]), "{n}");

    // A text that does not open (sealed for another request id) shows only the generic line,
    // and no buttons: an answer could not be sealed for what cannot be read.
    let forged = json!({"v": 1, "session": session, "title": "my-project", "kind": "question", "tag": "elsewhere", "sealed": sealed});
    let shown = push_until(
        &b,
        &base,
        &forged.to_string(),
        "the question",
        "a => a.length === 2 && a",
    )
    .await;
    let generic = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["data"]["tag"] == "elsewhere")
        .expect("the question");
    assert_eq!(
        generic["body"], "tether needs you in my-project",
        "{generic}"
    );
    assert_eq!(generic["actions"], json!([]), "{generic}");

    // Allow, as the notification's button does it (the service worker's own function; a
    // notification cannot be clicked in a headless browser): the agent goes on.
    b.js(
        "return window.TetherNotify.answer(arguments[0], arguments[1], 'allow').then(() => true)",
        vec![json!(session), json!(request)],
    )
    .await;
    b.wait_gone("#approvals .approval").await;
    b.wait_js(
        "the agent's reply after the approval",
        FINISHED_REPLY,
        vec![json!("allowed:")],
    )
    .await;

    // Answered: the worker withdraws the call, and the notification goes.
    let close = json!({"v": 1, "session": session, "title": "my-project", "kind": "permission", "tag": request, "close": true});
    push_until(
        &b,
        &base,
        &close.to_string(),
        "the call withdrawn",
        "a => a.length === 1 && a[0].data.tag === 'elsewhere'",
    )
    .await;
    // Something that is not the relay's message still shows (every push must), and says so.
    let shown = push_until(
        &b,
        &base,
        "<b>not json",
        "the unreadable one",
        "a => a.length === 2 && a",
    )
    .await;
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["body"] == "A notification could not be read."),
        "{shown}"
    );
    drop(remote);
    b.close().await;
}

#[tokio::test]
async fn the_page_tells_the_relay_while_it_shows_the_session_and_when_it_stops() {
    let Some(b) = launch("push_looking").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, _base, session) = paired_with(&b, &t, &[]).await;
    // What the page says from now on, and what the relay answers.
    b.js(
        "window.__looks = []; const fetched = window.fetch; \
         window.fetch = (url, init) => { const p = fetched(url, init); \
           if (String(url).includes('/v1/push/looking/')) p.then((r) => window.__looks.push({ url: String(url), body: JSON.parse(init.body), status: r.status })); \
           return p; }; \
         window.dispatchEvent(new Event('focus')); return true",
        vec![],
    )
    .await;
    let said = b
        .wait_js(
            "the page saying it is looking",
            "return window.__looks.length >= 1 && window.__looks",
            vec![],
        )
        .await;
    let first = &said[0];
    assert_eq!(first["status"], 204, "{said}");
    assert_eq!(first["body"]["visible"], true, "{said}");
    assert!(
        first["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/push/looking/{session}")),
        "{said}"
    );
    let device = first["body"]["device"].as_str().unwrap().to_owned();
    assert!(device.starts_with("b_"), "{said}");
    // Leaving: taken back, under the same device id.
    b.js(
        "window.dispatchEvent(new Event('pagehide')); return true",
        vec![],
    )
    .await;
    let said = b
        .wait_js(
            "the page taking it back",
            "return window.__looks.length >= 2 && window.__looks",
            vec![],
        )
        .await;
    assert_eq!(said[1]["status"], 204, "{said}");
    assert_eq!(said[1]["body"], json!({"device": device, "visible": false}));
    b.close().await;
}

/// This browser's push subscription, as `PushManager` would give it: Chromium's own push
/// service (FCM) cannot be reached here, so the subscription is made in the page with a real
/// P-256 key pair and an endpoint on FCM's host, which the relay stores without calling it. Run
/// before each document's scripts, and kept in `sessionStorage` across reloads as a browser
/// keeps its subscription.
const FAKE_PUSH_SUBSCRIPTION: &str = "(() => { \
    const saved = () => { try { return JSON.parse(sessionStorage.getItem('e2e.sub')); } catch (_) { return null; } }; \
    const wrap = (j) => j && { endpoint: j.endpoint, toJSON: () => j, unsubscribe: async () => { sessionStorage.removeItem('e2e.sub'); return true; } }; \
    PushManager.prototype.subscribe = async () => { \
      const kp = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']); \
      const p256dh = TetherSeal.b64url.encode(new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey))); \
      const auth = TetherSeal.b64url.encode(crypto.getRandomValues(new Uint8Array(16))); \
      const j = { endpoint: 'https://fcm.googleapis.com/fcm/send/e2e-' + Date.now(), keys: { p256dh, auth } }; \
      sessionStorage.setItem('e2e.sub', JSON.stringify(j)); \
      return wrap(j); }; \
    PushManager.prototype.getSubscription = async () => wrap(saved()); \
  })()";

#[tokio::test]
async fn the_bell_turns_notifications_on_and_its_panel_chooses_what_this_device_is_told() {
    let Some(b) = launch("push_settings").await else {
        return;
    };
    let t = Tether::new();
    let (_remote, base, _session) = paired_with(&b, &t, &[]).await;
    b.wait_js(
        "the notify button",
        "const n = document.querySelector('#notify'); return !!n && !n.hidden && n.dataset.state",
        vec![],
    )
    .await;
    b.cdp(
        "Browser.grantPermissions",
        json!({"origin": base, "permissions": ["notifications"]}),
    )
    .await;
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": FAKE_PUSH_SUBSCRIPTION}),
    )
    .await;
    b.reload().await;
    b.wait_attr("#notify", "data-state", "off").await;
    let listed = "return fetch('/v1/push/subscriptions', { credentials: 'same-origin' }).then((r) => r.json()).then((l) => l.devices)";

    b.click("#notify").await;
    b.wait_attr("#notify", "data-state", "on").await;
    let devices = b.js(listed, vec![]).await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(
        devices[0]["kinds"],
        json!(["permission", "question", "done", "offline"])
    );
    assert_eq!(devices[0]["service"], "fcm.googleapis.com");

    // On, the bell opens the panel; a box unchecked is stored at once.
    b.click("#notify").await;
    b.wait_js(
        "the panel",
        "return !document.querySelector('#notify-panel').hidden",
        vec![],
    )
    .await;
    b.screenshot("push_settings_panel").await;
    b.click("#notify-kinds input[value=done]").await;
    b.wait_js(
        "done no longer asked for",
        &format!(
            "{listed}.then((d) => d.length === 1 && !d[0].kinds.includes('done') && d[0].kinds)"
        ),
        vec![],
    )
    .await;
    // The last one cannot go: turning off is its own button.
    for kind in ["permission", "question"] {
        b.click(&format!("#notify-kinds input[value={kind}]")).await;
    }
    b.wait_js(
        "only offline left",
        &format!("{listed}.then((d) => d[0].kinds.length === 1 && d[0].kinds[0] === 'offline')"),
        vec![],
    )
    .await;
    b.click("#notify-kinds input[value=offline]").await;
    b.wait_js(
        "the last box kept",
        "return document.querySelector('#notify-kinds input[value=offline]').checked",
        vec![],
    )
    .await;
    let devices = b.js(listed, vec![]).await;
    assert_eq!(devices[0]["kinds"], json!(["offline"]), "{devices}");

    // After a reload the panel shows what the relay keeps.
    b.reload().await;
    b.wait_attr("#notify", "data-state", "on").await;
    let boxes = b
        .js(
            "return [...document.querySelectorAll('#notify-kinds input')].map((i) => i.checked)",
            vec![],
        )
        .await;
    assert_eq!(boxes, json!([false, false, false, true]));

    b.click("#notify").await;
    b.click("#notify-off").await;
    b.wait_attr("#notify", "data-state", "off").await;
    let devices = b.js(listed, vec![]).await;
    assert_eq!(devices, json!([]));
    b.close().await;
}
