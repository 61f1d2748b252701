from offers.cli import app

app()
