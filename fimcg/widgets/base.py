"""What every explorer shares: the wiring of controls, data and a live figure, and the plotly
slider that stands in for an explorer on a static page. Used by the chapter modules of :mod:`fimcg.widgets`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, TypeVar

__all__ = ["check_trace_count", "set_traces", "slider_over", "explorer"]

D = TypeVar("D")


def check_trace_count(fig, expected: int, *, source: str) -> None:
    """Raise ``ValueError`` unless ``fig`` has ``expected`` traces (it should come from ``source``)."""
    if len(fig.data) != expected:
        raise ValueError(f"expected a figure from {source} ({expected} traces), got {len(fig.data)} traces")


def set_traces(fig, xy: Sequence[tuple[Any, Any]], title: str) -> None:
    """In one batch update, give the figure's first ``len(xy)`` traces, in order, the ``(x, y)``
    arrays of ``xy`` and set the title text (``fig``: a Figure or FigureWidget, changed in place)."""
    with fig.batch_update():
        for trace, (x, y) in zip(fig.data, xy):
            trace.update(x=x, y=y)
        fig.layout.title.text = title


def slider_over(make_figure: Callable[[D], Any], datas: Sequence[D], labels: Sequence[str], *,
                 slider_title: str, slider_y: float):
    """One ``make_figure(data)`` per entry of ``datas`` behind a plotly slider labelled ``labels``
    (:func:`fimcg.app.figures.slider_figure`): the static-page stand-in for an explorer."""
    from ..app.figures import slider_figure

    if len(datas) != len(labels):
        raise ValueError(f"datas and labels must be non-empty and of equal length, got {len(datas)} and {len(labels)}")
    return slider_figure([make_figure(d) for d in datas], labels, prefix=slider_title, slider_y=slider_y)


def explorer(controls: Mapping[str, Any], compute: Callable[[], D], make_figure: Callable[[D], Any],
              update_figure: Callable[[Any, D], None], above: Sequence[Any], *, status: Any = None,
              on_data: Callable[[D], None] | None = None):
    """The wiring every explorer shares: data from the controls, a live figure, redrawn on change.

    Args:
        controls: name -> ipywidget; a change of any ``value`` recomputes and redraws.
        compute: ``() -> data`` from the controls' current values.
        make_figure: ``data -> plotly Figure`` (shown as a ``go.FigureWidget``).
        update_figure: ``(figure, data) -> None``, copies new data into the figure in place.
        above: the widgets shown above the figure (controls, labels).
        status: optional ``ipywidgets.Label`` (put it in ``above``): a ``ValueError`` of ``compute``
            is reported there and the figure keeps the last valid data (without it, the error
            propagates).
        on_data: called with the first data and with every new data, before the figure is redrawn.

    Returns:
        An ``ipywidgets.VBox`` (``above`` then the figure) with attributes ``controls``, ``figure``,
        ``data`` (the current data) and, if given, ``status``.
    """
    import ipywidgets as w
    import plotly.graph_objects as go

    data = compute()
    if on_data is not None:
        on_data(data)
    figure = go.FigureWidget(make_figure(data))
    box = w.VBox([*above, figure])
    box.controls, box.figure, box.data = controls, figure, data
    if status is not None:
        box.status = status

    def on_change(change) -> None:
        try:
            new = compute()
        except ValueError as exc:
            if status is None:
                raise
            status.value = f"invalid setting: {exc}"  # say why, keep the last figure
            return
        if status is not None:
            status.value = ""
        box.data = new
        if on_data is not None:
            on_data(new)
        update_figure(figure, new)

    for c in controls.values():
        c.observe(on_change, names="value")
    return box
