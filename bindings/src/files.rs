//! Files for answers (ADR 0011): the app hands the core a photo, a sound
//! or any file, as bytes or a path, and puts the reference it gets back in
//! the answer. The file is durable in the store when the call completes,
//! so a visit naming it can be finalised.

use std::path::PathBuf;
use std::sync::Arc;

use doorstep_core::transport::{HttpTimeouts, HttpTransport};

use crate::{Doorstep, Result, off_thread};

/// A file kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoredFile {
    /// What the answer holds: the SHA-256 of the bytes, lower-case hex.
    pub reference: String,
    pub size: u64,
    pub media_type: String,
}

impl From<doorstep_core::store::FileRef> for StoredFile {
    fn from(file: doorstep_core::store::FileRef) -> Self {
        StoredFile {
            reference: file.sha256,
            size: file.size,
            media_type: file.media_type,
        }
    }
}

#[uniffi::export]
impl Doorstep {
    /// Keeps `bytes` (at most 20 MiB) as a file of `media_type`
    /// (`image/jpeg`…) and returns its reference for an answer. The same
    /// bytes again are the same file.
    pub async fn add_file(&self, bytes: Vec<u8>, media_type: String) -> Result<StoredFile> {
        let store = Arc::clone(&self.store);
        off_thread(move || Ok(store.add_file(&bytes, &media_type)?.into())).await
    }

    /// Keeps the file at `path` (a camera's output file), as
    /// [`Doorstep::add_file`].
    pub async fn add_file_from_path(&self, path: String, media_type: String) -> Result<StoredFile> {
        let store = Arc::clone(&self.store);
        off_thread(move || {
            Ok(store
                .add_file_from_path(&PathBuf::from(path), &media_type)?
                .into())
        })
        .await
    }

    /// The file `reference` names, fetched from the server when this
    /// device does not hold it (a photo of one of its households taken on
    /// another phone; the server sends only files of households in this
    /// device's scope). The bytes are checked against the reference before
    /// they are kept; read them with [`Doorstep::file_bytes`].
    pub async fn fetch_file(&self, reference: String) -> Result<StoredFile> {
        let store = Arc::clone(&self.store);
        off_thread(move || {
            let transport = HttpTransport::connect(&store.endpoint()?, HttpTimeouts::default())?;
            Ok(doorstep_core::sync::fetch_file(&store, &transport, &reference)?.into())
        })
        .await
    }

    /// The bytes of a file this device holds (to show a photo), checked
    /// against its reference.
    pub async fn file_bytes(&self, reference: String) -> Result<Vec<u8>> {
        let store = Arc::clone(&self.store);
        off_thread(move || Ok(store.file_bytes(&reference)?)).await
    }
}
