from notifications.cli import app

app()
