//! Bearer API keys. Keys are held as SHA-256 digests and compared in constant time; they
//! are never logged. Clients that can only be given a URL (SandboxFusion's, OpenRLHF's
//! `--reward.remote_url`) put the key in it, `http://moj:KEY@host/...`, which HTTP clients send
//! as `Basic` credentials: the password is taken as the key. Scoring and reading need an API or
//! admin key; every change needs an admin key. With no key configured at all, auth is off
//! (loopback only, unless allowed).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::client::ClientId;
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

    /// Checks an `Authorization` header value against the role an endpoint needs; who the
    /// key's holder is (for fairness), `None` with auth off.
    pub fn authorize(
        &self,
        header: Option<&str>,
        needed: Role,
    ) -> Result<Option<ClientId>, Denied> {
        if !self.enabled() {
            return Ok(None);
        }
        let token = header
            .and_then(presented_key)
            .ok_or(Denied::Unauthenticated)?;
        let presented = digest(&token);
        let is_admin = any_matches(&self.admin, &presented);
        let is_api = any_matches(&self.api, &presented);
        let role = match (is_admin, is_api) {
            (true, _) => Role::Admin,
            (false, true) => Role::Scorer,
            (false, false) => return Err(Denied::Unauthenticated),
        };
        if role >= needed {
            Ok(Some(ClientId::of_key(&presented)))
        } else {
            Err(Denied::Forbidden)
        }
    }
}

/// The key in an `Authorization` value: `Bearer KEY`, or `Basic base64(user:KEY)`.
fn presented_key(header: &str) -> Option<String> {
    let (scheme, rest) = header.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_owned());
    }
    None
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
        let scorer = ClientId::of_key(&digest("scorer-key-1"));
        let admin = ClientId::of_key(&digest("admin-key-1"));
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
            Ok(Some(scorer))
        );
        assert_eq!(
            keys.authorize(Some("Bearer scorer-key-1"), Role::Admin),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            keys.authorize(Some("Bearer admin-key-1"), Role::Admin),
            Ok(Some(admin))
        );
        assert_eq!(
            keys.authorize(Some("Bearer admin-key-1"), Role::Scorer),
            Ok(Some(admin))
        );
    }

    #[test]
    fn a_key_in_the_url_arrives_as_basic_credentials() {
        use base64::Engine as _;
        let basic = |creds: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            )
        };
        let keys = keys(&["scorer-key-1"], &["admin-key-1"]);
        let scorer = ClientId::of_key(&digest("scorer-key-1"));
        assert_eq!(
            keys.authorize(Some(&basic("moj:scorer-key-1")), Role::Scorer),
            Ok(Some(scorer))
        );
        assert_eq!(
            keys.authorize(Some(&basic("moj:scorer-key-1")), Role::Admin),
            Err(Denied::Forbidden)
        );
        // The user name is not a key, and a wrong password is no key.
        assert_eq!(
            keys.authorize(Some(&basic("scorer-key-1:x")), Role::Scorer),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            keys.authorize(Some(&basic("scorer-key-1")), Role::Scorer),
            Err(Denied::Unauthenticated)
        );
    }

    #[test]
    fn no_keys_means_open() {
        assert_eq!(keys(&[], &[]).authorize(None, Role::Admin), Ok(None));
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
