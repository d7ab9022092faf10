// Drive Debian's headless Chromium through bench.mjs:  node drive.mjs URL INPUT.json
// INPUT.json: {"shape": [1,H,W,C], "images": [[...], ...], "runtimes": [...], "loads": N, "runs": M,
//              "network": Network.emulateNetworkConditions' latency and throughputs}
// Prints JSON: per runtime, each cold load's time and bytes fetched, the logits of every
// image (batch 1), and the latency of M calls on the first image.
import { readFile } from "node:fs/promises";
import puppeteer from "puppeteer-core";

const [url, inputPath] = process.argv.slice(2);
const input = JSON.parse(await readFile(inputPath, "utf8"));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});

async function coldLoad(runtime, network) {
  const context = await browser.createBrowserContext(); // empty cache, like a first visit
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  const files = new Map();
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  if (network) await cdp.send("Network.emulateNetworkConditions", { offline: false, ...network });
  cdp.on("Network.responseReceived", ({ requestId, response }) => files.set(requestId, { url: response.url, bytes: 0 }));
  cdp.on("Network.loadingFinished", ({ requestId, encodedDataLength }) => {
    if (files.has(requestId)) files.get(requestId).bytes = encodedDataLength;
  });
  const t0 = Date.now();
  await page.goto(`${url}?runtime=${runtime}&shape=${input.shape.join(",")}`);
  await page.waitForFunction(() => window.bench || document.querySelector("[data-error]"), { timeout: 120_000 }).catch(() => {});
  const wallMs = Date.now() - t0;
  const loadMs = await page.evaluate(() => window.bench?.loadMs ?? null);
  if (loadMs === null) throw new Error(`${runtime} did not load: ${problems.join("; ")}`);
  const fetched = [...files.values()].map(({ url: u, bytes }) => ({ path: new URL(u).pathname, bytes }));
  return { page, context, loadMs, wallMs, fetched, problems };
}

const results = {};
for (const runtime of input.runtimes) results[runtime] = { loads: [] };
for (let round = 0; round < input.loads; round += 1) {
  for (const runtime of input.runtimes) { // interleaved, so drift hits both alike
    const load = await coldLoad(runtime);
    const entry = results[runtime];
    entry.loads.push({ loadMs: load.loadMs, wallMs: load.wallMs,
      bytes: load.fetched.reduce((sum, f) => sum + f.bytes, 0) });
    if (round === 0) {
      entry.fetched = load.fetched;
      entry.backend = await load.page.evaluate(() => window.bench.backend);
      entry.logits = await load.page.evaluate((images) => window.bench.classify(images), input.images);
      entry.latencyMs = await load.page.evaluate((image, runs) => window.bench.latency(image, runs), input.images[0], input.runs);
      entry.problems = load.problems;
    }
    await load.context.close();
  }
}
// One more cold load each over a home connection (no compression: http.server sends none).
for (const runtime of input.runtimes) {
  const load = await coldLoad(runtime, input.network);
  results[runtime].networkLoadMs = load.loadMs;
  await load.context.close();
}
await browser.close();
console.log(JSON.stringify(results));
