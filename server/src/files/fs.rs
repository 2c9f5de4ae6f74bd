//! Files on the server's own file system: whole files in
//! `DIR/<first two hex digits>/<sha256>`, uploads under way in
//! `DIR/partial/<device>/<sha256>`. A whole file appears only by an atomic
//! rename of a partial already checked and flushed to disk, followed by an
//! fsync of its directory: after a crash a file is either whole or absent.
//! All blocking.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::FileStore;

/// Whole files in a directory.
#[derive(Debug)]
pub struct FsFileStore {
    directory: PathBuf,
}

impl FsFileStore {
    pub fn new(directory: &Path) -> FsFileStore {
        FsFileStore {
            directory: directory.to_path_buf(),
        }
    }

    /// Where a whole file is (or would be) kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.directory
            .join(sha256.get(..2).unwrap_or("xx"))
            .join(sha256)
    }
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

impl FileStore for FsFileStore {
    fn size(&self, sha256: &str) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(sha256)) {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn keep(&self, sha256: &str, verified: &Path) -> io::Result<()> {
        let target = self.path(sha256);
        let parent = target
            .parent()
            .ok_or_else(|| io::Error::other("a file's path has no directory"))?;
        if !parent.exists() {
            fs::create_dir_all(parent)?;
            sync_directory(&self.directory)?;
        }
        File::open(verified)?.sync_all()?;
        // The same bytes from another upload may have arrived first: the
        // rename replaces them with identical ones.
        fs::rename(verified, &target)?;
        sync_directory(parent)?;
        if let Some(from) = verified.parent() {
            sync_directory(from)?;
        }
        Ok(())
    }

    fn open(&self, sha256: &str, size: u64) -> io::Result<Box<dyn Read + Send>> {
        let file = File::open(self.path(sha256))?;
        let found = file.metadata()?.len();
        if found != size {
            return Err(io::Error::other(format!(
                "file {sha256} holds {found} bytes, not the {size} recorded"
            )));
        }
        Ok(Box::new(file))
    }
}

/// Uploads under way: the bytes of each (device, file) received so far.
#[derive(Debug)]
pub struct Partials {
    directory: PathBuf,
}

impl Partials {
    pub fn new(directory: &Path) -> Partials {
        Partials {
            directory: directory.to_path_buf(),
        }
    }

    /// Where one device's upload of one file is kept.
    pub fn path(&self, device: Uuid, sha256: &str) -> PathBuf {
        self.directory.join(device.to_string()).join(sha256)
    }

    /// Bytes of the upload held (0 when there is none).
    pub fn len(&self, device: Uuid, sha256: &str) -> io::Result<u64> {
        match fs::metadata(self.path(device, sha256)) {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error),
        }
    }

    /// The upload's file, opened to append (created, with its directory,
    /// if missing).
    pub fn open_append(&self, device: Uuid, sha256: &str) -> io::Result<File> {
        let path = self.path(device, sha256);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        OpenOptions::new().create(true).append(true).open(path)
    }

    /// Bytes of every unfinished upload of `device`.
    pub fn held_by(&self, device: Uuid) -> io::Result<u64> {
        let entries = match fs::read_dir(self.directory.join(device.to_string())) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(error),
        };
        let mut total: u64 = 0;
        for entry in entries {
            total = total.saturating_add(entry?.metadata()?.len());
        }
        Ok(total)
    }

    /// Drops an upload (no error if there is none).
    pub fn remove(&self, device: Uuid, sha256: &str) -> io::Result<()> {
        match fs::remove_file(self.path(device, sha256)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Whether the upload's bytes are those its name says (read in
    /// 64 KiB pieces, never whole).
    pub fn matches(&self, device: Uuid, sha256: &str) -> io::Result<bool> {
        let mut file = File::open(self.path(device, sha256))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(hex == sha256)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_checked_partial_becomes_a_whole_file() {
        let directory = tempfile::tempdir().expect("temp dir");
        let store = FsFileStore::new(directory.path());
        let partials = Partials::new(&directory.path().join("partial"));
        let device = Uuid::now_v7();
        let bytes = b"a photo of a house";
        let name: String = Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(partials.len(device, &name).expect("len"), 0);
        let mut file = partials.open_append(device, &name).expect("open");
        file.write_all(&bytes[..5]).expect("write");
        file.write_all(&bytes[5..]).expect("write");
        drop(file);
        assert_eq!(
            partials.len(device, &name).expect("len"),
            bytes.len() as u64
        );
        assert!(partials.matches(device, &name).expect("hash"));
        let other = partials.open_append(device, &"1".repeat(64)).expect("open");
        other.set_len(1000).expect("grow");
        assert_eq!(
            partials.held_by(device).expect("held"),
            bytes.len() as u64 + 1000,
            "a device's unfinished uploads add up"
        );
        assert_eq!(partials.held_by(Uuid::now_v7()).expect("held"), 0);
        partials.remove(device, &"1".repeat(64)).expect("removed");
        assert!(!partials.matches(device, &"0".repeat(64)).unwrap_or(false));
        store
            .keep(&name, &partials.path(device, &name))
            .expect("keep");
        assert_eq!(partials.len(device, &name).expect("len"), 0);
        assert_eq!(store.size(&name).expect("size"), Some(bytes.len() as u64));
        let mut read = Vec::new();
        store
            .open(&name, bytes.len() as u64)
            .expect("open")
            .read_to_end(&mut read)
            .expect("read");
        assert_eq!(read, bytes);
        assert!(store.open(&name, 3).is_err());
        assert!(
            store
                .path(&name)
                .starts_with(directory.path().join(&name[..2]))
        );
    }
}
