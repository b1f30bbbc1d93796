//! The worker's decoder jobs: fine-tuning a decoder on a dataset (the session's `lm` workflow) and generating from
//! the fine-tuned model (or the base one), the text streamed piece by piece. The page's view of them comes with a
//! later issue; the browser test drives these messages directly.

use std::ops::ControlFlow;
use std::rc::Rc;

use burn::module::Module;
use burn::tensor::Device;

use super::protocol::{DecoderFiles, DecoderJob, FromWorker};
use super::to_page::{post, scope};
use crate::data::generation;
use crate::method::CausalLm;
use crate::model::decoder::PretrainedDecoder;
use crate::model::generate::GenerationSettings;
use crate::session;
use crate::share::link::sha256_hex;
use crate::train::{Host, TrainEvent};

/// A decoder loaded by a job, and the model generation uses: the fine-tuned one, off autodiff.
pub struct LoadedDecoder {
    pub pretrained: Rc<PretrainedDecoder>,
    pub model: CausalLm,
    pub device: Device,
}

/// Reads the job's model files.
fn load(files: DecoderFiles) -> Result<PretrainedDecoder, String> {
    let loaded = match files {
        DecoderFiles::Gguf { name, bytes } => PretrainedDecoder::from_gguf(&name, bytes),
        DecoderFiles::HuggingFace { name, config, weights, tokenizer } => {
            PretrainedDecoder::from_bytes(&name, &config, weights, &tokenizer)
        }
    };
    loaded.map_err(|e| format!("the model: {e}"))
}

/// Trains the job's method on its data, posting each event and then the result, adapter files and (where asked) share
/// link; returns the trained decoder for generation.
pub async fn fine_tune(job: DecoderJob, device: Device) -> Result<LoadedDecoder, String> {
    let pretrained = Rc::new(load(job.model)?);
    let data =
        generation::read(&job.data_name, &job.data, None, false).map_err(|e| format!("{}: {e}", job.data_name))?;
    let config = &job.config;
    let prepared = session::lm::prepare_lm(&pretrained, &data, None, job.val_fraction, config.seed, config.max_length)
        .map_err(|e| format!("{}: {e}", job.data_name))?;
    let mut host = DecoderHost { request: job.request, performance: scope().performance() };
    let trained =
        session::lm::train_lm(&pretrained, &job.method, job.learning_rate, &prepared, config, &device, &mut host)
            .await
            .map_err(|e| format!("{}: {e}", job.method.label()))?;
    let link = match job.share_link {
        None => None,
        Some(precision) => {
            let sha = sha256_hex(pretrained.weights());
            let dataset = job.data_name.clone();
            let made = session::make_lm_link(&pretrained, sha, &trained, &prepared, config.clone(), dataset, precision);
            Some(made.await.map_err(|e| format!("share link: {e}"))?)
        }
    };
    let (request, result, adapter) = (job.request, trained.result, trained.adapter);
    post(&FromWorker::DecoderTrained { request, result, adapter, link });
    // Off autodiff: it only generates from now on.
    Ok(LoadedDecoder { pretrained, model: trained.model.valid(), device: device.inner() })
}

/// Generates from `prompt`, posting the text as it comes and then how it ended.
pub async fn generate(
    request: u64,
    decoder: &LoadedDecoder,
    prompt: &str,
    chat: bool,
    settings: GenerationSettings,
) -> Result<(), String> {
    let generated = session::generate::generate(
        &decoder.pretrained,
        &decoder.model,
        prompt,
        chat,
        settings,
        &decoder.device,
        |text| post(&FromWorker::GeneratedText { request, text: text.to_string() }),
    )
    .await
    .map_err(|e| e.to_string())?;
    post(&FromWorker::Generated {
        request,
        new_tokens: generated.new_tokens,
        finish: format!("{:?}", generated.finish),
    });
    Ok(())
}

/// Posts a decoder job's events with its request id.
struct DecoderHost {
    request: u64,
    performance: Option<web_sys::Performance>,
}

impl Host for DecoderHost {
    fn now(&self) -> f64 {
        self.performance.as_ref().map_or(0.0, |p| p.now() / 1000.0)
    }

    fn event(&mut self, _name: &str, event: &TrainEvent) -> ControlFlow<()> {
        post(&FromWorker::DecoderProgress { request: self.request, event: event.clone() });
        ControlFlow::Continue(())
    }

    fn peak_memory(&mut self, device: &Device) -> Option<u64> {
        device.memory_pool_usage().map(|usage| usage.bytes_reserved)
    }
}
