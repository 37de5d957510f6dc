//! Embedded-mode backups: snapshots of the data directory (see `adapters::embedded::backup`)
//! on a schedule — hourly ones kept 14 days, nightly ones (at 02:00 UTC) kept 30 days — into
//! `BULWARK_BACKUP_DIR` (a directory on other storage), on demand (`SIGUSR1`, or
//! `bulwark-server ops backup`), and `restore` into an empty directory, accepted only after
//! every tenant's items, sealed fields and attachment ciphertexts were read back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use time::OffsetDateTime;

use crate::ports::{Ports, SnapshotReport};

pub const HOURLY_KEEP_DAYS: i64 = 14;
pub const NIGHTLY_KEEP_DAYS: i64 = 30;
const NIGHTLY_HOUR_UTC: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hourly,
    Nightly,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Hourly => "hourly",
            Kind::Nightly => "nightly",
        }
    }
    fn keep_secs(self) -> i64 {
        match self {
            Kind::Hourly => HOURLY_KEEP_DAYS * 86400,
            Kind::Nightly => NIGHTLY_KEEP_DAYS * 86400,
        }
    }
}

/// `20261124T020000Z`: sortable, and the time it was taken.
fn stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn parse_stamp(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, &fmt).ok().map(|t| t.assume_utc().unix_timestamp())
}

/// The complete snapshots of one kind, oldest first: (taken at, path).
pub fn list(root: &Path, kind: Kind) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(root.join(kind.dir()))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let at = parse_stamp(&name)?;
            e.path().join(crate::adapters::embedded::backup::MANIFEST).exists().then(|| (at, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn newest(root: &Path) -> Option<PathBuf> {
    let mut all: Vec<(i64, PathBuf)> = list(root, Kind::Hourly);
    all.extend(list(root, Kind::Nightly));
    all.into_iter().max_by_key(|(at, _)| *at).map(|(_, p)| p)
}

/// Take one snapshot of `kind` now.
pub async fn take(ports: &Ports, root: &Path, kind: Kind) -> anyhow::Result<(PathBuf, SnapshotReport)> {
    let snapshots = ports.snapshots.clone().context("this backend takes no snapshots (AWS: AWS Backup)")?;
    let dest = root.join(kind.dir()).join(stamp(ports.clock.now()));
    let previous = newest(root);
    std::fs::create_dir_all(root.join(kind.dir())).with_context(|| format!("create {}", root.display()))?;
    let d = dest.clone();
    let report = tokio::task::spawn_blocking(move || snapshots.snapshot(&d, previous.as_deref())).await??;
    Ok((dest, report))
}

/// Delete snapshots past their kind's retention; returns how many went.
pub fn prune(root: &Path, now: i64) -> usize {
    let mut gone = 0;
    for kind in [Kind::Hourly, Kind::Nightly] {
        for (at, path) in list(root, kind) {
            if now - at > kind.keep_secs() && std::fs::remove_dir_all(&path).is_ok() {
                gone += 1;
            }
        }
    }
    gone
}

/// What is due now: an hourly snapshot an hour after the last, a nightly one once a day in
/// the nightly hour (or at once when there is none yet).
pub fn due(root: &Path, now: OffsetDateTime) -> Vec<Kind> {
    let secs = now.unix_timestamp();
    let last = |kind| list(root, kind).last().map(|(at, _)| *at);
    let nightly = match last(Kind::Nightly) {
        None => true,
        Some(at) => secs - at >= 23 * 3600 && now.hour() == NIGHTLY_HOUR_UTC,
    };
    let mut out = Vec::new();
    if nightly {
        out.push(Kind::Nightly);
    } else if last(Kind::Hourly).is_none_or(|at| secs - at >= 3600) {
        out.push(Kind::Hourly);
    }
    out
}

async fn run_due(ports: &Ports, root: &Path, kinds: Vec<Kind>) {
    for kind in kinds {
        match take(ports, root, kind).await {
            Ok((path, r)) => tracing::info!(
                kind = kind.dir(),
                path = %path.display(),
                files = r.files,
                bytes = r.bytes,
                linked = r.linked,
                write_pause_ms = r.write_pause_ms,
                "backup taken"
            ),
            Err(e) => tracing::error!(kind = kind.dir(), error = format!("{e:#}"), "backup failed"),
        }
    }
    let gone = prune(root, ports.clock.now_secs());
    if gone > 0 {
        tracing::info!(deleted = gone, "old backups deleted");
    }
}

/// The local server's schedule (every minute) and `SIGUSR1` (an hourly snapshot now).
pub fn spawn_schedule(ports: Ports, root: PathBuf) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            #[cfg(unix)]
            let asked = async {
                match usr1.as_mut() {
                    Some(s) => s.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let asked = std::future::pending::<bool>();
            let kinds = tokio::select! {
                _ = tick.tick() => due(&root, ports.clock.now()),
                _ = asked => vec![Kind::Hourly],
            };
            run_due(&ports, &root, kinds).await;
        }
    });
}

/// Copy `snapshot` into the empty `target` and read everything back with `passphrase`'s
/// keyring; an error if anything is unreadable.
pub async fn restore(
    snapshot: &Path,
    target: &Path,
    passphrase: Option<secrecy::SecretString>,
) -> anyhow::Result<crate::services::tenancy::integrity::IntegrityReport> {
    use crate::runtime::backend::{EmbeddedSettings, Wiring};
    let (s, t) = (snapshot.to_owned(), target.to_owned());
    tokio::task::spawn_blocking(move || crate::adapters::embedded::backup::restore_files(&s, &t)).await??;
    let settings = EmbeddedSettings {
        data_dir: target.to_owned(),
        push: Default::default(),
        passphrase,
        mail_from: crate::runtime::settings::mail_from(),
    };
    let ports = Ports::embedded(settings, std::sync::Arc::new(crate::ports::clock::SystemClock))
        .context("open the restored data directory (is BULWARK_KEYRING_PASSPHRASE the snapshot's?)")?;
    let ctx = crate::services::context::Context::new(
        ports,
        crate::services::context::ServiceSettings {
            app_url: crate::runtime::settings::app_url(),
            operator: crate::services::context::OperatorAuth::Digest([0; 32]),
            mail_rate_per_account: 5,
            sso: crate::runtime::settings::sso_settings(),
        },
    );
    let report = crate::services::tenancy::integrity::check(&ctx).await?;
    anyhow::ensure!(report.problems.is_empty(), "the restore is damaged: {:?}", report.problems);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_and_retention() {
        // GIVEN a backup directory with old and new snapshots of both kinds
        let root = std::env::temp_dir().join(format!("bulwark-backup-test-{}", uuid::Uuid::new_v4().simple()));
        let now = OffsetDateTime::from_unix_timestamp(1_795_500_000).unwrap();
        let make = |kind: Kind, age_secs: i64| {
            let t = OffsetDateTime::from_unix_timestamp(now.unix_timestamp() - age_secs).unwrap();
            let p = root.join(kind.dir()).join(stamp(t));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join(crate::adapters::embedded::backup::MANIFEST), b"{}").unwrap();
        };
        // WHEN there is none THEN a nightly one is due at once
        assert_eq!(due(&root, now), vec![Kind::Nightly]);
        make(Kind::Nightly, 31 * 86400);
        make(Kind::Nightly, 29 * 86400);
        make(Kind::Hourly, 15 * 86400);
        make(Kind::Hourly, 13 * 86400);
        make(Kind::Hourly, 1800);
        // THEN pruning keeps 30 days of nightly and 14 days of hourly snapshots
        assert_eq!(prune(&root, now.unix_timestamp()), 2);
        assert_eq!(list(&root, Kind::Nightly).len(), 1);
        assert_eq!(list(&root, Kind::Hourly).len(), 2);
        // AND the next hourly one is due an hour after the last
        make(Kind::Nightly, 3600);
        assert!(due(&root, now).is_empty());
        let later = now + time::Duration::seconds(1900);
        assert_eq!(due(&root, later), vec![Kind::Hourly]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
