//! Draws the [`App`] into a ratatui frame: the main table, the drill-down
//! and the help overlay. Reads state only, so a `TestBackend` renders the
//! same frame a terminal would (the snapshot tests rely on that).

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use crate::cmd::top::app::{App, Screen, SortKey};
use crate::cmd::top::format::{self, bytes, count, opt};
use crate::cmd::top::history::WINDOW_S;
use crate::cmd::top::source::ProcRow;
use crate::table::micros;

/// Below this the layout cannot say anything useful.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

const BAR: Style = Style::new().add_modifier(Modifier::REVERSED);
const LABEL: Style = Style::new().add_modifier(Modifier::DIM);
const VALUE: Style = Style::new().add_modifier(Modifier::BOLD);
const HEADER: Style = Style::new()
    .add_modifier(Modifier::BOLD)
    .add_modifier(Modifier::UNDERLINED);

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT} (q quits)");
        frame.render_widget(Paragraph::new(msg), area);
        return;
    }
    let [title, host, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(title_bar(app), title);
    frame.render_widget(host_lines(app), host);
    match app.screen {
        Screen::Processes => draw_processes(frame, app, body),
        Screen::Process(pid) => draw_process(frame, app, pid, body),
    }
    frame.render_widget(footer_line(app), footer);
    if app.help {
        draw_help(frame, area);
    }
}

fn title_bar(app: &App) -> Paragraph<'static> {
    let mut parts = vec![
        "netsight top".to_string(),
        format::time_of_day(&app.sample.ts).to_string(),
        format!("every {}", format::seconds(app.interval_s)),
    ];
    match app.screen {
        Screen::Processes => {
            let arrow = if app.descending { "▼" } else { "▲" };
            parts.push(format!("sort {} {arrow}", app.sort.name()));
            parts.push(format!("{} processes", app.visible_rows().len()));
        }
        Screen::Process(pid) => {
            let comm = app.process(pid).map_or("", |p| p.comm.as_str());
            parts.push(format!("process {pid} {comm}"));
        }
    }
    if app.paused {
        parts.push("PAUSED".into());
    }
    Paragraph::new(format!(" {}", parts.join(" │ "))).style(BAR)
}

fn host_lines(app: &App) -> Paragraph<'static> {
    let h = &app.sample.host;
    let rate = |v: Option<f64>, f: fn(f64) -> String| format!("{}/s", opt(v, f));
    let pkts = |v: Option<f64>| format!("{} pkt/s", opt(v, count));
    let conns = opt(h.connections, |v| format!("{v:.0}"));
    Paragraph::new(vec![
        host_line(&[
            ("RX", rate(h.rx_bytes_ps, bytes)),
            ("", pkts(h.rx_packets_ps)),
            ("conns", conns),
            ("drops", rate(h.drops_ps, count)),
            ("lost events", app.lost_total.to_string()),
        ]),
        host_line(&[
            ("TX", rate(h.tx_bytes_ps, bytes)),
            ("", pkts(h.tx_packets_ps)),
            ("retrans", rate(h.retrans_ps, count)),
            ("listen ovf", rate(h.listen_overflows_ps, count)),
        ]),
    ])
}

/// Label and value widths of the header's columns, so both lines align.
const HOST_COLUMNS: [(usize, usize); 5] = [(2, 8), (0, 12), (7, 7), (10, 7), (11, 0)];

fn host_line(cells: &[(&'static str, String)]) -> Line<'static> {
    let mut spans = Vec::new();
    for ((label, value), (label_w, value_w)) in cells.iter().zip(HOST_COLUMNS) {
        if label_w > 0 {
            spans.push(Span::styled(format!("  {label:<label_w$} "), LABEL));
        }
        spans.push(Span::styled(format!("{value:>value_w$}"), VALUE));
    }
    Line::from(spans)
}

/// Table columns: header, width, right-aligned, the sort key of the column.
const COLUMNS: [(&str, u16, bool, SortKey); 10] = [
    ("PID", 7, true, SortKey::Pid),
    ("COMM", 15, false, SortKey::Comm),
    ("RX/s", 7, true, SortKey::Rx),
    ("TX/s", 7, true, SortKey::Tx),
    ("CONN", 5, true, SortKey::Conns),
    ("RETR/s", 7, true, SortKey::Retrans),
    ("RTT50", 7, true, SortKey::RttP50),
    ("RTT99", 7, true, SortKey::RttP99),
    ("RST/s", 6, true, SortKey::Resets),
    ("CGROUP", 0, false, SortKey::Cgroup),
];

fn cell(text: String, right: bool) -> Cell<'static> {
    let align = if right {
        Alignment::Right
    } else {
        Alignment::Left
    };
    Cell::from(Line::from(text).alignment(align))
}

fn process_cells(p: &ProcRow) -> [String; 10] {
    [
        p.pid.to_string(),
        p.comm.clone(),
        bytes(p.rx_bps),
        bytes(p.tx_bps),
        p.conns.to_string(),
        count(p.retrans_ps),
        micros(p.rtt_p50_us),
        micros(p.rtt_p99_us),
        count(p.resets_ps),
        p.cgroup.clone(),
    ]
}

fn draw_processes(frame: &mut Frame, app: &App, area: Rect) {
    let arrow = if app.descending { "▼" } else { "▲" };
    // Sorting by traffic marks both byte columns.
    let marked = |key: SortKey| {
        key == app.sort
            || (app.sort == SortKey::Traffic && matches!(key, SortKey::Rx | SortKey::Tx))
    };
    let header = Row::new(COLUMNS.iter().map(|(name, _, right, key)| {
        let text = if marked(*key) {
            format!("{name}{arrow}")
        } else {
            name.to_string()
        };
        cell(text, *right)
    }))
    .style(HEADER);
    let rows = app.visible_rows();
    let selected = app.selected_index(&rows);
    let body: Vec<Row> = rows
        .iter()
        .map(|p| {
            let cells = process_cells(p);
            Row::new(
                cells
                    .into_iter()
                    .zip(COLUMNS)
                    .map(|(text, (_, _, right, _))| cell(text, right)),
            )
        })
        .collect();
    if body.is_empty() {
        let why = if app.filter.is_empty() {
            "no process has used the network yet"
        } else {
            "no process matches the filter"
        };
        let [head, msg] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(Table::new([header], widths()), head);
        frame.render_widget(Paragraph::new(format!("  ({why})")).style(LABEL), msg);
        return;
    }
    let table = Table::new(body, widths())
        .header(header)
        .row_highlight_style(BAR)
        .highlight_symbol(">");
    let mut state = TableState::new()
        .with_offset(app.table_offset.get())
        .with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
    app.table_offset.set(state.offset());
    app.table_rows.set(area.height.saturating_sub(1) as usize);
}

fn widths() -> Vec<Constraint> {
    COLUMNS
        .iter()
        .map(|(_, w, _, _)| match w {
            0 => Constraint::Fill(1),
            w => Constraint::Length(*w),
        })
        .collect()
}

fn draw_process(frame: &mut Frame, app: &App, pid: u32, area: Rect) {
    let [summary, charts, conns] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(5),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(process_summary(app, pid), summary);

    let [rx, tx] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    draw_sparkline(frame, "RX/s", &app.history.rx(pid), rx);
    draw_sparkline(frame, "TX/s", &app.history.tx(pid), tx);

    let header = Row::new(
        [
            "PROTO", "STATE", "LOCAL", "REMOTE", "RTT", "CWND", "INFLIGHT", "RETR", "TX BYTES",
            "RX BYTES",
        ]
        .into_iter()
        .enumerate()
        .map(|(i, h)| cell(h.into(), i >= 4)),
    )
    .style(HEADER);
    let conns_of = app.connections(pid);
    // Borders and the header take three lines.
    let fit = usize::from(conns.height.saturating_sub(3));
    app.conn_rows.set(fit);
    let offset = app
        .conn_offset
        .get()
        .min(conns_of.len().saturating_sub(fit));
    app.conn_offset.set(offset);
    let rows: Vec<Row> = conns_of
        .iter()
        .skip(offset)
        .take(fit)
        .map(|c| {
            let tcp = c.protocol == "tcp";
            let gauge = |v: u32| if tcp { v.to_string() } else { "-".into() };
            Row::new([
                cell(c.protocol.into(), false),
                cell(c.state.into(), false),
                cell(format::endpoint(c.local), false),
                cell(format::endpoint(c.remote), false),
                cell(micros(u64::from(c.srtt_us)), true),
                cell(gauge(c.cwnd), true),
                cell(gauge(c.in_flight), true),
                cell(gauge(c.retrans), true),
                cell(bytes(c.tx_bytes as f64), true),
                cell(bytes(c.rx_bytes as f64), true),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(11),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    let title = if conns_of.len() > fit {
        format!(
            " connections ({}), {}-{} shown, ↑↓ PgUp PgDn scroll ",
            conns_of.len(),
            offset + 1,
            (offset + fit).min(conns_of.len())
        )
    } else {
        format!(" connections ({}) ", conns_of.len())
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title));
    frame.render_widget(table, conns);
}

fn process_summary(app: &App, pid: u32) -> Paragraph<'static> {
    let Some(p) = app.process(pid) else {
        return Paragraph::new(format!(
            " PID {pid}: no traffic or connections in the last interval (exited or idle)"
        ))
        .style(LABEL);
    };
    let field = |label: &'static str, value: String| {
        [
            Span::styled(format!(" {label} "), LABEL),
            Span::styled(value, VALUE),
        ]
    };
    let cgroup = if p.cgroup.is_empty() {
        "-".to_string()
    } else {
        p.cgroup.clone()
    };
    let first = [
        field("PID", p.pid.to_string()),
        field("COMM", p.comm.clone()),
        field("CGROUP", cgroup),
    ];
    let second = [
        field("RX", format!("{}/s", bytes(p.rx_bps))),
        field("TX", format!("{}/s", bytes(p.tx_bps))),
        field("conns", p.conns.to_string()),
        field("retrans", format!("{}/s", count(p.retrans_ps))),
        field("RTT p50", micros(p.rtt_p50_us)),
        field("p99", micros(p.rtt_p99_us)),
        field("resets", format!("{}/s", count(p.resets_ps))),
    ];
    Paragraph::new(vec![
        Line::from(first.concat()),
        Line::from(second.concat()),
    ])
}

fn draw_sparkline(frame: &mut Frame, what: &str, series: &[u64], area: Rect) {
    let peak = series.iter().copied().max().unwrap_or(0);
    let title = format!(
        " {what}, last {:.0}s (peak {}/s) ",
        WINDOW_S,
        bytes(peak as f64)
    );
    let block = Block::bordered().title(title);
    // Newest point at the right edge: keep only what fits.
    let width = block.inner(area).width as usize;
    let shown = &series[series.len().saturating_sub(width)..];
    frame.render_widget(Sparkline::default().block(block).data(shown), area);
}

fn footer_line(app: &App) -> Paragraph<'static> {
    if app.editing_filter {
        return Paragraph::new(format!(
            " filter: {}_   (Enter keeps, Esc clears)",
            app.filter
        ))
        .style(BAR);
    }
    let hints = match app.screen {
        Screen::Processes => {
            " ↑↓ select  Enter details  / filter  < > 1-0 sort  r reverse  p pause  + - interval  ? help  q quit"
        }
        Screen::Process(_) => " Esc back  ↑↓ scroll  p pause  + - interval  ? help  q quit",
    };
    let mut text = hints.to_string();
    if !app.filter.is_empty() && app.screen == Screen::Processes {
        text = format!(" filter: {} │{text}", app.filter);
    }
    Paragraph::new(text).style(LABEL)
}

const HELP: &[&str] = &[
    "Keys",
    "  ↑ ↓ PgUp PgDn Home End  select a process",
    "  Enter                   its connections and rates (Esc goes back;",
    "                          ↑ ↓ PgUp PgDn Home End scroll them)",
    "  /                       filter by command, pid or cgroup",
    "                          (Enter keeps it, Esc clears it)",
    "  < >   or 1..9, 0        sort by column (same key again: reverse)",
    "  r                       reverse the sort",
    "  p, space                pause / resume",
    "  + -                     slower / faster refresh",
    "  q, Ctrl-C               quit",
    "",
    "Header (this network namespace, per second)",
    "  RX TX        bytes and packets on all interfaces (lo included)",
    "  conns        established TCP connections now",
    "  retrans      TCP segments retransmitted",
    "  drops        interface drops + IP discards + UDP rcvbuf errors",
    "  listen ovf   SYNs dropped because an accept queue was full",
    "  lost events  events the kernel side could not deliver (total)",
    "",
    "Bytes are 1024-based (K M G); RTT from TCP; - means not observed.",
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let width =
        (HELP.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).min(area.width);
    let height = (HELP.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let block = Block::bordered().title(" help: any key closes ");
    let text: Vec<Line> = HELP.iter().map(|l| Line::from(format!(" {l}"))).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(text).block(block), popup);
}
