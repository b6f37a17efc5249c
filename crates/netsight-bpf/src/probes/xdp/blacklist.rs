//! The rule set: prefixes in two hashes (one per family) keyed by (length,
//! masked address), each pointing at a slot of the per-CPU hit counters,
//! plus the bitmap of lengths in use that the program walks. Slots are
//! handed out by user space; the hashes are the only record of which slots
//! are in use.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{fence, Ordering};

use libbpf_rs::{MapCore, MapFlags, MapHandle};

use super::bpffs::{DirLock, StateDir};
use super::cidr::Cidr;
use super::error::{Result, XdpError};
use super::grace::Grace;
use super::hits::{HitCounters, LEGACY_HITS};
use super::migrate;
use super::program::{self, MapSource, Maps};
use super::raw::{self, Geometry};
use super::table::{Placed, V4Table};
use crate::mapped::MappedU64s;

/// How often `rule_hits` reads a rule again when a carry of its count ran
/// while it read (a carry comes once per 2^25 hits of a rule on a CPU).
const CARRY_RETRIES: usize = 1000;

/// One rule and its exact hit count (summed over CPUs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHits {
    pub cidr: Cidr,
    pub hits: u64,
}

/// What `add` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOutcome {
    pub added: usize,
    pub already_present: usize,
}

/// A blacklist: pinned (shared by every attachment, outlives the process) or
/// private (dies with its last descriptor; for tests and the benchmark).
#[derive(Debug)]
pub struct Blacklist {
    pub(crate) maps: Maps,
    pub(crate) dir: Option<StateDir>,
    ncpus: usize,
    v4_table: V4Table,
    hit_base: MappedU64s,
    /// Counts of state pinned before the hit chunks (hits.rs).
    legacy_hits: Option<MapHandle>,
    /// Tests: as if the kernel refused what growing the table needs.
    growth_refused: std::cell::Cell<bool>,
}

impl Blacklist {
    /// The pinned blacklist, or `None` if none was ever created. Creates
    /// nothing, with one exception: state pinned by netsight's first layout
    /// is upgraded in place (migrate.rs), which pins the new maps.
    pub fn open() -> Result<Option<Blacklist>> {
        let Some(dir) = StateDir::existing() else {
            return Ok(None);
        };
        migrate::upgrade_if_old(&dir)?;
        if !Maps::all_pinned(&dir) {
            return Ok(None);
        }
        let maps = Maps::open_pinned(&dir)?;
        Ok(Some(Blacklist::new(maps, Some(dir))?))
    }

    /// The pinned blacklist, created (empty) if needed.
    pub fn open_or_create() -> Result<Blacklist> {
        let dir = StateDir::create()?;
        migrate::upgrade_if_old(&dir)?;
        let maps = {
            let _lock = dir.lock()?;
            if Maps::all_pinned(&dir) {
                Maps::open_pinned(&dir)
            } else {
                program::load(0, MapSource::Pinned(&dir)).map(|(_, maps)| maps)
            }
        };
        match maps {
            Ok(maps) => Blacklist::new(maps, Some(dir)),
            Err(e) => {
                // A refused program leaves no empty directory behind (one
                // that holds pins stays: removing a non-empty one fails).
                let _ = dir.remove_all(&[]);
                Err(e)
            }
        }
    }

    /// A fresh blacklist that nothing else sees.
    pub fn private() -> Result<Blacklist> {
        let (_prog, maps) = program::load(0, MapSource::Fresh)?;
        Blacklist::new(maps, None)
    }

    pub(super) fn from_pinned(maps: Maps, dir: StateDir) -> Result<Blacklist> {
        Blacklist::new(maps, Some(dir))
    }

    fn new(maps: Maps, dir: Option<StateDir>) -> Result<Blacklist> {
        let ncpus =
            libbpf_rs::num_possible_cpus().map_err(|e| XdpError::bpf("counting CPUs", e))?;
        let v4_table = V4Table::map(&maps.v4_table, &maps.v4_copies, program::copies())?;
        let hit_base = MappedU64s::map(&maps.hit_base, raw::MAX_RULES as usize)
            .map_err(|e| XdpError::io("mapping hit_base", e))?;
        let legacy_hits = match &dir {
            Some(d) if d.map(LEGACY_HITS).exists() => {
                let path = d.map(LEGACY_HITS);
                let map = MapHandle::from_pinned_path(&path)
                    .map_err(|e| XdpError::bpf(format!("opening {}", path.display()), e))?;
                program::check_layout(LEGACY_HITS, &map, Some(d))?;
                Some(map)
            }
            _ => None,
        };
        let bl = Blacklist {
            maps,
            dir,
            ncpus,
            v4_table,
            hit_base,
            legacy_hits,
            growth_refused: Default::default(),
        };
        bl.sync_geometry()?;
        Ok(bl)
    }

    fn hits(&self) -> HitCounters<'_> {
        HitCounters::new(
            &self.maps.hit_chunks,
            &self.hit_base,
            self.legacy_hits.as_ref(),
            self.ncpus,
        )
    }

    pub fn is_pinned(&self) -> bool {
        self.dir.is_some()
    }

    pub(crate) fn lock(&self) -> Result<Option<DirLock>> {
        self.dir.as_ref().map(StateDir::lock).transpose()
    }

    /// Every rule with its slot, sorted (IPv4 first, then by address).
    pub fn rules_with_slots(&self) -> Result<Vec<(Cidr, u32)>> {
        read_rules(&[(&self.maps.v4, "pfx_v4"), (&self.maps.v6, "pfx_v6")])
    }

    pub fn rules(&self) -> Result<Vec<Cidr>> {
        Ok(self
            .rules_with_slots()?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    fn prefixes(&self, cidr: &Cidr) -> &MapHandle {
        match cidr {
            Cidr::V4 { .. } => &self.maps.v4,
            Cidr::V6 { .. } => &self.maps.v6,
        }
    }

    /// Adds prefixes; ones already present keep their counters. Each rule is
    /// live as soon as it is inserted: no reload, no gap in filtering.
    pub fn add(&self, cidrs: &[Cidr]) -> Result<AddOutcome> {
        let _lock = self.lock()?;
        self.settle_table()?;
        let existing = self.rules_with_slots()?;
        let mut used = vec![false; raw::MAX_RULES as usize];
        let mut present: HashSet<Cidr> = HashSet::with_capacity(existing.len() + cidrs.len());
        for (cidr, slot) in &existing {
            if let Some(u) = used.get_mut(*slot as usize) {
                *u = true;
            }
            present.insert(*cidr);
        }
        // Lengths first: a rule must never be in a hash whose length the
        // program does not try.
        self.write_lens(present.iter().chain(cidrs))?;
        let mut outcome = AddOutcome::default();
        let mut next = 0usize;
        let mut new = Vec::new();
        for cidr in cidrs {
            if !present.insert(*cidr) {
                outcome.already_present += 1;
                continue;
            }
            while next < used.len() && used[next] {
                next += 1;
            }
            if next == used.len() {
                return Err(XdpError::RulesFull {
                    max: raw::MAX_RULES,
                });
            }
            used[next] = true;
            new.push((cidr, next as u32));
        }
        // Counters first, so each rule starts from zero the moment it matches.
        let slots: Vec<u32> = new.iter().map(|(_, s)| *s).collect();
        self.hits().reset(&slots)?;
        self.start_small_if_empty()?;
        let mut in_table = self.v4_table.rules();
        let mut may_grow = true;
        for (cidr, slot) in new {
            if may_grow
                && matches!(cidr, Cidr::V4 { .. })
                && in_table >= grow_at(self.v4_table.geometry())
            {
                if let Some(to) = self.v4_table.geometry().grown() {
                    match self.grow(to)? {
                        Some(n) => in_table = n,
                        None => may_grow = false,
                    }
                }
            }
            self.prefixes(cidr)
                .update(
                    &raw::prefix_key(cidr),
                    &slot.to_ne_bytes(),
                    MapFlags::NO_EXIST,
                )
                .map_err(|e| XdpError::bpf(format!("adding {cidr}"), e))?;
            // The table entry makes it live for the program (pfx_v4 is the record).
            if self.place_v4(cidr, slot)? == Some(Placed::Table) {
                in_table += 1;
            }
            outcome.added += 1;
        }
        Ok(outcome)
    }

    /// Removes prefixes. If any is not in the blacklist nothing is removed.
    pub fn remove(&self, cidrs: &[Cidr]) -> Result<usize> {
        let _lock = self.lock()?;
        self.settle_table()?;
        let existing: HashMap<Cidr, u32> = self.rules_with_slots()?.into_iter().collect();
        if let Some(missing) = cidrs.iter().find(|c| !existing.contains_key(c)) {
            return Err(XdpError::NoSuchRule(missing.to_string()));
        }
        let mut removed = 0;
        let unique: HashSet<&Cidr> = cidrs.iter().collect();
        for &cidr in &unique {
            // Out of the table first: the program stops matching it now.
            self.unplace_v4(cidr)?;
            self.prefixes(cidr)
                .delete(&raw::prefix_key(cidr))
                .map_err(|e| XdpError::bpf(format!("removing {cidr}"), e))?;
            // Its slot's counter starts again from zero when a rule takes it.
            removed += 1;
        }
        // Lengths last: a length goes only once no rule of it is left.
        let left = existing.keys().filter(|c| !unique.contains(c));
        self.write_lens(left)?;
        Ok(removed)
    }

    /// An IPv4 rule into the compact table, or counted as spilled (then the
    /// program looks in pfx_v4 too); None for IPv6.
    fn place_v4(&self, cidr: &Cidr, slot: u32) -> Result<Option<Placed>> {
        let Cidr::V4 { addr, len } = cidr else {
            return Ok(None);
        };
        let placed = self.v4_table.insert(raw::v4_word(*addr), *len, slot);
        if placed == Placed::Spilled {
            self.add_spilled(1)?;
        }
        Ok(Some(placed))
    }

    /// Reads which part of the table is in use (another command may have
    /// grown it since this one opened the maps).
    fn sync_geometry(&self) -> Result<()> {
        let (_, geo) = self.meta()?;
        self.v4_table.use_geometry(geo);
        Ok(())
    }

    /// Under the lock, before anything else: the geometry in use, and the
    /// end of a growth cut short (its command killed between the switch and
    /// the fold). The half not in use holds rules only then: their counts
    /// (none if it was cut before the switch) go to hit_base, as grow does.
    fn settle_table(&self) -> Result<()> {
        self.sync_geometry()?;
        let Some(other) = self.v4_table.geometry().other_half() else {
            return Ok(());
        };
        if self.v4_table.rules_in(other) == 0 {
            return Ok(());
        }
        Grace::new()?.wait()?;
        let hits = self.hits();
        self.v4_table.drain(other, |slot, n| hits.fold(slot, n));
        Ok(())
    }

    /// A table with no rule in it (new state, or emptied) starts over at
    /// the smallest part: nothing to move, no search can miss anything.
    /// Pinned links of state from before geometries may still run program
    /// instances of an older netsight, which search the whole map: they get
    /// this build's first.
    fn start_small_if_empty(&self) -> Result<()> {
        let (spilled, geo) = self.meta()?;
        if geo != Geometry::FIRST && spilled == 0 && self.v4_table.rules() == 0 {
            if let (Geometry::WHOLE, Some(dir)) = (geo, &self.dir) {
                migrate::relink_all(dir, self)?;
            }
            self.v4_table.clear(Geometry::FIRST);
            self.write_meta(0, Geometry::FIRST)?;
            self.v4_table.use_geometry(Geometry::FIRST);
        }
        Ok(())
    }

    /// Moves the table into `to` (the other half of the map, twice the
    /// buckets) while the program runs: fill `to`, switch, wait out the
    /// runs still searching the old part, fold its counts into hit_base
    /// (the copies' counts live in the entries) as it clears it. Readers
    /// take the lock, so hit counts are exact whenever read. Returns the
    /// rules now in the table, or None if the kernel refused the means to
    /// wait (the table then stays as it is, rules past it in pfx_v4: slower,
    /// still exact).
    fn grow(&self, to: Geometry) -> Result<Option<usize>> {
        let from = self.v4_table.geometry();
        let grace = match self.grace() {
            Ok(g) => g,
            Err(e) => {
                eprintln!(
                    "netsight: warning: the XDP IPv4 table stays at {} entries ({e}); rules past them are looked up in pfx_v4, slower",
                    from.entries()
                );
                return Ok(None);
            }
        };
        let (in_table, left_out) = self.grow_until_switched(to)?;
        grace.wait()?;
        let hits = self.hits();
        self.v4_table.drain(from, |slot, n| hits.fold(slot, n));
        self.write_meta(left_out, to)?;
        Ok(Some(in_table))
    }

    fn grace(&self) -> Result<Grace> {
        if self.growth_refused.get() {
            return Err(XdpError::io(
                "creating a map-in-map to wait with",
                std::io::Error::from_raw_os_error(libc::EPERM),
            ));
        }
        Grace::new()
    }

    /// Makes this blacklist act as on a kernel that refuses the map-in-map
    /// growth waits with (tests: the table must stay put and exact).
    #[doc(hidden)]
    pub fn refuse_growth(&self) {
        self.growth_refused.set(true);
    }

    /// grow's first half: `to` filled and in use. Returns the rules placed
    /// and left out.
    fn grow_until_switched(&self, to: Geometry) -> Result<(usize, u32)> {
        let from = self.v4_table.geometry();
        let (spilled, _) = self.meta()?;
        let placed = self.v4_table.placed();
        self.v4_table.clear(to);
        self.v4_table.use_geometry(to);
        let (mut in_table, mut left_out) = (0, 0u32);
        let mut put = |word, len, slot| match self.v4_table.insert(word, len, slot) {
            Placed::Table => in_table += 1,
            Placed::Spilled => left_out += 1,
        };
        for &(word, len, slot) in &placed {
            put(word, len, slot);
        }
        if spilled > 0 {
            // The rules only pfx_v4 holds (each tried once: one left out
            // again is counted once).
            let tried: HashSet<(u32, u8)> = placed.iter().map(|&(w, l, _)| (w, l)).collect();
            for (cidr, slot) in read_rules(&[(&self.maps.v4, "pfx_v4")])? {
                if let Some((word, len)) = v4_key(&cidr).filter(|k| !tried.contains(k)) {
                    put(word, len, slot);
                }
            }
        }
        // One byte the program reads at a time (xdp.h): while both parts may
        // be searched, pfx_v4 is searched too if either left a rule out.
        self.write_meta(spilled + left_out, from)?;
        self.write_meta(spilled + left_out, to)?;
        Ok((in_table, left_out))
    }

    /// A growth cut short right after the switch, as if its command had
    /// been killed there (tests: the next command must finish it).
    #[doc(hidden)]
    pub fn grow_and_stop_after_switch(&self) -> Result<Geometry> {
        let _lock = self.lock()?;
        self.settle_table()?;
        let to = self.v4_table.geometry().grown().ok_or_else(|| {
            XdpError::io("growing the table", std::io::Error::other("at its largest"))
        })?;
        self.grow_until_switched(to)?;
        Ok(to)
    }

    fn unplace_v4(&self, cidr: &Cidr) -> Result<()> {
        let Cidr::V4 { addr, len } = cidr else {
            return Ok(());
        };
        if !self.v4_table.remove(raw::v4_word(*addr), *len) {
            self.add_spilled(-1)?;
        }
        Ok(())
    }

    /// Deleted entries of the compact IPv4 table not yet reclaimed as empty
    /// (a stored key's search still crosses their bucket).
    pub fn v4_table_tombstones(&self) -> usize {
        let _ = self.sync_geometry();
        self.v4_table.tombstones()
    }

    /// The part of the compact IPv4 table in use (for tests and
    /// diagnostics).
    pub fn v4_table_geometry(&self) -> Result<Geometry> {
        Ok(self.meta()?.1)
    }

    /// IPv4 rules only in pfx_v4, as the program sees the count.
    pub fn spilled(&self) -> Result<u64> {
        Ok(self.meta()?.0.into())
    }

    /// pfx4_meta: the spilled count and the table's geometry.
    fn meta(&self) -> Result<(u32, Geometry)> {
        let v = self
            .maps
            .v4_meta
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("reading pfx4_meta", e))?
            .unwrap_or_default();
        match raw::pfx4_meta_decode(&v) {
            (spilled, Some(geo)) => Ok((spilled, geo)),
            (_, None) => Err(XdpError::io(
                "reading pfx4_meta",
                std::io::Error::other("a table geometry this netsight does not know"),
            )),
        }
    }

    fn write_meta(&self, spilled: u32, geo: Geometry) -> Result<()> {
        self.maps
            .v4_meta
            .update(
                &0u32.to_ne_bytes(),
                &raw::pfx4_meta(spilled, geo),
                MapFlags::ANY,
            )
            .map_err(|e| XdpError::bpf("writing pfx4_meta", e))
    }

    fn add_spilled(&self, delta: i32) -> Result<()> {
        let (n, geo) = self.meta()?;
        self.write_meta(n.saturating_add_signed(delta), geo)
    }

    /// Puts every IPv4 rule of pfx_v4 into a table that was just created
    /// (state pinned before the table existed): rules the table already
    /// holds are left as they are.
    pub(super) fn fill_v4_table(&self) -> Result<usize> {
        self.sync_geometry()?;
        let mut placed = 0;
        for (cidr, slot) in read_rules(&[(&self.maps.v4, "pfx_v4")])? {
            if let Cidr::V4 { addr, len } = cidr {
                if self.v4_table.find(raw::v4_word(addr), len).is_none() {
                    self.place_v4(&cidr, slot)?;
                    placed += 1;
                }
            }
        }
        Ok(placed)
    }

    /// Publishes which prefix lengths the program must try.
    pub(super) fn write_lens<'a>(&self, cidrs: impl IntoIterator<Item = &'a Cidr>) -> Result<()> {
        self.maps
            .lens
            .update(&0u32.to_ne_bytes(), &raw::prefix_lens(cidrs), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("writing pfx_lens", e))
    }

    /// Every rule with its exact hit count.
    pub fn rule_hits(&self) -> Result<Vec<RuleHits>> {
        // Not while the table grows: its counts are then moving (grow).
        let _lock = self.lock()?;
        self.settle_table()?;
        let rules = self.rules_with_slots()?;
        let mut hits: Vec<Option<u64>> = vec![None; rules.len()];
        // A compact-table rule counts in the CPUs' copies, and a carry
        // moves a copy's count to the rule's slot: its copies are read
        // between two reads of its slot, and kept if no carry ran meanwhile
        // (slot unchanged, no copy marked mid-carry); the others are read
        // again.
        for _ in 0..CARRY_RETRIES {
            let pending: Vec<usize> = (0..rules.len()).filter(|&i| hits[i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let slots: Vec<u32> = pending.iter().map(|&i| rules[i].1).collect();
            let before = self.hits().read(&slots)?;
            fence(Ordering::SeqCst);
            let in_copies: Vec<_> = pending
                .iter()
                .map(|&i| self.copy_hits(&rules[i].0))
                .collect();
            fence(Ordering::SeqCst);
            let after = self.hits().read(&slots)?;
            for (k, &i) in pending.iter().enumerate() {
                hits[i] = match in_copies[k] {
                    None => Some(after[k]),
                    Some(Some(n)) if before[k] == after[k] => Some(after[k].wrapping_add(n)),
                    Some(_) => None,
                };
            }
        }
        rules
            .into_iter()
            .zip(hits)
            .map(|((cidr, _), hits)| {
                let hits = hits.ok_or_else(|| {
                    XdpError::io(
                        format!("reading the hit count of {cidr}"),
                        std::io::Error::other("it kept moving between counters"),
                    )
                })?;
                Ok(RuleHits { cidr, hits })
            })
            .collect()
    }

    /// A compact-table rule's hits in the CPUs' copies (`Some(None)`: a
    /// carry is in progress), or `None` for a rule counted by slot only.
    fn copy_hits(&self, cidr: &Cidr) -> Option<Option<u64>> {
        let (word, len) = v4_key(cidr)?;
        self.v4_table.copy_hits(word, len)
    }

    /// `cidr`'s count in `cpu`'s copy of the compact table (tests check
    /// with it that a CPU counts in its own copy).
    #[doc(hidden)]
    pub fn copy_count(&self, cidr: &Cidr, cpu: usize) -> Option<u64> {
        self.sync_geometry().ok()?;
        let (word, len) = v4_key(cidr)?;
        self.v4_table.count_on(word, len, cpu)
    }

    /// Sets `cidr`'s count in `cpu`'s copy of the compact table (tests use
    /// it to start a count next to a carry; the rule's hits grow by `n`).
    #[doc(hidden)]
    pub fn preset_copy_count(&self, cidr: &Cidr, cpu: usize, n: u64) -> bool {
        if self.sync_geometry().is_err() {
            return false;
        }
        v4_key(cidr).is_some_and(|(word, len)| self.v4_table.preset_count(word, len, cpu, n))
    }

    pub(crate) fn zero_iface_counters(&self, slot: u32) -> Result<()> {
        let zeros = vec![vec![0u8; raw::IFACE_COUNTERS_SIZE as usize]; self.ncpus];
        self.maps
            .iface_stats
            .update_percpu(&slot.to_ne_bytes(), &zeros, MapFlags::ANY)
            .map_err(|e| XdpError::bpf("resetting interface counters", e))
    }
}

/// Rules the part in use holds before the table grows: 7/8 of its entries
/// (at 100k rules, 2^14 buckets, 1 MB per copy, with ~0.4% left to pfx_v4).
fn grow_at(geo: Geometry) -> usize {
    geo.entries() / 8 * 7
}

/// An IPv4 rule's key in the compact table (the address as the program
/// loads it, the length); None for IPv6.
fn v4_key(cidr: &Cidr) -> Option<(u32, u8)> {
    match cidr {
        Cidr::V4 { addr, len } => Some((raw::v4_word(*addr), *len)),
        Cidr::V6 { .. } => None,
    }
}

/// Every rule in these prefix maps (old LPM tries or new hashes: the keys
/// are the same bytes) with its slot, sorted.
pub(crate) fn read_rules(maps: &[(&MapHandle, &str)]) -> Result<Vec<(Cidr, u32)>> {
    let mut out = Vec::new();
    for (map, name) in maps {
        for key in map.keys() {
            let Some(cidr) = raw::cidr_from_key(&key) else {
                continue;
            };
            // A lookup may race with a concurrent delete: skip vanished keys.
            let value = map
                .lookup(&key, MapFlags::ANY)
                .map_err(|e| XdpError::bpf(format!("reading {name}"), e))?;
            if let Some(v) = value {
                out.push((cidr, raw::u32_at(&v, 0)));
            }
        }
    }
    out.sort();
    Ok(out)
}
