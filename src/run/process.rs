//! Child pytest processes: spawning each in its own process group, stopping
//! what tests left in that group, and the Ctrl-C/SIGTERM handler that stops
//! those groups and exits 130. Owns every signal
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

/// How one child ended, and whether processes it left in its group had to
/// be stopped.
pub struct Finished {
    pub status: ExitStatus,
    /// The command lines of processes still running in the child's process
    /// group after it exited (what a test started and nobody stopped); they
    /// were stopped. Sorted; empty where the platform cannot list them.
    pub stopped_leftovers: Vec<String>,
}

/// How often `run` looks at the child and calls `tick`.
const POLL: Duration = Duration::from_millis(100);

/// Runs `cmd` to completion in its own process group, so that xdist's
/// workers can be stopped with it, and a Ctrl-C or SIGTERM is forwarded, not
/// lost. Calls `tick` about every 100 ms while the child runs. Once the child
/// has exited, whatever is left in its group is stopped: nothing a test
/// started outlives the run.
pub fn run(cmd: &mut Command, tick: &mut dyn FnMut()) -> std::io::Result<Finished> {
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
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {
                tick();
                std::thread::sleep(POLL);
            }
            Err(e) => break Err(e),
        }
    };
    let stopped_leftovers = stop_group(pid);
    if let Ok(mut children) = CHILDREN.lock() {
        children.retain(|p| *p != pid);
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        park();
    }
    status.map(|status| Finished {
        status,
        stopped_leftovers,
    })
}

/// Stops what is left of process group `pgid` (TERM, then KILL after a
/// second); the command lines of what was left.
#[cfg(unix)]
fn stop_group(pgid: u32) -> Vec<String> {
    let Ok(pgid) = i32::try_from(pgid) else {
        return Vec::new();
    };
    // SAFETY: kill(2) on a process group touches no memory of this process;
    // signal 0 only checks that the group still has members.
    let alive = || unsafe { libc::kill(-pgid, 0) == 0 };
    // xdist's workers end a moment after pytest closes their channels.
    let start = Instant::now();
    while alive() && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !alive() {
        return Vec::new();
    }
    let mut left = group_members(pgid);
    if left.is_empty() {
        left.push("(a process in pytest's process group)".into());
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let start = Instant::now();
    while alive() && start.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive() {
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    left
}

/// The command lines of the live members of process group `pgid`, from
/// `/proc` (empty elsewhere).
#[cfg(unix)]
fn group_members(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(group)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        if *state == "Z" || group.parse::<i32>() != Ok(pgid) {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let text = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() {
            found.push(text);
        }
    }
    found.sort();
    found
}

#[cfg(not(unix))]
fn stop_group(_pgid: u32) -> Vec<String> {
    Vec::new()
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
    let groups: Vec<u32> = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    signal_groups(&groups, Signal::Interrupt);
    if !wait_for_children(GRACE) {
        signal_groups(&groups, Signal::Kill);
        wait_for_children(Duration::from_secs(1));
    }
    // pytest has exited; what its tests started may still run in its group.
    signal_groups(&groups, Signal::Kill);
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
fn signal_groups(groups: &[u32], signal: Signal) {
    let signo = match signal {
        Signal::Interrupt => libc::SIGINT,
        Signal::Kill => libc::SIGKILL,
    };
    for &pgid in groups {
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
fn signal_groups(_groups: &[u32], _signal: Signal) {
    // Without process groups the console delivers Ctrl-C to every attached
    // process, children included.
}
