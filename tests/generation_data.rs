//! Decoders' datasets: plain text in its three layouts, the three record kinds (prompt/completion, Alpaca's
//! instruction/input/output, chat messages), and the files that cannot be used, each with its message.

use peft_lab::data::DataError;
use peft_lab::data::generation::{Example, TextLayout, read};
use peft_lab::model::chat::Message;

fn texts(data: &peft_lab::data::generation::GenerationData) -> Vec<&str> {
    data.examples
        .iter()
        .map(|e| match e {
            Example::Text(t) => t.as_str(),
            other => panic!("not text: {other:?}"),
        })
        .collect()
}

#[test]
fn text_files_are_documents_by_line_by_percent_or_whole() {
    let lines = read("poems.txt", b"first line\n\n  \nsecond line  \r\nthird\n", None, false).unwrap();
    assert_eq!((texts(&lines), lines.layout), (vec!["first line", "second line", "third"], Some(TextLayout::Lines)));
    let fortunes = b"A fortune\nof two lines.\n%\nAnother.\n%\n%\nLast one\n";
    let percent = read("fortunes", fortunes, None, false).unwrap();
    assert_eq!(percent.layout, Some(TextLayout::Percent));
    assert_eq!(texts(&percent), vec!["A fortune\nof two lines.", "Another.", "Last one"]);
    let whole = read("book.txt", b"Chapter 1\nIt was a dark night.\n", Some(TextLayout::Whole), false).unwrap();
    assert_eq!(texts(&whole), vec!["Chapter 1\nIt was a dark night.\n"]);
    // A layout given explicitly wins over what the file looks like.
    let forced = read("fortunes", fortunes, Some(TextLayout::Lines), false).unwrap();
    assert_eq!(texts(&forced).len(), 7);
}

#[test]
fn records_become_completions_or_chats() {
    let jsonl = br#"{"prompt": "2+2=", "completion": " 4"}
{"prompt": null, "completion": "Just this."}
"#;
    let completions = |name: &str, bytes: &[u8]| -> Vec<(String, String)> {
        let data = read(name, bytes, None, false).unwrap();
        data.examples
            .into_iter()
            .map(|e| match e {
                Example::Completion { prompt, completion } => (prompt, completion),
                other => panic!("{name}: not a completion: {other:?}"),
            })
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
    };
    assert_eq!(completions("sums.jsonl", jsonl), pairs(&[("2+2=", " 4"), ("", "Just this.")]));
    let alpaca = br#"[{"instruction": "Translate to French.", "input": "cat", "output": "chat"},
                      {"instruction": "Say hi.", "input": "", "output": "Hi!"}]"#;
    assert_eq!(
        completions("alpaca.json", alpaca),
        pairs(&[("Translate to French.\n\ncat", "chat"), ("Say hi.", "Hi!")])
    );
    let chat = br#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}"#;
    let data = read("chat.jsonl", chat, None, false).unwrap();
    let turn = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
    assert_eq!(
        data.examples,
        vec![Example::Chat(vec![turn("system", "Be brief."), turn("user", "Hi"), turn("assistant", "Hello.")])]
    );
    let text_records = read("docs.jsonl", b"{\"text\": \"one\"}\n{\"text\": \"two\"}\n", None, false).unwrap();
    assert_eq!(texts(&text_records), vec!["one", "two"]);
}

#[test]
fn unusable_files_are_refused_with_a_message() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty.txt", b" \n\n", "the file holds no text: a decoder's dataset needs at least one document or example"),
        (
            "percent.txt",
            b"%\n%\n",
            "the file holds no text: a decoder's dataset needs at least one document or example",
        ),
        (
            "latin1.txt",
            b"caf\xe9\n",
            "the file is not UTF-8 text (first invalid byte at offset 3, line 1); save it as UTF-8",
        ),
        (
            "binary.txt",
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "this looks like a binary file, not text (it has a NUL byte at offset 8); save the data as UTF-8 CSV, TSV or JSON",
        ),
        (
            "keys.jsonl",
            b"{\"question\": \"a\", \"answer\": \"b\"}\n",
            "line 1 has keys question, answer; a decoder's examples need prompt and completion, instruction and output (input optional), messages, or text",
        ),
        (
            "none.jsonl",
            b"{}\n",
            "line 1 has no keys; a decoder's examples need prompt and completion, instruction and output (input optional), messages, or text",
        ),
        (
            "mixed.jsonl",
            b"{\"text\": \"a\"}\n{\"prompt\": \"b\", \"completion\": \"c\"}\n",
            "line 2 is a prompt→completion example, but the first is a text one; use one kind per file",
        ),
        (
            "number.jsonl",
            b"{\"prompt\": \"a\", \"completion\": 4}\n",
            "line 1: 'completion' must be text, not a number; fix it or skip bad rows",
        ),
        (
            "blank.jsonl",
            b"{\"prompt\": \"a\", \"completion\": \"  \"}\n",
            "line 1: 'completion' is empty: there is nothing to learn",
        ),
        (
            "no-instruction.jsonl",
            b"{\"instruction\": \"\", \"output\": \"b\"}\n",
            "line 1: 'instruction' is empty: there is nothing to learn",
        ),
        ("chat-string.jsonl", b"{\"messages\": \"hi\"}\n", "line 1: 'messages' must be a list of turns, not text"),
        (
            "chat-turn.jsonl",
            b"{\"messages\": [{\"role\": \"user\"}]}\n",
            "line 1: turn 1 of 'messages' needs \"role\" and \"content\" as text",
        ),
        (
            "chat-role.jsonl",
            b"{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n",
            "line 1: turn 1 has role 'bot'; roles are system, user and assistant",
        ),
        (
            "chat-silent.jsonl",
            b"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n",
            "line 1: the conversation has no assistant turn: there is nothing to learn",
        ),
        (
            "broken.jsonl",
            b"{\"text\": \"a\"}\n{\"text\": oops}\n",
            "1 row(s) cannot be read (line 2: not JSON: expected value at line 1 column 10); fix them or skip bad rows",
        ),
        ("array.json", b"[{\"text\": \"a\"}, 3]", "array item 2 is not an object"),
    ];
    for (name, bytes, expected) in cases {
        let message = match read(name, bytes, None, false) {
            Ok(data) => panic!("{name}: accepted as {data:?}"),
            Err(e) => e.to_string(),
        };
        assert!(message.starts_with(expected), "{name}:\n  got      {message}\n  expected {expected}");
    }
    assert_eq!(cases.len(), 16);
}

#[test]
fn bad_records_can_be_skipped_and_are_counted() {
    let jsonl = b"{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\", \"completion\": \"\"}\nnot json\n";
    let data = read("mixed.jsonl", jsonl, None, true).unwrap();
    assert_eq!(data.examples.len(), 1);
    let lines: Vec<usize> = data.skipped.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![2, 3]);
    // Nothing left: the skipped lines are the error.
    let err = read("bad.jsonl", b"{\"completion\": \"\"}\n", None, true).unwrap_err();
    assert!(matches!(err, DataError::BadRows { count: 1, .. }), "{err}");
}
