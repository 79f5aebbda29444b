//! Who a request comes from, for fairness (admission slots and the sandbox queue are shared
//! out per client, so one client's flood cannot starve another's work): the API key it
//! presented, or, with auth off, its peer's IP address. Never an identity claimed in the
//! request itself (a header anyone can set would let a flooder pose as many clients).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// A client, as an opaque number (a hash: the key itself is never kept here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClientId(u64);

impl ClientId {
    /// Work with no request behind it (tests, internal runs) shares this one.
    pub const INTERNAL: ClientId = ClientId(0);

    /// The client that presented the key whose SHA-256 digest is `digest`.
    pub fn of_key(digest: &[u8; 32]) -> ClientId {
        ClientId::hashed(("key", digest))
    }

    /// The client at `ip` (any port: one host's connections are one client).
    pub fn of_peer(ip: IpAddr) -> ClientId {
        ClientId::hashed(("peer", ip))
    }

    /// Client number `n`, for tests.
    #[cfg(test)]
    pub fn numbered(n: u64) -> ClientId {
        ClientId(n)
    }

    fn hashed(what: impl Hash) -> ClientId {
        let mut hasher = DefaultHasher::new();
        what.hash(&mut hasher);
        // 0 is INTERNAL's.
        ClientId(hasher.finish().max(1))
    }
}

/// The peer address of a connection, put in each request's extensions by `connection.rs`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts_are_told_apart_and_ports_are_not() {
        let a = ClientId::of_key(&[1; 32]);
        assert_eq!(a, ClientId::of_key(&[1; 32]));
        assert_ne!(a, ClientId::of_key(&[2; 32]));
        let host: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(ClientId::of_peer(host), ClientId::of_peer(host));
        assert_ne!(
            ClientId::of_peer(host),
            ClientId::of_peer("10.0.0.8".parse().unwrap())
        );
        assert_ne!(ClientId::of_peer(host), ClientId::INTERNAL);
    }
}
