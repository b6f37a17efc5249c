//! `-o log`: JSON lines into FILE, rotated to FILE.1 .. FILE.N, so the
//! files never hold more than logsize x (logbackup + 1) bytes together.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct RotatingLog {
    path: PathBuf,
    max: u64,
    backups: u32,
    size: u64,
    file: File,
    /// Lines longer than a whole file, left out (counted, never split).
    pub skipped: u64,
}

fn backup(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingLog {
    /// Starts a fresh FILE (an old one becomes the first backup).
    pub fn create(path: &Path, max: u64, backups: u32) -> io::Result<RotatingLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut log = RotatingLog {
            path: path.to_path_buf(),
            max,
            backups,
            size: 0,
            file,
            skipped: 0,
        };
        if fs::metadata(path)?.len() > 0 {
            log.rotate()?;
        }
        Ok(log)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.backups > 0 {
            for n in (1..self.backups).rev() {
                let from = backup(&self.path, n);
                if from.exists() {
                    fs::rename(&from, backup(&self.path, n + 1))?;
                }
            }
            fs::rename(&self.path, backup(&self.path, 1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }

    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if len > self.max {
            self.skipped += 1;
            return Ok(());
        }
        if self.size + len > self.max {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_within_size_times_backups_plus_one() {
        let dir = std::env::temp_dir().join(format!("ns-pinglog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ping.log");
        let mut log = RotatingLog::create(&path, 1000, 2).unwrap();
        for i in 0..500 {
            log.write_line(&format!(
                "{{\"seq\":{i},\"pad\":\"{}\"}}",
                "x".repeat(i % 90)
            ))
            .unwrap();
        }
        log.write_line(&"y".repeat(2000)).unwrap();
        let mut total = 0;
        let mut files = 0;
        for e in fs::read_dir(&dir).unwrap() {
            let len = e.unwrap().metadata().unwrap().len();
            assert!(len <= 1000);
            total += len;
            files += 1;
        }
        assert_eq!(files, 3);
        assert!(total <= 3000);
        assert_eq!(log.skipped, 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
