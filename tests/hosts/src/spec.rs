//! What a test asks for: hosts, their users, Docker, GPUs, extra files, and
//! which host is reachable only through which.

use crate::gpu::GpuProfile;

/// A machine-global test user created by `.ci/ssh-up`; its home is private
/// to each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestUser {
    /// `dstack-sudo`: passwordless sudo.
    Sudo,
    /// `dstack-nosudo`: no sudo at all.
    NoSudo,
}

impl TestUser {
    /// Every test user.
    pub const ALL: [TestUser; 2] = [TestUser::Sudo, TestUser::NoSudo];

    /// The login name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sudo => "dstack-sudo",
            Self::NoSudo => "dstack-nosudo",
        }
    }
}

/// A file placed on a host's private file system before sshd starts.
#[derive(Debug, Clone)]
pub struct HostFile {
    /// Absolute path on the host; must lie in one of [`crate::PRIVATE_DIRS`].
    pub path: String,
    /// The contents.
    pub contents: Vec<u8>,
    /// Permission bits, e.g. `0o755`.
    pub mode: u32,
}

/// One host of a [`crate::HostSet`].
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub(crate) name: String,
    pub(crate) users: Vec<TestUser>,
    pub(crate) docker: bool,
    pub(crate) files: Vec<HostFile>,
    pub(crate) behind: Option<String>,
}

impl HostSpec {
    /// A host named `name` (also its hostname) that root can log in to with
    /// the set's user keys, without Docker, GPUs or other users.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            users: Vec::new(),
            docker: false,
            files: Vec::new(),
            behind: None,
        }
    }

    /// Lets `user` log in with the set's user keys (and gives it a home).
    pub fn user(mut self, user: TestUser) -> Self {
        if !self.users.contains(&user) {
            self.users.push(user);
        }
        self
    }

    /// Whether the host sees the machine's Docker engine (its socket and the
    /// `docker` client). Without it, neither exists on the host.
    pub fn docker(mut self, visible: bool) -> Self {
        self.docker = visible;
        self
    }

    /// Places a file on the host's private file system.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.files.push(HostFile {
            path: path.to_owned(),
            contents: contents.into(),
            mode,
        });
        self
    }

    /// Installs a stand-in `/usr/local/bin/nvidia-smi` printing the captured
    /// output of `profile`.
    pub fn gpus(self, profile: &GpuProfile) -> Self {
        self.file(
            "/usr/local/bin/nvidia-smi",
            profile.stand_in_script(),
            0o755,
        )
    }

    /// Makes the host reachable only through host `jump`: its network link
    /// peers into `jump`'s namespace, not the machine's.
    pub fn behind(mut self, jump: &str) -> Self {
        self.behind = Some(jump.to_owned());
        self
    }
}
