//! What a host is: one POSIX `sh` script run in one exec round trip prints
//! facts as `key=value` lines, and a pure parser turns them into
//! [`HostFacts`] (architecture, CPUs, memory, free disk, NVIDIA GPUs,
//! Docker, root or passwordless sudo, systemd).

use std::fmt;
use std::time::Duration;

use dstack_ssh::{Session, SshError};

/// The CPU architecture of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arch {
    /// `x86_64` (also reported as `amd64`).
    X86_64,
    /// `aarch64` (also reported as `arm64`).
    Aarch64,
    /// Anything else, as `uname -m` printed it: dstack has no runner for it.
    Unsupported(String),
}

impl Arch {
    fn parse(machine: &str) -> Self {
        match machine {
            "x86_64" | "amd64" => Self::X86_64,
            "aarch64" | "arm64" => Self::Aarch64,
            other => Self::Unsupported(other.to_string()),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::X86_64 => f.write_str("x86_64"),
            Self::Aarch64 => f.write_str("aarch64"),
            Self::Unsupported(name) => f.write_str(name),
        }
    }
}

/// The vendor of a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuVendor {
    /// Reported by `nvidia-smi`.
    Nvidia,
}

/// One GPU of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Its vendor.
    pub vendor: GpuVendor,
    /// Its name as the vendor tool prints it (`NVIDIA A10G`).
    pub name: String,
    /// Its memory in MiB.
    pub memory_mib: u64,
}

/// Whether and how the login user can use Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Docker {
    /// `docker info` works for the user.
    Usable,
    /// `docker info` works through passwordless sudo only.
    WithSudo,
    /// The `docker` command exists but its daemon cannot be used.
    Unusable,
    /// No `docker` command.
    Absent,
}

/// Whether the login user can act as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The user is root.
    Root,
    /// `sudo -n true` works.
    PasswordlessSudo,
    /// Neither.
    None,
}

/// The facts about one host that preflight and offers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// `uname -m`.
    pub arch: Arch,
    /// Online CPUs.
    pub cpus: u32,
    /// `MemTotal` of `/proc/meminfo`, in MiB.
    pub memory_mib: u64,
    /// Free space on the install directory's filesystem (its nearest
    /// existing ancestor), in MiB.
    pub disk_free_mib: u64,
    /// GPUs, in the vendor tool's order.
    pub gpus: Vec<Gpu>,
    /// Docker for the login user.
    pub docker: Docker,
    /// Root or sudo.
    pub privilege: Privilege,
    /// `/run/systemd/system` exists.
    pub systemd: bool,
}

/// Why probe output could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeParseError {
    /// A fact is missing.
    Missing(&'static str),
    /// A fact has a value that does not parse.
    Invalid {
        /// The fact.
        key: &'static str,
        /// Its value.
        value: String,
    },
}

impl fmt::Display for ProbeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(key) => write!(f, "host probe printed no {key}"),
            Self::Invalid { key, value } => write!(f, "host probe printed {key}={value:?}"),
        }
    }
}

/// A failed probe: the transport failed or the output was unreadable.
#[derive(Debug, Clone)]
pub enum ProbeError {
    /// Running the script failed.
    Ssh(SshError),
    /// Its output did not parse.
    Parse(ProbeParseError),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ssh(e) => write!(f, "{e}"),
            Self::Parse(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// The probe script for an install directory `dir`.
pub fn script(dir: &str) -> String {
    let dir = shlex::try_quote(dir).map_or_else(|_| "/".into(), |q| q.into_owned());
    format!(
        r#"LC_ALL=C; export LC_ALL
echo "arch=$(uname -m)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
awk '/^MemTotal:/ {{ print "mem_kb=" $2 }}' /proc/meminfo
d={dir}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
df -Pk "$d" | awk 'NR == 2 {{ print "disk_free_kb=" $4 }}'
if [ "$(id -u)" = 0 ]; then echo privilege=root
elif sudo -n true >/dev/null 2>&1; then echo privilege=sudo
else echo privilege=none; fi
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
if ! command -v docker >/dev/null 2>&1; then echo docker=absent
elif docker info >/dev/null 2>&1; then echo docker=usable
elif sudo -n docker info >/dev/null 2>&1; then echo docker=sudo
else echo docker=unusable; fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null | sed 's/^/nvidia=/'
fi
echo end=1
"#
    )
}

/// Runs the probe over `session` (one exec) and parses its output.
pub async fn probe(
    session: &Session,
    dir: &str,
    timeout: Duration,
) -> Result<HostFacts, ProbeError> {
    let output = session
        .run(&script(dir), timeout)
        .await
        .map_err(ProbeError::Ssh)?;
    parse_facts(&output).map_err(ProbeError::Parse)
}

/// Parses the probe's `key=value` lines.
pub fn parse_facts(output: &str) -> Result<HostFacts, ProbeParseError> {
    let lines: Vec<(&str, &str)> = output
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let one = |key: &'static str| {
        lines
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
            .ok_or(ProbeParseError::Missing(key))
    };
    one("end")?;
    let gpus = lines
        .iter()
        .filter(|(k, _)| *k == "nvidia")
        .map(|(_, v)| parse_nvidia_line(v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HostFacts {
        arch: Arch::parse(one("arch")?),
        cpus: number("cpus", one("cpus")?)?,
        memory_mib: number::<u64>("mem_kb", one("mem_kb")?)? / 1024,
        disk_free_mib: number::<u64>("disk_free_kb", one("disk_free_kb")?)? / 1024,
        gpus,
        docker: parse_docker(one("docker")?)?,
        privilege: parse_privilege(one("privilege")?)?,
        systemd: one("systemd")? == "yes",
    })
}

fn number<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T, ProbeParseError> {
    value.parse().map_err(|_| ProbeParseError::Invalid {
        key,
        value: value.to_string(),
    })
}

fn parse_docker(value: &str) -> Result<Docker, ProbeParseError> {
    Ok(match value {
        "usable" => Docker::Usable,
        "sudo" => Docker::WithSudo,
        "unusable" => Docker::Unusable,
        "absent" => Docker::Absent,
        other => return Err(invalid("docker", other)),
    })
}

fn parse_privilege(value: &str) -> Result<Privilege, ProbeParseError> {
    Ok(match value {
        "root" => Privilege::Root,
        "sudo" => Privilege::PasswordlessSudo,
        "none" => Privilege::None,
        other => return Err(invalid("privilege", other)),
    })
}

fn invalid(key: &'static str, value: &str) -> ProbeParseError {
    ProbeParseError::Invalid {
        key,
        value: value.to_string(),
    }
}

/// One line of `nvidia-smi --query-gpu=name,memory.total
/// --format=csv,noheader,nounits`: `NVIDIA A10G, 23028`.
pub fn parse_nvidia_line(line: &str) -> Result<Gpu, ProbeParseError> {
    let (name, memory) = line
        .rsplit_once(',')
        .ok_or_else(|| invalid("nvidia", line))?;
    Ok(Gpu {
        vendor: GpuVendor::Nvidia,
        name: name.trim().to_string(),
        memory_mib: number("nvidia", memory.trim())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_A10G: &str = "arch=x86_64\ncpus=4\nmem_kb=16105772\ndisk_free_kb=52428800\n\
        privilege=root\nsystemd=no\ndocker=absent\nnvidia=NVIDIA A10G, 23028\nend=1\n";

    #[test]
    fn parses_a_root_host_with_one_gpu() {
        let facts = parse_facts(ROOT_A10G).unwrap();
        assert_eq!(facts.arch, Arch::X86_64);
        assert_eq!(facts.cpus, 4);
        assert_eq!(facts.memory_mib, 15728);
        assert_eq!(facts.disk_free_mib, 51200);
        assert_eq!(facts.privilege, Privilege::Root);
        assert_eq!(facts.docker, Docker::Absent);
        assert!(!facts.systemd);
        assert_eq!(
            facts.gpus,
            vec![Gpu {
                vendor: GpuVendor::Nvidia,
                name: "NVIDIA A10G".into(),
                memory_mib: 23028
            }]
        );
    }

    #[test]
    fn parses_eight_h100_lines() {
        let gpus = "nvidia=NVIDIA H100 80GB HBM3, 81559\n".repeat(8);
        let output = ROOT_A10G.replace("nvidia=NVIDIA A10G, 23028\n", &gpus);
        let facts = parse_facts(&output).unwrap();
        assert_eq!(facts.gpus.len(), 8);
        assert!(
            facts
                .gpus
                .iter()
                .all(|g| g.name == "NVIDIA H100 80GB HBM3" && g.memory_mib == 81559)
        );
    }

    #[test]
    fn other_architectures_are_unsupported() {
        assert_eq!(Arch::parse("aarch64"), Arch::Aarch64);
        assert_eq!(Arch::parse("riscv64"), Arch::Unsupported("riscv64".into()));
    }

    #[test]
    fn cut_off_output_is_an_error() {
        let cut = ROOT_A10G.replace("end=1\n", "");
        assert_eq!(parse_facts(&cut), Err(ProbeParseError::Missing("end")));
        let bad = ROOT_A10G.replace("cpus=4", "cpus=four");
        assert!(matches!(
            parse_facts(&bad),
            Err(ProbeParseError::Invalid { key: "cpus", .. })
        ));
    }

    #[test]
    fn nvidia_line_without_memory_is_an_error() {
        assert!(parse_nvidia_line("NVIDIA A10G").is_err());
        assert!(parse_nvidia_line("NVIDIA A10G, [N/A]").is_err());
    }
}
