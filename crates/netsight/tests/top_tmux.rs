//! `netsight top` in a real terminal (tmux): it shows a process that is
//! sending, by pid, within seconds; survives a resize storm; and on `q` or
//! SIGTERM gives the terminal back (alternate screen off, cooked mode).
//! Needs root (the probes) and the `tmux` package; skips without them.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{netsight_bin, NetPair, Server};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A 200x50 window running a plain shell with a known prompt.
    fn start() -> Tmux {
        let tmux = Tmux {
            socket: format!("netsight-top-test-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "200",
            "-y",
            "50",
            "env PS1='shell$ ' sh",
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `line` literally, then Enter.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-t", "t", "-l", line]);
        self.run(&["send-keys", "-t", "t", "Enter"]);
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "t", key]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn format(&self, what: &str) -> String {
        self.run(&["display", "-p", "-t", "t", what])
            .trim()
            .to_string()
    }

    fn alternate_on(&self) -> bool {
        self.format("#{alternate_on}") == "1"
    }

    /// Polls the screen until `done` holds; the last screen on timeout.
    fn wait_for(&self, secs: u64, done: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid of the `netsight` child of `parent`, from /proc.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1;
        let ppid: u32 = tail.split_whitespace().nth(1)?.parse().ok()?;
        (comm == name && ppid == parent).then_some(pid)
    })
}

/// True when a table row starts with `pid` and names `comm`.
fn shows_process(screen: &str, pid: u32, comm: &str) -> bool {
    screen.lines().any(|l| {
        let mut f = l.trim_start_matches(['>', ' ']).split_whitespace();
        f.next() == Some(&pid.to_string()) && f.next() == Some(comm)
    })
}

/// Runs `netsight top` in the shell as run number `run` (with `env`
/// assignments in front); the shell prints `top-exit-RUN=STATUS` after it.
fn launch_top(tmux: &Tmux, run: u32, env: &str) {
    let bin = netsight_bin();
    tmux.type_line(&format!(
        "{env} {} top; echo top-exit-{run}=$?",
        bin.display()
    ));
}

/// Waits for run `run` to exit with `status`, then checks that the alternate
/// screen is off and the shell's terminal is back in cooked mode with echo.
fn assert_terminal_restored(tmux: &Tmux, run: u32, status: u8) {
    // Output lines only: the echoed command line holds `top-exit-RUN=$?`.
    let exit = format!("top-exit-{run}=");
    let screen = tmux
        .wait_for(10, |s| s.lines().any(|l| l.starts_with(&exit)))
        .unwrap_or_else(|s| panic!("top run {run} did not exit:\n{s}"));
    let expected = format!("{exit}{status}");
    assert!(
        screen.lines().any(|l| l.trim_end() == expected),
        "expected {expected}:\n{screen}"
    );
    assert!(!tmux.alternate_on(), "alternate screen still on:\n{screen}");
    tmux.type_line(&format!(
        "stty -a | tr ' ;' '\\n\\n' | grep -x -e -icanon -e icanon -e -echo -e echo \
         | tr '\\n' ,; echo modes-{run}"
    ));
    let modes = format!("icanon,echo,modes-{run}");
    tmux.wait_for(10, |s| s.lines().any(|l| l.trim_end() == modes))
        .unwrap_or_else(|s| panic!("terminal not back in cooked mode with echo:\n{s}"));
}

#[test]
fn top_shows_a_sender_by_pid_and_restores_the_terminal() {
    require_root!();
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let net = NetPair::new("top");
    let port = "5711";
    let target = format!("{}:{port}", NetPair::ADDR_B);
    let _server =
        Server::start(net.traffic(&net.b, &["tcp-serve", &format!("0.0.0.0:{port}"), "1"]));
    // `ip netns exec` execs the program, so the child's pid is the sender's.
    let sender = KillOnDrop(
        net.traffic(&net.a, &["hold", &target, "60"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn sender"),
    );
    let pid = sender.0.id();

    let tmux = Tmux::start();
    tmux.wait_for(10, |s| s.contains("shell$"))
        .unwrap_or_else(|s| panic!("no shell prompt:\n{s}"));
    launch_top(&tmux, 1, "");

    let started = Instant::now();
    let screen = tmux
        .wait_for(10, |s| shows_process(s, pid, "traffic"))
        .unwrap_or_else(|s| panic!("sender pid {pid} not shown within 10 s:\n{s}"));
    eprintln!("sender {pid} shown after {:?}", started.elapsed());
    assert!(screen.contains("netsight top │"), "{screen}");
    assert!(tmux.alternate_on(), "top should use the alternate screen");

    // A resize storm: top keeps drawing, and still quits cleanly afterwards.
    for i in 0..30 {
        let (w, h) = if i % 2 == 0 {
            ("90", "20")
        } else {
            ("200", "50")
        };
        tmux.run(&["resize-window", "-t", "t", "-x", w, "-y", h]);
    }
    tmux.run(&["resize-window", "-t", "t", "-x", "200", "-y", "50"]);
    tmux.wait_for(10, |s| shows_process(s, pid, "traffic"))
        .unwrap_or_else(|s| panic!("top stopped drawing after resizes:\n{s}"));

    // Drill-down and back, then quit with q.
    tmux.key("Enter");
    tmux.wait_for(10, |s| s.contains("connections ("))
        .unwrap_or_else(|s| panic!("no drill-down:\n{s}"));
    tmux.key("Escape");
    tmux.key("q");
    assert_terminal_restored(&tmux, 1, 0);

    // SIGTERM gives the terminal back too.
    launch_top(&tmux, 2, "");
    tmux.wait_for(10, |s| s.contains("netsight top │"))
        .unwrap_or_else(|s| panic!("top did not start again:\n{s}"));
    let shell: u32 = tmux.format("#{pane_pid}").parse().expect("pane pid");
    let netsight = child_named(shell, "netsight").expect("netsight under the shell");
    // SAFETY: kill with a pid we just found; at worst it is gone (ESRCH).
    unsafe { libc::kill(netsight as i32, libc::SIGTERM) };
    assert_terminal_restored(&tmux, 2, 0);

    // So does a panic, unwinding or aborting (release builds abort: only the
    // panic hook can restore there). The debug binary panics on request
    // after its first frame; 134 = killed by SIGABRT.
    if cfg!(debug_assertions) {
        launch_top(&tmux, 3, "NETSIGHT_TOP_TEST_PANIC=unwind RUST_BACKTRACE=0");
        assert_terminal_restored(&tmux, 3, 101);
        launch_top(&tmux, 4, "NETSIGHT_TOP_TEST_PANIC=abort RUST_BACKTRACE=0");
        assert_terminal_restored(&tmux, 4, 134);
    }
}

#[test]
fn top_without_a_terminal_points_to_stat() {
    let out = Command::new(netsight_bin())
        .arg("top")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run netsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("netsight stat"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn top_rejects_bad_arguments_with_status_2() {
    for args in [
        &["top", "-i", "0"][..],
        &["top", "--sort", "speed"],
        &["top", "--comm", "a-name-longer-than-15"],
        &["top", "-p", "0"],
        &["top", "-i", "soon"],
    ] {
        let out = Command::new(netsight_bin())
            .args(args)
            .output()
            .expect("run netsight");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}
