//! Files attached to answers, on the server (ADR 0011): photos, audio
//! notes and documents, each named by the SHA-256 of its bytes.
//!
//! - [`FileStore`]: where whole, verified files are kept: a directory
//!   ([`fs::FsFileStore`], `doorstep serve --files DIR`, the default) or,
//!   with the cargo feature `s3`, a bucket of an S3-compatible object store
//!   ([`s3::S3FileStore`], `doorstep serve --files s3://BUCKET/PREFIX`).
//! - [`fs::Partials`]: uploads under way, one file per (device, file) on
//!   the local disk, so a cut connection keeps every byte that arrived and
//!   one device cannot spoil another's upload. A partial that reaches its
//!   length is checked against its name and only then handed to the
//!   [`FileStore`].
//! - [`http`]: the device routes (`/v1/files/status`, `PATCH` and `GET
//!   /v1/files/{sha256}`) and what the console serves.
//!
//! The database (`crate::store`) knows which files each visit names and
//! which have arrived; a row in `stored_files` is written only once the
//! bytes are durably in the store. File contents are never logged.

pub mod fs;
pub mod http;
#[cfg(feature = "s3")]
pub mod s3;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

pub use fs::{FsFileStore, Partials};

/// Where whole files are kept, each already checked against its name.
/// Blocking: callers use `spawn_blocking`.
pub trait FileStore: Send + Sync + std::fmt::Debug {
    /// The size of the file if the store holds it.
    fn size(&self, sha256: &str) -> std::io::Result<Option<u64>>;

    /// Takes a verified file (on the local disk, on the same file system
    /// for [`FsFileStore`]) into the store, durably; the file at `verified`
    /// is gone afterwards. Keeping a file already held is no error.
    fn keep(&self, sha256: &str, verified: &Path) -> std::io::Result<()>;

    /// The file's bytes, if it is held with `size` bytes (its name was
    /// checked when it was kept; only its size is checked here).
    fn open(&self, sha256: &str, size: u64) -> std::io::Result<Box<dyn Read + Send>>;
}

/// Locks for uploads under way: two requests for the same (device, file)
/// never write its partial at once. A fixed set, shared by hash: another
/// pair may wait on the same lock now and then, which costs only time.
#[derive(Debug)]
pub struct UploadLocks {
    locks: Vec<tokio::sync::Mutex<()>>,
}

const UPLOAD_LOCKS: usize = 64;

impl Default for UploadLocks {
    fn default() -> Self {
        UploadLocks {
            locks: (0..UPLOAD_LOCKS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }
}

impl UploadLocks {
    /// The lock of one device's upload of one file.
    pub fn of(&self, device: Uuid, sha256: &str) -> &tokio::sync::Mutex<()> {
        let mut hasher = DefaultHasher::new();
        (device, sha256).hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % UPLOAD_LOCKS as u64).unwrap_or(0);
        &self.locks[index]
    }
}

/// Everything the file routes share: the store of whole files, the
/// partial uploads and their locks.
#[derive(Debug, Clone)]
pub struct Files {
    pub store: Arc<dyn FileStore>,
    pub partials: Arc<Partials>,
    pub locks: Arc<UploadLocks>,
    directory: PathBuf,
}

impl Files {
    /// Files kept in `directory`: whole files in `DIR/<first two hex
    /// digits>/<sha256>`, uploads under way in `DIR/partial/<device>/<sha256>`.
    /// Touches nothing on disk: directories are made when first needed
    /// (`crate::serve_with` makes `directory` at start, so a wrong path
    /// fails at once).
    pub fn in_directory(directory: &Path) -> Files {
        Files {
            store: Arc::new(FsFileStore::new(directory)),
            partials: Arc::new(Partials::new(&directory.join("partial"))),
            locks: Arc::new(UploadLocks::default()),
            directory: directory.to_path_buf(),
        }
    }

    /// Whole files in `store`, uploads under way in
    /// `DIR/partial/<device>/<sha256>` on the local disk (an upload is
    /// appended to piece by piece, which an object store cannot do).
    pub fn with_store(store: Arc<dyn FileStore>, directory: &Path) -> Files {
        Files {
            store,
            ..Files::in_directory(directory)
        }
    }

    /// The directory given to [`Files::in_directory`].
    pub fn directory(&self) -> &Path {
        &self.directory
    }
}

/// Whether `location` (`--files`) names an object store (`s3://…`)
/// rather than a directory.
pub fn is_object_store(location: &str) -> bool {
    location.starts_with("s3://")
}

/// The store of whole files at `location`, an `s3://BUCKET/PREFIX` URL,
/// once it has answered (see [`s3::S3FileStore::connect`]); an error in a
/// build without the feature `s3`. Call it on the runtime that will serve.
pub async fn connect_store(location: &str) -> std::io::Result<Arc<dyn FileStore>> {
    #[cfg(feature = "s3")]
    {
        Ok(Arc::new(s3::S3FileStore::connect(location).await?))
    }
    #[cfg(not(feature = "s3"))]
    {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "{location:?} names an S3 bucket, and this build has no S3 support: build doorstep with the cargo feature `s3`"
            ),
        ))
    }
}

/// Where files go when nobody says: a directory `files` beside the
/// database file (in the working directory on PostgreSQL; several servers
/// on one database need a shared `--files` store, such as S3).
pub fn default_directory(database: Option<&Path>) -> PathBuf {
    database
        .and_then(Path::parent)
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .join("files")
}

/// A media type as a device sent it, if it is a plain `type/subtype`
/// (lower-cased, without parameters); `application/octet-stream` otherwise.
pub fn sanitize_media_type(sent: Option<&str>) -> String {
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && part
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&byte))
    };
    sent.map(|text| text.trim().to_ascii_lowercase())
        .filter(|text| {
            text.split_once('/')
                .is_some_and(|(kind, sub)| token(kind) && token(sub))
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// The file name extension for a media type, for exports.
pub fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "m4a",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/wav" | "audio/x-wav" => "wav",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/3gpp" => "3gp",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_plain_or_octet_stream() {
        assert_eq!(sanitize_media_type(Some("image/JPEG")), "image/jpeg");
        assert_eq!(
            sanitize_media_type(Some("text/html; charset=utf-8")),
            "application/octet-stream"
        );
        assert_eq!(
            sanitize_media_type(Some("image")),
            "application/octet-stream"
        );
        assert_eq!(
            sanitize_media_type(Some("a/b\r\nx")),
            "application/octet-stream"
        );
        assert_eq!(sanitize_media_type(None), "application/octet-stream");
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("text/html"), "bin");
    }

    #[test]
    fn files_go_beside_the_database_by_default() {
        assert_eq!(
            default_directory(Some(Path::new("/srv/doorstep/server.db"))),
            Path::new("/srv/doorstep/files")
        );
        assert_eq!(
            default_directory(Some(Path::new("server.db"))),
            Path::new("./files")
        );
        assert_eq!(default_directory(None), Path::new("./files"));
    }
}
