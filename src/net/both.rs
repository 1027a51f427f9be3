//! Requests answered from both DHTs (WAN and LAN, see `dht.rs`): each
//! starts a query on each DHT, gathers what they return, and is answered
//! once every query it started has ended. One table per kind of request
//! (provider lookups and provides in `dht.rs`, value records in
//! `records.rs`, peer lookups in `peers.rs`).

use super::dht::Which;
use libp2p::kad::QueryId;
use std::collections::HashMap;
use std::hash::Hash;

/// Requests under way, each with its state `S` and its queries (kad's
/// query ids; any id type in tests).
pub struct Both<S, Q = QueryId> {
    next: u64,
    queries: HashMap<(Which, Q), u64>,
    /// Request → (queries still running, state).
    pending: HashMap<u64, (usize, S)>,
}

impl<S, Q> Default for Both<S, Q> {
    fn default() -> Self {
        Both {
            next: 0,
            queries: HashMap::new(),
            pending: HashMap::new(),
        }
    }
}

impl<S, Q: Eq + Hash + Copy> Both<S, Q> {
    /// Starts a request: `start` runs its query on one DHT (None: it could
    /// not, having noted why in the state). The state comes back when no
    /// query started.
    pub fn start(
        &mut self,
        mut state: S,
        mut start: impl FnMut(Which, &mut S) -> Option<Q>,
    ) -> Result<(), S> {
        let id = self.next;
        self.next += 1;
        let mut running = 0;
        for w in [Which::Wan, Which::Lan] {
            if let Some(q) = start(w, &mut state) {
                self.queries.insert((w, q), id);
                running += 1;
            }
        }
        if running == 0 {
            return Err(state);
        }
        self.pending.insert(id, (running, state));
        Ok(())
    }

    /// Whether query `q` of DHT `w` belongs to one of these requests.
    pub fn owns(&self, w: Which, q: Q) -> bool {
        self.queries.contains_key(&(w, q))
    }

    /// The state of the request that query `q` of DHT `w` belongs to.
    pub fn state(&mut self, w: Which, q: Q) -> Option<&mut S> {
        let id = self.queries.get(&(w, q))?;
        self.pending.get_mut(id).map(|(_, s)| s)
    }

    /// Query `q` of DHT `w` ended: its request's state, taken out, if that
    /// was the request's last query.
    pub fn ended(&mut self, w: Which, q: Q) -> Option<S> {
        let id = self.queries.remove(&(w, q))?;
        let (running, _) = self.pending.get_mut(&id)?;
        *running -= 1;
        if *running > 0 {
            return None;
        }
        self.pending.remove(&id).map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_answered_when_its_last_query_ends() {
        let mut b: Both<Vec<&str>, u32> = Both::default();
        let mut next = 0;
        assert!(
            b.start(vec![], |_, _| {
                next += 1;
                Some(next)
            })
            .is_ok()
        );
        assert!(b.owns(Which::Wan, 1) && b.owns(Which::Lan, 2) && !b.owns(Which::Lan, 1));
        b.state(Which::Wan, 1).unwrap().push("wan");
        assert_eq!(b.ended(Which::Wan, 1), None);
        assert!(!b.owns(Which::Wan, 1));
        b.state(Which::Lan, 2).unwrap().push("lan");
        assert_eq!(b.ended(Which::Lan, 2), Some(vec!["wan", "lan"]));
        // Unknown or ended queries are nobody's.
        assert_eq!(b.ended(Which::Lan, 2), None);
        assert!(b.state(Which::Wan, 7).is_none());
    }

    #[test]
    fn a_request_that_started_no_query_gets_its_state_back() {
        let mut b: Both<Vec<&str>, u32> = Both::default();
        let r = b.start(vec![], |w, s| {
            s.push(if w == Which::Wan { "no wan" } else { "no lan" });
            None
        });
        assert_eq!(r, Err(vec!["no wan", "no lan"]));
        // One of two started: answered when that one ends.
        assert!(b.start(vec![], |w, _| (w == Which::Lan).then_some(9)).is_ok());
        assert_eq!(b.ended(Which::Lan, 9), Some(vec![]));
    }
}
