//! Network endpoints that accounts publish on chain (a host's daemon, a
//! proxy): one validation rule for every pallet that stores one.

/// Whether `endpoint` is acceptable: `http://` or `https://` followed by at
/// least one printable ASCII character and nothing else (no spaces, no
/// control bytes). The length bound is each pallet's own (`MaxEndpointLen`).
pub fn is_valid(endpoint: &[u8]) -> bool {
    endpoint
        .strip_prefix(b"https://")
        .or_else(|| endpoint.strip_prefix(b"http://"))
        .is_some_and(|rest| !rest.is_empty() && rest.iter().all(|b| b.is_ascii_graphic()))
}

/// Whether `ip` is not a public unicast address: loopback, private
/// (RFC 1918, IPv6 unique local), link-local, shared (RFC 6598),
/// unspecified, broadcast or multicast, also inside IPv4-mapped,
/// IPv4-compatible and NAT64 (`64:ff9b::/96`) IPv6 addresses. Clients and
/// proxies refuse to reach endpoints on such addresses (outside development
/// chains): a hostile account must not turn them into probes of their own
/// networks.
pub fn is_private_ip(ip: core::net::IpAddr) -> bool {
    use core::net::{IpAddr, Ipv4Addr};
    fn v4(ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || o[0] == 0
            || (o[0] == 100 && (o[1] & 0xc0) == 64)
    }
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            let s = ip.segments();
            if let Some(inner) = ip.to_ipv4() {
                // ::a.b.c.d and ::ffff:a.b.c.d (and ::1, ::).
                return v4(inner);
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return v4(Ipv4Addr::new(a, b, c, d));
            }
            ip.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn http_or_https_then_printable_ascii() {
        assert!(is_valid(b"https://a.b"));
        assert!(is_valid(b"http://127.0.0.1:8080/x"));
        assert!(!is_valid(b"https://"));
        assert!(!is_valid(b"ftp://a.b"));
        assert!(!is_valid(b"https://a b"));
        assert!(!is_valid(b"https://a\n"));
        assert!(!is_valid(b"a.b"));
        assert!(!is_valid("https://é".as_bytes()));
    }
}
