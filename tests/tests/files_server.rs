//! Files attached to answers, on a real server over HTTP (issue 12): the
//! status of files, resumable uploads (a cut connection keeps its bytes),
//! the checks of offsets and names, one copy of a file sent by two
//! devices, and who may download a file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use doorstep_e2e::{VILLAGE_A, VILLAGE_B, World};
use doorstep_protocol::{EnrollResponse, PROTOCOL_VERSION, VisitRecord};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A form with one photo question.
pub fn photo_form() -> doorstep_forms::Form {
    serde_json::from_value(json!({
        "form_id": "photo_check", "version": "1", "title": "Photo check",
        "questions": [
            {"name": "house", "kind": {"type": "photo"}, "label": {"en": "The house"}},
            {"name": "water", "kind": {"type": "photo"}, "label": {"en": "The water source"}}
        ]
    }))
    .expect("form")
}

/// `size` bytes that differ from those of every other `seed`.
fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..size)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

fn name_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A device speaking the file protocol by hand.
struct Phone {
    url: String,
    enrollment: EnrollResponse,
    client: Client,
    next_seq: u64,
}

impl Phone {
    fn new(world: &World, village: &str, local: u8) -> Phone {
        Phone {
            url: world.url(),
            enrollment: world.raw_enrollment(world.cadre(village)),
            client: doorstep_e2e::raw_client(format!("127.0.0.{local}").parse().expect("address")),
            next_seq: 1,
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.enrollment.token)
    }

    /// Pushes a visit of the photo form whose answers name these files.
    fn push_visit(&mut self, household: Uuid, house: &str, water: &str) -> Uuid {
        let mut answers = serde_json::Map::new();
        answers.insert("house".into(), json!(house));
        answers.insert("water".into(), json!(water));
        let visit = VisitRecord {
            form_id: "photo_check".into(),
            form_version: "1".into(),
            ..doorstep_e2e::visit_record(&self.enrollment, household, answers)
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let response = self
            .client
            .post(format!("{}/v1/sync/push", self.url))
            .header("authorization", self.bearer())
            .body(
                json!({"protocol": PROTOCOL_VERSION,
                       "changes": [{"seq": seq, "kind": "visit", "data": visit}]})
                .to_string(),
            )
            .send()
            .expect("push");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(&response.bytes().expect("body")).expect("JSON");
        assert_eq!(body["results"][0]["outcome"], "applied", "{body}");
        visit.id
    }

    fn status(&self, files: &[(&str, u64)]) -> Vec<Value> {
        let files: Vec<Value> = files
            .iter()
            .map(|(sha256, size)| json!({"sha256": sha256, "size": size}))
            .collect();
        let response = self
            .client
            .post(format!("{}/v1/files/status", self.url))
            .header("authorization", self.bearer())
            .body(json!({"protocol": PROTOCOL_VERSION, "files": files}).to_string())
            .send()
            .expect("status");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(&response.bytes().expect("body")).expect("JSON");
        body["files"].as_array().expect("files").clone()
    }

    /// Sends `body` as the bytes of `sha256` from `offset`.
    fn patch(
        &self,
        sha256: &str,
        offset: u64,
        length: u64,
        body: &[u8],
    ) -> reqwest::blocking::Response {
        self.client
            .patch(format!("{}/v1/files/{sha256}", self.url))
            .header("authorization", self.bearer())
            .header("upload-offset", offset)
            .header("upload-length", length)
            .header("doorstep-media-type", "image/jpeg")
            .header("content-type", "application/offset+octet-stream")
            .body(body.to_vec())
            .send()
            .expect("patch")
    }

    fn download(&self, sha256: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}/v1/files/{sha256}", self.url))
            .header("authorization", self.bearer())
            .send()
            .expect("download")
    }
}

fn world() -> World {
    let world = World::new();
    world.store.publish_form(&photo_form()).expect("published");
    world
}

fn files_directory(world: &World) -> PathBuf {
    world.directory().join("files")
}

/// Every whole file in the store (not the partials).
fn whole_files(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).expect("files directory") {
        let entry = entry.expect("entry");
        if entry.file_name() == "partial" || !entry.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(entry.path()).expect("subdirectory") {
            found.push(file.expect("entry").path());
        }
    }
    found
}

fn json_of(response: reqwest::blocking::Response) -> (StatusCode, Value) {
    let status = response.status();
    (
        status,
        serde_json::from_slice(&response.bytes().expect("body")).expect("JSON"),
    )
}

#[test]
fn a_file_goes_up_in_pieces_once_and_reaches_only_its_scope() {
    let world = world();
    let mut phone = Phone::new(&world, VILLAGE_A, 2);
    let photo = random_bytes(300_000, 1);
    let name = name_of(&photo);
    let size = photo.len() as u64;

    // Unknown to the server: not expected, and refused until a visit names it.
    let states = phone.status(&[(&name, size)]);
    assert_eq!(
        states[0],
        json!({"sha256": name, "complete": false, "offset": 0, "expected": false})
    );
    let (status, body) = json_of(phone.patch(&name, 0, size, &photo[..1000]));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|text| text.contains("push the visit that names this file first")),
        "{body}"
    );

    phone.push_visit(world.village_a[0], &name, "");
    let states = phone.status(&[(&name, size)]);
    assert_eq!(
        states[0],
        json!({"sha256": name, "complete": false, "offset": 0, "expected": true})
    );

    // Two pieces, and a wrong offset between them.
    let (status, body) = json_of(phone.patch(&name, 0, size, &photo[..150_000]));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offset"], 150_000);
    assert_eq!(body["complete"], false);
    let wrong = phone.patch(&name, 0, size, &photo[..1000]);
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    assert_eq!(
        wrong.headers().get("upload-offset").expect("the offset"),
        "150000"
    );
    let (status, body) = json_of(phone.patch(&name, 150_000, size, &photo[150_000..]));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"protocol": PROTOCOL_VERSION, "offset": size, "complete": true})
    );
    let states = phone.status(&[(&name, size)]);
    assert_eq!(
        states[0],
        json!({"sha256": name, "complete": true, "offset": size, "expected": true})
    );
    let stored = whole_files(&files_directory(&world));
    assert_eq!(stored.len(), 1);
    assert_eq!(std::fs::read(&stored[0]).expect("stored"), photo);

    // A second device of the same village attaches the same photo: the
    // server has it already, and keeps one copy.
    let mut other = Phone::new(&world, VILLAGE_A, 3);
    other.push_visit(world.village_a[1], &name, "");
    assert_eq!(other.status(&[(&name, size)])[0]["complete"], true);
    let (status, body) = json_of(other.patch(&name, 0, size, &photo[..192 * 1024]));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["complete"], true);
    assert_eq!(body["offset"], size);
    assert_eq!(whole_files(&files_directory(&world)).len(), 1);

    // Download: in scope, the bytes with their type; elsewhere, the same
    // 404 as for a file that does not exist.
    let response = phone.download(&name);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").expect("a type"),
        "image/jpeg"
    );
    assert_eq!(response.bytes().expect("bytes").as_ref(), photo.as_slice());
    let outsider = Phone::new(&world, VILLAGE_B, 4);
    let (status, refused) = json_of(outsider.download(&name));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, unknown) = json_of(phone.download(&"0".repeat(64)));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(refused["message"], unknown["message"]);
    assert_eq!(refused["message"], "no such file for this device");
    // A file named but not arrived is not found either.
    let pending = name_of(b"not sent yet");
    phone.push_visit(world.village_a[2], &pending, "");
    assert_eq!(phone.download(&pending).status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_cut_upload_keeps_what_arrived_and_resumes_there() {
    let world = world();
    let mut phone = Phone::new(&world, VILLAGE_A, 2);
    let photo = random_bytes(300_000, 2);
    let name = name_of(&photo);
    let size = photo.len() as u64;
    phone.push_visit(world.village_a[0], &name, "");

    // The whole file announced, 100 KB sent, then the connection closed.
    let address = phone.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connected");
    write!(
        stream,
        "PATCH /v1/files/{name} HTTP/1.1\r\nhost: {address}\r\nauthorization: {}\r\n\
         upload-offset: 0\r\nupload-length: {size}\r\ndoorstep-media-type: image/jpeg\r\n\
         content-type: application/offset+octet-stream\r\ncontent-length: {size}\r\n\r\n",
        phone.bearer()
    )
    .expect("head sent");
    stream.write_all(&photo[..100_000]).expect("body sent");
    stream.flush().expect("flushed");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half closed");
    // Whatever the server answers (or not), it has seen the end.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    drop(stream);

    // The server may still be writing the last piece: ask until it settles
    // on the bytes that reached it (polling, not timing).
    let mut offset = 0;
    for _ in 0..200 {
        offset = phone.status(&[(&name, size)])[0]["offset"]
            .as_u64()
            .expect("offset");
        if offset == 100_000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(offset, 100_000, "every byte that arrived is kept");

    let (status, body) = json_of(phone.patch(&name, offset, size, &photo[offset as usize..]));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["complete"], true);
    assert_eq!(
        phone.download(&name).bytes().expect("bytes").as_ref(),
        photo.as_slice()
    );
}

#[test]
fn bytes_that_do_not_match_their_name_are_dropped() {
    let world = world();
    let mut phone = Phone::new(&world, VILLAGE_A, 2);
    let photo = random_bytes(50_000, 3);
    let name = name_of(&photo);
    let size = photo.len() as u64;
    phone.push_visit(world.village_a[0], &name, "");
    let mut corrupted = photo.clone();
    corrupted[40_000] ^= 0xff;
    let (status, body) = json_of(phone.patch(&name, 0, size, &corrupted[..20_000]));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = json_of(phone.patch(&name, 20_000, size, &corrupted[20_000..]));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["message"],
        "the bytes do not match their name; upload again from the start"
    );
    let partial = files_directory(&world)
        .join("partial")
        .join(phone.enrollment.device_id.to_string())
        .join(&name);
    assert!(!partial.exists(), "the partial is gone");
    assert_eq!(phone.status(&[(&name, size)])[0]["offset"], 0);
    assert!(whole_files(&files_directory(&world)).is_empty());

    // A body running past the length, a file too large, a bad name.
    let (status, _) = json_of(phone.patch(&name, 0, 10, &photo[..20]));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = json_of(phone.patch(&name, 0, 21 * 1024 * 1024, &photo[..20]));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = json_of(phone.patch("not-a-sha", 0, size, &photo[..20]));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The right bytes after all that: complete.
    let (status, body) = json_of(phone.patch(&name, 0, size, &photo));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["complete"], true);
}

#[test]
fn a_status_request_is_bounded_and_checks_names() {
    let world = world();
    let phone = Phone::new(&world, VILLAGE_A, 2);
    let send = |files: Vec<Value>| {
        phone
            .client
            .post(format!("{}/v1/files/status", phone.url))
            .header("authorization", phone.bearer())
            .body(json!({"protocol": PROTOCOL_VERSION, "files": files}).to_string())
            .send()
            .expect("status")
            .status()
    };
    let too_many: Vec<Value> = (0..501)
        .map(|index| json!({"sha256": format!("{index:064x}"), "size": 1}))
        .collect();
    assert_eq!(send(too_many), StatusCode::BAD_REQUEST);
    assert_eq!(
        send(vec![json!({"sha256": "ABC", "size": 1})]),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(send(Vec::new()), StatusCode::OK);
}

#[test]
fn the_console_shows_arrived_and_pending_files_to_its_scope() {
    use doorstep_e2e::console::{get, signed_in};
    use doorstep_server::store::Role;
    let world = world();
    let mut phone = Phone::new(&world, VILLAGE_A, 2);
    let photo = random_bytes(20_000, 4);
    let name = name_of(&photo);
    let pending = name_of(b"still on the phone");
    phone.push_visit(world.village_a[0], &name, &pending);
    let (status, _) = json_of(phone.patch(&name, 0, photo.len() as u64, &photo));
    assert_eq!(status, StatusCode::OK);

    let admin = signed_in(&world, "operator", Role::Admin, None);
    let household = format!("{}/console/households/{}", world.url(), world.village_a[0]);
    let page = get(&household, Some(&admin)).text().expect("page");
    assert!(
        page.contains(&format!("<img src=\"/console/files/{name}\"")),
        "{page}"
    );
    assert!(
        page.contains("待上传") || page.contains("pending"),
        "{page}"
    );
    assert!(!page.contains(&format!("href=\"/console/files/{pending}\"")));

    let file = format!("{}/console/files/{name}", world.url());
    let response = get(&file, Some(&admin));
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["content-disposition"], "inline");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().expect("bytes").as_ref(), photo.as_slice());
    // Not arrived, or outside the account's scope: not found.
    let missing = format!("{}/console/files/{pending}", world.url());
    assert_eq!(get(&missing, Some(&admin)).status(), StatusCode::NOT_FOUND);
    let other = signed_in(&world, "supervisor.b", Role::Supervisor, Some("530623206"));
    assert_eq!(get(&file, Some(&other)).status(), StatusCode::NOT_FOUND);
    let own = signed_in(&world, "supervisor.a", Role::Supervisor, Some("530626104"));
    assert_eq!(get(&file, Some(&own)).status(), StatusCode::OK);

    // The export's photos as a ZIP: the arrived one, named as the export
    // names it, and a list; nothing for an area without arrived files.
    let export = format!(
        "{}/console/export/visits?format=files&form_version=1",
        world.url()
    );
    let response = get(&export, Some(&own));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().expect("the ZIP");
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a ZIP archive");
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.expect("a file name").into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![format!("{name}.jpg"), "files.csv".to_owned()]);
    let mut kept = Vec::new();
    std::io::Read::read_to_end(
        &mut archive.by_name(&format!("{name}.jpg")).expect("the photo"),
        &mut kept,
    )
    .expect("read");
    assert_eq!(kept, photo);
    let mut list = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("files.csv").expect("the list"),
        &mut list,
    )
    .expect("read");
    assert!(
        list.contains(&format!("{name}.jpg,{name},image/jpeg,{}", photo.len())),
        "{list}"
    );
    let elsewhere = format!(
        "{}/console/export/visits?format=files&form_version=1",
        world.url()
    );
    assert_eq!(
        get(&elsewhere, Some(&other)).status(),
        StatusCode::NOT_FOUND
    );
}
