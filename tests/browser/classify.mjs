// Feed images through a generated project's web page in headless Chromium (Debian's,
// not a downloaded one) and print, as JSON, the model input and logits the page computed,
// the pad's pixels after each image, the page's status text and the artifacts it fetched.
// Each image is chosen with the file input, except the last, which is dropped on the page.
//   node classify.mjs URL SCREENSHOT.png IMAGE...
import { readFile } from "node:fs/promises";
import path from "node:path";
import puppeteer from "puppeteer-core";

/** Drop a file on the page as a person dragging it from their file manager would. */
async function dropFile(page, file) {
  const bytes = [...(await readFile(file))];
  const name = path.basename(file);
  const type = `image/${path.extname(file).slice(1).replace("jpg", "jpeg")}`;
  await page.evaluate((data, fileName, fileType) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], fileName, { type: fileType }));
    document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
  }, bytes, name, type);
}

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
  const fetched = [];
  page.on("request", (request) => {
    const { pathname } = new URL(request.url());
    if (pathname.startsWith("/artifacts/")) fetched.push(pathname.slice("/artifacts/".length));
  });
  await page.setViewport({ width: 800, height: 900 });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#status[data-ready], #status[data-error]", { timeout: 60_000 });
  const failure = await page.$eval("#status", (el) => el.dataset.error ?? null);
  if (failure) throw new Error(`the page could not load its model: ${failure}`);
  const status = await page.$eval("#status", (el) => el.textContent);
  const results = [];
  for (const [index, image] of images.entries()) {
    if (index === images.length - 1) await dropFile(page, image);
    else await (await page.$("#file")).uploadFile(image);
    await page.waitForSelector(`#result[data-count="${index + 1}"]`, { timeout: 30_000 });
    results.push(await page.$eval("#result", (el) => ({
      logits: JSON.parse(el.dataset.logits), input: JSON.parse(el.dataset.input) })));
    // The pad as a person sees it now: [height, width, RGBA pixels].
    results.at(-1).pad = await page.$eval("#pad", (pad) => [pad.height, pad.width,
      Array.from(pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data)]);
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
  const text = await page.$eval("body", (body) => body.innerText);
  console.log(JSON.stringify({ images: results, drawing_top3: top3, problems, status, text,
    fetched }));
} finally {
  await browser.close();
}
