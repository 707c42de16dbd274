"""word2vec (skip-gram, negative sampling, subsampling) and orthogonal Procrustes."""

import math

import pytest
import torch

import numpy as np

from adlab.language.experiments_word2vec import normalise_embeddings
from adlab.language.procrustes import csls, orthogonal_procrustes, translation_accuracy
from adlab.language.word2vec import (
    SkipGramNS,
    Word2VecConfig,
    analogy,
    keep_probability,
    nearest_neighbours,
    noise_distribution,
    skipgram_pairs,
    subsample,
    train_word2vec,
    word_vectors,
)


def test_noise_distribution_sums_to_one_and_is_proportional_to_count_power():
    counts = torch.tensor([1000, 100, 10, 1, 0])
    P = noise_distribution(counts)
    assert P.sum().item() == pytest.approx(1.0, abs=1e-15)
    torch.testing.assert_close(P[:4] / P[3], counts[:4].double() ** 0.75)
    assert P[4] == 0
    # flatter than the unigram distribution: rare words gain
    assert P[3] > counts[3] / counts.sum()


def test_keep_probability_matches_mikolovs_formula():
    counts = torch.tensor([500_000, 50_000, 1000, 10, 1])
    t = 1e-4
    f = counts.double() / counts.sum()
    expected = torch.clamp(torch.sqrt(t / f), max=1.0)
    torch.testing.assert_close(keep_probability(counts, t), expected, rtol=1e-12, atol=0)
    code = torch.clamp(torch.sqrt(t / f) + t / f, max=1.0)
    torch.testing.assert_close(keep_probability(counts, t, variant="code"), code, rtol=1e-12, atol=0)
    assert keep_probability(counts, t)[0].item() == pytest.approx(math.sqrt(1e-4 / (500_000 / 551_011)))
    assert keep_probability(counts, t)[-1] == 1.0


def test_subsampling_keeps_each_word_at_its_rate():
    tokens = torch.tensor([0] * 90_000 + [1] * 10_000)
    keep = torch.tensor([0.2, 0.9], dtype=torch.float64)
    kept = subsample(tokens, keep, torch.Generator().manual_seed(0))
    assert abs((kept == 0).sum().item() / 90_000 - 0.2) < 0.01
    assert abs((kept == 1).sum().item() / 10_000 - 0.9) < 0.01


def test_skipgram_pairs_fixed_window():
    pairs = skipgram_pairs(torch.tensor([10, 11, 12, 13]), window=2, generator=torch.Generator(), dynamic=False)
    got = sorted(map(tuple, pairs.tolist()))
    expected = sorted([(10, 11), (11, 10), (11, 12), (12, 11), (12, 13), (13, 12),
                       (10, 12), (12, 10), (11, 13), (13, 11)])
    assert got == expected


def test_skipgram_pairs_dynamic_window_favours_near_words():
    tokens = torch.arange(20_000)
    pairs = skipgram_pairs(tokens, window=4, generator=torch.Generator().manual_seed(0))
    dist = (pairs[:, 0] - pairs[:, 1]).abs()
    share = [(dist == k).float().mean().item() for k in range(1, 5)]
    # P(radius >= k) = (5 - k) / 4: shares proportional to 4, 3, 2, 1
    for k, s in enumerate(share, start=1):
        assert s == pytest.approx((5 - k) / 10, abs=0.01)


def test_loss_is_the_negative_sampling_objective():
    torch.manual_seed(0)
    model = SkipGramNS(10, 4)
    torch.nn.init.normal_(model.out_embed.weight)
    c, o, n = torch.tensor([1]), torch.tensor([2]), torch.tensor([[3, 4]])
    v, U = model.in_embed.weight, model.out_embed.weight
    expected = -(torch.log(torch.sigmoid(U[2] @ v[1])) + torch.log(torch.sigmoid(-U[3] @ v[1]))
                 + torch.log(torch.sigmoid(-U[4] @ v[1])))
    torch.testing.assert_close(model(c, o, n), expected)



def test_batched_loss_is_the_batch_mean_of_the_negative_sampling_objective():
    """B=3 pairs, K=2 negatives each: the loss is (1/B) sum_b [-log s(u_o.v_c) - sum_k log s(-u_nk.v_c)]."""
    model = SkipGramNS(10, 4, generator=torch.Generator().manual_seed(0)).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # unit-scale vectors, so every term of the objective is far from log(2)
        model.in_embed.weight.copy_(torch.randn(10, 4, generator=g, dtype=torch.float64))
        model.out_embed.weight.copy_(torch.randn(10, 4, generator=g, dtype=torch.float64))
    c, o = torch.tensor([1, 5, 7]), torch.tensor([2, 6, 1])
    n = torch.tensor([[3, 4], [8, 8], [0, 9]])  # a repeated noise word counts twice
    v, U = model.in_embed.weight.detach().numpy(), model.out_embed.weight.detach().numpy()
    log_sigmoid = lambda x: -np.log1p(np.exp(-x))
    per_pair = [
        -log_sigmoid(U[o[b]] @ v[c[b]]) - sum(log_sigmoid(-U[n[b, k]] @ v[c[b]]) for k in range(2))
        for b in range(3)
    ]
    assert max(per_pair) - min(per_pair) > 0.1  # distinct pairs: a wrong reduction cannot hide
    loss = model(c, o, n)
    assert loss.shape == ()
    torch.testing.assert_close(loss, torch.tensor(np.mean(per_pair), dtype=torch.float64), rtol=1e-12, atol=1e-12)


def _two_group_corpus(n_sentences=600, seed=0):
    """Sentences of 8 words, each drawn from one of two disjoint groups of 6 words."""
    g = torch.Generator().manual_seed(seed)
    groups = torch.arange(12).view(2, 6)
    which = torch.randint(0, 2, (n_sentences,), generator=g)
    words = torch.randint(0, 6, (n_sentences, 8), generator=g)
    return groups[which[:, None], words].flatten()


def test_trained_embeddings_put_same_group_words_together():
    tokens = _two_group_corpus()
    cfg = Word2VecConfig(dim=16, window=2, negatives=5, subsample_t=None, epochs=4, batch_size=256, lr=0.02)
    model, history = train_word2vec(tokens, 12, cfg)
    assert history[-1] < history[0]
    ids, sims = nearest_neighbours(model.embeddings, torch.arange(12), k=5)  # all 5 other group members
    group = torch.arange(12) // 6
    assert (group[ids] == group[:, None]).all(), ids
    assert (ids != torch.arange(12)[:, None]).all()  # a word is not its own neighbour


def test_training_is_deterministic_for_a_seed():
    tokens = _two_group_corpus(100)
    cfg = Word2VecConfig(dim=8, window=2, subsample_t=1e-2, epochs=1, batch_size=128)
    a, _ = train_word2vec(tokens, 12, cfg)
    b, _ = train_word2vec(tokens, 12, cfg)
    assert torch.equal(a.embeddings, b.embeddings)


def test_word_vectors_input_sum_and_concat():
    model = SkipGramNS(6, 3, generator=torch.Generator().manual_seed(0))
    torch.nn.init.normal_(model.out_embed.weight, generator=torch.Generator().manual_seed(1))
    v, u = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    assert torch.equal(word_vectors(model, "input"), v)
    torch.testing.assert_close(word_vectors(model, "sum"), v + u)
    C = word_vectors(model, "concat")
    assert C.shape == (6, 6)
    # cosine of concatenated unit halves = mean of the input and output cosines
    cos = lambda A: torch.nn.functional.normalize(A, dim=-1) @ torch.nn.functional.normalize(A, dim=-1).T
    torch.testing.assert_close(cos(C), (cos(v) + cos(u)) / 2, rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        word_vectors(model, "output")


def test_analogy_by_vector_offset():
    # king - man + woman = queen in a hand-built space
    E = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.3, -1.0, 0.2]])
    man, king, woman, queen = 0, 1, 2, 3
    assert analogy(E, man, king, woman).tolist() == [queen]


# ------------------------------------------------------------------ Procrustes


def _random_orthogonal(d, g):
    Q, R = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return Q * torch.sign(torch.diagonal(R))


def test_procrustes_recovers_an_orthogonal_map_exactly():
    g = torch.Generator().manual_seed(0)
    d, n = 20, 200
    W_true = _random_orthogonal(d, g)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = X @ W_true
    W = orthogonal_procrustes(X, Y)
    torch.testing.assert_close(W, W_true, rtol=0, atol=1e-10)
    torch.testing.assert_close(W.T @ W, torch.eye(d, dtype=torch.float64), rtol=0, atol=1e-12)
    assert translation_accuracy(X, Y, W, torch.arange(n), torch.arange(n)) == 1.0


def test_procrustes_convention_is_rows_mapped_by_right_multiplication():
    g = torch.Generator().manual_seed(1)
    W_true = _random_orthogonal(5, g)
    X = torch.randn(50, 5, generator=g, dtype=torch.float64)
    W = orthogonal_procrustes(X, X @ W_true)
    # the transpose (the column-convention map) is a different matrix and does not fit
    assert torch.linalg.norm(X @ W - X @ W_true) < 1e-10
    assert torch.linalg.norm(X @ W.T - X @ W_true) > 1.0


def test_procrustes_matches_scipy_with_noise():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(2)
    X = torch.randn(100, 8, generator=g, dtype=torch.float64)
    Y = X @ _random_orthogonal(8, g) + 0.3 * torch.randn(100, 8, generator=g, dtype=torch.float64)
    R, _ = scipy_linalg.orthogonal_procrustes(X.numpy(), Y.numpy())
    torch.testing.assert_close(orthogonal_procrustes(X, Y), torch.from_numpy(R), rtol=0, atol=1e-10)


def test_translation_accuracy_with_noise_and_at_k():
    g = torch.Generator().manual_seed(3)
    d, V = 16, 300
    X = torch.randn(V, d, generator=g, dtype=torch.float64)
    Y = X @ _random_orthogonal(d, g) + 0.6 * torch.randn(V, d, generator=g, dtype=torch.float64)
    train, test = torch.arange(0, 100), torch.arange(100, 300)
    W = orthogonal_procrustes(X[train], Y[train])  # fit on 100 anchor pairs
    acc1 = translation_accuracy(X, Y, W, test, test, k=1)
    acc5 = translation_accuracy(X, Y, W, test, test, k=5)
    assert 0.5 < acc1 <= acc5 <= 1.0
    shuffled = test[torch.randperm(200, generator=g)]
    assert translation_accuracy(X, Y, W, test, shuffled) < 0.05


def test_procrustes_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        orthogonal_procrustes(torch.zeros(3, 2), torch.zeros(4, 2))


def test_normalise_embeddings_unit_centre_unit():
    E = torch.tensor([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]], dtype=torch.float64)
    U = E.numpy() / np.linalg.norm(E.numpy(), axis=1, keepdims=True)
    U = U - U.mean(0)
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    torch.testing.assert_close(normalise_embeddings(E), torch.from_numpy(U), rtol=0, atol=1e-12)


def test_csls_matches_its_formula_in_numpy():
    rng = np.random.default_rng(0)
    A, B, k = rng.normal(size=(7, 4)), rng.normal(size=(9, 4)), 3
    a = A / np.linalg.norm(A, axis=1, keepdims=True)
    b = B / np.linalg.norm(B, axis=1, keepdims=True)
    S = a @ b.T
    r_T = np.sort(S, axis=1)[:, -k:].mean(1)  # each source: mean cosine to its 3 nearest targets
    r_S = np.sort(S, axis=0)[-k:, :].mean(0)  # each target: mean cosine to its 3 nearest sources
    expected = 2 * S - r_T[:, None] - r_S[None, :]
    torch.testing.assert_close(csls(torch.from_numpy(A), torch.from_numpy(B), k), torch.from_numpy(expected), rtol=0, atol=1e-12)


def test_csls_demotes_a_hub_that_nearest_neighbour_picks():
    # target 2 is close to everything (a hub): it is every source's nearest neighbour by cosine,
    # while each source's own target is only second; CSLS discounts the hub and translates correctly
    X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    Y = torch.tensor([[1.0, 0.0, 1.2], [0.0, 1.0, 1.2], [1.0, 1.0, 0.0]], dtype=torch.float64)
    W, ids = torch.eye(3, dtype=torch.float64), torch.arange(2)
    # cosines: own target 1 / sqrt(2.44) = 0.64, hub 1 / sqrt(2) = 0.71
    assert translation_accuracy(X, Y, W, ids, ids, retrieval="nn") == 0.0
    assert translation_accuracy(X, Y, W, ids, ids, retrieval="csls", csls_k=2) == 1.0
