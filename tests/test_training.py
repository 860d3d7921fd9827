"""Training mechanics on a few tiny images: the loss goes down, checkpoints write, load and resume."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from srspace.buildtime.training import TrainConfig, Trainer, to_batch
from srspace.imaging.colour import rgb_to_ycbcr
from srspace.models.weights import load_checkpoint
import pytest

pytestmark = pytest.mark.slow  # trains a few steps and exports what it trained


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
    kw = {"data": tmp_path / "data", "out": tmp_path / f"{model}.pth", **kw}
    return TrainConfig(model=model, steps=steps, batch=8, patch=24, val_every=10, val_crop=48, holdout_every=4,
                       threads=1, **kw)


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


def test_with_ema_the_written_weights_are_the_average_and_survive_a_resume(tmp_path):
    """--ema: the file holds the moving average, not the last step's weights, and a run stopped and
    resumed writes the same file as one that never stopped."""
    _images(tmp_path / "data")
    whole = Trainer(_config(tmp_path, "espcn", 20, lr=3e-3, ema=0.9, out=tmp_path / "whole.pth"), log=lambda *_: None)
    whole.fit()
    written = load_checkpoint(tmp_path / "whole.pth", "espcn_x3")
    assert not torch.equal(written["conv4.weight"], whole.model.conv4.weight)  # the average, not the last step
    assert (written["conv1.weight"] - whole.model.conv1.weight).abs().max() < 0.2  # ...of these weights
    stopped = Trainer(_config(tmp_path, "espcn", 20, lr=3e-3, ema=0.9, out=tmp_path / "part.pth"), log=lambda *_: None)
    while stopped.step < 10:  # a run stopped half-way, after its checkpoint
        stopped.train_step()
        stopped.step += 1
    stopped.save_checkpoint()
    resumed = Trainer(_config(tmp_path, "espcn", 20, lr=3e-3, ema=0.9, out=tmp_path / "part.pth"), log=lambda *_: None)
    assert resumed.resume() and resumed.step == 10
    resumed.fit()
    again = load_checkpoint(tmp_path / "part.pth", "espcn_x3")
    assert all(torch.equal(again[k], v) for k, v in written.items())


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


def test_espcn_trains_at_each_native_factor_and_validates_on_a_folder_held_out_whole(tmp_path):
    _images(tmp_path / "data")
    _images(tmp_path / "val", count=2, side=40)
    for factor in (2, 4):
        config = _config(tmp_path, "espcn", 3, factor=factor, val_data=tmp_path / "val", out=tmp_path / f"x{factor}.pth")
        trainer = Trainer(config, log=lambda *_: None)
        assert [p.name for p in trainer.val_paths] == ["img0.png", "img1.png"] and len(trainer.train_paths) == 4
        report = trainer.fit()
        assert report["key"] == f"espcn_x{factor}" and str(float(factor)) in report["validation_psnr_y"]
        state = load_checkpoint(tmp_path / f"x{factor}.pth", f"espcn_x{factor}")
        assert state["conv4.weight"].shape[0] == factor**2


def test_espcn_at_another_factor_starts_from_x3_weights_but_its_last_layer(tmp_path):
    _images(tmp_path / "data")
    Trainer(_config(tmp_path, "espcn", 2), log=lambda *_: None).fit()  # an x3 file to start from
    x3 = load_checkpoint(tmp_path / "espcn.pth", "espcn_x3")
    lines = []
    trainer = Trainer(_config(tmp_path, "espcn", 1, factor=2, init=tmp_path / "espcn.pth", out=tmp_path / "x2.pth"),
                      log=lines.append)
    assert torch.equal(trainer.model.conv2.weight, x3["conv2.weight"]) and "conv4.bias" in lines[-1]


def test_unreadable_files_and_images_smaller_than_a_patch_are_skipped_with_a_message(tmp_path):
    data = _images(tmp_path / "data")
    (data / "broken.png").write_bytes(b"\x89PNG not really")
    Image.new("RGB", (10, 10)).save(data / "tiny.png")
    _images(tmp_path / "val", count=1)
    lines = []
    trainer = Trainer(_config(tmp_path, "espcn", 1, val_data=tmp_path / "val"), log=lines.append)
    assert any("1 unreadable file(s): broken.png" in line for line in lines)
    assert any("smaller than the 24-pixel patch: tiny.png" in line for line in lines)
    assert len(trainer.sampler.images) == len(trainer.train_paths) - 2


def test_training_on_too_few_or_too_small_images_stops_with_a_message_and_writes_nothing(tmp_path):
    import pytest

    _images(tmp_path / "data", count=3, side=16)
    with pytest.raises(ValueError, match="no training image is at least 24x24 pixels"):
        Trainer(_config(tmp_path, "espcn", 1), log=lambda *_: None)
    (tmp_path / "one").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "one" / "a.png")
    with pytest.raises(ValueError, match="need at least 2 images"):
        Trainer(_config(tmp_path, "espcn", 1, data=tmp_path / "one"), log=lambda *_: None)
    assert not list(tmp_path.glob("*.pth*"))


def test_the_photo_set_trains_on_jpeg_inputs(tmp_path):
    """Photo-set LR patches are cut from a JPEG of a larger region (from the patch alone where no
    image is large enough), in register with their HR patch: at quality 100 their luma is the HR
    patch's bicubic downscale but for rounding, at quality 30 it is not."""
    def luma_error(data, quality):
        trainer = Trainer(_config(tmp_path, "espcn", 2, data=data, jpeg_quality=(quality, quality), jpeg_share=1.0),
                          log=lambda *_: None)
        lr, hr = trainer.sampler.sample(8, 16, 3)
        clean = np.stack([np.asarray(Image.fromarray(h).resize((16, 16), Image.BICUBIC)) for h in hr])
        luma = lambda a: rgb_to_ycbcr(a / 255.0)[..., 0] * 255.0
        return np.abs(luma(lr) - luma(clean))[:, 2:-2, 2:-2].mean()  # the outer 2 px: the resize saw more context

    large, small = _images(tmp_path / "large", side=120), _images(tmp_path / "data", side=64)
    for data in (large, small):
        assert luma_error(data, 100) < 1.0 and luma_error(data, 30) > 4.0
    trainer = Trainer(_config(tmp_path, "espcn", 2, jpeg_quality=(30, 40), jpeg_share=1.0), log=lambda *_: None)
    report = trainer.fit()
    assert "JPEG at a quality in 30-40" in report["degradation"] and "3.0 q60" in report["validation_psnr_y_jpeg"]
