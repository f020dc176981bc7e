//! `masp-proxy` settings: one struct with a default for every setting,
//! layered like `masp-host`'s ([`crate::config`]): the defaults, then a TOML
//! file (optional), then `MASP_PROXY_<NAME>` environment variables, then
//! flags. A new setting is one field and its default.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::RelayLimits;
pub use crate::config::ConfigError;
use crate::config::{invalid, layered, masp_amount, CommonFlags};

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
    /// Price per GiB relayed, in planck (written in MASP, e.g. `"0.01"`),
    /// registered on chain.
    #[serde(with = "masp_amount")]
    pub price: u128,
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
            price: masp_primitives::token::UNIT / 100,
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
}

/// The smallest `credit_bytes` accepted.
pub const MIN_CREDIT_BYTES: u64 = 1 << 20;

/// The file `masp-proxy init` writes: every setting at its default.
pub fn template() -> String {
    let body = toml::to_string(&ProxyConfig::default()).unwrap_or_default();
    format!(
        "# masp-proxy configuration. Every setting has a default (the value shown),\n\
         # so any line may be left out. Each can also be given as MASP_PROXY_<NAME>\n\
         # in the environment or as a flag (--price, ..., or --set name=value for\n\
         # any setting); flags win, then the environment, then this file. See\n\
         # `masp-proxy run --help`.\n\
         #\n\
         # price is in MASP per GiB relayed: a string with at most 12 decimals\n\
         # (\"0.01\") or a whole number (1), not a TOML decimal number (0.01),\n\
         # which would be rounded.\n\n{body}"
    )
}

/// Flags of `masp-proxy register` and `run` (`None`, empty: not given).
/// Each overrides the setting of the same name; `--set` any setting.
#[derive(Clone, Debug, Default, clap::Args, Serialize)]
pub struct ProxyFlags {
    /// `--listen`, `--public-url`, `--node`, `--key-file`, `--data-dir`, `--set`.
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonFlags,
    /// Overrides `price` (MASP per GiB relayed, e.g. 0.01).
    #[arg(long, value_name = "MASP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
}

/// Reads `path` (if it exists, or if it was named: `required`), applies
/// `env` (`MASP_PROXY_*` pairs; others and unknown names are ignored) then
/// `flags`; relative paths are made relative to the file's directory.
pub fn load(
    path: &Path,
    required: bool,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &ProxyFlags,
) -> Result<ProxyConfig, ConfigError> {
    let file = match std::fs::File::open(path) {
        Ok(_) => Some(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                program: "masp-proxy",
                source,
            })
        }
    };
    let (mut cfg, layers): (ProxyConfig, _) =
        layered(file, "MASP_PROXY_", env, flags, &flags.common.set)?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut cfg.key_file, &mut cfg.data_dir] {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    if !cfg.outgoing_address.trim().is_empty()
        && cfg
            .outgoing_address
            .trim()
            .parse::<std::net::IpAddr>()
            .is_err()
    {
        return Err(invalid(
            &layers,
            "outgoing_address",
            format!(
                "{:?}: expected an IP address of this machine, or empty",
                cfg.outgoing_address
            ),
        ));
    }
    for (key, value) in [
        ("max_connections", cfg.max_connections as u64),
        (
            "max_connections_per_client",
            cfg.max_connections_per_client as u64,
        ),
        ("idle_timeout_secs", cfg.idle_timeout_secs),
        ("connect_timeout_secs", cfg.connect_timeout_secs),
        ("stall_timeout_secs", cfg.stall_timeout_secs),
    ] {
        if value == 0 {
            return Err(invalid(&layers, key, "0: must be at least 1".into()));
        }
    }
    if cfg.credit_bytes < MIN_CREDIT_BYTES {
        return Err(invalid(
            &layers,
            "credit_bytes",
            format!(
                "{}: at least {MIN_CREDIT_BYTES} (1 MiB): below that a tunnel waits for a \
                 receipt every few reads and clients stall",
                cfg.credit_bytes
            ),
        ));
    }
    if !masp_primitives::endpoint::is_valid(cfg.public_url.as_bytes()) {
        return Err(invalid(
            &layers,
            "public_url",
            format!(
                "must be http:// or https:// followed by a host, not {:?}",
                cfg.public_url
            ),
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use masp_primitives::token::UNIT;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(p: &[(&str, &str)]) -> ProxyFlags {
        ProxyFlags {
            common: CommonFlags {
                set: p.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        // No file: every default.
        let cfg = load(&path, false, [], &ProxyFlags::default()).unwrap();
        assert_eq!(cfg.credit_bytes, ProxyConfig::default().credit_bytes);
        assert_eq!(cfg.key_file, dir.path().join("proxy.key"));
        assert_eq!(cfg.price, UNIT / 100);
        // The template loads and means the defaults.
        std::fs::write(&path, template()).unwrap();
        let expected = ProxyConfig {
            key_file: dir.path().join("proxy.key"),
            data_dir: dir.path().join("proxy-data"),
            ..Default::default()
        };
        let none = ProxyFlags::default();
        assert_eq!(load(&path, true, [], &none).unwrap(), expected);
        std::fs::write(&path, "credit_bytes = 5000000\nprice = \"2\"\n").unwrap();
        let cfg = load(&path, true, [], &none).unwrap();
        assert_eq!((cfg.credit_bytes, cfg.price), (5_000_000, 2 * UNIT));
        let env = pairs(&[
            ("MASP_PROXY_CREDIT_BYTES", "6000000"),
            ("MASP_PROXY_LOG_CLIENT_ADDRESSES", "true"),
            ("MASP_PROXY_PRICE", "0.5"),
            ("OTHER", "x"),
        ]);
        let cfg = load(&path, true, env.clone(), &none).unwrap();
        assert_eq!((cfg.credit_bytes, cfg.price), (6_000_000, UNIT / 2));
        assert!(cfg.log_client_addresses);
        let flags = ProxyFlags {
            price: Some("0.25".into()),
            ..set(&[("credit-bytes", "7000000")])
        };
        let cfg = load(&path, true, env, &flags).unwrap();
        assert_eq!((cfg.credit_bytes, cfg.price), (7_000_000, UNIT / 4));
        assert!(cfg.log_client_addresses);
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        let err =
            |flags: &[(&str, &str)]| load(&path, false, [], &set(flags)).unwrap_err().to_string();
        for bad in ["abc", "0.0000000000001", "1,5", "-1"] {
            let e = err(&[("price", bad)]);
            assert!(
                e.contains("amount of MASP") && e.contains("--set price"),
                "{e}"
            );
            let e = load(
                &path,
                false,
                pairs(&[("MASP_PROXY_PRICE", bad)]),
                &ProxyFlags::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("MASP_PROXY_PRICE"), "{e}");
        }
        let e = err(&[("credit_bytes", "lots")]);
        assert!(e.contains("credit_bytes"), "{e}");
        assert!(err(&[("no_such_setting", "1")]).contains("no_such_setting"));
        assert!(err(&[("public_url", "ftp://x")]).contains("public_url"));
        assert!(err(&[("idle_timeout_secs", "0")]).contains("at least 1"));
        assert!(err(&[("credit_bytes", "0")]).contains("1 MiB"));
        let e = err(&[("credit_bytes", "65535")]);
        assert!(
            e.contains("credit_bytes from --set credit_bytes") && e.contains("1 MiB"),
            "{e}"
        );
        assert!(load(&path, true, [], &ProxyFlags::default())
            .unwrap_err()
            .to_string()
            .contains("masp-proxy init"));
        std::fs::write(&path, "tls = true\ntsl = false\n").unwrap();
        let e = load(&path, true, [], &ProxyFlags::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tsl") && e.contains("proxy.toml"), "{e}");
    }
}
