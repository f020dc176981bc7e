//! Benchmarks (frame-benchmarking v2) of every call, the due-queue hook and
//! epoch payment, each in its worst case; plus matching against a book of up
//! to 10,000 offers, which shows the cost does not grow with the book.

use super::*;
use crate::Pallet as Market;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
    traits::{
        fungible::{Mutate, MutateHold},
        Get,
    },
    BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use masp_primitives::{
    market::{ContractId, OfferId, RequestId, GIB},
    traits::{BenchmarkDeposits, StorageContracts},
    Balance,
};

/// Balance of every benchmark account: plenty for any escrow or deposit.
const RICH: Balance = 1 << 100;
/// Price of the offers that match (per GiB per epoch).
const PRICE: Balance = 1_000_000;
/// Contract size in the benchmarks.
const SIZE: u64 = GIB;
/// Contract term in the benchmarks, in epochs.
const DURATION: u32 = 10;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
    let who: T::AccountId = account(name, i, 0);
    let _ = T::Currency::set_balance(&who, RICH);
    who
}

fn endpoint<T: Config>() -> EndpointOf<T> {
    let mut v = b"https://".to_vec();
    v.resize(T::MaxEndpointLen::get() as usize, b'h');
    v.try_into().expect("exactly the maximum length")
}

fn region() -> Region {
    BoundedVec::try_from(b"EU-WEST1".to_vec()).expect("8 bytes")
}

/// A registered host with a large deposit.
fn host<T: Config>(i: u32) -> T::AccountId {
    let host = funded::<T>("host", i);
    Market::<T>::register_host(
        RawOrigin::Signed(host.clone()).into(),
        endpoint::<T>(),
        region(),
        u64::MAX / 2,
        [1; 32],
    )
    .expect("new host");
    T::BenchmarkHelper::deposit(&host, RICH / 4).expect("a funded host deposits");
    host
}

/// An offer of `host` at `price` that takes any term.
fn post<T: Config>(host: &T::AccountId, price: Balance) -> OfferId {
    let id = NextOfferId::<T>::get();
    Market::<T>::post_offer(
        RawOrigin::Signed(host.clone()).into(),
        price,
        u64::MAX / 4,
        1,
        T::MaxDuration::get(),
    )
    .expect("valid offer");
    id
}

/// An offer at `price` of a new host `i` with no insurance deposit, put
/// straight into the book as it would rest had the host withdrawn its
/// deposit after posting (posting refuses it): the junk matching takes out of
/// the book, or (past its eviction bound) examines in full and skips.
fn junk_offer<T: Config>(i: u32, price: Balance) {
    let who = funded::<T>("junk-host", i);
    Market::<T>::register_host(
        RawOrigin::Signed(who.clone()).into(),
        endpoint::<T>(),
        region(),
        u64::MAX / 2,
        [1; 32],
    )
    .expect("new host");
    let id = NextOfferId::<T>::get();
    NextOfferId::<T>::put(id + 1);
    let deposit = T::OfferDeposit::get();
    T::Currency::hold(&HoldReason::BookDeposit.into(), &who, deposit).expect("funded host");
    let key = offer_key(price, Market::<T>::next_seq().expect("fresh sequence"));
    Offers::<T>::insert(
        id,
        Offer {
            host: who.clone(),
            price,
            capacity: u64::MAX / 4,
            min_duration: 1,
            max_duration: T::MaxDuration::get(),
            book_key: key,
            deposit,
            posted_at: frame_system::Pallet::<T>::block_number(),
        },
    );
    OfferBook::<T>::insert(key, id);
    HostOffers::<T>::mutate(&who, |ids| ids.try_push(id)).expect("first offer");
}

/// A request of sender `i` for `replicas` at `max_price`.
fn request<T: Config>(i: u32, replicas: u32, max_price: Balance) -> RequestId {
    let sender = funded::<T>("sender", i);
    let id = NextRequestId::<T>::get();
    Market::<T>::place_request(
        RawOrigin::Signed(sender).into(),
        SIZE,
        [7; 32],
        masp_proofs::leaf_count(SIZE),
        replicas,
        DURATION,
        max_price,
        0,
    )
    .expect("funded request");
    id
}

/// A confirmed contract between sender `i` and `host`.
fn contract<T: Config>(i: u32, host: &T::AccountId) -> ContractId {
    let id = NextContractId::<T>::get();
    request::<T>(i, 1, PRICE);
    Market::<T>::confirm_stored(RawOrigin::Signed(host.clone()).into(), id).expect("matched");
    id
}

/// The book a placement meets in its worst case: `s` cheaper junk offers
/// (hosts without deposit) and `r` offers of distinct hosts at `PRICE`.
/// Returns a funded Sender.
fn placing_book<T: Config>(s: u32, r: u32) -> T::AccountId {
    for i in 0..s {
        junk_offer::<T>(i, PRICE / 2);
    }
    for i in 0..r {
        let h = host::<T>(i);
        post::<T>(&h, PRICE);
    }
    funded::<T>("sender", 0)
}

/// After a placement on [`placing_book`]: `r` contracts, the remainder
/// resting, the junk beyond one scan still in the book.
fn placed<T: Config>(s: u32, r: u32) {
    assert_eq!(Contracts::<T>::iter().count() as u32, r);
    assert_eq!(Requests::<T>::iter().count(), 1);
    assert_eq!(
        OfferBook::<T>::iter().count() as u32,
        s.saturating_sub(T::MaxMatchScan::get()) + r
    );
}

#[benchmarks]
mod benchmarks {
    use super::*;

    #[benchmark]
    fn register_host() {
        let who = funded::<T>("host", 0);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(who.clone()),
            endpoint::<T>(),
            region(),
            GIB,
            [1; 32],
        );

        assert!(Hosts::<T>::contains_key(&who));
    }

    #[benchmark]
    fn update_host() {
        let who = host::<T>(0);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(who.clone()),
            endpoint::<T>(),
            region(),
            GIB,
            [2; 32],
        );

        assert_eq!(Hosts::<T>::get(&who).map(|h| h.ticket_key), Some([2; 32]));
    }

    /// `o` resting offers are cancelled with the host.
    #[benchmark]
    fn unregister_host(o: Linear<0, { T::MaxOffersPerHost::get() }>) {
        let who = host::<T>(0);
        for _ in 0..o {
            post::<T>(&who, PRICE);
        }

        #[extrinsic_call]
        _(RawOrigin::Signed(who.clone()));

        assert!(!Hosts::<T>::contains_key(&who));
        assert_eq!(OfferBook::<T>::iter().count(), 0);
    }

    /// The new offer matches `s` resting requests (each a contract).
    #[benchmark]
    fn post_offer(s: Linear<1, { T::MaxMatchScan::get() }>) {
        for i in 0..s {
            request::<T>(i, 1, PRICE);
        }
        let who = host::<T>(0);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(who),
            PRICE,
            u64::MAX / 4,
            1,
            T::MaxDuration::get(),
        );

        assert_eq!(Contracts::<T>::iter().count() as u32, s);
    }

    /// Re-pricing an offer makes it match `s` resting requests.
    #[benchmark]
    fn update_offer(s: Linear<1, { T::MaxMatchScan::get() }>) {
        let who = host::<T>(0);
        let offer = post::<T>(&who, PRICE * 2);
        for i in 0..s {
            request::<T>(i, 1, PRICE);
        }

        #[extrinsic_call]
        _(
            RawOrigin::Signed(who),
            offer,
            PRICE,
            u64::MAX / 4,
            1,
            T::MaxDuration::get(),
        );

        assert_eq!(Contracts::<T>::iter().count() as u32, s);
    }

    #[benchmark]
    fn cancel_offer() {
        let who = host::<T>(0);
        for _ in 1..T::MaxOffersPerHost::get() {
            post::<T>(&who, PRICE);
        }
        let offer = post::<T>(&who, PRICE);

        #[extrinsic_call]
        _(RawOrigin::Signed(who), offer);

        assert!(!Offers::<T>::contains_key(offer));
    }

    /// Matching meets `s` cheaper offers whose hosts have no deposit left:
    /// the first `MaxMatchScan` are taken out of the book, the rest are
    /// examined in full and skipped (the costliest rejection); then it
    /// creates `r` contracts on distinct hosts, and the unmatched replica
    /// rests in the book (storage deposit, book entry, expiry).
    #[benchmark]
    fn place_request(
        s: Linear<0, { 2 * T::MaxMatchScan::get() - T::MaxReplicas::get() }>,
        r: Linear<0, { T::MaxReplicas::get() - 1 }>,
    ) {
        let sender = placing_book::<T>(s, r);

        #[extrinsic_call]
        _(
            RawOrigin::Signed(sender),
            SIZE,
            [7; 32],
            masp_proofs::leaf_count(SIZE),
            r + 1,
            DURATION,
            PRICE,
            0,
        );

        placed::<T>(s, r);
    }

    /// [`Pallet::place_shards`] in the same worst case as `place_request`:
    /// `s` junk offers met, `r` shards matched on distinct hosts, and the
    /// last of `r + 1` shards (each of its own size and root) rests.
    #[benchmark]
    fn place_shards(
        s: Linear<0, { 2 * T::MaxMatchScan::get() - T::MaxReplicas::get() }>,
        r: Linear<0, { T::MaxReplicas::get() - 1 }>,
    ) {
        let sender = placing_book::<T>(s, r);
        let shards: Vec<ShardSpec> = (0..=r)
            .map(|i| {
                let size = SIZE - u64::from(i) * 512;
                let mut merkle_root = [7; 32];
                merkle_root[..4].copy_from_slice(&i.to_le_bytes());
                ShardSpec {
                    size,
                    merkle_root,
                    leaf_count: masp_proofs::leaf_count(size),
                }
            })
            .collect();
        let shards: BoundedVec<_, T::MaxReplicas> = shards.try_into().expect("at most MaxReplicas");
        // The costliest exclusion check: a full list of hosts to avoid.
        let avoid: BoundedVec<_, T::MaxReplicas> = (0..T::MaxReplicas::get())
            .map(|i| account::<T::AccountId>("avoid", i, 0))
            .collect::<Vec<_>>()
            .try_into()
            .expect("MaxReplicas");

        #[extrinsic_call]
        _(RawOrigin::Signed(sender), shards, avoid, DURATION, PRICE, 0);

        placed::<T>(s, r);
    }

    /// [`Pallet::place_on_offers`]: `r` shards on `r` picked offers of
    /// distinct hosts, each offer sized to its shard so that every one sells
    /// out and leaves the book (the costlier branch).
    #[benchmark]
    fn place_on_offers(r: Linear<1, { T::MaxReplicas::get() }>) {
        let mut offers = Vec::new();
        for i in 0..r {
            let h = host::<T>(i);
            offers.push(NextOfferId::<T>::get());
            Market::<T>::post_offer(
                RawOrigin::Signed(h).into(),
                PRICE,
                SIZE,
                1,
                T::MaxDuration::get(),
            )
            .expect("valid offer");
        }
        let sender = funded::<T>("sender", 0);
        let shards: Vec<ShardSpec> = (0..r)
            .map(|i| {
                let mut merkle_root = [7; 32];
                merkle_root[..4].copy_from_slice(&i.to_le_bytes());
                ShardSpec {
                    size: SIZE,
                    merkle_root,
                    leaf_count: masp_proofs::leaf_count(SIZE),
                }
            })
            .collect();
        let shards: BoundedVec<_, T::MaxReplicas> = shards.try_into().expect("at most MaxReplicas");
        let offers: BoundedVec<_, T::MaxReplicas> = offers.try_into().expect("at most MaxReplicas");

        #[extrinsic_call]
        _(RawOrigin::Signed(sender), shards, offers, DURATION, PRICE);

        assert_eq!(Contracts::<T>::iter().count() as u32, r);
        assert_eq!(OfferBook::<T>::iter().count(), 0);
    }

    /// A request that matches nothing against a book of `b` offers, from
    /// `MaxMatchScan` (the bound) to 10,000: it examines `MaxMatchScan` of
    /// them whatever `b` is, so the weight is flat in `b` (trie depth aside).
    #[benchmark]
    fn place_request_deep_book(b: Linear<{ T::MaxMatchScan::get() }, 10_000>) {
        let now = frame_system::Pallet::<T>::block_number();
        for i in 0..b {
            let who: T::AccountId = account("book-host", i, 0);
            let key = offer_key(PRICE, i as u64);
            Offers::<T>::insert(
                i as u64,
                Offer {
                    host: who,
                    price: PRICE,
                    capacity: GIB,
                    min_duration: 1,
                    max_duration: 1,
                    book_key: key,
                    deposit: 0,
                    posted_at: now,
                },
            );
            OfferBook::<T>::insert(key, i as u64);
        }
        let sender = funded::<T>("sender", 0);

        #[extrinsic_call]
        place_request(
            RawOrigin::Signed(sender),
            SIZE,
            [7; 32],
            masp_proofs::leaf_count(SIZE),
            1,
            DURATION,
            PRICE,
            0,
        );

        assert_eq!(Requests::<T>::iter().count(), 1);
    }

    #[benchmark]
    fn cancel_request() {
        let id = request::<T>(0, T::MaxReplicas::get(), PRICE);
        let sender: T::AccountId = account("sender", 0, 0);

        #[extrinsic_call]
        _(RawOrigin::Signed(sender), id);

        assert!(!Requests::<T>::contains_key(id));
    }

    #[benchmark]
    fn confirm_stored() {
        let h = host::<T>(0);
        post::<T>(&h, PRICE);
        let id = NextContractId::<T>::get();
        request::<T>(0, 1, PRICE);

        #[extrinsic_call]
        _(RawOrigin::Signed(h), id);

        assert_eq!(
            Contracts::<T>::get(id).map(|c| c.state),
            Some(ContractState::Active)
        );
    }

    #[benchmark]
    fn cancel_contract() {
        let h = host::<T>(0);
        post::<T>(&h, PRICE);
        // Confirmed, no epoch paid yet: the host is paid its first epoch.
        let id = contract::<T>(0, &h);
        let sender: T::AccountId = account("sender", 0, 0);

        #[extrinsic_call]
        _(RawOrigin::Signed(sender), id);

        assert!(!Contracts::<T>::contains_key(id));
    }

    /// The upload windows of `n` contracts, each between a distinct Sender
    /// and a distinct host, close in one block unconfirmed: each pays its
    /// host the first epoch and ends (the costliest due item: a transfer
    /// between two accounts of its own, then the end of the contract).
    #[benchmark]
    fn process_due(n: Linear<0, { T::MaxDuePerBlock::get() }>) {
        let mut ids = Vec::new();
        for i in 0..n {
            let h = host::<T>(i);
            // Room for one contract: the next request goes to the next host.
            Market::<T>::post_offer(
                RawOrigin::Signed(h).into(),
                PRICE,
                Market::<T>::billed(SIZE),
                1,
                T::MaxDuration::get(),
            )
            .expect("valid offer");
            ids.push(NextContractId::<T>::get());
            request::<T>(i, 1, PRICE);
        }
        // Upload deadlines are settled the block after the deadline.
        let at: BlockNumberFor<T> = ids
            .first()
            .and_then(Contracts::<T>::get)
            .map(|c| sp_runtime::Saturating::saturating_add(c.upload_deadline, 1u32.into()))
            .unwrap_or_else(|| frame_system::Pallet::<T>::block_number());
        frame_system::Pallet::<T>::set_block_number(at);
        DueCursor::<T>::put((at, 0));

        #[block]
        {
            Market::<T>::process_due(at, n);
        }

        assert_eq!(Contracts::<T>::iter().count(), 0);
    }

    /// The proofs pallet reports a proven epoch: the host is paid.
    #[benchmark]
    fn pay_epoch() {
        let h = host::<T>(0);
        post::<T>(&h, PRICE);
        let id = contract::<T>(0, &h);
        let first = Contracts::<T>::get(id).map(|c| c.first_epoch).unwrap_or(0);

        #[block]
        {
            Market::<T>::epoch_proven(id, first).expect("active contract");
        }

        assert_eq!(
            Contracts::<T>::get(id).and_then(|c| c.last_paid_epoch),
            Some(first)
        );
    }

    impl_benchmark_test_suite!(Market, crate::mock::new_test_ext(), crate::mock::Test);
}
