//! CAR v1 import from arbitrary bytes: an error or a report, never a panic;
//! every stored block hashes to its CID; a DAG that imported whole exports
//! to a CAR that imports to the same blocks and exports to the same bytes.
#![no_main]

use cid::Cid;
use libfuzzer_sys::fuzz_target;
use p2pfs::block::{BlockError, BlockGet, BlockPut, identity_bytes, verify};
use p2pfs::car::{export, import};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct MemStore(Mutex<HashMap<Cid, Vec<u8>>>);

impl BlockPut for MemStore {
    fn put(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.0.lock().unwrap().insert(*cid, data.to_vec());
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}

impl BlockGet for MemStore {
    fn get(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        if let Some(b) = identity_bytes(cid) {
            return Ok(b.to_vec());
        }
        self.0
            .lock()
            .unwrap()
            .get(cid)
            .cloned()
            .ok_or(BlockError::NotFound(*cid))
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Ok(self.0.lock().unwrap().contains_key(cid))
    }
}

fuzz_target!(|data: &[u8]| {
    let store = MemStore::default();
    let Ok(report) = import(&store, &mut &data[..]) else {
        return;
    };
    for (cid, bytes) in store.0.lock().unwrap().iter() {
        verify(cid, bytes).expect("an imported block hashes to its CID");
    }
    for root in report.roots.iter().take(4) {
        let mut car = Vec::new();
        if export(&store, root, &mut car).is_err() {
            continue;
        }
        let again = MemStore::default();
        let r = import(&again, &mut &car[..]).expect("an exported CAR imports");
        assert_eq!(r.roots, vec![*root]);
        for (cid, bytes) in again.0.lock().unwrap().iter() {
            assert_eq!(store.get(cid).ok().as_ref(), Some(bytes));
        }
        let mut car2 = Vec::new();
        export(&again, root, &mut car2).expect("the re-imported DAG exports");
        assert_eq!(car2, car);
    }
});
