//! Chat templates rendered as Jinja2 renders them (transformers' apply_chat_template): SmolLM2's own template from
//! its GGUF and a plain ChatML one, fixtures by `scripts/chat_fixture.py`.

use peft_lab::model::chat::{ChatTemplate, Message};

#[test]
fn chatml_templates_render_as_jinja_does() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/chat.expected.json");
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let renders = fixture["renders"].as_array().unwrap();
    for render in renders {
        let name = render["template"].as_str().unwrap();
        let template = ChatTemplate::recognise(fixture["templates"][name].as_str().unwrap()).unwrap();
        let messages: Vec<Message> = serde_json::from_value(render["messages"].clone()).unwrap();
        let generation = render["add_generation_prompt"].as_bool().unwrap();
        assert_eq!(template.render(&messages, generation), render["text"].as_str().unwrap(), "{name} {messages:?}");
    }
    assert_eq!(renders.len(), 12);
    let smollm2 = ChatTemplate::recognise(fixture["templates"]["smollm2"].as_str().unwrap()).unwrap();
    let ChatTemplate::ChatMl { default_system } = smollm2;
    assert_eq!(default_system.as_deref(), Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face"));
}

#[test]
fn other_templates_are_refused_by_name() {
    let llama3 = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}{% endfor %}";
    let message = ChatTemplate::recognise(llama3).unwrap_err().to_string();
    assert!(
        message.starts_with("unsupported model: the chat template is not ChatML (<|im_start|>role … <|im_end|>), the only one supported here; it starts: {% for message in messages %}"),
        "{message}"
    );
}
