//! The `peft-lab` command as a user runs it: results on stdout, progress and errors on stderr, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn peft_lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peft-lab")).args(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A CSV of sentences the tiny vocabulary covers.
fn write_csv(dir: &Path) -> String {
    let mut csv = String::from("review,sentiment\n");
    for (i, w) in [
        "good",
        "great",
        "excellent",
        "best",
        "nice",
        "fun",
        "bad",
        "terrible",
        "awful",
        "worst",
        "boring",
        "never good",
    ]
    .iter()
    .enumerate()
    {
        let label = if i < 6 { "positive" } else { "negative" };
        for t in ["the movie was", "this film is really", "the food was very", "it was so"] {
            csv.push_str(&format!("\"{t} {w}\",{label}\n"));
        }
    }
    let path = dir.join("reviews.csv");
    std::fs::write(&path, csv).unwrap();
    path.display().to_string()
}

fn tiny() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-bert")
}

const FAST: &[&str] = &["--max-steps", "6", "--batch-size", "8", "--max-length", "16"];

/// `compare` of `methods` on the tiny model and `data`, with `extra` flags and the FAST budget.
fn fast_compare(data: &str, methods: &str, extra: &[&str]) -> Output {
    let mut args = vec!["compare", "--model", tiny(), "--data", data, "--methods", methods];
    args.extend(extra);
    args.extend(FAST);
    peft_lab(&args)
}

#[test]
fn train_prints_one_json_result_and_saves_a_peft_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let adapter = dir.path().join("adapter");
    let mut args = vec![
        "train",
        "--model",
        tiny(),
        "--data",
        &data,
        "--method",
        "lora",
        "--json",
        "--save-adapter",
        adapter.to_str().unwrap(),
    ];
    args.extend(FAST);
    let out = peft_lab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    for key in [
        "method",
        "trainable_params",
        "total_params",
        "adapter_bytes",
        "seconds_per_step",
        "val_loss",
        "accuracy",
        "macro_f1",
    ] {
        assert!(result.get(key).is_some(), "missing {key} in {result}");
    }
    assert_eq!(result["steps"], 6);
    assert!(stderr(&out).contains("data: 48 rows"), "{}", stderr(&out));
    for file in ["adapter_config.json", "adapter_model.safetensors", "peft_lab.json"] {
        assert!(adapter.join(file).is_file(), "{file} written");
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(adapter.join("peft_lab.json")).unwrap()).unwrap();
    assert_eq!(info["labels"], serde_json::json!(["negative", "positive"]));
}

#[test]
fn compare_all_prints_a_table_row_per_method_with_settings_applied() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let mut args = vec![
        "compare",
        "--model",
        tiny(),
        "--data",
        &data,
        "--methods",
        "all",
        "--set",
        "r=4",
        "--set",
        "num_virtual_tokens=3",
    ];
    args.extend(FAST);
    let out = peft_lab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    // The table, then a blank line and what its marks mean.
    let lines: Vec<&str> = table.lines().take_while(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("method") && lines[0].contains("macro-F1"), "{table}");
    assert!(table.contains("No test part: these are validation figures"), "{table}");
    let labels = [
        "lora r4",
        "dora r4",
        "prefix 3",
        "ptuning-v2 3",
        "ptuning-mlp 3",
        "ptuning-lstm 3",
        "prompt 3",
        "houlsby rf16",
        "pfeiffer rf16",
        "ia3",
        "bitfit",
        "head",
        "full",
    ];
    assert_eq!(lines.len(), 1 + labels.len(), "{table}");
    for (line, label) in lines[1..].iter().zip(labels) {
        assert!(line.starts_with(label) && !line.contains("failed"), "{label}: {line}");
    }
}

/// Two methods over two seeds with a test split and LoRA's learning rate searched: the table has the intervals and
/// marks, the JSON and CSV every run.
#[test]
fn compare_over_seeds_with_a_test_split_writes_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let (json_path, csv_path) = (dir.path().join("results.json"), dir.path().join("results.csv"));
    let mut args = vec![
        "compare",
        "--model",
        tiny(),
        "--data",
        &data,
        "--methods",
        "lora,head",
        "--seeds",
        "0,1",
        "--test-split",
        "0.25",
        "--lr-search",
        "lora",
        "--out",
        json_path.to_str().unwrap(),
        "--out-csv",
        csv_path.to_str().unwrap(),
        "--no-group-by-length",
    ];
    args.extend(FAST);
    let out = peft_lab(&args);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    for column in ["test accuracy %", "95 % interval", "macro-F1", "runs", "vs best"] {
        assert!(lines[0].contains(column), "{column}: {table}");
    }
    assert!(lines[1].starts_with("lora r8") && lines[1].contains('*'), "the searched rate is marked: {table}");
    assert!(lines[2].starts_with("head") && !lines[2].contains('*'), "{table}");
    // On 12 test examples two standard errors are 29 points: the tiny model's runs may all count as at chance, and
    // then no method is best; either way every row has its mark and every run is counted or listed.
    let marked = |l: &&str| ["  best", "≈ best", "]", "  ?"].iter().any(|m| l.ends_with(m));
    assert!(lines[1..3].iter().all(marked), "{table}");
    for method in ["lora r8", "head"] {
        let row = lines.iter().find(|l| l.starts_with(method)).unwrap();
        let learnt: usize = row.split_whitespace().find(|c| c.contains("/2")).unwrap()[..1].parse().unwrap();
        let at_chance = lines.iter().filter(|l| l.starts_with(&format!("{method}: seed"))).count();
        assert_eq!(learnt + at_chance, 2, "{table}");
    }
    assert!(table.contains("paired t-test") && table.contains("chosen by the search on validation"), "{table}");
    assert!(log.contains("(26 train, 10 validation, 12 test)"), "{log}");
    let plan = "plan: 2 method(s) x 2 seed(s) of 6 steps, 1 learning-rate search(es) of 7 steps; 31 steps in all";
    assert!(log.contains(plan), "{log}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["comparison"]["reported_part"], "test");
    assert_eq!(json["comparison"]["seeds"], serde_json::json!([0, 1]));
    let lora = &json["methods"][0];
    assert_eq!(lora["runs"].as_array().unwrap().len(), 2);
    assert_eq!(lora["learning_rate_search"]["Ok"]["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(lora["runs"][0]["run_info"]["train_config"]["group_by_length"], false, "random batches, as asked");
    assert_eq!(
        lora["runs"][0]["train_info"]["num_trainable_params"].as_u64(),
        json["summary"]["methods"][0]["trainable_params"].as_u64()
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("lora r8,0,"), "{csv}");
}

/// A comparison that cannot run is refused before anything trains, naming the flag and what it may be.
#[test]
fn bad_comparison_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let run = |extra: &[&str]| {
        let out = fast_compare(&data, "lora,head", extra);
        assert!(!out.status.success(), "{extra:?} ran");
        assert!(!stderr(&out).contains("step 1/"), "{extra:?} trained before refusing");
        stderr(&out)
    };
    assert!(run(&["--seeds", "1,2,1"]).contains("seed 1 is given twice; the seeds must differ"));
    assert!(run(&["--lr", "0"]).contains("lora r8: the learning rate must be a positive number, not 0"));
    assert!(run(&["--lr", "NaN"]).contains("the learning rate must be a positive number, not NaN"));
    assert!(
        run(&["--lr-search", "prompt"]).contains("--lr-search prompt: not among the selected methods (lora, head)")
    );
    assert!(
        run(&["--lr-search", "--lr-factors", "1,-3"]).contains("learning-rate factor -3 must be a positive number")
    );
    let mut train = vec!["train", "--model", tiny(), "--data", &data, "--method", "prompt", "--lr=-1"];
    train.extend(FAST);
    let out = peft_lab(&train);
    assert!(
        stderr(&out).contains("prompt 10: the learning rate must be a positive number, not -1"),
        "{}",
        stderr(&out)
    );
    let err = run(&["--test-split", "0.9"]);
    assert!(
        err.contains("the held-out fractions (validation 0.2, test 0.9)")
            && err.contains("(--val-split, --test-split)"),
        "{err}"
    );
}

/// A budget out of range is refused before anything trains, with the setting's valid range (the same check as the
/// page's and the worker's: `TrainConfig::check`, and the model's positions at preparation).
#[test]
fn a_budget_out_of_range_is_refused_with_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let cases: [(&[&str], &str); 7] = [
        (&["--epochs", "0"], "the number of epochs is 0; it must be a whole number from 1 to 1000"),
        (&["--max-steps", "0"], "the number of steps is 0; it must be a whole number from 1 to 10000000"),
        (&["--batch-size", "0"], "the batch size is 0; it must be a whole number from 1 to 4096"),
        (&["--max-length", "2"], "the maximum length 2 leaves no room for text"),
        (&["--max-length", "100000"], "the maximum length 100000 exceeds the 64 positions of"),
        (&["--warmup-ratio", "1.5"], "the warm-up ratio is 1.5; it must be a fraction of the steps from 0 to 1"),
        (&["--weight-decay", "7"], "the weight decay is 7; it must be a number from 0 to 1"),
    ];
    for (flags, message) in cases {
        for (command, method) in [("train", "--method"), ("compare", "--methods")] {
            let mut args = vec![command, "--model", tiny(), "--data", &data, method, "lora"];
            args.extend(flags);
            let out = peft_lab(&args);
            let log = stderr(&out);
            assert!(!out.status.success() && log.contains(message), "{command} {flags:?}: {log}");
            assert!(!log.contains("step 1/"), "{command} {flags:?} trained before refusing: {log}");
        }
    }
}

#[test]
fn bad_settings_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let run = |extra: &[&str]| {
        let out = fast_compare(&data, "lora,ia3", extra);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
    };
    let err = run(&["--set", "num_virtual_tokens=4"]);
    assert!(
        err.contains("no selected method has a setting 'num_virtual_tokens'") && err.contains("lora_alpha"),
        "{err}"
    );
    assert!(run(&["--set", "r"]).contains("expected KEY=VALUE"));
    assert!(run(&["--set", "r=many"]).contains("r=many does not fit lora r8"));
    assert!(run(&["--set", "prefix.r=4"]).contains("'prefix' is not among the selected methods (lora, ia3)"));
    // Values the model cannot take are all named, with their ranges, before any method trains.
    let out = run(&["--set", "lora.r=0", "--set", "ia3.target_modules=k_proj"]);
    assert!(out.contains("these settings do not fit") && !out.contains("step"), "{out}");
    assert!(out.contains("lora r0: invalid method configuration: LoRA rank r must be at least 1"), "{out}");
    assert!(out.contains("ia3: invalid method configuration: IA3 feed-forward module 'output.dense'"), "{out}");
}

#[test]
fn bench_refuses_sizes_the_model_cannot_take() {
    let bench = |flags: &[&str]| {
        let mut args = vec!["bench", "--model", tiny(), "--method", "prompt"];
        args.extend(flags);
        stderr(&peft_lab(&args))
    };
    assert!(
        bench(&["--seq-len", "60"]).contains("the maximum length 60 with 10 virtual tokens exceeds the 64 positions")
    );
    assert!(bench(&["--batch-size", "0"]).contains("the batch size is 0"));
    assert!(bench(&["--steps", "0"]).contains("the number of steps is 0"));
}

#[test]
fn train_takes_exactly_one_method() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let out = peft_lab(&["train", "--model", tiny(), "--data", &data, "--method", "lora,dora"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("train takes one method; use compare for several"), "{}", stderr(&out));
}

/// Runs `train` on `contents` and returns (exit ok?, stderr).
fn train_on(file_name: &str, contents: &[u8], extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, contents).unwrap();
    let path = path.display().to_string();
    let mut args = vec!["train", "--model", tiny(), "--data", &path, "--method", "head"];
    args.extend(FAST);
    args.extend(extra);
    let out = peft_lab(&args);
    (out.status.success(), stderr(&out))
}

#[test]
fn bad_datasets_fail_with_a_message_and_no_panic() {
    let cases: Vec<(&str, &[u8], &[&str], &str)> = vec![
        ("empty.csv", b"", &[], "the dataset is empty"),
        (
            "latin1.csv",
            b"text,label\ncaf\xe9 good,1\nbad,0\n",
            &[],
            "not UTF-8 text (first invalid byte at offset 14, line 2)",
        ),
        (
            "one.csv",
            b"text,label\ngood,pos\ngreat,pos\n",
            &[],
            "label column 'label' has 1 class(es) (pos); need at least 2",
        ),
        (
            "nolabel.csv",
            b"text,score\ngood,1\nbad,0\n",
            &[],
            "cannot tell which column holds the label; columns are: text, score; name the label column (--label-column NAME)",
        ),
        (
            "named.csv",
            b"text,label\ngood,1\nbad,0\n",
            &["--label-column", "stars"],
            "no column 'stars'; columns are: text, label",
        ),
        (
            "broken.jsonl",
            b"{\"text\":\"good\",\"label\":1}\n{\"text\": oops}\n{\"text\":\"bad\",\"label\":0}\n",
            &[],
            "1 row(s) cannot be read (line 2: not JSON",
        ),
        (
            "gaps.csv",
            b"text,label\ngood,pos\n,neg\nbad,neg\n",
            &[],
            "1 row(s) have an empty text or label (first at row 2); fix them or skip bad rows (--skip-bad-rows)",
        ),
        ("quotes.csv", b"text,label\n\"good,1\nbad,0\n", &[], "is a quote left open?"),
    ];
    for (name, contents, extra, expected) in cases {
        let (ok, err) = train_on(name, contents, extra);
        assert!(!ok, "{name} was accepted");
        assert!(err.contains(expected), "{name}: expected '{expected}' in:\n{err}");
        assert!(!err.contains("panicked"), "{name} panicked:\n{err}");
    }
}

/// A spam collection as such files are shipped: an unnamed row index first, the label column named after its
/// positive class, the text under an opaque name, and a stray quote on line 5 that swallows the lines up to the next
/// quote (line 9) into one cell, so the file reads as one row fewer per swallowed line, without an error.
#[test]
fn summary_chooses_columns_by_content_and_reports_swallowed_lines() {
    let messages = [
        "ok see you at the station later",
        "WINNER you have won a prize call now",
        "are we still meeting for lunch today",
        "\"sorry I missed your call",
        "can you pick up some milk",
        "running late be there soon",
        "URGENT claim your free ticket\"",
        "happy birthday hope you have a great day",
        "free entry text WIN to claim",
        "thanks for dinner last night",
        "call me when you get this",
        "your account has a reward waiting reply now",
    ];
    let mut csv = String::from(",spam,sms\n");
    for (i, text) in messages.iter().enumerate() {
        let spam = u8::from(text.contains("WIN") || text.contains("URGENT") || text.contains("reward"));
        csv.push_str(&format!("{i},{spam},{text}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.csv");
    std::fs::write(&path, csv).unwrap();
    let summary =
        |path: &Path| peft_lab(&["summary", "--model", tiny(), "--data", path.to_str().unwrap(), "--max-length", "32"]);
    let out = summary(&path);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("data: 9 rows"), "{err}");
    for expected in [
        "columns: the unnamed column skipped: increasing integers 0 to 11, a row index; text: 'sms' by content",
        "label: 'spam' by content, 2 distinct values",
        "warning: 3 line(s) ended inside quoted fields, the longest field running from line 5 to line 8",
    ] {
        assert!(err.contains(expected), "expected '{expected}' in:\n{err}");
    }
    // Numbers are not text, even when named so.
    std::fs::write(&path, "text,label\n1,a\n2,b\n3,a\n4,b\n").unwrap();
    let out = summary(&path);
    assert!(stderr(&out).contains("the text column 'text' holds numbers (4 of 4 cells, e.g. 1, 2, 3), not text"));
}

#[test]
fn skip_bad_rows_reports_how_many_were_skipped() {
    let mut jsonl = String::new();
    for (i, w) in ["good", "great", "bad", "awful", "nice", "boring"].iter().enumerate() {
        jsonl.push_str(&format!("{{\"text\":\"it was {w}\",\"label\":{}}}\n", i % 2));
    }
    jsonl.push_str("not json at all\n{\"text\":\"\",\"label\":1}\n");
    let (ok, err) = train_on("rows.jsonl", jsonl.as_bytes(), &["--skip-bad-rows"]);
    assert!(ok, "{err}");
    assert!(err.contains("2 bad rows skipped"), "{err}");
}

#[test]
fn unknown_methods_and_missing_models_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let out = peft_lab(&["train", "--model", tiny(), "--data", &data, "--method", "qlora"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "unknown method 'qlora'; available: lora, dora, prefix, ptuning-v2, ptuning-mlp, ptuning-lstm, prompt, \
             houlsby, pfeiffer, ia3, bitfit, head, full"
        ),
        "{}",
        stderr(&out)
    );
    let out = peft_lab(&["train", "--model", "/nonexistent/model", "--data", &data, "--method", "lora"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read /nonexistent/model/config.json"), "{}", stderr(&out));
}

#[test]
fn methods_lists_the_catalog() {
    let out = peft_lab(&["methods", "--keys"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "lora,dora,prefix,ptuning-v2,ptuning-mlp,ptuning-lstm,prompt,houlsby,pfeiffer,ia3,bitfit,head,full"
    );
    let table = String::from_utf8(peft_lab(&["methods"]).stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("ia3") && l.contains("IA3")), "{table}");
}

#[test]
fn eval_loads_our_adapters_and_peft_folders() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let adapter = dir.path().join("adapter");
    let mut args = vec!["train", "--model", tiny(), "--data", &data, "--method", "ia3", "--save-adapter"];
    args.push(adapter.to_str().unwrap());
    args.extend(FAST);
    assert!(peft_lab(&args).status.success());
    let out = peft_lab(&[
        "eval",
        "--model",
        tiny(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--data",
        &data,
        "--text",
        "the movie was great",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines[0].ends_with("\tthe movie was great") && lines[0].contains("positive "), "{printed}");
    assert!(lines[1].starts_with("examples 48  loss "), "{printed}");
    assert!(stderr(&out).contains("ia3 on") && stderr(&out).contains("negative, positive"), "{}", stderr(&out));

    // A folder saved by Python's peft: labels are named as transformers names them.
    let peft_folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/peft_saved/tiny_lora");
    let out = peft_lab(&["eval", "--model", tiny(), "--adapter", peft_folder, "--text", "good film"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("LABEL_0 "));
    // Its labels are not the data's.
    let out = peft_lab(&["eval", "--model", tiny(), "--adapter", peft_folder, "--data", &data]);
    assert!(stderr(&out).contains("label 'negative' is not one of the adapter's labels (LABEL_0, LABEL_1, LABEL_2)"));
    let long = ["eval", "--model", tiny(), "--adapter", peft_folder, "--text", "x", "--max-length", "1000"];
    assert!(stderr(&peft_lab(&long)).contains("the maximum length 1000 exceeds the 64 positions"));
    let out = peft_lab(&["eval", "--model", tiny(), "--adapter", "/nonexistent", "--text", "x"]);
    assert!(stderr(&out).contains("cannot read /nonexistent/adapter_config.json"), "{}", stderr(&out));
}

#[test]
fn merge_writes_a_checkpoint_that_loads_as_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let peft_folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/peft_saved/tiny_lora");
    let run = peft_lab(&["merge", "--model", tiny(), "--adapter", peft_folder, "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(peft_lab::model::Pretrained::from_dir(&out).is_ok(), "the merged folder is a loadable model");
    let ia3 = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/peft_saved/tiny_ia3");
    let run = peft_lab(&["merge", "--model", tiny(), "--adapter", ia3, "--out", out.to_str().unwrap()]);
    assert!(stderr(&run).contains("only LoRA and DoRA can be merged"), "{}", stderr(&run));
}

#[test]
fn a_share_link_written_by_train_opens_in_eval() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let link = dir.path().join("link.txt");
    let adapter = dir.path().join("adapter");
    let mut args = vec!["train", "--model", tiny(), "--data", &data, "--method", "lora", "--link-precision", "f16"];
    args.extend(["--share-link", link.to_str().unwrap(), "--save-adapter", adapter.to_str().unwrap()]);
    args.extend(FAST);
    let out = peft_lab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("share link (f16) written to") && stderr(&out).contains("same prediction on"));
    let url = std::fs::read_to_string(&link).unwrap();
    assert!(url.starts_with("http://127.0.0.1:8080/#share=UEwB"), "{url}");

    let classify = |source: &[&str]| {
        let mut args = vec!["eval", "--model", tiny(), "--text", "the movie was great"];
        args.extend(source);
        let out = peft_lab(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let from_link = classify(&["--link", link.to_str().unwrap()]);
    let from_files = classify(&["--adapter", adapter.to_str().unwrap()]);
    // Probabilities are printed with 3 decimals; f16 tensors move them by less than that here.
    assert_eq!(from_link, from_files);
    // The link itself (not a file) works too, and so does the bare payload; damaged ones are explained.
    assert_eq!(classify(&["--link", url.trim()]), from_files);
    assert_eq!(classify(&["--link", url.trim().rsplit("#share=").next().unwrap()]), from_files);
    let truncated = &url[..url.len() / 2];
    for (link, expected) in [
        (truncated, "link: the link is truncated"),
        ("http://x/#share=UEwB$$", "not base64url"),
        ("/nonexistent/link.txt", "not a link, and not a readable file"),
    ] {
        let out = peft_lab(&["eval", "--model", tiny(), "--text", "x", "--link", link]);
        assert!(!out.status.success() && stderr(&out).contains(expected), "{link}: {}", stderr(&out));
    }
}

#[test]
fn continue_in_python_writes_a_valid_script_with_the_runs_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let handover = dir.path().join("python");
    let mut args = vec!["train", "--model", tiny(), "--data", &data, "--method", "dora", "--lr", "0.002"];
    args.extend(["--seed", "7", "--set", "r=4", "--continue-in-python", handover.to_str().unwrap()]);
    args.extend(["--python-model", "prajjwal1/bert-tiny"]);
    args.extend(FAST);
    let out = peft_lab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = handover.join("train_peft.py");
    let compiled = Command::new("python3").args(["-m", "py_compile"]).arg(&script).output().expect("python3 runs");
    assert!(compiled.status.success(), "train_peft.py does not compile: {}", stderr(&compiled));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(handover.join("peft_lab_run.json")).unwrap()).unwrap();
    assert_eq!(run["base_model"], "prajjwal1/bert-tiny");
    assert_eq!(run["labels"], serde_json::json!(["negative", "positive"]));
    assert_eq!(run["data"]["file"], data);
    assert_eq!(run["data"]["text_column"], "review");
    assert_eq!(run["data"]["label_column"], "sentiment");
    assert_eq!(run["data"]["val_fraction"], 0.2);
    let training = &run["training"];
    assert_eq!(
        [&training["learning_rate"], &training["seed"], &training["max_steps"], &training["batch_size"]],
        [&serde_json::json!(0.002), &serde_json::json!(7), &serde_json::json!(6), &serde_json::json!(8)]
    );
    assert_eq!(training["max_length"], 16);
    // The method is the adapter_config.json peft reads, with the settings given.
    let method = &run["method"];
    assert_eq!((&method["peft_type"], &method["r"], &method["use_dora"]), (&"LORA".into(), &4.into(), &true.into()));
    assert_eq!(method["target_modules"], serde_json::json!(["query", "value"]));
    assert_eq!(method["base_model_name_or_path"], "prajjwal1/bert-tiny");
    assert_eq!(run["method_label"], "dora r4");
    assert_eq!(run["peft_lab"]["labels"], run["labels"]);
    assert_eq!(run["peft_lab"]["method"]["use_dora"], true);
}

#[test]
fn generate_answers_a_chat_question_with_the_embedded_smollm2() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("public/models/SmolLM2-135M-Instruct");
    let out = peft_lab(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--chat",
        "--prompt",
        "What is the capital of France?",
        "--temperature",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The capital of France is Paris.\n");
    assert!(stderr(&out).contains("37 prompt tokens, 8 new in"), "{}", stderr(&out));
    assert!(stderr(&out).contains("ended by the model's end token"), "{}", stderr(&out));
}

#[test]
fn generate_refuses_what_it_cannot_run_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let tiny_llama = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/decoders/tiny-llama");
    let mistral = dir.path().join("mistral");
    std::fs::create_dir(&mistral).unwrap();
    for file in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny_llama.join(file), mistral.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(tiny_llama.join("config.json")).unwrap();
    std::fs::write(mistral.join("config.json"), config.replace("\"llama\"", "\"mistral\"")).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, "just text").unwrap();
    let long_prompt = "word ".repeat(80);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--model", mistral.to_str().unwrap()],
            "config.json has model_type \"mistral\"; supported decoders: model_type \"llama\"",
        ),
        (vec!["--model", empty.to_str().unwrap()], "the folder has neither config.json"),
        (vec!["--model", not_gguf.to_str().unwrap()], "this is not a GGUF file (it starts with \"just\""),
        (
            vec!["--model", tiny_llama.to_str().unwrap(), "--chat"],
            "has no chat template, so it cannot take chat prompts",
        ),
        (
            vec!["--model", tiny_llama.to_str().unwrap(), "--prompt", &long_prompt],
            "and the model has 64 positions; shorten it",
        ),
        (vec!["--model", tiny_llama.to_str().unwrap(), "--top-p", "2"], "top-p is 2; it must be above 0 and at most 1"),
        (
            vec!["--model", tiny_llama.to_str().unwrap(), "--link", "no-such-file"],
            "not a link, and not a readable file",
        ),
        (
            vec!["--model", tiny_llama.to_str().unwrap(), "--link", "http://x/#share=UEwB"],
            "the link is truncated: it ends before its data does",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["generate"];
        all.extend(args.iter());
        if !args.contains(&"--prompt") {
            all.extend(["--prompt", "Hello"]);
        }
        let out = peft_lab(&all);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert!(stderr(&out).contains(expected), "{all:?}: {}\n  expected: {expected}", stderr(&out));
    }
}

/// A small corpus of sentences for the tiny decoders, one document per line.
fn write_corpus(dir: &Path) -> String {
    let mut text = String::new();
    for i in 0..24 {
        let subject = ["The capital of France", "A fox", "The dog", "To be"][i % 4];
        text.push_str(&format!("{subject} is number {i}, or not.\n"));
    }
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn tiny_llama() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/decoders/tiny-llama").display().to_string()
}

#[test]
fn train_fine_tunes_a_decoder_and_saves_a_causal_lm_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let (data, adapter) = (write_corpus(dir.path()), dir.path().join("adapter"));
    let link = dir.path().join("link.txt");
    let model = tiny_llama();
    let out = peft_lab(&[
        "train",
        "--model",
        &model,
        "--data",
        &data,
        "--method",
        "lora",
        "--lr",
        "1e-2",
        "--max-steps",
        "4",
        "--batch-size",
        "4",
        "--max-length",
        "32",
        "--json",
        "--save-adapter",
        adapter.to_str().unwrap(),
        "--share-link",
        link.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("19 training and 5 held-out examples"), "{err}");
    assert!(err.contains("share link (int8) written to"), "{err}");
    assert!(err.contains("held-out perplexity") && err.contains("from the link"), "{err}");
    assert!(err.contains("before training: val loss"), "{err}");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON result");
    assert_eq!((&result["method"], &result["steps"]), (&"lora r8".into(), &4.into()));
    let base = result["base"]["metrics"]["perplexity"].as_f64().unwrap();
    let evaluations = result["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 1, "one evaluation, at the end of the --max-steps run");
    let (step, last) = (&evaluations[0][0], &evaluations[0][1]);
    assert_eq!(step, 4);
    assert!(last["metrics"]["perplexity"].as_f64().unwrap().is_finite() && base.is_finite());
    let samples = last["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    assert!(samples.iter().all(|s| !s["prompt"].as_str().unwrap().is_empty()), "{samples:?}");
    let config = &result["adapter_config"];
    assert_eq!((&config["task_type"], &config["peft_type"]), (&"CAUSAL_LM".into(), &"LORA".into()));
    assert_eq!(config["target_modules"], serde_json::json!(["q_proj", "v_proj"]), "peft's default for Llama");
    assert_eq!(config["modules_to_save"], serde_json::Value::Null);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(&saved, config);
    assert!(adapter.join("adapter_model.safetensors").exists());

    // The saved adapter generates.
    let args = ["generate", "--model", &model, "--adapter", adapter.to_str().unwrap(), "--prompt", "A fox"];
    let out = peft_lab(&[&args[..], &["--max-new-tokens", "4"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let opened = format!("adapter {}: lora r8", adapter.display());
    assert!(stderr(&out).contains(&opened), "{}", stderr(&out));
    // So does its share link.
    let args = ["generate", "--model", &model, "--link", link.to_str().unwrap(), "--prompt", "A fox"];
    let out = peft_lab(&[&args[..], &["--max-new-tokens", "4"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let opened = "lora r8 trained on corpus.txt for 4 steps, recorded held-out perplexity";
    assert!(stderr(&out).contains(opened), "{}", stderr(&out));
}

#[test]
fn train_on_a_decoder_refuses_what_it_cannot_do_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_corpus(dir.path());
    let chat = dir.path().join("chat.jsonl");
    std::fs::write(
        &chat,
        r#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"#,
    )
    .unwrap();
    let binary = dir.path().join("weights.txt");
    std::fs::write(&binary, [0u8, 159, 146, 150, 0, 1, 2, 255]).unwrap();
    let model = tiny_llama();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--method", "lora", "--test-split", "0.1"], "--test-split is for classifiers;"),
        (vec!["--method", "houlsby"], "this model has no such sites"),
        (vec!["--method", "bitfit"], "BitFit trains the bias terms, and this model has none"),
        (vec!["--method", "head"], "trains a classification head, and this model has none of its own"),
        (vec!["--method", "lora", "--set", "target_modules=query"], "match no layer of this model; names available"),
        (vec!["--method", "lora", "--max-length", "100"], "the maximum length 100 exceeds the model's 64 positions"),
        (
            vec!["--method", "prompt", "--max-length", "60"],
            "the maximum length 60 with 10 virtual tokens exceeds the model's 64 positions; use at most 54",
        ),
        (vec!["--method", "lora", "--data", chat.to_str().unwrap()], "has no chat template"),
        (vec!["--method", "lora", "--data", binary.to_str().unwrap()], "weights.txt:"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["train", "--model", &model, "--max-steps", "1", "--batch-size", "4"];
        for (flag, default) in [("--data", data.as_str()), ("--max-length", "32")] {
            if !args.contains(&flag) {
                all.extend([flag, default]);
            }
        }
        all.extend(args.iter());
        let out = peft_lab(&all);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert!(stderr(&out).contains(expected), "{all:?}: {}\n  expected: {expected}", stderr(&out));
    }
}

#[test]
fn merge_folds_a_decoder_lora_into_a_hugging_face_folder_that_generates_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/decoders");
    let adapter = fixtures.join("adapters/tiny-llama-lora");
    let model = tiny_llama();
    let merged =
        peft_lab(&["merge", "--model", &model, "--adapter", adapter.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let generate = |args: &[&str]| {
        let all = [&["generate", "--prompt", "A fox", "--max-new-tokens", "6"], args].concat();
        let out = peft_lab(&all);
        assert!(out.status.success(), "{all:?}: {}", stderr(&out));
        out.stdout
    };
    let with_adapter = generate(&["--model", &model, "--adapter", adapter.to_str().unwrap()]);
    assert_eq!(
        generate(&["--model", out.to_str().unwrap()]),
        with_adapter,
        "the merged model writes what the adapter did"
    );
    assert_ne!(generate(&["--model", &model]), with_adapter, "the adapter changes the text");

    let refusals = [
        (fixtures.join("tiny-llama.gguf"), "tiny-llama-lora", "is a GGUF model: merge into a Hugging Face folder"),
        (fixtures.join("tiny-llama"), "tiny-llama-prefix", "only LoRA and DoRA can be merged"),
    ];
    for (base, adapter, expected) in refusals {
        let adapter = fixtures.join("adapters").join(adapter);
        let args = [
            "merge",
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let refused = peft_lab(&args);
        assert!(!refused.status.success(), "{args:?} succeeded");
        assert!(stderr(&refused).contains(expected), "{args:?}: {}", stderr(&refused));
    }
}

/// A run killed after its first checkpoint goes on with `--resume` and ends as the run that was never stopped.
#[test]
fn train_resumes_after_being_killed_and_ends_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    // 400 steps of 4 examples: long enough to be killed well before the end.
    let run = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["train", "--model", tiny(), "--data", &data, "--method", "lora", "--json"];
        args.extend(["--epochs", "40", "--batch-size", "4", "--max-length", "16"]);
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let whole = peft_lab(&run(&[]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(whole.status.success(), "{}", stderr(&whole));
    let checkpoints = dir.path().join("checkpoints");
    let dir_arg = checkpoints.to_str().unwrap();
    let mut killed = Command::new(env!("CARGO_BIN_EXE_peft-lab"))
        .args(run(&["--checkpoint-dir", dir_arg, "--checkpoint-every", "5"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let file = checkpoints.join("lora-r8.ckpt");
    let waited = std::time::Instant::now();
    while !file.exists() {
        assert!(waited.elapsed().as_secs() < 120, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    let resumed =
        peft_lab(&run(&["--checkpoint-dir", dir_arg, "--resume"]).iter().map(String::as_str).collect::<Vec<_>>());
    let log = stderr(&resumed);
    assert!(resumed.status.success(), "{log}");
    let at = log.split("resumed from its checkpoint at step ").nth(1).expect("resumed");
    let step: usize = at.split_whitespace().next().unwrap().parse().unwrap();
    assert!(step > 0 && step < 400, "killed after a checkpoint, before the end: {log}");
    let json = |out: &Output| -> serde_json::Value { serde_json::from_slice(&out.stdout).unwrap() };
    let (whole, resumed) = (json(&whole), json(&resumed));
    for key in ["steps", "losses", "evaluations", "val_loss", "accuracy", "macro_f1", "adapter_bytes"] {
        assert_eq!(whole[key], resumed[key], "{key}");
    }
}

#[test]
fn resume_refuses_a_folder_without_checkpoints_of_this_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_csv(dir.path());
    let checkpoints = dir.path().join("checkpoints");
    let dir_arg = checkpoints.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--model", tiny(), "--data", &data, "--method", "head"];
        args.extend(FAST);
        args.extend(extra);
        peft_lab(&args)
    };
    let out = train(&["--checkpoint-dir", dir_arg, "--resume"]);
    assert!(stderr(&out).contains("holds no checkpoints (no model.txt)"), "{}", stderr(&out));
    assert!(train(&["--checkpoint-dir", dir_arg]).status.success());
    // A new run without --resume starts clean: an earlier run's checkpoints go, other files stay.
    let saved: Vec<_> = std::fs::read_dir(&checkpoints).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(saved.iter().any(|n| n.to_string_lossy().ends_with(".ckpt")), "{saved:?}");
    std::fs::write(checkpoints.join("lora-r8.ckpt"), b"another model's run").unwrap();
    std::fs::write(checkpoints.join("notes.txt"), b"mine").unwrap();
    assert!(train(&["--checkpoint-dir", dir_arg]).status.success());
    assert!(!checkpoints.join("lora-r8.ckpt").exists() && checkpoints.join("notes.txt").exists());
    std::fs::write(checkpoints.join("model.txt"), "another-model (weights sha256 00)\n").unwrap();
    let out = train(&["--checkpoint-dir", dir_arg, "--resume"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("are of the model another-model (weights sha256 00); this is"), "{}", stderr(&out));
    let out = train(&["--resume"]);
    assert!(stderr(&out).contains("--checkpoint-dir"), "clap names the missing flag: {}", stderr(&out));
}
