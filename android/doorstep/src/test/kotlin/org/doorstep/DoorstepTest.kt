package org.doorstep

import java.io.File
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.AfterClass
import org.junit.BeforeClass
import org.junit.Test

/**
 * The Kotlin API on the JVM, against the Linux build of the core and a
 * real `doorstep serve` (see [TestServer]). Each test opens its own store
 * file and enrols it with a new code.
 */
class DoorstepTest {
    companion object {
        private lateinit var server: TestServer

        @BeforeClass
        @JvmStatic
        fun startServer() {
            server = TestServer()
        }

        @AfterClass
        @JvmStatic
        fun stopServer() {
            server.close()
        }

        /** Valid answers to the demo form, with [members] people. */
        fun answers(members: Int = 4): String {
            val roster = (0 until members).joinToString(",") { index ->
                val relation = if (index == 0) "head" else "child"
                """{"member_name": "成员${index + 1}", "relation": "$relation", "age": ${30 + index}, "able_to_work": "full"}"""
            }
            return """
                {"visit_date": "2024-12-28", "respondent": "head", "members": [$roster],
                 "income_wages": 38000, "income_business": 6200.5, "income_property": 800,
                 "income_transfer": 3600, "production_costs": 2400,
                 "food_clothing_ok": "yes", "education_ok": "yes", "medical_insurance_ok": "yes",
                 "housing_safe": "yes", "drinking_water_safe": "no", "risk_category": "edge",
                 "relocated": "no", "support_needed": ["jobs"]}
            """.trimIndent()
        }
    }

    private fun newStore(): Doorstep {
        val directory = Files.createTempDirectory("doorstep-device").toFile()
        directory.deleteOnExit()
        return Doorstep.open(File(directory, "device.db").path, language = "en")
    }

    /** A store enrolled with the test server and synced once. */
    private fun enrolledStore(): Doorstep = runBlocking {
        val store = newStore()
        store.enroll(server.url, server.enrollCode(), "JVM test")
        store.sync()
        store
    }

    private fun Doorstep.firstHousehold(): Household = households().first()

    @Test(timeout = 120_000)
    fun aPhotoIsKeptOnceByItsContentAndNamedByItsReference() = runBlocking<Unit> {
        val store = newStore()
        val photo = ByteArray(150_000) { (it * 31 + it / 7).toByte() }
        val kept = store.addFile(photo, "image/jpeg")
        assertTrue(Regex("[0-9a-f]{64}").matches(kept.reference), kept.reference)
        assertEquals(150_000uL, kept.size)
        assertEquals(kept, store.addFile(photo, "image/jpeg"))
        val file = File.createTempFile("house", ".jpg").apply { writeBytes(photo); deleteOnExit() }
        assertEquals(kept.reference, store.addFileFromPath(file.path, "image/jpeg").reference)
        assertFailsWith<DoorstepException.InvalidInput> {
            store.addFileFromPath(File(file.parentFile, "missing-${kept.reference}.jpg").path, "image/jpeg")
        }
    }

    @Test(timeout = 120_000)
    fun aRetentionPolicyIsKeptAndStorageSaysWhatIsNotSentYet() = runBlocking<Unit> {
        val store = newStore()
        assertEquals(RetentionPolicy(), store.retention(), "keep for ever until the app says")
        val policy = RetentionPolicy(
            syncedFilesDays = 7,
            syncedFilesMaxBytes = 100L * 1024 * 1024,
            visitsPerHousehold = 5,
        )
        store.setRetention(policy)
        assertEquals(policy, store.retention())
        assertFailsWith<DoorstepException.InvalidInput> {
            store.setRetention(RetentionPolicy(syncedFilesDays = -1))
        }
        store.addFile(ByteArray(120_000) { (it * 13 + it / 5).toByte() }, "image/jpeg")
        val storage = store.storage()
        assertEquals(1, storage.files)
        assertEquals(1, storage.filesPending)
        assertEquals(120_000L, storage.bytesPending)
        assertEquals(policy, storage.policy)
        assertTrue(storage.diskBytes >= 120_000L, "$storage")
        val report = store.applyRetention()
        assertEquals(0, report.filesRemoved, "a file the server does not hold is never removed")
        assertEquals(1, store.storage().filesPending)
    }

    @Test(timeout = 120_000)
    fun enrolsSyncsWithProgressRecordsAndDelivers() = runBlocking {
        val store = newStore()
        assertEquals(null, store.identity())
        val identity = store.enroll(server.url, server.enrollCode(), "JVM test")
        assertEquals(server.cadre, identity.cadreId)
        assertEquals(identity.deviceId, store.identity()?.deviceId)

        val progress = Collections.synchronizedList(mutableListOf<SyncProgress>())
        val first = store.sync { progress += it }
        assertTrue(first.householdsAdded > 0, "households arrive: $first")
        assertTrue(progress.any { it.phase == SyncPhase.SNAPSHOT }, "progress: $progress")
        assertTrue(first.bytesReceived > 0)
        val villages = store.villages()
        assertEquals(listOf(server.village), villages.map { it.code })
        assertEquals(villages[0].households, store.households(server.village).size)

        val form = store.forms().single()
        assertTrue(store.formDefinition(form.formId, form.version).contains("\"members\""))

        val household = store.firstHousehold()
        val visit = store.recordVisit(household.id, answers())
        assertEquals(VisitSync.Pending, visit.sync)
        assertEquals(1, store.status().pending)
        val detail = store.household(household.id)
        assertTrue(visit.id in detail.visits.map { it.id })

        val second = store.sync()
        assertEquals(1, second.pushed)
        val status = store.status()
        assertEquals(0, status.pending)
        assertTrue(status.lastSync != null && status.lastContact != null && !status.stalled)
        assertEquals(VisitSync.Synced, store.visits(household.id).single { it.id == visit.id }.sync)
        assertTrue(server.visitCount() >= 1)
    }

    @Test(timeout = 120_000)
    fun aPhotoGoesUpAfterItsVisitWithProgressAndComesBackOnDemand() = runBlocking<Unit> {
        val store = enrolledStore()
        val photo = ByteArray(250_000) { ((it * 7919) xor (it shr 3)).toByte() }
        // As an app hands over what contentResolver.openInputStream(uri) gives.
        val kept = photo.inputStream().use { store.addFile(it, "image/jpeg") }
        val answers = answers().trimEnd().removeSuffix("}") + """, "housing_photo": "${kept.reference}"}"""
        store.recordVisit(store.firstHousehold().id, answers)
        val before = store.status()
        assertEquals(1, before.filesPending)
        assertEquals(250_000L, before.bytesPending)

        val progress = Collections.synchronizedList(mutableListOf<SyncProgress>())
        val report = store.sync { progress += it }
        assertEquals(1, report.pushed)
        assertEquals(1, report.filesUploaded)
        val files = progress.filter { it.phase == SyncPhase.FILES }
        assertTrue(files.isNotEmpty(), "progress: $progress")
        assertTrue(progress.indexOfLast { it.phase == SyncPhase.PUSH } < progress.indexOf(files.first()), "the visit first")
        assertEquals(FileProgress(1u, 1u, 250_000L, 250_000L), files.last().file)
        assertEquals(0, store.status().filesPending)

        // Another phone of the same village fetches it when the visit is opened.
        val other = enrolledStore()
        val fetched = other.fetchFile(kept.reference)
        assertEquals(kept.reference, fetched.reference)
        assertTrue(photo.contentEquals(other.fileBytes(kept.reference)))
    }

    @Test(timeout = 120_000)
    fun aScannedQrCodeEnrolsAsATypedCodeDoes() = runBlocking<Unit> {
        val fresh = newStore()
        // Not a Doorstep code, or a damaged one: nothing is sent.
        assertFailsWith<DoorstepException.InvalidInput> { fresh.enrollFromQr("https://example.com/") }
        assertFailsWith<DoorstepException.InvalidInput> {
            fresh.enrollFromQr("doorstep://enrol?v=1&server=${server.url}&code=A&ca=12")
        }
        assertEquals(null, fresh.identity())

        val identity = fresh.enrollFromQr(server.enrollQrPayload(), "JVM QR")
        assertEquals(server.cadre, identity.cadreId)
        assertEquals(server.url, identity.serverUrl)
        assertTrue(fresh.sync().householdsAdded > 0)
        // A used code's QR does not enrol another store.
        val payload = server.enrollQrPayload()
        newStore().enrollFromQr(payload)
        assertFailsWith<DoorstepException.Auth> { newStore().enrollFromQr(payload) }
    }

    @Test(timeout = 120_000)
    fun anInvalidVisitIsATypedValidationErrorAndRecordsNothing() {
        val store = enrolledStore()
        val household = store.firstHousehold()
        val tooOld = answers().replace("\"age\": 30", "\"age\": 148")
        val error = assertFailsWith<DoorstepException.Validation> {
            store.recordVisit(household.id, tooOld)
        }
        assertTrue("members[1]/age" in error.byQuestion, "issues: ${error.issues}")
        val missing = assertFailsWith<DoorstepException.Validation> {
            store.recordVisit(household.id, """{"visit_date": "2024-12-28"}""")
        }
        assertTrue(missing.issues.size > 1, "issues: ${missing.issues}")
        assertEquals(0, store.status().pending)
        assertTrue(store.visits(household.id).none { it.own }, "nothing of this device's recorded")
    }

    @Test(timeout = 120_000)
    fun errorsAreTypedSoAnAppCanActOnThem() = runBlocking {
        val fresh = newStore()
        assertFailsWith<DoorstepException.Auth> { fresh.enroll(server.url, "WRONG-CODE1", null) }
        assertFailsWith<DoorstepException.Network> {
            fresh.enroll("http://127.0.0.1:9", server.enrollCode(), null)
        }
        assertFailsWith<DoorstepException.InvalidInput> { fresh.enroll("ftp://x", "A", null) }
        // Plain HTTP to another machine would put the token on the network.
        assertFailsWith<DoorstepException.InvalidInput> {
            fresh.enroll("http://10.255.255.1:8686", server.enrollCode(), null)
        }
        assertFailsWith<DoorstepException.Auth> { fresh.sync() }

        val store = enrolledStore()
        assertFailsWith<DoorstepException.InvalidInput> { store.household("not-an-id") }
        assertFailsWith<DoorstepException.NotFound> {
            store.household("0190a000-0000-7000-8000-00000000beef")
        }
        assertFailsWith<DoorstepException.InvalidInput> {
            store.recordVisit(store.firstHousehold().id, "[1, 2]")
        }
        val visit = store.recordVisit(store.firstHousehold().id, answers())
        assertFailsWith<DoorstepException.Conflict> { store.updateDraft(visit.id, answers()) }
        assertFailsWith<DoorstepException.Conflict> {
            store.enroll(server.url, server.enrollCode(), null)
        }
        Unit
    }

    @Test(timeout = 120_000)
    fun anEncryptedStoreOpensOnlyWithItsKeyAndIsWipedOnlyWhenSynced() = runBlocking {
        val directory = Files.createTempDirectory("doorstep-device").toFile()
        directory.deleteOnExit()
        val path = File(directory, "device.db").path
        val key = ByteArray(32) { (it * 7 + 3).toByte() }
        val store = Doorstep.open(path, key, "en")
        store.enroll(server.url, server.enrollCode(), "JVM test")
        store.sync()
        store.recordVisit(store.firstHousehold().id, answers())
        val token = File(path).readBytes().toString(Charsets.ISO_8859_1)
        assertTrue("SQLite format 3" !in token, "the file is encrypted")

        assertFailsWith<DoorstepException.Key> { Doorstep.open(path, ByteArray(32), "en") }
        assertFailsWith<DoorstepException.Key> { Doorstep.open(path, null, "en") }
        assertEquals(1, store.status().pending, "a refused open changed nothing")

        // A new key (suspend: the store is copied); the old one no longer opens it.
        val newKey = ByteArray(32) { (it * 11 + 5).toByte() }
        store.rekey(newKey)
        assertFailsWith<DoorstepException.Key> { Doorstep.open(path, key, "en") }
        Doorstep.open(path, newKey, "en").use { assertEquals(1, it.status().pending) }
        assertEquals(1, store.status().pending)

        val refused = assertFailsWith<DoorstepException.Unsynced> { store.wipe() }
        assertEquals(1, refused.changes)
        store.sync()
        val report = store.wipe()
        assertTrue(report.serverTold, "the server revoked the token: $report")
        assertTrue(!File(path).exists(), "the store file is gone")
        assertFailsWith<DoorstepException.Storage> { store.status() }
        Unit
    }

    @Test(timeout = 120_000)
    fun dataChangesAreObservedUntilTheSubscriptionIsClosed() = runBlocking {
        val store = enrolledStore()
        val household = store.firstHousehold()
        val heard = Collections.synchronizedList(mutableListOf<DataChange>())
        val subscription = store.subscribe(object : DataListener {
            override fun onChange(change: DataChange) {
                heard += change
            }
        })
        store.recordVisit(household.id, answers())
        assertEquals(1, heard.size)
        assertTrue(heard[0].visits && heard[0].sync)
        subscription.close()
        store.recordVisit(household.id, answers())
        assertEquals(1, heard.size, "nothing after the subscription closed")

        // The same as a Flow.
        val next = async(Dispatchers.Default) { store.changes().first { it.households } }
        while (!next.isCompleted) {
            withContext(Dispatchers.IO) {
                store.editHousehold(household.id, listOf(FieldChange(HouseholdField.PHONE, "1390000${(1000..9999).random()}")))
            }
            kotlinx.coroutines.delay(20)
        }
        assertTrue(next.await().households)
    }

    @Test(timeout = 120_000)
    fun callsFromManyThreadsAreSafeAndReadsCompleteWhileASyncRuns() {
        val store = enrolledStore()
        val households = store.households()
        repeat(300) { index -> store.recordVisit(households[index % households.size].id, answers(1 + index % 4)) }
        val syncing = AtomicBoolean(true)
        val syncStarted = AtomicBoolean(false)
        val readsDuringSync = AtomicInteger()
        val failures = Collections.synchronizedList(mutableListOf<Throwable>())
        val readers = (1..4).map {
            thread {
                try {
                    while (syncing.get()) {
                        // Counted only when it began after the sync started
                        // and ended before the sync returned.
                        val began = syncStarted.get()
                        store.households(search = "1")
                        store.status()
                        if (began && syncing.get()) readsDuringSync.incrementAndGet()
                    }
                } catch (error: Throwable) {
                    failures += error
                }
            }
        }
        val writers = (1..4).map { worker ->
            thread {
                try {
                    repeat(10) { store.saveDraft(households[worker % households.size].id, "{}") }
                } catch (error: Throwable) {
                    failures += error
                }
            }
        }
        syncStarted.set(true)
        val report = runBlocking { store.sync() }
        syncing.set(false)
        (readers + writers).forEach { it.join() }
        assertEquals(emptyList<Throwable>(), failures.toList())
        assertEquals(300, report.pushed)
        assertTrue(readsDuringSync.get() > 0, "reads completed while the sync ran")
        assertEquals(40, store.status().drafts)
        assertEquals(0, store.status().pending)
    }

    @Test(timeout = 120_000)
    fun aCancelledSyncStopsAndTheNextOneResumes() = runBlocking {
        val store = enrolledStore()
        val household = store.firstHousehold()
        repeat(50) { store.recordVisit(household.id, answers()) }
        val progressed = CountDownLatch(1)
        val released = CountDownLatch(1)
        val job = launch(Dispatchers.Default) {
            try {
                // The sync waits in its first progress call until the
                // coroutine is cancelled, so the cancel lands mid-run.
                store.sync {
                    progressed.countDown()
                    released.await(60, TimeUnit.SECONDS)
                }
            } finally {
                released.countDown()
            }
        }
        assertTrue(progressed.await(60, TimeUnit.SECONDS), "the sync made progress")
        job.cancel()
        job.join()
        assertTrue(job.isCancelled)
        // The Rust side stops between two steps and says so.
        var status = store.status()
        repeat(600) {
            if (status.lastError?.contains("cancelled") == true) return@repeat
            Thread.sleep(50)
            status = store.status()
        }
        assertTrue(status.lastError?.contains("cancelled") == true, "status: $status")
        val resumed = store.sync()
        assertEquals(0, store.status().pending, "resumed: $resumed")

        // Cancelling through the API gives the typed error.
        repeat(20) { store.recordVisit(household.id, answers()) }
        assertFailsWith<DoorstepException.Cancelled> {
            store.sync { store.cancelSync() }
        }
        store.sync()
        assertEquals(0, store.status().pending)
    }

    @Test(timeout = 120_000)
    fun householdCorrectionsAreQueuedValidatedAndSynced() = runBlocking {
        val store = enrolledStore()
        val household = store.firstHousehold()
        val corrected = store.editHousehold(
            household.id,
            listOf(FieldChange(HouseholdField.PHONE, "13900000001"), FieldChange(HouseholdField.MEMBERS, "6")),
        )
        assertEquals("13900000001", corrected.phone)
        assertEquals(6, corrected.members)
        assertEquals(1, store.status().pending)
        val invalid = assertFailsWith<DoorstepException.Validation> {
            store.editHousehold(household.id, listOf(FieldChange(HouseholdField.MEMBERS, "many")))
        }
        assertEquals(listOf("members"), invalid.issues.map { it.question })
        store.sync()
        assertEquals(0, store.status().pending)
        val synced = store.household(household.id).household
        assertEquals("13900000001", synced.phone)
        assertTrue(synced.version > household.version)
        assertTrue(store.conflicts().isEmpty())
    }

    @Test(timeout = 120_000)
    fun draftsStayEditableUntilFinalised() {
        val store = enrolledStore()
        val household = store.firstHousehold()
        val draft = store.saveDraft(household.id, """{"visit_date": "2024-12-28"}""")
        assertEquals(VisitStatus.DRAFT, draft.status)
        assertEquals(VisitSync.Local, draft.sync)
        assertFailsWith<DoorstepException.Validation> { store.finalise(draft.id) }
        store.updateDraft(draft.id, answers())
        val final = store.finalise(draft.id)
        assertEquals(VisitStatus.FINAL, final.status)
        assertEquals(1, store.status().pending)
        assertEquals(0, store.status().drafts)
    }

    @Test(timeout = 120_000)
    fun autoSyncWaitsForTheNetworkAndThenDelivers() {
        val store = enrolledStore()
        val finished = CountDownLatch(1)
        val started = AtomicInteger()
        store.startAutoSync(false, object : AutoSyncListener {
            override fun onStarted() {
                started.incrementAndGet()
            }

            override fun onProgress(progress: SyncProgress) {}

            override fun onFinished(report: SyncReport?, error: DoorstepException?) {
                if (report != null && report.pushed > 0) finished.countDown()
            }
        })
        store.recordVisit(store.firstHousehold().id, answers())
        Thread.sleep(300)
        assertEquals(0, started.get(), "nothing runs while offline")
        assertEquals(1, store.status().pending)
        store.networkChanged(true)
        assertTrue(finished.await(60, TimeUnit.SECONDS), "delivered once online")
        assertEquals(0, store.status().pending)
        store.stopAutoSync()
    }

    @Test(timeout = 120_000)
    fun theStatusFlowStartsWithTheStatusAndFollowsRecordingAndSyncing() = runBlocking {
        val store = enrolledStore()
        val heard = Channel<Status>(Channel.UNLIMITED)
        val all = Collections.synchronizedList(mutableListOf<Status>())
        val collector = launch(Dispatchers.Default) {
            store.statusUpdates().collect {
                all += it
                heard.send(it)
            }
        }
        val first = heard.receive()
        assertEquals(store.status(), first, "the current status at once")
        assertEquals(0, first.pending)

        withContext(Dispatchers.IO) { store.recordVisit(store.firstHousehold().id, answers()) }
        var next = heard.receive()
        while (next.pending != 1) next = heard.receive()
        assertEquals(store.identity()?.deviceId, next.deviceId)

        withContext(Dispatchers.IO) { store.sync() }
        while (next.pending != 0) next = heard.receive()
        assertTrue(next.lastSync != null && !next.stalled)
        collector.cancelAndJoin()
        val statuses = all.toList()
        assertTrue(statuses.zipWithNext().all { (a, b) -> a != b }, "never the same twice in a row: $statuses")
    }

    @Test(timeout = 120_000)
    fun theBackgroundSyncReportsItsFailureAsATypedError() = runBlocking {
        val store = enrolledStore()
        // Nobody listens there: every run fails to reach the server.
        store.changeServer("http://127.0.0.1:9")
        val failure = CompletableDeferred<DoorstepException?>()
        store.startAutoSync(online = true) { _, error -> failure.complete(error) }
        store.recordVisit(store.firstHousehold().id, answers())
        val error = failure.await()
        val network = assertIs<DoorstepException.Network>(error, "a typed network error")
        assertEquals(null, network.retryAfterSeconds)
        store.stopAutoSync()
        assertEquals(1, store.status().pending, "nothing lost")
    }

    @Test(timeout = 120_000)
    fun stopAutoSyncReturnsWhileARunIsStuckAndTheRunEndsAfter() {
        val store = enrolledStore()
        val household = store.firstHousehold()
        repeat(20) { store.recordVisit(household.id, answers()) }
        val progressed = CountDownLatch(1)
        val released = CountDownLatch(1)
        val finished = CompletableDeferred<Pair<SyncReport?, DoorstepException?>>()
        val started = AtomicInteger()
        store.startAutoSync(false, object : AutoSyncListener {
            override fun onStarted() {
                started.incrementAndGet()
            }

            // The run waits in its first progress call until released.
            override fun onProgress(progress: SyncProgress) {
                progressed.countDown()
                released.await()
            }

            override fun onFinished(report: SyncReport?, error: DoorstepException?) {
                finished.complete(report to error)
            }
        })
        store.networkChanged(true)
        assertTrue(progressed.await(60, TimeUnit.SECONDS), "the run made progress")

        // Were stopAutoSync to wait for the run, only this watchdog could
        // let it return, and it would say so.
        val stopped = CountDownLatch(1)
        val releasedByWatchdog = AtomicBoolean(false)
        val watchdog = thread {
            if (!stopped.await(60, TimeUnit.SECONDS)) {
                releasedByWatchdog.set(true)
                released.countDown()
            }
        }
        store.stopAutoSync()
        stopped.countDown()
        watchdog.join()
        assertTrue(!releasedByWatchdog.get(), "stopAutoSync waited for the run")

        released.countDown()
        val (report, error) = runBlocking { finished.await() }
        assertTrue(report != null || error is DoorstepException.Cancelled, "ended: $report $error")
        assertEquals(1, started.get())
    }
}
