//! Which address to print for the embedded relay: one a phone on the same network can reach.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// This machine's address on the network that carries its default route, found by "connecting"
/// a UDP socket (which sends nothing) and reading the local address the kernel chose. `None`
/// when there is no route, and then only this machine can reach the relay anyway.
pub fn outward_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1 (RFC 5737): never routed on the Internet, but the kernel still picks the
    // interface it would use.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// The address to put in the URL for a relay bound to `bound`.
pub fn public_host(bound: SocketAddr, outward: Option<IpAddr>) -> SocketAddr {
    let ip = bound.ip();
    if ip.is_unspecified() {
        // Bound on every interface: show the LAN address, or loopback if there is none.
        let ip = outward.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        SocketAddr::new(ip, bound.port())
    } else {
        bound
    }
}

/// Origins a browser may use for this relay besides the public one: this machine's own names.
pub fn local_origins(port: u16) -> Vec<String> {
    vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ]
}

fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{}", url_host(addr))
}

/// The embedded relay's public URL: over `https` with TLS, naming `--public-host` (with the
/// relay's port) when given, else `addr`.
pub fn public_url(tls: bool, name: Option<&str>, addr: SocketAddr) -> Result<String, String> {
    let scheme = if tls { "https" } else { "http" };
    let host = match name {
        Some(name) if is_host(name) => format!("{name}:{}", addr.port()),
        Some(name) => {
            return Err(format!(
                "--public-host `{name}` is not a host: give a name such as tether.example or an \
                 address, without a scheme or a port"
            ));
        }
        None => url_host(addr),
    };
    Ok(format!("{scheme}://{host}"))
}

/// A DNS name, an IPv4 address, or a bracketed IPv6 address.
fn is_host(name: &str) -> bool {
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// [`local_origins`] in `public`'s scheme: over TLS a browser on this machine sends `https://`.
pub fn local_origins_like(public: &str, port: u16) -> Vec<String> {
    let origins = local_origins(port);
    if public.starts_with("https://") {
        origins
            .into_iter()
            .map(|o| o.replacen("http://", "https://", 1))
            .collect()
    } else {
        origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_shows_the_lan_address_or_loopback() {
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8123".parse().unwrap();
        assert_eq!(public_host(any, Some(lan)).to_string(), "192.168.1.20:8123");
        assert_eq!(public_host(any, None).to_string(), "127.0.0.1:8123");
        let specific: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(public_host(specific, Some(lan)), specific);
        assert_eq!(base_url("[::1]:80".parse().unwrap()), "http://[::1]:80");
    }

    #[test]
    fn the_public_url_names_the_public_host_over_the_right_scheme() {
        let lan: SocketAddr = "192.168.1.20:8123".parse().unwrap();
        assert_eq!(
            public_url(false, None, lan).unwrap(),
            "http://192.168.1.20:8123"
        );
        assert_eq!(
            public_url(true, None, lan).unwrap(),
            "https://192.168.1.20:8123"
        );
        assert_eq!(
            public_url(true, Some("tether.example"), lan).unwrap(),
            "https://tether.example:8123"
        );
        assert_eq!(
            public_url(true, Some("[::1]"), lan).unwrap(),
            "https://[::1]:8123"
        );
        for bad in ["", "https://x", "x:443", "x/y", "a..b", "-a", "::1", "a b"] {
            assert!(public_url(true, Some(bad), lan).is_err(), "{bad}");
        }
        assert_eq!(
            local_origins_like("https://x:1", 1)[0],
            "https://127.0.0.1:1"
        );
        assert_eq!(local_origins_like("http://x:1", 1)[1], "http://localhost:1");
    }

    #[test]
    fn the_outward_address_is_never_loopback() {
        if let Some(ip) = outward_address() {
            assert!(!ip.is_loopback() && !ip.is_unspecified());
        }
    }
}
