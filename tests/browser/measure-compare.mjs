// Times a whole comparison in headless chromium on the wasm CPU path with the embedded MiniLM: LoRA, prefix,
// P-tuning v2, head and full fine-tuning, at their default learning rates, on the Yelp sample the page opens with,
// from the click on Compare to the last result. Once per worker count (?workers=N: units trained at once) and runs per
// method (seeds; the page's default test part of 20 % is kept). Prints one JSON object per combination, with the
// summary's mean accuracy per method. Not a test: scripts/measure-web.sh runs it.
//
//   node tests/browser/measure-compare.mjs <site dir> <"default" | steps per method> <worker counts, e.g. "1 2">
//     [runs per method, e.g. "1 3"]

import path from "node:path";
import { launch, serve } from "./harness.mjs";

const site = path.resolve(process.argv[2] ?? "dist");
const budget = process.argv[3] ?? "default";
const workerCounts = (process.argv[4] ?? "1 2").split(/\s+/).filter(Boolean).map(Number);
const runCounts = (process.argv[5] ?? "1").split(/\s+/).filter(Boolean).map(Number);
const METHODS = ["lora", "prefix", "ptuning-v2", "head", "full"];

const server = await serve(site);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
for (const workers of workerCounts) for (const runs of runCounts) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${base}/?backend=cpu&workers=${workers}`);
  await page.waitForSelector("#model[data-state=ready]", { timeout: 600_000 });
  await page.waitForSelector("#class-counts", { timeout: 120_000 });
  if (budget !== "default") {
    await page.selectOption("#budget-kind", "steps");
    await page.fill("#budget", budget);
  }
  await page.fill("#runs", String(runs));
  for (const card of await page.$$(".card")) {
    const wanted = METHODS.includes((await card.getAttribute("id")).replace("method-", ""));
    const enable = await card.$("input.enable");
    if ((await enable.isChecked()) !== wanted) await enable.click();
  }
  const started = Date.now();
  await page.click("#compare");
  await page.waitForFunction(
    (n) => document.querySelectorAll("tr.result-row").length >= n && !document.querySelector("#progress"),
    METHODS.length * runs,
    { timeout: 7_200_000, polling: 1000 },
  );
  const seconds = (Date.now() - started) / 1000;
  const failures = await page.$$eval("#failures li", (items) => items.map((i) => i.textContent));
  const rows = await page.$$eval("tr.summary-row", (rows) =>
    rows.map((r) => [r.dataset.method, r.querySelector("[data-col=accuracy-mean]").textContent]),
  );
  const part = await page.getAttribute("#summary-table", "data-part");
  console.log(JSON.stringify({ workers, runs, budget, methods: METHODS, comparison_seconds: seconds, [`${part}_accuracy`]: Object.fromEntries(rows), failures }));
  await context.close();
}
await browser.close();
server.close();
