//! `masp-bencher`: measures the MASP pallets' benchmarks in a runtime WASM
//! built with `runtime-benchmarks`, and writes their `weights.rs`.
//!
//! The same job as polkadot-sdk's `frame-omni-bencher v1 benchmark pallet`,
//! built inside our workspace so that it shares the node's compiled crates
//! (no second build of the Substrate client stack). `scripts/benchmark` runs it.
//!
//! ```text
//! masp-bencher pallet --runtime masp_runtime.wasm --pallet pallet_token_sale \
//!     --extrinsic '*' --template scripts/frame-weight-template.hbs --output weights.rs
//! ```

use clap::Parser;
use frame_benchmarking_cli::PalletCmd;
use sp_runtime::traits::BlakeTwo256;

/// Host functions the MASP runtime imports beyond the standard ones: the
/// storage proof size (used by parachain-system and weight reclaim).
type HostFunctions =
    (cumulus_primitives_proof_size_hostfunction::storage_proof_size::HostFunctions,);

#[derive(Debug, Parser)]
#[command(author, version, about)]
enum Command {
    /// Benchmark one or more pallets of a runtime WASM blob.
    Pallet(Box<PalletCmd>),
}

fn main() {
    let result = match Command::parse() {
        Command::Pallet(cmd) => cmd.run_with_spec::<BlakeTwo256, HostFunctions>(None),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
