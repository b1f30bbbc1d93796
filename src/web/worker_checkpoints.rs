//! A comparison's checkpoints in the browser's IndexedDB, for the workers that train its runs. A run's checkpoint is
//! read as the run starts (one run's at a time in memory: full fine-tuning's is hundreds of MB); a run waits for its
//! checkpoint to be stored (which also lets the worker's event loop turn), and the page hears of it only then
//! (`CheckpointSaved`), never before.

use super::protocol::FromWorker;
use super::store;
use super::to_page::post;
use crate::session::compare::Unit;
use crate::train::{CheckpointStore, Loading, Saving, TrainingCheckpoint};

/// Checkpoints a run about ten times (and at the end of each epoch that many steps after the last).
const CHECKPOINTS_PER_RUN: usize = 10;

pub struct BrowserCheckpoints {
    comparison: u64,
    /// Runs go on from their stored checkpoints (a resumed comparison).
    resume: bool,
    /// The unit the runs belong to, named in the page's messages.
    pub unit: Option<Unit>,
}

impl BrowserCheckpoints {
    /// The store of `comparison`'s checkpoints; with `resume`, runs go on from theirs.
    pub fn new(comparison: u64, resume: bool) -> Self {
        Self { comparison, resume, unit: None }
    }
}

impl CheckpointStore for BrowserCheckpoints {
    fn every(&self, total_steps: usize) -> usize {
        total_steps.div_ceil(CHECKPOINTS_PER_RUN)
    }

    fn load<'a>(&'a mut self, label: &'a str) -> Loading<'a> {
        let key = store::checkpoint_key(self.comparison, label);
        let resume = self.resume;
        Box::pin(async move {
            if !resume {
                return Ok(None);
            }
            let bytes = store::checkpoint(&key).await.map_err(|e| format!("the browser's storage: {e}"))?;
            bytes.map(|bytes| TrainingCheckpoint::from_bytes(&bytes)).transpose()
        })
    }

    /// The page resumes on its own after a reload: a run its checkpoint cannot resume starts again, and the page
    /// hears why.
    fn start_afresh(&mut self, label: &str, why: &str) -> bool {
        post(&FromWorker::Notice(format!("{label} starts again: its checkpoint cannot resume it ({why})")));
        true
    }

    fn save<'a>(&'a mut self, label: &'a str, checkpoint: TrainingCheckpoint) -> Saving<'a> {
        let key = store::checkpoint_key(self.comparison, label);
        let (step, bytes) = (checkpoint.progress.step, checkpoint.to_bytes());
        Box::pin(async move {
            let stored = store::put_checkpoint(&key, &bytes).await;
            if let Some(unit) = self.unit {
                post(&match stored {
                    Ok(()) => FromWorker::CheckpointSaved { unit, step },
                    Err(error) => FromWorker::CheckpointFailed { unit, step, error },
                });
            }
        })
    }
}
