// The page's logic, the same for every framework: draw, choose or drop an image, turn it
// into the model's input exactly as Python does (preprocess.js), run the model in the
// browser and show the top 3 classes. A chosen or dropped image replaces the drawing with
// the image the model sees (cropped and resized). artifacts/manifest.json (written by export)
// gives the input shape, layout and classes, and the page's words come from those classes;
// `python -m {{ cookiecutter.package_name }}.web` serves the
// page with the artifacts folder beside it.
import { loadModel } from "./model.js";
import { decodeFile, inputSpec, toModelInput, toRgba } from "./preprocess.js";

const artifactsUrl = "artifacts";
const status = document.querySelector("#status");
const canvas = document.querySelector("#pad");
const pen = canvas.getContext("2d", { willReadFrequently: true });

function clearPad() {
  pen.fillStyle = "black";
  pen.fillRect(0, 0, canvas.width, canvas.height);
}

/** The model's input drawn over the whole pad, each input pixel a square: what it sees. */
function showOnPad(pixels, spec) {
  const view = new OffscreenCanvas(spec.size, spec.size);
  view.getContext("2d").putImageData(new ImageData(toRgba(pixels, spec), spec.size), 0, 0);
  pen.imageSmoothingEnabled = false;
  pen.drawImage(view, 0, 0, canvas.width, canvas.height);
  pen.imageSmoothingEnabled = true;
}

/** The model's classes in a sentence: all of them, or the first ten and how many in all. */
function describe(classes) {
  const named = classes.length > 12 ? [...classes.slice(0, 10), "…"] : classes;
  return `${classes.length} classes: ${named.join(", ")}`;
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = logits.map((value) => Math.exp(value - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}

/** The top 3 classes; #result keeps the input and logits for tests and the curious. */
function show(logits, classes, source, pixels) {
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
  result.dataset.input = JSON.stringify(Array.from(pixels));
  result.dataset.source = source;
  result.dataset.count = String(Number(result.dataset.count ?? 0) + 1);
}

/** Draw with the pointer; each finished stroke calls done(). */
function drawOnPad(done) {
  let drawing = false;
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    pen.beginPath();
    pen.moveTo(event.offsetX, event.offsetY);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    pen.lineTo(event.offsetX, event.offsetY);
    pen.stroke();
  });
  window.addEventListener("pointerup", () => { if (drawing) { drawing = false; done(); } });
  document.querySelector("#clear").addEventListener("click", clearPad);
}

/** A chosen file (the file input) or one dropped anywhere on the page calls done(file). */
function takeFiles(done) {
  document.querySelector("#file").addEventListener("change", (event) => {
    if (event.target.files[0]) done(event.target.files[0]);
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) done(file);
  });
}

async function main() {
  const manifest = await (await fetch(`${artifactsUrl}/manifest.json`)).json();
  const spec = inputSpec(manifest);
  const run = await loadModel(manifest, artifactsUrl);
  const classify = async (image, source) => {
    const pixels = toModelInput(image, spec);
    if (source !== "drawing") showOnPad(pixels, spec);
    show(await run(pixels, spec.dims), manifest.classes, source, pixels);
  };
  drawOnPad(() => classify(pen.getImageData(0, 0, canvas.width, canvas.height), "drawing"));
  takeFiles(async (file) => {
    try {
      await classify(await decodeFile(file), file.name);
    } catch (error) { // not an image the browser can decode
      status.textContent = `Cannot read ${file.name} as an image: ${error.message}`;
    }
  });
  status.textContent = `Model ready. It tells apart ${describe(manifest.classes)}. Draw one, or choose or drop an image.`;
  status.dataset.ready = "true";
}

clearPad();
pen.strokeStyle = "white";
pen.lineWidth = 28; // one pixel of an 8x8 input, like the strokes in the bundled digits
pen.lineCap = "round";
main().catch((error) => {
  status.textContent = `Could not load the model: ${error.message}. Export first, then start the page with python -m {{ cookiecutter.package_name }}.web (see README).`;
  status.dataset.error = String(error);
});
