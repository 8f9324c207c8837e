"""TP2 « Réseaux de neurones et descente du gradient » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

CASE = harness.GradingCase(
    tp="TP2",
    wrong={
        # le pas n'est appliqué qu'horizontalement : juste avec stride=1 (les tests visibles)
        "conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = F.pad(x, (padding, padding, padding, padding))
    kh, kw = weight.shape[-2:]
    windows = x.unfold(2, kh, 1).unfold(3, kw, stride)            # (B, C, H_out, W_out, kh, kw)
    out = torch.einsum("bchwij,ocij->bohw", windows, weight)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out
''',
        # la formule naïve : exp déborde pour des scores de l'ordre de 100
        "softmax": '''
def softmax(logits):
    e = torch.exp(logits)
    return e / e.sum(dim=1, keepdim=True)
''',
        # le log d'une probabilité qui s'arrondit à 0 : -log(0) = inf pour des scores très écartés
        "cross_entropy": '''
def cross_entropy(logits, labels):
    p = softmax(logits)
    return -torch.log(p[torch.arange(len(labels)), labels]).mean()
''',
        # oubli de la division par la taille du lot : juste pour un lot d'un seul exemple
        "cross_entropy_grad": '''
def cross_entropy_grad(logits, labels):
    grad = softmax(logits).clone()
    grad[torch.arange(len(labels)), labels] -= 1
    return grad
''',
        # oubli des paramètres sans gradient (gelés ou inutilisés)
        "sgd_step": '''
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p -= lr * p.grad
''',
        # oubli de la remise à zéro des gradients : ils s'additionnent d'un lot à l'autre
        "train": '''
def train(model, images, labels, epochs, lr, batch_size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            loss = cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            sgd_step(params, lr)
            total += loss.item() * len(batch)
        losses.append(total / len(images))
    return losses
''',
    },
    alias={
        "conv2d": "from course_lib.nn import conv2d as convolution\n\n"
                  "def conv2d(x, weight, bias=None, stride=1, padding=0):\n"
                  "    return convolution(x, weight, bias, stride, padding)\n",
        "softmax": "import course_lib.nn as cn\n\nsoftmax = lambda logits: cn.softmax(logits)\n",
        "cross_entropy": "import torch.nn.functional as FF\n\n"
                         "def cross_entropy(logits, labels):\n    return FF.cross_entropy(logits, labels)\n",
        "cross_entropy_grad": "import functools\nimport course_lib.nn\n\n"
                              "cross_entropy_grad = functools.partial(course_lib.nn.cross_entropy_grad)\n",
        "sgd_step": "def sgd_step(parameters, lr):\n    torch.optim.SGD(parameters, lr=lr).step()\n",
        "train": "from course_lib.nn.training import minibatch_sgd as train\n",
    },
    loop=("conv2d", "def conv2d(x, weight, bias=None, stride=1, padding=0):\n    while True:\n        pass\n"),
    loop_cells=["test_conv2d_visible", "test_conv2d_hidden"],
)


class TestTP2(harness.GradingContract):
    case = CASE
