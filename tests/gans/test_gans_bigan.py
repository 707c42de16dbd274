import pytest
import torch

from adlab.gans.bigan import BiGANEncoder, BiGANGenerator, JointDiscriminator, bigan_losses


def test_bigan_shapes_and_grads(assert_grads):
    torch.manual_seed(0)
    E, G, D = BiGANEncoder(z_dim=12, nef=8), BiGANGenerator(z_dim=12, ngf=8), JointDiscriminator(z_dim=12, ndf=8, hidden=32)
    x, z = torch.rand(5, 1, 28, 28) * 2 - 1, torch.randn(5, 12)
    e_x, g_z = E(x), G(z)
    assert e_x.shape == (5, 12) and g_z.shape == (5, 1, 28, 28)
    assert D(x, e_x).shape == (5,)
    d_loss, ge_loss = bigan_losses(D, x, e_x, g_z, z)
    d_loss.backward()
    assert_grads(E, G, D)


def test_bigan_losses_closed_form():
    class ConstD(torch.nn.Module):
        def forward(self, x, z):
            return x.flatten(1).sum(1) + z.sum(1)

    D = ConstD()
    x, ex = torch.tensor([[1.0]]), torch.tensor([[0.5]])  # real pair logit 1.5
    gz, z = torch.tensor([[-1.0]]), torch.tensor([[0.0]])  # fake pair logit -1
    d_loss, ge_loss = bigan_losses(D, x, ex, gz, z)
    sp = torch.nn.functional.softplus
    assert float(d_loss) == pytest.approx(float(sp(torch.tensor(-1.5)) + sp(torch.tensor(-1.0))))
    assert float(ge_loss) == pytest.approx(float(sp(torch.tensor(1.5)) + sp(torch.tensor(1.0))))
