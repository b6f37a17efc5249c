//! The `[json]` sink / `--json`: SPEC §3 process records, the summary line
//! and SPEC §4 system records, as JSON lines on stdout or appended to a file.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};

use anyhow::Context;
use netsight_events::process::SummaryRecord;
use netsight_sysstat::output::SystemRecord;

use super::sinks::Collected;

pub struct JsonSink {
    pub path: String,
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonSink {
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the JSON output {path}"))?,
            )
        };
        Ok(JsonSink {
            path: path.to_string(),
            out: BufWriter::new(out),
        })
    }

    pub fn write(&mut self, c: &Collected<'_>) -> std::io::Result<()> {
        for r in c.records {
            serde_json::to_writer(&mut self.out, r)?;
            self.out.write_all(b"\n")?;
        }
        let summary = SummaryRecord {
            kind: "summary",
            ts: c.info.ts.clone(),
            lost_events: c.info.lost_events,
            processes: c.records.len() as u64,
        };
        serde_json::to_writer(&mut self.out, &summary)?;
        self.out.write_all(b"\n")?;
        for cv in c.charts {
            serde_json::to_writer(
                &mut self.out,
                &SystemRecord::new(&c.info.ts, c.info.interval_s, cv),
            )?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}
