//! Password hashing for storage: argon2id plus SCRAM keys (RFC 5802 §3, RFC 7677),
//! after SASLprep (RFC 4013).

use std::sync::Mutex;

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

use super::scram::{HashAlg, ct_eq, random_bytes};
use super::{AuthError, StoredCredentials};

/// Default PBKDF2 iteration count for new SCRAM keys (RFC 7677 §4 minimum, 4096).
pub const DEFAULT_SCRAM_ITERATIONS: u32 = 4096;

/// Smallest SCRAM iteration count [`hash_password`] accepts (RFC 7677 §4: 4096).
pub const MIN_SCRAM_ITERATIONS: u32 = 4096;

/// Length in bytes of the random SCRAM salts [`hash_password`] creates.
const SCRAM_SALT_LEN: usize = 16;

/// SASLprep (RFC 4013, "stored strings" profile) into a zeroising buffer.
fn prep(password: &str) -> Result<Zeroizing<String>, AuthError> {
    let prepped = stringprep::saslprep(password).map_err(AuthError::Saslprep)?;
    Ok(Zeroizing::new(prepped.into_owned()))
}

/// Computes everything stored for a new password.
///
/// `password` is normalised with SASLprep (RFC 4013), then hashed with argon2id (the
/// argon2 crate's default parameters, fresh random 16-byte salt, PHC string format) and
/// turned into SCRAM-SHA-1 (RFC 5802 §3) and SCRAM-SHA-256 (RFC 7677) `StoredKey` /
/// `ServerKey`, each with its own fresh 16-byte random salt and `scram_iterations`
/// PBKDF2 iterations. Intermediate secrets are zeroised on drop.
///
/// This is CPU- and memory-heavy (argon2id: 19 MiB, plus 2 × `scram_iterations` HMACs);
/// call it on a blocking thread.
///
/// # Errors
/// - [`AuthError::Saslprep`]: the password contains prohibited characters.
/// - [`AuthError::EmptyPassword`]: the prepared password is empty.
/// - [`AuthError::IterationsTooLow`]: `scram_iterations` < [`MIN_SCRAM_ITERATIONS`].
/// - [`AuthError::Random`], [`AuthError::Argon2`], [`AuthError::Hmac`]: internal failures.
pub fn hash_password(
    password: &str,
    scram_iterations: u32,
) -> Result<StoredCredentials, AuthError> {
    if scram_iterations < MIN_SCRAM_ITERATIONS {
        return Err(AuthError::IterationsTooLow(scram_iterations));
    }
    let prepped = prep(password)?;
    if prepped.is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    let mut argon_salt = [0u8; 16];
    random_bytes(&mut argon_salt).map_err(AuthError::Random)?;
    let argon2_hash = Argon2::default()
        .hash_password_with_salt(prepped.as_bytes(), &argon_salt)
        .map_err(AuthError::Argon2)?
        .to_string();

    let scram = |alg: HashAlg| {
        let mut salt = [0u8; SCRAM_SALT_LEN];
        random_bytes(&mut salt).map_err(AuthError::Random)?;
        alg.derive_keys(prepped.as_bytes(), &salt, scram_iterations)
            .ok_or(AuthError::Hmac)
    };
    Ok(StoredCredentials {
        argon2_hash,
        scram_sha1: scram(HashAlg::Sha1)?,
        scram_sha256: scram(HashAlg::Sha256)?,
    })
}

/// Largest argon2 memory accepted from a stored hash, in 1 KiB blocks (256 MiB):
/// a hash asking for more does not verify.
pub const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// Checks `password` (as received in SASL PLAIN, RFC 4616) against the stored argon2id
/// hash, after SASLprep (RFC 4013).
///
/// Returns `false` for a wrong password, a password SASLprep rejects, or an unparsable
/// stored hash. Uses the parameters recorded in the PHC string. CPU- and memory-heavy
/// (19 MiB for the default parameters, allocated and freed here): call it on a blocking
/// thread, or use a [`PasswordVerifier`], which reuses a bounded set of buffers.
pub fn verify_password(creds: &StoredCredentials, password: &str) -> bool {
    verify_password_in(creds, password, &mut Vec::new())
}

/// [`verify_password`] with `memory` as argon2's working memory: grown to the number of
/// 1 KiB blocks the stored parameters need (`m=`, at most [`MAX_ARGON2_BLOCKS`]),
/// wiped after use and left allocated for the next call.
pub fn verify_password_in(
    creds: &StoredCredentials,
    password: &str,
    memory: &mut Vec<Block>,
) -> bool {
    let Ok(prepped) = prep(password) else {
        return false;
    };
    let Ok(hash) = PasswordHash::new(&creds.argon2_hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let Some(mem) = memory.get_mut(..blocks) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let computed = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(prepped.as_bytes(), salt.as_ref(), &mut out, &mut *mem)
        .is_ok();
    mem.fill(Block::new());
    computed && ct_eq(&out, expected.as_bytes())
}

/// Verifies PLAIN passwords ([`verify_password_in`]) on Tokio's blocking pool, at most
/// `parallel` at once, each in one of at most `parallel` argon2 working memories that
/// are kept and reused: the memory of argon2 stays bounded (`parallel` × 19 MiB with
/// the default parameters) however many logins come, instead of every freed 19 MiB
/// block staying resident in the allocator.
pub struct PasswordVerifier {
    permits: tokio::sync::Semaphore,
    memory: Mutex<Vec<Vec<Block>>>,
}

impl PasswordVerifier {
    /// A verifier running at most `parallel` checks at once; `0` means the number of
    /// CPU cores (`std::thread::available_parallelism`).
    pub fn new(parallel: usize) -> PasswordVerifier {
        let n = if parallel == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            parallel
        };
        PasswordVerifier {
            permits: tokio::sync::Semaphore::new(n),
            memory: Mutex::new(Vec::new()),
        }
    }

    /// Checks `password` against `creds` ([`verify_password`]), waiting for a free slot
    /// first. `false` also when the check could not run.
    pub async fn verify(&self, creds: StoredCredentials, password: Zeroizing<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let mut memory = self
            .memory
            .lock()
            .ok()
            .and_then(|mut m| m.pop())
            .unwrap_or_default();
        let done = tokio::task::spawn_blocking(move || {
            let ok = verify_password_in(&creds, password.as_str(), &mut memory);
            (ok, memory)
        })
        .await;
        match done {
            Ok((ok, memory)) => {
                if let Ok(mut m) = self.memory.lock() {
                    m.push(memory);
                }
                ok
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let creds = hash_password("pencil", DEFAULT_SCRAM_ITERATIONS).unwrap();
        assert!(creds.argon2_hash.starts_with("$argon2id$v=19$"));
        assert!(verify_password(&creds, "pencil"));
        assert!(!verify_password(&creds, "pencil2"));
        assert!(!verify_password(&creds, ""));
        assert_eq!(creds.scram_sha1.salt.len(), 16);
        assert_eq!(creds.scram_sha256.salt.len(), 16);
        assert_ne!(creds.scram_sha1.salt, creds.scram_sha256.salt);
        assert_eq!(creds.scram_sha1.stored_key.len(), 20);
        assert_eq!(creds.scram_sha1.server_key.len(), 20);
        assert_eq!(creds.scram_sha256.stored_key.len(), 32);
        assert_eq!(creds.scram_sha256.server_key.len(), 32);
        assert_eq!(creds.scram_sha256.iterations, 4096);
        // Debug never shows hashes or keys.
        let dbg = format!("{creds:?} {:?}", creds.scram_sha1);
        assert!(!dbg.contains("argon2"), "{dbg}");
    }

    #[test]
    fn saslprep_applied() {
        // U+00A0 (non-ASCII space) maps to U+0020; U+00AD (soft hyphen) maps to nothing.
        let creds = hash_password("I\u{00AD}X a", DEFAULT_SCRAM_ITERATIONS).unwrap();
        assert!(verify_password(&creds, "IX\u{00A0}a"));
        assert!(verify_password(&creds, "IX a"));
        // Prohibited (control character U+0007).
        assert!(matches!(
            hash_password("a\u{0007}b", DEFAULT_SCRAM_ITERATIONS),
            Err(AuthError::Saslprep(_))
        ));
        assert!(!verify_password(&creds, "IX a\u{0007}"));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            hash_password("", DEFAULT_SCRAM_ITERATIONS),
            Err(AuthError::EmptyPassword)
        ));
        assert!(matches!(
            hash_password("\u{00AD}", DEFAULT_SCRAM_ITERATIONS),
            Err(AuthError::EmptyPassword)
        ));
        assert!(matches!(
            hash_password("x", 4095),
            Err(AuthError::IterationsTooLow(4095))
        ));
    }

    #[test]
    fn verify_garbage_hash() {
        let mut creds = hash_password("pencil", DEFAULT_SCRAM_ITERATIONS).unwrap();
        creds.argon2_hash = "not a hash".into();
        assert!(!verify_password(&creds, "pencil"));
        creds.argon2_hash = String::new();
        assert!(!verify_password(&creds, "pencil"));
    }

    #[test]
    fn verify_in_reused_memory() {
        let creds = hash_password("pencil", DEFAULT_SCRAM_ITERATIONS).unwrap();
        let mut mem = Vec::new();
        assert!(verify_password_in(&creds, "pencil", &mut mem));
        assert_eq!(mem.len(), 19 * 1024);
        assert!(!verify_password_in(&creds, "pencil2", &mut mem));
        assert!(verify_password_in(&creds, "pencil", &mut mem));
        assert_eq!(mem.len(), 19 * 1024);
    }
}
