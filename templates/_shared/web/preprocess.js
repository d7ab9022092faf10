// An image file or the drawing pad, turned into the model's input exactly as Python's
// images.load_image does (see the README's "One preprocessing" section):
//   1. EXIF orientation applied (createImageBitmap's imageOrientation: "from-image");
//   2. transparency composited on white, then RGB, or grey as Pillow's convert("L");
//   3. the centre square of side min(width, height) cropped;
//   4. resized to the model's size with Pillow's BILINEAR filter, reproduced below on the
//      pixel values (a canvas's own scaling differs between browsers);
//   5. raw 0-255 values as float32, in the model's layout (NHWC or NCHW).

/** RGBA pixels of a file, upright, with transparent parts painted white. */
export async function decodeFile(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext("2d");
  context.fillStyle = "white";
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, width, height);
}

/** Channel planes (grey: one, RGB: three) of RGBA pixels, as Pillow converts them. */
function planes(rgba, count, channels) {
  if (channels === 1) {
    const gray = new Uint8Array(count);
    for (let i = 0; i < count; i += 1) {
      const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
      gray[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16; // ITU-R 601-2 luma
    }
    return [gray];
  }
  return [0, 1, 2].map((c) => Uint8Array.from({ length: count }, (_, i) => rgba[4 * i + c]));
}

/** The centre square of side min(width, height) of one plane. */
function centreSquare(plane, width, height) {
  const side = Math.min(width, height);
  const [left, top] = [(width - side) >> 1, (height - side) >> 1];
  const square = new Uint8Array(side * side);
  for (let y = 0; y < side; y += 1) {
    square.set(plane.subarray((top + y) * width + left, (top + y) * width + left + side), y * side);
  }
  return square;
}

// Pillow's fixed-point arithmetic for 8-bit images (libImaging/Resample.c).
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** For each output pixel: the first input pixel it reads and its integer weights. */
function bilinearWeights(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // shrinking widens the triangle: antialiasing
  const support = filterScale; // BILINEAR's support is 1 pixel
  return Array.from({ length: outSize }, (_, x) => {
    const centre = (x + 0.5) * scale;
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const raw = Array.from({ length: last - first }, (_, k) =>
      Math.max(1 - Math.abs((first + k - centre + 0.5) / filterScale), 0));
    const total = raw.reduce((a, b) => a + b, 0);
    const weights = raw.map((w) => Math.trunc((total ? w / total : w) * ONE + 0.5));
    return { first, weights };
  });
}

/** One pass of Pillow's resampling along rows (step 1) or columns (step = row length). */
function resamplePass(source, lines, inSize, outSize, alongRows) {
  const plan = bilinearWeights(inSize, outSize);
  const out = new Uint8Array(lines * outSize);
  for (let line = 0; line < lines; line += 1) {
    for (let x = 0; x < outSize; x += 1) {
      const { first, weights } = plan[x];
      let sum = ONE / 2; // rounds the fixed-point result
      for (let k = 0; k < weights.length; k += 1) {
        const at = alongRows ? line * inSize + first + k : (first + k) * lines + line;
        sum += source[at] * weights[k];
      }
      const value = Math.min(Math.max(Math.floor(sum / ONE), 0), 255);
      out[alongRows ? line * outSize + x : x * lines + line] = value;
    }
  }
  return out;
}

/** A side x side plane resized to size x size as Pillow's resize(..., Image.BILINEAR). */
export function bilinearResize(plane, side, size) {
  if (side === size) return plane;
  const across = resamplePass(plane, side, side, size, true); // side rows of size pixels
  return resamplePass(across, size, side, size, false); // then each of the size columns
}

/** The model's float32 input (batch of one) from RGBA pixels of any size. */
export function toModelInput({ data, width, height }, { size, channels, layout }) {
  const side = Math.min(width, height);
  const resized = planes(data, width * height, channels)
    .map((plane) => bilinearResize(centreSquare(plane, width, height), side, size));
  const pixels = new Float32Array(size * size * channels);
  resized.forEach((plane, c) => {
    for (let i = 0; i < size * size; i += 1) {
      pixels[layout === "NCHW" ? c * size * size + i : i * channels + c] = plane[i];
    }
  });
  return pixels;
}

/** What the manifest says the model takes: side, channels, layout and batch-1 shape. */
export function inputSpec(manifest) {
  const { image_size: size, channels, input } = manifest;
  return { size, channels, layout: input.layout, dims: [1, ...input.shape.slice(1)] };
}

/** The model's input (batch of one) as size x size RGBA pixels: the image the model sees. */
export function toRgba(pixels, { size, channels, layout }) {
  const rgba = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i += 1) {
    for (let c = 0; c < 3; c += 1) {
      const from = channels === 1 ? 0 : c; // grey: the one plane in red, green and blue
      rgba[4 * i + c] = pixels[layout === "NCHW" ? from * size * size + i : i * channels + from];
    }
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}
