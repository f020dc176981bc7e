//! Governance rules, against the real runtime (the `local_testnet` preset: no
//! sudo, a council of Alice, Bob and Charlie):
//! - two thirds of the council act as root, through one motion that
//!   whitelists a call and dispatches it (a runtime upgrade is authorised
//!   this way);
//! - one member alone, or a motion with one vote, cannot;
//! - nobody else can: a signed account is refused by every root path;
//! - the council manages collators and the token sale.

mod common;

use codec::Encode;
use common::*;
use frame_support::{assert_noop, assert_ok, dispatch::GetDispatchInfo};
use masp_runtime::{
    AccountId, Council, Runtime, RuntimeCall, RuntimeEvent, RuntimeOrigin, System, Whitelist,
};
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};
use sp_runtime::{traits::Hash, DispatchError};

fn signed(k: sp_keyring::Sr25519Keyring) -> RuntimeOrigin {
    RuntimeOrigin::signed(account(k))
}

/// The council motion that runs `call` as root: whitelist its hash and
/// dispatch it, in one batch.
fn as_root(call: RuntimeCall) -> RuntimeCall {
    let hash = <Runtime as frame_system::Config>::Hashing::hash_of(&call);
    RuntimeCall::Utility(pallet_utility::Call::batch_all {
        calls: vec![
            RuntimeCall::Whitelist(pallet_whitelist::Call::whitelist_call { call_hash: hash }),
            RuntimeCall::Whitelist(
                pallet_whitelist::Call::dispatch_whitelisted_call_with_preimage {
                    call: Box::new(call),
                },
            ),
        ],
    })
}

/// Proposes `motion` (as Alice, threshold `threshold`), has `ayes` vote for it
/// and closes it. Returns the events of the close.
fn motion(
    motion: RuntimeCall,
    threshold: u32,
    ayes: &[sp_keyring::Sr25519Keyring],
) -> Vec<RuntimeEvent> {
    let len = motion.encoded_size() as u32;
    let weight = motion.get_dispatch_info().call_weight;
    let hash = <Runtime as frame_system::Config>::Hashing::hash_of(&motion);
    assert_ok!(Council::propose(
        signed(Alice),
        threshold,
        Box::new(motion),
        len
    ));
    let index =
        pallet_collective::ProposalCount::<Runtime, pallet_collective::Instance1>::get() - 1;
    for k in ayes {
        assert_ok!(Council::vote(signed(*k), hash, index, true));
    }
    System::reset_events();
    assert_ok!(Council::close(signed(Dave), hash, index, weight, len));
    System::events().into_iter().map(|e| e.event).collect()
}

fn executed_ok(events: &[RuntimeEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            RuntimeEvent::Council(pallet_collective::Event::Executed { result: Ok(()), .. })
        )
    })
}

#[test]
fn two_thirds_of_the_council_authorise_a_runtime_upgrade() {
    ext("local_testnet").execute_with(|| {
        let code_hash = sp_core::H256::repeat_byte(7);
        let upgrade = RuntimeCall::System(frame_system::Call::authorize_upgrade { code_hash });
        let events = motion(as_root(upgrade), 2, &[Alice, Bob]);
        assert!(executed_ok(&events), "{events:?}");
        assert!(events.iter().any(|e| matches!(
            e,
            RuntimeEvent::System(frame_system::Event::UpgradeAuthorized { code_hash: h, .. }) if *h == code_hash
        )));
        assert_eq!(
            System::authorized_upgrade().map(|a| *a.code_hash()),
            Some(code_hash)
        );
    });
}

#[test]
fn one_member_alone_cannot_act_as_root() {
    ext("local_testnet").execute_with(|| {
        let code_hash = sp_core::H256::repeat_byte(8);
        let upgrade = RuntimeCall::System(frame_system::Call::authorize_upgrade { code_hash });
        // A motion with threshold 1 executes at once with one member's
        // origin: not two thirds, so the whitelist refuses it.
        let m = as_root(upgrade.clone());
        let len = m.encoded_size() as u32;
        System::reset_events();
        assert_ok!(Council::propose(signed(Alice), 1, Box::new(m), len));
        let events: Vec<RuntimeEvent> = System::events().into_iter().map(|e| e.event).collect();
        assert!(!executed_ok(&events), "{events:?}");
        assert!(System::authorized_upgrade().is_none());
        // Two ayes but only one of them... a motion voted by Alice alone
        // (threshold 2) cannot be closed as passed before its time.
        let m = as_root(upgrade);
        let len = m.encoded_size() as u32;
        let weight = m.get_dispatch_info().call_weight;
        let hash = <Runtime as frame_system::Config>::Hashing::hash_of(&m);
        assert_ok!(Council::propose(signed(Alice), 2, Box::new(m), len));
        let index =
            pallet_collective::ProposalCount::<Runtime, pallet_collective::Instance1>::get() - 1;
        assert_noop!(
            Council::close(signed(Dave), hash, index, weight, len),
            pallet_collective::Error::<Runtime, pallet_collective::Instance1>::TooEarly
        );
        assert!(System::authorized_upgrade().is_none());
    });
}

#[test]
fn no_signed_account_reaches_root() {
    ext("local_testnet").execute_with(|| {
        let code_hash = sp_core::H256::repeat_byte(9);
        let upgrade = RuntimeCall::System(frame_system::Call::authorize_upgrade { code_hash });
        let hash = <Runtime as frame_system::Config>::Hashing::hash_of(&upgrade);
        // A council member outside a motion, and an outsider.
        for who in [Alice, Dave] {
            assert_noop!(
                Whitelist::whitelist_call(signed(who), hash),
                DispatchError::BadOrigin
            );
            // A signed account may only relay a dispatch the council itself
            // deferred; there is none.
            assert_noop!(
                Whitelist::dispatch_whitelisted_call_with_preimage(
                    signed(who),
                    Box::new(upgrade.clone())
                ),
                pallet_whitelist::Error::<Runtime>::DeferredDispatchNotFound
            );
            assert_noop!(
                masp_runtime::System::authorize_upgrade(signed(who), code_hash),
                DispatchError::BadOrigin
            );
        }
        // No sudo key on this chain.
        assert_noop!(
            masp_runtime::Sudo::sudo(signed(Alice), Box::new(upgrade)),
            pallet_sudo::Error::<Runtime>::RequireSudo
        );
        // An outsider cannot propose.
        assert_noop!(
            Council::propose(
                signed(Dave),
                2,
                Box::new(RuntimeCall::System(frame_system::Call::remark {
                    remark: vec![]
                })),
                100
            ),
            pallet_collective::Error::<Runtime, pallet_collective::Instance1>::NotMember
        );
    });
}

#[test]
fn the_council_manages_collators_and_its_own_membership() {
    ext("local_testnet").execute_with(|| {
        let dave: AccountId = account(Dave);
        // Collators: two thirds set the candidacy bond, directly (no root needed).
        let bond =
            RuntimeCall::CollatorSelection(pallet_collator_selection::Call::set_candidacy_bond {
                bond: 42 * masp_runtime::UNIT,
            });
        assert!(executed_ok(&motion(bond, 2, &[Alice, Bob])));
        assert_eq!(
            pallet_collator_selection::CandidacyBond::<Runtime>::get(),
            42 * masp_runtime::UNIT
        );
        // Membership: Dave joins the council.
        let add = RuntimeCall::CouncilMembership(pallet_membership::Call::add_member {
            who: dave.clone().into(),
        });
        assert!(executed_ok(&motion(add, 2, &[Alice, Charlie])));
        assert!(
            pallet_collective::Members::<Runtime, pallet_collective::Instance1>::get()
                .contains(&dave)
        );
        // A signed member cannot add itself.
        assert_noop!(
            masp_runtime::CouncilMembership::add_member(signed(Bob), account(Bob).into()),
            DispatchError::BadOrigin
        );
    });
}
