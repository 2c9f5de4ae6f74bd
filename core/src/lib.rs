//! Doorstep's device core: everything a cadre's phone does, apart from its
//! screens. The app (Kotlin, Swift, or the `doorstep device` CLI) opens one
//! [`Store`] and drives everything through it:
//!
//! - [`store`]: the local SQLite file: households, forms, visits, the outbox;
//! - [`forms`]: the form engine (the `doorstep-forms` crate), shared with
//!   the server, which validates every pushed visit again with the same code;
//! - [`sync`]: the sync engine, driven through an injected
//!   [`transport::Transport`] (HTTPS by default: [`transport::HttpTransport`]).
//!
//! No FFI, no server, no async runtime here: the bindings and the server
//! wrap this crate, never the other way round.

pub mod clock;
mod error;
pub mod model;
pub mod sqlite;
pub mod store;
pub mod sync;
pub mod transport;

/// The form engine, its own crate (`doorstep-forms`), re-exported: the
/// store records visits against its forms.
pub use doorstep_forms as forms;

/// What an enrolment QR code says (`doorstep_protocol::enrol_qr`): the
/// server, the one-time code, the county CA's fingerprint.
pub use doorstep_protocol::enrol_qr;

pub use error::{Error, Result};
pub use model::*;
pub use store::{Store, StoreOptions, VisitSession};
