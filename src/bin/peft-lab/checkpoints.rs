//! Checkpoints in a folder (`--checkpoint-dir`): one file per run, written whole under a temporary name and then
//! renamed, so a run killed while saving leaves its previous checkpoint intact; and `model.txt`, the model they were
//! made with, so that `--resume` never continues a run on another model.

use std::path::{Path, PathBuf};

use peft_lab::train::{CheckpointStore, Loading, Saving, TrainingCheckpoint};

pub struct FolderStore {
    dir: PathBuf,
    every: usize,
    resume: bool,
}

impl FolderStore {
    /// Opens (or creates) `dir` for runs on the model `model` (a name and the sha256 of its weights). With `resume`,
    /// the folder must hold checkpoints of that model; without, its checkpoints of an earlier run are removed (a run
    /// of the same name on another model would otherwise be resumed from one later).
    pub fn open(dir: &Path, every: usize, resume: bool, model: &str) -> Result<Self, String> {
        if every == 0 {
            return Err("--checkpoint-every is 0; it must be a number of steps from 1".into());
        }
        let marker = dir.join("model.txt");
        if resume {
            let saved = std::fs::read_to_string(&marker).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("--resume: {} holds no checkpoints (no model.txt)", dir.display())
                }
                _ => format!("cannot read {}: {e}", marker.display()),
            })?;
            if saved.trim() != model {
                return Err(format!(
                    "--resume: the checkpoints in {} are of the model {}; this is {model}",
                    dir.display(),
                    saved.trim()
                ));
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            remove_checkpoints(dir)?;
            std::fs::write(&marker, format!("{model}\n"))
                .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
        }
        Ok(Self { dir: dir.to_path_buf(), every, resume })
    }

    /// The checkpoint of `label` when resuming and one was saved.
    fn read(&self, label: &str) -> Result<Option<TrainingCheckpoint>, String> {
        if !self.resume {
            return Ok(None);
        }
        let file = self.file(label);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        TrainingCheckpoint::from_bytes(&bytes).map(Some).map_err(|e| format!("{}: {e}", file.display()))
    }

    /// The run's file: its name in lowercase letters, digits and dashes, so "lora r8 (lr 1.0e-3, 7-step search)" is
    /// `lora-r8-lr-1-0e-3-7-step-search.ckpt`.
    fn file(&self, label: &str) -> PathBuf {
        let mut name = String::new();
        for c in label.chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c.to_ascii_lowercase());
            } else if !name.is_empty() && !name.ends_with('-') {
                name.push('-');
            }
        }
        self.dir.join(format!("{}.ckpt", name.trim_end_matches('-')))
    }
}

/// Removes the checkpoints (finished or partly written) in `dir`; nothing else.
fn remove_checkpoints(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".ckpt") || name.ends_with(".ckpt.partial") {
            std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

impl CheckpointStore for FolderStore {
    fn every(&self, _total_steps: usize) -> usize {
        self.every
    }

    fn load<'a>(&'a mut self, label: &'a str) -> Loading<'a> {
        Box::pin(std::future::ready(self.read(label)))
    }

    /// `--resume` was asked for: a checkpoint that cannot resume its run fails it, saying why.
    fn start_afresh(&mut self, _label: &str, _why: &str) -> bool {
        false
    }

    fn save<'a>(&'a mut self, label: &'a str, checkpoint: TrainingCheckpoint) -> Saving<'a> {
        let file = self.file(label);
        let partial = file.with_extension("ckpt.partial");
        let written = std::fs::write(&partial, checkpoint.to_bytes()).and_then(|()| std::fs::rename(&partial, &file));
        if let Err(e) = written {
            eprintln!(
                "warning: the checkpoint of {label} at step {} was not saved to {}: {e}; training goes on",
                checkpoint.progress.step,
                file.display()
            );
        }
        Box::pin(std::future::ready(()))
    }
}
