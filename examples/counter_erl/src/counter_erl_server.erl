%% counter_erl_server, release 0.1.0: the state is a plain integer.
-module(counter_erl_server).
-behaviour(gen_server).

-export([start_link/0, incr/0, get/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2, code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

incr() -> gen_server:call(?MODULE, incr).
get() -> gen_server:call(?MODULE, get).

init([]) ->
    {ok, 0}.

handle_call(incr, _From, N) ->
    {reply, N + 1, N + 1};
handle_call(get, _From, N) ->
    {reply, N, N};
handle_call(_Other, _From, N) ->
    {reply, {error, unknown_call}, N}.

handle_cast(_Msg, N) -> {noreply, N}.
handle_info(_Msg, N) -> {noreply, N}.
terminate(_Reason, _N) -> ok.

code_change(_OldVsn, N, _Extra) ->
    {ok, N}.
