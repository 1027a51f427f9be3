//! The last record published per name (`<repo>/ipns/<peer ID>.json`: the
//! record and its lifetime), and republishing them while the node runs:
//! once at start, then, for each, a new record (same value and sequence,
//! later end of life) when half its lifetime or 4 h (Kubo's period) has
//! passed, put into the DHT again.

use super::{NameError, Names};
use crate::ipns::{Name, Record};
use crate::repo::Repo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Records are put again at least this often (Kubo's `Ipns.RepublishPeriod`).
const PERIOD: Duration = Duration::from_secs(4 * 3600);
/// The republisher looks at least this often.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// A name's last published record.
pub struct Saved {
    pub record: Record,
    pub lifetime: Duration,
    /// The files/ path the name follows (`name publish --follow`).
    pub follow: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct File {
    /// The record, hex.
    record: String,
    lifetime_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    follow: Option<String>,
}

fn dir(repo: &Repo) -> std::path::PathBuf {
    repo.path.join("ipns")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The last record published for `name` here, if any (a damaged file
/// counts as none, and is logged).
pub fn load(repo: &Repo, name: &Name) -> Option<Saved> {
    let path = dir(repo).join(format!("{}.json", name.0));
    let text = std::fs::read_to_string(&path).ok()?;
    let parsed = serde_json::from_str::<File>(&text).ok().and_then(|f| {
        let record = Record::parse(&unhex(&f.record)?).ok()?;
        Some(Saved {
            record,
            lifetime: Duration::from_secs(f.lifetime_secs),
            follow: f.follow,
        })
    });
    if parsed.is_none() {
        tracing::warn!(
            "{} is damaged; the name is published anew at the next `name publish`",
            path.display()
        );
    }
    parsed
}

pub fn save(
    repo: &Repo,
    name: &Name,
    record: &Record,
    lifetime: Duration,
    follow: Option<&str>,
) -> Result<(), NameError> {
    let d = dir(repo);
    std::fs::create_dir_all(&d).map_err(|err| NameError::Io {
        context: format!("creating {}", d.display()),
        err,
    })?;
    let f = File {
        record: hex(record.to_bytes()),
        lifetime_secs: lifetime.as_secs().max(1),
        follow: follow.map(str::to_string),
    };
    let json = serde_json::to_vec(&f).map_err(|e| NameError::Io {
        context: "encoding the record".into(),
        err: std::io::Error::other(e),
    })?;
    crate::repo::write_new(&d.join(format!("{}.json", name.0)), &json, 0o644).map_err(|e| NameError::Io {
        context: format!("saving the record of {name}"),
        err: std::io::Error::other(e),
    })
}

/// Starts the republisher on the node's runtime (its work on the blocking pool).
pub fn start(names: Arc<Names>) {
    let net = names.net.clone();
    net.spawn(async move {
        let mut last_put: HashMap<Name, Instant> = HashMap::new();
        loop {
            let n = names.clone();
            let (back, wait) = match tokio::task::spawn_blocking(move || {
                let wait = n.republish_due(&mut last_put);
                (last_put, wait)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => return,
            };
            last_put = back;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = names.published.notified() => {}
            }
        }
    });
}

impl Names {
    /// Republishes every record due; returns how long until the next is due.
    fn republish_due(&self, last_put: &mut HashMap<Name, Instant>) -> Duration {
        let mut wait = CHECK_EVERY;
        let keys = match self.repo.keys().list() {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!("republishing IPNS names: {e}");
                return wait;
            }
        };
        for (key, peer) in keys {
            let name = Name(peer);
            let Some(saved) = load(&self.repo, &name) else {
                continue;
            };
            let now = SystemTime::now();
            let signed = saved.record.eol.checked_sub(saved.lifetime).unwrap_or(now);
            let resign_at = signed + (saved.lifetime / 2).min(PERIOD);
            let put_due = last_put.get(&name).is_none_or(|t| t.elapsed() >= PERIOD);
            let resign = now >= resign_at;
            if resign || put_due {
                let value = String::from_utf8_lossy(&saved.record.value).into_owned();
                match self.republish(&key, &name, &saved, resign, &value) {
                    Ok(()) => {
                        last_put.insert(name, Instant::now());
                    }
                    Err(e) => tracing::warn!("republishing {name} ({key}): {e}"),
                }
                wait = wait.min((saved.lifetime / 2).min(PERIOD));
            } else if let Ok(d) = resign_at.duration_since(now) {
                wait = wait.min(d);
            }
        }
        wait.max(Duration::from_secs(1))
    }

    fn republish(
        &self,
        key: &str,
        name: &Name,
        saved: &Saved,
        resign: bool,
        value: &str,
    ) -> Result<(), NameError> {
        let record = if resign {
            let kp = self.repo.keys().get(key)?;
            let eol = SystemTime::now() + saved.lifetime;
            let r = Record::create(
                &kp,
                value.as_bytes(),
                saved.record.sequence,
                eol,
                saved.record.ttl,
            )?;
            save(&self.repo, name, &r, saved.lifetime, saved.follow.as_deref())?;
            self.remember(name, &r);
            r
        } else {
            saved.record.clone()
        };
        let peers = self.put(name, &record)?;
        tracing::info!(
            "republished {name} (sequence {}) to {peers} peers",
            record.sequence
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(unhex(&hex(&b)), Some(b));
        for bad in ["0", "zz", "0g", "é0"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }
}
