"""Turning a photo into pixels: every mode and format Pillow reads, one way (images.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.images import (
    FORMATS,
    MAX_PIXELS,
    ImageTooLarge,
    is_image_file,
    load_image,
    max_pixels,
)

from .bombs import png_bomb

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def halves(width: int, height: int, first: tuple, second: tuple) -> Image.Image:
    """An RGB picture whose left half is ``first`` and right half ``second``."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2], pixels[:, width // 2 :] = first, second
    return Image.fromarray(pixels)


def encoded(image: Image.Image, format: str, **options: object) -> io.BytesIO:
    stream = io.BytesIO()
    image.save(stream, format, **options)
    stream.seek(0)
    return stream


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_gives_square_uint8_pixels(format, channels):
    stream = encoded(halves(57, 31, RED, BLUE), format)
    pixels = load_image(stream, 16, channels)
    assert pixels.shape == (16, 16, channels) and pixels.dtype == np.uint8


def test_the_exif_orientation_is_applied(tmp_path):
    # Stored sideways (left red, right blue) and tagged "rotate 90 degrees clockwise to view":
    # upright, red is on top.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.png"
    halves(40, 20, RED, BLUE).save(path, exif=exif)
    pixels = load_image(path, 20, 3)
    assert (pixels[:8] == RED).all() and (pixels[-8:] == BLUE).all()


def test_the_centre_square_is_kept():
    # 30x10: a red band on each side of a blue centre square; only the centre is kept.
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:], pixels[:, 10:20] = RED, BLUE
    assert (load_image(encoded(Image.fromarray(pixels), "PNG"), 10, 3) == BLUE).all()


def test_the_resize_is_pillows_bilinear_of_the_square():
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    expected = picture.crop((15, 0, 105, 90)).resize((24, 24), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(load_image(encoded(picture, "PNG"), 24, 3), expected)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_laid_over_white(mode):
    picture = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    if mode == "P":
        picture = Image.new("P", (20, 20), 0)
        picture.putpalette([0, 0, 0] * 256)
        picture.info["transparency"] = 0
    else:
        picture = picture.convert(mode)
    assert (load_image(encoded(picture, "PNG"), 8, 3) == WHITE).all()
    assert (load_image(encoded(picture, "PNG"), 8, 1) == 255).all()


def test_a_palette_image_keeps_its_colours():
    picture = halves(20, 20, RED, BLUE).convert("P")
    pixels = load_image(encoded(picture, "GIF"), 20, 3)
    assert (pixels[:, :8] == RED).all() and (pixels[:, -8:] == BLUE).all()


def test_cmyk_becomes_rgb():
    picture = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red in ink
    assert (load_image(encoded(picture, "JPEG", quality=100), 8, 3)[..., 0] > 240).all()


def test_sixteen_bit_images_are_scaled_to_eight_bits():
    values = np.full((20, 20), 65535, np.uint16)
    values[:, 10:] = 32896  # 128 * 257
    pixels = load_image(encoded(Image.fromarray(values), "PNG"), 20, 1)
    assert (pixels[:, :9] == 255).all() and (pixels[:, 11:] == 128).all()


def test_grayscale_is_pillows_luma():
    pixels = load_image(encoded(Image.new("RGB", (8, 8), (200, 100, 50)), "PNG"), 8, 1)
    assert (pixels == (19595 * 200 + 38470 * 100 + 7471 * 50 + 32768) >> 16).all()


def test_a_truncated_image_is_named(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(encoded(halves(64, 64, RED, BLUE), "JPEG").getvalue()[:300])
    with pytest.raises(ValueError, match=r"cut\.jpg"):
        load_image(path, 8, 3)


def test_bytes_that_are_not_an_image_are_refused():
    with pytest.raises(ValueError):
        load_image(io.BytesIO(b"hello"), 8, 3)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"nothing\.png"):
        load_image(tmp_path / "nothing.png", 8, 3)


def test_only_image_files_are_opened(tmp_path):
    names = ["a.JPG", "b.png", "c.webp", "notes.txt", ".DS_Store", "Thumbs.db", "._a.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert sorted(p.name for p in tmp_path.iterdir() if is_image_file(p)) == [
        "a.JPG",
        "b.png",
        "c.webp",
    ]


@pytest.mark.parametrize("format", FORMATS)
def test_a_picture_above_the_pixel_limit_is_refused_in_every_format(format):
    stream = encoded(halves(300, 200, RED, BLUE), format)
    with pytest.raises(ImageTooLarge):  # a JPEG at 1/2 its side would be under 120 pixels
        load_image(stream, 120, 3, limit=300 * 200 - 1)
    stream.seek(0)
    assert load_image(stream, 120, 3, limit=300 * 200).shape == (120, 120, 3)


def test_a_small_png_of_a_huge_picture_is_refused_before_it_is_decoded():
    bomb = png_bomb(13000, 13000)  # 169 million pixels in about 20 KB
    assert len(bomb) < 50_000 and MAX_PIXELS < 13000 * 13000
    with pytest.raises(ImageTooLarge):
        load_image(io.BytesIO(bomb), 8, 1)


def test_the_default_limit_admits_a_64_megapixel_camera_photo():
    assert MAX_PIXELS >= 9248 * 6936 and max_pixels() == MAX_PIXELS


def test_a_jpeg_above_the_limit_is_decoded_smaller_when_that_fits():
    stream = encoded(halves(400, 300, RED, BLUE), "JPEG")
    half = 200 * 150  # libjpeg decodes it at 1/2 its side: within the limit
    assert load_image(stream, 16, 3, limit=half).shape == (16, 16, 3)
    stream.seek(0)
    with pytest.raises(ImageTooLarge):  # 1/2 would be smaller than the model's side
        load_image(stream, 160, 3, limit=half)


def test_the_limit_is_a_setting_in_the_environment(monkeypatch):
    picture = encoded(Image.new("RGB", (20, 20)), "PNG")
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "399")
    with pytest.raises(ImageTooLarge):
        load_image(picture, 8, 3)
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "400")
    assert load_image(picture, 8, 3).shape == (8, 8, 3)
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS"):
        max_pixels()


@pytest.mark.parametrize("format", ["ICO", "TGA", "PCX", "PPM"])
def test_formats_the_readme_does_not_name_are_not_opened(format, tmp_path):
    picture = Image.new("RGB", (16, 16), RED)
    with pytest.raises(ValueError) as refused:
        load_image(encoded(picture, format), 8, 3)
    assert not isinstance(refused.value, ImageTooLarge)
    picture.save(tmp_path / f"picture.{format.lower()}")
    assert not is_image_file(tmp_path / f"picture.{format.lower()}")
