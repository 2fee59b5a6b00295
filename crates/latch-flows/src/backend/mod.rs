//! The Backend API's actions: what an app's server (Clerk's `@clerk/backend`, holding a
//! secret key) may do, and what an operator does from the command line.
//!
//! - [`keys`]: the publishable key Latch's public URL makes, secret keys (create, list,
//!   revoke, and authenticating a request by one).
//! - [`users`]: get, list, count, delete a user; merge their metadata; their passkeys.
//! - [`sessions`]: list sessions, revoke one.
//! - [`sign_in_tokens`]: issue (and revoke) the tickets a `ticket` sign-in redeems.
//! - [`operators`]: who may call the Backend API (a secret key, or an operator's admin-console
//!   session token), the operator role (grant, revoke, list), and the reverification a
//!   destructive console action needs.
//! - [`operations`]: the Latch extensions the admin console reads: the audit trail, a user's
//!   passkeys in detail, webhook deliveries and their replay.
//!
//! Every change writes its audit line in its own transaction, as the user's actions do.
//! A Backend API request has no client and no session: its [`Requester`](crate::Requester)
//! carries only the caller's address and user agent, for the audit trail.

pub mod json;
pub mod keys;
pub mod operations;
pub mod operators;
pub mod sessions;
pub mod sign_in_tokens;
pub mod users;

/// How many records a listing gives when not told (Clerk's default) and at most.
pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 500;
