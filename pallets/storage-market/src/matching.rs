//! Requests and matching: placing a request (or picked offers), matching
//! it against the offer book cheapest first, and making contracts.

use alloc::vec::Vec;
use frame_support::{
    pallet_prelude::*,
    traits::{
        fungible::MutateHold,
        tokens::{Fortitude, Precision, Restriction},
    },
};
use frame_system::pallet_prelude::*;
use masp_primitives::{
    market::{self, ContractId, EpochIndex, OfferId, Rating, RequestId, RATING_MAX},
    traits::{ContractObserver, EpochClock, HostDeposits, HostRatingProvider},
    Balance,
};
use sp_runtime::traits::{Saturating, Zero};

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
    // ----- requests -----

    /// The escrow one replica storing `shard` holds: its whole term at
    /// `max_price`.
    pub(crate) fn bid(shard: &ShardSpec, max_price: Balance, duration: u32) -> Option<Balance> {
        market::term_cost(max_price, Self::billed(shard.size), duration)
    }

    /// Refuses shards of which two have the same Merkle root.
    pub(crate) fn ensure_distinct(shards: &[ShardSpec]) -> DispatchResult {
        ensure!(!shards.is_empty(), Error::<T>::BadReplicas);
        for (i, shard) in shards.iter().enumerate() {
            ensure!(
                !shards
                    .iter()
                    .take(i)
                    .any(|other| other.merkle_root == shard.merkle_root),
                Error::<T>::DuplicateRoot
            );
        }
        Ok(())
    }

    /// Places a request of `sender` for one replica per shard (see
    /// [`Pallet::place_request`]): on the offers in `picked` (one per
    /// shard, all or nothing, see [`Pallet::place_on_offers`]) or, if
    /// `None`, matched against the book. `weight` is the call's weight
    /// for (offers scanned, contracts made).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place(
        sender: T::AccountId,
        shards: BoundedVec<ShardSpec, T::MaxReplicas>,
        avoid: BoundedVec<T::AccountId, T::MaxReplicas>,
        duration: u32,
        max_price: Balance,
        min_rating: Rating,
        picked: Option<BoundedVec<OfferId, T::MaxReplicas>>,
        weight: impl Fn(u32, u32) -> Weight,
    ) -> DispatchResultWithPostInfo {
        for shard in &shards {
            ensure!(shard.size > 0, Error::<T>::ZeroSize);
            // The host proves leaves of the tree over `size` bytes: a
            // different count makes every proof fail (the host is
            // slashed for the Sender's lie).
            ensure!(
                expected_leaf_count(shard.size) == Some(shard.leaf_count),
                Error::<T>::BadLeafCount
            );
        }
        ensure!(
            duration > 0 && duration <= T::MaxDuration::get(),
            Error::<T>::BadDuration
        );
        ensure!(
            min_rating <= RATING_MAX.min(T::Rating::best_rating()),
            Error::<T>::BadMinRating
        );
        let mut escrow: Balance = 0;
        for shard in &shards {
            let bid = Self::bid(shard, max_price, duration).ok_or(Error::<T>::Overflow)?;
            escrow = escrow.checked_add(bid).ok_or(Error::<T>::Overflow)?;
        }
        // The cost of the first contract's term decides `start`/`end`; it
        // must be representable in blocks.
        Self::term_bounds(frame_system::Pallet::<T>::block_number(), duration)?;
        Self::hold(HoldReason::Escrow, &sender, escrow)?;

        let id = NextRequestId::<T>::get();
        NextRequestId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
        let now = frame_system::Pallet::<T>::block_number();
        let mut request = Request {
            sender: sender.clone(),
            shards,
            duration,
            max_price,
            min_rating,
            escrow,
            hosts: BoundedVec::new(),
            avoid,
            deposit: 0,
            book_key: [0; 24],
            expires_at: now.saturating_add(T::RequestTtl::get()),
        };
        let scanned = match picked {
            Some(offers) => Self::match_picked(id, &mut request, &offers, now)?,
            None => Self::match_request(id, &mut request, now)?,
        };
        let matched = request.hosts.len() as u32;
        let resting = request.unmatched();
        let (size, replicas) = (request.largest(), request.replicas());
        if resting > 0 {
            let deposit = T::RequestDeposit::get();
            Self::hold(HoldReason::BookDeposit, &sender, deposit)?;
            request.deposit = deposit;
            request.book_key = request_key(max_price, Self::next_seq()?);
            RequestBook::<T>::insert(request.book_key, id);
            SenderRequests::<T>::insert(&sender, id, ());
            Self::schedule(request.expires_at, DueItem::ExpireRequest(id))?;
            Requests::<T>::insert(id, request);
        }
        Self::deposit_event(Event::RequestPlaced {
            request: id,
            sender,
            size,
            replicas,
            duration,
            max_price,
            matched,
            resting,
        });
        if resting == 0 {
            Self::deposit_event(Event::RequestFilled { request: id });
        }
        Ok(Some(weight(scanned.saturating_sub(matched), matched)).into())
    }

    // ----- matching -----

    /// The bytes a contract of `size` bytes is priced, backed and counted
    /// as: at least [`Config::MinContractSize`].
    pub fn billed(size: u64) -> u64 {
        size.max(T::MinContractSize::get())
    }

    /// Whether `offer` (of host `host`) can take a replica of a request
    /// for `size` bytes (billed as [`Pallet::billed`]) and `duration`
    /// epochs, from `sender` (if known), at `min_rating`, avoiding hosts
    /// in `exclude` and `avoid`. Returns the host deposit the contract
    /// reserves.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fits(
        offer: &OfferOf<T>,
        host: &HostOf<T>,
        sender: Option<&T::AccountId>,
        exclude: &[T::AccountId],
        avoid: &[T::AccountId],
        size: u64,
        duration: u32,
        min_rating: Rating,
    ) -> Option<Balance> {
        let size = Self::billed(size);
        if sender == Some(&offer.host)
            || exclude.contains(&offer.host)
            || avoid.contains(&offer.host)
            || offer.capacity < size
            || duration < offer.min_duration
            || duration > offer.max_duration
            || host.capacity.saturating_sub(host.used) < size
            || T::Rating::rating(&offer.host) < min_rating
        {
            return None;
        }
        let deposit = market::per_gib(T::DepositPerGiB::get(), size)?;
        (T::Deposits::free_deposit(&offer.host) >= deposit).then_some(deposit)
    }

    /// Up to `n` offers of the book after `after` (from the start if
    /// `None`), cheapest first, at most `max_price`.
    pub(crate) fn offer_batch(
        after: Option<BookKey>,
        n: u32,
        max_price: Balance,
    ) -> Vec<(BookKey, OfferId)> {
        let iter = match after {
            Some(key) => OfferBook::<T>::iter_from(OfferBook::<T>::hashed_key_for(key)),
            None => OfferBook::<T>::iter(),
        };
        iter.take(n as usize)
            .take_while(|(key, _)| offer_key_price(key) <= max_price)
            .collect()
    }

    /// Up to `n` requests of the book after `after` (from the start if
    /// `None`), highest bid first, bidding at least `min_price`.
    pub(crate) fn request_batch(
        after: Option<BookKey>,
        n: u32,
        min_price: Balance,
    ) -> Vec<(BookKey, RequestId)> {
        let iter = match after {
            Some(key) => RequestBook::<T>::iter_from(RequestBook::<T>::hashed_key_for(key)),
            None => RequestBook::<T>::iter(),
        };
        iter.take(n as usize)
            .take_while(|(key, _)| request_key_price(key) >= min_price)
            .collect()
    }

    /// Matches `request` against the offer book, cheapest first. Returns
    /// the number of offers examined: at most `MaxMatchScan` that could
    /// take a contract, plus at most `MaxMatchScan` that could not
    /// (their host's free deposit or capacity, or their own capacity,
    /// is below a minimum contract), which are taken out of the book as
    /// sold out: such junk never holds the top of the book.
    pub(crate) fn match_request(
        id: RequestId,
        request: &mut RequestOf<T>,
        now: BlockNumberFor<T>,
    ) -> Result<u32, DispatchError> {
        let scan = T::MaxMatchScan::get();
        let (mut examined, mut evicted) = (0u32, 0u32);
        let mut after = None;
        while request.unmatched() > 0 && examined < scan {
            let want = scan - examined;
            let batch = Self::offer_batch(after, want, request.max_price);
            let full = batch.len() as u32 == want;
            for (key, offer_id) in batch {
                after = Some(key);
                if request.unmatched() == 0 {
                    break;
                }
                let Some(mut offer) = Offers::<T>::get(offer_id) else {
                    examined += 1;
                    continue;
                };
                let Some(mut host) = Hosts::<T>::get(&offer.host) else {
                    examined += 1;
                    continue;
                };
                if evicted < scan && !Self::can_rest(&offer, &host) {
                    evicted += 1;
                    Offers::<T>::remove(offer_id);
                    Self::remove_offer(offer_id, offer, true, true);
                    continue;
                }
                examined += 1;
                let Some(shard) = request.next_shard().copied() else {
                    break;
                };
                let Some(deposit) = Self::fits(
                    &offer,
                    &host,
                    Some(&request.sender),
                    &request.hosts,
                    &request.avoid,
                    shard.size,
                    request.duration,
                    request.min_rating,
                ) else {
                    continue;
                };
                Self::create_contract(id, request, &mut offer, &mut host, deposit, now)?;
                Self::store_offer(offer_id, offer, host);
            }
            if !full {
                break;
            }
        }
        Ok(examined.saturating_add(evicted))
    }

    /// Matches `request`'s shards, in order, on the Sender's `offers`
    /// (one each): fails unless every one takes its shard. Returns the
    /// number of offers examined.
    pub(crate) fn match_picked(
        id: RequestId,
        request: &mut RequestOf<T>,
        offers: &[OfferId],
        now: BlockNumberFor<T>,
    ) -> Result<u32, DispatchError> {
        for offer_id in offers {
            let mut offer = Offers::<T>::get(offer_id).ok_or(Error::<T>::UnknownOffer)?;
            ensure!(
                offer.price <= request.max_price,
                Error::<T>::OfferAboveMaxPrice
            );
            ensure!(
                !request.hosts.contains(&offer.host),
                Error::<T>::SameHostTwice
            );
            let mut host = Hosts::<T>::get(&offer.host).ok_or(Error::<T>::NotRegistered)?;
            let shard = *request.next_shard().ok_or(Error::<T>::BadReplicas)?;
            let deposit = Self::fits(
                &offer,
                &host,
                Some(&request.sender),
                &request.hosts,
                &request.avoid,
                shard.size,
                request.duration,
                request.min_rating,
            )
            .ok_or(Error::<T>::OfferCannotTake)?;
            Self::create_contract(id, request, &mut offer, &mut host, deposit, now)?;
            Self::store_offer(*offer_id, offer, host);
        }
        Ok(offers.len() as u32)
    }

    /// Matches a new or changed offer against resting requests, highest
    /// bid first. Returns the number of requests examined: at most
    /// `MaxMatchScan` that could match some host, plus at most
    /// `MaxMatchScan` whose rating floor is above every host's rating
    /// now, which are closed (refunded) on the way: such junk never
    /// holds the top of the book; plus at most `MaxMatchScan` that will
    /// not have this host (see `skipped`). At most 3 x `MaxMatchScan`
    /// in all, which the calls' weights assume.
    pub(crate) fn match_offer(
        offer: &mut OfferOf<T>,
        host: &mut HostOf<T>,
    ) -> Result<u32, DispatchError> {
        let now = frame_system::Pallet::<T>::block_number();
        let scan = T::MaxMatchScan::get();
        let best = T::Rating::best_rating();
        let (mut examined, mut evicted, mut skipped) = (0u32, 0u32, 0u32);
        let mut after = None;
        while examined < scan && Self::can_rest(offer, host) {
            let want = scan - examined;
            let batch = Self::request_batch(after, want, offer.price);
            let full = batch.len() as u32 == want;
            for (key, request_id) in batch {
                after = Some(key);
                if !Self::can_rest(offer, host) {
                    break;
                }
                let Some(mut request) = Requests::<T>::get(request_id) else {
                    examined += 1;
                    continue;
                };
                if evicted < scan && request.min_rating > best {
                    evicted += 1;
                    Self::close_request(request_id, request, true);
                    continue;
                }
                // A request that will not have this host (its own, one
                // it already matched, or one its Sender avoids) is
                // passed on its own budget: requests avoiding every
                // good host cannot use up the scan and keep the honest
                // ones below them from matching.
                if skipped < scan
                    && (request.sender == offer.host
                        || request.hosts.contains(&offer.host)
                        || request.avoid.contains(&offer.host))
                {
                    skipped += 1;
                    continue;
                }
                examined += 1;
                let Some(shard) = request.next_shard().copied() else {
                    continue;
                };
                let Some(deposit) = Self::fits(
                    offer,
                    host,
                    Some(&request.sender),
                    &request.hosts,
                    &request.avoid,
                    shard.size,
                    request.duration,
                    request.min_rating,
                ) else {
                    continue;
                };
                Self::create_contract(request_id, &mut request, offer, host, deposit, now)?;
                if request.unmatched() == 0 {
                    Self::unlist_request(request_id, &request);
                    Self::deposit_event(Event::RequestFilled {
                        request: request_id,
                    });
                } else {
                    Requests::<T>::insert(request_id, request);
                }
            }
            if !full {
                break;
            }
        }
        Ok(examined.saturating_add(evicted).saturating_add(skipped))
    }

    /// First and last epoch, first block and end block of a term of
    /// `duration` epochs matched at `now`: the term starts at the next
    /// epoch boundary.
    pub(crate) fn term_bounds(
        now: BlockNumberFor<T>,
        duration: u32,
    ) -> Result<(EpochIndex, EpochIndex, BlockNumberFor<T>, BlockNumberFor<T>), DispatchError> {
        let first = T::Epochs::epoch_of(now)
            .checked_add(1)
            .ok_or(Error::<T>::Overflow)?;
        let last = first
            .checked_add(duration.saturating_sub(1))
            .ok_or(Error::<T>::Overflow)?;
        let start = T::Epochs::checked_epoch_start(first).ok_or(Error::<T>::Overflow)?;
        let end = last
            .checked_add(1)
            .and_then(T::Epochs::checked_epoch_start)
            .ok_or(Error::<T>::Overflow)?;
        Ok((first, last, start, end))
    }

    /// One replica of `request` on `offer`'s host: reserves the host's
    /// deposit, keeps the term's cost held from the Sender (returning the
    /// rest of the bid) and records the contract.
    pub(crate) fn create_contract(
        request_id: RequestId,
        request: &mut RequestOf<T>,
        offer: &mut OfferOf<T>,
        host: &mut HostOf<T>,
        deposit: Balance,
        now: BlockNumberFor<T>,
    ) -> DispatchResult {
        let shard = *request.next_shard().ok_or(Error::<T>::BadReplicas)?;
        let bid =
            Self::bid(&shard, request.max_price, request.duration).ok_or(Error::<T>::Overflow)?;
        let billed = Self::billed(shard.size);
        let epoch_cost = market::epoch_cost(offer.price, billed).ok_or(Error::<T>::Overflow)?;
        let cost =
            market::term_cost(offer.price, billed, request.duration).ok_or(Error::<T>::Overflow)?;
        let (first_epoch, last_epoch, start, end) = Self::term_bounds(now, request.duration)?;
        let id = NextContractId::<T>::get();
        NextContractId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
        T::Deposits::reserve(&offer.host, id, deposit)?;
        request
            .hosts
            .try_push(offer.host.clone())
            .map_err(|_| Error::<T>::BadReplicas)?;
        // price <= max_price, so cost <= bid: the difference goes back.
        request.escrow = request.escrow.saturating_sub(bid);
        Self::release(
            HoldReason::Escrow,
            &request.sender,
            bid.saturating_sub(cost),
        );
        offer.capacity = offer.capacity.saturating_sub(billed);
        host.used = host.used.saturating_add(billed);
        host.live_contracts = host.live_contracts.saturating_add(1);
        let upload_deadline = now.saturating_add(T::UploadWindow::get());
        // Processed at the start of the block after the deadline, so a
        // confirmation in the deadline block itself still counts.
        Self::schedule(
            upload_deadline.saturating_add(1u32.into()),
            DueItem::UploadDeadline(id),
        )?;
        HostContracts::<T>::insert(&offer.host, id, ());
        SenderContracts::<T>::insert(&request.sender, id, ());
        Contracts::<T>::insert(
            id,
            Contract {
                request: request_id,
                sender: request.sender.clone(),
                host: offer.host.clone(),
                size: shard.size,
                merkle_root: shard.merkle_root,
                leaf_count: shard.leaf_count,
                price: offer.price,
                epoch_cost,
                start,
                end,
                first_epoch,
                last_epoch,
                upload_deadline,
                state: ContractState::AwaitingUpload,
                escrow: cost,
                paid: 0,
                last_paid_epoch: None,
            },
        );
        Self::deposit_event(Event::ContractCreated {
            contract: id,
            request: request_id,
            sender: request.sender.clone(),
            host: offer.host.clone(),
            size: shard.size,
            price: offer.price,
            cost,
            start,
            end,
            upload_deadline,
        });
        Ok(())
    }

    /// Pays `c`'s host from the Sender's escrow whatever it lacks of one
    /// epoch's price, when the Sender cancels or the upload window closes
    /// unconfirmed: a match reserves the host's capacity and deposit (and
    /// confirmed, it received the upload), so it never ends unpaid.
    pub(crate) fn pay_first_epoch(c: &mut ContractOf<T>) -> DispatchResult {
        let amount = c.epoch_cost.saturating_sub(c.paid).min(c.escrow);
        Self::pay_host(c, amount)
    }

    /// Moves `amount` (at most what is left: callers take `min(escrow)`)
    /// from the Sender's escrow hold to `c`'s host, free, and counts it
    /// paid. Nothing moves for zero.
    pub(crate) fn pay_host(c: &mut ContractOf<T>, amount: Balance) -> DispatchResult {
        if amount.is_zero() {
            return Ok(());
        }
        T::Currency::transfer_on_hold(
            &HoldReason::Escrow.into(),
            &c.sender,
            &c.host,
            amount,
            Precision::Exact,
            Restriction::Free,
            Fortitude::Force,
        )?;
        c.escrow = c.escrow.saturating_sub(amount);
        c.paid = c.paid.saturating_add(amount);
        Ok(())
    }

    /// Ends a contract: the Sender's unspent funds return, the host's
    /// deposit backing and capacity are freed.
    pub(crate) fn end_contract(id: ContractId, contract: ContractOf<T>, reason: EndReason) {
        Contracts::<T>::remove(id);
        HostContracts::<T>::remove(&contract.host, id);
        SenderContracts::<T>::remove(&contract.sender, id);
        Self::release(HoldReason::Escrow, &contract.sender, contract.escrow);
        // Observers first, while the deposit still backs the contract
        // (an insurer recovers a claim from it).
        T::Observer::contract_ended(
            id,
            &contract.host,
            &contract.sender,
            reason.into(),
            contract.paid,
        );
        T::Deposits::release(id);
        Hosts::<T>::mutate(&contract.host, |maybe| {
            if let Some(host) = maybe {
                host.used = host.used.saturating_sub(Self::billed(contract.size));
                host.live_contracts = host.live_contracts.saturating_sub(1);
            }
        });
        Self::deposit_event(Event::ContractEnded {
            contract: id,
            reason,
            paid: contract.paid,
            refunded: contract.escrow,
        });
    }
}
