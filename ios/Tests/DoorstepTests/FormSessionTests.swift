// The form session on a Mac, as a screen drives it: the same case as
// android/doorstep/src/test/kotlin/org/doorstep/FormSessionTest.kt, against
// the TestServer of DoorstepTests.swift.

#if os(macOS)
import Foundation
import XCTest
@testable import Doorstep

final class FormSessionTests: XCTestCase {
    static var server: TestServer?

    override class func setUp() {
        server = try? TestServer()
    }

    override class func tearDown() {
        server = nil
    }

    func enrolledStore() async throws -> Doorstep {
        guard let server = FormSessionTests.server else { throw XCTSkip("no test server") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try Doorstep.open(path: directory.appendingPathComponent("device.db").path, language: "en")
        _ = try await store.enroll(serverUrl: server.url, code: try server.enrollCode(), deviceLabel: "XCTest")
        _ = try await store.sync(listener: nil)
        return store
    }

    func testFillsTheDemoFormSavesReopensAndFinalises() async throws {
        let store = try await enrolledStore()
        let household = try XCTUnwrap(try store.households(village: nil, search: nil).first)
        let session = try store.startVisit(householdId: household.id, formId: nil)
        var screen = Dictionary(uniqueKeysWithValues: session.nodes().map { ($0.path, $0) })
        func apply(_ changes: FormChanges) -> FormChanges {
            for node in changes.changed + changes.added { screen[node.path] = node }
            for path in changes.removed { screen[path] = nil }
            return changes
        }
        XCTAssertEqual(screen["migration"]?.relevant, false)
        _ = apply(try session.setAnswer(path: "visit_date", value: .date(year: 2024, month: 12, day: 27)))
        _ = apply(try session.setAnswer(path: "respondent", value: .choice(name: "head")))
        _ = apply(try session.addRepeat(path: "members"))
        XCTAssertEqual(screen["migration"]?.relevant, true)
        _ = apply(try session.setAnswer(path: "members[1]/member_name", value: .text(value: "杨光荣")))
        _ = apply(try session.setAnswer(path: "members[1]/relation", value: .choice(name: "head")))
        let typo = apply(try session.setAnswer(path: "members[1]/age", value: .integer(value: 148)))
        let age = typo.changed.first { $0.path == "members[1]/age" }
        XCTAssertEqual(age?.violations.first?.rule, .constraint)
        XCTAssertEqual(age?.violations.first?.message, "Age must be between 0 and 120")
        _ = apply(try session.setAnswer(path: "members[1]/age", value: .integer(value: 48)))
        _ = apply(try session.setAnswer(path: "members[1]/able_to_work", value: .choice(name: "full")))
        _ = apply(try session.setAnswer(path: "income_wages", value: .integer(value: 8000)))
        XCTAssertEqual(screen["below_line_note"]?.relevant, true)
        for question in ["food_clothing_ok", "education_ok", "medical_insurance_ok", "housing_safe", "drinking_water_safe"] {
            _ = apply(try session.setAnswer(path: question, value: .choice(name: "yes")))
        }
        _ = apply(try session.setAnswer(path: "risk_category", value: .choice(name: "none")))
        _ = apply(try session.setAnswer(path: "support_needed", value: .choices(names: ["jobs"])))
        _ = apply(try session.setAnswer(path: "relocated", value: .choice(name: "yes")))
        XCTAssertEqual(try session.violations(path: "relocation").map { $0.path }, ["resettlement_site", "works_at_site"])
        XCTAssertEqual(Set(screen.keys), Set(session.nodes().map { $0.path }))

        let draft = try await session.saveDraft()
        let reopened = try store.resumeDraft(visitId: draft.id)
        XCTAssertEqual(reopened.nodes(), session.nodes())
        _ = try reopened.setAnswer(path: "resettlement_site", value: .text(value: "靖安新区"))
        _ = try reopened.setAnswer(path: "works_at_site", value: .choice(name: "yes"))
        XCTAssertEqual(try reopened.violations(path: nil), [])
        let visit = try await reopened.finalise()
        XCTAssertEqual(visit.id, draft.id)
        XCTAssertEqual(visit.status, .final)
    }
}
#endif
