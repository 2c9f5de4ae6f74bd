package org.doorstep

import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * A real `doorstep serve` with a village of generated households, a cadre
 * paired with it and the demo form published, in a temporary directory.
 * The binary and the form come from system properties set by
 * `cargo xtask test-kotlin` (`doorstep.bin`, `doorstep.form`).
 */
class TestServer : AutoCloseable {
    val directory: File = Files.createTempDirectory("doorstep-server").toFile()
    private val binary = System.getProperty("doorstep.bin") ?: error("set -Ddoorstep.bin")
    private val form = System.getProperty("doorstep.form") ?: error("set -Ddoorstep.form")
    val cadre: String
    val village: String
    val url: String
    private val process: Process

    init {
        run(listOf("gen", "households", "--count", "40", "--seed", "7"), File(directory, "households.csv"))
        run(listOf("admin", "import-households", "households.csv"))
        village = Regex("\"code\"\\s*:\\s*\"(\\d{12})\"")
            .find(run(listOf("admin", "villages", "--json")))
            ?.groupValues?.get(1) ?: error("no village imported")
        cadre = run(listOf("admin", "add-cadre", "--name", "张明")).trim()
        run(listOf("admin", "assign", "--cadre", cadre, "--village", village))
        run(listOf("admin", "publish-form", form))
        process = ProcessBuilder(binary, "serve", "--listen", "127.0.0.1:0")
            .directory(directory)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        url = process.inputStream.bufferedReader().readLine()?.trim()
            ?: error("the server printed no address")
    }

    /** A fresh one-time enrolment code for the cadre. */
    fun enrollCode(): String = run(listOf("admin", "enroll-code", "--cadre", cadre)).trim()

    /**
     * A fresh enrolment QR code's payload for the cadre, as the console
     * shows it: `doorstep://enrol?v=1&server=…&code=…` (the code, then the
     * payload, on stdout).
     */
    fun enrollQrPayload(): String =
        run(listOf("admin", "enroll-code", "--cadre", cadre, "--public-url", url))
            .lines().single { it.startsWith("doorstep://") }

    /** How many visits the server holds (from its export). */
    fun visitCount(): Int {
        val export = File(directory, "export.jsonl")
        run(listOf("admin", "export", "visits", "--format", "jsonl", "--out", export.path))
        return export.readLines().count { it.isNotBlank() }
    }

    /**
     * The server's export line of visit [id], or null: what the server
     * stored, with the calculated values it computed itself.
     */
    fun exportedVisit(id: String): String? {
        val export = File(directory, "export.jsonl")
        run(listOf("admin", "export", "visits", "--format", "jsonl", "--out", export.path))
        return export.readLines().firstOrNull { it.contains("\"id\":\"$id\"") }
    }

    private fun run(arguments: List<String>, stdout: File? = null): String {
        val builder = ProcessBuilder(listOf(binary) + arguments)
            .directory(directory)
            .redirectError(ProcessBuilder.Redirect.PIPE)
        if (stdout != null) builder.redirectOutput(stdout)
        val child = builder.start()
        val output = if (stdout == null) child.inputStream.bufferedReader().readText() else ""
        val errors = child.errorStream.bufferedReader().readText()
        check(child.waitFor(60, TimeUnit.SECONDS) && child.exitValue() == 0) {
            "doorstep ${arguments.joinToString(" ")} failed: $errors"
        }
        return output
    }

    override fun close() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
        directory.deleteRecursively()
    }
}
