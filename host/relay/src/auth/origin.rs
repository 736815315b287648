//! The Origin check for cookie-authenticated requests. Cookies ride along with any request the
//! browser makes, so a request that acts on one must prove it came from our own pages.
//! `SameSite=Strict` already stops most cross-site requests; this check is the second lock.

/// The origin (`scheme://host[:port]`, lower-case, default port dropped) of a URL, or `None`
/// when it is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_owned(),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

/// Why a cookie-authenticated request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginRefusal {
    /// A state-changing request without `Origin`.
    #[error("this request needs an Origin header")]
    Missing,
    /// From another site.
    #[error("requests from {0} are not allowed")]
    Foreign(String),
}

/// Whether a cookie-authenticated request may proceed. `unsafe_request` is true for anything that
/// changes state (POST, PUT, PATCH, DELETE) and for WebSocket upgrades, which browsers send with
/// an Origin but without CORS protection.
pub fn check(
    allowed: &[String],
    origin: Option<&str>,
    unsafe_request: bool,
) -> Result<(), OriginRefusal> {
    match origin {
        None if unsafe_request => Err(OriginRefusal::Missing),
        None => Ok(()),
        Some(o) => match origin_of(o) {
            Some(o) if allowed.contains(&o) => Ok(()),
            _ => Err(OriginRefusal::Foreign(o.chars().take(100).collect())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("https://Relay.Example.com/code/x?y#z").as_deref(),
            Some("https://relay.example.com")
        );
        assert_eq!(
            origin_of("https://relay.example.com:443").as_deref(),
            Some("https://relay.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:80/").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]:8080")
        );
        for bad in [
            "",
            "null",
            "ftp://x",
            "http://",
            "https://user@host",
            "javascript:alert(1)",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_combination() {
        let allowed = vec!["https://relay.example.com".to_string()];
        for unsafe_request in [false, true] {
            assert!(check(&allowed, Some("https://relay.example.com"), unsafe_request).is_ok());
            assert!(
                check(
                    &allowed,
                    Some("https://RELAY.example.com:443"),
                    unsafe_request
                )
                .is_ok()
            );
            for foreign in [
                "https://evil.example",
                "http://relay.example.com",
                "https://relay.example.com.evil",
                "null",
                "",
            ] {
                assert!(
                    matches!(
                        check(&allowed, Some(foreign), unsafe_request),
                        Err(OriginRefusal::Foreign(_))
                    ),
                    "{foreign} {unsafe_request}"
                );
            }
        }
        assert_eq!(check(&allowed, None, false), Ok(()));
        assert_eq!(check(&allowed, None, true), Err(OriginRefusal::Missing));
    }
}
