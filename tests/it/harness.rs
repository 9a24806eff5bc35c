//! Helpers shared by the test modules: paths and running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (where `Cargo.toml` with `[workspace]` is).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// The built `dstack` binary.
pub fn dstack_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dstack"))
}

/// Runs `dstack ARGS` in the workspace root with colours off.
pub fn dstack(args: &[&str]) -> Output {
    Command::new(dstack_bin())
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("DSTACK_PROJECT_DIR")
        .output()
        .expect("dstack binary runs")
}

/// The corpus directory: `DSTACK_CORPUS` if set (to test another corpus),
/// else the copy in `tests/corpus`.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("DSTACK_CORPUS").map_or_else(|| root().join("tests/corpus"), PathBuf::from)
}

/// Files in `dir` (not recursive), sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `dstack ARGS` in `cwd` with colours off.
pub fn dstack_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(dstack_bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("DSTACK_PROJECT_DIR")
        .output()
        .expect("dstack binary runs")
}

/// A fresh, empty directory for one test (removed first if a previous run
/// left it).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dstack-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` (stdin closed) to its end, or kills it after `limit` and
/// fails the test: a command that hangs is the bug being tested for.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("command starts");
    let mut pipes = (child.stdout.take(), child.stderr.take());
    let readers = [
        pipes.0.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        pipes.1.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    });
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} hung for {limit:?} and was killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let [stdout, stderr] = readers.map(|r| r.join().expect("reader"));
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Makes a named pipe (FIFO) at `path`.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}
