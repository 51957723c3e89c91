defmodule Hello.Release do
  @moduledoc """
  Release tasks, for `bin/hello rpc` (node up) or `bin/hello eval` (node down).

  Applied migrations are kept in a DETS file under `$HELLO_DATA_DIR`
  (default: `System.tmp_dir!/0`), read in the VM that runs the task.
  """

  @migrations [{1, "create_counters"}, {2, "add_hits"}]

  def migrate do
    with_table(fn table ->
      pending = for {v, _} = m <- @migrations, not applied?(table, v), do: m

      for {version, name} <- pending do
        :ok = :dets.insert(table, {version, name})
        IO.puts("migrated #{version} #{name}")
      end

      if pending == [], do: IO.puts("no pending migrations")
    end)
  end

  def rollback(version) when is_integer(version) do
    with_table(fn table ->
      to_undo =
        for {v, _} = m <- Enum.reverse(@migrations), v > version, applied?(table, v), do: m

      for {v, name} <- to_undo do
        :ok = :dets.delete(table, v)
        IO.puts("rolled back #{v} #{name}")
      end

      if to_undo == [], do: IO.puts("nothing to roll back")
    end)
  end

  def migrations_status do
    with_table(fn table ->
      for {version, name} <- @migrations do
        IO.puts("#{if applied?(table, version), do: "up", else: "down"} #{version} #{name}")
      end
    end)
  end

  defp applied?(table, version), do: :dets.member(table, version)

  defp with_table(fun) do
    Application.load(:hello)
    dir = System.get_env("HELLO_DATA_DIR") || System.tmp_dir!()
    File.mkdir_p!(dir)
    file = dir |> Path.join("hello_migrations.dets") |> String.to_charlist()
    {:ok, table} = :dets.open_file(__MODULE__, file: file, type: :set)

    try do
      fun.(table)
      :ok
    after
      :dets.close(table)
    end
  end
end
