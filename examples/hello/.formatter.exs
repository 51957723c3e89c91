[
  inputs: ["{mix,.formatter}.exs", "{config,lib,upgrade}/**/*.{ex,exs}"]
]
