import matplotlib
import numpy as np
import pytest
import torch

from course_lib import plot

matplotlib.use("Agg")


def test_as_displayable_accepts_tensors_and_arrays():
    assert plot.as_displayable(torch.rand(3, 4, 5)).shape == (4, 5, 3)
    assert plot.as_displayable(torch.rand(1, 1, 4, 5)).shape == (4, 5)
    assert plot.as_displayable(np.zeros((4, 5, 3), np.uint8)).dtype == np.uint8
    assert plot.as_displayable(np.zeros((3, 4, 5))).shape == (4, 5, 3)
    clipped = plot.as_displayable(torch.full((3, 2, 2), 1.5))
    assert clipped.max() == 1.0


@pytest.mark.parametrize("bad, error", [
    (torch.rand(2, 3, 4, 4), ValueError), (torch.rand(5, 4, 4), ValueError), ("image", TypeError),
])
def test_as_displayable_rejects_bad_images(bad, error):
    with pytest.raises(error):
        plot.as_displayable(bad)


def test_show_grid_compare_return_matplotlib_objects():
    ax = plot.show(torch.rand(3, 8, 8), title="une image")
    assert ax.get_title() == "une image"
    fig = plot.grid(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    fig = plot.compare(torch.rand(1, 8, 8), torch.rand(3, 8, 8), titles=["avant", "après"])
    assert [a.get_title() for a in fig.axes] == ["avant", "après"]
    with pytest.raises(ValueError, match="titles"):
        plot.grid([torch.rand(3, 4, 4)], titles=["a", "b"])


def test_live_curves_record_history_outside_a_notebook():
    curves = plot.LiveCurves(["perte", "précision"], every=2)
    for step in range(4):
        curves.update(step, {"perte/entraînement": 1 / (step + 1), "perte/validation": 2 / (step + 1)},
                      précision=step / 4)
    assert [v for _, v in curves.history["perte/validation"]] == [2, 1, 2 / 3, 0.5]
    fig = curves.figure()
    assert len(fig.axes) == 2 and fig.axes[0].get_legend() is not None


def test_plot_history():
    fig = plot.plot_history({"perte": [3, 2, 1], "précision": [0.1, 0.5, 0.9]}, title="entraînement")
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="history"):
        plot.plot_history({})
