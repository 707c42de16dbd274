import numpy as np

from adlab.data import synthetic


def test_generators_are_deterministic_per_seed():
    for fn, kw in [(synthetic.xor, {}), (synthetic.doughnut, {}), (synthetic.gaussian_ring, {"n": 50}), (synthetic.gaussian_grid, {"n": 50}),
                   (synthetic.adding_problem, {"n": 5, "T": 20}), (synthetic.copy_task, {"n": 3, "length": 4, "delay": 5}), (synthetic.waveforms, {"n": 2, "length": 64})]:
        a, b, c = fn(**kw, seed=1), fn(**kw, seed=1), fn(**kw, seed=2)
        a, b, c = (x if isinstance(x, tuple) else (x,) for x in (a, b, c))
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
        assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_adding_problem_trivial_baseline_is_one_sixth():
    x, y = synthetic.adding_problem(20000, 50, seed=0)
    assert x.shape == (20000, 50, 2) and (x[..., 1].sum(1) == 2).all()
    # the sum of two U(0,1) has mean 1 and variance 2/12 = 1/6
    assert abs(((y - 1.0) ** 2).mean() - 1 / 6) < 0.005
    first = x[..., 1][:, :25].argmax(1)
    assert np.allclose(y, x[np.arange(20000), first, 0] + x[np.arange(20000), 25 + x[..., 1][:, 25:].argmax(1), 0])


def test_doughnut_radii_and_xor_labels():
    x, y = synthetic.doughnut(2000, seed=0)
    r = np.linalg.norm(x, axis=1)
    assert (r[y == 1] <= 1.0 + 1e-6).all() and ((r[y == 0] >= 2.0 - 1e-6) & (r[y == 0] <= 3.0 + 1e-6)).all()
    x, y = synthetic.xor(400, noise=0.0, seed=0)
    assert np.array_equal(y, (x[:, 0].round().astype(int) ^ x[:, 1].round().astype(int)))


def test_mixtures_put_samples_near_their_modes():
    s, c = synthetic.gaussian_ring(4000, k=8, radius=2.0, std=0.02, seed=0)
    assert np.allclose(np.linalg.norm(c, axis=1), 2.0)
    d = np.linalg.norm(s[:, None] - c[None], axis=-1).min(1)
    assert (d < 0.02 * 5).all()
    s, c = synthetic.gaussian_grid(1000, side=5, spacing=2.0, seed=0)
    assert len(c) == 25 and c.min() == -4 and c.max() == 4


def test_copy_task_layout():
    x, y = synthetic.copy_task(2, length=3, delay=4, n_symbols=5, seed=0)
    assert x.shape == y.shape == (2, 3 + 4 + 1 + 3)
    assert (x[:, 7] == 6).all() and np.array_equal(y[:, 8:], x[:, :3]) and (y[:, :8] == 0).all()
