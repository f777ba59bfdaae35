"""The runs layer: one run, many runs, reuse (train, evaluate, predict, sweep, export,
registry, serve). Each command of the CLI is one public function here."""
