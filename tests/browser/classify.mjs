// Feed images through a generated project's web page in headless Chromium (Debian's,
// not a downloaded one) and print the logits the page computed, as JSON.
//   node classify.mjs URL SCREENSHOT.png IMAGE...
import puppeteer from "puppeteer-core";

const [url, screenshot, ...images] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.setViewport({ width: 800, height: 900 });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#status[data-ready], #status[data-error]", { timeout: 60_000 });
  const failure = await page.$eval("#status", (el) => el.dataset.error ?? null);
  if (failure) throw new Error(`the page could not load its model: ${failure}`);
  const results = [];
  for (const [index, image] of images.entries()) {
    await (await page.$("#file")).uploadFile(image);
    await page.waitForSelector(`#result[data-count="${index + 1}"]`, { timeout: 30_000 });
    results.push(await page.$eval("#result", (el) => JSON.parse(el.dataset.logits)));
  }
  // Draw a stroke too, as a person would, so the screenshot shows the pad in use.
  const pad = await (await page.$("#pad")).boundingBox();
  await page.mouse.move(pad.x + 112, pad.y + 40);
  await page.mouse.down();
  await page.mouse.move(pad.x + 112, pad.y + 190, { steps: 12 });
  await page.mouse.up();
  await page.waitForSelector(`#result[data-count="${images.length + 1}"]`, { timeout: 30_000 });
  const top3 = await page.$$eval("#top3 li", (items) => items.map((li) => li.textContent));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ logits: results, drawing_top3: top3, problems }));
} finally {
  await browser.close();
}
