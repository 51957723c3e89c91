"""`build:` of the .deliver file: the build host, the tool and how it builds."""

from __future__ import annotations

import re
from typing import Any

from deliver.config.grammar import parse_auto_version
from deliver.config.model import BuildConfig, CustomBuild
from deliver.config.values import Key, ValueReader
from deliver.tools import available_tools

BUILD_KEYS = {
    "host",
    "at",
    "tool",
    "mix_env",
    "branch",
    "env",
    "clean_paths",
    "release",
    "auto_version",
    "custom",
}
_RELEASE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class BuildReader(ValueReader):
    """The build section's part of the reader."""

    def build(self, value: Any) -> BuildConfig:
        data = self.mapping(value, ("build",))
        self.reject_unknown(data, ("build",), BUILD_KEYS)
        if "host" not in data:
            raise self.fail(("build", "host"), "required: the build host's address")
        tool = self.build_tool(data.get("tool", "auto"))
        custom = None if data.get("custom") is None else self.custom(data["custom"])
        if (tool == "custom") != (custom is not None):
            raise self.fail(
                ("build", "custom"),
                "required with tool: custom (and only then): the build command and its output",
            )
        branch = data.get("branch")
        return BuildConfig(
            host=self.host(data["host"], ("build", "host")),
            at=self.remote_dir(data.get("at", "~/deliver-build"), ("build", "at")),
            tool=tool,
            mix_env=self.mix_env(data.get("mix_env", "prod"), ("build", "mix_env")),
            branch=None if branch is None else self.name(branch, ("build", "branch")),
            env=self.env(data.get("env", {}), ("build", "env")),
            clean_paths=self.clean_paths(data.get("clean_paths", list(BuildConfig.clean_paths))),
            release=self.release_name(data.get("release")),
            auto_version=self.auto_version(data.get("auto_version")),
            custom=custom,
        )

    def build_tool(self, value: Any) -> str:
        tool = self.string(value, ("build", "tool"))
        tools = ("auto", *available_tools())
        if tool not in tools:
            raise self.fail(("build", "tool"), f"expected one of {', '.join(tools)}, got {tool!r}")
        return tool

    def auto_version(self, value: Any) -> str | None:
        if value is None:
            return None
        text = self.string(value, ("build", "auto_version"))
        try:
            parse_auto_version(text)
        except ValueError as error:
            raise self.fail(("build", "auto_version"), str(error)) from None
        return text

    def release_name(self, value: Any) -> str | None:
        if value is None:
            return None
        release = self.string(value, ("build", "release"))
        if not _RELEASE_NAME.fullmatch(release):
            raise self.fail(
                ("build", "release"), f"expected a release name like my_app, got {release!r}"
            )
        return release

    def clean_paths(self, value: Any) -> tuple[str, ...]:
        # removed with rm -rf in the build directory: never a path outside it
        return self.relative_paths(value, ("build", "clean_paths"), "the build directory")

    def custom(self, value: Any) -> CustomBuild:
        key: Key = ("build", "custom")
        data = self.mapping(value, key)
        self.reject_unknown(data, key, {"command", "release_dir", "tarball", "release_type"})
        if "command" not in data:
            raise self.fail((*key, "command"), "required: the command that builds the release")
        if ("release_dir" in data) == ("tarball" in data):
            raise self.fail(key, "set one of release_dir (the assembled release) or tarball")
        output = {
            name: self.string(data[name], (*key, name))
            for name in ("release_dir", "tarball")
            if name in data
        }
        release_type = self.string(data.get("release_type", "mix"), (*key, "release_type"))
        if release_type in ("custom", "auto"):
            raise self.fail(
                (*key, "release_type"), "expected the tool whose start script the release has"
            )
        return CustomBuild(
            command=self.string(data["command"], (*key, "command")),
            release_type=release_type,
            **output,
        )
