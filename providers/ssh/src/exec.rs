//! Running commands on a host: collected output with a timeout, a streaming
//! form, and the passwordless-sudo probe.

use std::time::Duration;

use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use tokio::sync::OwnedSemaphorePermit;

use crate::error::{ErrorKind, SshError};
use crate::session::Session;

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(u32),
    /// A signal ended it (`KILL`, `TERM`, ...).
    Signal(String),
    /// The host closed the channel without saying.
    Unknown,
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub status: ExitStatus,
}

impl ExecOutput {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.status == ExitStatus::Code(0)
    }

    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// One piece of a running command's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Bytes on standard output.
    Stdout(Vec<u8>),
    /// Bytes on standard error.
    Stderr(Vec<u8>),
    /// It ended; no event follows.
    Exit(ExitStatus),
}

/// A command running on a host (the streaming form of exec).
pub struct RemoteProcess {
    channel: ClosingChannel,
    session: Session,
    status: Option<ExitStatus>,
    finished: bool,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("host", &self.session.label())
            .field("finished", &self.finished)
            .finish()
    }
}

impl RemoteProcess {
    /// Starts `command` with the login user's shell.
    pub(crate) async fn start(session: &Session, command: &str) -> Result<Self, SshError> {
        let permit = session
            .inner
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| session.lost())?;
        let channel = open_session_channel(session).await?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| session.fail(e, ErrorKind::Channel))?;
        Ok(Self {
            channel: ClosingChannel {
                channel: Some(channel),
                closed: false,
            },
            session: session.clone(),
            status: None,
            finished: false,
            _permit: permit,
        })
    }

    /// Streams `reader` to the command's standard input (respecting the
    /// channel's flow control).
    pub async fn write_stdin<R>(&self, reader: R) -> Result<(), SshError>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        self.channel
            .data(reader)
            .await
            .map_err(|e| self.session.fail(e, ErrorKind::Channel))
    }

    /// Closes the command's standard input.
    pub async fn close_stdin(&self) -> Result<(), SshError> {
        self.channel
            .eof()
            .await
            .map_err(|e| self.session.fail(e, ErrorKind::Channel))
    }

    /// The next output or the exit; `None` after the exit.
    pub async fn next_event(&mut self) -> Result<Option<ExecEvent>, SshError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.channel.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    return Ok(Some(ExecEvent::Stdout(data.to_vec())));
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    return Ok(Some(ExecEvent::Stderr(data.to_vec())));
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    self.status = Some(ExitStatus::Code(exit_status));
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    self.status = Some(ExitStatus::Signal(signal_text(&signal_name)));
                }
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::new(self.session.label(), ErrorKind::Channel)
                        .with_detail("the host refused to run the command"));
                }
                Some(ChannelMsg::Close) | None => return self.finish(),
                Some(_) => {}
            }
        }
    }

    fn finish(&mut self) -> Result<Option<ExecEvent>, SshError> {
        self.finished = true;
        self.channel.closed = true;
        match self.status.take() {
            Some(status) => Ok(Some(ExecEvent::Exit(status))),
            None if self.session.is_closed() => Err(self.session.lost()),
            None => Ok(Some(ExecEvent::Exit(ExitStatus::Unknown))),
        }
    }

    /// Collects everything until the command ends.
    pub async fn wait_output(&mut self) -> Result<ExecOutput, SshError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            match self.next_event().await? {
                Some(ExecEvent::Stdout(bytes)) => stdout.extend(bytes),
                Some(ExecEvent::Stderr(bytes)) => stderr.extend(bytes),
                Some(ExecEvent::Exit(status)) => {
                    return Ok(ExecOutput {
                        stdout,
                        stderr,
                        status,
                    });
                }
                None => unreachable!("next_event yields Exit before None"),
            }
        }
    }

    /// Asks the host to kill the command and closes the channel (best
    /// effort: the connection may be gone, and OpenSSH ignores signal
    /// requests of root logins).
    pub async fn kill(&self) {
        let _ = self.channel.signal(Sig::KILL).await;
        let _ = self.channel.close().await;
    }
}

/// A session channel that is closed when dropped unfinished (russh closes
/// only streams on drop), so a cancelled call does not keep a session
/// open on the host, where it would count against `MaxSessions`.
struct ClosingChannel {
    channel: Option<Channel<Msg>>,
    /// The host closed it already: nothing to do on drop.
    closed: bool,
}

impl std::ops::Deref for ClosingChannel {
    type Target = Channel<Msg>;

    fn deref(&self) -> &Channel<Msg> {
        self.channel
            .as_ref()
            .expect("the channel is taken only when dropped")
    }
}

impl std::ops::DerefMut for ClosingChannel {
    fn deref_mut(&mut self) -> &mut Channel<Msg> {
        self.channel
            .as_mut()
            .expect("the channel is taken only when dropped")
    }
}

impl Drop for ClosingChannel {
    fn drop(&mut self) {
        let (Some(channel), Ok(runtime)) =
            (self.channel.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        if self.closed {
            return;
        }
        runtime.spawn(async move {
            let _ = channel.eof().await;
            let _ = channel.close().await;
        });
    }
}

/// Opens a session channel, waiting out a host at its `MaxSessions` limit:
/// sshd frees a finished session's slot a moment after closing its channel,
/// so a new session right behind may be refused ("no more sessions").
async fn open_session_channel(session: &Session) -> Result<Channel<Msg>, SshError> {
    const PATIENCE: Duration = Duration::from_secs(5);
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match session.inner.handle.channel_open_session().await {
            Ok(channel) => return Ok(channel),
            Err(russh::Error::ChannelOpenFailure(
                russh::ChannelOpenFailure::ConnectFailed
                | russh::ChannelOpenFailure::ResourceShortage,
            )) if started.elapsed() < PATIENCE && !session.is_closed() => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(error) => {
                return Err(session.fail(error, ErrorKind::Channel).with_detail(
                    "the host refused a new session (its sshd MaxSessions may be reached)",
                ));
            }
        }
    }
}

fn signal_text(signal: &Sig) -> String {
    match signal {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

impl Session {
    /// Starts `command` and returns it running, for streaming its output.
    pub async fn spawn(&self, command: &str) -> Result<RemoteProcess, SshError> {
        RemoteProcess::start(self, command).await
    }

    /// Runs `command` (standard input closed) and collects its output;
    /// fails with [`ErrorKind::Timeout`] if it runs longer than `timeout`.
    /// A timed-out command is sent SIGKILL and its channel closed; OpenSSH
    /// delivers the signal to non-root logins only, so a silent command of
    /// root may keep running (one that writes dies of SIGPIPE).
    pub async fn exec(&self, command: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let mut process = self.spawn(command).await?;
        process.close_stdin().await?;
        match tokio::time::timeout(timeout, process.wait_output()).await {
            Ok(result) => result,
            Err(_) => {
                process.kill().await;
                Err(SshError::new(self.label(), ErrorKind::Timeout(timeout))
                    .with_detail(format!("command: {command}")))
            }
        }
    }

    /// Runs `command` and returns its standard output; a non-zero exit is
    /// an [`ErrorKind::Remote`] error carrying its stderr.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<String, SshError> {
        let output = self.exec(command, timeout).await?;
        if output.success() {
            return Ok(output.stdout_text());
        }
        Err(
            SshError::new(self.label(), ErrorKind::Remote).with_detail(format!(
                "`{command}` ended with {:?}: {}",
                output.status,
                output.stderr_text().trim()
            )),
        )
    }

    /// Whether the login user may run `sudo` without a password
    /// (`sudo -n true`); root counts as yes.
    pub async fn has_passwordless_sudo(&self, timeout: Duration) -> Result<bool, SshError> {
        let output = self
            .exec("[ \"$(id -u)\" = 0 ] || sudo -n true", timeout)
            .await?;
        Ok(output.success())
    }
}
