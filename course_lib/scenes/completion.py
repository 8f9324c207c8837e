"""La complétion de scènes de Hays et Efros (2007), de bout en bout.

1. *Appariement de scènes* : les ``k`` (200) scènes de la base dont le gist
   (pondéré par le masque) est le plus proche (:class:`~course_lib.scenes.index.SceneIndex`) ;
2. *appariement local* : chaque scène est placée au mieux sur la bande de contexte
   du trou (3 échelles, toutes les translations, L*a*b* + texture ;
   :func:`~course_lib.scenes.context.match_context`) ;
3. *coupe de graphe* : la couture entre l'image et la scène (:func:`~course_lib.scenes.seams.graph_cut_seam`) ;
4. *mélange par gradients* dans la région choisie (:func:`~course_lib.scenes.poisson.poisson_blend`) ;
5. *classement* : le score est la somme des quatre coûts (scène, contexte, texture,
   coupe), chacun divisé par sa médiane sur les candidats pour qu'ils pèsent autant ;
   on présente les ``n_results`` (20) meilleurs composites.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §3 à §6.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..validation import check_choice, check_images, check_mask, check_number, describe
from .context import SCALES, ContextMatch, _hole_distance, _match_context
from .index import SceneIndex, SearchResult
from .poisson import _poisson_blend
from .seams import K_DISTANCE, _graph_cut_seam

__all__ = ["Completion", "complete", "TERMS"]

#: Les quatre termes du score final, dans l'ordre de l'article.
TERMS = ("scene", "context", "texture", "cut")


@dataclass
class Completion:
    """Composites classés (le meilleur d'abord) et le détail de leurs coûts.

    Attributs
    ---------
    composites : torch.Tensor
        ``(n,3,H,W)`` les images complétées.
    regions : torch.Tensor
        ``(n,1,H,W)`` booléen : pixels pris dans la scène (trou + partie de la bande).
    scene_indices : torch.Tensor
        ``(n,)`` indices des scènes dans l'index.
    scores : torch.Tensor
        ``(n,)`` score final (plus petit = meilleur).
    terms : dict
        ``{"scene", "context", "texture", "cut"}`` -> ``(n,)`` coûts bruts de chaque terme.
    aligned : torch.Tensor
        ``(n,3,H,W)`` scènes placées dans le repère de la requête (avant couture et mélange).
    search : SearchResult
        Les ``k`` scènes trouvées par le gist.
    context : ContextMatch
        L'appariement local des ``k`` scènes.
    all_terms : dict
        Les quatre coûts bruts des ``k`` candidats (ordre de ``search``).
    """

    composites: torch.Tensor
    regions: torch.Tensor
    scene_indices: torch.Tensor
    scores: torch.Tensor
    terms: dict[str, torch.Tensor]
    aligned: torch.Tensor
    search: SearchResult
    context: ContextMatch
    all_terms: dict[str, torch.Tensor] = field(default_factory=dict)


def _progress(total: int, desc: str, disable: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=disable, leave=False)


def complete(image: torch.Tensor, mask, index: SceneIndex, k: int = 200, n_results: int = 20,
             band: float = 80, scales=SCALES, texture_weight: float = 1.0, k_distance: float = K_DISTANCE,
             mode: str = "seamless", chunk_size: int = 32, progress: bool = True) -> Completion:
    """Complète le trou ``mask`` de ``image`` avec les scènes de ``index`` (Hays et Efros 2007).

    Paramètres
    ----------
    image : torch.Tensor
        ``(3,H,W)`` dans [0, 1].
    mask : torch.Tensor
        ``(H,W)`` booléen (ou 0/1), ``True`` = pixel manquant.
    index : SceneIndex
        La base de scènes (ses images doivent être disponibles : scènes procédurales, dossier, tenseur gardé).
    k : int
        Scènes retenues par le gist (200).
    n_results : int
        Composites retournés (20).
    band : float
        Largeur de la bande de contexte (80 pixels dans l'article).
    scales : tuple
        Échelles de l'appariement local (0,81, 0,90, 1).
    texture_weight : float
        Poids de la texture dans le placement.
    k_distance : float
        Constante de la pénalité ``(k · dist)³`` de la coupe (0,002).
    mode : str
        Mélange de Poisson ``"seamless"`` ou ``"mixed"``.
    chunk_size : int
        Scènes traitées ensemble (mémoire).
    progress : bool
        Barre de progression (tqdm).

    Retourne
    --------
    Completion

    Notes
    -----
    L'image et le masque sont vérifiés une fois, ici ; les étapes appellent ensuite les versions internes
    de :func:`~course_lib.scenes.context.match_context`, :func:`~course_lib.scenes.seams.graph_cut_seam` et
    :func:`~course_lib.scenes.poisson.poisson_blend`, qui ne relisent pas les images pour les vérifier.
    """
    query, single = check_images(image, "image", channels=3, value_range=(0.0, 1.0), min_size=8)
    if not single and query.shape[0] != 1:
        raise ValueError(f"complete() traite une image à la fois (3,H,W) ; reçu : {describe(image)}.")
    if not isinstance(index, SceneIndex):
        raise TypeError(f"L'argument « index » doit être un SceneIndex ; reçu : {describe(index)}.")
    check_number(k, "k", integer=True, positive=True)
    check_number(n_results, "n_results", integer=True, positive=True)
    check_number(chunk_size, "chunk_size", integer=True, positive=True)
    check_number(band, "band", positive=True)
    check_number(texture_weight, "texture_weight", nonnegative=True)
    check_number(k_distance, "k_distance", nonnegative=True)
    check_choice(mode, "mode", ("seamless", "mixed"))
    for scale in scales:
        check_number(scale, "scales", positive=True, high=1.0)
    query = query.to(index.device)
    H, W = query.shape[-2:]
    hole = check_mask(mask, size=(H, W), device=query.device)[0, 0]
    if not bool(hole.any()):
        raise ValueError("Le masque « mask » est vide : il n'y a pas de trou à compléter.")
    if bool(hole.all()):
        raise ValueError("Le masque « mask » couvre toute l'image : il n'y a ni contexte ni scène à apparier.")

    bar = _progress(4, "complétion de scène", not progress)
    bar.set_postfix_str("appariement de scènes (gist)")
    search = index.search(query[0], hole, k=k)
    bar.update(1)

    bar.set_postfix_str("appariement local")
    K = len(search)
    scenes = torch.cat([index.images(search.indices[i:i + chunk_size], size=(H, W))
                        for i in range(0, K, chunk_size)])
    context = _match_context(query[0], hole, scenes, band=band, scales=scales, texture_weight=texture_weight,
                             chunk_size=chunk_size)
    bar.update(1)

    bar.set_postfix_str("coupes de graphe")
    distance = _hole_distance(hole)
    regions = torch.zeros(K, 1, H, W, dtype=torch.bool, device=query.device)
    cut = torch.zeros(K, device=query.device)
    for j in range(K):
        seam = _graph_cut_seam(query[0], context.aligned[j], hole, band=band, covered=context.coverage[j, 0],
                               k=k_distance, distance=distance)
        regions[j, 0] = seam.region
        cut[j] = seam.cost
    bar.update(1)

    terms = {"scene": search.distances.to(query.device).float(), "context": context.context_cost.float(),
             "texture": context.texture_cost.float(), "cut": cut}
    scores = sum(value / value.median().clamp_min(1e-12) for value in terms.values())
    order = torch.argsort(scores)[:min(n_results, K)]

    bar.set_postfix_str("mélange de Poisson")
    target = torch.where(hole, context.aligned[order], query.expand(len(order), -1, -1, -1))
    composites = torch.cat([_poisson_blend(context.aligned[order[i:i + chunk_size]], target[i:i + chunk_size],
                                           regions[order[i:i + chunk_size]], mode=mode)
                            for i in range(0, len(order), chunk_size)])
    bar.update(1)
    bar.close()
    return Completion(
        composites=composites, regions=regions[order], scene_indices=search.indices[order.cpu()],
        scores=scores[order], terms={name: value[order] for name, value in terms.items()},
        aligned=context.aligned[order], search=search, context=context, all_terms=terms,
    )
