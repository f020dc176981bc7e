//! Hosts', offers' and requests' records: validation, the funds held
//! for them (`fungible` holds) and the order books' keys.

use frame_support::{
    pallet_prelude::*,
    traits::{fungible::MutateHold, tokens::Precision},
};
use masp_primitives::{
    market::{self, OfferId, RequestId},
    traits::HostDeposits,
    Balance,
};
use sp_runtime::traits::Zero;

use crate::pallet::*;

impl<T: Config> Pallet<T> {
    // ----- validation -----

    pub(crate) fn validate_host(endpoint: &[u8], region: &[u8], capacity: u64) -> DispatchResult {
        ensure!(
            masp_primitives::endpoint::is_valid(endpoint),
            Error::<T>::BadEndpoint
        );
        ensure!(
            !region.is_empty()
                && region
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-'),
            Error::<T>::BadRegion
        );
        ensure!(capacity > 0, Error::<T>::ZeroCapacity);
        Ok(())
    }

    /// An offer must be able to take at least one contract of
    /// `MinContractSize` (on its capacity, the host's unused capacity and
    /// the host's free deposit), else it would only take room at the top
    /// of the book.
    pub(crate) fn validate_offer(
        who: &T::AccountId,
        host: &HostOf<T>,
        capacity: u64,
        min_duration: u32,
        max_duration: u32,
    ) -> DispatchResult {
        ensure!(capacity > 0, Error::<T>::ZeroCapacity);
        ensure!(
            capacity <= host.capacity,
            Error::<T>::OfferAboveHostCapacity
        );
        ensure!(
            min_duration >= 1
                && min_duration <= max_duration
                && max_duration <= T::MaxDuration::get(),
            Error::<T>::BadDurationBounds
        );
        let min = T::MinContractSize::get();
        ensure!(
            capacity >= min && host.capacity.saturating_sub(host.used) >= min,
            Error::<T>::OfferTooSmall
        );
        ensure!(
            T::Deposits::free_deposit(who) >= Self::min_backing(),
            Error::<T>::InsufficientHostDeposit
        );
        Ok(())
    }

    /// The host deposit a contract of `MinContractSize` bytes reserves.
    pub(crate) fn min_backing() -> Balance {
        market::per_gib(T::DepositPerGiB::get(), T::MinContractSize::get()).unwrap_or(Balance::MAX)
    }

    /// Whether `offer` (of `host`) can still take a contract of
    /// `MinContractSize`: room on the offer and the host, and free deposit
    /// to back it (read last: the costliest check). One that cannot is
    /// taken out of the book when matching meets it.
    pub(crate) fn can_rest(offer: &OfferOf<T>, host: &HostOf<T>) -> bool {
        let min = T::MinContractSize::get();
        offer.capacity >= min
            && host.capacity.saturating_sub(host.used) >= min
            && T::Deposits::free_deposit(&offer.host) >= Self::min_backing()
    }

    // ----- funds -----

    pub(crate) fn hold(reason: HoldReason, who: &T::AccountId, amount: Balance) -> DispatchResult {
        if amount.is_zero() {
            return Ok(());
        }
        T::Currency::hold(&reason.into(), who, amount)
            .map_err(|_| Error::<T>::InsufficientFunds.into())
    }

    /// Releases held funds. Our books say they are held; a shortfall would
    /// be a bug, so this releases what there is and logs it.
    pub(crate) fn release(reason: HoldReason, who: &T::AccountId, amount: Balance) {
        if amount.is_zero() {
            return;
        }
        match T::Currency::release(&reason.into(), who, amount, Precision::BestEffort) {
            Ok(released) if released == amount => {}
            other => log::error!(
                target: "runtime::storage-market",
                "released {other:?} of {amount} held: books and holds disagree"
            ),
        }
    }

    // ----- book -----

    pub(crate) fn next_seq() -> Result<u64, DispatchError> {
        let seq = BookSeq::<T>::get();
        BookSeq::<T>::put(seq.checked_add(1).ok_or(Error::<T>::Overflow)?);
        Ok(seq)
    }

    /// Writes back an offer (and its host) after matching: into the book if
    /// it can still take a minimum contract, out of it (sold out) if not.
    pub(crate) fn store_offer(id: OfferId, offer: OfferOf<T>, host: HostOf<T>) {
        let rests = Self::can_rest(&offer, &host);
        Hosts::<T>::insert(&offer.host, host);
        if !rests {
            Offers::<T>::remove(id);
            Self::remove_offer(id, offer, true, true);
        } else {
            OfferBook::<T>::insert(offer.book_key, id);
            Offers::<T>::insert(id, offer);
        }
    }

    /// Takes an offer (already removed from `Offers`) out of the book and
    /// the host's index, and returns its deposit.
    pub(crate) fn remove_offer(id: OfferId, offer: OfferOf<T>, sold_out: bool, unindex: bool) {
        OfferBook::<T>::remove(offer.book_key);
        if unindex {
            HostOffers::<T>::mutate(&offer.host, |ids| ids.retain(|i| *i != id));
        }
        Self::release(HoldReason::BookDeposit, &offer.host, offer.deposit);
        Self::deposit_event(Event::OfferClosed {
            offer: id,
            host: offer.host,
            sold_out,
        });
    }

    /// Takes a request out of the book and returns its escrow (of the
    /// unmatched replicas) and deposit.
    pub(crate) fn unlist_request(id: RequestId, request: &RequestOf<T>) {
        Requests::<T>::remove(id);
        RequestBook::<T>::remove(request.book_key);
        SenderRequests::<T>::remove(&request.sender, id);
        Self::release(HoldReason::Escrow, &request.sender, request.escrow);
        Self::release(HoldReason::BookDeposit, &request.sender, request.deposit);
    }

    /// Closes a request's unmatched remainder (cancelled or expired).
    pub(crate) fn close_request(id: RequestId, request: RequestOf<T>, expired: bool) {
        Self::unlist_request(id, &request);
        Self::deposit_event(Event::RequestClosed {
            request: id,
            expired,
            refunded: request.escrow.saturating_add(request.deposit),
        });
    }
}
