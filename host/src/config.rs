//! Settings of the daemons: one struct per daemon ([`Config`] here,
//! [`crate::relay::config::ProxyConfig`] for `masp-proxy`) with a default for
//! every setting, layered with figment, each layer over the one before:
//!
//! 1. the defaults (`Default` of the struct),
//! 2. the TOML file (an unknown key is an error that names it),
//! 3. `MASP_HOST_<NAME>` (`MASP_PROXY_<NAME>`) environment variables,
//! 4. flags: the few named ones (`--price`, ...) and `--set name=value` for
//!    any setting.
//!
//! A new setting is a field and its default (and a line in [`TEMPLATE`]):
//! the file, the environment and `--set` know it from the struct. Errors
//! name the setting and where its value came from (the file, the variable,
//! the flag). Amounts of MASP (prices, deposits) are written in MASP
//! ([`masp_amount`]) and kept in planck.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    providers::{Format, Serialized, Toml},
    value::{Dict, Map, Value},
    Figment, Metadata, Profile, Provider, Source,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use masp_primitives::token::UNIT;

/// Everything the daemon needs to run.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where chunks and the index live. Relative to the config file.
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
    /// Price per GiB per epoch, in planck (written in MASP).
    #[serde(with = "masp_amount")]
    pub price: u128,
    /// Insurance deposit to keep posted, in planck (written in MASP).
    #[serde(with = "masp_amount")]
    pub deposit: u128,
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
    pub workers: usize,
    /// Connections served at once; more wait in the kernel's backlog. Also
    /// bounded at startup by the open-file limit, leaving descriptors for
    /// the index, the chain and the prover.
    pub max_connections: usize,
    /// Connections one peer address (an IPv6 /64) may hold at once; more
    /// are answered 503 and closed.
    pub max_connections_per_ip: usize,
    /// Seconds a request body (an upload) may take to arrive whole; a
    /// slower one is answered 408 and its connection closed.
    pub body_timeout_secs: u64,
    /// Planck per GiB served to downloaders (written in MASP; 0: downloads
    /// are free). Set on chain at start (`set_egress_price`); the host
    /// charges the chain's value.
    #[serde(with = "masp_amount")]
    pub egress_price: u128,
    /// How often the egress receipts held are redeemed on chain, seconds.
    pub redeem_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: "data".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            public_url: "http://127.0.0.1:7070".into(),
            node_url: "ws://127.0.0.1:9944".into(),
            key_file: "host.key".into(),
            region: "eu".into(),
            capacity: 100 << 30,
            price: UNIT / 1_000,
            deposit: 100 * UNIT,
            min_duration: 1,
            max_duration: 8784,
            grace_period_secs: 3600,
            scrub_interval_secs: 86_400,
            poll_interval_ms: 1000,
            workers: 0,
            max_connections: 1024,
            max_connections_per_ip: 128,
            body_timeout_secs: 60,
            egress_price: 0,
            redeem_interval_secs: 60,
        }
    }
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

/// The file `masp-host init` writes: every setting at its default, with
/// what it means (a test checks it loads to [`Config::default`]).
pub const TEMPLATE: &str = r#"# masp-host configuration. Every setting has a default (the value shown),
# so any line may be left out. Each can also be given as an environment
# variable (MASP_HOST_<NAME>, e.g. MASP_HOST_LISTEN=0.0.0.0:7070) or a flag
# (--listen, --price, ..., or --set name=value for any setting); flags win,
# then the environment, then this file.
#
# Amounts (price, deposit, egress_price) are in MASP: a string with at most
# 12 decimals ("0.001") or a whole number (100). Not a TOML decimal number
# (0.001), which would be rounded.

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
# Price per GiB per epoch, in MASP.
price = "0.001"
# Insurance deposit kept posted, in MASP.
deposit = "100"
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
# own files), in MASP; "0": downloads are free. Set on chain when the daemon
# starts; downloaders pay through egress channels with signed receipts,
# which the daemon redeems every `redeem_interval_secs` seconds.
egress_price = "0"
redeem_interval_secs = 60
"#;

/// The flags every MASP daemon (`masp-host`, `masp-proxy`) takes for the
/// settings they share (`None`, empty: not given), flattened into each
/// daemon's own flags. Each overrides the setting of the same name; `--set`
/// any setting.
#[derive(Clone, Debug, Default, clap::Args, Serialize)]
pub struct CommonFlags {
    /// Overrides `listen`.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Overrides `public_url`.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Overrides `node_url`.
    #[arg(long = "node", alias = "node-url")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_url: Option<String>,
    /// Overrides `key_file`.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Overrides any setting by its name in the file: `--set
    /// max_connections=2048` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    #[serde(skip)]
    pub set: Vec<String>,
}

/// Flags of `masp-host register` and `run` (`None`, empty: not given). Each
/// overrides the setting of the same name; `--set` any setting.
#[derive(Clone, Debug, Default, clap::Args, Serialize)]
pub struct Overrides {
    /// `--listen`, `--public-url`, `--node`, `--key-file`, `--data-dir`, `--set`.
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonFlags,
    /// Overrides `price` (MASP per GiB per epoch, e.g. 0.001).
    #[arg(long, value_name = "MASP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Overrides `deposit` (MASP).
    #[arg(long, value_name = "MASP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deposit: Option<String>,
    /// Overrides `egress_price` (MASP per GiB served).
    #[arg(long, value_name = "MASP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_price: Option<String>,
    /// Overrides `capacity` (bytes offered).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// Overrides `workers` (threads serving HTTP and following the chain;
    /// 0: one per CPU core).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

/// What is wrong with the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path} (create one with `{program} init`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The program whose `init` writes one.
        program: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not parse, or a value (in the file, a variable or a
    /// flag) is not one the setting takes: figment's error names the
    /// setting and where the value came from.
    #[error(transparent)]
    Settings(#[from] Box<figment::Error>),
    /// A value that reads well but is not allowed.
    #[error("{setting} {origin}: {problem}")]
    Invalid {
        /// The setting.
        setting: String,
        /// Where its value came from (`in host.toml`,
        /// `from MASP_HOST_PRICE`, `from --price`, `by default`).
        origin: String,
        /// What is wrong and what would do.
        problem: String,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        Self::Settings(Box::new(e))
    }
}

/// Reads `path` (required: `masp-host init` writes one), applies `env`
/// (`MASP_HOST_*` pairs; others and unknown names are ignored) and `flags`;
/// relative paths are made relative to the file's directory.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &Overrides,
) -> Result<Config, ConfigError> {
    std::fs::File::open(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        program: "masp-host",
        source,
    })?;
    let (mut cfg, layers): (Config, _) =
        layered(Some(path), "MASP_HOST_", env, flags, &flags.common.set)?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut cfg.data_dir, &mut cfg.key_file] {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    if cfg.min_duration == 0 {
        return Err(invalid(
            &layers,
            "min_duration",
            "0: must be at least 1".into(),
        ));
    }
    if cfg.max_duration < cfg.min_duration {
        return Err(invalid(
            &layers,
            "max_duration",
            format!(
                "{}: must be at least min_duration ({})",
                cfg.max_duration, cfg.min_duration
            ),
        ));
    }
    for (key, value) in [
        ("max_connections", cfg.max_connections as u64),
        ("max_connections_per_ip", cfg.max_connections_per_ip as u64),
        ("body_timeout_secs", cfg.body_timeout_secs),
    ] {
        if value == 0 {
            return Err(invalid(&layers, key, "0: must be at least 1".into()));
        }
    }
    if !(cfg.public_url.starts_with("http://") || cfg.public_url.starts_with("https://")) {
        return Err(invalid(
            &layers,
            "public_url",
            format!(
                "must start with http:// or https://, not {:?}",
                cfg.public_url
            ),
        ));
    }
    Ok(cfg)
}

/// The settings `T` from its defaults, then `file` (if any), then the
/// variables of `env` named `<prefix><SETTING>`, then `flags` (a struct of
/// options, `None` left out) and `set` (`name=value`). Also the layers, to
/// tell where a value came from ([`invalid`]).
pub(crate) fn layered<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &impl Serialize,
    set: &[String],
) -> Result<(T, Figment), ConfigError> {
    let defaults = Serialized::defaults(T::default());
    // The settings there are: the variables and `--set` may name only these
    // (other `<prefix>*` variables are other programs' business).
    let known = Value::serialize(T::default())?
        .into_dict()
        .unwrap_or_default();
    let env: Dict = env
        .into_iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(prefix)?.to_ascii_lowercase();
            if !known.contains_key(&key) {
                return None;
            }
            Some((key, Value::from(value)))
        })
        .collect();
    let mut sets = Dict::new();
    for s in set {
        let Some((k, v)) = s.split_once('=') else {
            return Err(ConfigError::Invalid {
                setting: s.clone(),
                origin: "from --set".into(),
                problem: "expected NAME=VALUE, e.g. --set max_connections=2048".into(),
            });
        };
        sets.insert(
            k.trim().replace('-', "_"),
            Value::from(v.trim().to_string()),
        );
    }
    let mut figment = Figment::from(defaults);
    if let Some(path) = file {
        figment = figment.merge(TomlFile(path.to_path_buf()));
    }
    let upper = prefix.to_string();
    let figment = figment
        .merge(Texts {
            name: "the environment",
            values: env,
            key: std::sync::Arc::new(move |k| format!("{upper}{}", k.to_ascii_uppercase())),
        })
        .merge(Flags(Serialized::defaults(flags).data()?))
        .merge(Texts {
            name: "command-line flags",
            values: sets,
            key: std::sync::Arc::new(|k| format!("--set {k}")),
        });
    // Lossy: "8080" and "true" read as the number and the boolean a
    // setting takes (variables and `--set` are text).
    let value = figment.extract_lossy()?;
    Ok((value, figment))
}

/// [`ConfigError::Invalid`] for `key`, saying where its value came from.
pub(crate) fn invalid(layers: &Figment, key: &str, problem: String) -> ConfigError {
    let origin = match layers.find_metadata(key) {
        Some(md) => match &md.source {
            Some(Source::File(p)) => format!("in {}", p.display()),
            Some(_) => "by default".into(),
            None => format!("from {}", md.interpolate(&Profile::Default, &[key])),
        },
        None => "by default".into(),
    };
    ConfigError::Invalid {
        setting: key.into(),
        origin,
        problem,
    }
}

/// The TOML file: errors name a setting as it is written there.
struct TomlFile(PathBuf);

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("file", self.0.as_path()).interpolater(|_, k| k.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Toml::file_exact(&self.0).data()
    }
}

/// Settings given as text (environment variables, `--set`), named in
/// errors as they were given (`key`).
struct Texts {
    name: &'static str,
    values: Dict,
    key: std::sync::Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl Provider for Texts {
    fn metadata(&self) -> Metadata {
        let key = self.key.clone();
        Metadata::named(self.name).interpolater(move |_, k| key(&k.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// The named flags (their values already serialized): errors name the
/// flag (`--price`).
struct Flags(Map<Profile, Dict>);

impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flags")
            .interpolater(|_, k| format!("--{}", k.join(".").replace('_', "-")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(self.0.clone())
    }
}

/// An amount of MASP as people write it, kept in planck (10^-12 MASP):
/// `#[serde(with = "masp_amount")]` on a `u128`. Reads a string with at
/// most 12 decimals (`"0.001"`, `"2.5 MASP"`) or a whole number of MASP
/// (`100`); refuses a TOML decimal number (`0.001`: a float, which would be
/// rounded), a sign, a comma. Writes the string (`"0.001"`).
pub mod masp_amount {
    use std::fmt;

    use masp_primitives::token::{DECIMALS, UNIT};
    use serde::{de, Deserializer, Serializer};

    /// What a setting in MASP takes.
    pub const EXPECTED: &str = "an amount of MASP: a string with at most 12 decimals \
                                (e.g. \"0.001\") or a whole number";

    /// `planck` in MASP: `1000000000` is `"0.001"`, `0` is `"0"`.
    pub fn fmt(planck: u128) -> String {
        let (whole, frac) = (planck / UNIT, planck % UNIT);
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:0width$}", width = DECIMALS as usize);
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }

    /// An amount written in MASP, in planck; `None` if it is not one.
    pub fn parse(s: &str) -> Option<u128> {
        masp_primitives::token::parse(s)
    }

    /// Serde: writes the amount in MASP.
    pub fn serialize<S: Serializer>(planck: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fmt(*planck))
    }

    /// A setting takes less MASP than this: a billion. Settings were in planck
    /// before they were in MASP, and an old `host.toml`'s planck read as
    /// MASP would be 10^12 times too much: such a number is refused with
    /// what it meant.
    pub const MAX_MASP: u128 = 1_000_000_000;

    /// Serde: reads an amount in MASP.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let planck = d.deserialize_any(Amount)?;
        if planck >= MAX_MASP.saturating_mul(UNIT) {
            let whole = planck / UNIT;
            return Err(de::Error::custom(format!(
                "{} MASP is more than a setting takes (less than {MAX_MASP}); amounts are in MASP, \
                 not planck: if {whole} was meant as planck, write \"{}\"",
                fmt(planck),
                fmt(whole)
            )));
        }
        Ok(planck)
    }

    struct Amount;

    impl<'de> de::Visitor<'de> for Amount {
        type Value = u128;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<u128, E> {
            parse(s).ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u128, E> {
            self.visit_u128(n.into())
        }

        fn visit_u128<E: de::Error>(self, n: u128) -> Result<u128, E> {
            n.checked_mul(UNIT)
                .ok_or_else(|| E::custom(format!("{n} MASP is more than there can be")))
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u128, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
            }
        }

        fn visit_f64<E: de::Error>(self, x: f64) -> Result<u128, E> {
            Err(E::custom(format!(
                "{x} is a decimal number, which would be rounded: write the amount of MASP \
                 as a string, e.g. \"{x}\""
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A host.toml in a fresh directory.
    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn err(path: &Path, env_: &[(&str, &str)], flags: &Overrides) -> String {
        load(path, env(env_), flags).unwrap_err().to_string()
    }

    #[test]
    fn the_template_is_every_default_and_names_every_setting() {
        let (dir, path) = file(TEMPLATE);
        let expected = Config {
            data_dir: dir.path().join("data"),
            key_file: dir.path().join("host.key"),
            ..Config::default()
        };
        assert_eq!(load(&path, [], &Overrides::default()).unwrap(), expected);
        let keys = Value::serialize(Config::default())
            .unwrap()
            .into_dict()
            .unwrap();
        for key in keys.keys() {
            assert!(
                TEMPLATE.contains(&format!("\n{key} = ")),
                "{key} is not in the template"
            );
        }
    }

    #[test]
    fn an_empty_file_means_every_default() {
        let (dir, path) = file("");
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        let d = Config::default();
        assert_eq!(cfg.data_dir, dir.path().join("data"));
        assert_eq!(cfg.key_file, dir.path().join("host.key"));
        assert_eq!(
            cfg,
            Config {
                data_dir: cfg.data_dir.clone(),
                key_file: cfg.key_file.clone(),
                ..d
            }
        );
        assert_eq!((cfg.price, cfg.deposit), (UNIT / 1000, 100 * UNIT));
        assert_eq!(
            (cfg.max_connections, cfg.max_connections_per_ip),
            (1024, 128)
        );
        assert_eq!((cfg.body_timeout_secs, cfg.redeem_interval_secs), (60, 60));
        assert_eq!((cfg.workers, cfg.egress_price), (0, 0));
        // Each setting alone is taken, the others keep their defaults.
        let (_dir, path) = file("scrub_interval_secs = 5\n");
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(cfg.scrub_interval_secs, 5);
        assert_eq!(cfg.grace_period_secs, 3600);
    }

    #[test]
    fn file_then_env_then_flags() {
        let (_dir, path) = file(
            "listen = \"127.0.0.1:8000\"\nprice = \"0.002\"\ncapacity = 1000\nregion = \"us\"\n",
        );
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:8000".parse().unwrap());
        assert_eq!((cfg.price, cfg.capacity), (2 * UNIT / 1000, 1000));
        let vars = env(&[
            ("MASP_HOST_LISTEN", "127.0.0.1:9000"),
            ("MASP_HOST_PRICE", "0.005"),
            ("MASP_HOST_CAPACITY", "2000"),
            // A string setting that looks like a number stays a string.
            ("MASP_HOST_REGION", "1"),
            ("MASP_HOST_EGRESS_PRICE", "1"),
            ("MASP_HOST_REDEEM_INTERVAL_SECS", "2"),
            // Not settings: other programs' (the crash hook, Docker's).
            ("MASP_HOST_CRASH_AT", "never"),
            ("MASP_HOST_SURI", "//Bob"),
            ("OTHER", "x"),
        ]);
        let cfg = load(&path, vars.clone(), &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!((cfg.price, cfg.capacity), (5 * UNIT / 1000, 2000));
        assert_eq!(cfg.region, "1");
        assert_eq!(cfg.egress_price, UNIT);
        assert_eq!(cfg.redeem_interval(), Duration::from_secs(2));
        let flags = Overrides {
            common: CommonFlags {
                listen: Some("127.0.0.1:9001".parse().unwrap()),
                set: vec!["region=ap".into(), "grace-period-secs = 9".into()],
                ..Default::default()
            },
            price: Some("7".into()),
            capacity: Some(1 << 40),
            ..Default::default()
        };
        let cfg = load(&path, vars, &flags).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!((cfg.price, cfg.capacity), (7 * UNIT, 1 << 40));
        assert_eq!((cfg.region.as_str(), cfg.grace_period_secs), ("ap", 9));
        // The variables still count where no flag is given.
        assert_eq!(cfg.egress_price, UNIT);
    }

    #[test]
    fn amounts_are_in_masp() {
        for (text, planck) in [
            ("price = \"0.001\"", UNIT / 1000),
            ("price = \"0.000000000001\"", 1),
            ("price = \"2.5 MASP\"", 5 * UNIT / 2),
            ("price = 3", 3 * UNIT),
            ("price = \"0\"", 0),
        ] {
            let (_dir, path) = file(text);
            let cfg = load(&path, [], &Overrides::default()).unwrap();
            assert_eq!(cfg.price, planck, "{text}");
        }
        assert_eq!(masp_amount::fmt(UNIT / 1000), "0.001");
        assert_eq!(masp_amount::fmt(100 * UNIT), "100");
        assert_eq!(masp_amount::fmt(UNIT + 1), "1.000000000001");
        assert_eq!(masp_amount::fmt(0), "0");
    }

    #[test]
    fn a_bad_amount_is_refused_naming_the_setting_and_its_source() {
        let (_dir, path) = file("");
        let none = Overrides::default();
        for bad in ["0.0000000000001", "1,5", "-1", "cheap", ""] {
            let e = err(&path, &[("MASP_HOST_PRICE", bad)], &none);
            assert!(
                e.contains("MASP_HOST_PRICE") && e.contains("amount of MASP"),
                "{e}"
            );
            let e = err(&path, &[("MASP_HOST_DEPOSIT", bad)], &none);
            assert!(e.contains("MASP_HOST_DEPOSIT"), "{e}");
            let flags = Overrides {
                egress_price: Some(bad.into()),
                ..Default::default()
            };
            let e = err(&path, &[], &flags);
            assert!(e.contains("--egress-price"), "{e}");
        }
        let (_dir, path) = file("deposit = \"1,5\"\n");
        let e = err(&path, &[], &none);
        assert!(e.contains("deposit") && e.contains("host.toml"), "{e}");
        let (_dir, path) = file("price = -1\n");
        let e = err(&path, &[], &none);
        assert!(e.contains("price") && e.contains("host.toml"), "{e}");
        // A TOML decimal would be rounded: say how to write it.
        let (_dir, path) = file("egress_price = 0.001\n");
        let e = err(&path, &[], &none);
        assert!(e.contains("egress_price") && e.contains("\"0.001\""), "{e}");
        // An older host.toml's planck (price = 1000000000, deposit =
        // 100000000000000) is not read as MASP: refused with what it meant.
        let (_dir, path) = file("price = 1000000000\ndeposit = 100000000000000\n");
        let e = err(&path, &[], &none);
        assert!(e.contains("\"0.001\"") || e.contains("\"100\""), "{e}");
        let e = err(&path, &[("MASP_HOST_PRICE", "0.001")], &none);
        assert!(
            e.contains("deposit") && e.contains("\"100\"") && e.contains("planck"),
            "{e}"
        );
        let e = err(&path, &[("MASP_HOST_DEPOSIT", "100")], &none);
        assert!(e.contains("price") && e.contains("\"0.001\""), "{e}");
        let (_dir, path) = file("");
        let e = err(&path, &[("MASP_HOST_PRICE", "1000000000")], &none);
        assert!(
            e.contains("MASP_HOST_PRICE") && e.contains("\"0.001\""),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_setting_is_an_error_naming_it() {
        let (_dir, path) = file(&TEMPLATE.replace("listen = ", "listn = "));
        let e = err(&path, &[], &Overrides::default());
        assert!(e.contains("listn") && e.contains("host.toml"), "{e}");
        let (_dir, path) = file("");
        let flags = Overrides {
            common: CommonFlags {
                set: vec!["no_such_setting=1".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let e = err(&path, &[], &flags);
        assert!(e.contains("no_such_setting"), "{e}");
        let flags = Overrides {
            common: CommonFlags {
                set: vec!["region".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(err(&path, &[], &flags).contains("NAME=VALUE"));
    }

    #[test]
    fn bad_settings_say_what_to_fix_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        let none = Overrides::default();
        assert!(err(&path, &[], &none).contains("masp-host init"));
        std::fs::write(&path, "min_duration = 0\n").unwrap();
        let e = err(&path, &[], &none);
        assert!(e.contains("min_duration") && e.contains("host.toml"), "{e}");
        std::fs::write(&path, "").unwrap();
        let e = err(&path, &[("MASP_HOST_MAX_DURATION", "0")], &none);
        assert!(
            e.contains(
                "max_duration from MASP_HOST_MAX_DURATION: 0: must be at least min_duration (1)"
            ),
            "{e}"
        );
        let e = err(&path, &[("MASP_HOST_BODY_TIMEOUT_SECS", "0")], &none);
        assert!(
            e.contains("body_timeout_secs from MASP_HOST_BODY_TIMEOUT_SECS"),
            "{e}"
        );
        let e = err(&path, &[("MASP_HOST_CAPACITY", "lots")], &none);
        assert!(e.contains("MASP_HOST_CAPACITY"), "{e}");
        let flags = Overrides {
            common: CommonFlags {
                public_url: Some("ftp://x".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = err(&path, &[], &flags);
        assert!(e.contains("public_url from --public-url"), "{e}");
        std::fs::write(&path, "listen = [").unwrap();
        let e = err(&path, &[], &none);
        assert!(e.contains("host.toml"), "{e}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let (dir, path) = file("data_dir = \"d\"\nkey_file = \"/abs/host.key\"\n");
        let cfg = load(&path, [], &Overrides::default()).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("d"));
        assert_eq!(cfg.key_file, PathBuf::from("/abs/host.key"));
        let vars = env(&[("MASP_HOST_KEY_FILE", "keys/k")]);
        let flags = Overrides {
            common: CommonFlags {
                data_dir: Some("e".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let cfg = load(&path, vars, &flags).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("e"));
        assert_eq!(cfg.key_file, dir.path().join("keys/k"));
    }
}
