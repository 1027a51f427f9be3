//! Which snapshots of files/ are kept at a given time: a pure function of
//! the snapshots' times and names, so it can be tested against its rules.
//!
//! Rules (as Time Machine / zfs-auto-snapshot): named snapshots and the
//! newest one are always kept; every snapshot younger than `all`; and for
//! each tier (hourly, daily, weekly) the oldest snapshot of each UTC
//! bucket (hour, day, week since the epoch) whose bucket reaches into the
//! tier's window. Window membership is by bucket, not by age, so deleting
//! what is not kept never changes a later decision: keeping at T and then
//! at T' ≥ T gives what keeping at T' alone gives (tested below).

/// How long snapshots are kept (seconds); 0 turns a tier off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Every snapshot younger than this.
    pub all: u64,
    /// One per hour for this long.
    pub hourly: u64,
    /// One per day for this long.
    pub daily: u64,
    /// One per week for this long.
    pub weekly: u64,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

impl Default for Retention {
    /// Every snapshot for an hour, hourly for 2 days, daily for 30 days,
    /// weekly for a year: at most ~120 + 49 + 31 + 53 unnamed snapshots
    /// with a checkpoint every 30 s.
    fn default() -> Self {
        Retention {
            all: HOUR,
            hourly: 2 * DAY,
            daily: 30 * DAY,
            weekly: 52 * WEEK,
        }
    }
}

/// What the policy needs to know of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub id: u64,
    /// Seconds since the epoch (UTC).
    pub time: i64,
    pub named: bool,
}

impl Retention {
    /// The ids of `snaps` kept at time `now`, in the order given.
    pub fn keep(&self, snaps: &[Stamp], now: i64) -> Vec<u64> {
        let newest = snaps.iter().max_by_key(|s| (s.time, s.id)).map(|s| s.id);
        let mut kept = std::collections::HashSet::new();
        for tier in [(HOUR, self.hourly), (DAY, self.daily), (WEEK, self.weekly)] {
            // The oldest snapshot of each bucket in the window.
            let mut first: std::collections::HashMap<i64, Stamp> = Default::default();
            for s in snaps.iter().filter(|s| in_window(s.time, tier, now)) {
                let b = s.time.div_euclid(tier.0 as i64);
                let e = first.entry(b).or_insert(*s);
                if (s.time, s.id) < (e.time, e.id) {
                    *e = *s;
                }
            }
            kept.extend(first.values().map(|s| s.id));
        }
        snaps
            .iter()
            .filter(|s| {
                s.named
                    || Some(s.id) == newest
                    || kept.contains(&s.id)
                    || now.saturating_sub(s.time) < self.all as i64
            })
            .map(|s| s.id)
            .collect()
    }
}

/// Whether the bucket of `time` (of `len` seconds) reaches into the last
/// `window` seconds before `now`.
fn in_window(time: i64, (len, window): (u64, u64), now: i64) -> bool {
    if window == 0 {
        return false;
    }
    let end = (time.div_euclid(len as i64) + 1).saturating_mul(len as i64);
    end > now.saturating_sub(window.min(i64::MAX as u64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamps(times: &[(i64, bool)]) -> Vec<Stamp> {
        times
            .iter()
            .enumerate()
            .map(|(i, &(time, named))| Stamp {
                id: i as u64,
                time,
                named,
            })
            .collect()
    }

    #[test]
    fn default_policy_on_a_year_of_checkpoints_every_30s() {
        let now = 400 * DAY as i64;
        // One snapshot every 30 s for a year and a bit: 1.1 M snapshots,
        // of which the policy keeps a bounded few.
        let snaps: Vec<Stamp> = (0..(now / 30))
            .map(|i| Stamp {
                id: i as u64,
                time: i * 30,
                named: i == 7,
            })
            .collect();
        let kept = Retention::default().keep(&snaps, now);
        // 120 in the last hour, 48 older hours (+1 partial), 30 days, 52 weeks, 1 named.
        assert!(kept.len() <= 120 + 49 + 31 + 53 + 1, "{}", kept.len());
        // Tiers overlap (the first of a day is also the first of its hour).
        assert!(kept.len() >= 120 + 45 + 25 + 45, "{}", kept.len());
        assert!(kept.contains(&7));
        assert!(kept.contains(&(snaps.len() as u64 - 1)));
    }

    #[test]
    fn tiers_off_keep_only_named_newest_and_recent() {
        let r = Retention {
            all: 60,
            hourly: 0,
            daily: 0,
            weekly: 0,
        };
        let s = stamps(&[(0, false), (10, true), (20, false), (1000, false), (1030, false)]);
        assert_eq!(r.keep(&s, 1050), vec![1, 3, 4]);
        assert_eq!(r.keep(&s, 100_000), vec![1, 4]);
    }

    fn arb() -> impl Strategy<Value = (Vec<(i64, bool)>, i64, i64)> {
        (
            proptest::collection::vec((0i64..(60 * DAY as i64), proptest::bool::weighted(0.05)), 0..200),
            0i64..(70 * DAY as i64),
            0i64..(20 * DAY as i64),
        )
    }

    proptest! {
        /// Deleting what is not kept never changes a later decision.
        #[test]
        fn keeping_twice_is_keeping_once((times, t, dt) in arb()) {
            let r = Retention { all: HOUR, hourly: DAY, daily: 10 * DAY, weekly: 40 * DAY };
            let s = stamps(&times);
            let first = r.keep(&s, t);
            let left: Vec<Stamp> = s.iter().filter(|x| first.contains(&x.id)).copied().collect();
            prop_assert_eq!(r.keep(&left, t + dt), r.keep(&s, t + dt));
        }

        /// Named, newest and recent snapshots stay; each tier keeps one per
        /// bucket in its window; the count is bounded by the policy.
        #[test]
        fn rules_hold((times, t, _dt) in arb()) {
            let r = Retention { all: HOUR, hourly: DAY, daily: 10 * DAY, weekly: 40 * DAY };
            let s = stamps(&times);
            let kept = r.keep(&s, t);
            for x in &s {
                if x.named || t - x.time < HOUR as i64 {
                    prop_assert!(kept.contains(&x.id));
                }
            }
            if let Some(n) = s.iter().max_by_key(|x| (x.time, x.id)) {
                prop_assert!(kept.contains(&n.id));
            }
            for (len, window) in [(HOUR, DAY), (DAY, 10 * DAY), (WEEK, 40 * DAY)] {
                for x in s.iter().filter(|x| in_window(x.time, (len, window), t)) {
                    let b = x.time.div_euclid(len as i64);
                    prop_assert!(s.iter().any(|y| kept.contains(&y.id) && y.time.div_euclid(len as i64) == b));
                }
            }
            let recent = s.iter().filter(|x| x.named || t - x.time < HOUR as i64).count();
            prop_assert!(kept.len() <= recent + 1 + 25 + 11 + 7);
        }
    }
}
