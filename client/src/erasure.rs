//! Erasure coding of a file's ciphertext into K data + M parity shards
//! (issue 20, "supersafe storage"): any K of the K+M shards give the file
//! back, so it survives the loss of any M hosts for `(K+M)/K` times its
//! size (4+2: any 2 of 6 hosts lost, for 1.5x) instead of the `M+1` times
//! that `M+1` full replicas cost. Pure and synchronous: this module only
//! turns bytes into bytes; placing, uploading and fetching shards is
//! [`crate::ops`]'s.
//!
//! ## The layout: stripes of K whole chunks
//!
//! The ciphertext is already cut into chunks `c_0..c_{n-1}` of
//! [`CHUNK_SIZE`] (1 MiB; only the last one shorter, see [`crate::crypto`]).
//! They are grouped in **stripes of K consecutive chunks**: stripe `s`
//! holds `c_{sK}..c_{sK+K-1}` (the last stripe may hold fewer).
//!
//! - **Data shard `j`** (`0 <= j < K`) is chunk `c_{sK+j}` of every stripe
//!   `s` that has it, concatenated, with the chunks' real bytes: the code is
//!   systematic, the data shards *are* the file's ciphertext, dealt out
//!   round-robin.
//! - **Parity shard `K+p`** (`0 <= p < M`) is parity chunk `p` of every
//!   stripe, concatenated. A stripe is encoded with Reed-Solomon
//!   ([`reed_solomon_simd`], GF(2^16), Leopard) over K chunks of exactly
//!   [`CHUNK_SIZE`] bytes: a short last chunk, and the chunks a short last
//!   stripe lacks, count as zero-padded. The padding is implicit (never
//!   stored nor sent); parity chunks are always [`CHUNK_SIZE`] bytes.
//! - Shard `j`'s chunk `i` is chunk `j` of stripe `i`; shards number their
//!   chunks by stripe, and a stripe numbers its chunks by shard (`0..K`
//!   data, `K..K+M` parity).
//!
//! ## Why this layout
//!
//! - **Every shard is a MASP contract ciphertext.** Its chunks are 1 MiB
//!   but possibly its last, so they line up with subtrees of the
//!   storage-proof Merkle tree ([`masp_proofs::chunk_root`],
//!   [`masp_proofs::root_of_chunk_roots`]): a shard is stored, proven,
//!   uploaded and downloaded chunk by chunk exactly as a whole file is
//!   today, and hosts and the chain need not know about erasure coding.
//! - **Reading needs no decoding while the data shards are there.** File
//!   chunk `c` is chunk `c / K` of data shard `c % K` ([`Layout::locate`]),
//!   byte for byte, with the chunk root the file's manifest already lists:
//!   a download fetches exactly the ciphertext, from K hosts in parallel.
//!   Only a chunk whose host is lost or lies is rebuilt, from any K chunks
//!   of its stripe ([`Layout::reconstruct_stripe`]).
//! - **Repair is local and bounded.** A lost shard is rebuilt one stripe at
//!   a time: read K chunks (K MiB), write one ([`Layout::rebuild_shard_chunk`]).
//!   Memory is a stripe, never the file.
//! - **Corruption is caught before decoding.** Reed-Solomon corrects
//!   erasures, not errors: every chunk is checked against its chunk root
//!   first, and a chunk that does not match is left out like a lost one.
//!
//! ## Costs and limits
//!
//! - Stored bytes: the ciphertext, plus `M x stripes x 1 MiB` of parity
//!   ([`Layout::stored_size`]). Since parity chunks are whole chunks, a
//!   small file pays up to M MiB of parity (a 16-byte file at 4+2 stores
//!   16 bytes + 2 MiB).
//! - A file of fewer than K chunks leaves data shards `n..K` **empty**
//!   ([`Layout::shard_size`] is 0): a contract never stores zero bytes, so
//!   they are not stored, and decoding treats them as known zeros (they
//!   count towards the K chunks a stripe needs, without a download).
//! - `K >= 1`, `M >= 0`, `K + M <= ` [`MAX_SHARDS`] (one host per shard;
//!   [`reed_solomon_simd`] would take far more). `M = 0` stores the file
//!   striped over K hosts with no redundancy.
//! - Encoding runs at several GB/s per core (AVX2/SSSE3/Neon, chosen at run
//!   time; `examples/erasure_bench.rs` measures it), below the cost of
//!   sealing and hashing the same bytes.

use masp_proofs::CHUNK_SIZE;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use std::cell::RefCell;

/// The most shards (data + parity) a file may have: one host each.
pub const MAX_SHARDS: usize = 255;

/// The largest ciphertext a layout accepts: what the storage-proof tree
/// holds (`2^MAX_DEPTH` leaves, 128 PiB).
pub const MAX_CIPHER_SIZE: u64 = (masp_proofs::LEAF_SIZE as u64) << masp_proofs::MAX_DEPTH;

/// [`CHUNK_SIZE`] as a `u64`.
const CHUNK: u64 = CHUNK_SIZE as u64;

/// A zero chunk: the padding of the chunks a short last stripe lacks.
static ZEROS: [u8; CHUNK_SIZE] = [0; CHUNK_SIZE];

/// Why shards could not be laid out, encoded or decoded. Bad input is
/// always one of these, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// K and M are out of range.
    #[error("--shards {k}+{m}: {why}")]
    BadShards {
        /// Data shards asked for.
        k: usize,
        /// Parity shards asked for.
        m: usize,
        /// What to fix.
        why: String,
    },
    /// `--shards` is not written `K+M`.
    #[error("--shards {input:?}: {why}")]
    Syntax {
        /// What was given.
        input: String,
        /// What to fix.
        why: String,
    },
    /// The ciphertext size is 0 or above [`MAX_CIPHER_SIZE`].
    #[error("a ciphertext of {0} bytes cannot be stored (1 byte to {MAX_CIPHER_SIZE} bytes)")]
    BadCipherSize(u64),
    /// The bytes given as the whole ciphertext are not [`Layout::cipher_size`] long.
    #[error("the ciphertext has {got} bytes, the layout {expected}")]
    CipherLength {
        /// Bytes given.
        got: u64,
        /// Bytes the layout is for.
        expected: u64,
    },
    /// A stripe past the last one.
    #[error("stripe {stripe} does not exist: the file has {stripes} stripes")]
    NoSuchStripe {
        /// The stripe asked for.
        stripe: u64,
        /// Stripes in the file.
        stripes: u64,
    },
    /// A shard index of K+M or more.
    #[error("shard {shard} does not exist: the file has {shards} shards")]
    NoSuchShard {
        /// The shard asked for.
        shard: usize,
        /// Shards (K+M).
        shards: usize,
    },
    /// More shards given than the layout has.
    #[error("{got} shards given for a layout of {expected}")]
    ShardCount {
        /// Shards given.
        got: usize,
        /// K+M.
        expected: usize,
    },
    /// A whole shard of the wrong size.
    #[error("shard {shard} has {got} bytes, expected {expected}")]
    ShardLength {
        /// The shard.
        shard: usize,
        /// Bytes given.
        got: u64,
        /// Bytes it has in this layout.
        expected: u64,
    },
    /// More than K data chunks for one stripe.
    #[error("{got} data chunks given for a stripe of {k}")]
    TooManyDataChunks {
        /// Chunks given.
        got: usize,
        /// K.
        k: usize,
    },
    /// A data chunk longer than a chunk.
    #[error("data chunk {shard} has {got} bytes, more than a chunk ({CHUNK_SIZE})")]
    ChunkTooLong {
        /// Its place in the stripe.
        shard: usize,
        /// Its length.
        got: usize,
    },
    /// A chunk of a stripe that is not as long as the layout says.
    #[error("chunk {shard} of stripe {stripe} has {got} bytes, expected {expected}")]
    ChunkLength {
        /// The stripe.
        stripe: u64,
        /// The chunk's shard.
        shard: usize,
        /// Bytes given.
        got: usize,
        /// Bytes it has in this layout.
        expected: usize,
    },
    /// The same chunk of a stripe given twice.
    #[error("chunk {shard} of stripe {stripe} is given twice")]
    DuplicateChunk {
        /// The stripe.
        stripe: u64,
        /// The chunk's shard.
        shard: usize,
    },
    /// Fewer than K chunks of a stripe (counting the empty ones it lacks).
    #[error("stripe {stripe}: {have} of its chunks are at hand, {need} are needed")]
    TooFewChunks {
        /// The stripe.
        stripe: u64,
        /// Distinct chunks at hand.
        have: usize,
        /// K.
        need: usize,
    },
    /// The Reed-Solomon library refused (not expected after the checks above).
    #[error("Reed-Solomon: {0}")]
    Codec(String),
}

impl From<reed_solomon_simd::Error> for ShardError {
    fn from(e: reed_solomon_simd::Error) -> Self {
        Self::Codec(e.to_string())
    }
}

/// Checks K data and M parity shards: `K >= 1`, `K + M <=` [`MAX_SHARDS`].
pub fn check_shards(k: usize, m: usize) -> Result<(), ShardError> {
    let bad = |why: String| Err(ShardError::BadShards { k, m, why });
    if k == 0 {
        return bad("K, the number of data shards, must be at least 1 (e.g. 4+2)".into());
    }
    match k.checked_add(m) {
        Some(total) if total <= MAX_SHARDS => {}
        _ => {
            return bad(format!(
                "at most {MAX_SHARDS} shards in all (K+M), one host each; e.g. 4+2 or 10+4"
            ))
        }
    }
    if m > 0 && !ReedSolomonEncoder::supports(k, m) {
        return bad("this combination is not supported by the Reed-Solomon code".into());
    }
    Ok(())
}

/// Parses `--shards K+M` (`"4+2"`: 4 data shards, 2 parity shards; spaces
/// around the numbers are fine) and checks it with [`check_shards`].
pub fn parse_shards(s: &str) -> Result<(usize, usize), ShardError> {
    let syntax = |why: String| ShardError::Syntax {
        input: s.to_string(),
        why,
    };
    let (k, m) = s.split_once('+').ok_or_else(|| {
        syntax(
            "write K+M: K data shards, any K of which give the file back, and M parity \
             shards, how many hosts may be lost (e.g. 4+2)"
                .into(),
        )
    })?;
    let number = |part: &str, what: &str| -> Result<usize, ShardError> {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax(format!(
                "{part:?} is not a number of {what} shards (write K+M, e.g. 4+2)"
            )));
        }
        part.parse().map_err(|_| {
            syntax(format!(
                "{part} {what} shards is far too many (at most {MAX_SHARDS} shards in all)"
            ))
        })
    };
    let (k, m) = (number(k, "data")?, number(m, "parity")?);
    check_shards(k, m)?;
    Ok((k, m))
}

/// Where the shards of a `cipher_size`-byte ciphertext coded K+M are, and
/// how long each of their chunks is (see the module docs for the layout).
///
/// Built by [`Layout::new`], which checks K, M and the size, so every
/// method is total: an index out of range yields 0, `None` or an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    k: usize,
    m: usize,
    cipher_size: u64,
}

impl Layout {
    /// The layout of a `cipher_size`-byte ciphertext in `k` data and `m`
    /// parity shards.
    pub fn new(k: usize, m: usize, cipher_size: u64) -> Result<Self, ShardError> {
        check_shards(k, m)?;
        if cipher_size == 0 || cipher_size > MAX_CIPHER_SIZE {
            return Err(ShardError::BadCipherSize(cipher_size));
        }
        Ok(Self { k, m, cipher_size })
    }

    /// Data shards (K): any K shards give the file back.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Parity shards (M): how many shards may be lost.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Shards in all (K+M); data shards are `0..K`, parity shards `K..K+M`.
    pub fn shards(&self) -> usize {
        self.k + self.m
    }

    /// Bytes of ciphertext.
    pub fn cipher_size(&self) -> u64 {
        self.cipher_size
    }

    /// Chunks of the ciphertext (`n`, at least 1).
    pub fn chunk_count(&self) -> u64 {
        self.cipher_size.div_ceil(CHUNK)
    }

    /// Stripes: `ceil(n / K)`.
    pub fn stripe_count(&self) -> u64 {
        self.chunk_count().div_ceil(self.k as u64)
    }

    /// Data chunks stripe `stripe` holds: K, but for a short last stripe
    /// (0 past the last stripe).
    pub fn stripe_data_chunks(&self, stripe: u64) -> usize {
        if stripe >= self.stripe_count() {
            return 0;
        }
        (self.chunk_count() - stripe * self.k as u64).min(self.k as u64) as usize
    }

    /// Whether shard `shard` is a parity shard (`K <= shard < K+M`).
    pub fn is_parity(&self, shard: usize) -> bool {
        (self.k..self.shards()).contains(&shard)
    }

    /// Bytes of the ciphertext's last chunk (`1..=CHUNK_SIZE`).
    fn last_len(&self) -> usize {
        (self.cipher_size - (self.chunk_count() - 1) * CHUNK) as usize
    }

    /// Bytes of shard `shard`'s chunk in stripe `stripe` (its chunk number
    /// `stripe`): a data chunk's real length, [`CHUNK_SIZE`] for parity, 0
    /// where the shard has no chunk (past the end, or no such shard).
    pub fn chunk_len(&self, stripe: u64, shard: usize) -> usize {
        if stripe >= self.stripe_count() || shard >= self.shards() {
            return 0;
        }
        if self.is_parity(shard) {
            return CHUNK_SIZE;
        }
        // stripe < stripe_count, so this is below n + K: no overflow.
        let i = stripe * self.k as u64 + shard as u64;
        let n = self.chunk_count();
        if i >= n {
            0
        } else if i == n - 1 {
            self.last_len()
        } else {
            CHUNK_SIZE
        }
    }

    /// Chunks of shard `shard`: every stripe's for parity, `ceil((n - j) /
    /// K)` for data shard `j` (0 if it is empty or does not exist).
    pub fn shard_chunks(&self, shard: usize) -> u64 {
        if shard >= self.shards() {
            return 0;
        }
        if self.is_parity(shard) {
            return self.stripe_count();
        }
        let (n, j) = (self.chunk_count(), shard as u64);
        if j >= n {
            0
        } else {
            (n - 1 - j) / self.k as u64 + 1
        }
    }

    /// Bytes of shard `shard`: what its contract stores (0: an empty data
    /// shard of a file of fewer than K chunks, which is not stored).
    pub fn shard_size(&self, shard: usize) -> u64 {
        let count = self.shard_chunks(shard);
        if count == 0 {
            return 0;
        }
        (count - 1) * CHUNK + self.chunk_len(count - 1, shard) as u64
    }

    /// Bytes stored over all shards: the ciphertext plus its parity.
    pub fn stored_size(&self) -> u64 {
        self.cipher_size + self.m as u64 * self.stripe_count() * CHUNK
    }

    /// Which chunk of which stripe chunk `index` of shard `shard` is:
    /// `(stripe, shard)`, i.e. `(index, shard)`; `None` past the shard's end.
    pub fn shard_chunk(&self, shard: usize, index: u64) -> Option<(u64, usize)> {
        (index < self.shard_chunks(shard)).then_some((index, shard))
    }

    /// The ciphertext chunk that is data chunk `shard` of stripe `stripe`
    /// (`stripe x K + shard`); `None` for parity or past the end.
    pub fn file_chunk(&self, stripe: u64, shard: usize) -> Option<u64> {
        (shard < self.k && self.chunk_len(stripe, shard) > 0)
            .then(|| stripe * self.k as u64 + shard as u64)
    }

    /// Where ciphertext chunk `chunk` is stored: `(data shard, chunk index in
    /// it)` = `(chunk % K, chunk / K)`; its stripe is that index.
    pub fn locate(&self, chunk: u64) -> Option<(usize, u64)> {
        (chunk < self.chunk_count())
            .then(|| ((chunk % self.k as u64) as usize, chunk / self.k as u64))
    }

    /// The M parity chunks of a stripe of `data` chunks (at most K, each at
    /// most [`CHUNK_SIZE`]; missing and short ones count as zero-padded),
    /// each [`CHUNK_SIZE`] bytes. Empty for `M = 0`.
    ///
    /// The coder's working space (a few MiB) is kept per thread and reused.
    /// A pipeline that encodes stripe after stripe should reuse its parity
    /// buffers too: [`Layout::encode_stripe_into`].
    pub fn encode_stripe(&self, data: &[&[u8]]) -> Result<Vec<Vec<u8>>, ShardError> {
        let mut parity = Vec::new();
        self.encode_stripe_into(data, &mut parity)?;
        Ok(parity)
    }

    /// [`Layout::encode_stripe`] into `parity`: it is made M buffers long
    /// and each buffer is overwritten, reusing their memory (fresh 1 MiB
    /// buffers per stripe cost page faults: about 3x slower at 4+2 in
    /// `examples/erasure_bench.rs`).
    pub fn encode_stripe_into(
        &self,
        data: &[&[u8]],
        parity: &mut Vec<Vec<u8>>,
    ) -> Result<(), ShardError> {
        if data.len() > self.k {
            return Err(ShardError::TooManyDataChunks {
                got: data.len(),
                k: self.k,
            });
        }
        if let Some((shard, c)) = data.iter().enumerate().find(|(_, c)| c.len() > CHUNK_SIZE) {
            return Err(ShardError::ChunkTooLong {
                shard,
                got: c.len(),
            });
        }
        parity.resize_with(self.m, Vec::new);
        if self.m == 0 {
            return Ok(());
        }
        CODER.with(|c| c.borrow_mut().encode(self.k, self.m, data, parity))
    }

    /// Checks the chunks of stripe `stripe` given as `(shard, bytes)`: one
    /// slot per shard, with the data chunks the stripe lacks filled in as
    /// empty. Errors unless at least K are at hand.
    fn slots<'a>(
        &self,
        stripe: u64,
        chunks: &[(usize, &'a [u8])],
    ) -> Result<Vec<Option<&'a [u8]>>, ShardError> {
        if stripe >= self.stripe_count() {
            return Err(ShardError::NoSuchStripe {
                stripe,
                stripes: self.stripe_count(),
            });
        }
        let mut slots: Vec<Option<&[u8]>> = vec![None; self.shards()];
        for &(shard, bytes) in chunks {
            let slot = slots.get_mut(shard).ok_or(ShardError::NoSuchShard {
                shard,
                shards: self.shards(),
            })?;
            if slot.is_some() {
                return Err(ShardError::DuplicateChunk { stripe, shard });
            }
            let expected = self.chunk_len(stripe, shard);
            if bytes.len() != expected {
                return Err(ShardError::ChunkLength {
                    stripe,
                    shard,
                    got: bytes.len(),
                    expected,
                });
            }
            *slot = Some(bytes);
        }
        for (shard, slot) in slots.iter_mut().enumerate().take(self.k) {
            if slot.is_none() && self.chunk_len(stripe, shard) == 0 {
                *slot = Some(&[]);
            }
        }
        let have = slots.iter().filter(|s| s.is_some()).count();
        if have < self.k {
            return Err(ShardError::TooFewChunks {
                stripe,
                have,
                need: self.k,
            });
        }
        Ok(slots)
    }

    /// The K data chunks of stripe `stripe`, with their real lengths (empty
    /// for the chunks a short last stripe lacks), from any K of its chunks
    /// given as `(shard, bytes)`, each exactly [`Layout::chunk_len`] long.
    /// The chunks a short last stripe lacks need not be given: they are
    /// known zeros and count towards the K. Decodes only if a data chunk is
    /// missing.
    ///
    /// Reed-Solomon corrects erasures, not errors: check every chunk against
    /// its chunk root first and leave out those that do not match, or the
    /// result is garbage (which the data chunks' roots then reveal).
    pub fn reconstruct_stripe(
        &self,
        stripe: u64,
        chunks: &[(usize, &[u8])],
    ) -> Result<Vec<Vec<u8>>, ShardError> {
        let slots = self.slots(stripe, chunks)?;
        if slots[..self.k].iter().all(Option::is_some) {
            return Ok(slots[..self.k]
                .iter()
                .map(|s| s.unwrap_or_default().to_vec())
                .collect());
        }
        let lens: Vec<usize> = (0..self.k).map(|j| self.chunk_len(stripe, j)).collect();
        CODER.with(|c| c.borrow_mut().decode(self.k, self.m, &slots, &lens))
    }

    /// Chunk `shard` of stripe `stripe` (data or parity: what a lost shard
    /// held there, [`Layout::chunk_len`] bytes) from any K other chunks of
    /// the stripe, given as in [`Layout::reconstruct_stripe`]. What repair
    /// does, one stripe at a time: read K chunks, write one.
    pub fn rebuild_shard_chunk(
        &self,
        stripe: u64,
        shard: usize,
        chunks: &[(usize, &[u8])],
    ) -> Result<Vec<u8>, ShardError> {
        if shard >= self.shards() {
            return Err(ShardError::NoSuchShard {
                shard,
                shards: self.shards(),
            });
        }
        let data = self.reconstruct_stripe(stripe, chunks)?;
        if shard < self.k {
            return Ok(data.into_iter().nth(shard).unwrap_or_default());
        }
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        Ok(self
            .encode_stripe(&refs)?
            .into_iter()
            .nth(shard - self.k)
            .unwrap_or_default())
    }

    /// Splits a whole ciphertext held in memory into its K+M shards
    /// ([`Layout::shard_size`] bytes each; empty ones included). For tests
    /// and tools: `put` works a stripe at a time with
    /// [`Layout::encode_stripe`].
    pub fn split(&self, ciphertext: &[u8]) -> Result<Vec<Vec<u8>>, ShardError> {
        if ciphertext.len() as u64 != self.cipher_size {
            return Err(ShardError::CipherLength {
                got: ciphertext.len() as u64,
                expected: self.cipher_size,
            });
        }
        let mut shards: Vec<Vec<u8>> = (0..self.shards())
            .map(|j| Vec::with_capacity(self.shard_size(j) as usize))
            .collect();
        for stripe in ciphertext.chunks(self.k * CHUNK_SIZE) {
            let data: Vec<&[u8]> = stripe.chunks(CHUNK_SIZE).collect();
            let parity = self.encode_stripe(&data)?;
            // A short last stripe has fewer data chunks: parity p still
            // goes to shard K+p.
            for (shard, chunk) in data.iter().enumerate() {
                shards[shard].extend_from_slice(chunk);
            }
            for (p, chunk) in parity.iter().enumerate() {
                shards[self.k + p].extend_from_slice(chunk);
            }
        }
        Ok(shards)
    }

    /// The whole ciphertext from the shards at hand (`shards[j]`: shard `j`
    /// or `None`, K+M entries; empty shards need not be given), held in
    /// memory. For tests and tools: `get` and repair work a stripe at a time
    /// with [`Layout::reconstruct_stripe`].
    pub fn join(&self, shards: &[Option<&[u8]>]) -> Result<Vec<u8>, ShardError> {
        if shards.len() != self.shards() {
            return Err(ShardError::ShardCount {
                got: shards.len(),
                expected: self.shards(),
            });
        }
        let mut at_hand = 0u64;
        for (shard, s) in shards.iter().enumerate() {
            if let Some(s) = s {
                let expected = self.shard_size(shard);
                if s.len() as u64 != expected {
                    return Err(ShardError::ShardLength {
                        shard,
                        got: s.len() as u64,
                        expected,
                    });
                }
                at_hand += expected;
            }
        }
        let mut out = Vec::with_capacity(at_hand.min(self.cipher_size) as usize);
        let mut chunks = Vec::with_capacity(self.shards());
        for stripe in 0..self.stripe_count() {
            chunks.clear();
            let start = (stripe * CHUNK) as usize;
            for (shard, s) in shards.iter().enumerate() {
                let len = self.chunk_len(stripe, shard);
                if let (Some(s), true) = (s, len > 0) {
                    chunks.push((shard, &s[start..start + len]));
                }
            }
            for chunk in self.reconstruct_stripe(stripe, &chunks)? {
                out.extend_from_slice(&chunk);
            }
        }
        Ok(out)
    }
}

thread_local! {
    /// This thread's coder: the Reed-Solomon working space is allocated once
    /// and reused stripe after stripe.
    static CODER: RefCell<Coder> = RefCell::new(Coder::default());
}

/// A Reed-Solomon encoder and decoder over [`CHUNK_SIZE`] shards, and a
/// buffer to zero-pad short chunks in.
#[derive(Default)]
struct Coder {
    encoder: Option<ReedSolomonEncoder>,
    decoder: Option<ReedSolomonDecoder>,
    pad: Vec<u8>,
}

/// `chunk` zero-padded to [`CHUNK_SIZE`] (in `pad` if it is short).
fn padded<'a>(chunk: &'a [u8], pad: &'a mut Vec<u8>) -> &'a [u8] {
    match chunk.len() {
        CHUNK_SIZE => chunk,
        0 => &ZEROS,
        _ => {
            pad.clear();
            pad.extend_from_slice(chunk);
            pad.resize(CHUNK_SIZE, 0);
            pad
        }
    }
}

impl Coder {
    /// The M parity chunks of `data` into `parity` (M buffers; checked by
    /// the caller, `m >= 1`).
    fn encode(
        &mut self,
        k: usize,
        m: usize,
        data: &[&[u8]],
        parity: &mut [Vec<u8>],
    ) -> Result<(), ShardError> {
        let encoder = match &mut self.encoder {
            Some(e) => {
                e.reset(k, m, CHUNK_SIZE)?;
                e
            }
            slot => slot.insert(ReedSolomonEncoder::new(k, m, CHUNK_SIZE)?),
        };
        for j in 0..k {
            let chunk = data.get(j).copied().unwrap_or_default();
            encoder.add_original_shard(padded(chunk, &mut self.pad))?;
        }
        let result = encoder.encode()?;
        for (out, chunk) in parity.iter_mut().zip(result.recovery_iter()) {
            out.clear();
            out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// The K data chunks (truncated to `lens`) from `slots` (checked by the
    /// caller: at least K at hand, some data chunk missing, so `m >= 1`).
    fn decode(
        &mut self,
        k: usize,
        m: usize,
        slots: &[Option<&[u8]>],
        lens: &[usize],
    ) -> Result<Vec<Vec<u8>>, ShardError> {
        let decoder = match &mut self.decoder {
            Some(d) => {
                d.reset(k, m, CHUNK_SIZE)?;
                d
            }
            slot => slot.insert(ReedSolomonDecoder::new(k, m, CHUNK_SIZE)?),
        };
        // Exactly K shards: the data at hand first (known zeros included),
        // then parity.
        let mut fed = 0;
        for (j, chunk) in slots[..k].iter().enumerate() {
            if let Some(chunk) = chunk {
                decoder.add_original_shard(j, padded(chunk, &mut self.pad))?;
                fed += 1;
            }
        }
        for (p, chunk) in slots[k..].iter().enumerate() {
            if fed == k {
                break;
            }
            if let Some(chunk) = chunk {
                decoder.add_recovery_shard(p, chunk)?;
                fed += 1;
            }
        }
        let result = decoder.decode()?;
        let mut out = Vec::with_capacity(k);
        for (j, (slot, &len)) in slots[..k].iter().zip(lens).enumerate() {
            let chunk = match slot {
                Some(chunk) => chunk.to_vec(),
                None => {
                    let restored = result
                        .restored_original(j)
                        .ok_or_else(|| ShardError::Codec(format!("data chunk {j} not restored")))?;
                    restored[..len.min(restored.len())].to_vec()
                }
            };
            out.push(chunk);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masp_proofs::{chunk_root, root_of_chunk_roots, FileTree, Hash};
    use proptest::prelude::*;

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Every `size`-subset of `0..n`, as bit masks.
    fn subsets(n: usize, size: usize) -> impl Iterator<Item = u32> {
        (0u32..1 << n).filter(move |s| s.count_ones() as usize == size)
    }

    /// Sizes that exercise every edge of `k`-chunk stripes: an empty file's
    /// 16 bytes, less than a chunk (odd), exact multiples of a chunk and of
    /// a stripe, a stripe plus one byte, and a ragged last stripe.
    fn sizes(k: usize) -> Vec<u64> {
        let k = k as u64;
        vec![
            16,
            1001,
            CHUNK,
            2 * CHUNK,
            k * CHUNK,
            k * CHUNK + 1,
            (k + 1) * CHUNK + 777,
        ]
    }

    fn chunk_roots_of(shard: &[u8]) -> Vec<Hash> {
        shard.chunks(CHUNK_SIZE).map(chunk_root).collect()
    }

    #[test]
    fn shards_parse_as_k_plus_m_and_bad_ones_say_what_to_fix() {
        assert_eq!(parse_shards("4+2"), Ok((4, 2)));
        assert_eq!(parse_shards(" 10 + 4 "), Ok((10, 4)));
        assert_eq!(parse_shards("1+0"), Ok((1, 0)));
        assert_eq!(parse_shards("1+254"), Ok((1, 254)));
        let err = |s: &str| parse_shards(s).unwrap_err().to_string();
        assert!(err("0+2").starts_with("--shards 0+2: K,"), "{}", err("0+2"));
        assert!(
            err("200+100").contains("at most 255 shards"),
            "{}",
            err("200+100")
        );
        assert!(err("4").contains("write K+M"), "{}", err("4"));
        assert!(err("4-2").contains("write K+M"));
        for bad in [
            "", "+", "4+", "+2", "-1+2", "4+-2", "4+2+1", "a+b", "4.5+2", "4 2+1",
        ] {
            assert!(
                matches!(parse_shards(bad), Err(ShardError::Syntax { .. })),
                "{bad:?}: {:?}",
                parse_shards(bad)
            );
        }
        assert!(err("99999999999999999999999+1").contains("far too many"));
        assert!(err("18446744073709551615+1").contains("at most 255"));
    }

    #[test]
    fn layouts_are_checked() {
        assert!(Layout::new(4, 2, 16).is_ok());
        assert!(Layout::new(1, 0, MAX_CIPHER_SIZE).is_ok());
        assert!(matches!(
            Layout::new(0, 2, 16),
            Err(ShardError::BadShards { k: 0, m: 2, .. })
        ));
        assert!(Layout::new(200, 56, 16).is_err());
        assert!(Layout::new(usize::MAX, usize::MAX, 16).is_err());
        assert_eq!(Layout::new(4, 2, 0), Err(ShardError::BadCipherSize(0)));
        assert!(Layout::new(4, 2, MAX_CIPHER_SIZE + 1).is_err());
    }

    #[test]
    fn the_layout_deals_chunks_round_robin() {
        // 4+2 over 10.5 chunks: stripes of 4, 4 and 2.5 chunks.
        let l = Layout::new(4, 2, 10 * CHUNK + CHUNK / 2).unwrap();
        assert_eq!(l.chunk_count(), 11);
        assert_eq!(l.stripe_count(), 3);
        assert_eq!(
            (0..4).map(|s| l.stripe_data_chunks(s)).collect::<Vec<_>>(),
            [4, 4, 3, 0]
        );
        assert_eq!(
            (0..7).map(|j| l.shard_chunks(j)).collect::<Vec<_>>(),
            [3, 3, 3, 2, 3, 3, 0]
        );
        assert_eq!(l.shard_size(2), 2 * CHUNK + CHUNK / 2);
        assert_eq!(l.shard_size(3), 2 * CHUNK);
        assert_eq!(l.shard_size(5), 3 * CHUNK);
        assert_eq!(l.stored_size(), l.cipher_size() + 6 * CHUNK);
        assert_eq!(l.locate(10), Some((2, 2)));
        assert_eq!(l.file_chunk(2, 2), Some(10));
        assert_eq!(l.file_chunk(2, 3), None);
        assert_eq!(l.file_chunk(0, 4), None);
        assert_eq!(l.locate(11), None);
        assert_eq!(l.chunk_len(2, 2), CHUNK_SIZE / 2);
        assert_eq!(l.chunk_len(2, 3), 0);
        assert_eq!(l.chunk_len(2, 5), CHUNK_SIZE);
        assert_eq!(l.chunk_len(3, 5), 0);
        assert_eq!(l.shard_chunk(3, 1), Some((1, 3)));
        assert_eq!(l.shard_chunk(3, 2), None);
        assert!(l.is_parity(4) && !l.is_parity(3) && !l.is_parity(6));

        // A file of fewer chunks than K leaves data shards empty.
        let small = Layout::new(4, 2, 16).unwrap();
        assert_eq!(
            (0..6).map(|j| small.shard_size(j)).collect::<Vec<_>>(),
            [16, 0, 0, 0, CHUNK, CHUNK]
        );
    }

    #[test]
    fn every_k_of_the_shards_give_the_file_back() {
        for (k, m) in [(2, 1), (3, 2), (4, 2)] {
            for size in sizes(k) {
                let l = Layout::new(k, m, size).unwrap();
                let cipher = bytes(size as usize, size ^ (k as u64) << 40);
                let shards = l.split(&cipher).unwrap();
                for (j, s) in shards.iter().enumerate() {
                    assert_eq!(s.len() as u64, l.shard_size(j), "{k}+{m} {size} shard {j}");
                }
                let stored: u64 = shards.iter().map(|s| s.len() as u64).sum();
                assert_eq!(stored, l.stored_size());
                for keep in subsets(k + m, k) {
                    let at_hand: Vec<Option<&[u8]>> = shards
                        .iter()
                        .enumerate()
                        .map(|(j, s)| (keep & 1 << j != 0).then_some(&s[..]))
                        .collect();
                    assert!(
                        l.join(&at_hand).unwrap() == cipher,
                        "{k}+{m}, {size} bytes, shards {keep:b}"
                    );
                }
                // One shard fewer is not enough, unless the missing ones are
                // the empty shards of a file of fewer than K chunks.
                if l.chunk_count() >= k as u64 {
                    for keep in subsets(k + m, k - 1) {
                        let at_hand: Vec<Option<&[u8]>> = shards
                            .iter()
                            .enumerate()
                            .map(|(j, s)| (keep & 1 << j != 0).then_some(&s[..]))
                            .collect();
                        assert!(matches!(
                            l.join(&at_hand),
                            Err(ShardError::TooFewChunks { .. })
                        ));
                    }
                } else {
                    // Any one stored shard per chunk the file has.
                    let stored: Vec<usize> = (0..k + m).filter(|&j| l.shard_size(j) > 0).collect();
                    let n = l.chunk_count() as usize;
                    for keep in subsets(stored.len(), n) {
                        let mut at_hand = vec![None; k + m];
                        for (b, &j) in stored.iter().enumerate() {
                            if keep & 1 << b != 0 {
                                at_hand[j] = Some(&shards[j][..]);
                            }
                        }
                        assert!(l.join(&at_hand).unwrap() == cipher);
                    }
                }
            }
        }
    }

    #[test]
    fn every_lost_chunk_is_rebuilt_from_any_k_others() {
        for (k, m) in [(2, 1), (3, 2), (4, 2)] {
            let size = (k as u64 + 1) * CHUNK + 777;
            let l = Layout::new(k, m, size).unwrap();
            let shards = l.split(&bytes(size as usize, 7)).unwrap();
            for stripe in 0..l.stripe_count() {
                let chunk = |j: usize| {
                    let start = (stripe * CHUNK) as usize;
                    &shards[j][start..start + l.chunk_len(stripe, j)]
                };
                for lost in 0..k + m {
                    for keep in subsets(k + m, k).filter(|s| s & 1 << lost == 0) {
                        let given: Vec<(usize, &[u8])> = (0..k + m)
                            .filter(|j| keep & 1 << j != 0)
                            .map(|j| (j, chunk(j)))
                            .collect();
                        let rebuilt = l.rebuild_shard_chunk(stripe, lost, &given).unwrap();
                        assert!(
                            rebuilt == chunk(lost),
                            "{k}+{m}: stripe {stripe}, chunk {lost} from {keep:b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_shard_is_a_contract_ciphertext_with_its_own_merkle_root() {
        let (k, m) = (3, 2);
        for size in sizes(k) {
            let l = Layout::new(k, m, size).unwrap();
            let cipher = bytes(size as usize, 11);
            let file_roots = chunk_roots_of(&cipher);
            let shards = l.split(&cipher).unwrap();
            for (j, shard) in shards.iter().enumerate() {
                if shard.is_empty() {
                    continue;
                }
                // What a host builds over the shard's bytes...
                let tree = FileTree::build(&shard[..]).unwrap();
                assert_eq!(tree.size(), l.shard_size(j));
                assert_eq!(tree.leaf_count(), masp_proofs::leaf_count(l.shard_size(j)));
                // ... is the tree over the chunks the layout says it has.
                let roots = chunk_roots_of(shard);
                assert_eq!(roots.len() as u64, l.shard_chunks(j));
                for (i, c) in shard.chunks(CHUNK_SIZE).enumerate() {
                    assert_eq!(c.len(), l.chunk_len(i as u64, j));
                }
                assert_eq!(tree.chunk_roots(), &roots[..]);
                assert_eq!(tree.root(), root_of_chunk_roots(&mut roots.clone()));
                // A data shard's chunks are the file's, with the file's
                // chunk roots.
                for (i, root) in roots.iter().enumerate() {
                    if let Some(c) = l.file_chunk(i as u64, j) {
                        assert_eq!(*root, file_roots[c as usize]);
                        assert_eq!(l.locate(c), Some((j, i as u64)));
                    } else {
                        assert!(l.is_parity(j));
                    }
                }
            }
        }
    }

    #[test]
    fn a_corrupted_chunk_is_caught_by_its_root_and_left_out() {
        let (k, m) = (4, 2);
        let size = 2 * 4 * CHUNK;
        let l = Layout::new(k, m, size).unwrap();
        let cipher = bytes(size as usize, 5);
        let shards = l.split(&cipher).unwrap();
        let roots: Vec<Vec<Hash>> = shards.iter().map(|s| chunk_roots_of(s)).collect();
        let stripe = 1u64;
        let start = (stripe * CHUNK) as usize;
        let mut chunks: Vec<Vec<u8>> = shards
            .iter()
            .map(|s| s[start..start + CHUNK_SIZE].to_vec())
            .collect();
        // A host flips a bit of data chunk 1 and another of parity chunk 5.
        chunks[1][12345] ^= 0x10;
        chunks[5][0] ^= 1;
        let good: Vec<(usize, &[u8])> = chunks
            .iter()
            .enumerate()
            .filter(|(j, c)| chunk_root(c) == roots[*j][stripe as usize])
            .map(|(j, c)| (j, &c[..]))
            .collect();
        assert_eq!(good.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 2, 3, 4]);
        let data = l.reconstruct_stripe(stripe, &good).unwrap();
        assert!(data.concat() == cipher[4 * CHUNK_SIZE..]);
        // Fed unchecked, the bad chunk yields garbage, which the data
        // chunks' roots reveal.
        let unchecked: Vec<(usize, &[u8])> =
            [0, 1, 3, 4].iter().map(|&j| (j, &chunks[j][..])).collect();
        let garbage = l.rebuild_shard_chunk(stripe, 2, &unchecked).unwrap();
        assert_ne!(chunk_root(&garbage), roots[2][stripe as usize]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let l = Layout::new(2, 1, 2 * CHUNK + 10).unwrap();
        let (full, short, long) = (
            vec![0u8; CHUNK_SIZE],
            vec![0u8; 10],
            vec![0u8; CHUNK_SIZE + 1],
        );
        let (full, short, long, empty): (&[u8], &[u8], &[u8], &[u8]) = (&full, &short, &long, &[]);
        // Encoding.
        assert!(matches!(
            l.encode_stripe(&[full, full, full]),
            Err(ShardError::TooManyDataChunks { got: 3, k: 2 })
        ));
        assert!(matches!(
            l.encode_stripe(&[full, long]),
            Err(ShardError::ChunkTooLong { shard: 1, .. })
        ));
        assert_eq!(l.encode_stripe(&[]).unwrap(), vec![vec![0u8; CHUNK_SIZE]]);
        // Into old buffers: made M long, each overwritten.
        let mut parity = vec![vec![9u8; 5], vec![1u8; 3]];
        l.encode_stripe_into(&[full, short], &mut parity).unwrap();
        assert_eq!(parity, l.encode_stripe(&[full, short]).unwrap());
        assert_eq!(
            Layout::new(2, 0, 1).unwrap().encode_stripe(&[short]),
            Ok(vec![])
        );
        // Reconstruction.
        let r = |stripe, chunks: &[(usize, &[u8])]| l.reconstruct_stripe(stripe, chunks);
        assert!(matches!(r(2, &[]), Err(ShardError::NoSuchStripe { .. })));
        assert!(matches!(
            r(0, &[(3, full)]),
            Err(ShardError::NoSuchShard { .. })
        ));
        assert!(matches!(
            r(0, &[(0, full), (0, full)]),
            Err(ShardError::DuplicateChunk { .. })
        ));
        assert!(matches!(
            r(0, &[(0, short), (1, full)]),
            Err(ShardError::ChunkLength { .. })
        ));
        assert!(matches!(
            r(1, &[(0, full)]),
            Err(ShardError::ChunkLength { .. })
        ));
        assert_eq!(
            r(0, &[(2, full)]),
            Err(ShardError::TooFewChunks {
                stripe: 0,
                have: 1,
                need: 2
            })
        );
        // The last stripe lacks data chunk 1: one chunk is enough.
        assert_eq!(r(1, &[(0, short)]).unwrap(), vec![short.to_vec(), vec![]]);
        assert_eq!(
            r(1, &[(1, empty)]),
            Err(ShardError::TooFewChunks {
                stripe: 1,
                have: 1,
                need: 2
            })
        );
        assert!(matches!(
            l.rebuild_shard_chunk(0, 3, &[(0, full), (1, full)]),
            Err(ShardError::NoSuchShard { .. })
        ));
        // Whole shards.
        assert!(matches!(
            l.split(short),
            Err(ShardError::CipherLength { .. })
        ));
        assert!(matches!(
            l.join(&[None, None]),
            Err(ShardError::ShardCount { .. })
        ));
        assert!(matches!(
            l.join(&[Some(short), None, None]),
            Err(ShardError::ShardLength { .. })
        ));
        assert!(matches!(
            l.join(&[None, None, None]),
            Err(ShardError::TooFewChunks { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The layout's arithmetic holds for any size, however large.
        #[test]
        fn the_layout_adds_up(k in 1usize..=12, m in 0usize..=4, size in 1u64..=MAX_CIPHER_SIZE) {
            let l = Layout::new(k, m, size).unwrap();
            let data: u64 = (0..k).map(|j| l.shard_size(j)).sum();
            prop_assert_eq!(data, size);
            let all: u64 = (0..k + m).map(|j| l.shard_size(j)).sum();
            prop_assert_eq!(all, l.stored_size());
            let chunks: u64 = (0..k).map(|j| l.shard_chunks(j)).sum();
            prop_assert_eq!(chunks, l.chunk_count());
            let last = l.chunk_count() - 1;
            let (j, i) = l.locate(last).unwrap();
            prop_assert_eq!(l.file_chunk(i, j), Some(last));
            prop_assert_eq!(i, l.stripe_count() - 1);
            prop_assert_eq!(l.chunk_len(i, j) as u64, size - last * CHUNK);
            prop_assert_eq!(l.shard_chunk(j, i), Some((i, j)));
            prop_assert_eq!(l.shard_chunk(j, i + 1), None);
            prop_assert_eq!(l.locate(last + 1), None);
        }

        /// Garbage in: an error or data, never a panic.
        #[test]
        fn garbage_chunks_never_panic(
            k in 1usize..=4,
            m in 0usize..=3,
            size in 1u64..=6 * CHUNK,
            stripe in 0u64..4,
            given in proptest::collection::vec((0usize..8, 0usize..4), 0..8),
        ) {
            let l = Layout::new(k, m, size).unwrap();
            let lens = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE];
            let bufs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![7u8; n]).collect();
            let chunks: Vec<(usize, &[u8])> =
                given.iter().map(|&(j, b)| (j, &bufs[b][..])).collect();
            let _ = l.reconstruct_stripe(stripe, &chunks);
            let _ = l.rebuild_shard_chunk(stripe, given.first().map_or(0, |g| g.0), &chunks);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any file, any K+M, any M shards lost: the file comes back.
        #[test]
        fn any_m_lost_shards_are_survived(
            k in 1usize..=5,
            m in 0usize..=3,
            size in 1u64..=6 * CHUNK + 3,
            lost in any::<u32>(),
            seed in any::<u64>(),
        ) {
            let l = Layout::new(k, m, size).unwrap();
            let cipher = bytes(size as usize, seed);
            let shards = l.split(&cipher).unwrap();
            // Drop up to M shards, picked by the low bits of `lost`.
            let mut gone = 0;
            let at_hand: Vec<Option<&[u8]>> = shards
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    if lost & 1 << j != 0 && gone < m {
                        gone += 1;
                        None
                    } else {
                        Some(&s[..])
                    }
                })
                .collect();
            prop_assert!(l.join(&at_hand).unwrap() == cipher);
        }
    }
}
