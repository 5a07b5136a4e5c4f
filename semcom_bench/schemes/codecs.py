"""Source codecs with exact byte budgets, for the separation baseline and the capacity bound.

Every codec maps an ``(H, W, 3)`` uint8 image to the bytes that must cross the channel and back. What is counted is
the codec's elementary stream plus what the receiver needs to rebuild the file: container boxes and chunk headers
that carry no information (identical for every image of the protocol) are not sent, and the receiver rebuilds them.
Each encoder checks that the rebuilt file equals the encoder's file byte for byte, so trimming never changes a
decoded pixel.

* ``hevc``: "HEVC-intra (BPG-equivalent)": x265 Main Still Picture through libheif (pillow-heif), 4:2:0, constant
  QP (``quality = 51 - QP``, BPG's scale), tuned for PSNR: the codec inside BPG. No BPG encoder exists in the
  package registries. Sent: width and height (LEB128 varints, like BPG's header) and the VPS, SPS, PPS and slice NAL
  units, each prefixed by its length (varint). The HEIF boxes (ftyp, meta, the fixed hvcC fields, colour, size and
  crop properties) are rebuilt by the receiver: about 290 bytes a HEIF file spends and BPG does not. No EXIF, XMP
  or thumbnail is ever written.
* ``jpeg2000``: OpenJPEG through Pillow, 9/7 irreversible wavelet, raw codestream (``.j2k``: no JP2 boxes; the SIZ
  marker holds the size). ``quality`` is the target rate in millibits per pixel (OpenJPEG's rate allocation).
* ``webp``: libwebp lossy (VP8) through Pillow, ``method=6``. Sent: the VP8 frame (its header holds the size); the
  20-byte RIFF/WEBP/VP8 chunk header is rebuilt by the receiver.

``encode_to_budget`` searches the best quality whose stream fits a byte budget and never returns more bytes than the
budget.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pillow_heif
from PIL import Image

from semcom_bench.errors import SemcomError
from semcom_bench.registry import Registry

# Qualities above a binary-search result that are tried too: a stream's size is monotonic in quality in practice,
# not by guarantee, and a larger quality that still fits beyond a non-monotonic spot is better.
_NEIGHBOURS = 2


class CodecError(SemcomError):
    """A byte stream cannot be decoded by the codec it was given to (truncated, corrupt or from another codec)."""


class BudgetTooSmallError(SemcomError):
    """No valid stream of the codec fits the byte budget; ``min_bytes`` is the smallest one for that image."""

    def __init__(self, message: str, min_bytes: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.min_bytes = min_bytes


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as a C-contiguous ``(H, W, 3)`` uint8 array, or a clear error."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SemcomError(f"a source codec takes an (H, W, 3) uint8 image, got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise SemcomError(f"image has an empty side: {image.shape}")
    return np.ascontiguousarray(image)


class SourceCodec(ABC):
    """A lossy image codec whose output is the exact byte stream a transmitter sends.

    ``quality_range``: inclusive ``(lowest, highest)`` integer quality; larger is better and (in practice) bigger.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    quality_range: ClassVar[tuple[int, int]] = (0, 100)

    @abstractmethod
    def encode(self, image: np.ndarray, quality: int) -> bytes:
        """Every byte that must be sent for the ``(H, W, 3)`` uint8 ``image`` at integer ``quality``."""

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 image of ``data``; :class:`CodecError` when it cannot be decoded."""

    def encode_to_budget(self, image: np.ndarray, max_bytes: int) -> tuple[bytes, int]:
        """``(stream, quality)``: the highest quality found whose stream has at most ``max_bytes`` bytes.

        Binary search over ``quality_range`` (each tried quality is encoded once), then the next few qualities above
        the boundary are tried in case the size is not monotonic there. The stream returned is one that was measured
        to fit. :class:`BudgetTooSmallError` (with the minimum size) when even the lowest quality does not fit.
        """
        image = check_image(image)
        if max_bytes < 0:
            raise SemcomError(f"byte budget must be >= 0, got {max_bytes}")
        lo, hi = self.quality_range
        streams: dict[int, bytes] = {}

        def fits(q: int) -> bool:
            if q not in streams:
                streams[q] = self.encode(image, q)
            return len(streams[q]) <= max_bytes

        if not fits(lo):
            raise BudgetTooSmallError(
                f"a byte budget of {max_bytes} B cannot hold any {self.label} stream of this "
                f"{image.shape[1]}x{image.shape[0]} image: the smallest (quality {lo}) is {len(streams[lo])} B",
                min_bytes=len(streams[lo]),
                hint="raise the channel bandwidth ratio, the code rate or the modulation order",
            )
        if fits(hi):
            return streams[hi], hi
        while hi - lo > 1:  # invariant: lo fits, hi does not
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        best = lo
        for q in range(hi + 1, min(hi + _NEIGHBOURS, self.quality_range[1]) + 1):
            if fits(q):
                best = q
        return streams[best], best


CODECS: Registry[type[SourceCodec]] = Registry("source codec")


def get_codec(name: str) -> SourceCodec:
    """An instance of the codec registered as ``name`` (default settings)."""
    return CODECS.get(name)()


# --- byte helpers ------------------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, high bit set on all bytes but the last."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, next position)``; :class:`CodecError` past the end or beyond 32 bits."""
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 28:
            raise CodecError("truncated or corrupt length field")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def _children(data: bytes, start: int, end: int) -> dict[bytes, bytes]:
    """The payloads of the boxes in ``data[start:end]`` by type (each type appears once in the files we read)."""
    boxes: dict[bytes, bytes] = {}
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size < 8 or pos + size > end:
            raise CodecError("corrupt box structure")
        boxes[data[pos + 4 : pos + 8]] = data[pos + 8 : pos + size]
        pos += size
    return boxes


# --- HEVC-intra (BPG-equivalent) ---------------------------------------------------------------------------------

_NAL_VPS, _NAL_SPS, _NAL_PPS = 32, 33, 34
# hvcC bytes 13..21 for 8-bit 4:2:0 still pictures, one temporal layer, 4-byte NAL lengths (ISO/IEC 14496-15 8.3.3):
# min_spatial_segmentation 0, parallelism 0, chroma 4:2:0, 8-bit luma and chroma, no frame rate, lengthSize 4.
_HVCC_FIXED = bytes.fromhex("f000fcfdf8f800000f")
_HEIF_HDLR = _full_box(b"hdlr", bytes(4) + b"pict" + bytes(12) + b"\0")
_HEIF_IINF = _full_box(b"iinf", (1).to_bytes(2, "big") + _full_box(b"infe", b"\0\1\0\0hvc1\0", version=2))
_HEIF_PITM = _full_box(b"pitm", (1).to_bytes(2, "big"))
# nclx: BT.709 primaries, sRGB transfer, BT.601 matrix, full range: what libheif writes for 8-bit RGB input.
_HEIF_COLR = _box(b"colr", b"nclx" + bytes.fromhex("0001000d000680"))
_HEIF_PIXI = _full_box(b"pixi", bytes.fromhex("03080808"))
_HEIF_IPMA = _full_box(b"ipma", bytes.fromhex("00000001000104810203") + b"\4")


def _unescape(nal: bytes) -> bytes:
    """RBSP of a NAL unit: the emulation-prevention byte of every ``00 00 03`` removed."""
    return nal.replace(b"\0\0\3", b"\0\0")


def _hvcc(vps: bytes, sps: bytes, pps: bytes) -> bytes:
    """The hvcC box payload for these parameter sets; profile, tier and level are read from the SPS."""
    rbsp = _unescape(sps)
    if len(rbsp) < 15 or rbsp[2] >> 1 & 7:  # 2-byte NAL header, then one byte whose bits 1..3 = max_sub_layers-1
        raise CodecError("unsupported HEVC SPS (more than one temporal sub-layer or truncated)")
    # One NAL array per parameter set: array_completeness 0 and the reserved bit 1, as libheif writes them.
    arrays = b"".join(
        bytes([0x40 | kind]) + (1).to_bytes(2, "big") + len(nal).to_bytes(2, "big") + nal
        for kind, nal in ((_NAL_VPS, vps), (_NAL_SPS, sps), (_NAL_PPS, pps))
    )
    return b"\1" + rbsp[3:15] + _HVCC_FIXED + b"\3" + arrays


def _heif_file(width: int, height: int, nals: list[bytes]) -> bytes:
    """The HEIF file libheif writes for one HEVC image: VPS, SPS, PPS in hvcC, slices in mdat (4-byte lengths).

    libheif pads each side to even and at least 64 pixels and crops back with a clean-aperture box; odd sides make
    the file non-MIAF (no ``miaf`` brand).
    """
    vps, sps, pps, *slices = nals
    mdat_payload = b"".join(len(n).to_bytes(4, "big") + n for n in slices)
    coded_w, coded_h = max(64, width + width % 2), max(64, height + height % 2)
    ispe = _full_box(b"ispe", coded_w.to_bytes(4, "big") + coded_h.to_bytes(4, "big"))
    props = _box(b"hvcC", _hvcc(vps, sps, pps)) + _HEIF_COLR + ispe
    ipma = _HEIF_IPMA
    if (coded_w, coded_h) != (width, height):
        # clap: width/1, height/1, then centre offsets (size - coded size)/2 as signed fractions.
        clap = b"".join(
            num.to_bytes(4, "big", signed=True) + den.to_bytes(4, "big")
            for num, den in ((width, 1), (height, 1), (width - coded_w, 2), (height - coded_h, 2))
        )
        props += _box(b"clap", clap)
        ipma = _full_box(b"ipma", bytes.fromhex("0000000100010581020305") + b"\x84")
    ipco = _box(b"ipco", props + _HEIF_PIXI)
    iprp = _box(b"iprp", ipco + ipma)
    brands = b"mif1heic" + (b"miaf" if width % 2 == 0 and height % 2 == 0 else b"")
    ftyp = _box(b"ftyp", b"heic" + bytes(4) + brands)

    def meta(offset: int) -> bytes:
        # iloc v0, 4-byte fields: one item whose base offset is the mdat payload, one extent covering it.
        iloc = _full_box(
            b"iloc",
            bytes([0x44, 0x40]) + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + bytes(2) + offset.to_bytes(4, "big")
            + (1).to_bytes(2, "big") + bytes(4) + len(mdat_payload).to_bytes(4, "big"),
        )
        return _full_box(b"meta", _HEIF_HDLR + iloc + _HEIF_IINF + _HEIF_PITM + iprp)

    offset = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(offset) + _box(b"mdat", mdat_payload)


def _heif_nals(heif: bytes) -> list[bytes]:
    """VPS, SPS, PPS (from hvcC) and the slice NAL units (from mdat) of a one-image HEIF file."""
    top = _children(heif, 0, len(heif))
    meta = top.get(b"meta")
    mdat = top.get(b"mdat")
    if meta is None or mdat is None:
        raise CodecError("HEIF file without meta or mdat box")
    iprp = _children(meta, 4, len(meta)).get(b"iprp", b"")
    ipco = _children(iprp, 0, len(iprp)).get(b"ipco", b"")
    hvcc = _children(ipco, 0, len(ipco)).get(b"hvcC")
    if hvcc is None or len(hvcc) < 23:
        raise CodecError("HEIF file without an hvcC configuration")
    nals: list[bytes] = []
    pos = 23
    for _ in range(hvcc[22]):
        count = int.from_bytes(hvcc[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            size = int.from_bytes(hvcc[pos : pos + 2], "big")
            nals.append(hvcc[pos + 2 : pos + 2 + size])
            pos += 2 + size
    pos = 0
    while pos < len(mdat):
        size = int.from_bytes(mdat[pos : pos + 4], "big")
        nals.append(mdat[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return nals


@CODECS.register("hevc")
class HevcCodec(SourceCodec):
    """HEVC-intra (BPG-equivalent): x265 through libheif, 4:2:0, constant QP, ``preset``/``tune`` passed to x265.

    ``quality`` 0..51 is ``51 - QP``, BPG's own quality scale (``bpgenc -q QP``) reversed so that larger is better;
    QP is an integer for the whole picture, so consecutive qualities differ by about 12% in size. ``tune="psnr"``
    is the default because the baselines are scored in PSNR (it beats libheif's default ``"ssim"`` by about 0.5 dB
    PSNR at equal size on synthcity). Any size works (libheif pads odd or small sides and crops them back).
    """

    name = "hevc"
    label = "HEVC-intra (BPG-equivalent)"
    quality_range = (0, 51)

    def __init__(self, preset: str = "slow", tune: str = "psnr") -> None:
        self.preset, self.tune = preset, tune

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        height, width = image.shape[:2]
        heif = pillow_heif.from_bytes("RGB", (width, height), image.tobytes())
        buf = io.BytesIO()
        # "x265:qp" sets x265's constant-QP mode and overrides libheif's quality -> CRF mapping.
        params = {"preset": self.preset, "tune": self.tune, "x265:qp": str(51 - int(quality))}
        heif.save(buf, chroma=420, enc_params=params)
        file = buf.getvalue()
        nals = _heif_nals(file)
        if len(nals) < 4 or [(n[0] >> 1) & 63 for n in nals[:3]] != [_NAL_VPS, _NAL_SPS, _NAL_PPS]:
            raise SemcomError(f"libheif {pillow_heif.libheif_version()} wrote an unexpected HEVC configuration")
        if _heif_file(width, height, nals) != file:
            # The receiver could not rebuild this file from what is sent: refuse rather than count too few bytes.
            raise SemcomError(
                f"libheif {pillow_heif.libheif_version()} wrote a HEIF layout the compact HEVC format does not know",
                hint="update semcom_bench.schemes.codecs._heif_file to this libheif version",
            )
        return _varint(width) + _varint(height) + b"".join(_varint(len(n)) + n for n in nals)

    def decode(self, data: bytes) -> np.ndarray:
        width, pos = _read_varint(data, 0)
        height, pos = _read_varint(data, pos)
        nals: list[bytes] = []
        while pos < len(data):
            size, pos = _read_varint(data, pos)
            if size == 0 or pos + size > len(data):
                raise CodecError(f"undecodable {self.label} stream: truncated or corrupt NAL unit length")
            nals.append(data[pos : pos + size])
            pos += size
        if not 1 <= width <= 1 << 16 or not 1 <= height <= 1 << 16 or len(nals) < 4:
            raise CodecError(f"undecodable {self.label} stream ({len(data)} B): bad size or too few NAL units")
        try:
            heif = pillow_heif.open_heif(io.BytesIO(_heif_file(width, height, nals)), convert_hdr_to_8bit=True)
            image = np.asarray(heif[0])
        except CodecError:
            raise
        except Exception as exc:  # libheif reports corrupt streams with several exception types
            raise CodecError(f"undecodable {self.label} stream ({len(data)} B): {exc}") from exc
        if image.shape != (height, width, 3):
            raise CodecError(f"{self.label} stream decoded to {image.shape}, its header says {height}x{width}")
        return image


def _pillow_decode(data: bytes, label: str, fmt: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on corrupt streams
        raise CodecError(f"undecodable {label} stream ({len(data)} B): {exc}") from exc


@CODECS.register("jpeg2000")
class Jpeg2000Codec(SourceCodec):
    """JPEG2000 (OpenJPEG): 9/7 wavelet, one quality layer at ``quality`` millibits per pixel, raw codestream."""

    name = "jpeg2000"
    label = "JPEG2000"
    quality_range = (1, 24000)  # 0.001 .. 24 bits per pixel (24 bpp is the raw RGB image)

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        buf = io.BytesIO()
        Image.fromarray(image).save(
            buf, format="JPEG2000", no_jp2=True, irreversible=True, quality_mode="rates",
            quality_layers=[24000 / int(quality)],  # OpenJPEG's rate: compression ratio against the raw image
        )
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return _pillow_decode(data, self.label, "JPEG2000")


@CODECS.register("webp")
class WebpCodec(SourceCodec):
    """WebP lossy (VP8), ``method=6``; ``quality`` 0..100 is libwebp's. Sent: the VP8 frame only."""

    name = "webp"
    label = "WebP"
    quality_range = (0, 100)

    @staticmethod
    def _riff(frame: bytes) -> bytes:
        """The simple-format WebP file of a VP8 frame (RIFF chunks are padded to an even size)."""
        chunk = b"VP8 " + len(frame).to_bytes(4, "little") + frame + b"\0" * (len(frame) % 2)
        return b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="WEBP", quality=int(quality), method=6)
        file = buf.getvalue()
        frame = file[20 : 20 + int.from_bytes(file[16:20], "little")]
        if file[12:16] != b"VP8 " or self._riff(frame) != file:
            raise SemcomError("libwebp wrote a file that is not a simple lossy WebP; cannot trim its header")
        return frame

    def decode(self, data: bytes) -> np.ndarray:
        return _pillow_decode(self._riff(data), self.label, "WEBP")
