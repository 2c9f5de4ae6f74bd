//! The limits both sides hold to. A device never records or sends more
//! than these; the server refuses more (each change on its own, the rest of
//! a push still applies) and never serves more in one answer, so that no
//! device can stop another: no stored change can make a page larger than
//! every client accepts.

use std::fmt;

/// Characters in one text answer: a long note (about 30 KB of Chinese).
/// A form narrows it for a question with `string-length(.) <= N`.
pub const MAX_TEXT_ANSWER_CHARS: usize = 10_000;

/// Bytes of one visit's answers, as JSON.
pub const MAX_VISIT_BYTES: usize = 256 * 1024;

/// Changes in one push: a device's batch of 2,000 realistic visits is
/// about 2.7 MB as JSON and 150 KB on the wire in columns (ADR 0012).
/// Servers before the columns took 1,000.
pub const MAX_PUSH_CHANGES: usize = 2000;

/// Bytes of a push request body, as received and after decompression (and
/// what a columnar body may decode to, counted as its JSON would be at
/// least): the device sends at most 3 MiB of changes as JSON at once (or
/// one larger visit). What bounds a push's memory on the server: the body,
/// its decompressed bytes and the decoded changes, a few times this, for
/// at most `PUSHES_AT_ONCE` pushes at a time.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of one file attached to an answer (a photo, an audio note): the
/// device refuses to add a larger one and the server to take it.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

/// Bytes of a snapshot request body (1,000 household ids and a cursor).
pub const MAX_SNAPSHOT_REQUEST_BYTES: usize = 64 * 1024;

/// Bytes of an enrolment request after decompression: an unauthenticated
/// request carries a code and a label, nothing more.
pub const MAX_ENROLL_BYTES: usize = 4 * 1024;

/// JSON bytes of changes the server puts in one pull page or snapshot page
/// at most (one change alone may exceed it up to [`MAX_CHANGE_BYTES`]).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// JSON bytes of one change in a pull page: a visit at its largest with
/// its computed values, a household, a conflict, or a form. The server
/// refuses to publish a larger form and skips a larger stored change (made
/// before these limits) instead of letting it block every cursor behind it.
pub const MAX_CHANGE_BYTES: usize = 2 * 1024 * 1024;

/// Bytes of an answer a client must accept (decompressed): well above the
/// largest page, [`MAX_PAGE_BYTES`] + [`MAX_CHANGE_BYTES`].
pub const MIN_CLIENT_ACCEPTS: usize = 16 * 1024 * 1024;

// How the limits fit one another, checked when this crate compiles: a
// page with its one oversized change fits what every client accepts; a
// visit with its computed values fits one change; a text answer (up to 4
// bytes a character) fits a visit.
const _: () = assert!(MAX_PAGE_BYTES + MAX_CHANGE_BYTES <= MIN_CLIENT_ACCEPTS);
const _: () = assert!(MAX_VISIT_BYTES * 2 < MAX_CHANGE_BYTES);
const _: () = assert!(MAX_TEXT_ANSWER_CHARS * 4 < MAX_VISIT_BYTES);

/// Characters of a name, group, address or label: short texts shown in
/// lists.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;

/// Bytes of `value` as JSON, counted without building the text: how both
/// sides measure a visit and a page against these limits.
pub fn json_size<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; a value that does not serialise
    // counts as what it wrote before it failed.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Why a short text (a name, an address, a label) cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Empty,
    TooLong,
    /// A control character (NUL, a line break, …) or an invisible
    /// formatting character that can make a text display as another one
    /// (bidirectional overrides, zero-width characters).
    Hidden,
}

impl fmt::Display for TextProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TextProblem::Empty => "is empty",
            TextProblem::TooLong => "is too long",
            TextProblem::Hidden => "holds a control or invisible formatting character",
        })
    }
}

/// Checks a short text shown to people: 1 to `max_chars` characters, not
/// only spaces, no control or invisible formatting characters.
pub fn check_short_text(text: &str, max_chars: usize) -> Result<(), TextProblem> {
    if text.trim().is_empty() {
        return Err(TextProblem::Empty);
    }
    if text.chars().count() > max_chars {
        return Err(TextProblem::TooLong);
    }
    if text.chars().any(is_hidden) {
        return Err(TextProblem::Hidden);
    }
    Ok(())
}

/// Control characters, and the format characters that change how text is
/// shown without being seen: bidirectional embeddings, overrides and
/// isolates, zero-width spaces and joiners, the byte-order mark.
pub fn is_hidden(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_refuse_what_people_cannot_see() {
        assert_eq!(check_short_text("喻兰", 200), Ok(()));
        assert_eq!(check_short_text("中坝村3组12号", 200), Ok(()));
        assert_eq!(check_short_text("  ", 200), Err(TextProblem::Empty));
        assert_eq!(
            check_short_text(&"兰".repeat(201), 200),
            Err(TextProblem::TooLong)
        );
        for hidden in [
            "王\0国",
            "王\u{202E}国",
            "王\u{2067}国",
            "王\u{200B}国",
            "王\n国",
            "\u{FEFF}王",
        ] {
            assert_eq!(
                check_short_text(hidden, 200),
                Err(TextProblem::Hidden),
                "{hidden:?}"
            );
        }
    }
}
