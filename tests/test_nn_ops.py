"""course_lib.nn : chaque opération écrite à la main contre torch.nn.functional et autograd."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import nn

DOUBLE = torch.float64


def randn(*shape, seed=0, dtype=DOUBLE, grad=False):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=generator, dtype=dtype).requires_grad_(grad)


def grads(output, inputs, seed=1):
    """Gradients de <output, r> (r aléatoire fixe) par rapport aux entrées : compare toute la jacobienne."""
    weights = randn(*output.shape, seed=seed)
    return torch.autograd.grad((output * weights).sum(), inputs)


def assert_same_grads(ours, theirs, inputs, atol=1e-10):
    for a, b in zip(grads(ours, inputs), grads(theirs, inputs)):
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-8)


# --------------------------------------------------------------------------- linear, relu

@pytest.mark.parametrize("shape, n_out, bias", [((5, 7), 3, True), ((1, 4), 1, False), ((2, 3, 6), 4, True)])
def test_linear_matches_torch_values_and_gradients(shape, n_out, bias):
    x = randn(*shape, grad=True)
    w = randn(n_out, shape[-1], seed=2, grad=True)
    b = randn(n_out, seed=3, grad=True) if bias else None
    ours, theirs = nn.linear(x, w, b), F.linear(x, w, b)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
    inputs = [t for t in (x, w, b) if t is not None]
    assert_same_grads(ours, theirs, inputs)


def test_linear_is_the_weighted_sum_of_the_slides():
    x = torch.tensor([1.0, 2.0, 3.0])
    w = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]])   # w[j, i] = w_ij
    expected = torch.tensor([sum(w[j, i] * x[i] for i in range(3)) for j in range(2)])
    torch.testing.assert_close(nn.linear(x, w), expected)


def test_relu_matches_torch():
    x = randn(4, 9, grad=True)
    torch.testing.assert_close(nn.relu(x), F.relu(x))
    assert_same_grads(nn.relu(x), F.relu(x), [x])


def test_linear_and_relu_errors_are_in_french():
    x, w = torch.rand(2, 3), torch.rand(4, 5)
    with pytest.raises(ValueError, match="attendent 5 entrées"):
        nn.linear(x, w)
    with pytest.raises(TypeError, match="réels"):
        nn.linear(torch.ones(2, 3, dtype=torch.long), torch.rand(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        nn.linear(torch.tensor([[float("nan"), 0.0, 0.0]]), torch.rand(4, 3))
    with pytest.raises(ValueError, match="« bias »"):
        nn.linear(torch.rand(2, 3), torch.rand(4, 3), torch.rand(3))
    with pytest.raises(TypeError, match="même type"):
        nn.linear(torch.rand(2, 3), torch.rand(4, 3, dtype=DOUBLE))
    with pytest.raises(TypeError, match="réels"):
        nn.relu(torch.arange(4))
    with pytest.raises(TypeError, match="tenseur torch"):
        nn.relu([1.0, -1.0])


# --------------------------------------------------------------------------- convolution

CONV_CASES = [
    # (B, C, H, W), (O, kh, kw), stride, padding
    ((2, 3, 9, 11), (4, 3, 3), 1, 0),
    ((1, 2, 8, 8), (3, 3, 3), 1, 1),        # lot de 1, marge
    ((3, 4, 7, 6), (5, 1, 1), 1, 0),        # noyau 1x1
    ((2, 1, 12, 10), (2, 5, 3), 2, 2),      # pas 2, marge 2, noyau non carré
    ((2, 3, 10, 9), (2, 3, 2), (2, 3), (1, 0)),
    ((1, 1, 5, 5), (1, 5, 5), 1, 0),        # le noyau couvre toute l'image
]


@pytest.mark.parametrize("conv", [nn.conv2d, nn.conv2d_loops], ids=["unfold", "boucles"])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_matches_torch_values_and_gradients(conv, x_shape, w_shape, stride, padding):
    x = randn(*x_shape, grad=True)
    w = randn(w_shape[0], x_shape[1], *w_shape[1:], seed=2, grad=True)
    b = randn(w_shape[0], seed=3, grad=True)
    ours = conv(x, w, b, stride=stride, padding=padding)
    theirs = F.conv2d(x, w, b, stride=stride, padding=padding)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-10)
    assert_same_grads(ours, theirs, [x, w, b])


def random_conv_configurations(count, seed):
    """Des formes tirées au hasard (reproductibles) : lot, canaux, taille, noyau, pas et marge."""
    rng = torch.Generator().manual_seed(seed)

    def draw(low, high):
        return int(torch.randint(low, high + 1, (1,), generator=rng))

    for _ in range(count):
        kh, kw = draw(1, 5), draw(1, 5)
        stride, padding = (draw(1, 3), draw(1, 3)), (draw(0, kh // 2), draw(0, kw // 2))
        yield (draw(1, 3), draw(1, 4), draw(kh, 12), draw(kw, 12)), (draw(1, 5), kh, kw), stride, padding


@pytest.mark.parametrize("conv", [nn.conv2d, nn.conv2d_loops], ids=["unfold", "boucles"])
def test_conv2d_and_max_pool2d_on_random_shapes(conv):
    for k, (x_shape, (n_out, kh, kw), stride, padding) in enumerate(random_conv_configurations(12, seed=7)):
        x = randn(*x_shape, seed=k, grad=True)
        w = randn(n_out, x_shape[1], kh, kw, seed=100 + k, grad=True)
        b = randn(n_out, seed=200 + k, grad=True)
        ours = conv(x, w, b, stride=stride, padding=padding)
        theirs = F.conv2d(x, w, b, stride=stride, padding=padding)
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-10, msg=f"configuration {k}")
        assert_same_grads(ours, theirs, [x, w, b])
        pooled = nn.max_pool2d(x, (kh, kw), stride, padding)
        torch.testing.assert_close(pooled, F.max_pool2d(x, (kh, kw), stride, padding), atol=0, rtol=0)


def test_conv2d_float32_unbatched_and_without_bias():
    x = torch.rand(3, 16, 15)
    w = torch.randn(6, 3, 3, 3)
    out = nn.conv2d(x, w, padding=1)
    assert out.shape == (6, 16, 15)
    torch.testing.assert_close(out, F.conv2d(x[None], w, padding=1)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(nn.conv2d_loops(x, w, stride=2), F.conv2d(x, w, stride=2), atol=1e-5, rtol=1e-5)


def test_conv2d_shares_its_weights_over_positions():
    """Une image qui se décale donne une sortie qui se décale (les poids sont partagés)."""
    x = torch.zeros(1, 1, 10, 10)
    x[0, 0, 3, 4] = 1.0
    w = torch.randn(2, 1, 3, 3)
    shifted = torch.roll(x, shifts=(2, 1), dims=(2, 3))
    torch.testing.assert_close(torch.roll(nn.conv2d(x, w, padding=1), (2, 1), (2, 3)),
                               nn.conv2d(shifted, w, padding=1))


@pytest.mark.parametrize("conv", [nn.conv2d, nn.conv2d_loops], ids=["unfold", "boucles"])
def test_conv2d_errors_are_in_french(conv):
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="attendent 4 canaux"):
        conv(x, torch.rand(5, 4, 3, 3))
    with pytest.raises(TypeError, match="réels"):
        conv(torch.ones(2, 3, 8, 8, dtype=torch.uint8), torch.rand(5, 3, 3, 3))
    with pytest.raises(ValueError, match="NaN"):
        conv(x, torch.full((5, 3, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="plus grand que l'entrée"):
        conv(x, torch.rand(5, 3, 9, 9))
    with pytest.raises(ValueError, match="« bias »"):
        conv(x, torch.rand(5, 3, 3, 3), torch.rand(4))
    with pytest.raises(ValueError, match="« stride »"):
        conv(x, torch.rand(5, 3, 3, 3), stride=0)
    with pytest.raises(TypeError, match="« padding »"):
        conv(x, torch.rand(5, 3, 3, 3), padding=1.5)
    with pytest.raises(ValueError, match="dimensions"):
        conv(torch.rand(8, 8), torch.rand(5, 3, 3, 3))


def test_output_size_formula():
    for size, k, s, p in [(9, 3, 1, 0), (12, 5, 2, 2), (7, 1, 3, 0), (10, 4, 3, 1)]:
        x = torch.zeros(1, 1, size, size)
        assert nn.output_size(size, k, s, p) == F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p).shape[-1]


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((2, 3, 8, 8), 2, None, 0), ((1, 2, 9, 7), 3, 2, 1), ((2, 1, 6, 10), (2, 3), (1, 2), (1, 0)),
])
def test_max_pool2d_matches_torch(shape, kernel, stride, padding):
    x = randn(*shape, grad=True)
    ours = nn.max_pool2d(x, kernel, stride, padding)
    theirs = F.max_pool2d(x, kernel, stride, padding)
    torch.testing.assert_close(ours, theirs, atol=0, rtol=0)
    assert_same_grads(ours, theirs, [x])


def test_max_pool2d_errors():
    with pytest.raises(ValueError, match="moitié"):
        nn.max_pool2d(torch.rand(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(TypeError, match="réels"):
        nn.max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int32), 2)
    assert nn.max_pool2d(torch.rand(3, 6, 6), 2).shape == (3, 3, 3)


# --------------------------------------------------------------------------- softmax et entropie croisée

@pytest.mark.parametrize("shape, dim", [((4, 7), 1), ((4, 7), 0), ((2, 3, 5), -1), ((1, 10), 1)])
def test_softmax_and_log_softmax_match_torch(shape, dim):
    x = randn(*shape, grad=True) * 3
    torch.testing.assert_close(nn.softmax(x, dim), F.softmax(x, dim))
    torch.testing.assert_close(nn.log_softmax(x, dim), F.log_softmax(x, dim))
    torch.testing.assert_close(nn.logsumexp(x, dim), torch.logsumexp(x, dim))
    assert_same_grads(nn.softmax(x, dim), F.softmax(x, dim), [x])
    assert_same_grads(nn.log_softmax(x, dim), F.log_softmax(x, dim), [x])


def test_softmax_is_stable_for_huge_logits():
    logits = torch.tensor([[1000.0, 999.0, -1000.0], [-5000.0, -5001.0, -5000.0]])   # float32
    naive = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    assert not torch.isfinite(naive).all()                    # la formule naïve déborde
    probabilities = nn.softmax(logits)
    assert torch.isfinite(probabilities).all()
    torch.testing.assert_close(probabilities, F.softmax(logits, dim=1))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch_for_labels(reduction):
    logits = randn(6, 5, grad=True) * 4
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    ours = nn.cross_entropy(logits, labels, reduction=reduction)
    theirs = F.cross_entropy(logits, labels, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    assert_same_grads(ours, theirs, [logits])


def test_cross_entropy_with_probability_targets_is_the_formula_of_the_slides():
    logits = randn(3, 4, grad=True)
    z_hat = torch.softmax(randn(3, 4, seed=5), dim=1)          # distribution « vraie »
    z = torch.softmax(logits, dim=1)                          # sortie du réseau, p(c|x)
    formula = -(z_hat * torch.log(z)).sum(dim=1).mean()       # H(ẑ, z) = -Σ ẑ_c log z_c
    torch.testing.assert_close(nn.cross_entropy(logits, z_hat), formula)
    torch.testing.assert_close(nn.cross_entropy(logits, z_hat), F.cross_entropy(logits, z_hat))


def test_cross_entropy_is_stable_and_gradient_matches_autograd():
    logits = torch.tensor([[800.0, 0.0, -800.0], [0.0, 0.0, 0.0], [-1e4, 1e4, 0.0]], dtype=DOUBLE,
                          requires_grad=True)
    labels = torch.tensor([2, 1, 0])
    loss = nn.cross_entropy(logits, labels)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    (autograd,) = torch.autograd.grad(F.cross_entropy(logits, labels), logits)
    torch.testing.assert_close(nn.cross_entropy_grad(logits.detach(), labels), autograd)
    small = randn(5, 7, grad=True)
    labels = torch.tensor([6, 0, 3, 3, 1])
    (autograd,) = torch.autograd.grad(F.cross_entropy(small, labels), small)
    torch.testing.assert_close(nn.cross_entropy_grad(small.detach(), labels), autograd)
    numerical = nn.numerical_gradient(lambda s: nn.cross_entropy(s, labels), small.detach())
    torch.testing.assert_close(numerical, autograd, atol=1e-8, rtol=1e-6)


def test_cross_entropy_errors_are_in_french():
    logits = torch.rand(3, 4)
    with pytest.raises(ValueError, match="entre 0 et 3"):
        nn.cross_entropy(logits, torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match=r"forme \(3,\)"):
        nn.cross_entropy(logits, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="forme des logits"):
        nn.cross_entropy(logits, torch.rand(3, 5))
    with pytest.raises(TypeError, match="réels"):
        nn.cross_entropy(torch.ones(3, 4, dtype=torch.long), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="NaN"):
        nn.cross_entropy(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="« reduction »"):
        nn.cross_entropy(logits, torch.tensor([0, 1, 2]), reduction="moyenne")
    with pytest.raises(ValueError, match="« dim »"):
        nn.softmax(logits, dim=2)
    with pytest.raises(ValueError, match="dimensions"):
        nn.cross_entropy(torch.rand(4), torch.tensor([0]))


# --------------------------------------------------------------------------- gradients et pas de descente

def test_numerical_gradient_matches_autograd():
    x = randn(3, 4, grad=True)
    w = randn(4, 2, seed=2)

    def f(t):
        return (torch.tanh(t @ w) ** 2).sum() + (t ** 3).mean()

    (autograd,) = torch.autograd.grad(f(x), x)
    numerical = nn.numerical_gradient(f, x.detach())
    torch.testing.assert_close(numerical, autograd, atol=1e-8, rtol=1e-6)
    assert numerical.shape == x.shape and numerical.dtype == DOUBLE
    with pytest.raises(ValueError, match="scalaire"):
        nn.numerical_gradient(lambda t: t * 2, x.detach())
    with pytest.raises(TypeError, match="« f »"):
        nn.numerical_gradient(3, x.detach())
    with pytest.raises(TypeError, match="réels"):
        nn.numerical_gradient(lambda t: t.sum(), torch.arange(3))


def test_sgd_step_is_one_step_of_gradient_descent():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    frozen = torch.nn.Parameter(torch.ones(2))                 # pas de gradient : ne bouge pas
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    F.cross_entropy(model(x), y).backward()
    expected = [p.detach() - 0.1 * p.grad for p in model.parameters()]
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    reference.load_state_dict(model.state_dict())
    for p, q in zip(reference.parameters(), model.parameters()):
        p.grad = q.grad.clone()
    torch.optim.SGD(reference.parameters(), lr=0.1).step()
    nn.sgd_step(model.parameters(), lr=0.1)                   # un générateur : parcouru une fois
    nn.sgd_step([frozen], lr=0.1)
    for p, e, r in zip(model.parameters(), expected, reference.parameters()):
        torch.testing.assert_close(p, e)
        torch.testing.assert_close(p, r)
        assert p.grad is not None and p.is_leaf and p.requires_grad   # gradients conservés
    torch.testing.assert_close(frozen, torch.ones(2))
    nn.zero_grad(model)
    assert all(p.grad is None for p in model.parameters())


def test_sgd_step_errors():
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match="« lr »"):
        nn.sgd_step([p], lr=-1.0)
    with pytest.raises(TypeError, match="« lr »"):
        nn.sgd_step([p], lr="0.1")
    with pytest.raises(TypeError, match="paramètre n° 0"):
        nn.sgd_step([torch.ones(3, dtype=torch.long)], lr=0.1)
    with pytest.raises(TypeError, match="« parameters »"):
        nn.sgd_step(3, lr=0.1)
    p.grad = torch.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(ValueError, match="divergé"):
        nn.sgd_step([p], lr=0.1)


# --------------------------------------------------------------------------- champ récepteur, petit CNN

def test_receptive_field_matches_the_support_of_the_gradient():
    layers = [(3, 1), (2, 2), (3, 1), (2, 2), (5, 1)]
    x = torch.zeros(1, 1, 64, 64, requires_grad=True)
    out = x
    for kernel, stride in layers:
        out = F.avg_pool2d(out, kernel, stride) if kernel == 2 else \
            F.conv2d(out, torch.ones(1, 1, kernel, kernel), stride=stride)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1))
    assert nn.receptive_field(layers)[-1] == int(rows.max() - rows.min() + 1)
    assert nn.receptive_field([(3, 1)] * 3) == [3, 5, 7]
    with pytest.raises(TypeError, match="couple"):
        nn.receptive_field([3])


@pytest.mark.parametrize("size, channels", [(8, 1), (16, 1), (32, 3)])
def test_small_cnn_shapes(size, channels):
    model = nn.SmallCNN(channels, n_classes=7, width=4, kernel_size=5)
    assert model(torch.rand(2, channels, size, size)).shape == (2, 7)
    steps = model.trace(torch.rand(1, channels, size, size))
    assert steps[0][0] == "entrée" and steps[-1][1].shape == (1, 7)
    assert model.first_filters.shape == (4, channels, 5, 5)


def test_small_cnn_errors():
    with pytest.raises(ValueError, match="impair"):
        nn.SmallCNN(kernel_size=4)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        nn.SmallCNN(1)(torch.rand(2, 3, 8, 8))


# --------------------------------------------------------------------------- métriques

def test_confusion_matrix_and_accuracy_match_scikit_learn():
    from sklearn.metrics import confusion_matrix

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (200,), generator=generator)
    predictions = torch.where(torch.rand(200, generator=generator) < 0.7, labels,
                              torch.randint(0, 5, (200,), generator=generator))
    ours = nn.confusion_matrix(labels, predictions, 5)
    assert ours.tolist() == confusion_matrix(labels.numpy(), predictions.numpy(), labels=range(5)).tolist()
    assert nn.accuracy(predictions, labels) == pytest.approx(float((labels == predictions).float().mean()))
    logits = F.one_hot(predictions, 5).float()
    assert nn.accuracy(logits, labels) == nn.accuracy(predictions, labels)
    with pytest.raises(ValueError, match="entre 0 et 4"):
        nn.confusion_matrix(labels, predictions + 1, 5)
    with pytest.raises(TypeError, match="entières"):
        nn.confusion_matrix(labels.float(), predictions, 5)


# --------------------------------------------------------------------------- descente sur deux paramètres

def test_line_loss_and_gradient():
    x, y = nn.line_data(40, seed=1)
    w = torch.tensor([0.7, -0.3], dtype=DOUBLE, requires_grad=True)
    loss = nn.line_loss(w, x, y)
    torch.testing.assert_close(loss, ((w[0] * x + w[1] - y) ** 2).mean())
    (autograd,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(nn.line_gradient(w.detach(), x, y), autograd)
    grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 5, dtype=DOUBLE),
                                      torch.linspace(0, 2, 4, dtype=DOUBLE), indexing="ij"), dim=-1)
    landscape = nn.line_loss(grid, x, y)
    assert landscape.shape == (5, 4)
    torch.testing.assert_close(landscape[2, 1], nn.line_loss(grid[2, 1], x, y))


def test_gradient_descent_converges_below_the_critical_rate_and_diverges_above():
    import numpy as np

    x, y = nn.line_data(50, seed=2)
    critical = nn.critical_learning_rate(x)
    slope, intercept = np.polyfit(x.numpy(), y.numpy(), 1)     # moindres carrés (NumPy)
    path, losses = nn.descent_path(x, y, lr=0.95 * critical, steps=3000)
    torch.testing.assert_close(path[-1], torch.tensor([slope, intercept], dtype=DOUBLE), atol=1e-5, rtol=0)
    assert losses[-1] <= losses[0]
    _, losses = nn.descent_path(x, y, lr=1.05 * critical, steps=3000)
    assert not torch.isfinite(losses[-1])
    slow, _ = nn.descent_path(x, y, lr=0.01 * critical, steps=50)
    assert float((slow[-1] - torch.tensor([slope, intercept], dtype=DOUBLE)).norm()) > 0.5
    stochastic, losses = nn.descent_path(x, y, lr=0.3 * critical, steps=200, batch_size=5, seed=3)
    assert stochastic.shape == (201, 2) and losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="« batch_size »"):
        nn.descent_path(x, y, lr=0.1, steps=3, batch_size=100)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        nn.line_loss(torch.zeros(3, dtype=DOUBLE), x, y)


# --------------------------------------------------------------------------- outil des tests du TP2

def test_assert_no_shortcut_recognises_tensor_methods():
    from course_lib.grading import ReferenceUsedError
    from course_lib.nn.checks import SHORTCUTS, assert_no_shortcut

    logits = torch.randn(3, 4)
    for cheat in (lambda s: s.softmax(1), lambda s: torch.softmax(s, 1), lambda s: F.log_softmax(s, 1).exp(),
                  lambda s: torch.exp(s - s.logsumexp(1, keepdim=True))):
        with pytest.raises(ReferenceUsedError, match="vous-même"):
            assert_no_shortcut(cheat, SHORTCUTS["softmax"] + SHORTCUTS["cross_entropy"], logits)

    def honest(s):
        e = torch.exp(s - s.max(dim=1, keepdim=True).values)
        return e / e.sum(dim=1, keepdim=True)

    torch.testing.assert_close(assert_no_shortcut(honest, SHORTCUTS["softmax"], logits), F.softmax(logits, 1))
    with pytest.raises(ReferenceUsedError):
        assert_no_shortcut(lambda x, w: F.conv2d(x, w), SHORTCUTS["conv2d"], torch.rand(1, 1, 4, 4),
                           torch.rand(1, 1, 3, 3))


def test_assert_vectorised_tells_loops_from_vectorised_code():
    from course_lib.nn.checks import assert_vectorised, count_calls

    small = (torch.rand(1, 2, 8, 8), torch.rand(3, 2, 3, 3))
    large = (torch.rand(1, 2, 32, 32), torch.rand(3, 2, 3, 3))
    assert_vectorised(nn.conv2d, small, large)
    with pytest.raises(AssertionError, match="boucle sur les pixels"):
        assert_vectorised(nn.conv2d_loops, small, large)
    assert count_calls(nn.conv2d_loops, *large) > 10 * count_calls(nn.conv2d, *large)
