//! How the MASP pallets talk to each other.
//!
//! One concern per pallet: the market never reads the deposits pallet's
//! storage, the proofs pallet never reads the market's. Each talks to the
//! other through one of these traits, wired in the runtime's `Config`.

use crate::market::{ContractId, EpochIndex, Rating, RATING_MAX};
use core::marker::PhantomData;
use sp_runtime::{
    traits::{AtLeast32BitUnsigned, Get},
    DispatchError, DispatchResult, Weight,
};

/// The market's one clock: epochs of [`EpochClock::length`] blocks, epoch
/// `e` being the blocks `[e * length, (e + 1) * length)`.
///
/// Every pallet that counts epochs (the market, proofs, rating, insurance)
/// takes the same clock from the runtime, so they cannot disagree. The clock
/// knows no "now": a pallet asks for `epoch_of(frame_system's block number)`.
///
/// No method panics. A zero length (a runtime's integrity tests refuse it,
/// but a storage parameter could still be set to 0) counts as one block per
/// epoch in the arithmetic, so an epoch and its start stay consistent.
pub trait EpochClock<BlockNumber> {
    /// Blocks per epoch, as configured (never zero on a sound runtime: each
    /// pallet's `integrity_test` checks it).
    fn length() -> BlockNumber;

    /// The epoch `block` is in (`u32::MAX` for any block past the last
    /// epoch an [`EpochIndex`] can name).
    fn epoch_of(block: BlockNumber) -> EpochIndex;

    /// The first block of `epoch`, or `None` if it is past the largest
    /// block number.
    fn checked_epoch_start(epoch: EpochIndex) -> Option<BlockNumber>;

    /// The first block of `epoch`, saturating at the largest block number.
    fn epoch_start(epoch: EpochIndex) -> BlockNumber;
}

/// The [`EpochClock`] of epochs of `L::get()` blocks (the runtime's
/// `EpochLength` parameter).
pub struct BlockEpochs<L>(PhantomData<L>);

impl<L> BlockEpochs<L> {
    /// The length the arithmetic uses: `L`, or 1 if `L` is zero.
    fn effective_length<B: AtLeast32BitUnsigned>() -> B
    where
        L: Get<B>,
    {
        L::get().max(B::one())
    }
}

impl<B: AtLeast32BitUnsigned + Copy, L: Get<B>> EpochClock<B> for BlockEpochs<L> {
    fn length() -> B {
        L::get()
    }

    fn epoch_of(block: B) -> EpochIndex {
        (block / Self::effective_length()).unique_saturated_into()
    }

    fn checked_epoch_start(epoch: EpochIndex) -> Option<B> {
        Self::effective_length::<B>().checked_mul(&epoch.into())
    }

    fn epoch_start(epoch: EpochIndex) -> B {
        Self::effective_length::<B>().saturating_mul(epoch.into())
    }
}

/// The hosts' insurance deposits, as the market sees them.
///
/// A host's deposit is held MASP. Each contract reserves part of it for its
/// term; only the unreserved part backs new contracts or can be withdrawn.
pub trait HostDeposits<AccountId, Balance> {
    /// The part of `host`'s deposit not backing any contract.
    fn free_deposit(host: &AccountId) -> Balance;

    /// Reserves `amount` of `host`'s free deposit to back `contract`.
    /// Fails (changing nothing) if the free deposit is smaller or the
    /// contract is already backed.
    fn reserve(host: &AccountId, contract: ContractId, amount: Balance) -> DispatchResult;

    /// Ends the backing of `contract` (completed, cancelled or lost): what
    /// remains of it becomes free deposit again. Returns that amount; zero
    /// if the contract had no backing.
    fn release(contract: ContractId) -> Balance;

    /// What currently backs `contract` (after any slashes).
    fn backing(contract: ContractId) -> Balance;

    /// What slashes of `contract`'s backing have paid its victims so far
    /// (zero once the backing is released).
    fn paid_to_victims(contract: ContractId) -> Balance;
}

/// What a slash did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlashOutcome<Balance> {
    /// Taken from the host's deposit in total.
    pub slashed: Balance,
    /// Of which paid to the victim (the contract's Sender or its insurer).
    pub to_victim: Balance,
    /// Of which sent where the runtime's configuration says.
    pub to_remainder: Balance,
}

/// Slashing a host's deposit for a failure on one contract (called by the
/// proofs pallet on a missed proof, by insurance on a loss).
pub trait SlashDeposit<AccountId, Balance> {
    /// Takes up to `amount` from the deposit backing `contract` (never more
    /// than that backing, never more than the host holds: a host is never
    /// pushed into debt). Pays `victim` first, up to `victim_cap`; the rest
    /// goes to the runtime's slash destination.
    fn slash(
        contract: ContractId,
        amount: Balance,
        victim: &AccountId,
        victim_cap: Balance,
    ) -> SlashOutcome<Balance>;
}

/// A host's rating, as matching sees it.
pub trait HostRatingProvider<AccountId> {
    /// `host`'s current rating, from 0 to [`RATING_MAX`].
    fn rating(host: &AccountId) -> Rating;

    /// The best rating any host has now (an upper bound is fine, never a
    /// lower one): a request whose `min_rating` is above it could match no
    /// host, so the market refuses it, and closes a resting one it meets.
    /// Defaults to [`RATING_MAX`] (no request is refused).
    fn best_rating() -> Rating {
        RATING_MAX
    }
}

/// Until a rating pallet is wired in, every host has the best rating.
impl<AccountId> HostRatingProvider<AccountId> for () {
    fn rating(_: &AccountId) -> Rating {
        RATING_MAX
    }
}

/// Who is a registered host (the market's register).
pub trait HostRegistry<AccountId> {
    /// Whether `who` is registered as a host.
    fn is_host(who: &AccountId) -> bool;
}

/// What a prover must prove for a contract in an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofTarget<AccountId> {
    /// The host that stores the data and must prove it.
    pub host: AccountId,
    /// The Sender who pays for it (and is compensated when the host fails).
    pub sender: AccountId,
    /// Merkle root of the contract's ciphertext.
    pub merkle_root: [u8; 32],
    /// Leaves in that tree.
    pub leaf_count: u64,
    /// Bytes of ciphertext stored (what the contract is priced on).
    pub size: u64,
    /// First epoch of the term that must be proven.
    pub first_epoch: EpochIndex,
    /// Last epoch of the term (inclusive).
    pub last_epoch: EpochIndex,
    /// Whether the host has confirmed it holds the data (proofs are due only
    /// once it has).
    pub confirmed: bool,
}

/// The market's contracts, as the proofs pallet sees them.
pub trait StorageContracts<AccountId, Balance> {
    /// What `contract`'s host must prove, if the contract is live.
    fn proof_target(contract: ContractId) -> Option<ProofTarget<AccountId>>;

    /// `contract`'s host proved `epoch`: pay the host that epoch's price out
    /// of the Sender's held funds. Each epoch is paid at most once, and only
    /// for a confirmed contract within its term. Returns the amount paid.
    fn epoch_proven(contract: ContractId, epoch: EpochIndex) -> Result<Balance, DispatchError>;

    /// `contract`'s host lost the data (repeated missed proofs): the contract
    /// ends, the Sender's unspent funds return and the host's deposit
    /// backing it is released (after any slashes the caller made).
    fn data_lost(contract: ContractId) -> DispatchResult;

    /// The most [`StorageContracts::data_lost`] may cost beyond what the
    /// caller's benchmarks measure (see
    /// [`ContractObserver::contract_ended_weight`]).
    fn data_lost_weight() -> Weight {
        Weight::zero()
    }
}

/// How a contract ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractEnd {
    /// Its term ran out.
    Completed,
    /// Its Sender cancelled it.
    Cancelled,
    /// The host did not confirm the upload in time.
    NotConfirmed,
    /// The host lost the data (repeated missed proofs).
    DataLost,
}

/// Told about contracts starting and ending (the rating pallet, the proofs
/// pallet's schedule, insurance). All methods default to doing nothing.
///
/// `contract_ended` is called while the host's deposit still backs the
/// contract (an insurer may still recover from it), before it is released.
pub trait ContractObserver<AccountId, Balance> {
    /// A host confirmed it stores `contract`'s data; proofs are now due.
    fn contract_confirmed(_contract: ContractId, _host: &AccountId) {}
    /// `contract` between `sender` and `host` ended; `paid` is what the host
    /// earned over its life.
    fn contract_ended(
        _contract: ContractId,
        _host: &AccountId,
        _sender: &AccountId,
        _how: ContractEnd,
        _paid: Balance,
    ) {
    }
    /// The most `contract_ended` may cost beyond what the caller's own
    /// benchmarks measure (those run it for an ordinary contract; an
    /// observer with a costlier path, like an insurance claim, adds it here).
    fn contract_ended_weight() -> Weight {
        Weight::zero()
    }
    /// `host` unregistered (it has no live contract): what an observer keeps
    /// about it can go (the rating pallet drops its record, so storage stays
    /// bounded by the registered hosts).
    fn host_unregistered(_host: &AccountId) {}
}

impl<AccountId, Balance> ContractObserver<AccountId, Balance> for () {}

/// Told about each proof outcome (the rating pallet).
pub trait ProofObserver<AccountId, Balance> {
    /// `host` proved `contract` for an epoch and was paid `paid` for it.
    fn proof_passed(_host: &AccountId, _contract: ContractId, _paid: Balance) {}
    /// `host` missed an epoch of `contract`; `consecutive` misses in a row.
    fn proof_missed(_host: &AccountId, _contract: ContractId, _consecutive: u32) {}
    /// `host` answered a retrieval challenge on `contract` in time.
    fn retrieval_answered(_host: &AccountId, _contract: ContractId) {}
    /// `host` let a retrieval challenge on `contract` pass unanswered.
    fn retrieval_failed(_host: &AccountId, _contract: ContractId) {}
}

impl<AccountId, Balance> ProofObserver<AccountId, Balance> for () {}

/// Several observers of contracts, each told in turn.
impl<AccountId, Balance: Copy, A, B> ContractObserver<AccountId, Balance> for (A, B)
where
    A: ContractObserver<AccountId, Balance>,
    B: ContractObserver<AccountId, Balance>,
{
    fn contract_confirmed(contract: ContractId, host: &AccountId) {
        A::contract_confirmed(contract, host);
        B::contract_confirmed(contract, host);
    }
    fn contract_ended(
        contract: ContractId,
        host: &AccountId,
        sender: &AccountId,
        how: ContractEnd,
        paid: Balance,
    ) {
        A::contract_ended(contract, host, sender, how, paid);
        B::contract_ended(contract, host, sender, how, paid);
    }
    fn contract_ended_weight() -> Weight {
        A::contract_ended_weight().saturating_add(B::contract_ended_weight())
    }
    fn host_unregistered(host: &AccountId) {
        A::host_unregistered(host);
        B::host_unregistered(host);
    }
}

/// Who may read a stored file besides its Sender (the listings pallet): a
/// retrieval challenge may only be opened by someone the host owes the data.
pub trait ReadAccess<AccountId> {
    /// Whether `who` may download `contract` through listing `listing` (the
    /// listing names the contract, and `who` is its Sender, a buyer whose
    /// key was delivered, or anyone for a public listing).
    fn may_read(who: &AccountId, listing: u64, contract: ContractId) -> bool;
}

/// Nobody but a contract's Sender reads it.
impl<AccountId> ReadAccess<AccountId> for () {
    fn may_read(_: &AccountId, _: u64, _: ContractId) -> bool {
        false
    }
}

/// The proxies' register, as the egress pallet's relay channels see it
/// (issue 22): who relays at what price, and what each proxy delivered.
pub trait ProxyRegistry<AccountId> {
    /// `proxy`'s price per GiB relayed (planck) if it takes new sessions (a
    /// registered proxy, not deregistering, its deposit whole); `None`
    /// otherwise.
    fn relay_price(proxy: &AccountId) -> Option<crate::Balance>;
    /// `payer` opened relay channel `channel` with `proxy` (a session).
    fn session_opened(proxy: &AccountId, payer: &AccountId, channel: u64);
    /// Relay channel `channel` between `payer` and `proxy` ended (what it
    /// held went back to the payer).
    fn session_ended(proxy: &AccountId, payer: &AccountId, channel: u64);
    /// `proxy` redeemed receipts for `bytes` more bytes relayed and was paid
    /// `paid` for them.
    fn relayed(proxy: &AccountId, bytes: u64, paid: crate::Balance);
}

/// No proxies: relay channels cannot open.
impl<AccountId> ProxyRegistry<AccountId> for () {
    fn relay_price(_: &AccountId) -> Option<crate::Balance> {
        None
    }
    fn session_opened(_: &AccountId, _: &AccountId, _: u64) {}
    fn session_ended(_: &AccountId, _: &AccountId, _: u64) {}
    fn relayed(_: &AccountId, _: u64, _: crate::Balance) {}
}

/// Benchmark set-up (used only where `runtime-benchmarks` is compiled): a
/// host's deposit raised through the real deposits pallet, so benchmarks of
/// the market and the pallets above it measure the real hold.
///
/// The deposits pallet implements it; a runtime or mock names that pallet.
pub trait BenchmarkDeposits<AccountId, Balance> {
    /// Adds `amount` to `host`'s insurance deposit (the host holds the
    /// MASP); the deposits pallet's error if it cannot.
    fn deposit(host: &AccountId, amount: Balance) -> DispatchResult;
}

/// Benchmark set-up (used only where `runtime-benchmarks` is compiled): a
/// confirmed contract made through the real market's calls, for the pallets
/// that act on contracts (proofs, insurance).
///
/// The market implements it; a runtime or mock names the market pallet.
pub trait BenchmarkContracts<AccountId> {
    /// A confirmed, single-replica contract of `sender` stored by `host`
    /// (registered, funded and offering at need) over `leaf_count` leaves of
    /// 512 bytes under `merkle_root`, for 10 epochs. Returns its id and
    /// first epoch, or the market's error (the benchmark decides what a
    /// failed set-up means: nothing here panics).
    fn confirmed_contract(
        host: &AccountId,
        sender: &AccountId,
        merkle_root: [u8; 32],
        leaf_count: u64,
    ) -> Result<(ContractId, EpochIndex), DispatchError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use sp_runtime::traits::ConstU32;

    type Hourly = BlockEpochs<ConstU32<600>>;

    #[test]
    fn epochs_begin_and_end_on_their_boundaries() {
        assert_eq!(<Hourly as EpochClock<u32>>::length(), 600);
        assert_eq!(Hourly::epoch_of(0u32), 0);
        assert_eq!(Hourly::epoch_of(599u32), 0);
        assert_eq!(Hourly::epoch_of(600u32), 1);
        assert_eq!(Hourly::epoch_of(1_799u32), 2);
        assert_eq!(Hourly::epoch_of(1_800u32), 3);
        assert_eq!(<Hourly as EpochClock<u32>>::epoch_start(0), 0);
        assert_eq!(<Hourly as EpochClock<u32>>::epoch_start(3), 1_800);
        assert_eq!(
            <Hourly as EpochClock<u32>>::checked_epoch_start(3),
            Some(1_800)
        );
        // Every block lies in the epoch that starts at or before it and
        // ends after it.
        for block in [0u32, 1, 599, 600, 601, 12_345, u32::MAX - 1, u32::MAX] {
            let epoch = Hourly::epoch_of(block);
            assert!(<Hourly as EpochClock<u32>>::epoch_start(epoch) <= block);
            if let Some(next) = <Hourly as EpochClock<u32>>::checked_epoch_start(epoch + 1) {
                assert!(block < next);
            }
        }
    }

    #[test]
    fn the_last_blocks_saturate_instead_of_overflowing() {
        let last = Hourly::epoch_of(u32::MAX);
        assert_eq!(last, u32::MAX / 600);
        assert_eq!(<Hourly as EpochClock<u32>>::epoch_start(last), last * 600);
        // The epoch after the last whole one starts past u32::MAX.
        assert_eq!(
            <Hourly as EpochClock<u32>>::checked_epoch_start(last + 1),
            None
        );
        assert_eq!(<Hourly as EpochClock<u32>>::epoch_start(last + 1), u32::MAX);
        assert_eq!(<Hourly as EpochClock<u32>>::epoch_start(u32::MAX), u32::MAX);
        assert_eq!(
            <Hourly as EpochClock<u32>>::checked_epoch_start(u32::MAX),
            None
        );
        // 64-bit block numbers past u32::MAX epochs name the last epoch.
        type Short = BlockEpochs<sp_runtime::traits::ConstU64<2>>;
        assert_eq!(Short::epoch_of(u64::MAX), u32::MAX);
        assert_eq!(
            <Short as EpochClock<u64>>::epoch_start(u32::MAX),
            2 * u32::MAX as u64
        );
    }

    #[test]
    fn one_block_epochs_count_blocks() {
        type Each = BlockEpochs<ConstU32<1>>;
        for block in [0u32, 1, 2, 1_000, u32::MAX] {
            assert_eq!(Each::epoch_of(block), block);
            assert_eq!(<Each as EpochClock<u32>>::epoch_start(block), block);
            assert_eq!(
                <Each as EpochClock<u32>>::checked_epoch_start(block),
                Some(block)
            );
        }
    }

    #[test]
    fn a_zero_length_counts_as_one_block_and_never_divides_by_zero() {
        type Zero = BlockEpochs<ConstU32<0>>;
        assert_eq!(<Zero as EpochClock<u32>>::length(), 0);
        assert_eq!(Zero::epoch_of(0u32), 0);
        assert_eq!(Zero::epoch_of(7u32), 7);
        assert_eq!(Zero::epoch_of(u32::MAX), u32::MAX);
        assert_eq!(<Zero as EpochClock<u32>>::epoch_start(7), 7);
        assert_eq!(
            <Zero as EpochClock<u32>>::checked_epoch_start(u32::MAX),
            Some(u32::MAX)
        );
    }
}
