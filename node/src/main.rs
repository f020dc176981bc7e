//! `masp-node`: the MASP chain's node.
//!
//! Built on `polkadot-omni-node-lib`, the node library of the polkadot-sdk
//! parachain template, with the MASP runtime's chain specs built in:
//!
//! - `masp-node --dev` runs a one-node development chain with no relay chain
//!   (omni-node's dev mode: manual seal, a block every `--dev-block-time` ms,
//!   3000 by default);
//! - `masp-node --chain local|<spec.json> --collator ... -- <relay args>` runs a
//!   collator of the MASP parachain on a relay chain.

mod chain_spec;

use polkadot_omni_node_lib::{
    extra_subcommand::NoExtraSubcommand, run_with_custom_cli, runtime::DefaultRuntimeResolver,
    CliConfig as CliConfigT, RunConfig,
};

/// Names, version and support URL shown by `masp-node --help` and `--version`.
struct CliConfig;

impl CliConfigT for CliConfig {
    fn impl_version() -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn author() -> String {
        env!("CARGO_PKG_AUTHORS").into()
    }

    fn support_url() -> String {
        "https://github.com/masp/masp/issues/new".into()
    }

    fn copyright_start_year() -> u16 {
        2026
    }
}

fn main() -> color_eyre::eyre::Result<()> {
    color_eyre::install()?;
    let config = RunConfig::new(
        Box::new(DefaultRuntimeResolver),
        Box::new(chain_spec::MaspChainSpecLoader),
    );
    Ok(run_with_custom_cli::<CliConfig, NoExtraSubcommand>(config)?)
}
