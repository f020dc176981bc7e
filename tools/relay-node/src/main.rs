//! The relay chain node of `scripts/relaynet`: Polkadot's own command line
//! (polkadot-cli of polkadot-sdk stable2609) with the Westend runtime
//! native, for `--chain westend-local`. Its PVF workers are the two other
//! binaries of this crate, found next to it.

fn main() -> color_eyre::eyre::Result<()> {
    color_eyre::install()?;
    polkadot_cli::run()?;
    Ok(())
}
