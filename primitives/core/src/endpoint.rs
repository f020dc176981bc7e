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
