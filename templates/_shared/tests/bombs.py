"""Decompression bombs made small: a few KB of PNG that declare a huge picture."""

import functools
import struct
import zlib


@functools.cache  # about a second for 13000 x 13000: made once
def png_bomb(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` black 1-bit pixels, compressed a block of rows at a
    time (nothing of that size is ever held in memory): 13000 x 13000 takes about 20 KB."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then the packed pixels
    squeeze = zlib.compressobj(9)
    blocks = [squeeze.compress(row * min(256, height - top)) for top in range(0, height, 256)]
    data = b"".join(blocks) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        _chunk(kind, body) for kind, body in [(b"IHDR", header), (b"IDAT", data), (b"IEND", b"")]
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
