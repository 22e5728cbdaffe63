//! The console's log reader: a thread of its own with a one-thread runtime
//! that takes what its sockets hold at most every [`PACE`].
//!
//! A followed log arrives one line per write from the engine, and a thread
//! waiting on its sockets wakes as soon as any line comes: five containers
//! at 1,000 lines a second each woke the console some 440 times a second,
//! and the `recv` and `epoll_wait` calls were almost half of its CPU
//! (benches/README.md, "Logs"). This runtime's thread, once it has nothing
//! left to run, first sleeps out the rest of the pace since it last woke and
//! only then waits on its sockets: the kernel gathers the lines meanwhile,
//! and one wake-up reads them all. A flood never waits (there is always
//! something to run); an idle reader sleeps in the kernel as any other. A
//! line waits at most one pace longer (the logs view draws every 100 ms);
//! keys, the fleet's events and everything else stay on the console's own
//! thread, which answers at once.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// The longest the reader sleeps between two rounds.
pub const PACE: Duration = Duration::from_millis(50);

/// Where the console's log streams run: the reader thread, started on first
/// use (the calling runtime if that thread cannot be started).
pub fn handle() -> Handle {
    static READER: OnceLock<Option<Handle>> = OnceLock::new();
    READER
        .get_or_init(start)
        .clone()
        .unwrap_or_else(Handle::current)
}

fn start() -> Option<Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Only when nothing is left to run (never in a flood's middle): the
        // rest of the pace slept, then the wait on the sockets and timers.
        .on_thread_park(|| {
            let rest = ROUND.with(|r| PACE.checked_sub(r.get().elapsed()));
            if let Some(rest) = rest {
                std::thread::sleep(rest);
            }
        })
        .on_thread_unpark(|| ROUND.with(|r| r.set(Instant::now())))
        .build()
        .ok()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("shipdeck-logs".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .ok()?;
    Some(handle)
}

thread_local! {
    /// When the reader last woke.
    static ROUND: std::cell::Cell<Instant> = std::cell::Cell::new(Instant::now());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn tasks_on_the_reader_run_and_their_timers_fire() {
        let h = handle();
        let started = Instant::now();
        let done = h.spawn(async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            7
        });
        assert_eq!(done.await.ok(), Some(7));
        assert!(started.elapsed() >= Duration::from_millis(60));
    }

    #[tokio::test]
    async fn the_reader_takes_a_trickle_in_a_few_reads_and_loses_nothing() {
        use std::io::Write;
        use tokio::io::AsyncReadExt;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        a.set_nonblocking(true).expect("nonblocking");
        // Registered with the reader's own driver, as its streams are.
        let reader = handle().spawn(async move {
            let mut a = tokio::net::UnixStream::from_std(a).expect("tokio socket");
            let (mut got, mut reads) = (Vec::new(), 0);
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = a.read(&mut buf).await {
                got.extend_from_slice(&buf[..n]);
                reads += 1;
            }
            (got, reads)
        });
        // 200 writes a millisecond or more apart: a thread waiting on the
        // socket would read ~200 times; one that sleeps out its pace reads
        // once a pace (a slow machine only makes the gaps longer).
        let started = Instant::now();
        for i in 0..200u8 {
            b.write_all(&[i]).expect("write");
            std::thread::sleep(Duration::from_millis(1));
        }
        let secs = started.elapsed().as_secs_f64();
        drop(b);
        let (got, reads) = reader.await.expect("reader task");
        assert_eq!(got, (0..200u8).collect::<Vec<_>>());
        let most = (secs / PACE.as_secs_f64()).ceil() as usize + 2;
        assert!(
            reads <= most,
            "{reads} reads in {secs:.3}s, at most {most} expected"
        );
    }
}
