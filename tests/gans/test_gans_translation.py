import pytest
import torch

from adlab.gans.translation import (
    CycleGAN,
    PatchGANDiscriminator,
    UNetGenerator,
    cycle_consistency_loss,
    identity_loss,
    pix2pix_discriminator_loss,
    pix2pix_generator_loss,
)


@pytest.mark.parametrize("size, depth", [(28, 2), (32, 3)])
def test_unet_shapes(size, depth):
    G = UNetGenerator(1, 3, base=8, depth=depth)
    y = G(torch.randn(2, 1, size, size))
    assert y.shape == (2, 3, size, size) and float(y.detach().abs().max()) <= 1
    with pytest.raises(ValueError):
        G(torch.randn(1, 1, size + 2, size + 2))


def test_patchgan_outputs_a_map():
    D = PatchGANDiscriminator(2, base=8, n_layers=2)
    out = D(torch.randn(3, 2, 28, 28))
    assert out.shape == (3, 1, 7, 7)


def test_pix2pix_losses_and_grads(assert_grads):
    torch.manual_seed(0)
    G, D = UNetGenerator(1, 1, base=8), PatchGANDiscriminator(2, base=8)
    x, y = torch.randn(2, 1, 28, 28), torch.rand(2, 1, 28, 28) * 2 - 1
    fake = G(x)
    d_fake = D(torch.cat([x, fake], 1))
    g_loss, parts = pix2pix_generator_loss(d_fake, fake, y, lambda_l1=100.0)
    expected = torch.nn.functional.softplus(-d_fake).mean() + 100.0 * (fake - y).abs().mean()
    assert float(g_loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert set(parts) == {"adv", "l1"}
    d_loss = pix2pix_discriminator_loss(D(torch.cat([x, y], 1)), D(torch.cat([x, fake.detach()], 1)))
    (g_loss + d_loss).backward()
    assert_grads(G, D)


def test_cycle_and_identity_losses_closed_form():
    a, b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert float(cycle_consistency_loss(a, a, b, b)) == 0.0
    assert float(cycle_consistency_loss(a, a + 0.5, b, b - 0.25)) == pytest.approx(0.75)
    assert float(identity_loss(a, a + 1, b, b)) == pytest.approx(1.0)


def test_cycle_loss_zero_for_inverse_generators():
    model = CycleGAN(base=8)

    class Shift(torch.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.s = s

        def forward(self, x):
            return x + self.s

    model.G, model.F = Shift(0.3), Shift(-0.3)  # exact inverses
    a, b = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    _, parts, _, _ = model.generator_loss(a, b)
    assert parts["cycle"] == pytest.approx(0.0, abs=1e-6)
    assert parts["identity"] == pytest.approx(0.6, rel=1e-5)


def test_cyclegan_grads(assert_grads):
    torch.manual_seed(1)
    model = CycleGAN(base=8)
    a, b = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    g_loss, parts, fake_a, fake_b = model.generator_loss(a, b)
    assert fake_a.shape == a.shape and fake_b.shape == b.shape and set(parts) == {"adv", "cycle", "identity"}
    d_loss = model.discriminator_loss(a, b, fake_a, fake_b)
    (g_loss + d_loss).backward()
    assert_grads(model)
    assert len(model.generator_parameters()) + len(model.discriminator_parameters()) == len(list(model.parameters()))
