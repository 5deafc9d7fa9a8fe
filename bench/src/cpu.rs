//! CPU time, to say where a scenario's time went: this process (tenantd, its caches and the
//! harness's own clients) and the PostgreSQL server processes.
//!
//! # Guarantees
//! - [`process_seconds`] is user plus system time of every thread of this process.
//! - [`postgres_seconds`] is user plus system time of every process named `postgres` on the
//!   machine, including the children the postmaster has already reaped (their time is in its
//!   `cutime`/`cstime`), so the difference of two readings counts backends that exited in
//!   between. Every Postgres cluster on the machine is counted: run on a quiet machine.

use std::fs;

/// User plus system CPU time of this whole process (all threads), from getrusage.
pub fn process_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// User plus system CPU time of the `postgres` processes, with their reaped children; `None`
/// when `/proc` cannot be read.
pub fn postgres_seconds() -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return None;
    }
    let mut total = 0u64;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        // A process may exit between the listing and the read: skip it (its time moves to
        // its parent's cutime, which the postmaster's line counts).
        if let Ok(stat) = fs::read_to_string(entry.path().join("stat"))
            && let Some(t) = postgres_ticks(&stat)
        {
            total += t;
        }
    }
    Some(total as f64 / ticks as f64)
}

/// utime + stime + cutime + cstime of a `/proc/PID/stat` line whose command is `postgres`.
fn postgres_ticks(stat: &str) -> Option<u64> {
    // The command is in parentheses and may itself hold spaces or parentheses: the fields
    // after it start after the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if stat.get(open + 1..close)? != "postgres" {
        return None;
    }
    // After the command: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, then utime, stime, cutime, cstime (proc(5) fields 14 to 17).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_time_grows_with_work() {
        // Spins until this process has used 20 ms more CPU: a reading that stood still (a
        // constant, or a clock that is not CPU time) never gets there within the wall-clock
        // bound, however busy the machine.
        let before = process_seconds();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        while process_seconds() - before < 0.02 {
            assert!(
                std::time::Instant::now() < deadline,
                "20 s of spinning added less than 20 ms of CPU time"
            );
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
    }

    #[test]
    fn the_four_time_fields_of_a_postgres_line_are_summed() {
        let line = "4242 (postgres) S 1 4242 4242 0 -1 4194560 500 0 0 0 7 3 20 10 20 0 1 0 100 \
                    200000 300 18446744073709551615";
        assert_eq!(postgres_ticks(line), Some(7 + 3 + 20 + 10));
    }

    #[test]
    fn other_commands_and_broken_lines_are_not_counted() {
        let other = "17 (tenantd-bench) S 1 17 17 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 100 1 1 1";
        assert_eq!(postgres_ticks(other), None);
        // A command that contains ") " must not shift the fields.
        let tricky = "18 (x) postgres) S 1 18 18 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 100 1 1 1";
        assert_eq!(postgres_ticks(tricky), None);
        assert_eq!(postgres_ticks("19 (postgres) S 1 2"), None);
        assert_eq!(postgres_ticks("no parentheses"), None);
    }

    #[test]
    fn this_machine_can_be_read() {
        // /proc exists wherever the harness runs (Linux); the sum may be zero.
        assert!(postgres_seconds().is_some_and(|s| s >= 0.0));
    }
}
