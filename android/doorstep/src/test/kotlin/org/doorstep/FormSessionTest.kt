package org.doorstep

import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.BeforeClass
import org.junit.Test

/**
 * Fills the demo form the way a screen does: through a [FormSession],
 * rendering its nodes and re-rendering only what each answer changes,
 * against the Linux build of the core and a real `doorstep serve`.
 */
class FormSessionTest {
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
    }

    /** What a screen holds: the nodes by path, kept up to date by the changes alone. */
    private class Screen(nodes: List<FormNode>) {
        val nodes = nodes.associateBy { it.path }.toMutableMap()

        fun apply(changes: FormChanges): FormChanges {
            for (node in changes.changed + changes.added) {
                nodes[node.path] = node
            }
            changes.removed.forEach { nodes.remove(it) }
            return changes
        }

        operator fun get(path: String): FormNode = nodes[path] ?: error("no node $path on the screen")
    }

    private fun enrolledStore(): Doorstep = runBlocking {
        val directory = Files.createTempDirectory("doorstep-device").toFile()
        directory.deleteOnExit()
        val store = Doorstep.open(File(directory, "device.db").path, language = "en")
        store.enroll(server.url, server.enrollCode(), "JVM form test")
        store.sync()
        store
    }

    private fun choice(name: String) = AnswerValue.Choice(name)

    @Test(timeout = 180_000)
    fun fillsTheDemoFormQuestionByQuestionSavesReopensFinalisesAndSyncs() = runBlocking {
        val store = enrolledStore()
        val household = store.households(null, null).first()
        val session = store.startVisit(household.id)
        val screen = Screen(session.nodes())
        assertEquals(
            listOf("visit_date", "respondent", "members", "member_count"),
            session.nodes().take(4).map { it.path },
        )
        assertEquals(NodeKind.SELECT_ONE, screen["respondent"].kind)
        assertEquals(listOf("head", "spouse", "other"), screen["respondent"].choices.map { it.name })
        assertTrue(screen["respondent"].required)
        assertFalse(screen["migration"].relevant, "no members yet: no migrants to ask about")
        assertFalse(screen["relocation"].relevant)

        screen.apply(session.setAnswer("visit_date", AnswerValue.Date(2024, 12, 27)))
        screen.apply(session.setAnswer("respondent", choice("head")))

        // The first member: the migration group appears.
        val added = screen.apply(session.addRepeat("members"))
        assertTrue(added.added.any { it.path == "members[1]/age" && it.kind == NodeKind.INTEGER })
        assertTrue(screen["migration"].relevant)
        screen.apply(session.setAnswer("members[1]/member_name", AnswerValue.Text("杨光荣")))
        screen.apply(session.setAnswer("members[1]/relation", choice("head")))

        // A bad age shows the form's message as it is typed, and clears when fixed.
        val typo = screen.apply(session.setAnswer("members[1]/age", AnswerValue.Integer(148)))
        val age = typo.changed.single { it.path == "members[1]/age" }
        assertEquals(ViolationRule.CONSTRAINT, age.violations.single().rule)
        assertEquals("Age must be between 0 and 120", age.violations.single().message)
        val fixed = screen.apply(session.setAnswer("members[1]/age", AnswerValue.Integer(48)))
        assertTrue(fixed.changed.single { it.path == "members[1]/age" }.violations.isEmpty())
        assertTrue(screen["members[1]/able_to_work"].relevant)
        assertFalse(screen["members[1]/in_school"].relevant)
        screen.apply(session.setAnswer("members[1]/able_to_work", choice("full")))

        // A child: school applies, work does not.
        screen.apply(session.addRepeat("members"))
        screen.apply(session.setAnswer("members[2]/member_name", AnswerValue.Text("杨小雨")))
        screen.apply(session.setAnswer("members[2]/relation", choice("child")))
        screen.apply(session.setAnswer("members[2]/age", AnswerValue.Integer(9)))
        assertTrue(screen["members[2]/in_school"].relevant)
        assertFalse(screen["members[2]/able_to_work"].relevant)
        screen.apply(session.setAnswer("members[2]/in_school", choice("yes")))

        // A member added by mistake, then removed.
        screen.apply(session.addRepeat("members"))
        assertEquals(3, screen["members"].items)
        val removed = screen.apply(session.removeRepeat("members[3]"))
        assertTrue("members[3]" in removed.removed)
        assertEquals(2, screen["members"].items)
        assertEquals(AnswerValue.Integer(2), screen["member_count"].value)

        // One member works away.
        screen.apply(session.addRepeat("migrants"))
        screen.apply(session.setAnswer("migrants[1]/migrant_name", AnswerValue.Text("杨志强")))
        screen.apply(session.setAnswer("migrants[1]/destination", choice("outside_province")))
        screen.apply(session.setAnswer("migrants[1]/monthly_income", AnswerValue.Decimal(5200.0)))

        // Income: the per-capita income and the below-the-line note follow.
        val wages = screen.apply(session.setAnswer("income_wages", AnswerValue.Integer(12_000)))
        assertTrue(wages.changed.any { it.path == "per_capita_income" })
        assertEquals(AnswerValue.Integer(6_000), screen["per_capita_income"].value)
        assertTrue(screen["below_line_note"].relevant, "6,000 a head is below the 10,000 line")
        val business = screen.apply(session.setAnswer("income_business", AnswerValue.Decimal(16_500.5)))
        assertTrue(business.changed.any { it.path == "below_line_note" })
        assertEquals(AnswerValue.Decimal(14_250.25), screen["per_capita_income"].value)
        assertFalse(screen["below_line_note"].relevant)

        for (question in listOf("food_clothing_ok", "education_ok", "medical_insurance_ok", "housing_safe")) {
            screen.apply(session.setAnswer(question, choice("yes")))
        }
        screen.apply(session.setAnswer("drinking_water_safe", choice("no")))
        assertEquals(AnswerValue.Integer(1), screen["assurance_gaps"].value)
        screen.apply(session.setAnswer("risk_category", choice("edge")))
        screen.apply(session.setAnswer("support_needed", AnswerValue.Choices(listOf("jobs", "training"))))

        // Relocated: the relocation page appears, and "next" lists what it still needs.
        screen.apply(session.setAnswer("relocated", choice("yes")))
        assertTrue(screen["relocation"].relevant && screen["resettlement_site"].relevant)
        assertEquals(
            listOf("resettlement_site", "works_at_site"),
            session.violations("relocation").map { it.path },
        )
        assertTrue(session.violations("relocation").all { it.rule == ViolationRule.REQUIRED })

        // A wrong kind of answer is refused and changes nothing.
        assertFailsWith<DoorstepException.InvalidInput> {
            session.setAnswer("members[1]/age", AnswerValue.Text("forty"))
        }
        assertEquals(AnswerValue.Integer(48), session.node("members[1]/age")?.value)

        // A note changes nothing else: one node to re-render.
        val note = screen.apply(session.setAnswer("notes", AnswerValue.Text("饮水需复查")))
        assertEquals(listOf("notes"), note.changed.map { it.path })
        // The screen, kept only by the changes, shows what the session holds.
        assertEquals(session.nodes().associateBy { it.path }, screen.nodes)

        // Saved as a draft, reopened as it was.
        val draft = session.saveDraft()
        assertEquals(VisitStatus.DRAFT, draft.status)
        val reopened = store.resumeDraft(draft.id)
        assertEquals(session.nodes(), reopened.nodes())
        assertFailsWith<DoorstepException.Validation> { reopened.finalise() }

        reopened.setAnswer("resettlement_site", AnswerValue.Text("靖安新区"))
        reopened.setAnswer("works_at_site", choice("yes"))
        assertEquals(emptyList<FormViolation>(), reopened.violations())

        val visit = reopened.finalise()
        assertEquals(draft.id, visit.id)
        assertEquals(VisitStatus.FINAL, visit.status)
        assertEquals(reopened.computedJson(), visit.computedJson)

        store.sync()
        assertEquals(VisitSync.Synced, store.visits(household.id).single { it.id == visit.id }.sync)
        val exported = assertNotNull(server.exportedVisit(visit.id), "the server holds the visit")
        val computed = Regex("\"computed\":(\\{[^}]*\\})").find(exported)?.groupValues?.get(1)
        assertEquals(visit.computedJson, computed, "the server computes what the phone did")
    }

    @Test(timeout = 120_000)
    fun aDeletedDraftIsGoneAndACorrectionStartsFromTheVisit() = runBlocking {
        val store = enrolledStore()
        val household = store.households(null, null).first()
        val session = store.startVisit(household.id)
        session.setAnswer("respondent", choice("spouse"))
        val draft = session.saveDraft()
        session.deleteDraft()
        assertEquals(null, session.draftId())
        assertFailsWith<DoorstepException.NotFound> { store.resumeDraft(draft.id) }

        val visit = store.recordVisit(household.id, null, DoorstepTest.answers(2), null)
        val correction = store.startCorrection(visit.id)
        assertEquals(AnswerValue.Choice("head"), correction.node("respondent")?.value)
        correction.setAnswer("income_wages", AnswerValue.Integer(52_000))
        val corrected = correction.finalise()
        assertEquals(visit.id, corrected.corrects)
    }
}
