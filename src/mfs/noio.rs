//! No-I/O mode: the FUSE thread's first try at a request.

thread_local! {
    static NO_IO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` in no-I/O mode: any step that would read the disk, hash a large
/// file or wait for the tree lock fails with [`MfsError::WouldBlock`]
/// instead. FUSE threads answer cheap requests this way without a thread
/// hand-off, and hand the rest to the blocking pool.
pub fn without_io<T>(f: impl FnOnce() -> T) -> T {
    NO_IO.with(|c| c.set(true));
    let r = f();
    NO_IO.with(|c| c.set(false));
    r
}

pub(super) fn no_io() -> bool {
    NO_IO.with(|c| c.get())
}

/// Whether the caller runs under [`without_io`] (other views check it too).
pub fn io_forbidden() -> bool {
    no_io()
}

/// Files up to this size are flushed (hashed and stored) in no-I/O mode.
pub(super) const SMALL_FILE: u64 = 64 * 1024;
