"""Ctrl-C handling and fan_out, without hosts: a real SIGINT sent to this process."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import pytest

from deliver.config import HostSpec
from deliver.errors import Interrupted
from deliver.transport.fanout import fan_out
from deliver.transport.interrupts import Abandoned, active, watching_interrupts


@dataclass
class Item:
    name: str
    host: HostSpec | None = None


def test_the_first_ctrl_c_is_acknowledged_at_once_and_the_work_in_flight_finishes() -> None:
    said: list[tuple[float, str]] = []
    finished: list[str] = []

    def work(item: Item) -> str:
        time.sleep(0.6)
        finished.append(item.name)
        return item.name

    def interrupt_soon() -> None:
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    with watching_interrupts(lambda text: said.append((time.monotonic(), text))) as watch:
        threading.Thread(target=interrupt_soon).start()
        sent = time.monotonic() + 0.2
        results = fan_out("switch", [Item("web1"), Item("web2")], work)
        assert watch.stopping
    assert results == {"web1": "web1", "web2": "web2"}
    assert sorted(finished) == ["web1", "web2"]
    ((when, text),) = said
    assert text == "finishing the switch on 2 hosts; Ctrl-C again to abandon"
    assert when - sent < 0.3  # at once, not when the hosts are done
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert active() is None


def test_after_the_first_ctrl_c_no_host_starts_an_interruptible_phase() -> None:
    with watching_interrupts(lambda text: None) as watch:
        os.kill(os.getpid(), signal.SIGINT)
        assert watch.stopping
        with pytest.raises(Interrupted, match="the restart was not started on web1, web2"):
            fan_out("restart", [Item("web1"), Item("web2")], lambda item: item.name)
        # a revert still runs
        assert fan_out("switch back", [Item("web1")], lambda i: i.name, interruptible=False) == {
            "web1": "web1"
        }


def test_the_second_ctrl_c_abandons_without_waiting_for_the_hosts() -> None:
    release = threading.Event()

    def work(item: Item) -> None:
        release.wait(10)

    def interrupt_twice() -> None:
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    started = time.monotonic()
    with pytest.raises(Abandoned), watching_interrupts(lambda text: None):
        threading.Thread(target=interrupt_twice).start()
        fan_out("restart", [Item("web1")], work)
    assert time.monotonic() - started < 2
    release.set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
