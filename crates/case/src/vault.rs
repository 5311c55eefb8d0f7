//! Media held for review, encrypted at rest.
//!
//! A [`Vault`] is a directory of sealed blobs, one file per piece of media:
//!
//! ```text
//! dir/<first 2 hex digits of the id>/<id>
//! file = "SPOORMV1" ‖ key id (8 bytes) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! ```
//!
//! Blobs are sealed with XChaCha20-Poly1305 under the vault's [`MediaKey`], with a random nonce
//! and the magic and the media id as associated data, so a blob moved to another id's place does
//! not open. The key id (the first 8 bytes of `SHA-256("spoor-media-key-id" ‖ key)`) says which
//! key sealed a blob without revealing the key. Nothing in clear is ever written: the plaintext
//! is sealed in memory, and only the sealed bytes go to a temporary file, which is synced and
//! renamed into place before the directory is synced.
//!
//! A video's key frames (see [`crate::keyframes`]) are kept next to its media, in
//! `dir/<2 hex>/<id>.frames`, sealed the same way under associated data of their own (the magic,
//! the id and `frames`), so frames never open as media nor under another id; deleting the media
//! deletes them with it.
//!
//! ```
//! use spoor_case::vault::{MediaKey, Vault};
//! let dir = tempfile::tempdir().unwrap();
//! let vault = Vault::open(dir.path(), MediaKey::generate().unwrap()).unwrap();
//! let id = vault.put(b"media bytes").unwrap();
//! assert_eq!(vault.get(&id).unwrap(), b"media bytes");
//! assert!(vault.delete(&id).unwrap());
//! ```

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// The first bytes of every sealed blob.
pub const MAGIC: &[u8; 8] = b"SPOORMV1";
/// The first line of a key file.
pub const KEY_FILE_HEADER: &str = "spoor-media-key-v1";

const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
const TEMP_PREFIX: &str = ".tmp-";
/// What follows a media id in the name of the file of its key frames.
const FRAMES_SUFFIX: &str = ".frames";
/// Added to the associated data of key frames, so they never open as media.
const FRAMES_AAD: &[u8; 6] = b"frames";

/// Why a media key could not be made, written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system's random number generator failed.
    #[error("the system's random number generator failed ({0}); no key was made")]
    Random(getrandom::Error),
    /// `write_new` found a file already there.
    #[error("key file {} already exists; a key file is never overwritten (move it away first, or read it instead)", .0.display())]
    Exists(PathBuf),
    /// `read` found no file.
    #[error("key file {} does not exist; make one with a new key first", .0.display())]
    Missing(PathBuf),
    /// The file is readable or writable by group or others.
    #[error("key file {} has mode {mode:04o}, open to group or others; run `chmod 600 {}` and try again", .path.display(), .path.display())]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The text is not a media key file.
    #[error("key file {} is not a media key file: {detail}", .path.display())]
    Format {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The key is not 32 bytes.
    #[error("key file {} holds a {found}-byte key; a media key is 32 bytes (64 hex digits)", .path.display())]
    Length {
        /// The key file.
        path: PathBuf,
        /// Bytes found.
        found: usize,
    },
    /// Reading or writing failed.
    #[error("could not {action} key file {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

/// A 256-bit key that seals media in a [`Vault`]. Zeroized when dropped; its `Debug` form shows
/// only its [id](MediaKey::id).
pub struct MediaKey {
    bytes: [u8; KEY_LEN],
}

impl Drop for MediaKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaKey").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl MediaKey {
    /// A new random key from the system's random number generator.
    pub fn generate() -> Result<MediaKey, KeyError> {
        let mut key = MediaKey { bytes: [0; KEY_LEN] };
        getrandom::fill(&mut key.bytes).map_err(KeyError::Random)?;
        Ok(key)
    }

    /// A key from its bytes (for keys kept somewhere other than a key file).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MediaKey {
        MediaKey { bytes }
    }

    /// Identifies the key without revealing it: the first 8 bytes of
    /// `SHA-256("spoor-media-key-id" ‖ key)`, as 16 lower-case hex digits.
    pub fn id(&self) -> String {
        to_hex(&self.id_bytes())
    }

    fn id_bytes(&self) -> [u8; KEY_ID_LEN] {
        let mut h = Sha256::new();
        h.update(b"spoor-media-key-id");
        h.update(self.bytes);
        let digest = h.finalize();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        id
    }

    /// Makes a new key and writes it to a new file at `path` (mode 0600 on unix):
    /// `spoor-media-key-v1`, then the key in hex, each on its own line. An existing file is
    /// never overwritten.
    pub fn write_new(path: &Path) -> Result<MediaKey, KeyError> {
        let key = MediaKey::generate()?;
        let io_error = |action, source| KeyError::Io { action, path: path.to_owned(), source };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.to_owned())
            } else {
                io_error("create", e)
            }
        })?;
        let text = Zeroizing::new(format!("{KEY_FILE_HEADER}\n{}\n", to_hex(&key.bytes)));
        file.write_all(text.as_bytes()).map_err(|e| io_error("write", e))?;
        file.sync_all().map_err(|e| io_error("sync", e))?;
        if let Some(parent) = path.parent() {
            sync_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent })
                .map_err(|e| io_error("sync the directory of", e))?;
        }
        Ok(key)
    }

    /// Reads a key file written by [`MediaKey::write_new`]. On unix a file open to group or
    /// others is refused.
    pub fn read(path: &Path) -> Result<MediaKey, KeyError> {
        let io_error = |action, source| KeyError::Io { action, path: path.to_owned(), source };
        let format = |detail: String| KeyError::Format { path: path.to_owned(), detail };
        let meta = fs::metadata(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                KeyError::Missing(path.to_owned())
            } else {
                io_error("inspect", e)
            }
        })?;
        if !meta.is_file() {
            return Err(format("it is not a regular file".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed { path: path.to_owned(), mode });
            }
        }
        if meta.len() > 4096 {
            return Err(format(format!(
                "it is {} bytes long, far more than a key file",
                meta.len()
            )));
        }
        let bytes = Zeroizing::new(fs::read(path).map_err(|e| io_error("read", e))?);
        let text =
            std::str::from_utf8(&bytes).map_err(|_| format("it is not UTF-8 text".into()))?;
        let mut lines = text.split('\n');
        let header = lines.next().unwrap_or_default();
        if header.trim_end_matches('\r') != KEY_FILE_HEADER {
            return Err(format(format!("its first line should be {KEY_FILE_HEADER:?}")));
        }
        let hex = lines.next().unwrap_or_default().trim_end_matches('\r');
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(format("it has more than two lines".into()));
        }
        if hex.is_empty() {
            return Err(format("its second line, the key in hex, is missing".into()));
        }
        let decoded = Zeroizing::new(
            from_hex(hex).map_err(|e| format(format!("its second line is not hex: {e}")))?,
        );
        if decoded.len() != KEY_LEN {
            return Err(KeyError::Length { path: path.to_owned(), found: decoded.len() });
        }
        let mut key = MediaKey { bytes: [0; KEY_LEN] };
        key.bytes.copy_from_slice(&decoded);
        Ok(key)
    }
}

/// Identifies one piece of media in a vault: 128 random bits, written as 32 lower-case hex
/// digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaId([u8; 16]);

impl MediaId {
    /// A new random id.
    pub fn random() -> Result<MediaId, getrandom::Error> {
        let mut id = [0; 16];
        getrandom::fill(&mut id)?;
        Ok(MediaId(id))
    }

    /// The id from its bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> MediaId {
        MediaId(bytes)
    }

    /// The id's bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaId({self})")
    }
}

/// A media id that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid media id {text:?}: {detail}; a media id is 32 lower-case hex digits")]
pub struct ParseMediaIdError {
    /// The text given (cut to 80 characters).
    pub text: String,
    /// What is wrong.
    pub detail: String,
}

impl FromStr for MediaId {
    type Err = ParseMediaIdError;

    /// Strict: exactly 32 digits `0-9a-f`.
    fn from_str(s: &str) -> Result<MediaId, ParseMediaIdError> {
        let error =
            |detail: String| ParseMediaIdError { text: s.chars().take(80).collect(), detail };
        if let Some((i, c)) = s.char_indices().find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(error(format!(
                "character {c:?} at position {} is not a lower-case hex digit",
                i + 1
            )));
        }
        if s.len() != 32 {
            return Err(error(format!("it has {} digits", s.len())));
        }
        let bytes = from_hex(s).map_err(error)?;
        let mut id = [0; 16];
        id.copy_from_slice(&bytes);
        Ok(MediaId(id))
    }
}

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No blob with this id.
    #[error("media {0} is not in the vault (it was never stored, or was deleted)")]
    NotFound(MediaId),
    /// The blob was sealed with another key.
    #[error("media {id} was sealed with the media key whose id is {needs}, but this vault was opened with key {have}; open the vault with the key file of key {needs}")]
    WrongKey {
        /// The media.
        id: MediaId,
        /// The id of the key that sealed it.
        needs: String,
        /// The id of the vault's key.
        have: String,
    },
    /// The blob is not a sealed blob, is cut short, or failed authentication.
    #[error("media {id} is damaged ({detail}): its file {} cannot be trusted; restore it from a backup or delete it", .path.display())]
    Damaged {
        /// The media.
        id: MediaId,
        /// The blob's file.
        path: PathBuf,
        /// What is wrong.
        detail: &'static str,
    },
    /// The media has no key frames in the vault.
    #[error("media {0} has no key frames in the vault (it is not a video whose frames were kept, or they were deleted)")]
    NoFrames(MediaId),
    /// The media is too large to seal.
    #[error("media of {0} bytes is too large to seal")]
    TooLarge(usize),
    /// The system's random number generator failed.
    #[error("the system's random number generator failed ({0}); nothing was stored")]
    Random(getrandom::Error),
    /// The file system failed.
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

fn vault_io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> VaultError + 'a {
    move |source| VaultError::Io { action, path: path.to_owned(), source }
}

/// A directory of media sealed under one [`MediaKey`]. See the [module](self) documentation.
pub struct Vault {
    dir: PathBuf,
    key_id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .field("key_id", &to_hex(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the vault in `dir`, creating the directory (mode 0700 on unix) if it is missing.
    pub fn open(dir: &Path, key: MediaKey) -> Result<Vault, VaultError> {
        if !dir.exists() {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(vault_io("create the vault directory", dir))?;
        }
        let meta = fs::metadata(dir).map_err(vault_io("open the vault directory", dir))?;
        if !meta.is_dir() {
            return Err(VaultError::Io {
                action: "open the vault directory",
                path: dir.to_owned(),
                source: io::Error::other("it exists and is not a directory"),
            });
        }
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        Ok(Vault { dir: dir.to_owned(), key_id: key.id_bytes(), cipher })
    }

    /// The vault's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id of the vault's key (see [`MediaKey::id`]).
    pub fn key_id(&self) -> String {
        to_hex(&self.key_id)
    }

    /// Where the blob of `id` lives (whether or not it exists).
    pub fn path_of(&self, id: &MediaId) -> PathBuf {
        let hex = id.to_string();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// Where the key frames kept with `id` live (whether or not they exist).
    pub fn frames_path_of(&self, id: &MediaId) -> PathBuf {
        let hex = id.to_string();
        self.dir.join(&hex[..2]).join(format!("{hex}{FRAMES_SUFFIX}"))
    }

    /// Seals `bytes` under a new random id and stores them durably.
    pub fn put(&self, bytes: &[u8]) -> Result<MediaId, VaultError> {
        Ok(self.put_all(&[bytes])?.remove(0))
    }

    /// Seals each item under a new random id and stores them all durably, at the cost of about
    /// one: the files are written and synced side by side, and they share one shard directory
    /// (chosen at random per call, so blobs still spread over every shard), which is synced
    /// once. All or nothing: on any error, no blob of the call is left behind.
    pub fn put_all(&self, items: &[&[u8]]) -> Result<Vec<MediaId>, VaultError> {
        let items: Vec<(&[u8], Option<&[u8]>)> = items.iter().map(|b| (*b, None)).collect();
        self.put_all_with_frames(&items)
    }

    /// As [`Vault::put_all`], each item `(media, frames)` with, when given, the bytes of its
    /// key frames ([`crate::keyframes::encode`]) sealed next to it (read with
    /// [`Vault::get_frames`], deleted with the media). All or nothing, frames included.
    pub fn put_all_with_frames(
        &self,
        items: &[(&[u8], Option<&[u8]>)],
    ) -> Result<Vec<MediaId>, VaultError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut shard_byte = [0u8; 1];
        getrandom::fill(&mut shard_byte).map_err(VaultError::Random)?;
        let temp_suffix = || -> Result<String, VaultError> {
            let mut suffix = [0u8; 8];
            getrandom::fill(&mut suffix).map_err(VaultError::Random)?;
            Ok(to_hex(&suffix))
        };
        let mut ids = Vec::with_capacity(items.len());
        // Every file to write: (sealed bytes, temporary name suffix, final path).
        let mut staged = Vec::with_capacity(items.len());
        for (bytes, frames) in items {
            let mut id = MediaId::random().map_err(VaultError::Random)?;
            id.0[0] = shard_byte[0];
            staged.push((
                self.seal(&associated_data(&id), bytes)?,
                temp_suffix()?,
                self.path_of(&id),
            ));
            if let Some(frames) = frames {
                staged.push((
                    self.seal(&frames_associated_data(&id), frames)?,
                    temp_suffix()?,
                    self.frames_path_of(&id),
                ));
            }
            ids.push(id);
        }
        let shard = self.dir.join(to_hex(&shard_byte));
        if !shard.is_dir() {
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                builder.mode(0o700);
            }
            match builder.create(&shard) {
                Ok(()) => sync_dir(&self.dir).map_err(vault_io("sync", &self.dir))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(vault_io("create", &shard)(e)),
            }
        }
        let temps: Vec<PathBuf> =
            staged.iter().map(|(_, s, _)| shard.join(format!("{TEMP_PREFIX}{s}"))).collect();
        let finals: Vec<PathBuf> = staged.iter().map(|(_, _, path)| path.clone()).collect();
        // Each file is written and synced on its own thread (at most WRITERS at once), so the
        // syncs overlap and the file system can commit them together.
        const WRITERS: usize = 8;
        let written: Vec<Result<(), VaultError>> = if staged.len() == 1 {
            vec![write_durably(&temps[0], &staged[0].0)]
        } else {
            let per = staged.len().div_ceil(WRITERS);
            std::thread::scope(|s| {
                let handles: Vec<_> = staged
                    .chunks(per)
                    .zip(temps.chunks(per))
                    .map(|(blobs, paths)| {
                        s.spawn(move || {
                            blobs
                                .iter()
                                .zip(paths)
                                .map(|((blob, _, _), p)| write_durably(p, blob))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![Err(VaultError::Io {
                                action: "write",
                                path: shard.clone(),
                                source: io::Error::other("a writer thread panicked"),
                            })]
                        })
                    })
                    .collect()
            })
        };
        let mut result: Result<(), VaultError> = written.into_iter().collect();
        let mut moved = 0;
        if result.is_ok() {
            for (temp, path) in temps.iter().zip(&finals) {
                if let Err(e) = fs::rename(temp, path) {
                    result = Err(vault_io("move into place", path)(e));
                    break;
                }
                moved += 1;
            }
        }
        if result.is_ok() {
            result = sync_dir(&shard).map_err(vault_io("sync", &shard));
        }
        if let Err(e) = result {
            for path in temps.iter().skip(moved).chain(finals.iter().take(moved)) {
                let _ = fs::remove_file(path);
            }
            return Err(e);
        }
        Ok(ids)
    }

    /// The sealed file for `bytes` under the associated data `aad`.
    fn seal(&self, aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(VaultError::Random)?;
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: bytes, aad })
            .map_err(|_| VaultError::TooLarge(bytes.len()))?;
        let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
        blob.extend_from_slice(MAGIC);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// The media stored under `id`, opened and checked.
    pub fn get(&self, id: &MediaId) -> Result<Vec<u8>, VaultError> {
        self.open_blob(id, &self.path_of(id), &associated_data(id), VaultError::NotFound(*id))
    }

    /// The key frames kept with the media `id` ([`crate::keyframes::decode`] reads them),
    /// opened and checked; [`VaultError::NoFrames`] when none were kept.
    pub fn get_frames(&self, id: &MediaId) -> Result<Vec<u8>, VaultError> {
        let path = self.frames_path_of(id);
        self.open_blob(id, &path, &frames_associated_data(id), VaultError::NoFrames(*id))
    }

    /// The blob at `path` of media `id`, opened under `aad`; `missing` when there is none.
    fn open_blob(
        &self,
        id: &MediaId,
        path: &Path,
        aad: &[u8],
        missing: VaultError,
    ) -> Result<Vec<u8>, VaultError> {
        let blob = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing),
            Err(e) => return Err(vault_io("read", path)(e)),
        };
        let damaged = |detail| VaultError::Damaged { id: *id, path: path.to_owned(), detail };
        if blob.len() < MAGIC.len() || &blob[..MAGIC.len()] != MAGIC {
            return Err(damaged("it does not start with the vault's magic bytes"));
        }
        if blob.len() < HEADER_LEN + TAG_LEN {
            return Err(damaged("it is cut short"));
        }
        let key_id = &blob[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let nonce = XNonce::from_slice(&blob[MAGIC.len() + KEY_ID_LEN..HEADER_LEN]);
        let opened = self.cipher.decrypt(nonce, Payload { msg: &blob[HEADER_LEN..], aad });
        match opened {
            // The key id is not authenticated: a blob that opens under this key but names
            // another had its header damaged.
            Ok(_) if key_id != self.key_id => {
                Err(damaged("its key id was changed, though this vault's key opens it"))
            }
            Ok(plain) => Ok(plain),
            Err(_) if key_id != self.key_id => Err(VaultError::WrongKey {
                id: *id,
                needs: to_hex(key_id),
                have: to_hex(&self.key_id),
            }),
            Err(_) => Err(damaged(
                "it fails authentication: changed, cut short, or stored under another id",
            )),
        }
    }

    /// Removes the media stored under `id` and the key frames kept with it. True when there was
    /// something to remove.
    pub fn delete(&self, id: &MediaId) -> Result<bool, VaultError> {
        let mut removed = false;
        // The frames first, so that they never outlive their media.
        for path in [self.frames_path_of(id), self.path_of(id)] {
            match fs::remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(vault_io("delete", &path)(e)),
            }
        }
        if removed {
            let path = self.path_of(id);
            let shard = path.parent().expect("a blob path has a shard directory");
            sync_dir(shard).map_err(vault_io("sync", shard))?;
        }
        Ok(removed)
    }

    /// The ids of every stored blob, in order. Temporary files and anything else that is not a
    /// blob's file are ignored.
    pub fn ids(&self) -> Result<Vec<MediaId>, VaultError> {
        let mut ids = Vec::new();
        let list = fs::read_dir(&self.dir).map_err(vault_io("list", &self.dir))?;
        for shard in list {
            let shard = shard.map_err(vault_io("list", &self.dir))?;
            let name = shard.file_name();
            let Some(prefix) = name.to_str() else { continue };
            if prefix.len() != 2 || !prefix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                continue;
            }
            let shard_path = shard.path();
            if !shard_path.is_dir() {
                continue;
            }
            let files = fs::read_dir(&shard_path).map_err(vault_io("list", &shard_path))?;
            for file in files {
                let file = file.map_err(vault_io("list", &shard_path))?;
                let name = file.file_name();
                let Some(Ok(id)) = name.to_str().map(MediaId::from_str) else { continue };
                if name.to_str().is_some_and(|n| n.starts_with(prefix))
                    && file.file_type().map_err(vault_io("inspect", &file.path()))?.is_file()
                {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

fn associated_data(id: &MediaId) -> [u8; 24] {
    let mut aad = [0u8; 24];
    aad[..8].copy_from_slice(MAGIC);
    aad[8..].copy_from_slice(&id.0);
    aad
}

fn frames_associated_data(id: &MediaId) -> [u8; 30] {
    let mut aad = [0u8; 30];
    aad[..24].copy_from_slice(&associated_data(id));
    aad[24..].copy_from_slice(FRAMES_AAD);
    aad
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(vault_io("create", path))?;
    file.write_all(bytes).map_err(vault_io("write", path))?;
    file.sync_all().map_err(vault_io("sync", path))
}

/// Makes a directory's entries (a created, renamed or removed file) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if let Some(i) = bytes.iter().position(|&c| digit(c).is_none()) {
        return Err(format!("character at position {} is not a hex digit", i + 1));
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|p| (digit(p[0]).unwrap_or(0) << 4) | digit(p[1]).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A recognisable plaintext: a counter pattern, every 16-byte window distinct from the
    /// ciphertext's by any reasonable chance.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add((i / 256) as u8)).collect()
    }

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("vault"), MediaKey::generate().unwrap()).unwrap();
        (dir, vault)
    }

    #[test]
    fn round_trip() {
        let (_dir, vault) = vault();
        let plain = pattern(10_000);
        let id = vault.put(&plain).unwrap();
        assert_eq!(vault.get(&id).unwrap(), plain);
        let empty = vault.put(b"").unwrap();
        assert_eq!(vault.get(&empty).unwrap(), b"");
        assert_ne!(id, empty);
        let path = vault.path_of(&id);
        let hex = id.to_string();
        assert!(path.ends_with(format!("{}/{hex}", &hex[..2])), "{}", path.display());
        let stored = fs::read(&path).unwrap();
        assert_eq!(stored.len(), HEADER_LEN + plain.len() + TAG_LEN);
        assert_eq!(&stored[..8], MAGIC);
        assert_eq!(to_hex(&stored[8..16]), vault.key_id());
    }

    #[test]
    fn stored_file_holds_no_window_of_the_plaintext() {
        let (dir, vault) = vault();
        let plain = pattern(64 * 1024);
        let id = vault.put(&plain).unwrap();
        let windows: std::collections::HashSet<&[u8]> = plain.windows(16).collect();
        // Every file under the vault, temporary or not.
        let mut files = vec![];
        let mut stack = vec![dir.path().to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p)
                } else {
                    files.push(p)
                }
            }
        }
        assert_eq!(files, vec![vault.path_of(&id)]);
        let stored = fs::read(&files[0]).unwrap();
        assert!(stored.windows(16).all(|w| !windows.contains(w)));
    }

    #[test]
    fn a_blob_sealed_with_another_key_is_wrong_key() {
        let (_dir, vault) = vault();
        let id = vault.put(b"sealed with the first key").unwrap();
        let first = vault.key_id();
        let other = Vault::open(vault.dir(), MediaKey::generate().unwrap()).unwrap();
        let e = other.get(&id).unwrap_err();
        match &e {
            VaultError::WrongKey { needs, have, .. } => {
                assert_eq!(needs, &first);
                assert_eq!(have, &other.key_id());
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains(&first), "{e}");
    }

    #[test]
    fn a_flipped_byte_anywhere_is_damaged() {
        let (_dir, vault) = vault();
        let id = vault.put(&pattern(100)).unwrap();
        let path = vault.path_of(&id);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                fs::write(&path, &bad).unwrap();
                match vault.get(&id) {
                    Err(VaultError::Damaged { .. }) => {}
                    other => panic!("byte {i} bit {bit:#x}: {other:?}"),
                }
            }
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(vault.get(&id).unwrap(), pattern(100));
    }

    #[test]
    fn a_truncated_blob_is_damaged() {
        let (_dir, vault) = vault();
        let id = vault.put(&pattern(100)).unwrap();
        let path = vault.path_of(&id);
        let good = fs::read(&path).unwrap();
        for len in [0, 3, 8, 16, HEADER_LEN, HEADER_LEN + TAG_LEN, good.len() - 1] {
            fs::write(&path, &good[..len]).unwrap();
            match vault.get(&id) {
                Err(e @ VaultError::Damaged { .. }) => {
                    assert!(e.to_string().contains(&id.to_string()), "{e}")
                }
                other => panic!("length {len}: {other:?}"),
            }
        }
        let mut longer = good.clone();
        longer.push(0);
        fs::write(&path, &longer).unwrap();
        assert!(matches!(vault.get(&id), Err(VaultError::Damaged { .. })));
    }

    /// Key frames are sealed next to their media (no 16 bytes in clear), open only as frames
    /// of that media, are not listed as media, and go when the media is deleted.
    #[test]
    fn frames_are_kept_sealed_beside_their_media_and_go_with_it() {
        let (_dir, vault) = vault();
        let (media, frames) = (pattern(3000), pattern(5000).into_iter().rev().collect::<Vec<_>>());
        let other = pattern(200);
        let ids = vault.put_all_with_frames(&[(&media, Some(&frames)), (&other, None)]).unwrap();
        let (video, image) = (ids[0], ids[1]);
        assert_eq!(vault.get(&video).unwrap(), media);
        assert_eq!(vault.get_frames(&video).unwrap(), frames);
        assert!(matches!(vault.get_frames(&image), Err(VaultError::NoFrames(id)) if id == image));
        let path = vault.frames_path_of(&video);
        assert_eq!(path.parent(), vault.path_of(&video).parent(), "next to the media");
        let stored = fs::read(&path).unwrap();
        assert!(!stored.windows(16).any(|w| frames.windows(16).any(|p| p == w)));
        let mut listed = ids.clone();
        listed.sort();
        assert_eq!(vault.ids().unwrap(), listed, "frames are not media");
        // Frames never open as media, nor media as frames, nor frames under another id.
        let media_blob = fs::read(vault.path_of(&video)).unwrap();
        fs::write(vault.path_of(&video), &stored).unwrap();
        assert!(matches!(vault.get(&video), Err(VaultError::Damaged { .. })));
        fs::write(&path, &media_blob).unwrap();
        assert!(matches!(vault.get_frames(&video), Err(VaultError::Damaged { .. })));
        fs::write(vault.frames_path_of(&image), &stored).unwrap();
        assert!(matches!(vault.get_frames(&image), Err(VaultError::Damaged { .. })));
        assert!(vault.delete(&video).unwrap());
        assert!(!path.exists() && !vault.path_of(&video).exists());
        assert!(matches!(vault.get_frames(&video), Err(VaultError::NoFrames(_))));
        assert!(!vault.delete(&video).unwrap());
        assert!(vault.delete(&image).unwrap());
        assert!(!vault.frames_path_of(&image).exists(), "stray frames go with their media");
    }

    #[test]
    fn put_all_stores_each_item_in_one_shard() {
        let (_dir, vault) = vault();
        let items: Vec<Vec<u8>> = (0..20).map(|i| pattern(100 + i * 37)).collect();
        let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
        let ids = vault.put_all(&refs).unwrap();
        assert_eq!(ids.len(), items.len());
        for (id, item) in ids.iter().zip(&items) {
            assert_eq!(&vault.get(id).unwrap(), item);
            assert_eq!(id.to_string()[..2], ids[0].to_string()[..2]);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "ids are distinct");
        assert_eq!(vault.ids().unwrap(), sorted, "nothing else was written");
        // Calls spread over the shards: 40 calls landing on one shard would be a 1 in 256^39 chance.
        let shards: std::collections::BTreeSet<String> = (0..40)
            .map(|_| vault.put_all(&[b"x"]).unwrap()[0].to_string()[..2].to_string())
            .collect();
        assert!(shards.len() > 1, "{shards:?}");
        assert!(vault.put_all(&[]).unwrap().is_empty());
    }

    #[test]
    fn put_all_leaves_nothing_when_it_fails() {
        let (_dir, vault) = vault();
        // Every shard a plain file: no call can make its shard directory.
        for b in 0..=255u8 {
            fs::write(vault.dir().join(to_hex(&[b])), b"not a directory").unwrap();
        }
        let e = vault.put_all(&[b"one", b"two", b"three"]).unwrap_err();
        assert!(matches!(e, VaultError::Io { .. }), "{e}");
        assert!(vault.ids().unwrap().is_empty());
        let left: Vec<_> = fs::read_dir(vault.dir()).unwrap().collect();
        assert_eq!(left.len(), 256, "only the files this test made");
    }

    #[test]
    fn a_blob_moved_to_another_id_does_not_open() {
        let (_dir, vault) = vault();
        let a = vault.put(b"first blob").unwrap();
        let b = vault.put(b"second blob").unwrap();
        fs::rename(vault.path_of(&a), vault.path_of(&b)).unwrap();
        assert!(matches!(vault.get(&a), Err(VaultError::NotFound(_))));
        assert!(matches!(vault.get(&b), Err(VaultError::Damaged { .. })));
    }

    #[test]
    fn delete_removes_the_file() {
        let (_dir, vault) = vault();
        let id = vault.put(b"to be deleted").unwrap();
        let keep = vault.put(b"to be kept").unwrap();
        assert!(vault.path_of(&id).exists());
        assert!(vault.delete(&id).unwrap());
        assert!(!vault.path_of(&id).exists());
        assert!(!vault.delete(&id).unwrap());
        assert!(
            matches!(vault.get(&id), Err(e @ VaultError::NotFound(_)) if e.to_string().contains(&id.to_string()))
        );
        assert_eq!(vault.get(&keep).unwrap(), b"to be kept");
    }

    #[test]
    fn ids_lists_exactly_what_was_put() {
        let (_dir, vault) = vault();
        assert_eq!(vault.ids().unwrap(), vec![]);
        let mut put: Vec<MediaId> = (0..40u8).map(|i| vault.put(&[i; 5]).unwrap()).collect();
        let gone = put.remove(7);
        vault.delete(&gone).unwrap();
        // Leftovers that are not blobs.
        let some_shard = vault.path_of(&put[0]);
        let shard = some_shard.parent().unwrap();
        fs::write(shard.join(".tmp-0011223344556677"), b"x").unwrap();
        fs::write(shard.join("notes.txt"), b"x").unwrap();
        fs::create_dir(vault.dir().join("zz")).unwrap();
        fs::write(vault.dir().join("README"), b"x").unwrap();
        put.sort();
        assert_eq!(vault.ids().unwrap(), put);
    }

    #[test]
    fn the_vault_directory_is_private() {
        let (_dir, vault) = vault();
        let id = vault.put(b"x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(vault.dir()), 0o700);
            assert_eq!(mode(vault.path_of(&id).parent().unwrap()), 0o700);
            assert_eq!(mode(&vault.path_of(&id)) & 0o077, 0);
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        let e = Vault::open(file.path(), MediaKey::generate().unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn key_file_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("media.key");
        let key = MediaKey::write_new(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[0], KEY_FILE_HEADER);
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let read = MediaKey::read(&path).unwrap();
        assert_eq!(read.id(), key.id());
        assert_eq!(read.bytes, key.bytes);
        // Never overwritten.
        let e = MediaKey::write_new(&path).unwrap_err();
        assert!(matches!(e, KeyError::Exists(_)), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        // A vault opened with the read key opens what the written key sealed.
        let v1 = Vault::open(&dir.path().join("v"), key).unwrap();
        let id = v1.put(b"same key").unwrap();
        let v2 = Vault::open(&dir.path().join("v"), read).unwrap();
        assert_eq!(v2.get(&id).unwrap(), b"same key");
    }

    #[test]
    fn key_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            fs::write(&p, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            }
            p
        };
        let missing = dir.path().join("nothing.key");
        let e = MediaKey::read(&missing).unwrap_err();
        assert!(
            matches!(e, KeyError::Missing(_)) && e.to_string().contains("does not exist"),
            "{e}"
        );

        let hex64 = "ab".repeat(32);
        let p = write("header.key", &format!("spoor-media-key-v2\n{hex64}\n"));
        let e = MediaKey::read(&p).unwrap_err();
        assert!(
            matches!(e, KeyError::Format { .. }) && e.to_string().contains("first line"),
            "{e}"
        );

        let p = write("nohex.key", &format!("{KEY_FILE_HEADER}\n{}zz\n", "ab".repeat(31)));
        let e = MediaKey::read(&p).unwrap_err();
        assert!(
            matches!(e, KeyError::Format { .. }) && e.to_string().contains("position 63"),
            "{e}"
        );

        let p = write("short.key", &format!("{KEY_FILE_HEADER}\n{}\n", "ab".repeat(16)));
        let e = MediaKey::read(&p).unwrap_err();
        assert!(matches!(e, KeyError::Length { found: 16, .. }), "{e}");
        assert!(e.to_string().contains("32 bytes"), "{e}");

        let p = write("long.key", &format!("{KEY_FILE_HEADER}\n{}\n", "ab".repeat(33)));
        assert!(matches!(MediaKey::read(&p), Err(KeyError::Length { found: 33, .. })));

        let p = write("empty.key", "");
        assert!(matches!(MediaKey::read(&p), Err(KeyError::Format { .. })));
        let p = write("noline.key", &format!("{KEY_FILE_HEADER}\n"));
        assert!(matches!(MediaKey::read(&p), Err(KeyError::Format { .. })));
        let p = write("extra.key", &format!("{KEY_FILE_HEADER}\n{hex64}\nmore\n"));
        assert!(matches!(MediaKey::read(&p), Err(KeyError::Format { .. })));

        // Without the final newline, and with CRLF, the key still reads.
        let p = write("bare.key", &format!("{KEY_FILE_HEADER}\n{hex64}"));
        assert_eq!(MediaKey::read(&p).unwrap().bytes, [0xab; 32]);
        let p = write("crlf.key", &format!("{KEY_FILE_HEADER}\r\n{hex64}\r\n"));
        assert_eq!(MediaKey::read(&p).unwrap().bytes, [0xab; 32]);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for mode in [0o644, 0o640, 0o604, 0o620, 0o700 | 0o070] {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
                let e = MediaKey::read(&p).unwrap_err();
                assert!(matches!(e, KeyError::Exposed { .. }), "{mode:o}: {e}");
                assert!(e.to_string().contains("chmod 600"), "{e}");
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
            assert!(MediaKey::read(&p).is_ok());
        }
    }

    #[test]
    fn key_debug_and_id_reveal_nothing() {
        let key = MediaKey::from_bytes([0x5a; 32]);
        let debug = format!("{key:?}");
        assert!(!debug.contains("5a5a"), "{debug}");
        assert!(debug.contains(&key.id()), "{debug}");
        assert_eq!(key.id().len(), 16);
        // SHA-256("spoor-media-key-id" ‖ 32 × 0x5a), first 8 bytes.
        let mut h = Sha256::new();
        h.update(b"spoor-media-key-id");
        h.update([0x5a; 32]);
        assert_eq!(key.id(), to_hex(&h.finalize()[..8]));
        assert_ne!(MediaKey::from_bytes([0x5b; 32]).id(), key.id());
        let vault = Vault::open(tempfile::tempdir().unwrap().path(), key).unwrap();
        assert!(!format!("{vault:?}").contains("5a5a"));
    }

    #[test]
    fn media_ids_parse_strictly() {
        let id = MediaId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<MediaId>().unwrap(), id);
        let good = "0123456789abcdef0123456789abcdef";
        assert_eq!(good.parse::<MediaId>().unwrap().to_string(), good);
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789abcdef",
            " 0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            "+123456789abcdef0123456789abcdef",
        ] {
            let e = bad.parse::<MediaId>().unwrap_err();
            assert!(e.to_string().contains("32 lower-case hex digits"), "{e}");
        }
        assert!("0123456789abcdef0123456789abcdeg"
            .parse::<MediaId>()
            .unwrap_err()
            .to_string()
            .contains("position 32"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let (_dir, vault) = vault();
            let id = vault.put(&bytes).unwrap();
            prop_assert_eq!(vault.get(&id).unwrap(), bytes);
        }
    }
}
