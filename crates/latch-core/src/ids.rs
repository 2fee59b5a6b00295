//! Identifiers in Clerk's style: a type prefix, an underscore, then random base62.
//!
//! The prefix lets a reader (and a log search) tell a session from a passkey at a glance;
//! the random part (160 bits) makes ids unguessable, so knowing an id grants nothing.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 27; // 27 base62 chars ≈ 160 bits

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
        }
    }
}

pub fn new_id(kind: IdKind) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(kind.prefix().len() + 1 + RANDOM_LEN);
    id.push_str(kind.prefix());
    id.push('_');
    for _ in 0..RANDOM_LEN {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

/// True when `id` could have come from [`new_id`] for `kind`. Used to answer malformed ids
/// with "not found" before touching storage.
pub fn looks_like(kind: IdKind, id: &str) -> bool {
    match id.strip_prefix(kind.prefix()).and_then(|rest| rest.strip_prefix('_')) {
        Some(random) => random.len() == RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric()),
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
        let a = new_id(IdKind::Passkey);
        let b = new_id(IdKind::Passkey);
        assert!(a.starts_with("pkey_"));
        assert_ne!(a, b);
        assert!(looks_like(IdKind::Passkey, &a));
        assert!(!looks_like(IdKind::Session, &a));
        assert!(!looks_like(IdKind::Passkey, "pkey_short"));
        assert!(!looks_like(IdKind::Passkey, "pkey_../../etc/passwd......."));
    }
}
