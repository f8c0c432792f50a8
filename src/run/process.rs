//! Child pytest processes: spawning each in its own process group, and the
//! Ctrl-C handler that stops those groups and exits 130. Owns every signal
//! isoaudit sends; nothing else in the crate kills processes.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Process ids (= process group ids) of the running children.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The run's private directory, removed when interrupted.
static WORKDIR: Mutex<Option<PathBuf>> = Mutex::new(None);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<()> = OnceLock::new();

/// How long pytest gets to stop its workers after the forwarded Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

/// Installs the Ctrl-C handler once per process and remembers `workdir`.
pub fn guard(workdir: PathBuf) {
    if let Ok(mut slot) = WORKDIR.lock() {
        *slot = Some(workdir);
    }
    HANDLER.get_or_init(|| {
        // Another handler may already own the signal (an embedding program);
        // then children still get the terminal's Ctrl-C from their own group
        // leader only after isoaudit exits, which is the embedder's business.
        let _ = ctrlc::set_handler(on_interrupt);
    });
}

/// Forgets the work directory once the run has cleaned it up itself.
pub fn unguard() {
    if let Ok(mut slot) = WORKDIR.lock() {
        *slot = None;
    }
}

/// Runs `cmd` to completion in its own process group, so that xdist's
/// workers can be stopped with it, and a Ctrl-C is forwarded, not lost.
pub fn run(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        park();
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    if let Ok(mut children) = CHILDREN.lock() {
        children.push(pid);
    }
    let status = child.wait();
    if let Ok(mut children) = CHILDREN.lock() {
        children.retain(|p| *p != pid);
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        park();
    }
    status
}

/// The handler owns the exit once interrupted; the run must start nothing.
fn park() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn on_interrupt() {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        return;
    }
    eprintln!("\nisoaudit: interrupted, stopping pytest");
    signal_children(Signal::Interrupt);
    if !wait_for_children(GRACE) {
        signal_children(Signal::Kill);
        wait_for_children(Duration::from_secs(1));
    }
    let workdir = WORKDIR.lock().ok().and_then(|mut slot| slot.take());
    if let Some(dir) = workdir {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(130);
}

fn wait_for_children(limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if CHILDREN.lock().map(|c| c.is_empty()).unwrap_or(true) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[derive(Clone, Copy)]
enum Signal {
    Interrupt,
    Kill,
}

#[cfg(unix)]
fn signal_children(signal: Signal) {
    let signo = match signal {
        Signal::Interrupt => libc::SIGINT,
        Signal::Kill => libc::SIGKILL,
    };
    let groups: Vec<u32> = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    for pgid in groups {
        if let Ok(pgid) = i32::try_from(pgid) {
            // SAFETY: kill(2) with a negative pid signals that process group;
            // it touches no memory of this process.
            unsafe {
                libc::kill(-pgid, signo);
            }
        }
    }
}

#[cfg(not(unix))]
fn signal_children(_signal: Signal) {
    // Without process groups the console delivers Ctrl-C to every attached
    // process, children included.
}
