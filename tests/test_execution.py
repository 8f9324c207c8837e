"""course_grading.execution : l'attente de la réponse d'une cellule par tranches, et un notebook à widgets
exécuté de bout en bout."""

import asyncio
import json
import time
from queue import Empty

import pytest

from course_grading import execution


class FakeChannel:
    """Un canal dont les ``misses`` premières attentes ne voient rien (le réveil perdu), puis le message."""

    def __init__(self, misses):
        self.misses, self.timeouts = misses, []

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.misses:
            await asyncio.sleep(min(timeout, 0.01))
            raise Empty
        return {"msg_type": "execute_reply"}


def test_sliced_wait_keeps_looking_until_the_reply_is_there():
    channel = FakeChannel(misses=3)
    get = execution.sliced_get_msg(channel.get_msg, slice_s=0.05)
    assert asyncio.run(get(timeout=10)) == {"msg_type": "execute_reply"}
    assert len(channel.timeouts) == 4 and all(t <= 0.05 for t in channel.timeouts)


def test_sliced_wait_still_gives_up_at_the_cell_deadline():
    channel = FakeChannel(misses=10**6)
    get = execution.sliced_get_msg(channel.get_msg, slice_s=0.05)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(get(timeout=0.3))
    assert 0.25 <= time.monotonic() - start < 5


def test_widget_notebook_runs_end_to_end(tmp_path):
    cells = [
        "import ipywidgets as widgets\n"
        "def show(x=1):\n"
        "    print('valeur', x * 2)\n"
        "widgets.interact(show, x=widgets.IntSlider(value=3, min=0, max=9));",
        "print('fin')",
    ]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3",
                "display_name": "Python 3", "language": "python"}},
                "cells": [{"cell_type": "code", "id": f"c{k}", "metadata": {}, "execution_count": None,
                           "outputs": [], "source": source} for k, source in enumerate(cells)]}
    source, target = tmp_path / "widgets.ipynb", tmp_path / "sortie" / "widgets.ipynb"
    source.write_text(json.dumps(notebook), encoding="utf-8")
    start = time.monotonic()
    execution.main([str(source), str(target), "--timeout", "60"])
    executed = json.loads(target.read_text(encoding="utf-8"))
    assert time.monotonic() - start < 55, "une cellule à widgets a attendu tout son délai"
    assert "application/vnd.jupyter.widget-view+json" in json.dumps(executed["cells"][0]["outputs"])
    assert "fin" in json.dumps(executed["cells"][1]["outputs"])
    assert not list(tmp_path.glob("noyau*")) and not list(source.parent.glob("*.json"))
