//! What the market stores, and how the order book is keyed.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::Get, BoundedVec};
use masp_primitives::{
    market::{ContractId, EpochIndex, OfferId, Rating, RequestId},
    traits::ContractEnd,
    Balance,
};
use scale_info::TypeInfo;

/// A key of the order book: 24 bytes compared byte by byte.
///
/// Storage maps with the `Identity` hasher iterate in key order, and SCALE
/// writes integers little-endian, so keys are big-endian byte arrays: the
/// price first (16 bytes), then a book sequence number (8 bytes) that orders
/// equal prices by time of entry.
pub type BookKey = [u8; 24];

/// An offer's key: cheapest first, then earliest.
pub fn offer_key(price: Balance, seq: u64) -> BookKey {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&price.to_be_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The price in an offer's key.
pub fn offer_key_price(key: &BookKey) -> Balance {
    let mut price = [0u8; 16];
    price.copy_from_slice(&key[..16]);
    Balance::from_be_bytes(price)
}

/// A request's key: highest bid (max price) first, then earliest. The price
/// is stored inverted (`Balance::MAX - max_price`) so ascending key order is
/// descending price.
pub fn request_key(max_price: Balance, seq: u64) -> BookKey {
    offer_key(Balance::MAX - max_price, seq)
}

/// The max price in a request's key.
pub fn request_key_price(key: &BookKey) -> Balance {
    Balance::MAX - offer_key_price(key)
}

/// The leaf count a contract of `size` bytes must record: the number of
/// 512-byte leaves of its tree, `ceil(size / 512)` ([`masp_proofs::leaf_count`]),
/// if that tree is at most [`masp_proofs::MAX_DEPTH`] levels deep (else no
/// proof of it could be verified). `None` for an empty or too large size.
pub fn expected_leaf_count(size: u64) -> Option<u64> {
    let leaves = masp_proofs::leaf_count(size);
    (1..=1u64 << masp_proofs::MAX_DEPTH)
        .contains(&leaves)
        .then_some(leaves)
}

/// The longest region code.
pub type MaxRegionLen = frame_support::traits::ConstU32<8>;

/// A region code (e.g. `EU`, `US-EAST`): 1 to 8 ASCII letters, digits or `-`.
pub type Region = BoundedVec<u8, MaxRegionLen>;

/// A registered host.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
#[scale_info(skip_type_params(MaxEndpoint))]
#[codec(mel_bound(BlockNumber: MaxEncodedLen))]
pub struct HostInfo<BlockNumber, MaxEndpoint: Get<u32>> {
    /// The daemon's HTTP(S) endpoint.
    pub endpoint: BoundedVec<u8, MaxEndpoint>,
    /// Where the host is.
    pub region: Region,
    /// Disk offered to the market in total, in bytes.
    pub capacity: u64,
    /// Bytes committed to live contracts.
    pub used: u64,
    /// The public key the daemon signs and verifies tickets with.
    pub ticket_key: [u8; 32],
    /// Live contracts (the host can unregister only at zero).
    pub live_contracts: u32,
    /// When the host registered.
    pub registered_at: BlockNumber,
}

/// An offer of a host, resting in the book.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Offer<AccountId, BlockNumber> {
    /// The host selling.
    pub host: AccountId,
    /// Price per GiB per epoch.
    pub price: Balance,
    /// Bytes still for sale under this offer.
    pub capacity: u64,
    /// Shortest contract accepted, in epochs.
    pub min_duration: u32,
    /// Longest contract accepted, in epochs.
    pub max_duration: u32,
    /// Its key in the book.
    pub book_key: BookKey,
    /// The storage deposit held from the host while the offer rests.
    pub deposit: Balance,
    /// When it was posted (or last re-priced).
    pub posted_at: BlockNumber,
}

/// What one replica of a request stores: `size` bytes of ciphertext with
/// Merkle root `merkle_root` over `leaf_count` leaves. A plain request
/// repeats one shard on every replica; a sharded request (an erasure-coded
/// file, or replicas sealed under distinct keys) has one per replica.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
)]
pub struct ShardSpec {
    /// Bytes of ciphertext.
    pub size: u64,
    /// Merkle root of the ciphertext.
    pub merkle_root: [u8; 32],
    /// Leaves in that tree (`masp_proofs::leaf_count(size)`).
    pub leaf_count: u64,
}

/// A Sender's request whose unmatched remainder rests in the book.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
#[scale_info(skip_type_params(MaxReplicas))]
#[codec(mel_bound(AccountId: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct Request<AccountId, BlockNumber, MaxReplicas: Get<u32>> {
    /// Who pays.
    pub sender: AccountId,
    /// What each replica stores, in the order replicas are matched: replica
    /// `i` (the `i`-th host matched) stores `shards[i]`. One entry per
    /// replica, each on a distinct host.
    pub shards: BoundedVec<ShardSpec, MaxReplicas>,
    /// Term of each contract, in epochs.
    pub duration: u32,
    /// Highest price per GiB per epoch the Sender pays.
    pub max_price: Balance,
    /// Lowest host rating accepted.
    pub min_rating: Rating,
    /// Escrow held for the unmatched replicas: each one's whole term at
    /// `max_price` for its shard's size.
    pub escrow: Balance,
    /// Hosts already matched (no host twice).
    pub hosts: BoundedVec<AccountId, MaxReplicas>,
    /// Hosts the Sender will not have (they hold the file's other shards,
    /// or it found them dead).
    pub avoid: BoundedVec<AccountId, MaxReplicas>,
    /// The storage deposit held while the request rests.
    pub deposit: Balance,
    /// Its key in the book.
    pub book_key: BookKey,
    /// When it leaves the book unmatched.
    pub expires_at: BlockNumber,
}

impl<AccountId, BlockNumber, MaxReplicas: Get<u32>> Request<AccountId, BlockNumber, MaxReplicas> {
    /// Replicas wanted.
    pub fn replicas(&self) -> u32 {
        self.shards.len() as u32
    }

    /// Replicas not yet matched.
    pub fn unmatched(&self) -> u32 {
        self.replicas().saturating_sub(self.hosts.len() as u32)
    }

    /// What the next replica to match stores (`None` once every replica
    /// matched).
    pub fn next_shard(&self) -> Option<&ShardSpec> {
        self.shards.get(self.hosts.len())
    }

    /// The shards of the replicas not yet matched.
    pub fn unmatched_shards(&self) -> &[ShardSpec] {
        self.shards.get(self.hosts.len()..).unwrap_or(&[])
    }

    /// The largest shard's size.
    pub fn largest(&self) -> u64 {
        self.shards.iter().map(|s| s.size).max().unwrap_or(0)
    }
}

/// Where a contract is in its life.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
)]
pub enum ContractState {
    /// Matched; the Sender uploads, the host has not confirmed yet.
    AwaitingUpload,
    /// The host confirmed it holds the data; proofs are due each epoch.
    Active,
}

/// One replica of a request on one host.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Contract<AccountId, BlockNumber> {
    /// The request it came from.
    pub request: RequestId,
    /// Who pays.
    pub sender: AccountId,
    /// Who stores.
    pub host: AccountId,
    /// Bytes of ciphertext.
    pub size: u64,
    /// Merkle root of the ciphertext.
    pub merkle_root: [u8; 32],
    /// Leaves in that tree.
    pub leaf_count: u64,
    /// Price per GiB per epoch (the offer's price).
    pub price: Balance,
    /// What one proven epoch pays the host.
    pub epoch_cost: Balance,
    /// First block of the term (an epoch boundary after the match).
    pub start: BlockNumber,
    /// First block after the term.
    pub end: BlockNumber,
    /// First epoch of the term.
    pub first_epoch: EpochIndex,
    /// Last epoch of the term (inclusive).
    pub last_epoch: EpochIndex,
    /// The host must confirm the upload by this block.
    pub upload_deadline: BlockNumber,
    /// Where it is in its life.
    pub state: ContractState,
    /// The Sender's funds still held for it.
    pub escrow: Balance,
    /// Paid to the host so far.
    pub paid: Balance,
    /// The last epoch paid.
    pub last_paid_epoch: Option<EpochIndex>,
}

/// Work due at a block, found without scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub enum DueItem {
    /// A resting request's time in the book is over.
    ExpireRequest(RequestId),
    /// A contract's upload window closes.
    UploadDeadline(ContractId),
    /// A contract's term is over.
    EndContract(ContractId),
}

/// Why a contract ended (in events).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Encode,
    Decode,
    DecodeWithMemTracking,
    MaxEncodedLen,
    TypeInfo,
)]
pub enum EndReason {
    /// Its term ran out.
    Completed,
    /// Its Sender cancelled it.
    Cancelled,
    /// The host did not confirm the upload in time.
    NotConfirmed,
    /// The host lost the data.
    DataLost,
}

impl From<EndReason> for ContractEnd {
    fn from(reason: EndReason) -> Self {
        match reason {
            EndReason::Completed => ContractEnd::Completed,
            EndReason::Cancelled => ContractEnd::Cancelled,
            EndReason::NotConfirmed => ContractEnd::NotConfirmed,
            EndReason::DataLost => ContractEnd::DataLost,
        }
    }
}

/// A host, as the runtime API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct HostView<BlockNumber> {
    /// The daemon's HTTP(S) endpoint.
    pub endpoint: alloc::vec::Vec<u8>,
    /// Where the host is.
    pub region: alloc::vec::Vec<u8>,
    /// Disk offered to the market in total, in bytes.
    pub capacity: u64,
    /// Bytes committed to live contracts.
    pub used: u64,
    /// The public key the daemon signs and verifies tickets with.
    pub ticket_key: [u8; 32],
    /// Live contracts.
    pub live_contracts: u32,
    /// When the host registered.
    pub registered_at: BlockNumber,
    /// Its deposit not backing any contract.
    pub free_deposit: Balance,
    /// Its rating now.
    pub rating: Rating,
}

/// A resting request, as the runtime API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct RequestView<AccountId, BlockNumber> {
    /// Who pays.
    pub sender: AccountId,
    /// What each replica stores, in matching order (see [`Request::shards`]).
    pub shards: alloc::vec::Vec<ShardSpec>,
    /// Hosts matched so far.
    pub hosts: alloc::vec::Vec<AccountId>,
    /// Term of each contract, in epochs.
    pub duration: u32,
    /// Highest price per GiB per epoch.
    pub max_price: Balance,
    /// Lowest host rating accepted.
    pub min_rating: Rating,
    /// Escrow held for the unmatched replicas.
    pub escrow: Balance,
    /// When it leaves the book unmatched.
    pub expires_at: BlockNumber,
}

impl<AccountId: Clone, BlockNumber: Clone, MaxReplicas: Get<u32>>
    From<&Request<AccountId, BlockNumber, MaxReplicas>> for RequestView<AccountId, BlockNumber>
{
    fn from(r: &Request<AccountId, BlockNumber, MaxReplicas>) -> Self {
        Self {
            sender: r.sender.clone(),
            shards: r.shards.to_vec(),
            hosts: r.hosts.to_vec(),
            duration: r.duration,
            max_price: r.max_price,
            min_rating: r.min_rating,
            escrow: r.escrow,
            expires_at: r.expires_at.clone(),
        }
    }
}

/// One replica of a quote: the offer that would take it now.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct QuoteLine<AccountId> {
    /// The offer.
    pub offer: OfferId,
    /// Its host.
    pub host: AccountId,
    /// Price per GiB per epoch.
    pub price: Balance,
    /// What the whole term costs on it.
    pub cost: Balance,
}

/// What a request would cost if placed now.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct Quote<AccountId> {
    /// The offers that would match, cheapest first, one per replica.
    pub lines: alloc::vec::Vec<QuoteLine<AccountId>>,
    /// Their total cost.
    pub total: Balance,
    /// Replicas no current offer would take (they would rest in the book).
    pub unmatched: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_keys_sort_cheapest_then_earliest() {
        let mut keys = [
            offer_key(300, 1),
            offer_key(5, 9),
            offer_key(256, 0),
            offer_key(5, 2),
        ];
        keys.sort();
        assert_eq!(
            keys.iter().map(offer_key_price).collect::<Vec<_>>(),
            [5, 5, 256, 300]
        );
        assert_eq!(keys[0], offer_key(5, 2));
        assert_eq!(offer_key_price(&offer_key(u128::MAX, 3)), u128::MAX);
    }

    #[test]
    fn request_keys_sort_highest_bid_then_earliest() {
        let mut keys = [
            request_key(5, 1),
            request_key(300, 9),
            request_key(300, 4),
            request_key(0, 0),
        ];
        keys.sort();
        assert_eq!(
            keys.iter().map(request_key_price).collect::<Vec<_>>(),
            [300, 300, 5, 0]
        );
        assert_eq!(keys[0], request_key(300, 4));
    }
}
