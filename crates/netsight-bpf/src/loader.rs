//! What every probe needs to load: libbpf's log routed to us (so verifier
//! and BTF errors reach the user), tracefs mounted for classic tracepoints,
//! and one error type that says what failed and why.

use std::sync::Mutex;

use libbpf_rs::skel::SkelBuilder;
use libbpf_rs::PrintLevel;

/// The last lines libbpf printed (verifier log, BTF errors), kept so a
/// failed load can say why.
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
const LOG_LINES_KEPT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening {object}: {source}")]
    Open {
        object: &'static str,
        source: libbpf_rs::Error,
    },
    #[error("loading {object}: {}{}", permission_hint(source), log_tail(log))]
    Load {
        object: &'static str,
        source: libbpf_rs::Error,
        log: Vec<String>,
    },
    #[error("attaching {program}: {}{}", permission_hint(source), log_tail(log))]
    Attach {
        program: String,
        source: libbpf_rs::Error,
        log: Vec<String>,
    },
    #[error("reading {what}: {source}")]
    Read {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        source: libbpf_rs::Error,
    },
}

fn permission_hint(e: &libbpf_rs::Error) -> String {
    // EPERM is about privilege; EACCES from a load is the verifier's "no".
    if e.to_string().contains("(os error 1)") {
        format!("{e} (netsight needs root, or CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN)")
    } else {
        e.to_string()
    }
}

/// The useful part of libbpf's log on one line: which program failed and
/// the verifier's verdict (the line before its "processed N insns").
fn log_tail(log: &[String]) -> String {
    let failed = log
        .iter()
        .map(String::as_str)
        .find(|l| l.contains("BPF program load failed") || l.contains("failed to"));
    let verdict = log
        .iter()
        .position(|l| l.starts_with("processed "))
        .and_then(|i| i.checked_sub(1))
        .map(|i| log[i].as_str());
    let parts: Vec<&str> = failed.into_iter().chain(verdict).map(str::trim).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join(": "))
    }
}

fn on_libbpf_print(level: PrintLevel, msg: String) {
    if level == PrintLevel::Debug {
        return;
    }
    if std::env::var_os("NETSIGHT_LIBBPF_LOG").is_some() {
        eprint!("{msg}");
    }
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        for line in msg.lines().filter(|l| !l.trim().is_empty()) {
            if log.len() == LOG_LINES_KEPT {
                log.remove(0);
            }
            log.push(line.to_string());
        }
    }
}

/// Routes libbpf's messages into our buffer (idempotent). Set
/// NETSIGHT_LIBBPF_LOG=1 to also see them on stderr.
pub fn init() {
    libbpf_rs::set_print(Some((PrintLevel::Info, on_libbpf_print)));
    mount_tracefs();
}

/// Points a skeleton's CO-RE relocations at the `--btf` file, if one was
/// given (libbpf reads the kernel's own BTF otherwise).
pub fn use_custom_btf<'obj>(
    builder: &mut impl SkelBuilder<'obj>,
    object: &'static str,
) -> Result<(), Error> {
    if let Some(path) = crate::btf::custom_path() {
        builder
            .object_builder_mut()
            .btf_custom_path(path)
            .map_err(|source| Error::Open { object, source })?;
    }
    Ok(())
}

/// Takes (and clears) what libbpf printed since the last call.
pub fn take_log() -> Vec<String> {
    LIBBPF_LOG
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// Classic tracepoints are attached through tracefs ids; mount tracefs where
/// libbpf looks for it if nothing is there (a fresh boot often has neither
/// tracefs nor debugfs mounted).
fn mount_tracefs() {
    let dir = "/sys/kernel/tracing";
    if std::path::Path::new(dir).join("events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return;
    }
    let src = c"tracefs";
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; data may be NULL.
    unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        );
    }
}

/// Attaches every program of an object except those named in `manual`,
/// naming the program that failed.
pub fn attach_all(
    object: &mut libbpf_rs::Object,
    manual: &[&str],
) -> Result<Vec<libbpf_rs::Link>, Error> {
    let mut links = Vec::new();
    for prog in object.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        if manual.contains(&name.as_str()) {
            continue;
        }
        take_log();
        let link = prog.attach().map_err(|source| Error::Attach {
            program: name,
            source,
            log: take_log(),
        })?;
        links.push(link);
    }
    Ok(links)
}
