//! The chain specs built into `masp-node`.
//!
//! | `--chain`          | spec                                         |
//! |--------------------|----------------------------------------------|
//! | `dev` (or `--dev`) | development preset: Alice collates, sudo, endowed dev accounts |
//! | `local`            | local_testnet preset: the council governs, no sudo; on `westend-local` (scripts/relaynet) |
//! | `live`             | live preset: the template of a real deployment (fill in council, attesters, collators) |
//! | anything else      | a chain spec JSON file at that path          |
//!
//! Every spec carries the properties polkadot.js apps reads to show MASP with
//! no custom type definitions: `tokenSymbol`, `tokenDecimals`, `ss58Format`.

use masp_primitives::token;
use masp_runtime::genesis_config_presets::PARACHAIN_ID;
use polkadot_omni_node_lib::chain_spec::{ChainSpec, Extensions, GenericChainSpec, LoadSpec};
use sc_chain_spec::{ChainType, Properties};

/// The relay chain a local MASP network attaches to.
const LOCAL_RELAY_CHAIN: &str = "westend-local";

/// Loads MASP chain specs by id, or a JSON spec from disk.
pub struct MaspChainSpecLoader;

impl LoadSpec for MaspChainSpecLoader {
    fn load_spec(&self, id: &str) -> Result<Box<dyn ChainSpec>, String> {
        Ok(match id {
            "" | "dev" => Box::new(development()?),
            "local" => Box::new(local_testnet()?),
            "live" => Box::new(live()?),
            path => Box::new(GenericChainSpec::from_json_file(path.into()).map_err(|e| {
                format!("cannot load chain spec '{path}': {e} (built-in chains: dev, local, live)")
            })?),
        })
    }
}

/// The chain spec properties of MASP.
pub fn properties() -> Properties {
    let mut p = Properties::new();
    p.insert("tokenSymbol".into(), token::SYMBOL.into());
    p.insert("tokenDecimals".into(), token::DECIMALS.into());
    p.insert("ss58Format".into(), token::SS58_PREFIX.into());
    p
}

fn wasm() -> Result<&'static [u8], String> {
    masp_runtime::WASM_BINARY.ok_or_else(|| {
        "the MASP runtime WASM was not built (SKIP_WASM_BUILD was set at build time)".to_string()
    })
}

/// The development chain: `masp-node --dev`.
pub fn development() -> Result<GenericChainSpec, String> {
    Ok(GenericChainSpec::builder(
        wasm()?,
        Extensions::new(LOCAL_RELAY_CHAIN.into(), PARACHAIN_ID),
    )
    .with_name("MASP Development")
    .with_id("masp_dev")
    .with_chain_type(ChainType::Development)
    .with_genesis_config_preset_name("development")
    .with_properties(properties())
    .build())
}

/// A local relay network's MASP parachain: `masp-node --chain local`.
pub fn local_testnet() -> Result<GenericChainSpec, String> {
    Ok(GenericChainSpec::builder(
        wasm()?,
        Extensions::new(LOCAL_RELAY_CHAIN.into(), PARACHAIN_ID),
    )
    .with_name("MASP Local Testnet")
    .with_id("masp_local")
    .with_chain_type(ChainType::Local)
    .with_genesis_config_preset_name("local_testnet")
    .with_protocol_id("masp-local")
    .with_properties(properties())
    .build())
}

/// The template of a real deployment: `masp-node build-spec --chain live`,
/// then fill in the council, the attesters and the collators (see the
/// `live` preset) and the relay chain.
pub fn live() -> Result<GenericChainSpec, String> {
    Ok(
        GenericChainSpec::builder(wasm()?, Extensions::new("polkadot".into(), PARACHAIN_ID))
            .with_name("MASP")
            .with_id("masp")
            .with_chain_type(ChainType::Live)
            .with_genesis_config_preset_name(masp_runtime::genesis_config_presets::LIVE_PRESET)
            .with_protocol_id("masp")
            .with_properties(properties())
            .build(),
    )
}
