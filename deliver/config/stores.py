"""`release_store:` and `s3:` of the .deliver file: a local path, `[user@]host:path`,
`ssh://[user@]host[:port]/path` or `s3://bucket/prefix` with its S3 settings."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from deliver.config.model import (
    S3_ADDRESSING_STYLES,
    HostSpec,
    S3StoreSpec,
    SshStoreSpec,
    StoreSpec,
)
from deliver.config.values import ValueReader

#: scp-style `[user@]host:path`: a colon before any slash (as scp and rsync decide).
_SCP_STYLE = re.compile(r"^(?P<host>[^/:\s]+):(?P<path>.*)$")

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")

#: Bucket names as S3 allows them (3-63 lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

_HTTP_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


class StoreReader(ValueReader):
    """The release store's part of the reader."""

    def release_store(self, value: Any, s3: S3StoreSpec) -> StoreSpec:
        """A local path, `[user@]host:path`, `ssh://[user@]host[:port]/path` or `s3://...`."""
        key = ("release_store",)
        text = self.string(value, key)
        scheme = _SCHEME.match(text)
        if scheme is None:
            scp = _SCP_STYLE.match(text)
            return self.ssh_store(scp["host"], scp["path"], text) if scp else self.path(text, key)
        if scheme["scheme"] == "s3":
            return self.s3_store(text, s3)
        if scheme["scheme"] == "ssh":
            return self.ssh_store_url(text)
        raise self.fail(
            key,
            f"unsupported scheme {scheme['scheme']}:// "
            "(expected a local path, [user@]host:path, ssh:// or s3://)",
        )

    def ssh_store(self, host: str, path: str, text: str) -> SshStoreSpec:
        key = ("release_store",)
        if not path.strip():
            raise self.fail(key, f'expected "[user@]host:path" with a path after ":", got {text!r}')
        try:
            spec = HostSpec.parse(host)
        except ValueError:
            raise self.fail(key, f'expected "[user@]host:path", got {text!r}') from None
        path = path.strip()
        if not path.startswith(("/", "~/")) and path != "~":
            path = "~/" + path
        return SshStoreSpec(spec, path.rstrip("/") or "/")

    def ssh_store_url(self, text: str) -> SshStoreSpec:
        expected = f'expected "ssh://[user@]host[:port]/path", got {text!r}'
        try:
            url = urlsplit(text)
            port = url.port
        except ValueError:
            raise self.fail(("release_store",), expected) from None
        if not url.hostname or url.path in ("", "/") or url.query or url.fragment:
            raise self.fail(("release_store",), expected)
        # ssh://host/~/path is a path in the login home, as git reads it
        path = url.path[1:] if url.path.startswith("/~") else url.path
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        user = f"{url.username}@" if url.username else ""
        return self.ssh_store(user + host + (f":{port}" if port else ""), path, text)

    def s3_store(self, text: str, settings: S3StoreSpec) -> S3StoreSpec:
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not _BUCKET.match(bucket):
            raise self.fail(
                ("release_store",),
                'expected "s3://bucket[/prefix]" with a bucket name of 3-63 lowercase letters, '
                f"digits, dots and hyphens, got {text!r}",
            )
        return replace(settings, bucket=bucket, prefix=prefix.strip("/"))

    def s3(self, value: Any) -> S3StoreSpec:
        """The `s3:` settings, checked even while the store is elsewhere (a typo waits)."""
        data = self.mapping(value, ("s3",))
        self.reject_unknown(
            data, ("s3",), {"endpoint_url", "region", "profile", "addressing_style"}
        )
        values = {
            name: None if data.get(name) is None else self.string(data[name], ("s3", name))
            for name in ("endpoint_url", "region", "profile", "addressing_style")
        }
        endpoint, style = values["endpoint_url"], values["addressing_style"]
        if endpoint is not None and not _HTTP_URL.match(endpoint):
            raise self.fail(
                ("s3", "endpoint_url"), f'expected "http(s)://host[:port]", got {endpoint!r}'
            )
        if style is not None and style not in S3_ADDRESSING_STYLES:
            raise self.fail(
                ("s3", "addressing_style"),
                f"expected one of {', '.join(S3_ADDRESSING_STYLES)}, got {style!r}",
            )
        return S3StoreSpec(
            bucket="",
            endpoint_url=endpoint.rstrip("/") if endpoint else None,
            region=values["region"],
            profile=values["profile"],
            addressing_style=style,
        )
