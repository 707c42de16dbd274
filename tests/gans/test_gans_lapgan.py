import pytest
import torch

from adlab.gans import losses as L
from adlab.gans.lapgan import LAPGAN, downsample, laplacian_pyramid, reconstruct, upsample


def test_pyramid_shapes_and_exact_reconstruction():
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    pyr = laplacian_pyramid(x, 2)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(28, 28), (14, 14), (7, 7)]
    torch.testing.assert_close(reconstruct(pyr), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(pyr[-1], downsample(downsample(x)))
    with pytest.raises(ValueError):
        laplacian_pyramid(torch.randn(1, 1, 28, 28), 3)


def test_residuals_of_a_constant_image_vanish():
    x = torch.full((1, 1, 16, 16), 0.7)
    pyr = laplacian_pyramid(x, 3)
    for h in pyr[:-1]:
        assert float(h.abs().max()) < 1e-6
    assert upsample(pyr[-1]).shape == (1, 1, 4, 4)


def test_training_pairs_match_pyramid():
    model = LAPGAN(levels=2, hidden=8)
    x = torch.randn(2, 1, 28, 28)
    pairs, coarsest = model.training_pairs(x)
    pyr = laplacian_pyramid(x, 2)
    for k, (l, h) in enumerate(pairs):
        torch.testing.assert_close(h, pyr[k])
        torch.testing.assert_close(l + h, x if k == 0 else downsample(x))
    torch.testing.assert_close(coarsest, pyr[-1])


def test_lapgan_sampling_and_grads(assert_grads):
    torch.manual_seed(0)
    model = LAPGAN(channels=1, size=28, levels=2, z_dim=8, hidden=8)
    samples = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (4, 1, 28, 28)
    again = model.sample(4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(samples, again)
    # one loss over the base GAN and every level's conditional GAN
    loss = L.g_loss_nonsaturating(model.base_discriminator(model.base_sample(torch.randn(4, 8))).squeeze(1))
    pairs, _ = model.training_pairs(torch.randn(4, 1, 28, 28))
    for k, (l, h) in enumerate(pairs):
        fake_h = model.generators[k](l)
        loss = loss + L.g_loss_nonsaturating(model.discriminators[k](fake_h, l))
        loss = loss + L.d_loss_minimax(model.discriminators[k](h, l), model.discriminators[k](fake_h.detach(), l))
    loss.backward()
    assert_grads(model)
