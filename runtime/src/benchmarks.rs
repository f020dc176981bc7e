//! The runtime's benchmarks (frame-benchmarking v2), run by `scripts/benchmark`
//! to generate each MASP pallet's `weights.rs` and the runtime's weights for
//! the upstream pallets we configure (`runtime/src/weights/`).

pub use pallet_xcm::benchmarking::Pallet as PalletXcmExtrinsicsBenchmark;

frame_benchmarking::define_benchmarks!(
    [pallet_token_sale, TokenSale]
    [pallet_deposits, Deposits]
    [pallet_storage_market, StorageMarket]
    [pallet_storage_proofs, StorageProofs]
    [pallet_insurance, Insurance]
    [pallet_listings, Listings]
    [pallet_egress, Egress]
    [pallet_proxies, Proxies]
    [pallet_retrieval, Retrieval]
    [pallet_relay_randomness, RelayRandomness]
    [pallet_collective, Council]
    [pallet_membership, CouncilMembership]
    [pallet_preimage, Preimage]
    [pallet_whitelist, Whitelist]
    [pallet_utility, Utility]
    [pallet_xcm, PalletXcmExtrinsicsBenchmark::<Runtime>]
);

mod xcm {
    use alloc::boxed::Box;

    use frame_support::parameter_types;
    use xcm::latest::prelude::*;

    use crate::{configs::xcm_config::XcmConfig, Runtime, UNIT};

    parameter_types! {
        /// The benchmarks' origins need no existential deposit in an XCM
        /// asset: they are funded in MASP by the pallet's own setup.
        pub const NoExistentialDepositAsset: Option<Asset> = None;
    }

    /// pallet-xcm's calls as MASP allows them: messages go up to the relay
    /// chain (UMP) with no delivery price; teleports are disabled and MASP is
    /// never reserve-transferred to the relay chain (the barrier refuses it),
    /// so those benchmarks report `Weight::MAX` and the calls cannot fit a
    /// block.
    impl pallet_xcm::benchmarking::Config for Runtime {
        type DeliveryHelper = cumulus_primitives_utility::ToParentDeliveryHelper<
            XcmConfig,
            NoExistentialDepositAsset,
            (),
        >;

        fn reachable_dest() -> Option<Location> {
            Some(Parent.into())
        }

        fn teleportable_asset_and_dest() -> Option<(Asset, Location)> {
            None
        }

        fn reserve_transferable_asset_and_dest() -> Option<(Asset, Location)> {
            None
        }

        fn set_up_complex_asset_transfer() -> Option<(Assets, u32, Location, Box<dyn FnOnce()>)> {
            None
        }

        fn get_asset() -> Asset {
            Asset {
                id: AssetId(Here.into()),
                fun: Fungible(UNIT),
            }
        }
    }
}
