//! Which address a request comes from, for the throttles and the logs.
//!
//! Behind a TLS proxy every request arrives from the proxy, so keying throttles on the socket
//! address would make one client's failures lock out everyone. The proxy says who its client
//! was in `X-Forwarded-For` or `Forwarded` (RFC 7239), but anyone can send those headers: they
//! are believed only when the socket peer is a proxy the operator named (`--trusted-proxy`), and
//! only as far as the chain of trusted proxies goes. Walking from the right (the hop nearest to
//! us), each trusted address is skipped; the first address that is not trusted is the client.
//! Whatever a client wrote to the left of that is ignored, so it cannot choose its own address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a `--trusted-proxy` value is not a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Neither an address nor `address/prefix`.
    #[error("`{0}` is not an IP address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8)")]
    Syntax(String),
    /// A prefix longer than the address has bits.
    #[error("`{0}`: the prefix length is at most {1} for this address family")]
    Prefix(String, u8),
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1`, a range of one).
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let text = text.trim();
        let syntax = || CidrError::Syntax(text.chars().take(80).collect());
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(addr.parse().map_err(|_| syntax())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().map_err(|_| syntax())?
            }
            Some(_) => return Err(syntax()),
        };
        if prefix > max {
            return Err(CidrError::Prefix(text.chars().take(80).collect(), max));
        }
        Ok(Cidr {
            network: mask(network, prefix),
            prefix,
        })
    }

    /// Whether `addr` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cidr::parse(s)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An IPv4 peer of a dual-stack socket shows up as `::ffff:a.b.c.d`; it is the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// The forwarding headers of one request, each as received (every instance, in order).
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarding<'a> {
    /// Every `X-Forwarded-For` header.
    pub x_forwarded_for: &'a [&'a str],
    /// Every `Forwarded` header (RFC 7239).
    pub forwarded: &'a [&'a str],
}

/// The client's address: `peer` (the socket's), unless `peer` is a trusted proxy that said who
/// its client was.
///
/// A trusted peer's headers are read as a chain of hops, nearest last. When both headers are
/// present and name different clients, one of them was written by the client and passed through
/// unchanged by a proxy that sets only the other; there is no telling which, so the answer is
/// `peer`. Clients that send such headers then share the proxy's address (and its throttle),
/// while everyone else keeps their own. A hop that cannot be read (`unknown`, an obfuscated
/// identifier, garbage) before a client is found also gives `peer`.
pub fn client_address(peer: IpAddr, trusted: &[Cidr], headers: Forwarding<'_>) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let from_xff = (!headers.x_forwarded_for.is_empty())
        .then(|| walk(x_forwarded_for_hops(headers.x_forwarded_for), &is_trusted));
    let from_forwarded = (!headers.forwarded.is_empty())
        .then(|| walk(forwarded_hops(headers.forwarded), &is_trusted));
    match (from_xff, from_forwarded) {
        (Some(a), Some(b)) if a == b => a.unwrap_or(peer),
        (Some(_), Some(_)) => peer,
        (Some(a), None) | (None, Some(a)) => a.unwrap_or(peer),
        (None, None) => peer,
    }
}

/// The first untrusted hop from the right; if every hop is trusted, the leftmost (the request
/// began inside the trusted network). `None` when a hop cannot be read before that.
fn walk(hops: Vec<Option<IpAddr>>, is_trusted: &impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let mut last = None;
    for hop in hops.into_iter().rev() {
        let addr = canonical(hop?);
        if !is_trusted(addr) {
            return Some(addr);
        }
        last = Some(addr);
    }
    last
}

/// `X-Forwarded-For: client, proxy1, proxy2`; several headers are one list, in order.
fn x_forwarded_for_hops(values: &[&str]) -> Vec<Option<IpAddr>> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// RFC 7239: `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`. Each element
/// is one hop; an element without `for` says nothing about the client and cannot be read.
fn forwarded_hops(values: &[&str]) -> Vec<Option<IpAddr>> {
    values
        .iter()
        .flat_map(|v| split_outside_quotes(v, ','))
        .map(|element| {
            let mut found = None;
            for pair in split_outside_quotes(element, ';') {
                let (name, value) = pair.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("for") {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(unquote(value.trim())?);
                }
            }
            parse_node(&found?)
        })
        .collect()
}

/// Split on `sep` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token, or a quoted string with its escapes undone.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains(['"', '\\'])).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`. Anything else (`unknown`, `_hidden`) is unreadable.
fn parse_node(node: &str) -> Option<IpAddr> {
    if node.len() > 64 {
        return None;
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok.then(|| addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    let (addr, port) = node.rsplit_once(':')?;
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    port_ok.then(|| addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).unwrap()).collect()
    }

    fn xff(peer: &str, trusted: &[&str], values: &[&str]) -> IpAddr {
        client_address(
            ip(peer),
            &cidrs(trusted),
            Forwarding {
                x_forwarded_for: values,
                forwarded: &[],
            },
        )
    }

    fn fwd(peer: &str, trusted: &[&str], values: &[&str]) -> IpAddr {
        client_address(
            ip(peer),
            &cidrs(trusted),
            Forwarding {
                x_forwarded_for: &[],
                forwarded: values,
            },
        )
    }

    #[test]
    fn cidrs_parse_mask_and_match() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(
            c.contains(ip("::ffff:10.0.0.1")),
            "a mapped IPv4 address is IPv4"
        );
        assert!(!c.contains(ip("::1")));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
        assert!(matches!(
            Cidr::parse("10.0.0.0/33"),
            Err(CidrError::Prefix(_, 32))
        ));
        assert!(matches!(
            Cidr::parse("fd00::/129"),
            Err(CidrError::Prefix(_, 128))
        ));
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "10.0.0",
            "localhost",
            "10.0.0.0/0008",
            "[::1]",
        ] {
            assert!(
                matches!(Cidr::parse(bad), Err(CidrError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let trusted = ["10.0.0.0/8"];
        for peer in ["203.0.113.7", "127.0.0.1", "2001:db8::7"] {
            assert_eq!(xff(peer, &trusted, &["198.51.100.1"]), ip(peer));
            assert_eq!(xff(peer, &trusted, &["10.0.0.1"]), ip(peer), "{peer}");
            assert_eq!(fwd(peer, &trusted, &["for=198.51.100.1"]), ip(peer));
        }
        // With nothing trusted, nothing is believed.
        assert_eq!(xff("10.0.0.1", &[], &["198.51.100.1"]), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_its_client() {
        let t = ["127.0.0.1"];
        assert_eq!(xff("127.0.0.1", &t, &["198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(xff("127.0.0.1", &t, &[" 2001:db8::1 "]), ip("2001:db8::1"));
        assert_eq!(
            xff("::ffff:127.0.0.1", &t, &["198.51.100.1"]),
            ip("198.51.100.1"),
            "a dual-stack socket's mapped address is trusted as IPv4"
        );
        assert_eq!(
            xff("127.0.0.1", &t, &["::ffff:198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Ports, as some proxies write them.
        assert_eq!(
            xff("127.0.0.1", &t, &["198.51.100.1:4711"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            xff("127.0.0.1", &t, &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        assert_eq!(xff("127.0.0.1", &t, &["[2001:db8::1]"]), ip("2001:db8::1"));
        // No header: the proxy itself (a health check, say).
        assert_eq!(xff("127.0.0.1", &t, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn multiple_hops_stop_at_the_first_untrusted_one() {
        let t = ["127.0.0.1", "10.0.0.0/8"];
        // client → CDN (10.1.1.1) → local proxy (127.0.0.1) → relay
        assert_eq!(
            xff("127.0.0.1", &t, &["198.51.100.1, 10.1.1.1"]),
            ip("198.51.100.1")
        );
        // Several headers are one list.
        assert_eq!(
            xff("127.0.0.1", &t, &["198.51.100.1", "10.1.1.1"]),
            ip("198.51.100.1")
        );
        // The whole chain inside the trusted network: the leftmost.
        assert_eq!(
            xff("127.0.0.1", &t, &["10.2.2.2, 10.1.1.1"]),
            ip("10.2.2.2")
        );
        // An untrusted hop in the middle is the client; what it claims further left is not.
        assert_eq!(
            xff("127.0.0.1", &t, &["192.0.2.99, 203.0.113.5, 10.1.1.1"]),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn spoofing_through_a_trusted_proxy_gets_nowhere() {
        let t = ["127.0.0.1"];
        // The attacker sends `X-Forwarded-For: <victim>`; the proxy appends the attacker's own
        // address. The attacker is the one throttled, whatever it wrote.
        for spoof in [
            "192.0.2.1",
            "127.0.0.1",
            "garbage",
            "unknown",
            "192.0.2.1, 127.0.0.1",
            "",
        ] {
            let header = format!("{spoof}, 203.0.113.66");
            assert_eq!(
                xff("127.0.0.1", &t, &[&header]),
                ip("203.0.113.66"),
                "{spoof}"
            );
            assert_eq!(
                xff("127.0.0.1", &t, &[spoof, "203.0.113.66"]),
                ip("203.0.113.66"),
                "{spoof}"
            );
        }
        // The attacker also sends a `Forwarded` header the proxy passes through unchanged: the
        // two disagree, so neither is believed.
        let both = client_address(
            ip("127.0.0.1"),
            &cidrs(&t),
            Forwarding {
                x_forwarded_for: &["203.0.113.66"],
                forwarded: &["for=192.0.2.1"],
            },
        );
        assert_eq!(both, ip("127.0.0.1"));
        // A proxy that sets both headers the same way is believed.
        let agree = client_address(
            ip("127.0.0.1"),
            &cidrs(&t),
            Forwarding {
                x_forwarded_for: &["203.0.113.66"],
                forwarded: &["for=203.0.113.66;proto=https"],
            },
        );
        assert_eq!(agree, ip("203.0.113.66"));
    }

    #[test]
    fn garbage_where_the_client_should_be_falls_back_to_the_peer() {
        let t = ["127.0.0.1"];
        for garbage in [
            "unknown",
            "_hidden",
            "",
            " , ",
            "203.0.113.5:",
            "203.0.113.5:http",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "2001:db8::1:4711:",
            "[203.0.113.5]",
            "300.1.1.1",
            "1.2.3.4.5",
            "\u{0}",
            &"1".repeat(100),
        ] {
            assert_eq!(
                xff("127.0.0.1", &t, &[garbage]),
                ip("127.0.0.1"),
                "{garbage:?}"
            );
            assert_eq!(
                xff("127.0.0.1", &t, &[&format!("198.51.100.1, {garbage}")]),
                ip("127.0.0.1"),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn rfc_7239_forms() {
        let t = ["127.0.0.1"];
        for (header, client) in [
            ("for=192.0.2.60", "192.0.2.60"),
            ("For=192.0.2.60", "192.0.2.60"),
            ("for=\"192.0.2.60\"", "192.0.2.60"),
            ("for=\"192.0.2.60:47011\"", "192.0.2.60"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (
                "proto=https; for=192.0.2.60 ;host=relay.example",
                "192.0.2.60",
            ),
            ("for=192.0.2.43, for=198.51.100.17", "198.51.100.17"),
            ("for=\"\\192.0.2.60\"", "192.0.2.60"),
            ("by=\"a;b,c\";for=192.0.2.60", "192.0.2.60"),
        ] {
            assert_eq!(fwd("127.0.0.1", &t, &[header]), ip(client), "{header}");
        }
        // Several headers are one list, nearest last.
        assert_eq!(
            fwd("127.0.0.1", &t, &["for=192.0.2.43", "for=198.51.100.17"]),
            ip("198.51.100.17")
        );
        // Trusted hops are skipped.
        assert_eq!(
            fwd("127.0.0.1", &t, &["for=192.0.2.43, for=127.0.0.1"]),
            ip("192.0.2.43")
        );
        for unreadable in [
            "for=unknown",
            "for=_hidden",
            "for=\"_gazonk\"",
            "proto=https",
            "for=[2001:db8::1]x",
            "for=2001:db8::1]",
            "for=\"192.0.2.60",
            "for=19\"2.0.2.60",
            "for=192.0.2.60;for=192.0.2.61",
            "for",
            "=",
            "",
            "for=\"[2001:db8::1]:\"",
            "for=192.0.2.43, for=unknown",
        ] {
            assert_eq!(
                fwd("127.0.0.1", &t, &[unreadable]),
                ip("127.0.0.1"),
                "{unreadable}"
            );
        }
    }
}
