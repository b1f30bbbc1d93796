//! A host that checkpoints into memory (the bytes a file would hold), records each step's loss, and stops a run
//! after a given step, as a killed process or a closed tab would.

use std::collections::HashMap;
use std::ops::ControlFlow;

use peft_lab::train::{CheckpointStore, Host, Loading, Saving, TrainEvent, TrainingCheckpoint};

pub struct MemoryStore {
    pub every: usize,
    pub resume: bool,
    pub files: HashMap<String, Vec<u8>>,
    /// The step of every save, in order.
    pub saved_steps: Vec<usize>,
    /// Whether a checkpoint that cannot resume its run starts it afresh (as the page does) or fails it (as the CLI).
    pub start_afresh: bool,
    /// The refusals that started a run afresh.
    pub refused: Vec<String>,
}

impl CheckpointStore for MemoryStore {
    fn every(&self, _total_steps: usize) -> usize {
        self.every
    }

    fn load<'a>(&'a mut self, label: &'a str) -> Loading<'a> {
        Box::pin(std::future::ready(match (self.resume, self.files.get(label)) {
            (true, Some(bytes)) => TrainingCheckpoint::from_bytes(bytes).map(Some),
            _ => Ok(None),
        }))
    }

    fn start_afresh(&mut self, _label: &str, why: &str) -> bool {
        if self.start_afresh {
            self.refused.push(why.to_string());
        }
        self.start_afresh
    }

    fn save<'a>(&'a mut self, label: &'a str, checkpoint: TrainingCheckpoint) -> Saving<'a> {
        self.saved_steps.push(checkpoint.progress.step);
        self.files.insert(label.to_string(), checkpoint.to_bytes());
        Box::pin(std::future::ready(()))
    }
}

pub struct ResumingHost {
    pub store: MemoryStore,
    pub stop_after: Option<usize>,
    /// The step a run was resumed at, from its `Resumed` event.
    pub resumed_at: Option<usize>,
    /// The steps this host saw trained.
    pub trained_steps: Vec<usize>,
    /// The held-out events' steps, replayed ones included.
    pub evaluated_steps: Vec<usize>,
}

impl ResumingHost {
    pub fn new(every: usize) -> Self {
        let store = MemoryStore {
            every,
            resume: false,
            files: HashMap::new(),
            saved_steps: Vec::new(),
            start_afresh: false,
            refused: Vec::new(),
        };
        Self { store, stop_after: None, resumed_at: None, trained_steps: Vec::new(), evaluated_steps: Vec::new() }
    }

    /// The same checkpoints, resumed from, and nothing else remembered.
    pub fn resuming(&self) -> Self {
        let mut next = Self::new(self.store.every);
        next.store.files = self.store.files.clone();
        next.store.resume = true;
        next
    }
}

impl Host for ResumingHost {
    fn now(&self) -> f64 {
        0.0
    }

    fn event(&mut self, _method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Step { step, .. } => {
                self.trained_steps.push(*step);
                if self.stop_after == Some(*step) {
                    return ControlFlow::Break(());
                }
            }
            TrainEvent::Resumed { step, .. } => self.resumed_at = Some(*step),
            TrainEvent::Evaluated { step, .. } | TrainEvent::LmEvaluated { step, .. } => {
                self.evaluated_steps.push(*step)
            }
            TrainEvent::Started { .. } => {}
        }
        ControlFlow::Continue(())
    }

    fn checkpoints(&mut self) -> Option<&mut dyn CheckpointStore> {
        Some(&mut self.store)
    }
}
