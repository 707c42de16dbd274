"""The step loop: a run killed mid-way and resumed ends with the same weights; budget; schedule."""

import pytest
import torch

from adlab.core.context import RunContext
from adlab.core.seeding import generator
from adlab.language.loop import train_steps, warmup_cosine


def _ctx(tmp_path, resume=False):
    return RunContext(out=tmp_path, experiment="test", preset="smoke", seed=0, device=torch.device("cpu"), resume=resume)


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    return model, opt, warmup_cosine(opt, 3, 12)


def _batch(step):
    g = generator(0, step)
    x = torch.randn(16, 4, generator=g)
    return x, x.sum(-1, keepdim=True)


def _loss(model, batch):
    x, y = batch
    return (model(x) - y).pow(2).mean()


def test_resume_after_a_kill_gives_the_same_weights(tmp_path):
    model, opt, sched = _setup()
    ref = train_steps("m", model, opt, _batch, _loss, 12, _ctx(tmp_path / "a"), scheduler=sched)
    ref_state = {k: v.clone() for k, v in model.state_dict().items()}

    model, opt, sched = _setup()

    def dying(step):
        if step == 7:
            raise KeyboardInterrupt
        return _batch(step)

    with pytest.raises(KeyboardInterrupt):
        train_steps("m", model, opt, dying, _loss, 12, _ctx(tmp_path / "b"), scheduler=sched, checkpoint_every=5)
    torch.manual_seed(123)  # the resumed process starts from another RNG state
    model, opt, sched = _setup()
    res = train_steps("m", model, opt, _batch, _loss, 12, _ctx(tmp_path / "b", resume=True), scheduler=sched, checkpoint_every=5)
    assert res.steps == 12 and res.losses == pytest.approx(ref.losses, abs=0)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ref_state[k], rtol=0, atol=0)
    # a finished run resumes to itself without training
    again = train_steps("m", model, opt, _batch, _loss, 12, _ctx(tmp_path / "b", resume=True), scheduler=sched)
    assert again.steps == 12 and again.losses == res.losses


def test_time_budget_stops_training(tmp_path):
    model, opt, sched = _setup()
    res = train_steps("m", model, opt, _batch, _loss, 1000, _ctx(tmp_path), max_seconds=0.0)
    assert res.steps == 0 and res.stopped_by_budget


def test_warmup_cosine_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, 4, 14, floor=0.1)
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[9] == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the decay
    assert lrs[14] == pytest.approx(0.1) and lrs[15] == pytest.approx(0.1)
