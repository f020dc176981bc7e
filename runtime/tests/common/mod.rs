//! Helpers shared by the runtime's integration tests: genesis from the
//! runtime's own presets, blocks with an Aura author, and transactions signed
//! exactly as a wallet signs them.

#![allow(dead_code)]

use codec::Encode;
use frame_support::traits::fungible::Inspect;
use masp_runtime::{
    genesis_config_presets, AccountId, Balance, Balances, Executive, Header, Runtime, RuntimeCall,
    RuntimeGenesisConfig, System, TxExtension, UncheckedExtrinsic,
};
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
    generic::{Era, SignedPayload},
    traits::Header as _,
    BuildStorage, Digest, DigestItem, MultiAddress, MultiSignature,
};

/// Merges a preset's JSON patch into the default genesis config, as the node does.
pub fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

pub fn genesis_config(preset: &str) -> RuntimeGenesisConfig {
    let patch = genesis_config_presets::get_preset(&preset.into())
        .unwrap_or_else(|| panic!("preset {preset} exists"));
    let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
    let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("default");
    merge(&mut config, patch);
    serde_json::from_value(config).expect("the preset patch matches the genesis config")
}

pub fn ext(preset: &str) -> sp_io::TestExternalities {
    let storage = genesis_config(preset)
        .build_storage()
        .expect("genesis builds");
    let mut ext = sp_io::TestExternalities::new(storage);
    ext.execute_with(|| System::set_block_number(1));
    ext
}

pub fn account(k: Sr25519Keyring) -> AccountId {
    k.to_account_id()
}

pub fn free(who: &AccountId) -> Balance {
    Balances::balance(who)
}

/// Starts the next block, authored by the Aura authority of `slot` (Alice:
/// the only collator of the development preset).
pub fn start_block_authored_at(slot: u64) {
    start_block(System::block_number() + 1, slot)
}

/// Starts block `number` authored by the Aura authority of `slot`.
pub fn start_block(number: u32, slot: u64) {
    let digest = Digest {
        logs: vec![DigestItem::PreRuntime(
            AURA_ENGINE_ID,
            Slot::from(slot).encode(),
        )],
    };
    let header = Header::new(
        number,
        Default::default(),
        Default::default(),
        System::parent_hash(),
        digest,
    );
    Executive::initialize_block(&header);
}

pub fn tx_extension(nonce: u32, tip: Balance) -> TxExtension {
    (
        frame_system::AuthorizeCall::<Runtime>::new(),
        frame_system::CheckNonZeroSender::<Runtime>::new(),
        frame_system::CheckSpecVersion::<Runtime>::new(),
        frame_system::CheckTxVersion::<Runtime>::new(),
        frame_system::CheckGenesis::<Runtime>::new(),
        frame_system::CheckEra::<Runtime>::from(Era::Immortal),
        frame_system::CheckNonce::<Runtime>::from(nonce),
        frame_system::CheckWeight::<Runtime>::new(),
        pallet_skip_feeless_payment::SkipCheckIfFeeless::from(
            pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(tip),
        ),
        frame_metadata_hash_extension::CheckMetadataHash::<Runtime>::new(false),
    )
        .into()
}

/// A transaction signed by `signer` exactly as a wallet signs it.
pub fn signed(signer: Sr25519Keyring, call: RuntimeCall, tip: Balance) -> UncheckedExtrinsic {
    signed_by(&signer.pair(), call, tip)
}

/// A transaction signed by any sr25519 key pair.
pub fn signed_by(
    pair: &sp_core::sr25519::Pair,
    call: RuntimeCall,
    tip: Balance,
) -> UncheckedExtrinsic {
    use sp_core::Pair;
    let who: AccountId = pair.public().into();
    let ext = tx_extension(System::account_nonce(&who), tip);
    let payload = SignedPayload::new(call.clone(), ext.clone()).expect("implicit data available");
    let signature = payload.using_encoded(|bytes| pair.sign(bytes));
    UncheckedExtrinsic::new_signed(
        call,
        MultiAddress::Id(who),
        MultiSignature::Sr25519(signature),
        ext,
    )
}
