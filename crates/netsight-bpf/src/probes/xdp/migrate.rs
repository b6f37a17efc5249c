//! Upgrading pinned state left by older layouts. The first kept the rules
//! in two LPM tries (`bl_v4`, `bl_v6`), whose keys are the prefix hashes'
//! keys byte for byte; later ones lacked maps added since (the compact IPv4
//! table, the chunked hit counters, the table's per-CPU copies). Rules keep their slots and their hit
//! counts (the retired per-slot counters stay pinned and are still read:
//! hits.rs). Each pinned link gets a program instance on the new maps
//! through BPF_LINK_UPDATE, an atomic swap: filtering never stops. Every
//! step can be repeated, so an upgrade cut short is finished by the next
//! command.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

use super::attach::pinned_link_live;
use super::blacklist::{read_rules, Blacklist};
use super::bpffs::{self, StateDir};
use super::error::{Result, XdpError};
use super::program::{self, MapSource, MAP_NAMES};
use super::raw;
use super::table::V4Table;

/// The tries of the first layout, and their key sizes.
pub const OLD_MAP_NAMES: [&str; 2] = ["bl_v4", "bl_v6"];
const OLD_KEY_SIZES: [u32; 2] = [raw::V4_KEY_SIZE, raw::V6_KEY_SIZE];

/// What an upgrade carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgraded {
    pub rules: usize,
    pub links: usize,
}

/// Upgrades `dir` if it holds an older layout; says so on stderr.
pub fn upgrade_if_old(dir: &StateDir) -> Result<Option<Upgraded>> {
    let first = upgrade_first_layout(dir)?;
    let added = add_missing_maps(dir)?;
    Ok(first.or(added))
}

/// Every pinned link gets a program instance on the current maps.
pub(super) fn relink_all(dir: &StateDir, bl: &Blacklist) -> Result<usize> {
    let mut links = 0;
    for (slot, _) in bl.table()? {
        if pinned_link_live(dir, slot) {
            let (prog, _) = program::load(slot, MapSource::Pinned(dir))?;
            swap_program(&dir.link(slot), prog.as_fd().as_raw_fd())?;
            links += 1;
        }
    }
    Ok(links)
}

/// State pinned before some of today's maps existed: create and pin them,
/// fill the IPv4 table from pfx_v4 (which older instances keep reading, and
/// which stays the record), then move every link to an instance using them.
fn add_missing_maps(dir: &StateDir) -> Result<Option<Upgraded>> {
    let missing = |d: &StateDir| -> Vec<&str> {
        if !d.map("pfx_v4").exists() {
            return Vec::new(); // no blacklist here at all
        }
        MAP_NAMES
            .into_iter()
            .filter(|n| !d.map(n).exists())
            .collect()
    };
    if missing(dir).is_empty() {
        return Ok(None);
    }
    let _lock = dir.lock()?;
    let added = missing(dir);
    if added.is_empty() {
        return Ok(None);
    }
    let copied = if added.contains(&COPIES) && dir.map("pfx4_table").exists() {
        pin_filled_copies(dir)?
    } else {
        0
    };
    let (_prog, maps) = program::load(0, MapSource::Pinned(dir))?;
    let bl = Blacklist::from_pinned(maps, dir.clone())?;
    let rules = bl.fill_v4_table()?;
    let links = relink_all(dir, &bl)?;
    eprintln!(
        "netsight: added {} to the pinned XDP blacklist in {} ({rules} IPv4 rules placed in the table, {copied} copied to each CPU's table, {links} attachments moved to the new maps)",
        added.join(", "),
        dir.path.display()
    );
    Ok(Some(Upgraded { rules, links }))
}

/// The per-CPU copies of the compact table (program.rs: MAP_NAMES).
const COPIES: &str = "pfx4_cpu";

/// Creates the per-CPU copies of a pinned compact table, fills them from it,
/// and only then pins them: a command cut short leaves no empty copies
/// behind for a new program instance to search. Returns the rules copied.
fn pin_filled_copies(dir: &StateDir) -> Result<usize> {
    let path = dir.map("pfx4_table");
    let shared = MapHandle::from_pinned_path(&path)
        .map_err(|e| XdpError::bpf(format!("opening {}", path.display()), e))?;
    program::check_layout("pfx4_table", &shared, Some(dir))?;
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        map_flags: libbpf_sys::BPF_F_MMAPABLE,
        ..Default::default()
    };
    let mut copies = MapHandle::create(
        MapType::Array,
        Some(COPIES),
        4,
        raw::PFX4_BUCKET_SIZE,
        program::copies_entries(),
        &opts,
    )
    .map_err(|e| XdpError::bpf(format!("creating {COPIES}"), e))?;
    let rules = V4Table::map(&shared, &copies, program::copies())?.fill_copies();
    copies
        .pin(dir.map(COPIES))
        .map_err(|e| XdpError::bpf(format!("pinning {COPIES}"), e))?;
    Ok(rules)
}

fn upgrade_first_layout(dir: &StateDir) -> Result<Option<Upgraded>> {
    if !OLD_MAP_NAMES.iter().any(|n| dir.map(n).exists()) {
        return Ok(None);
    }
    let _lock = dir.lock()?;
    let mut old = Vec::new();
    for (name, key_size) in OLD_MAP_NAMES.into_iter().zip(OLD_KEY_SIZES) {
        // Checked again under the lock: another command may have finished.
        if dir.map(name).exists() {
            old.push((open_old(dir, name, key_size)?, name));
        }
    }
    if old.is_empty() {
        return Ok(None);
    }
    let refs: Vec<(&MapHandle, &str)> = old.iter().map(|(m, n)| (m, *n)).collect();
    let rules = read_rules(&refs)?;

    // Creates and pins the new maps; reuses (and checks) the unchanged ones.
    let (_prog, maps) = program::load(0, MapSource::Pinned(dir))?;
    let bl = Blacklist::from_pinned(maps, dir.clone())?;
    bl.restore_rules(&rules)?;
    bl.fill_v4_table()?;
    let links = relink_all(dir, &bl)?;
    for name in OLD_MAP_NAMES {
        bpffs::remove_if_exists(&dir.map(name))?;
    }
    let done = Upgraded {
        rules: rules.len(),
        links,
    };
    eprintln!(
        "netsight: upgraded the pinned XDP blacklist in {} to per-length prefix hashes ({} rules, {} attachments kept)",
        dir.path.display(),
        done.rules,
        done.links
    );
    Ok(Some(done))
}

fn open_old(dir: &StateDir, name: &str, key_size: u32) -> Result<MapHandle> {
    let path = dir.map(name);
    let map = MapHandle::from_pinned_path(&path)
        .map_err(|e| XdpError::bpf(format!("opening {}", path.display()), e))?;
    let got = (map.map_type(), map.key_size(), map.value_size());
    if got != (MapType::LpmTrie, key_size, raw::SLOT_SIZE) {
        return Err(XdpError::Incompatible {
            path: dir.path.clone(),
            what: format!("map {name} is {got:?}, expected an LPM trie of rule slots"),
        });
    }
    Ok(map)
}

/// Replaces the program of the pinned link at `path` (BPF_LINK_UPDATE).
fn swap_program(path: &Path, prog_fd: i32) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| XdpError::io("link path", io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: c is a NUL-terminated path.
    let fd = unsafe { libbpf_sys::bpf_obj_get(c.as_ptr()) };
    if fd < 0 {
        return Err(XdpError::io(
            format!("opening {}", path.display()),
            io::Error::from_raw_os_error(-fd),
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    let link = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: both descriptors are valid; NULL options are allowed.
    let rc = unsafe { libbpf_sys::bpf_link_update(link.as_raw_fd(), prog_fd, std::ptr::null()) };
    if rc < 0 {
        return Err(XdpError::io(
            format!("updating the program of {}", path.display()),
            io::Error::from_raw_os_error(-rc),
        ));
    }
    Ok(())
}

impl Blacklist {
    /// Puts rules back with the slots (and so the hit counts) they had. The
    /// caller holds the directory lock.
    fn restore_rules(&self, rules: &[(super::cidr::Cidr, u32)]) -> Result<()> {
        self.write_lens(rules.iter().map(|(c, _)| c))?;
        for (cidr, slot) in rules {
            let map = match cidr {
                super::cidr::Cidr::V4 { .. } => &self.maps.v4,
                super::cidr::Cidr::V6 { .. } => &self.maps.v6,
            };
            map.update(&raw::prefix_key(cidr), &slot.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| XdpError::bpf(format!("restoring {cidr}"), e))?;
        }
        Ok(())
    }
}
