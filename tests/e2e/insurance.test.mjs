// Insurance on a real dev chain, through @polkadot/api with no custom types.
//
// An insurer locks capital and offers cover; a Sender buys cover for its
// contract before the term starts; the host never proves, so after six
// missed epochs the data counts as lost: the host's slashes pay the Sender
// first and the insurer pays the rest of the cover from its capital, then
// recovers what the host's deposit still backing the contract yields.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';

const UNIT = 10n ** 12n;
// Blocks, set through sudo before any contract exists: long enough that the
// cover below is bought before the contract's first epoch, so it covers the
// whole term (cover bought later waits MaxConsecutiveMisses epochs).
const EPOCH = 8;
const MISSES = 6; // the runtime's MaxConsecutiveMisses

let node;
let keyring;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
});

after(async () => { if (node) await node.stop(); });

test('a Sender with cover is made whole up to the cover when its host loses the data', { timeout: 300_000 }, async () => {
  const { api } = node;
  const [alice, charlie, dave, eve, ferdie] = ['//Alice', '//Charlie', '//Dave', '//Eve', '//Ferdie'].map((u) => keyring.addFromUri(u));
  const best = async () => (await api.rpc.chain.getHeader()).number.toNumber();
  const advanceTo = async (n) => { while (await best() < n) await submit(api, api.tx.system.remark('0x00'), ferdie); };
  const free = async (who) => (await api.query.system.account(who.address)).data.free.toBigInt();

  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), u8aToHex(api.createType('u32', EPOCH).toU8a())]])), alice);

  // Eve insures: 200 MASP of capital, a premium of 1% of the cover per
  // epoch (a Perbill: parts per billion), up to 50 MASP a contract.
  const PREMIUM = 10_000_000; // 1%
  await submit(api, api.tx.insurance.depositCapital(200n * UNIT), eve);
  await submit(api, api.tx.insurance.setOffer(PREMIUM, 50n * UNIT, 0), eve);
  // Bad input changes nothing and says why.
  await assert.rejects(submit(api, api.tx.insurance.withdrawCapital(300n * UNIT), eve), /insurance.InsufficientCapital/);

  // Charlie hosts; Dave stores a 40 GiB file for 20 epochs, which Charlie's
  // deposit backs with 40 MASP (1 MASP per GiB).
  await submit(api, api.tx.storageMarket.registerHost('https://charlie.example', 'EU', 1n << 40n, u8aToHex(charlie.publicKey)), charlie);
  await submit(api, api.tx.deposits.deposit(1000n * UNIT), charlie);
  await submit(api, api.tx.storageMarket.postOffer(UNIT / 1000n, 64n << 30n, 1, 100), charlie);
  const size = 40n << 30n;
  const placed = await submit(api, api.tx.storageMarket.placeRequest(size, u8aToHex(new Uint8Array(32).fill(5)), size / 512n, 1, 20, UNIT, 0), dave);
  const created = placed.events.find(({ event }) => event.section === 'storageMarket' && event.method === 'ContractCreated');
  const contract = created.event.data[0].toNumber();
  await submit(api, api.tx.storageMarket.confirmStored(contract), charlie);

  // Too much cover for the offer; then 40 MASP of cover, premium held.
  await assert.rejects(submit(api, api.tx.insurance.buyCover(contract, eve.address, 51n * UNIT, PREMIUM), dave), /insurance.CoverTooLarge/);
  // A premium above what the Sender accepts is refused.
  await assert.rejects(submit(api, api.tx.insurance.buyCover(contract, eve.address, 40n * UNIT, PREMIUM - 1), dave), /insurance.PremiumTooHigh/);
  await submit(api, api.tx.insurance.buyCover(contract, eve.address, 40n * UNIT, PREMIUM), dave);
  const cover = (await api.query.insurance.covers(contract)).unwrap();
  assert.equal(cover.amount.toBigInt(), 40n * UNIT);
  const insurer = (await api.query.insurance.insurers(eve.address)).unwrap();
  assert.equal(insurer.committed.toBigInt(), 40n * UNIT);
  // The premium for the rest of the term (1% of the cover a epoch, from the
  // epoch the cover starts to the contract's last) is held at purchase.
  const coveredEpochs = BigInt(cover.last.toNumber() - cover.start.toNumber() + 1);
  assert.equal(coveredEpochs, 20n, 'bought before the term starts, the cover runs the whole term');
  assert.equal(cover.epochPremium.toBigInt(), 40n * UNIT / 100n, '1% of the cover a epoch');
  assert.equal(cover.held.toBigInt(), coveredEpochs * (40n * UNIT / 100n), 'the premium for the covered epochs is held');

  // Charlie never proves: six missed epochs and the data is lost.
  const daveBefore = await free(dave);
  const eveBefore = await free(eve);
  const first = cover.start.toNumber();
  await advanceTo((first + MISSES) * EPOCH + 1);
  assert.ok((await api.query.storageMarket.contracts(contract)).isNone, 'the contract ended');
  assert.ok((await api.query.insurance.covers(contract)).isNone, 'the cover ended');

  // Dave got the whole cover (slashes + claim) and his unspent escrow (under
  // 1 MASP); the premium, held at purchase, went to Eve.
  const gained = (await free(dave)) - daveBefore;
  assert.ok(gained >= 40n * UNIT && gained <= 41n * UNIT, `Dave gained ${gained}`);
  // Eve's capital paid the claim (less the slashes Dave already had); she
  // recovered some of it from Charlie's deposit and earned premium.
  const capital = (await api.query.insurance.insurers(eve.address)).unwrap();
  assert.equal(capital.committed.toBigInt(), 0n);
  const paid = 200n * UNIT - capital.capital.toBigInt();
  assert.ok(paid > 0n && paid <= 40n * UNIT, `Eve paid ${paid}`);
  assert.ok((await free(eve)) > eveBefore, 'Eve recovered from the host and earned premium');

  // The loss shows in Charlie's objective rating (polkadot.js: Runtime calls -> hostRatingApi).
  const rated = (await api.call.hostRatingApi.rating(charlie.address)).toJSON();
  assert.equal(rated.metrics.lost, 1);
  assert.equal(rated.metrics.proofsMissed, MISSES);
});
