"""NTSCC's Swin transform: shapes at several sizes, windows fitted to small maps, NTSCC round trip, training,
checkpoint rebuild and the paper profile."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torchvision.models.swin_transformer import ShiftedWindowAttention
from toy_scenes import toy_images

from semcom_bench.benchmark.train import build_scheme, load_profile
from semcom_bench.errors import ShapeMismatchError
from semcom_bench.phy import AWGN, average_power, make_generator
from semcom_bench.schemes.layers import TRANSFORMS
from semcom_bench.schemes.ntscc import NTSCC
from semcom_bench.schemes.swin import (
    FittedWindowAttention,
    SwinAnalysis,
    SwinSynthesis,
    _relative_position_index,
    stage_widths,
    swin_transform,
)

SWIN = {
    "transform": "swin",
    "transform_channels": 32,
    "latent_channels": 32,
    "hyper_channels": 32,
    "jscc_dim": 32,
    "jscc_depth": 1,
    "jscc_heads": 4,
    "rate_table": [4, 8, 16, 32],
}
H, W = 64, 128  # g_a's last stage works on a 4 x 8 map, smaller than the 8 x 8 window

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registered_with_ntscc_architecture() -> None:
    assert TRANSFORMS.get("swin") is swin_transform
    assert stage_widths(48) == (32, 48, 64, 80)
    g_a, g_s = swin_transform(192, 256)
    for module, depths, heads, widths in (
        (g_a, [2, 2, 6, 2], [4, 6, 8, 10], [128, 192, 256, 320]),  # NTSCC's encoder at the paper's N
        (g_s, [2, 6, 2, 2], [10, 8, 6, 4], [320, 256, 192, 128]),
    ):
        stages = [m for m in module.layers if isinstance(m, nn.Sequential)]
        assert [len(stage) for stage in stages] == depths
        assert [stage[0].attn.num_heads for stage in stages] == heads
        assert [stage[0].norm1.normalized_shape[0] for stage in stages] == widths
        for stage in stages:  # window 8, shifted by half a window on every second block
            assert [block.attn.window_size for block in stage] == [[8, 8]] * len(stage)
            assert [block.attn.shift_size for block in stage] == [[0, 0], [4, 4]] * (len(stage) // 2)


@pytest.mark.parametrize("size", [(64, 128), (128, 256)])
def test_shapes(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    g_a, g_s = swin_transform(32, 24)
    images = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = g_a(images)
        x = g_s(y)
    assert y.shape == (2, 24, size[0] // 16, size[1] // 16)
    assert x.shape == images.shape
    assert torch.isfinite(x).all()


def test_rejects_sizes_not_multiple_of_16() -> None:
    g_a, _ = swin_transform(32, 32)
    with pytest.raises(ShapeMismatchError, match="multiples of 16"):
        g_a(torch.rand(1, 3, 40, 64))
    with pytest.raises(ShapeMismatchError, match="multiple of 64"):  # NTSCC checks its own, stricter multiple first
        NTSCC(**SWIN).transmit(torch.rand(1, 3, 48, 64), 0.2)


def test_window_shrinks_to_a_smaller_map() -> None:
    torch.manual_seed(0)
    full = ShiftedWindowAttention(8, [8, 8], [0, 0], 2)
    assert torch.equal(_relative_position_index((8, 8), (8, 8)), full.relative_position_index)

    attention = FittedWindowAttention(8, [8, 8], [4, 4], 2)
    # the reference: a 4 x 8 window over the 4 x 8 map, its bias rows (vertical offsets -3..3) taken from the table
    reference = ShiftedWindowAttention(8, [4, 8], [0, 0], 2)
    reference.load_state_dict({
        **attention.state_dict(),
        "relative_position_bias_table": attention.relative_position_bias_table.detach().view(15, 15, 2)[4:11]
        .reshape(-1, 2),
        "relative_position_index": reference.relative_position_index,
    })
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        out = attention(x)
        torch.testing.assert_close(out, reference(x))
        # torchvision alone pads the map to 8 x 8 and lets the tokens attend to the padding
        assert not torch.allclose(ShiftedWindowAttention.forward(attention, x), out, atol=1e-4)
        # a map as large as the window is left to torchvision
        big = torch.randn(1, 16, 8, 8)
        torch.testing.assert_close(attention(big), ShiftedWindowAttention.forward(attention, big))


def test_ntscc_round_trip() -> None:
    torch.manual_seed(0)
    model = NTSCC(**SWIN).eval()
    assert isinstance(model.g_a, SwinAnalysis) and isinstance(model.g_s, SwinSynthesis)
    images = toy_images(2, H, W)
    with torch.no_grad():
        tx = model.transmit(images, 0.5)
        received, state = AWGN()(tx.symbols, 10.0, make_generator(0))
        recon = model.receive(received, tx, state)
    assert tx.symbols.dtype == torch.complex64
    assert tx.side["rate_indices"].shape == (2, H // 16, W // 16)
    torch.testing.assert_close(average_power(tx.symbols, tx.lengths), torch.ones(2), rtol=1e-5, atol=1e-5)
    assert recon.shape == images.shape
    assert 0 <= float(recon.min()) and float(recon.max()) <= 1


def test_training_reduces_loss_and_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = NTSCC(**SWIN)
    images = toy_images(2, H, W)
    optimiser = torch.optim.Adam(list(model.main_parameters()), lr=3e-3)
    losses = []
    for step in range(15):
        out = model.training_step(images, AWGN(), 20.0, make_generator(step))
        optimiser.zero_grad()
        out["loss"].backward()
        if step == 0:
            aux = {id(p) for p in model.aux_parameters()}
            missing = [n for n, p in model.named_parameters() if id(p) not in aux and p.grad is None]
            assert not missing
        optimiser.step()
        losses.append(float(out["loss"].detach()))
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3


def test_hparams_rebuild_loads_strictly() -> None:
    torch.manual_seed(0)
    model = NTSCC(**SWIN)
    hp = json.loads(json.dumps(model.hparams()))
    assert hp["transform"] == "swin"
    rebuilt = NTSCC(**hp)
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    images = toy_images(1, H, W)
    with torch.no_grad():
        a, b = model.eval().transmit(images, 0.3), rebuilt.eval().transmit(images, 0.3)
    torch.testing.assert_close(a.symbols, b.symbols)


def test_paper_profile_builds_the_swin_model() -> None:
    settings = load_profile("paper", "ntscc")
    assert settings.hparams["transform"] == "swin"
    model = build_scheme("ntscc", settings.hparams)
    assert isinstance(model, NTSCC) and model.hparams()["transform"] == "swin"
    assert isinstance(model.g_a, SwinAnalysis) and isinstance(model.g_s, SwinSynthesis)
    assert model.g_a.layers[0].out_channels == 128  # NTSCC's first stage at N = 192
