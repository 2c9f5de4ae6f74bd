//! `cargo xtask …`: project tasks that are more than one cargo command.
//!
//! - `cargo xtask bindings [--release]`: builds `doorstep-ffi` and writes the
//!   Kotlin and Swift bindings generated from that very library into
//!   `target/bindings/{kotlin,swift}` (never committed).
//! - `cargo xtask test-kotlin`: installs what is missing (JNA and JUnit from
//!   Debian, the Kotlin compiler from npm), builds the library, the
//!   `doorstep` binary and the bindings, compiles the Android module's
//!   Kotlin and its tests with kotlinc, and runs the tests on the JVM
//!   against the Linux library and a real `doorstep serve`. Prints
//!   `N passed, M failed`; fails unless every test passed and at least one
//!   ran.
//! - `cargo xtask lib-size`: the size of the library as the phones get it
//!   (profile `release-ffi`, stripped), for docs/benchmarks.md.

// A command: the tests' lines and the sizes are its output.
#![allow(clippy::print_stdout)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The Kotlin compiler from npm: it carries kotlin-stdlib, kotlin-test
/// and kotlinx-coroutines-core-jvm.
const KOTLIN_COMPILER: &str = "kotlin-compiler@2.4.20";
/// From Debian's libjna-java and junit4.
const JNA_JAR: &str = "/usr/share/java/jna.jar";
const JUNIT_JAR: &str = "/usr/share/java/junit4.jar";
const HAMCREST_JAR: &str = "/usr/share/java/hamcrest-core.jar";
const LIBRARY: &str = "doorstep_ffi";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let release = args.iter().any(|arg| arg == "--release");
    match args.first().map(String::as_str) {
        Some("bindings") => {
            let out = bindings(release)?;
            eprintln!("bindings written to {}", out.display());
            Ok(())
        }
        Some("test-kotlin") => test_kotlin(),
        Some("lib-size") => lib_size(),
        _ => bail!(
            "usage: cargo xtask bindings [--release] | test-kotlin | lib-size\n\
             (see xtask/src/main.rs for what each does)"
        ),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command, failing with its name when it fails.
fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn library_path(release: bool) -> PathBuf {
    target_dir()
        .join(if release { "release" } else { "debug" })
        .join(format!("lib{LIBRARY}.so"))
}

/// Builds the library and generates Kotlin and Swift from it.
fn bindings(release: bool) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "doorstep-ffi"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    let library = library_path(release);
    let out = target_dir().join("bindings");
    for language in ["kotlin", "swift"] {
        let dir = out.join(language);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        run(cargo()
            .args([
                "run",
                "--locked",
                "-q",
                "-p",
                "xtask",
                "--bin",
                "uniffi-bindgen",
                "--",
            ])
            .args([
                "generate",
                "--no-format",
                "--language",
                language,
                "--out-dir",
            ])
            .arg(&dir)
            .arg(&library))?;
    }
    Ok(out)
}

/// Installs a Debian package when its file is missing (as root, or with
/// sudo when there is one).
fn ensure_debian(file: &str, package: &str) -> Result<()> {
    if Path::new(file).exists() {
        return Ok(());
    }
    eprintln!("installing {package} (for {file})");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = || {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let install = || run(apt().args(["install", "-y", "--no-install-recommends", package]));
    if install().is_err() {
        // A stale package list: refresh it once and try again.
        run(apt().arg("update"))?;
        install()?;
    }
    if !Path::new(file).exists() {
        bail!("{package} is installed but {file} is not there");
    }
    Ok(())
}

/// The Kotlin compiler's home, installed from npm under target/tools.
fn ensure_kotlin() -> Result<PathBuf> {
    let prefix = target_dir().join("tools").join("kotlin");
    let home = prefix.join("node_modules").join("kotlin-compiler");
    if !home.join("bin").join("kotlinc").exists() {
        eprintln!("installing {KOTLIN_COMPILER} from npm");
        fs::create_dir_all(&prefix)?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(KOTLIN_COMPILER))?;
    }
    Ok(home)
}

fn kotlin_sources(dir: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            kotlin_sources(&path, into)?;
        } else if path.extension().is_some_and(|extension| extension == "kt") {
            into.push(path);
        }
    }
    Ok(())
}

fn classpath(parts: &[PathBuf]) -> String {
    parts
        .iter()
        .map(|part| part.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn test_kotlin() -> Result<()> {
    if Command::new("java").arg("-version").output().is_err() {
        ensure_debian("/usr/bin/java", "openjdk-17-jre-headless")?;
    }
    ensure_debian(JNA_JAR, "libjna-java")?;
    ensure_debian(JUNIT_JAR, "junit4")?;
    let kotlin = ensure_kotlin()?;
    run(cargo().args(["build", "--locked", "-p", "doorstep"]))?;
    let bindings = bindings(false)?;

    let module = root().join("android").join("doorstep").join("src");
    let mut sources = Vec::new();
    kotlin_sources(&bindings.join("kotlin"), &mut sources)?;
    kotlin_sources(&module.join("main").join("kotlin"), &mut sources)?;
    kotlin_sources(&module.join("test").join("kotlin"), &mut sources)?;
    let lib = kotlin.join("lib");
    let compile_classpath = classpath(&[
        JNA_JAR.into(),
        JUNIT_JAR.into(),
        HAMCREST_JAR.into(),
        lib.join("kotlinx-coroutines-core-jvm.jar"),
        lib.join("kotlin-test.jar"),
    ]);
    let classes = target_dir().join("kotlin-tests").join("classes");
    if classes.exists() {
        fs::remove_dir_all(&classes)?;
    }
    fs::create_dir_all(&classes)?;
    eprintln!("compiling {} Kotlin files", sources.len());
    let started = Instant::now();
    run(Command::new(kotlin.join("bin").join("kotlinc"))
        .env("JAVA_OPTS", "-Xmx1g -XX:TieredStopAtLevel=1")
        .args([
            "-nowarn",
            "-jvm-target",
            "17",
            "-cp",
            &compile_classpath,
            "-d",
        ])
        .arg(&classes)
        .args(&sources))?;
    eprintln!("compiled in {:.0} s", started.elapsed().as_secs_f64());

    let runtime = format!(
        "{}:{compile_classpath}:{}",
        classes.display(),
        lib.join("kotlin-stdlib.jar").display()
    );
    let library_dir = library_path(false)
        .parent()
        .expect("the library is in a directory")
        .to_path_buf();
    let output = Command::new("java")
        .arg("-cp")
        .arg(&runtime)
        .arg(format!("-Djna.library.path={}", library_dir.display()))
        .arg(format!(
            "-Ddoorstep.bin={}",
            target_dir().join("debug").join("doorstep").display()
        ))
        .arg(format!(
            "-Ddoorstep.form={}",
            root().join("forms").join("household-check.json").display()
        ))
        .arg("org.doorstep.RunTestsKt")
        .stderr(Stdio::inherit())
        .output()
        .context("could not start java")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| {
            let (passed, failed) = line.split_once(" passed, ")?;
            let failed = failed.strip_suffix(" failed")?;
            Some((
                passed.trim().parse::<u32>().ok()?,
                failed.parse::<u32>().ok()?,
            ))
        })
        .context("the Kotlin tests printed no `N passed, M failed` line")?;
    match summary {
        (0, _) => bail!("no Kotlin test ran"),
        (_, 0) if output.status.success() => Ok(()),
        (passed, failed) => bail!("Kotlin tests: {passed} passed, {failed} failed"),
    }
}

fn lib_size() -> Result<()> {
    run(cargo().args([
        "build",
        "--locked",
        "--profile",
        "release-ffi",
        "-p",
        "doorstep-ffi",
    ]))?;
    let built = target_dir().join("release-ffi");
    let library = built.join(format!("lib{LIBRARY}.so"));
    let stripped = built.join(format!("lib{LIBRARY}.stripped.so"));
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(&library))?;
    let size = fs::metadata(&stripped)?.len();
    println!(
        "{}: {} bytes ({:.2} MB) stripped, {} bytes unstripped",
        stripped.display(),
        size,
        size as f64 / 1_000_000.0,
        fs::metadata(&library)?.len()
    );
    Ok(())
}
