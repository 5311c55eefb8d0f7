//! Saving and loading an index, so that a service starts in seconds instead of rebuilding.
//!
//! Format (all integers little-endian):
//!
//! ```text
//! magic "SPOORIX\0" · version u32 · sequence u64 · n u64 · id width u32 (4 or 8) · chunks u32
//! n × 32-byte hashes · n ids · per table: low_bits u32, slot_bits u32, top length u64, top,
//! packed (n × u32) · removed slots: count u64, slots (u32 each) · delta: count u64, entries
//! (32-byte hash, id u64) · CRC-32 of everything before it, u32
//! ```
//!
//! The removals and the delta are saved as they are, so saving never rebuilds the tables.
//! `sequence` is the caller's position in its change log when the snapshot was taken, so that
//! it can replay only the changes made since. Loading checks the magic, version, checksum and
//! every structural limit the search relies on, so a damaged file is an error, never a
//! panic.

use crate::{chunks, Ids, PdqIndex, Table};
use spoor_core::Hash256;
use std::io::{Read, Write};

const MAGIC: &[u8; 8] = b"SPOORIX\0";
const VERSION: u32 = 2;

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing failed.
    #[error("snapshot i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// Not a Spoor index snapshot.
    #[error("not a Spoor index snapshot (bad magic bytes)")]
    BadMagic,
    /// Written by a newer or older format.
    #[error("index snapshot format version {0} is not supported (this build reads version {VERSION}); rebuild the index from the banks")]
    Version(u32),
    /// The file ends early.
    #[error("index snapshot is truncated; rebuild the index from the banks")]
    Truncated,
    /// The checksum does not match: the file was damaged.
    #[error(
        "index snapshot checksum mismatch: the file is damaged; rebuild the index from the banks"
    )]
    Checksum,
    /// The content is inconsistent.
    #[error("index snapshot is corrupt ({0}); rebuild the index from the banks")]
    Corrupt(&'static str),
}

/// A writer that keeps a running CRC-32.
struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Crc<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
    fn u32s(&mut self, v: &[u32]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(64 * 1024);
        for chunk in v.chunks(16 * 1024) {
            buf.clear();
            chunk.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
            self.put(&buf)?;
        }
        Ok(())
    }
}

/// A reader that keeps a running CRC-32.
struct CrcIn<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> CrcIn<R> {
    fn take(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => SnapshotError::Truncated,
            _ => SnapshotError::Io(e),
        })?;
        self.crc.update(buf);
        Ok(())
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut b = [0; 4];
        self.take(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut b = [0; 8];
        self.take(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads `n` items of `size` bytes in pieces, so that a lying length field cannot make
    /// us allocate more than the file actually holds.
    fn items<T>(
        &mut self,
        n: u64,
        size: usize,
        f: impl Fn(&[u8]) -> T,
    ) -> Result<Vec<T>, SnapshotError> {
        let n = usize::try_from(n).map_err(|_| SnapshotError::Corrupt("length out of range"))?;
        let mut out = Vec::with_capacity(n.min(1 << 20));
        let mut buf = vec![0u8; size * 16 * 1024];
        let mut left = n;
        while left > 0 {
            let k = left.min(16 * 1024);
            self.take(&mut buf[..k * size])?;
            out.extend(buf[..k * size].chunks_exact(size).map(&f));
            left -= k;
        }
        Ok(out)
    }
}

impl PdqIndex {
    /// Writes a snapshot of the index, tagged with the caller's change-log `sequence`,
    /// pending inserts and removals included as they are.
    pub fn save(&self, out: impl Write, sequence: u64) -> std::io::Result<()> {
        let mut w = Crc {
            inner: std::io::BufWriter::with_capacity(1 << 20, out),
            crc: crc32fast::Hasher::new(),
        };
        let n = self.hashes.len() as u64;
        w.put(MAGIC)?;
        w.put(&VERSION.to_le_bytes())?;
        w.put(&sequence.to_le_bytes())?;
        w.put(&n.to_le_bytes())?;
        let id_width: u32 = match self.ids {
            Ids::Narrow(_) => 4,
            Ids::Wide(_) => 8,
        };
        w.put(&id_width.to_le_bytes())?;
        w.put(&(self.chunks.len() as u32).to_le_bytes())?;
        let mut buf = Vec::with_capacity(1 << 20);
        for part in self.hashes.chunks(16 * 1024) {
            buf.clear();
            part.iter().for_each(|h| buf.extend_from_slice(&h.to_bytes()));
            w.put(&buf)?;
        }
        match &self.ids {
            Ids::Narrow(v) => w.u32s(v)?,
            Ids::Wide(v) => {
                for part in v.chunks(16 * 1024) {
                    buf.clear();
                    part.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
                    w.put(&buf)?;
                }
            }
        }
        for t in &self.tables {
            w.put(&t.low_bits.to_le_bytes())?;
            w.put(&t.slot_bits.to_le_bytes())?;
            w.put(&(t.top.len() as u64).to_le_bytes())?;
            w.u32s(&t.top)?;
            w.u32s(&t.packed)?;
        }
        let dead: Vec<u32> =
            (0..self.hashes.len()).filter(|&s| self.dead.is_dead(s)).map(|s| s as u32).collect();
        w.put(&(dead.len() as u64).to_le_bytes())?;
        w.u32s(&dead)?;
        let live: Vec<(Hash256, u64)> = self
            .delta_hashes
            .iter()
            .zip(&self.delta_ids)
            .enumerate()
            .filter(|(slot, _)| !self.delta_dead.is_dead(*slot))
            .map(|(_, (h, id))| (*h, *id))
            .collect();
        w.put(&(live.len() as u64).to_le_bytes())?;
        for part in live.chunks(16 * 1024) {
            buf.clear();
            for (h, id) in part {
                buf.extend_from_slice(&h.to_bytes());
                buf.extend_from_slice(&id.to_le_bytes());
            }
            w.put(&buf)?;
        }
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes())?;
        w.inner.flush()
    }

    /// Reads a snapshot; returns the index and the change-log sequence it was saved at.
    pub fn load(input: impl Read) -> Result<(PdqIndex, u64), SnapshotError> {
        Self::read_from(&mut std::io::BufReader::with_capacity(1 << 20, input))
    }

    /// Reads a snapshot from a stream positioned at its start, consuming exactly its bytes
    /// (nothing after it), so that it can be one part of a larger file. `input` should be
    /// buffered.
    pub fn read_from<R: Read>(input: &mut R) -> Result<(PdqIndex, u64), SnapshotError> {
        let mut r = CrcIn { inner: input, crc: crc32fast::Hasher::new() };
        let mut magic = [0u8; 8];
        r.take(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(SnapshotError::Version(version));
        }
        let sequence = r.u64()?;
        let n = r.u64()?;
        if n >= 1 << 31 {
            return Err(SnapshotError::Corrupt("entry count out of range"));
        }
        let id_width = r.u32()?;
        let m = r.u32()?;
        if !crate::CHUNKS.contains(&m) {
            return Err(SnapshotError::Corrupt("chunk count out of range (8 to 32)"));
        }
        let hashes = r.items(n, 32, |b| {
            let mut a = [0u8; 32];
            a.copy_from_slice(b);
            Hash256::from_bytes(a)
        })?;
        let ids = match id_width {
            4 => Ids::Narrow(r.items(n, 4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?),
            8 => Ids::Wide(r.items(n, 8, |b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            })?),
            _ => return Err(SnapshotError::Corrupt("id width is neither 4 nor 8")),
        };
        let chunks = chunks(m);
        let mut tables = Vec::with_capacity(m as usize);
        for chunk in &chunks {
            let low_bits = r.u32()?;
            let slot_bits = r.u32()?;
            let top_len = r.u64()?;
            // At least one top bit; the low bits and the slot number share a u32; the slot
            // number has room for every slot.
            if low_bits >= chunk.width
                || slot_bits == 0
                || slot_bits >= 32
                || slot_bits + low_bits > 32
                || top_len != (1u64 << (chunk.width - low_bits)) + 1
                || (n > 0 && u64::from(slot_bits) < u64::from(u64::BITS - (n - 1).leading_zeros()))
            {
                return Err(SnapshotError::Corrupt("table header"));
            }
            let to_u32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let top = r.items(top_len, 4, to_u32)?;
            let packed = r.items(n, 4, to_u32)?;
            let ok_top = top.first() == Some(&0)
                && top.last().map(|&l| u64::from(l)) == Some(n)
                && top.windows(2).all(|w| w[0] <= w[1]);
            let slot_mask = u32::MAX >> (32 - slot_bits);
            let ok_slots = packed.iter().all(|&p| u64::from(p & slot_mask) < n);
            if !ok_top || !ok_slots {
                return Err(SnapshotError::Corrupt("table content"));
            }
            tables.push(Table { low_bits, slot_bits, top, packed });
        }
        let removed = r.u64()?;
        if removed > n {
            return Err(SnapshotError::Corrupt("more removed entries than entries"));
        }
        let mut dead = crate::Tombstones::default();
        for slot in r.items(removed, 4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))? {
            if u64::from(slot) >= n || !dead.kill(slot as usize) {
                return Err(SnapshotError::Corrupt("removed slot"));
            }
        }
        let delta = r.u64()?;
        if delta >= 1 << 31 {
            return Err(SnapshotError::Corrupt("delta count out of range"));
        }
        let delta: Vec<(Hash256, u64)> = r.items(delta, 40, |b| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&b[..32]);
            let mut id = [0u8; 8];
            id.copy_from_slice(&b[32..]);
            (Hash256::from_bytes(h), u64::from_le_bytes(id))
        })?;
        let (delta_hashes, delta_ids) = delta.into_iter().unzip();
        let computed = r.crc.clone().finalize();
        let mut stored = [0u8; 4];
        r.inner.read_exact(&mut stored).map_err(|_| SnapshotError::Truncated)?;
        if u32::from_le_bytes(stored) != computed {
            return Err(SnapshotError::Checksum);
        }
        let index = PdqIndex {
            chunks,
            tables,
            hashes,
            ids,
            dead,
            delta_hashes,
            delta_ids,
            delta_dead: crate::Tombstones::default(),
        };
        Ok((index, sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> PdqIndex {
        let mut s = 7u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s
        };
        PdqIndex::build(
            (0..n)
                .map(|i| (Hash256::from_words([next(), next(), next(), next()]), i * 3))
                .collect(),
        )
    }

    #[test]
    fn round_trip_answers_the_same() {
        for (n, wide) in [(0u64, false), (1, false), (1000, false), (700_000, true)] {
            let mut index = sample(n);
            if wide {
                index.insert(Hash256::from_words([1, 2, 3, 4]), u64::MAX);
            }
            let mut buf = Vec::new();
            index.save(&mut buf, 42).unwrap();
            let (loaded, seq) = PdqIndex::load(&buf[..]).unwrap();
            assert_eq!(seq, 42);
            assert_eq!(loaded.len(), index.len());
            for k in 0..50u64 {
                let q = if k % 2 == 0 && n > 0 {
                    index.hashes[(k as usize * 7919) % n as usize]
                } else {
                    Hash256::from_words([k, k * 3, k * 5, k * 7])
                };
                assert_eq!(loaded.search(&q, 31), index.search(&q, 31));
            }
            if wide {
                assert_eq!(loaded.search(&Hash256::from_words([1, 2, 3, 4]), 0)[0].id, u64::MAX);
            }
        }
    }

    #[test]
    fn pending_changes_are_saved_as_they_are() {
        let mut index = sample(3000);
        let mut shadow = index.clone();
        let extra: Vec<(Hash256, u64)> =
            (0..100u64).map(|k| (Hash256::from_words([k, k ^ 5, k * 9, 77]), 10_000 + k)).collect();
        for (h, id) in &extra {
            index.insert_unfolded(*h, *id);
        }
        for k in 0..50u64 {
            let h = index.hashes[(k * 37) as usize];
            assert!(index.remove(&h, k * 37 * 3));
        }
        assert!(index.remove(&extra[3].0, extra[3].1));
        let mut buf = Vec::new();
        index.save(&mut buf, 9).unwrap();
        let (loaded, seq) = PdqIndex::load(&buf[..]).unwrap();
        assert_eq!(seq, 9);
        let s = loaded.stats();
        assert_eq!((s.live, s.removed, s.delta), (3000 + 99 - 50, 50, 99));
        // The same answers as the index saved, which are those of the same changes on a copy.
        for (h, id) in &extra {
            shadow.insert(*h, *id);
        }
        for k in 0..50u64 {
            let h = shadow.hashes[(k * 37) as usize];
            shadow.remove(&h, k * 37 * 3);
        }
        shadow.remove(&extra[3].0, extra[3].1);
        for k in 0..200u64 {
            let q = if k < 100 { extra[k as usize].0 } else { index.hashes[(k * 13) as usize] };
            for r in [0, 31] {
                assert_eq!(loaded.search(&q, r), index.search(&q, r));
                assert_eq!(loaded.search(&q, r), shadow.search(&q, r));
            }
        }
    }

    #[test]
    fn damage_is_detected() {
        let index = sample(5000);
        let mut buf = Vec::new();
        index.save(&mut buf, 1).unwrap();
        assert!(matches!(
            PdqIndex::load(&b"hello world, not an index"[..]),
            Err(SnapshotError::BadMagic)
        ));
        assert!(matches!(PdqIndex::load(&buf[..buf.len() / 2]), Err(SnapshotError::Truncated)));
        assert!(matches!(PdqIndex::load(&buf[..buf.len() - 1]), Err(SnapshotError::Truncated)));
        let mut bad = buf.clone();
        bad[8] = 9;
        assert!(matches!(PdqIndex::load(&bad[..]), Err(SnapshotError::Version(9))));
        // Flip one bit anywhere in the payload: checksum or structure catches it.
        for pos in [40usize, 1000, buf.len() / 2, buf.len() - 10] {
            let mut bad = buf.clone();
            bad[pos] ^= 0x10;
            let e = PdqIndex::load(&bad[..]).map(|_| ()).unwrap_err();
            assert!(
                matches!(
                    e,
                    SnapshotError::Checksum | SnapshotError::Corrupt(_) | SnapshotError::Truncated
                ),
                "{pos}: {e}"
            );
        }
        // Structural limits are checked even when the checksum is right (a file written by
        // someone else): chunk counts the index cannot search, tables without top bits.
        let resealed = |mut b: Vec<u8>| {
            let end = b.len() - 4;
            let crc = crc32fast::hash(&b[..end]);
            b[end..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        for m in [0u32, 1, 7, 33, 40, 200, 256, u32::MAX] {
            let mut bad = buf.clone();
            bad[32..36].copy_from_slice(&m.to_le_bytes());
            let e = PdqIndex::load(&resealed(bad)[..]).map(|_| ()).unwrap_err();
            assert!(matches!(e, SnapshotError::Corrupt(_)), "m={m}: {e}");
        }
        let small = sample(3);
        let mut buf3 = Vec::new();
        small.save(&mut buf3, 1).unwrap();
        // Hashes, ids (3 × 4 bytes), then the first table: low_bits = the chunk width.
        let table = 36 + 3 * 32 + 3 * 4;
        let mut bad = buf3.clone();
        bad[table..table + 4].copy_from_slice(&16u32.to_le_bytes());
        assert!(matches!(PdqIndex::load(&resealed(bad)[..]), Err(SnapshotError::Corrupt(_))));
        assert!(PdqIndex::load(&resealed(buf3.clone())[..]).is_ok());
        // A snapshot is read to its end and no further: it can be part of a larger file.
        let mut joined = buf3.clone();
        joined.extend_from_slice(b"after");
        let mut cursor = std::io::Cursor::new(&joined[..]);
        let (again, seq) = PdqIndex::read_from(&mut cursor).unwrap();
        assert_eq!((again.len(), seq), (3, 1));
        assert_eq!(cursor.position() as usize, buf3.len());
        // A huge declared count in a tiny file fails without allocating it.
        let mut lying = buf[..36].to_vec();
        lying[20..28].copy_from_slice(&(1u64 << 30).to_le_bytes());
        assert!(PdqIndex::load(&lying[..]).is_err());
    }
}
