"""adlab.vision.augment: tensor-only augmentations with explicit generators."""

import numpy as np
import pytest
import torch

from adlab.vision.augment import (
    Compose,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomLighting,
    affine_matrix,
)


def batch(B=6, C=3, H=10, W=12, seed=0):
    return torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(seed)) + 0.5  # no zeros


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------
# Random crop
# ---------------------------------------------------------------------------


def test_crop_with_no_padding_and_full_size_is_identity():
    x = batch()
    assert torch.equal(RandomCrop(None, padding=0)(x, gen()), x)
    assert torch.equal(RandomCrop((10, 12), padding=0)(x, gen()), x)


def test_crop_takes_the_drawn_window_of_the_padded_image():
    x = batch()
    t = RandomCrop(10, padding=3)
    params = t.sample_params(x, gen(1))
    y = t.apply(x, params)
    assert y.shape == (6, 3, 10, 10)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    for b in range(6):
        top, left = int(params["top"][b]), int(params["left"][b])
        assert 0 <= top <= 16 - 10 and 0 <= left <= 18 - 10
        assert torch.equal(y[b], padded[b, :, top : top + 10, left : left + 10])


def test_crop_reflect_padding_and_single_image():
    x = batch(B=1)
    y = RandomCrop(8, padding=2, padding_mode="reflect")(x[0], gen())
    assert y.shape == (3, 8, 8) and (y > 0).all()
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(20)(x, gen())


def test_crop_reflect_padding_takes_the_window_of_the_reflect_padded_image():
    x = batch(B=8)
    t = RandomCrop(8, padding=2, padding_mode="reflect")
    params = t.sample_params(x, gen(5))
    y = t.apply(x, params)
    assert y.shape == (8, 3, 8, 8)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    other = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    differs = 0
    for b in range(8):
        top, left = int(params["top"][b]), int(params["left"][b])
        win = (slice(top, top + 8), slice(left, left + 8))
        assert torch.equal(y[b], padded[b, :, win[0], win[1]])
        differs += not torch.equal(y[b], other[b, :, win[0], win[1]])
    assert differs > 0  # some drawn window reaches the padding, where reflect and replicate disagree
    # the single-image call path reads the same window
    g = gen(5)
    p1 = t.sample_params(x[:1], gen(5))
    y1 = t(x[0], g)
    top, left = int(p1["top"][0]), int(p1["left"][0])
    assert torch.equal(y1, padded[0, :, top : top + 8, left : left + 8])


# ---------------------------------------------------------------------------
# Horizontal flip
# ---------------------------------------------------------------------------


def test_flip_equals_torch_flip_where_chosen_and_twice_is_identity():
    x = batch(B=32)
    t = RandomHorizontalFlip(0.5)
    params = t.sample_params(x, gen(2))
    y = t.apply(x, params)
    flip = params["flip"]
    assert 0 < int(flip.sum()) < 32
    assert torch.equal(y[flip], torch.flip(x[flip], dims=[-1]))
    assert torch.equal(y[~flip], x[~flip])
    assert torch.equal(t.apply(y, params), x)
    assert torch.equal(RandomHorizontalFlip(1.0)(RandomHorizontalFlip(1.0)(x)), x)


# ---------------------------------------------------------------------------
# Random erasing
# ---------------------------------------------------------------------------


def test_erasing_zeroes_exactly_the_chosen_rectangle_within_bounds():
    x = batch(B=64, H=20, W=24)
    scale = (0.05, 0.3)
    t = RandomErasing(p=0.7, scale=scale, ratio=(0.5, 2.0), value=0.0)
    params = t.sample_params(x, gen(3))
    y = t.apply(x, params)
    erased = params["erase"]
    assert 20 < int(erased.sum()) < 64
    for b in range(64):
        zeros = y[b] == 0
        if not erased[b]:
            assert not zeros.any() and torch.equal(y[b], x[b])
            continue
        top, left, h, w = (int(params[k][b]) for k in ("top", "left", "h", "w"))
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 24
        assert scale[0] <= h * w / (20 * 24) <= scale[1]
        expected = torch.zeros(20, 24, dtype=torch.bool)
        expected[top : top + h, left : left + w] = True
        assert torch.equal(zeros, expected.expand(3, -1, -1))  # every channel, exactly the rectangle
        assert torch.equal(y[b][~zeros], x[b][~zeros])


def test_erasing_with_value_and_probability_bounds():
    x = batch()
    y = RandomErasing(p=1.0, value=-1.0)(x, gen())
    assert ((y == -1).flatten(1).any(1)).all()
    assert torch.equal(RandomErasing(p=0.0)(x, gen()), x)


# ---------------------------------------------------------------------------
# Random affine
# ---------------------------------------------------------------------------


def test_affine_with_zero_angle_and_shift_is_identity():
    x = batch()
    t = RandomAffine(degrees=0.0, translate=(0.0, 0.0))
    torch.testing.assert_close(t(x, gen()), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_affine_quarter_turns_equal_rot90(k):
    x = batch(H=9, W=9)
    t = RandomAffine()
    params = {"angle": torch.full((6,), 90.0 * k), "shift": torch.zeros(6, 2)}
    torch.testing.assert_close(t.apply(x, params), torch.rot90(x, k, dims=(2, 3)), atol=1e-5, rtol=0)


def test_affine_integer_shift_moves_content():
    x = batch(B=2, H=8, W=8)
    t = RandomAffine()
    params = {"angle": torch.zeros(2), "shift": torch.tensor([[2.0, 0.0], [0.0, -3.0]])}
    y = t.apply(x, params)
    torch.testing.assert_close(y[0, :, :, 2:], x[0, :, :, :-2], atol=1e-6, rtol=0)  # 2 pixels right
    assert (y[0, :, :, :2] == 0).all()
    torch.testing.assert_close(y[1, :, :-3, :], x[1, :, 3:, :], atol=1e-6, rtol=0)  # 3 pixels up
    assert affine_matrix(torch.zeros(1), torch.zeros(1, 2), 8, 8).squeeze(0).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_affine_integer_shift_on_a_non_square_image():
    # 9 rows, 15 columns: a scale matrix with W and H swapped moves the content by the wrong amount
    x = batch(B=2, H=9, W=15)
    t = RandomAffine()
    params = {"angle": torch.zeros(2), "shift": torch.tensor([[2.0, 0.0], [0.0, 3.0]])}
    y = t.apply(x, params)
    torch.testing.assert_close(y[0, :, :, 2:], x[0, :, :, :-2], atol=1e-5, rtol=0)  # 2 pixels right
    assert (y[0, :, :, :2].abs() < 1e-6).all()
    torch.testing.assert_close(y[1, :, 3:, :], x[1, :, :-3, :], atol=1e-5, rtol=0)  # 3 pixels down
    assert (y[1, :, :3, :].abs() < 1e-6).all()


@pytest.mark.parametrize("k", [1, 3])
def test_affine_quarter_turn_on_a_non_square_image_rotates_the_central_square(k):
    # 9x15 about its centre (row 4, column 7): the central 9x9 block (columns 3..11) turns onto itself,
    # the side bands map outside the frame and read zeros
    x = batch(B=3, H=9, W=15)
    t = RandomAffine()
    params = {"angle": torch.full((3,), 90.0 * k), "shift": torch.zeros(3, 2)}
    y = t.apply(x, params)
    torch.testing.assert_close(y[..., 3:12], torch.rot90(x[..., 3:12], k, dims=(2, 3)), atol=1e-5, rtol=0)
    assert (y[..., :3].abs() < 1e-5).all() and (y[..., 12:].abs() < 1e-5).all()


def test_affine_draws_within_ranges():
    x = batch(B=200, H=10, W=20)
    t = RandomAffine(degrees=15, translate=(0.1, 0.2))
    p = t.sample_params(x, gen(4))
    assert p["angle"].abs().max() <= 15 and p["angle"].abs().max() > 10
    assert p["shift"][:, 0].abs().max() <= 2.0 and p["shift"][:, 1].abs().max() <= 2.0


# ---------------------------------------------------------------------------
# Determinism and composition
# ---------------------------------------------------------------------------

ALL = [
    RandomCrop(8, padding=2),
    RandomHorizontalFlip(),
    RandomErasing(p=1.0),
    RandomAffine(degrees=20, translate=(0.1, 0.1)),
    RandomLighting(0.2, 0.3),
]


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_same_seed_same_output_and_different_seed_differs(t):
    x = batch(B=16)
    a, b, c = t(x, gen(7)), t(x, gen(7)), t(x, gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_compose_is_deterministic_and_keeps_shapes():
    pipeline = Compose(ALL)
    x = batch(B=8)
    a, b = pipeline(x, gen(1)), pipeline(x, gen(1))
    assert torch.equal(a, b) and a.shape == (8, 3, 8, 8)
    with pytest.raises(TypeError):
        pipeline.sample_params(x)


def test_lighting_identity_and_clamp():
    x = batch()
    t = RandomLighting(0.0, 0.0)
    torch.testing.assert_close(t(x, gen()), x)
    y = RandomLighting(0.5, 0.5, clamp=(0.0, 1.0))(x, gen())
    assert y.min() >= 0 and y.max() <= 1


def _lighting_reference(x, contrast, brightness, clamp):
    """The documented formula in float64 numpy: whole-image mean (channels and pixels) per example."""
    a = x.double().numpy()
    c = contrast.double().numpy()[:, None, None, None]
    b = brightness.double().numpy()[:, None, None, None]
    mean = a.reshape(a.shape[0], -1).mean(1)[:, None, None, None]
    out = mean + c * (a - mean) + b
    return np.clip(out, *clamp) if clamp is not None else out


@pytest.mark.parametrize("clamp", [None, (0.8, 2.0)])
def test_lighting_matches_the_documented_formula(clamp):
    x = batch(B=8, C=3)
    x[:, 0] += 1.0  # channels with clearly different means: a per-channel mean would differ
    t = RandomLighting(brightness=0.3, contrast=0.5, clamp=clamp)
    p = t.sample_params(x, gen(11))
    c, b = p["contrast"], p["brightness"]
    assert c.shape == b.shape == (8,)
    assert ((c >= 0.5) & (c <= 1.5)).all() and (b.abs() <= 0.3).all()
    assert c.std() > 0.05 and b.std() > 0.05  # really drawn per example
    y = t.apply(x, p)
    ref = _lighting_reference(x, c, b, clamp)
    np.testing.assert_allclose(y.double().numpy(), ref, rtol=0, atol=1e-5)
    if clamp is not None:
        unclamped = _lighting_reference(x, c, b, None)
        assert (unclamped < clamp[0]).any() and (unclamped > clamp[1]).any()  # the clamp did act
    # the call path draws the same parameters from the same seed
    torch.testing.assert_close(t(x, gen(11)), y)


def test_lighting_with_contrast_zero_gives_the_image_mean_plus_brightness():
    x = batch(B=4, C=3)
    x[:, 1] -= 0.4
    t = RandomLighting(brightness=0.3, contrast=0.0)
    b = torch.tensor([0.1, -0.2, 0.0, 0.25])
    y = t.apply(x, {"contrast": torch.zeros(4), "brightness": b})
    a = x.double().numpy()
    for i in range(4):
        expected = a[i].mean() + float(b[i])
        np.testing.assert_allclose(y[i].double().numpy(), np.full(a[i].shape, expected), rtol=0, atol=1e-6)


def test_bad_shapes_and_arguments():
    with pytest.raises(ValueError, match="expects"):
        RandomHorizontalFlip()(torch.zeros(2, 3))
    with pytest.raises(ValueError):
        RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError):
        RandomErasing(scale=(0.5, 0.1))
