// Swift-only conveniences over the generated API (Doorstep.swift, made by
// build-xcframework.sh from the Rust library): AsyncStream instead of a
// listener, closures instead of one-method protocols.

import Foundation

private final class ChangeForwarder: DataListener, @unchecked Sendable {
    let continuation: AsyncStream<DataChange>.Continuation
    init(_ continuation: AsyncStream<DataChange>.Continuation) { self.continuation = continuation }
    func onChange(change: DataChange) { continuation.yield(change) }
}

private final class StatusForwarder: StatusListener, @unchecked Sendable {
    let continuation: AsyncThrowingStream<Status, Error>.Continuation
    init(_ continuation: AsyncThrowingStream<Status, Error>.Continuation) { self.continuation = continuation }
    func onStatus(status: Status) { continuation.yield(status) }
}

private final class AutoSyncForwarder: AutoSyncListener, @unchecked Sendable {
    let started: @Sendable () -> Void
    let progressed: @Sendable (SyncProgress) -> Void
    let finished: @Sendable (SyncReport?, DoorstepError?) -> Void
    init(_ started: @escaping @Sendable () -> Void, _ progressed: @escaping @Sendable (SyncProgress) -> Void,
         _ finished: @escaping @Sendable (SyncReport?, DoorstepError?) -> Void) {
        self.started = started
        self.progressed = progressed
        self.finished = finished
    }
    func onStarted() { started() }
    func onProgress(progress: SyncProgress) { progressed(progress) }
    func onFinished(report: SyncReport?, error: DoorstepError?) { finished(report, error) }
}

private final class ProgressForwarder: SyncListener, @unchecked Sendable {
    let handler: @Sendable (SyncProgress) -> Void
    init(_ handler: @escaping @Sendable (SyncProgress) -> Void) { self.handler = handler }
    func onProgress(progress: SyncProgress) { handler(progress) }
}

public extension Doorstep {
    /// Every committed change of the store's data; the subscription ends
    /// when the stream's consumer stops iterating.
    func changes() -> AsyncStream<DataChange> {
        AsyncStream { continuation in
            let subscription = self.subscribe(listener: ChangeForwarder(continuation))
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// The status view as a stream, beside `status()`: the current status at
    /// once, then each new one (a visit recorded, a sync's steps, its end or
    /// failure), never the same twice in a row; a slow consumer gets the
    /// latest. The subscription ends when the consumer stops iterating; a
    /// store that cannot be read ends the stream with its `DoorstepError`.
    func statusUpdates() -> AsyncThrowingStream<Status, Error> {
        AsyncThrowingStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            do {
                let subscription = try self.subscribeStatus(listener: StatusForwarder(continuation))
                continuation.onTermination = { _ in subscription.cancel() }
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    /// Starts the background sync with closures instead of an
    /// `AutoSyncListener` (they run on the sync's thread: keep them short).
    /// `onFinished` gets the run's report, or its typed error.
    func startAutoSync(online: Bool,
                       onStarted: @escaping @Sendable () -> Void = {},
                       onProgress: @escaping @Sendable (SyncProgress) -> Void = { _ in },
                       onFinished: @escaping @Sendable (SyncReport?, DoorstepError?) -> Void) throws {
        try self.startAutoSync(online: online, listener: AutoSyncForwarder(onStarted, onProgress, onFinished))
    }

    /// Syncs, calling `onProgress` after every exchange (on the sync's
    /// thread). Cancelling the task cancels the sync between two steps.
    func sync(onProgress: @escaping @Sendable (SyncProgress) -> Void) async throws -> SyncReport {
        try await self.sync(listener: ProgressForwarder(onProgress))
    }

    /// Keeps the file at a file URL (the camera's output, a picker's copy)
    /// and returns its reference for a photo, audio, video or file answer.
    /// The core reads the file itself; a URL that is not a file URL is an
    /// error.
    func addFile(url: URL, mediaType: String) async throws -> StoredFile {
        guard url.isFileURL else {
            throw DoorstepError.InvalidInput(reason: "\(url.scheme ?? "this") URL is not a file URL")
        }
        return try await self.addFileFromPath(path: url.path, mediaType: mediaType)
    }
}

public extension DoorstepError {
    /// The issues of a `.Validation`, by question path; empty otherwise.
    var issuesByQuestion: [String: String] {
        guard case let .Validation(issues) = self else { return [:] }
        return Dictionary(issues.map { ($0.question, $0.message) }, uniquingKeysWith: { first, _ in first })
    }
}
