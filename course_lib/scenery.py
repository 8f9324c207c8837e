"""Rendu vectorisé de paysages procéduraux (utilisé par :func:`course_lib.data.synthetic_scenes`).

Une scène est décrite par deux tirages indépendants : la *géométrie*
(horizon, montagnes, eau, sol, arbres, nuages), tirée de
``numpy.random.default_rng([seed, i, 0])``, et l'*éclairage* (moment de la
journée, soleil ou lune, palette), tiré de ``default_rng([seed, i, 1])``.
Imposer le moment de la journée garde donc la même géométrie.

Les paramètres sont tirés scène par scène (quelques centaines de nombres),
mais tout le rendu des pixels se fait en une fois sur le lot, avec des
opérations de tenseurs sur l'appareil demandé.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TIMES_OF_DAY = ("day", "dusk", "night", "overcast")
_TIME_PROBS = (0.55, 0.2, 0.1, 0.15)

# Palettes (zénith, horizon, astre, lumière sur le terrain, intensité, couleur des nuages).
_PALETTES = {
    "day": ((0.20, 0.42, 0.85), (0.68, 0.80, 0.95), (1.0, 0.97, 0.88), (1.0, 0.98, 0.95), 1.0,
            (0.97, 0.97, 0.98)),
    "dusk": ((0.13, 0.12, 0.36), (1.0, 0.55, 0.25), (1.0, 0.62, 0.30), (1.0, 0.68, 0.48), 0.75,
             (0.95, 0.55, 0.50)),
    "night": ((0.01, 0.015, 0.05), (0.04, 0.07, 0.16), (0.92, 0.93, 1.0), (0.30, 0.36, 0.58), 0.22,
              (0.10, 0.11, 0.16)),
    "overcast": ((0.55, 0.57, 0.61), (0.79, 0.80, 0.82), (0.95, 0.95, 0.95), (0.86, 0.88, 0.92), 0.72,
                 (0.70, 0.71, 0.74)),
}
_GROUNDS = {
    "grass": (0.24, 0.44, 0.14),
    "dry": (0.56, 0.50, 0.26),
    "sand": (0.82, 0.74, 0.52),
    "snow": (0.90, 0.92, 0.96),
    "rock": (0.42, 0.39, 0.35),
}
_ROCKS = ((0.36, 0.39, 0.46), (0.46, 0.39, 0.31), (0.26, 0.38, 0.25), (0.22, 0.23, 0.29))
_RIDGE_OCTAVES = (4, 8, 16, 32, 64)
_CLOUD_OCTAVES = (3, 6, 12, 24)
_TEXTURE_OCTAVES = (16, 32, 64)
_MAX_LAYERS = 3
_MAX_TREES = 48


def _scene_parameters(index: int, seed: int, time_of_day: str | None) -> dict:
    g = np.random.default_rng([seed, index, 0])
    horizon = g.uniform(0.38, 0.68)
    geometry = {
        "horizon": horizon,
        "tilt": g.normal(0.0, 0.02),
        "n_mountains": int(g.choice(4, p=(0.15, 0.3, 0.35, 0.2))),
        # hauteur des sommets en fraction de la hauteur du ciel, du plus loin au plus proche
        "peaks": np.sort(g.uniform(0.12, 0.65, _MAX_LAYERS))[::-1].copy(),
        "roughness": g.uniform(0.40, 0.65, _MAX_LAYERS),
        "rocks": np.array(_ROCKS)[g.integers(0, len(_ROCKS), _MAX_LAYERS)] * g.uniform(0.85, 1.15, (_MAX_LAYERS, 1)),
        "snow": g.random(_MAX_LAYERS) < 0.35,
        "ridges": [g.standard_normal((_MAX_LAYERS, n)) for n in _RIDGE_OCTAVES],
        "water": bool(g.random() < 0.4),
        "shore": g.uniform(0.2, 1.3),
        "ground": str(g.choice(list(_GROUNDS), p=(0.45, 0.2, 0.12, 0.1, 0.13))),
        "ground_jitter": g.uniform(0.85, 1.15, 3),
        "cloud_cover": g.uniform(0.0, 0.8),
        "clouds": [g.standard_normal((n, n)) for n in _CLOUD_OCTAVES],
        "texture": [g.standard_normal((n, n)) for n in _TEXTURE_OCTAVES],
    }
    n_trees = int(g.integers(3, _MAX_TREES)) if g.random() < 0.6 else 0
    trees = np.zeros((_MAX_TREES, 3))
    trees[:n_trees, 0] = g.uniform(0.0, 1.0, n_trees)       # position
    trees[:n_trees, 1] = g.uniform(0.015, 0.10, n_trees)    # hauteur
    trees[:n_trees, 2] = g.uniform(0.25, 0.45, n_trees)     # demi-largeur relative à la hauteur
    geometry["trees"], geometry["n_trees"] = trees, n_trees

    light = np.random.default_rng([seed, index, 1])
    tod = str(light.choice(TIMES_OF_DAY, p=_TIME_PROBS))
    if time_of_day is not None:
        tod = time_of_day
    zenith, horizon_col, star, tint, intensity, cloud = (np.array(c, dtype=float) if isinstance(c, tuple)
                                                         else c for c in _PALETTES[tod])
    jitter = light.uniform(0.9, 1.1, 3)
    elevation = {"day": light.uniform(0.1, 0.6), "dusk": light.uniform(0.02, 0.15),
                 "night": light.uniform(0.2, 0.7), "overcast": light.uniform(0.2, 0.6)}[tod]
    geometry.update({
        "time_of_day": tod,
        "zenith": np.clip(zenith * jitter, 0, 1),
        "horizon_color": np.clip(horizon_col * jitter[::-1], 0, 1),
        "star_color": star,
        "tint": tint,
        "intensity": intensity,
        "cloud_color": cloud,
        "sun_x": light.uniform(0.1, 0.9),
        "sun_y": horizon * (1.0 - elevation),
        "stars": light.uniform(0.0, 1.0, (160, 2)),
    })
    return geometry


def _stack(params: list[dict], key: str, device) -> torch.Tensor:
    return torch.as_tensor(np.stack([np.asarray(p[key], dtype=np.float32) for p in params]), device=device)


def _octaves(params: list[dict], key: str, device) -> list[torch.Tensor]:
    """Les grilles de bruit de chaque octave, empilées sur le lot : une liste de (B, ...)."""
    return [torch.as_tensor(np.stack([p[key][k] for p in params]), dtype=torch.float32, device=device)
            for k in range(len(params[0][key]))]


def _fractal_1d(octaves: list[torch.Tensor], width: int, roughness: torch.Tensor) -> torch.Tensor:
    """Somme d'octaves de bruit 1D (B,L,n) interpolées à (B,L,width), amplitudes roughness^o."""
    total = 0.0
    for o, controls in enumerate(octaves):
        B, L, n = controls.shape
        up = F.interpolate(controls.reshape(B * L, 1, n), size=width, mode="linear", align_corners=True)
        total = total + up.reshape(B, L, width) * roughness[..., None] ** o
    return total


def _fractal_2d(octaves: list[torch.Tensor], size: tuple[int, int], decay: float) -> torch.Tensor:
    """Somme d'octaves de bruit 2D (B,n,n) interpolées à (B,1,H,W), normalisée dans [0, 1]."""
    total = 0.0
    for o, controls in enumerate(octaves):
        total = total + F.interpolate(controls[:, None], size=size, mode="bicubic",
                                      align_corners=True) * decay ** o
    low = total.amin(dim=(2, 3), keepdim=True)
    high = total.amax(dim=(2, 3), keepdim=True)
    return (total - low) / (high - low + 1e-6)


def _smoothstep(edge0, edge1, x):
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _col(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 3, 1, 1)


def render_scenes(indices, size: tuple[int, int], seed: int, device: torch.device,
                  time_of_day: str | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Rend les scènes ``indices`` en un lot ``(B,3,H,W)`` ; retourne aussi leur description."""
    params = [_scene_parameters(int(i), seed, time_of_day) for i in indices]
    H, W = size
    B = len(params)
    y = torch.linspace(0.5 / H, 1 - 0.5 / H, H, device=device).view(1, 1, H, 1)
    x = torch.linspace(0.5 / W, 1 - 0.5 / W, W, device=device).view(1, 1, 1, W)
    scal = lambda key: _stack(params, key, device).view(B, 1, 1, 1)  # noqa: E731

    # Ligne d'horizon (légèrement inclinée).
    horizon = scal("horizon") + scal("tilt") * (x - 0.5)

    # ----- ciel : dégradé, halo et disque de l'astre, étoiles, nuages
    t = (y / horizon).clamp(0, 1) ** 0.7
    sky = _col(_stack(params, "zenith", device)) * (1 - t) + _col(_stack(params, "horizon_color", device)) * t
    tod = [p["time_of_day"] for p in params]
    is_ = {name: torch.tensor([t_ == name for t_ in tod], device=device).view(B, 1, 1, 1) for name in TIMES_OF_DAY}
    aspect = W / H
    dist = torch.sqrt(((x - scal("sun_x")) * aspect) ** 2 + (y - scal("sun_y")) ** 2)
    star_color = _col(_stack(params, "star_color", device))
    glow_width = torch.where(is_["dusk"], 0.28, torch.where(is_["overcast"], 0.35, 0.12))
    glow_gain = torch.where(is_["overcast"], 0.15, torch.where(is_["night"], 0.25, 0.55))
    sky = sky + star_color * glow_gain * torch.exp(-(dist / glow_width) ** 2)
    disk = (1 - _smoothstep(0.035, 0.045, dist)) * (~is_["overcast"]).float()
    sky = sky * (1 - disk) + star_color * disk
    stars = torch.zeros(B, 1, H, W, device=device)
    star_xy = _stack(params, "stars", device)  # (B,160,2)
    rows = (star_xy[..., 1] * H * 0.7).long().clamp(0, H - 1)
    cols = (star_xy[..., 0] * W).long().clamp(0, W - 1)
    batch_idx = torch.arange(B, device=device)[:, None].expand_as(rows)
    stars[batch_idx, 0, rows, cols] = 1.0
    sky = sky + stars * is_["night"].float() * (1 - t) * 0.8

    clouds = _fractal_2d(_octaves(params, "clouds", device), (H, W), 0.55)
    cover = scal("cloud_cover")
    density = _smoothstep(1 - cover, 1 - cover + 0.25, clouds) * (1 - t * 0.6)
    sky = sky * (1 - 0.9 * density) + _col(_stack(params, "cloud_color", device)) * 0.9 * density

    # ----- éclairage du terrain et texture
    tint = _col(_stack(params, "tint", device)) * scal("intensity")
    texture = _fractal_2d(_octaves(params, "texture", device), (H, W), 0.6)
    horizon_color = _col(_stack(params, "horizon_color", device))
    image = sky

    # ----- montagnes, de la plus lointaine à la plus proche
    ridge_noise = _fractal_1d(_octaves(params, "ridges", device), W,
                              _stack(params, "roughness", device))  # (B,L,W)
    low = ridge_noise.amin(dim=2, keepdim=True)
    high = ridge_noise.amax(dim=2, keepdim=True)
    ridge01 = (ridge_noise - low) / (high - low + 1e-6)
    peaks = _stack(params, "peaks", device)
    rocks = _stack(params, "rocks", device)  # (B,L,3)
    snow = _stack(params, "snow", device)
    n_mountains = _stack(params, "n_mountains", device)
    sun_side = torch.sign(scal("sun_x") - 0.5)
    haze = (0.55, 0.35, 0.15)
    # pente des crêtes lissées (deux premières octaves) : versants au soleil plus clairs
    smooth_noise = _fractal_1d(_octaves(params, "ridges", device)[:2], W, _stack(params, "roughness", device))
    smooth01 = (smooth_noise - low) / (high - low + 1e-6)
    for layer in range(_MAX_LAYERS):
        # Les couches actives sont les dernières : n_mountains = 1 ne garde que la plus proche.
        active = (layer >= _MAX_LAYERS - n_mountains).float().view(B, 1, 1, 1)
        peak = peaks[:, layer].view(B, 1, 1, 1) * horizon
        ridge = horizon - peak * (0.25 + 0.75 * ridge01[:, layer].view(B, 1, 1, W))
        mask = ((y > ridge) & (y <= horizon + 0.005)).float() * active
        smooth = horizon - peak * (0.25 + 0.75 * smooth01[:, layer].view(B, 1, 1, W))
        slope = torch.gradient(smooth, dim=3)[0] * W
        below_ridge = ((y - ridge) / (horizon - ridge + 1e-6)).clamp(0, 1)
        shade = (1.0 - 1.2 * (slope * sun_side).clamp(-0.35, 0.35)) * (0.7 + 0.6 * texture)
        shade = shade * (1.0 - 0.25 * below_ridge)
        rock = rocks[:, layer].view(B, 3, 1, 1) * shade
        snowline = ridge + 0.35 * peak * (0.5 + 0.9 * texture)
        has_snow = snow[:, layer].view(B, 1, 1, 1) * (peaks[:, layer] > 0.35).float().view(B, 1, 1, 1)
        is_snow = (y < snowline).float() * has_snow
        rock = rock * (1 - is_snow) + 0.95 * shade.clamp(0.75, 1.15) * is_snow
        lit = rock * tint
        fog = haze[layer] + 0.35 * below_ridge**2
        lit = lit * (1 - fog) + horizon_color * fog
        image = image * (1 - mask) + lit * mask

    # ----- lisière de conifères sur l'horizon
    trees = _stack(params, "trees", device)  # (B,T,3)
    width = (trees[..., 1] * trees[..., 2]).clamp_min(1e-6)
    profile = (trees[..., 1:2] * (1 - (x.view(1, 1, W) - trees[..., 0:1]).abs() / width[..., None]).clamp_min(0))
    tree_top = horizon - profile.amax(dim=1).view(B, 1, 1, W)
    tree_mask = ((y > tree_top) & (y <= horizon + 0.004)).float()
    tree_color = torch.tensor((0.07, 0.19, 0.10), device=device).view(1, 3, 1, 1) * (0.7 + 0.6 * texture)
    image = image * (1 - tree_mask) + tree_color * tint * tree_mask

    # ----- sol : eau (reflet du haut de l'image) jusqu'au rivage, puis terrain
    below = (y > horizon).float()
    depth = ((y - horizon) / (1 - horizon)).clamp(0, 1)  # 0 à l'horizon, 1 en bas
    ripple = 0.004 * torch.sin(90 * y + 12 * texture)
    mirror_y = (2 * horizon - y).clamp(0, 1)
    grid = torch.stack([(x + ripple).expand(B, 1, H, W) * 2 - 1, mirror_y.expand(B, 1, H, W) * 2 - 1], dim=-1)[:, 0]
    reflection = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    water_tint = torch.tensor((0.04, 0.12, 0.20), device=device).view(1, 3, 1, 1)
    water = reflection * 0.62 + water_tint * tint * (0.6 + 0.8 * depth)
    shore = horizon + scal("shore") * (1 - horizon)
    water_mask = below * (y < shore).float() * scal("water")

    # texture du sol en perspective : plus fine et plus étirée vers l'horizon
    distance = 1.0 / (depth + 0.08)
    ground_grid = torch.stack([((x - 0.5) * distance * 0.35).expand(B, 1, H, W),
                               (distance * 0.12 - 1.0).expand(B, 1, H, W)], dim=-1)[:, 0]
    ground_texture = F.grid_sample(texture, ground_grid, mode="bilinear", padding_mode="reflection",
                                   align_corners=False)
    grounds = torch.tensor(np.stack([np.array(_GROUNDS[p["ground"]]) * p["ground_jitter"] for p in params]),
                           dtype=torch.float32, device=device).view(B, 3, 1, 1)
    ground = grounds * (0.6 + 0.8 * ground_texture) * (0.8 + 0.35 * depth) * tint
    ground = ground * (0.55 + 0.45 * depth) + horizon_color * (0.45 * (1 - depth))
    image = image * (1 - below) + below * (water * water_mask + ground * (1 - water_mask))

    image = image.clamp(0, 1)
    info = [{
        "index": int(i), "time_of_day": p["time_of_day"], "horizon": float(p["horizon"]),
        "n_mountains": p["n_mountains"], "water": p["water"], "ground": p["ground"],
        "n_trees": p["n_trees"], "cloud_cover": float(p["cloud_cover"]),
    } for i, p in zip(indices, params)]
    return image, info
