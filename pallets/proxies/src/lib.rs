//! # Proxies pallet
//!
//! The white paper's optional contractor (issue 22): "Proxy is an optional
//! contractor lending their device and Internet channel as one of the nodes
//! during data transfer from Sender to Host(s). That's how the real
//! IP-address of Sender is hidden from Host." This pallet is the proxies'
//! register and rating; they are paid per byte relayed through the egress
//! pallet's channels (`Service::Relay`), which learn a proxy's price and
//! report sessions and payments here through
//! [`masp_primitives::traits::ProxyRegistry`].
//!
//! - **Register** ([`Pallet::register`], [`Pallet::update`]): a proxy
//!   publishes its endpoint (the market's rule: `http(s)://`, bounded
//!   length, [`masp_primitives::endpoint::is_valid`]) and its price per GiB
//!   relayed; [`Config::ProxyDeposit`] is held from it
//!   ([`HoldReason::ProxyDeposit`]). At most [`Config::MaxProxies`].
//!   `update` also tops a slashed deposit back up.
//! - **Leave** ([`Pallet::deregister`], [`Pallet::withdraw`]): deregistering
//!   stops new sessions at once and starts [`Config::UnbondPeriod`] blocks
//!   during which the deposit stays held and slashable; then `withdraw`
//!   releases it and removes the record (and its counters).
//! - **Slash** ([`Pallet::slash`], [`Config::SlashOrigin`]: governance in
//!   the runtime): part or all of a deposit goes to [`Config::SlashPot`]
//!   (the runtime's slash pot, as the market's slashes: nothing is burned,
//!   MASP's supply is fixed after the ICO; and nobody who could provoke a
//!   slash is paid by it). A proxy whose deposit is no longer whole takes
//!   no new sessions until `update` tops it up.
//! - **Rating** ([`Pallet::report_failure`], [`ProxyInfo::score`]): per
//!   proxy, the bytes relayed that receipts paid for, what it was paid, the
//!   relay channels opened with it (sessions) and the sessions reported
//!   failed. Only a session's payer may report it, once, while the channel
//!   is open or for [`Config::ReportWindow`] blocks after it ended (a proxy
//!   cannot dodge a report by releasing the channel). A Sender cannot spam
//!   reports: one per relay channel it opened and funded. The score is the
//!   smoothed share of sessions not reported failed
//!   ([`types::score`]); clients also see the bytes paid.
//! - **Clean-up** ([`Pallet::forget_session`]): anyone removes a session's
//!   record once its report window has passed (or its proxy is gone).
//!
//! Listed by the runtime API in `pallet-proxies-runtime-api`
//! ([`Pallet::proxies`]). No hooks. Invariants (`try_state`, after every
//! test): each proxy's hold equals its recorded deposit; the count of
//! proxies is within `MaxProxies`; no proxy has more failures than
//! sessions.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::{ProxyInfo, ProxyView, Session, SCORE_MAX};
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

#[frame_support::pallet]
pub mod pallet {
    use super::*;
    use alloc::vec::Vec;
    use frame_support::{
        pallet_prelude::*,
        traits::{
            fungible::{Inspect, InspectHold, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{traits::ProxyRegistry, Balance};
    use sp_runtime::traits::{Saturating, Zero};

    /// A proxy as stored.
    pub type ProxyOf<T> = ProxyInfo<BlockNumberFor<T>, <T as Config>::MaxEndpointLen>;

    /// A proxy's endpoint.
    pub type EndpointOf<T> = BoundedVec<u8, <T as Config>::MaxEndpointLen>;

    /// A relay channel's id (the egress pallet's).
    pub type ChannelId = u64;

    /// The layout of this pallet's storage. Bump it with every change to a
    /// stored type or key, together with a migration from the previous
    /// version (see pallets/README.md, "Storage versions and migrations").
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: deposits are held in it.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + InspectHold<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// Who may slash a proxy's deposit (governance in the runtime).
        type SlashOrigin: EnsureOrigin<Self::RuntimeOrigin>;

        /// Where slashed deposits go (an account that exists).
        type SlashPot: Get<Self::AccountId>;

        /// Held from each proxy while it is registered and unbonding.
        #[pallet::constant]
        type ProxyDeposit: Get<Balance>;

        /// Blocks from `deregister` until the deposit can be withdrawn.
        #[pallet::constant]
        type UnbondPeriod: Get<BlockNumberFor<Self>>;

        /// Blocks after a relay channel ended during which its payer may
        /// still report it failed.
        #[pallet::constant]
        type ReportWindow: Get<BlockNumberFor<Self>>;

        /// The most proxies registered at once.
        #[pallet::constant]
        type MaxProxies: Get<u32>;

        /// Longest endpoint, in bytes.
        #[pallet::constant]
        type MaxEndpointLen: Get<u32>;

        /// Weights of the calls, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A proxy's deposit, slashable until withdrawn.
        #[codec(index = 0)]
        ProxyDeposit,
    }

    /// The registered proxies (deregistering ones included until they
    /// withdraw).
    #[pallet::storage]
    pub type Proxies<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, ProxyOf<T>>;

    /// Relay sessions that may still be reported: `(proxy, channel) ->
    /// session`.
    #[pallet::storage]
    pub type Sessions<T: Config> = StorageDoubleMap<
        _,
        Blake2_128Concat,
        T::AccountId,
        Twox64Concat,
        ChannelId,
        Session<T::AccountId, BlockNumberFor<T>>,
    >;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `proxy` registered at `endpoint`, relaying at `price_per_gib`;
        /// `deposit` is held.
        Registered {
            proxy: T::AccountId,
            endpoint: EndpointOf<T>,
            price_per_gib: Balance,
            deposit: Balance,
        },
        /// `proxy` now relays at `endpoint` for `price_per_gib`; its deposit
        /// held is `deposit`.
        Updated {
            proxy: T::AccountId,
            endpoint: EndpointOf<T>,
            price_per_gib: Balance,
            deposit: Balance,
        },
        /// `proxy` takes no new sessions; its deposit can be withdrawn from
        /// block `unbonding_until`.
        Deregistered {
            proxy: T::AccountId,
            unbonding_until: BlockNumberFor<T>,
        },
        /// `proxy` is gone; `released` returned to it.
        Withdrawn {
            proxy: T::AccountId,
            released: Balance,
        },
        /// `amount` of `proxy`'s deposit went to the slash pot.
        Slashed {
            proxy: T::AccountId,
            amount: Balance,
        },
        /// `payer` reported its session `channel` with `proxy` failed.
        FailureReported {
            proxy: T::AccountId,
            payer: T::AccountId,
            channel: ChannelId,
        },
        /// The record of session `channel` with `proxy` was removed.
        SessionForgotten {
            proxy: T::AccountId,
            channel: ChannelId,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// The caller is already a proxy (or still unbonding).
        AlreadyRegistered,
        /// Not a registered proxy.
        NotAProxy,
        /// `MaxProxies` are registered.
        TooManyProxies,
        /// The endpoint must start with `http://` or `https://` and contain
        /// only printable ASCII after it.
        BadEndpoint,
        /// The caller cannot hold the deposit.
        InsufficientFunds,
        /// The proxy is deregistering.
        Deregistering,
        /// The proxy has not deregistered.
        NotDeregistering,
        /// The unbonding period has not passed yet.
        TooEarly,
        /// The proxy has no deposit left to slash.
        NothingToSlash,
        /// No such session to report: unknown, already reported, or
        /// forgotten.
        UnknownSession,
        /// Only the session's payer may report it.
        NotThePayer,
        /// The session ended more than `ReportWindow` blocks ago.
        ReportWindowOver,
        /// The session may still be reported.
        StillReportable,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(
                !T::ProxyDeposit::get().is_zero(),
                "ProxyDeposit must be > 0 (it is what a slash takes)"
            );
            assert!(
                !T::UnbondPeriod::get().is_zero(),
                "UnbondPeriod must be > 0"
            );
            assert!(
                !T::ReportWindow::get().is_zero(),
                "ReportWindow must be > 0"
            );
            assert!(T::MaxProxies::get() > 0, "MaxProxies must be > 0");
            assert!(
                T::MaxEndpointLen::get() >= 12,
                "MaxEndpointLen must fit at least https://a.b"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Registers the caller as a proxy reachable at `endpoint`, relaying
        /// at `price_per_gib` planck per GiB; holds `ProxyDeposit`.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::register())]
        pub fn register(
            origin: OriginFor<T>,
            endpoint: EndpointOf<T>,
            price_per_gib: Balance,
        ) -> DispatchResult {
            let proxy = ensure_signed(origin)?;
            ensure!(
                !Proxies::<T>::contains_key(&proxy),
                Error::<T>::AlreadyRegistered
            );
            ensure!(
                Proxies::<T>::count() < T::MaxProxies::get(),
                Error::<T>::TooManyProxies
            );
            ensure!(
                masp_primitives::endpoint::is_valid(&endpoint),
                Error::<T>::BadEndpoint
            );
            let deposit = T::ProxyDeposit::get();
            T::Currency::hold(&HoldReason::ProxyDeposit.into(), &proxy, deposit)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            Proxies::<T>::insert(
                &proxy,
                ProxyInfo {
                    endpoint: endpoint.clone(),
                    price_per_gib,
                    deposit,
                    registered_at: frame_system::Pallet::<T>::block_number(),
                    unbonding_until: None,
                    bytes_paid: 0,
                    paid: 0,
                    sessions: 0,
                    failures: 0,
                },
            );
            Self::deposit_event(Event::Registered {
                proxy,
                endpoint,
                price_per_gib,
                deposit,
            });
            Ok(())
        }

        /// Changes the caller's endpoint and price (open relay channels keep
        /// the price they opened at), and tops its deposit back up to
        /// `ProxyDeposit` if a slash took part of it.
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::update())]
        pub fn update(
            origin: OriginFor<T>,
            endpoint: EndpointOf<T>,
            price_per_gib: Balance,
        ) -> DispatchResult {
            let proxy = ensure_signed(origin)?;
            ensure!(
                masp_primitives::endpoint::is_valid(&endpoint),
                Error::<T>::BadEndpoint
            );
            Proxies::<T>::try_mutate(&proxy, |p| -> DispatchResult {
                let p = p.as_mut().ok_or(Error::<T>::NotAProxy)?;
                ensure!(p.unbonding_until.is_none(), Error::<T>::Deregistering);
                let missing = T::ProxyDeposit::get().saturating_sub(p.deposit);
                if !missing.is_zero() {
                    T::Currency::hold(&HoldReason::ProxyDeposit.into(), &proxy, missing)
                        .map_err(|_| Error::<T>::InsufficientFunds)?;
                    p.deposit = p.deposit.saturating_add(missing);
                }
                p.endpoint = endpoint.clone();
                p.price_per_gib = price_per_gib;
                Self::deposit_event(Event::Updated {
                    proxy: proxy.clone(),
                    endpoint,
                    price_per_gib,
                    deposit: p.deposit,
                });
                Ok(())
            })
        }

        /// Stops new sessions with the caller at once; its deposit stays
        /// held (and slashable) for `UnbondPeriod` blocks, then
        /// [`Pallet::withdraw`] releases it.
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::deregister())]
        pub fn deregister(origin: OriginFor<T>) -> DispatchResult {
            let proxy = ensure_signed(origin)?;
            Proxies::<T>::try_mutate(&proxy, |p| -> DispatchResult {
                let p = p.as_mut().ok_or(Error::<T>::NotAProxy)?;
                ensure!(p.unbonding_until.is_none(), Error::<T>::Deregistering);
                let at = frame_system::Pallet::<T>::block_number()
                    .saturating_add(T::UnbondPeriod::get());
                p.unbonding_until = Some(at);
                Self::deposit_event(Event::Deregistered {
                    proxy: proxy.clone(),
                    unbonding_until: at,
                });
                Ok(())
            })
        }

        /// Once the unbonding period has passed: releases the caller's
        /// deposit and removes its record.
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::withdraw())]
        pub fn withdraw(origin: OriginFor<T>) -> DispatchResult {
            let proxy = ensure_signed(origin)?;
            let p = Proxies::<T>::get(&proxy).ok_or(Error::<T>::NotAProxy)?;
            let at = p.unbonding_until.ok_or(Error::<T>::NotDeregistering)?;
            ensure!(
                frame_system::Pallet::<T>::block_number() >= at,
                Error::<T>::TooEarly
            );
            let released = if p.deposit.is_zero() {
                0
            } else {
                T::Currency::release(
                    &HoldReason::ProxyDeposit.into(),
                    &proxy,
                    p.deposit,
                    Precision::Exact,
                )?
            };
            Proxies::<T>::remove(&proxy);
            Self::deposit_event(Event::Withdrawn { proxy, released });
            Ok(())
        }

        /// Moves up to `amount` of `proxy`'s deposit (registered or
        /// unbonding) to the slash pot. `SlashOrigin` only.
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::slash())]
        pub fn slash(origin: OriginFor<T>, proxy: T::AccountId, amount: Balance) -> DispatchResult {
            T::SlashOrigin::ensure_origin(origin)?;
            Proxies::<T>::try_mutate(&proxy, |p| -> DispatchResult {
                let p = p.as_mut().ok_or(Error::<T>::NotAProxy)?;
                let amount = amount.min(p.deposit);
                ensure!(!amount.is_zero(), Error::<T>::NothingToSlash);
                let slashed = T::Currency::transfer_on_hold(
                    &HoldReason::ProxyDeposit.into(),
                    &proxy,
                    &T::SlashPot::get(),
                    amount,
                    Precision::Exact,
                    Restriction::Free,
                    Fortitude::Force,
                )?;
                p.deposit = p.deposit.saturating_sub(slashed);
                Self::deposit_event(Event::Slashed {
                    proxy: proxy.clone(),
                    amount: slashed,
                });
                Ok(())
            })
        }

        /// The caller (the payer of relay channel `channel` with `proxy`)
        /// reports the session failed: counted once, while the channel is
        /// open or up to `ReportWindow` blocks after it ended.
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::report_failure())]
        pub fn report_failure(
            origin: OriginFor<T>,
            proxy: T::AccountId,
            channel: ChannelId,
        ) -> DispatchResult {
            let payer = ensure_signed(origin)?;
            let s = Sessions::<T>::get(&proxy, channel).ok_or(Error::<T>::UnknownSession)?;
            ensure!(s.payer == payer, Error::<T>::NotThePayer);
            if let Some(until) = s.report_until {
                ensure!(
                    frame_system::Pallet::<T>::block_number() <= until,
                    Error::<T>::ReportWindowOver
                );
            }
            Proxies::<T>::try_mutate(&proxy, |p| -> DispatchResult {
                let p = p.as_mut().ok_or(Error::<T>::NotAProxy)?;
                p.failures = p.failures.saturating_add(1).min(p.sessions);
                Ok(())
            })?;
            Sessions::<T>::remove(&proxy, channel);
            Self::deposit_event(Event::FailureReported {
                proxy,
                payer,
                channel,
            });
            Ok(())
        }

        /// Removes the record of a session that can no longer be reported:
        /// its report window is over, or its proxy is gone (anyone may
        /// call).
        #[pallet::call_index(6)]
        #[pallet::weight(T::WeightInfo::forget_session())]
        pub fn forget_session(
            origin: OriginFor<T>,
            proxy: T::AccountId,
            channel: ChannelId,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            let s = Sessions::<T>::get(&proxy, channel).ok_or(Error::<T>::UnknownSession)?;
            let over = s
                .report_until
                .is_some_and(|until| frame_system::Pallet::<T>::block_number() > until);
            ensure!(
                over || !Proxies::<T>::contains_key(&proxy),
                Error::<T>::StillReportable
            );
            Sessions::<T>::remove(&proxy, channel);
            Self::deposit_event(Event::SessionForgotten { proxy, channel });
            Ok(())
        }
    }

    impl<T: Config> Pallet<T> {
        /// Whether `p` takes new sessions.
        fn active(p: &ProxyOf<T>) -> bool {
            p.unbonding_until.is_none() && p.deposit >= T::ProxyDeposit::get()
        }

        /// `who` as the runtime API shows it.
        fn view(who: T::AccountId, p: ProxyOf<T>) -> ProxyView<T::AccountId, BlockNumberFor<T>> {
            ProxyView {
                active: Self::active(&p),
                score: p.score(),
                account: who,
                endpoint: p.endpoint.into_inner(),
                price_per_gib: p.price_per_gib,
                deposit: p.deposit,
                unbonding_until: p.unbonding_until,
                bytes_paid: p.bytes_paid,
                paid: p.paid,
                sessions: p.sessions,
                failures: p.failures,
            }
        }

        /// Every proxy (at most `MaxProxies`), highest score first, then
        /// most bytes paid (runtime API).
        pub fn proxies() -> Vec<ProxyView<T::AccountId, BlockNumberFor<T>>> {
            let mut all: Vec<_> = Proxies::<T>::iter()
                .take(T::MaxProxies::get() as usize)
                .map(|(who, p)| Self::view(who, p))
                .collect();
            all.sort_by(|a, b| b.score.cmp(&a.score).then(b.bytes_paid.cmp(&a.bytes_paid)));
            all
        }

        /// One proxy (runtime API).
        pub fn proxy(who: T::AccountId) -> Option<ProxyView<T::AccountId, BlockNumberFor<T>>> {
            Proxies::<T>::get(&who).map(|p| Self::view(who, p))
        }

        /// The pallet's invariants: each proxy's hold is its recorded
        /// deposit; the count is right and within `MaxProxies`; no proxy
        /// has more failures than sessions.
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            let mut n: u32 = 0;
            for (who, p) in Proxies::<T>::iter() {
                n = n.saturating_add(1);
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::ProxyDeposit.into(), &who)
                        == p.deposit,
                    "a proxy's hold != its recorded deposit"
                );
                ensure!(p.failures <= p.sessions, "more failures than sessions");
            }
            ensure!(n == Proxies::<T>::count(), "the proxies' count is wrong");
            ensure!(n <= T::MaxProxies::get(), "more than MaxProxies");
            Ok(())
        }
    }

    impl<T: Config> ProxyRegistry<T::AccountId> for Pallet<T> {
        fn relay_price(proxy: &T::AccountId) -> Option<Balance> {
            Proxies::<T>::get(proxy)
                .filter(Self::active)
                .map(|p| p.price_per_gib)
        }

        fn session_opened(proxy: &T::AccountId, payer: &T::AccountId, channel: ChannelId) {
            let known = Proxies::<T>::mutate(proxy, |p| match p {
                Some(p) => {
                    p.sessions = p.sessions.saturating_add(1);
                    true
                }
                None => false,
            });
            if known {
                Sessions::<T>::insert(
                    proxy,
                    channel,
                    Session {
                        payer: payer.clone(),
                        report_until: None,
                    },
                );
            }
        }

        fn session_ended(proxy: &T::AccountId, _payer: &T::AccountId, channel: ChannelId) {
            let until =
                frame_system::Pallet::<T>::block_number().saturating_add(T::ReportWindow::get());
            Sessions::<T>::mutate(proxy, channel, |s| {
                if let Some(s) = s {
                    s.report_until = Some(until);
                }
            });
        }

        fn relayed(proxy: &T::AccountId, bytes: u64, paid: Balance) {
            Proxies::<T>::mutate(proxy, |p| {
                if let Some(p) = p {
                    p.bytes_paid = p.bytes_paid.saturating_add(bytes);
                    p.paid = p.paid.saturating_add(paid);
                }
            });
        }
    }
}
