//! Occupants (XEP-0045 §5.1) and their XEP-0421 occupant ids.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use jid::{BareJid, FullJid};

use super::affiliation::Role;
use crate::xml::Element;

/// One occupant: a nick held by one real bare JID, possibly from several of its sessions
/// (each joined with the same nick).
#[derive(Debug, Clone)]
pub struct Occupant {
    /// The room nick (resourcepart of the occupant JID).
    pub nick: String,
    /// The real bare JID.
    pub bare: BareJid,
    /// The joined sessions, in join order (never empty while in the room).
    pub sessions: Vec<FullJid>,
    /// Current role.
    pub role: Role,
    /// The last presence's payload (`show`, `status`, `priority`, extensions), without
    /// MUC elements and without any client-supplied occupant id.
    pub payload: Vec<Element>,
    /// XEP-0421 occupant id.
    pub occupant_id: String,
}

/// The XEP-0421 occupant id of `real` in `room`: HMAC-SHA-256 over the room JID and the
/// real bare JID under the service secret, base64url without padding. Stable for a
/// user in a room (across nick changes, sessions and restarts), different between
/// rooms, and not reversible without the secret (XEP-0421 §4, §6).
pub fn occupant_id(secret: &[u8], room: &BareJid, real: &BareJid) -> String {
    let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(room.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(real.as_str().as_bytes());
    let out = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupant_ids_are_stable_and_distinct() {
        let room = BareJid::new("coven@chat.shakespeare.lit").unwrap();
        let other = BareJid::new("other@chat.shakespeare.lit").unwrap();
        let a = BareJid::new("hag66@shakespeare.lit").unwrap();
        let b = BareJid::new("crone1@shakespeare.lit").unwrap();
        let id = occupant_id(b"secret", &room, &a);
        assert_eq!(id, occupant_id(b"secret", &room, &a));
        assert_eq!(id.len(), 43);
        assert!(!id.contains('=') && !id.contains('+') && !id.contains('/'));
        assert_ne!(id, occupant_id(b"secret", &room, &b));
        assert_ne!(id, occupant_id(b"secret", &other, &a));
        assert_ne!(id, occupant_id(b"other secret", &room, &a));
        assert!(!id.contains("hag66"));
    }
}
