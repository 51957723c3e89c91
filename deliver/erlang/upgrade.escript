#!/usr/bin/env escript
%% deliver's build-host helper for hot upgrades. Run from any directory; paths are absolute.
%%
%%   appups Root Rel Olds New UserDir
%%       Olds is one version or several, comma-separated (an upgrade from any of them). For
%%       every application whose version differs between releases/Old/Rel.rel and
%%       releases/New/Rel.rel (all unpacked under Root), write lib/App-NewVsn/ebin/App.appup
%%       with one entry per old version, each taken from, in this order: the user's pair file
%%       UserDir/App/OldVsn-NewVsn.appup, the user's UserDir/App.appup (when it is the appup of
%%       NewVsn and has an entry for OldVsn), the appup the release already holds (same rule),
%%       or generated from the .beam files.
%%       Prints "appup App OldVsn NewVsn pair|user|release|generated" per pair, the written
%%       appups that hold a generated entry, "stale App File FileVsn" for a user's App.appup of
%%       another version (not used), "nif App File" for a changed native library, "supervisor
%%       App Module" for a supervisor (or application callback module) whose tree function
%%       changed (init/1; start/2), and "protocol
%%       Module" for every consolidated protocol that differs (Elixir: not hot-upgraded).
%%   relup Root Rel Olds New
%%       systools:make_relup from each of Olds to New (and back) -> Root/releases/New/relup.
%%   pairs Root OutDir App,OldVsn,NewVsn...
%%       Split each App's appup in Root/lib/App-NewVsn/ebin into one file per pair:
%%       OutDir/App/OldVsn-NewVsn.appup, the form of a user's per-pair appup.
%%
%% Exit status 1 with "error: ..." on stderr when something is wrong.
-mode(compile).

main(["appups", Root, Rel, Olds, New, UserDir]) ->
    NewApps = rel_apps(Root, Rel, New),
    Pairs = [{App, OldVsn, Vsn, Old}
             || Old <- versions(Olds),
                OldApps <- [rel_apps(Root, Rel, Old)],
                {App, Vsn} <- lists:sort(maps:to_list(NewApps)),
                maps:is_key(App, OldApps),
                OldVsn <- [maps:get(App, OldApps)], OldVsn =/= Vsn],
    Apps = lists:usort([{App, Vsn} || {App, _, Vsn, _} <- Pairs]),
    lists:foreach(fun({App, Vsn}) ->
                          Olders = lists:usort([O || {A, O, _, _} <- Pairs, A =:= App]),
                          appup(Root, UserDir, App, Olders, Vsn)
                  end, Apps),
    [protocols(Root, Old, New) || Old <- versions(Olds)],
    halt(0);
main(["relup", Root, Rel, Olds, New]) ->
    ok = file:set_cwd(Root),
    R = fun(V) -> filename:join(["releases", V, Rel]) end,
    From = [R(Old) || Old <- versions(Olds)],
    Options = [{path, ["lib/*/ebin"]}, {outdir, filename:join("releases", New)}, silent],
    case systools:make_relup(R(New), From, From, Options) of
        {ok, _Relup, Mod, Warnings} ->
            [io:format("warning: ~ts", [Mod:format_warning(W)]) || W <- Warnings],
            io:format("relup ~ts~n", [filename:join([Root, "releases", New, "relup"])]),
            halt(0);
        {error, Mod, Error} ->
            fail("relup: ~ts", [Mod:format_error(Error)])
    end;
main(["pairs", Root, OutDir | Triples]) ->
    [pair_file(Root, OutDir, string:lexemes(T, ",")) || T <- Triples],
    halt(0);
main(_) ->
    fail("usage: upgrade.escript appups Root Rel Olds New UserDir | relup Root Rel Olds New"
         " | pairs Root OutDir App,OldVsn,NewVsn...", []).

pair_file(Root, OutDir, [Name, OldVsn, NewVsn]) ->
    File = filename:join([Root, "lib", Name ++ "-" ++ NewVsn, "ebin", Name ++ ".appup"]),
    {_, Up, Down} = consult_appup(File),
    Pair = {NewVsn, [{OldVsn, instructions(File, OldVsn, Up)}],
            [{OldVsn, instructions(File, OldVsn, Down)}]},
    Out = filename:join([OutDir, Name, OldVsn ++ "-" ++ NewVsn ++ ".appup"]),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, io_lib:format("~tp.~n", [Pair])).

versions(Olds) ->
    string:lexemes(Olds, ",").

rel_apps(Root, Rel, Vsn) ->
    File = filename:join([Root, "releases", Vsn, Rel ++ ".rel"]),
    case file:consult(File) of
        {ok, [{release, _, _, Apps}]} ->
            maps:from_list([{element(1, A), element(2, A)} || A <- Apps]);
        {ok, _} -> fail("~ts: not a release file", [File]);
        {error, Reason} -> fail("~ts: ~ts", [File, file:format_error(Reason)])
    end.

appup(Root, UserDir, App, OldVsns, NewVsn) ->
    Name = atom_to_list(App),
    Ebin = fun(V) -> filename:join([Root, "lib", Name ++ "-" ++ V, "ebin"]) end,
    Target = filename:join(Ebin(NewVsn), Name ++ ".appup"),
    Single = filename:join(UserDir, Name ++ ".appup"),
    User = user_appup(Single, Name, NewVsn),
    Shipped = shipped_appup(Target, NewVsn),
    Entries =
        [begin
             Pair = filename:join([UserDir, Name, OldVsn ++ "-" ++ NewVsn ++ ".appup"]),
             {Source, Up, Down} =
                 case filelib:is_regular(Pair) of
                     true -> pair_entry(Pair, OldVsn, NewVsn);
                     false -> entry(OldVsn, NewVsn, User, Shipped, Ebin)
                 end,
             io:format("appup ~ts ~ts ~ts ~ts~n", [Name, OldVsn, NewVsn, Source]),
             {Source, {OldVsn, Up}, {OldVsn, Down}}
         end || OldVsn <- OldVsns],
    Appup = {NewVsn, [U || {_, U, _} <- Entries], [D || {_, _, D} <- Entries]},
    ok = file:write_file(Target, io_lib:format("~tp.~n", [Appup])),
    lists:keymember(generated, 1, Entries)
        andalso io:format("~ts", [indent(file_text(Target))]),
    cold_reasons(Root, App, OldVsns, NewVsn).

%% The user's single-file appup: used when it is the appup of NewVsn; an appup of another
%% version is stale (reported, not used: the pair file is where this pair's appup goes).
user_appup(File, Name, NewVsn) ->
    case filelib:is_regular(File) of
        false -> none;
        true ->
            case consult_appup(File) of
                {NewVsn, Up, Down} -> {user, Up, Down};
                {Other, _, _} ->
                    io:format("stale ~ts ~ts ~ts~n", [Name, File, Other]),
                    none
            end
    end.

shipped_appup(Target, NewVsn) ->
    case filelib:is_regular(Target) of
        false -> none;
        true ->
            case consult_appup(Target) of
                {NewVsn, Up, Down} -> {release, Up, Down};
                {Other, _, _} ->
                    fail("~ts is the appup of version ~ts, but the release has ~ts",
                         [Target, Other, NewVsn])
            end
    end.

pair_entry(File, OldVsn, NewVsn) ->
    case consult_appup(File) of
        {NewVsn, Up, Down} ->
            {pair, instructions(File, OldVsn, Up), instructions(File, OldVsn, Down)};
        {Other, _, _} ->
            fail("~ts is the appup of version ~ts, but the new release has ~ts",
                 [File, Other, NewVsn])
    end.

%% The user's (then the release's) entry for OldVsn, else one generated from the beams.
entry(OldVsn, NewVsn, User, Shipped, Ebin) ->
    Found = [{Source, Up, Down} || {Source, Up, Down} <- [User, Shipped],
                                   lists:keymember(OldVsn, 1, Up),
                                   lists:keymember(OldVsn, 1, Down)],
    case Found of
        [{Source, Up, Down} | _] ->
            {Source, element(2, lists:keyfind(OldVsn, 1, Up)),
             element(2, lists:keyfind(OldVsn, 1, Down))};
        [] ->
            {Up, Down} = default_appup(Ebin(OldVsn), Ebin(NewVsn)),
            {generated, Up, Down}
    end.

instructions(File, OldVsn, Entries) ->
    case lists:keyfind(OldVsn, 1, Entries) of
        {_, Instructions} when is_list(Instructions) -> Instructions;
        _ -> fail("~ts has no entry for ~ts", [File, OldVsn])
    end.

consult_appup(File) ->
    case file:consult(File) of
        {ok, [{Vsn, Up, Down}]} when is_list(Vsn), is_list(Up), is_list(Down) -> {Vsn, Up, Down};
        {ok, _} -> fail("~ts: expected one term {NewVsn, UpFrom, DownTo}", [File]);
        {error, {Line, Mod, Term}} -> fail("~ts:~p: ~ts", [File, Line, Mod:format_error(Term)]);
        {error, Reason} -> fail("~ts: ~ts", [File, file:format_error(Reason)])
    end.

%% Added modules are added, deleted ones deleted; a changed module is updated through its
%% code_change when it has one (suspend, load, code_change, resume), as a supervisor when it
%% is one, and otherwise simply loaded. Plain modules are loaded with soft_purge after the
%% upgrade: a process still running the old code (e.g. an acceptor blocked in accept/1) is not
%% killed at make_permanent, it moves to the new code at its next fully-qualified call.
%% Each instruction names the modules of this upgrade it calls (its beam's imports), so
%% systools loads those first; the list itself is in that order too, for the reader.
default_appup(OldEbin, NewEbin) ->
    Old = beams(OldEbin),
    New = beams(NewEbin),
    Added = [M || M <- maps:keys(New), not maps:is_key(M, Old)],
    Deleted = [M || M <- maps:keys(Old), not maps:is_key(M, New)],
    Changed = [M || M <- maps:keys(New), maps:is_key(M, Old),
                    md5(maps:get(M, Old)) =/= md5(maps:get(M, New))],
    %% Up and down both use the NEW module's kind: on a downgrade the release handler calls
    %% the new module's code_change({down, Vsn}, ...) before it loads the old code.
    Instruction = fun(M, Deps) ->
        case {kind(maps:get(M, New)), Deps} of
            {supervisor, _} -> {update, M, supervisor};
            {process, []} -> {update, M, {advanced, []}};
            {process, _} -> {update, M, {advanced, []}, Deps};
            {plain, _} -> {load_module, M, brutal_purge, soft_purge, Deps}
        end
    end,
    UpLoaded = Added ++ Changed,
    DownLoaded = Deleted ++ Changed,
    UpDeps = fun(M) -> deps(maps:get(M, New), UpLoaded -- [M]) end,
    DownDeps = fun(M) -> deps(maps:get(M, Old), DownLoaded -- [M]) end,
    Up = [case lists:member(M, Added) of
              true -> {add_module, M, UpDeps(M)};
              false -> Instruction(M, UpDeps(M))
          end || M <- in_load_order(UpLoaded, UpDeps)]
        ++ [{delete_module, M} || M <- lists:sort(Deleted)],
    Down = [case lists:member(M, Deleted) of
                true -> {add_module, M, DownDeps(M)};
                false -> Instruction(M, DownDeps(M))
            end || M <- in_load_order(DownLoaded, DownDeps)]
        ++ [{delete_module, M} || M <- lists:sort(Added)],
    {[simple(I) || I <- Up], [simple(I) || I <- Down]}.

%% The short forms where there are no dependencies: what a person would write.
simple({add_module, M, []}) -> {add_module, M};
simple(I) -> I.

%% The modules among Loaded that the beam calls (its import table), sorted.
deps(File, Loaded) ->
    {ok, {_, [{imports, Imports}]}} = beam_lib:chunks(File, [imports]),
    lists:usort([M || {M, _, _} <- Imports, lists:member(M, Loaded)]).

%% Loaded sorted so that a module comes after the modules it calls (depth first, by name;
%% a cycle is broken where it is met).
in_load_order(Loaded, Deps) ->
    {Order, _} = lists:foldl(fun(M, Acc) -> visit(M, Deps, Acc) end, {[], #{}},
                             lists:sort(Loaded)),
    lists:reverse(Order).

visit(M, Deps, {Order, Seen} = Acc) ->
    case maps:is_key(M, Seen) of
        true -> Acc;
        false ->
            {Order1, Seen1} = lists:foldl(fun(D, A) -> visit(D, Deps, A) end,
                                          {Order, Seen#{M => true}}, Deps(M)),
            {[M | Order1], Seen1}
    end.

beams(Dir) ->
    maps:from_list([{list_to_atom(filename:basename(F, ".beam")), F}
                    || F <- filelib:wildcard(filename:join(Dir, "*.beam"))]).

md5(File) ->
    {ok, {_, Sum}} = beam_lib:md5(File),
    Sum.

kind(File) ->
    {Behaviours, Exports} = behaviours_and_exports(File),
    IsSupervisor = lists:member(supervisor, Behaviours)
        orelse lists:member('Elixir.Supervisor', Behaviours),
    %% gen_server and gen_event: code_change/3; gen_statem: code_change/4; a special process
    %% (sys): system_code_change/4
    HasCodeChange = lists:member({code_change, 3}, Exports)
        orelse lists:member({code_change, 4}, Exports)
        orelse lists:member({system_code_change, 4}, Exports),
    if IsSupervisor -> supervisor;
       HasCodeChange -> process;
       true -> plain
    end.

behaviours_and_exports(File) ->
    {ok, {_, [{exports, Exports}, {attributes, Attributes}]}} =
        beam_lib:chunks(File, [exports, attributes]),
    {lists:append([V || {K, V} <- Attributes, K =:= behaviour orelse K =:= behavior]), Exports}.

%% What a hot upgrade cannot do well, reported for the policy to decide: a native library
%% that changed stays loaded in its old version; a supervisor whose init/1 changed, or an
%% application callback module whose start/2 changed, may describe a different tree, which a
%% hot upgrade does not build (other changes in those modules are hot like any other).
cold_reasons(Root, App, OldVsns, NewVsn) ->
    Name = atom_to_list(App),
    Dir = fun(V) -> filename:join([Root, "lib", Name ++ "-" ++ V]) end,
    New = beams(filename:join(Dir(NewVsn), "ebin")),
    lists:foreach(
      fun(OldVsn) ->
              Nifs = fun(V) -> maps:from_list(
                                 [{filename:basename(F), erlang:md5(file_text(F))}
                                  || F <- filelib:wildcard(filename:join([Dir(V), "priv", "**",
                                                                          "*.so"]))]) end,
              OldNifs = Nifs(OldVsn),
              [io:format("nif ~ts ~ts~n", [Name, F])
               || {F, Sum} <- lists:sort(maps:to_list(Nifs(NewVsn))),
                  maps:get(F, OldNifs, none) =/= Sum],
              Old = beams(filename:join(Dir(OldVsn), "ebin")),
              [io:format("supervisor ~ts ~ts~n", [Name, M])
               || M <- lists:sort(maps:keys(New)), maps:is_key(M, Old),
                  md5(maps:get(M, Old)) =/= md5(maps:get(M, New)),
                  tree_changed(maps:get(M, Old), maps:get(M, New))]
      end, OldVsns).

%% Whether the part of a supervisor or application module that describes the tree changed:
%% the code of its tree function (tree_function/1) and of the local functions it calls.
tree_changed(OldFile, NewFile) ->
    case {tree_function(OldFile), tree_function(NewFile)} of
        {none, none} -> false;
        {Same, Same} -> tree_code(OldFile, Same) =/= tree_code(NewFile, Same);
        _ -> true  % it became, or stopped being, a supervisor or an application module
    end.

tree_function(File) ->
    {Behaviours, _} = behaviours_and_exports(File),
    Is = fun(Bs) -> lists:any(fun(B) -> lists:member(B, Behaviours) end, Bs) end,
    case {Is([supervisor, 'Elixir.Supervisor']), Is([application, 'Elixir.Application'])} of
        {true, _} -> {init, 1};
        {_, true} -> {start, 2};
        _ -> none
    end.

%% The disassembled code of Fun and of every local function it reaches, without what a change
%% elsewhere in the module shifts: line numbers and label numbers (made relative to each
%% function's first label; a local call names the function). Works on stripped beams (mix
%% releases strip debug info). A beam that cannot be read counts as changed.
tree_code(File, Fun) ->
    try beam_disasm:file(File) of
        {beam_file, Module, _, _, _, Functions} ->
            Entries = maps:from_list([{E, {N, A}} || {function, N, A, E, _} <- Functions]),
            Code = maps:from_list([{{N, A}, {E, Is}} || {function, N, A, E, Is} <- Functions]),
            reach([Fun], Module, Entries, Code, #{});
        _ -> {unreadable, File}
    catch _:_ -> {unreadable, File}
    end.

reach([], _, _, _, Seen) -> Seen;
reach([Fun | Rest], Module, Entries, Code, Seen) ->
    case {maps:is_key(Fun, Seen), maps:find(Fun, Code)} of
        {false, {ok, {Entry, Is}}} ->
            Base = lists:min([Entry | [L || {label, L} <- Is]]),
            Norm = [relative(I, Base, Entries) || I <- Is, not is_line(I)],
            Calls = lists:usort(local_calls(Norm, Module)),
            reach(Calls ++ Rest, Module, Entries, Code, Seen#{Fun => Norm});
        _ -> reach(Rest, Module, Entries, Code, Seen)
    end.

is_line(I) -> is_tuple(I) andalso lists:member(element(1, I), [line, executable_line]).

relative({literal, _} = Literal, _, _) -> Literal;
relative({f, 0}, _, _) -> {f, 0};  % no failure label
relative({f, L}, Base, Entries) when is_integer(L) ->
    case maps:find(L, Entries) of
        {ok, Fun} -> {local, Fun};
        error -> {f, L - Base}
    end;
relative({label, L}, Base, _) when is_integer(L) -> {label, L - Base};
relative(T, Base, Entries) when is_tuple(T) ->
    list_to_tuple(relative(tuple_to_list(T), Base, Entries));
relative([H | T], Base, Entries) -> [relative(H, Base, Entries) | relative(T, Base, Entries)];
relative(X, _, _) -> X.

local_calls({local, Fun}, _) -> [Fun];
local_calls({Module, F, A}, Module) when is_atom(F), is_integer(A) -> [{F, A}];
local_calls({literal, _}, _) -> [];
local_calls(T, Module) when is_tuple(T) -> local_calls(tuple_to_list(T), Module);
local_calls([H | T], Module) -> local_calls(H, Module) ++ local_calls(T, Module);
local_calls(_, _) -> [].

%% Consolidated protocols live in releases/Vsn/consolidated (mix releases) and are loaded at
%% boot only: a hot upgrade keeps the old ones.
protocols(Root, Old, New) ->
    Dir = fun(V) -> filename:join([Root, "releases", V, "consolidated"]) end,
    OldBeams = beams(Dir(Old)),
    NewBeams = beams(Dir(New)),
    [io:format("protocol ~ts~n", [M])
     || M <- lists:sort(maps:keys(NewBeams)),
        not maps:is_key(M, OldBeams)
            orelse md5(maps:get(M, OldBeams)) =/= md5(maps:get(M, NewBeams))].

file_text(File) ->
    {ok, Text} = file:read_file(File),
    Text.

indent(Text) ->
    [["    ", Line, "\n"] || Line <- string:split(string:trim(Text, trailing), "\n", all)].

fail(Format, Args) ->
    io:format(standard_error, "error: " ++ Format ++ "~n", Args),
    halt(1).
