"""Hidden information removed from a file before it is stored.

A phone photo carries where it was taken and on which device; a PDF or Word file carries
its author, company and editing times. Any of these can name an anonymous reporter to
whoever handles the case, so every attachment is cleaned on the way in (reporters' and
staff's alike, through ``checked_content``), and a file that cannot be cleaned is refused
rather than stored as it came.

What is kept is the content: JPEG and PNG keep their compressed image data byte for byte
(only metadata segments and chunks go), unless the photo must be turned upright first;
other images are decoded and written again without any metadata.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from complaints.errors import InvalidInput

# Opens HEIC/HEIF with Pillow, as phones send them.


@lru_cache(maxsize=1)
def _pillow() -> Any:
    """Pillow, with HEIC support registered: imported on first use, not at start-up, since
    every web and worker process imports this module and few of them ever clean a file,
    and the imaging and PDF libraries are large."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    return Image

MSG_UNCLEANABLE = gettext_noop(
    "This file is damaged or protected, so we could not remove hidden information such as "
    "location, device or author from it, and it was not stored. Check that it opens, save "
    "an unprotected copy, and attach that.")

EXIF_ORIENTATION = 0x0112
JPEG_QUALITY = 95  # only for a photo that had to be turned upright

# JPEG markers kept before the image data: everything but APP1..APP15 (EXIF, XMP, ICC,
# IPTC, maker notes, multi-picture) and COM. APP0 is JFIF; APP14 (Adobe) says how the
# colours are encoded, without which a CMYK file decodes wrongly.
_JPEG_APP_DROPPED = frozenset(range(0xE1, 0xF0)) - {0xEE}
_JPEG_COMMENT = 0xFE
_JPEG_SOS = 0xDA
_JPEG_EOI = b"\xff\xd9"
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

# PNG chunks kept: the image itself, how to show its colours, and APNG animation. Text
# (tEXt, zTXt, iTXt: XMP, software, author), eXIf, tIME and iCCP go.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM",
                       b"sRGB", b"sBIT", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT"})

# What an animation needs from the original's info; nothing else of it is written back.
_FRAME_INFO_KEPT = ("duration", "loop", "transparency", "background", "disposal")

_OOXML = {
    "docProps/core.xml": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties '
        b'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"/>'),
    "docProps/app.xml": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="'
        b'http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>'),
}
_OOXML_DROPPED = "docProps/custom.xml"
_ODF = {
    "meta.xml": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta xmlns:office='
        b'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="1.2">'
        b'<office:meta/></office:document-meta>'),
}
# A zip file's entries also carry the time each was last written.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Uncompressed size allowed per stored byte: a zip that expands past this is refused
# before it is read (office files compress well, but not a thousandfold).
_ZIP_EXPANSION_MAX = 100


class Uncleanable(Exception):
    """The file cannot be read well enough to clean it."""


def metadata_strip(*, data: bytes, content_type: str) -> bytes:
    """``data`` without the hidden information its format carries; plain text is unchanged.

    Raises ``InvalidInput`` (key ``attachment``) for a file that cannot be read: a damaged
    image, a password-protected PDF, a broken zip.
    """
    cleaner = _CLEANERS.get(content_type)
    if cleaner is None:
        return data
    try:
        return cleaner(data)
    except (Uncleanable, OSError, SyntaxError, ValueError, EOFError, zipfile.BadZipFile,
            zipfile.LargeZipFile, RuntimeError):
        raise InvalidInput({"attachment": [gettext(MSG_UNCLEANABLE)]}) from None


def _image(data: bytes) -> bytes:
    image_module = _pillow()
    try:
        return _image_cleaned(image_module, data)
    except image_module.DecompressionBombError:
        raise Uncleanable from None


def _image_cleaned(image_module: Any, data: bytes) -> bytes:
    with image_module.open(io.BytesIO(data)) as image:
        image.load()  # decoding is what proves the file is whole
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        if orientation in (0, 1):
            try:
                if image.format == "JPEG":
                    return _jpeg_segments(data)
                if image.format == "PNG":
                    return _png_chunks(data)
            except Uncleanable:
                pass  # decodable but oddly laid out: written again below
        return _rewritten(image)


def _rewritten(image: Any) -> bytes:
    """The image decoded, turned upright, and written again in its own format with only
    what the pixels and an animation need."""
    from PIL import ImageOps, ImageSequence

    fmt = image.format
    frames = []
    for frame in ImageSequence.Iterator(image):
        upright = ImageOps.exif_transpose(frame)  # a copy, still with the original's info
        upright.info = {key: frame.info[key] for key in _FRAME_INFO_KEPT if key in frame.info}
        frames.append(upright)
    first, *rest = frames
    options: dict[str, Any] = {}
    if rest:
        options = {"save_all": True, "append_images": rest}
    if fmt == "JPEG":
        options["quality"] = JPEG_QUALITY
    elif fmt in ("WEBP", "HEIF"):
        options["quality"] = 90
    if fmt == "GIF":
        options["comment"] = b""
    out = io.BytesIO()
    first.save(out, format=fmt, **options)
    return out.getvalue()


def _jpeg_segments(data: bytes) -> bytes:
    """The JPEG with its metadata segments left out, and nothing after its end (some
    phones append their own records there)."""
    if data[:2] != b"\xff\xd8":
        raise Uncleanable
    out = bytearray(data[:2])
    at = 2
    while True:
        if at + 2 > len(data) or data[at] != 0xFF:
            raise Uncleanable
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if data[at:at + 2] == _JPEG_EOI:
            return bytes(out + _JPEG_EOI)
        if marker in _JPEG_STANDALONE:
            out += data[at:at + 2]
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if length < 2 or at + 2 + length > len(data):
            raise Uncleanable
        if marker not in _JPEG_APP_DROPPED and marker != _JPEG_COMMENT:
            out += data[at:at + 2 + length]
        at += 2 + length
        if marker == _JPEG_SOS:
            scan_end = _jpeg_scan_end(data, at)
            out += data[at:scan_end]
            at = scan_end


def _jpeg_scan_end(data: bytes, at: int) -> int:
    """Where a scan's compressed data ends: at the first marker that is neither a stuffed
    0xFF byte nor a restart marker (a progressive JPEG has tables between its scans)."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            raise Uncleanable
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            at += 2
        elif following == 0xFF:
            at += 1
        else:
            return at


def _png_chunks(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise Uncleanable
    out = bytearray(_PNG_SIGNATURE)
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        end = at + 12 + length
        if end > len(data):
            raise Uncleanable
        if kind in _PNG_KEPT:
            out += data[at:end]
        if kind == b"IEND":
            return bytes(out)
        at = end
    raise Uncleanable


def _pdf(data: bytes) -> bytes:
    """Without the document information dictionary (author, creator, producer, dates)
    and without XMP, wherever it is attached (document, pages, images)."""
    import pikepdf

    try:
        return _pdf_cleaned(pikepdf, data)
    except (pikepdf.PdfError, pikepdf.PasswordError):
        raise Uncleanable from None


def _pdf_cleaned(pikepdf: Any, data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        if "/Info" in pdf.trailer:
            del pdf.trailer["/Info"]
        for obj in pdf.objects:
            if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                for key in ("/Metadata", "/PieceInfo"):
                    if key in obj:
                        del obj[key]
        out = io.BytesIO()
        # A PDF that opened with no password is saved unencrypted: its owner password
        # only restricted printing or copying, and the cleaned copy must be readable.
        pdf.save(out, encryption=False, fix_metadata_version=False, deterministic_id=True)
    return out.getvalue()


def _zip_rewritten(data: bytes, replaced: dict[str, bytes], dropped: str | None) -> bytes:
    """The zip with some entries replaced and one left out, every entry's time set to
    the same fixed date, and the order and compression of entries kept (an OpenDocument
    needs its ``mimetype`` first and uncompressed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = source.infolist()
        limit = max(len(data), settings.ATTACHMENT_MAX_BYTES) * _ZIP_EXPANSION_MAX
        if sum(entry.file_size for entry in entries) > limit:
            raise Uncleanable
        with zipfile.ZipFile(out, "w") as target:
            for entry in entries:
                if entry.filename == dropped or entry.is_dir():
                    continue
                content = replaced.get(entry.filename)
                if content is None:
                    content = source.read(entry)
                    if dropped is not None:
                        content = _without_reference(entry.filename, content, dropped)
                clean = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
                clean.compress_type = entry.compress_type
                clean.external_attr = 0o600 << 16
                target.writestr(clean, content)
    return out.getvalue()


def _without_reference(name: str, content: bytes, dropped: str) -> bytes:
    """The package's list of parts and its relationships without the part left out, so
    that Office does not report the file as damaged."""
    if name == "[Content_Types].xml":
        return _without_element(content, b"<Override", f'"/{dropped}"'.encode())
    if name == "_rels/.rels":
        return _without_element(content, b"<Relationship", f'"{dropped}"'.encode(),
                                f'"/{dropped}"'.encode())
    return content


def _without_element(content: bytes, opening: bytes, *targets: bytes) -> bytes:
    """``content`` without the self-closing elements starting with ``opening`` that
    mention one of ``targets`` (both files are flat lists of such elements)."""
    out = bytearray()
    at = 0
    while (start := content.find(opening, at)) >= 0:
        end = content.find(b"/>", start)
        if end < 0:
            break
        element = content[start:end + 2]
        out += content[at:start]
        if not any(target in element for target in targets):
            out += element
        at = end + 2
    return bytes(out + content[at:])


def _ooxml(data: bytes) -> bytes:
    return _zip_rewritten(data, _OOXML, _OOXML_DROPPED)


def _odf(data: bytes) -> bytes:
    return _zip_rewritten(data, _ODF, None)


# ISO media (MP4, M4A): boxes that hold tags, a location (QuickTime's ©xyz and its
# location key) or XMP are turned into free space of the same size, so that the offsets
# to the media data stay right; the boxes that hold them are walked into.
_MP4_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"edts"})
_MP4_DROPPED = frozenset({b"udta", b"meta"})
_MP4_XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
# ...and the boxes that say when the recording was made and last changed.
_MP4_TIMED = frozenset({b"mvhd", b"tkhd", b"mdhd"})
# WAV chunks left out: LIST/INFO (artist, software, date), ID3, broadcast (originator,
# date), iXML and XMP.
_WAV_DROPPED = frozenset({b"LIST", b"id3 ", b"ID3 ", b"bext", b"iXML", b"_PMX"})


def _mp4(data: bytes) -> bytes:
    out = bytearray(data)
    _mp4_boxes(out, 0, len(out))
    return bytes(out)


def _mp4_boxes(out: bytearray, start: int, end: int) -> None:
    at = start
    while at < end:
        if at + 8 > end:
            raise Uncleanable
        size, kind, header = int.from_bytes(out[at:at + 4], "big"), bytes(out[at + 4:at + 8]), 8
        if size == 1:
            if at + 16 > end:
                raise Uncleanable
            size, header = int.from_bytes(out[at + 8:at + 16], "big"), 16
        elif size == 0:  # to the end of the file
            size = end - at
        if size < header or at + size > end:
            raise Uncleanable
        body = at + header
        if kind in _MP4_DROPPED or (kind == b"uuid" and out[body:body + 16] == _MP4_XMP_UUID):
            out[at + 4:at + 8] = b"free"
            out[body:at + size] = bytes(at + size - body)
        elif kind in _MP4_CONTAINERS:
            _mp4_boxes(out, body, at + size)
        elif kind in _MP4_TIMED and size >= header + 4:
            width = 8 if out[body] == 1 else 4  # version 1 has 64-bit times
            times = slice(body + 4, body + 4 + 2 * width)
            if times.stop > at + size:
                raise Uncleanable
            out[times] = bytes(2 * width)
        at += size


def _mp3(data: bytes) -> bytes:
    """Without ID3v2 tags before the audio, or ID3v1 and APE tags after it."""
    start = 0
    while data[start:start + 3] == b"ID3" and len(data) >= start + 10:
        syncsafe = data[start + 6:start + 10]
        if any(byte & 0x80 for byte in syncsafe):
            raise Uncleanable
        length = syncsafe[0] << 21 | syncsafe[1] << 14 | syncsafe[2] << 7 | syncsafe[3]
        start += 10 + length + (10 if data[start + 5] & 0x10 else 0)
    end = len(data)
    if data[end - 128:end - 125] == b"TAG":
        end -= 128
    if data[end - 32:end - 24] == b"APETAGEX":
        tag = int.from_bytes(data[end - 20:end - 16], "little")  # footer and items
        has_header = int.from_bytes(data[end - 12:end - 8], "little") & 0x80000000
        end -= tag + (32 if has_header else 0)
    if start >= end:
        raise Uncleanable
    return data[start:end]


def _wav(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise Uncleanable
    out = bytearray(data[:12])
    at = 12
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        end = at + 8 + size + (size & 1)  # chunks are padded to an even length
        if at + 8 + size > len(data):
            raise Uncleanable
        if kind not in _WAV_DROPPED:
            out += data[at:min(end, len(data))]
        at = end
    out[4:8] = (len(out) - 8).to_bytes(4, "little")
    return bytes(out)


_CLEANERS: dict[str, Callable[[bytes], bytes]] = {
    "image/jpeg": _image,
    "image/png": _image,
    "image/apng": _image,
    "image/gif": _image,
    "image/webp": _image,
    "image/heic": _image,
    "application/pdf": _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ooxml,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ooxml,
    "application/vnd.oasis.opendocument.text": _odf,
    "audio/mpeg": _mp3,
    "audio/mp4": _mp4,
    "video/mp4": _mp4,
    "audio/x-wav": _wav,
}
