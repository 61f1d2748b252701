from journeys.cli import app

app()
