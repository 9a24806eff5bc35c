//! The one DAG walker: runs the nodes of a dependency graph as their deps
//! finish, at most `parallelism` at a time, skips everything downstream of
//! a failure, and stops starting nodes once cancelled (what runs is told to
//! stop and awaited; what never started is reported as such).
//!
//! The walker owns only the order; what a node does, what a failure means
//! and what a skip records belong to the caller's [`Steps`]. Nodes run as
//! futures polled by the walker's own task (no spawning), so a step may
//! borrow the caller's state.

use std::collections::VecDeque;
use std::future::Future;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

/// What the walker asks of the graph's owner.
pub trait Steps {
    /// What a node's run produces.
    type Output;
    /// Runs node `node`; `true` with the output when it succeeded (its
    /// dependents may start), `false` when it failed (they are skipped).
    fn run(&self, node: usize) -> impl Future<Output = (Self::Output, bool)>;
    /// Node `node` will not run: `via` is its dep that failed or was
    /// skipped, `failed` the node whose failure started the chain.
    fn skipped(&self, node: usize, via: usize, failed: usize);
    /// The walk was cancelled: stop what is running (the walker then waits
    /// for those nodes to end).
    fn cancelled(&self) -> impl Future<Output = ()>;
}

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// It ran; `ok` as [`Steps::run`] said.
    Ran {
        /// What it produced.
        output: T,
        /// Whether it succeeded.
        ok: bool,
    },
    /// Downstream of a failure (see [`Steps::skipped`]).
    Skipped {
        /// The dep it was skipped through.
        via: usize,
        /// The failed node.
        failed: usize,
    },
    /// Never started: the walk was cancelled first.
    NotStarted,
}

/// Walks the graph whose node `i` depends on every node in `deps[i]`
/// (indexes below `deps.len()`; the graph must be acyclic, as the callers'
/// loaders check). Ready nodes start in index order.
pub async fn walk<S: Steps>(
    steps: &S,
    deps: &[Vec<usize>],
    parallelism: usize,
    cancel: impl Future<Output = ()>,
) -> Vec<Outcome<S::Output>> {
    let dependents = dependents(deps);
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut outcomes: Vec<Option<Outcome<S::Output>>> = deps.iter().map(|_| None).collect();
    let mut ready: VecDeque<usize> = (0..deps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut running = FuturesUnordered::new();
    let mut cancelled = false;
    tokio::pin!(cancel);
    loop {
        // A cancel that came while nodes ended is seen before any new start.
        if !cancelled && (&mut cancel).now_or_never().is_some() {
            cancelled = true;
            steps.cancelled().await;
        }
        while !cancelled && running.len() < parallelism.max(1) {
            let Some(i) = ready.pop_front() else { break };
            if outcomes[i].is_some() {
                continue;
            }
            running.push(async move { (i, steps.run(i).await) });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((i, (output, ok))) = running.next() => {
                if ok {
                    for &d in &dependents[i] {
                        waiting[d] -= 1;
                        if waiting[d] == 0 {
                            ready.push_back(d);
                        }
                    }
                } else {
                    skip_downstream(steps, i, &dependents, &mut outcomes);
                }
                outcomes[i] = Some(Outcome::Ran { output, ok });
            }
            _ = &mut cancel, if !cancelled => {
                cancelled = true;
                steps.cancelled().await;
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::NotStarted))
        .collect()
}

/// Marks everything downstream of `failed` skipped, nearest first.
fn skip_downstream<S: Steps>(
    steps: &S,
    failed: usize,
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<Outcome<S::Output>>],
) {
    let mut queue: VecDeque<(usize, usize)> =
        dependents[failed].iter().map(|&d| (d, failed)).collect();
    while let Some((node, via)) = queue.pop_front() {
        if outcomes[node].is_some() {
            continue;
        }
        steps.skipped(node, via, failed);
        outcomes[node] = Some(Outcome::Skipped { via, failed });
        queue.extend(dependents[node].iter().map(|&d| (d, node)));
    }
}

/// `dependents[i]`: the nodes that depend on `i`.
pub fn dependents(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); deps.len()];
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            out[d].push(node);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    /// Steps that record when each node starts and ends, fail the nodes
    /// listed, and take `ms` of (paused) time each.
    struct Recorder {
        failing: Vec<usize>,
        ms: u64,
        log: RefCell<Vec<String>>,
        running: RefCell<usize>,
        most: RefCell<usize>,
    }

    impl Recorder {
        fn new(failing: &[usize], ms: u64) -> Self {
            Self {
                failing: failing.to_vec(),
                ms,
                log: RefCell::default(),
                running: RefCell::default(),
                most: RefCell::default(),
            }
        }
    }

    impl Steps for Recorder {
        type Output = usize;
        async fn run(&self, node: usize) -> (usize, bool) {
            *self.running.borrow_mut() += 1;
            let now = *self.running.borrow();
            let most = (*self.most.borrow()).max(now);
            *self.most.borrow_mut() = most;
            self.log.borrow_mut().push(format!("start {node}"));
            tokio::time::sleep(Duration::from_millis(self.ms)).await;
            *self.running.borrow_mut() -= 1;
            self.log.borrow_mut().push(format!("end {node}"));
            (node * 10, !self.failing.contains(&node))
        }
        fn skipped(&self, node: usize, via: usize, failed: usize) {
            self.log
                .borrow_mut()
                .push(format!("skip {node} via {via} ({failed} failed)"));
        }
        async fn cancelled(&self) {
            self.log.borrow_mut().push("cancelled".into());
        }
    }

    fn never() -> impl Future<Output = ()> {
        std::future::pending()
    }

    #[tokio::test(start_paused = true)]
    async fn deps_run_first_and_parallelism_bounds_the_running_nodes() {
        // 0 -> {1,2,3,4} -> 5
        let deps = vec![vec![], vec![0], vec![0], vec![0], vec![0], vec![1, 2, 3, 4]];
        let steps = Recorder::new(&[], 10);
        let outcomes = walk(&steps, &deps, 2, never()).await;
        assert_eq!(*steps.most.borrow(), 2);
        let log = steps.log.borrow();
        assert_eq!(log.first().map(String::as_str), Some("start 0"));
        assert_eq!(log.last().map(String::as_str), Some("end 5"));
        assert!(outcomes.iter().enumerate().all(|(i, o)| *o
            == Outcome::Ran {
                output: i * 10,
                ok: true
            }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_everything_downstream_and_nothing_else() {
        // 0 -> 1 -> 2, 0 -> 3; 1 fails
        let deps = vec![vec![], vec![0], vec![1], vec![0]];
        let steps = Recorder::new(&[1], 10);
        let outcomes = walk(&steps, &deps, 4, never()).await;
        assert_eq!(outcomes[2], Outcome::Skipped { via: 1, failed: 1 });
        assert_eq!(
            outcomes[3],
            Outcome::Ran {
                output: 30,
                ok: true
            }
        );
        assert!(
            steps
                .log
                .borrow()
                .contains(&"skip 2 via 1 (1 failed)".to_string())
        );
        assert!(!steps.log.borrow().contains(&"start 2".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_skip_names_the_dep_it_came_through() {
        // 0 fails; 0 -> 1 -> 2
        let deps = vec![vec![], vec![0], vec![1]];
        let steps = Recorder::new(&[0], 10);
        let outcomes = walk(&steps, &deps, 4, never()).await;
        assert_eq!(outcomes[1], Outcome::Skipped { via: 0, failed: 0 });
        assert_eq!(outcomes[2], Outcome::Skipped { via: 1, failed: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_waits_for_what_runs_and_starts_nothing_more() {
        // 0 and 1 at once, 2 after 0; cancelled while 0 and 1 run
        let deps = vec![vec![], vec![], vec![0]];
        let steps = Recorder::new(&[], 100);
        let cancel = tokio::time::sleep(Duration::from_millis(50));
        let outcomes = walk(&steps, &deps, 4, cancel).await;
        assert!(matches!(outcomes[0], Outcome::Ran { .. }));
        assert!(matches!(outcomes[1], Outcome::Ran { .. }));
        assert_eq!(outcomes[2], Outcome::NotStarted);
        let log = steps.log.borrow();
        let cancelled = log.iter().position(|l| l == "cancelled").unwrap();
        let first_end = log.iter().position(|l| l.starts_with("end")).unwrap();
        assert!(cancelled < first_end, "{log:?}");
    }
}
