//! A test runtime: frame-system and the relay randomness pallet, with the
//! parent-hash source as the fallback, and relay state proofs built by
//! cumulus' test proof builder.

use crate as pallet_relay_randomness;
use cumulus_pallet_parachain_system::relay_state_snapshot::RelayChainStateProof;
use cumulus_primitives_core::{relay_chain, ParaId};
use cumulus_test_relay_sproof_builder::RelayStateSproofBuilder;
use frame_support::derive_impl;
use sp_core::H256;
use sp_runtime::{traits::Hash as _, BuildStorage};

type Block = frame_system::mocking::MockBlock<Test>;

#[frame_support::runtime]
mod runtime {
    #[runtime::runtime]
    #[runtime::derive(
        RuntimeCall,
        RuntimeEvent,
        RuntimeError,
        RuntimeOrigin,
        RuntimeFreezeReason,
        RuntimeHoldReason,
        RuntimeSlashReason,
        RuntimeLockId,
        RuntimeTask,
        RuntimeViewFunction
    )]
    pub struct Test;

    #[runtime::pallet_index(0)]
    pub type System = frame_system;
    #[runtime::pallet_index(1)]
    pub type RelayRandomness = pallet_relay_randomness;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
    type Block = Block;
}

/// The fallback: the parent hash mixed with the subject (as the dev
/// chain's old source).
pub struct ParentHash;

impl frame_support::traits::Randomness<H256, u64> for ParentHash {
    fn random(subject: &[u8]) -> (H256, u64) {
        let mut m = subject.to_vec();
        m.extend_from_slice(System::parent_hash().as_ref());
        (
            sp_runtime::traits::BlakeTwo256::hash(&m),
            System::block_number().saturating_sub(1),
        )
    }
}

impl pallet_relay_randomness::Config for Test {
    type Fallback = ParentHash;
    type WeightInfo = ();
}

/// The para id the proofs are made for.
pub const PARA: u32 = 2000;

/// A verified relay state proof whose relay parent's VRF output
/// (`CURRENT_BLOCK_RANDOMNESS`) is `randomness` (`None`: the relay block has
/// none, as the relay chain's genesis).
pub fn proof(randomness: Option<H256>) -> RelayChainStateProof {
    use codec::Encode;
    let b = RelayStateSproofBuilder {
        para_id: ParaId::from(PARA),
        additional_key_values: vec![(
            relay_chain::well_known_keys::CURRENT_BLOCK_RANDOMNESS.to_vec(),
            randomness.map(|r| r.0).encode(),
        )],
        ..Default::default()
    };
    let (root, proof) = b.into_state_root_and_proof();
    RelayChainStateProof::new(ParaId::from(PARA), root, proof).unwrap()
}

/// A verified proof as the dev chain's mock makes it: cumulus' builder
/// defaults, with no `CURRENT_BLOCK_RANDOMNESS` at all (proven absent).
pub fn dev_proof() -> RelayChainStateProof {
    let (root, proof) = RelayStateSproofBuilder {
        para_id: ParaId::from(PARA),
        randomness: H256::repeat_byte(0x42),
        ..Default::default()
    }
    .into_state_root_and_proof();
    RelayChainStateProof::new(ParaId::from(PARA), root, proof).unwrap()
}

/// A verified proof whose author left the randomness key's trie nodes out
/// (it proves only the host configuration).
pub fn without_randomness() -> RelayChainStateProof {
    use codec::Encode;
    use sp_state_machine::{prove_read, TrieBackendBuilder};
    let b = RelayStateSproofBuilder {
        para_id: ParaId::from(PARA),
        additional_key_values: vec![(
            relay_chain::well_known_keys::CURRENT_BLOCK_RANDOMNESS.to_vec(),
            Some([9u8; 32]).encode(),
        )],
        ..Default::default()
    };
    // Prove a key that is there (the host configuration) and nothing else.
    let (root, full) = b.into_state_root_and_proof();
    let db = full.into_memory_db::<sp_runtime::traits::BlakeTwo256>();
    let backend = TrieBackendBuilder::new(db, root).build();
    let only = prove_read(backend, [relay_chain::well_known_keys::ACTIVE_CONFIG]).unwrap();
    RelayChainStateProof::new(ParaId::from(PARA), root, only).unwrap()
}

pub fn new_test_ext() -> sp_io::TestExternalities {
    let storage = frame_system::GenesisConfig::<Test>::default()
        .build_storage()
        .unwrap();
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| System::set_block_number(1));
    ext
}

/// Runs `test` and the pallet's invariants after it.
pub fn run(test: impl FnOnce()) {
    new_test_ext().execute_with(|| {
        test();
        crate::Pallet::<Test>::do_try_state().unwrap();
    });
}
