// Hosts: every registered host with its endpoint, region, capacity, free
// deposit and rating (from `StorageMarketApi.host`).
import { chain } from '../chain';
import { bytes, esc, masp, rating, text } from '../format';

export async function hosts(el: HTMLElement): Promise<void> {
  const api = chain();
  const entries = await api.query.StorageMarket.Hosts.getEntries();
  const views = await Promise.all(entries.map((e) => api.apis.StorageMarketApi.host(e.keyArgs[0])));
  const rows = entries
    .map((e, i) => {
      const who = e.keyArgs[0];
      const v = views[i];
      if (!v) return '';
      return `<tr data-host="${who}">
        <td><a href="#host?who=${who}"><code>${who}</code></a></td>
        <td>${esc(text(v.endpoint))}</td><td>${esc(text(v.region))}</td>
        <td class="num">${bytes(v.capacity)}</td><td class="num">${bytes(v.used)}</td>
        <td class="num">${v.live_contracts}</td>
        <td class="num">${masp(v.free_deposit)}</td>
        <td class="num" data-rating="${v.rating}">${rating(v.rating)}</td></tr>`;
    })
    .join('');
  el.innerHTML = `<h1>Hosts (${entries.length})</h1>
    <p class="muted">The rating is objective: computed on chain from proofs, completed contracts, age and availability.</p>
    <table id="hosts"><thead><tr><th>Host</th><th>Endpoint</th><th>Region</th><th class="num">Capacity</th><th class="num">Used</th><th class="num">Contracts</th><th class="num">Free deposit</th><th class="num">Rating</th></tr></thead>
    <tbody>${rows || '<tr><td colspan="8" class="muted">No hosts.</td></tr>'}</tbody></table>`;
}
