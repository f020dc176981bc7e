// The chain: one polkadot-api client, typed with descriptors generated from
// chain/metadata.scale (`npm run descriptors`), for the node given as
// `?rpc=ws://...` (default: the devnet's ws://127.0.0.1:9944).
import { createClient, type PolkadotClient, type TypedApi } from 'polkadot-api';
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
