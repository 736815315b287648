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
    fn the_outward_address_is_never_loopback() {
        if let Some(ip) = outward_address() {
            assert!(!ip.is_loopback() && !ip.is_unspecified());
        }
    }
}
