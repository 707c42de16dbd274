import pytest


def _check_grads(*modules, allow=()):
    """Every parameter of every module got a finite, non-zero gradient."""
    missing = []
    for m in modules:
        for name, p in m.named_parameters():
            if any(a in name for a in allow):
                continue
            if p.grad is None or not bool(p.grad.isfinite().all()) or float(p.grad.abs().sum()) == 0.0:
                missing.append(f"{type(m).__name__}.{name}")
    assert not missing, f"no gradient reached: {missing}"


@pytest.fixture
def assert_grads():
    return _check_grads
