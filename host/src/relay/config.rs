//! `masp-proxy` settings: one struct with a default for every setting,
//! read from a TOML file (optional), overridden by `MASP_PROXY_<NAME>`
//! environment variables, overridden by flags. A new setting is one field
//! and its default.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::RelayLimits;

/// Everything the proxy needs to run.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Address the proxy listens on (tunnels and its API).
    pub listen: SocketAddr,
    /// URL Senders reach it at (registered on chain).
    pub public_url: String,
    /// The chain node's WebSocket RPC URL.
    pub node_url: String,
    /// File holding the proxy account's secret phrase or URI. Relative to
    /// the config file.
    pub key_file: PathBuf,
    /// Where the receipts ledger lives. Relative to the config file.
    pub data_dir: PathBuf,
    /// Price per GiB relayed, in MASP (e.g. `"0.01"`), registered on chain.
    pub price: String,
    /// Connections (tunnels and API requests) served at once.
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once.
    pub max_connections_per_client: usize,
    /// Seconds a tunnel may carry nothing before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds reaching a host may take.
    pub connect_timeout_secs: u64,
    /// Bytes relayed for a payer beyond its best receipt (the proxy's risk
    /// per payer, and the client's room between receipts).
    pub credit_bytes: u64,
    /// Seconds a tunnel out of credit waits for a receipt.
    pub stall_timeout_secs: u64,
    /// How often the best receipts are redeemed on chain, seconds.
    pub redeem_interval_secs: u64,
    /// How often the registered endpoints are read from the chain, seconds.
    pub directory_refresh_secs: u64,
    /// Relay to endpoints on loopback/private/link-local addresses (a
    /// development chain only).
    pub allow_private_targets: bool,
    /// Write client addresses in the log (off: a proxy exists to hide them).
    pub log_client_addresses: bool,
    /// The local address connections to hosts leave from (empty: the
    /// system's choice).
    pub outgoing_address: String,
    /// Threads serving tunnels (0: one per CPU core).
    pub workers: usize,
    /// Serve TLS on the same port (certificate in `data_dir`, vouched for
    /// by the proxy's account) for clients that reach this proxy through
    /// another one (`--hops 2`). Off: such clients cannot use it as their
    /// second proxy.
    pub tls: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let l = RelayLimits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            public_url: "http://127.0.0.1:7080".into(),
            node_url: "ws://127.0.0.1:9944".into(),
            key_file: "proxy.key".into(),
            data_dir: "proxy-data".into(),
            price: "0.01".into(),
            max_connections: l.max_connections,
            max_connections_per_client: l.max_connections_per_client,
            idle_timeout_secs: l.idle_timeout.as_secs(),
            connect_timeout_secs: l.connect_timeout.as_secs(),
            credit_bytes: l.credit_bytes,
            stall_timeout_secs: l.stall_timeout.as_secs(),
            redeem_interval_secs: 60,
            directory_refresh_secs: 30,
            allow_private_targets: false,
            log_client_addresses: false,
            outgoing_address: String::new(),
            workers: 0,
            tls: true,
        }
    }
}

impl ProxyConfig {
    /// The bounds the relay runs with.
    pub fn limits(&self) -> RelayLimits {
        RelayLimits {
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            credit_bytes: self.credit_bytes,
            stall_timeout: Duration::from_secs(self.stall_timeout_secs),
            allow_private_targets: self.allow_private_targets,
            log_client_addresses: self.log_client_addresses,
            outgoing_address: self.outgoing_address.trim().parse().ok(),
            ..RelayLimits::default()
        }
    }

    /// The price in planck per GiB.
    pub fn price_planck(&self) -> Result<u128, ConfigError> {
        masp_primitives::token::parse(&self.price).ok_or_else(|| {
            ConfigError::Parse(format!(
                "price = {:?}: expected an amount of MASP per GiB relayed, e.g. \"0.01\"",
                self.price
            ))
        })
    }
}

/// The smallest `credit_bytes` accepted.
pub const MIN_CREDIT_BYTES: u64 = 1 << 20;

/// The file `masp-proxy init` writes: every setting at its default.
pub fn template() -> String {
    let body = toml::to_string(&ProxyConfig::default()).unwrap_or_default();
    format!(
        "# masp-proxy configuration. Every setting has a default and can also be\n\
         # given as MASP_PROXY_<NAME> in the environment or --set name=value (flags\n\
         # win, then the environment, then this file). See `masp-proxy run --help`.\n\n{body}"
    )
}

/// What is wrong with the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source} (create one with `masp-proxy init`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file, a variable or a flag does not parse.
    #[error("{0}")]
    Parse(String),
}

/// A value as given in the environment or a flag: a TOML value if it reads
/// as one (`8080`, `true`), else a string.
fn value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Reads `path` (if it exists, or if it was named: `required`), applies
/// `env` (`MASP_PROXY_*` pairs) then `flags` (`name=value`); relative paths
/// are made relative to the file's directory.
pub fn load(
    path: &Path,
    required: bool,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(String, String)],
) -> Result<ProxyConfig, ConfigError> {
    let mut table = match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => toml::Table::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for (name, raw) in env {
        if let Some(key) = name.strip_prefix("MASP_PROXY_") {
            table.insert(key.to_ascii_lowercase(), value(&raw));
        }
    }
    for (key, raw) in flags {
        table.insert(key.replace('-', "_"), value(raw));
    }
    // Strings where a string is meant, whatever they look like.
    for key in [
        "public_url",
        "node_url",
        "key_file",
        "data_dir",
        "price",
        "listen",
        "outgoing_address",
    ] {
        if let Some(v) = table.get_mut(key) {
            if !v.is_str() {
                *v = toml::Value::String(v.to_string());
            }
        }
    }
    // Through the text form, so an error shows the setting it is about.
    let text = toml::to_string(&table).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let mut cfg: ProxyConfig = toml::from_str(&text).map_err(|e: toml::de::Error| {
        ConfigError::Parse(format!(
            "{} (with MASP_PROXY_* and flags): {e}",
            path.display()
        ))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut cfg.key_file, &mut cfg.data_dir] {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    cfg.price_planck()?;
    if !cfg.outgoing_address.trim().is_empty()
        && cfg
            .outgoing_address
            .trim()
            .parse::<std::net::IpAddr>()
            .is_err()
    {
        return Err(ConfigError::Parse(format!(
            "outgoing_address = {:?}: expected an IP address of this machine, or empty",
            cfg.outgoing_address
        )));
    }
    if cfg.max_connections == 0
        || cfg.max_connections_per_client == 0
        || cfg.idle_timeout_secs == 0
        || cfg.connect_timeout_secs == 0
        || cfg.stall_timeout_secs == 0
    {
        return Err(ConfigError::Parse(
            "max_connections, max_connections_per_client, idle_timeout_secs, \
             connect_timeout_secs and stall_timeout_secs must be at least 1"
                .into(),
        ));
    }
    if cfg.credit_bytes < MIN_CREDIT_BYTES {
        return Err(ConfigError::Parse(format!(
            "credit_bytes = {}: at least {MIN_CREDIT_BYTES} (1 MiB): below that a tunnel waits \
             for a receipt every few reads and clients stall",
            cfg.credit_bytes
        )));
    }
    if !masp_primitives::endpoint::is_valid(cfg.public_url.as_bytes()) {
        return Err(ConfigError::Parse(format!(
            "public_url must be http:// or https:// followed by a host, not {:?}",
            cfg.public_url
        )));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        // No file: every default.
        let cfg = load(&path, false, [], &[]).unwrap();
        assert_eq!(cfg.credit_bytes, ProxyConfig::default().credit_bytes);
        assert_eq!(cfg.key_file, dir.path().join("proxy.key"));
        // The template loads and means the defaults.
        std::fs::write(&path, template()).unwrap();
        let expected = ProxyConfig {
            key_file: dir.path().join("proxy.key"),
            data_dir: dir.path().join("proxy-data"),
            ..Default::default()
        };
        assert_eq!(load(&path, true, [], &[]).unwrap(), expected);
        std::fs::write(&path, "credit_bytes = 5000000\nprice = \"2\"\n").unwrap();
        let env = [
            ("MASP_PROXY_CREDIT_BYTES".to_string(), "6000000".to_string()),
            ("MASP_PROXY_LOG_CLIENT_ADDRESSES".into(), "true".into()),
            ("OTHER".into(), "x".into()),
        ];
        let flags = [("credit-bytes".to_string(), "7000000".to_string())];
        let cfg = load(&path, true, env.clone(), &flags).unwrap();
        assert_eq!(cfg.credit_bytes, 7_000_000);
        assert!(cfg.log_client_addresses);
        assert_eq!(
            cfg.price_planck().unwrap(),
            2 * masp_primitives::token::UNIT
        );
        assert_eq!(load(&path, true, env, &[]).unwrap().credit_bytes, 6_000_000);
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        let err = |flags: &[(&str, &str)]| {
            let f: Vec<(String, String)> = flags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            load(&path, false, [], &f).unwrap_err().to_string()
        };
        assert!(err(&[("price", "abc")]).contains("amount of MASP"));
        let e = err(&[("credit_bytes", "lots")]);
        assert!(e.contains("credit_bytes"), "{e}");
        assert!(err(&[("no_such_setting", "1")]).contains("no_such_setting"));
        assert!(err(&[("public_url", "ftp://x")]).contains("public_url"));
        assert!(err(&[("idle_timeout_secs", "0")]).contains("at least 1"));
        assert!(err(&[("credit_bytes", "0")]).contains("1 MiB"));
        assert!(err(&[("credit_bytes", "65535")]).contains("1 MiB"));
        assert!(load(&path, true, [], &[])
            .unwrap_err()
            .to_string()
            .contains("masp-proxy init"));
    }
}
