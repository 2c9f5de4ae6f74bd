//! Connections kept between requests: a bounded number open at once (more
//! requests wait for one), a few kept idle. Shared by SQLite's readers and
//! PostgreSQL's connections.

use std::sync::{Condvar, Mutex, PoisonError};

#[derive(Debug)]
pub(crate) struct Pool<C> {
    state: Mutex<State<C>>,
    /// Signalled when a connection is returned or forgotten.
    returned: Condvar,
    idle_max: usize,
    open_max: usize,
}

#[derive(Debug)]
struct State<C> {
    idle: Vec<C>,
    open: usize,
}

impl<C> Pool<C> {
    pub(crate) fn new(idle_max: usize, open_max: usize) -> Pool<C> {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            idle_max,
            open_max: open_max.max(1),
        }
    }

    /// An idle connection, or a new one from `open` while fewer than the
    /// most are open, or the next one returned.
    pub(crate) fn take<E>(&self, open: impl FnOnce() -> Result<C, E>) -> Result<C, E> {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(connection) = state.idle.pop() {
                    return Ok(connection);
                }
                if state.open < self.open_max {
                    state.open += 1;
                    break;
                }
                state = self
                    .returned
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        open().inspect_err(|_| self.forget())
    }

    /// Returns a connection; one that is broken (`healthy` false) or beyond
    /// the idle bound is closed.
    pub(crate) fn give_back(&self, connection: C, healthy: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if healthy && state.idle.len() < self.idle_max {
            state.idle.push(connection);
        } else {
            state.open -= 1;
            drop(state);
            drop(connection);
        }
        self.returned.notify_one();
    }

    fn forget(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open -= 1;
        self.returned.notify_one();
    }
}
