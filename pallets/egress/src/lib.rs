//! # Egress pallet
//!
//! "All the participants of data transmission are remunerated": a host is
//! paid for the bytes it serves to a downloader (a Receiver of a listing,
//! or a Sender reading its own file), and a proxy for the bytes it relays
//! between a Sender and hosts (issue 22), through one-way payment channels.
//!
//! - **Services** ([`masp_primitives::egress::Service`]): a channel is for
//!   `Egress` (a host serving; price from [`EgressPrices`]) or `Relay` (a
//!   proxy relaying; price from [`Config::Proxies`], the proxies pallet).
//!   Channels are keyed by `(payer, payee, service)`; the service is part
//!   of every call, event and receipt.
//! - **Prices** ([`Pallet::set_egress_price`]): a registered host states
//!   its price per GiB served (zero: free). Proxies state theirs in the
//!   proxies pallet.
//! - **Channels** ([`Pallet::open_channel`]): a payer holds an allowance
//!   for one payee and service at the payee's current price, which the
//!   channel keeps (a payee cannot raise the price of an open channel).
//!   Opening again tops the allowance up. Each opening gets a fresh channel
//!   id. A relay channel opens (or tops up) only with a proxy that takes
//!   new sessions; the proxies pallet is told of each session and of the
//!   bytes paid, which rate the proxy.
//! - **Receipts** ([`Pallet::redeem`]): as data flows the downloader signs
//!   cumulative byte counts ([`masp_primitives::egress::receipt_payload`]);
//!   the host redeems the latest receipt of each channel, many channels per
//!   call. The chain pays `cost(bytes) - cost(bytes already paid)` out of
//!   the allowance, never more than what is held: a host cannot claim more
//!   than the downloader signed, and an old receipt pays nothing.
//! - **Closing** ([`Pallet::close_channel`], [`Pallet::finish_close`],
//!   [`Pallet::release_channel`]): the downloader closes; the host has
//!   [`Config::ClosePeriod`] blocks to redeem its last receipt, then anyone
//!   returns the rest to the downloader. A host may release a channel at
//!   once. A downloader cannot take back what it signed: the allowance stays
//!   held until the host had its chance.
//!
//! No hook and no queue: closing is finished by a call once its block has
//! passed. Invariant (`try_state`, after every test): each payer's hold
//! equals the allowances left in its channels, of both services.
//!
//! Storage version 1: channels keyed by `(payer, payee, service)` (version
//! 0 keyed them by `(payer, host)`). No live chain ran version 0, so no
//! migration exists; a chain that did would need one moving each channel
//! to `(payer, host, Service::Egress)`.

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
            fungible::{Inspect, Mutate, MutateHold},
            tokens::{Fortitude, Precision, Restriction},
        },
    };
    use frame_system::pallet_prelude::*;
    use masp_primitives::{
        egress::{self, receipt_payload, Service},
        traits::{HostRegistry, ProxyRegistry},
        Balance,
    };
    use sp_runtime::traits::{IdentifyAccount, Saturating, Verify, Zero};

    /// A channel's id (counts up from 0; fresh per opening).
    pub type ChannelId = u64;

    /// A payer's payment channel with one payee for one service.
    #[derive(
        Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
    )]
    pub struct Channel<BlockNumber> {
        /// Named in every receipt of this channel.
        pub id: ChannelId,
        /// Planck per GiB served or relayed, fixed when the channel opened.
        pub price: Balance,
        /// What is still held from the payer for this payee.
        pub held: Balance,
        /// Cumulative bytes already paid for.
        pub bytes_paid: u64,
        /// Paid to the payee so far.
        pub paid: Balance,
        /// Set when the payer closes: from this block the rest can go back
        /// to it.
        pub closes_at: Option<BlockNumber>,
    }

    /// One redeemed receipt: the payer's signature of the cumulative
    /// `bytes` it asked the caller (the host or proxy) for on its channel.
    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
    pub struct Receipt<AccountId, Signature> {
        /// The channel's payer.
        pub payer: AccountId,
        /// Its channel id.
        pub channel: ChannelId,
        /// Cumulative bytes.
        pub bytes: u64,
        /// The payer's signature of
        /// [`masp_primitives::egress::receipt_payload`].
        pub signature: Signature,
    }

    /// Version 1: channels keyed by `(payer, payee, service)`.
    const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

    #[pallet::pallet]
    #[pallet::storage_version(STORAGE_VERSION)]
    pub struct Pallet<T>(_);

    #[pallet::config]
    pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
        /// MASP: allowances are held in it.
        type Currency: Inspect<Self::AccountId, Balance = Balance>
            + Mutate<Self::AccountId>
            + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

        /// The runtime's hold reasons (ours are [`HoldReason`]).
        type RuntimeHoldReason: From<HoldReason>;

        /// Who is a host (only hosts set prices).
        type Hosts: HostRegistry<Self::AccountId>;

        /// The proxies: their relay prices, told of sessions and payments.
        type Proxies: ProxyRegistry<Self::AccountId>;

        /// A receipt's signature (the runtime's `MultiSignature`).
        type Signature: Verify<Signer = Self::Signer> + Parameter;

        /// What signs it: identifies the payer's account.
        type Signer: IdentifyAccount<AccountId = Self::AccountId>;

        /// The least allowance a channel opens with (its record's cost).
        #[pallet::constant]
        type MinAllowance: Get<Balance>;

        /// Blocks a host has to redeem after its downloader closes.
        #[pallet::constant]
        type ClosePeriod: Get<BlockNumberFor<Self>>;

        /// The most receipts one `redeem` takes.
        #[pallet::constant]
        type MaxReceipts: Get<u32>;

        /// Weights of the calls, from the pallet's benchmarks.
        type WeightInfo: WeightInfo;

        /// Signs receipts for the benchmarks.
        #[cfg(feature = "runtime-benchmarks")]
        type BenchmarkHelper: BenchmarkHelper<Self::AccountId, Self::Signature>;
    }

    /// What the benchmarks need from the runtime.
    #[cfg(feature = "runtime-benchmarks")]
    pub trait BenchmarkHelper<AccountId, Signature> {
        /// A fresh account (the `n`th) that can sign.
        fn signer(n: u32) -> AccountId;
        /// `who`'s signature of `message`.
        fn sign(who: &AccountId, message: &[u8]) -> Signature;
        /// Makes `who` a registered host.
        fn make_host(who: &AccountId);
        /// Makes `who` a registered proxy taking sessions at `price` per
        /// GiB relayed.
        fn make_proxy(who: &AccountId, price: Balance);
    }

    /// Why this pallet holds MASP.
    #[pallet::composite_enum]
    pub enum HoldReason {
        /// A payer's allowances for hosts and proxies.
        #[codec(index = 0)]
        Allowance,
    }

    /// Each host's price per GiB served (planck).
    #[pallet::storage]
    pub type EgressPrices<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, Balance>;

    /// Channels: `(payer, payee, service) -> channel`.
    #[pallet::storage]
    pub type Channels<T: Config> = StorageNMap<
        _,
        (
            NMapKey<Blake2_128Concat, T::AccountId>,
            NMapKey<Blake2_128Concat, T::AccountId>,
            NMapKey<Twox64Concat, Service>,
        ),
        Channel<BlockNumberFor<T>>,
    >;

    /// The next channel's id.
    #[pallet::storage]
    pub type NextChannelId<T: Config> = StorageValue<_, ChannelId, ValueQuery>;

    #[pallet::event]
    #[pallet::generate_deposit(pub(super) fn deposit_event)]
    pub enum Event<T: Config> {
        /// `host` charges `price` planck per GiB served.
        EgressPriceSet { host: T::AccountId, price: Balance },
        /// `payer` holds `held` for `payee`'s `service` on channel `channel`
        /// at `price`.
        ChannelOpened {
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
            channel: ChannelId,
            price: Balance,
            held: Balance,
        },
        /// `payee` was paid `amount` for `bytes` (cumulative) served or
        /// relayed to `payer` on channel `channel`.
        Redeemed {
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
            channel: ChannelId,
            bytes: u64,
            amount: Balance,
        },
        /// `payer` closed its `service` channel with `payee`; the rest
        /// returns from block `at`.
        ChannelClosing {
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
            at: BlockNumberFor<T>,
        },
        /// Channel `channel` is gone; `refunded` went back to `payer`.
        ChannelClosed {
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
            channel: ChannelId,
            refunded: Balance,
        },
    }

    #[pallet::error]
    pub enum Error<T> {
        /// Only registered hosts set an egress price.
        NotAHost,
        /// The host has no egress price.
        NoEgressPrice,
        /// The payee is not a proxy taking new sessions (unregistered,
        /// deregistering or slashed below its deposit).
        NotARelay,
        /// The payee's price is above the caller's `max_price`.
        PriceAboveMax,
        /// A channel opens with at least `MinAllowance`.
        AllowanceTooSmall,
        /// The caller cannot hold that much.
        InsufficientFunds,
        /// No such channel.
        UnknownChannel,
        /// The channel is closing: it takes no more allowance.
        ChannelClosing,
        /// The channel is not closing.
        NotClosing,
        /// The close period has not passed yet.
        TooEarly,
        /// A receipt names another (older) channel.
        WrongChannel,
        /// A receipt's signature is not the payer's.
        BadSignature,
        /// A receipt counts no more bytes than were paid for already.
        NothingNew,
        /// A payer appears twice in one batch.
        DuplicatePayer,
        /// An amount does not fit its type.
        Overflow,
    }

    #[pallet::hooks]
    impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
        fn integrity_test() {
            assert!(!T::ClosePeriod::get().is_zero(), "ClosePeriod must be > 0");
            assert!(T::MaxReceipts::get() > 0, "MaxReceipts must be > 0");
            assert!(
                !T::MinAllowance::get().is_zero(),
                "MinAllowance must be > 0 (it pays for the record)"
            );
        }

        #[cfg(feature = "try-runtime")]
        fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
            Self::do_try_state()
        }
    }

    #[pallet::call]
    impl<T: Config> Pallet<T> {
        /// Sets the caller's price per GiB served (a registered host only;
        /// zero serves for free). Open channels keep the price they opened
        /// at.
        #[pallet::call_index(0)]
        #[pallet::weight(T::WeightInfo::set_egress_price())]
        pub fn set_egress_price(origin: OriginFor<T>, price: Balance) -> DispatchResult {
            let host = ensure_signed(origin)?;
            ensure!(T::Hosts::is_host(&host), Error::<T>::NotAHost);
            EgressPrices::<T>::insert(&host, price);
            Self::deposit_event(Event::EgressPriceSet { host, price });
            Ok(())
        }

        /// Holds `amount` for `payee`'s `service`: opens a channel at the
        /// payee's current price (at most `max_price`), or tops up the open
        /// one. A relay channel needs a proxy taking new sessions, also to
        /// top up.
        #[pallet::call_index(1)]
        #[pallet::weight(T::WeightInfo::open_channel())]
        pub fn open_channel(
            origin: OriginFor<T>,
            payee: T::AccountId,
            service: Service,
            amount: Balance,
            max_price: Balance,
        ) -> DispatchResult {
            let payer = ensure_signed(origin)?;
            let current_price = match service {
                Service::Egress => EgressPrices::<T>::get(&payee).ok_or(Error::<T>::NoEgressPrice),
                Service::Relay => T::Proxies::relay_price(&payee).ok_or(Error::<T>::NotARelay),
            };
            let key = (&payer, &payee, service);
            let (mut channel, new) = match Channels::<T>::get(key) {
                Some(c) => {
                    ensure!(c.closes_at.is_none(), Error::<T>::ChannelClosing);
                    ensure!(c.price <= max_price, Error::<T>::PriceAboveMax);
                    if service == Service::Relay {
                        current_price?;
                    }
                    (c, false)
                }
                None => {
                    let price = current_price?;
                    ensure!(price <= max_price, Error::<T>::PriceAboveMax);
                    ensure!(
                        amount >= T::MinAllowance::get(),
                        Error::<T>::AllowanceTooSmall
                    );
                    let id = NextChannelId::<T>::get();
                    NextChannelId::<T>::put(id.checked_add(1).ok_or(Error::<T>::Overflow)?);
                    let c = Channel {
                        id,
                        price,
                        held: 0,
                        bytes_paid: 0,
                        paid: 0,
                        closes_at: None,
                    };
                    (c, true)
                }
            };
            channel.held = channel
                .held
                .checked_add(amount)
                .ok_or(Error::<T>::Overflow)?;
            T::Currency::hold(&HoldReason::Allowance.into(), &payer, amount)
                .map_err(|_| Error::<T>::InsufficientFunds)?;
            if new && service == Service::Relay {
                T::Proxies::session_opened(&payee, &payer, channel.id);
            }
            Self::deposit_event(Event::ChannelOpened {
                payer: payer.clone(),
                payee: payee.clone(),
                service,
                channel: channel.id,
                price: channel.price,
                held: channel.held,
            });
            Channels::<T>::insert(key, channel);
            Ok(())
        }

        /// Redeems `receipts` of `service` channels (the caller is the
        /// payee; one per payer): each pays the cost of its cumulative bytes
        /// at the channel's price less what was paid before, at most what is
        /// held. Fails, changing nothing, if any receipt is not its payer's
        /// or counts nothing new.
        #[pallet::call_index(2)]
        #[pallet::weight(T::WeightInfo::redeem(receipts.len() as u32))]
        pub fn redeem(
            origin: OriginFor<T>,
            service: Service,
            receipts: BoundedVec<Receipt<T::AccountId, T::Signature>, T::MaxReceipts>,
        ) -> DispatchResult {
            let payee = ensure_signed(origin)?;
            let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
            let payee_bytes = payee.encode();
            let mut relayed: u64 = 0;
            let mut relay_paid: Balance = 0;
            for (i, r) in receipts.iter().enumerate() {
                ensure!(
                    !receipts.iter().take(i).any(|o| o.payer == r.payer),
                    Error::<T>::DuplicatePayer
                );
                let key = (&r.payer, &payee, service);
                let mut c = Channels::<T>::get(key).ok_or(Error::<T>::UnknownChannel)?;
                ensure!(c.id == r.channel, Error::<T>::WrongChannel);
                let payload =
                    receipt_payload(genesis.as_ref(), service, c.id, &payee_bytes, r.bytes);
                ensure!(
                    r.signature.verify(&payload[..], &r.payer),
                    Error::<T>::BadSignature
                );
                // What the count is worth less what was paid: a receipt
                // capped by the allowance before a top-up is collected in
                // full by a later one.
                let due = egress::cost(r.bytes, c.price).ok_or(Error::<T>::Overflow)?;
                ensure!(
                    r.bytes > c.bytes_paid || due > c.paid,
                    Error::<T>::NothingNew
                );
                let amount = due.saturating_sub(c.paid).min(c.held);
                ensure!(
                    !amount.is_zero() || r.bytes > c.bytes_paid,
                    Error::<T>::NothingNew
                );
                if !amount.is_zero() {
                    T::Currency::transfer_on_hold(
                        &HoldReason::Allowance.into(),
                        &r.payer,
                        &payee,
                        amount,
                        Precision::Exact,
                        Restriction::Free,
                        Fortitude::Force,
                    )?;
                }
                let c_id = c.id;
                relayed = relayed.saturating_add(r.bytes.saturating_sub(c.bytes_paid));
                relay_paid = relay_paid.saturating_add(amount);
                c.held = c.held.saturating_sub(amount);
                c.paid = c.paid.saturating_add(amount);
                c.bytes_paid = c.bytes_paid.max(r.bytes);
                Channels::<T>::insert(key, c);
                Self::deposit_event(Event::Redeemed {
                    payer: r.payer.clone(),
                    payee: payee.clone(),
                    service,
                    channel: c_id,
                    bytes: r.bytes,
                    amount,
                });
            }
            if service == Service::Relay {
                T::Proxies::relayed(&payee, relayed, relay_paid);
            }
            Ok(())
        }

        /// Closes the caller's `service` channel with `payee`: after
        /// `ClosePeriod` blocks (the payee's time to redeem) the rest
        /// returns to the caller through [`Pallet::finish_close`].
        #[pallet::call_index(3)]
        #[pallet::weight(T::WeightInfo::close_channel())]
        pub fn close_channel(
            origin: OriginFor<T>,
            payee: T::AccountId,
            service: Service,
        ) -> DispatchResult {
            let payer = ensure_signed(origin)?;
            Channels::<T>::try_mutate((&payer, &payee, service), |c| -> DispatchResult {
                let c = c.as_mut().ok_or(Error::<T>::UnknownChannel)?;
                ensure!(c.closes_at.is_none(), Error::<T>::ChannelClosing);
                let at = frame_system::Pallet::<T>::block_number()
                    .saturating_add(T::ClosePeriod::get().max(1u32.into()));
                c.closes_at = Some(at);
                Self::deposit_event(Event::ChannelClosing {
                    payer: payer.clone(),
                    payee: payee.clone(),
                    service,
                    at,
                });
                Ok(())
            })
        }

        /// Ends a closing channel whose close period has passed (anyone may
        /// call): what is held returns to the payer.
        #[pallet::call_index(4)]
        #[pallet::weight(T::WeightInfo::finish_close())]
        pub fn finish_close(
            origin: OriginFor<T>,
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
        ) -> DispatchResult {
            ensure_signed(origin)?;
            let c =
                Channels::<T>::get((&payer, &payee, service)).ok_or(Error::<T>::UnknownChannel)?;
            let at = c.closes_at.ok_or(Error::<T>::NotClosing)?;
            ensure!(
                frame_system::Pallet::<T>::block_number() >= at,
                Error::<T>::TooEarly
            );
            Self::end(payer, payee, service, c)
        }

        /// Ends `payer`'s `service` channel with the caller (its payee) at
        /// once: what is held returns to the payer. A payee redeems its
        /// last receipt first.
        #[pallet::call_index(5)]
        #[pallet::weight(T::WeightInfo::release_channel())]
        pub fn release_channel(
            origin: OriginFor<T>,
            payer: T::AccountId,
            service: Service,
        ) -> DispatchResult {
            let payee = ensure_signed(origin)?;
            let c =
                Channels::<T>::get((&payer, &payee, service)).ok_or(Error::<T>::UnknownChannel)?;
            Self::end(payer, payee, service, c)
        }
    }

    impl<T: Config> Pallet<T> {
        /// Removes the channel and returns what it holds to the payer.
        fn end(
            payer: T::AccountId,
            payee: T::AccountId,
            service: Service,
            c: Channel<BlockNumberFor<T>>,
        ) -> DispatchResult {
            let refunded = if c.held.is_zero() {
                0
            } else {
                T::Currency::release(
                    &HoldReason::Allowance.into(),
                    &payer,
                    c.held,
                    Precision::Exact,
                )?
            };
            Channels::<T>::remove((&payer, &payee, service));
            if service == Service::Relay {
                T::Proxies::session_ended(&payee, &payer, c.id);
            }
            Self::deposit_event(Event::ChannelClosed {
                payer,
                payee,
                service,
                channel: c.id,
                refunded,
            });
            Ok(())
        }

        /// The pallet's invariant: each payer's hold is what its channels
        /// (of both services) still hold; every channel id was issued.
        /// Always compiled: the runtime's tests run it over real chains'
        /// states (runtime/tests/try_state.rs).
        pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
            use alloc::collections::btree_map::BTreeMap;
            use frame_support::traits::fungible::InspectHold;
            let mut held: BTreeMap<T::AccountId, Balance> = BTreeMap::new();
            let next = NextChannelId::<T>::get();
            for ((payer, _payee, _service), c) in Channels::<T>::iter() {
                ensure!(c.id < next, "a channel id not yet issued");
                ensure!(
                    masp_primitives::egress::cost(c.bytes_paid, c.price)
                        .is_some_and(|d| c.paid <= d),
                    "a channel paid more than its count is worth"
                );
                let h = held.entry(payer).or_default();
                *h = h.saturating_add(c.held);
            }
            for (who, amount) in held {
                ensure!(
                    T::Currency::balance_on_hold(&HoldReason::Allowance.into(), &who) == amount,
                    "allowance hold != what the payer's channels hold"
                );
            }
            Ok(())
        }
    }
}
