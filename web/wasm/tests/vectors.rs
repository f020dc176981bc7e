//! Test vectors of the browser's sealing: computed here natively with the
//! `masp` CLI's code, kept in `vectors.json`, and checked again by the WASM
//! build in JavaScript (`tests/e2e/wasm.test.mjs`): the browser and the CLI
//! must produce the same bytes. `MASP_UPDATE_VECTORS=1` rewrites the file
//! (only when the format changes on purpose).

use masp_cipher::crypto::{self, ShardCipher};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn vectors() -> String {
    let master = [7u8; 32];
    let file_id = [9u8; 16];
    let file_key = crypto::FileCipher::file_key(&master, &file_id);
    let mut cases = Vec::new();
    // A shard of two chunks: one full, one short; and a one-chunk shard of
    // zero bytes.
    for (shard, plains) in [
        (
            0u32,
            vec![pattern(crypto::PLAIN_CHUNK, 1), pattern(1000, 2)],
        ),
        (5u32, vec![Vec::new()]),
    ] {
        let count = plains.len() as u64;
        let c = ShardCipher::new(&file_key, file_id, shard, count);
        let mut roots = Vec::new();
        let mut chunks = Vec::new();
        for (i, p) in plains.iter().enumerate() {
            let mut buf = p.clone();
            c.seal(i as u64, &mut buf);
            let root = masp_proofs::chunk_root(&buf);
            roots.push(root);
            chunks.push(format!(
                "{{\"plain_len\": {}, \"seed\": {}, \"cipher_blake2b\": \"{}\", \"chunk_root\": \"{}\"}}",
                p.len(),
                i + 1,
                hex(&blake2b(&buf)),
                hex(&root)
            ));
        }
        let root = masp_proofs::root_of_chunk_roots(&mut roots.clone());
        cases.push(format!(
            "    {{\"shard\": {shard}, \"count\": {count}, \"shard_key\": \"{}\", \"chunks\": [{}], \"root\": \"{}\"}}",
            hex(&crypto::shard_key(&file_key, shard)),
            chunks.join(", "),
            hex(&root)
        ));
    }
    format!(
        "{{\n  \"master\": \"{}\",\n  \"file_id\": \"{}\",\n  \"file_key\": \"{}\",\n  \"plain_chunk\": {},\n  \"pattern\": \"byte i of chunk n (seed n+1... as listed) is (i * 31 + seed) mod 256\",\n  \"cases\": [\n{}\n  ]\n}}\n",
        hex(&master),
        hex(&file_id),
        hex(&file_key),
        crypto::PLAIN_CHUNK,
        cases.join(",\n")
    )
}

fn blake2b(b: &[u8]) -> [u8; 32] {
    use masp_proofs::Hash;
    // The proofs crate's leaf hash is domain-separated; a plain digest of
    // the whole ciphertext is what the vectors pin.
    let mut h = blake2b_simd::Params::new().hash_length(32).to_state();
    h.update(b);
    let out: Hash = h.finalize().as_bytes().try_into().expect("32 bytes");
    out
}

#[test]
fn the_browser_seals_what_the_cli_seals() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors.json");
    let now = vectors();
    if std::env::var_os("MASP_UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let kept = std::fs::read_to_string(&path)
        .expect("vectors.json (MASP_UPDATE_VECTORS=1 cargo test -p masp-web-cipher writes it)");
    assert_eq!(
        kept, now,
        "the sealing format changed: if on purpose, MASP_UPDATE_VECTORS=1 rewrites vectors.json"
    );
}
