defmodule Shop.Umbrella.MixProject do
  use Mix.Project

  # An umbrella has no `app:` of its own: deliver builds the release named in build.release.
  # Its releases carry the umbrella's version, not their apps' (0.1.0).
  def project do
    [
      apps_path: "apps",
      version: "1.0.0",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        shop: [
          applications: [shop_core: :permanent, shop_web: :permanent],
          include_executables_for: [:unix]
        ],
        # named like one of its apps, whose version is not the release's
        shop_web: [
          applications: [shop_core: :permanent, shop_web: :permanent],
          include_executables_for: [:unix]
        ]
      ]
    ]
  end
end
