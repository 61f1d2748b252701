from web.cli import app

app()
