"""Custom tasks for `deliver run` (copy this file to your app's repo as deliver_tasks.py).

Each task gets `c`, a fabric Connection to one host on deliver's own SSH connection (no second
login, host keys checked as deliver checks them), and `c.deliver`: the app, environment, host,
deliver_to, the current release, the host's env from .deliver and deliver's output.

    deliver run --list
    deliver run warm_cache production -- --paths=/,/products
    deliver run disk_usage production --host web1

or from a hook in .deliver:  hooks: {post_start: {task: warm_cache}}
"""

import io
import shlex

from fabric import task


@task
def warm_cache(c, paths="/"):
    """Ask the app on each host for PATHS (comma-separated), so first visitors hit a warm cache."""
    port = c.deliver.env.get("PORT", "4000")
    wanted = [path.strip() for path in paths.split(",") if path.strip()]
    # the list travels as a file (c.put), so no path is ever part of a command line
    listing = f"{c.deliver.deliver_to}/warm_cache.paths"
    c.put(io.BytesIO("".join(f"{path}\n" for path in wanted).encode()), listing)
    c.run(
        f"while read -r path; do "
        f"curl -fsS -o /dev/null -w '%{{http_code}} %{{url_effective}}\\n' "
        f'"http://127.0.0.1:{shlex.quote(port)}$path" || exit 1; '
        f"done < {shlex.quote(listing)}"
    )
    c.deliver.out.info(f"{c.deliver.host}: warmed {len(wanted)} path(s) of {c.deliver.current}")


@task
def disk_usage(c):
    """Show how much space the releases take on each host."""
    with c.cd(c.deliver.deliver_to):
        c.run("du -sh releases; df -h . | tail -n 1")
