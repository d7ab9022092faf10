// The page's logic, the same for every framework: draw or drop an image, turn it into
// the model's input exactly as Python does (grayscale, box-averaged to the model's size,
// raw 0-255 values), run the model in the browser and show the top 3 classes.
// artifacts/manifest.json (written by export) gives the input shape, layout and classes;
// `python -m {{ cookiecutter.package_name }}.web` serves the page with the artifacts folder beside it.
import { loadModel } from "./model.js";

const artifactsUrl = "artifacts";
const status = document.querySelector("#status");
const canvas = document.querySelector("#pad");
const pen = canvas.getContext("2d", { willReadFrequently: true });

function clearPad() {
  pen.fillStyle = "black";
  pen.fillRect(0, 0, canvas.width, canvas.height);
}

/** Gray levels (0-255) of RGBA pixels, weighted as Pillow's convert("L") does. */
function grayLevels(rgba) {
  const gray = new Float64Array(rgba.length / 4);
  for (let i = 0; i < gray.length; i += 1) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    gray[i] = Math.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536);
  }
  return gray;
}

/** Average (width x height) gray levels down to size x size boxes, as Pillow's BOX filter. */
function boxDownscale(gray, width, height, size) {
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      const [x0, x1] = [Math.floor((x * width) / size), Math.floor(((x + 1) * width) / size)];
      const [y0, y1] = [Math.floor((y * height) / size), Math.floor(((y + 1) * height) / size)];
      let total = 0;
      for (let yy = y0; yy < y1; yy += 1) {
        for (let xx = x0; xx < x1; xx += 1) total += gray[yy * width + xx];
      }
      out[y * size + x] = Math.round(total / ((x1 - x0) * (y1 - y0)));
    }
  }
  return out;
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = logits.map((value) => Math.exp(value - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}

function show(logits, classes, source) {
  const probabilities = softmax(Array.from(logits));
  const ranked = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
  const list = document.querySelector("#top3");
  list.replaceChildren(...ranked.map(([p, i]) => {
    const item = document.createElement("li");
    item.textContent = `${classes[i]} — ${(100 * p).toFixed(1)} %`;
    item.dataset.label = classes[i];
    return item;
  }));
  const result = document.querySelector("#result");
  result.dataset.logits = JSON.stringify(Array.from(logits));
  result.dataset.source = source;
  result.dataset.count = String(Number(result.dataset.count ?? 0) + 1);
}

async function main() {
  const manifest = await (await fetch(`${artifactsUrl}/manifest.json`)).json();
  const [, ...dims] = manifest.input.shape; // without the batch axis
  const size = dims.find((d) => d !== 1);
  const run = await loadModel(manifest, artifactsUrl);
  const classify = async (gray, width, height, source) => {
    const pixels = boxDownscale(gray, width, height, size);
    show(await run(pixels, [1, ...dims]), manifest.classes, source);
  };
  const fromPad = () => {
    const { data } = pen.getImageData(0, 0, canvas.width, canvas.height);
    return classify(grayLevels(data), canvas.width, canvas.height, "drawing");
  };

  let drawing = false;
  canvas.addEventListener("pointerdown", (event) => { drawing = true; pen.beginPath(); pen.moveTo(event.offsetX, event.offsetY); });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    pen.lineTo(event.offsetX, event.offsetY);
    pen.stroke();
  });
  window.addEventListener("pointerup", () => { if (drawing) { drawing = false; fromPad(); } });
  document.querySelector("#clear").addEventListener("click", clearPad);
  document.querySelector("#file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const image = await createImageBitmap(file);
    const scratch = new OffscreenCanvas(image.width, image.height).getContext("2d");
    scratch.drawImage(image, 0, 0);
    const { data } = scratch.getImageData(0, 0, image.width, image.height);
    await classify(grayLevels(data), image.width, image.height, file.name);
  });
  status.textContent = "Model ready. Draw a digit, or choose an image.";
  status.dataset.ready = "true";
}

clearPad();
pen.strokeStyle = "white";
pen.lineWidth = 28; // one pixel of the 8x8 input, like the strokes in the training data
pen.lineCap = "round";
main().catch((error) => {
  status.textContent = `Could not load the model: ${error.message}. Export first, then start the page with python -m {{ cookiecutter.package_name }}.web (see README).`;
  status.dataset.error = String(error);
});
