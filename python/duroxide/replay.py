"""Replay recorded histories against today's code: the check to run before deploying a
change to an orchestration.

Export histories from a live store (``Client.export_history`` or ``duroxide history
--export``), then replay them against the new code with :class:`Replayer`. The core's own
replay engine drives the orchestration over each recorded history: no activity runs,
no timer waits and nothing is written anywhere. An instance replays cleanly when the code
yields the same tasks in the same order and ends as it ended; otherwise the result says
where it diverged, with the same message a running instance would fail with (the
orchestration, the step, what the history holds, what the code yielded and at which
``file:line``).

    from duroxide.replay import Replayer
    import myapp.workflows

    replayer = Replayer({"Checkout": myapp.workflows.checkout})
    for result in replayer.replay_files(["checkout-1.json", "checkout-2.json"]):
        assert result.ok, result.message
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _callbacks, _validate
from ._native import gen, translate_errors
from .converter import DEFAULT_CONVERTER, DataConverter
from .errors import HistoryFormatError, InvalidArgumentError

if TYPE_CHECKING:
    from .client import Client
    from .runtime import Runtime

__all__ = ["Replayer", "ReplayResult", "ANY_VERSION", "load_history"]

#: Register a function under this version to replay every version of its name with it.
ANY_VERSION = "*"

History = Union[Mapping[str, Any], str, bytes, "os.PathLike[str]"]


@dataclass(frozen=True)
class ReplayResult:
    """How one instance replayed."""

    instance_id: str
    orchestration_name: str
    orchestration_version: str
    #: Executions replayed (continue-as-new makes several).
    executions: int
    #: "ok", "diverged" or "not_registered".
    status: str
    #: Where and how it diverged, or what is missing; None when ok.
    message: Optional[str]
    #: The file it came from, when it came from one.
    source: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        head = f"{self.instance_id} [{self.orchestration_name}@{self.orchestration_version}]{where}"
        return f"{head}: ok" if self.ok else f"{head}: {self.status}: {self.message}"


_STATUS = {
    gen.ReplayStatus.OK: "ok",
    gen.ReplayStatus.DIVERGED: "diverged",
    gen.ReplayStatus.NOT_REGISTERED: "not_registered",
}


def load_history(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Reads a history export file; :class:`~duroxide.errors.HistoryFormatError` when it
    is not one."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise HistoryFormatError(f"cannot read history file {os.fspath(path)!r}: {e.strerror or e}") from None
    return _parse(raw, os.fspath(path))


def _parse(raw: Union[str, bytes], where: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise HistoryFormatError(
            f"{where} is not a history export: not valid JSON ({e}); is the file truncated?"
        ) from None
    if not isinstance(value, dict):
        raise HistoryFormatError(f"{where} is not a history export: expected a JSON object")
    return value


class Replayer:
    """Replays exported histories against orchestration functions.

    ``orchestrations`` maps a name (version ``1.0.0``, or every version with
    :data:`ANY_VERSION` via :meth:`register`) or a ``(name, version)`` pair to the
    generator function; or pass ``runtime=`` to replay with a :class:`~duroxide.Runtime`'s
    registrations (it need not be started).
    """

    def __init__(
        self,
        orchestrations: Optional[Mapping[Union[str, Tuple[str, str]], Callable[..., Any]]] = None,
        *,
        runtime: Optional["Runtime"] = None,
        data_converter: Optional[DataConverter] = None,
    ) -> None:
        self._registered: Dict[Tuple[str, str], _callbacks.Registered] = {}
        if runtime is not None:
            self._registered.update(runtime._orchestrations)
        for key, fn in (orchestrations or {}).items():
            name, version = (key, "1.0.0") if isinstance(key, str) else key
            self.register(name, fn, version=version)
        self._native: Optional[Any] = None
        self._converter = data_converter or (runtime._converter if runtime is not None else DEFAULT_CONVERTER)

    def register(self, name: str, fn: Callable[..., Any], *, version: str = "1.0.0", typed: bool = False) -> None:
        """Adds ``fn`` as orchestration ``name`` at ``version`` (:data:`ANY_VERSION`: all)."""
        _validate.name("orchestration name", name)
        if version != ANY_VERSION:
            _validate.version("version", version)
        if not callable(fn):
            raise TypeError(f"orchestration {name!r}: expected a generator or async function, got {type(fn).__name__}")
        self._registered[(name, version)] = _callbacks.Registered(fn, typed)
        self._native = None

    def _lookup(self, name: str, version: str) -> Optional[_callbacks.Registered]:
        return self._registered.get((name, version)) or self._registered.get((name, ANY_VERSION))

    def _replayer(self) -> Any:
        if self._native is None:
            registrations = [gen.OrchestrationRegistration(name=n, version=v) for (n, v) in self._registered]
            self._native = gen.Replayer(_callbacks.Stepper(self._lookup, self._converter), registrations)
        return self._native

    def replay(self, history: History, *, source: Optional[str] = None) -> ReplayResult:
        """Replays one exported instance: a dict from ``Client.export_history``, its JSON
        text, or the path of a file holding it."""
        if isinstance(history, (str, bytes)) and not _looks_like_json(history):
            history = os.fsdecode(history)
            return self.replay(load_history(history), source=history)
        if isinstance(history, os.PathLike):
            return self.replay(load_history(history), source=os.fspath(history))
        if isinstance(history, (str, bytes)):
            history = _parse(history, source or "the history")
        if not isinstance(history, Mapping):
            raise TypeError(f"expected a history export (dict, JSON text or path), got {type(history).__name__}")
        try:
            text = json.dumps(history)
        except (TypeError, ValueError) as e:
            raise HistoryFormatError(f"the history is not JSON-ready: {e}") from None
        try:
            with translate_errors():
                report = self._replayer().replay(text)
        except InvalidArgumentError as e:
            where = f"{source}: " if source else ""
            raise HistoryFormatError(f"{where}{e}") from None
        return ReplayResult(
            instance_id=report.instance_id,
            orchestration_name=report.orchestration_name,
            orchestration_version=report.orchestration_version,
            executions=report.executions,
            status=_STATUS[report.status],
            message=report.message,
            source=source,
        )

    def replay_files(self, paths: Iterable[Union[str, "os.PathLike[str]"]]) -> List[ReplayResult]:
        """Replays every file; raises HistoryFormatError at the first that is not a history."""
        return [self.replay(load_history(p), source=os.fspath(p)) for p in paths]

    def replay_instances(
        self,
        client: "Client",
        *,
        name: Optional[str] = None,
        instance_ids: Optional[Iterable[str]] = None,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> List[ReplayResult]:
        """Replays instances read from a live store: those given, or every instance of
        orchestration ``name`` (every instance when both are None). ``progress(done,
        total)`` is called after each one."""
        ids = list(instance_ids) if instance_ids is not None else client.list_all_instances()
        if name is not None and instance_ids is None:
            ids = [i for i in ids if client.get_instance_info(i).orchestration_name == name]
        results = []
        for n, iid in enumerate(ids, 1):
            results.append(self.replay(client.export_history(iid), source=iid))
            if progress is not None:
                progress(n, len(ids))
        return results


def _looks_like_json(text: Union[str, bytes]) -> bool:
    stripped = text.lstrip()
    return stripped[:1] in ("{", "[", b"{", b"[")
