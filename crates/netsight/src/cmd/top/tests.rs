//! `top` without root: state logic on fake data, and snapshot tests that
//! render fixed frames to text and compare them with `snapshots/*.txt`.
//! After an intended change to the screen, regenerate and review them:
//! `NETSIGHT_UPDATE_SNAPSHOTS=1 cargo test -p netsight top::`.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use netsight_events::process::{
    self, IntervalInfo, ProcCounters, ProcIdentity, ProcKey, Protocol, SocketSnapshot, TcpState,
};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{App, Config, Screen, SortKey};
use super::fake::{self, FakeSource};
use super::source::{ConnRow, ProcRow, Source};
use super::view;
use crate::cli::ProcessFilter;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

fn app_with(config: Config) -> App {
    let mut app = App::new(config);
    app.apply(fake::sample());
    app
}

fn app() -> App {
    app_with(Config::default())
}

fn pids(app: &App) -> Vec<u32> {
    app.visible_rows().iter().map(|r| r.pid).collect()
}

// ---- sorting ----

#[test]
fn default_sort_is_traffic_biggest_first() {
    // restic 5.6M, nginx 3.45M, curl 1.26M, dnsmasq 6k, redis 0
    assert_eq!(pids(&app()), [3001, 812, 4242, 402, 640]);
}

#[test]
fn number_keys_sort_by_column_and_again_reverse() {
    let mut app = app();
    press(&mut app, "3"); // RX/s, biggest first
    assert_eq!(app.sort, SortKey::Rx);
    assert_eq!(pids(&app), [4242, 812, 402, 3001, 640]);
    press(&mut app, "3");
    assert_eq!(pids(&app), [640, 3001, 402, 812, 4242]);
    press(&mut app, "1"); // PID, ascending first
    assert_eq!(pids(&app), [402, 640, 812, 3001, 4242]);
    press(&mut app, "2");
    assert_eq!(pids(&app), [4242, 402, 812, 640, 3001]); // curl dnsmasq nginx redis restic
    press(&mut app, "8"); // RTT p99
    assert_eq!(pids(&app), [3001, 4242, 812, 640, 402]);
    press(&mut app, "6"); // retransmits; ties (0) by pid
    assert_eq!(pids(&app), [3001, 812, 402, 640, 4242]);
    press(&mut app, "0"); // cgroup
    assert_eq!(app.sort, SortKey::Cgroup);
    assert_eq!(pids(&app)[4], 4242, "/user.slice sorts after /system.slice");
}

#[test]
fn angle_brackets_step_through_keys_and_r_reverses() {
    let mut app = app();
    press(&mut app, "<");
    assert_eq!(app.sort, SortKey::Cgroup, "wraps around");
    press(&mut app, ">>");
    assert_eq!(app.sort, SortKey::Pid);
    assert!(!app.descending);
    press(&mut app, "r");
    assert_eq!(pids(&app), [4242, 3001, 812, 640, 402]);
}

#[test]
fn sort_names_round_trip() {
    for k in SortKey::ALL {
        assert_eq!(SortKey::from_name(k.name()), Some(k));
    }
    assert_eq!(SortKey::from_name("bogus"), None);
}

#[test]
fn equal_keys_keep_a_stable_pid_order() {
    let mut sample = fake::sample();
    sample.processes = vec![
        fake::proc_row(30, "b", 10.0, 0.0),
        fake::proc_row(10, "a", 5.0, 5.0),
        fake::proc_row(20, "c", 0.0, 10.0),
    ];
    let mut app = App::new(Config::default());
    app.apply(sample);
    assert_eq!(pids(&app), [10, 20, 30]);
}

// ---- filtering ----

#[test]
fn typing_filters_by_comm_pid_or_cgroup_case_insensitively() {
    let mut app = app();
    press(&mut app, "/NG");
    assert!(app.editing_filter);
    assert_eq!(pids(&app), [812]);
    app.on_key(key(KeyCode::Backspace));
    app.on_key(key(KeyCode::Backspace));
    press(&mut app, "42");
    assert_eq!(pids(&app), [4242]);
    app.on_key(key(KeyCode::Esc));
    assert!(!app.editing_filter);
    assert_eq!(app.filter, "");
    assert_eq!(pids(&app).len(), 5);
    press(&mut app, "/user.slice");
    app.on_key(key(KeyCode::Enter));
    assert!(
        !app.editing_filter,
        "Enter keeps the filter and leaves typing"
    );
    assert_eq!(pids(&app), [4242]);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(pids(&app).len(), 5, "Esc clears a kept filter");
}

#[test]
fn keys_are_text_while_typing_a_filter() {
    let mut app = app();
    press(&mut app, "/qp?");
    assert!(!app.quit && !app.paused && !app.help);
    assert_eq!(app.filter, "qp?");
    assert!(pids(&app).is_empty());
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit, "Ctrl-C always quits");
}

#[test]
fn command_line_narrows_by_pid_and_comm() {
    let by_pid = app_with(Config {
        procs: ProcessFilter {
            pids: vec![640, 4242, 99999],
            comm: None,
        },
        ..Config::default()
    });
    assert_eq!(pids(&by_pid), [4242, 640]);
    assert!(by_pid
        .sample
        .connections
        .iter()
        .all(|c| c.pid == 4242 || c.pid == 640));
    let by_comm = app_with(Config {
        procs: ProcessFilter {
            pids: Vec::new(),
            comm: Some("nginx".into()),
        },
        ..Config::default()
    });
    assert_eq!(pids(&by_comm), [812]);
}

// ---- selection, drill-down, pause, interval, help ----

#[test]
fn selection_follows_its_process_and_clamps() {
    let mut app = app();
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.selected_pid, Some(812));
    press(&mut app, "1"); // re-sort by pid: nginx moves, selection stays on it
    let rows = app.visible_rows();
    assert_eq!(rows[app.selected_index(&rows).unwrap()].pid, 812);
    app.on_key(key(KeyCode::End));
    assert_eq!(app.selected_pid, Some(4242));
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.selected_pid, Some(4242), "stays on the last row");
    app.on_key(key(KeyCode::Home));
    assert_eq!(app.selected_pid, Some(402));
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.selected_pid, Some(402));
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.selected_pid, Some(4242));
}

#[test]
fn enter_drills_down_and_esc_goes_back() {
    let mut app = app();
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Process(812));
    let conns: Vec<u64> = app.connections(812).iter().map(|c| c.tx_bytes).collect();
    assert_eq!(conns, [52_428_800, 1_048_576, 700, 0], "busiest first");
    press(&mut app, "1<>r");
    assert_eq!(app.sort, SortKey::Traffic, "table keys do nothing here");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Processes);
    assert_eq!(app.selected_pid, Some(812));
}

#[test]
fn pause_freezes_the_screen_but_counts_lost_events() {
    let mut app = app();
    press(&mut app, "p");
    let mut next = fake::sample();
    next.processes.truncate(1);
    next.lost_events = 7;
    app.apply(next.clone());
    assert_eq!(pids(&app).len(), 5, "frozen");
    assert_eq!(app.lost_total, 7, "losses are never hidden");
    press(&mut app, " ");
    app.apply(next);
    assert_eq!(pids(&app).len(), 1);
    assert_eq!(app.lost_total, 14);
}

#[test]
fn plus_and_minus_step_the_interval() {
    let mut app = app_with(Config {
        interval_s: 0.3,
        ..Config::default()
    });
    press(&mut app, "+");
    assert_eq!(app.interval_s, 0.5);
    press(&mut app, "--");
    assert_eq!(app.interval_s, 0.25);
    press(&mut app, "-");
    assert_eq!(app.interval_s, 0.25, "no step below");
    press(&mut app, "++++++++++");
    assert_eq!(app.interval_s, 60.0);
}

#[test]
fn help_opens_with_question_mark_and_any_key_closes_it() {
    let mut app = app();
    press(&mut app, "?");
    assert!(app.help);
    app.on_key(key(KeyCode::Down));
    assert!(!app.help && !app.quit);
    assert_eq!(app.selected_pid, None, "the closing key does nothing else");
    press(&mut app, "?q");
    assert!(app.quit);
}

// ---- data conversion and history ----

#[test]
fn records_become_rows_with_rates_per_second() {
    let id = ProcIdentity {
        key: ProcKey {
            pid: 77,
            start_ns: 1,
        },
        comm: "app".into(),
        cgroup_id: 5,
    };
    let counters = ProcCounters {
        tcp_tx_bytes: 3000,
        udp_tx_bytes: 1000,
        tcp_rx_bytes: 500,
        tcp_retrans_segs: 3,
        tcp_synack_retrans: 1,
        tcp_resets_sent: 1,
        tcp_resets_received: 1,
        ..ProcCounters::default()
    };
    let info = IntervalInfo {
        ts: "t".into(),
        interval_s: 2.0,
        now_ns: 10,
        lost_events: 0,
    };
    let records = process::build(&[(id.clone(), counters)], &[], &info, &mut |_| "/x".into());
    let row = ProcRow::from_record(&records[0]);
    assert_eq!(
        (row.pid, row.comm.as_str(), row.cgroup.as_str()),
        (77, "app", "/x")
    );
    assert_eq!((row.tx_bps, row.rx_bps), (2000.0, 250.0));
    assert_eq!((row.retrans_ps, row.resets_ps), (2.0, 1.0));

    let socket = SocketSnapshot {
        owner: Some(id),
        protocol: Protocol::Tcp,
        state: TcpState::Established,
        local: ("10.0.0.1".parse().unwrap(), 1),
        remote: ("10.0.0.2".parse().unwrap(), 2),
        netns: 4026531840,
        established_ns: 1,
        tcp: Default::default(),
        io: Default::default(),
    };
    let conn = ConnRow::from_socket(&socket).unwrap();
    assert_eq!(
        (conn.pid, conn.protocol, conn.state),
        (77, "tcp", "ESTABLISHED")
    );
    let orphan = SocketSnapshot {
        owner: None,
        ..socket
    };
    assert_eq!(ConnRow::from_socket(&orphan), None);
}

#[test]
fn history_keeps_one_minute_and_forgets_idle_processes() {
    let mut app = App::new(Config::default());
    let mut source = FakeSource {
        samples: vec![fake::sample()],
        taken: 0,
    };
    for _ in 0..75 {
        app.apply(source.sample().unwrap());
    }
    assert_eq!(app.history.tx(812).len(), 60);
    assert!(app.history.tx(640).is_empty(), "redis never moved a byte");
    let mut quiet = fake::sample();
    quiet.processes.clear();
    for _ in 0..60 {
        app.apply(quiet.clone());
    }
    assert_eq!(
        app.history.tracked_processes(),
        0,
        "a silent minute forgets everyone"
    );
    let fast = ProcRow {
        tx_bps: 1.0,
        ..fake::proc_row(1, "x", 0.0, 1.0)
    };
    for _ in 0..1000 {
        app.history.record(std::slice::from_ref(&fast), 0.01);
    }
    assert_eq!(
        app.history.tx(1).len(),
        600,
        "bounded whatever the interval"
    );
}

// ---- arguments ----

/// `netsight top ARGS...` as clap parses it, then validated.
fn config(argv: &[&str]) -> anyhow::Result<Config> {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from(["netsight", "top"].iter().chain(argv))?;
    match cli.command {
        crate::cli::Command::Top(a) => a.config(),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn bad_arguments_are_refused() {
    // Refused by clap (exit 2 through clap_exit), as in stat and trace.
    for argv in [
        &["-i", "0"][..],
        &["-p", "0"],
        &["--comm", "a-very-long-command"],
    ] {
        let e = config(argv).unwrap_err();
        assert!(e.downcast_ref::<clap::Error>().is_some(), "{argv:?}: {e}");
    }
    let sort = config(&["--sort", "speed"]).unwrap_err();
    assert!(sort.downcast_ref::<crate::error::UsageError>().is_some());
    let ok = config(&[
        "-i", "0.5", "-p", "1", "--comm", "nginx", "--sort", "rtt-p99",
    ])
    .unwrap();
    assert_eq!((ok.interval_s, ok.sort), (0.5, SortKey::RttP99));
    assert_eq!(ok.procs.pids, [1]);
}

// ---- snapshots ----

fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn assert_snapshot(name: &str, actual: &str) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "src/cmd/top/snapshots",
        &format!("{name}.txt"),
    ]
    .iter()
    .collect();
    if std::env::var_os("NETSIGHT_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with NETSIGHT_UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{name} differs from {}\n--- expected\n{expected}--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn snapshot_main_screen() {
    let mut app = app();
    app.on_key(key(KeyCode::Down));
    assert_snapshot("main", &render(&app, 110, 16));
}

#[test]
fn snapshot_main_screen_filtered_and_paused() {
    let mut app = app();
    press(&mut app, "/SYS");
    app.on_key(key(KeyCode::Enter));
    press(&mut app, "p4");
    assert!(app.paused);
    assert_snapshot("main_filtered_paused", &render(&app, 80, 14));
}

#[test]
fn snapshot_drill_down() {
    let mut app = App::new(Config::default());
    // A minute of rising and falling rates for the sparklines.
    for i in 0..40u32 {
        let mut s = fake::sample();
        s.processes[0].tx_bps = f64::from(i % 10) * 400_000.0;
        s.processes[0].rx_bps = f64::from(10 - i % 10) * 5_000.0;
        app.apply(s);
    }
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Process(812));
    assert_snapshot("drill_down", &render(&app, 110, 22));
}

#[test]
fn snapshot_help() {
    let mut app = app();
    press(&mut app, "?");
    assert_snapshot("help", &render(&app, 100, 26));
}

#[test]
fn snapshot_too_small_and_empty() {
    assert_snapshot("too_small", &render(&app(), 40, 5));
    let empty = App::new(Config::default());
    assert_snapshot("empty", &render(&empty, 80, 12));
}

#[test]
fn drill_down_scrolls_a_long_connection_list() {
    let mut app = App::new(Config::default());
    let mut s = fake::sample();
    let template = s.connections.iter().find(|c| c.pid == 812).unwrap().clone();
    // 40 connections of nginx, the busiest first: tx 40_000, 39_000, ...
    s.connections.retain(|c| c.pid != 812);
    for i in 0..40u64 {
        let mut c = template.clone();
        c.tx_bytes = 1000 * (40 - i);
        c.rx_bytes = 0;
        c.remote.1 = 20_000 + i as u16;
        s.connections.push(c);
    }
    app.apply(s);
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Process(812));
    let screen = render(&app, 110, 22);
    assert!(
        screen.contains(":20000") && !screen.contains(":20039"),
        "{screen}"
    );
    let fit = app.conn_rows.get();
    assert!(fit > 0 && fit < 40, "{fit} rows fit");
    assert!(screen.contains(&format!("1-{fit} shown")), "{screen}");

    app.on_key(key(KeyCode::Down));
    let screen = render(&app, 110, 22);
    assert!(
        !screen.contains(":20000 ") && screen.contains(":20001"),
        "{screen}"
    );
    app.on_key(key(KeyCode::End));
    let screen = render(&app, 110, 22);
    assert!(
        screen.contains(":20039") && !screen.contains(":20000 "),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("{}-40 shown", 41 - fit)),
        "{screen}"
    );
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.conn_offset.get(), 40 - fit, "the last page stays full");
    app.on_key(key(KeyCode::Home));
    assert_eq!(app.conn_offset.get(), 0);
    // Leaving and coming back starts at the top again.
    app.on_key(key(KeyCode::End));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.conn_offset.get(), 0);
}
