//! Latch's test kit: what the black-box tests, the fuzz targets, the benches and the load
//! generator share, one module per job. Never published, never linked into `latch` itself.
//!
//! Always available (no server, no HTTP client; what fuzz targets and benches link):
//!
//! * [`cbor`]: the one CBOR writer, for well-formed and hostile encodings alike.
//! * [`webauthn`]: the one forging authenticator: deterministic ES256 credentials built byte
//!   by byte, taken apart for editing, and signed through OpenSSL.
//!
//! With the `process` feature:
//!
//! * [`process`]: the real `latch` binary per test, on SQLite or PostgreSQL, and SIGKILL.
//!
//! With the `fapi` feature (the black-box HTTP suite; implies `process`):
//!
//! * [`fapi`]: Clerk's Frontend API as clerk-js speaks it, replies, stored-state snapshots.
//! * [`native`]: a native app's transport (no cookies, no Origin, `Authorization`).
//! * [`passkey`]: passkey-rs, the independent authenticator of the happy paths, with forging
//!   on top of its real credentials.
//! * [`bapi`]: the app's server calling the Backend API.
//! * [`jwt`]: session tokens verified against the JWKS.
//! * [`scene`]: people with passkeys on a running server, the usual starting point.

pub mod cbor;
pub mod webauthn;

#[cfg(feature = "process")]
pub mod process;

#[cfg(feature = "fapi")]
pub mod bapi;
#[cfg(feature = "fapi")]
pub mod fapi;
#[cfg(feature = "fapi")]
pub mod jwt;
#[cfg(feature = "fapi")]
pub mod native;
#[cfg(feature = "fapi")]
pub mod passkey;
#[cfg(feature = "fapi")]
pub mod scene;
