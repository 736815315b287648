//! `tether --remote` end to end: the real binary publishing its conversation on a relay (its own
//! embedded one, or a hosted `tether relay serve`), driven by a client that speaks docs/protocol.md
//! over plain HTTP (SSE to read, POST to write), as a browser would. Every wait has a deadline
//! and every process is killed when its test ends, passed or not.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_e2e::Tether;
use tether_e2e::http::{
    add_relay_user_on, browser_login, cookie_from, header, publish, request as http,
};
use tether_e2e::process::{
    Hosted, PASSWORD, Relay, Remote, WAIT, cli_login, cli_login_at, free_port, reply_to, url_parts,
};
use tether_e2e::seal::{Opener, Phone, key_of};
use tether_e2e::sse::{SseJson, read_head};
use tether_relay::test_support::{PushService, TestSubscription};
use tether_seal::SessionKey;

/// host/bridge/src/worker/verdict.rs `TAKEN_OVER`: why a worker stops when another registered.
const TAKEN_OVER: &str = "Another terminal took over this session; this one stopped publishing.";

fn not_over_bridge(word: &str) -> String {
    format!("/{word} isn't available over Remote Control.")
}

fn not_in_remote_mode(word: &str) -> String {
    format!("/{word} isn't available in remote mode.")
}

/// A random (version 4) UUID, for event ids.
fn uuid() -> String {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------------
// HTTP

// ---------------------------------------------------------------------------------------------
// A client of a session: SSE to read, POST to write

#[derive(Default)]
struct Received {
    events: Vec<Value>,
    ended: Option<String>,
}

/// `GET …/events/stream`, read by a thread into a list of events.
struct Stream {
    shared: Arc<(Mutex<Received>, Condvar)>,
    socket: TcpStream,
}

impl Stream {
    /// `path` read with `cookie`, each event opened by `opener` as a phone would.
    fn open(host: &str, path: &str, cookie: &str, opener: Opener) -> Stream {
        let mut socket = TcpStream::connect(host).unwrap();
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let shared = Arc::new((Mutex::new(Received::default()), Condvar::new()));
        let reader = socket.try_clone().unwrap();
        {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let why = read_sse(reader, &shared, opener)
                    .err()
                    .map_or_else(|| "the stream ended".to_owned(), |e| e.to_string());
                let (lock, changed) = &*shared;
                lock.lock().unwrap_or_else(|e| e.into_inner()).ended = Some(why);
                changed.notify_all();
            });
        }
        Stream { shared, socket }
    }

    fn events(&self) -> Vec<Value> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .clone()
    }

    /// Waits (at most `timeout`) until `check` finds what it looks for in the events so far.
    #[track_caller]
    fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[Value]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.shared;
        let mut r = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(found) = check(&r.events) {
                return found;
            }
            let now = Instant::now();
            if r.ended.is_some() || now >= deadline {
                panic!(
                    "{} waiting for {what}; events:\n{}",
                    r.ended.as_deref().unwrap_or("timed out"),
                    show(&r.events)
                );
            }
            r = changed
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for the reply to `said`, returns it (the `assistant_message`).
    #[track_caller]
    fn wait_reply(&self, said: &str) -> Value {
        self.wait_for(&format!("the reply to {said:?}"), WAIT, |events| {
            reply_message(events, said).cloned()
        })
    }

    /// Waits until the stream ends (the relay went away).
    #[track_caller]
    fn wait_end(&self) {
        let deadline = Instant::now() + WAIT;
        let (lock, changed) = &*self.shared;
        let mut r = lock.lock().unwrap_or_else(|e| e.into_inner());
        while r.ended.is_none() {
            let now = Instant::now();
            assert!(now < deadline, "the stream did not end");
            r = changed
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// Reads an HTTP response carrying Server-Sent Events (chunked or not) into `shared`.
fn read_sse(
    socket: TcpStream,
    shared: &Arc<(Mutex<Received>, Condvar)>,
    mut opener: Opener,
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let mut r = BufReader::new(socket);
    let chunked = read_head(&mut r)?;
    let mut line = String::new();
    let mut parser = SseJson::default();
    let mut deliver = |bytes: &[u8]| {
        let new: Vec<Value> = parser
            .feed(bytes)
            .into_iter()
            .filter_map(|e| opener.open(e))
            .collect();
        if !new.is_empty() {
            let (lock, changed) = &**shared;
            lock.lock()
                .unwrap_or_else(|e| e.into_inner())
                .events
                .extend(new);
            changed.notify_all();
        }
    };
    if chunked {
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16)
                .map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
            if size == 0 {
                return Ok(());
            }
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk)?;
            deliver(&chunk[..size]);
        }
    } else {
        let mut buf = [0u8; 8192];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            deliver(&buf[..n]);
        }
    }
}

/// Events, one a line, for failure messages.
fn show(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{:>4} {:<18} {:<7} {}",
                e["seq"],
                e["type"].as_str().unwrap_or("?"),
                e["source"].as_str().unwrap_or("?"),
                e["payload"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kind(e: &Value) -> &str {
    e["type"].as_str().unwrap_or("")
}

fn text(e: &Value) -> &str {
    e["payload"]["text"].as_str().unwrap_or("")
}

fn of_kind<'a>(events: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events.iter().filter(move |e| kind(e) == k)
}

/// The `assistant_message` answering `said` (the echo engine repeats it).
fn reply_message<'a>(events: &'a [Value], said: &str) -> Option<&'a Value> {
    let suffix = format!("You said: {said}");
    of_kind(events, "assistant_message").find(|e| text(e).ends_with(&suffix))
}

fn count_replies(events: &[Value], said: &str) -> usize {
    let suffix = format!("You said: {said}");
    of_kind(events, "assistant_message")
        .filter(|e| text(e).ends_with(&suffix))
        .count()
}

fn count_user_messages(events: &[Value], said: &str) -> usize {
    of_kind(events, "user_message")
        .filter(|e| text(e) == said)
        .count()
}

/// The concatenated `assistant_delta` texts of one message.
fn deltas_of(events: &[Value], message_id: &str) -> (usize, String) {
    let deltas: Vec<&Value> = of_kind(events, "assistant_delta")
        .filter(|e| e["payload"]["message_id"] == message_id)
        .collect();
    (deltas.len(), deltas.iter().map(|e| text(e)).collect())
}

/// A browser (or phone) on one session, holding its key as a scanned page does.
struct Client {
    host: String,
    origin: String,
    cookie: String,
    session: String,
    key: SessionKey,
    phone: Phone,
}

impl Client {
    fn new(host: String, origin: String, cookie: String, session: String, url: &str) -> Client {
        let key = key_of(url);
        Client {
            phone: Phone::new(&key, &session),
            host,
            origin,
            cookie,
            session,
            key,
        }
    }

    /// `POST …/events`, each event sealed as this device; returns the answer.
    #[track_caller]
    fn publish(&self, events: Vec<Value>) -> Value {
        let sealed: Vec<Value> = events.into_iter().map(|e| self.phone.seal(e)).collect();
        self.publish_raw(sealed)
    }

    /// `POST …/events` exactly as given (a tampering relay's or a keyless client's events).
    #[track_caller]
    fn publish_raw(&self, events: Vec<Value>) -> Value {
        publish(
            &self.host,
            &self.origin,
            &self.cookie,
            &self.session,
            &events,
        )
    }

    fn user_message(text: &str) -> Value {
        json!({ "id": uuid(), "type": "user_message", "payload": { "text": text } })
    }

    /// Types `text` in the browser.
    #[track_caller]
    fn say(&self, text: &str) {
        self.publish(vec![Client::user_message(text)]);
    }

    /// Presses the interrupt button.
    #[track_caller]
    fn interrupt(&self) {
        self.publish(vec![json!({
            "id": uuid(),
            "type": "control_request",
            "payload": { "request_id": uuid(), "subtype": "interrupt" },
        })]);
    }

    fn stream(&self, from_seq: u64) -> Stream {
        Stream::open(
            &self.host,
            &format!(
                "/v1/code/sessions/{}/events/stream?from_seq={from_seq}",
                self.session
            ),
            &self.cookie,
            Opener::new(&self.key, &self.session),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// tether --remote

/// Opens the QR code's URL as a phone would: the pairing secret becomes a login cookie.
#[track_caller]
fn pair(url: &str) -> Client {
    let (base, session, secret) = url_parts(url);
    let host = base.trim_start_matches("http://").to_owned();
    assert!(secret.is_some(), "no pairing secret in {url}");
    let path = url.trim_start_matches(&base).to_owned();
    let (status, head, body) = http(&host, "GET", &path, &[], "");
    assert_eq!(status, 303, "{head}\n{body}");
    assert_eq!(
        header(&head, "location"),
        Some(format!("/code/{session}").as_str()),
        "{head}"
    );
    let set = header(&head, "set-cookie").unwrap();
    assert!(
        // Named per relay port (`tether_login_<port>`), so relays on one host keep apart.
        set.starts_with("tether_login")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict"),
        "{set}"
    );
    Client::new(host, base, cookie_from(&head), session, url)
}

/// The commands `tether commands --json ARGS` lists (objects with `name`, `aliases`, `kind`, …).
fn command_list(t: &Tether, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["commands", "--json"];
    all.extend_from_slice(args);
    let out = t.run(&all);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}

fn names(commands: &[Value]) -> BTreeSet<String> {
    commands
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Hosted relays

/// What these tests need of a hosted relay ([`Hosted`]: an account `alice`, the browser's
/// cookie, and a CLI logged in to it) beyond the shared helpers.
trait HostedExt {
    fn credentials(&self) -> Value;
    fn remote_client(&self, args: &[&str]) -> (Remote, Client);
}

impl HostedExt for Hosted {
    fn credentials(&self) -> Value {
        let path = self.t.config_dir().join("credentials.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// `tether --remote` on this relay, checked to have made a `session_<uuid>` there, and a
    /// client of that session logged in as the browser.
    #[track_caller]
    fn remote_client(&self, args: &[&str]) -> (Remote, Client) {
        let (remote, session) = self.remote(args);
        let uuid = session
            .strip_prefix("session_")
            .unwrap_or_else(|| panic!("{session}"));
        assert!(is_uuid(uuid), "{session}");
        let client = Client::new(
            self.relay.host(),
            self.relay.url.clone(),
            self.cookie.clone(),
            session,
            &remote.url,
        );
        (remote, client)
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The embedded relay, standard input not a terminal

#[test]
fn embedded_relay_pairs_a_browser_into_the_conversation() {
    let t = Tether::new().echo_delay_ms(5);
    let bridge = names(&command_list(&t, &["--origin", "bridge", "--remote"]));
    assert!(!bridge.is_empty());
    for local in ["plugin", "memory", "desktop"] {
        assert!(
            !bridge.contains(local),
            "/{local} over the bridge: {bridge:?}"
        );
    }
    // The list follows the rule: prompt commands, and bridge-safe local ones.
    for c in command_list(&t, &[]) {
        let allowed = c["kind"] == "prompt" || (c["kind"] == "local" && c["bridge_safe"] == true);
        assert_eq!(bridge.contains(c["name"].as_str().unwrap()), allowed, "{c}");
    }

    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    let (base, session, secret) = remote.parts();
    assert!(base.starts_with("http://127.0.0.1:"), "{}", remote.url);
    let id = session
        .strip_prefix("session_local_")
        .unwrap_or_else(|| panic!("{}", remote.url));
    assert!(is_uuid(id), "{}", remote.url);
    let secret = secret.unwrap();
    assert!(secret.len() >= 16, "a short pairing secret: {secret}");
    remote
        .proc
        .expect_stdout(&format!("session {session} on this machine's relay"));

    let client = pair(&remote.url);
    // The secret is single use.
    let path = remote.url.trim_start_matches(&base).to_owned();
    let (status, head, _) = http(&client.host, "GET", &path, &[], "");
    assert_eq!(status, 403, "{head}");
    // The cookie opens the session's page.
    let (status, _, _) = http(
        &client.host,
        "GET",
        &format!("/code/{session}"),
        &[("Cookie", &client.cookie)],
        "",
    );
    assert_eq!(status, 200);

    let stream = client.stream(0);
    let init = stream.wait_for("system_init", WAIT, |events| {
        of_kind(events, "system_init").next().cloned()
    });
    assert_eq!(init["source"], "worker");
    let listed: BTreeSet<String> = init["payload"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, bridge, "system_init lists the bridge's commands");
    assert_eq!(init["payload"]["engine"], "echo");
    stream.wait_for("the worker online", WAIT, |events| {
        of_kind(events, "worker_status")
            .any(|e| e["payload"]["online"] == true && e["source"] == "relay")
            .then_some(())
    });

    // The phone speaks: the terminal shows it and the reply; the phone gets the reply streamed.
    client.say("hello from the phone");
    let reply = stream.wait_reply("hello from the phone");
    assert_eq!(text(&reply), reply_to("hello from the phone"));
    assert_eq!(reply["payload"]["interrupted"], false);
    let events = stream.events();
    let (n, streamed) = deltas_of(&events, reply["payload"]["message_id"].as_str().unwrap());
    assert!(n > 1, "the reply came in one piece:\n{}", show(&events));
    assert_eq!(streamed, text(&reply));
    remote
        .proc
        .expect_stdout("› (remote) hello from the phone\n");
    remote
        .proc
        .expect_stdout(&format!("● {}\n", reply_to("hello from the phone")));
    let running = of_kind(&events, "session_state").any(|e| e["payload"]["state"] == "running");
    assert!(running, "no running state:\n{}", show(&events));
    stream.wait_for("the idle state after the reply", WAIT, |events| {
        let last = of_kind(events, "session_state").last()?;
        (last["payload"]["state"] == "idle" && last["seq"].as_u64() > reply["seq"].as_u64())
            .then_some(())
    });

    // The terminal speaks: the phone sees it, marked as typed there, then the reply.
    remote.proc.line("typed in the terminal");
    let reply = stream.wait_reply("typed in the terminal");
    let events = stream.events();
    let typed: Vec<&Value> = of_kind(&events, "user_message")
        .filter(|e| text(e) == "typed in the terminal")
        .collect();
    assert_eq!(typed.len(), 1, "{}", show(&events));
    assert_eq!(typed[0]["payload"]["origin"], "terminal");
    assert_eq!(typed[0]["source"], "worker");
    assert!(typed[0]["seq"].as_u64() < reply["seq"].as_u64());
    remote
        .proc
        .expect_stdout(&format!("● {}\n", reply_to("typed in the terminal")));
    assert_eq!(count_replies(&events, "hello from the phone"), 1);

    // Standard input ends: the session keeps serving the phone, until SIGINT.
    remote.proc.close_stdin();
    std::thread::sleep(Duration::from_millis(200));
    client.say("still there?");
    stream.wait_reply("still there?");
    remote
        .proc
        .expect_stdout(&format!("● {}\n", reply_to("still there?")));
    remote.proc.signal("INT");
    let status = remote.proc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", remote.proc.dump());
}

/// `/session revoke` makes a new key generation: the device that scanned the old code can no
/// longer read what follows nor be heard; one that scans the new code converses.
#[test]
fn session_revoke_cuts_off_devices_that_scanned_before() {
    let t = Tether::new();
    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    assert!(!remote.url.contains("&g="), "{}", remote.url);
    let old = pair(&remote.url);
    let old_stream = old.stream(0);
    old.say("before the new key");
    old_stream.wait_reply("before the new key");

    remote.proc.line("/session revoke");
    let new_url = remote.proc.wait_until("the new code", WAIT, |out, _| {
        out.lines()
            .filter_map(|l| l.strip_prefix("Open in browser: "))
            .find(|url| url.ends_with("&g=1"))
            .map(|url| url.trim().to_owned())
    });
    remote.proc.expect_stdout("New session key");
    assert!(key_of(&new_url) != key_of(&remote.url));

    remote.proc.line("typed after the new key");
    old_stream.wait_for("an event sealed with the newer key", WAIT, |events| {
        events
            .iter()
            .find(|e| {
                e["payload"]["unverified"]
                    .as_str()
                    .is_some_and(|w| w.contains("newer key"))
            })
            .cloned()
    });
    old.say("from the old phone");
    remote.proc.expect_stdout("could not be verified");
    remote
        .proc
        .expect_stdout("scanned the code before the key was changed");

    let new = pair(&new_url);
    let new_stream = new.stream(0);
    new_stream.wait_reply("typed after the new key");
    new.say("from the new phone");
    new_stream.wait_reply("from the new phone");
    let seen = old_stream.events();
    assert_eq!(
        count_replies(&seen, "typed after the new key"),
        0,
        "{}",
        show(&seen)
    );
    let events = new_stream.events();
    assert_eq!(
        count_replies(&events, "from the old phone"),
        0,
        "{}",
        show(&events)
    );
    assert!(
        of_kind(&events, "system_init").any(|e| e["payload"]["commands"].is_array()),
        "the command list again, under the new key:\n{}",
        show(&events)
    );
    remote.proc.signal("INT");
    remote.proc.wait_exit(Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------------------
// 2. The command gate, for every stock command, from both sides

/// The worker's output for each input of a batch where every input is followed by a marker
/// message: what came between the reply to the previous marker and the reply to its own.
fn segments(events: &[Value], markers: &[String]) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut start = 0;
    for marker in markers {
        let reply = events[start..]
            .iter()
            .position(|e| {
                kind(e) == "assistant_message" && text(e).ends_with(&format!("You said: {marker}"))
            })
            .map(|i| i + start)
            .unwrap_or_else(|| panic!("no reply to {marker:?}:\n{}", show(events)));
        let id = &events[reply]["payload"]["message_id"];
        let segment = events[start..reply]
            .iter()
            .filter(|e| e["source"] == "worker")
            .filter(|e| !matches!(kind(e), "session_state"))
            .filter(|e| e["payload"]["message_id"] != *id)
            .filter(|e| !(kind(e) == "user_message" && text(e) == marker))
            .cloned()
            .collect();
        out.push(segment);
        start = reply + 1;
    }
    out
}

#[test]
fn the_gate_decides_every_stock_command_over_the_bridge_and_in_the_terminal() {
    let t = Tether::new();
    let all = command_list(&t, &[]);
    let over_bridge = names(&command_list(&t, &["--origin", "bridge", "--remote"]));
    let remote_safe = names(&command_list(&t, &["--remote"]));
    assert!(all.len() > over_bridge.len() && !over_bridge.is_empty());
    // Every word that names a command: names and aliases, with the command they name.
    let mut words: Vec<(String, String)> = Vec::new();
    for c in &all {
        let name = c["name"].as_str().unwrap().to_owned();
        words.push((name.clone(), name.clone()));
        for alias in c["aliases"].as_array().unwrap() {
            words.push((alias.as_str().unwrap().to_owned(), name.clone()));
        }
    }

    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    let client = pair(&remote.url);
    let stream = client.stream(0);

    // Over the bridge: each word, then a marker message, all in one batch.
    let mut batch = vec![Client::user_message("marker bridge start")];
    let mut markers = vec!["marker bridge start".to_owned()];
    let mut inputs = Vec::new();
    for (word, _) in &words {
        inputs.push(format!("/{word}"));
    }
    inputs.push("/nonsense".to_owned());
    for (i, input) in inputs.iter().enumerate() {
        let marker = format!("marker bridge {i}.");
        batch.push(Client::user_message(input));
        batch.push(Client::user_message(&marker));
        markers.push(marker);
    }
    client.publish(batch);
    stream.wait_for(
        "the last marker's reply",
        Duration::from_secs(40),
        |events| reply_message(events, markers.last().unwrap()).map(|_| ()),
    );
    let events = stream.events();
    let found = segments(&events, &markers);
    for (i, input) in inputs.iter().enumerate() {
        let segment = &found[i + 1];
        let shown = show(segment);
        let Some((word, name)) = words.get(i) else {
            // `/nonsense` is ordinary text for the model.
            let reply = reply_message(segment, "/nonsense").expect(&shown);
            assert_eq!(text(reply), reply_to("/nonsense"));
            let id = reply["payload"]["message_id"].as_str().unwrap();
            let (deltas, streamed) = deltas_of(segment, id);
            assert_eq!(streamed, text(reply));
            assert_eq!(segment.len(), deltas + 1, "{input}:\n{shown}");
            continue;
        };
        let refusal = not_over_bridge(word);
        if over_bridge.contains(name) {
            assert!(!segment.is_empty(), "{input} did nothing");
            assert!(
                !segment.iter().any(|e| text(e) == refusal),
                "{input} was refused:\n{shown}"
            );
        } else {
            assert_eq!(segment.len(), 1, "{input}:\n{shown}");
            let e = &segment[0];
            assert_eq!(kind(e), "command_output", "{input}:\n{shown}");
            assert_eq!(e["payload"]["text"], refusal.as_str());
            assert_eq!(e["payload"]["command"], name.as_str());
            assert_eq!(e["payload"]["format"], "text");
        }
    }
    // The refusals reached the terminal too.
    for (word, name) in &words {
        if !over_bridge.contains(name) {
            remote
                .proc
                .expect_stdout(&format!("{}\n", not_over_bridge(word)));
        }
    }

    // In the terminal of a remote session: only remote-safe commands run. `/exit` comes last.
    // A marker first, so that the first command's output starts after a marker's reply too.
    let mut markers = vec!["marker terminal start".to_owned()];
    remote.proc.line(&markers[0]);
    let mut typed = Vec::new();
    for (word, name) in &words {
        if name == "exit" {
            continue;
        }
        let input = if name == "btw" {
            format!("/{word} a note from the terminal")
        } else {
            format!("/{word}")
        };
        let marker = format!("marker terminal {}.", typed.len());
        remote.proc.line(&input);
        remote.proc.line(&marker);
        typed.push((word.clone(), name.clone()));
        markers.push(marker);
    }
    stream.wait_for(
        "the last terminal marker's reply",
        Duration::from_secs(40),
        |events| reply_message(events, markers.last().unwrap()).map(|_| ()),
    );
    let events = stream.events();
    let found = segments(&events, &markers);
    let tail: Vec<Value> = found[1..].concat();
    let out = remote.proc.stdout();
    for (i, (word, name)) in typed.iter().enumerate() {
        let segment = &found[i + 1];
        let shown = show(segment);
        let refusal = not_in_remote_mode(word);
        if remote_safe.contains(name) {
            assert!(
                !segment.iter().any(|e| text(e) == refusal),
                "/{word} was refused in the terminal:\n{shown}"
            );
            assert!(!out.contains(&refusal), "{out}");
        } else {
            assert_eq!(segment.len(), 1, "/{word}:\n{shown}");
            assert_eq!(kind(&segment[0]), "command_output");
            assert_eq!(segment[0]["payload"]["text"], refusal.as_str());
            assert_eq!(out.matches(&format!("{refusal}\n")).count(), 1, "{out}");
        }
    }
    for local in ["plugin", "memory", "desktop"] {
        assert!(out.contains(&not_in_remote_mode(local)), "{out}");
    }
    // Remote-safe commands did their work.
    let cost = of_kind(&tail, "command_output")
        .find(|e| e["payload"]["command"] == "cost")
        .expect("/cost printed nothing");
    assert!(text(cost).contains("Total cost:"), "{cost}");
    assert!(
        of_kind(&tail, "command_output").any(|e| text(e) == "Noted: a note from the terminal"),
        "{}",
        show(&tail)
    );
    // And /exit ends the session.
    remote.proc.line("/exit");
    let status = remote.proc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", remote.proc.dump());
}

// ---------------------------------------------------------------------------------------------
// 3. Interrupting a reply from the browser

#[test]
fn the_browser_interrupts_a_reply_and_the_conversation_goes_on() {
    let t = Tether::new().echo_delay_ms(200);
    let remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    let client = pair(&remote.url);
    let stream = client.stream(0);
    client.say("a long answer please");
    stream.wait_for("the first words of the reply", WAIT, |events| {
        (of_kind(events, "assistant_delta").count() >= 2).then_some(())
    });
    client.interrupt();
    let reply = stream.wait_for("the interrupted reply", WAIT, |events| {
        of_kind(events, "assistant_message").next().cloned()
    });
    assert_eq!(reply["payload"]["interrupted"], true, "{reply}");
    // It was cut short: what was streamed, and no more.
    let events = stream.events();
    let (_, streamed) = deltas_of(&events, reply["payload"]["message_id"].as_str().unwrap());
    assert_eq!(text(&reply), streamed);
    assert!(
        text(&reply).len() < reply_to("a long answer please").len(),
        "{reply}"
    );
    remote.proc.expect_stdout("[interrupted]");
    let control = of_kind(&events, "control_request").next().unwrap();
    assert_eq!(control["source"], "client");
    assert_eq!(control["payload"]["subtype"], "interrupt");

    client.say("and now?");
    let next = stream.wait_reply("and now?");
    assert_eq!(text(&next), reply_to("and now?"));
    assert_eq!(next["payload"]["interrupted"], false);
    assert_eq!(count_replies(&stream.events(), "a long answer please"), 0);
    let interrupted = of_kind(&stream.events(), "assistant_message")
        .filter(|e| e["payload"]["interrupted"] == true)
        .count();
    assert_eq!(interrupted, 1);
}

// ---------------------------------------------------------------------------------------------
// 4. On a terminal: the browser speaks while the prompt waits

#[test]
fn on_a_terminal_the_browser_speaks_while_the_prompt_waits() {
    let t = Tether::new();
    let mut pty = t.spawn_pty(["--remote", "--listen", "127.0.0.1:0"]);
    pty.expect("Open in browser: ");
    // The URL is wider than the terminal; the output has it whole.
    let url = pty.expect("\n").trim().to_owned();
    assert!(
        url.contains("/code/session_local_") && url.contains("?pair="),
        "{url}"
    );
    let client = pair(&url);
    let stream = client.stream(0);
    pty.expect_prompt("› ");

    pty.mark();
    client.say("hello from the phone");
    pty.expect("(remote) hello from the phone");
    pty.expect(&reply_to("hello from the phone"));
    pty.wait_screen("the message and the reply above the prompt", |s| {
        let screen = s.contents();
        screen.contains("› (remote) hello from the phone")
            && screen.contains(&format!("● {}", reply_to("hello from the phone")))
    });
    stream.wait_reply("hello from the phone");
    // The prompt is still there, and still works.
    pty.expect_prompt("› ");
    pty.send_line("typed at the prompt");
    pty.expect(&reply_to("typed at the prompt"));
    let events = stream.wait_for("the typed line and its reply", WAIT, |events| {
        reply_message(events, "typed at the prompt").map(|_| events.to_vec())
    });
    let typed: Vec<&Value> = of_kind(&events, "user_message")
        .filter(|e| text(e) == "typed at the prompt")
        .collect();
    assert_eq!(typed.len(), 1, "{}", show(&events));
    assert_eq!(typed[0]["payload"]["origin"], "terminal");
    pty.expect_prompt("› ");
    pty.send("\x04");
    let status = pty.wait_exit();
    assert!(status.success(), "{status:?}\n{}", pty.screen());
}

// ---------------------------------------------------------------------------------------------
// 5. Hosted: log in, publish, converse; over SSE and over WebSocket

#[test]
fn hosted_login_then_remote_over_sse_and_websocket() {
    let h = Hosted::new("127.0.0.1:0", &[]);
    let path = h.t.config_dir().join("credentials.json");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "credentials.json has mode {mode:o}");
    }
    let saved = h.credentials();
    assert_eq!(saved["server"], h.relay.url.as_str());
    let device = saved["device_id"].as_str().unwrap().to_owned();
    let list = h.t.run(["devices", "list", "--json"]);
    list.assert_success();
    let devices: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(devices.len(), 1, "{list}");
    assert_eq!(devices[0]["device_id"], device.as_str());
    assert_eq!(devices[0]["display_name"], "e2e machine");

    for transport in ["sse", "ws"] {
        let (mut remote, client) = h.remote_client(&["--transport", transport]);
        remote.proc.expect_stdout(" on your relay");
        let stream = client.stream(0);
        let said = format!("hello over {transport}");
        client.say(&said);
        let reply = stream.wait_reply(&said);
        assert_eq!(text(&reply), reply_to(&said));
        remote.proc.expect_stdout(&format!("› (remote) {said}\n"));
        remote
            .proc
            .expect_stdout(&format!("● {}\n", reply_to(&said)));
        let typed = format!("typed with {transport}");
        remote.proc.line(&typed);
        let events = stream.wait_for("the terminal's line and its reply", WAIT, |events| {
            reply_message(events, &typed).map(|_| events.to_vec())
        });
        assert_eq!(count_user_messages(&events, &typed), 1, "{}", show(&events));
        assert_eq!(count_replies(&events, &said), 1);
        remote.proc.close_stdin();
        remote.proc.signal("INT");
        let status = remote.proc.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status}\n{}", remote.proc.dump());
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The relay restarts in the middle of a conversation

/// Each of `said` is in `events` once with one reply, in one order (seqs increase, ids are
/// unique), and every reply was streamed exactly once, whole.
#[track_caller]
fn each_once(events: &[Value], said: &[&str]) {
    let shown = show(events);
    for said in said {
        assert_eq!(count_user_messages(events, said), 1, "{said}:\n{shown}");
        assert_eq!(count_replies(events, said), 1, "{said}:\n{shown}");
    }
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{shown}");
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "{shown}");
    for reply in of_kind(events, "assistant_message") {
        let (_, streamed) = deltas_of(events, reply["payload"]["message_id"].as_str().unwrap());
        assert_eq!(streamed, text(reply), "streamed once, whole: {shown}");
    }
}

#[test]
fn nothing_is_lost_or_doubled_across_a_relay_restart() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let h = Hosted::new(&listen, &[]);
    let (mut remote, client) = h.remote_client(&[]);
    let stream = client.stream(0);
    client.say("before the restart");
    stream.wait_reply("before the restart");

    h.relay.terminate();
    stream.wait_end();
    remote.proc.line("typed while the relay was down");
    remote.proc.expect_stdout(&format!(
        "● {}\n",
        reply_to("typed while the relay was down")
    ));
    std::thread::sleep(Duration::from_millis(500));
    let relay = Relay::start(&h.t, &h.db, &listen, &[]);
    assert_eq!(relay.url, format!("http://{listen}"));

    let stream = client.stream(0);
    stream.wait_reply("typed while the relay was down");
    client.say("after the restart");
    let events = stream.wait_for("the reply after the restart", WAIT, |events| {
        reply_message(events, "after the restart").map(|_| events.to_vec())
    });
    // Let anything resent late arrive before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let events = {
        let later = stream.events();
        assert!(later.len() >= events.len());
        later
    };
    each_once(
        &events,
        &[
            "before the restart",
            "typed while the relay was down",
            "after the restart",
        ],
    );
    let typed = of_kind(&events, "user_message")
        .find(|e| text(e) == "typed while the relay was down")
        .unwrap();
    assert_eq!(typed["payload"]["origin"], "terminal");
    assert!(
        !remote.proc.stdout().contains('✗'),
        "{}",
        remote.proc.dump()
    );
    drop(relay);
}

/// Two `tether relay serve` processes on one PostgreSQL database behind a balancer (everything
/// on node A while it is up). Node A is killed with SIGKILL in the middle of a reply: the
/// terminal's worker and the phone move to node B, and every message and every reply, the one
/// cut short included, is there exactly once, in one order.
#[test]
fn a_relay_node_killed_mid_reply_loses_nothing() {
    use tether_relay::test_support::postgres::PgServer;
    use tether_relay::test_support::{Pick, TcpProxy};
    let Some(server) = PgServer::get() else {
        return;
    };
    let database = server.fresh_database();
    let (port_a, port_b) = (free_port(), free_port());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let nodes = [port_a, port_b].map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    let proxy = runtime.block_on(TcpProxy::start(nodes.to_vec(), Pick::InOrder));
    let public = proxy.url();
    let front = public.trim_start_matches("http://").to_owned();

    let t = Tether::new().echo_delay_ms(60);
    add_relay_user_on(&t, &["--database-url", &database], "alice", PASSWORD);
    let node = |port: u16| {
        Relay::start_on(
            &t,
            &["--database-url", &database],
            &format!("127.0.0.1:{port}"),
            &["--public-url", &public],
        )
    };
    let a = node(port_a);
    let _b = node(port_b);
    let cookie = browser_login(&front, &public, "alice", PASSWORD);
    cli_login_at(&t, &public, &cookie, "e2e machine");
    let remote = Remote::start(&t, &[]);
    let (base, session, _) = remote.parts();
    assert_eq!(base, public);
    let client = Client::new(front, public.clone(), cookie, session, &remote.url);

    let stream = client.stream(0);
    client.say("before the kill");
    stream.wait_reply("before the kill");
    let long = "a message whose reply is cut short by the kill of the node carrying it";
    client.say(long);
    stream.wait_for("the reply under way", WAIT, |events| {
        of_kind(events, "assistant_delta").nth(15).map(|_| ())
    });
    assert!(
        reply_message(&stream.events(), long).is_none(),
        "the kill comes mid-reply"
    );
    a.proc.signal("KILL");
    stream.wait_end();
    // A dying process closes its connections before its listener: until the listener is gone
    // too, a new connection can still be accepted there and then reset. (The terminal and the
    // page retry that; this reader does not.)
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(nodes[0]).is_ok() {
        assert!(
            Instant::now() < deadline,
            "node A still accepts after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let stream = client.stream(0);
    stream.wait_reply(long);
    client.say("after the kill");
    stream.wait_reply("after the kill");
    // Let anything resent late arrive before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let events = stream.events();
    each_once(&events, &["before the kill", long, "after the kill"]);
    assert!(proxy.sent()[1] > 0, "node B took over");
    assert!(
        !remote.proc.stdout().contains('✗'),
        "{}",
        remote.proc.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Worker tokens expire and are renewed while the conversation goes on

#[test]
fn a_conversation_outlives_short_worker_tokens() {
    let h = Hosted::new("127.0.0.1:0", &["--worker-token-ttl", "3"]);
    let (remote, client) = h.remote_client(&[]);
    let stream = client.stream(0);
    let started = Instant::now();
    let mut said = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        let text = format!("tick {}.", said.len());
        client.say(&text);
        said.push(text);
        std::thread::sleep(Duration::from_secs(1));
    }
    for s in &said {
        stream.wait_reply(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let events = stream.events();
    let shown = show(&events);
    for s in &said {
        assert_eq!(count_replies(&events, s), 1, "{s}:\n{shown}");
        remote.proc.expect_stdout(&format!("● {}\n", reply_to(s)));
    }
    assert_eq!(
        of_kind(&events, "assistant_message").count(),
        said.len(),
        "{shown}"
    );
    let out = remote.proc.stdout();
    assert!(!out.contains('✗'), "{}", remote.proc.dump());
    assert!(
        remote.proc.stderr().trim().is_empty(),
        "{}",
        remote.proc.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Another terminal takes the session over

#[test]
fn a_terminal_whose_session_is_taken_over_says_so_and_keeps_working() {
    let h = Hosted::new("127.0.0.1:0", &[]);
    let (mut remote, client) = h.remote_client(&[]);
    let stream = client.stream(0);
    client.say("first");
    stream.wait_reply("first");

    let saved = h.credentials();
    let (status, head, body) = http(
        &h.relay.host(),
        "POST",
        &format!("/v1/code/sessions/{}/bridge", client.session),
        &[
            (
                "Authorization",
                &format!("Bearer {}", saved["access_token"].as_str().unwrap()),
            ),
            (
                "X-Trusted-Device-Token",
                saved["device_token"].as_str().unwrap(),
            ),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(status, 200, "{head}\n{body}");
    let grant: Value = serde_json::from_str(&body).unwrap();
    assert!(
        grant["worker_jwt"].is_string() && grant["worker_epoch"].as_u64() > Some(1),
        "{grant}"
    );

    // The terminal finds out at the latest when it next publishes.
    remote.proc.line("after the takeover");
    remote
        .proc
        .wait_until("the takeover notice", WAIT, |out, err| {
            (out.contains(TAKEN_OVER) || err.contains(TAKEN_OVER)).then_some(())
        });
    remote
        .proc
        .expect_stdout(&format!("● {}\n", reply_to("after the takeover")));
    // It keeps working locally, and stays quiet while it waits.
    remote.proc.line("still working");
    remote
        .proc
        .expect_stdout(&format!("● {}\n", reply_to("still working")));
    let before = remote.proc.cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let spent = remote.proc.cpu_time() - before;
    assert!(
        spent < Duration::from_millis(300),
        "an idle terminal used {spent:?} of CPU in 1 s"
    );
    let out = format!("{}{}", remote.proc.stdout(), remote.proc.stderr());
    assert_eq!(out.matches(TAKEN_OVER).count(), 1, "{}", remote.proc.dump());
    // Nothing the terminal says now reaches the session.
    std::thread::sleep(Duration::from_millis(300));
    let events = stream.events();
    assert_eq!(
        count_replies(&events, "still working"),
        0,
        "{}",
        show(&events)
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Logging out, and what --remote refuses

#[test]
fn logout_forgets_the_login_and_revokes_the_device() {
    let h = Hosted::new("127.0.0.1:0", &[]);
    let device = h.credentials()["device_id"].as_str().unwrap().to_owned();
    let access = h.credentials()["access_token"].as_str().unwrap().to_owned();
    let out = h.t.run(["logout"]);
    out.assert_success();
    assert!(
        out.stdout.contains(&format!(
            "Logged out of {}; the login and this machine's trusted device were revoked.",
            h.relay.url
        )),
        "{out}"
    );
    // The login is over on the relay too: its access token no longer lists anything.
    let bearer = format!("Bearer {access}");
    let host = h.relay.url.trim_start_matches("http://");
    let (status, _, body) = http(
        host,
        "GET",
        "/v1/code/sessions",
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(status, 401, "{body}");
    assert!(!h.t.config_dir().join("credentials.json").exists());
    let again = h.t.run(["logout"]);
    again.assert_success();
    assert!(again.stdout.contains("Not logged in."), "{again}");
    let list = h.t.run(["devices", "list", "--json"]);
    list.assert_failure();
    assert!(list.stderr.contains("tether login"), "{list}");
    // Without a login, --remote does not fall back to a hosted relay.
    let out =
        h.t.run_with_input(["--remote", "--server", &h.relay.url], "");
    out.assert_failure();
    assert!(out.stderr.contains("tether login --server"), "{out}");

    // A fresh login sees only its own device.
    cli_login(&h.t, &h.relay, &h.cookie, "second login");
    let list = h.t.run(["devices", "list", "--json"]);
    list.assert_success();
    let devices: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(devices.len(), 1, "{list}");
    assert_ne!(devices[0]["device_id"], device.as_str(), "{list}");
    assert_eq!(devices[0]["display_name"], "second login");
}

#[test]
fn remote_refuses_a_server_without_login_and_print_mode() {
    let t = Tether::new();
    let out = t.run_with_input(["--remote", "--server", "http://127.0.0.1:1"], "");
    out.assert_failure();
    assert!(
        out.stderr.contains(
            "not logged in to http://127.0.0.1:1: run `tether login --server http://127.0.0.1:1` first"
        ),
        "{out}"
    );
    let out = t.run(["--remote", "-p", "hi"]);
    out.assert_failure();
    assert!(
        out.stderr
            .contains("--remote publishes an interactive session; it cannot be combined with -p"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    let out = t.run(["--server", "http://127.0.0.1:1", "-p", "hi"]);
    out.assert_failure();
    assert!(out.stderr.contains("cannot be combined with -p"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// 9. An agent's permission prompt, answered from a phone or from the terminal

const AGENT: &str = env!("CARGO_BIN_EXE_tether-fixture-agent");

impl Client {
    /// Answers a `can_use_tool` request as the web client's Allow/Deny card does.
    #[track_caller]
    fn answer(&self, request_id: &str, behavior: &str) {
        self.publish(vec![json!({
            "id": uuid(),
            "type": "control_response",
            "payload": { "request_id": request_id, "response": { "behavior": behavior, "message": "not from the phone" } },
        })]);
    }
}

/// `tether --remote` driving the fixture agent (a stand-in for Claude Code's stream-json mode).
/// The `Tether` is returned so that its directories outlive the process.
fn agent_session() -> (Tether, Remote, Client, Stream) {
    agent_session_with(Tether::new(), "")
}

/// Waits for the agent's `can_use_tool` request; returns its request id.
#[track_caller]
fn wait_permission(stream: &Stream) -> String {
    let request = stream.wait_for("the permission request", WAIT, |events| {
        of_kind(events, "control_request")
            .find(|e| e["payload"]["subtype"] == "can_use_tool")
            .cloned()
    });
    assert_eq!(request["source"], "worker");
    assert_eq!(request["payload"]["tool_name"], "Bash");
    assert_eq!(request["payload"]["input"], json!({"command": "ls"}));
    stream.wait_for("the session waiting for approval", WAIT, |events| {
        of_kind(events, "session_state")
            .any(|e| e["payload"]["state"] == "requires_action")
            .then_some(())
    });
    request["payload"]["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn wait_agent_reply(stream: &Stream, says: &str) -> Value {
    stream.wait_for(&format!("a reply saying {says:?}"), WAIT, |events| {
        of_kind(events, "assistant_message")
            .find(|e| text(e).contains(says))
            .cloned()
    })
}

#[test]
fn a_phone_answers_the_agents_permission_request_and_the_terminal_is_told() {
    let (_t, remote, client, stream) = agent_session();
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    remote.proc.expect_stdout("the agent wants to use Bash");
    client.answer(&id, "allow");
    let reply = wait_agent_reply(&stream, "allowed:");
    // The agent shows the tool it used, then what it got.
    assert_eq!(
        text(&reply),
        "› Bash: `ls`\n\nallowed: {\"command\":\"ls\"}"
    );
    let cancel = stream.wait_for("control_cancel", WAIT, |events| {
        of_kind(events, "control_cancel").next().cloned()
    });
    assert_eq!(
        cancel["payload"],
        json!({"request_id": id, "reason": "answered", "by": "client", "behavior": "allow"})
    );
    remote.proc.expect_stdout("allowed on a connected device");

    // A second answer (another phone, a double tap) finds nothing waiting: the agent is asked
    // once and answers once.
    client.answer(&id, "deny");
    client.say("after");
    wait_agent_reply(&stream, "You said: after");
    let events = stream.events();
    assert_eq!(
        of_kind(&events, "control_cancel").count(),
        1,
        "{}",
        show(&events)
    );
    assert_eq!(
        of_kind(&events, "assistant_message")
            .filter(|e| text(e).contains("allowed:") || text(e).contains("denied:"))
            .count(),
        1
    );
}

#[test]
fn the_terminal_answers_first_and_the_phone_is_told_to_stop_asking() {
    let (_t, mut remote, client, stream) = agent_session();
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    remote.proc.line("n");
    let reply = wait_agent_reply(&stream, "denied:");
    assert!(
        text(&reply).ends_with("denied: The user denied this in the terminal."),
        "{reply}"
    );
    let cancel = stream.wait_for("control_cancel", WAIT, |events| {
        of_kind(events, "control_cancel").next().cloned()
    });
    assert_eq!(
        cancel["payload"],
        json!({"request_id": id, "reason": "answered", "by": "terminal", "behavior": "deny"})
    );
    // The phone's card answered too late: ignored, and "n" was not sent to the agent as a message.
    client.answer(&id, "allow");
    client.say("after");
    wait_agent_reply(&stream, "You said: after");
    let events = stream.events();
    assert_eq!(count_user_messages(&events, "n"), 0, "{}", show(&events));
    assert!(!of_kind(&events, "assistant_message").any(|e| text(e).contains("allowed:")));
    remote.proc.expect_stdout("denied here");
}

#[test]
fn a_line_typed_while_a_question_waits_is_queued_and_the_question_stays() {
    let (_t, mut remote, client, stream) = agent_session();
    client.say("tool: Bash ls");
    wait_permission(&stream);
    // Not an answer: it waits for the turn, and the question is asked again (standard input
    // reads one line per prompt, so without a new prompt the `y` below would never be read).
    remote.proc.line("/cost");
    remote.proc.expect_stdout("queued: /cost");
    remote.proc.line("y");
    let reply = wait_agent_reply(&stream, "allowed:");
    assert!(text(&reply).contains("allowed:"), "{reply}");
    // Then the queued command ran, after the turn it waited behind.
    let cost = stream.wait_for("the queued /cost", WAIT, |events| {
        of_kind(events, "command_output")
            .find(|e| e["payload"]["command"] == "cost")
            .cloned()
    });
    assert!(cost["seq"].as_u64() > reply["seq"].as_u64(), "{cost}");
    remote.proc.expect_stdout("allowed here");
}

// ---------------------------------------------------------------------------------------------
// 6. What a phone sends is text: shown, never obeyed, and no key to the terminal's files

#[test]
fn on_a_terminal_a_phones_escape_sequences_are_shown_not_obeyed() {
    use tether_e2e::hostile::{ESCAPES, SHOWN, assert_not_obeyed};
    let t = Tether::new();
    let mut pty = t.spawn_pty(["--remote", "--listen", "127.0.0.1:0"]);
    pty.expect("Open in browser: ");
    let url = pty.expect("\n").trim().to_owned();
    let client = pair(&url);
    let stream = client.stream(0);
    pty.expect_prompt("› ");
    client.say("before the attack");
    stream.wait_reply("before the attack");
    pty.expect(&reply_to("before the attack"));
    pty.expect_prompt("› ");

    pty.mark();
    let hostile = format!("look {ESCAPES} here");
    client.say(&hostile);
    // The message, and the echo engine's reply repeating it.
    pty.expect(&format!("(remote) look {SHOWN} here"));
    pty.expect(&format!("You said: look {SHOWN} here"));
    stream.wait_reply(&hostile);
    pty.expect_prompt("› ");
    assert_not_obeyed(&pty, &pty.raw_since_mark());
    // Not cleared: what was on the screen before is still there.
    let screen = pty.screen();
    assert!(
        screen.contains(&format!("● {}", reply_to("before the attack"))),
        "{screen}"
    );
    // The prompt still works.
    pty.send_line("typed at the prompt");
    pty.expect(&reply_to("typed at the prompt"));
}

#[test]
fn a_phones_mention_reads_no_file_on_the_terminals_machine() {
    let t = Tether::new();
    std::fs::write(t.cwd().join("secret.txt"), "RELATIVE-SECRET-41").unwrap();
    std::fs::write(t.cwd().join("mine.txt"), "the local user's notes").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let shadow = elsewhere.path().join("shadow");
    std::fs::write(&shadow, "root:ABSOLUTE-SECRET-42:").unwrap();
    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    let client = pair(&remote.url);
    let stream = client.stream(0);

    let said = format!("summarise @secret.txt and @{}", shadow.display());
    client.say(&said);
    stream.wait_reply(&said);
    client.say("/files");
    let listed = stream.wait_for("the answer to /files", WAIT, |events| {
        of_kind(events, "command_output")
            .find(|e| text(e).contains("in context"))
            .cloned()
    });
    assert!(text(&listed).starts_with("No files in context"), "{listed}");
    // Nothing read, nothing said about the files (not even whether they exist).
    let log = show(&stream.events());
    for leak in ["SECRET-4", "no such file", "KiB"] {
        assert!(!log.contains(leak), "{leak:?} in:\n{log}");
    }

    // The terminal's own user still puts files into context.
    remote.proc.line("read @mine.txt");
    stream.wait_reply("read @mine.txt");
    client.say("/files");
    let listed = stream.wait_for("/files listing mine.txt", WAIT, |events| {
        of_kind(events, "command_output")
            .find(|e| text(e).contains("mine.txt"))
            .cloned()
    });
    assert!(text(&listed).starts_with("1 file in context"), "{listed}");
    assert!(!text(&listed).contains("secret"), "{listed}");
    assert!(
        !remote.proc.stdout().contains("SECRET-4"),
        "{}",
        remote.proc.dump()
    );
}

/// `tether --remote` on its embedded relay under a pseudo-terminal, driving the fixture agent,
/// with a phone paired; the prompt is up.
fn agent_on_a_terminal(t: &Tether) -> (tether_e2e::Pty, Client) {
    let mut pty = t.spawn_pty([
        "--remote",
        "--listen",
        "127.0.0.1:0",
        "--engine",
        "exec",
        "--exec-command",
        AGENT,
    ]);
    pty.expect("Open in browser: ");
    let url = pty.expect("\n").trim().to_owned();
    let client = pair(&url);
    pty.expect_prompt("› ");
    (pty, client)
}

#[test]
fn on_a_terminal_an_agents_tool_request_with_escapes_is_shown_not_obeyed() {
    use tether_e2e::hostile::assert_not_obeyed;
    let t = Tether::new();
    let (mut pty, client) = agent_on_a_terminal(&t);
    // tether's own styling is drawn, not shown.
    assert!(!pty.screen().contains("^["), "{}", pty.screen());
    pty.mark();
    // The fixture agent asks to use the tool named by the first word after `tool:`.
    client.say("tool: Bash\x1b]0;agent-title\x07\x1b[2J\u{9b}2J ls");
    let name = "Bash^[]0;agent-title^G^[[2J<U+009B>2J";
    pty.expect(&format!("the agent wants to use {name}"));
    // The user sits at the prompt, which reads the answer.
    pty.expect("Allow? type y or n");
    pty.send_line("n");
    pty.expect("denied here");
    assert_not_obeyed(&pty, &pty.raw_since_mark());
}

// ---------------------------------------------------------------------------------------------
// 10. End to end encrypted: what the relay keeps and what a tampering relay gets

/// Every file of the relay's database: the file itself, its write-ahead log and shared memory.
fn database_bytes(db: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

#[test]
fn the_relay_keeps_no_word_of_the_conversation_in_its_database_or_its_debug_log() {
    const M: &str = "marker7c1f9e";
    let base = tempfile::tempdir().unwrap();
    // The working directory travels in `system_init` (sealed); only its last part is in the
    // title, which the relay sees by design.
    let cwd = base.path().join(format!("{M}-project")).join("work");
    let t = Tether::new().in_cwd(&cwd).env("TETHER_LOG", "debug");
    let mut h = Hosted::with(t, "127.0.0.1:0", &[]);
    let (mut remote, client) = h.remote_client(&["--engine", "exec", "--exec-command", AGENT]);
    let stream = client.stream(0);

    client.say(&format!("hello {M}"));
    wait_agent_reply(&stream, M);
    remote.proc.line(&format!("/btw {M} noted"));
    stream.wait_for("the /btw note", WAIT, |events| {
        of_kind(events, "command_output")
            .find(|e| text(e).contains(M))
            .cloned()
    });
    client.say(&format!("tool: Bash echo {M}"));
    let request = stream.wait_for("the permission request", WAIT, |events| {
        of_kind(events, "control_request")
            .find(|e| e["payload"]["input"].to_string().contains(M))
            .cloned()
    });
    client.answer(request["payload"]["request_id"].as_str().unwrap(), "allow");
    wait_agent_reply(&stream, "allowed:");
    // The phone read every kind with the marker: so the test below could fail.
    let events = stream.events();
    for kind in [
        "system_init",
        "user_message",
        "assistant_message",
        "command_output",
        "control_request",
    ] {
        assert!(
            of_kind(&events, kind).any(|e| e["payload"].to_string().contains(M)),
            "no {kind} with the marker:\n{}",
            show(&events)
        );
    }

    let db = h.db.clone();
    let live = database_bytes(&db);
    assert!(live.len() > 4096, "the database was read");
    assert!(
        find_bytes(&live, M.as_bytes()).is_none(),
        "the marker is in the live database"
    );
    remote.proc.signal("INT");
    remote.proc.wait_exit(Duration::from_secs(10));
    // Stopped, the relay checkpoints its write-ahead log into the file.
    h.relay.proc.signal("TERM");
    h.relay.proc.wait_exit(Duration::from_secs(10));
    let log = format!("{}{}", h.relay.proc.stdout(), h.relay.proc.stderr());
    assert!(
        log.contains("DEBUG"),
        "the relay logged at debug level:\n{log}"
    );
    assert!(!log.contains(M), "the marker is in the relay's log:\n{log}");
    let stopped = database_bytes(&db);
    assert!(
        find_bytes(&stopped, M.as_bytes()).is_none(),
        "the marker is in the database"
    );
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A relay that flips a bit of a phone's answer, moves a phone's message under another id, or
/// forges one without the key: the terminal says so and takes none of them.
#[test]
fn a_tampered_answer_or_message_is_not_taken_by_the_terminal() {
    let (_t, remote, client, stream) = agent_session();
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);

    let answer = || {
        client.phone.seal(json!({
            "id": uuid(),
            "type": "control_response",
            "payload": { "request_id": id, "response": { "behavior": "allow" } },
        }))
    };
    let mut flipped = answer();
    flipped["payload"] = tether_e2e::seal::flipped(&flipped["payload"]);
    let message = client.phone.seal(Client::user_message("/cost"));
    let mut moved = message.clone();
    moved["id"] = json!(uuid());
    let forged = Client::user_message("/cost");
    // An answer the relay stores as a message instead (under its own id, never stored before).
    let allow = answer();
    let retyped = json!({"id": allow["id"], "type": "user_message", "payload": allow["payload"]});
    client.publish_raw(vec![flipped, moved, forged, retyped]);
    remote.proc.wait_until("four refusals", WAIT, |out, _| {
        (out.matches("could not be verified").count() >= 4).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let events = stream.events();
    assert_eq!(
        of_kind(&events, "control_cancel").count(),
        0,
        "{}",
        show(&events)
    );
    assert!(
        !of_kind(&events, "command_output").any(|e| e["payload"]["command"] == "cost"),
        "a forged /cost ran:\n{}",
        show(&events)
    );
    // The request still waits, and the phone's own answer is taken.
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
}

// ---------------------------------------------------------------------------------------------
// 11. The terminal calls its person: Web Push through the relay, sealed, withdrawn when answered

/// A hosted relay that may push to the tests' push service, a phone's subscription there for
/// alice, and `[notify]` in the CLI's config.toml.
fn calling(notify: &str) -> (Hosted, TestSubscription) {
    let service = PushService::get();
    let h = Hosted::new("127.0.0.1:0", &["--push-service", service.origin()]);
    std::fs::write(h.t.config_dir().join("config.toml"), notify).unwrap();
    let sub = service.subscribe();
    let body = json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}});
    let (status, head, answer) = http(
        &h.relay.host(),
        "PUT",
        "/v1/push/subscriptions/phone",
        &[
            ("Cookie", &h.cookie),
            ("Origin", &h.relay.url),
            ("Content-Type", "application/json"),
        ],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{head}\n{answer}");
    (h, sub)
}

/// `tether --remote` on `h`'s relay driving the fixture agent, and a phone of alice's.
fn hosted_agent(h: &Hosted) -> (Remote, String, Client) {
    let (remote, session) = h.remote(&["--engine", "exec", "--exec-command", AGENT]);
    let client = Client::new(
        h.relay.host(),
        h.relay.url.clone(),
        h.cookie.clone(),
        session.clone(),
        &remote.url,
    );
    (remote, session, client)
}

/// The pushes `sub` has received, once there are `n` (or `within` passed): each as the service
/// worker reads it, with when it arrived.
fn pushes(sub: &TestSubscription, n: usize, within: Duration) -> Vec<(Value, Instant)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let secret = p256::SecretKey::from_slice(&b64.decode(&sub.private_key).unwrap()).unwrap();
    let auth = web_push_native::Auth::clone_from_slice(&b64.decode(&sub.auth).unwrap());
    let deadline = Instant::now() + within;
    loop {
        let got = PushService::get().received(&sub.path);
        if got.len() >= n || Instant::now() >= deadline {
            return got
                .into_iter()
                .map(|push| {
                    let plain = web_push_native::decrypt(push.body, &secret, &auth).unwrap();
                    (serde_json::from_slice(&plain).unwrap(), push.at)
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The text of a call, opened with the session key as a device holding it does.
fn call_text(remote: &Remote, session: &str, call: &Value) -> Value {
    let event = tether_protocol::Event {
        seq: 0,
        id: call["tag"].as_str().unwrap().to_owned(),
        kind: "notification".into(),
        source: tether_protocol::Source::Worker,
        created_at: String::new(),
        payload: call["sealed"].clone(),
    };
    let keys = tether_seal::Keys::derive(&key_of(&remote.url));
    tether_seal::open(&keys, session, &event)
        .unwrap_or_else(|e| panic!("{e}: {call}"))
        .payload
}

#[test]
fn a_waiting_request_calls_the_phone_sealed_and_its_answer_withdraws_the_call() {
    let (h, sub) = calling("[notify]\nwait_seconds = 1\nlong_turn_seconds = 0\n");
    let (remote, session, client) = hosted_agent(&h);
    let stream = client.stream(0);
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    let asked = Instant::now();
    let got = pushes(&sub, 1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let (call, at) = &got[0];
    assert!(
        at.duration_since(asked) >= Duration::from_millis(700),
        "called before the request waited a second"
    );
    assert_eq!(call["kind"], "permission", "{call}");
    assert_eq!(call["tag"], id.as_str(), "{call}");
    assert_eq!(call["session"], session.as_str(), "{call}");
    assert!(
        !call.to_string().contains("\"ls\""),
        "the relay saw the text: {call}"
    );
    assert_eq!(
        call_text(&remote, &session, call),
        json!({"title": "Allow Bash?", "body": "ls"})
    );

    // Answered on the phone: the call is withdrawn, and the turn's end (every turn is long
    // here) calls "done" with the reply's first line.
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
    let got = pushes(&sub, 3, WAIT);
    assert_eq!(got.len(), 3, "{got:?}");
    let (withdrawal, _) = &got[1];
    assert_eq!(withdrawal["close"], true, "{withdrawal}");
    assert_eq!(withdrawal["tag"], id.as_str());
    assert!(withdrawal.get("sealed").is_none(), "{withdrawal}");
    let (done, _) = &got[2];
    assert_eq!(done["kind"], "done", "{done}");
    assert_eq!(
        call_text(&remote, &session, done),
        json!({"title": "The agent is done", "body": "› Bash: `ls`"})
    );
    // One call per request: nothing more comes.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(PushService::get().received(&sub.path).len(), 3);
}

#[test]
fn a_request_while_the_terminal_is_typed_in_is_called_once_it_is_quiet() {
    let (h, sub) = calling("[notify]\nwait_seconds = 1\nquiet_seconds = 4\n");
    let (mut remote, _session, client) = hosted_agent(&h);
    let stream = client.stream(0);
    let typed = Instant::now();
    remote.proc.line("tool: Bash ls");
    let id = wait_permission(&stream);
    // Someone is at the keyboard: past the wait, nothing is called.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(PushService::get().received(&sub.path).len(), 0);
    let got = pushes(&sub, 1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let (call, at) = &got[0];
    assert_eq!(call["tag"], id.as_str(), "{call}");
    assert!(
        at.duration_since(typed) >= Duration::from_secs(4),
        "called {:?} after the line was typed",
        at.duration_since(typed)
    );
    // Answered at the terminal: withdrawn.
    remote.proc.line("y");
    let got = pushes(&sub, 2, WAIT);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0["close"], true);
}

#[test]
fn push_false_in_config_calls_nobody() {
    let (h, sub) = calling("[notify]\npush = false\nwait_seconds = 0\nlong_turn_seconds = 0\n");
    let (_remote, _session, client) = hosted_agent(&h);
    let stream = client.stream(0);
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    std::thread::sleep(Duration::from_millis(1500));
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(PushService::get().received(&sub.path).len(), 0);
}

#[test]
fn no_call_is_pushed_while_a_page_looks_at_the_session_and_one_is_once_it_looks_away() {
    let (h, sub) = calling("[notify]\nwait_seconds = 1\n");
    let (_remote, session, client) = hosted_agent(&h);
    let look = |visible: bool| {
        let body = json!({"device": "laptop", "visible": visible}).to_string();
        let (status, head, answer) = http(
            &h.relay.host(),
            "PUT",
            &format!("/v1/push/looking/{session}"),
            &[
                ("Cookie", &h.cookie),
                ("Origin", &h.relay.url),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
        assert_eq!(status, 204, "{head}\n{answer}");
    };
    look(true);
    let stream = client.stream(0);
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    // The page shows the request: past the wait, and past a recall, nothing is pushed.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(PushService::get().received(&sub.path).len(), 0);
    let hidden = Instant::now();
    look(false);
    let got = pushes(&sub, 1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let (call, at) = &got[0];
    assert_eq!(call["tag"], id.as_str(), "{call}");
    assert!(
        at.duration_since(hidden) <= Duration::from_millis(3500),
        "called {:?} after the page looked away",
        at.duration_since(hidden)
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        PushService::get().received(&sub.path).len(),
        1,
        "one call, not one per recall"
    );
}

/// A webhook receiver on loopback: every request's path, head and JSON body, answered `200`.
struct Hook {
    url: String,
    got: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl Hook {
    fn start(path: &str) -> Hook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<(String, String, Value)>>> = Arc::default();
        let book = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                book.lock().unwrap().push((path, head, json));
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Hook { url, got }
    }

    fn wait(&self, n: usize, within: Duration) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `tether --remote` on its embedded relay driving the fixture agent, with `config` as its
/// config.toml.
fn agent_session_with(t: Tether, config: &str) -> (Tether, Remote, Client, Stream) {
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(t.config_dir().join("config.toml"), config).unwrap();
    let remote = Remote::start(
        &t,
        &[
            "--listen",
            "127.0.0.1:0",
            "--engine",
            "exec",
            "--exec-command",
            AGENT,
        ],
    );
    let client = pair(&remote.url);
    let stream = client.stream(0);
    (t, remote, client, stream)
}

#[test]
fn the_webhook_gets_one_call_per_waiting_request_and_its_withdrawal() {
    let hook = Hook::start("/hook");
    let config = format!("[notify]\nwait_seconds = 1\nwebhook = \"{}\"\n", hook.url);
    let (_t, remote, client, stream) = agent_session_with(Tether::new(), &config);
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    let got = hook.wait(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let (path, _, call) = &got[0];
    assert_eq!(path, "/hook");
    assert_eq!(call["event"], "call", "{call}");
    assert_eq!(call["kind"], "permission");
    assert_eq!(call["tag"], id.as_str());
    assert_eq!(call["title"], "Allow Bash?");
    assert_eq!(call["body"], "ls");
    let page = call["url"].as_str().unwrap();
    assert!(page.starts_with("http://127.0.0.1:"), "{call}");
    assert!(
        !page.contains('#'),
        "the key stays out of a third party's hands: {page}"
    );
    let key_fragment = remote.url.split_once('#').unwrap().1;
    assert!(!call.to_string().contains(key_fragment), "{call}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        hook.wait(2, Duration::ZERO).len(),
        1,
        "one call per request"
    );
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
    let got = hook.wait(2, WAIT);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].2["event"], "withdraw");
    assert_eq!(got[1].2["tag"], id.as_str());
}

#[test]
fn an_ntfy_webhook_is_published_to_its_topic_with_the_token_from_the_environment() {
    let hook = Hook::start("/ntfy/alerts");
    let config = format!(
        "[notify]\nwait_seconds = 0\npush = false\nwebhook = \"{}\"\nwebhook_format = \"ntfy\"\nwebhook_token_env = \"TETHER_TEST_NTFY\"\n",
        hook.url
    );
    let t = Tether::new().env("TETHER_TEST_NTFY", "tk_secret");
    let (_t, _remote, client, stream) = agent_session_with(t, &config);
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    let got = hook.wait(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let (path, head, body) = &got[0];
    assert_eq!(path, "/ntfy/");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("authorization: Bearer tk_secret")),
        "{head}"
    );
    assert_eq!(body["topic"], "alerts", "{body}");
    assert_eq!(body["message"], "ls");
    assert_eq!(body["priority"], 4);
    assert!(
        body["title"]
            .as_str()
            .unwrap()
            .starts_with("Allow Bash? · tether in ")
    );
    assert!(!body["click"].as_str().unwrap().contains('#'), "{body}");
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        hook.wait(2, Duration::ZERO).len(),
        1,
        "ntfy has no withdrawal"
    );
}

#[test]
fn a_webhook_token_variable_that_is_not_set_is_said_at_start() {
    let hook = Hook::start("/hook");
    let config = format!(
        "[notify]\nwebhook = \"{}\"\nwebhook_token_env = \"TETHER_TEST_UNSET_TOKEN\"\n",
        hook.url
    );
    let t = Tether::new().env_remove("TETHER_TEST_UNSET_TOKEN");
    let (_t, remote, _client, _stream) = agent_session_with(t, &config);
    remote
        .proc
        .expect_stdout("TETHER_TEST_UNSET_TOKEN, which is not set");
}

#[test]
fn on_a_terminal_a_request_from_a_phones_turn_rings_the_terminal_itself() {
    let t = Tether::new();
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(
        t.config_dir().join("config.toml"),
        "[notify]\nwait_seconds = 0\nterminal = \"osc777\"\n",
    )
    .unwrap();
    let (mut pty, client) = agent_on_a_terminal(&t);
    let stream = client.stream(0);
    pty.mark();
    client.say("tool: Bash ls");
    let id = wait_permission(&stream);
    pty.expect_raw(b"\x1b]777;notify;Allow Bash?;ls\x07");
    client.answer(&id, "allow");
    wait_agent_reply(&stream, "allowed:");
    // After the ring awaited above, nothing rings again (the turn was short: no "done").
    std::thread::sleep(Duration::from_millis(500));
    let raw = pty.raw_since_mark();
    assert_eq!(
        String::from_utf8_lossy(&raw)
            .matches("]777;notify;")
            .count(),
        0,
        "rung once"
    );
    pty.send("\x04");
    assert!(pty.wait_exit().success());
}
