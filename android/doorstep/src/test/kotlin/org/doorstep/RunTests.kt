package org.doorstep

import kotlin.system.exitProcess
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

/**
 * Runs the JVM tests without Gradle (`cargo xtask test-kotlin`), one line a
 * test, then `N passed, M failed`; exits 1 unless all passed.
 */
fun main() {
    val core = JUnitCore()
    core.addListener(object : RunListener() {
        private val failed = mutableSetOf<Description>()

        override fun testFailure(failure: Failure) {
            failed += failure.description
            println("FAILED ${failure.description.methodName}: ${failure.message}")
            failure.exception.printStackTrace(System.out)
        }

        override fun testFinished(description: Description) {
            if (description !in failed) println("ok     ${description.methodName}")
        }
    })
    val result = core.run(DoorstepTest::class.java, FormSessionTest::class.java)
    val failed = result.failureCount
    val passed = result.runCount - failed
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
