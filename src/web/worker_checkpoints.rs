//! A comparison's checkpoints in the browser's IndexedDB, for the workers that train its runs. The engine asks for
//! a checkpoint synchronously as a run starts, so those of a resumed comparison are read before it runs; a run waits
//! for its checkpoint to be stored (which also lets the worker's event loop turn), and the page hears of it only
//! then (`CheckpointSaved`), never before.

use std::collections::HashMap;

use super::protocol::FromWorker;
use super::store;
use super::to_page::post;
use crate::session::compare::Unit;
use crate::train::{CheckpointStore, Saving, TrainingCheckpoint};

/// Checkpoints a run about ten times (and at the end of each epoch that many steps after the last).
const CHECKPOINTS_PER_RUN: usize = 10;

pub struct BrowserCheckpoints {
    comparison: u64,
    /// The checkpoints a resumed comparison goes on from, by run name; each is taken once.
    saved: HashMap<String, Vec<u8>>,
    /// The unit the runs belong to, named in the page's messages.
    pub unit: Option<Unit>,
}

impl BrowserCheckpoints {
    /// The store of `comparison`: with `resume`, holding its checkpoints of the runs whose names start with
    /// `label_prefix` (a helper reads only its unit's).
    pub async fn open(comparison: u64, resume: bool, label_prefix: &str) -> Result<Self, String> {
        let saved = match resume {
            true => {
                store::checkpoints(&store::checkpoint_prefix(comparison, label_prefix)).await?.into_iter().collect()
            }
            false => HashMap::new(),
        };
        Ok(Self { comparison, saved, unit: None })
    }
}

impl CheckpointStore for BrowserCheckpoints {
    fn every(&self, total_steps: usize) -> usize {
        total_steps.div_ceil(CHECKPOINTS_PER_RUN)
    }

    fn load(&mut self, label: &str) -> Result<Option<TrainingCheckpoint>, String> {
        self.saved.remove(label).map(|bytes| TrainingCheckpoint::from_bytes(&bytes)).transpose()
    }

    fn save<'a>(&'a mut self, label: &'a str, checkpoint: TrainingCheckpoint) -> Saving<'a> {
        let key = store::checkpoint_prefix(self.comparison, label);
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
