pytest_plugins = ["tdu_shared.testing.plugin"]
