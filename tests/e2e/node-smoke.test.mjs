// Smoke test of the development chain, as a polkadot.js user sees it:
// `masp-node --dev` produces blocks, announces MASP with 12 decimals, and a
// transfer signed by a dev account goes through with its fee paid to the
// block author (Alice, the dev chain's only collator). No custom types.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { startDevNode, submit, waitForBlock } from './lib/node.mjs';

const UNIT = 10n ** 12n;
let node;
let keyring;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ blockTimeMs: 1000 });
});

after(async () => {
  if (node) {
    const exit = await node.stop();
    assert.ok(exit, 'the node process ended');
  }
});

test('the dev chain produces blocks (reaches block 3)', { timeout: 180_000 }, async () => {
  const n = await waitForBlock(node.api, 3, 60_000);
  assert.ok(n >= 3);
});

test('system_properties announce MASP with 12 decimals and ss58 prefix 42', async () => {
  // The raw JSON-RPC answer, as any client sees it.
  const props = await node.api._rpcCore.provider.send('system_properties', []);
  assert.equal(props.tokenSymbol, 'MASP');
  assert.equal(props.tokenDecimals, 12);
  assert.equal(props.ss58Format, 42);
  // And @polkadot/api picked them up for formatting.
  assert.deepEqual(node.api.registry.chainTokens, ['MASP']);
  assert.deepEqual(node.api.registry.chainDecimals, [12]);
  assert.equal((await node.api.rpc.system.chain()).toString(), 'MASP Development');
});

test('the runtime is MASP with metadata v15+ and the expected pallets', async () => {
  const { api } = node;
  assert.equal(api.runtimeVersion.specName.toString(), 'masp');
  const versions = (await api.call.metadata.metadataVersions()).map((v) => v.toNumber());
  assert.ok(versions.some((v) => v >= 15), `metadata versions ${versions}`);
  for (const p of ['balances', 'transactionPayment', 'parachainSystem', 'aura', 'collatorSelection', 'session', 'messageQueue', 'sudo']) {
    assert.ok(api.tx[p] || api.query[p], `pallet ${p} present`);
  }
  assert.equal(api.consts.balances.existentialDeposit.toBigInt(), UNIT / 1000n);
});

test('a transfer signed by Bob arrives and its fee goes to the block author', { timeout: 120_000 }, async () => {
  const { api } = node;
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const dest = keyring.addFromUri('//masp-smoke-test');
  const amount = 5n * UNIT;

  const free = async (who, at) => {
    const q = at ? await api.at(at) : api;
    return (await q.query.system.account(who.address)).data.free.toBigInt();
  };

  const { blockHash, events } = await submit(api, api.tx.balances.transferKeepAlive(dest.address, amount), bob);
  const header = await api.rpc.chain.getHeader(blockHash);
  const parent = header.parentHash;

  assert.equal(await free(dest, blockHash), amount, 'the new account holds the amount');

  const feeEvent = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  assert.ok(feeEvent, 'TransactionFeePaid emitted');
  const fee = feeEvent.event.data.actualFee.toBigInt() + feeEvent.event.data.tip.toBigInt();
  assert.ok(fee > 0n, 'a fee was charged');

  assert.equal(await free(bob, parent) - await free(bob, blockHash), amount + fee, 'Bob paid amount + fee');
  assert.equal(await free(alice, blockHash) - await free(alice, parent), fee, 'Alice (author) received the fee');

  const issuanceBefore = (await (await api.at(parent)).query.balances.totalIssuance()).toBigInt();
  const issuanceAfter = (await (await api.at(blockHash)).query.balances.totalIssuance()).toBigInt();
  assert.equal(issuanceAfter, issuanceBefore, 'no MASP minted or burned by a transfer');
});
