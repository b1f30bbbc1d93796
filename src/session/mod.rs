//! The workflows that the CLI and the page's worker share, written once: preparing a dataset (`dataset.rs`),
//! running a method (`run.rs`), comparing methods over seeds with learning-rate searches (`compare.rs`) and
//! summarising that comparison (`report.rs`), opening trained runs from adapter files and links (`open.rs`), making
//! links (`link.rs`), timing steps for the benchmark and the page's choice of backend (`timing.rs`), predicting
//! (`predict.rs`), generating text from a decoder (`generate.rs`) and fine-tuning one (`lm.rs`).
//! The session sits above the engine's layers and below its edges:
//! model < method < data < train < share < session < CLI, worker, page.

pub mod compare;
pub mod comparison_link;
pub mod dataset;
pub mod generate;
pub mod link;
pub mod lm;
pub mod memory;
pub mod open;
pub mod predict;
pub mod report;
pub mod results;
pub mod run;
pub mod timing;

pub use compare::{
    ComparePlan, ComparisonHost, MethodRuns, PlannedMethod, SearchSettings, SeedRun, SeedUnit, Unit, compare,
    search_unit, seed_unit,
};
pub use dataset::{HeldOut, held_out_fractions, prepare, summarize};
pub use link::{RunRecord, make_link, make_lm_link};
pub use open::{OpenedRun, open_files, open_link};
pub use predict::predict;
pub use run::{TrainedMethod, check_methods, run_method};

use crate::{data, method, model, share, train};

/// Any engine error, converted at the edges (CLI, worker) into a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] model::LoadError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Method(#[from] method::MethodError),
    #[error(transparent)]
    Train(#[from] train::TrainError),
    #[error(transparent)]
    Export(#[from] share::peft::ExportError),
    #[error(transparent)]
    Import(#[from] share::peft::ImportError),
    #[error(transparent)]
    Link(#[from] share::link::ShareError),
    #[error(transparent)]
    Generation(#[from] model::generate::GenerationError),
    #[error("every learning rate of the search failed: {0}")]
    Search(String),
    /// Settings that do not fit the model, with both numbers.
    #[error("{0}")]
    Settings(String),
}

impl Error {
    /// Cancelled, or the device lost: no later unit of a comparison could run.
    pub fn ends_comparison(&self) -> bool {
        matches!(self, Error::Train(train::TrainError::Cancelled | train::TrainError::DeviceLost(_)))
    }

    /// Why the device was lost, when it was.
    pub fn device_lost(&self) -> Option<&str> {
        match self {
            Error::Train(train::TrainError::DeviceLost(reason)) => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use crate::train::TrainError;

    #[test]
    fn a_lost_device_or_a_cancel_ends_a_comparison_and_other_failures_do_not() {
        let lost = Error::from(TrainError::DeviceLost("Destroyed".into()));
        assert!(lost.ends_comparison());
        assert_eq!(lost.device_lost(), Some("Destroyed"));
        assert!(Error::from(TrainError::Cancelled).ends_comparison());
        let diverged = Error::from(TrainError::NonFinite { step: 3, loss: f32::NAN, learning_rate: 1.0 });
        assert!(!diverged.ends_comparison() && diverged.device_lost().is_none());
    }
}
