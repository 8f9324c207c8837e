"""TP5 « Textures par CNN et transfert de style » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

CASE = harness.GradingCase(
    tp="TP5",
    wrong={
        # activations réarrangées en (B, M, N) au lieu de (B, N, M) : juste pour une seule position
        "gram_matrix": '''
def gram_matrix(features):
    b, n, h, w = features.shape
    flat = features.reshape(b, h * w, n)
    return flat.transpose(1, 2) @ flat / (h * w)
''',
        # matrice de Gram calculée sur des activations détachées : la bonne valeur, mais aucun gradient
        "style_loss": '''
def style_loss(features, targets, weights):
    total = torch.zeros(())
    for f, target, w in zip(features, targets, weights):
        n = f.shape[1]
        total = total + w * ((gram_matrix(f.detach()) - target) ** 2).sum() / (4 * n ** 2)
    return total
''',
        # le mauvais tenseur détaché : features au lieu de la cible, le gradient ne passe plus
        "content_loss": '''
def content_loss(features, target):
    return 0.5 * ((features.detach() - target) ** 2).sum()
''',
        # pixels jamais ramenés dans [0, 1] : juste tant que le minimum est dans [0, 1]
        "optimize": '''
def optimize(loss_fn, init, steps, lr=0.02):
    x = init.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(x).backward()
        optimizer.step()
    return x.detach()
''',
    },
    alias={
        "gram_matrix": "from course_lib.texture.gatys import gram_matrix as gram\n\n"
                       "def gram_matrix(features):\n    return gram(features)\n",
        "style_loss": "import course_lib.style as cs\n\n"
                      "def style_loss(features, targets, weights):\n"
                      "    return cs.style_loss(dict(enumerate(features)), dict(enumerate(targets)), list(weights))\n",
        "content_loss": "import functools\nfrom course_lib.style import content_loss as contenu\n\n"
                        "content_loss = functools.partial(contenu)\n",
        "optimize": "from course_lib.texture import gatys\n\n"
                    "optimize = lambda loss_fn, init, steps, lr=0.02: gatys.optimize_image(\n"
                    "    loss_fn, init, steps, method='adam', lr=lr, progress=False)[0]\n",
    },
    loop=("content_loss", "def content_loss(features, target):\n    while True:\n        pass\n"),
    loop_cells=["test_content_loss_visible", "test_content_loss_hidden"],
)


class TestTP5(harness.GradingContract):
    case = CASE
