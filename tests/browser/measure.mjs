// Measures the playground in headless chromium (WebGPU on SwiftShader, and the wasm CPU) with the embedded MiniLM,
// on the backend asked for (auto: the page times both and picks the faster; webgpu; cpu):
//   - time from opening the page to the model being ready and to the first training step, with the model already
//     in the browser's cache (a first visit fills it);
//   - seconds per step of LoRA at batch 16 x 64 tokens (every text is longer than 64 tokens, so batches are full).
// Prints one JSON object. Not a test: scripts/measure-web.sh runs it next to the native figures.
//
//   node tests/browser/measure.mjs <site dir> [steps] [auto|webgpu|cpu]

import path from "node:path";
import { launch, serve } from "./harness.mjs";

const site = path.resolve(process.argv[2] ?? "dist");
const steps = Number(process.argv[3] ?? 4);
const backend = process.argv[4] ?? "auto";

function longTexts(rows) {
  const good = "the staff were friendly and the food was wonderful and fresh and we will come back again soon";
  const bad = "the service was slow and rude and the food arrived cold and tasteless so we will not return";
  return (
    "text,label\n" +
    Array.from({ length: rows }, (_, i) => `${(i % 2 ? good : bad) + " " + (i % 2 ? good : bad)} ${i},${i % 2}`).join("\n") +
    "\n"
  );
}

const server = await serve(site);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
const page = await context.newPage();
const marks = () =>
  page.evaluate(() => Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name, m.startTime / 1000])));

// First visit: downloads the model into the browser's cache.
await page.goto(`${base}/?backend=${backend}`);
await page.waitForSelector("#model[data-state=ready]", { timeout: 600_000 });
const firstVisit = await marks();

// Second visit: the model comes from the cache; start LoRA as soon as it is ready.
await page.reload();
await page.setInputFiles("#file-input", { name: "long.csv", mimeType: "text/csv", buffer: Buffer.from(longTexts(16 * (steps + 2))) });
await page.waitForSelector("#class-counts");
await page.selectOption("#budget-kind", "steps");
await page.fill("#budget", String(steps));
await page.fill("#batch-size", "16");
await page.fill("#max-length", "64");
for (const card of await page.$$(".card")) {
  const wanted = (await card.getAttribute("id")) === "method-lora";
  const enable = await card.$("input.enable");
  if ((await enable.isChecked()) !== wanted) await enable.click();
}
await page.waitForSelector("#model[data-state=ready]", { timeout: 600_000 });
await page.click("#compare");
await page.waitForFunction(() => performance.getEntriesByName("peft-lab:first-step").length > 0, null, {
  timeout: 1_800_000,
  polling: 1000,
});
const cached = await marks();
await page.waitForFunction(
  () => document.querySelectorAll("tr.result-row").length > 0 && !document.querySelector("#progress"),
  null,
  { timeout: 3_600_000, polling: 1000 },
);
const msPerStep = Number(await page.textContent("tr.result-row [data-col=ms-per-step]"));
console.log(
  JSON.stringify({
    asked: backend,
    backend: await page.textContent("#backend"),
    backend_timings: (await page.$("#backend-timings")) ? await page.textContent("#backend-timings") : null,
    first_visit_model_ready_s: firstVisit["peft-lab:model-ready"],
    cached_model_ready_s: cached["peft-lab:model-ready"],
    cached_open_to_first_step_s: cached["peft-lab:first-step"],
    lora_minilm_16x64_seconds_per_step: msPerStep / 1000,
    steps,
  }),
);
await browser.close();
server.close();
