//! Timing training steps without a dataset: the benchmark command and the page's choice of backend use it.

use burn::tensor::Device;

use super::{Host, MethodResult, PreparedData, TrainConfig, run_method};
use crate::data::batch::TokenizedExample;
use crate::method::MethodConfig;
use crate::model::Pretrained;

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
) -> Result<MethodResult, crate::Error> {
    let total = steps + 1;
    let data = PreparedData {
        train: synthetic_examples(batch_size * total, seq_len, pretrained.config.vocab_size),
        val: Vec::new(),
        labels: vec!["0".into(), "1".into()],
    };
    let config = TrainConfig { max_steps: Some(total), batch_size, max_length: seq_len, ..Default::default() };
    let lr = method.default_learning_rate();
    Ok(run_method(pretrained, method, lr, &data, &config, device, host).await?.result)
}
