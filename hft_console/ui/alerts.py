"""The console's side of the engine's alerts (``engine/alerts.py``): a toast per new alert that stays until
the operator acknowledges it (key ``a``), and the terminal bell when one arrives.

The alerts come with the snapshot the console samples, so a toast appears within one refresh of the
snapshot that first lists the alert. Acknowledging goes through the engine's queue as every operator
action does (``ack_alerts`` with the ids on screen, journaled as a COMMAND row): an alert that fires
between the toast and the key stays up.
"""

from __future__ import annotations

from typing import Any, Protocol

from textual.app import App
from textual.notifications import SeverityLevel

from hft_console.engine.snapshot import Snapshot

STAY_S = 7 * 86400.0  # a toast's timeout: longer than any session (session.duration_s is at most 7 days)


class Sender(Protocol):
    def __call__(self, kind: str, **args: object) -> bool: ...


class AlertToasts:
    """The alerts a console shows. ``update`` from the console's refresh (UI thread) with each snapshot;
    ``acknowledge`` from key ``a``. ``shown``: the ids of the alerts with a toast up."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.shown: list[int] = []
        self._seen = 0  # the newest alert id given a toast (ids count up from 1)
        self._alerts: object = ()  # the snapshot's alerts last looked at (the engine reuses the tuple)

    def update(self, snap: Snapshot) -> None:
        """Raise a toast for each alert in ``snap`` newer than any seen and not acknowledged, and ring the
        bell once if there was one; take every toast down once the snapshot says those are acknowledged."""
        alerts = snap.alerts
        if alerts is self._alerts:
            return
        self._alerts = alerts
        fresh = [a for a in alerts if a.alert_id > self._seen and not a.acknowledged]
        for a in fresh:
            where = a.venue or a.symbol
            title = f"ALERT {a.alert_id} · {a.name}" + (f" · {where}" if where else "")
            severity: SeverityLevel = "error" if a.severity == "error" else "warning"
            self.app.notify(f"{a.text}\n(a acknowledges)", title=title, severity=severity, timeout=STAY_S, markup=False)
            self.shown.append(a.alert_id)
        if alerts:
            self._seen = max(self._seen, alerts[-1].alert_id)
        if fresh:
            self.app.bell()
        acknowledged = {a.alert_id for a in alerts if a.acknowledged}
        if self.shown and all(i in acknowledged for i in self.shown):
            self._take_down()

    def acknowledge(self, send: Sender) -> None:
        """Key ``a``: acknowledge the alerts on screen through the engine's queue and take their toasts
        down. A finished session takes no command: the toasts just go."""
        if not self.shown:
            return
        send("ack_alerts", ids=list(self.shown))
        self._take_down()

    def _take_down(self) -> None:
        # Textual 8 has no public call that withdraws one notification; every alert on screen goes at
        # once, so clearing them all is the same (a passing notice, such as the start-up backtest's, goes too)
        self.shown.clear()
        self.app.clear_notifications()
