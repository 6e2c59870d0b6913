//! HS256 secrets: one, a rotation list, or a file re-read on change; never printed.

use std::fmt;
use std::path::Path;

use super::ConfigError;

/// Shortest secret accepted: RFC 7518 §3.2 wants a key as long as the hash output (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
/// Better Auth's built-in development secret; Better Auth itself refuses it in production.
pub(crate) const BETTER_AUTH_DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// Key bytes that never appear in `Debug` output and are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The raw key bytes (the UTF-8 bytes of the variable, as Better Auth uses them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The HS256 keys: the current one signs (`mint`), all verify. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSet {
    /// The secret new tokens are signed with.
    pub current: Secret,
    /// Earlier secrets still accepted during a rotation.
    pub previous: Vec<Secret>,
}

impl SecretSet {
    /// All secrets, current first.
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    fn from_vec(var: &'static str, mut secrets: Vec<Secret>) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::Invalid {
                var,
                reason: "must not be empty".into(),
            });
        }
        let current = secrets.remove(0);
        Ok(SecretSet {
            current,
            previous: secrets,
        })
    }
}

/// Reads a secret file: one secret per line, current first (a rotation puts the new secret
/// on the first line and keeps the old one below it until old tokens have expired).
/// Blank lines and trailing newlines are ignored.
pub fn read_secret_file(path: &Path) -> Result<SecretSet, ConfigError> {
    let var = super::declare::SECRET_FILE.name;
    let bytes = std::fs::read(path).map_err(|source| ConfigError::SecretFile {
        var,
        path: path.to_owned(),
        source,
    })?;
    let bytes = zeroize::Zeroizing::new(bytes);
    let secrets = bytes
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| validate_secret(var, line.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    SecretSet::from_vec(var, secrets)
}

pub(super) fn secrets(
    value: Option<String>,
    list: Option<String>,
    file: Option<&Path>,
) -> Result<SecretSet, ConfigError> {
    match (value, list, file) {
        (Some(v), None, None) => SecretSet::from_vec(super::declare::SECRET.name, vec![validate_secret(super::declare::SECRET.name, v.into_bytes())?]),
        (None, Some(list), None) => {
            let var = super::declare::SECRETS.name;
            let secrets = list
                .split(',')
                .map(|entry| {
                    // Better Auth's own format is "version:secret"; a bare secret is fine too.
                    let secret = match entry.split_once(':') {
                        Some((version, secret)) if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) => secret,
                        _ => entry,
                    };
                    validate_secret(var, secret.as_bytes().to_vec())
                })
                .collect::<Result<Vec<_>, _>>()?;
            SecretSet::from_vec(var, secrets)
        }
        (None, None, Some(path)) => read_secret_file(path),
        (None, None, None) => Err(ConfigError::Missing { var: super::declare::SECRET.name }),
        _ => Err(ConfigError::Invalid {
            var: super::declare::SECRET.name,
            reason: "set only one of BETTER_AUTH_SECRET, BETTER_AUTH_SECRETS and BETTER_AUTH_SECRET_FILE".into(),
        }),
    }
}

fn validate_secret(var: &'static str, bytes: Vec<u8>) -> Result<Secret, ConfigError> {
    let secret = Secret(bytes);
    let reason = if secret.0.is_empty() {
        "must not be empty".to_owned()
    } else if secret.0.iter().all(u8::is_ascii_whitespace) {
        // Long enough, but no key: usually a template's placeholder or a broken substitution.
        "is only white space; generate one with `openssl rand -base64 32`".to_owned()
    } else if secret.0.len() < MIN_SECRET_BYTES {
        format!(
            "must be at least {MIN_SECRET_BYTES} bytes (got {}); generate one with `openssl rand -base64 32`",
            secret.0.len()
        )
    } else if secret.0 == BETTER_AUTH_DEFAULT_SECRET.as_bytes() {
        "is Better Auth's public default secret; generate a real one".to_owned()
    } else {
        return Ok(secret);
    };
    Err(ConfigError::Invalid { var, reason })
}

/// What one look at the secret file found.
#[derive(Debug)]
pub enum Reload {
    /// The same secrets as those in force.
    Unchanged,
    /// New secrets are in force (this many).
    Applied(usize),
    /// The file could not be read or held an invalid secret; the previous secrets stay.
    /// The error carries lengths and the path, never secret bytes.
    Refused(ConfigError),
}

/// Re-reads the secret file and, if it changed and is valid, swaps `verifier`'s keys and
/// `current`. Kubernetes updates a mounted Secret by swapping a symlink, so a read sees either
/// the old or the new file, never half of one. Every host reloads through this one function.
pub fn reload_secret_file(
    path: &Path,
    verifier: &crate::verify::Verifier,
    current: &mut SecretSet,
) -> Reload {
    match read_secret_file(path) {
        Ok(secrets) if secrets == *current => Reload::Unchanged,
        Ok(secrets) => {
            let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose()).collect();
            verifier.replace_secrets(&keys);
            let n = keys.len();
            *current = secrets;
            Reload::Applied(n)
        }
        Err(e) => Reload::Refused(e),
    }
}
