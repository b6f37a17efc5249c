//! `netsight agent --config FILE` (SPEC §6): TOML, every key known, every
//! value checked, every error naming its line and key. A section that is
//! present turns its sink on.

mod errors;
mod template;
pub mod units;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

pub use errors::ConfigError;
pub use template::TEMPLATE;
use units::{ByteSize, Dur, Positive, Secret};

use crate::http::HttpUrl;

/// The agent's whole configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub interval: Duration,
    /// The `host` tag/label; empty means this machine's hostname.
    pub host: String,
    /// Host-wide metrics (SPEC §4) besides per-process ones.
    pub system: bool,
    /// Network namespace of the host-wide counters (empty: our own).
    pub netns: String,
    pub influxdb: Option<InfluxConfig>,
    pub prometheus: Option<PrometheusConfig>,
    pub json: Option<JsonConfig>,
}

/// Which InfluxDB write API, with its credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum InfluxApi {
    /// `/write?db=` with optional Basic credentials.
    V1 {
        database: String,
        retention_policy: String,
        username: String,
        password: Secret,
    },
    /// `/api/v2/write` with a token.
    V2 {
        org: String,
        bucket: String,
        token: Secret,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct InfluxConfig {
    pub url: HttpUrl,
    pub api: InfluxApi,
    /// Points per request.
    pub batch_points: usize,
    /// Buffer limits; the oldest points go first when either is reached.
    pub buffer_points: usize,
    pub buffer_bytes: usize,
    pub gzip: bool,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long a stop may spend delivering what is buffered.
    pub flush_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    pub listen: SocketAddr,
    /// Processes shown one by one; the rest are summed as `comm="other"`.
    pub top: usize,
    /// A process not seen for this long is no longer exported.
    pub retire_after: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonConfig {
    /// `-` for stdout, else a file appended to.
    pub path: String,
}

// The file as written: every key optional, unknown keys refused.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "one_second")]
    interval: Dur,
    #[serde(default)]
    host: String,
    #[serde(default = "yes")]
    system: bool,
    #[serde(default)]
    netns: String,
    influxdb: Option<RawInflux>,
    prometheus: Option<RawPrometheus>,
    json: Option<RawJson>,
}

fn one_second() -> Dur {
    Dur(Duration::from_secs(1))
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawInflux {
    url: String,
    /// `None`: "netsight" for 1.x; refused with 2.x keys when given.
    database: Option<String>,
    retention_policy: String,
    username: String,
    password: Secret,
    org: String,
    bucket: String,
    token: Secret,
    batch_points: Positive,
    buffer_points: Positive,
    buffer_bytes: ByteSize,
    gzip: bool,
    timeout: Dur,
    retry_initial: Dur,
    retry_max: Dur,
    flush_timeout: Dur,
}

impl Default for RawInflux {
    fn default() -> Self {
        let s = |secs| Dur(Duration::from_secs(secs));
        RawInflux {
            url: "http://127.0.0.1:8086".into(),
            database: None,
            retention_policy: String::new(),
            username: String::new(),
            password: Secret::default(),
            org: String::new(),
            bucket: String::new(),
            token: Secret::default(),
            batch_points: Positive(5000),
            buffer_points: Positive(100_000),
            buffer_bytes: ByteSize(64 << 20),
            gzip: true,
            timeout: s(10),
            retry_initial: s(1),
            retry_max: s(30),
            flush_timeout: s(10),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPrometheus {
    listen: String,
    top: Positive,
    retire_after: Dur,
}

impl Default for RawPrometheus {
    fn default() -> Self {
        RawPrometheus {
            listen: "127.0.0.1:9717".into(),
            top: Positive(100),
            retire_after: Dur(Duration::from_secs(300)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawJson {
    path: String,
}

impl Default for RawJson {
    fn default() -> Self {
        RawJson { path: "-".into() }
    }
}

impl Config {
    /// Parses and validates the text of a config file.
    pub fn parse(src: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(src).map_err(|e| ConfigError::from_toml(src, &e))?;
        let check = |ok: bool, section: &str, key: &str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::at_key(src, section, key, msg))
            }
        };
        let interval = raw.interval.0;
        check(
            (0.1..=3600.0).contains(&interval.as_secs_f64()),
            "",
            "interval",
            "must be between 100ms and 1h",
        )?;
        let influxdb = match raw.influxdb {
            Some(r) => Some(validate_influx(src, r)?),
            None => None,
        };
        let prometheus = match raw.prometheus {
            Some(r) => Some(PrometheusConfig {
                listen: r.listen.parse().map_err(|_| {
                    ConfigError::at_key(
                        src,
                        "prometheus",
                        "listen",
                        &format!(
                            "'{}' is not an ADDRESS:PORT such as 127.0.0.1:9717",
                            r.listen
                        ),
                    )
                })?,
                top: r.top.0,
                retire_after: r.retire_after.0,
            }),
            None => None,
        };
        let json = match raw.json {
            Some(r) => {
                check(
                    !r.path.is_empty(),
                    "json",
                    "path",
                    "must be \"-\" (stdout) or a file",
                )?;
                Some(JsonConfig { path: r.path })
            }
            None => None,
        };
        check(
            influxdb.is_some() || prometheus.is_some() || json.is_some(),
            "",
            "",
            "no sink configured: add an [influxdb], [prometheus] or [json] section",
        )?;
        Ok(Config {
            interval,
            host: raw.host,
            system: raw.system,
            netns: raw.netns,
            influxdb,
            prometheus,
            json,
        })
    }
}

fn validate_influx(src: &str, r: RawInflux) -> Result<InfluxConfig, ConfigError> {
    let err = |key: &str, msg: &str| ConfigError::at_key(src, "influxdb", key, msg);
    let url = HttpUrl::parse(&r.url).map_err(|m| err("url", &m))?;
    let v2 = !r.bucket.is_empty() || !r.org.is_empty() || !r.token.is_empty();
    let api = if v2 {
        if r.database.is_some() || !r.username.is_empty() || !r.password.is_empty() {
            let key = if r.database.is_some() {
                "database"
            } else {
                "username"
            };
            return Err(err(
                key,
                "is for InfluxDB 1.x; with org/bucket/token (2.x) leave it out",
            ));
        }
        for (key, empty) in [
            ("org", r.org.is_empty()),
            ("bucket", r.bucket.is_empty()),
            ("token", r.token.is_empty()),
        ] {
            if empty {
                return Err(err(
                    key,
                    "is missing: InfluxDB 2.x needs org, bucket and token",
                ));
            }
        }
        InfluxApi::V2 {
            org: r.org,
            bucket: r.bucket,
            token: r.token,
        }
    } else {
        let database = r.database.unwrap_or_else(|| "netsight".into());
        if database.is_empty() {
            return Err(err("database", "must not be empty"));
        }
        if r.username.is_empty() != r.password.is_empty() {
            return Err(err("username", "username and password go together"));
        }
        InfluxApi::V1 {
            database,
            retention_policy: r.retention_policy,
            username: r.username,
            password: r.password,
        }
    };
    if r.retry_initial.0.is_zero() {
        return Err(err("retry_initial", "must be above zero"));
    }
    if r.retry_max < r.retry_initial {
        return Err(err("retry_max", "must not be below retry_initial"));
    }
    if r.timeout.0.is_zero() {
        return Err(err("timeout", "must be above zero"));
    }
    Ok(InfluxConfig {
        url,
        api,
        batch_points: r.batch_points.0,
        buffer_points: r.buffer_points.0,
        buffer_bytes: usize::try_from(r.buffer_bytes.0).unwrap_or(usize::MAX),
        gzip: r.gzip,
        timeout: r.timeout.0,
        retry_initial: r.retry_initial.0,
        retry_max: r.retry_max.0,
        flush_timeout: r.flush_timeout.0,
    })
}

#[cfg(test)]
mod tests;
