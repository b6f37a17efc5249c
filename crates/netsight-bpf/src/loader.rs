//! What every probe needs to load: libbpf's log routed to us (so verifier
//! and BTF errors reach the user), tracefs mounted for classic tracepoints,
//! and one error type that says what failed and why.

use std::sync::{Mutex, OnceLock};

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
    #[error("{what} cannot run: {why}")]
    Unavailable { what: &'static str, why: String },
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

/// A program this run does without, and why: the kernel refused it (at
/// load or attach), or the user asked netsight to treat it as refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub program: String,
    /// One line: the errno and the stage, e.g. "refused at load (EPERM)".
    pub reason: String,
}

/// The environment variable naming programs to treat as refused
/// (comma-separated), like the global `--refuse` flag.
pub const REFUSE_ENV: &str = "NETSIGHT_REFUSE";

static USER_REFUSED: OnceLock<Vec<String>> = OnceLock::new();

/// Programs to treat as refused, from `--refuse` (first call wins); without
/// it, [`REFUSE_ENV`] is read.
pub fn set_user_refused(programs: Vec<String>) {
    let _ = USER_REFUSED.set(programs);
}

/// The programs the user asked to treat as refused.
pub fn user_refused() -> &'static [String] {
    USER_REFUSED.get_or_init(|| {
        std::env::var(REFUSE_ENV)
            .map(|v| parse_program_list(&v))
            .unwrap_or_default()
    })
}

/// "a, b,,c" -> [a, b, c].
pub fn parse_program_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// The program a failed load names in libbpf's log, and why, in one line.
pub fn refused_program(log: &[String]) -> Option<Refused> {
    // "libbpf: prog 'dump_sockets': BPF program load failed: -EPERM", or
    // "libbpf: prog 'dump_udp': failed to load: -EACCES" (a verifier no).
    let line = log.iter().find(|l| {
        l.contains("prog '")
            && (l.contains("BPF program load failed") || l.contains("failed to load"))
    })?;
    let program = line.split('\'').nth(1)?.to_string();
    // "prog 'trace_send': failed to find kernel BTF type ID of
    // 'btf_trace_sock_send_length': -ESRCH": the hook is not in this kernel.
    let prefix = format!("prog '{program}': failed to find kernel BTF type ID of '");
    if let Some(hook) = log.iter().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        rest.split('\'').next()
    }) {
        let hook = hook.trim_start_matches("btf_trace_");
        return Some(Refused {
            program,
            reason: format!("not in this kernel (no {hook} hook)"),
        });
    }
    let errno = line
        .rsplit(": ")
        .next()
        .map(|e| e.trim().trim_start_matches('-').to_string())
        .filter(|e| e.starts_with('E'))
        .unwrap_or_else(|| "error".into());
    // The verifier's verdict, when it got that far ("processed 0 insns"
    // means it never ran: refused before verification, e.g. by an LSM).
    let verdict = log
        .iter()
        .position(|l| l.starts_with("processed "))
        .and_then(|i| i.checked_sub(1))
        .map(|i| log[i].trim())
        .filter(|v| !v.contains("BEGIN PROG LOAD LOG"))
        .map(|v| format!(": {v}"))
        .unwrap_or_default();
    Some(Refused {
        program,
        reason: format!("refused at load ({errno}{verdict})"),
    })
}

/// Which program a failed load or attach was about, and why, in one line.
fn refusal(e: &Error) -> Option<Refused> {
    match e {
        Error::Load { log, .. } => refused_program(log),
        Error::Attach {
            program, source, ..
        } => Some(Refused {
            program: program.clone(),
            reason: format!("refused at attach ({source})"),
        }),
        _ => None,
    }
}

/// Loads an object by trial. `attempt` opens, configures, loads and
/// attaches it with the given programs turned off; when the kernel refuses
/// one of `programs` (a BPF LSM policy, a verifier limit, a missing hook),
/// that program is turned off and the object is loaded again, so a refusal
/// costs only the features that need that program. Programs the user named
/// in `--refuse` / NETSIGHT_REFUSE start out refused. Any other failure
/// (a map the kernel will not create, no privilege) is returned as is.
pub fn load_by_trial<T>(
    programs: &[&str],
    also_refuse: &[String],
    mut attempt: impl FnMut(&[Refused]) -> Result<T, Error>,
) -> Result<(T, Vec<Refused>), Error> {
    let mut refused: Vec<Refused> = Vec::new();
    let asked = user_refused()
        .iter()
        .map(|p| (p, format!("refused by --refuse/{REFUSE_ENV}")))
        .chain(
            also_refuse
                .iter()
                .map(|p| (p, "refused by the caller".to_string())),
        );
    for (program, reason) in asked {
        if programs.contains(&program.as_str()) && !refused.iter().any(|r| &r.program == program) {
            refused.push(Refused {
                program: program.clone(),
                reason,
            });
        }
    }
    loop {
        match attempt(&refused) {
            Ok(loaded) => return Ok((loaded, refused)),
            Err(e) => match refusal(&e) {
                Some(r)
                    if programs.contains(&r.program.as_str())
                        && !refused.iter().any(|x| x.program == r.program) =>
                {
                    refused.push(r)
                }
                _ => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(lines: &[&str]) -> Error {
        Error::Load {
            object: "sockets",
            source: libbpf_rs::Error::from_raw_os_error(libc::EPERM),
            log: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn a_missing_tracepoint_is_named_not_called_a_refusal() {
        let e = load_error(&[
            "libbpf: prog 'trace_send': failed to find kernel BTF type ID of 'btf_trace_sock_send_length': -ESRCH",
            "libbpf: prog 'trace_send': failed to prepare load attributes: -ESRCH",
            "libbpf: prog 'trace_send': failed to load: -ESRCH",
        ]);
        let r = refusal(&e).unwrap();
        assert_eq!(r.program, "trace_send");
        assert_eq!(r.reason, "not in this kernel (no sock_send_length hook)");
    }

    #[test]
    fn a_refused_program_is_named_with_its_errno() {
        let e = load_error(&[
            "libbpf: prog 'dump_sockets': BPF program load failed: -EPERM",
            "libbpf: prog 'dump_sockets': -- BEGIN PROG LOAD LOG --",
            "processed 0 insns (limit 1000000)",
        ]);
        let r = refusal(&e).unwrap();
        assert_eq!(r.program, "dump_sockets");
        assert!(
            r.reason.starts_with("refused at load (EPERM"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn trial_turns_off_each_refused_program_and_retries() {
        let mut attempts = 0;
        let (n, refused) = load_by_trial(&["a", "b", "c"], &[], |off| {
            attempts += 1;
            for p in ["a", "c"] {
                if !off.iter().any(|r| r.program == p) {
                    return Err(load_error(&[&format!(
                        "libbpf: prog '{p}': BPF program load failed: -EACCES"
                    )]));
                }
            }
            Ok(off.len())
        })
        .unwrap();
        assert_eq!((n, attempts), (2, 3));
        let names: Vec<_> = refused.iter().map(|r| r.program.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn a_verifier_refusal_is_named_too() {
        let e = load_error(&["libbpf: prog 'dump_udp': failed to load: -EACCES"]);
        let r = refusal(&e).unwrap();
        assert_eq!(r.program, "dump_udp");
        assert!(
            r.reason.starts_with("refused at load (EACCES"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn a_failure_that_names_no_known_program_is_returned() {
        let r = load_by_trial(&["a"], &[], |_| -> Result<(), Error> {
            Err(load_error(&["libbpf: map 'x': failed to create: -EPERM"]))
        });
        assert!(r.is_err());
        let r = load_by_trial(&["a"], &[], |_| -> Result<(), Error> {
            Err(load_error(&[
                "libbpf: prog 'zzz': BPF program load failed: -EPERM",
            ]))
        });
        assert!(r.is_err(), "a program outside the list is not ours to drop");
    }
}
