import pytest
import torch
import torch.nn.functional as F

from adlab.gans.stylegan import AdaIN, MappingNetwork, ModulatedConv2d, NoiseInjection, StyleGenerator, pixel_norm


def test_pixel_norm_and_mapping_shapes():
    z = torch.randn(5, 16) * 7
    assert torch.allclose(pixel_norm(z).pow(2).mean(1), torch.ones(5), atol=1e-4)
    f = MappingNetwork(16, 32, n_layers=3)
    assert f(z).shape == (5, 32)
    torch.testing.assert_close(f(z), f(3 * z), rtol=1e-4, atol=1e-5)  # scale of z is normalised away


def test_noise_injection():
    layer = NoiseInjection(4)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(layer(x), x)  # zero scales at init
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    noise = torch.randn(2, 1, 5, 5)
    out = layer(x, noise)
    for c in range(4):
        torch.testing.assert_close(out[:, c], x[:, c] + c * noise[:, 0])
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    torch.testing.assert_close(layer(x, generator=g1), layer(x, generator=g2))


def test_adain_sets_channel_statistics_to_the_style():
    torch.manual_seed(1)
    block = AdaIN(3, w_dim=6)
    x, w = 5 * torch.randn(2, 3, 8, 8) + 2, torch.randn(2, 6)
    y_s, y_b = block.affine(w).chunk(2, 1)
    out = block(x, w)
    torch.testing.assert_close(out.mean((2, 3)), y_b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.std((2, 3), unbiased=False), y_s.abs(), rtol=1e-3, atol=1e-3)


def test_modulated_conv_matches_per_sample_conv_and_demodulates():
    torch.manual_seed(2)
    conv = ModulatedConv2d(4, 6, 3, w_dim=5)
    x, w = torch.randn(3, 4, 7, 7), torch.randn(3, 5)
    out = conv(x, w)
    assert out.shape == (3, 6, 7, 7)
    weights = conv.modulated_weight(w)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], F.conv2d(x[i : i + 1], weights[i], padding=1), rtol=1e-4, atol=1e-5)
    # demodulation: each output filter of each sample has unit L2 norm
    torch.testing.assert_close(weights.pow(2).sum((2, 3, 4)), torch.ones(3, 6), rtol=1e-4, atol=1e-4)
    plain = ModulatedConv2d(4, 6, 3, w_dim=5, demodulate=False)
    s = plain.affine(w)
    torch.testing.assert_close(plain.modulated_weight(w), plain.scale * plain.weight[None] * s[:, None, :, None, None])


@pytest.mark.parametrize("modulated", [False, True])
def test_style_generator_shapes_noise_and_grads(modulated, assert_grads):
    torch.manual_seed(3)
    G = StyleGenerator(z_dim=8, w_dim=8, channels=8, mapping_layers=2, modulated=modulated)
    z = torch.randn(3, 8)
    noise = [torch.randn(s) for s in G.noise_shapes(3)]
    x = G(z, noise=noise)
    assert x.shape == (3, 1, 28, 28) and G.n_layers == 5
    x.pow(2).mean().backward()
    assert_grads(G)
    # per-layer noise changes the image only through the learned noise scales
    G.eval()
    with torch.no_grad():
        a = G(z, noise=noise)
        b = G(z, noise=[torch.randn(s) for s in G.noise_shapes(3)])
        assert torch.allclose(a, b)  # noise scales are still 0 at init
        for layer in G.layers:
            layer.noise.weight.fill_(0.5)
        c = G(z, noise=noise)
        d = G(z, noise=[torch.randn(s) for s in G.noise_shapes(3)])
        assert not torch.allclose(c, d)
        torch.testing.assert_close(c, G(z, noise=noise))


def test_style_mixing_and_truncation():
    torch.manual_seed(4)
    G = StyleGenerator(z_dim=8, w_dim=8, channels=8, mapping_layers=2)
    z1, z2 = torch.randn(2, 8), torch.randn(2, 8)
    ws = G.styles(z1, z2, mix_index=2)
    w1, w2 = G.mapping(z1), G.mapping(z2)
    torch.testing.assert_close(ws[:, 0], w1)
    torch.testing.assert_close(ws[:, 1], w1)
    torch.testing.assert_close(ws[:, 4], w2)
    with pytest.raises(ValueError):
        G.styles(z1, z2, mix_index=9)
    # training updates the running mean of w; psi=0 maps every sample to it
    before = G.w_avg.clone()
    G.train()
    w = G.mapping(torch.randn(64, 8, generator=torch.Generator().manual_seed(5))).detach()
    G.styles(torch.randn(64, 8, generator=torch.Generator().manual_seed(5)))
    torch.testing.assert_close(G.w_avg, before + (1 - G.w_avg_beta) * (w.mean(0) - before))
    G.eval()
    w_avg = G.w_avg.clone()
    ws0 = G.styles(torch.randn(5, 8), psi=0.0)
    torch.testing.assert_close(ws0, w_avg.expand(5, 5, -1))
    ws_half = G.styles(z1, psi=0.5)
    torch.testing.assert_close(ws_half, w_avg + 0.5 * (G.styles(z1) - w_avg))
    torch.testing.assert_close(G.w_avg, w_avg)  # not updated in eval mode
