//! The shell a host runs for the install: POSIX `sh` scripts built as text
//! (pure functions, so what a host is asked to do is tested without one),
//! and the parser of the status script's `key=value` lines.
//!
//! Layout on a host, under [`Layout::dir`] (default `/opt/dstack-runner`):
//! `bin/dstack-runner` (the uploaded binary), `version` (its SHA-256),
//! `token` (the runner's bearer token, mode 0600, made by the runner),
//! `data/` (jobs, logs, archives; `data/runner.json` once it listens),
//! `runner.log`, and for the supervised service `supervise.sh`,
//! `supervise.pid`, `runner.pid`. The systemd service is
//! [`UNIT_PATH`].

use std::collections::BTreeMap;

/// Where systemd reads the runner's unit.
pub const UNIT_PATH: &str = "/etc/systemd/system/dstack-runner.service";
/// The unit's name.
pub const UNIT_NAME: &str = "dstack-runner.service";
/// The Docker label the runner puts on its containers (its id as value).
pub const CONTAINER_LABEL: &str = "dstack.runner";

/// Where the runner lives on a host and how it is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Install directory (absolute, no spaces needed but quoted anyway).
    pub dir: String,
    /// Loopback port the runner listens on.
    pub port: u16,
    /// Words between the binary and the serve flags: `["serve"]` for
    /// `dstack-runner`, `["runner", "serve"]` for the `dstack` binary.
    pub serve_args: Vec<String>,
}

impl Layout {
    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir.trim_end_matches('/'))
    }

    /// The installed binary.
    pub fn binary(&self) -> String {
        self.path("bin/dstack-runner")
    }

    /// The runner's data directory.
    pub fn data(&self) -> String {
        self.path("data")
    }

    /// The command line that serves, quoted for `sh`.
    pub fn serve_command(&self) -> String {
        let mut words = vec![self.binary()];
        words.extend(self.serve_args.iter().cloned());
        words.extend([
            "--dir".into(),
            self.data(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--token-file".into(),
            self.path("token"),
        ]);
        words.iter().map(|w| q(w)).collect::<Vec<_>>().join(" ")
    }
}

/// `word` quoted for `sh` (the layout's words never hold NUL).
pub fn q(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| "''".into(), |w| w.into_owned())
}

/// Prints `uid=`, `sudo=`, `systemd=`, `version=`, `alive=` lines; runs as
/// the login user (reads only world-readable files).
pub fn status(layout: &Layout) -> String {
    let d = q(&layout.dir);
    format!(
        r#"echo "uid=$(id -u)"
if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd=yes; else echo systemd=no; fi
echo "version=$(cat {d}/version 2>/dev/null)"
alive=no
if [ -f {unit} ] && systemctl is-active --quiet {name} 2>/dev/null; then alive=yes; fi
pid=$(cat {d}/supervise.pid 2>/dev/null)
if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then alive=yes; fi
echo "alive=$alive"
"#,
        unit = UNIT_PATH,
        name = UNIT_NAME,
    )
}

/// What the status script found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The login user is root.
    pub root: bool,
    /// Root, or `sudo -n` works.
    pub privileged: bool,
    /// systemd runs the host.
    pub systemd: bool,
    /// SHA-256 of the installed binary, if any.
    pub version: Option<String>,
    /// A runner service is up.
    pub alive: bool,
}

/// Parses the status script's output; `None` names the missing key.
pub fn parse_status(text: &str) -> Result<Status, String> {
    let map: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |key: &str| map.get(key).copied().ok_or_else(|| key.to_string());
    let yes = |key: &str| get(key).map(|v| v == "yes");
    Ok(Status {
        root: get("uid")? == "0",
        privileged: yes("sudo")?,
        systemd: yes("systemd")?,
        version: Some(get("version")?)
            .filter(|v| !v.is_empty())
            .map(String::from),
        alive: yes("alive")?,
    })
}

/// Puts the uploaded file at `staged` into place as the binary and records
/// `version`; clears the endpoint file so the next start is seen.
pub fn place_binary(layout: &Layout, staged: &str, version: &str) -> String {
    let (d, b) = (q(&layout.dir), q(&layout.binary()));
    format!(
        "set -e\nmkdir -p {d}/bin {data}\nchmod 0755 {d}\ncp {staged} {b}.new\nchmod 0755 {b}.new\n\
         mv -f {b}.new {b}\nrm -f {staged}\nprintf %s {v} > {d}/version\nrm -f {data}/runner.json\n",
        data = q(&layout.data()),
        staged = q(staged),
        v = q(version),
    )
}

/// The systemd unit: restarted when it exits, logs to `runner.log`.
pub fn unit(layout: &Layout) -> String {
    format!(
        "[Unit]\nDescription=dstack runner\nAfter=network.target docker.service\n\n\
         [Service]\nExecStart={cmd}\nRestart=always\nRestartSec=1\n\
         StandardOutput=append:{log}\nStandardError=append:{log}\n\n\
         [Install]\nWantedBy=multi-user.target\n",
        cmd = layout.serve_command(),
        log = layout.path("runner.log"),
    )
}

/// Writes the unit and (re)starts it.
pub fn start_systemd(layout: &Layout) -> String {
    format!(
        "set -e\nrm -f {data}/runner.json\ncat > {unit} <<'DSTACK_UNIT'\n{text}DSTACK_UNIT\n\
         systemctl daemon-reload\nsystemctl enable --quiet {name}\nsystemctl restart {name}\n",
        data = q(&layout.data()),
        unit = UNIT_PATH,
        text = unit(layout),
        name = UNIT_NAME,
    )
}

/// The supervisor: runs the runner, restarts it a second after it exits,
/// until `stop` exists; records its own pid and the runner's.
pub fn supervisor(layout: &Layout) -> String {
    let d = q(&layout.dir);
    format!(
        "#!/bin/sh\n# dstack runner supervisor (installed by dstack; removed by `dstack fleet delete`).\n\
         echo $$ > {d}/supervise.pid\nwhile [ ! -e {d}/stop ]; do\n  {cmd} &\n  echo $! > {d}/runner.pid\n  \
         wait $!\n  sleep 1\ndone\nrm -f {d}/supervise.pid {d}/runner.pid\n",
        cmd = layout.serve_command(),
    )
}

/// Writes the supervisor; when one runs, stops its runner (it starts the
/// new binary), else starts a supervisor that outlives the SSH session.
pub fn start_supervised(layout: &Layout) -> String {
    let d = q(&layout.dir);
    format!(
        "set -e\nrm -f {d}/stop {data}/runner.json\ncat > {d}/supervise.sh <<'DSTACK_SUPERVISE'\n{text}DSTACK_SUPERVISE\n\
         chmod 0755 {d}/supervise.sh\npid=$(cat {d}/supervise.pid 2>/dev/null || true)\n\
         if [ -n \"$pid\" ] && [ -d \"/proc/$pid\" ]; then\n  kill \"$(cat {d}/runner.pid)\" 2>/dev/null || true\n\
         else\n  setsid sh {d}/supervise.sh </dev/null >>{d}/runner.log 2>&1 &\nfi\n",
        data = q(&layout.data()),
        text = supervisor(layout),
    )
}

/// Prints `pid=` of the runner once `data/runner.json` names one that is
/// alive, else nothing.
pub fn endpoint_check(layout: &Layout) -> String {
    format!(
        "f={data}/runner.json\n[ -f \"$f\" ] || exit 0\n\
         pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' \"$f\")\n\
         [ -n \"$pid\" ] && [ -d \"/proc/$pid\" ] && echo \"pid=$pid\"\nexit 0\n",
        data = q(&layout.data()),
    )
}

/// The runner's token (made by the runner on its first start).
pub fn read_token(layout: &Layout) -> String {
    format!("cat {}", q(&layout.path("token")))
}

/// The last lines of the runner's log.
pub fn log_tail(layout: &Layout) -> String {
    format!(
        "tail -n 20 {} 2>/dev/null || true",
        q(&layout.path("runner.log"))
    )
}

/// Stops the service, the runner and its containers, removes every file;
/// prints `removed PATH` for each thing it removed.
pub fn uninstall(layout: &Layout) -> String {
    let d = q(&layout.dir);
    format!(
        "if [ -f {unit} ]; then\n  systemctl disable --now --quiet {name} 2>/dev/null || true\n  rm -f {unit}\n  \
         systemctl daemon-reload 2>/dev/null || true\n  echo removed {unit}\nfi\n\
         if [ -d {d} ]; then\n  touch {d}/stop\n  for f in supervise.pid runner.pid; do\n    \
         pid=$(cat {d}/$f 2>/dev/null || true)\n    [ -n \"$pid\" ] && kill \"$pid\" 2>/dev/null || true\n  done\n  \
         i=0\n  while [ $i -lt 50 ] && pid=$(cat {d}/runner.pid 2>/dev/null) && [ -d \"/proc/$pid\" ]; do sleep 0.2; i=$((i+1)); done\n  \
         [ -n \"$pid\" ] && kill -9 \"$pid\" 2>/dev/null || true\nfi\n\
         if command -v docker >/dev/null 2>&1; then\n  for c in $(docker ps -aq --filter label={label} 2>/dev/null); do\n    \
         docker rm -f \"$c\" >/dev/null 2>&1 && echo \"removed container $c\"\n  done\nfi\n\
         if [ -d {d} ]; then rm -rf {d} && printf 'removed %s\\n' {d}; fi\nexit 0\n",
        unit = UNIT_PATH,
        name = UNIT_NAME,
        label = CONTAINER_LABEL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            dir: "/opt/dstack-runner".into(),
            port: 10999,
            serve_args: vec!["serve".into()],
        }
    }

    #[test]
    fn the_runner_serves_on_loopback_with_its_token_file() {
        assert_eq!(
            layout().serve_command(),
            "/opt/dstack-runner/bin/dstack-runner serve --dir /opt/dstack-runner/data \
             --listen 127.0.0.1:10999 --token-file /opt/dstack-runner/token"
        );
    }

    #[test]
    fn the_unit_restarts_the_runner_and_logs_to_a_file() {
        let unit = unit(&layout());
        assert!(unit.contains("ExecStart=/opt/dstack-runner/bin/dstack-runner serve --dir"));
        assert!(unit.contains("Restart=always"));
        assert!(unit.contains("StandardOutput=append:/opt/dstack-runner/runner.log"));
        assert!(unit.contains("WantedBy=multi-user.target"));
    }

    #[test]
    fn status_lines_parse_and_a_missing_key_is_named() {
        let s = parse_status("uid=1000\nsudo=yes\nsystemd=no\nversion=\nalive=no\n").unwrap();
        assert_eq!(
            s,
            Status {
                root: false,
                privileged: true,
                systemd: false,
                version: None,
                alive: false
            }
        );
        let s = parse_status("uid=0\nsudo=yes\nsystemd=yes\nversion=abc\nalive=yes\n").unwrap();
        assert!(s.root && s.alive && s.version.as_deref() == Some("abc"));
        assert_eq!(parse_status("uid=0\nsudo=yes\n"), Err("systemd".into()));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        let l = Layout {
            dir: "/srv/my runner".into(),
            ..layout()
        };
        assert!(
            l.serve_command()
                .starts_with("'/srv/my runner/bin/dstack-runner' serve")
        );
        assert!(uninstall(&l).contains("rm -rf '/srv/my runner'"));
    }
}
