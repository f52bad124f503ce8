//! The bounded pool that runs one piece of work per host: a recipe run
//! (off-runtime's executor) and a check (off-check's engine) both reach many
//! hosts at most `--parallel` at a time, each host on a thread of its own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on every item, at most `parallel` (at least 1) at a time, and
/// returns the results in the order of `items`. Items are started in order,
/// so with `parallel` 1 they run one after another; a caller that stops
/// early (`--fail-fast`) lets the items not yet started see it from inside
/// `work`.
pub fn run_bounded<T, R, F>(items: &[T], parallel: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let workers = parallel.max(1).min(items.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else {
                        break;
                    };
                    let result = work(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `run_bounded` on `n` items that each hold a slot for a moment,
    /// and returns (results, the most items that ran at once).
    fn measure(n: usize, parallel: usize) -> (Vec<usize>, usize) {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<usize> = (0..n).collect();
        let results = run_bounded(&items, parallel, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        (results, most.into_inner())
    }

    #[test]
    fn results_come_back_in_the_order_of_the_items() {
        let (results, _) = measure(7, 3);
        assert_eq!(results, vec![0, 10, 20, 30, 40, 50, 60]);
    }

    #[test]
    fn never_more_than_parallel_at_a_time() {
        let (_, most) = measure(8, 3);
        assert_eq!(most, 3);
        // 0 means one at a time, as `--parallel` is at least 1.
        let (results, most) = measure(3, 0);
        assert_eq!((results, most), (vec![0, 10, 20], 1));
        // More slots than items: every item at once.
        let (_, most) = measure(4, 10);
        assert_eq!(most, 4);
    }

    #[test]
    fn one_at_a_time_runs_the_items_in_order() {
        let started = Mutex::new(Vec::new());
        let items = ["a", "b", "c", "d"];
        run_bounded(&items, 1, |item| started.lock().unwrap().push(*item));
        assert_eq!(started.into_inner().unwrap(), items);
    }

    #[test]
    fn no_items_no_results() {
        let items: [u8; 0] = [];
        let results: Vec<()> = run_bounded(&items, 4, |_| panic!("no item to run"));
        assert!(results.is_empty());
    }
}
