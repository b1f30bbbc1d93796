// Browser tests of the built playground, as a person would use it: Debian's chromium (headless, WebGPU through
// SwiftShader) driven by playwright-core, on the site served from 127.0.0.1.
//
//   node tests/browser/run.mjs <site dir> [test name...]
//
// The tiny random BERT of the test fixtures is served under /fixtures/tiny-bert/ with dropout off (its large random
// weights make a few dozen steps too noisy with dropout; MiniLM trains with dropout on). Screenshots go to
// tests/browser/artifacts/.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import zlib from "node:zlib";
import { launch, serve } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const site = path.resolve(process.argv[2] ?? path.join(root, "dist"));
const only = process.argv.slice(3);
const artifacts = path.join(here, "artifacts");
fs.mkdirSync(artifacts, { recursive: true });

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/// Training data the tiny model's vocabulary covers: positive and negative words.
function sentimentCsv(rows) {
  const good = ["good", "great", "excellent", "best", "nice", "fun", "love"];
  const bad = ["bad", "terrible", "awful", "worst", "boring", "hate", "never"];
  const lines = ["text,label"];
  for (let i = 0; i < rows; i++) {
    const words = i % 2 ? good : bad;
    const pick = (k) => words[(i * 7 + k * 3) % words.length];
    lines.push(`the food was ${pick(0)} and ${pick(1)} ${pick(2)},${i % 2 ? "pos" : "neg"}`);
  }
  return lines.join("\n") + "\n";
}

/// Opens the page on WebGPU (SwiftShader) unless asked otherwise: `backend` is the page's `?backend=` (auto times both);
/// `model` a fixture's name or a path under the site.
async function openPage(browser, base, { noWebGpu = false, backend = "webgpu", query = "", model = "tiny-bert" } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  if (noWebGpu) {
    await context.addInitScript(() => {
      delete Navigator.prototype.gpu;
    });
  }
  const page = await context.newPage();
  const log = [];
  page.on("console", (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
  page.log = log;
  const modelPath = model.includes("/") ? model : `fixtures/${model}/`;
  await page.goto(`${base}/?model=${modelPath}&backend=${backend}${query}`);
  await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
  return { context, page };
}

/// Records every text `selector` shows from now on, in `window[name]`.
async function recordTexts(page, selector, name) {
  await page.evaluate(([selector, name]) => {
    window[name] = [];
    new MutationObserver(() => {
      const text = document.querySelector(selector)?.textContent;
      if (text && window[name].at(-1) !== text) window[name].push(text);
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  }, [selector, name]);
}

async function upload(page, name, contents) {
  await page.setInputFiles("#file-input", { name, mimeType: "text/csv", buffer: Buffer.from(contents) });
}

/// The budget; one run per method and no test part unless asked, so that a run is a row.
async function setBudget(page, { steps, batch, maxLength, runs = 1, test = 0 }) {
  await page.selectOption("#budget-kind", "steps");
  await page.fill("#budget", String(steps));
  await page.fill("#batch-size", String(batch));
  await page.fill("#max-length", String(maxLength));
  await page.fill("#runs", String(runs));
  await page.fill("#test-percent", String(test));
}

async function chooseMethods(page, learningRates) {
  for (const card of await page.$$(".card")) {
    const key = (await card.getAttribute("id")).replace("method-", "");
    const enable = await card.$("input.enable");
    const wanted = key in learningRates;
    if ((await enable.isChecked()) !== wanted) await enable.click();
    if (wanted) await (await card.$("input.lr")).fill(String(learningRates[key]));
  }
}

async function results(page) {
  return page.$$eval("tr.result-row", (rows) =>
    rows.map((row) => ({
      method: row.dataset.method,
      lossStart: Number(row.dataset.lossStart),
      lossEnd: Number(row.dataset.lossEnd),
      accuracy: Number(row.querySelector("[data-col=accuracy]").textContent),
      valLoss: Number(row.querySelector("[data-col=val-loss]").textContent),
      f1: Number(row.querySelector("[data-col=macro-f1]").textContent),
      msPerStep: Number(row.querySelector("[data-col=ms-per-step]").textContent),
      atChance: row.classList.contains("at-chance"),
    })),
  );
}

async function runCompare(page, count, timeout) {
  await page.click("#compare");
  await page.waitForFunction(
    (n) => document.querySelectorAll("tr.result-row").length >= n && !document.querySelector("#progress"),
    count,
    { timeout, polling: 500 },
  );
  const failures = await page.$$eval("#failures li", (items) => items.map((i) => i.textContent));
  assert(failures.length === 0, `methods failed: ${failures.join("; ")}`);
}

/// A reload mid-comparison with `workers` workers goes on with it: the method in progress from its last stored
/// checkpoint, the finished one rebuilt from its own; the comparison finishes with a row per method, and a later
/// reload starts nothing.
async function resumeWith(browser, base, workers) {
  const { context, page } = await openPage(browser, base, { noWebGpu: true, query: `&workers=${workers}` });
  await upload(page, "reviews.csv", sentimentCsv(64));
  await page.waitForSelector("#class-counts");
  // Long enough to be reloaded mid-run: several seconds a method.
  const steps = 3000;
  await setBudget(page, { steps, batch: 8, maxLength: 32 });
  await chooseMethods(page, { head: 1e-2, lora: 5e-3 });
  await page.click("#compare");
  // In one worker: one method finished and the other checkpointed midway; in two helpers both run at once, and both
  // are checkpointed midway. The steps saved are read as the page is seen so, and the page reloaded at once.
  const [finished, running] = workers === 1 ? [1, 1] : [0, 2];
  const seen = await page.waitForFunction(
    ([finished, running, steps]) => {
      const saved = [...document.querySelectorAll("#progress .saved")].map((s) => Number(s.dataset.step)).filter((step) => step < steps);
      return document.querySelectorAll("tr.result-row").length === finished && saved.length === running && saved;
    },
    [finished, running, steps],
    { timeout: 300_000, polling: 50 },
  );
  const savedMidway = await seen.jsonValue();
  const saved = Math.min(...savedMidway);
  await page.reload();
  await page.evaluate(() => {
    window.resumed = [];
    new MutationObserver(() => {
      for (const span of document.querySelectorAll("#progress .resumed")) {
        const entry = span.parentElement.textContent.split(":")[0] + "@" + span.dataset.step;
        if (!window.resumed.includes(entry)) window.resumed.push(entry);
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
  await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
  await page.waitForFunction(
    () => document.querySelectorAll("tr.result-row").length === 2 && !document.querySelector("#progress"),
    null,
    { timeout: 300_000, polling: 200 },
  );
  const resumed = await page.evaluate(() => window.resumed);
  const notices = await page.$$eval("#notices p", (items) => items.map((i) => i.textContent));
  console.log(`  ${workers} worker(s): saved at step ${saved} before the reload; went on: ${resumed.join(", ")}`);
  assert(notices.some((n) => n.includes("goes on from its runs' last checkpoints")), `the page says so: ${notices.join(" | ")}`);
  // The data section shows the resumed comparison's data, not the page's default sample.
  const shown = await page.textContent("#data-name");
  assert(shown === "reviews.csv" && (await page.$$("#preview tbody tr")).length > 0, `the resumed data is shown: ${shown}`);
  const midway = resumed.map((r) => Number(r.split("@")[1])).filter((step) => step >= saved && step < steps);
  assert(midway.length === running, `the runs in progress went on from their checkpoints (>= ${saved}): ${resumed.join(", ")}`);
  const failures = await page.$$eval("#failures li", (items) => items.map((i) => i.textContent));
  assert(failures.length === 0, `methods failed: ${failures.join("; ")}`);
  const rows = await results(page);
  assert(rows.map((r) => r.method).sort().join() === "head,lora r8", `a row per method: ${JSON.stringify(rows)}`);
  for (const row of rows) assert(Number.isFinite(row.accuracy) && row.lossEnd < row.lossStart, `trained: ${JSON.stringify(row)}`);
  await page.screenshot({ path: path.join(artifacts, "resumed.png"), fullPage: true });
  await page.reload();
  await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
  await page.waitForTimeout(2000);
  assert(!(await page.$("#progress")), "a finished comparison is not resumed again");
  assert((await results(page)).length === 2, "its rows stay");
  await context.close();
}

const BAD_FILES = [
  ["not-utf8.csv", Buffer.from([...Buffer.from("text,label\nok,pos\n"), 0xff, 0xfe, 0x41, 0x2c, 0x6e, 0x0a]), "not UTF-8"],
  ["empty.csv", Buffer.alloc(0), "empty"],
  ["broken.csv", 'text,label\n"never closed,pos\nfine,neg\n', "quote"],
  ["broken.jsonl", '{"text": "fine", "label": "pos"}\nnot json at all\n{"text": "ok", "label": "neg"}\n', "line 2"],
  ["binary.csv", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48]), "binary"],
  ["keys.jsonl", Array.from({ length: 300 }, (_, i) => `{"k${i}": 1}`).join("\n"), "more than 256"],
];

const BAD_DATASETS = [
  ["one-class.csv", "text,label\ngood,pos\ngreat,pos\nnice,pos\n", "1 class"],
  [
    "many-classes.csv",
    "text,label\n" + Array.from({ length: 1001 }, (_, i) => `text ${i},class${i}`).join("\n") + "\n",
    "1001 distinct values",
  ],
  ["numbers.csv", "text,label\n1,a\n2,b\n3,a\n4,b\n", "holds numbers"],
  ["empty-texts.csv", "text,label\ngood,pos\n,neg\nbad,neg\n", "skip bad rows"],
];

/// A spam collection as shipped: an unnamed row index, the label named after its positive class, the text under an
/// opaque name, and a stray quote on line 5 that swallows lines 6 and 7.
function spamCsv() {
  const texts = ["see you at the station later", "WIN a prize now", "lunch today?", '"sorry I missed your call', "pick up milk",
    'free ticket claim now"', "happy birthday", "WIN cash text back", "thanks for dinner", "reward waiting reply now"];
  return ",spam,sms\n" + texts.map((t, i) => `${i},${/WIN|reward|free/.test(t) ? 1 : 0},${t}`).join("\n") + "\n";
}

/// A share link's parts, as the page's codec lays them out: "PL", version, declared length, zlib(header length,
/// header JSON, tensor bytes).
function decodeLink(url) {
  const bytes = Buffer.from(url.split("#share=")[1], "base64url");
  const raw = zlib.inflateSync(bytes.subarray(7));
  const headerLength = raw.readUInt32LE(0);
  return { version: bytes[2], header: JSON.parse(raw.subarray(4, 4 + headerLength).toString()), data: raw.subarray(4 + headerLength) };
}

function encodeLink(base, { version, header, data }) {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const raw = Buffer.concat([length, json, data]);
  const prefix = Buffer.from([0x50, 0x4c, version, 0, 0, 0, 0]);
  prefix.writeUInt32LE(raw.length, 3);
  return `${base}#share=${Buffer.concat([prefix, zlib.deflateSync(raw)]).toString("base64url")}`;
}

/// Saves the download a click starts and lists the zip's files.
async function downloadZip(page, selector, dir) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const file = path.join(dir, download.suggestedFilename());
  await download.saveAs(file);
  execFileSync("unzip", ["-o", "-q", file, "-d", path.join(dir, path.basename(file, ".zip"))]);
  return { name: download.suggestedFilename(), dir: path.join(dir, path.basename(file, ".zip")) };
}

async function predictionOf(page, method, text) {
  await page.fill("#try-text", text);
  await page.click("#try");
  await page.waitForFunction((m) => [...document.querySelectorAll("tr.prediction")].some((r) => r.dataset.method === m), method, { timeout: 60_000 });
  return page.$eval(`tr.prediction[data-method="${method}"]`, (row) => ({
    label: row.querySelector(".label").textContent,
    probability: parseFloat(row.querySelector(".num").textContent),
  }));
}

/// Runs `job` in a fresh worker of the built site from a page of the same origin: posts its messages in turn, each
/// when the worker has answered the previous one with a message whose kind is among `until`; returns every message.
async function driveWorker(page, steps) {
  return page.evaluate(async (steps) => {
    const gguf = new Uint8Array(await (await fetch("/fixtures/decoders/tiny-llama.gguf")).arrayBuffer());
    const worker = new Worker("/worker.js", { type: "module" });
    const messages = [];
    let waiting = null;
    worker.onmessage = (event) => {
      const kind = Object.keys(event.data)[0] ?? String(event.data);
      messages.push({ kind, body: event.data[kind] });
      if (waiting && waiting.until.includes(kind)) waiting.resolve();
    };
    worker.onerror = (event) => messages.push({ kind: "WorkerError", body: String(event.message) });
    for (const { message, until } of steps) {
      const answered = new Promise((resolve) => (waiting = { until: [...until, "Crashed"], resolve }));
      const filled = JSON.parse(JSON.stringify(message), (key, value) => (value === "$gguf" ? gguf : value));
      if (filled.FineTuneDecoder?.data !== undefined) {
        filled.FineTuneDecoder.data = new TextEncoder().encode(filled.FineTuneDecoder.data);
      }
      worker.postMessage(filled);
      await answered;
    }
    worker.terminate();
    // Maps (JSON values the engine sends) as plain objects, so that the test can read them.
    return JSON.parse(JSON.stringify(messages, (key, value) => (value instanceof Map ? Object.fromEntries(value) : value)));
  }, steps);
}

const tests = {
  /// The worker's decoder jobs, on the CPU in wasm: LoRA fine-tunes the tiny random Llama (its GGUF file) for a few
  /// steps on a small text, the held-out perplexity falls from the base model's, and the fine-tuned model generates.
  async decoder(browser, base) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.log = [];
    page.on("console", (m) => page.log.push(`[${m.type()}] ${m.text()}`));
    // Any document of the site's origin will do: the stylesheet, not the app (which would start a worker of its own).
    await page.goto(`${base}/style.css`);
    const text = Array.from({ length: 40 }, (_, i) => `${["The capital of France", "A fox", "The dog", "To be"][i % 4]} is number ${i % 5}.`).join("\n");
    const lora = { method: "lora", r: 8, lora_alpha: 8, lora_dropout: 0, target_modules: null, use_rslora: false, use_dora: false };
    const config = { epochs: 1, max_steps: 40, batch_size: 8, max_length: 32, weight_decay: 0.01, warmup_ratio: 0.06, max_grad_norm: 1, seed: 42, group_by_length: true };
    const settings = { max_new_tokens: 8, temperature: 0, top_k: null, top_p: null, stop: [], seed: 0, use_cache: true };
    const started = Date.now();
    const messages = await driveWorker(page, [
      {
        message: { FineTuneDecoder: { request: 1, model: { Gguf: { name: "tiny-llama.gguf", bytes: "$gguf" } }, data_name: "corpus.txt", data: text, method: lora, learning_rate: 0.01, config, val_fraction: 0.25, share_link: "int8" } },
        until: ["DecoderTrained", "DecoderFailed"],
      },
      { message: { Generate: { request: 2, prompt: "A fox", chat: false, settings } }, until: ["Generated", "GenerateFailed"] },
    ]);
    const kinds = messages.map((m) => m.kind);
    const failure = messages.find((m) => ["DecoderFailed", "GenerateFailed", "Crashed", "WorkerError", "Error"].includes(m.kind));
    assert(!failure, `the worker failed: ${JSON.stringify(failure)}`);
    const trained = messages.find((m) => m.kind === "DecoderTrained").body;
    const steps = messages.filter((m) => m.kind === "DecoderProgress" && m.body.event.Step).length;
    assert(steps === 40, `40 steps reported, got ${steps}`);
    const base_ = trained.result.base.metrics.perplexity;
    const after = trained.result.evaluations.at(-1)[1].metrics.perplexity;
    console.log(`  40 LoRA steps on the tiny Llama in wasm (CPU): ${((Date.now() - started) / 1000).toFixed(1)} s, perplexity ${base_.toFixed(1)} -> ${after.toFixed(1)}`);
    assert(after < 0.7 * base_, `held-out perplexity ${base_} before, ${after} after`);
    assert(trained.adapter.config_json.includes('"CAUSAL_LM"'), "a CAUSAL_LM adapter");
    const { full_perplexity: full, link_perplexity: shared, payload } = trained.link;
    console.log(`  int8 share link: ${payload.length} characters, held-out perplexity ${full.toFixed(3)} trained, ${shared.toFixed(3)} from the link`);
    assert(Math.abs(shared / full - 1) < 0.01, `the link's perplexity ${shared} is not the trained model's ${full}`);
    const generated = messages.find((m) => m.kind === "Generated").body;
    const pieces = messages.filter((m) => m.kind === "GeneratedText").map((m) => m.body.text).join("");
    console.log(`  generated ${generated.new_tokens} tokens: ${JSON.stringify(pieces)} (${generated.finish})`);
    assert(generated.new_tokens > 0 && kinds.indexOf("GeneratedText") < kinds.indexOf("Generated"), "text streamed before the end");
    await context.close();
  },

  /// WebGPU: upload, compare LoRA + prefix + head, read the table, try a sentence; a responsive page during a run,
  /// reload in the middle of one, cancel; then every bad input.
  async webgpu(browser, base) {
    const { context, page } = await openPage(browser, base);
    const backend = await page.textContent("#backend");
    assert(backend.includes("WebGPU"), `expected WebGPU, the page says: ${backend}`);
    await upload(page, "reviews.csv", sentimentCsv(96));
    await page.waitForSelector("#class-counts");
    assert((await page.textContent("#data-name")) === "reviews.csv", "the uploaded file is the dataset");
    await setBudget(page, { steps: 24, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3, prefix: 5e-3, head: 1e-2 });
    const started = Date.now();
    await runCompare(page, 3, 900_000);
    console.log(`  compare of 3 methods x 24 steps on SwiftShader: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const rows = await results(page);
    console.log("  " + JSON.stringify(rows));
    assert(rows.length === 3, `3 result rows, got ${rows.length}`);
    for (const r of rows) {
      assert([r.accuracy, r.valLoss, r.f1, r.msPerStep].every(Number.isFinite), `finite metrics for ${r.method}`);
      assert(r.lossEnd < r.lossStart, `${r.method}: loss went from ${r.lossStart} to ${r.lossEnd}`);
    }
    await page.fill("#try-text", "the food was great and excellent fun");
    await page.click("#try");
    await page.waitForFunction(() => document.querySelectorAll("tr.prediction").length === 3, null, { timeout: 60_000 });
    await page.screenshot({ path: path.join(artifacts, "compare-webgpu.png"), fullPage: true });

    // During a run the page stays responsive; a reload keeps the methods that had finished and goes on with the rest.
    await chooseMethods(page, { head: 1e-2, lora: 5e-3 });
    await setBudget(page, { steps: 40, batch: 8, maxLength: 32 });
    await page.click("#compare");
    await page.waitForFunction(() => /step [2-9]/.test(document.querySelector("#progress")?.textContent ?? ""), null, {
      timeout: 120_000,
    });
    const worstDelay = await page.evaluate(async () => {
      let worst = 0;
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 0));
        worst = Math.max(worst, performance.now() - t);
      }
      return worst;
    });
    console.log(`  page's event loop during training: worst delay ${worstDelay.toFixed(1)} ms`);
    assert(worstDelay < 250, `the page's thread was blocked for ${worstDelay} ms during training`);
    await page.fill("#try-text", "typing while training");
    assert((await page.inputValue("#try-text")) === "typing while training", "typing works during a run");
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 4, null, { timeout: 300_000 });
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 4, null, { timeout: 60_000 });
    const restored = await results(page);
    assert(JSON.stringify(restored.slice(0, 3).map((r) => r.method)) === JSON.stringify(rows.map((r) => r.method)), "runs restored");
    await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 5 && !document.querySelector("#progress"), null, {
      timeout: 300_000,
      polling: 500,
    });

    // Cancel stops at once; the worker comes back with the model; finished runs stay.
    await upload(page, "reviews.csv", sentimentCsv(96));
    await page.waitForSelector("#class-counts");
    await chooseMethods(page, { lora: 5e-3 });
    await setBudget(page, { steps: 40, batch: 8, maxLength: 32 });
    await page.click("#compare");
    await page.waitForFunction(() => /step [2-9]/.test(document.querySelector("#progress")?.textContent ?? ""), null, {
      timeout: 120_000,
    });
    await page.click("#cancel");
    await page.waitForFunction(() => document.querySelector("#notices")?.textContent.includes("cancelled"), null, {
      timeout: 5_000,
    });
    assert(!(await page.$("#progress")), "no progress after cancel");
    assert((await page.$$("tr.result-row")).length === 5, "finished runs stay after cancel");
    await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });

    await upload(page, "reviews.csv", sentimentCsv(96));
    await page.waitForSelector("#class-counts");
    const kept = (await page.$$("tr.result-row")).length;
    for (const [name, contents, expected] of BAD_FILES) {
      await upload(page, name, contents);
      await page.waitForSelector("#data-error", { timeout: 10_000 });
      const message = await page.textContent("#data-error");
      assert(message.includes(expected), `${name}: expected "${expected}" in "${message}"`);
      assert((await page.textContent("#data-name")) === "reviews.csv", `${name}: the earlier dataset is kept`);
      assert((await page.$$("tr.result-row")).length === kept, `${name}: earlier results untouched`);
      console.log(`  ${name}: ${message}`);
    }
    // 200 MB is refused from its size alone; a sparse file keeps the test light.
    const big = path.join(os.tmpdir(), "peft-lab-200mb.csv");
    fs.writeFileSync(big, "text,label\n");
    fs.truncateSync(big, 200 * 1024 * 1024);
    await page.setInputFiles("#file-input", big);
    await page.waitForFunction(() => document.querySelector("#data-error")?.textContent.includes("MiB"), null, { timeout: 10_000 });
    console.log(`  200 MB: ${await page.textContent("#data-error")}`);
    fs.unlinkSync(big);
    for (const [name, contents, expected] of BAD_DATASETS) {
      await upload(page, name, contents);
      await page.waitForFunction((n) => document.querySelector("#data-name")?.textContent === n, name, { timeout: 10_000 });
      const message = await page.textContent("#dataset-error");
      assert(message.includes(expected), `${name}: expected "${expected}" in "${message}"`);
      assert((await page.$$("tr.result-row")).length === kept, `${name}: earlier results untouched`);
      assert(await page.isDisabled("#compare"), `${name}: compare is disabled on an unusable dataset`);
      console.log(`  ${name}: ${message}`);
    }
    await page.check("#skip-bad-rows");
    await page.waitForSelector("#class-counts");
    assert((await page.textContent("#class-counts")).includes("1 bad rows skipped"), "skipping the empty text row");
    // Columns the names do not give are chosen by content, with the reasons and the swallowed lines shown.
    await upload(page, "spam.csv", spamCsv());
    await page.waitForSelector("#column-reasons");
    const reasons = await page.textContent("#column-reasons");
    for (const part of ["row index", "text: 'sms' by content", "label: 'spam' by content"]) {
      assert(reasons.includes(part), `column reasons: expected "${part}" in "${reasons}"`);
    }
    const quoted = await page.textContent("#quoted-lines");
    assert(quoted.includes("2 line(s) ended inside quoted fields") && quoted.includes("from line 5 to line 7"), quoted);
    assert((await page.$eval("#text-column", (s) => s.value)) === "sms", "the text picker shows the chosen column");
    console.log(`  spam.csv: ${reasons} / ${quoted}`);
    await page.screenshot({ path: path.join(artifacts, "bad-input.png"), fullPage: true });
    await context.close();
  },

  /// A link made here opens in a fresh browser context and classifies like the run; damaged, tampered and foreign
  /// links say what is wrong; PEFT files, the merged model and the Python hand-over download; files load back.
  async share(browser, base) {
    const downloads = fs.mkdtempSync(path.join(os.tmpdir(), "peft-lab-share-"));
    const { context, page } = await openPage(browser, base);
    await upload(page, "reviews.csv", sentimentCsv(96));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 24, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3, full: 1e-3 });
    await runCompare(page, 2, 600_000);
    const text = "the food was great and excellent fun";
    const trained = await predictionOf(page, "lora r8", text);

    const links = {};
    await page.click('tr.result-row[data-method="lora r8"] button.share');
    for (const precision of ["int8", "f16"]) {
      if (precision === "f16") {
        await page.selectOption("#share-precision", "f16");
        await page.waitForSelector("#share-status");
      }
      await page.waitForSelector("#share-link", { timeout: 120_000 });
      links[precision] = await page.inputValue("#share-link");
      const check = await page.textContent("#share-check");
      console.log(`  ${precision} link: ${links[precision].length} characters; ${check}`);
      assert(check.includes("same prediction"), `the ${precision} link is checked on the validation split: ${check}`);
      assert(links[precision].includes("?model=fixtures/tiny-bert/#share="), "the link keeps the page's model");
    }
    assert(links.f16.length > links.int8.length, "int8 links are shorter");
    // Full fine-tuning makes a link too long for chat tools: the page says so and offers the files.
    await page.click('tr.result-row[data-method="full"] button.share');
    await page.waitForSelector("#share-warning", { timeout: 120_000 });
    console.log(`  full fine-tuning: ${await page.textContent("#share-size")}; ${await page.textContent("#share-warning")}`);
    assert((await page.textContent("#share-warning")).includes("chat tools"), "long links are flagged");
    const instead = await downloadZip(page, "#share-files-instead", downloads);
    assert(instead.name === "peft-lab-full-adapter.zip", `the files instead of the link: ${instead.name}`);
    await page.screenshot({ path: path.join(artifacts, "share.png"), fullPage: true });

    const peft = await downloadZip(page, 'tr.result-row[data-method="lora r8"] button.peft-files', downloads);
    for (const f of ["adapter_config.json", "adapter_model.safetensors", "peft_lab.json"]) {
      assert(fs.existsSync(path.join(peft.dir, f)), `${peft.name} holds ${f}`);
    }
    assert(JSON.parse(fs.readFileSync(path.join(peft.dir, "adapter_config.json"))).peft_type === "LORA", "peft's config");
    const python = await downloadZip(page, 'tr.result-row[data-method="lora r8"] button.python', downloads);
    const run = JSON.parse(fs.readFileSync(path.join(python.dir, "peft_lab_run.json")));
    assert(fs.existsSync(path.join(python.dir, "train_peft.py")), "the script is in the hand-over");
    assert(run.training.seed === 42 && run.training.max_steps === 24 && run.data.text_column === "text"
      && JSON.stringify(run.labels) === '["neg","pos"]', `the hand-over has the run's settings: ${JSON.stringify(run)}`);
    const merged = await downloadZip(page, "tr.result-row button.merge", downloads);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
      assert(fs.existsSync(path.join(merged.dir, f)), `${merged.name} holds ${f}`);
    }

    // Files saved by peft (no peft_lab.json) load back and classify like the run.
    await page.setInputFiles("#adapter-files", ["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(peft.dir, f)));
    await page.waitForFunction(() => document.querySelector("#import-status")?.textContent.includes("is loaded"), null, { timeout: 60_000 });
    const importedName = (await page.textContent("#import-status")).split(" is loaded")[0];
    const imported = await predictionOf(page, importedName, text);
    // peft's files carry no label names: transformers' LABEL_i in the run's label order.
    assert(imported.label === `LABEL_${["neg", "pos"].indexOf(trained.label)}` && imported.probability === trained.probability,
      `imported files classify like the run: ${JSON.stringify([imported, trained])}`);

    // A fresh context (no stored runs, nothing trained) opens each link and classifies like the run.
    for (const precision of ["f16", "int8"]) {
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
      const other = await fresh.newPage();
      await other.goto(links[precision]);
      await other.waitForSelector("#link-status[data-state=opened]", { timeout: 180_000 });
      assert((await other.textContent(".link-labels")) === "neg, pos", "the link's labels are shown");
      const shared = await predictionOf(other, "lora r8 (shared)", text);
      console.log(`  ${precision} link in a fresh context: ${JSON.stringify(shared)}; the run: ${JSON.stringify(trained)}`);
      // Probabilities are shown in percent with one decimal.
      const tolerance = precision === "f16" ? 0.5 : 3;
      assert(shared.label === trained.label && Math.abs(shared.probability - trained.probability) <= tolerance,
        `the ${precision} link classifies like the run`);
      if (precision === "int8") {
        await other.click("#train-again");
        assert(await other.isChecked("#method-lora input.enable"), "train again ticks the link's method");
        assert(!(await other.isChecked("#method-head input.enable")), "and only it");
        assert((await other.inputValue("#budget")) === "24", "with the link's budget");
        await other.screenshot({ path: path.join(artifacts, "link-opened.png"), fullPage: true });
      }
      await fresh.close();
    }

    // On a page with another model (the default), the link says so; picking the right model's files opens it.
    {
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
      const other = await fresh.newPage();
      await other.goto(links.f16.replace("?model=fixtures/tiny-bert/", ""));
      await other.waitForSelector("#link-status[data-state=failed]", { timeout: 300_000 });
      const message = await other.textContent("#link-status");
      assert(message.includes("was made for the model tiny-bert"), `another model: ${message}`);
      console.log(`  on the default model: ${message}`);
      const tiny = path.join(root, "tests/fixtures/tiny-bert");
      await other.setInputFiles("#link-model-files", ["config.json", "model.safetensors", "tokenizer.json"].map((f) => path.join(tiny, f)));
      await other.waitForSelector("#link-status[data-state=opened]", { timeout: 180_000 });
      const shared = await predictionOf(other, "lora r8 (shared)", text);
      assert(shared.label === trained.label && Math.abs(shared.probability - trained.probability) <= 0.5, "the picked model runs the link");
      await fresh.close();
    }

    // Damaged, tampered and foreign links: a clear message, never a crash; labels are text, not HTML.
    const url = links.int8;
    const parts = decodeLink(url);
    const pageUrl = url.split("#")[0];
    const tampered = (change) => {
      const copy = structuredClone(parts.header);
      change(copy);
      return encodeLink(pageUrl, { version: parts.version, header: copy, data: parts.data });
    };
    const bad = [
      ["truncated", url.slice(0, Math.floor(url.length / 2)), "truncated"],
      ["changed character", url.slice(0, url.length - 40) + "!" + url.slice(url.length - 39), "damaged"],
      ["foreign", `${pageUrl}#share=UEsDBBQAAAAIAA`, "not made by peft-lab"],
      ["newer version", encodeLink(pageUrl, { ...parts, version: 7 }), "version 7"],
      ["other model", tampered((h) => (h.meta.base_model.sha256 = "0".repeat(64))), "was made for the model"],
      ["transposed tensor", tampered((h) => h.tensors[0].shape.reverse()), "do not fit its method"],
      ["longer tensor", tampered((h) => (h.tensors[0].shape = [h.tensors[0].shape[0] + 1, h.tensors[0].shape[1]])), "malformed"],
      ["unknown method", tampered((h) => (h.meta.method.method = "magic")), "header does not parse"],
      ["huge encoder", tampered((h) => (h.meta.method = { method: "prefix", num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 1e9 })), "encoder_hidden_size is 1000000000"],
      ["100,000 labels", tampered((h) => (h.meta.labels = Array.from({ length: 100_000 }, (_, i) => `l${i}`))), "100000 label(s)"],
      ["html label", tampered((h) => (h.meta.labels[0] = '<img src=x onerror="window.pwned=1">')), null],
    ];
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    for (const [name, link, expected] of bad) {
      const other = await fresh.newPage();
      other.on("pageerror", (e) => assert(false, `${name}: page error ${e.message}`));
      await other.goto(link);
      if (expected === null) {
        await other.waitForSelector("#link-status[data-state=opened]", { timeout: 180_000 });
        assert((await other.textContent(".link-labels")).includes("<img"), "the label is shown as text");
        assert(!(await other.$(".link-labels img")) && !(await other.evaluate(() => window.pwned)), "and never as HTML");
        console.log(`  ${name}: shown as text`);
      } else {
        await other.waitForSelector("#link-status[data-state=failed]", { timeout: 180_000 });
        const message = await other.textContent("#link-status");
        assert(message.includes(expected), `${name}: expected "${expected}" in "${message}"`);
        console.log(`  ${name}: ${message}`);
      }
      assert(!(await other.$(".crash")), `${name}: no crash banner`);
      await other.close();
    }
    await fresh.close();

    // A link whose opening stops the worker (simulated: the worker throws as the link arrives) is not opened again
    // by itself, neither after the worker's restart nor after a reload; "Open it again" opens it.
    {
      const { context: tabContext, page: tab } = await openPage(browser, base, { noWebGpu: true, backend: "cpu" });
      const worker = tab.workers().find((w) => w.url().endsWith("worker.js"));
      assert(worker, `the page's worker: ${tab.workers().map((w) => w.url())}`);
      await worker.evaluate(() => {
        const handle = self.onmessage;
        self.onmessage = (event) => {
          if (event.data?.OpenLink) throw new Error("test: this link stops the worker");
          return handle.call(self, event);
        };
      });
      await tab.fill("#open-link", url);
      await tab.click("#open-link-button");
      await tab.waitForSelector("#link-status[data-state=stopped]", { timeout: 60_000 });
      const stopped = await tab.textContent("#link-status");
      assert(stopped.includes("stopped while applying this link") && stopped.includes("this link stops the worker"), `stopped: ${stopped}`);
      await tab.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
      await tab.waitForTimeout(2_000);
      assert((await tab.getAttribute("#link-status", "data-state")) === "stopped", "not opened again after the restart");
      console.log(`  stopped the worker: ${stopped}`);
      await tab.goto(url);
      await tab.reload();
      await tab.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
      await tab.waitForTimeout(2_000);
      const reloaded = await tab.textContent("#link-status[data-state=stopped]");
      assert(reloaded.includes("when this page last opened this link"), `after a reload: ${reloaded}`);
      await tab.click("#open-link-again");
      await tab.waitForSelector("#link-status[data-state=opened]", { timeout: 120_000 });
      console.log(`  after a reload: ${reloaded}; opened on request`);

      // A worker that crashes is restarted with what it held: the link's run, and the adapter files loaded from disk.
      await tab.setInputFiles("#adapter-files", ["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(peft.dir, f)));
      await tab.waitForFunction(() => document.querySelector("#import-status")?.textContent.includes("is loaded"), null, { timeout: 60_000 });
      const files = (await tab.textContent("#import-status")).split(" is loaded")[0];
      const before = [await predictionOf(tab, "lora r8 (shared)", text), await predictionOf(tab, files, text)];
      const current = tab.workers().find((w) => w.url().endsWith("worker.js"));
      await current.evaluate(() => setTimeout(() => { throw new Error("test: the worker stops"); }));
      await tab.waitForFunction(() => document.querySelector("#notices")?.textContent.includes("test: the worker stops"), null, { timeout: 60_000 });
      await tab.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
      const after = [await predictionOf(tab, "lora r8 (shared)", text), await predictionOf(tab, files, text)];
      console.log(`  after the worker's crash: ${JSON.stringify(after)}`);
      assert(JSON.stringify(after) === JSON.stringify(before), `the link's run and the loaded files are back: ${JSON.stringify([before, after])}`);
      await tabContext.close();
    }
    await context.close();
    fs.rmSync(downloads, { recursive: true, force: true });
  },

  /// Every method's card explains itself (diagram, what is frozen, inference cost) and runs on WebGPU.
  async methods(browser, base) {
    const { context, page } = await openPage(browser, base);
    await upload(page, "reviews.csv", sentimentCsv(64));
    await page.waitForSelector("#class-counts");
    const keys = await page.$$eval(".card", (cards) => cards.map((c) => c.id.replace("method-", "")));
    assert(keys.length >= 13, `a card per method, got ${keys.join(", ")}`);
    for (const key of keys) {
      await page.click(`#method-${key} .explain summary`);
      const trained = await page.$$eval(`#method-${key} .method-diagram .trained`, (nodes) => nodes.length);
      const text = await page.textContent(`#method-${key} .explain-body`);
      assert(trained >= 1 && text.includes("Frozen:") && text.includes("At inference:"), `${key}: card explains the method`);
    }
    await page.screenshot({ path: path.join(artifacts, "method-cards.png"), fullPage: true });
    await setBudget(page, { steps: 3, batch: 8, maxLength: 16 });
    await chooseMethods(page, Object.fromEntries(keys.map((k) => [k, 1e-2])));
    const started = Date.now();
    await runCompare(page, keys.length, 1_500_000);
    console.log(`  ${keys.length} methods x 3 steps on SwiftShader: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const rows = await results(page);
    assert(rows.length === keys.length, `${keys.length} result rows, got ${rows.length}`);
    for (const r of rows) {
      assert([r.accuracy, r.valLoss, r.f1, r.msPerStep, r.lossStart, r.lossEnd].every(Number.isFinite), `finite metrics for ${r.method}`);
      console.log(`  ${r.method}: ${r.msPerStep} ms/step, loss ${r.lossStart.toFixed(3)} -> ${r.lossEnd.toFixed(3)}`);
    }
    await page.screenshot({ path: path.join(artifacts, "methods-webgpu.png"), fullPage: true });
    await context.close();
  },

  /// Both backends present (SwiftShader and the wasm CPU): the page times a step on the CPU, leaves the software
  /// adapter untimed (it cannot be faster), trains on the CPU, and the person can override the choice.
  async choice(browser, base) {
    const { context, page } = await openPage(browser, base, { backend: "auto" });
    const timings = await page.textContent("#backend-timings");
    console.log(`  ${await page.textContent("#backend")} | ${timings}`);
    const seconds = (name) => {
      const m = timings.match(new RegExp(`${name} (\\d+) ms/step`));
      return m ? Number(m[1]) : Infinity;
    };
    const [cpu, gpu] = [seconds("CPU"), seconds("WebGPU")];
    assert(Number.isFinite(cpu), `the CPU was timed: ${timings}`);
    // SwiftShader is known to be software: it is not timed, and the line says so.
    assert(!Number.isFinite(gpu) && timings.includes("is a software adapter, slower than the CPU"), `software not timed: ${timings}`);
    const kind = await page.getAttribute("#backend", "data-kind");
    assert(gpu < cpu ? kind === "WebGPU" : kind.startsWith("CPU"), `the faster backend is chosen: ${kind}, ${timings}`);
    if (kind === "WebGPU" && (await page.getAttribute("#backend", "data-software")) === "true") {
      assert((await page.textContent("#backend")).includes("software adapter"), "a software adapter is named");
    }
    assert(!(await page.$("#fallback-notice")), "choosing the faster CPU is not a fallback");
    // With a timed step the plan's time is estimated, and three runs per method fit the tiny model's budget.
    await page.waitForFunction(() => document.querySelector("#plan-estimate")?.textContent.includes("roughly"), null, { timeout: 60_000 });
    assert((await page.inputValue("#runs")) === "3", `three runs by default: ${await page.textContent("#plan-estimate")}`);
    // The person's override: WebGPU, named as the software adapter it is here.
    await page.click("details.model-picker summary");
    await page.selectOption("#backend-choice", "webgpu");
    await page.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
    await page.waitForSelector("#backend[data-kind=WebGPU]");
    assert((await page.getAttribute("#backend", "data-software")) === "true", "SwiftShader is marked as software");
    assert((await page.textContent("#backend")).includes("software adapter"), "SwiftShader is named as software");
    assert(!(await page.$("#backend-timings")), "an override is not timed");
    await page.screenshot({ path: path.join(artifacts, "backend-choice.png"), fullPage: true });
    await context.close();
  },

  /// A real GPU is timed in the background while the page is already usable on the CPU. There is no GPU here: the
  /// test-only `?test-gpu=hardware` times SwiftShader as a GPU would be. A comparison started before the timing ends
  /// runs on the CPU and stops the timing; once it ends the GPU is timed again, and trained on if it is the faster
  /// (which SwiftShader is not: `?test-gpu=faster` has it taken for the faster to test the move).
  async background(browser, base) {
    const { context, page } = await openPage(browser, base, { backend: "auto", query: "&test-gpu=hardware", model: "models/all-MiniLM-L6-v2/" });
    const ready = await page.evaluate(() => performance.getEntriesByName("peft-lab:model-ready")[0]?.startTime / 1000);
    assert((await page.getAttribute("#backend", "data-kind")).startsWith("CPU"), "the page starts on the CPU");
    const waiting = await page.textContent("#backend-timings");
    console.log(`  ready after ${ready.toFixed(1)} s | ${waiting}`);
    assert((await page.getAttribute("#backend-timings", "data-pending")) === "true", `WebGPU is still being timed: ${waiting}`);
    assert(/CPU \d+ ms\/step/.test(waiting) && waiting.includes("WebGPU being timed in the background"), `the line says so: ${waiting}`);
    // Usable meanwhile: a comparison runs, on the CPU, and stops the timing (its work would count in the figure)
    // until it ends.
    await recordTexts(page, "#backend-timings", "timingLines");
    await upload(page, "reviews.csv", sentimentCsv(48));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 100, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3 });
    await runCompare(page, 1, 300_000);
    const ranOn = await page.getAttribute("tr.result-row td[title]", "title");
    assert(ranOn.includes("CPU"), `the run trained on the CPU: ${ranOn}`);
    const stopped = await page.evaluate(() => window.timingLines.some((line) => line.includes("stopped while training runs")));
    assert(stopped, `the timing stopped while the run trained: ${await page.evaluate(() => window.timingLines.join(" | "))}`);
    // Then the timing ends, and the faster backend is the page's.
    await page.waitForSelector("#backend-timings[data-pending=false]", { timeout: 300_000 });
    const timings = await page.textContent("#backend-timings");
    const seconds = (name) => {
      const m = timings.match(new RegExp(`${name} (\\d+) ms/step`));
      return m ? Number(m[1]) : Infinity;
    };
    const [cpu, gpu] = [seconds("CPU"), seconds("WebGPU")];
    const kind = await page.getAttribute("#backend", "data-kind");
    console.log(`  ${kind} | ${timings}`);
    assert(Number.isFinite(cpu), `the CPU's figure stays: ${timings}`);
    assert(gpu < cpu ? kind === "WebGPU" : kind.startsWith("CPU"), `the faster backend is chosen: ${kind}, ${timings}`);
    if (kind === "WebGPU") assert((await page.textContent("#notices")).includes("timed faster than the CPU"), "the switch is said");
    await page.screenshot({ path: path.join(artifacts, "backend-background.png"), fullPage: true });
    await context.close();
    // The move itself (`?test-gpu=faster` takes the adapter for the faster whatever its figure): once timed, the page
    // says so and trains on WebGPU.
    const moving = await openPage(browser, base, { backend: "auto", query: "&test-gpu=faster" });
    assert((await moving.page.getAttribute("#backend", "data-kind")).startsWith("CPU"), "the page starts on the CPU");
    await moving.page.waitForSelector("#backend[data-kind=WebGPU]", { timeout: 300_000 });
    const said = await moving.page.textContent("#notices");
    assert(said.includes("WebGPU was timed faster than the CPU"), `the move is said: ${said}`);
    await upload(moving.page, "reviews.csv", sentimentCsv(48));
    await moving.page.waitForSelector("#class-counts");
    await setBudget(moving.page, { steps: 3, batch: 8, maxLength: 32 });
    await chooseMethods(moving.page, { lora: 5e-3 });
    await runCompare(moving.page, 1, 300_000);
    const movedTo = await moving.page.getAttribute("tr.result-row td[title]", "title");
    console.log(`  moved: ${await moving.page.textContent("#backend-timings")} | the run: ${movedTo}`);
    assert(movedTo.includes("WebGPU"), `the run trained on WebGPU: ${movedTo}`);
    await moving.context.close();
  },

  /// A comparison over seeds on the CPU path: 2 methods x 2 runs with a test part and LoRA's learning rate searched.
  /// The plan is estimated before the run; the summary has intervals and marks, the curves bands; the results download
  /// as JSON (peft's method_comparison fields per run) and CSV; each method has its confusion matrix.
  async seeds(browser, base) {
    const { context, page } = await openPage(browser, base, { noWebGpu: true, query: "&workers=2" });
    await upload(page, "reviews.csv", sentimentCsv(160));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 40, batch: 8, maxLength: 32, runs: 2, test: 25 });
    assert(await page.isChecked("#group-by-length"), "batches are grouped by length by default");
    await chooseMethods(page, { lora: 1e-2, head: 3e-2 });
    await page.check("#method-lora input.search");
    const estimate = await page.textContent("#plan-estimate");
    // 2 x 2 runs of 40 steps and LoRA's search (3 rates on 7 steps, 2 on 14): 160 + 49 steps.
    assert(estimate.includes("2 method(s) × 2 run(s), 209 optimiser steps"), `the plan before the run: ${estimate}`);
    await runCompare(page, 4, 600_000);
    assert((await page.getAttribute("#summary-table", "data-part")) === "test", "the summary reports the test part");
    const summary = await page.$$eval("tr.summary-row", (rows) =>
      rows.map((row) => Object.fromEntries([...row.querySelectorAll("[data-col]")].map((c) => [c.dataset.col, c.textContent]))),
    );
    console.log("  " + JSON.stringify(summary));
    assert(summary.length === 2, `a summary row per method: ${summary.length}`);
    assert(summary[0].lr.endsWith("*") && !summary[1].lr.endsWith("*"), "the searched rate is marked");
    for (const row of summary) {
      assert(/^(best|≈ best|\?|-\d)/.test(row.mark), `a mark: ${row.mark}`);
      const learnt = Number(row.runs.split("/")[0]);
      assert(row.runs.startsWith(`${learnt}/2`), `runs that learnt of 2: ${row.runs}`);
      if (learnt === 2) assert(/^\[\d+\.\d+, \d+\.\d+\]$/.test(row.interval) && row["accuracy-mean"].includes("±"), `an interval: ${JSON.stringify(row)}`);
    }
    assert(summary.some((row) => row.interval !== ""), `some method learnt on both seeds: ${JSON.stringify(summary)}`);
    assert((await page.textContent("#marks-note")).includes("paired t-test"), "the marks are explained");
    const bands = await page.$$eval("#results-section svg path.band", (paths) => paths.length);
    assert(bands >= 2, `bands around the mean curves: ${bands}`);
    assert((await page.$$("#confusion table.confusion")).length === 2, "a confusion matrix per method");
    assert((await page.$$eval("tr.result-row", (rows) => rows.map((r) => r.dataset.seed))).join() === "42,43,42,43", "a row per run and seed");
    const downloads = fs.mkdtempSync(path.join(os.tmpdir(), "peft-lab-results-"));
    const save = async (selector) => {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
      const file = path.join(downloads, download.suggestedFilename());
      await download.saveAs(file);
      return fs.readFileSync(file, "utf8");
    };
    const json = JSON.parse(await save("#download-json"));
    assert(json.comparison.reported_part === "test" && json.comparison.seeds.join() === "42,43", "the JSON's plan");
    const lora = json.methods[0];
    assert(lora.runs.length === 2 && lora.learning_rate_search.Ok.rounds.length === 2, "LoRA's runs and search in the JSON");
    assert(lora.runs[1].run_info.experiment_name === "lora/seed-43" && lora.runs[1].train_info.status === "success", "peft's fields per run");
    assert(lora.runs[0].run_info.train_config.group_by_length === true, "the batch grouping is in the run's settings");
    assert(lora.runs[0].train_info.metrics.at(-1)["test accuracy"] >= 0, "the last metrics entry is the test accuracy");
    const csv = (await save("#download-csv")).trim().split("\n");
    assert(csv.length === 5 && csv[1].startsWith("lora r8,42,"), `a CSV row per run: ${csv.join(" | ")}`);
    await page.click("#confusion summary");
    await page.screenshot({ path: path.join(artifacts, "compare-seeds.png"), fullPage: true });
    fs.rmSync(downloads, { recursive: true, force: true });

    // The comparison as a link: no tensors, short; it opens read-only as the same table, and sets up a rerun.
    await page.click("#share-comparison");
    const link = await page.inputValue("#comparison-link");
    console.log(`  comparison link: ${link.length} characters`);
    assert(link.includes("#compare=") && link.length < 8_000, `a short comparison link: ${link.length}`);
    const other = await context.newPage();
    await other.goto(link);
    await other.waitForSelector("#shared-comparison tr.summary-row");
    const reopened = await other.$$eval("#shared-comparison tr.summary-row", (rows) =>
      rows.map((row) => Object.fromEntries([...row.querySelectorAll("[data-col]")].map((c) => [c.dataset.col, c.textContent]))),
    );
    assert(JSON.stringify(reopened) === JSON.stringify(summary), `the same table: ${JSON.stringify(reopened)}`);
    assert((await other.$$("#shared-comparison svg path.band")).length >= 2, "the same bands");
    assert(!(await other.$("#shared-comparison #download-json")), "a shared comparison is read-only");
    await other.screenshot({ path: path.join(artifacts, "shared-comparison.png"), fullPage: true });
    await other.click("#run-shared-comparison");
    assert((await other.inputValue("#runs")) === "2" && (await other.inputValue("#test-percent")) === "25", "the plan's runs and test part");
    assert(await other.isChecked("#method-lora input.search"), "LoRA's search is set");
    assert(!(await other.isChecked("#method-prefix input.enable")), "only the plan's methods");
    // A damaged comparison link says so; the page still works.
    const damaged = await context.newPage();
    await damaged.goto(link.slice(0, link.length - 40));
    await damaged.waitForSelector("#shared-comparison-error");
    const message = await damaged.textContent("#shared-comparison-error");
    assert(message.includes("truncated"), `a truncated link is named: ${message}`);
    await damaged.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
    await context.close();
  },

  /// No WebGPU: the notice shows and the CPU backend trains every method, two at a time in helper workers, with
  /// the same results (dropout on) as one worker training them one after another; "try it" has every method.
  /// A slow answer for an earlier dataset is not shown for the current one: the token summary of a large file is still
  /// being counted when a small one replaces it.
  async stale(browser, base) {
    const { context, page } = await openPage(browser, base, { noWebGpu: true });
    await recordTexts(page, "#summary", "summaries");
    const long = sentimentCsv(20_000).replaceAll("the food was", "the food that we ate there on a long evening was");
    await upload(page, "large.csv", long);
    await page.waitForSelector("#class-counts");
    await page.evaluate(() => (window.summaries = []));
    await upload(page, "small.csv", sentimentCsv(40));
    await page.waitForFunction(() => document.querySelector("#summary")?.textContent.includes("of 40 texts"), null, { timeout: 60_000 });
    await page.waitForTimeout(3000);
    const seen = await page.evaluate(() => window.summaries);
    console.log(`  summaries shown after the small file: ${JSON.stringify(seen)}`);
    assert(seen.every((text) => text.includes("of 40 texts")), `only the small file's summary is shown: ${JSON.stringify(seen)}`);
    await context.close();
  },

  /// A reload mid-comparison goes on with it, in one worker and in two helpers (each reads its own run's checkpoint).
  async resume(browser, base) {
    for (const workers of [1, 2]) await resumeWith(browser, base, workers);
  },

  /// Two tabs of the page: a run finished in one shows in the other; "Clear stored runs" asks first, says what it
  /// removes, and clears both; a comparison running in one tab is not resumed by another opened meanwhile.
  async tabs(browser, base) {
    const { context, page } = await openPage(browser, base, { noWebGpu: true, query: "&workers=1" });
    const other = await context.newPage();
    await other.goto(page.url());
    await other.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
    await upload(page, "reviews.csv", sentimentCsv(64));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 24, batch: 8, maxLength: 32 });
    await chooseMethods(page, { head: 3e-2 });
    await runCompare(page, 1, 300_000);
    await other.waitForSelector("tr.result-row", { timeout: 30_000 });
    let asked = "";
    other.once("dialog", (dialog) => {
      asked = dialog.message();
      dialog.dismiss();
    });
    await other.click("#clear");
    assert(asked.includes("Remove the 1 stored run(s) of 1 comparison(s)"), `the question names what goes: ${asked}`);
    assert((await other.$$("tr.result-row")).length === 1, "declined: the run stays");
    other.once("dialog", (dialog) => dialog.accept());
    await other.click("#clear");
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 0, null, { timeout: 30_000 });

    // A third tab opened while the first runs a comparison leaves it to the first.
    await setBudget(page, { steps: 3000, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3 });
    await page.click("#compare");
    await page.waitForSelector("#progress .saved", { timeout: 120_000 });
    const third = await context.newPage();
    await third.goto(page.url());
    await third.waitForSelector("#model[data-state=ready]", { timeout: 120_000 });
    await third.waitForFunction(() => document.querySelector("#notices")?.textContent.includes("is running in another tab"), null, { timeout: 30_000 });
    assert(!(await third.$("#progress")), "the third tab trains nothing");
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 1 && !document.querySelector("#progress"), null, {
      timeout: 300_000,
      polling: 500,
    });
    await third.waitForSelector("tr.result-row", { timeout: 30_000 });
    await context.close();
  },

  /// A batch too big for a worker's memory is refused before anything trains, with the largest batch that fits (from
  /// the engine's estimate); that batch then trains. MiniLM at 512 tokens, on the CPU.
  async memory(browser, base) {
    const { context, page } = await openPage(browser, base, { noWebGpu: true, backend: "cpu", model: "models/all-MiniLM-L6-v2/" });
    // Texts longer than 512 tokens, so that the batches are as large as the estimate assumes.
    const long = sentimentCsv(40).split("\n").map((line, i) => (i === 0 || !line ? line : line.replace("the food was", "the food was ".repeat(120))));
    await upload(page, "reviews.csv", long.join("\n"));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 2, batch: 256, maxLength: 512 });
    await chooseMethods(page, { lora: 5e-3 });
    await page.click("#compare");
    await page.waitForSelector("#compare-error");
    const refused = await page.textContent("#compare-error");
    console.log(`  ${refused}`);
    const fits = refused.match(/needs about .* a batch of (\d+) fits/);
    assert(fits, `refused with a batch that fits: ${refused}`);
    assert(!(await page.$("#progress")), "nothing started");
    await page.fill("#batch-size", fits[1]);
    await runCompare(page, 1, 300_000);
    await context.close();
  },

  /// A lost GPU (the test-only message LoseGpuForTest destroys the worker's WebGPU device, as a driver reset would)
  /// mid-run: the page says so and the run finishes on the CPU from its last stored checkpoint.
  async gpulost(browser, base) {
    const { context, page } = await openPage(browser, base);
    await page.waitForSelector("#backend[data-kind=WebGPU]");
    await upload(page, "reviews.csv", sentimentCsv(96));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 30, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3 });
    await page.click("#compare");
    await page.waitForSelector("#progress .saved", { timeout: 300_000 });
    const saved = Number(await page.getAttribute("#progress .saved", "data-step"));
    const worker = page.workers().find((w) => w.url().endsWith("worker.js"));
    await worker.evaluate(() => self.onmessage(new MessageEvent("message", { data: "LoseGpuForTest" })));
    await page.waitForFunction(() => document.querySelector("#notices")?.textContent.includes("The GPU was lost"), null, { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelector("#backend")?.dataset.kind?.startsWith("CPU"), null, { timeout: 120_000 });
    await page.waitForSelector("#progress .resumed", { timeout: 120_000 });
    const resumedFrom = Number(await page.getAttribute("#progress .resumed", "data-step"));
    await page.waitForFunction(() => document.querySelectorAll("tr.result-row").length === 1 && !document.querySelector("#progress"), null, { timeout: 300_000 });
    const failures = await page.$$eval("#failures li", (items) => items.map((i) => i.textContent));
    assert(failures.length === 0, `nothing failed: ${failures.join("; ")}`);
    const notice = await page.textContent("#notices");
    console.log(`  lost after the checkpoint at step ${saved}; went on from step ${resumedFrom} on the CPU; ${notice}`);
    assert(resumedFrom >= saved && resumedFrom < 30, `the run went on from its last checkpoint (${resumedFrom}, saved ${saved})`);
    assert(Number(await page.getAttribute("tr.result-row", "data-loss-end")) > 0, "the run finished");
    await page.screenshot({ path: path.join(artifacts, "gpu-lost.png"), fullPage: true });
    await context.close();
  },

  /// Storage refused (the test-only `?test-storage=off`, as in a private window without storage): the page says so at
  /// once, the comparison still runs, its rows say they are not stored, and they download as one zip.
  async storage(browser, base) {
    const downloads = fs.mkdtempSync(path.join(os.tmpdir(), "peft-lab-storage-"));
    const { context, page } = await openPage(browser, base, { noWebGpu: true, backend: "cpu", query: "&test-storage=off" });
    await page.waitForFunction(() => document.querySelector("#notices")?.textContent.includes("keeps nothing"), null, { timeout: 30_000 });
    await upload(page, "reviews.csv", sentimentCsv(64));
    await page.waitForSelector("#class-counts");
    await setBudget(page, { steps: 8, batch: 8, maxLength: 32 });
    await chooseMethods(page, { lora: 5e-3, head: 1e-2 });
    await runCompare(page, 2, 300_000);
    const notStored = await page.$$eval("tr.result-row .not-stored", (marks) => marks.length);
    assert(notStored === 2, `both rows say they are not stored: ${notStored}`);
    assert((await page.getAttribute("#unsaved", "data-runs")) === "2", "the runs not stored are offered");
    assert(await page.$("#download-json"), "the results' own downloads are offered too");
    const notices = await page.textContent("#notices");
    assert(notices.includes("could not be stored in the browser"), `a finished run says it was not stored: ${notices}`);
    await page.screenshot({ path: path.join(artifacts, "storage.png"), fullPage: true });
    const zip = await downloadZip(page, "#download-unsaved", downloads);
    assert(zip.name === "peft-lab-runs.zip", `the runs' zip: ${zip.name}`);
    const figures = JSON.parse(fs.readFileSync(path.join(zip.dir, "runs.json")));
    assert(figures.length === 2 && figures.every((f) => f.result.losses.length === 8), `runs.json has both runs' figures`);
    for (const folder of ["peft-lab-lora-r8-seed42", "peft-lab-head-seed42"]) {
      const config = path.join(zip.dir, folder, "adapter_config.json");
      assert(fs.existsSync(config) && fs.existsSync(path.join(zip.dir, folder, "adapter_model.safetensors")), `${folder} holds the PEFT files`);
    }
    console.log(`  ${notStored} runs not stored, downloaded: ${fs.readdirSync(zip.dir).join(", ")}`);
    await context.close();
    fs.rmSync(downloads, { recursive: true, force: true });
  },

  async cpu(browser, base) {
    const compare = async (workers) => {
      const query = `&workers=${workers}`;
      const { context, page } = await openPage(browser, base, { noWebGpu: true, query, model: "tiny-bert-dropout" });
      await page.waitForSelector("#fallback-notice");
      assert((await page.getAttribute("#backend", "data-kind")).startsWith("CPU"), "the CPU backend is used");
      await upload(page, "reviews.csv", sentimentCsv(64));
      await page.waitForSelector("#class-counts");
      // Nothing was timed (no WebGPU, so no choice to make): one run per method, and the page says why.
      const estimate = await page.textContent("#plan-estimate");
      assert((await page.inputValue("#runs")) === "1" && estimate.includes("not known before the first steps"), `one run: ${estimate}`);
      await setBudget(page, { steps: 24, batch: 8, maxLength: 32 });
      const keys = await page.$$eval(".card", (cards) => cards.map((c) => c.id.replace("method-", "")));
      await chooseMethods(page, Object.fromEntries(keys.map((k) => [k, k === "full" ? 1e-3 : 1e-2])));
      await page.evaluate(() => {
        window.mostRunning = 0;
        const count = () => document.querySelectorAll("#progress ul.running li").length;
        new MutationObserver(() => (window.mostRunning = Math.max(window.mostRunning, count()))).observe(document.body, {
          childList: true,
          subtree: true,
        });
      });
      await runCompare(page, keys.length, 600_000);
      const mostRunning = await page.evaluate(() => window.mostRunning);
      assert(mostRunning === workers, `${workers} worker(s) trained ${mostRunning} method(s) at once`);
      const rows = await results(page);
      for (const row of rows) {
        assert(Number.isFinite(row.accuracy) && row.lossEnd < row.lossStart, `CPU run trained: ${JSON.stringify(row)}`);
        // 12 balanced validation examples: two standard errors above the majority's 50 % is 78.9 %.
        assert(row.atChance === row.accuracy < 78.9, `a run at chance is flagged on its row: ${JSON.stringify(row)}`);
      }
      await page.fill("#try-text", "the food was great and fun");
      await page.click("#try");
      await page.waitForFunction((n) => document.querySelectorAll("tr.prediction").length === n, keys.length, { timeout: 60_000 });
      if (workers > 1) await page.screenshot({ path: path.join(artifacts, "compare-cpu.png"), fullPage: true });
      await context.close();
      return Object.fromEntries(rows.map(({ msPerStep, ...row }) => [row.method, row]));
    };
    const parallel = await compare(2);
    const sequential = await compare(1);
    for (const [method, row] of Object.entries(sequential)) {
      console.log("  " + JSON.stringify(row));
      assert(
        JSON.stringify(parallel[method]) === JSON.stringify(row),
        `${method}: the same result in parallel workers (${JSON.stringify(parallel[method])}) as in one (${JSON.stringify(row)})`,
      );
    }
  },
};

const server = await serve(site);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
let failed = 0;
for (const [name, test] of Object.entries(tests)) {
  if (only.length && !only.includes(name)) continue;
  const started = Date.now();
  console.log(`browser test ${name}`);
  try {
    await test(browser, base);
    console.log(`ok ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAILED ${name}: ${e.stack ?? e}`);
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        await page.screenshot({ path: path.join(artifacts, `failed-${name}.png`), fullPage: true }).catch(() => {});
        console.log((page.log ?? []).slice(-30).join("\n"));
      }
      await context.close();
    }
  }
}
await browser.close();
server.close();
process.exit(failed ? 1 : 0);
