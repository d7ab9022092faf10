// The page side of bench/web_runtimes.py: load one runtime and the model, then expose
// window.bench = { loadMs, backend, classify(images), latency(image, runs) }.
const query = new URLSearchParams(location.search);
const runtime = query.get("runtime");
const dims = query.get("shape").split(",").map(Number); // batch 1, as the page runs
const started = performance.now();

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src });
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
}

async function tfjsRunner() {
  await loadScript("./node_modules/@tensorflow/tfjs/dist/tf.min.js");
  const tf = window.tf;
  await tf.ready();
  const model = await tf.loadGraphModel("artifacts/tfjs/model.json");
  const run = async (pixels, dims) => {
    const logits = model.predict(tf.tensor(pixels, dims, "float32"));
    const values = await logits.data();
    logits.dispose();
    return values;
  };
  return { run, backend: `tfjs ${tf.getBackend()}` };
}

async function litertRunner() {
  const litert = await import("@litertjs/core");
  // LiteRT's native log lines would go to console.error: Emscripten's Module.printErr sends
  // them to console.debug instead (LiteRT.js hands self.Module to its wasm loader).
  self.Module = { printErr: (line) => console.debug(line) };
  await litert.loadLiteRt(new URL("./node_modules/@litertjs/core/wasm/", location.href).href);
  const model = await litert.loadAndCompile("artifacts/model_web.tflite", { accelerator: "wasm" });
  const run = async (pixels, dims) => {
    const input = new litert.Tensor(pixels, dims);
    const [output] = await model.run(input);
    const values = output.toTypedArray().slice();
    input.delete();
    output.delete();
    return values;
  };
  return { run, backend: "litert.js wasm" };
}

const { run, backend } = await (runtime === "tfjs" ? tfjsRunner() : litertRunner());
await run(new Float32Array(dims.reduce((a, b) => a * b)), dims); // first call compiles kernels: part of the load
window.bench = {
  loadMs: performance.now() - started,
  backend,
  async classify(images) {
    const logits = [];
    for (const image of images) logits.push(Array.from(await run(Float32Array.from(image), dims)));
    return logits;
  },
  async latency(image, runs) {
    const pixels = Float32Array.from(image);
    const times = [];
    for (let i = 0; i < runs; i += 1) {
      const t0 = performance.now();
      await run(pixels, dims);
      times.push(performance.now() - t0);
    }
    return times;
  },
};
document.querySelector("#status").dataset.ready = "true";
