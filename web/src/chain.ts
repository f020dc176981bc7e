// The chain: one polkadot-api client, typed with descriptors generated from
// chain/metadata.scale (`npm run descriptors`), for the node given as
// `?rpc=ws://...` (default: the devnet's ws://127.0.0.1:9944).
import { createClient, getTypedCodecs, type PolkadotClient, type TypedApi } from 'polkadot-api';
import { getWsProvider } from 'polkadot-api/ws';
import { masp } from '@polkadot-api/descriptors';

export type Api = TypedApi<typeof masp>;

export const rpcUrl: string = new URLSearchParams(location.search).get('rpc') ?? 'ws://127.0.0.1:9944';

let client: PolkadotClient | undefined;
let api: Api | undefined;

/** The typed API of the chain at `rpcUrl` (connects on first use). */
export function chain(): Api {
  if (!api) {
    client = createClient(getWsProvider(rpcUrl));
    api = client.getTypedApi(masp);
  }
  return api;
}

/** The latest finalized block's number, as the node reports it. */
export async function finalizedNumber(): Promise<number> {
  chain();
  const b = await client!.getFinalizedBlock();
  return b.number;
}

/** The chain's name from its spec (e.g. "MASP Development"). */
export async function chainName(): Promise<string> {
  chain();
  const spec = await client!.getChainSpecData();
  return spec.name;
}

let genesis: Promise<Uint8Array> | undefined;

/** The chain's genesis hash (what tickets and receipts are signed for). */
export function genesisHash(): Promise<Uint8Array> {
  genesis ??= (async () => {
    chain();
    const hex = (await client!.getChainSpecData()).genesisHash.replace(/^0x/, '');
    return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
  })();
  return genesis;
}

const toHex = (b: Uint8Array): string => '0x' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Blocks per epoch: the runtime's `EpochLength` parameter (the well-known
 * storage key `twox128(":EpochLength:")`), or its default of an hour of
 * 6-second blocks when never set. */
export async function epochBlocks(): Promise<number> {
  chain();
  // twox128(":EpochLength:"), as `parameter_types! { pub storage ... }` keys it.
  const raw = await client!._request<string | null>('state_getStorage', ['0x1f297c71532442c937f15f71bcb2ba39']);
  if (!raw) return 600;
  const b = raw.replace(/^0x/, '').match(/../g)!.map((x) => parseInt(x, 16));
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0 || 600;
}

/** `who`'s rating at up to `points` blocks, one every `step` blocks back
 * from the finalized head, oldest first: the runtime's own
 * `HostRatingApi.rating` called at each block (`state_call`), so as far
 * back as the node keeps state (an archive node: the host's whole life; a
 * pruning one: its last few hundred blocks). */
export async function ratingHistory(who: string, step: number, points: number): Promise<{ block: number; rating: number }[]> {
  chain();
  const codecs = await getTypedCodecs(masp);
  const call = codecs.apis.HostRatingApi.rating;
  const args = toHex(call.args.enc([who]));
  // (The shaped codec's type of an Option of a struct collapses to `never`:
  // the decoder is the runtime API's own, typed here by hand.)
  const decode = (call.value as unknown as { dec: (hex: string) => { rating: number } | undefined }).dec;
  const head = (await client!.getFinalizedBlock()).number;
  const out: { block: number; rating: number }[] = [];
  for (let i = 0; i < points; i++) {
    const n = head - i * Math.max(1, step);
    if (n < 0) break;
    try {
      const hash = await client!._request<string | null>('chain_getBlockHash', [n]);
      if (!hash) break;
      const v = decode(await client!._request<string>('state_call', ['HostRatingApi_rating', args, hash]));
      out.push({ block: n, rating: v ? Number(v.rating) : 0 });
    } catch {
      break; // the node no longer has that block's state
    }
  }
  return out.reverse();
}
