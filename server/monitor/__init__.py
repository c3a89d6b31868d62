"""Model monitoring inside the server: data and prediction drift against a reference profile,
prediction confidence, accuracy against late labels, captured samples and an alert hook.

Who owns what: `MonitorBook` (book.py) owns the watched models, the sampler and the worker
thread; `MonitorLayer` (layer.py) hands it sampled requests after their answer;
`VersionMonitor` (version.py) keeps one version's references and windows; the statistics are
pure functions (statistics.py, drift.py); `LabelBook`, `SampleSink` and `AlertHook` keep
labels, captured samples and the hook. `naiad profile` (profile_command.py) writes a
reference profile; `naiad monitor` (cli.py) reads reports and sends labels over HTTP.
"""

from naiad.monitor.book import MonitorBook
from naiad.monitor.layer import MonitorLayer
from naiad.monitor.settings import MonitorSettings

__all__ = ["MonitorBook", "MonitorLayer", "MonitorSettings"]
