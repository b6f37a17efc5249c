//! Loading one instance of the XDP program. Every attachment gets its own
//! instance (its `iface_slot` is baked into rodata) and all instances share
//! the same maps: pinned ones for the CLI, private ones for tests and the
//! benchmark.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapHandle, MapType};

use super::bpffs::StateDir;
use super::error::{Result, XdpError};
use super::raw;
use super::skel::XdpSkelBuilder;

pub const MAP_NAMES: [&str; 10] = [
    "pfx_v4",
    "pfx_v6",
    "pfx_lens",
    "hit_chunks",
    "hit_base",
    "iface_stats",
    "iface_table",
    "pfx4_table",
    "pfx4_meta",
    "pfx4_cpu",
];

/// The shared maps, as owned descriptors (valid without the skeleton).
#[derive(Debug)]
pub struct Maps {
    pub v4: MapHandle,
    pub v6: MapHandle,
    pub lens: MapHandle,
    pub hit_chunks: MapHandle,
    pub hit_base: MapHandle,
    pub iface_stats: MapHandle,
    pub iface_table: MapHandle,
    pub v4_table: MapHandle,
    pub v4_meta: MapHandle,
    /// The compact table once per CPU, with the counts (xdp.h).
    pub v4_copies: MapHandle,
}

/// Where an instance gets its maps from.
pub enum MapSource<'a> {
    /// Reuse the maps pinned in the directory, creating (and pinning) any missing.
    Pinned(&'a StateDir),
    /// Reuse these maps.
    Shared(&'a Maps),
    /// Fresh, unpinned maps.
    Fresh,
}

/// Expected (type, key size, value size, max entries) of each map.
fn expected(name: &str) -> (MapType, u32, u32, u32) {
    match name {
        "pfx_v4" => (
            MapType::Hash,
            raw::V4_KEY_SIZE,
            raw::SLOT_SIZE,
            raw::MAX_RULES,
        ),
        "pfx_v6" => (
            MapType::Hash,
            raw::V6_KEY_SIZE,
            raw::SLOT_SIZE,
            raw::MAX_RULES,
        ),
        "pfx_lens" => (MapType::Array, 4, raw::PREFIX_LENS_SIZE, 1),
        "pfx4_table" => (MapType::Array, 4, raw::PFX4_BUCKET_SIZE, raw::PFX4_BUCKETS),
        "pfx4_meta" => (MapType::Array, 4, raw::PFX4_META_SIZE, 1),
        "pfx4_cpu" => (MapType::Array, 4, raw::PFX4_BUCKET_SIZE, copies_entries()),
        "hit_chunks" => (
            MapType::PercpuArray,
            4,
            raw::HIT_CHUNK_SIZE,
            raw::HIT_CHUNKS,
        ),
        "hit_base" => (MapType::Array, 4, 8, raw::MAX_RULES),
        super::hits::LEGACY_HITS => (MapType::PercpuArray, 4, 8, raw::MAX_RULES),
        "iface_stats" => (
            MapType::PercpuArray,
            4,
            raw::IFACE_COUNTERS_SIZE,
            raw::MAX_IFACES,
        ),
        _ => (MapType::Array, 4, raw::IFACE_ENTRY_SIZE, raw::MAX_IFACES),
    }
}

/// pfx4_cpu's size: the table once per possible CPU id.
pub(super) fn copies_entries() -> u32 {
    (copies() as u32).saturating_mul(raw::PFX4_BUCKETS)
}

/// How many copies of the table: the highest possible CPU id + 1 (the
/// program indexes them by its CPU id; ids need not be contiguous, so the
/// count of possible CPUs is not enough).
pub(super) fn copies() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| highest_cpu(&s))
        .map(|id| id + 1)
        .or_else(|| libbpf_rs::num_possible_cpus().ok())
        .unwrap_or(1)
}

/// The highest id in a CPU list such as "0-3,8-11".
fn highest_cpu(list: &str) -> Option<usize> {
    list.trim()
        .split(',')
        .filter_map(|r| r.rsplit('-').next()?.trim().parse().ok())
        .max()
}

pub(super) fn check_layout(name: &str, map: &MapHandle, dir: Option<&StateDir>) -> Result<()> {
    let (ty, key, value, max) = expected(name);
    let got = (
        map.map_type(),
        map.key_size(),
        map.value_size(),
        map.max_entries(),
    );
    if got == (ty, key, value, max) {
        return Ok(());
    }
    let what = format!(
        "map {name} is {got:?}, expected {:?}",
        (ty, key, value, max)
    );
    match dir {
        Some(d) => Err(XdpError::Incompatible {
            path: d.path.clone(),
            what,
        }),
        None => Err(XdpError::Bpf {
            context: what,
            source: libbpf_rs::Error::from_raw_os_error(libc::EINVAL),
        }),
    }
}

impl Maps {
    /// Opens the pinned maps, checking that their layout is the one this
    /// build expects (a different netsight may have created them).
    pub fn open_pinned(dir: &StateDir) -> Result<Maps> {
        let open = |name: &str| -> Result<MapHandle> {
            let path = dir.map(name);
            let map = MapHandle::from_pinned_path(&path)
                .map_err(|e| XdpError::bpf(format!("opening {}", path.display()), e))?;
            check_layout(name, &map, Some(dir))?;
            Ok(map)
        };
        Ok(Maps {
            v4: open("pfx_v4")?,
            v6: open("pfx_v6")?,
            lens: open("pfx_lens")?,
            hit_chunks: open("hit_chunks")?,
            hit_base: open("hit_base")?,
            iface_stats: open("iface_stats")?,
            iface_table: open("iface_table")?,
            v4_table: open("pfx4_table")?,
            v4_meta: open("pfx4_meta")?,
            v4_copies: open("pfx4_cpu")?,
        })
    }

    pub fn all_pinned(dir: &StateDir) -> bool {
        MAP_NAMES.iter().all(|n| dir.map(n).exists())
    }

    fn by_name(&self, name: &str) -> &MapHandle {
        match name {
            "pfx_v4" => &self.v4,
            "pfx_v6" => &self.v6,
            "pfx_lens" => &self.lens,
            "hit_chunks" => &self.hit_chunks,
            "hit_base" => &self.hit_base,
            "iface_stats" => &self.iface_stats,
            "pfx4_table" => &self.v4_table,
            "pfx4_meta" => &self.v4_meta,
            "pfx4_cpu" => &self.v4_copies,
            _ => &self.iface_table,
        }
    }
}

/// Loads one program instance counting on `iface_slot`; returns the program
/// descriptor and the maps it uses.
pub fn load(iface_slot: u32, maps: MapSource<'_>) -> Result<(OwnedFd, Maps)> {
    crate::loader::init();
    if crate::loader::user_refused()
        .iter()
        .any(|p| p == super::PROGRAM_NAME)
    {
        return Err(XdpError::Refused {
            program: super::PROGRAM_NAME.into(),
            reason: format!("refused by --refuse/{}", crate::loader::REFUSE_ENV),
        });
    }
    if let MapSource::Pinned(dir) = &maps {
        // Refuse early, with a clear message, rather than let libbpf fail
        // reusing a map whose layout changed between netsight versions.
        for name in MAP_NAMES {
            if let Ok(m) = MapHandle::from_pinned_path(dir.map(name)) {
                check_layout(name, &m, Some(dir))?;
            }
        }
    }
    let mut storage = MaybeUninit::uninit();
    let mut open = XdpSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| XdpError::bpf("opening the XDP object", e))?;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.iface_slot = iface_slot;
    }
    open.maps
        .pfx4_cpu
        .set_max_entries(copies_entries())
        .map_err(|e| XdpError::bpf("sizing pfx4_cpu", e))?;
    for map in [
        &mut open.maps.pfx_v4,
        &mut open.maps.pfx_v6,
        &mut open.maps.pfx_lens,
        &mut open.maps.hit_chunks,
        &mut open.maps.hit_base,
        &mut open.maps.iface_stats,
        &mut open.maps.iface_table,
        &mut open.maps.pfx4_table,
        &mut open.maps.pfx4_meta,
        &mut open.maps.pfx4_cpu,
    ] {
        let name = map.name().to_string_lossy().into_owned();
        let res = match &maps {
            MapSource::Pinned(dir) => map.set_pin_path(dir.map(&name)),
            MapSource::Shared(shared) => map.reuse_fd(shared.by_name(&name).as_fd()),
            MapSource::Fresh => Ok(()),
        };
        res.map_err(|e| XdpError::bpf(format!("preparing map {name}"), e))?;
    }
    crate::loader::take_log();
    let skel = open.load().map_err(|source| {
        let log = crate::loader::take_log();
        let refused = crate::loader::refused_program(&log);
        if let Some(r) = refused.filter(|r| r.program == super::PROGRAM_NAME) {
            // Root, yet the kernel said no to the program (a BPF LSM policy).
            XdpError::Refused {
                program: r.program,
                reason: r.reason,
            }
        } else if source.kind() == libbpf_rs::ErrorKind::PermissionDenied {
            XdpError::Permission("loading the XDP program".into())
        } else {
            XdpError::Load { source, log }
        }
    })?;
    let dup = |m: &libbpf_rs::Map<'_>, name: &str| {
        MapHandle::try_from(m).map_err(|e| XdpError::bpf(format!("duplicating map {name}"), e))
    };
    let out = Maps {
        v4: dup(&skel.maps.pfx_v4, "pfx_v4")?,
        v6: dup(&skel.maps.pfx_v6, "pfx_v6")?,
        lens: dup(&skel.maps.pfx_lens, "pfx_lens")?,
        hit_chunks: dup(&skel.maps.hit_chunks, "hit_chunks")?,
        hit_base: dup(&skel.maps.hit_base, "hit_base")?,
        iface_stats: dup(&skel.maps.iface_stats, "iface_stats")?,
        iface_table: dup(&skel.maps.iface_table, "iface_table")?,
        v4_table: dup(&skel.maps.pfx4_table, "pfx4_table")?,
        v4_meta: dup(&skel.maps.pfx4_meta, "pfx4_meta")?,
        v4_copies: dup(&skel.maps.pfx4_cpu, "pfx4_cpu")?,
    };
    let prog = skel
        .progs
        .netsight_xdp
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| XdpError::io("duplicating the program descriptor", e))?;
    debug_assert!(prog.as_raw_fd() >= 0);
    Ok((prog, out))
}

#[cfg(test)]
mod tests {
    use super::highest_cpu;

    #[test]
    fn highest_cpu_of_a_list() {
        assert_eq!(highest_cpu("0-1\n"), Some(1));
        assert_eq!(highest_cpu("0"), Some(0));
        assert_eq!(highest_cpu("0-3,8-11"), Some(11));
        assert_eq!(highest_cpu("0,2,5"), Some(5));
        assert_eq!(highest_cpu(""), None);
    }
}
