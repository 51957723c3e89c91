"""deliver: build, deploy and hot-upgrade Elixir and Erlang releases over SSH."""

__version__ = "0.1.0"
