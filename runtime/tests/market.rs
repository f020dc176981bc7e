//! The storage market and deposits as wired in the real runtime.
//!
//! - every pallet's `integrity_test` passes with the runtime's configuration
//!   (market bounds, epoch length, deposits);
//! - the slash pot exists from genesis in every preset, so a slash remainder
//!   is never burned;
//! - the epoch length is a `storage` parameter root can change;
//! - insurance bought during a term waits at least as long as it takes to
//!   lose data.

mod common;

use common::*;
use frame_support::traits::IntegrityTest;
use masp_primitives::time::HOURS;
use masp_runtime::{
    configs::market::{EpochLength, SlashPot},
    genesis_config_presets, AllPalletsWithSystem, StorageMarket, EXISTENTIAL_DEPOSIT,
};

#[test]
fn every_pallet_passes_its_integrity_test() {
    ext("development").execute_with(|| {
        <AllPalletsWithSystem as IntegrityTest>::integrity_test();
    });
}

#[test]
fn the_slash_pot_exists_from_genesis_in_every_preset() {
    for preset in genesis_config_presets::preset_names() {
        ext(&preset).execute_with(|| {
            assert_eq!(free(&SlashPot::get()), EXISTENTIAL_DEPOSIT, "{preset}");
        });
    }
}

#[test]
fn an_epoch_is_an_hour_unless_root_shortens_it() {
    ext("development").execute_with(|| {
        assert_eq!(EpochLength::get(), HOURS);
        frame_system::Pallet::<masp_runtime::Runtime>::set_block_number(3 * HOURS + 1);
        assert_eq!(StorageMarket::current_epoch(), 3);
        EpochLength::set(&5);
        assert_eq!(StorageMarket::current_epoch(), (3 * HOURS + 1) / 5);
    });
}

#[test]
fn cover_bought_during_a_term_waits_as_long_as_it_takes_to_lose_data() {
    use frame_support::traits::Get;
    type R = masp_runtime::Runtime;
    assert!(
        <<R as pallet_insurance::Config>::WaitingEpochs as Get<u32>>::get()
            >= <<R as pallet_storage_proofs::Config>::MaxConsecutiveMisses as Get<u32>>::get()
    );
    ext("development").execute_with(|| {
        EpochLength::set(&7);
        assert_eq!(
            <<R as pallet_insurance::Config>::EpochLength as Get<u32>>::get(),
            <<R as pallet_storage_market::Config>::EpochLength as Get<u32>>::get()
        );
    });
}
