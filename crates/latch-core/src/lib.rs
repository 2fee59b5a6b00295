//! Latch's domain: the WebAuthn ceremonies, the records Latch keeps, and the rules that
//! govern them.
//!
//! Invariant: this crate does no I/O. It neither reads the clock nor touches storage or the
//! network: callers pass `now` in and persist what comes out. That keeps every rule here
//! testable with plain values.

pub mod aaguid;
pub mod backend;
pub mod ceremony;
pub mod ids;
pub mod lockout;
pub mod model;
pub mod native_apps;
pub mod origins;
pub mod settings;

pub use webauthn_rs_core::proto as webauthn;
