//! Erasure coding of a file into K data + M parity shards (issue 20,
//! "supersafe storage"): any K of the K+M shards give the file back, so it
//! survives the loss of any M hosts for about `(K+M)/K` times its size
//! (4+2: any 2 of 6 hosts lost, for 1.5x) instead of the `M+1` times that
//! `M+1` full replicas cost. Pure and synchronous: this module only turns
//! plaintext chunks into plaintext shard chunks and back; sealing them
//! ([`crate::crypto::ShardCipher`]) and placing, uploading and fetching
//! them is the client's (`masp_client::shards`).
//!
//! ## The layout: stripes of K plaintext chunks
//!
//! The plaintext is cut into chunks `c_0..c_{n-1}` of [`PLAIN_CHUNK`]
//! bytes (1 MiB less a tag; only the last one shorter; an empty file is one
//! empty chunk, as in [`crate::crypto`]). They are grouped in **stripes of
//! K consecutive chunks**: stripe `s` holds `c_{sK}..c_{sK+K-1}` (the last
//! stripe may hold fewer).
//!
//! - **Data shard `j`** (`0 <= j < K`) is chunk `c_{sK+j}` of every stripe
//!   `s` that has it: the code is systematic, the data shards *are* the
//!   plaintext, dealt out round-robin.
//! - **Parity shard `K+q`** (`0 <= q < M`) holds parity chunk `q` of every
//!   stripe. A stripe is encoded with Reed-Solomon ([`reed_solomon_simd`],
//!   GF(2^16), Leopard) over K chunks of the stripe's **RS length**: its
//!   longest chunk rounded up to even (the library needs even lengths).
//!   Shorter chunks, and the chunks a short last stripe lacks, count as
//!   zero-padded; the padding is implicit, never stored nor sent. So the
//!   parity chunks of full stripes are [`PLAIN_CHUNK`] long and only the
//!   last stripe's may be short: a 100 KB file at 4+2 is one 100 KB data
//!   shard and two 100 KB parity shards.
//! - **K = 1** (`--replicas N` is the layout 1+(N-1)): no Reed-Solomon;
//!   every "parity" shard is a copy of the plaintext.
//! - Chunk `i` of a shard is its chunk of stripe `i`.
//!
//! Each chunk `i` of shard `t` is then sealed under shard `t`'s own key
//! ([`crate::crypto::ShardCipher`]), so a sealed shard is a normal MASP
//! ciphertext: 1 MiB chunks but the last, lined up with the storage-proof
//! Merkle tree ([`masp_proofs::chunk_root`],
//! [`masp_proofs::root_of_chunk_roots`]). Hosts and the chain need not know
//! about erasure coding, and since every shard is under its own key, no
//! shard can be computed from others without the Sender's key: one operator
//! behind several host accounts must store every shard it is paid for.
//!
//! ## Reading, repair, corruption
//!
//! - **Reading**: stripe by stripe, any K chunks of a stripe (counting the
//!   chunks it lacks as known zeros) give its data chunks
//!   ([`Layout::reconstruct_stripe`]); with all data chunks at hand nothing
//!   is decoded.
//! - **Repair** is local and bounded: a lost shard is rebuilt one stripe at
//!   a time from K others ([`Layout::rebuild_shard_chunk`]); memory is a
//!   stripe, never the file.
//! - **Corruption is caught before decoding**: Reed-Solomon corrects
//!   erasures, not errors, so every sealed chunk is checked against its
//!   chunk root (and opened) first, and one that fails is left out like a
//!   lost one.
//!
//! ## Costs and limits
//!
//! - Stored bytes: the plaintext, plus `M` parity chunks per stripe, plus
//!   one tag per chunk ([`Layout::stored_size`]).
//! - A file of fewer than K chunks leaves data shards `n..K` **empty**
//!   ([`Layout::shard_size`] is 0): they are not stored, and decoding
//!   treats them as known zeros, so such a file needs only `n` of its
//!   stored shards ([`Layout::needed`]).
//! - `K >= 1`, `M >= 0`, `K + M <=` [`MAX_SHARDS`] (one host per shard; the
//!   chain takes at most 16). `M = 0` stripes the file over K hosts with no
//!   redundancy.
//! - Encoding runs at several GB/s per core (AVX2/SSSE3/Neon, chosen at run
//!   time; `examples/erasure_bench.rs` measures it), below the cost of
//!   sealing and hashing the same bytes.

use crate::crypto::{self, PLAIN_CHUNK, TAG_LEN};
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use std::cell::RefCell;

/// The most shards (data + parity) a file may have: one host each.
pub const MAX_SHARDS: usize = 255;

/// The largest shard ciphertext the storage-proof tree holds
/// (`2^MAX_DEPTH` leaves, 128 PiB).
pub const MAX_CIPHER_SIZE: u64 = (masp_proofs::LEAF_SIZE as u64) << masp_proofs::MAX_DEPTH;

/// The largest plaintext a layout accepts: what fills [`MAX_CIPHER_SIZE`]
/// with whole sealed chunks (a K=1 shard is as large as the file).
pub const MAX_SIZE: u64 = MAX_CIPHER_SIZE / masp_proofs::CHUNK_SIZE as u64 * PLAIN_CHUNK as u64;

/// [`PLAIN_CHUNK`] as a `u64`.
const CHUNK: u64 = PLAIN_CHUNK as u64;

/// Zeros: the padding of short chunks and of the chunks a stripe lacks.
static ZEROS: [u8; PLAIN_CHUNK] = [0; PLAIN_CHUNK];

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
    /// The file is larger than [`MAX_SIZE`].
    #[error("a file of {0} bytes cannot be stored (at most {MAX_SIZE} bytes)")]
    TooLarge(u64),
    /// The bytes given as the whole plaintext are not [`Layout::size`] long.
    #[error("the plaintext has {got} bytes, the layout {expected}")]
    PlainLength {
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
    /// A data shard that has no chunk in that stripe (a short last stripe).
    #[error("shard {shard} has no chunk in stripe {stripe}")]
    NoSuchChunk {
        /// The stripe.
        stripe: u64,
        /// The shard.
        shard: usize,
    },
    /// Not as many shards given as the layout has.
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
    /// Not as many data chunks as the stripe has.
    #[error("{got} data chunks given for stripe {stripe}, which has {expected}")]
    DataChunks {
        /// The stripe.
        stripe: u64,
        /// Chunks given.
        got: usize,
        /// Chunks it has.
        expected: usize,
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
        /// Distinct chunks at hand (known zeros included).
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
    if k > 1 && m > 0 && !ReedSolomonEncoder::supports(k, m) {
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

/// Where the chunks of a `size`-byte plaintext coded K+M are, and how long
/// each is (see the module docs for the layout). Lengths here are of
/// plaintext chunks unless a name says sealed.
///
/// Built by [`Layout::new`], which checks K, M and the size, so every
/// method is total: an index out of range yields 0, `false`, `None` or an
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    k: usize,
    m: usize,
    size: u64,
}

impl Layout {
    /// The layout of a `size`-byte plaintext in `k` data and `m` parity
    /// shards.
    pub fn new(k: usize, m: usize, size: u64) -> Result<Self, ShardError> {
        check_shards(k, m)?;
        if size > MAX_SIZE {
            return Err(ShardError::TooLarge(size));
        }
        Ok(Self { k, m, size })
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

    /// Plaintext bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Plaintext chunks (`n`, at least 1: an empty file is one empty chunk).
    pub fn chunk_count(&self) -> u64 {
        crypto::chunk_count(self.size)
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

    /// Stored shards it takes to read the file: K, or `n` for a file of
    /// fewer than K chunks (its empty data shards are known zeros).
    pub fn needed(&self) -> usize {
        self.stripe_data_chunks(0)
    }

    /// Whether shard `shard` is a parity shard (`K <= shard < K+M`).
    pub fn is_parity(&self, shard: usize) -> bool {
        (self.k..self.shards()).contains(&shard)
    }

    /// Whether shard `shard` has a chunk in stripe `stripe` (a parity shard
    /// in every stripe; a data shard where the file has that chunk). The
    /// chunk of an empty file is empty, but it is there.
    pub fn has_chunk(&self, stripe: u64, shard: usize) -> bool {
        stripe < self.stripe_count()
            && (self.is_parity(shard)
                || (shard < self.k
                    && stripe * (self.k as u64) + (shard as u64) < self.chunk_count()))
    }

    /// The Reed-Solomon shard length of stripe `stripe`: its longest chunk
    /// (its first) rounded up to even; [`PLAIN_CHUNK`] for a full stripe,
    /// 0 for an empty file (and past the end).
    pub fn rs_len(&self, stripe: u64) -> usize {
        if stripe >= self.stripe_count() {
            return 0;
        }
        let first = crypto::plain_len(self.size, stripe * self.k as u64);
        first + (first & 1)
    }

    /// Plaintext bytes of shard `shard`'s chunk in stripe `stripe` (0 where
    /// it has none): a data chunk's real length; for parity the stripe's RS
    /// length, or the data chunk's length when K = 1 (a copy).
    pub fn plain_len(&self, stripe: u64, shard: usize) -> usize {
        if !self.has_chunk(stripe, shard) {
            0
        } else if shard < self.k {
            crypto::plain_len(self.size, stripe * self.k as u64 + shard as u64)
        } else if self.k == 1 {
            crypto::plain_len(self.size, stripe)
        } else {
            self.rs_len(stripe)
        }
    }

    /// Sealed bytes of that chunk (its plaintext and a tag; 0 where none).
    pub fn sealed_len(&self, stripe: u64, shard: usize) -> usize {
        if self.has_chunk(stripe, shard) {
            self.plain_len(stripe, shard) + TAG_LEN
        } else {
            0
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

    /// Whether shard `shard` is stored (it has a chunk).
    pub fn is_stored(&self, shard: usize) -> bool {
        self.shard_chunks(shard) > 0
    }

    /// The stored shards, in order.
    pub fn stored_shards(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shards()).filter(|&t| self.is_stored(t))
    }

    /// Plaintext bytes of shard `shard` (every chunk but its last is whole).
    pub fn shard_plain_size(&self, shard: usize) -> u64 {
        match self.shard_chunks(shard) {
            0 => 0,
            count => (count - 1) * CHUNK + self.plain_len(count - 1, shard) as u64,
        }
    }

    /// Sealed bytes of shard `shard`: what its contract stores (0: an empty
    /// data shard of a file of fewer than K chunks, which is not stored).
    pub fn shard_size(&self, shard: usize) -> u64 {
        self.shard_plain_size(shard) + self.shard_chunks(shard) * TAG_LEN as u64
    }

    /// Sealed bytes stored over all shards.
    pub fn stored_size(&self) -> u64 {
        (0..self.shards()).map(|t| self.shard_size(t)).sum()
    }

    /// The largest shard's sealed bytes.
    pub fn largest_shard(&self) -> u64 {
        (0..self.shards())
            .map(|t| self.shard_size(t))
            .max()
            .unwrap_or(0)
    }

    /// The plaintext chunk that is data chunk `shard` of stripe `stripe`
    /// (`stripe x K + shard`); `None` for parity or past the end.
    pub fn file_chunk(&self, stripe: u64, shard: usize) -> Option<u64> {
        (shard < self.k && self.has_chunk(stripe, shard))
            .then(|| stripe * self.k as u64 + shard as u64)
    }

    /// Where plaintext chunk `chunk` is stored: `(data shard, chunk index in
    /// it)` = `(chunk % K, chunk / K)`; its stripe is that index.
    pub fn locate(&self, chunk: u64) -> Option<(usize, u64)> {
        (chunk < self.chunk_count())
            .then(|| ((chunk % self.k as u64) as usize, chunk / self.k as u64))
    }

    fn check_stripe(&self, stripe: u64) -> Result<(), ShardError> {
        if stripe >= self.stripe_count() {
            return Err(ShardError::NoSuchStripe {
                stripe,
                stripes: self.stripe_count(),
            });
        }
        Ok(())
    }

    /// The M parity chunks of stripe `stripe` from its data chunks (exactly
    /// [`Layout::stripe_data_chunks`] of them, each [`Layout::plain_len`]
    /// long). Empty for `M = 0`.
    ///
    /// The coder's working space (a few MiB) is kept per thread and reused.
    /// A pipeline that encodes stripe after stripe should reuse its parity
    /// buffers too: [`Layout::encode_stripe_into`].
    pub fn encode_stripe(&self, stripe: u64, data: &[&[u8]]) -> Result<Vec<Vec<u8>>, ShardError> {
        let mut parity = Vec::new();
        self.encode_stripe_into(stripe, data, &mut parity)?;
        Ok(parity)
    }

    /// [`Layout::encode_stripe`] into `parity`: it is made M buffers long
    /// and each buffer is overwritten, reusing their memory (fresh 1 MiB
    /// buffers per stripe cost page faults: about 3x slower at 4+2 in
    /// `examples/erasure_bench.rs`).
    pub fn encode_stripe_into(
        &self,
        stripe: u64,
        data: &[&[u8]],
        parity: &mut Vec<Vec<u8>>,
    ) -> Result<(), ShardError> {
        self.check_stripe(stripe)?;
        let expected = self.stripe_data_chunks(stripe);
        if data.len() != expected {
            return Err(ShardError::DataChunks {
                stripe,
                got: data.len(),
                expected,
            });
        }
        for (shard, chunk) in data.iter().enumerate() {
            let expected = self.plain_len(stripe, shard);
            if chunk.len() != expected {
                return Err(ShardError::ChunkLength {
                    stripe,
                    shard,
                    got: chunk.len(),
                    expected,
                });
            }
        }
        parity.resize_with(self.m, Vec::new);
        let len = self.rs_len(stripe);
        if self.m == 0 || self.k == 1 || len == 0 {
            // No code: copies of the one data chunk (K = 1), or empty.
            let copy = if self.k == 1 { data[0] } else { &[][..] };
            for p in parity.iter_mut() {
                p.clear();
                p.extend_from_slice(copy);
            }
            return Ok(());
        }
        CODER.with(|c| c.borrow_mut().encode(self.k, self.m, len, data, parity))
    }

    /// Checks the chunks of stripe `stripe` given as `(shard, bytes)`: one
    /// slot per shard. Errors unless at least K are at hand, counting the
    /// data chunks the stripe lacks as known zeros.
    fn slots<'a>(
        &self,
        stripe: u64,
        chunks: &[(usize, &'a [u8])],
    ) -> Result<Vec<Option<&'a [u8]>>, ShardError> {
        self.check_stripe(stripe)?;
        let mut slots: Vec<Option<&[u8]>> = vec![None; self.shards()];
        for &(shard, bytes) in chunks {
            let slot = slots.get_mut(shard).ok_or(ShardError::NoSuchShard {
                shard,
                shards: self.shards(),
            })?;
            if !self.has_chunk(stripe, shard) {
                return Err(ShardError::NoSuchChunk { stripe, shard });
            }
            if slot.is_some() {
                return Err(ShardError::DuplicateChunk { stripe, shard });
            }
            let expected = self.plain_len(stripe, shard);
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
        let lacking = self.k - self.stripe_data_chunks(stripe);
        let have = slots.iter().filter(|s| s.is_some()).count() + lacking;
        if have < self.k {
            return Err(ShardError::TooFewChunks {
                stripe,
                have,
                need: self.k,
            });
        }
        Ok(slots)
    }

    /// The data chunks of stripe `stripe` ([`Layout::stripe_data_chunks`]
    /// of them, with their real lengths) from any K of its chunks given as
    /// `(shard, plaintext)`, each exactly [`Layout::plain_len`] long. The
    /// data chunks a short last stripe lacks are known zeros and count
    /// towards the K. Decodes only if a data chunk is missing.
    ///
    /// Reed-Solomon corrects erasures, not errors: check every sealed chunk
    /// against its chunk root and open it first, and leave out those that
    /// fail, or the result is garbage.
    pub fn reconstruct_stripe(
        &self,
        stripe: u64,
        chunks: &[(usize, &[u8])],
    ) -> Result<Vec<Vec<u8>>, ShardError> {
        let slots = self.slots(stripe, chunks)?;
        let d = self.stripe_data_chunks(stripe);
        if slots[..d].iter().all(Option::is_some) {
            return Ok(slots[..d]
                .iter()
                .map(|s| s.unwrap_or_default().to_vec())
                .collect());
        }
        let len = self.rs_len(stripe);
        if self.k == 1 || len == 0 {
            // A copy (K = 1), or the empty file's empty chunk.
            let copy = slots[self.k..].iter().flatten().next().copied();
            return Ok(vec![copy.unwrap_or_default().to_vec()]);
        }
        let lens: Vec<usize> = (0..d).map(|j| self.plain_len(stripe, j)).collect();
        CODER.with(|c| c.borrow_mut().decode(self.k, self.m, len, &slots, &lens))
    }

    /// Chunk `shard` of stripe `stripe` (data or parity plaintext: what a
    /// lost shard held there, [`Layout::plain_len`] bytes) from any K other
    /// chunks of the stripe, given as in [`Layout::reconstruct_stripe`].
    /// What repair does, one stripe at a time: read K chunks, write one.
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
        if !self.has_chunk(stripe, shard) {
            return Err(ShardError::NoSuchChunk { stripe, shard });
        }
        let data = self.reconstruct_stripe(stripe, chunks)?;
        if shard < self.k {
            return Ok(data.into_iter().nth(shard).unwrap_or_default());
        }
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        Ok(self
            .encode_stripe(stripe, &refs)?
            .into_iter()
            .nth(shard - self.k)
            .unwrap_or_default())
    }

    /// Splits a whole plaintext held in memory into its K+M plaintext
    /// shards ([`Layout::shard_plain_size`] bytes each; empty ones
    /// included). For tests and tools: `put` works a stripe at a time.
    pub fn split(&self, plain: &[u8]) -> Result<Vec<Vec<u8>>, ShardError> {
        if plain.len() as u64 != self.size {
            return Err(ShardError::PlainLength {
                got: plain.len() as u64,
                expected: self.size,
            });
        }
        let mut shards: Vec<Vec<u8>> = (0..self.shards())
            .map(|j| Vec::with_capacity(self.shard_plain_size(j) as usize))
            .collect();
        let mut parity = Vec::new();
        for stripe in 0..self.stripe_count() {
            let start = (stripe * self.k as u64 * CHUNK) as usize;
            let data: Vec<&[u8]> = (0..self.stripe_data_chunks(stripe))
                .map(|j| {
                    let at = start + j * PLAIN_CHUNK;
                    &plain[at..at + self.plain_len(stripe, j)]
                })
                .collect();
            self.encode_stripe_into(stripe, &data, &mut parity)?;
            for (shard, chunk) in data.iter().enumerate() {
                shards[shard].extend_from_slice(chunk);
            }
            for (q, chunk) in parity.iter().enumerate() {
                shards[self.k + q].extend_from_slice(chunk);
            }
        }
        Ok(shards)
    }

    /// The whole plaintext from the plaintext shards at hand (`shards[j]`:
    /// shard `j` or `None`, K+M entries; empty shards need not be given),
    /// held in memory. For tests and tools: `get` and repair work a stripe
    /// at a time with [`Layout::reconstruct_stripe`].
    pub fn join(&self, shards: &[Option<&[u8]>]) -> Result<Vec<u8>, ShardError> {
        if shards.len() != self.shards() {
            return Err(ShardError::ShardCount {
                got: shards.len(),
                expected: self.shards(),
            });
        }
        for (shard, s) in shards.iter().enumerate() {
            if let Some(s) = s {
                let expected = self.shard_plain_size(shard);
                if s.len() as u64 != expected {
                    return Err(ShardError::ShardLength {
                        shard,
                        got: s.len() as u64,
                        expected,
                    });
                }
            }
        }
        let mut out = Vec::with_capacity(self.size as usize);
        let mut chunks = Vec::with_capacity(self.shards());
        for stripe in 0..self.stripe_count() {
            chunks.clear();
            let start = (stripe * CHUNK) as usize;
            for (shard, s) in shards.iter().enumerate() {
                if let (Some(s), true) = (s, self.has_chunk(stripe, shard)) {
                    chunks.push((shard, &s[start..start + self.plain_len(stripe, shard)]));
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

/// A Reed-Solomon encoder and decoder, and a buffer to zero-pad short
/// chunks in.
#[derive(Default)]
struct Coder {
    encoder: Option<ReedSolomonEncoder>,
    decoder: Option<ReedSolomonDecoder>,
    pad: Vec<u8>,
}

/// `chunk` zero-padded to `len` (in `pad` if it is short; `len` is at most
/// [`PLAIN_CHUNK`] and at least the chunk's length, checked by the caller).
fn padded<'a>(chunk: &'a [u8], len: usize, pad: &'a mut Vec<u8>) -> &'a [u8] {
    if chunk.len() == len {
        chunk
    } else if chunk.is_empty() {
        &ZEROS[..len]
    } else {
        pad.clear();
        pad.extend_from_slice(chunk);
        pad.resize(len, 0);
        pad
    }
}

impl Coder {
    /// The M parity chunks (`len` bytes each) of `data` into `parity` (M
    /// buffers; checked by the caller: `k >= 2`, `m >= 1`, `len` even and
    /// non-zero, the data no longer than `len`).
    fn encode(
        &mut self,
        k: usize,
        m: usize,
        len: usize,
        data: &[&[u8]],
        parity: &mut [Vec<u8>],
    ) -> Result<(), ShardError> {
        let encoder = match &mut self.encoder {
            Some(e) => {
                e.reset(k, m, len)?;
                e
            }
            slot => slot.insert(ReedSolomonEncoder::new(k, m, len)?),
        };
        for j in 0..k {
            let chunk = data.get(j).copied().unwrap_or_default();
            encoder.add_original_shard(padded(chunk, len, &mut self.pad))?;
        }
        let result = encoder.encode()?;
        for (out, chunk) in parity.iter_mut().zip(result.recovery_iter()) {
            out.clear();
            out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// The data chunks (truncated to `lens`, one per data chunk the stripe
    /// has) from `slots` (checked by the caller: at least K at hand with
    /// the lacking data chunks, some data chunk missing, so `m >= 1`).
    fn decode(
        &mut self,
        k: usize,
        m: usize,
        len: usize,
        slots: &[Option<&[u8]>],
        lens: &[usize],
    ) -> Result<Vec<Vec<u8>>, ShardError> {
        let decoder = match &mut self.decoder {
            Some(d) => {
                d.reset(k, m, len)?;
                d
            }
            slot => slot.insert(ReedSolomonDecoder::new(k, m, len)?),
        };
        // Exactly K shards: the data at hand first (known zeros included),
        // then parity.
        let d = lens.len();
        let mut fed = 0;
        for (j, chunk) in slots[..k].iter().enumerate() {
            let chunk = match chunk {
                Some(c) => *c,
                None if j >= d => &[][..],
                None => continue,
            };
            decoder.add_original_shard(j, padded(chunk, len, &mut self.pad))?;
            fed += 1;
        }
        for (q, chunk) in slots[k..].iter().enumerate() {
            if fed == k {
                break;
            }
            if let Some(chunk) = chunk {
                decoder.add_recovery_shard(q, chunk)?;
                fed += 1;
            }
        }
        let result = decoder.decode()?;
        let mut out = Vec::with_capacity(d);
        for (j, (slot, &want)) in slots[..d].iter().zip(lens).enumerate() {
            let chunk = match slot {
                Some(chunk) => chunk.to_vec(),
                None => {
                    let restored = result
                        .restored_original(j)
                        .ok_or_else(|| ShardError::Codec(format!("data chunk {j} not restored")))?;
                    restored[..want.min(restored.len())].to_vec()
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
    use crate::crypto::{FileCipher, ShardCipher};
    use masp_proofs::{chunk_root, root_of_chunk_roots, FileTree, Hash, CHUNK_SIZE};
    use proptest::prelude::*;

    use masp_proofs::sample_bytes as bytes;

    /// Every `size`-subset of `0..n`, as bit masks.
    fn subsets(n: usize, size: usize) -> impl Iterator<Item = u32> {
        (0u32..1 << n).filter(move |s| s.count_ones() as usize == size)
    }

    /// Sizes that exercise every edge of `k`-chunk stripes: an empty file,
    /// one byte, less than a chunk (odd), exactly one chunk, K chunks and
    /// one byte less or more, and several stripes with a ragged last one.
    fn sizes(k: usize) -> Vec<u64> {
        let k = k as u64;
        vec![
            0,
            1,
            1001,
            CHUNK,
            2 * CHUNK,
            k * CHUNK - 1,
            k * CHUNK,
            k * CHUNK + 1,
            (2 * k + 1) * CHUNK + 777,
        ]
    }

    /// The chunks of a plaintext shard of `layout` (all but the last whole).
    fn shard_chunks<'a>(layout: &Layout, shard: usize, s: &'a [u8]) -> Vec<&'a [u8]> {
        (0..layout.shard_chunks(shard))
            .map(|i| {
                let start = (i * CHUNK) as usize;
                &s[start..start + layout.plain_len(i, shard)]
            })
            .collect()
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
        assert!(Layout::new(4, 2, 0).is_ok());
        assert!(Layout::new(1, 0, MAX_SIZE).is_ok());
        assert!(matches!(
            Layout::new(0, 2, 16),
            Err(ShardError::BadShards { k: 0, m: 2, .. })
        ));
        assert!(Layout::new(200, 56, 16).is_err());
        assert!(Layout::new(usize::MAX, usize::MAX, 16).is_err());
        assert_eq!(
            Layout::new(4, 2, MAX_SIZE + 1),
            Err(ShardError::TooLarge(MAX_SIZE + 1))
        );
        // A K = 1 shard of the largest file still fits the proof tree.
        let l = Layout::new(1, 1, MAX_SIZE).unwrap();
        assert_eq!(l.shard_size(0), MAX_CIPHER_SIZE);
        assert_eq!(l.shard_size(1), MAX_CIPHER_SIZE);
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
        let tags = |n: u64| n * TAG_LEN as u64;
        assert_eq!(l.shard_size(2), 2 * CHUNK + CHUNK / 2 + tags(3));
        assert_eq!(l.shard_size(3), 2 * CHUNK + tags(2));
        assert_eq!(l.shard_size(5), 3 * CHUNK + tags(3));
        assert_eq!(l.needed(), 4);
        assert_eq!(l.largest_shard(), 3 * CHUNK + tags(3));
        assert_eq!(l.locate(10), Some((2, 2)));
        assert_eq!(l.file_chunk(2, 2), Some(10));
        assert_eq!(l.file_chunk(2, 3), None);
        assert_eq!(l.file_chunk(0, 4), None);
        assert_eq!(l.locate(11), None);
        assert_eq!(l.plain_len(2, 2), PLAIN_CHUNK / 2);
        assert_eq!(l.plain_len(2, 3), 0);
        assert!(!l.has_chunk(2, 3) && l.has_chunk(2, 2) && l.has_chunk(2, 5));
        // The last stripe has whole chunks: its parity is whole.
        assert_eq!(l.plain_len(2, 5), PLAIN_CHUNK);
        assert_eq!(l.sealed_len(2, 5), CHUNK_SIZE);
        assert_eq!(l.plain_len(3, 5), 0);
        assert!(l.is_parity(4) && !l.is_parity(3) && !l.is_parity(6));
        assert_eq!(l.stored_shards().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_small_file_is_one_data_shard_and_short_parity() {
        // 100 KB at 4+2: one data shard and two parity shards of 100 KB.
        let l = Layout::new(4, 2, 100_000).unwrap();
        assert_eq!(
            (0..6).map(|j| l.shard_size(j)).collect::<Vec<_>>(),
            [100_016, 0, 0, 0, 100_016, 100_016]
        );
        assert_eq!(l.stored_shards().collect::<Vec<_>>(), [0, 4, 5]);
        assert_eq!(l.needed(), 1);
        // An odd length: parity rounded up to even.
        let odd = Layout::new(4, 2, 100_001).unwrap();
        assert_eq!(odd.rs_len(0), 100_002);
        assert_eq!(odd.shard_size(0), 100_017);
        assert_eq!(odd.shard_size(4), 100_018);
        // Two chunks at 4+2: two data shards, two needed.
        let two = Layout::new(4, 2, CHUNK + 5).unwrap();
        assert_eq!(two.stored_shards().collect::<Vec<_>>(), [0, 1, 4, 5]);
        assert_eq!(two.needed(), 2);
        assert_eq!(two.shard_size(4), CHUNK_SIZE as u64);
        // An empty file: one empty data chunk, empty parity; all sealed to
        // a tag.
        let empty = Layout::new(4, 2, 0).unwrap();
        assert_eq!(
            (0..6).map(|j| empty.shard_size(j)).collect::<Vec<_>>(),
            [16, 0, 0, 0, 16, 16]
        );
        // K = 1: copies, no rounding.
        let copies = Layout::new(1, 2, 101).unwrap();
        assert_eq!(
            (0..3).map(|j| copies.shard_size(j)).collect::<Vec<_>>(),
            [117, 117, 117]
        );
        assert_eq!(copies.needed(), 1);
    }

    #[test]
    fn replicas_are_copies_of_the_plaintext_and_any_one_gives_it_back() {
        for size in [0u64, 1, 101, CHUNK, 3 * CHUNK + 5] {
            let l = Layout::new(1, 2, size).unwrap();
            let plain = bytes(size as usize, size + 3);
            let shards = l.split(&plain).unwrap();
            assert!(shards.iter().all(|s| *s == plain));
            for keep in 0..3 {
                let mut at_hand = vec![None; 3];
                at_hand[keep] = Some(&shards[keep][..]);
                assert!(l.join(&at_hand).unwrap() == plain);
            }
            assert!(matches!(
                l.join(&[None, None, None]),
                Err(ShardError::TooFewChunks { .. })
            ));
        }
    }

    #[test]
    fn every_k_of_the_shards_give_the_file_back() {
        for (k, m) in [(2, 1), (3, 2), (4, 2)] {
            for size in sizes(k) {
                let l = Layout::new(k, m, size).unwrap();
                let plain = bytes(size as usize, size ^ (k as u64) << 40);
                let shards = l.split(&plain).unwrap();
                for (j, s) in shards.iter().enumerate() {
                    assert_eq!(
                        s.len() as u64,
                        l.shard_plain_size(j),
                        "{k}+{m} {size} shard {j}"
                    );
                }
                // Stored shards are the non-empty ones (the empty file's
                // chunk is stored, and empty).
                let stored: Vec<usize> = l.stored_shards().collect();
                let n = l.needed();
                assert_eq!(n, (l.chunk_count() as usize).min(k));
                for keep in subsets(stored.len(), n) {
                    let mut at_hand = vec![None; k + m];
                    for (b, &j) in stored.iter().enumerate() {
                        if keep & 1 << b != 0 {
                            at_hand[j] = Some(&shards[j][..]);
                        }
                    }
                    assert!(
                        l.join(&at_hand).unwrap() == plain,
                        "{k}+{m}, {size} bytes, shards {keep:b} of {stored:?}"
                    );
                }
                // One fewer is not enough.
                for keep in subsets(stored.len(), n - 1) {
                    let mut at_hand = vec![None; k + m];
                    for (b, &j) in stored.iter().enumerate() {
                        if keep & 1 << b != 0 {
                            at_hand[j] = Some(&shards[j][..]);
                        }
                    }
                    assert!(matches!(
                        l.join(&at_hand),
                        Err(ShardError::TooFewChunks { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn every_lost_chunk_is_rebuilt_from_any_k_others() {
        for (k, m) in [(1, 2), (2, 1), (3, 2), (4, 2)] {
            let size = (k as u64 + 1) * CHUNK + 777;
            let l = Layout::new(k, m, size).unwrap();
            let shards = l.split(&bytes(size as usize, 7)).unwrap();
            for stripe in 0..l.stripe_count() {
                let chunk = |j: usize| {
                    let start = (stripe * CHUNK) as usize;
                    &shards[j][start..start + l.plain_len(stripe, j)]
                };
                let present: Vec<usize> = (0..k + m).filter(|&j| l.has_chunk(stripe, j)).collect();
                let need = l.stripe_data_chunks(stripe);
                for &lost in &present {
                    for keep in subsets(present.len(), need) {
                        let given: Vec<(usize, &[u8])> = present
                            .iter()
                            .enumerate()
                            .filter(|&(b, &j)| keep & 1 << b != 0 && j != lost)
                            .map(|(_, &j)| (j, chunk(j)))
                            .collect();
                        if given.len() < need {
                            continue;
                        }
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

    /// Seals plaintext shard `t` as `put` does: chunk `i` under the shard's
    /// key.
    fn seal_shard(l: &Layout, file_key: &[u8; 32], t: usize, plain: &[u8]) -> Vec<Vec<u8>> {
        let cipher = ShardCipher::new(file_key, [9; 16], t as u32, l.shard_chunks(t));
        shard_chunks(l, t, plain)
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut b = c.to_vec();
                cipher.seal(i as u64, &mut b);
                b
            })
            .collect()
    }

    #[test]
    fn each_sealed_shard_is_a_contract_ciphertext_with_its_own_merkle_root() {
        let file_key = FileCipher::file_key(&[1; 32], &[9; 16]);
        for (k, m) in [(1, 2), (3, 2)] {
            for size in sizes(k) {
                let l = Layout::new(k, m, size).unwrap();
                let shards = l.split(&bytes(size as usize, 11)).unwrap();
                let mut roots = Vec::new();
                for t in l.stored_shards() {
                    let sealed = seal_shard(&l, &file_key, t, &shards[t]);
                    for (i, c) in sealed.iter().enumerate() {
                        assert_eq!(c.len(), l.sealed_len(i as u64, t));
                        // Whole 1 MiB chunks but the last.
                        if i + 1 < sealed.len() {
                            assert_eq!(c.len(), CHUNK_SIZE);
                        }
                    }
                    let whole = sealed.concat();
                    // What a host builds over the shard's bytes...
                    let tree = FileTree::build(&whole[..]).unwrap();
                    assert_eq!(tree.size(), l.shard_size(t), "{k}+{m} {size} shard {t}");
                    assert_eq!(tree.leaf_count(), masp_proofs::leaf_count(l.shard_size(t)));
                    // ... is the tree over its chunks' roots.
                    let chunk_roots: Vec<Hash> = sealed.iter().map(|c| chunk_root(c)).collect();
                    assert_eq!(tree.chunk_roots(), &chunk_roots[..]);
                    assert_eq!(tree.root(), root_of_chunk_roots(&mut chunk_roots.clone()));
                    roots.push(tree.root());
                }
                // Every shard is other bytes, even copies of the same
                // plaintext.
                let mut distinct = roots.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(distinct.len(), roots.len(), "{k}+{m} {size}");
            }
        }
    }

    #[test]
    fn a_corrupted_chunk_is_caught_by_its_root_and_left_out() {
        let (k, m) = (4, 2);
        let size = 2 * 4 * CHUNK;
        let l = Layout::new(k, m, size).unwrap();
        let plain = bytes(size as usize, 5);
        let file_key = [3; 32];
        let shards = l.split(&plain).unwrap();
        let sealed: Vec<Vec<Vec<u8>>> = (0..k + m)
            .map(|t| seal_shard(&l, &file_key, t, &shards[t]))
            .collect();
        let roots: Vec<Vec<Hash>> = sealed
            .iter()
            .map(|s| s.iter().map(|c| chunk_root(c)).collect())
            .collect();
        let stripe = 1u64;
        let mut chunks: Vec<Vec<u8>> = sealed.iter().map(|s| s[stripe as usize].clone()).collect();
        // A host flips a bit of data chunk 1 and another of parity chunk 5.
        chunks[1][12345] ^= 0x10;
        chunks[5][0] ^= 1;
        let good: Vec<(usize, Vec<u8>)> = chunks
            .iter()
            .enumerate()
            .filter(|(j, c)| chunk_root(c) == roots[*j][stripe as usize])
            .map(|(j, c)| {
                let mut b = c.clone();
                ShardCipher::new(&file_key, [9; 16], j as u32, l.shard_chunks(j))
                    .open(stripe, &mut b)
                    .unwrap();
                (j, b)
            })
            .collect();
        assert_eq!(good.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 2, 3, 4]);
        let given: Vec<(usize, &[u8])> = good.iter().map(|(j, b)| (*j, &b[..])).collect();
        let data = l.reconstruct_stripe(stripe, &given).unwrap();
        assert!(data.concat() == plain[4 * PLAIN_CHUNK..]);
        // The bad chunk does not even open under its key.
        let mut bad = chunks[1].clone();
        assert!(ShardCipher::new(&file_key, [9; 16], 1, l.shard_chunks(1))
            .open(stripe, &mut bad)
            .is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let l = Layout::new(2, 1, 2 * CHUNK + 10).unwrap();
        let (full, short, long) = (
            vec![0u8; PLAIN_CHUNK],
            vec![0u8; 10],
            vec![0u8; PLAIN_CHUNK + 1],
        );
        let (full, short, long, empty): (&[u8], &[u8], &[u8], &[u8]) = (&full, &short, &long, &[]);
        // Encoding.
        assert!(matches!(
            l.encode_stripe(0, &[full, full, full]),
            Err(ShardError::DataChunks {
                got: 3,
                expected: 2,
                ..
            })
        ));
        assert!(matches!(
            l.encode_stripe(0, &[full, long]),
            Err(ShardError::ChunkLength { shard: 1, .. })
        ));
        assert!(matches!(
            l.encode_stripe(2, &[]),
            Err(ShardError::NoSuchStripe { .. })
        ));
        // Into old buffers: made M long, each overwritten.
        let mut parity = vec![vec![9u8; 5], vec![1u8; 3]];
        l.encode_stripe_into(1, &[short], &mut parity).unwrap();
        assert_eq!(parity, l.encode_stripe(1, &[short]).unwrap());
        assert_eq!(parity[0].len(), 10);
        assert_eq!(
            Layout::new(2, 0, 1).unwrap().encode_stripe(0, &[&[5]]),
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
        // The last stripe lacks data chunk 1: one chunk is enough, and a
        // chunk for it is refused.
        assert_eq!(r(1, &[(0, short)]).unwrap(), vec![short.to_vec()]);
        assert_eq!(
            r(1, &[(1, empty)]),
            Err(ShardError::NoSuchChunk {
                stripe: 1,
                shard: 1
            })
        );
        assert!(matches!(
            l.rebuild_shard_chunk(0, 3, &[(0, full), (1, full)]),
            Err(ShardError::NoSuchShard { .. })
        ));
        assert!(matches!(
            l.rebuild_shard_chunk(1, 1, &[(0, short)]),
            Err(ShardError::NoSuchChunk { .. })
        ));
        // Whole shards.
        assert!(matches!(
            l.split(short),
            Err(ShardError::PlainLength { .. })
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
        fn the_layout_adds_up(k in 1usize..=12, m in 0usize..=4, size in 0u64..=MAX_SIZE) {
            let l = Layout::new(k, m, size).unwrap();
            let data: u64 = (0..k).map(|j| l.shard_plain_size(j)).sum();
            prop_assert_eq!(data, size);
            let chunks: u64 = (0..k).map(|j| l.shard_chunks(j)).sum();
            prop_assert_eq!(chunks, l.chunk_count());
            let sealed: u64 = (0..k + m).map(|j| l.shard_size(j)).sum();
            prop_assert_eq!(sealed, l.stored_size());
            for t in 0..k + m {
                prop_assert!(l.shard_size(t) <= MAX_CIPHER_SIZE);
                if l.is_parity(t) {
                    prop_assert!(l.shard_size(t) >= l.shard_size(0));
                }
            }
            let last = l.chunk_count() - 1;
            let (j, i) = l.locate(last).unwrap();
            prop_assert_eq!(l.file_chunk(i, j), Some(last));
            prop_assert_eq!(i, l.stripe_count() - 1);
            prop_assert_eq!(l.plain_len(i, j) as u64, size - last * CHUNK);
            prop_assert_eq!(l.locate(last + 1), None);
            prop_assert_eq!(l.rs_len(i) % 2, 0);
            prop_assert_eq!(l.stored_shards().count(), l.needed() + m);
        }

        /// Garbage in: an error or data, never a panic.
        #[test]
        fn garbage_chunks_never_panic(
            k in 1usize..=4,
            m in 0usize..=3,
            size in 0u64..=6 * CHUNK,
            stripe in 0u64..4,
            given in proptest::collection::vec((0usize..8, 0usize..4), 0..8),
        ) {
            let l = Layout::new(k, m, size).unwrap();
            let lens = [0, 1, PLAIN_CHUNK - 1, PLAIN_CHUNK];
            let bufs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![7u8; n]).collect();
            let chunks: Vec<(usize, &[u8])> =
                given.iter().map(|&(j, b)| (j, &bufs[b][..])).collect();
            let _ = l.reconstruct_stripe(stripe, &chunks);
            let _ = l.rebuild_shard_chunk(stripe, given.first().map_or(0, |g| g.0), &chunks);
            let data: Vec<&[u8]> = chunks.iter().map(|c| c.1).collect();
            let _ = l.encode_stripe(stripe, &data);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any file, any K+M, any M shards lost: the file comes back.
        #[test]
        fn any_m_lost_shards_are_survived(
            k in 1usize..=5,
            m in 0usize..=3,
            size in 0u64..=6 * CHUNK + 3,
            lost in any::<u32>(),
            seed in any::<u64>(),
        ) {
            let l = Layout::new(k, m, size).unwrap();
            let plain = bytes(size as usize, seed);
            let shards = l.split(&plain).unwrap();
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
            prop_assert!(l.join(&at_hand).unwrap() == plain);
        }
    }
}
