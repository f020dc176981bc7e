//! The due-queue (contract ends, request expiries, each at its block) and
//! the epoch, by [`Config::Epochs`].

use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::*;
use masp_primitives::{market::EpochIndex, traits::EpochClock};
use sp_runtime::traits::Saturating;

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
    // ----- due-queue -----

    /// Queues `item` for block `at`.
    pub(crate) fn schedule(at: BlockNumberFor<T>, item: DueItem) -> DispatchResult {
        let n = DueCount::<T>::get(at);
        DueQueue::<T>::insert(at, n, item);
        DueCount::<T>::insert(at, n.checked_add(1).ok_or(Error::<T>::Overflow)?);
        Ok(())
    }

    /// Processes due items up to block `now`, at most `max_items` of them
    /// (a backlog carries over to the next blocks). Returns the items
    /// processed and the steps taken (items plus blocks passed).
    pub fn process_due(now: BlockNumberFor<T>, max_items: u32) -> (u32, u32) {
        let (mut block, mut index) = DueCursor::<T>::get().unwrap_or((now, 0));
        let (mut items, mut steps) = (0u32, 0u32);
        let max_steps = max_items.saturating_mul(2).saturating_add(2);
        while block <= now && steps < max_steps {
            steps += 1;
            if index >= DueCount::<T>::get(block) {
                DueCount::<T>::remove(block);
                block = block.saturating_add(1u32.into());
                index = 0;
                continue;
            }
            if items >= max_items {
                break;
            }
            if let Some(item) = DueQueue::<T>::take(block, index) {
                Self::process_item(item, now);
            }
            items += 1;
            index += 1;
        }
        DueCursor::<T>::put((block, index));
        (items, steps)
    }

    pub(crate) fn process_item(item: DueItem, now: BlockNumberFor<T>) {
        match item {
            DueItem::ExpireRequest(id) => {
                if let Some(request) = Requests::<T>::get(id) {
                    if request.expires_at <= now {
                        Self::close_request(id, request, true);
                    }
                }
            }
            DueItem::UploadDeadline(id) => {
                if let Some(mut c) = Contracts::<T>::get(id) {
                    if c.state == ContractState::AwaitingUpload {
                        // The chain cannot tell who failed; the Sender
                        // who booked the host pays it one epoch.
                        if let Err(e) = Self::pay_first_epoch(&mut c) {
                            log::error!(
                                target: "runtime::storage-market",
                                "contract {id}: first epoch not paid: {e:?}"
                            );
                        }
                        Self::end_contract(id, c, EndReason::NotConfirmed);
                    }
                }
            }
            DueItem::EndContract(id) => {
                if let Some(c) = Contracts::<T>::get(id) {
                    if c.state == ContractState::Active && c.end <= now {
                        Self::end_contract(id, c, EndReason::Completed);
                    }
                }
            }
        }
    }

    // ----- epochs -----

    /// The epoch now, by [`Config::Epochs`] (the runtime API's
    /// `current_epoch`).
    pub fn current_epoch() -> EpochIndex {
        T::Epochs::epoch_of(frame_system::Pallet::<T>::block_number())
    }
}
