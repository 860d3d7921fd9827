"""Training mechanics on a few tiny images: the loss goes down, checkpoints write, load and resume."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from srspace.training import TrainConfig, Trainer, to_batch
from srspace.weights import load_checkpoint


def _images(folder, count=4, side=64):
    folder.mkdir()
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:side, 0:side]
    for i in range(count):
        stripes = (np.sin(xx / (2 + i) + yy / (3 + i)) > 0) * 180 + 40
        rgb = np.stack([stripes, np.roll(stripes, i + 1, 1), 255 - stripes], -1) + rng.integers(0, 20, (side, side, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def _config(tmp_path, model, steps, **kw):
    return TrainConfig(model=model, data=tmp_path / "data", out=tmp_path / f"{model}.pth", steps=steps, batch=8,
                       patch=24, val_every=10, val_crop=48, holdout_every=4, threads=1, **kw)


def test_espcn_loss_goes_down_and_weights_load(tmp_path):
    _images(tmp_path / "data")
    trainer = Trainer(_config(tmp_path, "espcn", 40, lr=3e-3), log=lambda *_: None)
    lr, hr = trainer.sampler.sample(16, 8, 3)
    x, y = to_batch(lr, True), to_batch(hr, True)
    with torch.no_grad():
        before = F.mse_loss(trainer.model(x), y).item()
    report = trainer.fit()
    with torch.no_grad():
        after = F.mse_loss(trainer.model(x), y).item()
    assert after < 0.7 * before
    state = load_checkpoint(tmp_path / "espcn.pth", "espcn_x3")
    assert torch.equal(state["conv4.weight"], trainer.model.conv4.weight)
    assert report["steps"] == 40 and "3.0" in report["validation_psnr_y"]
    assert (tmp_path / "espcn.json").exists()


def test_srcnn_checkpoint_resumes_where_it_stopped(tmp_path):
    _images(tmp_path / "data")
    first = Trainer(_config(tmp_path, "srcnn", 10), log=lambda *_: None)
    first.fit()
    assert first.config.checkpoint.exists()
    saved = torch.load(tmp_path / "srcnn.pth", weights_only=True)
    assert all(k.startswith("generator.") for k in saved["state_dict"])  # the official layout
    second = Trainer(_config(tmp_path, "srcnn", 12), log=lambda *_: None)
    assert second.resume() and second.step == 10
    for key, value in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[key], value)
    second.fit()
    assert second.step == 12 and len(second.history) == 2


def test_srcnn_learns_its_gain_and_leaves_factor_one_untouched(tmp_path):
    _images(tmp_path / "data")
    trainer = Trainer(_config(tmp_path, "srcnn", 10, lr=1e-3), log=lambda *_: None)
    start = trainer.model.residual_gain.detach().clone()
    trainer.fit()
    gain = trainer.model.residual_gain.detach()
    assert gain[0] == 0 and not torch.equal(gain, start)  # the slope is learnt, g(1) stays 0
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(trainer.model(x, torch.tensor([1.0, 1.0, 1.0, 1.0])), x, rtol=0, atol=0)
