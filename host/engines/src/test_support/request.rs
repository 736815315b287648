//! One HTTP/1.1 request as a test server reads it: the head, then a `content-length` body.
//! Parsing is pure ([`parse_head`]) so that the async server and the blocking reader agree.

use std::io::BufRead;
use std::time::Instant;

use serde_json::Value;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
    /// When the whole request had arrived: retries are checked by the time between two.
    pub at: Instant,
}

impl Recorded {
    /// The value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request's line and headers, before its body.
pub(crate) struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The body's length as `content-length` gives it (0 without one: these clients never
    /// chunk a request).
    pub(crate) fn content_length(&self) -> usize {
        self.headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    /// The request made of this head and its body, stamped now.
    pub(crate) fn with_body(self, body: &[u8]) -> Recorded {
        Recorded {
            method: self.method,
            path: self.path,
            headers: self.headers,
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            at: Instant::now(),
        }
    }
}

/// The request line and headers of a head (without its closing blank line), header names in
/// lower case. `None` if there is no request line.
pub(crate) fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n").map(|l| l.trim_end_matches('\n'));
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Head {
        method,
        path,
        headers,
    })
}

/// Reads one request from a blocking stream; `None` at the end of the connection (or on a head
/// that is not HTTP).
pub fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
        if line.trim_end().is_empty() {
            break;
        }
        head.push_str(line.trim_end_matches(['\r', '\n']));
        head.push_str("\r\n");
    }
    let head = parse_head(head.trim_end())?;
    let mut body = vec![0; head.content_length()];
    reader.read_exact(&mut body).ok()?;
    Some(head.with_body(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_request_and_its_body() {
        let wire = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\ncontent-length: 11\r\n\r\n{\"a\": true}GET / HTTP/1.1\r\n\r\n";
        let mut reader = std::io::BufReader::new(wire.as_bytes());
        let first = read_request(&mut reader).unwrap();
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("POST", "/v1/messages")
        );
        assert_eq!(first.header("x-api-key"), Some("k"));
        assert_eq!(first.header("X-API-KEY"), Some("k"));
        assert_eq!(first.body["a"], true);
        let second = read_request(&mut reader).unwrap();
        assert_eq!((second.path.as_str(), &second.body), ("/", &Value::Null));
        assert!(read_request(&mut reader).is_none());
    }
}
