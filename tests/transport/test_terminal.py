"""The local terminal's settings are restored however an interactive session ends."""

from __future__ import annotations

import os
import termios

import pytest

from deliver.transport.terminal import _raw


def test_raw_mode_is_undone_on_exit_and_on_ctrl_c() -> None:
    leader, follower = os.openpty()
    try:
        before = termios.tcgetattr(follower)
        with _raw(follower, True):
            assert termios.tcgetattr(follower) != before  # raw: no echo, no line editing
        assert termios.tcgetattr(follower) == before
        with pytest.raises(KeyboardInterrupt), _raw(follower, True):
            raise KeyboardInterrupt
        assert termios.tcgetattr(follower) == before
    finally:
        os.close(leader)
        os.close(follower)
