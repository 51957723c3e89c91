defmodule ShopCore.Catalog do
  @moduledoc "The shop's products, kept by the core app for the web app to show."
  use Agent

  def start_link(_), do: Agent.start_link(fn -> ~w(apple pear plum) end, name: __MODULE__)
  def products, do: Agent.get(__MODULE__, & &1)
end
