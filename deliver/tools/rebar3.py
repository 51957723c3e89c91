"""rebar3 with relx (rebar3 >= 3.14, relx 4), extended start script.

The build's profile is `build.mix_env` (default prod): `rebar3 as prod release` assembles into
`_build/prod/rel/<rel>`, which is what the default clean_paths remove before every build. A
project without a prod profile builds the same as its default profile.

Hot upgrades are rebar3's own: the old release is unpacked beside the new one in the rel
directory, appups are put where rebar3 reads them (`_build/<profile>/lib/<app>/ebin/`, which it
copies into the release; rebar3 3.19 ignores `src/*.appup.src`), then `rebar3 relup` (from
several old versions, systools:make_relup: `rebar3 relup -u` takes one) and `rebar3 tar`. On
a host, the node itself is asked over its distribution to do what relx's
`bin/<rel> unpack|upgrade|downgrade <vsn>` would from a second VM (which stays the fallback).
"""

from __future__ import annotations

from pathlib import Path

from deliver.config import BuildConfig
from deliver.shell import erlang_string, join, quote
from deliver.tools import (
    BuildStep,
    BuildTool,
    HotUpgrades,
    NodeAddress,
    NodeCommands,
    UpgradeBuilder,
    UpgradeWork,
    VersionSource,
)
from deliver.tools import _relx_hot as relx_hot

#: rebar3 colours its output even when it is not a terminal.
_REBAR3 = "REBAR_COLOR=none rebar3"


#: the release's version in rebar.config: {release, {name, "1.2.3"}, ...}
REBAR3_VERSION = (
    VersionSource("rebar.config", r"\{\s*release\s*,\s*\{\s*'?\w+'?\s*,\s*\"([^\"]+)\""),
)


class Rebar3Tool:
    name = "rebar3"

    def detect(self, project_dir: Path) -> int:
        # a mix project may carry a rebar.config too: on a tie, mix (sorted first) wins
        return 1 if (project_dir / "rebar.config").exists() else 0

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        profile = quote(build.mix_env)
        # rebar3 never removes an appup it once copied into _build: a stale one would be used
        # for the next upgrade, so the project's appups are copied afresh by every compile
        stale_appups = (
            f'for a in {quote(app)} $(ls apps 2>/dev/null); do rm -f "_build/{build.mix_env}'
            f'/lib/$a/ebin/$a.appup"; done'
        )
        return [
            BuildStep(
                "Fetching dependencies",
                f"{_REBAR3} as {profile} get-deps",
                "erlang_get_and_update_deps",
            ),
            BuildStep(
                "Compiling",
                join(stale_appups, f"{_REBAR3} as {profile} compile"),
                "erlang_clean_compile",
            ),
            # relx adds to an existing rel directory: start from an empty one so the release
            # holds exactly one version
            BuildStep(
                "Generating release",
                join(
                    f"rm -rf {quote(self.release_root(app, build))}",
                    f"{_REBAR3} as {profile} release",
                ),
                "erlang_generate_release",
            ),
        ]

    def release_root(self, app: str, build: BuildConfig) -> str:
        return f"_build/{build.mix_env}/rel/{build.release_name(app)}"

    def release_tarball(self, app: str, build: BuildConfig) -> None:
        return None

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        return REBAR3_VERSION

    def node_tool(self, build: BuildConfig) -> str:
        return self.name

    def upgrade_root(self, app: str, build: BuildConfig) -> str:
        return self.release_root(app, build)

    def relup_steps(self, app: str, build: BuildConfig, work: UpgradeWork) -> list[BuildStep]:
        profile = quote(build.mix_env)
        root = self.release_root(app, build)
        copies = [
            f"if [ -d {quote(lib)} ]; then cp {quote(f'{root}/{appup}')} {quote(lib)}/; fi"
            for appup, lib in (
                (appup, f"_build/{build.mix_env}/lib/{_app_of(appup)}/ebin")
                for appup in work.appups
            )
        ]
        release = build.release_name(app)
        rel, old, new = quote(release), quote(work.old), quote(work.new)
        relup = BuildStep(
            "Generating relup (rebar3 relup)",
            join(*copies, f"{_REBAR3} as {profile} relup -n {rel} -v {new} -u {old}"),
        )
        if "," in work.old:
            # `rebar3 relup -u` takes one old version: systools writes the relup from each
            # (all unpacked in the rel dir), and `rebar3 tar` packs it as its own
            relup = BuildStep(
                "Generating relup (systools:make_relup)",
                join(
                    *copies,
                    f'escript {quote(work.escript)} relup "$PWD"/{quote(root)} {rel} {old} {new}',
                ),
            )
        return [
            relup,
            BuildStep(
                "Packing upgrade (rebar3 tar)",
                join(
                    f"{_REBAR3} as {profile} tar -n {rel} -v {new}",
                    f"cp {quote(f'{root}/{release}-{work.new}.tar.gz')} "
                    f"{quote(work.upgrade_archive)}",
                ),
            ),
        ]


def _terminated(expression: str) -> str:
    """relx's eval wants a full stop at the end."""
    expression = expression.strip()
    return expression if expression.endswith(".") else expression + "."


def _app_of(appup: str) -> str:
    """`lib/my_app-1.2.0/ebin/my_app.appup` -> `my_app`."""
    return appup.rsplit("/", 1)[-1].removesuffix(".appup")


#: Evaluates `Expr` inside the node and answers its value as relx's `eval` prints it; deliver's
#: own code for the node (the hot upgrade's calls) answers {'$printed', Text}: Text as is.
_CAPTURED_EVAL = """begin
  {ok, Tokens, _} = erl_scan:string(Expr),
  {ok, Exprs} = erl_parse:parse_exprs(Tokens),
  try erl_eval:exprs(Exprs, []) of
    {value, {'$printed', Printed}, _} when is_binary(Printed) -> {ok, Printed};
    {value, Value, _} -> {ok, unicode:characters_to_binary(io_lib:format("~p~n", [Value]))}
  catch
    Class:Reason:Stack ->
      Text = io_lib:format("~p:~p~n~p~n", [Class, Reason, Stack]),
      {{error, unicode:characters_to_binary(Text)}, <<>>}
  end
end."""


#: Evaluated in the node (relx `eval`) once the release is unpacked: the relup has an entry
#: for what the node runs and check_install_release passes; prints `checked`, else an error.
_CHECK = """Vsn = @VSN@,
Rels = release_handler:which_releases(),
Running = case lists:keyfind(current, 4, Rels) of
    false -> element(2, lists:keyfind(permanent, 4, Rels));
    Current -> element(2, Current)
end,
Relup = filename:join([code:root_dir(), "releases", Vsn, "relup"]),
case file:consult(Relup) of
    {ok, [{Vsn, Up, _}]} ->
        case lists:keymember(Running, 1, Up) of
            false -> {error, {no_relup_entry_for, Running, [element(1, E) || E <- Up]}};
            true ->
                case release_handler:check_install_release(Vsn) of
                    {ok, _, _} -> checked;
                    Other -> {error, {check_install_release, Other}}
                end
        end;
    Other -> {error, {Relup, Other}}
end"""


class Rebar3Node:
    """relx's extended start script. Its `eval` runs inside the node and exits 0 even when the
    code fails (printing `{error, ...}`), so every answer is checked for its expected shape."""

    language = "erlang"
    captured_eval = _CAPTURED_EVAL

    def prepare(self, app: str) -> str:
        return ":"  # the release ships what its release handler needs

    def daemon(self, app: str) -> str:
        # relx keeps run_erl pipes in /tmp/erl_pipes/<node> unless told otherwise: shared by
        # every node of that name on the machine. `daemon` waits forever for a VM that died
        # before its distribution came up, hence the timeout.
        return join(
            'export PIPE_DIR="${PIPE_DIR:-$(pwd -P)/tmp/pipe/}"',
            f"timeout 60 bin/{quote(app)} daemon",
        )

    def alive(self, app: str) -> str:
        check = (
            f"case lists:keymember({app}, 1, application:which_applications()) of "
            "true -> list_to_integer(os:getpid()); false -> not_started end."
        )
        return (
            f"out=$(bin/{quote(app)} eval {quote(check)}) && "
            'case "$out" in \'\'|*[!0-9]*) false;; *) echo "$out";; esac'
        )

    def stop(self, app: str) -> str:
        return f"bin/{quote(app)} stop"

    def running_version(self, app: str) -> str:
        check = f"element(2, application:get_key({app}, vsn))."
        return (
            f"out=$(bin/{quote(app)} eval {quote(check)}) && "
            'case "$out" in \'"\'*\'"\') echo "$out" | tr -d \'"\';; *) false;; esac'
        )

    def rpc(self, app: str, expression: str) -> str:
        # `eval` prints the expression's value; a failure is a printed {error, ...}/{badrpc, ...}
        return (
            f"out=$(bin/{quote(app)} eval {quote(_terminated(expression))}) && "
            'case "$out" in "{error,"*|"{badrpc,"*) printf \'%s\\n\' "$out" >&2; false;; '
            "*) printf '%s\\n' \"$out\";; esac"
        )

    def eval(self, app: str, expression: str) -> str:
        # relx has no offline eval: boot the release's own erts with start_clean and its code
        body = expression.strip().removesuffix(".")
        code = (
            f"try begin {body} end of _ -> halt(0) catch C:R:S -> "
            'io:format(standard_error, "~p:~p~n~p~n", [C, R, S]), halt(1) end.'
        )
        return (
            "vsn=$(cut -d' ' -f2 releases/start_erl.data) && "
            "erts=$(cut -d' ' -f1 releases/start_erl.data) && "
            'erts-"$erts"/bin/erl -noshell -boot "$PWD/releases/$vsn/start_clean" '
            f"-pa lib/*/ebin -eval {quote(code)}"
        )

    def log_files(self) -> str:
        return "erlang.log.*"

    def log_to(self, log_dir: str) -> str:
        return f"export RUNNER_LOG_DIR={log_dir}"

    def foreground(self, app: str) -> str:
        return f"bin/{quote(app)} foreground"

    def node_address(self, app: str) -> str:
        # what relx's start script reads: the first -name/-sname of vm.args, the cookie from
        # RELX_COOKIE, vm.args' -setcookie or ~/.erlang.cookie, ERL_DIST_PORT for a node
        # started without epmd
        return """vsn=$(cut -d' ' -f2 releases/start_erl.data)
args="${VMARGS_PATH:-releases/$vsn/vm.args}"
name=$(grep -E '^-s?name[[:space:]]' "$args" | head -n 1)
echo DIST=$(printf '%s' "$name" | awk '{print substr($1, 2)}')
echo NODE=$(printf '%s' "$name" | awk '{print $2}')
echo DIST_PORT="${ERL_DIST_PORT:-}"
echo COOKIE-FOLLOWS
if [ -n "${RELX_COOKIE:-}" ]; then printf '%s' "$RELX_COOKIE"
elif grep -qE '^-setcookie[[:space:]]' "$args"; then
  grep -E '^-setcookie[[:space:]]' "$args" | head -n 1 | awk '{print $2}'
else cat "$HOME/.erlang.cookie"; fi"""

    def stage_upgrade(self, app: str, archive: str, version: str) -> str:
        # where install_upgrade.escript looks for the package of <version>
        return f"cp {quote(archive)} releases/{quote(f'{app}-{version}.tar.gz')}"

    def check_install(self, app: str, version: str) -> str:
        # relx's `unpack` unpacks releases/<app>-<vsn>.tar.gz (and says so when it was
        # already); `upgrade` then goes on from the unpacked release
        check = _CHECK.replace("@VSN@", erlang_string(version))
        return join(
            f"bin/{quote(app)} unpack {quote(version)}",
            f"{self.rpc(app, check)} | grep -qx checked",
            f"echo CHECKED={quote(version)}",
        )

    def install_code(self, app: str, version: str) -> str:
        # the version and the release name enter the code as string literals, never as code
        return relx_hot.install_code(app, version)

    def check_code(self, app: str, version: str) -> str:
        return relx_hot.check_code(app, version)

    def restart_codes(self, app: str, version: str) -> None:
        # not done for relx yet: deliver has no start program (bin/start) that boots the
        # version the release handler names with relx's start script
        return None

    def install(self, app: str, version: str, upgrade: bool) -> str:
        # exits 0 on some failures: success is the line it prints after make_permanent
        command = "upgrade" if upgrade else "downgrade"
        return f"""out=$(bin/{quote(app)} {command} {quote(version)} 2>&1); status=$?
echo "$out"
case "$out" in
  *"Made release permanent"*) [ $status -eq 0 ] && echo INSTALLED={quote(version)} ;;
  *) false ;;
esac"""


TOOL: BuildTool = Rebar3Tool()
NODE: NodeCommands = Rebar3Node()
DIST: NodeAddress = Rebar3Node()
UPGRADE: UpgradeBuilder = Rebar3Tool()
HOT: HotUpgrades = Rebar3Node()
