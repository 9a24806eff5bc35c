//! Host keys: what a host presented, what a caller pinned, and comparing
//! them. Keys travel as OpenSSH public-key lines (`ssh-ed25519 AAAA...`).

use std::fmt;

use russh::keys::{HashAlg, PublicKey};

/// A host's public key.
#[derive(Debug, Clone)]
pub struct HostKey(PublicKey);

impl HostKey {
    /// Parses an OpenSSH public-key line (`ALGORITHM BASE64 [comment]`).
    pub fn parse(line: &str) -> Result<Self, String> {
        PublicKey::from_openssh(line.trim())
            .map(Self)
            .map_err(|e| format!("not an OpenSSH public key ({e}): {line:?}"))
    }

    pub(crate) fn from_public(key: PublicKey) -> Self {
        Self(key)
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The OpenSSH line without a comment, for recording.
    pub fn to_openssh(&self) -> String {
        let mut key = self.0.clone();
        key.set_comment("");
        key.to_openssh()
            .map(|line| line.trim().to_owned())
            .unwrap_or_else(|_| self.fingerprint())
    }

    /// The algorithm name, e.g. `ssh-ed25519`.
    pub fn algorithm(&self) -> String {
        self.0.algorithm().to_string()
    }
}

/// Two keys are the same key when their key material is (comments differ).
impl PartialEq for HostKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.key_data() == other.0.key_data()
    }
}

impl Eq for HostKey {}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_openssh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

    #[test]
    fn comments_do_not_make_a_different_key() {
        let plain = HostKey::parse(KEY).unwrap();
        let commented = HostKey::parse(&format!("{KEY} root@gpu-1")).unwrap();
        assert_eq!(plain, commented);
        assert_eq!(commented.to_openssh(), KEY);
        assert!(plain.fingerprint().starts_with("SHA256:"));
        assert_eq!(plain.algorithm(), "ssh-ed25519");
    }

    #[test]
    fn garbage_is_refused_with_the_input() {
        let problem = HostKey::parse("ssh-ed25519 not-base64").unwrap_err();
        assert!(problem.contains("not an OpenSSH public key"), "{problem}");
        assert!(problem.contains("not-base64"), "{problem}");
    }
}
