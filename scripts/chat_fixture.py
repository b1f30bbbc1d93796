"""Renders chat templates with Jinja2, as transformers' apply_chat_template does, for tests/chat.rs: the embedded
decoder's own template (from its GGUF, which scripts/setup.sh installs) and a plain ChatML one, over a few
conversations, with and without the generation prompt. Writes tests/fixtures/gguf/chat.expected.json.

    pip install jinja2 gguf==0.19.0 && python3 scripts/chat_fixture.py
"""

import json
import os

import gguf
import jinja2

root = os.path.join(os.path.dirname(__file__), "..")
reader = gguf.GGUFReader(os.path.join(root, "public/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
field = reader.fields["tokenizer.chat_template"]
templates = {
    "smollm2": bytes(field.parts[-1]).decode(),
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
}
conversations = [
    [{"role": "user", "content": "What is 12+7?"}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello!"}],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another,\nplease."},
    ],
]
environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
out = []
for name, source in templates.items():
    template = environment.from_string(source)
    for messages in conversations:
        for generation in (False, True):
            text = template.render(messages=messages, add_generation_prompt=generation)
            out.append({"template": name, "messages": messages, "add_generation_prompt": generation, "text": text})
with open(os.path.join(root, "tests/fixtures/gguf/chat.expected.json"), "w") as f:
    json.dump({"templates": templates, "renders": out}, f, indent=1, ensure_ascii=False)
print(len(out), "renders")
