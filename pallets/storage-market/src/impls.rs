//! What other pallets see of the market: [`HostRegistry`] and
//! [`StorageContracts`].

use frame_support::{
    pallet_prelude::*,
    traits::{
        fungible::MutateHold,
        tokens::{Fortitude, Precision, Restriction},
    },
};
use masp_primitives::{
    market::{ContractId, EpochIndex},
    traits::{ContractObserver, ProofTarget, StorageContracts},
    Balance,
};
use sp_runtime::traits::Zero;

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
        if !amount.is_zero() {
            T::Currency::transfer_on_hold(
                &HoldReason::Escrow.into(),
                &c.sender,
                &c.host,
                amount,
                Precision::Exact,
                Restriction::Free,
                Fortitude::Force,
            )?;
        }
        c.escrow = c.escrow.saturating_sub(amount);
        c.paid = c.paid.saturating_add(amount);
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
