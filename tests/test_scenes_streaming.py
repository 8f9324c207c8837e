"""Construction en flux d'un index depuis un dossier (disposition Places365) : fichiers abîmés, reprise."""

import importlib

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import data, images
from course_lib.scenes import streaming
from course_lib.scenes.index import SceneIndex
from course_lib.scenes.sources import fit_to_size

G = importlib.import_module("course_lib.scenes.gist")

SETTINGS = {"preset": "hays_efros", "image_size": 32, "size": 48, "min_size": 32, "chunk_size": 8,
            "device": "cpu", "workers": 2, "progress": False}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Un petit dossier comme ``data_256/<lettre>/<classe>/<numéro>.jpg``, avec des fichiers à sauter."""
    root = tmp_path_factory.mktemp("places") / "data_256"
    scenes = images.to_numpy(data.synthetic_scenes(30, size=64, seed=5), dtype="uint8")
    classes = ["a/airfield", "b/beach", "c/canyon", "m/mountain"]
    good = []
    for i, array in enumerate(scenes):
        folder = root / classes[i % len(classes)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:08d}.jpg"
        Image.fromarray(array).save(path, quality=90)
        good.append(path)
    bad = {
        "unreadable": [root / "a/airfield/bruit.jpg", root / "b/beach/tronquee.jpg"],
        "grayscale": [root / "c/canyon/gris_L.jpg", root / "c/canyon/gris_rgb.jpg"],
        "tiny": [root / "m/mountain/minuscule.jpg"],
    }
    bad["unreadable"][0].write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    whole = good[1].read_bytes()
    bad["unreadable"][1].write_bytes(whole[: len(whole) // 3])
    Image.fromarray(scenes[2].mean(axis=2).astype(np.uint8)).save(bad["grayscale"][0])
    gray = np.repeat(scenes[3].mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    Image.fromarray(gray).save(bad["grayscale"][1], quality=95)
    Image.fromarray(scenes[4][:20, :20]).save(bad["tiny"][0])
    (root / "b/beach/notes.txt").write_text("pas une image")
    return root, good, bad


@pytest.fixture(scope="module")
def one_go(places, tmp_path_factory):
    root, _, _ = places
    return streaming.build_from_folder(root, tmp_path_factory.mktemp("d_une_traite"), **SETTINGS)


def test_streaming_build_skips_and_counts_bad_files(places, one_go):
    root, good, bad = places
    assert one_go.total == len(good) + sum(len(v) for v in bad.values())
    assert one_go.added == len(good) == len(one_go.index)
    assert one_go.skipped == {reason: len(paths) for reason, paths in bad.items()}
    assert one_go.images_per_second > 0 and not one_go.resumed
    assert "30 scènes indexées" in str(one_go) and "images/s" in str(one_go)
    # les descripteurs sont ceux du gist des images recadrées ; les scènes se retrouvent d'elles-mêmes
    index = one_go.index
    order = sorted(str(p.relative_to(root).as_posix()) for p in good)
    assert [str(index.source_table.path(i).relative_to(root).as_posix()) for i in range(len(index))] == order
    batch = torch.stack([fit_to_size(images.load_image(root / name), (48, 48)) for name in order[:5]])
    expected = G.gist(batch, G.get_preset("hays_efros", 32))
    found = index.search_descriptors(expected, k=1)
    torch.testing.assert_close(found.indices[:, 0], torch.arange(5))
    assert float(found.distances.max()) < 1e-6
    torch.testing.assert_close(index.images([3], size=48)[0], batch[3])


def test_interrupted_build_resumes_to_the_same_result(places, one_go, tmp_path, monkeypatch):
    root, _, _ = places
    out = tmp_path / "reprise"
    calls = {"n": 0}
    read = streaming._read

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 19:                             # au milieu du troisième morceau
            raise KeyboardInterrupt
        return read(*args)

    monkeypatch.setattr(streaming, "_read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        streaming.build_from_folder(root, out, **SETTINGS)
    monkeypatch.setattr(streaming, "_read", read)
    state = streaming.read_state(out)
    assert 0 < state["position"] < state["total"] and not state["finished"]
    assert not (out / streaming.INDEX).exists()
    # un morceau à moitié écrit au moment de l'arrêt : la reprise le coupe
    with open(out / streaming.DESCRIPTORS, "ab") as handle:
        handle.write(b"\x00" * 100)
    with open(out / streaming.SOURCES, "a") as handle:
        handle.write("a/airfield/fantome.jpg\n")
    resumed = streaming.build_from_folder(root, out, **SETTINGS)
    assert resumed.resumed and resumed.added == one_go.added and resumed.skipped == one_go.skipped
    first = one_go.index.source_table
    for name in (streaming.DESCRIPTORS, streaming.SOURCES, streaming.SKIPPED, streaming.MANIFEST):
        assert (out / name).read_bytes() == (one_go.out_dir / name).read_bytes(), name
    queries = data.synthetic_scenes(3, size=48, seed=9)
    a, b = one_go.index.search(queries, k=10), resumed.index.search(queries, k=10)
    torch.testing.assert_close(a.indices, b.indices)
    torch.testing.assert_close(a.distances, b.distances)
    assert [str(resumed.index.source_table.path(i)) for i in range(30)] == [str(first.path(i)) for i in range(30)]
    # relancer une construction finie relit l'index ; d'autres réglages dans le même dossier sont refusés
    again = streaming.build_from_folder(root, out, **SETTINGS)
    assert again.resumed and len(again.index) == 30
    with pytest.raises(ValueError, match="autre construction"):
        streaming.build_from_folder(root, out, **{**SETTINGS, "size": 40})
    assert len(SceneIndex.load(out / streaming.INDEX, device="cpu")) == 30


def test_streaming_build_errors_are_in_french(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        streaming.build_from_folder(tmp_path / "absent", tmp_path / "out")
    (tmp_path / "vide").mkdir()
    with pytest.raises(ValueError, match="aucune image"):
        streaming.build_from_folder(tmp_path / "vide", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        streaming.build_from_folder(tmp_path, tmp_path / "out2", chunk_size=0)


def test_streaming_build_of_a_refined_ivfpq_index(places, one_go, tmp_path):
    # IVF-PQ : entraîné sur un échantillon de toute la base, puis raffiné sur les descripteurs gardés
    root, _, _ = places
    build = streaming.build_from_folder(root, tmp_path / "ivfpq", kind="ivfpq", nlist=2, nbits=4, **SETTINGS)
    assert build.index.kind == "ivfpq" and len(build.index) == 30
    descriptors = one_go.index.engine.reconstruct(0, 30)
    found = build.index.search_descriptors(torch.from_numpy(descriptors[:6]), k=5)
    torch.testing.assert_close(found.indices[:, 0], torch.arange(6))
    assert SceneIndex.load(tmp_path / "ivfpq" / streaming.INDEX, device="cpu").kind == "ivfpq"
