//! CPU work off the async threads, bounded and on a budget.
//!
//! Matching a batch and hashing an upload can take seconds; run on the async threads they would
//! stall every other request (`/health` included). [`Pool::run`] runs such work on tokio's
//! blocking threads, at most [`Pool::slots`] jobs at once (one a core by default), and gives each
//! job a [`Budget`]: a deadline counted from when the request asked for a slot, which the job
//! checks between units of work (signals). Waiting for a slot counts against the budget, so a
//! request never queues for longer than its budget; a job over budget (or whose client went
//! away) stops and the request answers 503.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A bounded set of blocking slots.
pub struct Pool {
    slots: Arc<Semaphore>,
    size: usize,
    budget: Duration,
}

/// A job's allowance: check it between units of work.
pub struct Budget {
    deadline: Instant,
    budget: Duration,
    cancelled: Arc<AtomicBool>,
}

fn over_budget(budget: Duration) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "over_budget",
        message: format!(
            "the request did not finish within the server's work budget of {:.1} s \
             (--match-budget-ms): send fewer signals per request, or retry when the server is \
             less busy",
            budget.as_secs_f64()
        ),
    }
}

impl Budget {
    /// Fails with 503 once the deadline has passed or the client has gone away.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.cancelled.load(Ordering::Relaxed) || Instant::now() > self.deadline {
            Err(over_budget(self.budget))
        } else {
            Ok(())
        }
    }
}

/// Sets the flag when the request's future is dropped (its client went away, or it timed out),
/// so that the blocking job stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Pool {
    /// `slots` concurrent jobs (at least one), each with `budget`.
    pub fn new(slots: usize, budget: Duration) -> Self {
        let size = slots.max(1);
        Pool { slots: Arc::new(Semaphore::new(size)), size, budget }
    }

    /// How many jobs may run at once.
    pub fn slots(&self) -> usize {
        self.size
    }

    /// Runs `job` on a blocking thread once a slot is free, within the budget.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let deadline = started + self.budget;
        let permit = tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned())
            .await
            .map_err(|_| over_budget(self.budget))?
            .map_err(ApiError::internal)?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancelled.clone());
        let budget = Budget { deadline, budget: self.budget, cancelled };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(&budget)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_stop_at_their_budget_and_wait_no_longer() {
        let pool = Arc::new(Pool::new(1, Duration::from_millis(200)));
        // A job that checks its budget stops with 503 soon after the deadline.
        let t = Instant::now();
        let e = pool
            .run(|b| -> Result<(), ApiError> {
                loop {
                    b.check()?;
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "over_budget"));
        assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
        // While the only slot is taken, another request waits at most its budget.
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(|_| {
                    std::thread::sleep(Duration::from_millis(600));
                    Ok(1)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        let e = pool.run(|_| Ok(2)).await.unwrap_err();
        assert_eq!(e.code, "over_budget");
        assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
        assert_eq!(busy.await.unwrap().unwrap(), 1);
        assert_eq!(pool.run(|_| Ok(3)).await.unwrap(), 3);
    }
}
