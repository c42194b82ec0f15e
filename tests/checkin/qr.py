"""The QR codes of registration.checkin.codes read back as a scanner would: the SVG's path
and the PNG's pixels turned back into images, which zxing-cpp decodes."""

from __future__ import annotations

import re
import struct
import zlib
from urllib.parse import unquote
from xml.etree import ElementTree

import zxingcpp

from registration.checkin.codes import BORDER, SCALE

SVG = "{http://www.w3.org/2000/svg}"


def decode(rows: list[bytes]) -> str | None:
    """The text of the QR code in an 8-bit grayscale image (0 dark, 255 light), if any."""
    image = memoryview(b"".join(rows)).cast("B", (len(rows), len(rows[0])))
    # Dark on light only: a negative image is not the code a door's scanner reads.
    barcode = zxingcpp.read_barcode(image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False)
    return barcode.text if barcode else None


def has_quiet_zone(rows: list[bytes], modules: int = BORDER, scale: int = 1) -> bool:
    """No dark pixel within `modules` modules of the edges, and one just inside them."""
    edge = modules * scale
    inside = rows[edge:-edge]
    light = all(set(row) == {255} for row in rows[:edge] + rows[-edge:])
    return (
        light
        and all(set(row[:edge] + row[-edge:]) == {255} for row in inside)
        and 0 in inside[0][edge : edge + scale]
    )


def svg_modules(data_uri: str) -> list[bytes]:
    """The modules an SVG data URI of codes.qr_svg_data_uri draws, a byte each (0 dark, 255
    light): its path's strokes, a module thick along the middle of the rows, on white."""
    prefix = "data:image/svg+xml,"
    assert data_uri.startswith(prefix)
    svg = ElementTree.fromstring(unquote(data_uri.removeprefix(prefix)))
    origin_x, origin_y, size, height = (int(n) for n in svg.attrib["viewBox"].split())
    assert (origin_x, origin_y, height) == (0, 0, size)
    assert svg.attrib["width"] == svg.attrib["height"] == str(size * SCALE)
    assert svg.attrib["shape-rendering"] == "crispEdges"
    background, strokes = svg
    assert background.tag == strokes.tag == f"{SVG}path"
    assert background.attrib == {"fill": "#fff", "d": f"M0,0h{size}v{size}h-{size}z"}
    assert strokes.attrib["stroke"] == "#000"
    grid = [bytearray(b"\xff" * size) for _ in range(size)]
    x = y = 0.0
    path = strokes.attrib["d"]
    commands = re.findall(r"([A-Za-z])([-\d.,]*)", path)
    assert "".join(c + a for c, a in commands) == path  # all of it read
    for command, arguments in commands:
        numbers = [float(n) for n in arguments.split(",")]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            [length] = numbers
            assert y % 1 == 0.5 and x % 1 == 0 and length > 0
            grid[int(y)][int(x) : int(x + length)] = b"\x00" * int(length)
            x += length
        else:
            raise AssertionError(f"unexpected path command {command!r}")
    return [bytes(row) for row in grid]


def png_pixels(png: bytes) -> list[bytes]:
    """The pixels of a black and white PNG (what codes.qr_png writes), a byte each (0 dark,
    255 light): each chunk checked against its CRC, each line unfiltered."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = []
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        at += 12 + length
    assert at == len(png)
    assert [chunks[0][0], chunks[-1][0]] == [b"IHDR", b"IEND"]
    width, height, *layout = struct.unpack(">IIBBBBB", chunks[0][1])
    assert layout == [1, 0, 0, 0, 0]  # 1 bit, grayscale, deflate, filters, no interlacing
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    stride = 1 + (width + 7) // 8
    assert len(raw) == height * stride
    rows = []
    for start in range(0, len(raw), stride):
        line = raw[start : start + stride]
        assert line[0] == 0  # filter type: none
        bits = "".join(f"{byte:08b}" for byte in line[1:])[:width]
        rows.append(bytes(255 if bit == "1" else 0 for bit in bits))
    return rows
