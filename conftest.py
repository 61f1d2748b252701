pytest_plugins = ["tdu_dev.testing.plugin"]
