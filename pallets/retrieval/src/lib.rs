//! # Retrieval pallet
//!
//! "Instant and round-the-clock data access": storage proofs show a host
//! *has* a file, not that it *serves* it. A host could prove every epoch,
//! be paid, and refuse every download. This pallet gives a downloader the
//! host refuses a way to make it serve on chain, or pay.
//!
//! - **Open** ([`Pallet::open`]): someone the host owes the data — the
//!   contract's Sender, or a reader of a listing that names the contract
//!   ([`ReadAccess`]: a buyer whose key was delivered, anyone for a public
//!   listing) — challenges one **piece**: [`PIECE_LEAVES`] consecutive
//!   512-byte leaves (4 KiB) from a leaf it chooses. It holds
//!   [`Config::ChallengeDeposit`]. Each challenger has at most one challenge
//!   open per contract, and at most [`Config::MaxOpenPerContract`] are open
//!   on one contract at a time, the Sender's not counted: a host's own
//!   accounts cannot take every slot and lock the Sender out.
//! - **Answer** ([`Pallet::answer`]): within [`Config::ResponsePeriod`]
//!   blocks, the host publishes the piece with its Merkle path, checked
//!   against the contract's root ([`masp_proofs::verify_multi`]; the bytes
//!   are in [`Event::Answered`] for the challenger to read). A valid answer
//!   is free for the host and earns it [`Config::AnswerReward`] of the
//!   deposit; the challenger gets the rest back. So a challenge that was not
//!   needed costs its opener; a host that answers loses nothing.
//! - **Fail** ([`Pallet::settle`], anyone, after the period): an unanswered
//!   challenge slashes [`Config::FailSlash`] of the deposit backing the
//!   contract (through [`SlashDeposit`]): the challenger is paid at most
//!   [`Config::ChallengeDeposit`] of it (a bounty), the rest goes to the
//!   contract's Sender, whose data it is; the challenger's deposit returns
//!   in full, and the host's rating records the failure
//!   ([`ProofObserver::retrieval_failed`]). One outage is punished once: a
//!   contract is slashed for at most one failure per response period (later
//!   ones in that window return their deposit unpunished), so a host that
//!   is briefly offline is not a bounty for everyone with read access, and a
//!   host's own second account cannot move the backing to itself faster
//!   than a bounty a period while the Sender gets the rest. If the contract
//!   ended first (its term ran out, or it was cancelled or lost), the host
//!   owes nothing more and the deposit returns ([`Event::Dropped`]).
//!
//! The chain cannot tell whether a host really refused off chain, so it
//! judges only what it can see: a valid answer in time or none. What each
//! side risks makes the honest path cheapest for both: a host that serves
//! is never challenged for profit (the challenger pays to be answered), a
//! host that refuses pays every challenger who asks.
//!
//! No hook and no queue: the challenger (paid on a failure) or anyone
//! settles a passed challenge. Storage is bounded by the open challenges,
//! each paid for by its deposit. Invariant (`try_state`, after every test):
//! each challenger's hold equals the deposits of its open challenges, and
//! the per-contract and per-host indexes match the challenges.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

/// Leaves in a challenged piece (4 KiB of ciphertext).
pub const PIECE_LEAVES: u64 = 8;

/// Most sibling hashes an answer carries: a run of consecutive leaves needs
/// at most one on each side of it per level.
pub const MAX_PIECE_NODES: u32 = 2 * masp_proofs::MAX_DEPTH as u32;

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::{
        dispatch::{DispatchResultWithPostInfo, PostDispatchInfo},
        pallet_prelude::*,
        traits::{
            fungible::{Inspect, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::ContractId,
        traits::{HostDeposits, ProofObserver, ReadAccess, SlashDeposit, StorageContracts},
        Balance,
    };
    use masp_proofs::{Hash, ProofError, LEAF_SIZE};
    use sp_runtime::{
        traits::{CheckedAdd, Saturating, Zero},
        Perbill,
    };

    /// A challenge's id (counts up from 0).
    pub type ChallengeId = u64;

    /// A piece's bytes: its leaves concatenated (at most [`PIECE_LEAVES`] x
    /// 512; shorter when the piece holds the file's last leaf).
    pub type PieceBytes = BoundedVec<u8, ConstU32<{ PIECE_LEAVES as u32 * LEAF_SIZE as u32 }>>;

    /// A piece's sibling hashes (see [`masp_proofs::verify_multi`]).
    pub type PiecePath = BoundedVec<Hash, ConstU32<MAX_PIECE_NODES>>;

    /// An open retrieval challenge.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct Challenge<AccountId, BlockNumber> {
        /// The storage contract.
        pub contract: ContractId,
        /// Its host, who must answer.
        pub host: AccountId,
        /// Who opened it (holds the deposit, is paid on a failure).
        pub challenger: AccountId,
        /// The contract's Merkle root (kept so an answer is checked against
        /// what was challenged).
        pub merkle_root: Hash,
        /// Leaves in that tree.
        pub leaf_count: u64,
        /// The piece's first leaf.
        pub first_leaf: u64,
        /// Leaves in the piece (at most [`PIECE_LEAVES`]).
        pub leaves: u32,
        /// The last block an answer is accepted in.
        pub deadline: BlockNumber,
        /// What the challenger holds.
        pub deposit: Balance,
        /// Whether it takes one of the readers' `MaxOpenPerContract` slots
        /// (the Sender's does not).
        pub counted: bool,
    }

    /// The type of [`Challenges`] values for a runtime.
    pub type ChallengeOf<T> = Challenge<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: challenge deposits are held in it.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// The market's contracts: who stores what, for whom, under which
        /// root.
        type Contracts: StorageContracts<Self::AccountId, Balance>;

        /// The hosts' deposits: what backs a contract, and slashing it.
        type Deposits: HostDeposits<Self::AccountId, Balance>
            + SlashDeposit<Self::AccountId, Balance>;

        /// Who may read a contract besides its Sender (the listings).
        type Access: ReadAccess<Self::AccountId>;

        /// Told about each answer and failure (the host rating).
        type Observer: ProofObserver<Self::AccountId, Balance>;

        /// What opening a challenge holds.
        #[pallet::constant]
        type ChallengeDeposit: Get<Balance>;

        /// The part of the deposit an answering host earns.
        #[pallet::constant]
        type AnswerReward: Get<Perbill>;

        /// The part of the deposit backing the contract an unanswered
        /// challenge slashes (paid to the challenger).
        #[pallet::constant]
        type FailSlash: Get<Perbill>;

        /// Blocks a host has to answer (the opening block's successor is
        /// the first).
        #[pallet::constant]
        type ResponsePeriod: Get<BlockNumberFor<Self>>;

        /// Most challenges open on one contract at a time.
        #[pallet::constant]
        type MaxOpenPerContract: Get<u32>;

        /// Weights of the calls, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Creates contracts and readers for the benchmarks.
        #[cfg(feature = "runtime-benchmarks")]
        type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
    }

    /// What the benchmarks need from the runtime.
    #[cfg(feature = "runtime-benchmarks")]
    pub trait BenchmarkHelper<AccountId> {
        /// A confirmed contract stored by `host` for `sender` with this root
        /// and leaf count, backed by host deposit; returns its id.
        fn confirmed_contract(
            host: &AccountId,
            sender: &AccountId,
            merkle_root: Hash,
            leaf_count: u64,
        ) -> ContractId;
        /// Gives `reader` access to `contract` through a listing of its
        /// Sender's, the costliest way the runtime checks it; returns the
        /// listing.
        fn grant_access(sender: &AccountId, reader: &AccountId, contract: ContractId) -> u64;
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A challenger's deposit on an open challenge.
        #[codec(index = 0)]
        ChallengeDeposit,
    }

    /// Open challenges.
    #[pallet::storage]
    pub type Challenges<T: Config> = StorageMap<_, Twox64Concat, ChallengeId, ChallengeOf<T>>;

    /// Open challenges per host (what a host daemon watches).
    #[pallet::storage]
    pub type ByHost<T: Config> =
        StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, ChallengeId, ()>;

    /// Open challenges per contract of readers other than its Sender
    /// (bounded by `MaxOpenPerContract`).
    #[pallet::storage]
    pub type OpenPerContract<T: Config> = StorageMap<_, Twox64Concat, ContractId, u32, ValueQuery>;

    /// Open challenges per (contract, challenger): one each.
    #[pallet::storage]
    pub type OpenBy<T: Config> =
        StorageDoubleMap<_, Twox64Concat, ContractId, Blake2_128Concat, T::AccountId, ()>;

    /// The block of each contract's last slashed failure (one outage is
    /// punished once per response period). Removed when a settlement finds
    /// the contract ended.
    #[pallet::storage]
    pub type LastFailure<T: Config> = StorageMap<_, Twox64Concat, ContractId, BlockNumberFor<T>>;

    /// The next challenge's id.
    #[pallet::storage]
    pub type NextChallengeId<T: Config> = StorageValue<_, ChallengeId, ValueQuery>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `challenger` asks `host` for leaves `first_leaf..first_leaf +
        /// leaves` of `contract` by block `deadline`.
        Opened {
            id: ChallengeId,
            contract: ContractId,
            host: T::AccountId,
            challenger: T::AccountId,
            first_leaf: u64,
            leaves: u32,
            deadline: BlockNumberFor<T>,
        },
        /// `host` answered: `piece` is the challenged ciphertext (verified
        /// against the contract's root); it earned `to_host` of the deposit.
        Answered {
            id: ChallengeId,
            contract: ContractId,
            host: T::AccountId,
            piece: PieceBytes,
            to_host: Balance,
        },
        /// `host` did not answer in time: `slashed` was taken from the
        /// deposit backing `contract`, of which `to_challenger` paid the
        /// challenger (a bounty) and `to_sender` the contract's Sender.
        Failed {
            id: ChallengeId,
            contract: ContractId,
            host: T::AccountId,
            challenger: T::AccountId,
            slashed: Balance,
            to_challenger: Balance,
            to_sender: Balance,
        },
        /// Nothing was owed: the contract ended before the challenge was
        /// answered, or its host was already slashed for a failure within
        /// the response period. The deposit returned.
        Dropped {
            id: ChallengeId,
            contract: ContractId,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// No live contract with this id.
        UnknownContract,
        /// The host has not confirmed it stores the data yet.
        NotConfirmed,
        /// The caller is not the contract's Sender and the listing gives it
        /// no access to this contract.
        NoAccess,
        /// A host cannot challenge its own contract.
        OwnContract,
        /// The piece starts past the file's last leaf.
        LeafOutOfRange,
        /// The contract has `MaxOpenPerContract` open challenges already.
        TooManyOpen,
        /// The caller has a challenge open on this contract already.
        AlreadyOpen,
        /// The caller cannot hold the challenge deposit.
        InsufficientFunds,
        /// No open challenge with this id.
        UnknownChallenge,
        /// Only the contract's host answers.
        NotHost,
        /// The response period is over.
        TooLate,
        /// The response period is not over yet.
        TooEarly,
        /// The bytes do not split into the piece's leaves.
        BadPieceLength,
        /// The Merkle path has the wrong length for this piece.
        BadPathLength,
        /// The piece and path do not lead to the contract's root.
        InvalidPiece,
        /// A count or block number does not fit its type.
        Overflow,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(
                !T::ChallengeDeposit::get().is_zero(),
                "ChallengeDeposit must be > 0 (it pays for the record)"
            );
            assert!(
                !T::ResponsePeriod::get().is_zero(),
                "ResponsePeriod must be > 0"
            );
            assert!(
                T::MaxOpenPerContract::get() > 0,
                "MaxOpenPerContract must be > 0"
            );
            assert!(
                PIECE_LEAVES as usize <= masp_proofs::MAX_MULTI_LEAVES,
                "a piece must fit a multi-proof"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Challenges `contract`'s host to publish the piece starting at
        /// leaf `first_leaf` ([`PIECE_LEAVES`] leaves, fewer at the file's
        /// end) within [`Config::ResponsePeriod`] blocks. The caller is the
        /// contract's Sender, or reads it through `listing` (`None` for the
        /// Sender). Holds [`Config::ChallengeDeposit`].
        ///
        /// Emits [`Event::Opened`].
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::open())]
        pub fn open(
            origin: OriginFor<T>,
            contract: ContractId,
            first_leaf: u64,
            listing: Option<u64>,
        ) -> DispatchResult {
            let challenger = ensure_signed(origin)?;
            let target = T::Contracts::proof_target(contract).ok_or(Error::<T>::UnknownContract)?;
            ensure!(target.confirmed, Error::<T>::NotConfirmed);
            ensure!(challenger != target.host, Error::<T>::OwnContract);
            let allowed = challenger == target.sender
                || listing.is_some_and(|l| T::Access::may_read(&challenger, l, contract));
            ensure!(allowed, Error::<T>::NoAccess);
            ensure!(first_leaf < target.leaf_count, Error::<T>::LeafOutOfRange);
            ensure!(
                !OpenBy::<T>::contains_key(contract, &challenger),
                Error::<T>::AlreadyOpen
            );
            let open = OpenPerContract::<T>::get(contract);
            // The Sender always may (a slot of its own beyond the limit).
            let counted = challenger != target.sender;
            ensure!(
                !counted || open < T::MaxOpenPerContract::get(),
                Error::<T>::TooManyOpen
            );
            let id = NextChallengeId::<T>::get();
            let next = id.checked_add(1).ok_or(Error::<T>::Overflow)?;
            let leaves = Self::piece_len(first_leaf, target.leaf_count);
            let deadline = frame_system::Pallet::<T>::block_number()
                .checked_add(&T::ResponsePeriod::get())
                .ok_or(Error::<T>::Overflow)?;
            let deposit = T::ChallengeDeposit::get();
            T::Currency::hold(&HoldReason::ChallengeDeposit.into(), &challenger, deposit)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            NextChallengeId::<T>::put(next);
            if counted {
                OpenPerContract::<T>::insert(contract, open.saturating_add(1));
            }
            OpenBy::<T>::insert(contract, &challenger, ());
            ByHost::<T>::insert(&target.host, id, ());
            Challenges::<T>::insert(
                id,
                Challenge {
                    contract,
                    host: target.host.clone(),
                    challenger: challenger.clone(),
                    merkle_root: target.merkle_root,
                    leaf_count: target.leaf_count,
                    first_leaf,
                    leaves,
                    deadline,
                    deposit,
                    counted,
                },
            );
            Self::deposit_event(Event::Opened {
                id,
                contract,
                host: target.host,
                challenger,
                first_leaf,
                leaves,
                deadline,
            });
            Ok(())
        }

        /// The host answers challenge `id`: `piece` is the challenged
        /// leaves' bytes in order, `path` the sibling hashes they do not
        /// determine (the order of [`masp_proofs::verify_multi`]). Checked
        /// against the contract's root; a valid answer pays no fee and earns
        /// [`Config::AnswerReward`] of the challenger's deposit; the rest
        /// returns to the challenger. An invalid one fails with its reason
        /// and changes nothing.
        ///
        /// Emits [`Event::Answered`].
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::answer())]
        pub fn answer(
            origin: OriginFor<T>,
            id: ChallengeId,
            piece: PieceBytes,
            path: PiecePath,
        ) -> DispatchResultWithPostInfo {
            let host = ensure_signed(origin)?;
            let c = Challenges::<T>::get(id).ok_or(Error::<T>::UnknownChallenge)?;
            ensure!(c.host == host, Error::<T>::NotHost);
            ensure!(
                frame_system::Pallet::<T>::block_number() <= c.deadline,
                Error::<T>::TooLate
            );
            let mut indices = [0u64; PIECE_LEAVES as usize];
            let n = (c.leaves as usize).min(indices.len());
            for (k, slot) in indices.iter_mut().take(n).enumerate() {
                *slot = c.first_leaf.saturating_add(k as u64);
            }
            masp_proofs::verify_multi(&c.merkle_root, c.leaf_count, &indices[..n], &piece, &path)
                .map_err(|e| match e {
                ProofError::BadLeafLength => Error::<T>::BadPieceLength,
                ProofError::BadPathLength => Error::<T>::BadPathLength,
                ProofError::IndexOutOfRange | ProofError::RootMismatch | ProofError::BadIndices => {
                    Error::<T>::InvalidPiece
                }
            })?;
            // A contract that has ended owes nothing: the answer closes the
            // challenge but earns nothing and is not counted.
            let live = Self::live_sender(&c).is_some();
            let reward = if live {
                T::AnswerReward::get().mul_floor(c.deposit)
            } else {
                0
            };
            let reason = HoldReason::ChallengeDeposit.into();
            let paid = if reward.is_zero() {
                0
            } else {
                T::Currency::transfer_on_hold(
                    &reason,
                    &c.challenger,
                    &host,
                    reward,
                    Precision::BestEffort,
                    Restriction::Free,
                    Fortitude::Force,
                )?
            };
            T::Currency::release(
                &reason,
                &c.challenger,
                c.deposit.saturating_sub(paid),
                Precision::BestEffort,
            )?;
            Self::close(id, &c);
            if live {
                T::Observer::retrieval_answered(&host, c.contract);
            }
            Self::deposit_event(Event::Answered {
                id,
                contract: c.contract,
                host,
                piece,
                to_host: paid,
            });
            Ok(PostDispatchInfo {
                actual_weight: None,
                pays_fee: Pays::No,
            })
        }

        /// Settles challenge `id` once its response period is over and it
        /// was not answered: the host is slashed [`Config::FailSlash`] of
        /// the deposit backing the contract, of which the challenger is paid
        /// at most [`Config::ChallengeDeposit`] and the Sender the rest; the
        /// challenger's deposit returns. If the contract has ended, or its
        /// host was slashed for a failure within the response period,
        /// nothing is slashed and the deposit returns. Anyone may call it.
        ///
        /// Emits [`Event::Failed`] or [`Event::Dropped`].
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::settle())]
        pub fn settle(origin: OriginFor<T>, id: ChallengeId) -> DispatchResult {
            ensure_signed(origin)?;
            let c = Challenges::<T>::get(id).ok_or(Error::<T>::UnknownChallenge)?;
            ensure!(
                frame_system::Pallet::<T>::block_number() > c.deadline,
                Error::<T>::TooEarly
            );
            T::Currency::release(
                &HoldReason::ChallengeDeposit.into(),
                &c.challenger,
                c.deposit,
                Precision::BestEffort,
            )?;
            Self::close(id, &c);
            let now = frame_system::Pallet::<T>::block_number();
            let Some(sender) = Self::live_sender(&c) else {
                LastFailure::<T>::remove(c.contract);
                Self::deposit_event(Event::Dropped {
                    id,
                    contract: c.contract,
                });
                return Ok(());
            };
            let punished = LastFailure::<T>::get(c.contract)
                .is_some_and(|at| now < at.saturating_add(T::ResponsePeriod::get()));
            if punished {
                Self::deposit_event(Event::Dropped {
                    id,
                    contract: c.contract,
                });
                return Ok(());
            }
            LastFailure::<T>::insert(c.contract, now);
            let amount = T::FailSlash::get().mul_floor(T::Deposits::backing(c.contract));
            let bounty = amount.min(T::ChallengeDeposit::get());
            let paid = T::Deposits::slash(c.contract, bounty, &c.challenger, bounty);
            let rest = amount.saturating_sub(paid.slashed);
            let to_sender = T::Deposits::slash(c.contract, rest, &sender, rest);
            T::Observer::retrieval_failed(&c.host, c.contract);
            Self::deposit_event(Event::Failed {
                id,
                contract: c.contract,
                host: c.host,
                challenger: c.challenger,
                slashed: paid.slashed.saturating_add(to_sender.slashed),
                to_challenger: paid.to_victim,
                to_sender: to_sender.to_victim,
            });
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// Leaves in the piece starting at `first_leaf` of a tree of
        /// `leaf_count` leaves.
        pub fn piece_len(first_leaf: u64, leaf_count: u64) -> u32 {
            leaf_count.saturating_sub(first_leaf).min(PIECE_LEAVES) as u32
        }

        /// The Sender of the challenged contract, if it is still live with
        /// the challenged host and data.
        fn live_sender(c: &ChallengeOf<T>) -> Option<T::AccountId> {
            T::Contracts::proof_target(c.contract)
                .filter(|t| t.host == c.host && t.merkle_root == c.merkle_root)
                .map(|t| t.sender)
        }

        /// Removes challenge `id` and its index entries.
        fn close(id: ChallengeId, c: &ChallengeOf<T>) {
            Challenges::<T>::remove(id);
            ByHost::<T>::remove(&c.host, id);
            OpenBy::<T>::remove(c.contract, &c.challenger);
            if !c.counted {
                return;
            }
            let left = OpenPerContract::<T>::get(c.contract).saturating_sub(1);
            if left == 0 {
                OpenPerContract::<T>::remove(c.contract);
            } else {
                OpenPerContract::<T>::insert(c.contract, left);
            }
        }

        /// The pallet's invariants: each challenger's hold is the deposits
        /// of its open challenges; every open challenge is indexed under its
        /// host and counted under its contract (and nothing else is); no
        /// contract has more than `MaxOpenPerContract`; ids were issued;
        /// pieces are within their trees.
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            use frame_support::traits::fungible::InspectHold;
            let mut held: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            let mut per_contract: BTreeMap<ContractId, u32> = BTreeMap::new();
            let next = NextChallengeId::<T>::get();
            let mut count = 0usize;
            for (id, c) in Challenges::<T>::iter() {
                count += 1;
                ensure!(id < next, "a challenge id not yet issued");
                ensure!(
                    ByHost::<T>::contains_key(&c.host, id),
                    "an open challenge missing from its host's index"
                );
                ensure!(
                    OpenBy::<T>::contains_key(c.contract, &c.challenger),
                    "an open challenge missing from its challenger's index"
                );
                ensure!(
                    c.leaves >= 1
                        && c.leaves as u64 <= PIECE_LEAVES
                        && c.first_leaf.saturating_add(c.leaves as u64) <= c.leaf_count,
                    "a piece outside its tree"
                );
                let h = held.entry(c.challenger.clone()).or_default();
                *h = h.saturating_add(c.deposit);
                if c.counted {
                    let n = per_contract.entry(c.contract).or_default();
                    *n = n.saturating_add(1);
                }
            }
            ensure!(
                ByHost::<T>::iter().count() == count,
                "a host index entry without a challenge"
            );
            ensure!(
                OpenBy::<T>::iter().count() == count,
                "a challenger index entry without a challenge (or one challenger twice)"
            );
            for (contract, n) in OpenPerContract::<T>::iter() {
                ensure!(
                    per_contract.remove(&contract) == Some(n),
                    "open count differs from the challenges"
                );
                ensure!(
                    n <= T::MaxOpenPerContract::get(),
                    "too many open challenges on a contract"
                );
            }
            ensure!(per_contract.is_empty(), "open challenges not counted");
            for (who, amount) in held {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::ChallengeDeposit.into(), &who)
                        == amount,
                    "challenge hold != the deposits of the challenger's open challenges"
                );
            }
            Ok(())
        }
    }
}
