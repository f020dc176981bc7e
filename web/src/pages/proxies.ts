// Proxies: the registered relays, their price per GiB relayed, deposit,
// sessions, failures and score (`ProxiesApi.proxies`).
import { chain } from '../chain';
import { bytes, esc, masp, rating, text } from '../format';

export async function proxies(el: HTMLElement): Promise<void> {
  const list = await chain().apis.ProxiesApi.proxies();
  const rows = list
    .map(
      (p) => `<tr data-proxy="${p.account}"><td><code>${p.account}</code></td><td>${esc(text(p.endpoint))}</td>
        <td class="num">${masp(p.price_per_gib)}</td><td class="num">${masp(p.deposit)}</td><td>${p.active ? 'yes' : 'no'}</td>
        <td class="num">${bytes(p.bytes_paid)}</td><td class="num">${p.sessions}</td><td class="num">${p.failures}</td>
        <td class="num" data-score="${p.score}">${rating(p.score)}</td></tr>`,
    )
    .join('');
  el.innerHTML = `<h1>Proxies (${list.length})</h1>
    <p class="muted">A proxy relays between a Sender and hosts so no host sees the Sender's address (<code>masp put --proxy auto</code>), paid per byte relayed.</p>
    <table id="proxies"><thead><tr><th>Proxy</th><th>Endpoint</th><th class="num">Price / GiB</th><th class="num">Deposit</th><th>Active</th><th class="num">Relayed, paid</th><th class="num">Sessions</th><th class="num">Failures</th><th class="num">Score</th></tr></thead>
    <tbody>${rows || '<tr><td colspan="9" class="muted">No proxies.</td></tr>'}</tbody></table>`;
}
