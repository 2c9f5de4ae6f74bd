// Kotlin-only conveniences over the generated bindings (org.doorstep's
// doorstep_ffi.kt, made by `cargo xtask bindings`): flows instead of
// listeners, lambdas instead of one-method interfaces.

package org.doorstep

import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate

/**
 * Every committed change of the store's data, as a cold [Flow]: collect it
 * (e.g. with `repeatOnLifecycle`) to refresh the screens that show it. The
 * subscription ends when the collection does.
 */
fun Doorstep.changes(): Flow<DataChange> = callbackFlow {
    val subscription = subscribe(object : DataListener {
        override fun onChange(change: DataChange) {
            trySend(change)
        }
    })
    awaitClose { subscription.close() }
}

/**
 * The status view as a cold [Flow], beside [Doorstep.status]: the current
 * status at once, then each new one (a visit recorded, a sync's steps, its
 * end or failure), never the same twice in a row. Conflated: a slow
 * collector gets the latest. The subscription ends when the collection
 * does; a store that cannot be read fails the flow with its
 * [DoorstepException].
 */
fun Doorstep.statusUpdates(): Flow<Status> = callbackFlow {
    val subscription = subscribeStatus(object : StatusListener {
        override fun onStatus(status: Status) {
            trySend(status)
        }
    })
    awaitClose { subscription.close() }
}.conflate()

/**
 * Starts the background sync with lambdas instead of an [AutoSyncListener]
 * (each optional; they run on the sync's thread, so keep them short).
 * [onFinished] gets the run's report, or its typed error.
 */
fun Doorstep.startAutoSync(
    online: Boolean,
    onStarted: () -> Unit = {},
    onProgress: (SyncProgress) -> Unit = {},
    onFinished: (report: SyncReport?, error: DoorstepException?) -> Unit = { _, _ -> },
) = startAutoSync(online, object : AutoSyncListener {
    override fun onStarted() = onStarted()

    override fun onProgress(progress: SyncProgress) = onProgress(progress)

    override fun onFinished(report: SyncReport?, error: DoorstepException?) = onFinished(report, error)
})

/** Syncs, calling [onProgress] after every exchange (on the sync's thread). */
suspend fun Doorstep.sync(onProgress: (SyncProgress) -> Unit): SyncReport =
    sync(object : SyncListener {
        override fun onProgress(progress: SyncProgress) = onProgress(progress)
    })

/** The issues of a [DoorstepException.Validation], by question path. */
val DoorstepException.Validation.byQuestion: Map<String, String>
    get() = issues.associate { it.question to it.message }

/**
 * Keeps the file read from [input] (at most 20 MiB) and returns its
 * reference for a photo, audio, video or file answer. On Android, a
 * picture the camera or a picker returned as a `Uri`:
 * `contentResolver.openInputStream(uri)!!.use { store.addFile(it, "image/jpeg") }`
 * (or `contentResolver.getType(uri)` for the media type). The stream is
 * read on the calling coroutine's dispatcher; it is not closed here.
 */
suspend fun Doorstep.addFile(input: java.io.InputStream, mediaType: String): StoredFile {
    val limit = 20 * 1024 * 1024
    val bytes = input.readNBytes(limit + 1)
    // One byte over the limit is enough for the core to refuse it with
    // the size and the limit.
    return addFile(bytes, mediaType)
}
