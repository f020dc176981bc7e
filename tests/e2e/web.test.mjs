// The web app (web/, issue 23) in headless Chromium (Debian's package,
// driven by playwright-core) against a real dev node, two hosts and a
// proxy: every page loads and shows what the chain has: the order book
// and hosts, a quote equal to `storageMarketApi.quote`, the sale's status,
// the proxies, a host's dashboard; and a Sender (//Ferdie, a dev account
// on the dev chain) buys cover for its contract from the Insurance page,
// signed in the browser; an ICO buyer (//Eve, on a second node with
// 100 ms blocks that runs the whole sale) sees its allocation and claims it from
// the Sale page; a Sender opens its identity with the CLI's phrase and sees
// its files, named by manifests fetched from hosts and opened in the
// browser. Screenshots of each page are saved for
// review (printed at the end). Needs `npm run build` in web/ (scripts/test
// does it).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { chromium } from 'playwright-core';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost, startProxy } from './lib/hosts.mjs';
import { bestNumber, status as saleStatus, sudo } from './lib/ico.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const webDir = join(here, '..', '..', 'web');
const shots = process.env.MASP_WEB_SCREENSHOTS || join(here, 'screenshots');
const browserPath = process.env.MASP_CHROMIUM || '/usr/bin/chromium';

let node;
let api;
let hosts = [];
let proxy;
let server;
let browser;
let page;
let base;

/** Opens `route` (a hash route) and waits until the page has loaded. */
async function open(route) {
  await page.goto(`${base}#${route}`);
  await page.waitForSelector('#page[data-ready="true"]', { timeout: 30_000 });
  const error = await page.$('#page .error');
  assert.equal(error, null, `the ${route} page shows an error: ${error && (await error.textContent())}`);
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  assert.ok(existsSync(join(webDir, 'dist', 'index.html')), 'web/dist is built (cd web && npm ci && npm run build)');
  assert.ok(existsSync(browserPath), `Chromium at ${browserPath} (apt-get install chromium, or set MASP_CHROMIUM)`);
  mkdirSync(shots, { recursive: true });
  await cryptoWaitReady();
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  hosts.push(await startHost({ name: 'bob', suri: '//Bob', nodeUrl: node.rpcUrl, price: 2n * 10n ** 9n }));
  hosts.push(await startHost({ name: 'charlie', suri: '//Charlie', nodeUrl: node.rpcUrl, price: 10n ** 9n }));
  proxy = await startProxy({ name: 'dave', suri: '//Dave', nodeUrl: node.rpcUrl, price: '0.02', addr: '127.0.0.3' });
  const { serve } = await import(join(webDir, 'serve.mjs'));
  server = await serve(0);
  base = `http://127.0.0.1:${server.address().port}/?rpc=${encodeURIComponent(node.rpcUrl)}`;
  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

after(async () => {
  await browser?.close().catch(() => {});
  server?.close();
  await proxy?.cleanup().catch(() => {});
  for (const h of hosts) await h.cleanup().catch(() => {});
  if (node) await node.stop();
  console.log(`screenshots: ${shots}`);
});

test('the market shows the chain\'s order book and quotes what the chain quotes', { timeout: 120_000 }, async () => {
  await open('market');
  const book = (await api.call.storageMarketApi.orderBook(500)).toJSON();
  assert.equal(book.length, 2, 'two offers on chain');
  const rows = await page.$$eval('#book tbody tr[data-offer]', (trs) => trs.map((tr) => ({
    id: Number(tr.dataset.offer),
    price: tr.querySelector('[data-price]').dataset.price,
    capacity: tr.querySelector('[data-capacity]').dataset.capacity,
  })));
  assert.deepEqual(
    rows.map((r) => [r.id, r.price, r.capacity]),
    book.map(([id, o]) => [Number(id), BigInt(o.price).toString(), BigInt(o.capacity).toString()]),
  );
  assert.ok(await page.$('svg#depth path'), 'the depth chart is drawn');
  await shot('market');

  await page.fill('#quote input[name=size]', '32MiB');
  await page.fill('#quote input[name=duration]', '24');
  await page.fill('#quote input[name=replicas]', '2');
  await page.click('#quote button');
  await page.waitForSelector('#quote-total');
  const shown = await page.$eval('#quote-total', (e) => e.dataset.planck);
  const q = (await api.call.storageMarketApi.quote(32 << 20, 24, 2, null, 0)).toJSON();
  assert.equal(shown, BigInt(q.total).toString(), 'the quote is the chain\'s');
  await shot('market-quote');

  // Bad input: a clear error, nothing else.
  await page.fill('#quote input[name=size]', 'lots');
  await page.click('#quote button');
  await page.waitForSelector('#quote-result .error');
  assert.match(await page.textContent('#quote-result'), /is not a size/);

  // Picking offers (for the Files page): in the order clicked, shown, kept
  // in this browser, cleared with one click.
  const [first, second] = [book[1][0], book[0][0]].map(String);
  await page.click(`input[data-pick="${first}"]`);
  await page.click(`input[data-pick="${second}"]`);
  assert.match(await page.textContent('#picked'), new RegExp(`Picked: #${first}, #${second}`));
  assert.deepEqual((await page.evaluate(() => JSON.parse(localStorage.getItem('masp.picked-offers')))).map((p) => p.offer), [first, second]);
  await shot('market-picked');
  await page.click('#pick-clear');
  assert.equal(await page.textContent('#picked'), '');
  assert.equal(await page.$$eval('input[data-pick]:checked', (c) => c.length), 0);
});

test('hosts and a host\'s dashboard show what the chain has', { timeout: 120_000 }, async () => {
  await open('hosts');
  const shown = await page.$$eval('#hosts tr[data-host]', (trs) => trs.map((tr) => [tr.dataset.host, tr.querySelector('[data-rating]').dataset.rating]));
  assert.equal(shown.length, 2);
  for (const [who, rating] of shown) {
    const v = (await api.call.storageMarketApi.host(who)).toJSON();
    assert.equal(Number(rating), v.rating, `${who}'s rating`);
  }
  await shot('hosts');
  const bob = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri('//Bob').address;
  await open(`host?who=${bob}`);
  assert.match(await page.textContent('#page h1'), new RegExp(bob));
  assert.ok(await page.$('#host-rating'));
  // Rating over time: each point is the runtime's rating at that block.
  await page.waitForSelector('#rating-history svg, #rating-history .error', { timeout: 60_000 });
  const points = await page.$$eval('#rating-over-time circle', (cs) => cs.map((c) => [Number(c.dataset.x), Number(c.dataset.y)]));
  assert.ok(points.length >= 1, 'at least the head is plotted');
  for (const [block, percent] of points) {
    const at = await api.at(await api.rpc.chain.getBlockHash(block));
    const r = (await at.call.hostRatingApi.rating(bob)).toJSON();
    assert.equal(percent, (r?.rating ?? 0) / 10_000, `the rating at block ${block}`);
  }
  await shot('host');
});

test('the sale and the proxies pages show the chain\'s state', { timeout: 120_000 }, async () => {
  await open('sale');
  const s = (await api.call.tokenSaleApi.status()).toJSON();
  assert.equal(await page.textContent('#sale-day'), String(s.currentDay));
  assert.equal(await page.$eval('#sale-raised', (e) => e.dataset.micros), BigInt(s.raisedUsd).toString());
  assert.ok(await page.$('svg#progress'));
  await shot('sale');

  await open('proxies');
  const dave = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri('//Dave').address;
  const row = await page.$(`#proxies tr[data-proxy="${dave}"]`);
  assert.ok(row, 'the registered proxy is listed');
  const score = await row.$eval('[data-score]', (e) => e.dataset.score);
  assert.equal(Number(score), (await api.call.proxiesApi.proxy(dave)).toJSON().score);
  await shot('proxies');
});

test('a Sender buys cover for its contract in the browser, signed with its account', { timeout: 180_000 }, async () => {
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const ferdie = keyring.addFromUri('//Ferdie');
  const eve = keyring.addFromUri('//Eve');
  // Ferdie stores a file with the CLI (its dev phrase), so it has contracts.
  const user = maspUser({ nodeUrl: node.rpcUrl });
  const work = mkdtempSync(join(tmpdir(), 'masp-web-'));
  try {
    let r = await user.masp(['keys', 'import'], { input: 'bottom drive obey lake curtain smoke basket hold race lonely fit walk//Ferdie\n' });
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(work, 'f.bin'), randomBytes(1 << 20));
    r = await user.masp(['put', join(work, 'f.bin'), '--replicas', '2', '--duration', '20', '--wait', '120']);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    user.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
  const [[contract]] = (await api.call.storageMarketApi.senderContracts(ferdie.address, 10)).map(([id]) => [id.toNumber()]);
  // Eve insures, at 0.5% per epoch.
  await submit(api, api.tx.insurance.depositCapital(100n * 10n ** 12n), eve);
  await submit(api, api.tx.insurance.setOffer(5_000_000, 10n * 10n ** 12n, 0), eve);
  const backing = (await api.query.deposits.backings(contract)).unwrap().amount.toBigInt();
  const amount = backing / 2n;
  const unit = 10n ** 12n;
  const asMasp = `${amount / unit}.${(amount % unit).toString().padStart(12, '0')}`;

  await open('insurance');
  await page.selectOption('#account', ferdie.address);
  await page.waitForSelector('#page[data-ready="true"] #buy');
  assert.ok(await page.$(`#offers tr[data-insurer="${eve.address}"]`), 'Eve\'s offer is listed');
  await page.selectOption('#buy select[name=contract]', String(contract));
  await page.selectOption('#buy select[name=insurer]', eve.address);
  await page.fill('#buy input[name=amount]', asMasp);
  await page.click('#buy button');
  await page.waitForSelector('#bought, #buy-result .error', { timeout: 60_000 });
  const error = await page.$('#buy-result .error');
  assert.equal(error, null, error && (await error.textContent()));
  const cover = (await api.query.insurance.covers(contract)).unwrap();
  assert.equal(cover.sender.toString(), ferdie.address, 'signed by Ferdie');
  assert.equal(cover.amount.toBigInt(), amount, 'for the amount asked');
  // Read again from the chain: the cover is listed as Ferdie's.
  await open('market');
  await open('insurance');
  await page.waitForSelector(`#covers tr[data-cover="${contract}"]`);
  assert.equal(await page.$eval(`#covers tr[data-cover="${contract}"] [data-amount]`, (e) => e.dataset.amount), amount.toString());
  await shot('insurance');
});

test('a Sender opens its identity with its phrase, sees its files and downloads and uploads in the browser, as the CLI does', { timeout: 420_000 }, async () => {
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const alice = keyring.addFromUri('//Alice');
  const user = maspUser({ nodeUrl: node.rpcUrl });
  const work = mkdtempSync(join(tmpdir(), 'masp-web-'));
  // Three chunks in two data shards (2+0): shard 0 holds chunks 0 and 2,
  // shard 1 chunk 1, on the two hosts; the browser must interleave them.
  const original = randomBytes(2 * 1048560 + 500_000);
  try {
    let r = await user.masp(['keys', 'new']);
    assert.equal(r.code, 0, r.stderr);
    const address = r.stdout.match(/Account: (\S+)/)[1];
    const phrase = r.stdout.trim().split('\n').at(-1).trim();
    await submit(api, api.tx.balances.transferKeepAlive(address, 1000n * 10n ** 12n), alice);
    writeFileSync(join(work, 'notes.bin'), original);
    r = await user.masp(['put', join(work, 'notes.bin'), '--shards', '2+0', '--duration', '20', '--wait', '120']);
    assert.equal(r.code, 0, r.stderr);
    const mine = await api.call.storageMarketApi.senderContracts(address, 10);
    assert.ok(mine.length >= 1, 'the put made contracts');
    const request = mine[0][1].request.toString();

    await open('files');
    // A phrase that is not one: told so, nothing opened.
    await page.fill('#open input[name=phrase]', 'not a phrase at all');
    await page.click('#open button');
    await page.waitForSelector('#open-result .error', { timeout: 30_000 });
    assert.match(await page.textContent('#open-result .error'), /BIP-39/);
    // The CLI's phrase: the same account and master key, derived in WASM.
    await page.fill('#open input[name=phrase]', phrase);
    await page.click('#open button');
    const row = `#files tr[data-file="${request}"]`;
    await page.waitForSelector(`${row}[data-name]`, { timeout: 60_000 });
    assert.match(await page.textContent('#page h1'), new RegExp(address));
    assert.equal(await page.$eval(row, (e) => e.dataset.name), 'notes.bin');
    assert.equal(await page.$eval(row, (e) => e.dataset.size), String(original.length));
    assert.equal(await page.$eval(`${row} [data-alive]`, (e) => e.dataset.alive), '2', 'both shards alive');
    await shot('files');

    // Downloaded in the browser (tickets signed there, chunks checked
    // against their roots and opened in WASM): byte for byte what the CLI
    // stored.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.click(`${row} button[data-download]`),
    ]);
    assert.equal(download.suggestedFilename(), 'notes.bin');
    const got = readFileSync(await download.path());
    assert.equal(got.length, original.length);
    assert.ok(got.equals(original), 'the browser downloads what `masp put` stored, byte for byte');
    await page.waitForSelector('#downloaded');

    // Uploaded in the browser (sealed there, placed with a call signed
    // there, chunks and manifest sent with tickets signed there): `masp get`
    // reads it back byte for byte.
    // On offers the Sender picked (as on the Market page), the dearer
    // host's first: shard 0 goes there, not where the market would put it.
    const offers = (await api.call.storageMarketApi.orderBook(500)).toJSON()
      .sort((a, b) => (BigInt(b[1].price) > BigInt(a[1].price) ? 1 : -1));
    await page.evaluate((picks) => localStorage.setItem('masp.picked-offers', JSON.stringify(picks)),
      offers.map(([id, o]) => ({ offer: String(id), host: o.host })));
    const upload = randomBytes(1048560 + 4321);
    writeFileSync(join(work, 'from-browser.bin'), upload);
    await page.setInputFiles('#put input[name=file]', join(work, 'from-browser.bin'));
    await page.fill('#put input[name=shards]', '1+1');
    await page.click('#put button');
    await page.waitForSelector('#stored, #put-result .error', { timeout: 240_000 });
    const error = await page.$('#put-result .error');
    assert.equal(error, null, error && (await error.textContent()));
    const stored = await page.$eval('#stored', (e) => e.dataset.file);
    const placed = (await api.call.storageMarketApi.senderContracts(address, 100))
      .filter(([, c]) => c.request.toString() === stored)
      .sort((a, b) => a[0].toNumber() - b[0].toNumber());
    assert.deepEqual(placed.map(([, c]) => c.host.toString()), offers.map(([, o]) => o.host), 'on the picked offers, in order');
    await page.evaluate(() => localStorage.removeItem('masp.picked-offers'));
    const out = join(work, 'back.bin');
    r = await user.masp(['get', stored, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(out).equals(upload), '`masp get` reads what the browser put, byte for byte');
    r = await user.masp(['ls']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /from-browser\.bin/, 'the CLI reads the manifest the browser sealed');
    await shot('files-put');
  } finally {
    user.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
});

test('an ICO buyer sees its allocation and claims it from the Sale page', { timeout: 300_000 }, async () => {
  // A node of its own with 100 ms blocks, so the 42-day sale (10 blocks a
  // day on a dev chain) runs through in under a minute.
  const sale = await startDevNode({ blockTimeMs: 100 });
  try {
    const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
    const [alice, eve, ferdie] = ['//Alice', '//Eve', '//Ferdie'].map((u) => keyring.addFromUri(u));
    const sapi = sale.api;
    const advanceTo = async (n) => {
      while ((await bestNumber(sapi)) < n) await new Promise((r) => setTimeout(r, 200));
    };
    await advanceTo(1);
    const txId = Buffer.from(`Btc-web-${Date.now()}`).toString('hex');
    await sudo(sapi, alice, sapi.tx.tokenSale.attestContribution(eve.address, 'Btc', txId, 1_000_000, 35_000_000n));
    const bought = (await sapi.call.tokenSaleApi.buyer(eve.address, 10)).unwrap();
    const saleUrl = `${base.split('?')[0]}?rpc=${encodeURIComponent(sale.rpcUrl)}`;
    const openSale = async () => {
      await page.goto(`${saleUrl}#sale`);
      await page.waitForSelector('#page[data-ready="true"]', { timeout: 30_000 });
      await page.selectOption('#account', eve.address);
      await page.waitForSelector('#page[data-ready="true"] #mine p');
    };
    await openSale();
    assert.equal(await page.$eval('#sale-allocation', (e) => e.dataset.planck), bought.allocation.toString(), 'the allocation the chain has');
    assert.match(await page.textContent('#sale-claim-state'), /not claimable yet/);
    assert.equal(await page.$('#claim'), null, 'no claim before the sale ends');
    assert.equal(await page.$$eval('#contributions tbody tr', (r) => r.length), 1);

    // The sale ends above its soft cap? $35 is below it: Dave's large
    // purchase puts it over, then anyone finalizes.
    await sudo(sapi, alice, sapi.tx.tokenSale.attestContribution(keyring.addFromUri('//Dave').address, 'Eth',
      Buffer.from(`Eth-web-${Date.now()}`).toString('hex'), 1_000_000, 15_000_000n * 1_000_000n));
    await advanceTo((await saleStatus(sapi)).end);
    await submit(sapi, sapi.tx.tokenSale.finalize(), ferdie);
    assert.equal((await saleStatus(sapi)).phase, 'Succeeded');

    await openSale();
    await page.click('#claim');
    await page.waitForSelector('#claimed, #claim-result .error', { timeout: 60_000 });
    const error = await page.$('#claim-result .error');
    assert.equal(error, null, error && (await error.textContent()));
    const after = (await sapi.call.tokenSaleApi.buyer(eve.address, 10)).unwrap();
    assert.equal(after.claimed.isTrue, true, 'claimed on chain, signed by Eve in the browser');
    await shot('sale-claim');
  } finally {
    await sale.stop();
  }
});

test('a Receiver buys a listing in the browser, gets its key from the Sender\'s agent and downloads what `masp get --listing` writes; a public listing needs no identity', { timeout: 420_000 }, async () => {
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const alice = keyring.addFromUri('//Alice');
  const sender = maspUser({ nodeUrl: node.rpcUrl });
  const receiver = maspUser({ nodeUrl: node.rpcUrl });
  const work = mkdtempSync(join(tmpdir(), 'masp-web-listings-'));
  // Three chunks in two data shards (2+0), one on each host: the browser
  // must interleave them.
  const original = randomBytes(2 * 1048560 + 300_000);
  const person = async (u) => {
    const r = await u.masp(['keys', 'new']);
    assert.equal(r.code, 0, r.stderr);
    const address = r.stdout.match(/Account: (\S+)/)[1];
    await submit(api, api.tx.balances.transferKeepAlive(address, 1000n * 10n ** 12n), alice);
    return { address, phrase: r.stdout.trim().split('\n').at(-1).trim() };
  };
  const ok = async (u, args) => {
    const r = await u.masp(args);
    assert.equal(r.code, 0, `masp ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const openIdentity = async (p) => {
    await page.fill('#open input[name=phrase]', p.phrase);
    await page.click('#open button');
    await page.waitForFunction((a) => document.querySelector('#receiver')?.textContent === a, p.address, { timeout: 60_000 });
    await page.waitForSelector('#page[data-ready="true"]');
  };
  const buyRefused = async (listing, reason) => {
    await page.click(`button[data-buy="${listing}"]`);
    await page.waitForSelector('#listing-result .error', { timeout: 30_000 });
    assert.match(await page.textContent('#listing-result .error'), reason);
  };
  const download = async (listing) => {
    const [d] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.click(`button[data-get="${listing}"]`),
    ]);
    await page.waitForSelector(`#received[data-listing="${listing}"]`);
    return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
  };
  try {
    const s = await person(sender);
    const rcv = await person(receiver);
    writeFileSync(join(work, 'film.bin'), original);
    const file = (await ok(sender, ['put', join(work, 'film.bin'), '--shards', '2+0', '--duration', '20', '--wait', '120'])).match(/as file (\d+)/)[1];
    const paid = Number((await ok(sender, ['share', file, '--price', '5', '--meta', 'web film, paid'])).match(/as listing (\d+)/)[1]);
    const pub = Number((await ok(sender, ['share', file, '--public', '--meta', 'web film, public'])).match(/as listing (\d+)/)[1]);

    // Every listing on chain, with its price and kind.
    await open('listings');
    const onChain = (await api.query.listings.listings.entries())
      .map(([k, v]) => {
        const t = v.unwrap().terms;
        return [k.args[0].toNumber(), t.price.toBigInt().toString(), t.openKey.isSome ? 'public' : t.price.toBigInt() > 0n ? 'paid' : 'free'];
      })
      .sort((a, b) => a[0] - b[0]);
    const shown = await page.$$eval('#listings tr[data-listing]', (trs) => trs.map((tr) => [Number(tr.dataset.listing), tr.dataset.price, tr.dataset.kind]));
    assert.deepEqual(shown, onChain);
    assert.match(await page.textContent(`#listings tr[data-listing="${paid}"]`), /web film, paid/);

    // Bad input, refused in words: no identity, the Sender's own listing,
    // a price above the limit typed. Nothing is bought.
    await buyRefused(paid, /open your identity/);
    await openIdentity(s);
    await page.fill('#limit input[name=max]', '10');
    await buyRefused(paid, /is your own/);
    await openIdentity(rcv);
    await page.fill('#limit input[name=max]', '1');
    await buyRefused(paid, /costs 5 MASP, above your limit of 1 MASP/);
    assert.ok((await api.query.listings.purchases(paid, rcv.address)).isNone, 'nothing bought');

    // Bought in the tab, signed with the Receiver's account: the price in
    // escrow, the key awaited.
    await page.fill('#limit input[name=max]', '5');
    await page.click(`button[data-buy="${paid}"]`);
    await page.waitForSelector('#bought, #listing-result .error', { timeout: 60_000 });
    const error = await page.$('#listing-result .error');
    assert.equal(error, null, error && (await error.textContent()));
    const p = (await api.query.listings.purchases(paid, rcv.address)).unwrap();
    assert.equal(p.escrow.toBigInt(), 5n * 10n ** 12n);
    assert.ok(p.state.isAwaitingKey);
    await page.waitForSelector(`#listings tr[data-listing="${paid}"] [data-purchase="awaiting"]`);

    // The Sender's agent seals the file key to the purchase key the
    // browser named; the row follows the chain.
    assert.match(await ok(sender, ['agent', '--once']), new RegExp(`delivered the key of listing ${paid} to ${rcv.address}`));
    await page.waitForSelector(`#listings tr[data-listing="${paid}"] [data-purchase="delivered"]`, { timeout: 60_000 });
    await shot('listings');
    const got = await download(paid);
    assert.equal(got.name, 'film.bin');
    assert.ok(got.bytes.equals(original), 'the browser downloads what `masp put` stored, byte for byte');
    assert.equal(await page.$eval(`#listings tr[data-listing="${paid}"] [data-size]`, (e) => e.dataset.size), String(original.length), 'its size, once known');
    // The CLI with the Receiver's phrase opens the same delivered key (the
    // browser named the CLI's purchase key) and writes the same bytes.
    await ok(receiver, ['get', '--listing', String(paid), '-o', join(work, 'cli.bin')]);
    assert.ok(readFileSync(join(work, 'cli.bin')).equals(got.bytes), 'what `masp get --listing` writes');

    // A public listing, in a fresh tab state (no identity): tickets signed
    // with a key made for the tab; nothing bought.
    await page.reload();
    await page.waitForSelector('#page[data-ready="true"] #listings');
    assert.equal(await page.$('#receiver'), null, 'no identity open');
    const open2 = await download(pub);
    assert.ok(open2.bytes.equals(original), 'anyone reads a public listing, byte for byte');
    await shot('listings-public');
  } finally {
    sender.cleanup();
    receiver.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
});
