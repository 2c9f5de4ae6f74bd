//! Attached files kept in an S3-compatible bucket (issue 12, deliverable
//! 3), against a real S3 server: moto's (`pip install 'moto[server]'`),
//! started here on a free port. A device's photo goes up through the real
//! server into the bucket, a second device's copy of it is not sent again,
//! a device in scope downloads it back; a large file goes up in parts; a
//! bucket that is not there fails at start.
//!
//! Without `moto_server` on the PATH these tests say that they skipped and
//! how to install it (the README's test command needs nothing but Rust);
//! with `DOORSTEP_REQUIRE_S3=1`, as `.ci/run` sets, they fail instead.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorstep_core::Store;
use doorstep_core::transport::{HttpTimeouts, HttpTransport};
use doorstep_e2e::realistic::{self, Draw};
use doorstep_e2e::{VILLAGE_A, World, sync};
use doorstep_server::ServeOptions;
use doorstep_server::files::FileStore;
use doorstep_server::files::s3::S3FileStore;
use object_store::aws::AmazonS3Builder;
use sha2::{Digest, Sha256};

const BUCKET: &str = "doorstep-files";

/// An `Authorization` header moto takes (it checks no signature).
const MOTO_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=doorstep-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// A plain-HTTP client for moto (loopback).
fn client() -> reqwest::blocking::Client {
    doorstep_e2e::raw_client(std::net::Ipv4Addr::LOCALHOST.into())
}

/// moto's S3 server on a free port of 127.0.0.1, stopped on drop.
struct Moto {
    child: Child,
    address: SocketAddr,
}

impl Moto {
    /// Started and answering; `None` when it is not installed (a failure
    /// when `DOORSTEP_REQUIRE_S3=1`).
    fn start() -> Option<Moto> {
        let address = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let started = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &address.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match started {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let install = "install it with `pip install 'moto[server]'` (python3 -m pip, \
                               or apt-get install python3-pip first)";
                if std::env::var("DOORSTEP_REQUIRE_S3").is_ok_and(|value| value == "1") {
                    panic!("moto_server is not installed and DOORSTEP_REQUIRE_S3=1: {install}");
                }
                eprintln!("skipped: moto_server is not installed; {install} to run the S3 tests");
                return None;
            }
            Err(error) => panic!("moto_server did not start: {error}"),
        };
        let moto = Moto { child, address };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.get(moto.url()).send().is_err() {
            assert!(Instant::now() < deadline, "moto_server never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Makes a bucket (object_store cannot; moto checks no signature).
    fn create_bucket(&self, bucket: &str) {
        let response = client()
            .put(format!("{}/{bucket}", self.url()))
            .send()
            .expect("bucket request");
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// An object's bytes, read by a plain GET; `None` when it is absent.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        let response = client()
            .get(format!("{}/{BUCKET}/{key}", self.url()))
            // moto answers an anonymous GET with 403 and checks no
            // signature: a header that names the key is enough.
            .header("authorization", MOTO_AUTHORIZATION)
            .send()
            .expect("object request");
        let status = response.status();
        let bytes = response.bytes().expect("object bytes").to_vec();
        if !status.is_success() {
            eprintln!("GET {key}: {status} {}", String::from_utf8_lossy(&bytes));
        }
        status.is_success().then_some(bytes)
    }

    /// The bucket's listing (XML), for failure messages.
    fn listing(&self) -> String {
        client()
            .get(format!("{}/{BUCKET}", self.url()))
            .send()
            .and_then(|response| response.text())
            .unwrap_or_else(|error| error.to_string())
    }

    /// How the store reaches this server: its endpoint over plain HTTP,
    /// with keys moto accepts.
    fn settings(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(self.url())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("doorstep-test")
            .with_secret_access_key("doorstep-test-secret")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A runtime for the store's requests, as `doorstep serve` has, and the
/// store connected on it.
fn connect(moto: &Moto, url: &str) -> (tokio::runtime::Runtime, std::io::Result<S3FileStore>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime.block_on(S3FileStore::connect_with(url, moto.settings()));
    (runtime, store)
}

fn name_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A visit of `household` with `photo` as its housing photo.
fn visit_with_photo(device: &Store, household: uuid::Uuid, draw: &mut Draw, photo: &[u8]) {
    let mut answers = realistic::answers(draw);
    let file = device.add_file(photo, "image/jpeg").expect("photo kept");
    answers.insert("housing_photo".into(), file.sha256.into());
    doorstep_e2e::record_answers(device, household, answers);
}

#[test]
fn photos_go_through_the_server_into_the_bucket_and_back() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket(BUCKET);
    let (_runtime, store) = connect(&moto, &format!("s3://{BUCKET}/county/530626"));
    let store = Arc::new(store.expect("the bucket answers"));
    let mut world = World::serving(ServeOptions {
        file_store: Some(store.clone()),
        ..ServeOptions::default()
    });
    let cadre = world.cadre(VILLAGE_A);
    let device = world.device(cadre);
    sync(&device).expect("first sync");
    let mut draw = Draw::new(12);
    let photo = realistic::photo(300 * 1024, 12);
    let name = name_of(&photo);
    visit_with_photo(&device, world.village_a[0], &mut draw, &photo);
    let report = sync(&device).expect("sync");
    assert_eq!(report.files_uploaded, 1);

    // The object is in the bucket under the prefix, with the photo's bytes;
    // nothing whole is left on the server's disk.
    let key = format!("county/530626/{name}");
    assert!(
        moto.object(&key).as_deref() == Some(photo.as_slice()),
        "object {key} holds the photo; the bucket: {}",
        moto.listing()
    );
    assert_eq!(store.size(&name).expect("HEAD"), Some(photo.len() as u64));
    let partials = world.directory().join("files").join("partial");
    let left: Vec<_> = walk(&world.directory().join("files"))
        .into_iter()
        .filter(|path| !path.starts_with(&partials) || path.ends_with(&name))
        .collect();
    assert!(left.is_empty(), "no local copy is kept: {left:?}");

    // A second device attaches the same photo: the server has it already.
    let other = world.device(cadre);
    sync(&other).expect("first sync of the second device");
    visit_with_photo(&other, world.village_a[1], &mut draw, &photo);
    let report = sync(&other).expect("sync");
    assert_eq!(report.files_uploaded, 0, "the file is complete already");
    assert_eq!(other.status().expect("status").files_pending, 0);

    // A device in scope that never had it downloads it from the bucket.
    let third = world.device(cadre);
    sync(&third).expect("sync of the third device");
    let fetched = doorstep_core::sync::fetch_file(
        &third,
        &HttpTransport::connect(
            &third.endpoint().expect("endpoint"),
            HttpTimeouts::default(),
        )
        .expect("transport"),
        &name,
    )
    .expect("the photo comes back");
    assert_eq!(fetched.size, photo.len() as u64);
    let mut back = Vec::new();
    store
        .open(&name, photo.len() as u64)
        .expect("GET")
        .read_to_end(&mut back)
        .expect("read");
    assert!(back == photo, "the bytes come back whole");
}

#[test]
fn a_large_file_goes_up_in_parts_and_a_missing_bucket_fails_at_start() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket(BUCKET);
    let (_runtime, store) = connect(&moto, &format!("s3://{BUCKET}"));
    let store = store.expect("the bucket answers");

    // 12 MiB: over the single-PUT size, three parts.
    let bytes = realistic::photo(12 * 1024 * 1024, 5);
    let name = name_of(&bytes);
    assert_eq!(store.size(&name).expect("HEAD"), None);
    let directory = tempfile::tempdir().expect("temp dir");
    let verified = directory.path().join(&name);
    std::fs::write(&verified, &bytes).expect("written");
    store.keep(&name, &verified).expect("kept");
    assert!(!verified.exists(), "the local copy is gone once stored");
    assert_eq!(store.size(&name).expect("HEAD"), Some(bytes.len() as u64));
    assert!(moto.object(&name).as_deref() == Some(bytes.as_slice()));
    let mut back = Vec::new();
    store
        .open(&name, bytes.len() as u64)
        .expect("GET")
        .read_to_end(&mut back)
        .expect("read");
    assert!(back == bytes, "the bytes come back whole");
    assert!(store.open(&name, 3).is_err(), "a size other than recorded");

    let (_runtime, missing) = connect(&moto, "s3://no-such-bucket/files");
    let error = missing.expect_err("a bucket that is not there");
    let message = error.to_string();
    assert!(
        message.contains("could not reach the S3 bucket no-such-bucket"),
        "{message}"
    );
    assert!(!message.contains("doorstep-test-secret"), "{message}");
}

/// Every file under `directory`.
fn walk(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![directory.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}
