"""Pré-téléchargement (``python -m course_lib.data fetch|status``) contre un faux serveur HTTP local.

Le serveur écoute sur 127.0.0.1 et sait servir une plage d'octets (en-tête ``Range``), couper une
connexion au milieu d'un fichier ou ignorer ``Range`` ; toute connexion vers une autre adresse fait
échouer le test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import fake_datasets as fake
import pytest

from course_lib import data, download

ROOT = Path(__file__).resolve().parent.parent


class FileServer:
    """Un serveur HTTP local qui sert des fichiers en mémoire.

    ``cut[nom] = n`` : la prochaine réponse pour ce fichier s'arrête après ``n`` octets (connexion coupée) ;
    ``ignore_range`` : répondre 200 et tout le fichier même à une requête ``Range``. ``requests`` garde
    ``(chemin, en-tête Range)`` de chaque requête.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                limit = server.cut.pop(name, None)
                self.wfile.write(body[start:] if limit is None else body[start:start + limit])
                if limit is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, path: Path) -> str:
        self.files[path.name] = path.read_bytes()
        return self.url + path.name

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_only(monkeypatch):
    """Seules les connexions vers 127.0.0.1 sont permises."""
    connect = socket.socket.connect

    def guarded(self, address):
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"accès réseau interdit pendant les tests : {address!r}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def server(local_only):
    files = FileServer()
    yield files
    files.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "cours"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "perso"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")  # fetch télécharge quand même : c'est sa raison d'être
    return tmp_path / "cours"


def payload_file(folder: Path, name: str, size: int = 300_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32))
    return path


def serve_weights(monkeypatch, server, folder: Path, names=("vgg19", "resnet18-imagenet", "colorization_eccv16")):
    """Les poids du registre pointent vers le serveur local, avec l'empreinte de faux fichiers."""
    payloads = {}
    data.resource_names()  # charge le registre des poids
    for name in names:
        asset = data.ASSETS[name]
        path = payload_file(folder, asset.filename, size=100_000)
        monkeypatch.setitem(data.ASSETS, name, dataclasses.replace(
            asset, url=server.add(path), sha256=data.sha256sum(path)[:8]))
        payloads[name] = path.read_bytes()
    return payloads


# --------------------------------------------------------------------------- téléchargement avec reprise

def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    source = payload_file(tmp_path / "serveur", "gros.bin")
    url = server.add(source)
    digest = data.sha256sum(source)
    target = tmp_path / "cache" / "gros.bin"
    server.cut["gros.bin"] = 100_000
    with pytest.raises(ConnectionError, match="reprendra"):
        download.download_file(url, target, sha256=digest)
    partial = target.with_name("gros.bin.partiel")
    assert not target.exists() and partial.stat().st_size == 100_000
    assert download.download_file(url, target, sha256=digest) == target
    assert target.read_bytes() == source.read_bytes() and not partial.exists()
    assert server.requests == [("gros.bin", None), ("gros.bin", "bytes=100000-")]


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    source = payload_file(tmp_path / "serveur", "poids.bin")
    url = server.add(source)
    target = tmp_path / "cache" / "poids.bin"
    target.parent.mkdir()
    target.with_name("poids.bin.partiel").write_bytes(b"octets d'un autre fichier")
    server.ignore_range = True
    download.download_file(url, target, md5=hashlib.md5(source.read_bytes()).hexdigest())
    assert target.read_bytes() == source.read_bytes()
    assert server.requests[0][1] == "bytes=25-"


def test_complete_partial_file_is_verified_without_new_bytes(server, tmp_path):
    source = payload_file(tmp_path / "serveur", "complet.bin")
    url = server.add(source)
    target = tmp_path / "cache" / "complet.bin"
    target.parent.mkdir()
    target.with_name("complet.bin.partiel").write_bytes(source.read_bytes())
    download.download_file(url, target, sha256=data.sha256sum(source))
    assert target.read_bytes() == source.read_bytes()  # le serveur a répondu 416 : rien à reprendre


def test_wrong_checksum_deletes_the_download(server, tmp_path):
    url = server.add(payload_file(tmp_path / "serveur", "faux.bin"))
    target = tmp_path / "cache" / "faux.bin"
    with pytest.raises(data.AssetChecksumError, match="effacé"):
        download.download_file(url, target, sha256="0" * 64)
    assert list(target.parent.iterdir()) == []
    with pytest.raises(ValueError, match="empreinte"):
        download.download_file(url, target)


def test_asset_path_download_resumes_too(server, cache, monkeypatch, tmp_path):
    payloads = serve_weights(monkeypatch, server, tmp_path / "serveur", names=("resnet18-imagenet",))
    asset = data.ASSETS["resnet18-imagenet"]
    server.cut[asset.filename] = 40_000
    with pytest.raises(data.AssetUnavailableError, match="Impossible de télécharger"):
        data.asset_path(asset.name, download=True)
    path = data.asset_path(asset.name, download=True)
    assert path == data.cache_dir(asset) / asset.filename and path.read_bytes() == payloads[asset.name]
    assert server.requests[-1][1] == "bytes=40000-"


# --------------------------------------------------------------------------- fetch

def test_fetch_weights_into_the_caches_and_skips_what_is_there(server, cache, monkeypatch, tmp_path):
    payloads = serve_weights(monkeypatch, server, tmp_path / "serveur")
    installed = download.fetch(["vgg19", "colorization_eccv16"])
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    assert installed["vgg19"] == hub / data.ASSETS["vgg19"].filename
    assert installed["vgg19"].read_bytes() == payloads["vgg19"]
    assert data.is_available("vgg19") and data.is_available("colorization_eccv16")
    assert not data.is_available("resnet18-imagenet")
    count = len(server.requests)
    download.fetch(["vgg19"])
    assert len(server.requests) == count  # déjà présent et intègre : rien à télécharger


def test_fetch_to_a_folder_makes_a_shareable_course_cache(server, cache, monkeypatch, tmp_path):
    serve_weights(monkeypatch, server, tmp_path / "serveur")
    archives, sums = fake.places365_archives(tmp_path / "mit")
    for archive in archives.values():
        server.add(archive)
    fake.serve_places365(monkeypatch, data, server.url, archives)
    fake.patch_places365_checksums(monkeypatch, sums)
    shared = tmp_path / "serveur-du-labo"
    installed = download.fetch(["vgg19", "resnet18-imagenet", "places365-val"], to=shared)
    assert installed["places365-val"] == shared / "places365"
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        [data.ASSETS["vgg19"].filename, data.ASSETS["resnet18-imagenet"].filename, "places365"])
    assert not data.is_available("vgg19")  # rien dans les caches de cet utilisateur
    monkeypatch.setenv("COURSE_DATA", str(shared))
    assert data.is_available("vgg19") and data.is_available("resnet18-imagenet")
    assert data.is_available("places365-val") and len(data.places365("val")) == 12


def test_fetch_places365_resumes_and_extracts_like_torchvision(server, cache, monkeypatch, tmp_path):
    from torchvision.datasets import Places365

    archives, sums = fake.places365_archives(tmp_path / "mit")
    for archive in archives.values():
        server.add(archive)
    fake.serve_places365(monkeypatch, data, server.url, archives)
    fake.patch_places365_checksums(monkeypatch, sums)
    server.cut["val_256.tar"] = archives["val_256.tar"].stat().st_size // 2
    with pytest.raises(ConnectionError):
        download.fetch(["places365-val"])
    assert not data.is_available("places365-val")
    assert download.fetch(["places365-val"])["places365-val"] == cache / "places365"
    assert ("val_256.tar", f"bytes={archives['val_256.tar'].stat().st_size // 2}-") in server.requests
    assert data.is_available("places365-val") and not data.is_available("places365-train")
    assert sorted(p.name for p in cache.iterdir()) == ["places365"]  # archives effacées après extraction
    download.fetch(["places365-train"])
    assert (cache / "places365" / "data_256_standard" / "a" / "airfield").is_dir()
    assert sum(name == "filelist_places365-standard.tar" for name, _ in server.requests) == 1
    train = Places365(str(cache / "places365"), split="train-standard", small=True, download=False)
    assert len(train) == 9 and train[8][0].size == (256, 256)


def test_fetch_cifar10_keeps_the_archive_and_extracts_it(server, cache, monkeypatch, tmp_path):
    from course_lib import nn

    archive, sums, _ = fake.cifar10_archive(tmp_path / "toronto")
    fake.patch_cifar10(monkeypatch, data, archive, sums, url=server.add(archive))
    assert download.fetch(["cifar10"])["cifar10"] == cache / "cifar10"
    assert (cache / archive.name).is_file() and (cache / "cifar10" / "cifar-10-batches-py").is_dir()
    assert len(data.cifar10(train=False)) == 4 and nn.cifar10("test")[0].shape == (4, 3, 32, 32)


def test_fetch_rejects_unknown_names():
    with pytest.raises(ValueError, match="« names »"):
        download.fetch(["imagenet-complet"])


# --------------------------------------------------------------------------- status et ligne de commande

def test_status_reports_present_absent_corrupt_and_partial(server, cache, monkeypatch, tmp_path):
    payloads = serve_weights(monkeypatch, server, tmp_path / "serveur")
    download.fetch(["vgg19"])
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    (hub / data.ASSETS["colorization_eccv16"].filename).write_bytes(b"poids abimes")
    (hub / (data.ASSETS["resnet18-imagenet"].filename + ".partiel")).write_bytes(b"x" * 1234)
    sums = fake.write_places365(cache / "places365", splits=("val",))
    fake.patch_places365_checksums(monkeypatch, sums)
    (cache / "places365" / "val_256" / fake.val_names(12)[-1]).unlink()
    rows = {row.name: row for row in download.status()}
    assert rows["vgg19"].state == "présent" and rows["vgg19"].size == len(payloads["vgg19"])
    assert rows["colorization_eccv16"].state == "corrompu" and rows["colorization_eccv16"].size == 12
    assert rows["resnet18-imagenet"].state == "partiel" and rows["resnet18-imagenet"].size == 1234
    assert rows["places365-val"].state == "incomplet" and "extraction incomplète" in rows["places365-val"].detail
    assert rows["places365-train"].state == "absent" and rows["cifar10"].state == "absent"
    (cache / "places365" / "val_256" / fake.val_names(12)[-1]).write_bytes(fake.photo_bytes(11))
    row = {r.name: r for r in download.status()}["places365-val"]
    expected = sum(p.stat().st_size for p in (cache / "places365").rglob("*") if p.is_file())
    assert row.state == "présent" and row.size == expected


def test_command_line_fetch_and_status(server, cache, monkeypatch, tmp_path, capsys):
    serve_weights(monkeypatch, server, tmp_path / "serveur")
    shared = tmp_path / "partage"
    assert download.main(["fetch", "vgg19", "resnet18-imagenet", "--to", str(shared)]) == 0
    out = capsys.readouterr().out
    assert "✓ vgg19" in out and "✓ resnet18-imagenet" in out and "Espace libre" in out
    assert download.main(["status", "--to", str(shared)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"vgg19\s+présent\s+100,0 ko", out) and re.search(r"colorization_eccv16\s+absent", out)
    assert download.main(["fetch", "imagenet-complet"]) == 2
    assert "Ressource inconnue" in capsys.readouterr().err
    server.files.clear()  # le serveur ne répond plus que 404
    assert download.main(["fetch", "colorization_eccv16"]) == 1
    assert "✗ colorization_eccv16" in capsys.readouterr().err


def test_python_dash_m_course_lib_data_runs(cache):
    """Le vrai point d'entrée, dans un processus neuf, sur un cache vide (aucun réseau nécessaire)."""
    result = subprocess.run([sys.executable, "-m", "course_lib.data", "status"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Cache du cours : " + str(cache) in result.stdout
    for name in ("vgg19", "resnet18-imagenet", "colorization_eccv16", "cifar10", "places365-val", "places365-train"):
        assert re.search(rf"{name}\s+absent", result.stdout), name


def test_command_line_help_is_in_french(capsys):
    with pytest.raises(SystemExit):
        download.main(["fetch", "--help"])
    help_text = capsys.readouterr().out
    assert "--to DOSSIER" in help_text and "--all" in help_text and "reprise" in help_text
