"""TP1 « Complétion de scènes » : correction de bout en bout avec nbgrader."""

import grading_harness as harness

CASE = harness.GradingCase(
    tp="TP1",
    wrong={
        # mauvaise convention d'orientation (θ - θ_j) : le premier filtre (θ = 0) reste juste
        "gabor_transfer": '''
def gabor_transfer(orientations, n):
    f = torch.arange(n, dtype=torch.float64) - n / 2
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    fr = torch.fft.fftshift(torch.sqrt(fx**2 + fy**2))
    theta = torch.fft.fftshift(torch.atan2(fy, fx))
    filters = []
    for i, count in enumerate(orientations, start=1):
        b, c = 0.3 / 1.85 ** (i - 1), 16 * count**2 / 32**2
        for j in range(1, count + 1):
            tau = theta - math.pi * (j - 1) / count
            tau = torch.where(tau < -math.pi, tau + 2 * math.pi, torch.where(tau > math.pi, tau - 2 * math.pi, tau))
            filters.append(torch.exp(-3.5 * (fr / n / b - 1) ** 2 - 2 * c * math.pi * tau**2))
    return torch.stack(filters).float()
''',
        # masque non pondéré : un bloc compte entièrement s'il n'a aucun pixel manquant, sinon pas du tout
        "masked_scene_distance": '''
def masked_scene_distance(query, database, mask, n_blocks=4):
    H, W = mask.shape
    rows = [i * H // n_blocks for i in range(n_blocks + 1)]
    cols = [i * W // n_blocks for i in range(n_blocks + 1)]
    weights = torch.stack([(~mask[rows[r]:rows[r + 1], cols[c]:cols[c + 1]]).all().to(query.dtype)
                           for c in range(n_blocks) for r in range(n_blocks)])
    return ((database - query) ** 2 * weights.repeat(query.shape[0] // n_blocks**2)).sum(dim=1)
''',
        # mauvaise condition au bord : le bord du rectangle garde la source au lieu de la cible
        "poisson_blend": '''
def poisson_blend(source, target, mask, n_iter=20000, tol=1e-7):
    H, W = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    top, bottom = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, H)
    left, right = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, W)
    s = source[:, top:bottom, left:right].double()
    t = target[:, top:bottom, left:right].double()
    m = mask[top:bottom, left:right]
    interior = torch.zeros_like(m)
    interior[1:-1, 1:-1] = True
    shifts = ((1, -1), (-1, -1), (1, -2), (-1, -2))
    guidance = torch.zeros_like(s)
    for shift, dim in shifts:
        touches = m | torch.roll(m, shift, dim)
        guidance += torch.where(touches, s - torch.roll(s, shift, dim), t - torch.roll(t, shift, dim))
    f = s.clone()
    for _ in range(n_iter):
        neighbours = sum(torch.roll(f, shift, dim) for shift, dim in shifts)
        updated = torch.where(interior, (neighbours + guidance) / 4, s)
        change = float((updated - f).abs().max())
        f = updated
        if change < tol:
            break
    out = target.clone()
    out[:, top:bottom, left:right] = f.clamp(0, 1).to(target.dtype)
    return out
''',
    },
    alias={
        "gabor_transfer": "import importlib\n\nreference = importlib.import_module('course_lib.scenes.gist')\n\n"
                          "def gabor_transfer(orientations, n):\n"
                          "    return reference.gabor_transfer(orientations, n)\n",
        "masked_scene_distance": "from course_lib.scenes import masked_scene_distance as distance\n\n"
                                 "masked_scene_distance = lambda q, x, m, n_blocks=4: distance(q, x, m, n_blocks)\n",
        "poisson_blend": "import functools\nfrom course_lib.scenes import poisson_blend as blend\n\n"
                         "poisson_blend = functools.partial(blend, mode='seamless')\n",
    },
    loop=("masked_scene_distance",
          "def masked_scene_distance(query, database, mask, n_blocks=4):\n    while True:\n        pass\n"),
    loop_cells=["test_masked_scene_distance_visible", "test_masked_scene_distance_hidden"],
)


class TestTP1(harness.GradingContract):
    case = CASE
