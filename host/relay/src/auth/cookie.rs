//! The browser login cookie: its name and its `Set-Cookie` header.
//!
//! Cookies are not isolated by port (RFC 6265 §8.5): two relays on one host name, say two
//! `tether --remote` sessions, would each overwrite the other's cookie under a shared name and
//! log each other's browsers out. So the name carries the port browsers reach the relay on.
//! Over HTTPS it also carries the `__Host-` prefix, which browsers accept only from a secure
//! origin, with `Path=/` and without `Domain`: no subdomain, and no plain-HTTP page on the same
//! host, can plant or overwrite it.

use super::origin::origin_of;

const BASE: &str = "tether_login";

/// Whether the login cookie of a relay reached at `public_url` is `Secure`: one rule for the
/// name's `__Host-` prefix and the attribute, which browsers demand together (`HTTPS://`
/// counts: a prefixed cookie without `Secure` is dropped, and nobody could log in).
pub fn is_secure(public_url: &str) -> bool {
    origin_of(public_url).is_some_and(|o| o.starts_with("https://"))
}

/// The cookie's name for a relay reached at `public_url`.
pub fn name(public_url: &str) -> String {
    let origin = origin_of(public_url).unwrap_or_default();
    let secure = is_secure(public_url);
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    // `origin_of` drops the default port; what is left after the host (or after `]` for an
    // IPv6 literal) is an explicit one.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    let port = match authority[host_end..].rsplit_once(':') {
        Some((_, port)) => port,
        None if secure => "443",
        None => "80",
    };
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}{BASE}_{port}")
}

/// `Set-Cookie` for a login (`value`, kept `max_age` seconds) or, with `None`, its removal.
pub fn set_cookie(name: &str, value: Option<&str>, max_age: u64, secure: bool) -> String {
    let (value, max_age) = value.map_or(("", 0), |v| (v, max_age));
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_and_the_secure_attribute_follow_one_rule_whatever_the_schemes_case() {
        for url in [
            "https://relay.example",
            "HTTPS://relay.example",
            "Https://relay.example:8443",
        ] {
            assert!(is_secure(url), "{url}");
            assert!(name(url).starts_with("__Host-"), "{url}");
        }
        for url in ["http://relay.example", "HTTP://10.0.0.2:8080", "not a url"] {
            assert!(!is_secure(url), "{url}");
            assert!(!name(url).starts_with("__Host-"), "{url}");
        }
    }

    #[test]
    fn the_name_is_per_port_and_host_prefixed_over_https() {
        assert_eq!(name("http://192.168.1.5:41234"), "tether_login_41234");
        assert_eq!(name("http://192.168.1.5:41235/"), "tether_login_41235");
        assert_eq!(name("http://[::1]:8080"), "tether_login_8080");
        assert_eq!(name("http://[::1]"), "tether_login_80");
        assert_eq!(name("http://relay.example"), "tether_login_80");
        assert_eq!(name("https://relay.example"), "__Host-tether_login_443");
        assert_eq!(
            name("https://relay.example:8443/x"),
            "__Host-tether_login_8443"
        );
        assert_eq!(name("HTTPS://Relay.Example:443"), "__Host-tether_login_443");
    }

    #[test]
    fn set_cookie_is_strict_and_clears_with_max_age_zero() {
        assert_eq!(
            set_cookie("tether_login_80", Some("tthr_bl_x"), 60, false),
            "tether_login_80=tthr_bl_x; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert_eq!(
            set_cookie("__Host-tether_login_443", None, 60, true),
            "__Host-tether_login_443=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
    }
}
