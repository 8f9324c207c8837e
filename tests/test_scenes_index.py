"""Distance de scène masquée et SceneIndex (FAISS) : comparaison à la force brute NumPy, enregistrement."""

import importlib
import json
import zipfile

import numpy as np
import pytest
import torch

from course_lib import data, images
from course_lib.scenes import distance as D
from course_lib.scenes.engines import augment_queries
from course_lib.scenes.index import SceneIndex, fill_hole, fit_to_size

G = importlib.import_module("course_lib.scenes.gist")  # le module (course_lib.scenes.gist est la fonction)


# Un préréglage minuscule (2 filtres, 32 valeurs) pour éprouver IVF-PQ sans long entraînement.
TINY = G.GistPreset("petit", (2,), image_size=32, boundary=8)


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """FAISS sur un seul fil pendant ces tests : sur une machine chargée, les fils OpenMP se gênent."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def brute_force(query, database, weights):
    """Σ_k w_k (q_k - x_k)² par diffusion NumPy, en float64 : (Q, N)."""
    q = np.asarray(query, dtype=np.float64)[:, None, :]
    x = np.asarray(database, dtype=np.float64)[None]
    return ((q - x) ** 2 * np.asarray(weights, dtype=np.float64)[:, None, :]).sum(-1)


def clustered(n, dim, seed, centres=20):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 1, (centres, dim))
    return (c[rng.integers(0, centres, n)] + 0.3 * rng.normal(0, 1, (n, dim))).astype(np.float32)


# --------------------------------------------------------------------------- distance masquée

def test_block_valid_fraction_counts_known_pixels_per_block():
    mask = torch.zeros(10, 13, dtype=torch.bool)
    mask[2:7, 3:11] = True
    ours = D.block_valid_fraction(mask, 4)[0].numpy()
    edges_y, edges_x = [0, 2, 5, 7, 10], [0, 3, 6, 9, 13]
    expected = []
    for c in range(4):                       # l'indice de ligne varie le plus vite
        for r in range(4):
            block = mask[edges_y[r]:edges_y[r + 1], edges_x[c]:edges_x[c + 1]].numpy()
            expected.append(1 - block.mean())
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_masked_scene_distance_matches_the_formula():
    rng = np.random.default_rng(0)
    query = torch.from_numpy(rng.random(3 * 16))
    database = torch.from_numpy(rng.random((7, 3 * 16)))
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:6, :10] = True                      # blocs entiers, à moitié et aux trois-quarts masqués
    fraction = D.block_valid_fraction(mask, 4)[0].double().numpy()
    assert set(np.round(fraction, 3).tolist()) == {0.0, 0.5, 0.75, 1.0}
    weights = np.tile(fraction, 3)
    expected = brute_force(query[None].numpy(), database.numpy(), weights[None])[0]
    np.testing.assert_allclose(D.masked_scene_distance(query, database, mask).numpy(), expected, rtol=1e-10)
    # sans masque : la SSD ordinaire
    np.testing.assert_allclose(D.masked_scene_distance(query, database).numpy(),
                               ((database - query) ** 2).sum(1).numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="toute l'image"):
        D.masked_scene_distance(query, database, torch.ones(16, 16, dtype=torch.bool))


def test_weighted_ssd_matches_brute_force_for_batches():
    rng = np.random.default_rng(1)
    q, x, w = rng.random((4, 32)), rng.random((50, 32)), rng.random((4, 32))
    ours = D.weighted_ssd(torch.from_numpy(q), torch.from_numpy(x), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(ours, brute_force(q, x, w), rtol=1e-9, atol=1e-12)


def test_descriptor_weights_follow_the_gist_resize():
    mask = torch.zeros(60, 90, dtype=torch.bool)
    mask[:, :45] = True                       # moitié gauche ; imresizecrop garde le centre (60 x 60)
    weights = D.descriptor_weights(mask, "hays_efros", image_size=32)
    assert weights.shape == (1, 528)
    blocks = weights[0, :16].view(4, 4)       # [colonne, ligne]
    torch.testing.assert_close(blocks[0], torch.zeros(4))
    torch.testing.assert_close(blocks[3], torch.ones(4))
    torch.testing.assert_close(weights[0, 16:32], weights[0, :16])


# --------------------------------------------------------------------------- SceneIndex, descripteurs

def test_exact_search_agrees_with_numpy_brute_force():
    x = clustered(500, 528, seed=0)
    index = SceneIndex(device="cpu").add_descriptors(x)
    rng = np.random.default_rng(2)
    queries = clustered(5, 528, seed=3)
    blocks = rng.random((5, 16)).astype(np.float32)
    result = index.search_descriptors(torch.from_numpy(queries), torch.from_numpy(blocks), k=25)
    expected = brute_force(queries, x, np.tile(blocks, 33))
    order = np.argsort(expected, axis=1)[:, :25]
    np.testing.assert_array_equal(result.indices.numpy(), order)
    np.testing.assert_allclose(result.distances.numpy(), np.take_along_axis(expected, order, 1), rtol=1e-4)


@pytest.mark.parametrize("refine", ["fp16", "flat"])
def test_refined_ivfpq_finds_the_exact_neighbours_of_plain_and_masked_queries(refine):
    x = clustered(3000, 32, seed=4)
    exact = SceneIndex(TINY, device="cpu").add_descriptors(x)
    approx = SceneIndex(TINY, kind="ivfpq", nlist=16, m=16, nbits=6, nprobe=8, train_size=2000, refine=refine,
                        device="cpu").add_descriptors(x)
    queries = torch.from_numpy(clustered(8, 32, seed=5))
    blocks = torch.ones(8, 16)
    blocks[:, :6] = 0.0
    blocks[:, 6:8] = 0.5
    for weights in (None, blocks):
        truth = exact.search_descriptors(queries, weights, k=20).indices
        found = approx.search_descriptors(queries, weights, k=20)
        recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / 20 for a, b in zip(truth, found.indices)])
        assert recall >= 0.95, (weights is not None, recall)
        # les distances rendues sont les distances masquées exactes (float16 : 1e-3 en relatif)
        per_value = np.tile((blocks if weights is not None else torch.ones(8, 16)).numpy(), 2)
        expected = np.take_along_axis(brute_force(queries.numpy(), x, per_value), found.indices.numpy(), 1)
        np.testing.assert_allclose(found.distances.numpy(), expected, rtol=1e-3 if refine == "fp16" else 1e-5,
                                   atol=1e-5)
        assert bool((found.distances[:, 1:] >= found.distances[:, :-1]).all())
    # ajouter après une recherche, puis demander plus de scènes que les listes visitées n'en contiennent
    approx.add_descriptors(x[:5] + 0.001)
    again = approx.search_descriptors(queries[:1], blocks[:1], k=3000)
    assert len(approx) == 3005 and int(again.indices.min()) >= 0 and int(again.indices.max()) >= 3000
    assert len(set(again.indices[0].tolist())) == 3000


def test_ivfpq_without_refinement_ranks_with_the_codes_only():
    # Sans raffinement, la quantification produit seule : rappel nettement plus bas (c'est ce que montre le banc).
    x = clustered(3000, 32, seed=4)
    exact = SceneIndex(TINY, device="cpu").add_descriptors(x)
    coarse = SceneIndex(TINY, kind="ivfpq", nlist=16, m=4, nbits=6, nprobe=8, train_size=2000, refine="none",
                        device="cpu").add_descriptors(x)
    refined = SceneIndex(TINY, kind="ivfpq", nlist=16, m=4, nbits=6, nprobe=8, train_size=2000,
                         device="cpu").add_descriptors(x)
    assert refined.bytes_per_scene == 4 * 6 / 8 + 8 + 2 * 48 and coarse.bytes_per_scene == 4 * 6 / 8 + 8
    queries = torch.from_numpy(clustered(8, 32, seed=5))
    truth = exact.search_descriptors(queries, k=20).indices

    def recall(index):
        found = index.search_descriptors(queries, k=20).indices
        return np.mean([len(set(a.tolist()) & set(b.tolist())) / 20 for a, b in zip(truth, found)])

    assert recall(coarse) < 0.9 <= recall(refined)


def test_ivfpq_needs_enough_descriptors():
    index = SceneIndex(TINY, kind="ivfpq", nbits=8, device="cpu").add_descriptors(clustered(100, 32, seed=6))
    with pytest.raises(ValueError, match="au moins 256"):
        index.search_descriptors(torch.zeros(32), k=5)


# --------------------------------------------------------------------------- SceneIndex, images

@pytest.fixture(scope="module")
def small_index():
    index = SceneIndex(image_size=32, device="cpu")
    index.add_synthetic(40, size=32, chunk_size=16, progress=False)
    photos = torch.stack([data.photo(name, size=(32, 48)) for name in ("china", "coffee", "chelsea")])
    index.add_images(photos, progress=False, name="photos")
    return index


def test_streamed_synthetic_scenes_match_one_batch(small_index):
    scenes = data.synthetic_scenes(40, size=32)
    direct = G.gist(scenes, small_index.preset)
    result = small_index.search_descriptors(direct, k=1)
    torch.testing.assert_close(result.indices[:, 0], torch.arange(40))
    assert float(result.distances.max()) < 1e-4
    assert len(small_index) == 43
    assert [s["type"] for s in small_index.sources] == ["synthetic", "tensor"]


def test_masked_image_search_matches_brute_force(small_index):
    query = data.synthetic_scenes(1, size=48, start=900)[0]
    mask = torch.zeros(48, 48, dtype=torch.bool)
    mask[10:30, 5:40] = True
    result = small_index.search(query, mask, k=10)
    everything = small_index.images(range(43), size=32)
    database = G.gist(everything, small_index.preset).numpy()
    q = G.gist(fill_hole(images.resize_crop(query, 48)[None], mask[None, None]), small_index.preset).numpy()
    weights = D.descriptor_weights(mask, small_index.preset).numpy()
    expected = brute_force(q, database, weights)[0]
    np.testing.assert_array_equal(result.indices.numpy(), np.argsort(expected)[:10])
    np.testing.assert_allclose(result.distances.numpy(), np.sort(expected)[:10], rtol=1e-3, atol=1e-6)


def test_images_come_back_from_every_source(small_index):
    back = small_index.images([3, 41], size=32)
    torch.testing.assert_close(back[0], data.synthetic_scenes(1, size=32, start=3)[0])
    stored = fit_to_size(data.photo("coffee", size=(32, 48)), (32, 32))
    assert float((back[1] - stored).abs().max()) <= 1 / 255 + 1e-6
    with pytest.raises(IndexError, match="hors de la base"):
        small_index.images([43])


def test_folder_index(tmp_path):
    for k, name in enumerate(("china", "flower", "rocket")):
        images.save_image(data.photo(name, size=40), tmp_path / f"{k}_{name}.png")
    (tmp_path / "notes.txt").write_text("pas une image")
    index = SceneIndex.build(tmp_path, preset="lmgist", image_size=32, size=40, device="cpu", progress=False)
    assert len(index) == 3 and index.sources[0]["type"] == "folder" and len(index.sources) == 1
    back = index.images([2], size=40)[0]
    torch.testing.assert_close(back, fit_to_size(images.load_image(tmp_path / "2_rocket.png"), (40, 40)))
    # les chemins (relatifs au dossier) sont enregistrés avec l'index, hors des métadonnées JSON
    loaded = SceneIndex.load(index.save(tmp_path / "index" / "dossier.npz"), device="cpu")
    assert loaded.source_table.path(1) == tmp_path.resolve() / "1_flower.png"
    assert "paths" not in json.dumps(loaded.metadata())
    torch.testing.assert_close(loaded.images([2], size=40)[0], back)


def test_color_weight_reaches_every_descriptor_and_survives_saving(tmp_path):
    photos = torch.stack([data.photo(name, size=(32, 32)) for name in ("china", "coffee", "chelsea", "rocket")])
    index = SceneIndex(image_size=32, color_weight=1.0, device="cpu").add_images(photos, progress=False)
    expected = G.gist(photos, index.preset, color_weight=1.0)
    default = G.gist(photos, index.preset)
    assert float((expected[:, 480:] - default[:, 480:]).abs().max()) > 1e-3
    found = index.search_descriptors(expected, k=1)
    torch.testing.assert_close(found.indices[:, 0], torch.arange(4))
    assert float(found.distances.max()) < 1e-6
    for copy in (index, SceneIndex.load(index.save(tmp_path / "couleur.npz"), device="cpu"), index.head(3)):
        assert copy.color_weight == 1.0
        torch.testing.assert_close(copy.describe(photos)[0], expected)
    with pytest.raises(ValueError, match="color_weight"):
        SceneIndex(color_weight=-0.5)


def test_save_and_load_round_trip(small_index, tmp_path):
    path = small_index.save(tmp_path / "base.npz")
    loaded = SceneIndex.load(path, device="cpu")
    assert loaded.metadata() == small_index.metadata()
    query = data.synthetic_scenes(1, size=32, start=77)[0]
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:20, 8:24] = True
    a, b = small_index.search(query, mask, k=8), loaded.search(query, mask, k=8)
    torch.testing.assert_close(a.indices, b.indices)
    torch.testing.assert_close(a.distances, b.distances)
    torch.testing.assert_close(loaded.images([1, 42], size=32), small_index.images([1, 42], size=32))


def test_ivfpq_round_trip(tmp_path):
    x = clustered(600, 32, seed=7)
    index = SceneIndex(TINY, kind="ivfpq", nlist=4, m=8, nbits=5, device="cpu").add_descriptors(x)
    loaded = SceneIndex.load(index.save(tmp_path / "pq.npz"))
    q = torch.from_numpy(x[:3])
    torch.testing.assert_close(index.search_descriptors(q, k=5).indices, loaded.search_descriptors(q, k=5).indices)
    assert loaded.kind == "ivfpq" and loaded.nprobe == index.nprobe


def test_corrupt_index_files_give_french_errors(small_index, tmp_path):
    good = small_index.save(tmp_path / "good.npz").read_bytes()
    with pytest.raises(FileNotFoundError, match="n'existe pas"):
        SceneIndex.load(tmp_path / "absent.npz")
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="pas un index de scènes valide"):
        SceneIndex.load(tmp_path / "truncated.npz")
    (tmp_path / "noise.npz").write_bytes(b"\x00\x01pas une archive" * 100)
    with pytest.raises(ValueError, match="pas un index de scènes valide"):
        SceneIndex.load(tmp_path / "noise.npz")
    # une archive valide dont l'index FAISS a été altéré : l'empreinte ne correspond plus
    with np.load(tmp_path / "good.npz") as archive:
        contents = {k: archive[k] for k in archive.files}
    contents["index"] = contents["index"].copy()
    contents["index"][200] ^= 0xFF
    np.savez(tmp_path / "tampered.npz", **contents)
    with pytest.raises(ValueError, match="empreinte"):
        SceneIndex.load(tmp_path / "tampered.npz")
    contents = {k: v for k, v in contents.items() if k != "metadata"}
    np.savez(tmp_path / "nometa.npz", **contents)
    with pytest.raises(ValueError, match="il manque metadata"):
        SceneIndex.load(tmp_path / "nometa.npz")
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        meta = json.loads(str(np.load(archive.open("metadata.npy"))))
    assert meta["format"].startswith("course_lib.scenes.SceneIndex")


def test_index_errors_are_in_french(small_index):
    with pytest.raises(ValueError, match="vide"):
        SceneIndex(device="cpu").search_descriptors(torch.zeros(528))
    with pytest.raises(ValueError, match="528 valeurs"):
        SceneIndex(device="cpu").add_descriptors(torch.zeros(3, 100))
    with pytest.raises(ValueError, match="toute l'image"):
        small_index.search(torch.rand(3, 32, 32), torch.ones(32, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="taille de l'image"):
        small_index.search(torch.rand(3, 32, 32), torch.ones(16, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="kind"):
        SceneIndex(kind="hnsw")
    with pytest.raises(ValueError, match="diviser"):
        SceneIndex(kind="ivfpq", m=10)
    with pytest.raises(TypeError, match="source"):
        SceneIndex.build([1, 2, 3])


def test_head_keeps_the_first_scenes(small_index):
    sub = small_index.head(42)
    assert len(sub) == 42 and [s["count"] for s in sub.sources] == [40, 2]
    query = data.synthetic_scenes(1, size=32, start=123)[0]
    full = small_index.search(query, k=43)
    part = sub.search(query, k=42)
    expected = full.indices[full.indices < 42]
    torch.testing.assert_close(part.indices, expected)
    torch.testing.assert_close(sub.images([41], size=32), small_index.images([41], size=32))
    with pytest.raises(ValueError, match="exact"):
        SceneIndex(TINY, kind="ivfpq", device="cpu").head(3)


def test_images_added_in_several_chunks_stay_available():
    photos = torch.stack([data.photo(name, size=(32, 40)) for name in ("china", "coffee", "chelsea", "rocket")])
    index = SceneIndex(image_size=32, device="cpu").add_images(photos, chunk_size=3, progress=False)
    assert len(index.sources) == 1 and index.sources[0]["count"] == 4
    back = index.images([0, 3], size=(32, 40))
    assert float((back - photos[[0, 3]]).abs().max()) <= 1 / 255 + 1e-6
    index.add_images(photos[:1], progress=False)
    assert len(index.sources) == 2 and len(index) == 5


def test_source_table_locates_scenes_across_many_segments():
    from course_lib.scenes.sources import SourceTable

    table = SourceTable()
    start = 0
    for k in range(50):                      # segments sans image, qui ne se prolongent pas entre eux
        table.extend({"type": "none", "k": k}, start, k + 1)
        start += k + 1
    assert len(table) == start == 50 * 51 // 2
    for index in (0, 1, 2, 3, 1000, start - 1):
        segment, offset = table.locate(index)
        first = segment * (segment + 1) // 2
        assert table.segments[segment]["k"] == segment and offset == index - first
    with pytest.raises(IndexError, match="hors de la base"):
        table.locate(start)
    # un registre relu doit avoir des segments contigus et les chemins de ses dossiers
    with pytest.raises(ValueError, match="contigus"):
        SourceTable.from_saved([{"type": "none", "start": 3, "count": 2}], {})
    with pytest.raises(ValueError, match="chemins"):
        SourceTable.from_saved([{"type": "folder", "root": "/x", "start": 0, "count": 2}], {})


def test_index_files_of_the_previous_format_are_refused_with_a_clear_message(small_index, tmp_path):
    with np.load(small_index.save(tmp_path / "base.npz")) as archive:
        contents = {k: archive[k] for k in archive.files}
    meta = json.loads(str(contents["metadata"]))
    meta["format"] = "course_lib.scenes.SceneIndex/1"
    contents["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "ancien.npz", **contents)
    with pytest.raises(ValueError, match="reconstruisez"):
        SceneIndex.load(tmp_path / "ancien.npz")


def test_ivfpq_recall_never_drops_when_more_lists_are_visited():
    # Des listes trop petites pour k_factor x k candidats : la recherche en visite d'autres, jamais moins
    # quand nprobe augmente (sans quoi nprobe = 1 « élargi » battait nprobe = 8).
    x = clustered(3000, 32, seed=7)
    exact = SceneIndex(TINY, device="cpu").add_descriptors(x)
    approx = SceneIndex(TINY, kind="ivfpq", nlist=64, m=8, nbits=6, k_factor=4, train_size=2500,
                        device="cpu").add_descriptors(x)
    engine = approx.engine
    queries = torch.from_numpy(clustered(12, 32, seed=8))
    truth = exact.search_descriptors(queries, k=50).indices
    recalls, probes = [], []
    for nprobe in (1, 2, 4, 8, 16, 64):
        approx.nprobe = nprobe
        found = approx.search_descriptors(queries, k=50).indices
        recalls.append(np.mean([len(set(a.tolist()) & set(b.tolist())) / 50 for a, b in zip(truth, found)]))
        augmented, _ = augment_queries(queries.numpy(), np.ones((12, 16), np.float32))
        visited = engine.probes_needed(augmented, 200)
        probes.append(visited)
        # les listes visitées contiennent au moins les 4 x 50 candidats que le raffinement reclasse
        order = engine.ivf.quantizer.search(augmented, engine.nlist)[1]
        held = np.array([engine._list_sizes()[order[i, :v]].sum() for i, v in enumerate(visited)])
        assert (held >= 200).all() and (visited >= nprobe).all()
    assert all(b >= a - 1e-9 for a, b in zip(recalls, recalls[1:])), recalls
    assert all((b >= a).all() for a, b in zip(probes, probes[1:]))
    assert recalls[-1] >= 0.95
