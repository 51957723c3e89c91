defmodule Hello.Counter do
  @moduledoc "Counter whose state is a map (0.2.0)."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, %{count: 0}, name: __MODULE__)
  def get, do: GenServer.call(__MODULE__, :get)
  def incr, do: GenServer.call(__MODULE__, :incr)

  @impl true
  def init(state), do: {:ok, state}

  @impl true
  def handle_call(:get, _from, state), do: {:reply, state, state}

  def handle_call(:incr, _from, %{count: c} = state) do
    state = %{state | count: c + 1}
    {:reply, state, state}
  end

  @impl true
  def code_change({:down, _vsn}, %{count: c}, _extra), do: {:ok, c}
  def code_change(_old_vsn, count, _extra) when is_integer(count), do: {:ok, %{count: count}}
end
