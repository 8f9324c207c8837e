# Corrigé 05 : chiffres de l'exercice 5 (biais jour / nuit), réglages du profil « cpu » du notebook, un fil.
#
#   python k05b.py [STEPS]        STEPS : itérations (700 au profil cpu, par défaut).
#
# Deux petits réseaux identiques (classification rééquilibrée, lam = 0,5), entraînés sur 4 000 paysages procéduraux
# 48 x 48 : l'un uniquement de jour, l'autre à tous les moments de la journée (le tirage par défaut du générateur).
# Test : 128 autres paysages, rendus quatre fois (même géométrie) : jour, crépuscule, nuit, ciel couvert.
import sys
import time

import numpy as np
import torch

import course_lib
from course_lib import colorization as C
from course_lib import data

torch.set_num_threads(1)
SIZE, N_TRAIN, WIDTH, BATCH, N_TEST = 48, 4000, 16, 16, 128
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 700
START = time.process_time()
MOMENTS = ("day", "dusk", "night", "overcast")

_, info = data.synthetic_scenes(N_TRAIN, size=8, seed=0, return_info=True)
moments = np.array([i["time_of_day"] for i in info])
print("moments de la journée dans le tirage par défaut : "
      + ", ".join(f"{m} {np.mean(moments == m):.1%}" for m in MOMENTS))
sources = {"jour seulement": data.synthetic_scenes(N_TRAIN, size=SIZE, seed=0, time_of_day="day"),
           "tous les moments": data.synthetic_scenes(N_TRAIN, size=SIZE, seed=0)}
tests = {m: data.synthetic_scenes(N_TEST, size=SIZE, seed=0, start=10**5, time_of_day=m) for m in MOMENTS}
print(f"données : {time.process_time() - START:.0f} s CPU", flush=True)

for name, train in sources.items():
    course_lib.seed(0)
    model = C.SmallColorizer(width=WIDTH)
    C.train_colorizer(model, train, steps=STEPS, batch_size=BATCH, lr=3e-3, prior=C.empirical_prior(train[::4]),
                      live=False, progress=False, num_threads=1, seed=0)
    print(f"Entraîné sur « {name} » ({STEPS} itérations ; {time.process_time() - START:.0f} s CPU) :")
    print(f"  {'test':9s} {'AuC':>6s} {'AuC gris':>9s} {'PSNR':>6s} {'colorf. prédite':>16s} {'vraie':>6s} "
          f"{'ab moyen prédit':>16s} {'ab moyen vrai':>14s} {'erreur ab moyenne':>18s}")
    for moment, images in tests.items():
        colored = C.colorize(model, images)
        s, gray = C.evaluate(model, images), C.evaluate(None, images)
        pred_ab, true_ab = C.split_lab(colored)[1], C.split_lab(images)[1]
        pm, tm = pred_ab.mean(dim=(0, 2, 3)), true_ab.mean(dim=(0, 2, 3))
        error = float((pred_ab - true_ab).norm(dim=1).mean())
        true_colorfulness = float(C.colorfulness(images).mean())
        print(f"  {moment:9s} {s['auc']:6.3f} {gray['auc']:9.3f} {s['psnr']:6.2f} {s['colorfulness']:16.1f} "
              f"{true_colorfulness:6.1f}   ({pm[0]:5.1f}, {pm[1]:5.1f})  ({tm[0]:5.1f}, {tm[1]:5.1f}) {error:18.1f}",
              flush=True)
print(f"total : {time.process_time() - START:.0f} s CPU")

# Exercice 6 (non exécuté ici, faute de GPU) : la taille des deux réseaux à comparer.
for name, model in (("ECCV16(bins=C.ab_bins())", C.ECCV16(bins=C.ab_bins())),
                    ("SmallColorizer(width=64) (profil gpu)", C.SmallColorizer(width=64)),
                    ("SmallColorizer(width=16) (profil cpu)", C.SmallColorizer(width=WIDTH))):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"Ex. 6 : {name} : {trainable:,} paramètres entraînables".replace(",", " "))
