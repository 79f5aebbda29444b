//! Bearer API keys. Keys are held as SHA-256 digests and compared in constant time; they
//! are never logged. Scoring and reading need an API or admin key; every change needs an
//! admin key. With no key configured at all, auth is off (loopback only, unless allowed).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// May score and read.
    Scorer,
    /// May also create, change and delete.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No key, or a key that is not configured: 401.
    Unauthenticated,
    /// A valid key without the role the endpoint needs: 403.
    Forbidden,
}

pub struct Keys {
    api: Vec<[u8; 32]>,
    admin: Vec<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant time over every configured key: no early exit on a match.
fn any_matches(candidates: &[[u8; 32]], presented: &[u8; 32]) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for candidate in candidates {
        matched |= candidate.ct_eq(presented);
    }
    matched.into()
}

impl Keys {
    pub fn new(config: &AuthConfig) -> Keys {
        Keys {
            api: config.api_keys.iter().map(|k| digest(k)).collect(),
            admin: config.admin_keys.iter().map(|k| digest(k)).collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.api.is_empty() || !self.admin.is_empty()
    }

    /// Checks an `Authorization` header value against the role an endpoint needs.
    pub fn authorize(&self, header: Option<&str>, needed: Role) -> Result<(), Denied> {
        if !self.enabled() {
            return Ok(());
        }
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(Denied::Unauthenticated)?;
        let presented = digest(token);
        let is_admin = any_matches(&self.admin, &presented);
        let is_api = any_matches(&self.api, &presented);
        let role = match (is_admin, is_api) {
            (true, _) => Role::Admin,
            (false, true) => Role::Scorer,
            (false, false) => return Err(Denied::Unauthenticated),
        };
        if role >= needed {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(api: &[&str], admin: &[&str]) -> Keys {
        Keys::new(&AuthConfig {
            api_keys: api.iter().map(|s| s.to_string()).collect(),
            admin_keys: admin.iter().map(|s| s.to_string()).collect(),
            allow_unauthenticated: false,
        })
    }

    #[test]
    fn roles_and_denials() {
        let keys = keys(&["scorer-key-1"], &["admin-key-1"]);
        assert_eq!(
            keys.authorize(None, Role::Scorer),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            keys.authorize(Some("Bearer nope"), Role::Scorer),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            keys.authorize(Some("Basic scorer-key-1"), Role::Scorer),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            keys.authorize(Some("Bearer scorer-key-1"), Role::Scorer),
            Ok(())
        );
        assert_eq!(
            keys.authorize(Some("Bearer scorer-key-1"), Role::Admin),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            keys.authorize(Some("Bearer admin-key-1"), Role::Admin),
            Ok(())
        );
        assert_eq!(
            keys.authorize(Some("Bearer admin-key-1"), Role::Scorer),
            Ok(())
        );
    }

    #[test]
    fn no_keys_means_open() {
        assert_eq!(keys(&[], &[]).authorize(None, Role::Admin), Ok(()));
    }

    #[test]
    fn admin_keys_alone_still_protect_scoring() {
        let keys = keys(&[], &["admin-key-1"]);
        assert_eq!(
            keys.authorize(None, Role::Scorer),
            Err(Denied::Unauthenticated)
        );
    }
}
