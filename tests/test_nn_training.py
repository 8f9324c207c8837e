"""course_lib.nn : entraînement, jeux de données hors ligne, CIFAR-10 et classifieur ImageNet (sans réseau)."""

import dataclasses
import hashlib
import pickle
import tarfile
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib import data, nn
from course_lib.images import resize, rgb_to_gray


@pytest.fixture(scope="module")
def digits():
    return nn.digits_split()


# --------------------------------------------------------------------------- entraînement

def test_training_reaches_the_stated_accuracy_on_digits(digits):
    """Profil « ci », graine fixe : le petit CNN dépasse 90 % de précision sur les chiffres de test."""
    prof = course_lib.profile()
    assert prof.name == "ci"
    course_lib.seed(0)
    model = nn.SmallCNN(1, 10, width=8, kernel_size=3)
    train, test = digits
    history = nn.train(model, train, test, epochs=3, lr=0.01, optimizer="adam", device="cpu",
                       batch_size=prof.batch_size, progress=False, live=False)
    assert history["précision/validation"][-1] >= 0.90, history["précision/validation"]
    assert nn.evaluate(model, test)[1] == pytest.approx(history["précision/validation"][-1])
    assert history["perte/entraînement"][-1] < 0.5 * history["perte/entraînement"][0]
    assert not history.interrupted


def test_training_history_has_one_value_per_measure(digits):
    train, test = digits
    course_lib.seed(1)
    model = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    small = (train[0][:200], train[1][:200])
    history = nn.train(model, small, test, epochs=2, lr=0.1, optimizer="momentum", batch_size=50,
                       evals_per_epoch=2, device="cpu", progress=False)
    assert set(history) == {"perte/entraînement", "précision/entraînement", "perte/validation",
                            "précision/validation"}
    assert history.steps == [2, 4, 6, 8] and history.epochs == [0.5, 1.0, 1.5, 2.0]
    assert all(len(values) == 4 for values in history.values())
    assert [v for _, v in history.curves.history["perte/validation"]] == history["perte/validation"]
    course_lib.seed(1)
    again = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    repeat = nn.train(again, small, None, epochs=2, lr=0.1, optimizer="momentum", batch_size=50,
                      evals_per_epoch=2, device="cpu", progress=False)
    assert repeat["perte/entraînement"] == pytest.approx(history["perte/entraînement"])   # reproductible
    assert "perte/validation" not in repeat


def test_training_can_be_interrupted_and_stops_when_it_diverges(digits):
    train, _ = digits

    class Impatient(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.SmallCNN(1, 10, width=4, kernel_size=3)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 6:
                raise KeyboardInterrupt
            return self.net(x)

    with pytest.warns(RuntimeWarning, match="interrompu"):
        history = nn.train(Impatient(), train, epochs=1, batch_size=32, evals_per_epoch=8, device="cpu",
                           progress=False)
    assert history.interrupted and len(history["perte/entraînement"]) >= 1

    class Diverging(torch.nn.Module):
        """Ses scores deviennent NaN au troisième lot, comme après un pas beaucoup trop grand."""

        def __init__(self):
            super().__init__()
            self.net = nn.SmallCNN(1, 10, width=4, kernel_size=3)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.net(x) * (float("nan") if self.calls >= 3 else 1.0)

    with pytest.warns(RuntimeWarning, match="divergé"):
        history = nn.train(Diverging(), train, epochs=2, batch_size=32, evals_per_epoch=40, device="cpu",
                           progress=False)
    assert history.interrupted and history.steps == [1, 2]


def test_training_rejects_bad_arguments(digits):
    (images, labels), _ = digits
    model = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    with pytest.raises(TypeError, match="entiers"):
        nn.train(model, (images, labels.float()), progress=False)
    with pytest.raises(ValueError, match="étiquettes"):
        nn.train(model, (images, labels[:10]), progress=False)
    with pytest.raises(TypeError, match="couple"):
        nn.train(model, images, progress=False)
    with pytest.raises(ValueError, match="« optimizer »"):
        nn.train(model, (images, labels), optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="« lr »"):
        nn.train(model, (images, labels), lr=0, progress=False)


def test_minibatch_sgd_is_the_textbook_loop(digits):
    """Même résultat qu'une boucle indépendante écrite avec torch.optim.SGD et F.cross_entropy."""
    (images, labels), _ = digits
    images, labels = images[:120], labels[:120]
    torch.manual_seed(3)
    ours = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    theirs = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    theirs.load_state_dict(ours.state_dict())
    losses = nn.minibatch_sgd(ours, images, labels, epochs=2, lr=0.2, batch_size=32, seed=5)

    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.2)
    generator = torch.Generator().manual_seed(5)
    expected = []
    for _ in range(2):
        order = torch.randperm(120, generator=generator)
        total = 0.0
        for start in range(0, 120, 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(theirs(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        expected.append(total / 120)
    assert losses == pytest.approx(expected, rel=1e-5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


def test_predict_and_evaluate(digits):
    _, (images, labels) = digits
    model = nn.SmallCNN(1, 10, width=4, kernel_size=3)
    probabilities = nn.predict(model, images, batch_size=100)
    assert probabilities.shape == (len(images), 10)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(len(images)))
    loss, accuracy = nn.evaluate(model, (images, labels))
    expected = F.cross_entropy(torch.log(probabilities), labels).item()
    assert loss == pytest.approx(expected, rel=1e-4)
    assert accuracy == pytest.approx(nn.accuracy(probabilities, labels))


# --------------------------------------------------------------------------- jeux de données hors ligne

def test_digits_split_is_a_partition(no_network):
    (x_train, y_train), (x_test, y_test) = nn.digits_split()
    assert len(x_train) == 1348 and len(x_test) == 449
    everything, _ = data.digits()
    rows = torch.cat([x_train, x_test]).flatten(1)
    assert torch.equal(torch.sort(rows.sum(1)).values, torch.sort(everything.flatten(1).sum(1)).values)
    (again, _), _ = nn.digits_split()
    assert torch.equal(again, x_train)


def test_texture_patches_come_from_disjoint_regions(no_network):
    size, source = 8, 48
    x_train, y_train, names = nn.texture_patches(n_per_class=30, size=size, source_size=source, split="train",
                                                 classes=["brick", "moon", "cells"])
    x_test, y_test, _ = nn.texture_patches(n_per_class=10, size=size, source_size=source, split="test",
                                           classes=["brick", "moon", "cells"])
    assert names == ["briques", "Lune", "cellules"]
    assert x_train.shape == (90, 1, size, size) and x_test.shape == (30, 1, size, size)
    assert y_train.tolist() == [0] * 30 + [1] * 30 + [2] * 30
    assert 0 <= float(x_train.min()) and float(x_train.max()) <= 1
    # chaque imagette est une fenêtre de la bonne moitié de l'image source (recherche exhaustive)
    for label, source_image in enumerate([data.texture("brick"), data.photo("moon"), data.texture("cells")]):
        image = resize(source_image, source)
        image = rgb_to_gray(image) if image.shape[0] == 3 else image
        cut = int(round(0.7 * image.shape[-1]))
        for patches, region in ((x_train[y_train == label], image[..., :cut]),
                                (x_test[y_test == label], image[..., cut:])):
            windows = F.unfold(region[None].contiguous(), size)[0].T          # (L, size*size)
            distances = torch.cdist(patches.flatten(1).double(), windows.double())
            assert float(distances.min(dim=1).values.max()) < 1e-5
    color, _, _ = nn.texture_patches(n_per_class=2, size=8, gray=False, classes=["grass"], source_size=48)
    assert color.shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="« classes »"):
        nn.texture_patches(classes=["lena"])
    with pytest.raises(ValueError, match="« split »"):
        nn.texture_patches(split="validation")


# --------------------------------------------------------------------------- CIFAR-10 (archive factice)

def fake_cifar_archive(folder, per_batch=4):
    """Une archive au format de cifar-10-python.tar.gz (6 lots de ``per_batch`` images) et ses empreintes MD5."""
    rng = np.random.default_rng(0)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    md5 = {}
    contents = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        contents[name] = (images, labels)
        (root / name).write_bytes(pickle.dumps({"data": images, "labels": labels}))
    (root / "batches.meta").write_bytes(pickle.dumps({"label_names": ["airplane", "automobile", "bird", "cat",
                                                                      "deer", "dog", "frog", "horse", "ship",
                                                                      "truck"]}))
    for path in root.iterdir():
        md5[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="cifar-10-batches-py")
    return archive, md5, contents


def test_cifar10_loads_through_the_registry_and_torchvision(tmp_path, monkeypatch, no_network):
    import torchvision

    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA", str(cache))
    archive, md5, contents = fake_cifar_archive(tmp_path / "fabrique")
    cache.mkdir()
    (cache / "cifar-10-python.tar.gz").write_bytes(archive.read_bytes())
    asset = dataclasses.replace(data.ASSETS["cifar10"], sha256=data.sha256sum(archive))
    monkeypatch.setitem(data.ASSETS, "cifar10", asset)
    cifar = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cifar, "train_list", [[f"data_batch_{k}", md5[f"data_batch_{k}"]] for k in range(1, 6)])
    monkeypatch.setattr(cifar, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cifar, "meta", {**cifar.meta, "md5": md5["batches.meta"]})

    images, labels = nn.cifar10("train")
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32 and labels.shape == (20,)
    first, first_labels = contents["data_batch_1"]
    expected = torch.from_numpy(first[0].reshape(3, 32, 32).astype(np.float32) / 255)
    torch.testing.assert_close(images[0], expected)
    assert labels[:4].tolist() == first_labels
    test_images, test_labels = nn.cifar10("test", n=3)
    assert test_images.shape == (3, 3, 32, 32) and test_labels.tolist() == contents["test_batch"][1][:3]
    assert len(nn.CIFAR10_CLASSES) == 10 and nn.CIFAR10_CLASSES[3] == "chat"


def test_cifar10_offline_without_archive_says_where_to_put_it(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "vide"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(data.AssetUnavailableError) as info:
        nn.cifar10()
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and "COURSE_OFFLINE" in message and "copiez-le" in message
    assert data.ASSETS["cifar10"].url.startswith("https://www.cs.toronto.edu/")


# --------------------------------------------------------------------------- classifieur ImageNet

def test_imagenet_classifier_loads_weights_from_the_torch_home_cache(tmp_path, monkeypatch, no_network):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    asset = data.ASSETS["resnet18-imagenet"]
    target = data.cache_dir(asset) / asset.filename
    assert target.parent == tmp_path / "torch" / "hub" / "checkpoints"
    target.parent.mkdir(parents=True)
    torch.manual_seed(0)
    random_model = torchvision.models.resnet18(weights=None).eval()
    torch.save(random_model.state_dict(), target)
    monkeypatch.setitem(data.ASSETS, asset.name, dataclasses.replace(asset, sha256=data.sha256sum(target)))

    classifier = nn.imagenet_classifier()
    photo = data.photo("chelsea", size=64)
    with torch.no_grad():
        expected = torch.softmax(random_model(classifier.preprocess(photo)), dim=1)
    probabilities = classifier.probabilities(photo)
    assert probabilities.shape == (1, 1000)
    torch.testing.assert_close(probabilities, expected)
    pair = torch.stack([data.photo("chelsea", size=(64, 64)), data.photo("coffee", size=(64, 64))])
    top = classifier.top_k(pair, k=3)
    assert len(top) == 2 and all(len(row) == 3 for row in top)
    assert all(row[0][1] >= row[1][1] >= row[2][1] for row in top)
    index = classifier.categories.index("anemone fish")
    assert classifier.label(index) == "poisson clown" and len(classifier.categories) == 1000


def test_imagenet_classifier_falls_back_with_a_french_warning(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.warns(RuntimeWarning, match="Pas de classifieur ImageNet.*petit réseau"):
        assert nn.try_imagenet_classifier() is None
    asset = data.ASSETS["resnet18-imagenet"]
    target = data.cache_dir(asset) / asset.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(b"pas des poids")
    with pytest.warns(RuntimeWarning, match="corrompu"):
        assert nn.try_imagenet_classifier() is None


def test_imagenet_classifier_rejects_weights_of_another_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    asset = data.ASSETS["resnet18-imagenet"]
    other = tmp_path / "autre.pth"
    torch.save(nn.SmallCNN().state_dict(), other)
    monkeypatch.setitem(data.ASSETS, asset.name, dataclasses.replace(asset, sha256=data.sha256sum(other)))
    with pytest.raises(ValueError, match="ResNet-18"):
        nn.imagenet_classifier(path=other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.FRENCH_LABELS["brown bear"].startswith("ours brun")


def test_reference_loop_clears_the_tp2_threshold_with_a_margin(digits):
    """Le seuil caché du TP2 (85 %) est la précision de la référence (≈ 93 %) moins une marge."""
    (x_train, y_train), (x_test, y_test) = digits
    accuracies = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
        nn.minibatch_sgd(model, x_train, y_train, epochs=3, lr=0.2, batch_size=16, seed=seed)
        accuracies.append(nn.evaluate(model, (x_test, y_test))[1])
    assert min(accuracies) >= 0.85 + 0.04, accuracies
