"""Elixir's built-in `mix release` (Elixir >= 1.9).

Never calls `mix local.hex` / `mix local.rebar`: they download, and apps without hex
dependencies build offline without them.

mix has no hot upgrades of its own; deliver does what Distillery did, with OTP's tools: the
two releases are unpacked side by side, appups go into the new app's ebin, `systools:make_relup`
writes the relup, and the upgrade archive is the new release plus its relup. On a host the
release handler is driven through `bin/<app> rpc` (see `install`).
"""

from __future__ import annotations

from pathlib import Path

from deliver.config import BuildConfig
from deliver.shell import elixir_string, join, quote
from deliver.tools import (
    UPGRADE_DIR,
    BuildStep,
    BuildTool,
    HotUpgrades,
    NodeAddress,
    NodeCommands,
    UpgradeBuilder,
    UpgradeWork,
    VersionSource,
)

#: mix.exs keeps the version as `version: "1.2.3"` in project/0, or in `@version "1.2.3"`
#: (then project/0 says `version: @version`, which the first pattern does not match).
MIX_VERSION = (
    VersionSource("mix.exs", r'\bversion:\s*"([^"]+)"'),
    VersionSource("mix.exs", r'@version\s+"([^"]+)"'),
)


#: Shell: what `mix deps.get` depends on: mix.lock, the mix.exs files (deps are declared there,
#: path deps only there) and each entry of deps/ with its mtime.
_DEPS_STATE = (
    "{ cat mix.lock mix.exs apps/*/mix.exs 2>/dev/null; "
    "find deps -mindepth 1 -maxdepth 1 -printf '%f %T@\\n' 2>/dev/null | sort; } | sha256sum"
)
_DEPS_SEEN = "_build/deliver/deps.sha256"

#: Shell: `mix deps.get`, unless none of what it depends on changed since it last ran in this
#: build directory (it boots mix, about half a second, to find nothing to do). Recorded only
#: after it succeeded; `--clean` removes _build and deps, and with them the record; a deps/
#: entry removed or added is a change.
_DEPS_GET = f"""state=$({_DEPS_STATE})
if [ "$state" = "$(cat {_DEPS_SEEN} 2>/dev/null)" ]; then
  echo "mix.lock and deps/ unchanged since the last build here: mix deps.get skipped"
else
  mix deps.get && mkdir -p _build/deliver && {_DEPS_STATE} > {_DEPS_SEEN}
fi"""


class MixTool:
    name = "mix"

    def detect(self, project_dir: Path) -> int:
        return 1 if (project_dir / "mix.exs").exists() else 0

    def build_steps(self, app: str, build: BuildConfig) -> list[BuildStep]:
        # --overwrite: without it mix asks, and on EOF silently keeps the OLD release
        named = f"mix release {quote(build.release_name(app))} --overwrite"
        if build.release is None:
            # a fresh `mix new` app configures no releases: its one default release (named
            # after the app) is built by `mix release` alone, and naming it is an error
            named = f"if grep -qw releases mix.exs; then {named}; else mix release --overwrite; fi"
        return [
            BuildStep("Fetching dependencies", _DEPS_GET, "erlang_get_and_update_deps"),
            BuildStep("Compiling", "mix compile", "erlang_clean_compile"),
            BuildStep("Generating release", named, "erlang_generate_release"),
        ]

    def release_root(self, app: str, build: BuildConfig) -> str:
        return f"_build/{build.mix_env}/rel/{build.release_name(app)}"

    def release_tarball(self, app: str, build: BuildConfig) -> None:
        return None

    def version_sources(self, build: BuildConfig) -> tuple[VersionSource, ...]:
        return MIX_VERSION

    def node_tool(self, build: BuildConfig) -> str:
        return self.name

    def upgrade_root(self, app: str, build: BuildConfig) -> str:
        return f"{UPGRADE_DIR}/unpacked"

    def relup_steps(self, app: str, build: BuildConfig, work: UpgradeWork) -> list[BuildStep]:
        root = self.upgrade_root(app, build)
        # exactly the new release's files plus the relup and the appups: the old release's
        # files, unpacked beside them for systools, stay out
        files = [f"./releases/{work.new}/relup", *(f"./{appup}" for appup in work.appups)]
        added = " ".join(quote(f) for f in files)
        listing = f"{{ tar -tzf {quote(work.new_archive)}; printf '%s\\n' {added}; }}"
        return [
            BuildStep(
                "Generating relup (systools:make_relup)",
                f'escript {quote(work.escript)} relup "$PWD"/{quote(root)} '
                f"{quote(build.release_name(app))} "
                f"{quote(work.old)} {quote(work.new)}",
            ),
            BuildStep(
                "Packing upgrade",
                f"{listing} | tar -czf {quote(work.upgrade_archive)} --no-recursion "
                f"-C {quote(root)} -T -",
            ),
        ]


#: Creates releases/RELEASES, which mix does not ship: without it the release handler works
#: from a stub, and a downgrade after a hot upgrade fails. Its paths are absolute, so it is
#: written where the release will run, before its first start.
_CREATE_RELEASES = (
    'root = System.fetch_env!("RELEASE_ROOT"); '
    'vsn = System.fetch_env!("RELEASE_VSN"); name = System.fetch_env!("RELEASE_NAME"); '
    'rel = "#{root}/releases/#{vsn}/#{name}.rel"; '
    ":ok = :release_handler.create_RELEASES(String.to_charlist(root), "
    'String.to_charlist(root <> "/releases"), String.to_charlist(rel), [])'
)

#: Runs inside the node (`bin/<app> rpc`). install_release replaces every application's env with
#: the .app env plus releases/<vsn>/sys.config, which lacks what config/runtime.exs computed at
#: boot: the config providers are run into sys.config for the install (and the file restored),
#: so no process ever sees the env without those values (a host-local sys.config symlink is put
#: back as it was). make_permanent rewrites
#: releases/start_erl.data, so a restart boots the new version.
_INSTALL = """vsn_text = @VSN@
vsn = String.to_charlist(vsn_text)
root = List.to_string(:code.root_dir())
dir = Path.join([root, "releases", vsn_text])
File.exists?(Path.join(root, "releases/RELEASES")) ||
  raise "#{root}/releases/RELEASES is missing: restart the node with deliver once"
case :release_handler.set_unpacked(String.to_charlist(Path.join(dir, @REL@)), []) do
  {:ok, ^vsn} -> :ok
  {:error, {:existing_release, ^vsn}} -> :ok
  other -> raise "set_unpacked: #{inspect(other)}"
end
sys = Path.join(dir, "sys.config")
original = File.read!(sys)
{:ok, [base]} = :file.consult(String.to_charlist(sys))
config =
  case get_in(base, [:elixir, :config_provider_init]) do
    %{providers: providers, extra_config: extra} ->
      Enum.reduce(providers, Config.Reader.merge(base, extra), fn {m, s}, acc -> m.load(acc, s) end)
    _ -> base
  end
# a host-local sys.config (link.sys_config) is a symlink: replace the link, never its target
link = case :file.read_link(String.to_charlist(sys)) do
  {:ok, target} -> target
  _ -> nil
end
File.write!(sys <> ".deliver", :io_lib.format(~c"%% coding: utf-8~n~tp.~n", [config]))
File.rename!(sys <> ".deliver", sys)
result =
  try do
    :release_handler.install_release(vsn, [{:update_paths, true}])
  after
    if link do
      File.rm!(sys)
      :ok = :file.make_symlink(link, String.to_charlist(sys))
    else
      File.write!(sys, original)
    end
  end
case result do
  {:ok, _, _} -> :ok
  other -> raise "install_release: #{inspect(other)}"
end
:ok = :release_handler.make_permanent(vsn)
IO.puts("INSTALLED=" <> vsn_text)
"""


_PERMANENT_LINE = ":ok = :release_handler.make_permanent(vsn)\n"
_INSTALLED_OK = "  {:ok, _, _} -> :ok\n"
_CONTINUES = "  {:continue_after_restart, _, _} -> :ok\n"

#: Evaluated by the node that came back after a restart_emulator install.
_PERMANENT = """vsn_text = @VSN@
case :release_handler.make_permanent(String.to_charlist(vsn_text)) do
  :ok -> IO.puts("PERMANENT=" <> vsn_text)
  other -> raise "make_permanent: #{inspect(other)}"
end
"""


#: Runs inside the node (`bin/<app> rpc`) once the upgrade's files are staged: the release
#: handler learns the release (set_unpacked, as _INSTALL does), then the relup must have an
#: entry for what the node runs and check_install_release must pass. Nothing is installed.
_CHECK = """vsn_text = @VSN@
vsn = String.to_charlist(vsn_text)
root = List.to_string(:code.root_dir())
dir = Path.join([root, "releases", vsn_text])
case :release_handler.set_unpacked(String.to_charlist(Path.join(dir, @REL@)), []) do
  {:ok, ^vsn} -> :ok
  {:error, {:existing_release, ^vsn}} -> :ok
  other -> raise "set_unpacked: #{inspect(other)}"
end
releases = :release_handler.which_releases()
running = Enum.find(releases, &(elem(&1, 3) == :current)) ||
  Enum.find(releases, &(elem(&1, 3) == :permanent))
running = elem(running, 1)
case :file.consult(String.to_charlist(Path.join(dir, "relup"))) do
  {:ok, [{^vsn, up, _down}]} ->
    List.keymember?(up, running, 0) ||
      raise "the relup of #{vsn_text} has no entry for #{running} (it upgrades from " <>
        "#{Enum.map_join(up, ", ", &elem(&1, 0))})"
  other -> raise "#{dir}/relup: #{inspect(other)}"
end
case :release_handler.check_install_release(vsn) do
  {:ok, _, _} -> IO.puts("CHECKED=" <> vsn_text)
  other -> raise "check_install_release: #{inspect(other)}"
end
"""


#: The release's version, not an application's: in an umbrella they differ (the release has the
#: umbrella's version, and its name may be no application's or an app of another version).
#: $RELEASE_VSN stays the boot version after a hot upgrade, so a node with the release handler
#: (sasl, which hot upgrades need) answers from it: the installed-not-yet-permanent release
#: (`current`) runs if there is one, else the permanent one.
_RUNNING_VERSION = """vsn =
  if Process.whereis(:release_handler) do
    releases = :release_handler.which_releases()
    running = Enum.find(releases, &(elem(&1, 3) == :current)) ||
      Enum.find(releases, &(elem(&1, 3) == :permanent))
    running && List.to_string(elem(running, 1))
  end
IO.puts(vsn || System.fetch_env!("RELEASE_VSN"))"""


#: Evaluates `expr` inside the node as `bin/<app> rpc` would, with what it prints captured
#: (its group leader a StringIO for the time it runs) instead of going to the node's log.
_CAPTURED_EVAL = """{:ok, io} = StringIO.open("")
leader = Process.group_leader()
Process.group_leader(self(), io)
result =
  try do
    Code.eval_string(expr)
    :ok
  rescue
    error -> {:error, Exception.format(:error, error, __STACKTRACE__)}
  catch
    kind, reason -> {:error, Exception.format(kind, reason, __STACKTRACE__)}
  after
    Process.group_leader(self(), leader)
  end
{_, output} = StringIO.contents(io)
StringIO.close(io)
{result, output}"""


class MixNode:
    """mix's start script: `daemon` starts in the background, `pid` answers when the node is up."""

    language = "elixir"
    captured_eval = _CAPTURED_EVAL

    def prepare(self, app: str) -> str:
        # a release that cannot even evaluate this (say, a broken vm.args) fails to start the
        # same way, and is reported from its log; without RELEASES a hot upgrade refuses later
        create = f"bin/{quote(app)} eval {quote(_CREATE_RELEASES)} >/dev/null 2>&1"
        return f"{{ [ -f releases/RELEASES ] || {create} || true; }}"

    def daemon(self, app: str) -> str:
        return join(self.prepare(app), f"bin/{quote(app)} daemon")

    def alive(self, app: str) -> str:
        # `pid` answers while the VM boots, before (and even if never) the app starts: a node
        # is up when its boot script has finished and the app is started (an umbrella
        # release's name is no application: then the finished boot is enough), and then
        # this prints the OS pid
        check = (
            "if :init.get_status() == {:started, :started} and "
            f"(Application.spec(:{app}) == nil or "
            f"List.keymember?(Application.started_applications(), :{app}, 0)), "
            f'do: IO.puts(System.pid()), else: raise "{app} is not started"'
        )
        return f"bin/{quote(app)} rpc {quote(check)}"

    def stop(self, app: str) -> str:
        return f"bin/{quote(app)} stop"

    def running_version(self, app: str) -> str:
        return f"bin/{quote(app)} rpc {quote(_RUNNING_VERSION)}"

    def rpc(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} rpc {quote(expression)}"

    def eval(self, app: str, expression: str) -> str:
        return f"bin/{quote(app)} eval {quote(expression)}"

    def log_files(self) -> str:
        return "erlang.log.*"

    def log_to(self, log_dir: str) -> str:
        # run_erl logs into $RELEASE_TMP/log (default: the release's tmp/log), and
        # RELEASE_TMP also holds the pipes and runtime configs: only tmp/log becomes a link to
        # the kept directory (a real tmp/log from an older start is moved aside, never into)
        return join(
            "mkdir -p tmp",
            "if [ -d tmp/log ] && [ ! -L tmp/log ]; then mv -T tmp/log tmp/log.old.$$; fi",
            f"ln -sfn {log_dir} tmp/log",
        )

    def foreground(self, app: str) -> str:
        return f"bin/{quote(app)} start"

    def node_address(self, app: str) -> str:
        # what bin/<app> computes before it starts or reaches the node (env.sh may set the
        # distribution and name, and may test RELEASE_COMMAND); in a subshell, so an `exit`
        # in env.sh ends only it, and with env.sh's own output kept out of the answer
        return f"""(
RELEASE_ROOT=$(pwd -P); RELEASE_NAME="${{RELEASE_NAME:-{quote(app)}}}"
[ -n "${{RELEASE_VSN:-}}" ] || read -r _erts RELEASE_VSN _ < releases/start_erl.data
RELEASE_COMMAND=rpc
export RELEASE_ROOT RELEASE_NAME RELEASE_VSN RELEASE_COMMAND
. "releases/$RELEASE_VSN/env.sh" >/dev/null 2>&1 </dev/null
echo DIST="${{RELEASE_DISTRIBUTION:-sname}}"
echo NODE="${{RELEASE_NODE:-$RELEASE_NAME}}"
echo COOKIE-FOLLOWS
if [ -n "${{RELEASE_COOKIE:-}}" ]; then printf '%s' "$RELEASE_COOKIE"; else cat releases/COOKIE; fi
)"""

    def stage_upgrade(self, app: str, archive: str, version: str) -> str:
        # --skip-old-files: start_erl.data, COOKIE, bin/ and RELEASES of the running release
        # stay as they are (a restart must not boot the new version unless it was installed);
        # as root too, the archive's owners and modes are not taken (see host/unpack.py)
        return (
            f"tar -xzf {quote(archive)} --skip-old-files --no-same-owner --no-same-permissions -C ."
        )

    def check_install(self, app: str, version: str) -> str:
        return f"bin/{quote(app)} rpc {quote(self.check_code(app, version))}"

    def install(self, app: str, version: str, upgrade: bool) -> str:
        return f"bin/{quote(app)} rpc {quote(self.install_code(app, version))}"

    def install_code(self, app: str, version: str) -> str:
        # the version and the .rel name enter the code as string literals, never as code
        script = _INSTALL.replace("@VSN@", elixir_string(version))
        return script.replace("@REL@", elixir_string(f"{app}.rel"))

    def check_code(self, app: str, version: str) -> str:
        script = _CHECK.replace("@VSN@", elixir_string(version))
        return script.replace("@REL@", elixir_string(f"{app}.rel"))

    def restart_codes(self, app: str, version: str) -> tuple[str, str]:
        # permanent only once the new node answers: made on the old one, a node that does
        # not come back would boot the new version at its next start too
        install = self.install_code(app, version)
        assert _PERMANENT_LINE in install and _INSTALLED_OK in install
        # restart_new_emulator answers continue_after_restart (then reboots): no failure
        install = install.replace(_INSTALLED_OK, _INSTALLED_OK + _CONTINUES)
        return install.replace(_PERMANENT_LINE, ""), _PERMANENT.replace(
            "@VSN@", elixir_string(version)
        )


TOOL: BuildTool = MixTool()
NODE: NodeCommands = MixNode()
DIST: NodeAddress = MixNode()
UPGRADE: UpgradeBuilder = MixTool()
HOT: HotUpgrades = MixNode()
