"""``semcom-bench leaderboard new NAME``: a submission folder with a working example codec that passes every check.

The example is the simplest honest analog scheme: each 4 x 4 patch's lowest-frequency colour-DCT coefficients sent
uncoded, two reals per complex symbol, at ``rate`` symbols per real image value (so ``rate`` is its payload CBR).
Its one weights file is the DCT basis, so the example also shows how weights are hashed and loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.leaderboard.manifest import MANIFEST, schema_problems

if TYPE_CHECKING:
    import torch

CODEC = '''"""{name}: uncoded analog transmission of each 4 x 4 patch's lowest-frequency colour-DCT coefficients.

Replace this with your codec. The leaderboard calls ``build(root)`` with this folder and runs ``transmit`` and
``receive`` in separate processes: the receiver gets only the received symbols, ``lengths``, ``side`` and the
channel state. ``rate`` is the payload CBR; the 16-bit scale header is side information the harness prices.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from semcom_bench.phy.base import ChannelState
from semcom_bench.schemes.base import Scheme, Transmission, TransmitterLabels
from semcom_bench.schemes.layers import complex_to_real, real_to_complex

PATCH = 4
VALUES = 3 * PATCH * PATCH  # real image values per patch
HEADER_BITS = 16  # the float16 scale of each image


class LinearDCT(Scheme):
    """``basis``: (48, 48) orthonormal rows, the most important first."""

    name = "{name}"

    def __init__(self, basis: torch.Tensor) -> None:
        self.basis = basis

    def transmit(self, images: torch.Tensor, rate: float, labels: TransmitterLabels | None = None) -> Transmission:
        batch, _, h, w = images.shape
        if h % PATCH or w % PATCH:
            raise ValueError(f"image sides must be multiples of {{PATCH}}, got {{h}}x{{w}}")
        k = round(rate * VALUES)  # complex symbols per patch
        if not 1 <= k <= VALUES // 2:
            raise ValueError(f"rate must give 1..{{VALUES // 2}} symbols per 4x4 patch, got {{rate}}")
        coeffs = self.basis[: 2 * k] @ F.unfold(images - 0.5, PATCH, stride=PATCH)  # (B, 2k, L)
        reals = coeffs.transpose(1, 2).reshape(batch, -1)
        # the scale crosses as float16: normalise by the rounded value the receiver will read
        scale = (2 * reals.pow(2).mean(dim=1)).sqrt().clamp_min(1e-6).half()
        symbols = real_to_complex(reals / scale.float()[:, None])
        lengths = torch.full((batch,), symbols.shape[1], dtype=torch.int64)
        side = {{"scale": scale, "image_size": (h, w)}}
        return Transmission(symbols, lengths, side, torch.full((batch,), HEADER_BITS, dtype=torch.int64))

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        h, w = transmission.side["image_size"]
        patches = (h // PATCH) * (w // PATCH)
        out = []
        for b in range(received.shape[0]):
            n = int(transmission.lengths[b])
            y = received[b, :n] if state.gains is None else received[b, :n] / state.gains[b, :n]  # zero forcing
            reals = complex_to_real(y) * transmission.side["scale"][b].float()
            coeffs = reals.reshape(patches, -1).T  # (2k, L)
            image = F.fold(self.basis[: coeffs.shape[0]].T @ coeffs, (h, w), PATCH, stride=PATCH) + 0.5
            out.append(image.clamp(0, 1))
        return torch.stack(out)


def build(root: Path) -> LinearDCT:
    """The leaderboard's entry point (manifest.json: "codec:build")."""
    return LinearDCT(torch.load(root / "weights" / "basis.pt", weights_only=True))
'''

README = """# {name}

A semcom-bench leaderboard submission. `manifest.json` names the entry point, the weights (with sha256) and the
operating points (rate -> the CBR claimed, side information included). Check it with

    semcom-bench leaderboard check {folder}

After changing a weights file, put its new sha256 (`sha256sum weights/...`) in `manifest.json`.
"""


def dct_basis() -> torch.Tensor:
    """``(48, 48)`` orthonormal colour-DCT basis of a 4 x 4 RGB patch in ``F.unfold`` order, low frequency first."""
    import torch

    n = 4
    d = torch.tensor([[math.sqrt((1 if u == 0 else 2) / n) * math.cos(math.pi * (2 * x + 1) * u / (2 * n))
                       for x in range(n)] for u in range(n)], dtype=torch.float64)
    colour = torch.tensor([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=torch.float64)
    colour = colour / colour.norm(dim=1, keepdim=True)  # luma, then two chroma differences
    rows, keys = [], []
    for c in range(3):
        for u in range(n):
            for v in range(n):
                rows.append(torch.kron(colour[c], torch.kron(d[u], d[v])))
                keys.append((u + v + 2 * c, c, u, v))  # chroma counts as two steps of frequency
    order = sorted(range(len(rows)), key=lambda i: keys[i])
    return torch.stack([rows[i] for i in order]).float()


def scaffold(name: str, out: str | Path | None = None) -> Path:
    """Write a new submission folder ``out`` (default ``./NAME``) with the example codec; returns the folder."""
    import torch

    folder = Path(out) if out is not None else Path(name)
    if folder.exists() and any(folder.iterdir()):
        raise SemcomError(f"{folder} exists and is not empty", hint="choose another NAME or --out")
    manifest = {
        "name": name, "version": "0.1.0", "authors": ["Your Name"], "license": "MIT",
        "description": "uncoded analog transmission of 4x4 colour-DCT coefficients (the scaffold's example)",
        "entry_point": "codec:build",
        "weights": [{"path": "weights/basis.pt", "sha256": "0" * 64}],
        # payload CBR 1/16 and 1/8 plus the 16-bit header priced by the harness at low SNR
        "operating_points": [{"rate": 0.0625, "cbr": 0.064}, {"rate": 0.125, "cbr": 0.1265}],
        "image_sizes": [[128, 256]],
        "dependencies": ["torch"],
    }
    problems = schema_problems(manifest)
    if problems:
        raise SemcomError(f"{name!r} cannot name a submission: {'; '.join(problems)}",
                          hint="use lowercase letters, digits and dashes, e.g. my-codec")
    (folder / "weights").mkdir(parents=True, exist_ok=True)
    torch.save(dct_basis(), folder / "weights" / "basis.pt")
    manifest["weights"][0]["sha256"] = sha256_file(folder / "weights" / "basis.pt")
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "codec.py").write_text(CODEC.format(name=name))
    (folder / "README.md").write_text(README.format(name=name, folder=folder))
    return folder
