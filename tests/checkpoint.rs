//! Checkpoints and resume: a run stopped after any step and resumed from its last checkpoint ends exactly as the run
//! that never stopped (dropout on: masks are seeded by the step), mid-epoch or after an epoch's evaluation; a
//! checkpoint of another run, another model or a damaged file is refused with what is wrong.

mod common;

use common::store::ResumingHost;
use common::{attach, sentiment_dataset, sentiment_examples, tiny_model};
use peft_lab::data::batch::tokenize;
use peft_lab::method::MethodConfig;
use peft_lab::method::full::Full;
use peft_lab::method::lora::LoraConfig;
use peft_lab::method::ptuning::{EncoderType, PromptEncoderConfig};
use peft_lab::session::{Error, TrainedMethod, run_method};
use peft_lab::train::{PreparedData, TrainConfig, TrainError, TrainingCheckpoint};

/// 54 training examples: 7 batches of 8 an epoch.
fn prepared() -> PreparedData {
    let dataset = sentiment_dataset(sentiment_examples());
    let split = dataset.split(&[0.25], 3);
    let tokenizer = &tiny_model().tokenizer;
    PreparedData {
        train: tokenize(tokenizer, &split.train, 16).0,
        val: tokenize(tokenizer, &split.held_out[0], 16).0,
        test: Vec::new(),
        labels: dataset.labels,
    }
}

/// Two epochs of 7 steps.
fn config() -> TrainConfig {
    TrainConfig { epochs: 2, batch_size: 8, max_length: 16, warmup_ratio: 0.1, ..Default::default() }
}

fn train(method: &MethodConfig, learning_rate: f64, host: &mut ResumingHost) -> Result<TrainedMethod, Error> {
    let (pretrained, data, device) = (tiny_model(), prepared(), peft_lab::device::cpu());
    pollster::block_on(run_method(&pretrained, method, learning_rate, &data, &config(), &device, host))
}

fn lora_config(r: usize) -> LoraConfig {
    LoraConfig { r, alpha: 2.0 * r as f64, dropout: 0.1, ..Default::default() }
}

fn lora(r: usize) -> MethodConfig {
    MethodConfig::Lora(lora_config(r))
}

#[test]
fn a_resumed_run_ends_as_the_run_that_never_stopped() {
    let lstm = PromptEncoderConfig {
        num_virtual_tokens: 4,
        encoder_dropout: 0.2,
        ..PromptEncoderConfig::new(EncoderType::Lstm)
    };
    for (method, learning_rate) in
        [(lora(4), 2e-2), (MethodConfig::PTuning(lstm), 1e-2), (MethodConfig::Full(Full), 3e-3)]
    {
        let label = method.label();
        let mut whole_host = ResumingHost::new(3);
        let whole = train(&method, learning_rate, &mut whole_host).unwrap().result;
        assert_eq!(whole.steps, 14);
        // Three steps after the last save (the first epoch's end at 7 is too soon after 6), and at the end.
        assert_eq!(whole_host.store.saved_steps, [3, 6, 9, 12, 14], "{label}");
        // Stopped mid-epoch (back to step 3), and after an epoch's end saved after its evaluation (every 7 steps:
        // back to 7, the evaluation replayed).
        for (every, stop_after, saved_at) in [(3, 5, 3), (7, 8, 7)] {
            let mut stopped = ResumingHost::new(every);
            stopped.stop_after = Some(stop_after);
            let result = train(&method, learning_rate, &mut stopped);
            assert!(matches!(result, Err(Error::Train(TrainError::Cancelled))), "{label} stops");
            let mut resumed_host = stopped.resuming();
            let resumed = train(&method, learning_rate, &mut resumed_host).unwrap().result;
            assert_eq!(resumed_host.resumed_at, Some(saved_at), "{label}");
            assert_eq!(resumed_host.trained_steps, (saved_at + 1..=14).collect::<Vec<_>>(), "{label}");
            assert_eq!(resumed_host.evaluated_steps, [7, 14], "{label}: the first evaluation replayed or rerun");
            assert_eq!(resumed.losses, whole.losses, "{label} stopped after {stop_after}: the same losses");
            assert_eq!(resumed.evaluations, whole.evaluations, "{label}: the same held-out figures");
            assert_eq!(resumed.adapter_config, whole.adapter_config);
            assert_eq!(resumed.adapter_bytes, whole.adapter_bytes);
        }
    }
}

#[test]
fn a_finished_run_resumes_as_finished_without_training() {
    let mut host = ResumingHost::new(100);
    let whole = train(&lora(4), 2e-2, &mut host).unwrap();
    assert_eq!(host.store.saved_steps, [14], "only at the end");
    let mut again = host.resuming();
    let resumed = train(&lora(4), 2e-2, &mut again).unwrap();
    assert_eq!((again.resumed_at, again.trained_steps.len()), (Some(14), 0));
    assert_eq!(resumed.result.losses, whole.result.losses);
    assert_eq!(resumed.result.evaluations, whole.result.evaluations);
    assert_eq!(resumed.adapter.weights, whole.adapter.weights, "the same adapter file");
}

#[test]
fn a_checkpoint_of_another_run_or_model_or_a_damaged_one_is_refused() {
    let mut host = ResumingHost::new(3);
    host.stop_after = Some(4);
    assert!(train(&lora(4), 2e-2, &mut host).is_err());
    let refusal = |method: &MethodConfig, learning_rate: f64, files: &ResumingHost| -> String {
        match train(method, learning_rate, &mut files.resuming()) {
            Err(Error::Train(TrainError::Checkpoint(message))) => message,
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("resumed from a checkpoint that does not fit"),
        }
    };
    let other_rate = refusal(&lora(4), 1e-2, &host);
    assert!(other_rate.contains("its learning rate was 2.00e-2, now 1.00e-2"), "{other_rate}");
    // The same name ("lora r4"), other settings.
    let targets = Some(vec!["query".to_string()]);
    let other_targets = MethodConfig::Lora(LoraConfig { target_modules: targets, ..lora_config(4) });
    let other_settings = refusal(&other_targets, 2e-2, &host);
    assert!(other_settings.contains("its method's settings differ"), "{other_settings}");
    // Tensors that do not fit the model they are loaded into.
    let checkpoint = TrainingCheckpoint::from_bytes(&host.store.files["lora r4"]).unwrap();
    let device = peft_lab::device::cpu();
    let wider = attach(lora(8).tuner(), tiny_model().classifier(2, &device).unwrap(), &device);
    let misfit = checkpoint.misfit(&wider).expect("refused");
    let (_given_back, refused) = checkpoint.restore(wider, 0.01, &device).err().expect("refused");
    assert_eq!(refused, misfit);
    assert!(misfit.starts_with("the checkpoint does not fit this model:"), "{misfit}");
    assert!(misfit.contains("lora_a is [") && misfit.contains("in the checkpoint"), "{misfit}");
    let mut damaged = host.resuming();
    for bytes in damaged.store.files.values_mut() {
        bytes.truncate(bytes.len() / 2);
    }
    let cut = match train(&lora(4), 2e-2, &mut damaged) {
        Err(Error::Train(TrainError::Checkpoint(message))) => message,
        other => panic!("a cut checkpoint: {:?}", other.err().map(|e| e.to_string())),
    };
    assert!(cut.starts_with("not a peft-lab checkpoint"), "{cut}");
    assert!(TrainingCheckpoint::from_bytes(b"{}").is_err());
}

/// Where resuming is the store's own idea (the page after a reload), a checkpoint that cannot resume its run (of other
/// settings, damaged, or with tensors that do not fit the model) starts the run afresh: it ends as a run that never had one, and the store hears why.
#[test]
fn a_store_that_resumes_on_its_own_starts_a_refused_run_afresh() {
    let mut host = ResumingHost::new(3);
    host.stop_after = Some(4);
    assert!(train(&lora(4), 2e-2, &mut host).is_err());
    let fresh = train(&lora(4), 1e-2, &mut ResumingHost::new(3)).unwrap().result;
    let mut other_rate = host.resuming();
    other_rate.store.start_afresh = true;
    let afresh = train(&lora(4), 1e-2, &mut other_rate).unwrap().result;
    assert_eq!(other_rate.resumed_at, None, "not resumed");
    assert_eq!(other_rate.trained_steps, (1..=14).collect::<Vec<_>>(), "every step trained");
    assert_eq!(afresh.losses, fresh.losses, "as a run without a checkpoint");
    assert_eq!(other_rate.store.refused.len(), 1);
    assert!(other_rate.store.refused[0].contains("its learning rate was 2.00e-2"), "{:?}", other_rate.store.refused);
    let whole = train(&lora(4), 2e-2, &mut ResumingHost::new(3)).unwrap().result;
    let mut damaged = host.resuming();
    damaged.store.start_afresh = true;
    for bytes in damaged.store.files.values_mut() {
        bytes.truncate(bytes.len() / 2);
    }
    assert_eq!(train(&lora(4), 2e-2, &mut damaged).unwrap().result.losses, whole.losses);
    assert_eq!((damaged.resumed_at, damaged.store.refused.len()), (None, 1));
    assert!(damaged.store.refused[0].starts_with("not a peft-lab checkpoint"), "{:?}", damaged.store.refused);
    // Of this run, with a tensor that does not fit the model (flattened).
    let mut misfit = host.resuming();
    misfit.store.start_afresh = true;
    let mut checkpoint = TrainingCheckpoint::from_bytes(&misfit.store.files["lora r4"]).unwrap();
    checkpoint.params[0].shape = vec![checkpoint.params[0].values.len()];
    misfit.store.files.insert("lora r4".into(), checkpoint.to_bytes());
    assert_eq!(train(&lora(4), 2e-2, &mut misfit).unwrap().result.losses, whole.losses);
    assert_eq!((misfit.resumed_at, misfit.store.refused.len()), (None, 1));
    assert!(
        misfit.store.refused[0].starts_with("the checkpoint does not fit this model:"),
        "{:?}",
        misfit.store.refused
    );
}
