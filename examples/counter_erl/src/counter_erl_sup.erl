-module(counter_erl_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    SupFlags = #{strategy => one_for_one, intensity => 5, period => 10},
    Children = [
        #{id => counter_erl_server,
          start => {counter_erl_server, start_link, []},
          type => worker,
          modules => [counter_erl_server]},
        #{id => counter_erl_http,
          start => {counter_erl_http, start_link, []},
          type => worker,
          modules => [counter_erl_http]}
    ],
    {ok, {SupFlags, Children}}.
