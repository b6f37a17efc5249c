use super::*;

fn err(src: &str) -> String {
    Config::parse(src).unwrap_err().to_string()
}

#[test]
fn the_printed_template_parses_to_the_defaults() {
    let c = Config::parse(TEMPLATE).unwrap();
    assert_eq!(c.interval, Duration::from_secs(1));
    assert!(c.system && c.host.is_empty() && c.netns.is_empty());
    let i = c.influxdb.unwrap();
    assert_eq!(i.url.to_string(), "http://127.0.0.1:8086");
    assert!(
        matches!(&i.api, InfluxApi::V1 { database, username, .. } if database == "netsight" && username.is_empty())
    );
    assert_eq!(
        (i.batch_points, i.buffer_points, i.buffer_bytes),
        (5000, 100_000, 64 << 20)
    );
    assert!(i.gzip);
    let p = c.prometheus.unwrap();
    assert_eq!(p.listen.to_string(), "127.0.0.1:9717");
    assert_eq!((p.top, p.retire_after), (100, Duration::from_secs(300)));
    assert_eq!(c.json.unwrap().path, "-");
}

#[test]
fn the_spec_minimal_example_works() {
    let c = Config::parse(
        "interval = \"1s\"\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\ndatabase = \"netsight\"\n[prometheus]\nlisten = \"127.0.0.1:9717\"\n",
    )
    .unwrap();
    assert!(c.influxdb.is_some() && c.prometheus.is_some() && c.json.is_none());
}

#[test]
fn unknown_keys_name_key_and_line() {
    assert_eq!(
        err("interval = \"1s\"\n\n[influxdb]\nurl = \"http://h:1\"\ncolour = \"red\"\n"),
        "line 5: influxdb.colour: unknown key (known keys: url, database, retention_policy, username, password, org, bucket, token, batch_points, buffer_points, buffer_bytes, gzip, timeout, retry_initial, retry_max, flush_timeout)"
    );
    let e = err("intervall = \"1s\"\n[json]\n");
    assert!(e.starts_with("line 1: intervall: unknown key"), "{e}");
    let e = err("[json]\n[promethus]\n");
    assert!(e.starts_with("line 2: "), "{e}");
    assert!(e.contains("promethus"), "{e}");
}

#[test]
fn bad_values_name_key_and_line() {
    let cases = [
        (
            "[json]\ninterval = \"1s\"\n",
            "line 2: json.interval: unknown key",
        ),
        (
            "interval = \"fast\"\n[json]\n",
            "line 1: interval: 'fast' is not a duration",
        ),
        (
            "interval = \"2h\"\n[json]\n",
            "line 1: interval: must be between 100ms and 1h",
        ),
        (
            "[influxdb]\nbatch_points = 0\n",
            "line 2: influxdb.batch_points: 0 must be at least 1",
        ),
        (
            "[influxdb]\n\nbuffer_bytes = \"lots\"\n",
            "line 3: influxdb.buffer_bytes: 'lots' is not a size",
        ),
        (
            "[influxdb]\ngzip = \"yes\"\n",
            "line 2: influxdb.gzip: invalid type",
        ),
        (
            "[influxdb]\nurl = \"https://db:8086\"\n",
            "line 2: influxdb.url: https is not supported",
        ),
        (
            "[influxdb]\nurl = \"http://u:p@db\"\n",
            "line 2: influxdb.url: put credentials in",
        ),
        (
            "[influxdb]\nusername = \"u\"\n",
            "line 2: influxdb.username: username and password go together",
        ),
        (
            "[influxdb]\ndatabase = \"d\"\nbucket = \"b\"\n",
            "line 2: influxdb.database: is for InfluxDB 1.x",
        ),
        (
            "[influxdb]\norg = \"o\"\nbucket = \"b\"\n",
            "line 1: influxdb.token: is missing: InfluxDB 2.x needs org, bucket and token",
        ),
        (
            "[influxdb]\nretry_initial = \"5s\"\nretry_max = \"1s\"\n",
            "line 3: influxdb.retry_max: must not be below",
        ),
        (
            "[prometheus]\nlisten = \"localhost\"\n",
            "line 2: prometheus.listen: 'localhost' is not an ADDRESS:PORT",
        ),
        (
            "[prometheus]\ntop = -3\n",
            "line 2: prometheus.top: -3 must be at least 1",
        ),
        ("[json]\npath = \"\"\n", "line 2: json.path: must be"),
        ("interval = \n", "line 1: "),
        ("system = true\n", "no sink configured"),
    ];
    for (src, want) in cases {
        let got = err(src);
        assert!(got.starts_with(want), "{src:?}:\n got  {got}\n want {want}");
        assert!(!got.contains('\n'), "one line: {got:?}");
    }
}

#[test]
fn v2_needs_org_bucket_and_token() {
    let c = Config::parse("[influxdb]\norg = \"o\"\nbucket = \"b\"\ntoken = \"t0ken\"\n").unwrap();
    let api = c.influxdb.unwrap().api;
    assert!(
        matches!(&api, InfluxApi::V2 { org, bucket, token } if org == "o" && bucket == "b" && token.expose() == "t0ken")
    );
    assert!(!format!("{api:?}").contains("t0ken"), "secrets never print");
}

#[test]
fn errors_never_echo_secrets() {
    let e = err("[influxdb]\npassword = \"hunter2\"\n");
    assert!(
        e.contains("username and password go together") && !e.contains("hunter2"),
        "{e}"
    );
    let e = err("[influxdb]\ntoken = \"s3cret\"\n");
    assert!(!e.contains("s3cret"), "{e}");
}
