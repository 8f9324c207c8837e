# Corrigé 05 : chiffres des exercices 1 à 4, réglages du profil « cpu » du notebook, sans Places365 (repli du
# notebook : imagettes des photos de scikit-image et paysages procéduraux), un fil de calcul.
#
#   python k05.py [STEPS [TOY_STEPS]]   itérations des petits réseaux (700 au profil cpu, par défaut) et des
#                                       réseaux des disques (300) ; des valeurs plus petites pour un essai rapide.
import sys
import time

import torch

import course_lib
from course_lib import colorization as C
from course_lib import data

torch.set_num_threads(1)
SIZE, N_TRAIN, WIDTH, BATCH, N_VAL = 48, 4000, 16, 16, 128      # profil « cpu » du notebook
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 700
TOY_STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
TOY_N = 2048
START = time.process_time()


def cpu():
    return f"{time.process_time() - START:.0f} s CPU"


print(f"Places365 dans le cache : {data.is_available('places365-val')} ; "
      f"poids ECCV16 : {data.is_available('colorization_eccv16')}")

# ----------------------------------------------------------------------------- exercice 1
print(f"Ex. 1 : disques ambigus (2 048 disques 32 x 32, {TOY_STEPS} itérations, largeur 8, sans rééquilibrage) ; "
      "200 disques de test (graine 1)")
palette = torch.tensor(list(C.AMBIGUOUS_PALETTE.values()))
names = list(C.AMBIGUOUS_PALETTE)
for probs in ((0.4, 0.3, 0.2, 0.1), (0.25, 0.25, 0.25, 0.25)):
    shapes, _ = C.ambiguous_shapes(TOY_N, 32, seed=0, probs=probs)
    test, test_labels = C.ambiguous_shapes(200, 32, seed=1, probs=probs)
    _, ab_test = C.split_lab(test)
    inside = ab_test.norm(dim=1) > 1
    toy = {}
    for kind in ("regression", "classification"):
        course_lib.seed(0)
        toy[kind] = C.SmallColorizer(width=8, kind=kind)
        C.train_colorizer(toy[kind], shapes, steps=TOY_STEPS, batch_size=32, lr=3e-3, rebalance=False,
                          live=False, progress=False, num_threads=1)
    mean_colour = (torch.tensor(probs)[:, None] * palette).sum(0)
    print(f"  probabilités {probs} : moyenne pondérée des couleurs ({mean_colour[0]:.1f}, {mean_colour[1]:.1f}), "
          f"saturation {mean_colour.norm():.1f}")
    rows = {"régression L2": C.colorize(toy["regression"], test),
            "classification, mode (T = 0)": C.colorize(toy["classification"], test, T=0.0),
            "classification, T = 0.38": C.colorize(toy["classification"], test, T=0.38),
            "classification, moyenne (T = 1)": C.colorize(toy["classification"], test, T=1.0)}
    for name, rgb in rows.items():
        ab = C.split_lab(rgb)[1].permute(0, 2, 3, 1)                       # (B,H,W,2)
        pixels = ab[inside]
        distance, nearest = torch.cdist(pixels, palette).min(dim=1)
        shares = torch.bincount(nearest, minlength=4).float() / len(nearest)
        franc = float((distance < 15).float().mean())
        # par disque : couleur majoritaire de ses pixels, et part des pixels qui ont cette couleur
        majority, agreement = [], []
        for b in range(len(test)):
            labels = torch.cdist(ab[b][inside[b]], palette).argmin(dim=1)
            counts = torch.bincount(labels, minlength=4)
            majority.append(int(counts.argmax()))
            agreement.append(float(counts.max() / counts.sum()))
        majority = torch.tensor(majority)
        uniform = float((torch.tensor(agreement) >= 0.9).float().mean())
        print(f"    {name:32s} ab moyen ({float(pixels[:, 0].mean()):5.1f}, {float(pixels[:, 1].mean()):5.1f}), "
              f"saturation {float(pixels.norm(dim=1).mean()):5.1f} ; pixels à moins de 15 d'une couleur de la "
              f"palette {franc:5.1%} ; pixels les plus proches de "
              + ", ".join(f"{n} {s:.0%}" for n, s in zip(names, shares.tolist()))
              + f" ; disques d'une seule couleur (≥ 90 % des pixels) {uniform:.0%}"
              f" ; couleur majoritaire = vraie couleur {float((majority == test_labels).float().mean()):.0%}",
              flush=True)
print(f"  ({cpu()})")

# ----------------------------------------------------------------------------- données du notebook (repli)
train = C.training_images(N_TRAIN, SIZE, source="mixed", seed=0)
val = C.training_images(N_VAL, SIZE, source="mixed", seed=100, augmented=False)
bins = C.ab_bins()
prior = C.empirical_prior(train[::4])
smoothed = C.smooth_prior(prior, sigma=5.0)
L_val, ab_val = C.split_lab(val)
# AuC « rééquilibrée » de l'article : chaque pixel pondéré par l'inverse de la fréquence (a priori lissé des
# images d'entraînement) de la case de sa vraie couleur.
pixel_weights = 1.0 / smoothed.clamp_min(1e-6)[C.nearest_bin(ab_val, bins)]
print(f"données : {N_TRAIN} images d'entraînement et {N_VAL} de validation {SIZE} x {SIZE} ({cpu()}) ; "
      f"{int((prior > 0).sum())} cases sur {len(bins)} vues à l'entraînement")


def train_model(kind="classification", **options):
    course_lib.seed(0)
    model = C.SmallColorizer(width=WIDTH, kind=kind)
    history = C.train_colorizer(model, train, steps=STEPS, batch_size=BATCH, lr=3e-3, prior=prior, live=False,
                                progress=False, num_threads=1, seed=0, **options)
    return model, history


def scores(model, T=0.38):
    result = C.evaluate(model, val, T=T)
    rgb = C.gray_rgb(val) if model is None else C.colorize(model, val, T=T)
    balanced = C.ab_auc(C.split_lab(rgb)[1], ab_val, pixel_weights=pixel_weights)
    return result["psnr"], result["auc"], float(balanced.mean()), result["colorfulness"]


def line(name, s):
    return f"  {name:34s} {s[0]:10.2f} {s[1]:7.3f} {s[2]:14.3f} {s[3]:13.1f}"


header = f"  {'':34s} {'PSNR (dB)':>10s} {'AuC':>7s} {'AuC rééquil.':>14s} {'colorfulness':>13s}"

# ----------------------------------------------------------------------------- exercice 2
print(f"Ex. 2 : rééquilibrage (petit réseau, largeur {WIDTH}, {STEPS} itérations, lots de {BATCH}, T = 0.38)")
print(header)
print(line("gris (ab = 0)", scores(None)), flush=True)
models, histories = {}, {}
variants = {"régression L2": dict(kind="regression"),
            "classification, rebalance=False": dict(rebalance=False),
            "classification, lam=0.9": dict(lam=0.9),
            "classification, lam=0.5 (défaut)": dict(lam=0.5, val_images=val[:16], preview_every=100),
            "classification, lam=0.1": dict(lam=0.1)}
for name, options in variants.items():
    models[name], histories[name] = train_model(**options)
    print(line(name, scores(models[name])) + f"   ({cpu()})", flush=True)
print(f"  {'vraies couleurs':34s} {'':10s} {'1.000':>7s} {'1.000':>14s} {float(C.colorfulness(val).mean()):13.1f}")
for lam in (0.9, 0.5, 0.1):
    w = C.rebalance_weights(prior, lam=lam)
    print(f"  poids de rééquilibrage, lam={lam} : de {float(w.min()):.2f} à {float(w.max()):.1f}")

# ----------------------------------------------------------------------------- exercice 3
print("Ex. 3 : température (classification, lam=0.5)")
print(f"  {'T':>5s} {'AuC':>7s} {'AuC rééquil.':>14s} {'colorfulness':>13s}")
best = models["classification, lam=0.5 (défaut)"]
for T in (0.0, 0.05, 0.1, 0.2, 0.3, 0.38, 0.5, 0.7, 1.0):
    s = scores(best, T)
    print(f"  {T:5.2f} {s[1]:7.3f} {s[2]:14.3f} {s[3]:13.1f}", flush=True)

# ----------------------------------------------------------------------------- exercice 4
print("Ex. 4 : encodage dur (k=1) contre encodage doux (k=5), lam=0.5")
models["k=1"], histories["k=1"] = train_model(k=1, val_images=val[:16], preview_every=100)
print(f"  ({cpu()})")
class_weights = C.rebalance_weights(prior, lam=0.5)
soft = C.soft_encode(torch.nn.functional.interpolate(ab_val, size=(SIZE // 4, SIZE // 4), mode="area"), bins)
floor = float(C.classification_loss(torch.log(soft.clamp_min(1e-30)), ab_val, bins, class_weights, k=5))
print(f"  perte minimale possible sur la validation : {floor:.3f} avec k=5 (entropie des cibles douces), 0 avec k=1")
pairs = {"k=5 (défaut)": (models["classification, lam=0.5 (défaut)"], histories["classification, lam=0.5 (défaut)"]),
         "k=1": (models["k=1"], histories["k=1"])}
for name, (model, history) in pairs.items():
    loss = torch.tensor(history["perte"])
    windows = {f"it. {a + 1}-{b}": float(loss[a:b].mean()) for a, b in ((0, 10), (90, 110), (340, 360),
                                                                             (STEPS - 20, STEPS)) if b <= STEPS}
    with torch.no_grad():
        logits = model.logits(L_val)
        val_losses = [float(C.classification_loss(logits, ab_val, bins, class_weights, k=k)) for k in (5, 1)]
        probs = torch.softmax(logits, dim=1)
    print(f"  {name} : perte d'entraînement (moyenne glissante) "
          + ", ".join(f"{k} : {v:.3f}" for k, v in windows.items())
          + f" ; perte de validation {val_losses[0]:.3f} (cible k=5), {val_losses[1]:.3f} (cible k=1) ; AuC de "
          f"validation (16 images) au fil des itérations {[round(a, 3) for a in history['auc']]}")
    # taches : voisins (à la résolution de la distribution) dont la case la plus probable diffère
    mode_bins = probs.argmax(dim=1)
    flips = 0.5 * (float((mode_bins[:, 1:] != mode_bins[:, :-1]).float().mean())
                   + float((mode_bins[:, :, 1:] != mode_bins[:, :, :-1]).float().mean()))
    entropy = float(-(probs * probs.clamp_min(1e-30).log()).sum(dim=1).mean())
    top = float(probs.max(dim=1).values.mean())
    line_t = []
    for T in (0.0, 0.38):
        ab = C.split_lab(C.colorize(model, val, T=T))[1]
        tv = 0.5 * (float((ab[..., 1:, :] - ab[..., :-1, :]).norm(dim=1).mean())
                    + float((ab[..., 1:] - ab[..., :-1]).norm(dim=1).mean()))
        s = scores(model, T)
        line_t.append(f"T={T}: AuC {s[1]:.3f}, AuC rééquil. {s[2]:.3f}, colorfulness {s[3]:.1f}, "
                      f"variation ab entre pixels voisins {tv:.2f}")
    print(f"    voisins dont le mode diffère {flips:.1%} ; entropie moyenne de la distribution {entropy:.2f} nats ; "
          f"probabilité du mode {top:.2f} ; " + " ; ".join(line_t), flush=True)
truth_bins = C.nearest_bin(torch.nn.functional.interpolate(ab_val, size=(SIZE // 4, SIZE // 4), mode="area"), bins)
flips = 0.5 * (float((truth_bins[:, 1:] != truth_bins[:, :-1]).float().mean())
               + float((truth_bins[:, :, 1:] != truth_bins[:, :, :-1]).float().mean()))
tv = 0.5 * (float((ab_val[..., 1:, :] - ab_val[..., :-1, :]).norm(dim=1).mean())
            + float((ab_val[..., 1:] - ab_val[..., :-1]).norm(dim=1).mean()))
print(f"  vraies couleurs : voisins de case différente {flips:.1%} ; variation ab entre pixels voisins {tv:.2f}")
print(f"total : {cpu()}")
