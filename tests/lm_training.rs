//! Fine-tuning a decoder through the session layer, as the CLI and the worker do: LoRA and prompt tuning on the tiny
//! Llama lower the held-out perplexity of a small corpus; the data is split as asked; a cancelled run stops.

mod common;

use std::ops::ControlFlow;

use common::fixtures;
use common::store::ResumingHost;
use peft_lab::data::generation::{self, TextLayout};
use peft_lab::method::MethodConfig;
use peft_lab::method::lora::LoraConfig;
use peft_lab::method::prompt::PromptTuningConfig;
use peft_lab::model::decoder::PretrainedDecoder;
use peft_lab::session::lm::{LmData, prepare_lm, train_lm};
use peft_lab::session::make_lm_link;
use peft_lab::session::open::{open_decoder_link, open_link};
use peft_lab::share::link::{LinkMeta, Precision, codec, sha256_hex};
use peft_lab::train::{Host, TrainConfig, TrainError, TrainEvent};

/// Counts steps and evaluations; cancels after `cancel_after` steps when set.
#[derive(Default)]
struct Recorder {
    steps: usize,
    evaluations: Vec<(usize, f64)>,
    cancel_after: Option<usize>,
}

impl Host for Recorder {
    fn now(&self) -> f64 {
        0.0
    }

    fn event(&mut self, _method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Step { step, .. } => {
                self.steps = *step;
                if self.cancel_after == Some(*step) {
                    return ControlFlow::Break(());
                }
            }
            TrainEvent::LmEvaluated { step, metrics, .. } => self.evaluations.push((*step, metrics.perplexity)),
            TrainEvent::Started { .. } | TrainEvent::Resumed { .. } | TrainEvent::Evaluated { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

fn tiny_llama() -> PretrainedDecoder {
    PretrainedDecoder::from_path(&fixtures().join("decoders/tiny-llama")).expect("loads")
}

/// 40 short documents in a few patterns the tiny model can learn.
fn corpus(pretrained: &PretrainedDecoder) -> LmData {
    let text: String = (0..40)
        .map(|i| format!("{} is number {}.\n", ["The capital of France", "A fox", "The dog", "To be"][i % 4], i % 5))
        .collect();
    let data = generation::read("corpus.txt", text.as_bytes(), Some(TextLayout::Lines), false).unwrap();
    prepare_lm(pretrained, &data, None, 0.25, 42, 32).expect("prepares")
}

fn config(max_steps: usize) -> TrainConfig {
    TrainConfig { max_steps: Some(max_steps), batch_size: 8, max_length: 32, ..TrainConfig::default() }
}

#[test]
fn lora_and_prompt_tuning_lower_the_held_out_perplexity() {
    let pretrained = tiny_llama();
    let data = corpus(&pretrained);
    assert_eq!((data.train.len(), data.val.len()), (30, 10));
    let device = peft_lab::device::cpu();
    for (method, learning_rate) in [
        (MethodConfig::Lora(LoraConfig::default()), 1e-2),
        (MethodConfig::PromptTuning(PromptTuningConfig { num_virtual_tokens: 4, ..Default::default() }), 1e-1),
    ] {
        let mut host = Recorder::default();
        let trained =
            pollster::block_on(train_lm(&pretrained, &method, learning_rate, &data, &config(40), &device, &mut host))
                .unwrap_or_else(|e| panic!("{}: {e}", method.label()));
        let base = trained.result.base.as_ref().expect("held-out data").metrics.perplexity;
        let (step, after) = *host.evaluations.last().unwrap();
        assert_eq!(host.evaluations[0].0, 0, "the base model is evaluated first");
        assert_eq!(step, 40);
        assert!(after < 0.7 * base, "{}: perplexity {base:.1} before, {after:.1} after", method.label());
        assert_eq!(trained.result.adapter_config["task_type"], "CAUSAL_LM");
    }
}

#[test]
fn a_cancelled_decoder_run_stops_at_once() {
    let pretrained = tiny_llama();
    let data = corpus(&pretrained);
    let mut host = Recorder { cancel_after: Some(2), ..Default::default() };
    let method = MethodConfig::Lora(LoraConfig::default());
    let device = peft_lab::device::cpu();
    let result = pollster::block_on(train_lm(&pretrained, &method, 1e-2, &data, &config(40), &device, &mut host));
    assert!(matches!(result, Err(peft_lab::session::Error::Train(TrainError::Cancelled))));
    assert_eq!(host.steps, 2);
}

#[test]
fn a_decoder_link_rebuilds_the_trained_model_on_the_same_weights_only() {
    let pretrained = tiny_llama();
    let data = corpus(&pretrained);
    let device = peft_lab::device::cpu();
    let method = MethodConfig::Lora(LoraConfig::default());
    let trained =
        pollster::block_on(train_lm(&pretrained, &method, 1e-2, &data, &config(10), &device, &mut Recorder::default()))
            .unwrap();
    let sha = sha256_hex(pretrained.weights());
    let config = config(10);
    let link = |precision| {
        let made = make_lm_link(&pretrained, sha.clone(), &trained, &data, config.clone(), "c.txt".into(), precision);
        pollster::block_on(made).unwrap()
    };
    for precision in [Precision::F16, Precision::Int8] {
        let checked = link(precision);
        let (full, shared) = (checked.full_perplexity.unwrap(), checked.link_perplexity.unwrap());
        assert!((shared / full - 1.0).abs() < 0.01, "{precision}: perplexity {full} trained, {shared} from the link");
        assert_eq!((checked.full_accuracy, checked.agreement), (None, None));
    }
    let payload = link(Precision::Int8).payload;
    let (opened, meta, _) = open_decoder_link(&pretrained, &sha, &payload, &device).unwrap();
    assert_eq!((meta.task.as_str(), meta.metrics.steps, meta.labels.len()), ("CAUSAL_LM", 10, 0));
    assert!(meta.metrics.perplexity.unwrap() > 1.0);
    assert_eq!(opened.virtual_tokens(), 0);

    // The same architecture from another file (the GGUF one) is another model; a classifier takes no decoder link,
    // and a decoder takes no classifier link.
    let gguf = PretrainedDecoder::from_path(&fixtures().join("decoders/tiny-llama.gguf")).unwrap();
    let refused = |result: Result<_, peft_lab::session::Error>| result.expect_err("refused").to_string();
    let other = refused(open_decoder_link(&gguf, &sha256_hex(gguf.weights()), &payload, &device).map(|_| ()));
    assert!(other.contains("this link was made for the model") && other.contains("tiny-llama.gguf"), "{other}");
    let bert = common::tiny_model();
    let on_bert = refused(open_link(&bert, &sha256_hex(&bert.weights), &payload, &device).map(|_| ()));
    let expected = "the link is for task CAUSAL_LM, made on a decoder (a language model); the model loaded here takes \
                    SEQ_CLS links";
    assert!(on_bert.contains(expected), "{on_bert}");
    let (mut meta, _, tensors) = codec::decode::<LinkMeta>(&payload).unwrap();
    meta.task = "SEQ_CLS".into();
    let classifier_link = codec::encode(&meta, &tensors, Precision::Int8).unwrap();
    let on_llama = refused(open_decoder_link(&pretrained, &sha, &classifier_link, &device).map(|_| ()));
    assert!(on_llama.contains("the link is for task SEQ_CLS, made on a classifier"), "{on_llama}");
    // A cut link.
    let cut = refused(open_decoder_link(&pretrained, &sha, &payload[..payload.len() / 2], &device).map(|_| ()));
    assert!(cut.contains("truncated") || cut.contains("damaged"), "{cut}");
}

#[test]
fn a_decoder_run_stopped_and_resumed_ends_as_the_run_that_never_stopped() {
    let pretrained = tiny_llama();
    let data = corpus(&pretrained);
    let device = peft_lab::device::cpu();
    let method = MethodConfig::Lora(LoraConfig { dropout: 0.1, ..LoraConfig::default() });
    // 30 examples in batches of 8: 4 steps an epoch, 3 epochs.
    let config = TrainConfig { epochs: 3, ..config(12) };
    let train = |host: &mut ResumingHost| {
        pollster::block_on(train_lm(&pretrained, &method, 1e-2, &data, &config, &device, host))
    };
    let whole = train(&mut ResumingHost::new(5)).unwrap().result;
    let mut stopped = ResumingHost::new(5);
    stopped.stop_after = Some(7);
    assert!(train(&mut stopped).is_err());
    let mut resumed_host = stopped.resuming();
    let resumed = train(&mut resumed_host).unwrap().result;
    assert_eq!(resumed_host.resumed_at, Some(5));
    assert_eq!(resumed.losses, whole.losses);
    assert_eq!(resumed.evaluations, whole.evaluations, "the same perplexities and samples");
}
