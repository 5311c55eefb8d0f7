//! Matcher snapshots: everything the matcher holds, as of one change-log sequence number, so a
//! service starts by reading one file and the changes made since, instead of every signal.
//!
//! Format (integers little-endian):
//!
//! ```text
//! magic "SPOORMS\0" · version u32 · seq i64
//! mark: present u8 · seq i64 · action name (u8 length, bytes) · bank id i64 · entry id i64
//!       (-1: none) · signal type u8 (255: none) · CRC-32 of the signal value u32
//! meta: count u64 · count × (entry id i64, metadata u32)
//! digests: count u64 · count × (type u8, length u16, value, entry id i64)
//! videos: count u64 · count × (entry id i64, frames u32, frames × 32 bytes)
//! PDQ index (spoor-index snapshot) · frame index (spoor-index snapshot)
//! CRC-32 of everything before it, u32
//! ```
//!
//! The *mark* describes the change at `seq` (immutable fields only). A snapshot is used only
//! when the store's log holds that same change at that same number: a snapshot of another
//! store, or of a store since restored from an older backup, is recognised and ignored.
//! Loading checks the checksum and every limit (kinds, lengths, ids, frame counts, the
//! indexes' own structure), so a damaged file is an error, never a panic.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use spoor_bank::{BankError, Delta, Store};
use spoor_core::signal::ALL_SIGNAL_TYPES;
use spoor_core::{vpdq, Hash256, SignalType};
use spoor_index::PdqIndex;

use crate::meta::{Kind, Meta};
use crate::{Matcher, State};

const MAGIC: &[u8; 8] = b"SPOORMS\0";
const VERSION: u32 = 1;

/// Why a matcher snapshot could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("matcher snapshot {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a matcher snapshot.
    #[error("{0} is not a Spoor matcher snapshot (bad magic bytes); remove it or point the snapshot path elsewhere")]
    BadMagic(String),
    /// Another format version.
    #[error("matcher snapshot format version {0} is not supported (this build reads version {VERSION}); it is replaced at the next snapshot")]
    Version(u32),
    /// The file is damaged.
    #[error("matcher snapshot is damaged ({0}); it is replaced at the next snapshot")]
    Corrupt(String),
    /// One of the indexes inside is damaged.
    #[error("matcher snapshot: {0}")]
    Index(#[from] spoor_index::SnapshotError),
    /// The snapshot is not of this store, or not of its current history.
    #[error(
        "matcher snapshot does not belong to this store ({0}); it is replaced at the next snapshot"
    )]
    OtherStore(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] BankError),
}

/// How a matcher started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// From the snapshot at `seq`, then `caught_up` changes from the log.
    Snapshot {
        /// The sequence number the snapshot reflected.
        seq: i64,
        /// Changes applied from the log after it.
        caught_up: usize,
    },
    /// From every signal in the store, because of `reason` (no snapshot, or why it was not
    /// used).
    Full {
        /// Why the snapshot was not used.
        reason: String,
    },
}

/// The immutable fields of one change: what a snapshot records of the change at its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangeMark {
    seq: i64,
    action: String,
    bank_id: i64,
    entry_id: i64,
    signal_type: u8,
    signal_crc: u32,
}

impl ChangeMark {
    pub(crate) fn of(d: &Delta) -> Self {
        let (signal_type, signal_crc) = match &d.signal {
            Some((t, v)) => (type_code(*t), crc32fast::hash(v)),
            None => (255, 0),
        };
        ChangeMark {
            seq: d.seq,
            action: d.action.name().to_string(),
            bank_id: d.bank_id,
            entry_id: d.entry_id.unwrap_or(-1),
            signal_type,
            signal_crc,
        }
    }
}

fn type_code(t: SignalType) -> u8 {
    ALL_SIGNAL_TYPES.iter().position(|&x| x == t).map_or(255, |i| i as u8)
}

/// The change at `seq` as the store has it now.
fn mark_in_store(store: &dyn Store, seq: i64) -> Result<Option<ChangeMark>, BankError> {
    if seq <= 0 {
        return Ok(None);
    }
    Ok(store.deltas(seq - 1, 1)?.first().filter(|d| d.seq == seq).map(ChangeMark::of))
}

/// A writer that keeps a running CRC-32.
struct CrcWrite<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that keeps a running CRC-32.
struct CrcRead<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> CrcRead<R> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut b = [0u8; N];
        self.read_exact(&mut b).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => SnapshotError::Corrupt("truncated".into()),
            _ => SnapshotError::Io { path: String::new(), source: e },
        })?;
        Ok(b)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn vec(&mut self, n: usize) -> Result<Vec<u8>, SnapshotError> {
        let mut v = vec![0u8; n];
        self.read_exact(&mut v).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => SnapshotError::Corrupt("truncated".into()),
            _ => SnapshotError::Io { path: String::new(), source: e },
        })?;
        Ok(v)
    }
}

fn corrupt(what: &str) -> SnapshotError {
    SnapshotError::Corrupt(what.to_string())
}

/// A count read from the file, bounded so that a lying count cannot reserve memory the file
/// does not back (vectors grow as items are actually read).
fn reserve(n: u64) -> usize {
    usize::try_from(n.min(1 << 20)).unwrap_or(1 << 20)
}

/// What a snapshot holds.
struct Loaded {
    seq: i64,
    mark: Option<ChangeMark>,
    state: State,
    pdq: PdqIndex,
    video_frames: PdqIndex,
}

fn read_snapshot(input: impl Read) -> Result<Loaded, SnapshotError> {
    let mut r =
        CrcRead { inner: BufReader::with_capacity(1 << 20, input), crc: crc32fast::Hasher::new() };
    if &r.array::<8>()? != MAGIC {
        return Err(SnapshotError::BadMagic(String::new()));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let seq = r.i64()?;
    if seq < 0 {
        return Err(corrupt("negative sequence number"));
    }
    let mark = match r.u8()? {
        0 => None,
        1 => {
            let mseq = r.i64()?;
            let len = r.u8()?;
            let action = String::from_utf8(r.vec(usize::from(len))?)
                .map_err(|_| corrupt("change mark action"))?;
            Some(ChangeMark {
                seq: mseq,
                action,
                bank_id: r.i64()?,
                entry_id: r.i64()?,
                signal_type: r.u8()?,
                signal_crc: r.u32()?,
            })
        }
        _ => return Err(corrupt("change mark flag")),
    };
    if mark.as_ref().is_some_and(|m| m.seq != seq) || (mark.is_none() && seq > 0) {
        return Err(corrupt("change mark does not match the sequence number"));
    }
    let mut state = State::default();
    // Read in pieces: one checksum update and one copy per 16,384 entries, not per field.
    let mut left = r.u64()?;
    let mut buf = vec![0u8; 12 << 14];
    while left > 0 {
        let k = left.min(1 << 14) as usize;
        let part = &mut buf[..k * 12];
        r.read_exact(part).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("truncated"),
            _ => SnapshotError::Io { path: String::new(), source: e },
        })?;
        for e in part.chunks_exact(12) {
            let id = i64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
            let bits = u32::from_le_bytes(e[8..].try_into().expect("4 bytes"));
            let meta = Meta::from_bits(bits).ok_or_else(|| corrupt("entry metadata"))?;
            if state.meta.insert(id, meta).is_some() {
                return Err(corrupt("an entry listed twice"));
            }
        }
        left -= k as u64;
    }
    let n = r.u64()?;
    for _ in 0..n {
        let t =
            *ALL_SIGNAL_TYPES.get(usize::from(r.u8()?)).ok_or_else(|| corrupt("digest type"))?;
        if crate::kind_of(t) != Some(Kind::Exact) {
            return Err(corrupt("digest type"));
        }
        let len = u16::from_le_bytes(r.array()?);
        let value = r.vec(usize::from(len))?;
        t.check_bytes(&value).map_err(|_| corrupt("digest value"))?;
        let id = r.i64()?;
        if state.meta.get(id).map(Meta::kind) != Some(Kind::Exact) {
            return Err(corrupt("digest of an entry that is not a live digest"));
        }
        let ids = state.exact.entry((t, value.into_boxed_slice())).or_default();
        if ids.contains(&id) {
            return Err(corrupt("a digest listed twice"));
        }
        ids.push(id);
    }
    let n = r.u64()?;
    for _ in 0..n {
        let id = r.i64()?;
        let count = r.u32()?;
        if count > 1 << vpdq::FRAME_BITS {
            return Err(corrupt("video frame count"));
        }
        if state.meta.get(id).map(Meta::kind) != Some(Kind::Video) {
            return Err(corrupt("frames of an entry that is not a live video"));
        }
        let mut frames = Vec::with_capacity(reserve(u64::from(count)));
        for _ in 0..count {
            frames.push(Hash256::from_bytes(r.array()?));
        }
        if state.videos.insert(id, frames).is_some() {
            return Err(corrupt("a video listed twice"));
        }
    }
    if state.videos.len() as u64 != state.meta.count(Kind::Video) {
        return Err(corrupt("a live video without frames"));
    }
    let digests: u64 = state.exact.values().map(|v| v.len() as u64).sum();
    if digests != state.meta.count(Kind::Exact) {
        return Err(corrupt("a live digest without its value"));
    }
    let (pdq, _) = PdqIndex::read_from(&mut r)?;
    let (video_frames, _) = PdqIndex::read_from(&mut r)?;
    let computed = r.crc.clone().finalize();
    let mut stored = [0u8; 4];
    r.inner.read_exact(&mut stored).map_err(|_| corrupt("truncated"))?;
    if u32::from_le_bytes(stored) != computed {
        return Err(corrupt("checksum mismatch"));
    }
    let mut rest = [0u8; 1];
    if r.inner.read(&mut rest).map_err(|e| SnapshotError::Io { path: String::new(), source: e })?
        != 0
    {
        return Err(corrupt("bytes after the end"));
    }
    Ok(Loaded { seq, mark, state, pdq, video_frames })
}

fn with_path(e: SnapshotError, path: &Path) -> SnapshotError {
    match e {
        SnapshotError::Io { source, .. } => {
            SnapshotError::Io { path: path.display().to_string(), source }
        }
        SnapshotError::BadMagic(_) => SnapshotError::BadMagic(path.display().to_string()),
        e => e,
    }
}

impl Matcher {
    /// Writes a snapshot of everything the matcher holds to `path`, atomically: a temporary
    /// file beside it is written, flushed to disk and renamed over `path`. Returns the sequence
    /// number it reflects. Changes are not applied meanwhile; searches go on.
    pub fn write_snapshot(&self, path: &Path) -> Result<i64, SnapshotError> {
        let mut mark = self.follow.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.seq();
        if mark.as_ref().map(|m| m.seq) != Some(seq) {
            *mark = mark_in_store(&*self.store, seq)?;
            if mark.is_none() && seq > 0 {
                return Err(SnapshotError::OtherStore(format!(
                    "the store's log has no change {seq}, which the matcher has applied"
                )));
            }
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| SnapshotError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        })?;
        let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let io =
            |e: std::io::Error| SnapshotError::Io { path: tmp.display().to_string(), source: e };
        let result = (|| {
            let file = File::create(&tmp).map_err(io)?;
            let mut w = CrcWrite {
                inner: BufWriter::with_capacity(1 << 20, file),
                crc: crc32fast::Hasher::new(),
            };
            self.write_body(&mut w, seq, mark.as_ref()).map_err(io)?;
            let crc = w.crc.clone().finalize();
            let mut file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
            file.write_all(&crc.to_le_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            drop(file);
            std::fs::rename(&tmp, path)
                .map_err(|e| SnapshotError::Io { path: path.display().to_string(), source: e })?;
            // The rename is durable once the directory is.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(seq)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            self.applied_at_snapshot.store(self.applied.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        result
    }

    fn write_body(
        &self,
        w: &mut impl Write,
        seq: i64,
        mark: Option<&ChangeMark>,
    ) -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&seq.to_le_bytes())?;
        match mark {
            None => w.write_all(&[0])?,
            Some(m) => {
                w.write_all(&[1])?;
                w.write_all(&m.seq.to_le_bytes())?;
                let action = m.action.as_bytes();
                w.write_all(&[action.len().min(255) as u8])?;
                w.write_all(&action[..action.len().min(255)])?;
                w.write_all(&m.bank_id.to_le_bytes())?;
                w.write_all(&m.entry_id.to_le_bytes())?;
                w.write_all(&[m.signal_type])?;
                w.write_all(&m.signal_crc.to_le_bytes())?;
            }
        }
        {
            let s = self.read();
            w.write_all(&s.meta.len().to_le_bytes())?;
            // Written in pieces of 16,384 entries (one checksum update each).
            let mut err = Ok(());
            let mut buf = Vec::with_capacity(12 << 14);
            s.meta.for_each(|id, m| {
                buf.extend_from_slice(&id.to_le_bytes());
                buf.extend_from_slice(&m.bits().to_le_bytes());
                if buf.len() >= 12 << 14 {
                    if err.is_ok() {
                        err = w.write_all(&buf);
                    }
                    buf.clear();
                }
            });
            err?;
            w.write_all(&buf)?;
            let digests: u64 = s.exact.values().map(|v| v.len() as u64).sum();
            w.write_all(&digests.to_le_bytes())?;
            for ((t, value), ids) in &s.exact {
                for id in ids {
                    w.write_all(&[type_code(*t)])?;
                    w.write_all(&(value.len() as u16).to_le_bytes())?;
                    w.write_all(value)?;
                    w.write_all(&id.to_le_bytes())?;
                }
            }
            w.write_all(&(s.videos.len() as u64).to_le_bytes())?;
            for (id, frames) in &s.videos {
                w.write_all(&id.to_le_bytes())?;
                w.write_all(&(frames.len() as u32).to_le_bytes())?;
                for f in frames {
                    w.write_all(&f.to_bytes())?;
                }
            }
        }
        self.pdq.save(&mut *w, seq as u64)?;
        self.video_frames.save(&mut *w, seq as u64)?;
        w.flush()
    }

    /// Starts from the snapshot at `path` when it is there, intact, of this build's format and
    /// of this store's history, then applies the changes made since; otherwise (with a
    /// warning naming why, when there was a file) loads everything from the store as
    /// [`Matcher::load`] does. Errors are the store's only.
    pub fn load_with_snapshot(
        store: Arc<dyn Store>,
        path: &Path,
    ) -> Result<(Self, Start), BankError> {
        let started = Instant::now();
        let reason = match Self::try_snapshot(&store, path) {
            Ok((matcher, start)) => {
                tracing::info!(
                    path = %path.display(),
                    pdq = matcher.pdq.len(),
                    seq = matcher.seq(),
                    seconds = started.elapsed().as_secs_f64(),
                    "matcher loaded from its snapshot and the change log"
                );
                return Ok((matcher, start));
            }
            Err(SnapshotError::Store(e)) => return Err(e),
            Err(SnapshotError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                tracing::info!(path = %path.display(), "no matcher snapshot yet; loading from the store");
                format!("no snapshot at {}", path.display())
            }
            Err(e) => {
                let e = with_path(e, path);
                tracing::warn!(error = %e, "matcher snapshot not used; loading everything from the store instead");
                e.to_string()
            }
        };
        let matcher = Self::load(store)?;
        Ok((matcher, Start::Full { reason }))
    }

    fn try_snapshot(store: &Arc<dyn Store>, path: &Path) -> Result<(Self, Start), SnapshotError> {
        let file = File::open(path)
            .map_err(|e| SnapshotError::Io { path: path.display().to_string(), source: e })?;
        let loaded = read_snapshot(file)?;
        let last = store.last_seq()?;
        if last < loaded.seq {
            return Err(SnapshotError::OtherStore(format!(
                "it reflects change {} but the store's log ends at {last}",
                loaded.seq
            )));
        }
        if mark_in_store(&**store, loaded.seq)? != loaded.mark {
            return Err(SnapshotError::OtherStore(format!(
                "the store's change {} is not the one the snapshot recorded",
                loaded.seq
            )));
        }
        let seq = loaded.seq;
        let matcher = Matcher::assemble(
            Arc::clone(store),
            loaded.pdq,
            loaded.video_frames,
            loaded.state,
            seq,
        );
        *matcher.follow.lock().unwrap_or_else(|e| e.into_inner()) = loaded.mark;
        matcher.reload_banks()?;
        let caught_up = matcher.catch_up()?;
        Ok((matcher, Start::Snapshot { seq, caught_up }))
    }
}

/// Reads a matcher snapshot's content and checks it, without a store (for fuzzing and tools).
/// Returns the sequence number it reflects.
pub fn check_snapshot(input: impl Read) -> Result<i64, SnapshotError> {
    read_snapshot(input).map(|l| l.seq)
}
