//! The records of the app's server half: Backend API secret keys, sign-in tokens (tickets),
//! and the metadata an app keeps on its users, with the rules that govern them.
//!
//! Secrets (a secret key, a ticket) are shown once, when made; only a SHA-256 of each is
//! kept. They are 256 random bits, so a plain hash is as strong as a slow one would be: no
//! dictionary or brute force reaches a 256-bit preimage, and a fast hash lets every Backend
//! API request look its key up by an index instead of trying each stored key.

use serde_json::{Map, Value};

use crate::ids::{IdKind, new_id, new_secret};
use crate::model::Millis;

/// A Backend API secret key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretKey {
    pub id: String,
    /// SHA-256 of the whole `sk_live_…` string.
    pub key_hash: Vec<u8>,
    /// The key's last four characters, to tell keys apart in a listing.
    pub hint: String,
    pub label: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

pub const SECRET_KEY_PREFIX: &str = "sk_live_";

impl SecretKey {
    /// A new secret key: the record to store and the key to show the operator, once.
    pub fn issue(label: &str, hash: impl Fn(&str) -> Vec<u8>, now: Millis) -> (SecretKey, String) {
        let key = format!("{SECRET_KEY_PREFIX}{}", new_secret());
        let hint = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let record = SecretKey {
            id: new_id(IdKind::SecretKey, now),
            key_hash: hash(&key),
            hint,
            label: label.to_string(),
            created_at: now,
            revoked_at: None,
        };
        (record, key)
    }
}

/// The publishable key an app's frontend and server use to find Latch: `pk_live_` and the
/// base64 of `<host>$`, where host is Latch's public host (with its port, if any). Clerk's
/// SDKs decode it to learn the Frontend API's host and check session tokens' `iss` against
/// `https://<host>`.
pub fn publishable_key(host: &str) -> String {
    use base64::Engine;
    format!("pk_live_{}", base64::engine::general_purpose::STANDARD.encode(format!("{host}$")))
}

/// Why Clerk's SDKs would refuse the publishable key for `host`, if they would. Their
/// `parsePublishableKey` (@clerk/shared `keys.ts`) wants the decoded host to contain a `.`, so
/// `localhost:8080` makes `<ClerkProvider>` and `clerkMiddleware()` fail at start, while a
/// dotted development name such as `clerk.latch.localhost` (which need not resolve when the
/// app reaches Latch through its own proxy) works.
pub fn publishable_host_refused_by_sdks(host: &str) -> Option<&'static str> {
    (!host.contains('.')).then_some(
        "Clerk's SDKs refuse a publishable key whose host has no dot: give Latch a dotted public URL \
         with --issuer (in development, e.g. https://clerk.latch.localhost)",
    )
}

/// How a sign-in token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    Pending,
    Accepted,
    Revoked,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Pending => "pending",
            TicketStatus::Accepted => "accepted",
            TicketStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => TicketStatus::Pending,
            "accepted" => TicketStatus::Accepted,
            "revoked" => TicketStatus::Revoked,
            _ => return None,
        })
    }
}

/// A sign-in token: redeemed once, before it expires, by a `ticket` sign-in as its user.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInToken {
    pub id: String,
    pub user_id: String,
    pub token_hash: Vec<u8>,
    pub status: TicketStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expire_at: Millis,
}

/// Clerk's default and longest lifetime of a sign-in token: 30 days.
pub const MAX_TICKET_LIFETIME_SECS: i64 = 30 * 24 * 3600;

impl SignInToken {
    /// A new token for `user_id`, valid `lifetime_secs`: the record and the ticket to hand
    /// out, once.
    pub fn issue(user_id: &str, lifetime_secs: i64, hash: impl Fn(&str) -> Vec<u8>, now: Millis) -> (SignInToken, String) {
        let ticket = new_secret();
        let record = SignInToken {
            id: new_id(IdKind::SignInToken, now),
            user_id: user_id.to_string(),
            token_hash: hash(&ticket),
            status: TicketStatus::Pending,
            created_at: now,
            updated_at: now,
            expire_at: now.saturating_add(lifetime_secs.saturating_mul(1000)),
        };
        (record, ticket)
    }

    /// Whether a sign-in may redeem it at `now`. The store's conditional write
    /// (`REDEEM_SIGN_IN_TOKEN`) holds the same rule against concurrent redemptions.
    pub fn is_redeemable(&self, now: Millis) -> bool {
        self.status == TicketStatus::Pending && now < self.expire_at
    }
}

/// The three metadata objects Clerk keeps on a user: `public` (the frontend reads it),
/// `private` (only the Backend API), `unsafe` (the user may write it).
#[derive(Debug, Clone, PartialEq)]
pub struct UserMetadata {
    pub public: Value,
    pub private: Value,
    pub unsafe_: Value,
}

impl Default for UserMetadata {
    fn default() -> Self {
        UserMetadata { public: Value::Object(Map::new()), private: Value::Object(Map::new()), unsafe_: Value::Object(Map::new()) }
    }
}

/// A metadata update: each object given is merged into its stored one ([`merge_metadata`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataPatch {
    pub public: Option<Value>,
    pub private: Option<Value>,
    pub unsafe_: Option<Value>,
}

impl MetadataPatch {
    pub fn apply(&self, to: &mut UserMetadata) {
        for (patch, stored) in [(&self.public, &mut to.public), (&self.private, &mut to.private), (&self.unsafe_, &mut to.unsafe_)] {
            if let Some(patch) = patch {
                merge_metadata(stored, patch);
            }
        }
    }
}

/// Clerk's metadata update: `patch` is merged into `into` at every level; a `null` in the
/// patch deletes the key; a non-object value replaces what was there.
pub fn merge_metadata(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(target), Value::Object(changes)) => {
            for (key, change) in changes {
                if change.is_null() {
                    target.remove(key);
                } else if change.is_object() && target.get(key).is_some_and(Value::is_object) {
                    if let Some(existing) = target.get_mut(key) {
                        merge_metadata(existing, change);
                    }
                } else {
                    target.insert(key.clone(), without_nulls(change));
                }
            }
        }
        (into, patch) => *into = without_nulls(patch),
    }
}

/// A new value as stored: nulls inside new objects delete nothing, so they are dropped.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_merges_deeply_and_null_deletes() {
        let mut stored = json!({"plan": "free", "prefs": {"theme": "dark", "lang": "en"}, "gone": 1});
        merge_metadata(&mut stored, &json!({"prefs": {"lang": "fr", "tz": null, "new": {"a": null, "b": 2}}, "gone": null, "n": 3}));
        assert_eq!(stored, json!({"plan": "free", "prefs": {"theme": "dark", "lang": "fr", "new": {"b": 2}}, "n": 3}));
        merge_metadata(&mut stored, &json!({"prefs": "flat"}));
        assert_eq!(stored["prefs"], json!("flat"), "a non-object replaces an object");
    }

    #[test]
    fn publishable_key_is_base64_of_host_and_dollar() {
        // backend.md §1.2's example.
        assert_eq!(publishable_key("latch.example.com"), "pk_live_bGF0Y2guZXhhbXBsZS5jb20k");
    }

    #[test]
    fn the_sdks_want_a_dot_in_the_publishable_host() {
        assert!(publishable_host_refused_by_sdks("localhost:8080").is_some());
        assert!(publishable_host_refused_by_sdks("localhost").is_some());
        assert!(publishable_host_refused_by_sdks("clerk.latch.localhost").is_none());
        assert!(publishable_host_refused_by_sdks("127.0.0.1:8080").is_none());
        assert!(publishable_host_refused_by_sdks("latch.example.com").is_none());
    }

    #[test]
    fn a_ticket_is_redeemable_once_and_before_it_expires() {
        let (token, ticket) = SignInToken::issue("user_a", 60, |t| t.as_bytes().to_vec(), 1_000);
        assert_eq!(token.token_hash, ticket.as_bytes());
        assert!(token.is_redeemable(60_999));
        assert!(!token.is_redeemable(61_000));
        assert!(!SignInToken { status: TicketStatus::Accepted, ..token }.is_redeemable(2_000));
    }

    #[test]
    fn a_secret_key_has_the_live_prefix_and_256_random_bits() {
        let (record, key) = SecretKey::issue("ci", |k| k.as_bytes().to_vec(), 0);
        assert!(key.starts_with("sk_live_") && key.len() == "sk_live_".len() + 43);
        assert!(key.ends_with(&record.hint) && record.hint.len() == 4);
    }
}
