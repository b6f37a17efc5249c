//! `netsight agent`'s `/metrics` against the real tools (Debian's
//! `prometheus` package): `promtool check metrics` finds nothing to say, and
//! a real Prometheus scraping the agent returns, through its query API, the
//! exact bytes a known process sent. Root only; skipped without the tools.

mod agent_support;
mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_support::{free_port, get_text, wait_for, Agent, TempDir};
use common::{client, pid_of, random_in, NetPair, Server};
use netsight_export::http::query_escape;

/// prometheus on a free loopback port scraping `target` every second.
struct Prometheus {
    addr: std::net::SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Prometheus {
    fn start(target: std::net::SocketAddr) -> Self {
        let dir = TempDir::new("prometheus");
        let conf = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: netsight\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), conf).expect("prometheus.yml");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus {
            addr,
            child,
            _dir: dir,
        };
        wait_for("prometheus ready", 60, || get_text(addr, "/-/ready"));
        p
    }

    /// The value of an instant query with exactly one result.
    fn query_one(&self, promql: &str) -> Option<String> {
        let body = get_text(
            self.addr,
            &format!("/api/v1/query?query={}", query_escape(promql)),
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?;
        (result.len() == 1).then(|| result[0]["value"][1].as_str().map(str::to_string))?
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("promtool stdin");
    let out = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn metrics_are_promtool_clean_and_prometheus_stores_the_exact_counter() {
    require_root!();
    require_program!("prometheus");
    require_program!("promtool");
    let port = free_port();
    let agent = Agent::start(&format!(
        "interval = \"500ms\"\n[prometheus]\nlisten = \"127.0.0.1:{port}\"\ntop = 50\n"
    ));
    let prom = Prometheus::start(agent.metrics.expect("metrics address"));

    let net = NetPair::new("ap");
    let target = format!("{}:5301", NetPair::ADDR_B);
    let bytes = random_in(2_000_000, 4_000_000);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target, "2"]));
    let sent = client(net.traffic(&net.a, &["tcp-send", &target, &bytes.to_string(), "2"]));
    server.finish();
    let cpid = pid_of(&sent[0]);
    assert_eq!(sent[0]["tx_bytes"], bytes);

    let series = format!("netsight_process_tcp_tx_bytes_total{{pid=\"{cpid}\",comm=\"traffic\"}}");
    wait_for("the agent's counter", 20, || {
        agent
            .metric(
                "netsight_process_tcp_tx_bytes_total",
                &format!("pid=\"{cpid}\",comm=\"traffic\""),
            )
            .filter(|v| *v == bytes as f64)
    });
    let text = agent.metrics_text().expect("/metrics");
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
    for name in [
        "netsight_system_ipv4_tcppackets{dimension=\"Received\"}",
        "netsight_agent_lost_events_total",
        "netsight_process_tcp_tx_bytes_total{comm=\"other\"}",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }

    let deadline = Instant::now() + Duration::from_secs(40);
    let stored = loop {
        let v = prom.query_one(&series);
        if v.as_deref() == Some(bytes.to_string().as_str()) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus has {v:?} for {series}, the process sent {bytes}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // The shipped Grafana dashboard's queries are valid PromQL here, and
    // the per-process send rate panel has data.
    let queries = agent_support::dashboard_queries("netsight-prometheus.json");
    for q in &queries {
        if q.starts_with("label_values") {
            continue;
        }
        let body = get_text(
            prom.addr,
            &format!("/api/v1/query?query={}", query_escape(q)),
        )
        .unwrap_or_else(|| panic!("prometheus refused {q}"));
        assert!(body.contains("\"status\":\"success\""), "{q}: {body}");
    }
    eprintln!(
        "prometheus query {series} = {} = bytes sent; promtool clean on {} lines",
        stored.unwrap_or_default(),
        text.lines().count()
    );
    assert!(agent.stop());
}
