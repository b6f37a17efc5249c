//! The state of the screen and everything a key press does to it. Pure:
//! no terminal, no kernel, so every behaviour here is unit-tested.

use std::cell::Cell;
use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::cli::ProcessFilter;
use crate::cmd::top::history::History;
use crate::cmd::top::source::{ConnRow, ProcRow, Sample};

/// What the process table can be sorted by: traffic (RX + TX) or a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Traffic,
    Pid,
    Comm,
    Rx,
    Tx,
    Conns,
    Retrans,
    RttP50,
    RttP99,
    Resets,
    Cgroup,
}

impl SortKey {
    /// The order `<` and `>` step through; columns in table order.
    pub const ALL: [SortKey; 11] = [
        SortKey::Traffic,
        SortKey::Pid,
        SortKey::Comm,
        SortKey::Rx,
        SortKey::Tx,
        SortKey::Conns,
        SortKey::Retrans,
        SortKey::RttP50,
        SortKey::RttP99,
        SortKey::Resets,
        SortKey::Cgroup,
    ];

    /// The name `--sort` takes and the status line shows.
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Traffic => "traffic",
            SortKey::Pid => "pid",
            SortKey::Comm => "comm",
            SortKey::Rx => "rx",
            SortKey::Tx => "tx",
            SortKey::Conns => "conns",
            SortKey::Retrans => "retrans",
            SortKey::RttP50 => "rtt-p50",
            SortKey::RttP99 => "rtt-p99",
            SortKey::Resets => "resets",
            SortKey::Cgroup => "cgroup",
        }
    }

    pub fn from_name(name: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Numbers read best biggest-first; names and pids in natural order.
    pub fn descending_by_default(self) -> bool {
        !matches!(self, SortKey::Pid | SortKey::Comm | SortKey::Cgroup)
    }

    /// Ascending order of two rows by this key.
    fn compare(self, a: &ProcRow, b: &ProcRow) -> Ordering {
        match self {
            SortKey::Traffic => a.traffic_bps().total_cmp(&b.traffic_bps()),
            SortKey::Pid => a.pid.cmp(&b.pid),
            SortKey::Comm => a.comm.cmp(&b.comm),
            SortKey::Rx => a.rx_bps.total_cmp(&b.rx_bps),
            SortKey::Tx => a.tx_bps.total_cmp(&b.tx_bps),
            SortKey::Conns => a.conns.cmp(&b.conns),
            SortKey::Retrans => a.retrans_ps.total_cmp(&b.retrans_ps),
            SortKey::RttP50 => a.rtt_p50_us.cmp(&b.rtt_p50_us),
            SortKey::RttP99 => a.rtt_p99_us.cmp(&b.rtt_p99_us),
            SortKey::Resets => a.resets_ps.total_cmp(&b.resets_ps),
            SortKey::Cgroup => a.cgroup.cmp(&b.cgroup),
        }
    }
}

/// Refresh periods `+` and `-` step through (seconds).
pub const INTERVAL_STEPS: [f64; 8] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// Validated command-line choices.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub interval_s: f64,
    /// Only these processes (`-p`, `--comm`).
    pub procs: ProcessFilter,
    pub sort: SortKey,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval_s: 1.0,
            procs: ProcessFilter::default(),
            sort: SortKey::Traffic,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Processes,
    /// Drill-down into one process's connections.
    Process(u32),
}

pub struct App {
    config: Config,
    pub interval_s: f64,
    /// The latest sample shown (already narrowed by `--pid`/`--comm`).
    pub sample: Sample,
    pub history: History,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    /// Keys go to the filter while it is being typed.
    pub editing_filter: bool,
    pub paused: bool,
    pub help: bool,
    pub screen: Screen,
    /// Followed by pid, so the selection stays on its process when rows move.
    pub selected_pid: Option<u32>,
    /// Lost events since start: shown even while paused, never hidden.
    pub lost_total: u64,
    pub quit: bool,
    /// Scroll position and visible rows of the table, kept by the renderer.
    pub table_offset: Cell<usize>,
    pub table_rows: Cell<usize>,
    /// First connection shown in the drill-down, and how many fit (the
    /// renderer clamps the one and sets the other).
    pub conn_offset: Cell<usize>,
    pub conn_rows: Cell<usize>,
}

impl App {
    pub fn new(config: Config) -> App {
        App {
            interval_s: config.interval_s,
            sort: config.sort,
            descending: config.sort.descending_by_default(),
            config,
            sample: Sample::default(),
            history: History::default(),
            filter: String::new(),
            editing_filter: false,
            paused: false,
            help: false,
            screen: Screen::Processes,
            selected_pid: None,
            lost_total: 0,
            quit: false,
            table_offset: Cell::new(0),
            table_rows: Cell::new(10),
            conn_offset: Cell::new(0),
            conn_rows: Cell::new(10),
        }
    }

    /// Takes a new interval's data. While paused the screen stays frozen
    /// (the data is dropped), but lost events still count.
    pub fn apply(&mut self, mut sample: Sample) {
        self.lost_total += sample.lost_events;
        if self.paused {
            return;
        }
        let procs = &self.config.procs;
        sample.processes.retain(|p| procs.matches(p.pid, &p.comm));
        let kept: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
        sample.connections.retain(|c| kept.contains(&c.pid));
        self.history.record(&sample.processes, sample.interval_s);
        self.sample = sample;
    }

    /// The table as shown: filtered by what was typed, sorted, ties by pid.
    pub fn visible_rows(&self) -> Vec<&ProcRow> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&ProcRow> = self
            .sample
            .processes
            .iter()
            .filter(|p| matches_filter(p, &needle))
            .collect();
        rows.sort_by(|a, b| {
            let by_key = self.sort.compare(a, b);
            let by_key = if self.descending {
                by_key.reverse()
            } else {
                by_key
            };
            by_key.then(a.pid.cmp(&b.pid))
        });
        rows
    }

    /// Index of the selected row in `rows`: the selected pid, else the first.
    pub fn selected_index(&self, rows: &[&ProcRow]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        let found = self
            .selected_pid
            .and_then(|pid| rows.iter().position(|r| r.pid == pid));
        Some(found.unwrap_or(0))
    }

    /// The process row of the drill-down, if it was in the last interval.
    pub fn process(&self, pid: u32) -> Option<&ProcRow> {
        self.sample.processes.iter().find(|p| p.pid == pid)
    }

    /// A process's sockets, busiest first.
    pub fn connections(&self, pid: u32) -> Vec<&ConnRow> {
        let mut conns: Vec<&ConnRow> = self
            .sample
            .connections
            .iter()
            .filter(|c| c.pid == pid)
            .collect();
        conns.sort_by(|a, b| {
            (b.tx_bytes + b.rx_bytes)
                .cmp(&(a.tx_bytes + a.rx_bytes))
                .then(a.local.cmp(&b.local))
                .then(a.remote.cmp(&b.remote))
        });
        conns
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
            self.quit = true;
            return;
        }
        if self.help {
            // Any key closes the help; `q` still quits.
            self.help = false;
            self.quit = key.code == KeyCode::Char('q');
            return;
        }
        if self.editing_filter {
            self.on_filter_key(key);
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.help = true,
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('+') | KeyCode::Char('=') => self.step_interval(1),
            KeyCode::Char('-') => self.step_interval(-1),
            _ if self.screen != Screen::Processes => self.on_details_key(key),
            KeyCode::Char('/') => self.editing_filter = true,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Enter | KeyCode::Right => self.open_selected(),
            KeyCode::Char('<') => self.step_sort(-1),
            KeyCode::Char('>') => self.step_sort(1),
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Char(d @ '0'..='9') => self.sort_by_column_key(d),
            _ => self.on_move_key(key.code),
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            // Bounded: a stuck key cannot grow it without limit.
            KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < 64 => {
                self.filter.push(c)
            }
            other => self.on_move_key(other),
        }
    }

    fn on_details_key(&mut self, key: KeyEvent) {
        let Screen::Process(pid) = self.screen else {
            return;
        };
        let page = self.conn_rows.get().max(1) as isize;
        let step = match key.code {
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Enter => {
                self.screen = Screen::Processes;
                return;
            }
            KeyCode::Up | KeyCode::Char('k') => -1,
            KeyCode::Down | KeyCode::Char('j') => 1,
            KeyCode::PageUp => -page,
            KeyCode::PageDown => page,
            KeyCode::Home | KeyCode::Char('g') => isize::MIN / 2,
            KeyCode::End | KeyCode::Char('G') => isize::MAX / 2,
            _ => return,
        };
        // Scrolls the connection list; the last page stays full.
        let last = self
            .connections(pid)
            .len()
            .saturating_sub(self.conn_rows.get());
        let at = self.conn_offset.get() as isize;
        self.conn_offset
            .set(at.saturating_add(step).clamp(0, last as isize) as usize);
    }

    fn on_move_key(&mut self, code: KeyCode) {
        let page = self.table_rows.get().max(1) as isize;
        match code {
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-page),
            KeyCode::PageDown => self.move_selection(page),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            _ => {}
        }
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.visible_rows();
        let Some(current) = self.selected_index(&rows) else {
            return;
        };
        let last = rows.len() as isize - 1;
        let next = (current as isize).saturating_add(delta).clamp(0, last);
        self.selected_pid = Some(rows[next as usize].pid);
    }

    fn open_selected(&mut self) {
        let rows = self.visible_rows();
        if let Some(i) = self.selected_index(&rows) {
            let pid = rows[i].pid;
            self.selected_pid = Some(pid);
            self.screen = Screen::Process(pid);
            self.conn_offset.set(0);
        }
    }

    fn step_sort(&mut self, step: isize) {
        let n = SortKey::ALL.len() as isize;
        let i = SortKey::ALL
            .iter()
            .position(|k| *k == self.sort)
            .unwrap_or(0) as isize;
        self.set_sort(SortKey::ALL[(i + step).rem_euclid(n) as usize]);
    }

    /// `1`..`9`, `0` pick the table's ten columns; the same key again reverses.
    fn sort_by_column_key(&mut self, digit: char) {
        let column = match digit {
            '0' => 10,
            d => d as usize - '0' as usize,
        };
        let key = SortKey::ALL[column];
        if key == self.sort {
            self.descending = !self.descending;
        } else {
            self.set_sort(key);
        }
    }

    fn set_sort(&mut self, key: SortKey) {
        self.sort = key;
        self.descending = key.descending_by_default();
    }

    /// `+` slows the refresh down one step, `-` speeds it up.
    fn step_interval(&mut self, direction: i32) {
        let next = if direction > 0 {
            INTERVAL_STEPS.iter().find(|s| **s > self.interval_s + 1e-9)
        } else {
            INTERVAL_STEPS
                .iter()
                .rev()
                .find(|s| **s < self.interval_s - 1e-9)
        };
        if let Some(s) = next {
            self.interval_s = *s;
        }
    }
}

/// Case-insensitive substring of the command, the pid or the cgroup.
fn matches_filter(p: &ProcRow, needle: &str) -> bool {
    needle.is_empty()
        || p.comm.to_lowercase().contains(needle)
        || p.pid.to_string().contains(needle)
        || p.cgroup.to_lowercase().contains(needle)
}
