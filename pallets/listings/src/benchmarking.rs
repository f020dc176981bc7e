//! Benchmarks (frame-benchmarking v2), each in its worst case: listings of
//! the most contracts, purchases that check every contract, a dispute that
//! opens the sealed key on chain and refunds, and due items that each pay a
//! different Sender for a different buyer.

use super::*;
use crate::Pallet as ListingsPallet;
use frame_benchmarking::v2::*;
use frame_support::{
    traits::{fungible::Mutate, Get, Hooks},
    BoundedVec,
};
use frame_system::RawOrigin;
use masp_primitives::{
    market::ContractId,
    seal::{self, Key32, SealedKey},
    Balance,
};
use sp_runtime::traits::Saturating;

/// Plenty for any benchmark account.
const FUNDS: Balance = 1 << 100;
/// The listed file key.
const FILE_KEY: Key32 = [7; 32];
/// A listing's price.
const PRICE: Balance = 1_000_000_000_000;

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
    let who: T::AccountId = account(name, index, 0);
    T::Currency::set_balance(&who, FUNDS);
    who
}

/// A buyer's purchase secret.
fn secret(index: u32) -> Key32 {
    let mut s = [0x11; 32];
    s[..4].copy_from_slice(&index.to_le_bytes());
    s
}

/// A paid listing's terms: anyone may buy, any number of times, forever.
fn terms<T: Config>() -> ListingTerms<T::AccountId, frame_system::pallet_prelude::BlockNumberFor<T>>
{
    ListingTerms {
        price: PRICE,
        open_key: None,
        to: None,
        expires: None,
        max_buyers: None,
    }
}

/// `c` live contracts of `sender`.
fn contracts<T: Config>(sender: &T::AccountId, c: u32) -> BoundedVec<ContractId, T::MaxContracts> {
    (0..c)
        .map(|n| T::BenchmarkHelper::contract(sender, n))
        .collect::<alloc::vec::Vec<_>>()
        .try_into()
        .expect("c <= MaxContracts")
}

/// A paid listing of `c` contracts by the `index`th Sender.
fn listing<T: Config>(index: u32, c: u32) -> (T::AccountId, ListingId) {
    let sender = funded::<T>("sender", index);
    let id = NextListingId::<T>::get();
    ListingsPallet::<T>::share(
        RawOrigin::Signed(sender.clone()).into(),
        contracts::<T>(&sender, c),
        // One is enough to read: `buy` scans past ended ones to the last.
        1,
        seal::key_commitment(&FILE_KEY),
        [9; 32],
        terms::<T>(),
        alloc::vec![b'x'; T::MaxMeta::get() as usize]
            .try_into()
            .expect("MaxMeta"),
    )
    .expect("a listable file");
    (sender, id)
}

/// The `index`th buyer's purchase of `listing`.
fn bought<T: Config>(listing: ListingId, index: u32) -> T::AccountId {
    let buyer = funded::<T>("buyer", index);
    ListingsPallet::<T>::buy(
        RawOrigin::Signed(buyer.clone()).into(),
        listing,
        seal::public_key(&secret(index)),
        Balance::MAX,
    )
    .expect("a buyable listing");
    buyer
}

/// `key` sealed to the `index`th buyer's purchase of `listing`.
fn sealed<T: Config>(
    listing: ListingId,
    buyer: &T::AccountId,
    index: u32,
    key: &Key32,
) -> SealedKey {
    let context = seal::purchase_context(listing, &ListingsPallet::<T>::account_bytes(buyer));
    seal::seal(
        key,
        &seal::public_key(&secret(index)),
        &[0x42; 32],
        &context,
    )
    .expect("a strong key")
}

/// A delivered, undisputed purchase of a listing of the most contracts,
/// of which only the last is still stored (every one is looked at),
/// by the `i`th buyer from the `i`th Sender. Returns its due block.
fn due_payment<T: Config>(i: u32) -> frame_system::pallet_prelude::BlockNumberFor<T> {
    let c = T::MaxContracts::get();
    let (sender, id) = listing::<T>(i, c);
    let buyer = bought::<T>(id, i);
    let key = sealed::<T>(id, &buyer, i, &FILE_KEY);
    ListingsPallet::<T>::deliver_key(RawOrigin::Signed(sender).into(), id, buyer, key)
        .expect("delivered");
    let l = Listings::<T>::get(id).expect("listed");
    for contract in l.contracts.iter().take(c.saturating_sub(1) as usize) {
        T::BenchmarkHelper::end(*contract);
    }
    frame_system::Pallet::<T>::block_number().saturating_add(T::DisputePeriod::get())
}

#[benchmarks]
mod benchmarks {
    use super::*;

    /// A listing of `c` contracts, each checked, with the longest
    /// description.
    #[benchmark]
    fn share(c: Linear<1, { T::MaxContracts::get() }>) {
        let sender = funded::<T>("sender", 0);
        let contracts = contracts::<T>(&sender, c);
        let meta: BoundedVec<u8, T::MaxMeta> = alloc::vec![b'x'; T::MaxMeta::get() as usize]
            .try_into()
            .expect("MaxMeta");
        #[extrinsic_call]
        // `need` 1: replicas, one root, compared pairwise in one pass. The
        // shards' path (`need` > 1) adds at most c(c-1)/2 comparisons of
        // 32 bytes (496 at c = 32), well under 1% of the c contract reads
        // measured here.
        _(
            RawOrigin::Signed(sender),
            contracts,
            1,
            seal::key_commitment(&FILE_KEY),
            [9; 32],
            ListingTerms {
                max_buyers: Some(u32::MAX),
                ..terms::<T>()
            },
            meta,
        );
        assert!(Listings::<T>::contains_key(0));
    }

    #[benchmark]
    fn unshare() {
        let (sender, id) = listing::<T>(0, 1);
        #[extrinsic_call]
        _(RawOrigin::Signed(sender), id);
        assert!(Listings::<T>::get(id).expect("listed").closed);
    }

    /// A purchase that checks `c` contracts: the first `c - 1` have ended.
    #[benchmark]
    fn buy(c: Linear<1, { T::MaxContracts::get() }>) {
        let (_, id) = listing::<T>(0, c);
        let l = Listings::<T>::get(id).expect("listed");
        for contract in l.contracts.iter().take(c.saturating_sub(1) as usize) {
            T::BenchmarkHelper::end(*contract);
        }
        let buyer = funded::<T>("buyer", 0);
        #[extrinsic_call]
        _(
            RawOrigin::Signed(buyer.clone()),
            id,
            seal::public_key(&secret(0)),
            Balance::MAX,
        );
        assert!(Purchases::<T>::contains_key(id, &buyer));
    }

    #[benchmark]
    fn deliver_key() {
        let (sender, id) = listing::<T>(0, 1);
        let buyer = bought::<T>(id, 0);
        let key = sealed::<T>(id, &buyer, 0, &FILE_KEY);
        #[extrinsic_call]
        _(RawOrigin::Signed(sender), id, buyer.clone(), key);
        assert!(ListingsPallet::<T>::has_access(id, &buyer));
    }

    /// The costly path: the key is opened on chain, found wrong, the buyer
    /// refunded and paid the listing's deposit.
    #[benchmark]
    fn dispute_key() {
        let (sender, id) = listing::<T>(0, 1);
        let buyer = bought::<T>(id, 0);
        let wrong = sealed::<T>(id, &buyer, 0, &[8; 32]);
        ListingsPallet::<T>::deliver_key(
            RawOrigin::Signed(sender).into(),
            id,
            buyer.clone(),
            wrong,
        )
        .expect("delivered");
        #[extrinsic_call]
        _(RawOrigin::Signed(buyer.clone()), id, secret(0));
        assert!(!Purchases::<T>::contains_key(id, &buyer));
    }

    /// A listing of `c` contracts, every one checked and ended.
    #[benchmark]
    fn remove_listing(c: Linear<1, { T::MaxContracts::get() }>) {
        let (_, id) = listing::<T>(0, c);
        for contract in Listings::<T>::get(id).expect("listed").contracts.iter() {
            T::BenchmarkHelper::end(*contract);
        }
        let caller = funded::<T>("caller", 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(caller), id);
        assert!(!Listings::<T>::contains_key(id));
    }

    #[benchmark]
    fn remove_purchase() {
        let (sender, id) = listing::<T>(0, 1);
        let buyer = bought::<T>(id, 0);
        let key = sealed::<T>(id, &buyer, 0, &FILE_KEY);
        ListingsPallet::<T>::deliver_key(RawOrigin::Signed(sender).into(), id, buyer.clone(), key)
            .expect("delivered");
        let settled =
            frame_system::Pallet::<T>::block_number().saturating_add(T::DisputePeriod::get());
        frame_system::Pallet::<T>::set_block_number(settled);
        ListingsPallet::<T>::on_initialize(settled);
        T::BenchmarkHelper::end(Listings::<T>::get(id).expect("listed").contracts[0]);
        ListingsPallet::<T>::remove_listing(RawOrigin::Signed(buyer.clone()).into(), id)
            .expect("removable");
        let caller = funded::<T>("caller", 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(caller), id, buyer.clone());
        assert!(!Purchases::<T>::contains_key(id, &buyer));
    }

    /// `n` due payments, each from a distinct buyer to a distinct Sender,
    /// each looking at every contract of its listing.
    #[benchmark]
    fn process_due(n: Linear<0, { T::MaxDuePerBlock::get() }>) {
        let mut due = frame_system::Pallet::<T>::block_number();
        for i in 0..n {
            due = due_payment::<T>(i);
        }
        // The key deadlines are queued before the payments: skip past them.
        DueCursor::<T>::put((due, 0u32));
        #[block]
        {
            ListingsPallet::<T>::process_due(due, n);
        }
        if n > 0 {
            let first: T::AccountId = account("buyer", 0, 0);
            assert!(matches!(
                Purchases::<T>::get(0, &first).map(|p| p.state),
                Some(PurchaseState::Settled { .. })
            ));
        }
    }

    /// One overdue payment settled by a third party (the worst path: every
    /// contract looked at, the Sender paid).
    #[benchmark]
    fn settle() {
        let due = due_payment::<T>(0);
        frame_system::Pallet::<T>::set_block_number(due);
        let buyer: T::AccountId = account("buyer", 0, 0);
        let caller = funded::<T>("caller", 0);
        #[extrinsic_call]
        _(RawOrigin::Signed(caller), 0, buyer.clone());
        assert!(matches!(
            Purchases::<T>::get(0, &buyer).map(|p| p.state),
            Some(PurchaseState::Settled { .. })
        ));
    }

    impl_benchmark_test_suite!(
        ListingsPallet,
        crate::mock::new_test_ext(),
        crate::mock::Test
    );
}
