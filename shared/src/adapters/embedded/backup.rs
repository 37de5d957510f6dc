//! Online snapshots of an embedded data directory. The store file is copied while this process
//! holds redb's single write transaction (nothing else can commit, and every commit is
//! already durable on disk, so the file at rest is exactly the last committed state); readers
//! go on meanwhile and writers wait only for that copy. Blobs are write-once files (written
//! and synced before the item that names them commits), so they are copied afterwards, and
//! those unchanged since the previous snapshot are hard-linked rather than copied again. The
//! keyring is copied sealed; its passphrase (`keyring.passphrase` of a development data dir)
//! never goes into a snapshot.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use redb::Database;

use crate::ports::{SnapshotReport, Snapshots};

pub const STORE_FILE: &str = "bulwark.redb";
/// What a snapshot copies besides the store: sealed keyring, blobs, outbox, operator token digest.
const FILES: &[&str] = &["keyring.json", "operator-token.sha256"];
const DIRS: &[&str] = &["blobs", "outbox"];
/// Written last: a snapshot without it is incomplete.
pub const MANIFEST: &str = "MANIFEST.json";

pub struct DataDirSnapshots {
    db: Arc<Database>,
    data_dir: PathBuf,
}

impl DataDirSnapshots {
    pub fn new(db: Arc<Database>, data_dir: PathBuf) -> Self {
        DataDirSnapshots { db, data_dir }
    }
}

fn copy_file(from: &Path, to: &Path, previous: Option<&Path>, report: &mut SnapshotReport) -> io::Result<()> {
    let meta = fs::metadata(from)?;
    if let Some(prev) = previous.filter(|p| fs::metadata(p).is_ok_and(|m| m.len() == meta.len())) {
        if fs::hard_link(prev, to).is_ok() {
            report.linked += 1;
            report.files += 1;
            report.bytes += meta.len();
            return Ok(());
        }
    }
    fs::copy(from, to)?;
    fs::File::open(to)?.sync_all()?;
    report.files += 1;
    report.bytes += meta.len();
    Ok(())
}

/// Copy the tree `from` into `to`, skipping temporary files of writes in progress.
fn copy_tree(from: &Path, to: &Path, previous: Option<&Path>, report: &mut SnapshotReport) -> io::Result<()> {
    let entries = match fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    fs::create_dir_all(to)?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let prev = previous.map(|p| p.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name), prev.as_deref(), report)?;
        } else if kind.is_file() {
            match copy_file(&entry.path(), &to.join(&name), prev.as_deref(), report) {
                // Deleted meanwhile (retention): it was expired, so not needed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

impl Snapshots for DataDirSnapshots {
    fn snapshot(&self, dest: &Path, previous: Option<&Path>) -> anyhow::Result<SnapshotReport> {
        anyhow::ensure!(!dest.exists(), "the snapshot directory {} exists already", dest.display());
        let partial = dest.with_extension("partial");
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial).with_context(|| format!("create {}", partial.display()))?;
        let mut report = SnapshotReport::default();
        {
            let pause = Instant::now();
            // Held, never committed: no commit can start until the copy is done.
            let txn = self.db.begin_write().context("take the store's write lock")?;
            let copied = fs::copy(self.data_dir.join(STORE_FILE), partial.join(STORE_FILE));
            txn.abort().context("release the store's write lock")?;
            report.bytes += copied.context("copy the store file")?;
            report.files += 1;
            report.write_pause_ms = pause.elapsed().as_millis() as u64;
        }
        fs::File::open(partial.join(STORE_FILE))?.sync_all()?;
        for name in FILES {
            let from = self.data_dir.join(name);
            if from.exists() {
                copy_file(&from, &partial.join(name), None, &mut report).with_context(|| format!("copy {name}"))?;
            }
        }
        for dir in DIRS {
            let prev = previous.map(|p| p.join(dir));
            copy_tree(&self.data_dir.join(dir), &partial.join(dir), prev.as_deref(), &mut report)
                .with_context(|| format!("copy {dir}/"))?;
        }
        fs::write(partial.join(MANIFEST), serde_json::to_vec_pretty(&report)?)?;
        fs::File::open(partial.join(MANIFEST))?.sync_all()?;
        fs::rename(&partial, dest).context("complete the snapshot")?;
        if let Some(parent) = dest.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
        Ok(report)
    }
}

/// Copy a snapshot into `target`, which must be empty or absent (restore). Refuses an
/// incomplete snapshot (no manifest).
pub fn restore_files(snapshot: &Path, target: &Path) -> anyhow::Result<SnapshotReport> {
    anyhow::ensure!(snapshot.join(MANIFEST).exists(), "{} is not a complete snapshot", snapshot.display());
    if target.exists() {
        anyhow::ensure!(fs::read_dir(target)?.next().is_none(), "{} is not empty", target.display());
    }
    let mut report = SnapshotReport::default();
    copy_tree(snapshot, target, None, &mut report)?;
    let _ = fs::remove_file(target.join(MANIFEST));
    Ok(report)
}
