//! Timing training steps without a dataset: the benchmark command and the page's choice of backend use it.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::cubecl::logging::{LaunchObservation, LaunchObserver};
use burn::tensor::Device;

use super::Error;
use super::lm::{LmData, LmResult, train_lm};
use super::run::run_method;
use crate::data::batch::TokenizedExample;
use crate::data::lm::LmExample;
use crate::method::MethodConfig;
use crate::model::Pretrained;
use crate::model::decoder::PretrainedDecoder;
use crate::train::{Host, MethodResult, PreparedData, TrainConfig, TrainEvent};

/// `count` two-label examples of exactly `seq_len` ids: [CLS], varied ids from the vocabulary, [SEP].
pub fn synthetic_examples(count: usize, seq_len: usize, vocab: usize) -> Vec<TokenizedExample> {
    let vocab = vocab.max(1);
    let first = 1000.min(vocab / 2);
    (0..count)
        .map(|i| {
            let mut ids = vec![101u32.min(vocab as u32 - 1)];
            ids.extend(
                (1..seq_len.saturating_sub(1)).map(|j| (first + (i * 7919 + j * 104_729) % (vocab - first)) as u32),
            );
            ids.push(102u32.min(vocab as u32 - 1));
            TokenizedExample { ids, label: i % 2 }
        })
        .collect()
}

/// Trains `method` for `steps` steps after a first one (which on GPUs also compiles kernels) on synthetic batches of
/// `batch_size` x `seq_len` tokens, at the method's default learning rate; the result holds the timings.
pub async fn time_steps(
    pretrained: &Pretrained,
    method: &MethodConfig,
    batch_size: usize,
    seq_len: usize,
    steps: usize,
    device: &Device,
    host: &mut dyn Host,
) -> Result<MethodResult, Error> {
    let config = timing_config(batch_size, seq_len, steps);
    let data = PreparedData {
        train: synthetic_examples(batch_size * (steps + 1), seq_len, pretrained.config.vocab_size),
        val: Vec::new(),
        test: Vec::new(),
        labels: vec!["0".into(), "1".into()],
    };
    let lr = method.default_learning_rate();
    Ok(run_method(pretrained, method, lr, &data, &config, device, host).await?.result)
}

/// `steps` steps after the first, of `batch_size` x `seq_len` tokens.
fn timing_config(batch_size: usize, seq_len: usize, steps: usize) -> TrainConfig {
    TrainConfig { max_steps: Some(steps + 1), batch_size, max_length: seq_len, ..Default::default() }
}

/// [`time_steps`] for a decoder: `method` trains as a language model on synthetic sequences of `seq_len` ids, every
/// token learned, without held-out data.
pub async fn time_lm_steps(
    pretrained: &PretrainedDecoder,
    method: &MethodConfig,
    batch_size: usize,
    seq_len: usize,
    steps: usize,
    device: &Device,
    host: &mut dyn Host,
) -> Result<LmResult, Error> {
    let config = timing_config(batch_size, seq_len, steps);
    let examples = synthetic_examples(batch_size * (steps + 1), seq_len, pretrained.config.vocab_size());
    let train = examples
        .into_iter()
        .map(|e| LmExample { labels: e.ids.iter().map(|&id| i64::from(id)).collect(), ids: e.ids })
        .collect();
    let data = LmData { train, val: Vec::new(), tokenizing: Default::default(), sample_prompts: Vec::new() };
    let lr = method.default_learning_rate();
    Ok(train_lm(pretrained, method, lr, &data, &config, device, host).await?.result)
}

/// [`time_steps`], also counting the GPU kernels launched per step after the first (cubecl's launch observer; none on
/// the CPU backend). The count is of launches issued, so with kernel fusion it is of fused kernels.
/// Kept apart from [`time_steps`] because the observer is process-wide: the page's backend timing need not pay for it.
pub async fn time_steps_counting_launches(
    pretrained: &Pretrained,
    method: &MethodConfig,
    batch_size: usize,
    seq_len: usize,
    steps: usize,
    device: &Device,
    host: &mut dyn Host,
) -> Result<(MethodResult, f64), Error> {
    let launches = Arc::new(LaunchCounter::default());
    let _observation = LaunchObservation::new(launches.clone());
    let mut counting = CountingHost { inner: host, launches: launches.clone(), after_first: 0, after_last: 0 };
    let result = time_steps(pretrained, method, batch_size, seq_len, steps, device, &mut counting).await?;
    let per_step = (counting.after_last - counting.after_first) as f64 / steps.max(1) as f64;
    Ok((result, per_step))
}

#[derive(Default)]
struct LaunchCounter(AtomicUsize);

impl LaunchObserver for LaunchCounter {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Notes the launch count after the first step and after the last one.
struct CountingHost<'a> {
    inner: &'a mut dyn Host,
    launches: Arc<LaunchCounter>,
    after_first: usize,
    after_last: usize,
}

impl Host for CountingHost<'_> {
    fn now(&self) -> f64 {
        self.inner.now()
    }

    fn event(&mut self, method: &str, event: &TrainEvent) -> ControlFlow<()> {
        if let TrainEvent::Step { step, .. } = event {
            self.after_last = self.launches.0.load(Ordering::Relaxed);
            if *step == 1 {
                self.after_first = self.after_last;
            }
        }
        self.inner.event(method, event)
    }

    fn reset_peak_memory(&mut self) {
        self.inner.reset_peak_memory()
    }

    fn peak_memory(&mut self, device: &Device) -> Option<u64> {
        self.inner.peak_memory(device)
    }
}
