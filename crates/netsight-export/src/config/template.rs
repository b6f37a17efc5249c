//! What `netsight agent --print-config` prints: every key, its default and
//! what it does. It parses to the defaults (a test holds it to that).

pub const TEMPLATE: &str = r#"# netsight agent configuration (TOML). Every key is optional; a section that is
# present turns its sink on. Durations: "500ms", "1s", "5m", "1h". Sizes: "64MiB".

# Time between two collections; every sink gets one set of points per interval.
interval = "1s"
# The `host` tag (InfluxDB) written with every point; "" = this machine's hostname.
host = ""
# Host-wide metrics (SPEC 4: /proc/net/snmp, netstat, sockstat...) besides per-process ones.
system = true
# Network namespace of the host-wide metrics: a name under /run/netns, a path or
# an inode number; "" = the agent's own namespace.
netns = ""

[influxdb]
# Plain http only (no TLS): put a TLS proxy in front for a remote server.
url = "http://127.0.0.1:8086"
# InfluxDB 1.x: /write?db=DATABASE, with optional Basic credentials.
database = "netsight"
retention_policy = ""
username = ""
password = ""
# InfluxDB 2.x: /api/v2/write. Set all three, and remove `database` above.
org = ""
bucket = ""
token = ""
# Points per request (one request per interval unless more are waiting).
batch_points = 5000
# Bounded buffer while the server is slow or away: when either limit is hit the
# oldest points are dropped first, and counted (netsight_agent_points_dropped_total).
buffer_points = 100000
buffer_bytes = "64MiB"
# Compress request bodies (Content-Encoding: gzip).
gzip = true
# Limit on connecting and on each read or write of one request.
timeout = "10s"
# Retries: exponential backoff with jitter from retry_initial up to retry_max; a
# Retry-After from the server (429, 503) is honoured; a 400 is never retried.
retry_initial = "1s"
retry_max = "30s"
# On SIGTERM/SIGINT, time allowed to deliver what is still buffered.
flush_timeout = "10s"

[prometheus]
# Where /metrics is served.
listen = "127.0.0.1:9717"
# Processes exported one by one (by recent traffic); the rest are summed into
# comm="other" so the number of series stays bounded.
top = 100
# A process not seen for this long (it exited, or went idle) is no longer exported.
retire_after = "5m"

[json]
# SPEC 3/4 JSON lines: "-" for stdout, else a file that is appended to.
path = "-"
"#;
