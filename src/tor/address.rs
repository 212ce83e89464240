//! The v3 onion address (rend-spec-v3 §6 \[ONIONADDRESS\]) and the offline creation of
//! the onion service's identity key.
//!
//! ```text
//! onion_address = base32(PUBKEY | CHECKSUM | VERSION) + ".onion"
//! CHECKSUM      = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2]
//! VERSION       = 0x03
//! ```
//! where `PUBKEY` is the 32-byte ed25519 identity key (`KP_hs_id`) and base32 is
//! RFC 4648 without padding, in lower case: 56 characters before `.onion`.

use std::path::Path;

use arti_client::{KeystoreSelector, TorClient};
use sha3::{Digest, Sha3_256};
use tor_rtcompat::PreferredRuntime;

use super::Error;
use crate::config::Config;

/// The version byte of v3 onion addresses.
const VERSION: u8 = 3;

/// The v3 onion address of the ed25519 public key `key` (rend-spec-v3 §6):
/// 56 lower-case base32 characters followed by `.onion` (62 characters in all).
pub fn onion_address_from_key(key: &[u8; 32]) -> String {
    let mut hasher = Sha3_256::new();
    hasher.update(b".onion checksum");
    hasher.update(key);
    hasher.update([VERSION]);
    let checksum = hasher.finalize();
    let mut bytes = Vec::with_capacity(35);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&checksum[..2]);
    bytes.push(VERSION);
    let mut s = base32_lower(&bytes);
    s.push_str(".onion");
    s
}

/// RFC 4648 §6 base32, lower case, without padding.
fn base32_lower(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The onion address (`<56 chars>.onion`) of the service configured in `config`,
/// whose Tor directory is `tor.state_dir` under `state_dir`. Creates the directories
/// (mode 0700) and the identity key (in Arti's keystore, `state/keystore/hss/
/// <nickname>/`) when they do not exist yet; otherwise reads the key. Never touches the
/// network: no bootstrap, no socket, no DNS.
///
/// Works whether or not `tor.enabled` is set, so the address can be known (and put in
/// `server.domains`) before the service is first started.
///
/// # Errors
/// [`Error::Dir`] if a directory cannot be created, [`Error::Config`] or
/// [`Error::Nickname`] for a configuration Arti rejects, [`Error::Client`] if Arti's
/// keystore cannot be opened (e.g. unsafe permissions), [`Error::Key`] if the key
/// cannot be created or read.
pub fn onion_address(config: &Config, state_dir: &Path) -> Result<String, Error> {
    let tor_dir = super::prepare_dir(config, state_dir)?;
    let client_config = super::arti_config::client_config(&tor_dir, None)?;
    let service_config = super::arti_config::service_config(&config.tor.onion_service)?;
    let service =
        TorClient::<PreferredRuntime>::create_onion_service(&client_config, service_config)
            .map_err(Error::Client)?;
    let hsid = service
        .generate_identity_key(KeystoreSelector::Primary)
        .map_err(|e| Error::Key(Box::new(e)))?;
    address_of(hsid)
}

/// The address of an Arti service identity, computed here and checked against
/// Arti's own rendering, so the address printed offline is the one Arti serves.
pub(super) fn address_of(hsid: arti_client::HsId) -> Result<String, Error> {
    use safelog::DisplayRedacted as _;
    let ours = onion_address_from_key(hsid.as_ref());
    if hsid.display_unredacted().to_string() != ours {
        return Err(Error::Internal(
            "onion address computation disagrees with Arti",
        ));
    }
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tor's own vector (`test_build_address`, src/test/test_hs_common.c): the
    /// RFC 8032 §7.1 TEST 1 public key.
    #[test]
    fn known_vector() {
        let key: [u8; 32] =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            onion_address_from_key(&key),
            "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
        );
        assert_eq!(
            address_of(arti_client::HsId::from(key)).unwrap(),
            "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
        );
    }

    #[test]
    fn agrees_with_arti_for_many_keys() {
        for i in 0..=255u8 {
            let key = [i; 32];
            let a = address_of(arti_client::HsId::from(key)).unwrap();
            assert_eq!(a.len(), 62);
            assert!(a.ends_with("d.onion"), "{a}"); // version 3 encodes as "d"
        }
    }

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, lower case, padding removed.
        for (input, want) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_lower(input.as_bytes()), want);
        }
    }

    fn test_config() -> Config {
        let mut c = Config::default();
        c.tor.state_dir = "t".into();
        c
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn key_is_created_once_and_address_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let c = test_config();
        let a = onion_address(&c, &state).unwrap();
        assert_eq!(a.len(), 62);
        let b = onion_address(&c, &state).unwrap();
        assert_eq!(a, b);

        let key_dir = state.join("t/state/keystore/hss/allium");
        let keys: Vec<_> = std::fs::read_dir(&key_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            keys.iter().any(|p| p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ks_hs_id")),
            "{keys:?}"
        );
        #[cfg(unix)]
        {
            assert_eq!(mode(&state.join("t")), 0o700);
            assert_eq!(mode(&state.join("t/state")), 0o700);
            for k in &keys {
                assert_eq!(mode(k) & 0o077, 0, "{k:?} is readable by others");
            }
            let mut d = key_dir.clone();
            while d != state {
                assert_eq!(mode(&d) & 0o077, 0, "{d:?} is open to others");
                d = d.parent().unwrap().to_path_buf();
            }
        }

        // Another nickname is another key, hence another address.
        let mut other = c.clone();
        other.tor.onion_service.nickname = "second".into();
        assert_ne!(onion_address(&other, &state).unwrap(), a);
        // Another Tor directory has its own key.
        let mut elsewhere = c;
        elsewhere.tor.state_dir = "u".into();
        assert_ne!(onion_address(&elsewhere, &state).unwrap(), a);
    }
}
