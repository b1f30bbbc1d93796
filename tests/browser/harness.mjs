// What the browser tests and the measurements share: a static server for the built site (plus the test fixtures'
// tiny BERT, dropout off) and Debian's chromium with WebGPU on.

import { chromium } from "playwright-core";
import { execSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
  ".json": "application/json",
  ".png": "image/png",
};

export function serve(site) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let file;
    // /fixtures/tiny-bert/ has dropout off (curves comparable across backends); /fixtures/tiny-bert-dropout/ is the
    // checkpoint as it is, dropout 0.1.
    const fixture = url.pathname.match(/^\/fixtures\/tiny-bert(-dropout)?\//);
    // The tiny random decoders (tests/fixtures/decoders), as they are.
    const decoders = url.pathname.match(/^\/fixtures\/decoders\/([\w.-]+)$/);
    if (decoders) {
      file = path.join(root, "tests/fixtures/decoders", decoders[1]);
    } else if (fixture) {
      const name = path.basename(url.pathname);
      file = path.join(root, "tests/fixtures/tiny-bert", name);
      if (name === "config.json" && !fixture[1]) {
        const config = JSON.parse(fs.readFileSync(file, "utf8"));
        config.hidden_dropout_prob = 0;
        config.attention_probs_dropout_prob = 0;
        res.writeHead(200, { "content-type": TYPES[".json"] });
        return res.end(JSON.stringify(config));
      }
    } else {
      file = path.join(site, decodeURIComponent(url.pathname));
      if (url.pathname.endsWith("/")) file = path.join(file, "index.html");
      if (!file.startsWith(site)) file = "";
    }
    fs.stat(file, (err, stat) => {
      if (err || !stat.isFile()) {
        res.writeHead(404);
        return res.end("not found");
      }
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "content-length": stat.size,
      });
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

// CHROMIUM_EXTRA_FLAGS (space-separated) adds flags, e.g. V8's --perf-basic-prof for scripts/profile-web.sh.
export async function launch() {
  const executablePath = execSync("command -v chromium", { shell: "/bin/bash" }).toString().trim();
  const extra = (process.env.CHROMIUM_EXTRA_FLAGS ?? "").split(" ").filter(Boolean);
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_FLAGS, ...extra] });
}

