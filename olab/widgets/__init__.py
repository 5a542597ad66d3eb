"""Widgets for JupyterLab and marimo (anywidget; in marimo wrap them with `mo.ui.anywidget(w)`).

Each takes plain data (lists of dicts, DataFrames, dicts) and draws its plots from `olab.viz` figures
with the plotly.js bundled in the `plotly` package, so everything works offline.
"""

from olab.widgets.attribution_explorer import AttributionExplorer
from olab.widgets.datanet_view import DatanetView
from olab.widgets.leaderboard import Leaderboard
from olab.widgets.publish_panel import PublishPanel
from olab.widgets.receipt_view import ReceiptView
from olab.widgets.training_progress import TrainingProgress
from olab.widgets.usage_rewards import UsageRewards

__all__ = [
    "AttributionExplorer",
    "DatanetView",
    "Leaderboard",
    "PublishPanel",
    "ReceiptView",
    "TrainingProgress",
    "UsageRewards",
]
