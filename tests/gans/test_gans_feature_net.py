"""The versioned Fashion-MNIST feature network behind adlab's FID/KID."""

import pytest
import torch

from adlab.data import fashion_mnist
from adlab.gans import feature_net as fn
from adlab.metrics.fid import fid

pytestmark = pytest.mark.skipif(fashion_mnist.locate() is None, reason="Fashion-MNIST is not on this machine")


@pytest.fixture(scope="module")
def small_net():
    # a few seconds: 3,000 images, one epoch
    return fn.train_feature_net(seed=0, epochs=1, n_train=3000, width=8, feature_dim=32, batch_size=64, lr=2e-3, n_test=1000)


def test_features_and_logits_have_the_expected_shapes(small_net):
    net, info = small_net
    x, _ = fn.gan_images("test", 10, seed=0)
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    feats, logits = fn.extract(net, x, batch_size=4)
    assert feats.shape == (10, 32) and logits.shape == (10, 10)
    torch.testing.assert_close(logits, net(x))
    assert info["config"]["n_train"] == 3000 and info["n_test"] == 1000
    assert info["test_accuracy"] > 0.5  # ten classes: far above chance already


def test_fid_of_real_images_is_far_below_fid_against_noise(small_net):
    net, _ = small_net
    real_test, _ = fn.gan_images("test", 1000, seed=1)
    real_train, _ = fn.gan_images("train", 1000, seed=2)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f_test, f_train, f_noise = (fn.extract(net, x)[0] for x in (real_test, real_train, noise))
    real_vs_real, real_vs_noise = fid(f_test, f_train), fid(f_test, f_noise)
    assert real_vs_real < 0.1 * real_vs_noise


def test_training_is_deterministic():
    kw = dict(seed=3, epochs=1, n_train=256, width=4, feature_dim=8, batch_size=64, n_test=100)
    a, _ = fn.train_feature_net(**kw)
    b, _ = fn.train_feature_net(**kw)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_cache_is_written_once_reused_and_retrained_when_damaged(tmp_path, monkeypatch):
    spec = fn.FeatureNetSpec("test-features-v1", 256, 1, 4, 8, batch_size=64)
    monkeypatch.setitem(fn.VARIANTS, "unit", spec)
    calls = []
    real_train = fn.train_feature_net

    def counting(**kw):
        calls.append(kw)
        return real_train(**{**kw, "n_test": 100})

    monkeypatch.setattr(fn, "train_feature_net", counting)
    net1, info1 = fn.load_feature_net("unit", cache_dir=tmp_path)
    weights, sidecar = fn.feature_net_paths(spec.name, tmp_path)
    assert weights.is_file() and sidecar.is_file() and len(calls) == 1
    assert info1["version"] == "test-features-v1" and 0 <= info1["test_accuracy"] <= 1 and "sha256" in info1
    assert info1["config"]["width"] == 4 and info1["config"]["epochs"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries

    net2, _ = fn.load_feature_net("unit", cache_dir=tmp_path)
    assert len(calls) == 1  # reused, not retrained
    for v, w in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(v, w)
    assert not any(p.requires_grad for p in net2.parameters())

    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # damaged weights: checksum mismatch
    net3, _ = fn.load_feature_net("unit", cache_dir=tmp_path)
    assert len(calls) == 2
    for v, w in zip(net1.state_dict().values(), net3.state_dict().values()):
        assert torch.equal(v, w)  # retrained to the same deterministic weights


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown feature network"):
        fn.load_feature_net("huge")
