//! The storage market and deposits as wired in the real runtime.
//!
//! - every pallet's `integrity_test` passes with the runtime's configuration
//!   (market bounds, epoch length, deposits);
//! - the slash pot exists from genesis in every preset, so a slash remainder
//!   is never burned;
//! - the epoch length is a `storage` parameter root can change, and the
//!   market, proofs, rating and insurance pallets keep time by one clock
//!   built on it (changing it moves every pallet's epoch);
//! - insurance bought during a term waits at least as long as it takes to
//!   lose data.

mod common;

use common::*;
use frame_support::traits::IntegrityTest;
use masp_primitives::time::HOURS;
use masp_runtime::{
    configs::market::{EpochLength, Epochs, SlashPot},
    genesis_config_presets, AllPalletsWithSystem, Insurance, Runtime, StorageMarket, StorageProofs,
    EXISTENTIAL_DEPOSIT,
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
fn every_pallet_keeps_time_by_the_one_clock() {
    use core::any::TypeId;
    use masp_primitives::traits::EpochClock;
    type R = Runtime;
    let one = TypeId::of::<Epochs>();
    assert_eq!(
        TypeId::of::<<R as pallet_storage_market::Config>::Epochs>(),
        one
    );
    assert_eq!(
        TypeId::of::<<R as pallet_storage_proofs::Config>::Epochs>(),
        one
    );
    assert_eq!(
        TypeId::of::<<R as pallet_host_rating::Config>::Epochs>(),
        one
    );
    assert_eq!(TypeId::of::<<R as pallet_insurance::Config>::Epochs>(), one);
    ext("development").execute_with(|| {
        frame_system::Pallet::<R>::set_block_number(700);
        let epochs = || {
            [
                StorageMarket::current_epoch(),
                StorageProofs::current_epoch(),
                Insurance::current_epoch(),
                <<R as pallet_host_rating::Config>::Epochs as EpochClock<u32>>::epoch_of(700),
            ]
        };
        assert_eq!(epochs(), [700 / HOURS; 4]);
        EpochLength::set(&7);
        assert_eq!(epochs(), [100; 4]);
        assert_eq!(StorageProofs::deadline_of(100), 707);
        EpochLength::set(&10);
        assert_eq!(epochs(), [70; 4]);
        assert_eq!(StorageProofs::deadline_of(70), 710);
    });
}

#[test]
fn cover_bought_during_a_term_waits_as_long_as_it_takes_to_lose_data() {
    use frame_support::traits::Get;
    type R = Runtime;
    assert!(
        <<R as pallet_insurance::Config>::WaitingEpochs as Get<u32>>::get()
            >= <<R as pallet_storage_proofs::Config>::MaxConsecutiveMisses as Get<u32>>::get()
    );
}
