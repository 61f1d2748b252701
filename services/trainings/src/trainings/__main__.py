from trainings.cli import app

app()
