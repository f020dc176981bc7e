// The storage market on a real dev chain, through @polkadot/api with no custom
// types (what polkadot.js apps does): hosts register, deposit and post offers;
// a Sender places a request that matches the cheapest hosts; the contracts are
// visible through storage and the runtime API; hosts confirm; the Sender
// cancels and its unspent funds return; bad input is refused with its error.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { stringCamelCase, u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';

const UNIT = 10n ** 12n;
const GIB = 1n << 30n;

let node;
let keyring;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
});

after(async () => { if (node) await node.stop(); });

/** The `section.method` events of a submitted tx, each as { field: json }. */
const events = (api, result, section, method) =>
  result.events
    .filter(({ event }) => event.section === section && event.method === method)
    .map(({ event }) => Object.fromEntries(event.data.names.map((n, i) => [stringCamelCase(n), event.data[i].toJSON()])));

const free = async (api, who) => (await api.query.system.account(who)).data.free.toBigInt();

test('hosts offer, a Sender requests, the cheapest hosts win, funds are held then returned', { timeout: 300_000 }, async () => {
  const { api } = node;
  const [alice, bob, charlie, dave, eve] = ['//Alice', '//Bob', '//Charlie', '//Dave', '//Eve'].map((u) => keyring.addFromUri(u));

  // A shorter epoch for the test network: the epoch length is a `storage`
  // parameter that root may set (polkadot.js apps: Sudo -> system.setStorage).
  const epochKey = xxhashAsHex(':EpochLength:', 128);
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[epochKey, u8aToHex(api.createType('u32', 5).toU8a())]])), alice);
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  assert.equal((await api.call.storageMarketApi.currentEpoch()).toNumber(), Math.floor(head / 5));

  // Three hosts at different prices (per GiB per epoch).
  const hosts = [[bob, 3n, 'bob'], [charlie, 1n, 'charlie'], [eve, 2n, 'eve']];
  for (const [host, price, name] of hosts) {
    const reg = await submit(api, api.tx.storageMarket.registerHost(`https://${name}.example:8443`, 'EU', 100n * GIB, u8aToHex(host.publicKey)), host);
    assert.equal(events(api, reg, 'storageMarket', 'HostRegistered').length, 1);
    await submit(api, api.tx.deposits.deposit(1000n * UNIT), host);
    await submit(api, api.tx.storageMarket.postOffer(price * UNIT / 1000n, 10n * GIB, 1, 1000), host);
  }
  const book = (await api.call.storageMarketApi.orderBook(10)).toJSON();
  assert.deepEqual(book.map(([, o]) => o.host), [charlie.address, eve.address, bob.address], 'the book is cheapest first');

  // The quote says what placing would cost.
  const quote = (await api.call.storageMarketApi.quote(GIB, 24, 2, null, 0)).toJSON();
  assert.deepEqual(quote.lines.map((l) => l.host), [charlie.address, eve.address]);
  assert.equal(quote.unmatched, 0);

  const before = await free(api, dave.address);
  const placed = await submit(api, api.tx.storageMarket.placeRequest(GIB, u8aToHex(new Uint8Array(32).fill(7)), GIB / 512n, 2, 24, 5n * UNIT / 1000n, 0), dave);
  const created = events(api, placed, 'storageMarket', 'ContractCreated');
  assert.deepEqual(created.map((c) => c.host), [charlie.address, eve.address], 'the two cheapest hosts win');
  const cost = created.reduce((s, c) => s + BigInt(c.cost), 0n);
  assert.equal(cost, BigInt(quote.total), 'the quote was exact');
  const paidFee = before - (await free(api, dave.address)) - cost;
  assert.ok(paidFee >= 0n && paidFee < UNIT, 'only the contracts\' cost (and a fee) left the free balance');

  // Visible through storage and the runtime API, with no custom types.
  const mine = (await api.call.storageMarketApi.senderContracts(dave.address, 10)).toJSON();
  assert.equal(mine.length, 2);
  const stored = (await api.query.storageMarket.contracts(created[0].contract)).toJSON();
  assert.equal(stored.sender, dave.address);
  assert.equal(stored.state, 'AwaitingUpload');
  const host = (await api.call.storageMarketApi.host(charlie.address)).toJSON();
  assert.equal(BigInt(host.used), GIB);

  // The hosts confirm; a stranger cannot.
  await assert.rejects(submit(api, api.tx.storageMarket.confirmStored(created[0].contract), bob), /storageMarket.NotContractHost/);
  for (const [c, h] of [[created[0], charlie], [created[1], eve]]) {
    const r = await submit(api, api.tx.storageMarket.confirmStored(c.contract), h);
    assert.equal(events(api, r, 'storageMarket', 'ContractConfirmed').length, 1);
  }

  // The Sender cancels one contract: the host keeps one epoch's price (it
  // reserved the room and took the upload), the rest of the escrow returns.
  const beforeCancel = await free(api, dave.address);
  const cancelled = await submit(api, api.tx.storageMarket.cancelContract(created[0].contract), dave);
  const ended = events(api, cancelled, 'storageMarket', 'ContractEnded')[0];
  const epochPrice = BigInt(created[0].cost) / 24n; // 1 GiB at charlie's price, one of 24 epochs
  assert.equal(epochPrice, UNIT / 1000n);
  assert.equal(BigInt(ended.paid), epochPrice, 'the host is paid the first epoch');
  assert.equal(BigInt(ended.refunded), BigInt(created[0].cost) - epochPrice, 'the rest returns');
  const gained = (await free(api, dave.address)) - beforeCancel;
  assert.ok(gained > BigInt(ended.refunded) - UNIT / 100n, 'refund minus a fee');

  // Bad input: a clear error, nothing changes.
  await assert.rejects(submit(api, api.tx.storageMarket.placeRequest(0, u8aToHex(new Uint8Array(32)), 1, 1, 1, 1, 0), dave), /storageMarket.ZeroSize/);
  await assert.rejects(submit(api, api.tx.storageMarket.placeRequest(GIB, u8aToHex(new Uint8Array(32)), 1024, 1, 1, UNIT, 0), dave), /storageMarket.BadLeafCount/);
  await assert.rejects(submit(api, api.tx.storageMarket.registerHost('ftp://nope', 'EU', GIB, u8aToHex(new Uint8Array(32))), alice), /storageMarket.BadEndpoint/);
  await assert.rejects(submit(api, api.tx.deposits.withdraw(1000n * UNIT), eve), /deposits.InsufficientFreeDeposit/);
});
