//! Every MASP pallet's invariants (`do_try_state`) and the balances' books,
//! over the states real chains reach: the end-to-end stories (a real node,
//! real hosts, the real CLI) dump each chain's state when they stop if
//! `MASP_STATE_DIR` is set (tests/e2e/lib/node.mjs), and `scripts/test` then
//! runs this test over that directory. A broken invariant names the story's
//! state file, the block and the pallet.
//!
//! Run by hand: `MASP_STATE_DIR=/tmp/states node --test ...` in tests/e2e,
//! then `MASP_STATE_DIR=/tmp/states cargo test --release --workspace --test
//! try_state`. Without `MASP_STATE_DIR` the test says so and passes (the
//! first `cargo test` of scripts/test runs before any chain exists).

use std::{collections::BTreeMap, path::PathBuf};

use masp_runtime::{Balances, Runtime};
use sp_core::{bytes::from_hex, storage::Storage};

/// The states dumped by the end-to-end tests.
fn states() -> Option<Vec<PathBuf>> {
    let dir = std::env::var_os("MASP_STATE_DIR")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("MASP_STATE_DIR={dir:?}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Some(files)
}

/// A pallet's invariant check.
type Check = fn() -> Result<(), sp_runtime::TryRuntimeError>;

/// Every pallet's invariants, each failure with the pallet's name.
fn check_all() -> Vec<String> {
    let checks: [(&str, Check); 11] = [
        (
            "TokenSale",
            pallet_token_sale::Pallet::<Runtime>::do_try_state,
        ),
        ("Deposits", pallet_deposits::Pallet::<Runtime>::do_try_state),
        (
            "StorageMarket",
            pallet_storage_market::Pallet::<Runtime>::do_try_state,
        ),
        (
            "StorageProofs",
            pallet_storage_proofs::Pallet::<Runtime>::do_try_state,
        ),
        (
            "HostRating",
            pallet_host_rating::Pallet::<Runtime>::do_try_state,
        ),
        (
            "Insurance",
            pallet_insurance::Pallet::<Runtime>::do_try_state,
        ),
        ("Listings", pallet_listings::Pallet::<Runtime>::do_try_state),
        ("Egress", pallet_egress::Pallet::<Runtime>::do_try_state),
        (
            "Retrieval",
            pallet_retrieval::Pallet::<Runtime>::do_try_state,
        ),
        ("Proxies", pallet_proxies::Pallet::<Runtime>::do_try_state),
        (
            "RelayRandomness",
            pallet_relay_randomness::Pallet::<Runtime>::do_try_state,
        ),
    ];
    let mut failures: Vec<String> = checks
        .iter()
        .filter_map(|(name, check)| check().err().map(|e| format!("{name}: {e:?}")))
        .collect();
    // The books: every account's free and reserved (holds included) add up
    // to the total issuance.
    let mut sum: u128 = 0;
    for (_, info) in frame_system::Account::<Runtime>::iter() {
        sum = sum
            .saturating_add(info.data.free)
            .saturating_add(info.data.reserved);
    }
    let issuance = Balances::total_issuance();
    if sum != issuance {
        failures.push(format!(
            "Balances: accounts hold {sum}, total issuance is {issuance}"
        ));
    }
    failures
}

#[test]
fn every_pallets_invariants_hold_on_the_states_the_e2e_stories_leave() {
    let Some(files) = states() else {
        eprintln!("MASP_STATE_DIR is not set: no chain states to check (scripts/test sets it after the end-to-end tests)");
        return;
    };
    assert!(
        !files.is_empty(),
        "MASP_STATE_DIR has no state (*.json): did the end-to-end tests run with it set?"
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable state");
        let json: serde_json::Value = serde_json::from_str(&text).expect("a state is JSON");
        let block = json["block"].as_u64().unwrap_or_default();
        let mut top = BTreeMap::new();
        for pair in json["pairs"].as_array().expect("pairs") {
            let hex = |i: usize| from_hex(pair[i].as_str().expect("hex")).expect("hex");
            top.insert(hex(0), hex(1));
        }
        let pairs = top.len();
        let mut ext = sp_io::TestExternalities::new(Storage {
            top,
            children_default: Default::default(),
        });
        let found = ext.execute_with(check_all);
        println!(
            "{}: block {block}, {pairs} pairs: {}",
            file.display(),
            if found.is_empty() {
                "ok".to_string()
            } else {
                found.join("; ")
            }
        );
        failures.extend(
            found
                .into_iter()
                .map(|f| format!("{} (block {block}): {f}", file.display())),
        );
    }
    assert!(
        failures.is_empty(),
        "invariants broken:\n{}",
        failures.join("\n")
    );
}
