//! The terminal in full-screen mode, always given back: on a normal exit or
//! an error (the guard's `Drop`), on a panic (a hook, which also covers
//! release builds where a panic aborts and no `Drop` runs), and on
//! SIGTERM/SIGINT (the run loop polls the stop flag and returns normally).

use std::io::{IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use anyhow::Context;
use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// True while the screen is ours to give back.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// A plain error (exit 1) when stdin or stdout is not a terminal.
pub fn require_tty() -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "netsight top needs a terminal (stdin and stdout must be a TTY); \
         for a report to a pipe or file use `netsight stat` (or `netsight stat --json`)"
    )
}

pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Raw mode, alternate screen, hidden cursor.
    pub fn enter() -> anyhow::Result<TerminalGuard> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, a failure restores what was already changed.
        let enter = || -> anyhow::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode().context("switching the terminal to raw mode")?;
            execute!(std::io::stdout(), EnterAlternateScreen, Hide)
                .context("entering the alternate screen")?;
            Terminal::new(CrosstermBackend::new(std::io::stdout()))
                .context("setting up the terminal")
        };
        match enter() {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor, ends raw mode; once, and
/// safe to call from a panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    // Best effort: if the terminal is gone there is nothing left to restore.
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
}
