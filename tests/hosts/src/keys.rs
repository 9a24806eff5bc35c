//! Key pairs made with the machine's `ssh-keygen`: the user keys tests log
//! in with and each host's host key.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd;
use crate::error::HarnessError;

/// The algorithm of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `ssh-ed25519`.
    Ed25519,
    /// `ssh-rsa`, 3072 bits.
    Rsa,
    /// `ecdsa-sha2-nistp256`.
    Ecdsa,
}

impl KeyKind {
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            Self::Ed25519 => &["-t", "ed25519"],
            Self::Rsa => &["-t", "rsa", "-b", "3072"],
            Self::Ecdsa => &["-t", "ecdsa", "-b", "256"],
        }
    }
}

/// A private key file and its public half.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key (OpenSSH format, mode 0600).
    pub private_path: PathBuf,
    /// The public key line, `ssh-ed25519 AAAA... comment`.
    pub public: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The algorithm.
    pub kind: KeyKind,
}

impl KeyPair {
    /// Generates `dir/name` (and `dir/name.pub`), replacing an older pair of
    /// that name. `passphrase` encrypts the private key.
    pub fn generate(
        dir: &Path,
        name: &str,
        kind: KeyKind,
        passphrase: Option<&str>,
    ) -> Result<Self, HarnessError> {
        let private_path = dir.join(name);
        for stale in [private_path.clone(), private_path.with_extension("pub")] {
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|e| HarnessError::io(&stale, e))?;
            }
        }
        cmd::run(
            Command::new("ssh-keygen")
                .args(kind.keygen_args())
                .args(["-q", "-N", passphrase.unwrap_or(""), "-C"])
                .arg(format!("dstack-testhosts-{name}"))
                .arg("-f")
                .arg(&private_path),
        )?;
        Self::read(private_path, kind)
    }

    /// Reads a pair generated earlier (`path` and `path.pub`).
    fn read(private_path: PathBuf, kind: KeyKind) -> Result<Self, HarnessError> {
        let public_path = PathBuf::from(format!("{}.pub", private_path.display()));
        let public = std::fs::read_to_string(&public_path)
            .map_err(|e| HarnessError::io(&public_path, e))?
            .trim()
            .to_owned();
        let fingerprint = fingerprint_of(&public_path)?;
        Ok(Self {
            private_path,
            public,
            fingerprint,
            kind,
        })
    }

    /// The public key without its comment: `ssh-ed25519 AAAA...`.
    pub fn public_openssh(&self) -> String {
        self.public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn fingerprint_of(public_path: &Path) -> Result<String, HarnessError> {
    let listed = cmd::run(Command::new("ssh-keygen").arg("-lf").arg(public_path))?;
    listed
        .stdout
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Command {
            command: format!("ssh-keygen -lf {}", public_path.display()),
            status: "exit 0".to_owned(),
            stderr: format!("no fingerprint in {:?}", listed.stdout),
        })
}
