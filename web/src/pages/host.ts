// One host's dashboard, from the chain: its registration, offers, live
// contracts, the parts of its rating and its rating over time (the
// runtime's rating at past blocks, as far back as the node keeps state).
import { chain, epochBlocks, finalizedNumber, ratingHistory } from '../chain';
import { bytes, esc, masp, rating, text } from '../format';
import { bars, lineChart } from '../plot';

export async function host(el: HTMLElement, params: URLSearchParams): Promise<void> {
  const who = params.get('who');
  if (!who) {
    el.innerHTML = `<h1>Host</h1><form id="pick" class="inline"><label>Account <input name="who" style="width:32em"></label><button>Show</button></form>`;
    el.querySelector('form')!.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = `host?who=${encodeURIComponent(String(new FormData(ev.target as HTMLFormElement).get('who')).trim())}`;
    });
    return;
  }
  const api = chain();
  const [view, offers, contracts, parts] = await Promise.all([
    api.apis.StorageMarketApi.host(who),
    api.apis.StorageMarketApi.host_offers(who),
    api.apis.StorageMarketApi.host_contracts(who, 200),
    api.apis.HostRatingApi.rating(who),
  ]);
  if (!view) {
    el.innerHTML = `<h1>Host</h1><p class="error">${esc(who)} is not a registered host.</p>`;
    return;
  }
  const offerRows = offers
    .map(([id, o]) => `<tr><td class="num">${id}</td><td class="num">${masp(o.price)}</td><td class="num">${bytes(o.capacity)}</td><td class="num">${o.min_duration}–${o.max_duration}</td></tr>`)
    .join('');
  const contractRows = contracts
    .map(([id, c]) => `<tr data-contract="${id}"><td class="num">${id}</td><td><code>${c.sender}</code></td><td class="num">${bytes(c.size)}</td><td>${c.state.type}</td><td class="num">${c.first_epoch}–${c.last_epoch}</td><td class="num">${masp(c.epoch_cost)}</td></tr>`)
    .join('');
  const p = parts;
  el.innerHTML = `<h1>Host <code>${esc(who)}</code></h1>
    <div class="card">Endpoint ${esc(text(view.endpoint))} · region ${esc(text(view.region))} · capacity ${bytes(view.capacity)} (used ${bytes(view.used)}) ·
      free deposit ${masp(view.free_deposit)} · registered at block ${view.registered_at} · rating <strong id="host-rating">${rating(view.rating)}</strong></div>
    ${p ? `<div class="card"><h2>Rating parts</h2>${bars([
      { label: 'reliability', value: p.reliability, max: 1_000_000 },
      { label: 'completion', value: p.completion, max: 1_000_000 },
      { label: 'experience', value: p.experience, max: 1_000_000 },
      { label: 'age', value: p.age, max: 1_000_000 },
      { label: 'availability', value: p.availability, max: 1_000_000 },
    ])}</div>` : ''}
    <div class="card"><h2>Rating over time</h2><div id="rating-history"><p class="muted">Reading past blocks…</p></div></div>
    <h2>Offers</h2><table><thead><tr><th class="num">Offer</th><th class="num">Price / GiB / epoch</th><th class="num">Capacity</th><th class="num">Epochs</th></tr></thead><tbody>${offerRows || '<tr><td colspan="4" class="muted">None.</td></tr>'}</tbody></table>
    <h2>Live contracts (${contracts.length})</h2><table id="contracts"><thead><tr><th class="num">Contract</th><th>Sender</th><th class="num">Size</th><th>State</th><th class="num">Epochs</th><th class="num">Per epoch</th></tr></thead><tbody>${contractRows || '<tr><td colspan="6" class="muted">None.</td></tr>'}</tbody></table>`;
  // 48 points back from the head, one per epoch (the rating moves at most
  // once an epoch), closer on a chain younger than 48 epochs; as far back
  // as the node has state.
  const box = el.querySelector<HTMLElement>('#rating-history')!;
  try {
    const epoch = await epochBlocks();
    const step = Math.max(1, Math.min(epoch, Math.floor((await finalizedNumber()) / 47)));
    const history = await ratingHistory(who, step, 48);
    const points = history.map((p) => ({ x: p.block, y: p.rating / 10_000 }));
    // The y axis up to a round number above the highest rating shown (a
    // new host's 0.1% would be a flat line on a 0-100 axis).
    const top = Math.max(...points.map((p) => p.y), 0);
    const mag = top > 0 ? 10 ** Math.floor(Math.log10(top)) : 100;
    const maxY = top > 0 ? ([1, 2, 5, 10].map((k) => k * mag).find((v) => v >= top) ?? 100) : 100;
    box.innerHTML = `${lineChart('rating-over-time', points, `block (a point every ${step} blocks; an epoch is ${epoch})`, 'rating, %', Math.min(100, maxY))}
      <p class="muted">${history.length} point(s) up to block ${history.at(-1)?.block ?? '?'}: the runtime's own rating at each block, read from the node's state (a pruning node keeps only its last blocks; run it with <code>--state-pruning archive</code> for a host's whole life).</p>`;
  } catch (e) {
    box.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
  }
}
