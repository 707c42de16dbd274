import json
import random

import numpy as np
import pytest
import torch

from adlab.core import checkpoint as ckpt
from adlab.core.errors import DataCorruptError
from adlab.core.seeding import rng_state, set_rng_state


def _adam_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    return model, opt, x, y


def _steps(model, opt, x, y, n):
    for _ in range(n):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def test_roundtrip_gives_identical_continuation(tmp_path):
    model, opt, x, y = _adam_problem()
    _steps(model, opt, x, y, 5)
    t = ckpt.module_tensors("model", model)
    ot, oj = ckpt.optimizer_state("opt", opt)
    ckpt.save(tmp_path, 5, {**t, **ot}, {"optimizer": oj, "note": "hi"})
    _steps(model, opt, x, y, 5)
    reference = [p.detach().clone() for p in model.parameters()]

    model2, opt2, _, _ = _adam_problem(seed=123)  # different init: everything must come from the file
    tensors, state = ckpt.load(tmp_path)
    assert state["step"] == 5 and state["note"] == "hi"
    ckpt.load_module(model2, tensors, "model")
    ckpt.load_optimizer(opt2, tensors, state["optimizer"], "opt")
    _steps(model2, opt2, x, y, 5)
    for a, b in zip(reference, model2.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_latest_ignores_partial_writes_and_keeps_newest(tmp_path):
    ckpt.save(tmp_path, 1, {"w": torch.ones(2)}, {})
    ckpt.save(tmp_path, 2, {"w": torch.full((2,), 2.0)}, {})
    # a crash in the middle of writing step 3 leaves only a temporary folder behind
    (tmp_path / ".step-000000003.tmp-999").mkdir()
    (tmp_path / ".step-000000003.tmp-999" / ckpt.TENSORS).write_bytes(b"garbage")
    tensors, state = ckpt.load(tmp_path)
    assert state["step"] == 2 and tensors["w"].tolist() == [2.0, 2.0]
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-000000002"]


def test_no_checkpoint_and_corrupt_checkpoint(tmp_path):
    assert ckpt.load(tmp_path) is None
    ckpt.save(tmp_path, 1, {"w": torch.ones(2)}, {})
    (tmp_path / "step-000000001" / ckpt.TENSORS).write_bytes(b"\x00" * 10)
    with pytest.raises(DataCorruptError):
        ckpt.load(tmp_path)


def test_state_is_json_not_pickle(tmp_path):
    ckpt.save(tmp_path, 7, {"w": torch.ones(1)}, {"history": [{"a": 1.5}]})
    state = json.loads((tmp_path / "step-000000007" / ckpt.STATE).read_text())
    assert state == {"step": 7, "history": [{"a": 1.5}]}


def test_rng_state_roundtrip():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    torch.rand(3), np.random.rand(3), random.random()
    saved = {k: v.clone() for k, v in rng_state().items()}
    first = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    set_rng_state(saved)
    second = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
