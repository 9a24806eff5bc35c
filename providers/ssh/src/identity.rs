//! Identity files: reading a private key and telling an encrypted or
//! unusable one apart from an unreadable one.

use std::path::Path;

use russh::keys::PrivateKey;

use crate::error::{ErrorKind, IdentityProblem, SshError};

/// Loads the unencrypted private key at `path` for logging in to `host`.
pub(crate) fn load(path: &Path, host: &str) -> Result<PrivateKey, SshError> {
    let fail = |problem| {
        SshError::new(
            host,
            ErrorKind::Identity {
                path: path.to_owned(),
                problem,
            },
        )
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(IdentityProblem::Unreadable).with_source(e))?;
    match russh::keys::decode_secret_key(&text, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(fail(IdentityProblem::Encrypted)),
        Err(other) if looks_encrypted(&text) => {
            Err(fail(IdentityProblem::Encrypted).with_source(other))
        }
        Err(other) => Err(fail(IdentityProblem::Invalid).with_source(other)),
    }
}

/// PEM keys say so in a header; OpenSSH keys name their cipher inside.
fn looks_encrypted(text: &str) -> bool {
    text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(contents: &str, expect: IdentityProblem) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        std::fs::write(&path, contents).unwrap();
        let problem = load(&path, "root@h:22").unwrap_err();
        assert_eq!(
            problem.kind(),
            &ErrorKind::Identity {
                path: path.clone(),
                problem: expect
            }
        );
    }

    #[test]
    fn unusable_files_are_told_apart() {
        check("not a key\n", IdentityProblem::Invalid);
        check(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            IdentityProblem::Encrypted,
        );
        let problem = load(Path::new("/nonexistent/id"), "root@h:22").unwrap_err();
        assert!(matches!(
            problem.kind(),
            ErrorKind::Identity {
                problem: IdentityProblem::Unreadable,
                ..
            }
        ));
    }
}
