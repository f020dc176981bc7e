// One host's dashboard, from the chain: its registration, offers, live
// contracts and the parts of its rating.
import { chain } from '../chain';
import { bytes, esc, masp, rating, text } from '../format';
import { bars } from '../plot';

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
    <h2>Offers</h2><table><thead><tr><th class="num">Offer</th><th class="num">Price / GiB / epoch</th><th class="num">Capacity</th><th class="num">Epochs</th></tr></thead><tbody>${offerRows || '<tr><td colspan="4" class="muted">None.</td></tr>'}</tbody></table>
    <h2>Live contracts (${contracts.length})</h2><table id="contracts"><thead><tr><th class="num">Contract</th><th>Sender</th><th class="num">Size</th><th>State</th><th class="num">Epochs</th><th class="num">Per epoch</th></tr></thead><tbody>${contractRows || '<tr><td colspan="6" class="muted">None.</td></tr>'}</tbody></table>`;
}
