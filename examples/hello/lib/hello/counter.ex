defmodule Hello.Counter do
  @moduledoc "Counter whose state is a plain integer (0.1.0)."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def get, do: GenServer.call(__MODULE__, :get)
  def incr, do: GenServer.call(__MODULE__, :incr)

  @impl true
  def init(count), do: {:ok, count}

  @impl true
  def handle_call(:get, _from, count), do: {:reply, count, count}
  def handle_call(:incr, _from, count), do: {:reply, count + 1, count + 1}
end
