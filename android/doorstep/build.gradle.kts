// The library module. `./gradlew :doorstep:assembleRelease` builds the
// native library for each ABI with cargo-ndk (profile release-ffi: small,
// stripped), generates the Kotlin from the arm64 library, and packages both
// with the hand-written Kotlin in src/main/kotlin. The JVM unit tests
// (src/test) run against a host build of the same library and a real
// `doorstep serve`, as `cargo xtask test-kotlin` runs them without Gradle.

import org.gradle.api.tasks.Exec

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

/** The repository root: the Rust workspace. */
val repository: File = rootDir.parentFile
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
val generated = layout.buildDirectory.dir("generated/doorstep")

android {
    namespace = "org.doorstep"
    compileSdk = 35
    defaultConfig {
        // Android 7.0: the cadres' cheapest phones. The generated Kotlin
        // gives times as java.time.Instant (API 26), so java.time comes
        // from core library desugaring below; the AAR's metadata then makes
        // an app that does not enable it fail at build time, not crash on
        // Android 7 (android/README.md, "Android 7").
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
        isCoreLibraryDesugaringEnabled = true
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    sourceSets["main"].java.srcDir(generated.map { it.dir("kotlin") })
    sourceSets["main"].jniLibs.srcDir(generated.map { it.dir("jniLibs") })
}

dependencies {
    // java.time (Instant, Duration) on API 24 and 25.
    coreLibraryDesugaring("com.android.tools:desugar_jdk_libs:2.1.3")
    // JNA for Android (its native dispatch library for each ABI).
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.0")
    testImplementation("junit:junit:4.13.2")
    // JNA for the JVM the unit tests run on.
    testImplementation("net.java.dev.jna:jna:5.13.0")
    testImplementation("org.jetbrains.kotlin:kotlin-test:2.1.0")
}

/** The native library for every ABI, into build/generated/doorstep/jniLibs. */
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repository
    val out = generated.get().dir("jniLibs").asFile
    commandLine(
        listOf("cargo", "ndk") + abis.flatMap { listOf("-t", it) } +
            listOf("-o", out.path, "build", "--locked", "--profile", "release-ffi", "-p", "doorstep-ffi"),
    )
}

/** The Kotlin API, generated from the arm64 library just built. */
val generateBindings by tasks.registering(Exec::class) {
    dependsOn(cargoNdk)
    workingDir = repository
    val out = generated.get().dir("kotlin").asFile
    val library = generated.get().file("jniLibs/arm64-v8a/libdoorstep_ffi.so").asFile
    commandLine(
        "cargo", "run", "--locked", "-q", "-p", "xtask", "--bin", "uniffi-bindgen", "--",
        "generate", "--no-format", "--language", "kotlin", "--out-dir", out.path, library.path,
    )
}

tasks.named("preBuild") {
    dependsOn(generateBindings)
}

/** The host library and the `doorstep` binary, for the JVM unit tests. */
val hostBuild by tasks.registering(Exec::class) {
    workingDir = repository
    commandLine("cargo", "build", "--locked", "-p", "doorstep-ffi", "-p", "doorstep")
}

tasks.withType<Test>().configureEach {
    dependsOn(hostBuild)
    val target = System.getenv("CARGO_TARGET_DIR")?.let(::File) ?: File(repository, "target")
    systemProperty("jna.library.path", File(target, "debug").path)
    systemProperty("doorstep.bin", File(target, "debug/doorstep").path)
    systemProperty("doorstep.form", File(repository, "forms/household-check.json").path)
}
