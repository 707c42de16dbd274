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


def test_reading_losses_back_in_batches_changes_nothing_recorded(tmp_path):
    """``read_every`` (how often the losses are copied to the host) leaves the losses, the logged
    metrics, the evaluations and the checkpoints exactly as reading every step does, also when a
    run is killed and resumed between two reads."""
    import json

    from adlab.core import checkpoint as ckpt

    def run(out, read_every, die_at=None, resume=False):
        out.mkdir(exist_ok=True)
        model, opt, sched = _setup()

        def batch(step):
            if step == die_at:
                raise KeyboardInterrupt
            return _batch(step)

        evals = []

        def eval_fn(step):
            evals.append(step)
            return {"w": float(model[0].weight.detach().sum())}

        res = train_steps("m", model, opt, batch, _loss, 23, _ctx(out, resume=resume), scheduler=sched, checkpoint_every=6,
                          log_every=4, eval_fn=eval_fn, eval_every=5, read_every=read_every)
        return res, model, evals

    ref, ref_model, ref_evals = run(tmp_path / "every", 1)
    for k in (3, 7, 50):
        res, model, evals = run(tmp_path / f"r{k}", k)
        assert res.losses == ref.losses and len(res.losses) == 23 and evals == ref_evals
        for name, v in model.state_dict().items():
            torch.testing.assert_close(v, ref_model.state_dict()[name], rtol=0, atol=0)
        logged = [json.loads(line) for line in (tmp_path / f"r{k}" / "metrics.jsonl").read_text().splitlines()]
        expected = [json.loads(line) for line in (tmp_path / "every" / "metrics.jsonl").read_text().splitlines()]
        assert [{a: b for a, b in r.items() if a != "time"} for r in logged] == [{a: b for a, b in r.items() if a != "time"} for r in expected]
        assert ckpt.load(tmp_path / f"r{k}" / "checkpoint" / "m")[1]["losses"] == ref.losses
    # killed at step 16 (two steps after a read at 14 with read_every=7, last checkpoint at 12), then resumed
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", 7, die_at=16)
    res, model, _ = run(tmp_path / "killed", 7, resume=True)
    assert res.losses == ref.losses
    with pytest.raises(ValueError, match="read_every"):
        run(tmp_path / "bad", 0)
