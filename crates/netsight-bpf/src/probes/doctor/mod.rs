//! Kernel capability probing for `netsight doctor`: each hook type is judged
//! by loading (and where it means something, attaching or running) a tiny
//! program, never by reading a config file.

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{IterOpts, OpenObject, ProgramInput, UprobeOpts};

use crate::loader;

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/doctor.skel.rs"));
}
use skel::{DoctorSkel, DoctorSkelBuilder};

/// Hook types in the order SPEC §2 lists them.
pub const HOOKS: [&str; 10] = [
    "tracepoint",
    "raw_tp",
    "tp_btf",
    "kprobe",
    "fentry",
    "uprobe",
    "xdp",
    "tc",
    "ringbuf",
    "iter",
];

/// Whether one hook type works here, and if not, the kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResult {
    pub hook: &'static str,
    pub ok: bool,
    pub reason: String,
}

/// Tries every hook type.
pub fn probe_hooks() -> Vec<HookResult> {
    loader::init();
    HOOKS
        .iter()
        .map(|&hook| match probe(hook) {
            Ok(()) => HookResult {
                hook,
                ok: true,
                reason: String::new(),
            },
            Err(reason) => HookResult {
                hook,
                ok: false,
                reason,
            },
        })
        .collect()
}

/// Whether one hook type loads (and attaches) here.
pub fn hook_works(hook: &'static str) -> bool {
    loader::init();
    probe(hook).is_ok()
}

fn program_name(hook: &str) -> String {
    format!("probe_{hook}")
}

fn probe(hook: &'static str) -> Result<(), String> {
    let mut object = MaybeUninit::<OpenObject>::uninit();
    let mut builder = DoctorSkelBuilder::default();
    loader::use_custom_btf(&mut builder, "doctor").map_err(|e| e.to_string())?;
    let mut open = builder.open(&mut object).map_err(|e| e.to_string())?;
    let wanted = program_name(hook);
    for mut prog in open.open_object_mut().progs_mut() {
        let keep = prog.name().to_string_lossy() == wanted;
        prog.set_autoload(keep);
    }
    open.maps
        .probe_ringbuf_map
        .set_autocreate(hook == "ringbuf")
        .map_err(|e| e.to_string())?;
    loader::take_log();
    let skel = open.load().map_err(|e| explain(&e))?;
    exercise(hook, &skel).map_err(|e| explain(&e))
}

fn explain(e: &libbpf_rs::Error) -> String {
    let log = loader::take_log();
    match log.iter().rev().find(|l| !l.trim().is_empty()) {
        Some(last) => format!("{e} ({})", last.trim()),
        None => e.to_string(),
    }
}

/// Attaches or runs the loaded program the way netsight would use it.
fn exercise(hook: &str, skel: &DoctorSkel<'_>) -> libbpf_rs::Result<()> {
    let p = &skel.progs;
    match hook {
        "tracepoint" => p.probe_tracepoint.attach().map(drop),
        "raw_tp" => p.probe_raw_tp.attach().map(drop),
        "tp_btf" => p.probe_tp_btf.attach().map(drop),
        "kprobe" => p.probe_kprobe.attach().map(drop),
        "fentry" => p.probe_fentry.attach().map(drop),
        "ringbuf" => p.probe_ringbuf.attach().map(drop),
        "uprobe" => {
            let offset = self_entry_offset().ok_or_else(|| {
                libbpf_rs::Error::from(std::io::Error::other(
                    "cannot find this binary's entry point",
                ))
            })?;
            let opts = UprobeOpts {
                func_name: None,
                ..Default::default()
            };
            p.probe_uprobe
                .attach_uprobe_with_opts(-1, "/proc/self/exe", offset, opts)
                .map(drop)
        }
        "xdp" | "tc" => {
            // Run on a fake frame: proves the program type works without
            // touching any real interface.
            let frame = [0u8; 64];
            let input = ProgramInput {
                data_in: Some(&frame),
                ..Default::default()
            };
            let prog = if hook == "xdp" {
                &p.probe_xdp
            } else {
                &p.probe_tc
            };
            prog.test_run(input).map(drop)
        }
        "iter" => {
            let link = p.probe_iter.attach_iter_with_opts(IterOpts::None)?;
            let mut it = libbpf_rs::Iter::new(&link)?;
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut it, &mut sink).map_err(libbpf_rs::Error::from)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// File offset of this executable's entry point (a valid instruction to
/// place a uprobe on, present even in stripped static binaries).
fn self_entry_offset() -> Option<usize> {
    let elf = std::fs::read("/proc/self/exe").ok()?;
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    if elf.get(0..5)? != b"\x7fELF\x02" {
        return None;
    }
    let entry = u64_at(24)?;
    let (phoff, phentsize, phnum) = (
        u64_at(32)? as usize,
        u16_at(54)? as usize,
        u16_at(56)? as usize,
    );
    (0..phnum).find_map(|i| {
        let ph = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf.get(ph..ph + 4)?.try_into().ok()?);
        let (offset, vaddr, filesz) = (u64_at(ph + 8)?, u64_at(ph + 16)?, u64_at(ph + 32)?);
        (p_type == 1 && (vaddr..vaddr + filesz).contains(&entry))
            .then(|| (entry - vaddr + offset) as usize)
    })
}

/// Whether the kernel's BTF (or the `--btf` file) can be read: CO-RE
/// needs it.
pub fn btf_available() -> bool {
    crate::btf::kernel().is_some()
}

/// Whether each "category:name" tracepoint exists: tracefs first (classic
/// tracepoints need it anyway), the kernel's BTF as a fallback for raw
/// tracepoints.
pub fn tracepoints_exist(names: &[&str]) -> Vec<bool> {
    loader::init();
    let btf = crate::btf::kernel();
    names
        .iter()
        .map(|tp| {
            let (category, name) = tp.split_once(':').unwrap_or(("", tp));
            let in_tracefs = [
                "/sys/kernel/tracing/events",
                "/sys/kernel/debug/tracing/events",
            ]
            .iter()
            .any(|root| {
                std::path::Path::new(root)
                    .join(category)
                    .join(name)
                    .exists()
            });
            in_tracefs
                || btf.as_ref().is_some_and(|b| {
                    b.type_by_name::<libbpf_rs::btf::BtfType<'_>>(&format!("btf_trace_{name}"))
                        .is_some()
                })
        })
        .collect()
}
