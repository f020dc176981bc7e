//! Genesis presets of the MASP runtime.
//!
//! - `development` (`--dev`, chain id `dev`): Alice collates alone, the well-known
//!   dev accounts (Alice..Ferdie and their stashes) hold [`DEV_ENDOWMENT`] each,
//!   and Alice is the sudo key. The only preset with sudo. The council and the
//!   sale's attesters are Alice, Bob and Charlie. The token sale starts at block
//!   1 with days of [`DEV_SALE_DAY_LENGTH`] blocks, so a whole 42-day sale runs in
//!   minutes (a chain spec made from this preset may set another
//!   `tokenSale.schedule`).
//! - `local_testnet` (chain id `local`, the relay network of `scripts/relaynet`):
//!   Alice and Bob collate (zombienet puts its own collators in their place), the
//!   dev accounts are endowed so the council can pay its fees, **no sudo**: the
//!   council (Alice, Bob, Charlie; two thirds pass a motion) governs, and root
//!   is reached through its whitelist or the relay chain. No sale is scheduled
//!   (the council schedules it).
//! - `live` (chain id `live`): the template of a real deployment: no endowment
//!   (only the storage market's slash pot holds the existential deposit, in
//!   every preset), no sudo, no sale, and an EMPTY council and attester set:
//!   a deployer fills `councilMembership.members`, `attesterMembership.members`,
//!   the collators (`collatorSelection.invulnerables`, `session.keys`) in the
//!   chain spec before launch; until a council exists the relay chain's
//!   governance is the only root. MASP enters circulation only through the
//!   token sale.

use alloc::{vec, vec::Vec};

use cumulus_primitives_core::ParaId;
use frame_support::build_struct_json_patch;
use sp_genesis_builder::PresetId;
use sp_keyring::Sr25519Keyring;

use pallet_token_sale::SaleSchedule;

use crate::{
    configs::{collators::CandidacyBond, market::SlashPot},
    AccountId, AttesterMembershipConfig, AuraId, Balance, BalancesConfig, BlockNumber,
    CollatorSelectionConfig, CouncilMembershipConfig, ParachainInfoConfig, PolkadotXcmConfig,
    RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig, TokenSaleConfig,
    EXISTENTIAL_DEPOSIT, UNIT,
};

/// The parachain id of MASP on a local relay network (2000 is the first id a
/// relay chain hands out to a non-system parachain).
pub const PARACHAIN_ID: u32 = 2000;

/// What each well-known dev account holds on the development chain: 1,000,000 MASP.
pub const DEV_ENDOWMENT: Balance = 1_000_000 * UNIT;

/// Blocks per token sale day on the development chain: the 42-day sale lasts
/// 420 blocks (42 minutes at 6 s blocks).
pub const DEV_SALE_DAY_LENGTH: BlockNumber = 10;

/// XCM version assumed for peers that have not told us theirs.
const SAFE_XCM_VERSION: u32 = xcm::prelude::XCM_VERSION;

/// The name of the `live` preset.
pub const LIVE_PRESET: &str = "live";

/// Who governs a chain from genesis.
struct Governance {
    /// Council members (two thirds pass a motion).
    council: Vec<AccountId>,
    /// The token sale's attesters.
    attesters: Vec<AccountId>,
    /// The sudo key (the development chain only).
    sudo: Option<AccountId>,
}

impl Governance {
    /// Alice, Bob and Charlie on the council and attesting, and `sudo`.
    fn dev(sudo: Option<AccountId>) -> Self {
        let three: Vec<AccountId> = [
            Sr25519Keyring::Alice,
            Sr25519Keyring::Bob,
            Sr25519Keyring::Charlie,
        ]
        .into_iter()
        .map(|k| k.to_account_id())
        .collect();
        Self {
            council: three.clone(),
            attesters: three,
            sudo,
        }
    }
}

fn genesis(
    invulnerables: Vec<(AccountId, AuraId)>,
    endowed_accounts: Vec<AccountId>,
    governance: Governance,
    sale: Option<SaleSchedule<BlockNumber>>,
    id: ParaId,
) -> serde_json::Value {
    let Governance {
        council,
        attesters,
        sudo,
    } = governance;
    build_struct_json_patch!(RuntimeGenesisConfig {
        balances: BalancesConfig {
            balances: endowed_accounts
                .into_iter()
                .map(|k| (k, DEV_ENDOWMENT))
                // The slash pot exists from genesis, so a slash remainder
                // below the existential deposit is never burned.
                .chain([(SlashPot::get(), EXISTENTIAL_DEPOSIT)])
                .collect(),
        },
        parachain_info: ParachainInfoConfig { parachain_id: id },
        collator_selection: CollatorSelectionConfig {
            invulnerables: invulnerables.iter().map(|(acc, _)| acc.clone()).collect(),
            candidacy_bond: CandidacyBond::get(),
        },
        session: SessionConfig {
            keys: invulnerables
                .into_iter()
                .map(|(acc, aura)| (acc.clone(), acc, SessionKeys { aura }))
                .collect(),
        },
        polkadot_xcm: PolkadotXcmConfig {
            safe_xcm_version: Some(SAFE_XCM_VERSION)
        },
        sudo: SudoConfig { key: sudo },
        council_membership: CouncilMembershipConfig {
            members: council.try_into().expect("at most CouncilMaxMembers"),
        },
        attester_membership: AttesterMembershipConfig {
            members: attesters.try_into().expect("at most MaxAttesters"),
        },
        token_sale: TokenSaleConfig {
            schedule: sale,
            // Two attesters must agree on a payment for it to count.
            attest_threshold: 2,
        },
    })
}

fn collator(k: Sr25519Keyring) -> (AccountId, AuraId) {
    (k.to_account_id(), k.public().into())
}

/// The `development` preset: one collator (Alice), endowed dev accounts, sudo,
/// a token sale running from block 1.
pub fn development_config_genesis() -> serde_json::Value {
    genesis(
        vec![collator(Sr25519Keyring::Alice)],
        Sr25519Keyring::well_known()
            .map(|k| k.to_account_id())
            .collect(),
        Governance::dev(Some(Sr25519Keyring::Alice.to_account_id())),
        Some(SaleSchedule {
            start: 1,
            day_length: DEV_SALE_DAY_LENGTH,
        }),
        PARACHAIN_ID.into(),
    )
}

/// The `local_testnet` preset: two collators (Alice, Bob), endowed dev
/// accounts, the council of Alice, Bob and Charlie, no sudo.
pub fn local_testnet_genesis() -> serde_json::Value {
    genesis(
        vec![
            collator(Sr25519Keyring::Alice),
            collator(Sr25519Keyring::Bob),
        ],
        Sr25519Keyring::well_known()
            .map(|k| k.to_account_id())
            .collect(),
        Governance::dev(None),
        None,
        PARACHAIN_ID.into(),
    )
}

/// The `live` preset: a template with no endowment, no sudo, no sale and an
/// empty council and attester set (see the module docs).
pub fn live_genesis() -> serde_json::Value {
    genesis(
        Vec::new(),
        Vec::new(),
        Governance {
            council: Vec::new(),
            attesters: Vec::new(),
            sudo: None,
        },
        None,
        PARACHAIN_ID.into(),
    )
}

/// Returns the JSON patch of a named preset, `None` for an unknown name.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
    let patch = match id.as_ref() {
        sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
        sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_testnet_genesis(),
        LIVE_PRESET => live_genesis(),
        _ => return None,
    };
    Some(
        serde_json::to_string(&patch)
            .expect("serialization to json is expected to work. qed.")
            .into_bytes(),
    )
}

/// The names of the presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
    vec![
        PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
        PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
        PresetId::from(LIVE_PRESET),
    ]
}
