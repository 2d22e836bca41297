"""Operator commands and the trading state they move.

``CommandQueue`` takes commands from any thread (``submit``) and the engine thread applies them
between events (``apply_due``), journaling each as accepted or refused. ``TradingDesk`` is the one
place the trading state (ACTIVE / REDUCING / HALTED) changes: operator commands, the circuit breaker
and flatten-then-halt all go through it, and every change is journaled as a STATE event.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from hft_console.domain import Command, CommandKind, EngineState
from hft_console.engine.journal import Journal
from hft_console.execution.manual import OperatorDesk
from hft_console.execution.order_flow import OrderFlow
from hft_console.execution.portfolio import Portfolio
from hft_console.execution.risk import RiskManager
from hft_console.money import money
from hft_console.strategies.imbalance import ImbalanceStrategy
from hft_console.strategies.market_maker import MarketMaker

Note = Callable[[int, str], None]  # (engine ns, text): a line for the operator


class TradingDesk:
    """What the operator's commands, the breaker and flatten-then-halt do to the session.

    ``switch_router(t_ns, name)`` asks for another router (an error text when refused);
    ``stop()`` ends the session at the next batch boundary; ``ack_alerts(ids)`` acknowledges alerts
    (``engine/alerts.py Alerts.acknowledge``)."""

    def __init__(
        self,
        *,
        risk: RiskManager,
        strategy: ImbalanceStrategy | MarketMaker,
        portfolio: Portfolio,
        flow: OrderFlow,
        journal: Journal,
        note: Note,
        switch_router: Callable[[int, str], str | None],
        stop: Callable[[], None],
        ack_alerts: Callable[[object], str | None] | None = None,
    ) -> None:
        self.risk, self.strategy, self.portfolio, self.flow = risk, strategy, portfolio, flow
        self.journal, self.note = journal, note
        self.switch_router, self.stop = switch_router, stop
        self.ack_alerts = ack_alerts  # ids (None: all) -> why refused; None: this session has no alerts
        self.operator = OperatorDesk(flow, note)  # per-symbol halt/flatten/resume and manual orders

    def set_state(self, t_ns: int, state: EngineState, why: str, *, journal_from: bool = True) -> None:
        """Move the trading state to ``state`` (nothing when already there) and journal it. The breaker's
        STATE row has never named the state it left (``journal_from`` False keeps the journal's format)."""
        risk = self.risk
        if risk.state is state:
            return
        detail: dict[str, object] = {"from": risk.state.value, "why": why} if journal_from else {"why": why}
        self.journal.event(t_ns, "STATE", state.value, detail=detail)
        risk.state = state
        self.flow.stood_down.clear()

    def on_breaker(self, t_ns: int) -> None:
        """The loss limit tripped (``RiskManager.breaker_hit`` said so): halt, cancel what is on its way."""
        self.strategy.flatten = False
        self.journal.event(
            t_ns, "CIRCUIT_BREAKER", "MAX_LOSS",
            detail={"pnl_total": round(self.portfolio.total, 2), "max_loss": self.risk.limits.max_loss},
        )  # fmt: skip
        self.set_state(t_ns, EngineState.HALTED, "circuit breaker", journal_from=False)
        self.flow.cancel_all(t_ns, "CIRCUIT_BREAKER")
        loss = money(-self.risk.limits.max_loss)
        self.note(t_ns, f"CIRCUIT BREAKER: P&L {money(self.portfolio.total)} below {loss}")

    def check_flat(self, t_ns: int) -> None:
        """Flatten-then-halt: halt the moment the book is flat with nothing in flight (after the fill
        that made it so), whatever the batch length."""
        if self.strategy.flatten and not self.flow.working and not any(self.portfolio.position):
            self.strategy.flatten = False
            self.set_state(t_ns, EngineState.HALTED, "flattened")
            self.note(t_ns, "flat: trading halted")
        if self.flow.held:
            self.operator.check(t_ns)

    def check_breaker(self, t_ns: int) -> None:
        """The loss limit against the current total (a lowered max_loss applies at once)."""
        if self.risk.breaker_hit(self.portfolio.total):
            self.on_breaker(t_ns)

    def apply(self, cmd: Command, t_ns: int) -> str | None:
        """Carry out one command; None when done, else why it was refused (nothing changed)."""
        try:
            kind = CommandKind(cmd.kind)
        except ValueError:
            return f"unknown command {cmd.kind!r}"
        args = cmd.args
        match kind:
            case CommandKind.HALT:
                self.set_state(t_ns, EngineState.HALTED, "operator halt")
                self.strategy.flatten = False
                self.flow.cancel_all(t_ns, "KILL_SWITCH")
            case CommandKind.FLATTEN:
                self.set_state(t_ns, EngineState.REDUCING, "operator flatten")
                self.strategy.flatten = True
                self.check_flat(t_ns)
            case CommandKind.REDUCE:
                self.set_state(t_ns, EngineState.REDUCING, "operator reduce")
            case CommandKind.RESUME:
                if self.portfolio.total < -self.risk.limits.max_loss:
                    return f"total P&L {money(self.portfolio.total)} is beyond max_loss; raise the limit first"
                self.strategy.flatten = False
                self.set_state(t_ns, EngineState.ACTIVE, "operator resume")
            case CommandKind.SET_LIMIT:
                return self.risk.set_limit(str(args.get("name")), args.get("value"))
            case CommandKind.SET_ROUTER:
                return self.switch_router(t_ns, str(args.get("name")))
            case CommandKind.PAUSE | CommandKind.UNPAUSE:
                self.strategy.paused = kind is CommandKind.PAUSE
            case CommandKind.STOP:
                self.stop()
            case CommandKind.HALT_SYMBOL:
                return self.operator.halt(t_ns, args)
            case CommandKind.FLATTEN_SYMBOL:
                return self.operator.flatten(t_ns, args)
            case CommandKind.RESUME_SYMBOL:
                return self.operator.resume(t_ns, args)
            case CommandKind.ORDER:
                return self.operator.order(t_ns, args)
            case CommandKind.ACK_ALERTS:
                return self.ack_alerts(args.get("ids")) if self.ack_alerts else "this session has no alerts"
        return None


class CommandQueue:
    """Commands from any thread, applied on the engine thread between events.

    ``pending`` is a plain flag the pipeline reads before every tick (cheaper than asking the queue);
    ``apply_ns`` holds each command's wall time from ``submit`` to applied, in ns."""

    def __init__(self, desk: TradingDesk, journal: Journal, note: Note, wake: threading.Event) -> None:
        """``wake`` is set on every submit, so an engine waiting for the wall clock applies it at once."""
        self.desk, self.journal, self.note, self.wake = desk, journal, note, wake
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.pending = False
        self.apply_ns: list[int] = []

    def submit(self, command: Command) -> None:
        self._queue.put(command)
        self.pending = True
        self.wake.set()

    def apply_due(self, t_ns: int) -> None:
        """Apply every command submitted so far at engine time ``t_ns``, journal each, then check the
        breaker (a lowered max_loss applies at once) and commit the journal."""
        self.pending = False
        while True:
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break
            error = self.desk.apply(cmd, t_ns)
            self.apply_ns.append(time.perf_counter_ns() - cmd.submitted_ns)
            self.journal.event(
                t_ns, "COMMAND", "refused" if error else "accepted",
                detail={"command": cmd.kind, "args": cmd.args, "source": cmd.source, "error": error},
            )  # fmt: skip
            what = " ".join([cmd.kind, *(f"{k}={v}" for k, v in cmd.args.items())])
            self.note(t_ns, f"{what} refused: {error}" if error else what)
        self.desk.check_breaker(t_ns)
        self.journal.commit()
