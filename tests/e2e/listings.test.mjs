// Content distribution on a real dev chain (issue 19, the on-chain half):
// Alice stores a file and lists it for 5 MASP; Receivers buy with a key of
// their own; Alice's side seals the file key to each buyer. Keys are sealed
// and opened here by lib/seal.mjs, an implementation independent of the
// runtime's, so the format is checked across both.
//
// - a paid purchase: the Receiver's price reaches the Sender in full, and
//   the Receiver opens the key with its own secret;
// - the Sender's agent offline: the buyer is refunded after the deadline;
// - a wrong key: the buyer shows it on chain and is made whole, the listing
//   closes; a buyer disputing a right key changes nothing;
// - bad input (buy twice, unknown listing, someone else's file, sold out):
//   a clear error and no change.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { stringCamelCase, u8aToHex, hexToU8a } from '@polkadot/util';
import { cryptoWaitReady, randomAsU8a, xxhashAsHex } from '@polkadot/util-crypto';

import { leafHash } from './lib/merkle.mjs';
import { startDevNode, submit } from './lib/node.mjs';
import { keyCommitment, open, publicKey, purchaseContext, seal } from './lib/seal.mjs';

const UNIT = 10n ** 12n;
const GIB = 1n << 30n;
const PRICE = 5n * UNIT;
const LISTING_DEPOSIT = UNIT / 10n; // the runtime's ListingDeposit
const PURCHASE_DEPOSIT = UNIT / 100n; // the runtime's PurchaseDeposit
const KEY_DEADLINE = 20; // blocks, set below
const DISPUTE_PERIOD = 40;

let node;
let api;
let keyring;
let alice; // sudo, and the Sender
let host;
let filler;

const eventsOf = (result, section, method) =>
  result.events
    .filter(({ event }) => event.section === section && event.method === method)
    .map(({ event }) => Object.fromEntries(event.data.names.map((n, i) => [stringCamelCase(n), event.data[i].toJSON()])));

const best = async () => (await api.rpc.chain.getHeader()).number.toNumber();
const advanceTo = async (n) => { while (await best() < n) await submit(api, api.tx.system.remark('0x00'), filler); };
const free = async (who) => (await api.query.system.account(who.address)).data.free.toBigInt();
const reserved = async (who) => (await api.query.system.account(who.address)).data.reserved.toBigInt();
const setParam = async (key, type, value) =>
  submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(key, 128), u8aToHex(api.createType(type, value).toU8a())]])), alice);

/** A fresh funded account. */
async function account(name) {
  const pair = keyring.addFromUri(`//Listings//${name}`);
  await submit(api, api.tx.balances.transferKeepAlive(pair.address, 1_000n * UNIT), alice);
  return pair;
}

/** A confirmed 1-byte contract of `sender`. */
async function contractOf(sender) {
  const r = await submit(api, api.tx.storageMarket.placeRequest(1, u8aToHex(leafHash(new Uint8Array([1]))), 1, 1, 100, UNIT, 0), sender);
  const { contract } = eventsOf(r, 'storageMarket', 'ContractCreated')[0];
  await submit(api, api.tx.storageMarket.confirmStored(contract), host);
  return contract;
}

/** Alice lists `contracts` committing to `fileKey`. */
async function share(contracts, fileKey, terms = {}) {
  const r = await submit(api, api.tx.listings.share(contracts, 1, u8aToHex(keyCommitment(fileKey)), u8aToHex(new Uint8Array(32).fill(9)),
    { price: PRICE, openKey: null, to: null, expires: null, maxBuyers: null, ...terms }, 'a film'), alice);
  return eventsOf(r, 'listings', 'Shared')[0].listing;
}

/** A buyer with its purchase secret. */
async function buyer(name) {
  const pair = await account(name);
  return { pair, secret: randomAsU8a(32) };
}

const buy = (listing, b) => submit(api, api.tx.listings.buy(listing, u8aToHex(publicKey(b.secret)), PRICE), b.pair);

/** What Alice's agent does: seal `key` to `b`'s purchase key from the chain. */
async function deliver(listing, b, key) {
  const p = (await api.query.listings.purchases(listing, b.pair.address)).unwrap();
  const sealed = seal(key, p.recipient.toU8a(), randomAsU8a(32), purchaseContext(listing, b.pair.publicKey));
  return submit(api, api.tx.listings.deliverKey(listing, b.pair.address,
    { ephemeral: u8aToHex(sealed.ephemeral), ciphertext: u8aToHex(sealed.ciphertext), tag: u8aToHex(sealed.tag) }), alice);
}

/** The key `b` opens from its purchase on chain. */
async function opened(listing, b) {
  const p = (await api.query.listings.purchases(listing, b.pair.address)).unwrap().toJSON();
  const s = p.state.delivered?.sealed ?? p.state.settled?.sealed;
  return s && open({ ephemeral: hexToU8a(s.ephemeral), ciphertext: hexToU8a(s.ciphertext), tag: hexToU8a(s.tag) },
    b.secret, purchaseContext(listing, b.pair.publicKey));
}

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
  api = node.api;
  alice = keyring.addFromUri('//Alice');
  filler = keyring.addFromUri('//Ferdie');
  host = keyring.addFromUri('//Bob');
  await setParam(':ListingKeyDeadline:', 'u32', KEY_DEADLINE);
  await setParam(':ListingDisputePeriod:', 'u32', DISPUTE_PERIOD);
  await submit(api, api.tx.storageMarket.registerHost('https://bob.example', 'EU', 1n << 40n, u8aToHex(host.publicKey)), host);
  await submit(api, api.tx.deposits.deposit(100n * UNIT), host);
  await submit(api, api.tx.storageMarket.postOffer(UNIT, GIB, 1, 1000), host);
});

after(async () => { if (node) await node.stop(); });

test('a paid purchase: the Sender is paid the whole price and the Receiver opens the key with its own secret', { timeout: 300_000 }, async () => {
  const fileKey = randomAsU8a(32);
  const listing = await share([await contractOf(alice)], fileKey);
  const carol = await buyer('carol');
  const [aliceBefore, carolBefore] = [await free(alice), await free(carol.pair)];

  const bought = await buy(listing, carol);
  assert.deepEqual(eventsOf(bought, 'listings', 'Bought')[0], { listing, buyer: carol.pair.address, price: Number(PRICE) });
  assert.equal(await reserved(carol.pair), PRICE + PURCHASE_DEPOSIT, 'the price is in escrow');

  await deliver(listing, carol, fileKey);
  const at = await best();
  assert.deepEqual(await opened(listing, carol), fileKey, 'the runtime kept what lib/seal.mjs sealed, and it opens');
  // What hosts will ask before serving a Receiver.
  assert.equal((await api.call.listingsApi.hasAccess(listing, carol.pair.address)).isTrue, true);
  assert.equal((await api.call.listingsApi.hasAccess(listing, filler.address)).isTrue, false, 'an outsider has no access');
  assert.ok(await free(alice) < aliceBefore + PRICE / 2n, 'not paid during the dispute period');

  await advanceTo(at + DISPUTE_PERIOD + 1);
  const paid = (await free(alice)) - aliceBefore;
  // (Alice also authors the dev chain's blocks, so fees may add to it.)
  assert.ok(paid > PRICE - UNIT / 10n, `the Sender was paid the price, less its own fees (${paid})`);
  assert.ok(await free(carol.pair) <= carolBefore - PRICE - PURCHASE_DEPOSIT);
  const p = (await api.query.listings.purchases(listing, carol.pair.address)).unwrap().toJSON();
  assert.ok(p.state.settled, 'settled');
  assert.equal(BigInt(p.escrow), 0n);
  assert.deepEqual(await opened(listing, carol), fileKey, 'the key stays on chain for later downloads');
});

test('the Sender\'s agent offline: the buyer is refunded in full after the deadline and the Sender gets nothing', { timeout: 300_000 }, async () => {
  const listing = await share([await contractOf(alice)], randomAsU8a(32));
  const dave = await buyer('dave');
  await buy(listing, dave);
  const boughtAt = await best();
  const daveAfterBuy = await free(dave.pair);
  await advanceTo(boughtAt + KEY_DEADLINE + 1);
  assert.equal(await free(dave.pair), daveAfterBuy + PRICE + PURCHASE_DEPOSIT);
  assert.equal(await reserved(dave.pair), 0n);
  assert.ok((await api.query.listings.purchases(listing, dave.pair.address)).isNone);
});

test('a wrong key: the buyer shows it on chain and is made whole, the listing closes; a right key cannot be disputed', { timeout: 300_000 }, async () => {
  const fileKey = randomAsU8a(32);
  const listing = await share([await contractOf(alice)], fileKey);
  const [erin, frank] = [await buyer('erin'), await buyer('frank')];
  await buy(listing, erin);
  await buy(listing, frank);
  await deliver(listing, erin, fileKey);
  await deliver(listing, frank, randomAsU8a(32)); // not the listed key

  // Erin's key is right: her dispute is refused and changes nothing.
  await assert.rejects(submit(api, api.tx.listings.disputeKey(listing, u8aToHex(erin.secret)), erin.pair), /listings.KeyIsValid/);
  // A made-up secret proves nothing.
  await assert.rejects(submit(api, api.tx.listings.disputeKey(listing, u8aToHex(randomAsU8a(32))), frank.pair), /listings.WrongSecret/);

  const frankBefore = await free(frank.pair);
  const r = await submit(api, api.tx.listings.disputeKey(listing, u8aToHex(frank.secret)), frank.pair);
  assert.deepEqual(eventsOf(r, 'listings', 'Refunded')[0].reason, 'WrongKey');
  const gained = (await free(frank.pair)) - frankBefore;
  assert.ok(gained >= PRICE + PURCHASE_DEPOSIT + LISTING_DEPOSIT - UNIT / 100n, `made whole and paid the listing's deposit (gained ${gained})`);
  assert.equal(await reserved(frank.pair), 0n);
  assert.ok((await api.query.listings.listings(listing)).unwrap().closed.isTrue);
  const grace = await buyer('grace');
  await assert.rejects(buy(listing, grace), /listings.ListingClosed/);
});

test('bad input gets a clear error and changes nothing', { timeout: 300_000 }, async () => {
  const charlies = await contractOf(keyring.addFromUri('//Charlie'));
  // Alice lists Charlie's file.
  await assert.rejects(share([charlies], randomAsU8a(32)), /listings.NotContractSender/);
  const listing = await share([await contractOf(alice)], randomAsU8a(32), { maxBuyers: 1 });
  const [heidi, ivan] = [await buyer('heidi'), await buyer('ivan')];
  await assert.rejects(buy(9_999, heidi), /listings.UnknownListing/);
  await buy(listing, heidi);
  const before = await free(heidi.pair);
  await assert.rejects(buy(listing, heidi), /listings.AlreadyBought/);
  await assert.rejects(buy(listing, ivan), /listings.SoldOut/);
  // A key of small order would let anyone read the sealed key.
  const open2 = await share([await contractOf(alice)], randomAsU8a(32));
  await assert.rejects(submit(api, api.tx.listings.buy(open2, u8aToHex(new Uint8Array(32)), PRICE), ivan.pair), /listings.WeakKey/);
  await assert.rejects(submit(api, api.tx.listings.buy(open2, u8aToHex(publicKey(ivan.secret)), PRICE - 1n), ivan.pair), /listings.PriceAboveMax/);
  assert.equal(await reserved(ivan.pair), 0n);
  assert.ok(await free(heidi.pair) <= before);
  assert.equal(await reserved(heidi.pair), PRICE + PURCHASE_DEPOSIT, 'one purchase held, no more');
});
