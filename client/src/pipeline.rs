//! The local half of `put`: read, chunk, encrypt and build the storage-proof
//! Merkle tree over the ciphertext, on every core.
//!
//! The file is read in batches of chunks; each batch is sealed and hashed in
//! parallel (rayon), then handed in order to a sink (an upload, a local
//! copy, or nothing). Sealing is deterministic for a given master key, file
//! id and plaintext, so an interrupted upload can re-seal exactly the chunks
//! it still needs without a local ciphertext copy.

use crate::crypto::{self, FileCipher, FileId, Key, PLAIN_CHUNK};
use masp_proofs::Hash;
use rayon::prelude::*;
use std::io::{self, Read};

/// What sealing a file produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The file id (random per put).
    pub file: FileId,
    /// Plaintext bytes.
    pub size: u64,
    /// Ciphertext bytes: what the contract stores.
    pub cipher_size: u64,
    /// Merkle root of each ciphertext chunk.
    pub chunk_roots: Vec<Hash>,
    /// Merkle root of the ciphertext (the contract's root).
    pub root: Hash,
    /// Leaves in that tree.
    pub leaf_count: u64,
}

/// Reads into `buf` until it is full or the reader ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Seals `size` bytes from `reader` as file `file` under `master`.
///
/// `sink(index, ciphertext)` receives every sealed chunk in order, on a
/// thread of its own; `progress(plaintext bytes)` is called after each
/// batch is sealed. `batch` chunks are sealed in parallel at a time while
/// a reader thread fills the next batch and the sink takes the previous
/// one (memory: about 4 x `batch` MiB).
pub fn seal(
    reader: impl Read + Send,
    size: u64,
    master: &Key,
    file: FileId,
    batch: usize,
    mut sink: impl FnMut(u64, &[u8]) -> io::Result<()> + Send,
    mut progress: impl FnMut(u64),
) -> io::Result<Sealed> {
    let cipher = FileCipher::new(master, file, size);
    let count = cipher.chunk_count();
    let batch = batch.max(1) as u64;
    let mut chunk_roots = Vec::with_capacity(count as usize);
    std::thread::scope(|scope| -> io::Result<()> {
        // Batches read ahead, and emptied buffers coming back for reuse.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<Vec<u8>>>>(1);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
        // Sealed batches on their way to the sink (which hands the buffers
        // back to the reader).
        let (sealed_tx, sealed_rx) = std::sync::mpsc::sync_channel::<(u64, Vec<Vec<u8>>)>(0);
        let writer = scope.spawn(move || -> io::Result<()> {
            for (index, bufs) in sealed_rx {
                for (i, buf) in bufs.iter().enumerate() {
                    sink(index + i as u64, buf)?;
                }
                let _ = empty_tx.send(bufs);
            }
            Ok(())
        });
        scope.spawn(move || {
            let mut reader = reader;
            let mut index = 0u64;
            while index < count {
                let n = (count - index).min(batch) as usize;
                let mut bufs = empty_rx.try_recv().unwrap_or_default();
                bufs.resize_with(n, || Vec::with_capacity(masp_proofs::CHUNK_SIZE));
                bufs.truncate(n);
                let mut result = Ok(());
                for (i, buf) in bufs.iter_mut().enumerate() {
                    let len = crypto::plain_len(size, index + i as u64);
                    buf.clear();
                    buf.resize(len, 0);
                    match read_full(&mut reader, buf) {
                        Ok(got) if got == len => {}
                        Ok(_) => {
                            result = Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                format!(
                                    "the file shrank while it was read (expected {size} bytes)"
                                ),
                            ));
                            break;
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                let failed = result.is_err();
                if full_tx.send(result.map(|()| bufs)).is_err() || failed {
                    return;
                }
                index += n as u64;
            }
            let mut extra = [0u8; 1];
            let tail = match read_full(&mut reader, &mut extra) {
                Ok(0) => return,
                Ok(_) => io::Error::other(format!(
                    "the file grew while it was read (expected {size} bytes)"
                )),
                Err(e) => e,
            };
            let _ = full_tx.send(Err(tail));
        });
        let mut index = 0u64;
        while index < count {
            let mut bufs = full_rx
                .recv()
                .map_err(|_| io::Error::other("the reader stopped"))??;
            // Seal and hash in parallel.
            let roots: Vec<Hash> = bufs
                .par_iter_mut()
                .enumerate()
                .map(|(i, buf)| {
                    cipher.seal(index + i as u64, buf);
                    masp_proofs::chunk_root(buf)
                })
                .collect();
            chunk_roots.extend(roots);
            let first = index;
            index += bufs.len() as u64;
            progress((index * PLAIN_CHUNK as u64).min(size));
            if sealed_tx.send((first, bufs)).is_err() {
                // The sink failed: its error is returned below.
                break;
            }
        }
        drop(sealed_tx);
        let written = writer
            .join()
            .map_err(|_| io::Error::other("the sink panicked"))?;
        written?;
        // The reader's last word: the file did not grow.
        match full_rx.recv() {
            Ok(Err(e)) => Err(e),
            _ => Ok(()),
        }
    })?;
    let cipher_size = crypto::ciphertext_size(size);
    let root = masp_proofs::root_of_chunk_roots(&mut chunk_roots.clone());
    Ok(Sealed {
        file,
        size,
        cipher_size,
        chunk_roots,
        root,
        leaf_count: masp_proofs::leaf_count(cipher_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use masp_proofs::FileTree;

    const MASTER: Key = [3; 32];

    #[test]
    fn the_root_is_the_storage_proof_root_of_the_ciphertext() {
        for size in [
            0usize,
            1,
            PLAIN_CHUNK - 1,
            PLAIN_CHUNK,
            PLAIN_CHUNK + 1,
            3 * PLAIN_CHUNK + 999,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let mut cipher = Vec::new();
            let sealed = seal(
                &data[..],
                size as u64,
                &MASTER,
                [1; 16],
                2,
                |i, c| {
                    assert_eq!(i as usize, cipher.len() / masp_proofs::CHUNK_SIZE);
                    cipher.extend_from_slice(c);
                    Ok(())
                },
                |_| {},
            )
            .unwrap();
            assert_eq!(cipher.len() as u64, sealed.cipher_size);
            let tree = FileTree::build(&cipher[..]).unwrap();
            assert_eq!(tree.root(), sealed.root, "size {size}");
            assert_eq!(tree.leaf_count(), sealed.leaf_count);
            assert_eq!(tree.chunk_roots(), &sealed.chunk_roots[..]);
            // Every chunk opens back to the plaintext.
            let c = FileCipher::new(&MASTER, [1; 16], size as u64);
            let mut plain = Vec::new();
            for (i, chunk) in cipher.chunks(masp_proofs::CHUNK_SIZE).enumerate() {
                let mut b = chunk.to_vec();
                c.open(i as u64, &mut b).unwrap();
                plain.extend(b);
            }
            assert_eq!(plain, data);
        }
    }

    #[test]
    fn sealing_is_deterministic_and_the_batch_size_does_not_matter() {
        let data = vec![9u8; 5 * PLAIN_CHUNK / 2];
        let run = |batch| {
            seal(
                &data[..],
                data.len() as u64,
                &MASTER,
                [2; 16],
                batch,
                |_, _| Ok(()),
                |_| {},
            )
            .unwrap()
        };
        assert_eq!(run(1), run(8));
        // Another file id: other ciphertext.
        let other = seal(
            &data[..],
            data.len() as u64,
            &MASTER,
            [3; 16],
            1,
            |_, _| Ok(()),
            |_| {},
        )
        .unwrap();
        assert_ne!(other.root, run(1).root);
    }

    #[test]
    fn a_file_that_changes_while_read_is_an_error() {
        let data = [1u8; 100];
        let sink = |_: u64, _: &[u8]| Ok(());
        assert!(seal(&data[..], 200, &MASTER, [0; 16], 1, sink, |_| {}).is_err());
        assert!(seal(&data[..], 50, &MASTER, [0; 16], 1, sink, |_| {}).is_err());
    }
}
