//! The pallet's invariants ([`Pallet::do_try_state`]), checked after every
//! test and on real chains' states.

use frame_support::pallet_prelude::*;
use masp_primitives::{market, traits::HostDeposits, Balance};

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
    // ----- invariants -----

    /// The market's invariants (run by `try_state` and after every test):
    /// - each account's escrow hold == its resting requests' escrow + its
    ///   live contracts' unspent funds; its book-deposit hold == its
    ///   resting offers' and requests' deposits;
    /// - every book entry points at a record with that key and back;
    ///   requests in the book have unmatched replicas and distinct hosts;
    /// - hosts' used bytes and live contract counts equal their
    ///   contracts' (billed sizes, see [`Pallet::billed`]); each
    ///   contract's escrow + paid == its term's cost.
    ///
    /// Always compiled, so other pallets' tests can check it too.
    pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
        use alloc::collections::btree_map::BTreeMap;
        use frame_support::traits::fungible::InspectHold;
        let mut escrow: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
        let mut deposits: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
        let mut used: BTreeMap<T::AccountId, (u64, u32)> = BTreeMap::new();
        let add = |map: &mut BTreeMap<T::AccountId, Balance>, who: &T::AccountId, v| {
            let e = map.entry(who.clone()).or_default();
            *e = e.saturating_add(v);
        };

        for (id, offer) in Offers::<T>::iter() {
            ensure!(
                OfferBook::<T>::get(offer.book_key) == Some(id),
                "offer not in the book under its key"
            );
            ensure!(
                offer_key_price(&offer.book_key) == offer.price,
                "offer key price != offer price"
            );
            ensure!(offer.capacity > 0, "a sold-out offer rests in the book");
            ensure!(
                HostOffers::<T>::get(&offer.host).contains(&id),
                "offer not indexed under its host"
            );
            ensure!(
                Hosts::<T>::contains_key(&offer.host),
                "offer of an unregistered host"
            );
            add(&mut deposits, &offer.host, offer.deposit);
        }
        ensure!(
            OfferBook::<T>::iter().count() == Offers::<T>::iter().count(),
            "offer book and offers differ"
        );
        for (host, ids) in HostOffers::<T>::iter() {
            for id in ids {
                ensure!(
                    Offers::<T>::get(id).is_some_and(|o| o.host == host),
                    "host index points at a missing offer"
                );
            }
        }

        for (id, request) in Requests::<T>::iter() {
            ensure!(
                RequestBook::<T>::get(request.book_key) == Some(id),
                "request not in the book under its key"
            );
            ensure!(
                request_key_price(&request.book_key) == request.max_price,
                "request key price != max price"
            );
            ensure!(
                request.unmatched() > 0,
                "a filled request rests in the book"
            );
            let bids = request
                .unmatched_shards()
                .iter()
                .try_fold(0 as Balance, |sum, shard| {
                    Self::bid(shard, request.max_price, request.duration)
                        .and_then(|bid| sum.checked_add(bid))
                });
            ensure!(
                bids == Some(request.escrow),
                "request escrow != the unmatched shards' bids"
            );
            let mut hosts = request.hosts.to_vec();
            hosts.sort();
            hosts.dedup();
            ensure!(
                hosts.len() == request.hosts.len(),
                "two replicas on one host"
            );
            ensure!(
                !request.hosts.contains(&request.sender),
                "a Sender matched to itself"
            );
            ensure!(
                SenderRequests::<T>::contains_key(&request.sender, id),
                "request not indexed under its Sender"
            );
            add(&mut escrow, &request.sender, request.escrow);
            add(&mut deposits, &request.sender, request.deposit);
        }
        ensure!(
            RequestBook::<T>::iter().count() == Requests::<T>::iter().count(),
            "request book and requests differ"
        );

        for (id, c) in Contracts::<T>::iter() {
            ensure!(c.host != c.sender, "a host stores its own request");
            ensure!(
                c.epoch_cost.saturating_mul(
                    (c.last_epoch.saturating_sub(c.first_epoch) as Balance).saturating_add(1),
                ) == c.escrow.saturating_add(c.paid),
                "contract escrow + paid != term cost"
            );
            ensure!(
                HostContracts::<T>::contains_key(&c.host, id)
                    && SenderContracts::<T>::contains_key(&c.sender, id),
                "contract not indexed"
            );
            ensure!(
                T::Deposits::backing(id)
                    <= market::per_gib(T::DepositPerGiB::get(), Self::billed(c.size)).unwrap_or(0),
                "contract backed by more than its deposit"
            );
            add(&mut escrow, &c.sender, c.escrow);
            let e = used.entry(c.host.clone()).or_default();
            e.0 = e.0.saturating_add(Self::billed(c.size));
            e.1 = e.1.saturating_add(1);
        }
        ensure!(
            HostContracts::<T>::iter().count() == Contracts::<T>::iter().count()
                && SenderContracts::<T>::iter().count() == Contracts::<T>::iter().count(),
            "contract indexes and contracts differ"
        );

        for (host, info) in Hosts::<T>::iter() {
            let (bytes, count) = used.remove(&host).unwrap_or_default();
            ensure!(
                info.used == bytes,
                "host used bytes != its contracts' billed sizes"
            );
            ensure!(
                info.live_contracts == count,
                "host live contracts != its contracts"
            );
            ensure!(info.used <= info.capacity, "host over capacity");
        }
        ensure!(used.is_empty(), "contract of an unregistered host");

        for (who, amount) in escrow {
            ensure!(
                T::Currency::balance_on_hold(&HoldReason::Escrow.into(), &who) == amount,
                "escrow hold != requests' + contracts' unspent funds"
            );
        }
        for (who, amount) in deposits {
            ensure!(
                T::Currency::balance_on_hold(&HoldReason::BookDeposit.into(), &who) == amount,
                "book deposit hold != resting offers' and requests' deposits"
            );
        }
        Ok(())
    }
}
