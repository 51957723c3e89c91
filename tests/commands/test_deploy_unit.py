from __future__ import annotations

import os
import signal

import pytest

from deliver.transport.fanout import interrupts_deferred


def test_ctrl_c_during_the_switch_is_raised_only_after_it() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
