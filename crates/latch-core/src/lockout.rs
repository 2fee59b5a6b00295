//! Lockout prevention (docs/protocol.md §21): which of their own passkeys a user may not
//! delete.
//!
//! A passkey-only account has no password to fall back on: deleting its last passkey leaves
//! only an operator's recovery ticket. A passkey is *synced* when its authenticator says it is
//! backed up (the BS flag, [`crate::model::Passkey::backup_state`]); a device-bound one is lost
//! with its device. The operator picks the rule; the store applies it inside the delete's own
//! transaction, so two concurrent deletes cannot both pass it.

use serde::Deserialize;

/// `--protect-last-passkey`: what a user's own delete (`passkey.delete()`) may not remove.
/// An operator's delete (Backend API, console) is never refused: it is how recovery works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastPasskeyProtection {
    /// Clerk's behaviour: any passkey may be deleted.
    #[default]
    Off,
    /// The user's only passkey may not be deleted.
    Last,
    /// Nor, while the user has one, their last synced passkey (they keep at least one
    /// passkey that survives losing a device).
    LastSynced,
}

impl LastPasskeyProtection {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "last" => Ok(Self::Last),
            "last-synced" => Ok(Self::LastSynced),
            other => Err(format!("{other:?} is not one of off, last, last-synced")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Last => "last",
            Self::LastSynced => "last-synced",
        }
    }

    /// Whether the user's only passkey is kept.
    pub fn keeps_last(self) -> bool {
        self != Self::Off
    }

    /// Whether the user's last synced passkey is kept too.
    pub fn keeps_last_synced(self) -> bool {
        self == Self::LastSynced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_back_from_its_name() {
        for rule in [LastPasskeyProtection::Off, LastPasskeyProtection::Last, LastPasskeyProtection::LastSynced] {
            assert_eq!(LastPasskeyProtection::parse(rule.as_str()), Ok(rule));
        }
        assert!(LastPasskeyProtection::parse("Last").is_err());
        assert!(LastPasskeyProtection::parse("").is_err());
    }
}
