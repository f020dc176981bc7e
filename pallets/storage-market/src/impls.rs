//! What other pallets see of the market: [`HostRegistry`] and
//! [`StorageContracts`].

use frame_support::pallet_prelude::*;
use masp_primitives::{
    market::{ContractId, EpochIndex},
    traits::{ContractObserver, ProofTarget, StorageContracts},
    Balance,
};

use crate::{pallet::*, types::*};

impl<T: Config> masp_primitives::traits::HostRegistry<T::AccountId> for Pallet<T> {
    fn is_host(who: &T::AccountId) -> bool {
        Hosts::<T>::contains_key(who)
    }
}

impl<T: Config> StorageContracts<T::AccountId, Balance> for Pallet<T> {
    fn proof_target(contract: ContractId) -> Option<ProofTarget<T::AccountId>> {
        Contracts::<T>::get(contract).map(|c| ProofTarget {
            host: c.host,
            sender: c.sender,
            merkle_root: c.merkle_root,
            leaf_count: c.leaf_count,
            size: c.size,
            first_epoch: c.first_epoch,
            last_epoch: c.last_epoch,
            confirmed: c.state == ContractState::Active,
        })
    }

    fn epoch_proven(contract: ContractId, epoch: EpochIndex) -> Result<Balance, DispatchError> {
        let mut c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
        ensure!(c.state == ContractState::Active, Error::<T>::NotActive);
        ensure!(
            epoch >= c.first_epoch && epoch <= c.last_epoch,
            Error::<T>::EpochOutOfTerm
        );
        ensure!(
            c.last_paid_epoch.is_none_or(|paid| epoch > paid),
            Error::<T>::EpochAlreadyPaid
        );
        let amount = c.epoch_cost.min(c.escrow);
        Self::pay_host(&mut c, amount)?;
        c.last_paid_epoch = Some(epoch);
        let host = c.host.clone();
        Contracts::<T>::insert(contract, c);
        Self::deposit_event(Event::EpochPaid {
            contract,
            host,
            epoch,
            amount,
        });
        Ok(amount)
    }

    fn data_lost(contract: ContractId) -> DispatchResult {
        let c = Contracts::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
        Self::end_contract(contract, c, EndReason::DataLost);
        Ok(())
    }

    fn data_lost_weight() -> Weight {
        T::Observer::contract_ended_weight()
    }
}

/// Benchmark set-up for the pallets above the market: a confirmed contract
/// made through the market's own calls (register, deposit, offer, place on
/// that very offer, confirm), so another host's cheaper offer can never take
/// it.
#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> masp_primitives::traits::BenchmarkContracts<T::AccountId> for Pallet<T> {
    fn confirmed_contract(
        host: &T::AccountId,
        sender: &T::AccountId,
        merkle_root: [u8; 32],
        leaf_count: u64,
    ) -> Result<(ContractId, EpochIndex), DispatchError> {
        use frame_support::traits::fungible::Mutate;
        use frame_system::RawOrigin;
        use masp_primitives::traits::BenchmarkDeposits;
        /// Enough for any benchmark's deposits, holds and fees.
        const RICH: Balance = 1 << 100;
        /// The offer's price per GiB per epoch (the Sender pays at most it).
        const PRICE: Balance = 1_000_000;
        let signed = |who: &T::AccountId| -> frame_system::pallet_prelude::OriginFor<T> {
            RawOrigin::Signed(who.clone()).into()
        };
        if !Hosts::<T>::contains_key(host) {
            let _ = T::Currency::set_balance(host, RICH);
            let endpoint = EndpointOf::<T>::truncate_from(b"https://host.example".to_vec());
            let region = Region::truncate_from(b"EU".to_vec());
            Self::register_host(signed(host), endpoint, region, u64::MAX / 2, [0; 32])?;
            T::BenchmarkHelper::deposit(host, RICH / 4)?;
        }
        let offer = match HostOffers::<T>::get(host).first() {
            Some(id) => *id,
            None => {
                let id = NextOfferId::<T>::get();
                // As much as the host has: many contracts of 2^48 leaves.
                Self::post_offer(signed(host), PRICE, u64::MAX / 2, 1, 100).map_err(|e| e.error)?;
                id
            }
        };
        let _ = T::Currency::set_balance(sender, RICH);
        let id = NextContractId::<T>::get();
        // The size whose tree has exactly `leaf_count` leaves (the market
        // requires `leaf_count == ceil(size / 512)`).
        let shard = ShardSpec {
            size: leaf_count.saturating_mul(512),
            merkle_root,
            leaf_count,
        };
        Self::place_on_offers(
            signed(sender),
            BoundedVec::truncate_from(alloc::vec![shard]),
            BoundedVec::truncate_from(alloc::vec![offer]),
            10,
            PRICE,
        )
        .map_err(|e| e.error)?;
        Self::confirm_stored(signed(host), id)?;
        let first = Contracts::<T>::get(id)
            .ok_or(Error::<T>::UnknownContract)?
            .first_epoch;
        Ok((id, first))
    }
}
