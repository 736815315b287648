//! Which push endpoints the relay will call. A subscription's endpoint comes from a browser, so
//! it is a URL chosen by whoever is logged in: unchecked, the relay would POST wherever it is
//! told (its own network, a cloud metadata address: server-side request forgery). It calls only
//! HTTPS endpoints of the push services browsers use, and origins its operator names
//! (`--push-service`), which is also how the tests reach a push service of their own.

use std::fmt;

/// The push services of the browsers in use: Chrome, Edge's Chromium, Opera and Samsung
/// Internet (FCM), Firefox (Mozilla's autopush), Safari (Apple), Edge on Windows (WNS). A
/// leading dot matches the name's subdomains only.
pub const KNOWN_SERVICES: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    ".notify.windows.com",
];

/// The longest endpoint accepted; real ones are under 500 bytes.
pub const MAX_ENDPOINT: usize = 2048;

/// An origin the relay may push to: scheme, host and port, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOrigin {
    https: bool,
    host: String,
    port: u16,
}

impl ServiceOrigin {
    /// Parse `--push-service`'s `http(s)://host[:port]` (no path, no user).
    pub fn parse(text: &str) -> Result<ServiceOrigin, EndpointError> {
        let uri: http::Uri = text.parse().map_err(|_| EndpointError::NotAUrl)?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(EndpointError::NotAnOrigin);
        }
        origin_of(&uri)
    }
}

impl std::str::FromStr for ServiceOrigin {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<ServiceOrigin, EndpointError> {
        ServiceOrigin::parse(text)
    }
}

impl fmt::Display for ServiceOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Why an endpoint is refused; the message is what the browser's owner is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an absolute http(s) URL.
    #[error("The endpoint is not a URL.")]
    NotAUrl,
    /// `--push-service` with a path.
    #[error("A push service is named by its origin alone: scheme, host and port.")]
    NotAnOrigin,
    /// Over [`MAX_ENDPOINT`].
    #[error("The endpoint is longer than {MAX_ENDPOINT} bytes.")]
    TooLong,
    /// `user:password@` in the authority.
    #[error("The endpoint must not carry a user name or password.")]
    UserInfo,
    /// Plain HTTP to a service the operator did not name.
    #[error("Push endpoints must be HTTPS.")]
    NotHttps,
    /// A host that is neither a known service nor the operator's.
    #[error(
        "This relay does not push to {0}: only to the browsers' push services and those its operator allows."
    )]
    Unknown(String),
}

/// The push services a relay calls: the known ones on 443, and the operator's.
#[derive(Debug, Clone, Default)]
pub struct Services {
    extra: Vec<ServiceOrigin>,
}

impl Services {
    /// The known services, and `extra` besides.
    pub fn new(extra: Vec<ServiceOrigin>) -> Services {
        Services { extra }
    }

    /// The endpoint as a URI the relay may POST to, or why not.
    pub fn check(&self, endpoint: &str) -> Result<http::Uri, EndpointError> {
        if endpoint.len() > MAX_ENDPOINT {
            return Err(EndpointError::TooLong);
        }
        let uri: http::Uri = endpoint.parse().map_err(|_| EndpointError::NotAUrl)?;
        let origin = origin_of(&uri)?;
        if self.extra.contains(&origin) {
            return Ok(uri);
        }
        if !origin.https {
            return Err(EndpointError::NotHttps);
        }
        if origin.port == 443 && is_known(&origin.host) {
            return Ok(uri);
        }
        Err(EndpointError::Unknown(origin.host))
    }
}

fn is_known(host: &str) -> bool {
    KNOWN_SERVICES
        .iter()
        .any(|known| match known.strip_prefix('.') {
            Some(parent) => host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == *known,
        })
}

fn origin_of(uri: &http::Uri) -> Result<ServiceOrigin, EndpointError> {
    let authority = uri.authority().ok_or(EndpointError::NotAUrl)?;
    if authority.as_str().contains('@') {
        return Err(EndpointError::UserInfo);
    }
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(EndpointError::NotAUrl),
    };
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err(EndpointError::NotAUrl);
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(ServiceOrigin { https, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(extra: &[&str]) -> Services {
        Services::new(
            extra
                .iter()
                .map(|e| ServiceOrigin::parse(e).unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_browsers_push_services_are_allowed_over_https_on_443() {
        let s = services(&[]);
        for ok in [
            "https://fcm.googleapis.com/fcm/send/abc:def",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://web.push.apple.com/QO4o",
            "https://wns2-db5p.notify.windows.com/w/?token=x",
            "https://FCM.googleapis.com:443/fcm/send/x",
        ] {
            assert!(s.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let s = services(&[]);
        let cases = [
            (
                "http://fcm.googleapis.com/fcm/send/x",
                EndpointError::NotHttps,
            ),
            (
                "https://fcm.googleapis.com:8443/x",
                EndpointError::Unknown("fcm.googleapis.com".into()),
            ),
            (
                "https://fcm.googleapis.com.evil.example/x",
                EndpointError::Unknown("fcm.googleapis.com.evil.example".into()),
            ),
            (
                "https://notify.windows.com/x",
                EndpointError::Unknown("notify.windows.com".into()),
            ),
            (
                "https://evilnotify.windows.com/x",
                EndpointError::Unknown("evilnotify.windows.com".into()),
            ),
            (
                "https://169.254.169.254/latest/meta-data",
                EndpointError::Unknown("169.254.169.254".into()),
            ),
            (
                "https://localhost/x",
                EndpointError::Unknown("localhost".into()),
            ),
            (
                "https://user:pw@fcm.googleapis.com/x",
                EndpointError::UserInfo,
            ),
            ("file:///etc/passwd", EndpointError::NotAUrl),
            ("/relative", EndpointError::NotAUrl),
            ("not a url", EndpointError::NotAUrl),
            ("", EndpointError::NotAUrl),
        ];
        for (endpoint, why) in cases {
            assert_eq!(s.check(endpoint).unwrap_err(), why, "{endpoint}");
        }
        let long = format!("https://fcm.googleapis.com/{}", "a".repeat(MAX_ENDPOINT));
        assert_eq!(s.check(&long).unwrap_err(), EndpointError::TooLong);
    }

    #[test]
    fn an_operators_service_is_matched_by_its_exact_origin() {
        let s = services(&["http://127.0.0.1:8123"]);
        assert!(s.check("http://127.0.0.1:8123/push/1").is_ok());
        assert_eq!(
            s.check("http://127.0.0.1:8124/push/1").unwrap_err(),
            EndpointError::NotHttps
        );
        assert_eq!(
            s.check("https://127.0.0.1:8123/push/1").unwrap_err(),
            EndpointError::Unknown("127.0.0.1".into())
        );
        assert_eq!(
            ServiceOrigin::parse("http://127.0.0.1:8123/path").unwrap_err(),
            EndpointError::NotAnOrigin
        );
        assert_eq!(
            ServiceOrigin::parse("https://push.example")
                .unwrap()
                .to_string(),
            "https://push.example:443"
        );
    }
}
