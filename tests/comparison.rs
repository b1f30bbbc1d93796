//! A comparison as the CLI and the page run it, on the tiny BERT: three parts, methods repeated over seeds, learning
//! rates searched on validation, the report and the result files; and the test part never steers a choice.

mod common;

use common::*;
use peft_lab::data::{Dataset, Example};
use peft_lab::method::MethodConfig;
use peft_lab::method::head::Head;
use peft_lab::session::comparison_link::{COMPARE_KEY, ComparisonSource, decode_comparison, encode_comparison};
use peft_lab::session::report::{Part, Report};
use peft_lab::session::results::{ComparisonInfo, results_csv, results_json};
use peft_lab::session::{
    ComparePlan, ComparisonHost, HeldOut, MethodRuns, PlannedMethod, SearchSettings, compare, prepare,
};
use peft_lab::train::{Host, PreparedData, TrainConfig, TrainEvent};

/// Sentences the tiny vocabulary covers, labelled by the sentiment word in them.
fn examples() -> Vec<Example> {
    let good = ["good", "great", "excellent", "best", "nice", "fun"];
    let bad = ["bad", "terrible", "awful", "worst", "boring", "never good"];
    let templates = ["the movie was {}", "this film is really {}", "the food was very {}", "it was so {}"];
    let mut out = Vec::new();
    for t in templates {
        for (label, words) in [(1, good), (0, bad)] {
            out.extend(words.iter().map(|w| Example { text: t.replace("{}", w), label }));
        }
    }
    out
}

struct Quiet;

impl Host for Quiet {
    fn now(&self) -> f64 {
        0.0
    }

    fn event(&mut self, _: &str, _: &TrainEvent) -> std::ops::ControlFlow<()> {
        std::ops::ControlFlow::Continue(())
    }
}

impl ComparisonHost for Quiet {}

fn plan(search: bool) -> ComparePlan {
    let config = TrainConfig { epochs: 1, max_steps: Some(6), batch_size: 8, max_length: 16, ..Default::default() };
    ComparePlan {
        methods: vec![
            PlannedMethod { config: MethodConfig::from_name("lora").unwrap(), learning_rate: 1e-2, search },
            PlannedMethod { config: MethodConfig::Head(Head), learning_rate: 3e-2, search },
        ],
        seeds: vec![0, 1],
        config,
        search: SearchSettings::default(),
    }
}

fn run(plan: &ComparePlan, data: &PreparedData) -> Vec<MethodRuns> {
    let pretrained = tiny_model();
    pollster::block_on(compare(&pretrained, plan, data, &peft_lab::device::cpu(), &mut Quiet))
}

/// The same comparison with the test file's labels permuted: every choice and every validation figure is the same,
/// only the test figures move.
#[test]
fn the_test_part_never_influences_a_choice() {
    let pretrained = tiny_model();
    let all = examples();
    // Every fourth example is the test file; the rest is split into training and validation.
    let (test, rest): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 4 == 0);
    let rest: Vec<Example> = rest.into_iter().map(|(_, e)| e).collect();
    let test: Vec<Example> = test.into_iter().map(|(_, e)| e).collect();
    let permuted: Vec<Example> = test
        .iter()
        .enumerate()
        .map(|(i, e)| Example { text: e.text.clone(), label: if i % 3 == 0 { e.label } else { 1 - e.label } })
        .collect();
    let prepared = |test: Vec<Example>| {
        let parts = prepare(
            &pretrained,
            &sentiment_dataset(rest.clone()),
            HeldOut::Split(0.25),
            Some(HeldOut::File(sentiment_dataset(test))),
            16,
            7,
        );
        parts.unwrap().0
    };
    let (data, shuffled) = (prepared(test), prepared(permuted));
    assert_eq!((data.train.len(), data.val.len(), data.test.len()), (27, 9, 12));
    assert_eq!((data.train.clone(), data.val.clone()), (shuffled.train.clone(), shuffled.val.clone()));
    let plan = plan(true);
    let (ours, theirs) = (run(&plan, &data), run(&plan, &shuffled));
    let mut tests_differ = false;
    for (a, b) in ours.iter().zip(&theirs) {
        let label = a.method.label();
        assert!(matches!(a.search, Some(Ok(_))), "{label}: {:?}", a.search);
        assert_eq!(a.search, b.search, "{label}: the search saw the test part");
        assert_eq!(a.learning_rate, b.learning_rate, "{label}");
        for (x, y) in a.runs.iter().zip(&b.runs) {
            let (x, y) = (x.result.as_ref().unwrap(), y.result.as_ref().unwrap());
            assert_eq!((&x.losses, &x.evaluations), (&y.losses, &y.evaluations), "{label} seed {}", x.seed);
            tests_differ |= x.test != y.test;
        }
    }
    assert!(tests_differ, "the permuted labels change the test figures");
    // The search ran its rounds: three rates on half the steps, the better two on a third of the budget (2 steps).
    let Some(Ok(search)) = &ours[0].search else { unreachable!() };
    assert_eq!(search.rounds.iter().map(|r| (r.trials.len(), r.steps)).collect::<Vec<_>>(), vec![(3, 1), (2, 2)]);
    assert!(search.rounds[1].trials.iter().any(|t| t.learning_rate == search.chosen));
}

/// Two methods, two seeds, a test split: the runs differ by seed, the report summarises them on the test part, and
/// the JSON and CSV carry every run.
#[test]
fn seeds_repeat_every_method_and_the_results_carry_every_run() {
    let pretrained = tiny_model();
    let (data, _) =
        prepare(&pretrained, &sentiment_dataset(examples()), HeldOut::Split(0.25), Some(HeldOut::Split(0.25)), 16, 7)
            .unwrap();
    assert_eq!((data.train.len(), data.val.len(), data.test.len()), (24, 12, 12));
    let plan = plan(false);
    let runs = run(&plan, &data);
    for m in &runs {
        let [a, b] = &m.runs[..] else { panic!("two seeds") };
        let (a, b) = (a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
        assert_eq!((a.seed, b.seed), (0, 1));
        assert_ne!(a.losses, b.losses, "{}: the seed changes the run", a.method);
        let test = a.test.as_ref().expect("a test part");
        assert_eq!(test.examples, 12);
        let total: u32 = a.confusion.iter().flatten().sum();
        assert_eq!(total, 12, "the confusion matrix is on the test part");
    }
    let report = Report::new(&runs);
    assert_eq!(report.part, Part::Test);
    for m in &report.methods {
        let counted = m.accuracy.map_or(0, |a| a.n) + m.at_chance.len();
        assert_eq!(counted, 2, "{}: every run counted or set apart", m.method);
    }
    let info = ComparisonInfo {
        model: pretrained.name.clone(),
        dataset: "sentences".into(),
        created_at: "2026-12-06T00:00:00Z".into(),
        total_seconds: 1.0,
        backend: "CPU".into(),
        train_examples: data.train.len(),
        validation_examples: data.val.len(),
        test_examples: data.test.len(),
    };
    let json = results_json(&info, &plan, &runs, &report);
    assert_eq!(json["comparison"]["reported_part"], "test");
    assert_eq!(json["summary"]["methods"].as_array().unwrap().len(), 2);
    let lora = &json["methods"][0]["runs"][1];
    assert_eq!(lora["run_info"]["experiment_name"], "lora/seed-1");
    assert_eq!(lora["run_info"]["peft_config"]["peft_type"], "LORA");
    assert_eq!(lora["train_info"]["status"], "success");
    let metrics = lora["train_info"]["metrics"].as_array().unwrap();
    assert!(metrics[0]["valid accuracy"].is_number() && metrics.last().unwrap()["test accuracy"].is_number());
    assert_eq!(json["methods"][1]["runs"][0]["run_info"]["peft_config"], serde_json::Value::Null);
    let csv = results_csv(&runs, &report);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 4);
    assert!(rows[1].starts_with("lora r8,0,") && rows[4].starts_with("head,1,"), "{csv}");
    let columns = rows[0].split(',').count();
    assert!(rows.iter().all(|r| r.split(',').count() == columns), "{csv}");
}

/// Held-out fractions that leave nothing to train on are refused with both numbers.
#[test]
fn held_out_fractions_must_leave_training_data() {
    let pretrained = tiny_model();
    let err =
        prepare(&pretrained, &sentiment_dataset(examples()), HeldOut::Split(0.5), Some(HeldOut::Split(0.5)), 16, 7)
            .err()
            .unwrap();
    assert_eq!(
        err.to_string(),
        "the held-out fractions (validation 0.5, test 0.5) must each be above 0 and leave some of the data for \
         training (together below 1)"
    );
    let unknown = Dataset { labels: vec!["neg".into(), "meh".into()], ..sentiment_dataset(examples()) };
    let err =
        prepare(&pretrained, &sentiment_dataset(examples()), HeldOut::Split(0.2), Some(HeldOut::File(unknown)), 16, 7)
            .err()
            .unwrap();
    assert_eq!(err.to_string(), "test labels meh do not occur in the training data");
}

/// Five methods over three seeds at the page's default budget (3 epochs of 38 steps): the comparison link stays under
/// 8,000 characters and reopens to the same table; damaged links are refused with a reason.
#[test]
fn a_comparison_link_is_short_and_reopens_to_the_same_table() {
    let pretrained = tiny_model();
    // 300 examples: 180 train at batch 8 are 23 steps an epoch; 3 epochs.
    let many: Vec<Example> = (0..6).flat_map(|_| examples()).chain(examples().into_iter().take(12)).collect();
    let (data, _) =
        prepare(&pretrained, &sentiment_dataset(many), HeldOut::Split(0.2), Some(HeldOut::Split(0.2)), 16, 7).unwrap();
    let config = TrainConfig { epochs: 3, batch_size: 8, max_length: 16, ..Default::default() };
    let keys = ["lora", "prefix", "ptuning-v2", "head", "full"];
    let plan = ComparePlan {
        methods: keys
            .iter()
            .map(|k| {
                let config = MethodConfig::from_name(k).unwrap();
                PlannedMethod { learning_rate: config.default_learning_rate(), config, search: false }
            })
            .collect(),
        seeds: vec![0, 1, 2],
        config,
        search: SearchSettings::default(),
    };
    let runs = run(&plan, &data);
    let source = ComparisonSource {
        model: pretrained.name.clone(),
        dataset: "reviews.csv".into(),
        val_fraction: 0.2,
        test_fraction: Some(0.2),
        labels: vec!["neg".into(), "pos".into()],
    };
    let link = format!("http://127.0.0.1:8080/#{COMPARE_KEY}{}", encode_comparison(&source, &plan, &runs).unwrap());
    println!("5 methods x 3 seeds: a link of {} characters", link.len());
    assert!(link.len() < 8_000, "{} characters", link.len());
    let opened = decode_comparison(&link).unwrap();
    assert_eq!((&opened.source, &opened.plan), (&source, &plan));
    let (before, after) = (Report::new(&runs), Report::new(&opened.methods));
    assert_eq!(before.part, after.part);
    for (b, a) in before.methods.iter().zip(&after.methods) {
        assert_eq!((&b.method, b.learning_rate, b.trainable_params), (&a.method, a.learning_rate, a.trainable_params));
        assert_eq!((&b.accuracy, &b.macro_f1, &b.val_accuracy), (&a.accuracy, &a.macro_f1, &a.val_accuracy));
        assert_eq!((&b.verdict, &b.at_chance, &b.confusion), (&a.verdict, &a.at_chance, &a.confusion));
        assert_eq!(b.seconds_per_step, a.seconds_per_step);
    }
    // The loss curves come back a value a step, each within int8's step of its bucket's mean.
    let (original, reopened) =
        (runs[0].runs[1].result.as_ref().unwrap(), opened.methods[0].runs[1].result.as_ref().unwrap());
    assert_eq!(reopened.losses.len(), original.losses.len());
    let bucket = original.losses.len().div_ceil(48);
    let mean: f32 = original.losses[..bucket].iter().sum::<f32>() / bucket as f32;
    assert!((reopened.losses[0] - mean).abs() < 0.01, "{} vs {mean}", reopened.losses[0]);

    let refused = |text: &str| decode_comparison(text).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused("https://example.com/#share=UEwB").contains("it has no #compare= part"));
    assert!(refused(&link[..link.len() / 2]).contains("truncated"), "{}", refused(&link[..link.len() / 2]));
    assert!(refused(&link.replace(COMPARE_KEY, "compare=!")).contains("not base64url"));
    // Runs that do not fit the plan they came with.
    let fewer = ComparePlan { methods: plan.methods[..4].to_vec(), ..plan.clone() };
    let mismatched = encode_comparison(&source, &fewer, &runs).unwrap();
    assert!(refused(&mismatched).contains("5 methods' runs for a plan of 4"), "{}", refused(&mismatched));
    let other_seeds = ComparePlan { seeds: vec![0, 1, 5], ..plan.clone() };
    let foreign_seed = encode_comparison(&source, &other_seeds, &runs).unwrap();
    assert!(refused(&foreign_seed).contains("a run has seed 2, which its plan does not list"));
}
