//! A decoder's examples as ids and labels: documents learn every token and end with the end token; completions learn
//! the completion only; conversations learn the assistant's turns only, with ids equal to the tokenisation of the
//! whole rendered conversation; whole files are cut into pieces; truncation, dropped examples and missing templates
//! are reported; batches pad with ignored labels.

mod common;

use std::path::PathBuf;

use common::fixtures;
use peft_lab::data::generation::{Example, GenerationData, TextLayout, read};
use peft_lab::data::lm::{IGNORED, LmBatch, LmExample, tokenize_lm};
use peft_lab::model::chat::Message;
use peft_lab::model::decoder::PretrainedDecoder;

fn tiny() -> PretrainedDecoder {
    PretrainedDecoder::from_path(&fixtures().join("decoders/tiny-llama")).unwrap()
}

fn smollm2() -> PretrainedDecoder {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("public/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    PretrainedDecoder::from_path(&path).expect("scripts/setup.sh installs SmolLM2")
}

fn data(examples: Vec<Example>) -> GenerationData {
    GenerationData { examples, layout: None, skipped: vec![] }
}

/// The ids whose labels the loss reads, decoded.
fn learned_text(model: &PretrainedDecoder, example: &LmExample) -> String {
    let ids: Vec<u32> =
        example.ids.iter().zip(&example.labels).filter(|(_, l)| **l != IGNORED).map(|(&id, _)| id).collect();
    model.tokenizer.decode(&ids)
}

#[test]
fn documents_learn_every_token_and_end_with_the_end_token() {
    let model = tiny();
    let eos = model.tokenizer.eos.expect("config.json's eos_token_id");
    let (examples, report) =
        tokenize_lm(&data(vec![Example::Text("The quick brown fox.".into())]), &model.tokenizer, None, 64).unwrap();
    let mut expected = model.tokenizer.encode("The quick brown fox.");
    expected.push(eos);
    assert_eq!(examples[0].ids, expected);
    assert_eq!(examples[0].labels, expected.iter().map(|&i| i as i64).collect::<Vec<_>>());
    assert_eq!((report.examples, report.truncated, report.dropped), (1, 0, 0));
    assert_eq!(report.learned_tokens, expected.len() - 1, "the first token is never predicted");
}

#[test]
fn completions_learn_the_completion_and_the_end_token_only() {
    let model = smollm2();
    let example = Example::Completion { prompt: "Capital of France:".into(), completion: " Paris".into() };
    let (examples, _) = tokenize_lm(&data(vec![example]), &model.tokenizer, None, 64).unwrap();
    assert_eq!(learned_text(&model, &examples[0]), " Paris<|im_end|>");
    let prompt = model.tokenizer.encode("Capital of France:");
    assert_eq!(examples[0].ids[..prompt.len()], prompt[..]);
    assert!(examples[0].labels[..prompt.len()].iter().all(|&l| l == IGNORED));
}

#[test]
fn conversations_learn_the_assistants_turns_and_read_as_the_template_writes_them() {
    let model = smollm2();
    let chat = model.chat().unwrap();
    let turn = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
    let messages = vec![
        turn("user", "Name a colour."),
        turn("assistant", "Blue."),
        turn("user", "Another, in 2 words?"),
        turn("assistant", " Dark green"),
    ];
    let (examples, _) =
        tokenize_lm(&data(vec![Example::Chat(messages.clone())]), &model.tokenizer, Some(&chat), 256).unwrap();
    assert_eq!(examples[0].ids, model.tokenizer.encode(&chat.render(&messages, false)), "one tokenisation");
    assert_eq!(learned_text(&model, &examples[0]), "Blue.<|im_end|> Dark green<|im_end|>");
    let error = tokenize_lm(&data(vec![Example::Chat(messages)]), &model.tokenizer, None, 256).unwrap_err();
    assert!(error.to_string().contains("the model has no chat template to write them with"), "{error}");
}

#[test]
fn a_whole_file_is_cut_into_pieces_of_the_maximum_length() {
    let model = tiny();
    let text = "It was the best of times, it was the worst of times. ".repeat(6);
    let read_back = read("book.txt", text.as_bytes(), Some(TextLayout::Whole), false).unwrap();
    let (examples, report) = tokenize_lm(&read_back, &model.tokenizer, None, 16).unwrap();
    let mut all = model.tokenizer.encode(&text);
    all.push(model.tokenizer.eos.unwrap());
    let joined: Vec<u32> = examples.iter().flat_map(|e| e.ids.clone()).collect();
    assert_eq!(joined, all);
    assert!(examples.iter().rev().skip(1).all(|e| e.ids.len() == 16));
    assert_eq!((report.examples, report.truncated), (all.len().div_ceil(16), 0));
}

#[test]
fn long_examples_are_cut_and_prompts_that_fill_the_length_are_dropped() {
    let model = tiny();
    let long_prompt = "To be, or not to be, that is the question. ".repeat(4);
    let examples = vec![
        Example::Text("A journey of a thousand miles begins with a single step.".into()),
        Example::Completion { prompt: long_prompt.clone(), completion: "Yes.".into() },
        Example::Completion { prompt: "Q:".into(), completion: " fine".into() },
    ];
    let (kept, report) = tokenize_lm(&data(examples), &model.tokenizer, None, 8).unwrap();
    assert_eq!((report.examples, report.truncated, report.dropped), (2, 2, 1));
    assert!(kept.iter().all(|e| e.ids.len() <= 8));
    let only_long = vec![Example::Completion { prompt: long_prompt, completion: "Yes.".into() }];
    let error = tokenize_lm(&data(only_long), &model.tokenizer, None, 8).unwrap_err();
    assert!(error.to_string().starts_with("no example has anything to learn within 8 tokens"), "{error}");
    let error = tokenize_lm(&data(vec![Example::Text("x".into())]), &model.tokenizer, None, 1).unwrap_err();
    assert!(error.to_string().contains("leaves nothing to predict"), "{error}");
}

#[test]
fn batches_pad_on_the_right_and_keep_the_learned_labels_places() {
    let device = peft_lab::device::cpu().inner();
    let a = LmExample { ids: vec![5, 6, 7], labels: vec![IGNORED, 6, 7] };
    let b = LmExample { ids: vec![8], labels: vec![8] };
    let batch = LmBatch::new(&[&a, &b], 0, &device);
    let ints =
        |t: burn::tensor::Tensor<2, burn::tensor::Int>| t.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    assert_eq!(ints(batch.input_ids), vec![5, 6, 7, 8, 0, 0]);
    // The learned labels, by place (row, column): the loss reads only these.
    assert_eq!(batch.targets.places, vec![(0, 1), (0, 2), (1, 0)]);
    assert_eq!(batch.targets.ids, vec![6, 7, 8]);
    assert_eq!(common::read(batch.mask), vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn texts_start_with_the_start_token_where_the_tokenizer_adds_one() {
    let mut model = tiny();
    let bos = model.tokenizer.token_id("<|im_start|>").unwrap();
    (model.tokenizer.bos, model.tokenizer.add_bos) = (Some(bos), true);
    let document = Example::Text("The quick brown fox.".into());
    let completion = Example::Completion { prompt: "Capital of France:".into(), completion: " Paris".into() };
    let (examples, _) = tokenize_lm(&data(vec![document, completion]), &model.tokenizer, None, 64).unwrap();
    let text = model.tokenizer.encode("The quick brown fox.");
    assert_eq!(examples[0].ids[..text.len() + 1], [&[bos], &text[..]].concat()[..]);
    // As transformers' labels = input_ids: the start token is a label, predicted only after virtual tokens.
    assert_eq!(examples[0].labels[0], bos as i64);
    let prompt = model.tokenizer.encode("Capital of France:");
    assert_eq!(examples[1].ids[..prompt.len() + 1], [&[bos], &prompt[..]].concat()[..]);
    assert!(examples[1].labels[..prompt.len() + 1].iter().all(|&l| l == IGNORED), "the prompt is not learned");
}
