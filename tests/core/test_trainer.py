from pathlib import Path

import pytest
import torch

from adlab.core.context import RunContext
from adlab.core.trainer import ArrayLoader, Callback, Classification, EarlyStopping, Trainer


def test_loader_visits_each_row_once_and_reshuffles_per_epoch():
    x = torch.arange(103)
    loader = ArrayLoader((x,), 10, shuffle=True, seed=3)
    e0 = torch.cat([b[0] for b in loader.batches(0)])
    e1 = torch.cat([b[0] for b in loader.batches(1)])
    assert sorted(e0.tolist()) == list(range(103)) and len(loader) == 11
    assert not torch.equal(e0, e1)
    assert torch.equal(e0, torch.cat([b[0] for b in ArrayLoader((x,), 10, seed=3).batches(0)]))
    # resuming mid-epoch yields exactly the remaining batches
    rest = torch.cat([b[0] for b in loader.batches(0, start=4)])
    assert torch.equal(rest, e0[40:])
    assert len(ArrayLoader((x,), 10, drop_last=True)) == 10


def test_loader_shards_partition_the_global_batch():
    x = torch.arange(64)
    full = [b[0] for b in ArrayLoader((x,), 16, seed=5).batches(2)]
    shards = []
    for r in range(4):
        ld = ArrayLoader((x,), 16, seed=5)
        ld.world, ld.rank = 4, r
        shards.append([b[0] for b in ld.batches(2)])
    for i, batch in enumerate(full):
        assert torch.equal(torch.cat([s[i] for s in shards]), batch)


class _Boom(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, trainer, step, metrics):
        if step == self.at:
            raise KeyboardInterrupt


def _fit(out: Path, resume: bool, callbacks=(), epochs=3):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    ctx = RunContext(out=out, experiment="test", preset="smoke", seed=0, device=torch.device("cpu"), resume=resume)
    out.mkdir(parents=True, exist_ok=True)
    tr = Trainer("m", model, opt, Classification(), ArrayLoader((x, y), 16, seed=0), epochs, ctx,
                 evals={"val": ArrayLoader((x, y), 64, shuffle=False)}, scheduler=sched, checkpoint_every=4,
                 callbacks=callbacks, log_every=5)
    return tr.fit(), model


class _NoReplay(Callback):
    """Fails if a step at or before the checkpoint is trained again (a restart, not a resume)."""

    def __init__(self, first):
        self.first = first

    def on_step_end(self, trainer, step, metrics):
        assert step >= self.first, f"step {step} was trained again"


def test_resume_after_interrupt_matches_uninterrupted(tmp_path):
    ref_hist, ref_model = _fit(tmp_path / "a", resume=False)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", resume=False, callbacks=[_Boom(at=30)])
    # checkpoints every 4 steps: the last one before the interrupt is step 28, so training goes on at 29
    hist, model = _fit(tmp_path / "b", resume=True, callbacks=[_NoReplay(first=29)])
    assert hist == ref_hist
    for p, q in zip(ref_model.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    # the metric log holds no duplicated or missing steps
    steps_a = [r["step"] for r in RunContext(tmp_path / "a", "t", "s", 0, torch.device("cpu")).read_metrics()]
    steps_b = [r["step"] for r in RunContext(tmp_path / "b", "t", "s", 0, torch.device("cpu")).read_metrics()]
    assert steps_a == steps_b


def test_resume_with_early_stopping_restores_its_best_weights(tmp_path):
    def es():
        return EarlyStopping(monitor="loss", patience=1)

    ref_hist, ref_model = _fit(tmp_path / "a", resume=False, callbacks=[es()], epochs=12)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", resume=False, callbacks=[es(), _Boom(at=len(ref_hist) * 13 - 3)], epochs=12)
    hist, model = _fit(tmp_path / "b", resume=True, callbacks=[es()], epochs=12)
    assert hist == ref_hist
    for p, q in zip(ref_model.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_finished_checkpoint_is_not_retrained(tmp_path):
    hist, _ = _fit(tmp_path / "a", resume=False)
    again, _ = _fit(tmp_path / "a", resume=True, callbacks=[_Boom(at=1)])  # would raise if it trained
    assert again == hist


def test_early_stopping_stops_and_restores_best():
    class FakeTrainer:
        should_stop = False
        module = torch.nn.Linear(1, 1)

    es = EarlyStopping(monitor="loss", patience=2)
    t = FakeTrainer()
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8]):
        if epoch == 1:
            best_w = t.module.weight.detach().clone()
        es.on_epoch_end(t, epoch, {"loss": loss})
        if t.should_stop:
            break
        with torch.no_grad():
            t.module.weight.add_(1.0)  # "training" moves the weights after every epoch
    assert t.should_stop and epoch == 3 and es.best == 0.5 and es.best_epoch == 1
    torch.testing.assert_close(t.module.weight.detach(), best_w)  # the best epoch's weights are back
