//! Plain HTTP/1.1 over a std socket, for tests that drive a relay process: one request per
//! connection, nothing hidden between the test and the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::Tether;

/// One request on a fresh connection: (status, response head, body).
pub fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connecting {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// A browser's `POST /v1/code/sessions/{session}/events` with its login cookie; the relay's
/// answer. Panics unless the relay accepted the events.
#[track_caller]
pub fn publish(
    host: &str,
    origin: &str,
    cookie: &str,
    session: &str,
    events: &[serde_json::Value],
) -> serde_json::Value {
    let body = serde_json::json!({ "events": events }).to_string();
    let (status, head, body) = request(
        host,
        "POST",
        &format!("/v1/code/sessions/{session}/events"),
        &[
            ("Cookie", cookie),
            ("Origin", origin),
            ("Content-Type", "application/json"),
        ],
        &body,
    );
    assert_eq!(status, 200, "publishing was refused:\n{head}\n{body}");
    serde_json::from_str(&body).unwrap()
}

/// A response header's value (names compared case-insensitively).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The `Cookie` header value from a response's `set-cookie`.
pub fn cookie_from(head: &str) -> String {
    header(head, "set-cookie")
        .unwrap_or_else(|| panic!("no cookie set:\n{head}"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Log in to the relay at `host` as a browser from `origin`: the `Cookie` header value.
pub fn browser_login(host: &str, origin: &str, name: &str, password: &str) -> String {
    let (status, head, body) = request(
        host,
        "POST",
        "/login",
        &[
            ("Origin", origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("username={name}&password={}", password.replace(' ', "+")),
    );
    assert_eq!(status, 303, "{head}\n{body}");
    cookie_from(&head)
}

/// `tether relay user add NAME --password-stdin --db DB`.
pub fn add_relay_user(t: &Tether, db: &Path, name: &str, password: &str) {
    add_relay_user_on(t, &["--db", db.to_str().unwrap()], name, password);
}

/// The same on the database `store` names (`--db PATH` or `--database-url URL`).
pub fn add_relay_user_on(t: &Tether, store: &[&str], name: &str, password: &str) {
    let mut args = vec!["relay", "user", "add", name, "--password-stdin"];
    args.extend_from_slice(store);
    t.run_with_input(args, &format!("{password}\n"))
        .assert_success();
}
