//! # Storage proofs pallet
//!
//! Every epoch, each confirmed contract's host must prove it still holds the
//! contract's ciphertext. A missed proof costs the host deposit (paid to the
//! Sender) and rating; repeated misses end the contract as lost data.
//!
//! - **Challenges**: each epoch's seed is drawn from [`Config::Randomness`]
//!   at the epoch's **reveal block** ([`Pallet::reveal_block`]): the middle
//!   of the epoch (for epochs of at least [`MIN_WINDOWED_EPOCH`] blocks; the
//!   first block of shorter, test-network epochs). Proofs are accepted from
//!   that block to the end of the epoch (the **proof window**), so nobody
//!   knows an epoch's challenge before its window opens: a host cannot learn
//!   which leaves will be asked, keep only those and discard the rest. The
//!   leaves contract `c` must prove in epoch `e` are
//!   [`masp_proofs::challenge_indices`]`(seed(e), c, e, leaf_count,
//!   CHALLENGE_LEAVES)`: [`masp_proofs::CHALLENGE_LEAVES`] = 4 independent
//!   uniform draws across the whole file. Nothing is written per contract to
//!   issue a challenge, and the host daemon computes exactly what the runtime
//!   checks.
//! - **Proofs** ([`Pallet::submit_proofs`]): a batch of (contract,
//!   multi-proof) for the current epoch, within its proof window: the
//!   challenged leaves' bytes and the sibling hashes they do not share,
//!   checked with [`masp_proofs::verify_multi`] against the contract's root;
//!   a valid one marks the epoch proven and tells the market to pay it
//!   ([`StorageContracts::epoch_proven`]). One invalid proof fails the whole
//!   call with its reason and changes nothing.
//! - **Deadlines** live in a per-block due-queue: each confirmed contract has
//!   exactly one pending check, at the first block after the epoch it is due
//!   for, drained by a bounded hook ([`Config::MaxDuePerBlock`] per block).
//!   Anyone may also settle a passed deadline at once with
//!   [`Pallet::report_missed`].
//! - **A miss** slashes the deposit backing the contract (through
//!   [`SlashDeposit`]) and pays the Sender: the first miss in a row costs
//!   [`Config::FirstMissSlash`] of that backing, each further consecutive
//!   miss twice the previous. A proof resets the count. After
//!   [`Config::MaxConsecutiveMisses`] in a row the market ends the contract
//!   ([`StorageContracts::data_lost`]): the Sender's unspent funds return and
//!   [`Event::DataLost`] tells its client to repair from another replica.
//!
//! - **No settlement lag hole**: a record remembers the last
//!   [`RECORD_REACH`] = 32 epochs of proofs. A proof is only recorded while
//!   every unsettled epoch of its contract is within that reach; if the
//!   deadline hook has fallen further behind, the proof first settles the
//!   contract's oldest unsettled epochs itself (at most
//!   [`MAX_INLINE_SETTLEMENTS`], charged to the call and refunded when not
//!   needed). So whatever the hook's backlog, an unproven epoch is settled
//!   as a miss, never taken for proven.
//!
//! Per-block work is bounded by the proofs submitted and the due-queue
//! budget, never by the number of files stored.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
mod randomness;
#[cfg(test)]
mod tests;
pub mod weights;

pub use randomness::ParentHashRandomness;

/// Epochs a [`ProofRecord`] remembers proofs for (its `proven_bits`).
pub const RECORD_REACH: u32 = 32;

/// Most unsettled epochs one proof settles itself when the deadline hook is
/// behind (see the crate docs).
pub const MAX_INLINE_SETTLEMENTS: u32 = 2;

/// Epochs shorter than this many blocks (test networks) have no separate
/// proof window: the seed is drawn at their first block.
pub const MIN_WINDOWED_EPOCH: u32 = 100;

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::{
        dispatch::{DispatchResultWithPostInfo, PostDispatchInfo},
        pallet_prelude::*,
        traits::Randomness,
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::{ContractId, EpochIndex},
        traits::{
            ContractEnd, ContractObserver, EpochClock, HostDeposits, ProofObserver, SlashDeposit,
            StorageContracts,
        },
        Balance,
    };
    use masp_proofs::{Challenge, Hash, ProofError, CHALLENGE_LEAVES, LEAF_SIZE, MAX_MULTI_NODES};
    use sp_runtime::{
        traits::{BlakeTwo256, Hash as HashT, One, Saturating, Zero},
        Perbill,
    };

    /// The challenged leaves' bytes, concatenated in index order (at most
    /// [`CHALLENGE_LEAVES`] x [`LEAF_SIZE`]).
    pub type LeafBytes = BoundedVec<u8, ConstU32<{ (CHALLENGE_LEAVES * LEAF_SIZE) as u32 }>>;
    /// A multi-proof's sibling hashes (at most [`MAX_MULTI_NODES`]: one per
    /// challenged leaf per level of the deepest tree).
    pub type MerklePath = BoundedVec<Hash, ConstU32<{ MAX_MULTI_NODES as u32 }>>;

    /// A host's answer to one epoch's challenge of one contract: a
    /// multi-proof of the [`masp_proofs::challenge_indices`] leaves (see
    /// [`masp_proofs::verify_multi`]).
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct StorageProof {
        /// The challenged leaves' bytes, concatenated in ascending index
        /// order (each 512 bytes, except the file's last leaf).
        pub leaf: LeafBytes,
        /// The sibling hashes the leaves do not determine, level by level
        /// from the leaves up, left to right (shared path nodes once).
        pub path: MerklePath,
    }

    /// Where a confirmed contract stands.
    #[derive(
        Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo,
    )]
    pub struct ProofRecord {
        /// The epoch whose deadline is checked next (one check is pending).
        pub next_check: EpochIndex,
        /// The latest epoch proven.
        pub last_proven: Option<EpochIndex>,
        /// Bit `i` set: epoch `last_proven - i` was proven (the last 32).
        pub proven_bits: u32,
        /// Misses in a row (reset by a proof).
        pub consecutive_misses: u32,
        /// Misses over the contract's life.
        pub total_misses: u32,
    }

    impl ProofRecord {
        /// Whether `epoch` was proven. The record knows the last
        /// [`RECORD_REACH`] epochs before the last proof; every unsettled
        /// epoch is kept within that reach ([`Pallet::submit_proofs`] settles
        /// older ones first), so for any epoch settlement asks about the
        /// answer is exact. Older epochs (already settled) count as proven.
        pub fn proven(&self, epoch: EpochIndex) -> bool {
            match self.last_proven {
                Some(last) if epoch <= last => {
                    let back = last - epoch;
                    back >= 32 || self.proven_bits & (1 << back) != 0
                }
                _ => false,
            }
        }

        fn mark_proven(&mut self, epoch: EpochIndex) {
            self.proven_bits = match self.last_proven {
                Some(last) if epoch > last => {
                    let shift = epoch - last;
                    (if shift >= 32 {
                        0
                    } else {
                        self.proven_bits << shift
                    }) | 1
                }
                Some(_) => self.proven_bits,
                None => 1,
            };
            self.last_proven = Some(epoch);
            self.consecutive_misses = 0;
        }
    }

    #[pallet::pallet]
    pub struct Pallet<T>(_);

    /// Defaults for the settings that do not tie the pallet to a runtime,
    /// for tests: a mock takes them with `#[derive_impl(pallet_storage_proofs::
    /// config_preludes::TestDefaultConfig)]` and declares only the market,
    /// deposits, randomness, observer and clock it runs with. The values are
    /// public for the tests.
    pub mod config_preludes {
        use super::*;
        use frame_support::{derive_impl, parameter_types, traits::ConstU32};

        /// Consecutive misses after which the data counts as lost.
        pub const MAX_MISSES: u32 = 3;
        /// Checks processed per block.
        pub const MAX_DUE: u32 = 4;

        parameter_types! {
            /// The first miss in a row costs 10% of the backing deposit.
            pub const FirstMissSlash: Perbill = Perbill::from_percent(10);
        }

        /// The test defaults.
        pub struct TestDefaultConfig;

        #[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
        impl frame_system::DefaultConfig for TestDefaultConfig {}

        #[frame_support::register_default_impl(TestDefaultConfig)]
        impl DefaultConfig for TestDefaultConfig {
            type MaxProofsPerCall = ConstU32<8>;
            type FirstMissSlash = FirstMissSlash;
            type MaxConsecutiveMisses = ConstU32<MAX_MISSES>;
            type MaxDuePerBlock = ConstU32<MAX_DUE>;
            type WeightInfo = ();
        }
    }

    #[pallet::config(with_default)]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// The market's contracts: what to prove, paying proven epochs,
        /// ending lost ones.
        #[pallet::no_default]
        type Contracts: StorageContracts<Self::AccountId, Balance>;

        /// The hosts' deposits: what backs a contract, and slashing it.
        #[pallet::no_default]
        type Deposits: HostDeposits<Self::AccountId, Balance>
            + SlashDeposit<Self::AccountId, Balance>;

        /// The source of each epoch's challenge seed: the relay chain's
        /// randomness on a relay network (`pallet-relay-randomness`),
        /// [`ParentHashRandomness`] on the dev chain. Its second value, the
        /// block from which the randomness was known, must be the previous
        /// block or later: a stale answer (a block author withheld the relay
        /// value) makes the seed wait for the next block.
        #[pallet::no_default]
        type Randomness: Randomness<Self::Hash, BlockNumberFor<Self>>;

        /// Told about each proof passed or missed (the rating pallet).
        #[pallet::no_default]
        type Observer: ProofObserver<Self::AccountId, Balance>;

        /// The market's epochs (the runtime gives every pallet the same clock).
        #[pallet::no_default]
        type Epochs: EpochClock<BlockNumberFor<Self>>;

        /// Most proofs in one [`Pallet::submit_proofs`].
        #[pallet::constant]
        type MaxProofsPerCall: Get<u32>;

        /// What the first miss in a row costs, as a part of the deposit
        /// backing the contract; each further consecutive miss doubles it.
        #[pallet::constant]
        type FirstMissSlash: Get<Perbill>;

        /// Consecutive misses after which the data counts as lost.
        #[pallet::constant]
        type MaxConsecutiveMisses: Get<u32>;

        /// Checks processed per block.
        #[pallet::constant]
        type MaxDuePerBlock: Get<u32>;

        /// Weights of the calls and the hook, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Creates market contracts for the benchmarks (the market pallet).
        #[cfg(feature = "runtime-benchmarks")]
        #[pallet::no_default]
        type BenchmarkHelper: masp_primitives::traits::BenchmarkContracts<Self::AccountId>;
    }

    /// Each epoch's challenge seed (the current and the previous one), drawn
    /// at the epoch's reveal block.
    #[pallet::storage]
    pub type EpochSeeds<T: Config> = StorageMap<_, Twox64Concat, EpochIndex, Hash>;

    /// Each confirmed contract's proof record.
    #[pallet::storage]
    pub type Records<T: Config> = StorageMap<_, Twox64Concat, ContractId, ProofRecord>;

    /// Checks due at a block: `(block, n) -> (contract, epoch)`.
    #[pallet::storage]
    pub type DueQueue<T: Config> = StorageDoubleMap<
        _,
        Twox64Concat,
        BlockNumberFor<T>,
        Twox64Concat,
        u32,
        (ContractId, EpochIndex),
    >;

    /// Number of checks queued at each block.
    #[pallet::storage]
    pub type DueCount<T: Config> = StorageMap<_, Twox64Concat, BlockNumberFor<T>, u32, ValueQuery>;

    /// The next check to process: `(block, n)`.
    #[pallet::storage]
    pub type DueCursor<T: Config> = StorageValue<_, (BlockNumberFor<T>, u32)>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// The challenge seed of `epoch`.
        EpochSeeded { epoch: EpochIndex, seed: Hash },
        /// `host` proved `epoch` of `contract` and was paid `paid`.
        Proven {
            contract: ContractId,
            host: T::AccountId,
            epoch: EpochIndex,
            paid: Balance,
        },
        /// `host` missed `epoch` of `contract` (`consecutive` in a row): its
        /// deposit was slashed `slashed`, of which `to_sender` paid the Sender.
        Missed {
            contract: ContractId,
            host: T::AccountId,
            epoch: EpochIndex,
            consecutive: u32,
            slashed: Balance,
            to_sender: Balance,
        },
        /// `host` lost `contract`'s data (`misses` in a row): the contract
        /// ended and `sender` should repair from another replica.
        DataLost {
            contract: ContractId,
            host: T::AccountId,
            sender: T::AccountId,
            misses: u32,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// The batch is empty.
        EmptyBatch,
        /// No live contract with this id.
        UnknownContract,
        /// Only the contract's host may prove it.
        NotContractHost,
        /// The host has not confirmed the upload: nothing is due yet.
        NotConfirmed,
        /// The current epoch is outside the contract's term.
        OutsideTerm,
        /// This epoch is already proven.
        AlreadyProven,
        /// The epoch's challenge seed is not drawn yet: its proof window opens
        /// at [`Pallet::reveal_block`].
        NoChallengeYet,
        /// The leaf is empty, longer than 512 bytes, or short but not the last.
        BadLeafLength,
        /// The Merkle path has the wrong length for this contract.
        BadPathLength,
        /// The leaf and path do not lead to the contract's root (wrong data,
        /// or not the challenged leaf).
        InvalidProof,
        /// That epoch's deadline has not passed yet.
        DeadlineNotPassed,
        /// That epoch is not the contract's next unsettled epoch (already
        /// settled, or an earlier one is pending).
        NotNextDue,
        /// That epoch was proven.
        WasProven,
        /// An amount or index does not fit its type.
        Overflow,
        /// The deadline hook is so far behind that this contract has more
        /// unsettled epochs than a proof may settle itself: settle them with
        /// [`Pallet::report_missed`] (anyone may), then prove.
        SettlementBehind,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        /// Seeds a new epoch's challenges, then drains due checks (at most
        /// `MaxDuePerBlock`).
        fn on_initialize(now: BlockNumberFor<T>) -> Weight {
            let seeded = Self::seed_epoch(now);
            let (items, steps, lost) = Self::process_due(now, T::MaxDuePerBlock::get());
            T::WeightInfo::process_due(items)
                .saturating_add(
                    T::DbWeight::get().reads_writes(steps as u64 + 2, if seeded { 3 } else { 1 }),
                )
                .saturating_add(T::Contracts::data_lost_weight().saturating_mul(lost as u64))
        }

        fn integrity_test() {
            assert!(!T::Epochs::length().is_zero(), "EpochLength must be > 0");
            assert!(
                T::MaxProofsPerCall::get() > 0,
                "MaxProofsPerCall must be > 0"
            );
            assert!(
                T::MaxConsecutiveMisses::get() > 0,
                "MaxConsecutiveMisses must be > 0"
            );
            assert!(T::MaxDuePerBlock::get() > 0, "MaxDuePerBlock must be > 0");
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Proves the current epoch for a batch of the caller's contracts,
        /// within the epoch's proof window: for each, the multi-proof of its
        /// challenged leaves. Each valid proof pays the host that epoch's
        /// price. Any invalid proof fails the call with its reason and
        /// nothing changes. If the deadline hook is behind, a proof first
        /// settles its contract's oldest unsettled epochs (at most
        /// [`MAX_INLINE_SETTLEMENTS`]; the weight is refunded when it does not).
        ///
        /// Emits [`Event::Proven`] per proof (and [`Event::Missed`] for any
        /// missed epoch it settles).
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::submit_proofs(proofs.len() as u32)
            .saturating_add(Pallet::<T>::inline_settlement_weight()
                .saturating_mul((proofs.len() as u64).saturating_mul(MAX_INLINE_SETTLEMENTS as u64))))]
        pub fn submit_proofs(
            origin: OriginFor<T>,
            proofs: BoundedVec<(ContractId, StorageProof), T::MaxProofsPerCall>,
        ) -> DispatchResultWithPostInfo {
            let host = ensure_signed(origin)?;
            ensure!(!proofs.is_empty(), Error::<T>::EmptyBatch);
            let epoch = Self::current_epoch();
            let seed = EpochSeeds::<T>::get(epoch).ok_or(Error::<T>::NoChallengeYet)?;
            let count = proofs.len() as u32;
            let mut settled = 0u64;
            for (contract, proof) in proofs {
                let target =
                    T::Contracts::proof_target(contract).ok_or(Error::<T>::UnknownContract)?;
                ensure!(target.host == host, Error::<T>::NotContractHost);
                ensure!(target.confirmed, Error::<T>::NotConfirmed);
                ensure!(
                    epoch >= target.first_epoch && epoch <= target.last_epoch,
                    Error::<T>::OutsideTerm
                );
                let mut record = Records::<T>::get(contract).ok_or(Error::<T>::NotConfirmed)?;
                ensure!(!record.proven(epoch), Error::<T>::AlreadyProven);
                let challenge = masp_proofs::challenge_indices(
                    &seed,
                    contract,
                    epoch,
                    target.leaf_count,
                    CHALLENGE_LEAVES,
                );
                masp_proofs::verify_multi(
                    &target.merkle_root,
                    target.leaf_count,
                    challenge.as_slice(),
                    &proof.leaf,
                    &proof.path,
                )
                .map_err(|e| match e {
                    ProofError::BadLeafLength => Error::<T>::BadLeafLength,
                    ProofError::BadPathLength => Error::<T>::BadPathLength,
                    ProofError::IndexOutOfRange
                    | ProofError::RootMismatch
                    | ProofError::BadIndices => Error::<T>::InvalidProof,
                })?;
                // Every unsettled epoch must stay within the record's reach
                // once this proof is recorded: if the hook is that far
                // behind, settle the oldest ones here.
                let mut inline = 0u32;
                while epoch.saturating_sub(record.next_check) >= RECORD_REACH {
                    ensure!(
                        inline < MAX_INLINE_SETTLEMENTS,
                        Error::<T>::SettlementBehind
                    );
                    inline += 1;
                    settled += 1;
                    let lost = Self::settle(contract, record.next_check);
                    match Records::<T>::get(contract) {
                        Some(r) if !lost => record = r,
                        // The misses it settled ended the contract: nothing
                        // left to prove or pay.
                        _ => break,
                    }
                }
                if !Records::<T>::contains_key(contract) {
                    continue;
                }
                record.mark_proven(epoch);
                Records::<T>::insert(contract, record);
                let paid = T::Contracts::epoch_proven(contract, epoch)?;
                T::Observer::proof_passed(&host, contract, paid);
                Self::deposit_event(Event::Proven {
                    contract,
                    host: host.clone(),
                    epoch,
                    paid,
                });
            }
            Ok(PostDispatchInfo {
                actual_weight: Some(
                    T::WeightInfo::submit_proofs(count)
                        .saturating_add(Self::inline_settlement_weight().saturating_mul(settled)),
                ),
                pays_fee: Pays::Yes,
            })
        }

        /// Settles a passed deadline now instead of waiting for the hook:
        /// `epoch` must be the contract's next unsettled epoch, over, and not
        /// proven. Anyone may call it.
        ///
        /// Emits [`Event::Missed`] (and [`Event::DataLost`] after too many).
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::report_missed()
            .saturating_add(T::Contracts::data_lost_weight()))]
        pub fn report_missed(
            origin: OriginFor<T>,
            contract: ContractId,
            epoch: EpochIndex,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            let record = Records::<T>::get(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(record.next_check == epoch, Error::<T>::NotNextDue);
            ensure!(Self::current_epoch() > epoch, Error::<T>::DeadlineNotPassed);
            ensure!(!record.proven(epoch), Error::<T>::WasProven);
            Self::settle(contract, epoch);
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// The epoch now, by [`Config::Epochs`].
        pub fn current_epoch() -> EpochIndex {
            T::Epochs::epoch_of(frame_system::Pallet::<T>::block_number())
        }

        /// The first block after `epoch`: when its deadline is checked.
        pub fn deadline_of(epoch: EpochIndex) -> BlockNumberFor<T> {
            T::Epochs::epoch_start(epoch.saturating_add(1))
        }

        /// The block at which `epoch`'s seed is drawn and its proof window
        /// opens: the middle of the epoch, or its first block if epochs are
        /// shorter than [`MIN_WINDOWED_EPOCH`] blocks. The window runs to the
        /// end of the epoch.
        pub fn reveal_block(epoch: EpochIndex) -> BlockNumberFor<T> {
            let length = T::Epochs::length();
            let start = T::Epochs::epoch_start(epoch);
            if length < MIN_WINDOWED_EPOCH.into() {
                start
            } else {
                start.saturating_add(length / 2u32.into())
            }
        }

        /// The most one inline settlement (in [`Pallet::submit_proofs`]) costs.
        pub fn inline_settlement_weight() -> Weight {
            T::WeightInfo::report_missed().saturating_add(T::Contracts::data_lost_weight())
        }

        /// The first leaf `contract` must prove in the current epoch, if the
        /// epoch's seed is drawn (all of them: [`Pallet::challenge_indices`]).
        pub fn challenge(contract: ContractId) -> Option<(EpochIndex, u64)> {
            let (epoch, challenge) = Self::challenge_indices(contract)?;
            Some((epoch, *challenge.as_slice().first()?))
        }

        /// The current epoch and the leaves `contract` must prove in it, if
        /// the epoch's seed is drawn.
        pub fn challenge_indices(contract: ContractId) -> Option<(EpochIndex, Challenge)> {
            let epoch = Self::current_epoch();
            let seed = EpochSeeds::<T>::get(epoch)?;
            let target = T::Contracts::proof_target(contract)?;
            Some((
                epoch,
                masp_proofs::challenge_indices(
                    &seed,
                    contract,
                    epoch,
                    target.leaf_count,
                    CHALLENGE_LEAVES,
                ),
            ))
        }

        /// At the reveal block of the epoch `now` is in (or the first block
        /// after it whose randomness is fresh), draws and stores its seed and
        /// drops the seed two epochs back. Returns whether it seeded.
        pub(crate) fn seed_epoch(now: BlockNumberFor<T>) -> bool {
            let epoch = T::Epochs::epoch_of(now);
            if now < Self::reveal_block(epoch) || EpochSeeds::<T>::contains_key(epoch) {
                return false;
            }
            let subject = (b"masp/challenge", epoch).encode();
            let (random, known) = T::Randomness::random(&subject);
            if known.saturating_add(One::one()) < now {
                // Stale: wait for a block whose randomness is fresh.
                return false;
            }
            let seed: Hash =
                <BlakeTwo256 as HashT>::hash(&(b"masp/seed", random, epoch).encode()).0;
            EpochSeeds::<T>::insert(epoch, seed);
            if epoch >= 2 {
                EpochSeeds::<T>::remove(epoch - 2);
            }
            Self::deposit_event(Event::EpochSeeded { epoch, seed });
            true
        }

        /// Queues the check of `epoch` of `contract`: at its deadline, or, if
        /// that has passed (a late settlement), at the current block or the
        /// hook's cursor, whichever is later: a check queued behind the
        /// cursor would never run.
        fn schedule(contract: ContractId, epoch: EpochIndex) {
            let mut at = Self::deadline_of(epoch);
            let now = frame_system::Pallet::<T>::block_number();
            if at < now {
                at = match DueCursor::<T>::get() {
                    Some((cursor, _)) if cursor > now => cursor,
                    _ => now,
                };
            }
            let n = DueCount::<T>::get(at);
            DueQueue::<T>::insert(at, n, (contract, epoch));
            DueCount::<T>::insert(at, n.saturating_add(1));
        }

        /// Processes due checks up to block `now`, at most `max_items`.
        /// Returns the items processed, the steps taken and the contracts
        /// that lost their data.
        pub fn process_due(now: BlockNumberFor<T>, max_items: u32) -> (u32, u32, u32) {
            let (mut block, mut index) = DueCursor::<T>::get().unwrap_or((now, 0));
            let (mut items, mut steps, mut lost) = (0u32, 0u32, 0u32);
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
                if let Some((contract, epoch)) = DueQueue::<T>::take(block, index) {
                    if Records::<T>::get(contract).is_some_and(|r| r.next_check == epoch)
                        && Self::settle(contract, epoch)
                    {
                        lost += 1;
                    }
                }
                items += 1;
                index += 1;
            }
            DueCursor::<T>::put((block, index));
            (items, steps, lost)
        }

        /// Settles `epoch` of `contract` once its deadline has passed: a miss
        /// if it was not proven; then the next epoch's check is queued.
        /// Returns whether the contract ended with its data lost.
        fn settle(contract: ContractId, epoch: EpochIndex) -> bool {
            let (Some(mut record), Some(target)) = (
                Records::<T>::get(contract),
                T::Contracts::proof_target(contract),
            ) else {
                Records::<T>::remove(contract);
                return false;
            };
            record.next_check = epoch.saturating_add(1);
            if !record.proven(epoch) {
                record.consecutive_misses = record.consecutive_misses.saturating_add(1);
                record.total_misses = record.total_misses.saturating_add(1);
                let consecutive = record.consecutive_misses;
                let backing = T::Deposits::backing(contract);
                let doublings = consecutive.saturating_sub(1).min(64);
                let amount = T::FirstMissSlash::get()
                    .mul_floor(backing)
                    .saturating_mul(1u128.checked_shl(doublings).unwrap_or(u128::MAX))
                    .min(backing);
                let outcome = T::Deposits::slash(contract, amount, &target.sender, amount);
                T::Observer::proof_missed(&target.host, contract, consecutive);
                Self::deposit_event(Event::Missed {
                    contract,
                    host: target.host.clone(),
                    epoch,
                    consecutive,
                    slashed: outcome.slashed,
                    to_sender: outcome.to_victim,
                });
                if consecutive >= T::MaxConsecutiveMisses::get() {
                    Records::<T>::remove(contract);
                    let ended = T::Contracts::data_lost(contract).is_ok();
                    if ended {
                        Self::deposit_event(Event::DataLost {
                            contract,
                            host: target.host,
                            sender: target.sender,
                            misses: consecutive,
                        });
                    }
                    return ended;
                }
            }
            Records::<T>::insert(contract, record);
            if record.next_check <= target.last_epoch {
                Self::schedule(contract, record.next_check);
            }
            false
        }

        /// The pallet's invariants (run by `try_state` and after every test):
        /// every record belongs to a live, confirmed contract; its pending
        /// check is within the term (or past it, when the term is over); at
        /// most two seeds are kept.
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            for (contract, record) in Records::<T>::iter() {
                let target = T::Contracts::proof_target(contract)
                    .ok_or("a proof record of a contract that ended")?;
                ensure!(
                    target.confirmed,
                    "a proof record of an unconfirmed contract"
                );
                ensure!(
                    record.next_check >= target.first_epoch,
                    "a check before the term"
                );
                ensure!(
                    record.consecutive_misses < T::MaxConsecutiveMisses::get(),
                    "too many misses for a live contract"
                );
                ensure!(
                    record.consecutive_misses <= record.total_misses,
                    "more misses in a row than in total"
                );
                ensure!(
                    record
                        .last_proven
                        .is_none_or(|last| last < record.next_check.saturating_add(RECORD_REACH)),
                    "an unsettled epoch beyond the record's reach"
                );
            }
            ensure!(
                EpochSeeds::<T>::iter().count() <= 2,
                "more than two seeds kept"
            );
            Ok(())
        }
    }

    impl<T: Config> ContractObserver<T::AccountId, Balance> for Pallet<T> {
        /// A confirmed contract: its first check is due after the first epoch
        /// of its term, or, if the term already started, after the next epoch
        /// (the host always has a whole epoch for its first proof; it may
        /// still prove and be paid for the current one).
        fn contract_confirmed(contract: ContractId, _host: &T::AccountId) {
            let Some(target) = T::Contracts::proof_target(contract) else {
                return;
            };
            let now = Self::current_epoch();
            let first = if now >= target.first_epoch {
                now.saturating_add(1)
            } else {
                target.first_epoch
            };
            if first > target.last_epoch {
                return;
            }
            Records::<T>::insert(
                contract,
                ProofRecord {
                    next_check: first,
                    ..Default::default()
                },
            );
            Self::schedule(contract, first);
        }

        fn contract_ended(
            contract: ContractId,
            _host: &T::AccountId,
            _sender: &T::AccountId,
            _how: ContractEnd,
            _paid: Balance,
        ) {
            Records::<T>::remove(contract);
        }
    }
}
