//! `netsight top`: a live terminal view of the network per process (issue 6).
//!
//! The OS edges are injected so the UI is tested without root: a [`Source`]
//! of samples (the kernel probes, or fakes), the pure state in `app`, the
//! drawing in `view` (rendered to a test buffer in the snapshot tests), and
//! the real terminal in `terminal`.

mod app;
mod format;
mod history;
mod host;
mod source;
pub(crate) mod terminal;
mod view;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::cli::{parse_interval, ProcessFilter};
use crate::error::usage;
use crate::signals;
use app::{App, Config, SortKey};
use source::{LiveSource, Source};

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub procs: ProcessFilter,
    /// Seconds between refreshes (fractions allowed; + and - change it live).
    #[arg(short = 'i', long, default_value = "1", value_name = "SECS", value_parser = parse_interval)]
    pub interval: f64,
    /// Initial sort: traffic, pid, comm, rx, tx, conns, retrans, rtt-p50,
    /// rtt-p99, resets or cgroup.
    #[arg(long, default_value = "traffic", value_name = "KEY")]
    pub sort: String,
}

impl TopArgs {
    /// Checks what clap could not; a bad value is a usage error (exit 2).
    fn config(&self) -> anyhow::Result<Config> {
        let sort = SortKey::from_name(&self.sort).ok_or_else(|| {
            let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
            usage(format!(
                "--sort '{}': one of {}",
                self.sort,
                names.join(", ")
            ))
        })?;
        Ok(Config {
            interval_s: self.interval,
            procs: self.procs.clone(),
            sort,
        })
    }
}

pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    terminal::require_tty()?;
    // Probes load before the screen switches, so their errors print plainly.
    let mut source = LiveSource::start()?;
    signals::install();
    let mut app = App::new(config);
    let mut screen = terminal::TerminalGuard::enter()?;
    run_loop(&mut screen.terminal, &mut source, &mut app)
}

/// Longest wait for a key, so SIGTERM is noticed quickly.
const POLL: Duration = Duration::from_millis(100);

/// Samples every interval, redraws on change, handles keys; returns on `q`,
/// Ctrl-C or a stop signal.
fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    source: &mut dyn Source,
    app: &mut App,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut last_sample = Instant::now();
    let mut dirty = true;
    while !app.quit && !signals::stop_requested() {
        if dirty {
            terminal.draw(|f| view::draw(f, app))?;
            dirty = false;
            #[cfg(debug_assertions)]
            panic_if_asked();
        }
        let next_sample = last_sample + Duration::from_secs_f64(app.interval_s);
        let now = Instant::now();
        if now >= next_sample {
            app.apply(source.sample()?);
            last_sample = now;
            dirty = true;
            continue;
        }
        if event::poll((next_sample - now).min(POLL))? {
            // Take everything pending: a resize storm or key repeat costs one redraw.
            loop {
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => app.on_key(key),
                    _ => {}
                }
                if !event::poll(Duration::ZERO)? {
                    break;
                }
            }
            dirty = true;
        }
    }
    Ok(())
}

/// Debug builds only: lets the tmux test prove that a panic gives the
/// terminal back, unwinding (`=unwind`) and aborting (`=abort`, as release
/// builds do with `panic = "abort"`, where no `Drop` runs, only the hook).
#[cfg(debug_assertions)]
fn panic_if_asked() {
    extern "C" fn panic_without_unwinding() {
        panic!("NETSIGHT_TOP_TEST_PANIC=abort");
    }
    match std::env::var("NETSIGHT_TOP_TEST_PANIC").as_deref() {
        Ok("abort") => panic_without_unwinding(),
        Ok(_) => panic!("NETSIGHT_TOP_TEST_PANIC is set"),
        Err(_) => {}
    }
}
