"""The base of every olab widget: an anywidget whose ESM is `common.js` plus the widget's own script.

Widgets take plain data (lists of dicts, DataFrames, dicts), so they work without a model and are testable
from Python. Plots are `olab.viz` figures serialised into a `figure` traitlet; the browser draws them with
the plotly.js bundled in the `plotly` package, sent once per page on request (no CDN, works offline).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import numpy as np
import traitlets

from olab.errors import ValidationError

STATIC = Path(__file__).parent / "static"
PLOTLY_REQUEST = "olab:plotly-js?"
PLOTLY_REPLY = "olab:plotly-js"


def bundle(script: str) -> str:
    """The ESM of one widget: the shared helpers, the widget's `render`, and its default export."""
    common = (STATIC / "common.js").read_text(encoding="utf-8")
    own = (STATIC / script).read_text(encoding="utf-8")
    return f"{common}\n{own}\nexport default {{ initialize, render }};\n"


def stylesheet() -> str:
    """The CSS shared by every olab widget (JupyterLab theme variables with light fallbacks)."""
    return (STATIC / "widgets.css").read_text(encoding="utf-8")


@functools.cache
def plotly_js() -> bytes:
    """plotly.min.js as shipped inside the installed `plotly` package (offline, same version as plotly.py)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_bytes()


def plain(value: Any) -> Any:
    """`value` with numpy/pandas scalars, paths and non-finite floats made JSON-friendly (NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        return plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_rows(data: Any) -> list[dict[str, Any]]:
    """Rows as JSON-friendly dicts from a pandas DataFrame, a `datasets.Dataset`, or a sequence of mappings."""
    if data is None:
        return []
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas DataFrame
        return [plain(r) for r in data.to_dict(orient="records")]
    if hasattr(data, "to_list") and hasattr(data, "column_names"):  # datasets.Dataset
        return [plain(r) for r in data.to_list()]
    if isinstance(data, Mapping | str | bytes) or not isinstance(data, Iterable):
        raise ValidationError(f"expected rows (a DataFrame or a sequence of dicts), got {type(data).__name__}")
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise ValidationError(f"row {i} is a {type(row).__name__}; each row must be a dict of column -> value")
        rows.append(plain(row))
    return rows


def figure_json(fig: Any) -> dict[str, Any]:
    """A plotly figure (or its dict form) as plain JSON for the `figure` traitlet; None -> {} (no plot)."""
    if fig is None:
        return {}
    data = fig if isinstance(fig, Mapping) else fig.to_plotly_json()
    return _decode_arrays(json.loads(json.dumps(data, default=_json_default)))


def _decode_arrays(value: Any) -> Any:
    """plotly's base64 typed arrays ({"dtype", "bdata", "shape"?}) as plain lists, readable from Python and JS."""
    if isinstance(value, dict):
        if set(value) in ({"dtype", "bdata"}, {"dtype", "bdata", "shape"}):
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return plain(array)
        return {k: _decode_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_arrays(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    converted = plain(value)
    if converted is value:
        raise TypeError(f"cannot serialise {type(value).__name__} into a figure")
    return converted


class OlabWidget(anywidget.AnyWidget):
    """anywidget base: the shared stylesheet, an optional plotly `figure`, and offline plotly.js.

    plotly.js reaches the page in the state of one live plotting widget per kernel (the `_plotly` buffer, so it
    arrives with the widget even while a long cell runs), and on request for pages opened later.
    """

    _css = stylesheet()
    _plots: ClassVar[bool] = True  # widgets that never plot neither carry nor request plotly.js
    _carrier: ClassVar[weakref.ref | None] = None  # the live widget whose state holds plotly.js

    figure = traitlets.Dict(help="the plot, as `fig.to_plotly_json()`; {} shows none").tag(sync=True)
    _plotly = traitlets.Bytes(b"", help="plotly.min.js, on the carrier widget only").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        carrier = OlabWidget._carrier() if OlabWidget._carrier else None
        carries = self._plots and (carrier is None or carrier.comm is None)  # none yet, or it was closed
        if carries:
            kwargs["_plotly"] = plotly_js()  # in the state the comm opens with
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_message)
        if carries:
            OlabWidget._carrier = weakref.ref(self)

    def _on_custom_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, Mapping) and content.get("type") == PLOTLY_REQUEST:
            self.send({"type": PLOTLY_REPLY}, buffers=[plotly_js()])

    def set_figure(self, fig: Any) -> None:
        """Show `fig` (a plotly Figure or dict; None removes the plot)."""
        self.figure = figure_json(fig)
