//! The host's disk: chunk files plus an index in redb.
//!
//! Layout under the data dir:
//! - `index.redb`: contracts (what the chain said about each), the chunk
//!   roots a Sender uploaded for each, which chunks are stored, the
//!   listing manifests kept for each (at most [`MAX_LISTING_MANIFESTS`]),
//!   the download uses of tickets and the chain the data dir serves;
//! - `chunks/<contract>/<index>`: one file per ciphertext chunk;
//! - `chunks/<contract>/manifest`: the Sender's sealed manifest object.
//!
//! Every file is written to a temp file, fsynced, renamed into place and its
//! directory fsynced; only then is the chunk marked stored in the index (a
//! redb commit is durable). A crash at any point leaves either no chunk or a
//! whole one, and a chunk not marked stored is never served: the Sender's
//! client simply uploads it again.

use std::{
    collections::HashMap,
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use codec::{Decode, Encode};
use masp_primitives::market::ContractId;
use masp_proofs::{Hash, CHUNK_SIZE};
use redb::{Database, ReadableTable, TableDefinition};

const CONTRACTS: TableDefinition<u64, &[u8]> = TableDefinition::new("contracts");
const ROOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("chunk_roots");
const CHUNKS: TableDefinition<(u64, u32), u8> = TableDefinition::new("chunks");
/// Sealed listing manifests by (contract, BLAKE2b-256 of the bytes).
const LISTING_MANIFESTS: TableDefinition<(u64, [u8; 32]), &[u8]> =
    TableDefinition::new("listing_manifests");

/// Listing manifests a host keeps for one contract (one per listing of its
/// file; a Sender lists a file a few times at most). With
/// [`crate::server::max_manifest`] bytes each, what a contract's listings
/// cost its host is bounded by its size.
pub const MAX_LISTING_MANIFESTS: usize = 16;

/// What storing a listing manifest did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingPut {
    /// Stored (durably).
    Stored,
    /// The same one was stored before (its hash names its bytes).
    AlreadyStored,
    /// The contract holds [`MAX_LISTING_MANIFESTS`] already; nothing stored.
    Full,
    /// The contract is not in the index (it was deleted meanwhile);
    /// nothing stored.
    NoContract,
}
/// Download uses of tickets ([`crate::tickets::ReplayLog`]).
const TICKET_USES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ticket_uses");
/// Egress receipts and bytes served, by payer ([`crate::egress::EgressLog`]).
const EGRESS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("egress");
/// Facts about the data dir: `chain` (the genesis hash it serves).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A contract as this host knows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ContractRecord {
    /// The Sender (signs tickets).
    pub sender: [u8; 32],
    /// Bytes of ciphertext.
    pub size: u64,
    /// Merkle root on chain.
    pub root: Hash,
    /// Leaves on chain.
    pub leaf_count: u64,
    /// Whether the chain has it active (this host confirmed it).
    pub confirmed: bool,
    /// Unix seconds when the chain stopped listing it; its data is deleted
    /// a grace period later.
    pub ended_at: Option<u64>,
    /// The last epoch this host proved.
    pub last_proven: Option<u32>,
}

impl ContractRecord {
    /// Chunks in the contract's data.
    pub fn chunk_count(&self) -> u32 {
        chunk_count(self.size)
    }

    /// Bytes of chunk `index`.
    pub fn chunk_len(&self, index: u32) -> usize {
        let start = index as u64 * CHUNK_SIZE as u64;
        self.size.saturating_sub(start).min(CHUNK_SIZE as u64) as usize
    }
}

/// Chunks in `size` bytes of ciphertext.
pub fn chunk_count(size: u64) -> u32 {
    size.div_ceil(CHUNK_SIZE as u64).min(u32::MAX as u64) as u32
}

/// What can go wrong on disk.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("disk: {0}")]
    Io(#[from] io::Error),
    /// The index (redb) failed; its error is kept as the source.
    #[error("index: {0}")]
    Index(#[source] Box<redb::Error>),
    /// The index holds bytes this version cannot read.
    #[error("index entry for contract {0} does not decode")]
    Corrupt(ContractId),
}

fn idx(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Index(Box::new(e.into()))
}

/// The disk behind the daemon. Implemented by [`DiskStore`]; tests use
/// a failing implementation to inject faults.
pub trait Store: Send + Sync + 'static {
    /// The contract's record, if known.
    fn contract(&self, id: ContractId) -> Result<Option<ContractRecord>, StoreError>;
    /// Every known contract.
    fn contracts(&self) -> Result<Vec<(ContractId, ContractRecord)>, StoreError>;
    /// Inserts or replaces a contract's record.
    fn put_contract(&self, id: ContractId, record: &ContractRecord) -> Result<(), StoreError>;
    /// The chunk roots the Sender uploaded, if any.
    fn roots(&self, id: ContractId) -> Result<Option<Vec<Hash>>, StoreError>;
    /// Records the chunk roots (already checked against the contract's root).
    fn put_roots(&self, id: ContractId, roots: &[Hash]) -> Result<(), StoreError>;
    /// Whether chunk `index` is stored (complete).
    fn has_chunk(&self, id: ContractId, index: u32) -> Result<bool, StoreError>;
    /// How many chunks are stored.
    fn stored_chunks(&self, id: ContractId) -> Result<u32, StoreError>;
    /// The indexes of the chunks not stored yet, of `count`, from `from`
    /// on: at most `max` of them, and where the rest starts (`None`: no
    /// more). Costs at most `max` entries of memory.
    fn missing_chunks(
        &self,
        id: ContractId,
        count: u32,
        from: u32,
        max: u32,
    ) -> Result<(Vec<u32>, Option<u32>), StoreError>;
    /// Writes chunk `index` atomically, then marks it stored.
    fn put_chunk(&self, id: ContractId, index: u32, data: &[u8]) -> Result<(), StoreError>;
    /// The path of a stored chunk's file.
    fn chunk_path(&self, id: ContractId, index: u32) -> PathBuf;
    /// Reads a whole stored chunk.
    fn read_chunk(&self, id: ContractId, index: u32) -> Result<Vec<u8>, StoreError>;
    /// Reads bytes `start..end` of a stored chunk (a download): exactly
    /// that many bytes, or an error.
    fn read_range(
        &self,
        id: ContractId,
        index: u32,
        start: u64,
        end: u64,
    ) -> Result<bytes::Bytes, StoreError>;
    /// A stored chunk's file, open, if its bytes `start..end` are all in
    /// memory (the page cache) now, so that sending them (sendfile(2)) never
    /// waits for the disk; `None` when some are not, or this store cannot
    /// tell (then [`Store::read_range`], off the async threads).
    fn resident_file(
        &self,
        _id: ContractId,
        _index: u32,
        _start: u64,
        _end: u64,
    ) -> Result<Option<File>, StoreError> {
        Ok(None)
    }
    /// Writes the sealed manifest atomically, once: `false` (and nothing
    /// changed) if the contract has one already.
    fn put_manifest(&self, id: ContractId, data: &[u8]) -> Result<bool, StoreError>;
    /// The sealed manifest, if uploaded.
    fn manifest(&self, id: ContractId) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a sealed listing manifest of contract `id` under `hash`
    /// (its BLAKE2b-256, checked by the caller) durably, unless the
    /// contract holds [`MAX_LISTING_MANIFESTS`] already or is not indexed.
    fn put_listing_manifest(
        &self,
        id: ContractId,
        hash: &[u8; 32],
        data: &[u8],
    ) -> Result<ListingPut, StoreError>;
    /// The sealed listing manifest `hash` of contract `id`, if stored.
    fn listing_manifest(
        &self,
        id: ContractId,
        hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many listing manifests contract `id` holds.
    fn listing_manifests(&self, id: ContractId) -> Result<usize, StoreError>;
    /// Forgets a chunk that failed its check (scrub): it is unmarked first,
    /// so it is never served again, then its file is removed.
    fn drop_chunk(&self, id: ContractId, index: u32) -> Result<(), StoreError>;
    /// Deletes everything of a contract: index first, then files.
    fn delete_contract(&self, id: ContractId) -> Result<(), StoreError>;
    /// Bytes of chunks stored.
    fn bytes_stored(&self) -> Result<u64, StoreError>;
}

/// Chunk files on a local file system, indexed in redb.
pub struct DiskStore {
    dir: PathBuf,
    db: Arc<Database>,
    /// Chunks the daemon is reading from the disk now, with their number of
    /// readers. The page cache holds a page before its bytes have arrived
    /// (while the read is in flight), so these never count as in memory.
    reading: Mutex<HashMap<(ContractId, u32), u32>>,
}

/// A read of a chunk in progress (see [`DiskStore::reading`]); ends when
/// dropped.
struct Reading<'a> {
    store: &'a DiskStore,
    key: (ContractId, u32),
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let mut reading = self.store.reading_set();
        if let Some(n) = reading.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                reading.remove(&self.key);
            }
        }
    }
}

impl DiskStore {
    /// Opens (creating if needed) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir.join("chunks"))?;
        let db = Database::create(dir.join("index.redb")).map_err(idx)?;
        let tx = db.begin_write().map_err(idx)?;
        {
            tx.open_table(CONTRACTS).map_err(idx)?;
            tx.open_table(ROOTS).map_err(idx)?;
            tx.open_table(CHUNKS).map_err(idx)?;
            tx.open_table(LISTING_MANIFESTS).map_err(idx)?;
            tx.open_table(TICKET_USES).map_err(idx)?;
            tx.open_table(META).map_err(idx)?;
            tx.open_table(EGRESS).map_err(idx)?;
        }
        tx.commit().map_err(idx)?;
        // Temp files left by a crash are garbage: nothing points at them.
        // So is the folder of a contract whose index entry is gone (a crash
        // in the middle of a delete: the index goes first).
        let known: std::collections::HashSet<String> = {
            let tx = db.begin_read().map_err(idx)?;
            let table = tx.open_table(CONTRACTS).map_err(idx)?;
            let mut ids = std::collections::HashSet::new();
            for entry in table.iter().map_err(idx)? {
                ids.insert(entry.map_err(idx)?.0.value().to_string());
            }
            ids
        };
        if let Ok(entries) = fs::read_dir(dir.join("chunks")) {
            for contract in entries.flatten() {
                if !known.contains(&*contract.file_name().to_string_lossy()) {
                    let _ = fs::remove_dir_all(contract.path());
                    continue;
                }
                if let Ok(files) = fs::read_dir(contract.path()) {
                    for f in files.flatten() {
                        if f.file_name().to_string_lossy().contains(".tmp") {
                            let _ = fs::remove_file(f.path());
                        }
                    }
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            db: Arc::new(db),
            reading: Mutex::default(),
        })
    }

    fn reading_set(&self) -> std::sync::MutexGuard<'_, HashMap<(ContractId, u32), u32>> {
        // The map stays consistent even if a holder panicked.
        self.reading.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks chunk `index` of `id` as being read until the result drops.
    fn reading(&self, id: ContractId, index: u32) -> Reading<'_> {
        *self.reading_set().entry((id, index)).or_insert(0) += 1;
        Reading {
            store: self,
            key: (id, index),
        }
    }

    fn contract_dir(&self, id: ContractId) -> PathBuf {
        self.dir.join("chunks").join(id.to_string())
    }
}

/// Whether bytes `start..end` of `f` are all in the page cache: by
/// cachestat(2) where the kernel has it (6.5 and later; a count, nothing is
/// mapped), else by mincore(2) over a mapping of the range that is never
/// touched. cachestat also counts a page whose read is still in flight: the
/// daemon's own reads are tracked ([`DiskStore::reading`]) so such a chunk
/// is not sent from the async threads; a read by another program can make
/// sendfile wait for it, as nginx's sendfile would.
fn in_page_cache(f: &File, start: u64, end: u64) -> bool {
    if end <= start {
        return true;
    }
    if let Some(all) = cachestat_resident(f, start, end) {
        return all;
    }
    mincore_resident(f, start, end)
}

/// cachestat(2)'s answer; `None` when it cannot be asked (an older kernel,
/// or a syscall filter refuses it: then it is never asked again).
fn cachestat_resident(f: &File, start: u64, end: u64) -> Option<bool> {
    #[cfg(not(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    )))]
    {
        let _ = (f, start, end);
        None
    }
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        /// cachestat's number on the architectures above (Linux 6.5).
        const SYS_CACHESTAT: libc::c_long = 451;
        static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
        /// `struct cachestat_range`.
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        /// `struct cachestat` (only `nr_cache` is read; the rest is layout).
        #[repr(C)]
        #[derive(Default)]
        #[allow(dead_code)]
        struct Cachestat {
            nr_cache: u64,
            nr_dirty: u64,
            nr_writeback: u64,
            nr_evicted: u64,
            nr_recently_evicted: u64,
        }
        if UNAVAILABLE.load(Relaxed) {
            return None;
        }
        let range = Range {
            off: start,
            len: end - start,
        };
        let mut stat = Cachestat::default();
        // SAFETY: both pointers are to live values with the layouts of the
        // kernel's structs; flags must be 0.
        let r = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                f.as_raw_fd(),
                &range as *const Range,
                &mut stat as *mut Cachestat,
                0u32,
            )
        };
        if r != 0 {
            tracing::debug!(error = %io::Error::last_os_error(), "cachestat unavailable; using mincore");
            UNAVAILABLE.store(true, Relaxed);
            return None;
        }
        let page = page_size();
        let pages = (end - 1) / page - start / page + 1;
        Some(stat.nr_cache >= pages)
    }
}

/// mincore(2) over a mapping of the range (never touched); false when the
/// range cannot be mapped.
fn mincore_resident(f: &File, start: u64, end: u64) -> bool {
    // SAFETY: the mapping is only handed to mincore, never read, so the
    // file changing under it is not observed.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(start)
            .len((end - start) as usize)
            .map(f)
    };
    map.is_ok_and(|m| resident(&m))
}

fn page_size() -> u64 {
    rustix::param::page_size().max(1) as u64
}

/// Whether every page of `map` is in the page cache (`mincore`).
fn resident(map: &memmap2::Mmap) -> bool {
    let page = page_size() as usize;
    let addr = map.as_ptr() as usize;
    let aligned = addr - addr % page;
    let len = map.len() + (addr - aligned);
    let mut pages = vec![0u8; len.div_ceil(page)];
    // SAFETY: `aligned..aligned + len` is within the mapping's pages (the
    // mapping starts at a page boundary at or before `addr`), and `pages`
    // has one byte per page of it.
    // (`.cast()`: the vector's element type differs between systems.)
    let r = unsafe { libc::mincore(aligned as *mut libc::c_void, len, pages.as_mut_ptr().cast()) };
    r == 0 && pages.iter().all(|p| p & 1 == 1)
}

/// Writes `data` to `path` so that a crash leaves the old file or the new
/// one: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_new(path, data, false, 0o644).map(drop)
}

/// [`write_atomic`] for a secret (a private key): readable by its owner
/// only, from the moment the file is created.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    write_new(path, data, false, 0o600).map(drop)
}

/// Writes `data` to `path` only if no file is there yet, atomically (temp
/// file, fsync, hard link into place: the link fails if the name exists,
/// so of two racing writers one wins and the other changes nothing);
/// whether it was written.
pub fn write_once(path: &Path, data: &[u8]) -> io::Result<bool> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(false);
    }
    write_new(path, data, true, 0o644)
}

/// The directory `path` is in: its parent, or `.` for a bare file name
/// (whose parent is the empty path, which cannot be opened to fsync).
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// [`write_atomic`] (`once = false`: rename over the old file) or
/// [`write_once`] (hard link, never replacing); a new file gets `mode`
/// (less the umask).
fn write_new(path: &Path, data: &[u8], once: bool, mode: u32) -> io::Result<bool> {
    let dir = dir_of(path);
    if fs::metadata(dir).is_err() {
        // A new folder (a contract's first chunk): its entry in the parent
        // must be durable too, or a crash could lose the folder the index
        // points into.
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
    }
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?
        };
        f.write_all(data)?;
        f.sync_all()?;
        if once {
            match fs::hard_link(&tmp, path) {
                Ok(()) => fs::remove_file(&tmp)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e),
            }
        } else {
            fs::rename(&tmp, path)?;
        }
        File::open(dir)?.sync_all()?;
        Ok(true)
    })();
    if !matches!(result, Ok(true)) {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Store for DiskStore {
    fn contract(&self, id: ContractId) -> Result<Option<ContractRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(CONTRACTS).map_err(idx)?;
        match table.get(id).map_err(idx)? {
            None => Ok(None),
            Some(v) => ContractRecord::decode(&mut v.value())
                .map(Some)
                .map_err(|_| StoreError::Corrupt(id)),
        }
    }

    fn contracts(&self) -> Result<Vec<(ContractId, ContractRecord)>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(CONTRACTS).map_err(idx)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(idx)? {
            let (k, v) = entry.map_err(idx)?;
            let id = k.value();
            let record =
                ContractRecord::decode(&mut v.value()).map_err(|_| StoreError::Corrupt(id))?;
            out.push((id, record));
        }
        Ok(out)
    }

    fn put_contract(&self, id: ContractId, record: &ContractRecord) -> Result<(), StoreError> {
        // The contract's folder exists, durably, before any chunk is written
        // into it (so parallel first chunks never race to create it); a crash
        // before the index commit leaves an orphan folder, swept on open.
        let dir = self.contract_dir(id);
        if fs::metadata(&dir).is_err() {
            fs::create_dir_all(&dir)?;
            File::open(self.dir.join("chunks"))?.sync_all()?;
        }
        let tx = self.db.begin_write().map_err(idx)?;
        tx.open_table(CONTRACTS)
            .map_err(idx)?
            .insert(id, record.encode().as_slice())
            .map_err(idx)?;
        tx.commit().map_err(idx)
    }

    fn roots(&self, id: ContractId) -> Result<Option<Vec<Hash>>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(ROOTS).map_err(idx)?;
        Ok(table.get(id).map_err(idx)?.map(|v| {
            v.value()
                .chunks_exact(32)
                .map(|c| c.try_into().expect("chunks_exact(32)"))
                .collect()
        }))
    }

    fn put_roots(&self, id: ContractId, roots: &[Hash]) -> Result<(), StoreError> {
        let bytes: Vec<u8> = roots.iter().flatten().copied().collect();
        let tx = self.db.begin_write().map_err(idx)?;
        tx.open_table(ROOTS)
            .map_err(idx)?
            .insert(id, bytes.as_slice())
            .map_err(idx)?;
        tx.commit().map_err(idx)
    }

    fn has_chunk(&self, id: ContractId, index: u32) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(CHUNKS).map_err(idx)?;
        Ok(table.get((id, index)).map_err(idx)?.is_some())
    }

    fn stored_chunks(&self, id: ContractId) -> Result<u32, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(CHUNKS).map_err(idx)?;
        let n = table.range((id, 0)..=(id, u32::MAX)).map_err(idx)?.count();
        Ok(n as u32)
    }

    fn missing_chunks(
        &self,
        id: ContractId,
        count: u32,
        from: u32,
        max: u32,
    ) -> Result<(Vec<u32>, Option<u32>), StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(CHUNKS).map_err(idx)?;
        let mut missing = Vec::with_capacity(max.min(1024) as usize);
        // Adds `a..b` to `missing`; the first index left out once `max`
        // are listed.
        fn add(missing: &mut Vec<u32>, max: u32, a: u32, b: u32) -> Option<u32> {
            for i in a..b {
                if missing.len() >= max as usize {
                    return Some(i);
                }
                missing.push(i);
            }
            None
        }
        let mut next = from;
        for entry in table.range((id, from)..=(id, u32::MAX)).map_err(idx)? {
            if next >= count {
                break;
            }
            let (k, _) = entry.map_err(idx)?;
            let (_, i) = k.value();
            if let Some(rest) = add(&mut missing, max, next, i.min(count)) {
                return Ok((missing, Some(rest)));
            }
            next = i.saturating_add(1);
        }
        let rest = add(&mut missing, max, next, count);
        Ok((missing, rest))
    }

    fn put_chunk(&self, id: ContractId, index: u32, data: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.chunk_path(id, index), data)?;
        crate::crash_point("chunk-written");
        let tx = self.db.begin_write().map_err(idx)?;
        tx.open_table(CHUNKS)
            .map_err(idx)?
            .insert((id, index), 1u8)
            .map_err(idx)?;
        tx.commit().map_err(idx)
    }

    fn chunk_path(&self, id: ContractId, index: u32) -> PathBuf {
        self.contract_dir(id).join(index.to_string())
    }

    fn read_chunk(&self, id: ContractId, index: u32) -> Result<Vec<u8>, StoreError> {
        let _reading = self.reading(id, index);
        Ok(fs::read(self.chunk_path(id, index))?)
    }

    fn read_range(
        &self,
        id: ContractId,
        index: u32,
        start: u64,
        end: u64,
    ) -> Result<bytes::Bytes, StoreError> {
        use std::os::unix::fs::FileExt;
        let _reading = self.reading(id, index);
        let f = File::open(self.chunk_path(id, index))?;
        let want = usize::try_from(end.saturating_sub(start))
            .map_err(|_| io::Error::other("range too large"))?;
        // Positioned reads into the daemon's own memory, never a memory
        // map: a chunk file cut short (or a disk error) under a mapping
        // would kill the daemon with SIGBUS when the missing page is
        // touched; a read just comes back short, and that is an error here
        // (a 500 for this download alone).
        let mut buf = vec![0u8; want];
        match f.read_exact_at(&mut buf, start) {
            Ok(()) => Ok(buf.into()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk file is short").into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn resident_file(
        &self,
        id: ContractId,
        index: u32,
        start: u64,
        end: u64,
    ) -> Result<Option<File>, StoreError> {
        if self.reading_set().contains_key(&(id, index)) {
            return Ok(None);
        }
        // Opening is a lookup of a recently used directory entry (the
        // checks before it just read the chunk's index entry).
        let f = File::open(self.chunk_path(id, index))?;
        if f.metadata()?.len() < end {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk file is short").into());
        }
        Ok(in_page_cache(&f, start, end).then_some(f))
    }

    fn put_manifest(&self, id: ContractId, data: &[u8]) -> Result<bool, StoreError> {
        Ok(write_once(&self.contract_dir(id).join("manifest"), data)?)
    }

    fn manifest(&self, id: ContractId) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(self.contract_dir(id).join("manifest")) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put_listing_manifest(
        &self,
        id: ContractId,
        hash: &[u8; 32],
        data: &[u8],
    ) -> Result<ListingPut, StoreError> {
        // One write transaction (redb runs them one at a time): the count,
        // the contract's presence and the insert agree, whatever races.
        let tx = self.db.begin_write().map_err(idx)?;
        let put = {
            let contracts = tx.open_table(CONTRACTS).map_err(idx)?;
            let mut table = tx.open_table(LISTING_MANIFESTS).map_err(idx)?;
            if contracts.get(id).map_err(idx)?.is_none() {
                ListingPut::NoContract
            } else if table.get((id, *hash)).map_err(idx)?.is_some() {
                ListingPut::AlreadyStored
            } else if table
                .range((id, [0u8; 32])..=(id, [0xffu8; 32]))
                .map_err(idx)?
                .count()
                >= MAX_LISTING_MANIFESTS
            {
                ListingPut::Full
            } else {
                table.insert((id, *hash), data).map_err(idx)?;
                ListingPut::Stored
            }
        };
        if put == ListingPut::Stored {
            tx.commit().map_err(idx)?;
        } else {
            tx.abort().map_err(idx)?;
        }
        Ok(put)
    }

    fn listing_manifest(
        &self,
        id: ContractId,
        hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(LISTING_MANIFESTS).map_err(idx)?;
        Ok(table
            .get((id, *hash))
            .map_err(idx)?
            .map(|v| v.value().to_vec()))
    }

    fn listing_manifests(&self, id: ContractId) -> Result<usize, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(LISTING_MANIFESTS).map_err(idx)?;
        let n = table
            .range((id, [0u8; 32])..=(id, [0xffu8; 32]))
            .map_err(idx)?
            .count();
        Ok(n)
    }

    fn drop_chunk(&self, id: ContractId, index: u32) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(idx)?;
        tx.open_table(CHUNKS)
            .map_err(idx)?
            .remove((id, index))
            .map_err(idx)?;
        tx.commit().map_err(idx)?;
        match fs::remove_file(self.chunk_path(id, index)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn delete_contract(&self, id: ContractId) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(idx)?;
        {
            tx.open_table(CONTRACTS)
                .map_err(idx)?
                .remove(id)
                .map_err(idx)?;
            tx.open_table(ROOTS).map_err(idx)?.remove(id).map_err(idx)?;
            let mut chunks = tx.open_table(CHUNKS).map_err(idx)?;
            chunks
                .extract_from_if((id, 0)..=(id, u32::MAX), |_, _| true)
                .map_err(idx)?
                .for_each(drop);
            let mut listings = tx.open_table(LISTING_MANIFESTS).map_err(idx)?;
            listings
                .extract_from_if((id, [0u8; 32])..=(id, [0xffu8; 32]), |_, _| true)
                .map_err(idx)?
                .for_each(drop);
        }
        tx.commit().map_err(idx)?;
        crate::crash_point("delete-indexed");
        match fs::remove_dir_all(self.contract_dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn bytes_stored(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for (id, record) in self.contracts()? {
            let tx = self.db.begin_read().map_err(idx)?;
            let table = tx.open_table(CHUNKS).map_err(idx)?;
            for entry in table.range((id, 0)..=(id, u32::MAX)).map_err(idx)? {
                let (k, _) = entry.map_err(idx)?;
                total = total.saturating_add(record.chunk_len(k.value().1) as u64);
            }
        }
        Ok(total)
    }
}

impl crate::tickets::ReplayLog for DiskStore {
    fn load_uses(&self) -> Result<Vec<crate::tickets::LogEntry>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(TICKET_USES).map_err(idx)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(idx)? {
            let (k, v) = entry.map_err(idx)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn save_uses(
        &self,
        put: &[crate::tickets::LogEntry],
        gone: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(idx)?;
        // One durable commit per second for all downloads
        // ([`crate::tickets::ReplayGuard::flush`]).
        {
            let mut table = tx.open_table(TICKET_USES).map_err(idx)?;
            for k in gone {
                table.remove(k.as_slice()).map_err(idx)?;
            }
            for (k, v) in put {
                table.insert(k.as_slice(), v.as_slice()).map_err(idx)?;
            }
        }
        tx.commit().map_err(idx)
    }

    fn chain(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let tx = self.db.begin_read().map_err(idx)?;
        let table = tx.open_table(META).map_err(idx)?;
        let value = table.get("chain").map_err(idx)?;
        Ok(value.and_then(|v| v.value().try_into().ok()))
    }

    fn set_chain(&self, genesis: [u8; 32]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(idx)?;
        tx.open_table(META)
            .map_err(idx)?
            .insert("chain", genesis.as_slice())
            .map_err(idx)?;
        tx.commit().map_err(idx)
    }
}

impl crate::egress::EgressLog for DiskStore {
    fn load_egress(&self) -> Result<Vec<([u8; 32], crate::egress::Account)>, StoreError> {
        load_egress(&self.db)
    }

    fn save_egress(
        &self,
        put: &[([u8; 32], crate::egress::Account)],
        gone: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        save_egress(&self.db, put, gone)
    }
}

fn load_egress(db: &Database) -> Result<Vec<([u8; 32], crate::egress::Account)>, StoreError> {
    let tx = db.begin_read().map_err(idx)?;
    let table = match tx.open_table(EGRESS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(idx(e)),
    };
    let mut out = Vec::new();
    for entry in table.iter().map_err(idx)? {
        let (k, v) = entry.map_err(idx)?;
        // An entry this version cannot read is skipped (and replaced at
        // the payer's next request).
        if let Ok(a) = crate::egress::Account::decode(&mut v.value()) {
            out.push((k.value(), a));
        }
    }
    Ok(out)
}

fn save_egress(
    db: &Database,
    put: &[([u8; 32], crate::egress::Account)],
    gone: &[[u8; 32]],
) -> Result<(), StoreError> {
    let tx = db.begin_write().map_err(idx)?;
    {
        let mut table = tx.open_table(EGRESS).map_err(idx)?;
        for k in gone {
            table.remove(k).map_err(idx)?;
        }
        for (k, v) in put {
            table.insert(k, v.encode().as_slice()).map_err(idx)?;
        }
    }
    tx.commit().map_err(idx)
}

/// A payment ledger of its own ([`crate::egress::EgressLog`] in one redb
/// file): a proxy's relay receipts, which has no chunk store.
pub struct LedgerFile {
    db: Database,
}

impl LedgerFile {
    /// Opens (or creates) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            db: Database::create(path).map_err(idx)?,
        })
    }
}

impl crate::egress::EgressLog for LedgerFile {
    fn load_egress(&self) -> Result<Vec<([u8; 32], crate::egress::Account)>, StoreError> {
        load_egress(&self.db)
    }

    fn save_egress(
        &self,
        put: &[([u8; 32], crate::egress::Account)],
        gone: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        save_egress(&self.db, put, gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `masp-host init --config host.toml` (a bare name, as the Docker
    /// image's entrypoint runs it) writes in the current directory: the
    /// directory fsynced is `.`, not the empty path.
    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("host.toml")), Path::new("."));
        assert_eq!(dir_of(Path::new("/data/host.toml")), Path::new("/data"));
        assert_eq!(dir_of(Path::new("a/b")), Path::new("a"));
    }

    fn record(size: u64) -> ContractRecord {
        ContractRecord {
            sender: [1; 32],
            size,
            root: [2; 32],
            leaf_count: 1,
            confirmed: false,
            ended_at: None,
            last_proven: None,
        }
    }

    #[test]
    fn chunks_are_indexed_only_once_written_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DiskStore::open(dir.path()).unwrap();
            store
                .put_contract(5, &record(3 * CHUNK_SIZE as u64 - 7))
                .unwrap();
            assert_eq!(
                store.missing_chunks(5, 3, 0, 10).unwrap(),
                (vec![0, 1, 2], None)
            );
            store.put_chunk(5, 1, b"one").unwrap();
            assert!(store.has_chunk(5, 1).unwrap());
            assert!(!store.has_chunk(5, 0).unwrap());
            assert_eq!(
                store.missing_chunks(5, 3, 0, 10).unwrap(),
                (vec![0, 2], None)
            );
            // A crash mid-write leaves a temp file: never indexed, swept on open.
            fs::write(store.contract_dir(5).join(".0.tmp.1"), b"partial").unwrap();
        }
        // A crash mid-delete leaves a folder the index no longer names.
        let orphan = dir.path().join("chunks").join("6");
        fs::create_dir_all(&orphan).unwrap();
        fs::write(orphan.join("0"), b"orphan").unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        assert!(!orphan.exists(), "swept on open");
        assert_eq!(
            store.contract(5).unwrap(),
            Some(record(3 * CHUNK_SIZE as u64 - 7))
        );
        assert_eq!(store.read_chunk(5, 1).unwrap(), b"one");
        assert_eq!(store.stored_chunks(5).unwrap(), 1);
        assert!(!store.contract_dir(5).join(".0.tmp.1").exists());
    }

    #[test]
    fn a_chunk_in_memory_is_handed_out_open_for_sendfile() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        store.put_contract(4, &record(CHUNK_SIZE as u64)).unwrap();
        let data = vec![7u8; CHUNK_SIZE];
        store.put_chunk(4, 0, &data).unwrap();
        // Just read: every page is in the page cache.
        assert_eq!(store.read_chunk(4, 0).unwrap(), data);
        for (start, end) in [(0, CHUNK_SIZE as u64), (1, 2), (4095, 4097), (10, 10)] {
            assert!(
                store.resident_file(4, 0, start, end).unwrap().is_some(),
                "{start}..{end}"
            );
        }
        // Past the end of the file, or a chunk not there: an error, never
        // a short answer.
        assert!(store.resident_file(4, 0, 0, CHUNK_SIZE as u64 + 1).is_err());
        assert!(store.resident_file(4, 1, 0, 10).is_err());
    }

    #[test]
    fn a_chunk_being_read_from_disk_is_not_handed_out_for_sendfile() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        store.put_contract(4, &record(CHUNK_SIZE as u64)).unwrap();
        store.put_chunk(4, 0, &vec![7u8; CHUNK_SIZE]).unwrap();
        store.read_chunk(4, 0).unwrap();
        let end = CHUNK_SIZE as u64;
        {
            let _a = store.reading(4, 0);
            let _b = store.reading(4, 0);
            assert!(store.resident_file(4, 0, 0, end).unwrap().is_none());
            drop(_a);
            assert!(store.resident_file(4, 0, 0, end).unwrap().is_none());
        }
        assert!(store.resident_file(4, 0, 0, end).unwrap().is_some());
        assert!(store.reading_set().is_empty());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn cachestat_and_mincore_agree_on_a_file_in_memory_and_one_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = CHUNK_SIZE as u64;
        fs::write(&path, vec![1u8; CHUNK_SIZE]).unwrap();
        fs::read(&path).unwrap();
        let f = File::open(&path).unwrap();
        for (start, end) in [(0, len), (1, 2), (4095, 4097), (len - 1, len)] {
            assert!(mincore_resident(&f, start, end), "{start}..{end}");
            assert_ne!(cachestat_resident(&f, start, end), Some(false));
            assert!(in_page_cache(&f, start, end));
        }
        // Dropped from the page cache (clean pages; tmpfs keeps them).
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        if mincore_resident(&f, 0, len) {
            eprintln!("this filesystem keeps the pages; eviction not checked");
            return;
        }
        assert_ne!(cachestat_resident(&f, 0, len), Some(true));
        assert!(!in_page_cache(&f, 0, len));
    }

    #[test]
    fn a_chunk_cut_short_under_a_download_is_an_error_never_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        store.put_contract(4, &record(CHUNK_SIZE as u64)).unwrap();
        let data: Vec<u8> = (0..CHUNK_SIZE).map(|i| (i % 251) as u8).collect();
        store.put_chunk(4, 0, &data).unwrap();
        let end = CHUNK_SIZE as u64;
        let sending = store.read_range(4, 0, 0, end).unwrap();
        // The file is cut short (a failing disk, an operator's mistake)
        // while those bytes are still being sent: they stay readable (a
        // memory map of the file would kill the daemon with SIGBUS here).
        File::options()
            .write(true)
            .open(store.chunk_path(4, 0))
            .unwrap()
            .set_len(4096)
            .unwrap();
        assert!(sending[..] == data[..]);
        // A read of the cut file: an error, never short bytes.
        let e = store.read_range(4, 0, 0, end).unwrap_err();
        assert!(e.to_string().contains("short"), "{e}");
        assert!(store.read_range(4, 0, 4000, 4097).is_err());
        assert_eq!(&store.read_range(4, 0, 0, 4096).unwrap()[..], &data[..4096]);
    }

    #[test]
    fn a_deleted_contract_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        store.put_contract(9, &record(10)).unwrap();
        store.put_roots(9, &[[3; 32]]).unwrap();
        store.put_chunk(9, 0, b"0123456789").unwrap();
        assert!(store.put_manifest(9, b"sealed").unwrap());
        // Written once: another manifest changes nothing.
        assert!(!store.put_manifest(9, b"other").unwrap());
        assert_eq!(store.manifest(9).unwrap().unwrap(), b"sealed");
        assert_eq!(fs::read_dir(store.contract_dir(9)).unwrap().count(), 2);
        assert_eq!(
            store.put_listing_manifest(9, &[4; 32], b"listed").unwrap(),
            ListingPut::Stored
        );
        store.put_contract(10, &record(10)).unwrap();
        store.put_listing_manifest(10, &[4; 32], b"kept").unwrap();
        store.delete_contract(9).unwrap();
        assert_eq!(store.listing_manifest(9, &[4; 32]).unwrap(), None);
        assert_eq!(store.listing_manifests(9).unwrap(), 0);
        // Another contract's are not touched; a deleted contract takes no
        // new ones.
        assert_eq!(store.listing_manifests(10).unwrap(), 1);
        assert_eq!(
            store.put_listing_manifest(9, &[5; 32], b"late").unwrap(),
            ListingPut::NoContract
        );
        assert_eq!(store.listing_manifests(9).unwrap(), 0);
        assert_eq!(store.contract(9).unwrap(), None);
        assert_eq!(store.roots(9).unwrap(), None);
        assert!(!store.has_chunk(9, 0).unwrap());
        assert!(!store.contract_dir(9).exists());
    }

    #[test]
    fn listing_manifests_are_kept_durably_once_each_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DiskStore::open(dir.path()).unwrap();
            store.put_contract(2, &record(10)).unwrap();
            for i in 0..MAX_LISTING_MANIFESTS as u8 {
                assert_eq!(
                    store.put_listing_manifest(2, &[i; 32], &[i; 3]).unwrap(),
                    ListingPut::Stored
                );
            }
            assert_eq!(
                store.put_listing_manifest(2, &[0; 32], &[0; 3]).unwrap(),
                ListingPut::AlreadyStored
            );
            assert_eq!(
                store.put_listing_manifest(2, &[0xee; 32], b"more").unwrap(),
                ListingPut::Full
            );
        }
        let store = DiskStore::open(dir.path()).unwrap();
        assert_eq!(store.listing_manifests(2).unwrap(), MAX_LISTING_MANIFESTS);
        assert_eq!(
            store.listing_manifest(2, &[3; 32]).unwrap(),
            Some(vec![3; 3])
        );
        assert_eq!(store.listing_manifest(2, &[0xee; 32]).unwrap(), None);
        assert_eq!(store.listing_manifest(1, &[3; 32]).unwrap(), None);
    }

    #[test]
    fn missing_chunks_come_in_bounded_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        store
            .put_contract(3, &record(10 * CHUNK_SIZE as u64))
            .unwrap();
        for i in [3, 4, 9] {
            store.put_chunk(3, i, b"x").unwrap();
        }
        let page = |from, max| store.missing_chunks(3, 10, from, max).unwrap();
        assert_eq!(page(0, 4), (vec![0, 1, 2, 5], Some(6)));
        assert_eq!(page(6, 4), (vec![6, 7, 8], None));
        assert_eq!(page(0, 7), (vec![0, 1, 2, 5, 6, 7, 8], None));
        assert_eq!(page(0, 0), (vec![], Some(0)));
        assert_eq!(page(4, 1), (vec![5], Some(6)));
        assert_eq!(page(10, 5), (vec![], None));
        assert_eq!(page(u32::MAX, 5), (vec![], None));
    }

    #[test]
    fn chunk_lengths_follow_the_contract_size() {
        let r = record(2 * CHUNK_SIZE as u64 + 5);
        assert_eq!(r.chunk_count(), 3);
        assert_eq!(r.chunk_len(0), CHUNK_SIZE);
        assert_eq!(r.chunk_len(2), 5);
        assert_eq!(r.chunk_len(3), 0);
    }
}
