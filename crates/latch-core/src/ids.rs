//! Identifiers in Clerk's style: a type prefix, an underscore, then base62: the creation time
//! in milliseconds (8 characters) and 19 random characters (113 bits).
//!
//! The prefix lets a reader (and a log search) tell a session from a passkey at a glance;
//! the random part makes ids unguessable, so knowing an id grants nothing. The time comes
//! first so that ids sort by creation, like Clerk's: a new row's primary key lands at the
//! right edge of its index instead of on a random page of it. With random ids, a database of
//! a million users dirtied (and checkpointed) pages all over the file on every sign-in
//! (BENCHMARKS.md, "A million users").

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Base62 characters after the prefix: time, then randomness.
const ID_LEN: usize = TIME_LEN + RANDOM_LEN;
/// 62^8 ms reaches past the year 8000.
const TIME_LEN: usize = 8;
const RANDOM_LEN: usize = 19; // 19 × log2(62) ≈ 113 bits

/// The kinds of object Latch hands out ids for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    Passkey,
    Client,
    Session,
    SignIn,
    SignUp,
    Environment,
    Trace,
    /// A Backend API secret key's record (the key itself is `sk_live_…`, never an id).
    SecretKey,
    /// A sign-in token: a ticket an operator or the app's server issues for one user.
    SignInToken,
    /// A session's reverification (docs/protocol.md §16).
    SessionVerification,
    /// A webhook event (`svix-id`): the same on every delivery and replay of the event.
    WebhookMessage,
    /// A webhook endpoint an operator added.
    WebhookEndpoint,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "user",
            IdKind::Passkey => "pkey",
            IdKind::Client => "client",
            IdKind::Session => "sess",
            IdKind::SignIn => "sia",
            IdKind::SignUp => "sua",
            IdKind::Environment => "env",
            IdKind::Trace => "trace",
            IdKind::SecretKey => "ak",
            IdKind::SignInToken => "sit",
            IdKind::SessionVerification => "sver",
            IdKind::WebhookMessage => "msg",
            IdKind::WebhookEndpoint => "whe",
        }
    }
}

/// A new id of `kind`, created at `now` (ms since the epoch; the caller's clock, like every
/// time the core sees).
pub fn new_id(kind: IdKind, now: crate::model::Millis) -> String {
    new_id_at(kind, u64::try_from(now).unwrap_or(0))
}

fn new_id_at(kind: IdKind, millis: u64) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(kind.prefix().len() + 1 + ID_LEN);
    id.push_str(kind.prefix());
    id.push('_');
    // Fixed width, most significant digit first: the alphabet is in ASCII order, so ids
    // compare as their times do.
    let mut time = [b'0'; TIME_LEN];
    let mut rest = millis;
    for digit in time.iter_mut().rev() {
        *digit = ALPHABET[(rest % 62) as usize];
        rest /= 62;
    }
    id.extend(time.iter().map(|&b| b as char));
    for _ in 0..RANDOM_LEN {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

/// True when `id` could have come from [`new_id`] for `kind`. Used to answer malformed ids
/// with "not found" before touching storage.
pub fn looks_like(kind: IdKind, id: &str) -> bool {
    match id.strip_prefix(kind.prefix()).and_then(|rest| rest.strip_prefix('_')) {
        Some(rest) => rest.len() == ID_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        None => false,
    }
}

/// A random secret of 32 bytes, base64url: client tokens.
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_kind_and_are_distinct() {
        let a = new_id(IdKind::Passkey, 1_764_000_000_000);
        let b = new_id(IdKind::Passkey, 1_764_000_000_000);
        assert!(a.starts_with("pkey_"));
        assert_ne!(a, b);
        assert!(looks_like(IdKind::Passkey, &a));
        assert!(!looks_like(IdKind::Session, &a));
        assert!(!looks_like(IdKind::Passkey, "pkey_short"));
        assert!(!looks_like(IdKind::Passkey, "pkey_../../etc/passwd......."));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let earlier = new_id_at(IdKind::Session, 1_764_000_000_000);
        let later = new_id_at(IdKind::Session, 1_764_000_000_001);
        let much_later = new_id_at(IdKind::Session, 4_000_000_000_000);
        assert!(earlier < later && later < much_later, "{earlier} {later} {much_later}");
        assert!(looks_like(IdKind::Session, &much_later));
    }
}
