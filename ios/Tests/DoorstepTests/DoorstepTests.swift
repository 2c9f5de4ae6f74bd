// The Swift API on a Mac (`swift test` in ios/, after build-xcframework.sh),
// against a real `doorstep serve`: the same cases as the Kotlin tests in
// android/doorstep/src/test/kotlin/org/doorstep/DoorstepTest.kt.
// DOORSTEP_BIN names the doorstep binary (cargo build -p doorstep) and
// DOORSTEP_FORM the demo form (forms/household-check.json).

#if os(macOS)
import Foundation
import XCTest
@testable import Doorstep

final class TestServer {
    let directory: URL
    let cadre: String
    let village: String
    let url: String
    private let process: Process
    private let binary: String

    init() throws {
        guard let binary = ProcessInfo.processInfo.environment["DOORSTEP_BIN"],
              let form = ProcessInfo.processInfo.environment["DOORSTEP_FORM"]
        else { throw XCTSkip("set DOORSTEP_BIN and DOORSTEP_FORM") }
        self.binary = binary
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let csv = try TestServer.run(binary, ["gen", "households", "--count", "40", "--seed", "7"], in: directory)
        try csv.write(to: directory.appendingPathComponent("households.csv"), atomically: true, encoding: .utf8)
        _ = try TestServer.run(binary, ["admin", "import-households", "households.csv"], in: directory)
        let villages = try TestServer.run(binary, ["admin", "villages", "--json"], in: directory)
        let list = try JSONSerialization.jsonObject(with: Data(villages.utf8)) as? [[String: Any]] ?? []
        village = list.first?["code"] as? String ?? ""
        cadre = try TestServer.run(binary, ["admin", "add-cadre", "--name", "张明"], in: directory)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try TestServer.run(binary, ["admin", "assign", "--cadre", cadre, "--village", village], in: directory)
        _ = try TestServer.run(binary, ["admin", "publish-form", form], in: directory)
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0"]
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        url = String(decoding: line, as: UTF8.self)
    }

    func enrollCode() throws -> String {
        try TestServer.run(binary, ["admin", "enroll-code", "--cadre", cadre], in: directory)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh enrolment QR code's payload, as the console shows it.
    func enrollQRPayload() throws -> String {
        let output = try TestServer.run(binary, ["admin", "enroll-code", "--cadre", cadre, "--public-url", url], in: directory)
        return try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("doorstep://") }.map(String.init))
    }

    static func run(_ binary: String, _ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "doorstep", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "doorstep \(arguments.joined(separator: " ")) failed"])
        }
        return String(decoding: data, as: UTF8.self)
    }

    deinit {
        process.terminate()
        try? FileManager.default.removeItem(at: directory)
    }
}

func answers(members: Int = 4) -> String {
    let roster = (0..<members).map { index in
        "{\"member_name\": \"成员\(index + 1)\", \"relation\": \"\(index == 0 ? "head" : "child")\", \"age\": \(30 + index), \"able_to_work\": \"full\"}"
    }.joined(separator: ",")
    return """
    {"visit_date": "2024-12-28", "respondent": "head", "members": [\(roster)],
     "income_wages": 38000, "income_business": 6200.5, "income_property": 800,
     "income_transfer": 3600, "production_costs": 2400,
     "food_clothing_ok": "yes", "education_ok": "yes", "medical_insurance_ok": "yes",
     "housing_safe": "yes", "drinking_water_safe": "no", "risk_category": "edge",
     "relocated": "no", "support_needed": ["jobs"]}
    """
}

final class Recorder: DataListener, @unchecked Sendable {
    private let lock = NSLock()
    private var changes: [DataChange] = []
    func onChange(change: DataChange) { lock.lock(); changes.append(change); lock.unlock() }
    var heard: [DataChange] { lock.lock(); defer { lock.unlock() }; return changes }
}

final class AutoRecorder: AutoSyncListener, @unchecked Sendable {
    let delivered = XCTestExpectation(description: "delivered once online")
    private let lock = NSLock()
    private(set) var started = 0
    func onStarted() { lock.lock(); started += 1; lock.unlock() }
    func onProgress(progress: SyncProgress) {}
    func onFinished(report: SyncReport?, error: DoorstepError?) {
        if let report, report.pushed > 0 { delivered.fulfill() }
    }
}

final class FailureRecorder: AutoSyncListener, @unchecked Sendable {
    let failed = XCTestExpectation(description: "a run failed")
    private let lock = NSLock()
    private var errors: [DoorstepError] = []
    func onStarted() {}
    func onProgress(progress: SyncProgress) {}
    func onFinished(report: SyncReport?, error: DoorstepError?) {
        guard let error else { return }
        lock.lock(); errors.append(error); lock.unlock()
        failed.fulfill()
    }
    var first: DoorstepError? { lock.lock(); defer { lock.unlock() }; return errors.first }
}

final class DoorstepTests: XCTestCase {
    static var server: TestServer?

    override class func setUp() {
        server = try? TestServer()
    }

    override class func tearDown() {
        server = nil
    }

    func server() throws -> TestServer {
        guard let server = DoorstepTests.server else { throw XCTSkip("no test server") }
        return server
    }

    func newStore() throws -> Doorstep {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try Doorstep.open(path: directory.appendingPathComponent("device.db").path, language: "en")
    }

    func enrolledStore() async throws -> Doorstep {
        let server = try server()
        let store = try newStore()
        _ = try await store.enroll(serverURL: server.url, code: try server.enrollCode(), deviceLabel: "XCTest")
        _ = try await store.sync()
        return store
    }

    func testEnrolsSyncsWithProgressRecordsAndDelivers() async throws {
        let server = try server()
        let store = try newStore()
        XCTAssertNil(try store.identity())
        let identity = try await store.enroll(serverURL: server.url, code: try server.enrollCode(), deviceLabel: "XCTest")
        XCTAssertEqual(identity.cadreID, server.cadre)
        let phases = Phases()
        let first = try await store.sync { phases.add($0.phase) }
        XCTAssertGreaterThan(first.householdsAdded, 0)
        XCTAssertTrue(phases.all.contains(.snapshot))
        XCTAssertEqual(try store.villages().map(\.code), [server.village])
        let form = try XCTUnwrap(try store.forms().first)
        XCTAssertTrue(try store.formDefinition(formID: form.formID, version: form.version).contains("\"members\""))
        let household = try XCTUnwrap(try store.households().first)
        let visit = try store.recordVisit(householdID: household.id, answersJSON: answers())
        XCTAssertEqual(visit.sync, .pending)
        XCTAssertEqual(try store.status().pending, 1)
        let second = try await store.sync()
        XCTAssertEqual(second.pushed, 1)
        XCTAssertEqual(try store.status().pending, 0)
        XCTAssertEqual(try store.visits(householdID: household.id).first { $0.id == visit.id }?.sync, .synced)
    }

    func testAScannedQRCodeEnrolsAsATypedCodeDoes() async throws {
        let server = try server()
        let fresh = try newStore()
        do {
            _ = try await fresh.enrollFromQR(payload: "https://example.com/", deviceLabel: nil)
            XCTFail("not a Doorstep code")
        } catch DoorstepError.InvalidInput {}
        XCTAssertNil(try fresh.identity())
        let identity = try await fresh.enrollFromQR(payload: try server.enrollQRPayload(), deviceLabel: "XCTest QR")
        XCTAssertEqual(identity.cadreID, server.cadre)
        XCTAssertEqual(identity.serverURL, server.url)
        let report = try await fresh.sync()
        XCTAssertGreaterThan(report.householdsAdded, 0)
    }

    func testAPhotoIsKeptOnceByItsContentAndNamedByItsReference() async throws {
        let store = try newStore()
        let photo = Data((0..<150_000).map { UInt8(truncatingIfNeeded: $0 * 31 + $0 / 7) })
        let kept = try await store.addFile(bytes: photo, mediaType: "image/jpeg")
        XCTAssertEqual(kept.reference.count, 64)
        XCTAssertEqual(kept.size, 150_000)
        let again = try await store.addFile(bytes: photo, mediaType: "image/jpeg")
        XCTAssertEqual(again, kept)
        do {
            _ = try await store.addFileFromPath(path: "/nonexistent/house.jpg", mediaType: "image/jpeg")
            XCTFail("no such file")
        } catch DoorstepError.InvalidInput {}
    }

    func testAPhotoFromAFileURLGoesUpAfterItsVisitAndComesBackOnDemand() async throws {
        let store = try await enrolledStore()
        let photo = Data((0..<250_000).map { UInt8(truncatingIfNeeded: ($0 * 7919) ^ ($0 >> 3)) })
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).jpg")
        try photo.write(to: url)
        let kept = try await store.addFile(url: url, mediaType: "image/jpeg")
        let household = try XCTUnwrap(try store.households().first)
        let withPhoto = String(answers().dropLast()) + ", \"housing_photo\": \"\(kept.reference)\"}"
        _ = try store.recordVisit(householdID: household.id, answersJSON: withPhoto)
        XCTAssertEqual(try store.status().filesPending, 1)
        let phases = Phases()
        let report = try await store.sync { phases.add($0.phase) }
        XCTAssertEqual(report.filesUploaded, 1)
        XCTAssertTrue(phases.all.contains(.files))
        XCTAssertEqual(try store.status().filesPending, 0)
        let other = try await enrolledStore()
        let fetched = try await other.fetchFile(reference: kept.reference)
        XCTAssertEqual(fetched.reference, kept.reference)
        let bytes = try await other.fileBytes(reference: kept.reference)
        XCTAssertEqual(bytes, photo)
    }

    func testARetentionPolicyIsKeptAndStorageSaysWhatIsNotSentYet() async throws {
        let store = try newStore()
        XCTAssertEqual(try store.retention(), RetentionPolicy())
        let policy = RetentionPolicy(syncedFilesDays: 7, syncedFilesMaxBytes: 100 * 1024 * 1024, visitsPerHousehold: 5)
        try store.setRetention(policy: policy)
        XCTAssertEqual(try store.retention(), policy)
        do {
            try store.setRetention(policy: RetentionPolicy(syncedFilesDays: -1))
            XCTFail("a negative number of days")
        } catch DoorstepError.InvalidInput {}
        let photo = Data((0..<120_000).map { UInt8(truncatingIfNeeded: $0 * 13 + $0 / 5) })
        _ = try await store.addFile(bytes: photo, mediaType: "image/jpeg")
        let storage = try store.storage()
        XCTAssertEqual(storage.files, 1)
        XCTAssertEqual(storage.filesPending, 1)
        XCTAssertEqual(storage.bytesPending, 120_000)
        XCTAssertEqual(storage.policy, policy)
        XCTAssertGreaterThanOrEqual(storage.diskBytes, 120_000)
        let report = try await store.applyRetention()
        XCTAssertEqual(report.filesRemoved, 0, "a file the server does not hold is never removed")
    }

    func testAnInvalidVisitIsATypedValidationErrorAndRecordsNothing() async throws {
        let store = try await enrolledStore()
        let household = try XCTUnwrap(try store.households().first)
        let tooOld = answers().replacingOccurrences(of: "\"age\": 30", with: "\"age\": 148")
        XCTAssertThrowsError(try store.recordVisit(householdID: household.id, answersJSON: tooOld)) { error in
            XCTAssertNotNil((error as? DoorstepError)?.issuesByQuestion["members[1]/age"])
        }
        XCTAssertEqual(try store.status().pending, 0)
        XCTAssertFalse(try store.visits(householdID: household.id).contains { $0.isOwn })
    }

    func testAnEncryptedStoreOpensOnlyWithItsKeyAndIsWipedOnlyWhenSynced() async throws {
        let server = try server()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("device.db").path
        let key = Data((0..<32).map { UInt8(($0 * 7 + 3) % 256) })
        let store = try Doorstep.open(path: path, key: key, language: "en")
        _ = try await store.enroll(serverURL: server.url, code: try server.enrollCode(), deviceLabel: "XCTest")
        _ = try await store.sync()
        let household = try XCTUnwrap(try store.households().first)
        _ = try store.recordVisit(householdID: household.id, answersJSON: answers())
        XCTAssertThrowsError(try Doorstep.open(path: path, key: Data(count: 32), language: "en")) { error in
            guard case .Key = error as? DoorstepError else { return XCTFail("\(error)") }
        }
        let newKey = Data((0..<32).map { UInt8(($0 * 11 + 5) % 256) })
        try await store.rekey(newKey: newKey)
        XCTAssertThrowsError(try Doorstep.open(path: path, key: key, language: "en"))
        XCTAssertEqual(try Doorstep.open(path: path, key: newKey, language: "en").status().pending, 1)
        do {
            _ = try await store.wipe()
            XCTFail("a visit has not reached the server")
        } catch DoorstepError.Unsynced(let changes, _) {
            XCTAssertEqual(changes, 1)
        }
        _ = try await store.sync()
        let report = try await store.wipe()
        XCTAssertTrue(report.serverTold)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testErrorsAreTypedSoAnAppCanActOnThem() async throws {
        let server = try server()
        let fresh = try newStore()
        do {
            _ = try await fresh.enroll(serverURL: server.url, code: "WRONG-CODE1", deviceLabel: nil)
            XCTFail("a wrong code enrols nothing")
        } catch DoorstepError.Auth {}
        do {
            _ = try await fresh.enroll(serverURL: "http://127.0.0.1:9", code: try server.enrollCode(), deviceLabel: nil)
            XCTFail("nobody listens there")
        } catch DoorstepError.Network {}
        let store = try await enrolledStore()
        XCTAssertThrowsError(try store.household(id: "not-an-id")) { error in
            guard case .InvalidInput = error as? DoorstepError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try store.household(id: "0190a000-0000-7000-8000-00000000beef")) { error in
            guard case .NotFound = error as? DoorstepError else { return XCTFail("\(error)") }
        }
        let household = try XCTUnwrap(try store.households().first)
        let visit = try store.recordVisit(householdID: household.id, answersJSON: answers())
        XCTAssertThrowsError(try store.updateDraft(visitID: visit.id, answersJSON: answers())) { error in
            guard case .Conflict = error as? DoorstepError else { return XCTFail("\(error)") }
        }
    }

    func testDataChangesAreObservedUntilTheSubscriptionIsCancelled() async throws {
        let store = try await enrolledStore()
        let household = try XCTUnwrap(try store.households().first)
        let recorder = Recorder()
        let subscription = store.subscribe(listener: recorder)
        _ = try store.recordVisit(householdID: household.id, answersJSON: answers())
        XCTAssertEqual(recorder.heard.count, 1)
        XCTAssertTrue(recorder.heard[0].visits && recorder.heard[0].sync)
        subscription.cancel()
        _ = try store.recordVisit(householdID: household.id, answersJSON: answers())
        XCTAssertEqual(recorder.heard.count, 1)
    }

    func testCallsFromManyThreadsAreSafeAndReadsCompleteWhileASyncRuns() async throws {
        let store = try await enrolledStore()
        let households = try store.households()
        for index in 0..<300 {
            _ = try store.recordVisit(householdID: households[index % households.count].id,
                                      answersJSON: answers(members: 1 + index % 4))
        }
        let counter = ReadCounter()
        let readers = (0..<4).map { _ in
            Thread {
                while counter.syncing {
                    _ = try? store.households(search: "1")
                    _ = try? store.status()
                    if counter.syncing { counter.read() }
                }
            }
        }
        readers.forEach { $0.start() }
        let report = try await store.sync()
        counter.stop()
        XCTAssertEqual(report.pushed, 300)
        XCTAssertGreaterThan(counter.reads, 0)
    }

    func testHouseholdCorrectionsAreQueuedValidatedAndSynced() async throws {
        let store = try await enrolledStore()
        let household = try XCTUnwrap(try store.households().first)
        let corrected = try store.editHousehold(id: household.id, changes: [
            FieldChange(field: .phone, value: "13900000001"),
            FieldChange(field: .members, value: "6"),
        ])
        XCTAssertEqual(corrected.phone, "13900000001")
        XCTAssertEqual(corrected.members, 6)
        XCTAssertThrowsError(try store.editHousehold(id: household.id, changes: [FieldChange(field: .members, value: "many")])) { error in
            XCTAssertNotNil((error as? DoorstepError)?.issuesByQuestion["members"])
        }
        _ = try await store.sync()
        XCTAssertEqual(try store.status().pending, 0)
        XCTAssertEqual(try store.household(id: household.id).household.phone, "13900000001")
    }

    func testDraftsStayEditableUntilFinalised() async throws {
        let store = try await enrolledStore()
        let household = try XCTUnwrap(try store.households().first)
        let draft = try store.saveDraft(householdID: household.id, answersJSON: "{\"visit_date\": \"2024-12-28\"}")
        XCTAssertEqual(draft.status, .draft)
        XCTAssertThrowsError(try store.finalise(visitID: draft.id))
        _ = try store.updateDraft(visitID: draft.id, answersJSON: answers())
        XCTAssertEqual(try store.finalise(visitID: draft.id).status, .final)
        XCTAssertEqual(try store.status().pending, 1)
    }

    func testAutoSyncWaitsForTheNetworkAndThenDelivers() async throws {
        let store = try await enrolledStore()
        let recorder = AutoRecorder()
        try store.startAutoSync(online: false, listener: recorder)
        let household = try XCTUnwrap(try store.households().first)
        _ = try store.recordVisit(householdID: household.id, answersJSON: answers())
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertEqual(recorder.started, 0)
        store.networkChanged(online: true)
        await fulfillment(of: [recorder.delivered], timeout: 60)
        XCTAssertEqual(try store.status().pending, 0)
        store.stopAutoSync()
    }

    func testTheStatusStreamStartsWithTheStatusAndFollowsRecordingAndSyncing() async throws {
        let store = try await enrolledStore()
        var statuses = store.statusUpdates().makeAsyncIterator()
        guard let first = try await statuses.next() else { return XCTFail("the stream ended") }
        XCTAssertEqual(first, try store.status())
        XCTAssertEqual(first.pending, 0)
        let household = try XCTUnwrap(try store.households().first)
        _ = try store.recordVisit(householdID: household.id, answersJSON: answers())
        var next = first
        while next.pending != 1 {
            guard let status = try await statuses.next() else { return XCTFail("the stream ended") }
            next = status
        }
        _ = try await store.sync()
        while next.pending != 0 {
            guard let status = try await statuses.next() else { return XCTFail("the stream ended") }
            next = status
        }
        XCTAssertNotNil(next.lastSync)
    }

    func testTheBackgroundSyncReportsItsFailureAsATypedError() async throws {
        let store = try await enrolledStore()
        _ = try store.changeServer(serverURL: "http://127.0.0.1:9")
        let recorder = FailureRecorder()
        try store.startAutoSync(online: true, listener: recorder)
        await fulfillment(of: [recorder.failed], timeout: 60)
        guard case .Network = recorder.first else { return XCTFail("\(String(describing: recorder.first))") }
        store.stopAutoSync()
    }
}

final class Phases: @unchecked Sendable {
    private let lock = NSLock()
    private var phases: [SyncPhase] = []
    func add(_ phase: SyncPhase) { lock.lock(); phases.append(phase); lock.unlock() }
    var all: [SyncPhase] { lock.lock(); defer { lock.unlock() }; return phases }
}

final class ReadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var count = 0
    var syncing: Bool { lock.lock(); defer { lock.unlock() }; return running }
    var reads: Int { lock.lock(); defer { lock.unlock() }; return count }
    func read() { lock.lock(); count += 1; lock.unlock() }
    func stop() { lock.lock(); running = false; lock.unlock() }
}
#endif
