"""Faux jeux de données au format qu'attend torchvision (Places365 en 256×256, CIFAR-10), pour les tests.

Les vrais fichiers pèsent de 0,2 à 24 Go : on fabrique quelques images dans la même disposition et l'on
remplace, le temps d'un test, les empreintes MD5 que torchvision vérifie par celles de ces fichiers
(``Places365._CATEGORIES_META``, ``_FILE_LIST_META`` ; ``CIFAR10.train_list``, ``test_list``, ``meta``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CATEGORIES = ["/a/airfield", "/b/beach", "/c/canyon"]


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def photo_bytes(index: int, size: int = 256) -> bytes:
    """Une photo JPEG ``size``×``size`` propre à ``index`` (dégradé et couleur qui dépendent de l'indice)."""
    from PIL import Image

    rng = np.random.default_rng(index)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    color = rng.uniform(0.1, 0.9, 3).astype(np.float32)
    array = (0.6 * color[None, None, :] + 0.4 * ramp[:, None, None] * ramp[None, :, None]) * 255
    buffer = io.BytesIO()
    Image.fromarray(array.round().astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def val_names(n: int) -> list[str]:
    return [f"Places365_val_{i + 1:08d}.jpg" for i in range(n)]


def train_names(n: int) -> list[str]:
    return [f"{CATEGORIES[i % len(CATEGORIES)]}/{i // len(CATEGORIES) + 1:08d}.jpg" for i in range(n)]


def write_devkit(root: Path, n_val: int = 12, n_train: int = 9) -> dict[str, str]:
    """Les listes de torchvision (catégories, validation, entraînement) ; retourne leurs MD5."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(CATEGORIES)))
    (root / "places365_val.txt").write_text(
        "".join(f"{name} {i % len(CATEGORIES)}\n" for i, name in enumerate(val_names(n_val))))
    (root / "places365_train_standard.txt").write_text(
        "".join(f"{name} {i % len(CATEGORIES)}\n" for i, name in enumerate(train_names(n_train))))
    return {p.name: md5(p) for p in root.glob("*.txt")}


def write_places365(root: Path, n_val: int = 12, n_train: int = 9, splits=("val",)) -> dict[str, str]:
    """Un Places365 installé (listes et images) dans ``root`` ; retourne les MD5 des listes."""
    sums = write_devkit(root, n_val, n_train)
    if "val" in splits:
        folder = root / "val_256"
        folder.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(val_names(n_val)):
            (folder / name).write_bytes(photo_bytes(i))
    if "train" in splits:
        for i, name in enumerate(train_names(n_train)):
            path = root / "data_256_standard" / name.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(photo_bytes(1000 + i))
    return sums


def patch_places365_checksums(monkeypatch, sums: dict[str, str]) -> None:
    """Les empreintes que vérifie ``torchvision.datasets.Places365`` deviennent celles des faux fichiers."""
    from torchvision.datasets import Places365

    monkeypatch.setattr(Places365, "_CATEGORIES_META", ("categories_places365.txt", sums["categories_places365.txt"]))
    monkeypatch.setattr(Places365, "_FILE_LIST_META", {
        **Places365._FILE_LIST_META,
        "val": ("places365_val.txt", sums["places365_val.txt"]),
        "train-standard": ("places365_train_standard.txt", sums["places365_train_standard.txt"]),
    })


def make_tar(archive: Path, source: Path, members: list[str]) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for member in members:
            tar.add(source / member, arcname=member)
    return archive


def places365_archives(folder: Path, n_val: int = 12, n_train: int = 9) -> tuple[dict[str, Path], dict[str, str]]:
    """Les trois archives de Places365 (listes, validation, entraînement) au format du site du MIT.

    L'archive d'entraînement contient ``data_256/`` (torchvision le renomme ``data_256_standard``).
    Retourne ``({nom d'archive: chemin}, MD5 des listes)``.
    """
    staging = folder / "contenu"
    sums = write_places365(staging, n_val, n_train, splits=("val", "train"))
    (staging / "data_256_standard").rename(staging / "data_256")
    archives = {
        "filelist_places365-standard.tar": make_tar(
            folder / "filelist_places365-standard.tar", staging,
            ["categories_places365.txt", "places365_val.txt", "places365_train_standard.txt"]),
        "val_256.tar": make_tar(folder / "val_256.tar", staging, ["val_256"]),
        "train_256_places365standard.tar": make_tar(folder / "train_256_places365standard.tar", staging,
                                                    ["data_256"]),
    }
    return archives, sums


def serve_places365(monkeypatch, data, base_url: str, archives: dict[str, Path]) -> None:
    """Les jeux Places365 du registre pointent vers ``base_url`` avec les MD5 des fausses archives."""
    for name in ("places365-val", "places365-train"):
        dataset = data.DATASETS[name]
        files = tuple(dataclasses.replace(remote, url=base_url + remote.filename, md5=md5(archives[remote.filename]))
                      for remote in dataset.files)
        monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(dataset, files=files))


def cifar10_archive(folder: Path, per_batch: int = 4) -> tuple[Path, dict[str, str], dict]:
    """Une archive au format de ``cifar-10-python.tar.gz`` (6 lots de ``per_batch`` images), ses MD5 par lot
    et le contenu de chaque lot."""
    rng = np.random.default_rng(0)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    contents = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        contents[name] = (images, labels)
        (root / name).write_bytes(pickle.dumps({"data": images, "labels": labels}))
    (root / "batches.meta").write_bytes(pickle.dumps({"label_names": [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}))
    sums = {path.name: md5(path) for path in root.iterdir()}
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="cifar-10-batches-py")
    return archive, sums, contents


def patch_cifar10(monkeypatch, data, archive: Path, sums: dict[str, str], url: str | None = None) -> None:
    """CIFAR-10 du registre et de torchvision : empreintes (et adresse) de la fausse archive."""
    from torchvision.datasets import CIFAR10

    asset = dataclasses.replace(data.ASSETS["cifar10"], sha256=data.sha256sum(archive),
                                url=url or data.ASSETS["cifar10"].url)
    monkeypatch.setitem(data.ASSETS, "cifar10", asset)
    dataset = data.DATASETS["cifar10"]
    remote = dataclasses.replace(dataset.files[0], url=asset.url, sha256=asset.sha256)
    monkeypatch.setitem(data.DATASETS, "cifar10", dataclasses.replace(dataset, files=(remote,)))
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{k}", sums[f"data_batch_{k}"]] for k in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", sums["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": sums["batches.meta"]})
