//! # Deposits pallet
//!
//! The hosts' insurance deposits of the white paper ("Insurance"): a Host
//! backs every contract it stores with MASP it cannot move while the contract
//! runs, and loses part of it when it fails the Sender.
//!
//! - **A deposit is a hold** on the host's own MASP ([`HoldReason::HostDeposit`]):
//!   [`Pallet::deposit`] adds to it, [`Pallet::withdraw`] releases only its
//!   *free* part.
//! - **Each contract reserves** part of the deposit for its term
//!   ([`HostDeposits::reserve`], called by the market at match time: the market
//!   sizes it as `size in GiB x DepositPerGiB`); a host with too little free
//!   deposit does not match. The reservation ends with the contract
//!   ([`HostDeposits::release`]). Withdrawal never touches reserved deposit.
//! - **Slashes** ([`SlashDeposit::slash`], called by the proofs and insurance
//!   pallets) take from the deposit backing one contract, never more than that
//!   backing (so never more than the host holds: a host is never pushed into
//!   debt), pay the victim (the contract's Sender, or its insurer) first and
//!   send the rest to [`Config::OnSlash`] (an account on the MASP chain:
//!   nothing is burned).
//!
//! Invariants (`try_state`, run after every test): for every host, the hold
//! equals its recorded deposit, its reserved part equals the sum of its
//! contracts' backings, and reserved <= deposit.
//!
//! No call or hook iterates over hosts or contracts.

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

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use frame_support::{
        pallet_prelude::*,
        traits::{
            fungible::{Balanced, BalancedHold, Credit, Inspect, InspectHold, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
            OnUnbalanced,
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        market::ContractId,
        traits::{HostDeposits, SlashDeposit, SlashOutcome},
        Balance,
    };
    use sp_runtime::traits::Zero;

    /// A host's deposit.
    #[derive(
        Clone,
        Copy,
        Debug,
        Default,
        PartialEq,
        Eq,
        Encode,
        Decode,
        DecodeWithMemTracking,
        MaxEncodedLen,
        TypeInfo,
    )]
    pub struct DepositInfo {
        /// MASP held as the host's deposit.
        pub total: Balance,
        /// Of which backs live contracts (cannot be withdrawn).
        pub reserved: Balance,
        /// Contracts the deposit backs.
        pub contracts: u32,
    }

    impl DepositInfo {
        /// The part not backing any contract.
        pub fn free(&self) -> Balance {
            self.total.saturating_sub(self.reserved)
        }
    }

    /// The deposit backing one contract.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct Backing<AccountId> {
        /// The host whose deposit backs the contract.
        pub host: AccountId,
        /// How much of it (reduced by slashes).
        pub amount: Balance,
        /// What slashes of it have paid victims so far.
        pub to_victims: Balance,
    }

    /// What the slash destination receives.
    pub type CreditOf<T> = Credit<<T as frame_system::Config>::AccountId, <T as Config>::Currency>;

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP, in which deposits are held.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + Balanced<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
            + BalancedHold<Self::AccountId>;

        /// The runtime's hold reasons (ours is [`HoldReason::HostDeposit`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// Where the part of a slash not paid to the victim goes.
        type OnSlash: OnUnbalanced<CreditOf<Self>>;

        /// The smallest amount one [`Pallet::deposit`] may add (keeps dust
        /// deposits out of storage).
        #[pallet::constant]
        type MinDeposit: Get<Balance>;

        /// Weights of the calls, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A host's insurance deposit.
        #[codec(index = 0)]
        HostDeposit,
    }

    /// Each host's deposit.
    #[pallet::storage]
    pub type Deposits<T: Config> =
        StorageMap<_, Blake2_128Concat, T::AccountId, DepositInfo, OptionQuery>;

    /// The deposit backing each live contract (contract ids are assigned by
    /// the chain, so `Twox64Concat` is safe).
    #[pallet::storage]
    pub type Backings<T: Config> =
        StorageMap<_, Twox64Concat, ContractId, Backing<T::AccountId>, OptionQuery>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `host` added `amount` to its deposit, now `total`.
        Deposited {
            host: T::AccountId,
            amount: Balance,
            total: Balance,
        },
        /// `host` withdrew `amount` of its free deposit, now `total`.
        Withdrawn {
            host: T::AccountId,
            amount: Balance,
            total: Balance,
        },
        /// `amount` of `host`'s deposit now backs `contract`.
        Reserved {
            host: T::AccountId,
            contract: ContractId,
            amount: Balance,
        },
        /// `contract` ended: `amount` of `host`'s deposit is free again.
        Released {
            host: T::AccountId,
            contract: ContractId,
            amount: Balance,
        },
        /// `host` was slashed `slashed` for `contract`: `to_victim` paid to
        /// `victim`, `to_remainder` to the runtime's slash destination.
        Slashed {
            host: T::AccountId,
            contract: ContractId,
            slashed: Balance,
            victim: T::AccountId,
            to_victim: Balance,
            to_remainder: Balance,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// The amount is zero.
        ZeroAmount,
        /// A deposit must add at least `MinDeposit`.
        BelowMinimumDeposit,
        /// The account's free MASP cannot cover the deposit (it must also keep
        /// the existential deposit).
        InsufficientBalance,
        /// The account has no deposit.
        NoDeposit,
        /// The free (unreserved) deposit is smaller than the amount: the rest
        /// backs live contracts until they end.
        InsufficientFreeDeposit,
        /// The contract already has a backing.
        AlreadyBacked,
        /// An amount does not fit its type.
        Overflow,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(
                T::MinDeposit::get() > 0,
                "MinDeposit must be > 0 (a zero deposit would store nothing)"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Adds `amount` of the caller's free MASP to its insurance deposit
        /// (a hold). The caller keeps the existential deposit free.
        ///
        /// Emits [`Event::Deposited`].
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::deposit())]
        pub fn deposit(origin: OriginFor<T>, #[pallet::compact] amount: Balance) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
            ensure!(
                amount >= T::MinDeposit::get(),
                Error::<T>::BelowMinimumDeposit
            );
            let mut info = Deposits::<T>::get(&who).unwrap_or_default();
            info.total = info.total.checked_add(amount).ok_or(Error::<T>::Overflow)?;
            T::Currency::hold(&HoldReason::HostDeposit.into(), &who, amount)
                .map_err(|_| Error::<T>::InsufficientBalance)?;
            Deposits::<T>::insert(&who, info);
            Self::deposit_event(Event::Deposited {
                host: who,
                amount,
                total: info.total,
            });
            Ok(())
        }

        /// Releases `amount` of the caller's deposit back to its free MASP.
        /// Only the free part can be withdrawn: deposit backing live
        /// contracts stays held until they end.
        ///
        /// Emits [`Event::Withdrawn`].
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::withdraw())]
        pub fn withdraw(
            origin: OriginFor<T>,
            #[pallet::compact] amount: Balance,
        ) -> DispatchResult {
            let who = ensure_signed(origin)?;
            ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
            let mut info = Deposits::<T>::get(&who).ok_or(Error::<T>::NoDeposit)?;
            ensure!(amount <= info.free(), Error::<T>::InsufficientFreeDeposit);
            T::Currency::release(
                &HoldReason::HostDeposit.into(),
                &who,
                amount,
                Precision::Exact,
            )?;
            info.total = info.total.saturating_sub(amount);
            if info.total.is_zero() && info.contracts == 0 {
                Deposits::<T>::remove(&who);
            } else {
                Deposits::<T>::insert(&who, info);
            }
            Self::deposit_event(Event::Withdrawn {
                host: who,
                amount,
                total: info.total,
            });
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// `host`'s deposit (zero if it has none).
        pub fn deposit_of(host: &T::AccountId) -> DepositInfo {
            Deposits::<T>::get(host).unwrap_or_default()
        }

        /// The deposits' invariants (run by `try_state` and after every test):
        /// - every host's hold equals its recorded deposit;
        /// - its reserved part equals the sum of its contracts' backings, and
        ///   the number of backings matches;
        /// - reserved <= deposit.
        /// Always compiled, so other pallets' tests can check it too.
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            let mut sums: BTreeMap<T::AccountId, (Balance, u32)> = BTreeMap::new();
            for (_, backing) in Backings::<T>::iter() {
                let entry = sums.entry(backing.host).or_default();
                entry.0 = entry.0.saturating_add(backing.amount);
                entry.1 = entry.1.saturating_add(1);
            }
            for (host, info) in Deposits::<T>::iter() {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::HostDeposit.into(), &host)
                        == info.total,
                    "a host's hold differs from its recorded deposit"
                );
                ensure!(
                    info.reserved <= info.total,
                    "reserved deposit above the deposit"
                );
                let (sum, count) = sums.remove(&host).unwrap_or_default();
                ensure!(
                    sum == info.reserved,
                    "reserved != sum of the host's backings"
                );
                ensure!(
                    count == info.contracts,
                    "backed contract count != number of backings"
                );
            }
            ensure!(sums.is_empty(), "a backing without a deposit record");
            Ok(())
        }
    }

    impl<T: Config> HostDeposits<T::AccountId, Balance> for Pallet<T> {
        fn free_deposit(host: &T::AccountId) -> Balance {
            Self::deposit_of(host).free()
        }

        fn reserve(host: &T::AccountId, contract: ContractId, amount: Balance) -> DispatchResult {
            ensure!(
                !Backings::<T>::contains_key(contract),
                Error::<T>::AlreadyBacked
            );
            let mut info = Deposits::<T>::get(host).ok_or(Error::<T>::NoDeposit)?;
            ensure!(amount <= info.free(), Error::<T>::InsufficientFreeDeposit);
            info.reserved = info.reserved.saturating_add(amount);
            info.contracts = info.contracts.checked_add(1).ok_or(Error::<T>::Overflow)?;
            Deposits::<T>::insert(host, info);
            Backings::<T>::insert(
                contract,
                Backing {
                    host: host.clone(),
                    amount,
                    to_victims: 0,
                },
            );
            Self::deposit_event(Event::Reserved {
                host: host.clone(),
                contract,
                amount,
            });
            Ok(())
        }

        fn release(contract: ContractId) -> Balance {
            let Some(backing) = Backings::<T>::take(contract) else {
                return 0;
            };
            Deposits::<T>::mutate_exists(&backing.host, |maybe| {
                if let Some(info) = maybe {
                    info.reserved = info.reserved.saturating_sub(backing.amount);
                    info.contracts = info.contracts.saturating_sub(1);
                    if info.total.is_zero() && info.contracts == 0 {
                        *maybe = None;
                    }
                }
            });
            Self::deposit_event(Event::Released {
                host: backing.host,
                contract,
                amount: backing.amount,
            });
            backing.amount
        }

        fn backing(contract: ContractId) -> Balance {
            Backings::<T>::get(contract).map_or(0, |b| b.amount)
        }

        fn paid_to_victims(contract: ContractId) -> Balance {
            Backings::<T>::get(contract).map_or(0, |b| b.to_victims)
        }
    }

    impl<T: Config> SlashDeposit<T::AccountId, Balance> for Pallet<T> {
        fn slash(
            contract: ContractId,
            amount: Balance,
            victim: &T::AccountId,
            victim_cap: Balance,
        ) -> SlashOutcome<Balance> {
            let Some(mut backing) = Backings::<T>::get(contract) else {
                return SlashOutcome::default();
            };
            let Some(mut info) = Deposits::<T>::get(&backing.host) else {
                return SlashOutcome::default();
            };
            let reason: T::RuntimeHoldReason = HoldReason::HostDeposit.into();
            let held = T::Currency::balance_on_hold(&reason, &backing.host);
            // Never more than the backing, never more than is held.
            let take = amount.min(backing.amount).min(held);
            if take.is_zero() {
                return SlashOutcome::default();
            }
            // The victim first: straight from the hold into its free balance.
            // If it cannot receive (e.g. a new account below the existential
            // deposit), everything goes to the remainder.
            let to_victim = T::Currency::transfer_on_hold(
                &reason,
                &backing.host,
                victim,
                take.min(victim_cap),
                Precision::Exact,
                Restriction::Free,
                Fortitude::Force,
            )
            .unwrap_or(0);
            let rest = take.saturating_sub(to_victim);
            let mut to_remainder = 0;
            if !rest.is_zero() {
                let (credit, _missing) = <T::Currency as BalancedHold<T::AccountId>>::slash(
                    &reason,
                    &backing.host,
                    rest,
                );
                to_remainder = frame_support::traits::Imbalance::peek(&credit);
                T::OnSlash::on_unbalanced(credit);
            }
            let slashed = to_victim.saturating_add(to_remainder);
            backing.amount = backing.amount.saturating_sub(slashed);
            backing.to_victims = backing.to_victims.saturating_add(to_victim);
            info.total = info.total.saturating_sub(slashed);
            info.reserved = info.reserved.saturating_sub(slashed);
            Backings::<T>::insert(contract, &backing);
            Deposits::<T>::insert(&backing.host, info);
            Self::deposit_event(Event::Slashed {
                host: backing.host,
                contract,
                slashed,
                victim: victim.clone(),
                to_victim,
                to_remainder,
            });
            SlashOutcome {
                slashed,
                to_victim,
                to_remainder,
            }
        }
    }

    /// Benchmark set-up for the market and the pallets above it: a host's
    /// deposit raised through [`Pallet::deposit`] itself.
    #[cfg(feature = "runtime-benchmarks")]
    impl<T: Config> masp_primitives::traits::BenchmarkDeposits<T::AccountId, Balance> for Pallet<T> {
        fn deposit(host: &T::AccountId, amount: Balance) -> DispatchResult {
            Pallet::<T>::deposit(frame_system::RawOrigin::Signed(host.clone()).into(), amount)
        }
    }
}
