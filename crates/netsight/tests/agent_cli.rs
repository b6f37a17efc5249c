//! `netsight agent` arguments and config errors, without root: a bad file
//! is refused before anything is loaded, with its line and key, exit 2.

mod agent_support;

use std::process::Command;

use agent_support::TempDir;

fn agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netsight"))
        .arg("agent")
        .args(args)
        .output()
        .expect("run netsight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_config(text: &str) -> (i32, String) {
    let dir = TempDir::new("agent-cli");
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = agent(&["--config", path.to_str().unwrap()]);
    (code, err)
}

#[test]
fn config_errors_name_line_and_key_and_exit_2() {
    let cases = [
        (
            "interval = \"1s\"\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\ncolour = \"red\"\n",
            "line 4: influxdb.colour: unknown key",
        ),
        (
            "[prometheus]\nlisten = \"127.0.0.1:9717\"\ntop = 0\n",
            "line 3: prometheus.top: 0 must be at least 1",
        ),
        (
            "interval = \"soon\"\n[json]\n",
            "line 1: interval: 'soon' is not a duration",
        ),
        (
            "[influxdb]\nurl = \"https://db:8086\"\n",
            "line 2: influxdb.url: https is not supported",
        ),
        (
            "[influxdb]\ntoken = \"hunter2\"\n",
            "line 1: influxdb.org: is missing: InfluxDB 2.x needs org, bucket and token",
        ),
    ];
    for (text, want) in cases {
        let (code, err) = with_config(text);
        assert_eq!(code, 2, "{text:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{text:?}:\n got  {err}\n want {want}");
        assert!(!err.contains("hunter2"), "a secret was printed: {err}");
    }
}

#[test]
fn missing_config_is_a_usage_error() {
    let (code, _, err) = agent(&["--config", "/nonexistent/agent.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read config /nonexistent/agent.toml"),
        "{err}"
    );
    let (code, _, err) = agent(&[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn print_config_shows_every_key_with_a_comment() {
    let (code, out, _) = agent(&["--print-config"]);
    assert_eq!(code, 0);
    for key in [
        "interval",
        "host",
        "system",
        "netns",
        "[influxdb]",
        "url",
        "database",
        "username",
        "password",
        "org",
        "bucket",
        "token",
        "batch_points",
        "buffer_points",
        "buffer_bytes",
        "gzip",
        "timeout",
        "retry_initial",
        "retry_max",
        "flush_timeout",
        "[prometheus]",
        "listen",
        "top",
        "retire_after",
        "[json]",
        "path",
    ] {
        assert!(out.lines().any(|l| l.starts_with(key)), "{key} missing");
    }
    // Every key line follows a comment line.
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.contains(" = ") {
            assert!(
                lines[..i]
                    .iter()
                    .rev()
                    .take_while(|p| !p.is_empty() && !p.starts_with('['))
                    .any(|p| p.starts_with('#')),
                "no comment above {l:?}"
            );
        }
    }
}

#[test]
fn grafana_dashboards_use_only_exported_names() {
    use netsight_export::health::AgentHealth;
    use netsight_export::influx::sender::SenderStats;
    use netsight_export::prometheus::{agent_families, exposition::sanitize_name, names};

    let mut exported: Vec<String> = names::COUNTERS
        .iter()
        .map(|c| c.name.to_string())
        .chain(names::GAUGES.iter().map(|g| g.name.to_string()))
        .chain(
            netsight_sysstat::charts::CHARTS
                .iter()
                .map(|c| sanitize_name(&format!("netsight_system_{}", c.id))),
        )
        .collect();
    let health = AgentHealth {
        influx: Some(SenderStats {
            last_success_ms: Some(1),
            ..SenderStats::default()
        }),
        ..AgentHealth::default()
    };
    exported.extend(agent_families(&health).into_iter().map(|f| f.name));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/grafana");
    let text = std::fs::read_to_string(dir.join("netsight-prometheus.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["__inputs"][0]["pluginId"], "prometheus");
    let mut used = 0;
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("netsight_") {
            assert!(
                exported.iter().any(|e| e == word),
                "dashboard uses {word}, which the agent does not export"
            );
            used += 1;
        }
    }
    assert!(used >= 10);
    let influx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("netsight-influxdb.json")).unwrap())
            .unwrap();
    assert_eq!(influx["__inputs"][0]["pluginId"], "influxdb");
}
