//! What a new instance runs at boot: a cloud-init shell script that
//! installs `dstack-runner` (unless the image has it), writes a systemd unit
//! and starts it, listening on [`RUNNER_PORT`] with a per-instance token.
//!
//! The runner token is derived from the create intent's idempotency token,
//! so an instance adopted after a crash gets the same token recomputed from
//! its `dstack:token` tag. Anyone who can read the instance's tags or user
//! data can derive it too; the runner port is therefore reachable only as
//! the managed security group allows (see `network`).

use sha2::{Digest, Sha256};

/// The port the runner listens on.
pub const RUNNER_PORT: u16 = 10999;

/// Where the runner keeps jobs.
pub const RUNNER_DIR: &str = "/var/lib/dstack-runner";

/// Default download location of the runner binary; `DSTACK_RUNNER_URL`
/// overrides it (`{arch}` becomes `x86_64` or `aarch64`).
pub const DEFAULT_RUNNER_URL: &str =
    "https://github.com/dstack-rs/dstack-rs/releases/latest/download/dstack-runner-linux-{arch}";

/// The runner token of an instance created under intent `token`.
pub fn runner_token(token: &str) -> String {
    let digest = Sha256::digest(format!("{token}:runner").as_bytes());
    hex::encode(&digest[..16])
}

/// The boot script. `extra` (the apply's own user data, if any) runs first,
/// from a file, so it cannot break the quoting of this script.
pub fn script(runner_token: &str, runner_url: &str, extra: Option<&str>) -> String {
    let mut out = String::from("#!/bin/bash\n# dstack: install and start the runner.\nset -eu\n");
    out.push_str(&format!("mkdir -p {RUNNER_DIR}\n"));
    if let Some(extra) = extra {
        out.push_str(&heredoc(&format!("{RUNNER_DIR}/setup.sh"), extra));
        out.push_str(&format!("bash {RUNNER_DIR}/setup.sh\n"));
    }
    out.push_str(&format!(
        "if ! command -v dstack-runner >/dev/null 2>&1; then\n  \
         url=\"{url}\"\n  url=\"${{url//\\{{arch\\}}/$(uname -m)}}\"\n  \
         curl -fsSL --retry 5 \"$url\" -o /usr/local/bin/dstack-runner\n  \
         chmod +x /usr/local/bin/dstack-runner\nfi\n",
        url = runner_url
    ));
    let unit = format!(
        "[Unit]\nDescription=dstack runner\nAfter=network-online.target\n\n[Service]\n\
         ExecStart=/usr/bin/env dstack-runner serve --listen 0.0.0.0:{RUNNER_PORT} \
         --token {runner_token} --dir {RUNNER_DIR}\nRestart=always\n\n[Install]\n\
         WantedBy=multi-user.target\n"
    );
    out.push_str(&heredoc("/etc/systemd/system/dstack-runner.service", &unit));
    out.push_str("systemctl daemon-reload\nsystemctl enable --now dstack-runner\n");
    out
}

/// `cat > PATH <<'MARKER' ... MARKER` with a marker not in `content`.
fn heredoc(path: &str, content: &str) -> String {
    let mut marker = String::from("DSTACK_EOF");
    while content.contains(&marker) {
        marker.push('_');
    }
    let newline = if content.ends_with('\n') { "" } else { "\n" };
    format!("cat > {path} <<'{marker}'\n{content}{newline}{marker}\n")
}

/// The script as EC2 wants it (base64).
pub fn encode(script: &str) -> String {
    aws_smithy_types::base64::encode(script.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_token_is_stable_per_intent_and_differs_between_intents() {
        assert_eq!(runner_token("dstk-a"), runner_token("dstk-a"));
        assert_ne!(runner_token("dstk-a"), runner_token("dstk-b"));
        assert_eq!(runner_token("dstk-a").len(), 32);
    }

    #[test]
    fn the_script_starts_the_runner_with_its_token_after_the_extra_setup() {
        let s = script("tok123", DEFAULT_RUNNER_URL, Some("echo DSTACK_EOF\n"));
        let setup = s
            .find("bash /var/lib/dstack-runner/setup.sh")
            .expect("setup runs");
        let start = s.find("systemctl enable --now").expect("runner starts");
        assert!(setup < start);
        assert!(s.contains("--token tok123 --dir /var/lib/dstack-runner"));
        assert!(
            s.contains("<<'DSTACK_EOF_'"),
            "marker must avoid the content"
        );
        assert!(s.starts_with("#!/bin/bash\n"));
    }
}
