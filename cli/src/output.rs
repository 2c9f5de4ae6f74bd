//! How the CLI speaks: JSON documents and plain lines on stdout, one-line
//! errors on stderr, and exit codes that mean something.

use std::io::Write;

use doorstep_core::transport::TransportError;
use doorstep_server::store::StoreError;
use serde::Serialize;

/// Exit codes (also in `doorstep --help`).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;
pub const EXIT_INVALID: u8 = 5;

/// Bad input from the person at the keyboard: a file, an id, a value.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for an [`InputError`].
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(message.into()))
}

/// A store of files that could not be opened (`--files s3://…`): a
/// location written wrong, or a build without S3, is the caller's
/// mistake; a bucket that does not answer is an error.
pub fn file_store_error(error: std::io::Error) -> anyhow::Error {
    match error.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported => {
            invalid(error.to_string())
        }
        _ => anyhow::Error::msg(error.to_string()),
    }
}

/// The exit code for an error, by what kind of failure it is.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<InputError>().is_some() {
            return EXIT_INVALID;
        }
        if let Some(transport) = cause.downcast_ref::<TransportError>() {
            return transport_code(transport);
        }
        if let Some(core) = cause.downcast_ref::<doorstep_core::Error>() {
            use doorstep_core::Error;
            return match core {
                Error::Transport(transport) => transport_code(transport),
                Error::Invalid(_)
                | Error::UnknownHousehold(_)
                | Error::UnknownVisit(_)
                | Error::UnknownFile(_)
                | Error::FileTooLarge { .. }
                | Error::FileUnreadable { .. }
                | Error::UnknownForm { .. }
                | Error::NoForm
                | Error::Finalised(_)
                | Error::NotCorrectable(_)
                | Error::NotEnrolled
                | Error::InvalidEdit { .. }
                | Error::AlreadyEnrolled { .. }
                | Error::Key(_)
                | Error::NoStore { .. }
                | Error::Unsynced { .. }
                | Error::EnrolQr(_) => EXIT_INVALID,
                _ => EXIT_ERROR,
            };
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return match store {
                StoreError::NotFound(_) | StoreError::Invalid(_) | StoreError::Conflict(_) => {
                    EXIT_INVALID
                }
                _ => EXIT_ERROR,
            };
        }
    }
    EXIT_ERROR
}

fn transport_code(error: &TransportError) -> u8 {
    match error {
        TransportError::BadAddress(_) | TransportError::BadCertificate(_) => EXIT_INVALID,
        TransportError::Unauthorized(_)
        | TransportError::Refused { .. }
        | TransportError::Tls(_) => EXIT_REFUSED,
        error if error.is_transient() => EXIT_UNREACHABLE,
        _ => EXIT_ERROR,
    }
}

/// The error and its causes on one line.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// Prints one JSON document on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).map_err(std::io::Error::from)?;
    writeln!(stdout)?;
    Ok(())
}

/// Writes one line of data on stdout. Unlike `println!`, a closed pipe
/// (`doorstep … | head -1`) is an error, which [`is_closed_pipe`] tells
/// apart so that the command ends quietly instead of panicking.
pub fn line(arguments: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(arguments)?;
    stdout.write_all(b"\n")
}

/// `out!("…", …)`: [`line`] with `println!`'s syntax, returning early with
/// the error.
macro_rules! out {
    ($($argument:tt)*) => {
        $crate::output::line(format_args!($($argument)*))?
    };
}
pub(crate) use out;

/// Whether the error is stdout's reader going away: not a failure of the
/// command, which then ends quietly with success.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
