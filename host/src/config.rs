//! Settings: a TOML file, overridden by `MASP_HOST_*` environment variables,
//! overridden by command-line flags.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Everything the daemon needs to run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where chunks and the index live.
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// URL Senders reach the API at (registered on chain).
    pub public_url: String,
    /// The chain node's WebSocket RPC URL.
    pub node_url: String,
    /// File holding the host account's secret phrase or URI (e.g. a 24-word
    /// mnemonic, or `//Alice` on a dev chain). Relative to the config file.
    pub key_file: PathBuf,
    /// Region code registered on chain (e.g. `eu`).
    pub region: String,
    /// Bytes offered.
    pub capacity: u64,
    /// Price per GiB per epoch, in the smallest MASP unit.
    pub price: u64,
    /// Insurance deposit to keep posted, in the smallest MASP unit.
    pub deposit: u64,
    /// Shortest contract accepted, epochs.
    pub min_duration: u32,
    /// Longest contract accepted, epochs.
    pub max_duration: u32,
    /// How long an ended contract's data is kept, seconds.
    pub grace_period_secs: u64,
    /// How often all stored data is re-hashed, seconds (0: never).
    pub scrub_interval_secs: u64,
    /// How often the chain is polled, milliseconds.
    pub poll_interval_ms: u64,
    /// Threads serving HTTP and following the chain (0: one per CPU core).
    /// Disk reads, proofs and scrubs run in a separate pool either way.
    #[serde(default)]
    pub workers: usize,
    /// Connections served at once; more wait in the kernel's backlog. Also
    /// bounded at startup by the open-file limit, leaving descriptors for
    /// the index, the chain and the prover.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections one peer address (an IPv6 /64) may hold at once; more
    /// are answered 503 and closed.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Seconds a request body (an upload) may take to arrive whole; a
    /// slower one is answered 408 and its connection closed.
    #[serde(default = "default_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Planck per GiB served to downloaders (0: downloads are free). Set on
    /// chain at start (`set_egress_price`); the host charges the chain's
    /// value.
    #[serde(default)]
    pub egress_price: u64,
    /// How often the egress receipts held are redeemed on chain, seconds.
    #[serde(default = "default_redeem_interval_secs")]
    pub redeem_interval_secs: u64,
}

fn default_redeem_interval_secs() -> u64 {
    60
}

fn default_max_connections() -> usize {
    1024
}

fn default_max_connections_per_ip() -> usize {
    128
}

fn default_body_timeout_secs() -> u64 {
    60
}

impl Config {
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(100))
    }

    /// The interval between two redemptions of egress receipts.
    pub fn redeem_interval(&self) -> Duration {
        Duration::from_secs(self.redeem_interval_secs.max(1))
    }
}

/// The file `masp-host init` writes.
pub const TEMPLATE: &str = r#"# masp-host configuration.
# Every setting can also be given as an environment variable
# (MASP_HOST_<NAME>, e.g. MASP_HOST_LISTEN) or a flag (--listen); flags win,
# then the environment, then this file.

# Where chunks and their index are stored.
data_dir = "data"
# Address the HTTP API listens on.
listen = "127.0.0.1:7070"
# URL Senders reach the API at; registered on chain by `masp-host register`.
public_url = "http://127.0.0.1:7070"
# The chain node's WebSocket RPC URL.
node_url = "ws://127.0.0.1:9944"
# File with the host account's secret phrase (mode 0600). `//Alice` etc. on a
# dev chain. Relative paths are relative to this file.
key_file = "host.key"
# Region code shown to Senders.
region = "eu"
# Bytes offered (here 100 GiB).
capacity = 107374182400
# Price per GiB per epoch, in the smallest MASP unit (10^-12 MASP).
price = 1000000000
# Insurance deposit kept posted, in the smallest MASP unit (here 100 MASP).
deposit = 100000000000000
# Contract lengths accepted, in epochs.
min_duration = 1
max_duration = 8784
# Seconds an ended contract's data is kept before it is deleted.
grace_period_secs = 3600
# Seconds between two scrubs of all stored data (0: never).
scrub_interval_secs = 86400
# Milliseconds between two looks at the chain.
poll_interval_ms = 1000
# Threads serving HTTP and following the chain; 0: one per CPU core. Disk
# reads, proofs and scrubs run in a separate pool either way. On a machine
# shared with other busy programs, fewer threads cost less per request.
workers = 0
# Connections served at once (more wait; also bounded by the open-file
# limit, leaving room for the prover), per peer address, and the seconds an
# upload's body may take to arrive.
max_connections = 1024
max_connections_per_ip = 128
body_timeout_secs = 60
# Price per GiB served to downloaders (Receivers, and Senders reading their
# own files), in the smallest MASP unit; 0: downloads are free. Set on chain
# when the daemon starts; downloaders pay through egress channels with signed
# receipts, which the daemon redeems every `redeem_interval_secs` seconds.
egress_price = 0
redeem_interval_secs = 60
"#;

/// Overrides from flags (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--node`.
    pub node_url: Option<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--price`.
    pub price: Option<u64>,
    /// `--capacity`.
    pub capacity: Option<u64>,
    /// `--workers`.
    pub workers: Option<usize>,
}

/// What is wrong with the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source} (create one with `masp-host init`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or a variable does not parse.
    #[error("{0}")]
    Parse(String),
}

/// The settings `MASP_HOST_<NAME>` may set, and whether each is a number.
const KEYS: &[(&str, bool)] = &[
    ("data_dir", false),
    ("listen", false),
    ("public_url", false),
    ("node_url", false),
    ("key_file", false),
    ("region", false),
    ("capacity", true),
    ("price", true),
    ("deposit", true),
    ("min_duration", true),
    ("max_duration", true),
    ("grace_period_secs", true),
    ("scrub_interval_secs", true),
    ("poll_interval_ms", true),
    ("workers", true),
    ("max_connections", true),
    ("max_connections_per_ip", true),
    ("body_timeout_secs", true),
    ("egress_price", true),
    ("redeem_interval_secs", true),
];

/// Reads `path`, applies `env` (`MASP_HOST_*` pairs) and `flags`; relative
/// paths are made relative to the file's directory.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &Overrides,
) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?;
    for (name, value) in env {
        let Some(key) = name.strip_prefix("MASP_HOST_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        let Some(&(_, number)) = KEYS.iter().find(|(k, _)| *k == key) else {
            continue;
        };
        let v = if number {
            toml::Value::Integer(value.trim().parse::<i64>().map_err(|_| {
                ConfigError::Parse(format!("{name}={value:?}: expected a whole number"))
            })?)
        } else {
            toml::Value::String(value)
        };
        table.insert(key, v);
    }
    let mut cfg: Config = table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Parse(format!("{}: {e}", path.display())))?;
    if let Some(v) = &flags.data_dir {
        cfg.data_dir = v.clone();
    }
    if let Some(v) = flags.listen {
        cfg.listen = v;
    }
    if let Some(v) = &flags.public_url {
        cfg.public_url = v.clone();
    }
    if let Some(v) = &flags.node_url {
        cfg.node_url = v.clone();
    }
    if let Some(v) = &flags.key_file {
        cfg.key_file = v.clone();
    }
    if let Some(v) = flags.price {
        cfg.price = v;
    }
    if let Some(v) = flags.capacity {
        cfg.capacity = v;
    }
    if let Some(v) = flags.workers {
        cfg.workers = v;
    }
    let base = path.parent().unwrap_or(Path::new("."));
    if cfg.data_dir.is_relative() {
        cfg.data_dir = base.join(&cfg.data_dir);
    }
    if cfg.key_file.is_relative() {
        cfg.key_file = base.join(&cfg.key_file);
    }
    if cfg.min_duration == 0 || cfg.min_duration > cfg.max_duration {
        return Err(ConfigError::Parse(format!(
            "min_duration ({}) must be at least 1 and at most max_duration ({})",
            cfg.min_duration, cfg.max_duration
        )));
    }
    if cfg.max_connections == 0 || cfg.max_connections_per_ip == 0 || cfg.body_timeout_secs == 0 {
        return Err(ConfigError::Parse(
            "max_connections, max_connections_per_ip and body_timeout_secs must be at least 1"
                .into(),
        ));
    }
    if !(cfg.public_url.starts_with("http://") || cfg.public_url.starts_with("https://")) {
        return Err(ConfigError::Parse(format!(
            "public_url must start with http:// or https://, not {:?}",
            cfg.public_url
        )));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_loads_and_env_then_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(&path, TEMPLATE).unwrap();
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:7070".parse().unwrap());
        assert_eq!(cfg.data_dir, dir.path().join("data"));
        let env = [
            ("MASP_HOST_LISTEN".to_string(), "127.0.0.1:9000".to_string()),
            ("MASP_HOST_PRICE".to_string(), "5".to_string()),
            // A string setting that looks like a number stays a string.
            ("MASP_HOST_REGION".to_string(), "1".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let cfg = load(&path, env.clone(), &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(cfg.price, 5);
        assert_eq!(cfg.region, "1");
        let flags = Overrides {
            listen: Some("127.0.0.1:9001".parse().unwrap()),
            capacity: Some(1 << 40),
            ..Default::default()
        };
        let cfg = load(&path, env, &flags).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(cfg.capacity, 1 << 40);
        // A file written before `workers` existed still loads.
        std::fs::write(&path, TEMPLATE.replace("workers = 0", "")).unwrap();
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(cfg.workers, 0);
        // So does one written before the connection limits: the defaults.
        let old = TEMPLATE
            .lines()
            .filter(|l| !l.starts_with("max_conn") && !l.starts_with("body_timeout"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, old).unwrap();
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(
            (
                cfg.max_connections,
                cfg.max_connections_per_ip,
                cfg.body_timeout_secs
            ),
            (1024, 128, 60)
        );
        // And one written before egress: free, redeemed every minute.
        let old = TEMPLATE
            .lines()
            .filter(|l| !l.starts_with("egress_price") && !l.starts_with("redeem_interval"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, old).unwrap();
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!((cfg.egress_price, cfg.redeem_interval_secs), (0, 60));
        let env = [
            ("MASP_HOST_EGRESS_PRICE".to_string(), "1000".to_string()),
            (
                "MASP_HOST_REDEEM_INTERVAL_SECS".to_string(),
                "2".to_string(),
            ),
        ];
        let cfg = load(&path, env, &Overrides::default()).unwrap();
        assert_eq!((cfg.egress_price, cfg.redeem_interval_secs), (1000, 2));
        assert_eq!(cfg.redeem_interval(), Duration::from_secs(2));
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        let err = load(&path, [], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("masp-host init"), "{err}");
        std::fs::write(&path, TEMPLATE.replace("listen = ", "listn = ")).unwrap();
        let err = load(&path, [], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
        std::fs::write(
            &path,
            TEMPLATE.replace("min_duration = 1", "min_duration = 0"),
        )
        .unwrap();
        let err = load(&path, [], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("min_duration"), "{err}");
        std::fs::write(&path, TEMPLATE).unwrap();
        let env = [("MASP_HOST_PRICE".to_string(), "cheap".to_string())];
        let err = load(&path, env, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("MASP_HOST_PRICE"), "{err}");
    }
}
