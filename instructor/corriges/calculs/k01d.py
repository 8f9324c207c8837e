# Corrigé 01, ex. 2 : le code du corrigé tel quel, et la part « forme » des voisins selon color_weight.
import numpy as np
import torch

from course_lib import data, scenes

torch.set_num_threads(1)
SIDE, GIST_SIZE = 128, 64
_, info = data.synthetic_scenes(2000, size=8, seed=0, return_info=True)
moments = np.array([i["time_of_day"] for i in info])
dusk = data.synthetic_scenes(10, size=SIDE, seed=0, start=3_000_000, time_of_day="dusk")
gist_only = scenes.gist(dusk, "hays_efros", image_size=GIST_SIZE, color_weight=0.0)[:, :480]
images_ = data.synthetic_scenes(2000, size=GIST_SIZE)
base0 = torch.cat(
    [scenes.gist(chunk, "hays_efros", image_size=GIST_SIZE, color_weight=0.0) for chunk in images_.split(250)]
)
for w in (0.0, 0.3, 1.0):
    base = torch.cat(
        [scenes.gist(chunk, "hays_efros", image_size=GIST_SIZE, color_weight=w) for chunk in images_.split(250)]
    )
    index_w = scenes.SceneIndex(preset="hays_efros", image_size=GIST_SIZE).add_descriptors(base)
    found = index_w.search_descriptors(scenes.gist(dusk, "hays_efros", image_size=GIST_SIZE, color_weight=w), k=20)
    shape = ((base0[found.indices][:, :, :480] - gist_only[:, None]) ** 2).sum(-1)
    print(
        f"w={w}: crépuscule {np.mean(moments[found.indices.numpy()] == 'dusk'):.1%} ; distance de forme (gist seul) "
        f"médiane des 20 voisins {shape.median():.3f}"
    )
