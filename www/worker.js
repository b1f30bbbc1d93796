// The training worker loads the same wasm as the page; its main() sees a worker scope and installs the message
// handler. Messages that arrive while the wasm is still loading are kept and replayed.
import init from "./peft-lab-web.js";

const early = [];
self.onmessage = (event) => early.push(event);
await init({ module_or_path: new URL("./peft-lab-web_bg.wasm", import.meta.url) });
for (const event of early) self.onmessage(event);
