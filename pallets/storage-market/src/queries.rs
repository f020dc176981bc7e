//! What the runtime API reads: the books, a host, a Sender's requests and
//! contracts, and a quote.

use alloc::vec::Vec;
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::*;
use masp_primitives::{
    market::{self, ContractId, OfferId, Rating, RequestId},
    traits::{HostDeposits, HostRatingProvider},
    Balance,
};

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
    // ----- queries (runtime API) -----

    /// The offer book, cheapest first, at most `max` offers.
    pub fn order_book(max: u32) -> Vec<(OfferId, OfferOf<T>)> {
        OfferBook::<T>::iter_values()
            .take(max as usize)
            .filter_map(|id| Offers::<T>::get(id).map(|o| (id, o)))
            .collect()
    }

    /// Resting requests, highest max price first, at most `max`.
    pub fn request_book(max: u32) -> Vec<(RequestId, RequestViewOf<T>)> {
        RequestBook::<T>::iter_values()
            .take(max as usize)
            .filter_map(|id| Requests::<T>::get(id).map(|r| (id, (&r).into())))
            .collect()
    }

    /// A registered host, with its free deposit and rating.
    pub fn host(who: &T::AccountId) -> Option<HostView<BlockNumberFor<T>>> {
        Hosts::<T>::get(who).map(|h| HostView {
            endpoint: h.endpoint.into_inner(),
            region: h.region.into_inner(),
            capacity: h.capacity,
            used: h.used,
            ticket_key: h.ticket_key,
            live_contracts: h.live_contracts,
            registered_at: h.registered_at,
            free_deposit: T::Deposits::free_deposit(who),
            rating: T::Rating::rating(who),
        })
    }

    /// A host's resting offers.
    pub fn host_offers(host: &T::AccountId) -> Vec<(OfferId, OfferOf<T>)> {
        HostOffers::<T>::get(host)
            .into_iter()
            .filter_map(|id| Offers::<T>::get(id).map(|o| (id, o)))
            .collect()
    }

    /// A host's live contracts, at most `max`.
    pub fn host_contracts(host: &T::AccountId, max: u32) -> Vec<(ContractId, ContractOf<T>)> {
        HostContracts::<T>::iter_key_prefix(host)
            .take(max as usize)
            .filter_map(|id| Contracts::<T>::get(id).map(|c| (id, c)))
            .collect()
    }

    /// A Sender's live contracts, at most `max`.
    pub fn sender_contracts(sender: &T::AccountId, max: u32) -> Vec<(ContractId, ContractOf<T>)> {
        SenderContracts::<T>::iter_key_prefix(sender)
            .take(max as usize)
            .filter_map(|id| Contracts::<T>::get(id).map(|c| (id, c)))
            .collect()
    }

    /// A Sender's resting requests, at most `max`.
    pub fn sender_requests(sender: &T::AccountId, max: u32) -> Vec<(RequestId, RequestViewOf<T>)> {
        SenderRequests::<T>::iter_key_prefix(sender)
            .take(max as usize)
            .filter_map(|id| Requests::<T>::get(id).map(|r| (id, (&r).into())))
            .collect()
    }

    /// What a request of `replicas` x `size` bytes for `duration` epochs,
    /// at most `max_price` (any price if `None`), on hosts rated at least
    /// `min_rating`, would cost if placed now: the offers matching would
    /// pick, within the same `MaxMatchScan` bound.
    pub fn quote(
        size: u64,
        duration: u32,
        replicas: u32,
        max_price: Option<Balance>,
        min_rating: Rating,
    ) -> Quote<T::AccountId> {
        let max_price = max_price.unwrap_or(Balance::MAX);
        let replicas = replicas.min(T::MaxReplicas::get());
        let mut lines: Vec<QuoteLine<T::AccountId>> = Vec::new();
        let mut hosts: Vec<T::AccountId> = Vec::new();
        let mut total: Balance = 0;
        // The same walk as matching: ineligible offers (which matching
        // takes out of the book) do not count against the bound.
        let scan = T::MaxMatchScan::get();
        let (mut examined, mut skipped) = (0u32, 0u32);
        for (key, id) in OfferBook::<T>::iter().take(scan.saturating_mul(2) as usize) {
            if lines.len() as u32 >= replicas
                || examined >= scan
                || offer_key_price(&key) > max_price
            {
                break;
            }
            let Some(offer) = Offers::<T>::get(id) else {
                examined += 1;
                continue;
            };
            let Some(host) = Hosts::<T>::get(&offer.host) else {
                examined += 1;
                continue;
            };
            if skipped < scan && !Self::can_rest(&offer, &host) {
                skipped += 1;
                continue;
            }
            examined += 1;
            if Self::fits(&offer, &host, None, &hosts, &[], size, duration, min_rating).is_none() {
                continue;
            }
            let Some(cost) = market::term_cost(offer.price, Self::billed(size), duration) else {
                continue;
            };
            total = total.saturating_add(cost);
            hosts.push(offer.host.clone());
            lines.push(QuoteLine {
                offer: id,
                host: offer.host,
                price: offer.price,
                cost,
            });
        }
        let unmatched = replicas.saturating_sub(lines.len() as u32);
        Quote {
            lines,
            total,
            unmatched,
        }
    }
}
