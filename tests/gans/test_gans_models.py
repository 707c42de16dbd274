import pytest
import torch

from adlab.gans import losses as L
from adlab.gans.models import (
    ACGANDiscriminator,
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ProjectionDiscriminator,
    SNDiscriminator,
)
from adlab.nn.spectral_norm import SpectralNorm


def test_mlp_gan_shapes_and_grads(assert_grads):
    torch.manual_seed(0)
    G, D = MLPGenerator(z_dim=3, out_dim=2, hidden=16), MLPDiscriminator(2, 16)
    x = G(torch.randn(10, 3))
    assert x.shape == (10, 2)
    out = D(x)
    assert out.shape == (10,)
    L.g_loss_nonsaturating(out).backward()
    assert_grads(G, D)


def test_mlp_discriminator_packing_and_spectral():
    torch.manual_seed(1)
    D = MLPDiscriminator(2, 16, pack=4, spectral=True)
    x = torch.randn(12, 2)
    assert D(x).shape == (3,)
    D.eval()  # freeze the power iteration so two calls use the same normalisation
    # packing concatenates consecutive samples
    torch.testing.assert_close(D(x)[1:2], D(x[4:8]))
    with pytest.raises(ValueError):
        D(torch.randn(10, 2))
    assert all(hasattr(m, "parametrizations") for m in D.net if isinstance(m, torch.nn.Linear))


def test_dcgan_shapes_range_and_grads(assert_grads):
    torch.manual_seed(2)
    G, D = DCGANGenerator(z_dim=16, ngf=8), DCGANDiscriminator(ndf=8)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 1, 28, 28)
    assert float(x.detach().abs().max()) <= 1.0
    logits = D(x)
    assert logits.shape == (4,)
    assert D.features(x).shape == (4, D.feature_dim)
    L.d_loss_minimax(D(torch.rand(4, 1, 28, 28) * 2 - 1), logits).backward()
    assert_grads(G, D)


def test_dcgan_init_statistics():
    torch.manual_seed(3)
    G = DCGANGenerator(z_dim=100, ngf=32)
    w = G.net[2].weight
    assert float(w.detach().std()) == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("shared_dim", [None, 16])
@pytest.mark.parametrize("attention", [False, True])
def test_conditional_generator_and_projection_discriminator(shared_dim, attention, assert_grads):
    torch.manual_seed(4)
    G = ConditionalDCGANGenerator(z_dim=24, num_classes=5, ngf=8, shared_dim=shared_dim, attention=attention)
    D = ProjectionDiscriminator(num_classes=5, ndf=8, attention=attention)
    if attention:  # let the attention branches carry gradient to their 1x1 convolutions
        with torch.no_grad():
            G.attn.gamma.fill_(0.5)
            D.trunk[4].gamma.fill_(0.5)
    y = torch.arange(10) % 5
    x = G(torch.randn(10, 24), y)
    assert x.shape == (10, 1, 28, 28)
    scores = D(x, y)
    assert scores.shape == (10,)
    d_loss = L.d_loss_hinge(D(torch.rand(10, 1, 28, 28), y), D(x.detach(), y))
    (d_loss + L.g_loss_hinge(scores)).backward()
    assert_grads(G, D)


def test_conditional_generator_depends_on_class():
    torch.manual_seed(5)
    G = ConditionalDCGANGenerator(z_dim=24, num_classes=3, ngf=8)
    with torch.no_grad():
        G.bn1.beta_embed.weight.normal_()
    G.eval()
    z = torch.randn(1, 24).expand(3, -1)
    x = G(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(x[0], x[1]) and not torch.allclose(x[1], x[2])


def test_sn_discriminator_is_spectrally_normalised(assert_grads):
    torch.manual_seed(6)
    D = SNDiscriminator(ndf=8)
    sn_layers = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(sn_layers) == 6  # five convolutions + the linear head
    x = torch.randn(4, 1, 28, 28)
    D.train()
    for _ in range(60):
        D(x)
    for m in sn_layers:
        sn = m.parametrizations.weight[0]
        assert isinstance(sn, SpectralNorm)
        s = torch.linalg.svdvals(m.weight.detach().flatten(1))[0]
        assert float(s) == pytest.approx(1.0, rel=1e-2)
    out = D(x)
    assert out.shape == (4,)
    L.g_loss_hinge(out).backward()
    assert_grads(D)
    with pytest.raises(ValueError):
        D(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError):
        ProjectionDiscriminator(3, ndf=8)(x)


def test_sn_discriminator_without_spectral_norm():
    D = SNDiscriminator(ndf=8, spectral=False)
    assert not any(hasattr(m, "parametrizations") for m in D.modules())
    assert D(torch.randn(2, 1, 28, 28)).shape == (2,)


def test_acgan_discriminator(assert_grads):
    torch.manual_seed(7)
    D = ACGANDiscriminator(num_classes=10, ndf=8)
    x, y = torch.randn(6, 1, 28, 28), torch.arange(6)
    adv, cls = D(x)
    assert adv.shape == (6,) and cls.shape == (6, 10)
    (L.g_loss_nonsaturating(adv) + torch.nn.functional.cross_entropy(cls, y)).backward()
    assert_grads(D)


def test_class_input_feeds_onehot_to_the_first_layer():
    """With class_input the input layer sees [z, onehot(y)]: its weight has K extra columns, and
    the class alone changes the pre-normalisation 7x7 map (which CBN gains cannot do per position)."""
    torch.manual_seed(0)
    G = ConditionalDCGANGenerator(z_dim=6, num_classes=4, ngf=2, class_input=True)
    assert G.project.weight.shape == (4 * 2 * 7 * 7, 6 + 4)
    z = torch.randn(1, 6).expand(4, -1)
    y = torch.arange(4)
    expected = z @ G.project.weight[:, :6].T + G.project.weight[:, 6:].T  # (4, 392): column y added
    captured = {}
    G.project.register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    G(z, y)
    torch.testing.assert_close(captured["h"], expected)
    with pytest.raises(ValueError, match="class_input"):
        ConditionalDCGANGenerator(z_dim=6, num_classes=4, ngf=2, shared_dim=8, class_input=True)
