//! How the process's allocator gives memory back: large blocks are mapped on their own and
//! returned to the kernel when freed.
//!
//! # Why
//! glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), so after
//! the first password hash (argon2id with OWASP's 19 MiB) every later one is carved from a
//! per-thread arena and stays resident after it is freed. In `./scripts/bench`, a few signups
//! and logins thus left 60 MiB or more resident for good in a process holding 20 MiB of live
//! data. A fixed threshold keeps every block of 1 MiB and more (those hashes, a relist of a
//! thousand containers) out of the arenas.

/// Blocks of this size and more are mapped and unmapped on their own.
const MMAP_THRESHOLD_BYTES: i32 = 1 << 20;

/// Sets the allocator up as described above; call once, first thing in `main`. Does nothing
/// on other C libraries than glibc.
pub fn return_large_blocks_to_the_kernel() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's malloc parameters; setting M_MMAP_THRESHOLD is
    // allowed at any time and fixes the threshold (it no longer moves on free).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
