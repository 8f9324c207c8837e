"""Couture par coupe de graphe (PyMaxflow) entre l'image trouée et la scène alignée (Hays et Efros 2007, §5).

Chaque pixel reçoit une étiquette : *original* (garder l'image) ou *scène* (prendre
la scène alignée). On minimise

.. math::

    C(L) = \\sum_p C_d(p, L(p)) + \\sum_{(p,q)} C_i(p, q, L(p), L(q))

- ``C_d`` : un pixel du trou doit venir de la scène (coût infini sinon) ; un pixel
  hors de la bande de contexte (ou que la scène ne couvre pas) doit rester original ;
  dans la bande, prendre la scène coûte ``(k · dist(p, trou))³`` avec ``k = 0,002`` :
  la couture reste près du trou ;
- ``C_i`` : nul si ``L(p) = L(q)``, sinon la somme, en ``p`` et en ``q``, du module du
  gradient de la SSD (RGB) entre l'image et la scène : la couture passe là où les deux
  images diffèrent *de façon uniforme* (un écart constant sera effacé par le mélange de Poisson).

La coupe minimale s'obtient par flot maximal (Boykov et Kolmogorov, via PyMaxflow).

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §5.
Y. Boykov, V. Kolmogorov, « An experimental comparison of min-cut/max-flow algorithms », PAMI 2004.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..validation import check_images, check_mask, check_number, describe

__all__ = ["Seam", "seam_costs", "graph_cut_seam", "seam_boundary", "K_DISTANCE"]

#: Constante de la pénalité ``(k · dist)³`` loin du trou (Hays et Efros 2007, §5).
K_DISTANCE = 0.002

_INFINITY = 1e9


@dataclass
class Seam:
    """Résultat de la coupe : ``region`` (``(H,W)`` booléen, ``True`` = pixel pris dans la scène), le coût
    de la coupe (énergie minimale) et ``seam`` (les pixels de la région qui touchent l'image d'origine)."""

    region: torch.Tensor
    cost: float
    seam: torch.Tensor


def seam_costs(image: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
    """Coût de couture par pixel : module du gradient (différences centrées) de la SSD RGB
    ``D(p) = ||image(p) - scène(p)||²``. ``(3,H,W)`` x 2 donne ``(H,W)``."""
    difference = ((image - scene) ** 2).sum(dim=0)
    gy, gx = torch.gradient(difference)
    return torch.sqrt(gx**2 + gy**2)


def seam_boundary(region: torch.Tensor) -> torch.Tensor:
    """Pixels de ``region`` qui ont un voisin (4-connexité) hors de ``region``."""
    inside = region.bool()
    padded = torch.nn.functional.pad(inside[None, None].float(), (1, 1, 1, 1), value=1.0)[0, 0] > 0
    neighbours_in = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~neighbours_in


def graph_cut_seam(image: torch.Tensor, scene: torch.Tensor, mask, band: float = 80,
                   coverage: torch.Tensor | None = None, k: float = K_DISTANCE,
                   distance: torch.Tensor | None = None) -> Seam:
    """Couture optimale entre une image trouée et une scène alignée, par coupe de graphe.

    Paramètres
    ----------
    image, scene : torch.Tensor
        ``(3,H,W)`` dans [0, 1] : la requête et la scène placée dans son repère.
    mask : torch.Tensor
        ``(H,W)`` booléen, ``True`` = pixel manquant.
    band : float
        Largeur (pixels) de la bande où la couture peut passer (la bande de contexte).
    coverage : torch.Tensor, optionnel
        ``(H,W)`` ou ``(1,H,W)`` booléen : pixels que la scène couvre (tous par défaut).
    k : float
        Constante de la pénalité ``(k · dist)³`` (0,002).
    distance : torch.Tensor, optionnel
        Distance au trou déjà calculée (:func:`course_lib.scenes.context.hole_distance`).

    Retourne
    --------
    Seam

    Références
    ----------
    Hays et Efros (2007), §5.
    """
    query, single = check_images(image, "image", channels=3)
    other, _ = check_images(scene, "scene", channels=3)
    if not single or other.shape != query.shape:
        raise ValueError(f"« image » et « scene » doivent être deux images (3,H,W) de même taille ; reçu : "
                         f"{describe(image)} et {describe(scene)}.")
    check_number(band, "band", positive=True)
    check_number(k, "k", nonnegative=True)
    H, W = query.shape[-2:]
    hole = check_mask(mask, size=(H, W), device=query.device)[0, 0]
    covered = None if coverage is None else coverage.reshape(H, W).bool().to(query.device)
    return _graph_cut_seam(query[0], other[0], hole, band, covered, k, distance)


def _graph_cut_seam(query: torch.Tensor, scene: torch.Tensor, hole: torch.Tensor, band: float = 80,
                    covered: torch.Tensor | None = None, k: float = K_DISTANCE,
                    distance: torch.Tensor | None = None) -> Seam:
    """:func:`graph_cut_seam` sur des entrées déjà vérifiées : ``query`` et ``scene`` ``(3,H,W)``, ``hole``
    et ``covered`` ``(H,W)`` booléens (les images ne sont pas relues pour être vérifiées)."""
    import maxflow

    from .context import _hole_distance

    H, W = query.shape[-2:]
    dist = _hole_distance(hole) if distance is None else distance.to(query.device)
    if covered is None:
        covered = torch.ones(H, W, dtype=torch.bool, device=query.device)
    if bool((hole & ~covered).any()):
        raise ValueError("La scène alignée ne couvre pas tout le trou : elle ne peut pas le remplir.")
    free = (dist > 0) & (dist <= band) & covered          # pixels où la couture peut passer
    region_box = hole | free
    rows = torch.nonzero(region_box.any(dim=1)).flatten()
    cols = torch.nonzero(region_box.any(dim=0)).flatten()
    top, bottom = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, H)
    left, right = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, W)

    # Tout ce qui sort de la coupe passe en NumPy (float64) pour PyMaxflow, qui tourne sur le CPU.
    cost = seam_costs(query, scene)[top:bottom, left:right].double().cpu().numpy()
    hole_np = hole[top:bottom, left:right].cpu().numpy()
    free_np = free[top:bottom, left:right].cpu().numpy()
    dist_np = dist[top:bottom, left:right].double().cpu().numpy()
    h, w = cost.shape
    take_scene = np.where(free_np, (k * dist_np) ** 3, _INFINITY)   # C_d(p, scène)
    take_scene[hole_np] = 0.0
    keep_original = np.where(hole_np, _INFINITY, 0.0)                # C_d(p, original)

    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes((h, w))
    right_weights = np.zeros((h, w))
    right_weights[:, :-1] = cost[:, :-1] + cost[:, 1:]
    down_weights = np.zeros((h, w))
    down_weights[:-1, :] = cost[:-1, :] + cost[1:, :]
    graph.add_grid_edges(nodes, weights=right_weights, structure=np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]),
                         symmetric=True)
    graph.add_grid_edges(nodes, weights=down_weights, structure=np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]]),
                         symmetric=True)
    # source = original, puits = scène : un nœud du côté du puits paie sa capacité vers la source.
    graph.add_grid_tedges(nodes, take_scene, keep_original)
    energy = graph.maxflow()
    in_scene = graph.get_grid_segments(nodes)

    region = torch.zeros(H, W, dtype=torch.bool, device=query.device)
    region[top:bottom, left:right] = torch.from_numpy(in_scene).to(query.device)
    return Seam(region=region, cost=float(energy), seam=seam_boundary(region))
