import copy

import numpy as np
import pytest
import torch

from affectstream import AffectStreamError
from affectstream.face import BLENDSHAPE_NAMES
from affectstream.models.frame import GEOMETRY_DIM, FrameNet, fold_batch_norm, load_frame_net
from affectstream.models.weights import save_net
from affectstream.train.frame.training import (
    BLEND_MIRROR,
    Tensors,
    augment,
    one_cycle,
    shape_mirror,
)


def inputs(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 48, 48, generator=g), torch.rand(n, 52, generator=g),
            torch.rand(n, GEOMETRY_DIM - 52, generator=g) - 0.5)


def test_outputs_have_the_documented_shapes_and_ranges():
    out = FrameNet().eval()(*inputs())
    assert out["embedding"].shape == (4, 256) and out["emotion"].shape == (4, 8)
    assert out["valence_arousal"].abs().max() <= 1 and out["au"].min() >= 0 and out["au"].max() <= 5


def test_modality_dropout_removes_a_branch():
    net = FrameNet().eval()
    image, blend, shape = inputs()
    keep = torch.ones(4)
    without_image = net(image, blend, shape, keep_image=torch.zeros(4), keep_geometry=keep)
    other_image = net(torch.rand_like(image), blend, shape, keep_image=torch.zeros(4),
                      keep_geometry=keep)
    assert torch.allclose(without_image["au"], other_image["au"])  # the image no longer matters
    assert not torch.allclose(net(image, blend, shape)["au"], without_image["au"])


def test_batch_norm_folds_into_the_convolutions_without_changing_the_outputs():
    net = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32)
    net.train()
    for _ in range(3):  # running statistics away from the identity
        net(torch.rand(16, 1, 48, 48) * 3, torch.rand(16, 52), torch.rand(16, GEOMETRY_DIM - 52))
    net.eval()
    folded = fold_batch_norm(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.inference_mode():
        a, b = net(*inputs()), folded(*inputs())
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_weights_round_trip(tmp_path):
    net = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32).eval()
    path = save_net(net, tmp_path / "tiny.safetensors", note="test")
    again = load_frame_net(path)
    image, blend, shape = inputs()
    assert torch.allclose(net(image, blend, shape)["emotion"],
                          again(image, blend, shape)["emotion"])
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(AffectStreamError, match="unreadable"):
        load_frame_net(tmp_path / "junk.safetensors")
    with pytest.raises(AffectStreamError, match="no such weights"):
        load_frame_net(tmp_path / "missing.safetensors")


def test_flip_swaps_left_and_right():
    assert sorted(BLEND_MIRROR) == list(range(52))
    assert all(BLEND_MIRROR[BLEND_MIRROR[i]] == i for i in range(52))
    assert (BLENDSHAPE_NAMES[BLEND_MIRROR[BLENDSHAPE_NAMES.index("mouthSmileLeft")]]
            == "mouthSmileRight")
    assert BLENDSHAPE_NAMES[BLEND_MIRROR[BLENDSHAPE_NAMES.index("jawOpen")]] == "jawOpen"
    # A symmetric toy shape: point i and 9 − i mirror each other.
    xs = np.linspace(-0.4, 0.4, 10)
    shape = torch.tensor(np.stack([xs, np.abs(xs)], 1), dtype=torch.float32)[None].repeat(3, 1, 1)
    assert shape_mirror(shape).tolist() == list(range(9, -1, -1))


def test_augment_keeps_shapes_ranges_and_targets():
    n = 16
    batch = Tensors(torch.rand(n, 1, 48, 48), torch.rand(n, 52), torch.rand(n, 478, 2) - 0.5,
                    torch.rand(n, 2), torch.rand(n, 12), torch.rand(n, 8))
    out = augment(batch, torch.arange(478), torch.Generator().manual_seed(0))
    assert out.image.shape == batch.image.shape and out.image.min() >= 0 and out.image.max() <= 1
    assert out.blend.min() >= 0 and out.blend.max() <= 1
    assert torch.equal(out.va, batch.va) and torch.equal(out.emotion, batch.emotion)
    assert not torch.equal(out.image, batch.image)


def test_a_cropping_network_reads_the_centre_window_and_keeps_its_crop_in_the_file(tmp_path):
    net = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32, crop=44).eval()
    image, blend, shape = inputs()
    whole = net(image, blend, shape)
    centre = net(image[..., 2:46, 2:46], blend, shape)
    assert all(torch.equal(whole[k], centre[k]) for k in whole)
    # a change outside the centre window changes nothing
    framed = image.clone()
    framed[..., :2, :] = 1 - framed[..., :2, :]
    assert torch.equal(net(framed, blend, shape)["emotion"], whole["emotion"])
    again = load_frame_net(save_net(net, tmp_path / "crop.safetensors"))
    assert again.crop == 44 and torch.equal(again(image, blend, shape)["emotion"], whole["emotion"])
    assert "crop" not in FrameNet().config  # files without a crop read as before
    with pytest.raises(ValueError, match="crop"):
        FrameNet(crop=60)


def test_a_separable_network_keeps_its_form_in_the_file_and_folds_its_batch_norms(tmp_path):
    net = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32, separable=True).eval()
    plain = FrameNet(channels=(8, 16, 16, 32), hidden=16, embed=32)
    convs = [m for m in net.cnn if isinstance(m, torch.nn.Conv2d)]
    # the grey input's convolution stays full; each later 3×3 is per-channel, then a 1×1
    assert convs[0].groups == 1 and convs[0].kernel_size == (3, 3)
    assert [(c.groups == c.in_channels, c.kernel_size) for c in convs[1:3]] == [
        (True, (3, 3)), (False, (1, 1))]
    assert (sum(p.numel() for p in net.cnn.parameters())
            < sum(p.numel() for p in plain.cnn.parameters()) / 2)
    image, blend, shape = inputs()
    with torch.no_grad():
        for m in net.cnn:  # BatchNorms that are not the identity, so folding is put to the test
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        before = net(image, blend, shape)
        again = load_frame_net(save_net(net, tmp_path / "separable.safetensors"))
        assert again.config["separable"] and "separable" not in plain.config
        assert torch.equal(again(image, blend, shape)["emotion"], before["emotion"])
        folded = fold_batch_norm(again)(image, blend, shape)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in again.cnn)
    assert torch.allclose(folded["emotion"], before["emotion"], atol=1e-4)


def test_augment_with_a_crop_takes_one_random_window_of_each_face():
    n = 32
    image = torch.arange(48.0)[None, None, None, :].expand(n, 1, 48, 48) / 48  # value = column
    batch = Tensors(image.clone(), torch.rand(n, 52), torch.rand(n, 478, 2) - 0.5,
                    torch.rand(n, 2), torch.rand(n, 12), torch.rand(n, 8))
    plain = augment(batch, torch.arange(478), torch.Generator().manual_seed(0))
    cropped = augment(batch, torch.arange(478), torch.Generator().manual_seed(0), crop=44)
    assert cropped.image.shape == (n, 1, 44, 44)
    # drawn after everything else: the same faces as without a crop, windowed
    windows = [[(y, x) for y in range(5) for x in range(5)
                if torch.equal(cropped.image[i], plain.image[i, :, y:y + 44, x:x + 44])]
               for i in range(n)]
    assert all(windows)
    assert len({w[0] for w in windows}) > 1  # not one fixed window


def test_the_learning_rate_schedule_runs_on_short_trainings_and_refuses_too_few_steps():
    def rates(total):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule, seen = one_cycle(optimizer, 1.0, total), []
        for _ in range(total):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if len(seen) < total:
                schedule.step()
        return np.array(seen)

    for total in (4, 5, 10, 12, 19):  # 10 steps once divided by zero inside OneCycleLR
        r = rates(total)
        assert r.max() == pytest.approx(1.0) and r[-1] < 0.01
    assert int(rates(400).argmax()) == 39  # long runs warm up over 10 % of the steps, as before
    with pytest.raises(AffectStreamError, match="too few"):
        rates(3)
